/* cut_hash64 (hash64.h). ~8 bytes per cycle per core: the checksums of
 * the weight cache cost a few ms per 100 MB. */
#include "hash64.h"

#include <string.h>

#define P1 0x9e3779b97f4a7c15ull
#define P2 0xc2b2ae3d27d4eb4full

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * P1;
    return h ^ (h >> 29);
}

uint64_t cut_hash64(const void *data, size_t bytes, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h[4] = {seed ^ P2, seed + P1, ~seed, seed * P2 + 1};
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof w);
        for (int l = 0; l < 4; l++) h[l] = mix(h[l], w[l]);
    }
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        h[0] = mix(h[0], w);
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, bytes - i);
    uint64_t r = mix(mix(bytes, tail), h[0]);
    for (int l = 1; l < 4; l++) r = mix(r * P2, h[l]);
    return r ^ (r >> 32);
}
