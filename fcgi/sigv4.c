/* SHA-256, HMAC-SHA256 and SigV4 query-string signing (sigv4.h). */
#include "sigv4.h"

#include <stdio.h>
#include <string.h>

#include "strbuf.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t bytes;
} sha_ctx;

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(sha_ctx *c, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha_init(sha_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->fill = 0;
    c->bytes = 0;
}

static void sha_add(sha_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->bytes += len;
    while (len) {
        size_t k = 64 - c->fill < len ? 64 - c->fill : len;
        memcpy(c->buf + c->fill, p, k);
        c->fill += k;
        p += k;
        len -= k;
        if (c->fill == 64) {
            sha_block(c, c->buf);
            c->fill = 0;
        }
    }
}

static void sha_end(sha_ctx *c, uint8_t out[32])
{
    uint64_t bits = c->bytes * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha_add(c, &pad, 1);
    while (c->fill != 56) sha_add(c, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_add(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void sv_sha256(const void *data, size_t len, uint8_t out[32])
{
    sha_ctx c;
    sha_init(&c);
    sha_add(&c, data, len);
    sha_end(&c, out);
}

void sv_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    uint8_t k[64] = {0}, pad[64], inner[32];
    if (klen > 64) sv_sha256(key, klen, k); /* a long key is hashed first */
    else memcpy(k, key, klen);
    sha_ctx c;
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha_init(&c);
    sha_add(&c, pad, 64);
    sha_add(&c, msg, mlen);
    sha_end(&c, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha_init(&c);
    sha_add(&c, pad, 64);
    sha_add(&c, inner, 32);
    sha_end(&c, out);
}

void sv_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int sv_uri_encode(const char *s, int keep_slash, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= len) return -1;
        if (plain) out[o++] = (char)*p;
        else o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
    }
    if (o >= len) return -1;
    out[o] = '\0';
    return 0;
}

/* 1 when s is "YYYYMMDDTHHMMSSZ". */
static int is_amz_date(const char *s)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9')) return 0;
    return 1;
}

int sv_presign_get(const sv_presign_req *r, char *out, size_t len)
{
    if (!is_amz_date(r->amz_date) || r->expires_s < 1 || r->expires_s > 604800) return -1;
    char date[9], scope[256], path[3072], cred[512], token[4096] = "";
    snprintf(date, sizeof date, "%.8s", r->amz_date);
    int k = snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, r->region, r->service);
    if (k < 0 || (size_t)k >= sizeof scope || sv_uri_encode(r->path, 1, path, sizeof path)) return -1;
    char id_scope[512];
    k = snprintf(id_scope, sizeof id_scope, "%s/%s", r->access_key, scope);
    if (k < 0 || (size_t)k >= sizeof id_scope || sv_uri_encode(id_scope, 0, cred, sizeof cred)) return -1;
    if (r->session_token && r->session_token[0] &&
        sv_uri_encode(r->session_token, 0, token, sizeof token))
        return -1;
    /* The query in canonical (byte) order of its names. */
    strbuf q;
    sb_init(&q);
    sb_printf(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%d",
              cred, r->amz_date, r->expires_s);
    if (token[0]) sb_printf(&q, "&X-Amz-Security-Token=%s", token);
    sb_puts(&q, "&X-Amz-SignedHeaders=host");
    strbuf canon;
    sb_init(&canon);
    sb_printf(&canon, "GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", path, q.p ? q.p : "", r->host);
    uint8_t hash[32], mac[32];
    char hex[65];
    sv_sha256(canon.p, canon.len, hash);
    sv_hex(hash, 32, hex);
    strbuf sts;
    sb_init(&sts);
    sb_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, hex);
    /* The signing key: the secret through date, region, service. */
    char kd[512];
    k = snprintf(kd, sizeof kd, "AWS4%s", r->secret_key);
    int bad = k < 0 || (size_t)k >= sizeof kd || !q.p || q.oom || !canon.p || canon.oom || !sts.p || sts.oom;
    if (!bad) {
        sv_hmac_sha256(kd, strlen(kd), date, strlen(date), mac);
        sv_hmac_sha256(mac, 32, r->region, strlen(r->region), mac);
        sv_hmac_sha256(mac, 32, r->service, strlen(r->service), mac);
        sv_hmac_sha256(mac, 32, "aws4_request", 12, mac);
        sv_hmac_sha256(mac, 32, sts.p, sts.len, mac);
        sv_hex(mac, 32, hex);
        k = snprintf(out, len, "%s%s?%s&X-Amz-Signature=%s", r->base, path, q.p, hex);
        bad = k < 0 || (size_t)k >= len;
    }
    memset(kd, 0, sizeof kd);
    sb_free(&q);
    sb_free(&canon);
    sb_free(&sts);
    return bad ? -1 : 0;
}
