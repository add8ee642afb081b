#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    return groups > SIZE_MAX / 4 ? SIZE_MAX : groups * 4;
}

void b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
        *out++ = alphabet[v & 63];
    }
    if (n - i) {
        uint32_t v = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = n - i == 2 ? alphabet[v >> 6 & 63] : '=';
        *out++ = '=';
    }
}

size_t b64_decoded_max(size_t len) { return len / 4 * 3 + 3; }

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static int fail(size_t *bad_at, size_t at)
{
    if (bad_at) *bad_at = at;
    return -1;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen, size_t *bad_at)
{
    size_t o = 0;
    *outlen = 0;
    for (size_t i = 0; i < len; i += 4) {
        if (len - i < 4) return fail(bad_at, len); /* cut short: groups of 4 */
        int last = len - i == 4;
        /* Padding only in the last group, as "xx==" or "xxx=". */
        int pad = last && in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
        uint32_t v = 0;
        for (int k = 0; k < 4 - pad; k++) {
            int d = value_of((unsigned char)in[i + k]);
            if (d < 0) return fail(bad_at, i + k);
            v = v << 6 | (uint32_t)d;
        }
        v <<= 6 * pad;
        /* Bits past the last byte must be zero (one text per byte string). */
        if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
            return fail(bad_at, i + 3 - pad);
        out[o++] = (uint8_t)(v >> 16);
        if (pad < 2) out[o++] = (uint8_t)(v >> 8);
        if (pad < 1) out[o++] = (uint8_t)v;
    }
    *outlen = o;
    return 0;
}
