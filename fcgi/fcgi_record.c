#include "fcgi_record.h"

#include <stdio.h>
#include <string.h>

void fcgi_header_get(const uint8_t *h, fcgi_header *out)
{
    out->version = h[0];
    out->type = h[1];
    out->id = ((unsigned)h[2] << 8) | h[3];
    out->clen = ((size_t)h[4] << 8) | h[5];
    out->plen = h[6];
}

void fcgi_header_put(uint8_t *h, unsigned type, unsigned id, size_t clen)
{
    h[0] = 1;
    h[1] = (uint8_t)type;
    h[2] = (uint8_t)(id >> 8);
    h[3] = (uint8_t)id;
    h[4] = (uint8_t)(clen >> 8);
    h[5] = (uint8_t)clen;
    h[6] = 0;
    h[7] = 0;
}

/* A pair length at content[*off]: 0, or -1 past n. */
static int pair_length(const uint8_t *c, size_t n, size_t *off, size_t *len)
{
    if (*off >= n) return -1;
    if (!(c[*off] & 0x80)) {
        *len = c[(*off)++];
        return 0;
    }
    if (n - *off < 4) return -1;
    const uint8_t *p = c + *off;
    *len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    *off += 4;
    return 0;
}

int fcgi_pair_next(const uint8_t *content, size_t n, size_t *off, const uint8_t **name,
                   size_t *nlen, const uint8_t **value, size_t *vlen)
{
    if (*off == n) return 0;
    size_t o = *off, nl, vl;
    if (pair_length(content, n, &o, &nl) || pair_length(content, n, &o, &vl)) return -1;
    /* Compared with what is left, never summed first: no overflow. */
    if (nl > n - o || vl > n - o - nl) return -1;
    *name = content + o;
    *nlen = nl;
    *value = content + o + nl;
    *vlen = vl;
    *off = o + nl + vl;
    return 1;
}

/* Appends the pair name=value (both under 128 bytes) at out[*len]. */
static void put_pair(uint8_t *out, size_t *len, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    out[(*len)++] = (uint8_t)nl;
    out[(*len)++] = (uint8_t)vl;
    memcpy(out + *len, name, nl);
    memcpy(out + *len + nl, value, vl);
    *len += nl + vl;
}

static int name_is(const uint8_t *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && !memcmp(name, want, nlen);
}

size_t fcgi_management_answer(unsigned type, const uint8_t *content, size_t n,
                              const fcgi_caps *caps, uint8_t *out, size_t cap)
{
    if (cap < FCGI_MGMT_ANSWER_MAX) return 0;
    if (type != FCGI_GET_VALUES) {
        fcgi_header_put(out, FCGI_UNKNOWN_TYPE, 0, 8);
        memset(out + FCGI_HEADER_LEN, 0, 8);
        out[FCGI_HEADER_LEN] = (uint8_t)type;
        return FCGI_HEADER_LEN * 2;
    }
    /* Each known name answered once (at most three pairs of under 40
     * bytes), whatever the client repeats; unknown names are left out. */
    int asked[3] = {0, 0, 0};
    static const char *const names[3] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
    size_t off = 0, nl, vl;
    const uint8_t *name, *value;
    int rc;
    while ((rc = fcgi_pair_next(content, n, &off, &name, &nl, &value, &vl)) == 1)
        for (int i = 0; i < 3; i++)
            if (name_is(name, nl, names[i])) asked[i] = 1;
    if (rc < 0 || cap < FCGI_MGMT_ANSWER_MAX) return 0;
    size_t len = FCGI_HEADER_LEN;
    char v[24];
    for (int i = 0; i < 3; i++) {
        if (!asked[i]) continue;
        long x = i == 0 ? caps->max_conns : i == 1 ? caps->max_reqs : 0;
        snprintf(v, sizeof v, "%ld", x);
        put_pair(out, &len, names[i], v);
    }
    fcgi_header_put(out, FCGI_GET_VALUES_RESULT, 0, len - FCGI_HEADER_LEN);
    return len;
}

long fcgi_management_prefix(const uint8_t *b, size_t n, const fcgi_caps *caps, uint8_t *out,
                            size_t *outlen)
{
    size_t off = 0;
    *outlen = 0;
    for (int count = 0; n - off >= FCGI_HEADER_LEN; count++) {
        fcgi_header h;
        fcgi_header_get(b + off, &h);
        size_t len = FCGI_HEADER_LEN + h.clen + h.plen;
        if (h.version != 1 || h.id != 0 || len > n - off) break;
        if (count == FCGI_MGMT_BURST) return -1;
        size_t k = fcgi_management_answer(h.type, b + off + FCGI_HEADER_LEN, h.clen, caps,
                                          out + *outlen, FCGI_MGMT_ANSWER_MAX);
        if (!k) return -1;
        *outlen += k;
        off += len;
    }
    return (long)off;
}

void fcgi_end_request_put(uint8_t *out, unsigned id, uint32_t app_status, unsigned proto_status)
{
    fcgi_header_put(out, FCGI_END_REQUEST, id, 8);
    uint8_t *b = out + FCGI_HEADER_LEN;
    b[0] = (uint8_t)(app_status >> 24);
    b[1] = (uint8_t)(app_status >> 16);
    b[2] = (uint8_t)(app_status >> 8);
    b[3] = (uint8_t)app_status;
    b[4] = (uint8_t)proto_status;
    b[5] = b[6] = b[7] = 0;
}
