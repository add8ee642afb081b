#include "reqhead.h"

#include <string.h>

/* Record types (the FastCGI specification). */
#define FCGI_BEGIN_REQUEST 1
#define FCGI_PARAMS 4

int reqhead_complete(const unsigned char *b, size_t n)
{
    size_t off = 0;
    while (off + 8 <= n) { /* a record: 8-byte header, content, padding */
        unsigned type = b[off + 1];
        size_t clen = ((size_t)b[off + 4] << 8) | b[off + 5], end = off + 8 + clen + b[off + 6];
        if (b[off] != 1) return 1;
        if (end > n) return 0;
        if (type == FCGI_PARAMS && clen == 0) return 1;
        if (type != FCGI_BEGIN_REQUEST && type != FCGI_PARAMS) return 1;
        off = end;
    }
    return 0;
}

/* The PARAMS content of b[0..n) as one stream, across record boundaries. */
typedef struct {
    const unsigned char *b;
    size_t n;
    size_t off, left; /* the next content byte, and the content left in its record */
    size_t next;      /* where the record after the current one starts */
} params_stream;

/* Moves to the next PARAMS record with content: 0, or -1 at the stream's end. */
static int next_record(params_stream *s)
{
    size_t off = s->next;
    while (off + 8 <= s->n) {
        const unsigned char *h = s->b + off;
        size_t clen = ((size_t)h[4] << 8) | h[5];
        if (h[0] != 1) return -1;
        if (h[1] == FCGI_PARAMS && clen == 0) return -1;
        s->next = off + 8 + clen + h[6];
        if (h[1] == FCGI_PARAMS) {
            s->off = off + 8;
            s->left = s->off + clen <= s->n ? clen : s->n - s->off; /* what was peeked */
            if (s->left) return 0;
        }
        off = s->next;
    }
    return -1;
}

/* Consumes len bytes (into out when not NULL): 0, or -1 when the stream ends first. */
static int take(params_stream *s, size_t len, unsigned char *out)
{
    while (len) {
        if (!s->left && next_record(s)) return -1;
        size_t k = len < s->left ? len : s->left;
        if (out) memcpy(out, s->b + s->off, k), out += k;
        s->off += k;
        s->left -= k;
        len -= k;
    }
    return 0;
}

/* A pair length: one byte, or four with the top bit set (31 bits). */
static int take_length(params_stream *s, size_t *len)
{
    unsigned char c[4];
    if (take(s, 1, c)) return -1;
    if (!(c[0] & 0x80)) {
        *len = c[0];
        return 0;
    }
    if (take(s, 3, c + 1)) return -1;
    *len = ((size_t)(c[0] & 0x7f) << 24) | ((size_t)c[1] << 16) | ((size_t)c[2] << 8) | c[3];
    return 0;
}

int reqhead_params_valid(const unsigned char *b, size_t n)
{
    params_stream s = {b, n, 0, 0, 0};
    for (;;) {
        size_t name, value;
        if (!s.left && next_record(&s)) return 1; /* every pair ended inside */
        if (take_length(&s, &name) || take_length(&s, &value)) return 0;
        if (take(&s, name, NULL) || take(&s, value, NULL)) return 0;
    }
}
