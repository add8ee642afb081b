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

/* The parameter stream of a request head in the one shape web servers send:
 * BEGIN_REQUEST (8 content bytes, no padding), PARAMS records of its request
 * id (padding allowed), the empty PARAMS record (no padding). A head of any
 * other shape is refused before a thread reads it: no web server sends one,
 * and refusing it in the poller costs no thread. The thread's reader
 * (fcgi_stream.c) checks every length again and follows the whole
 * specification. */
typedef struct {
    const unsigned char *b;
    size_t n;
    size_t off, left; /* the next content byte, and the content left in its record */
    size_t next;      /* the next record header */
    unsigned id;      /* the request's id */
    int ended;        /* the empty PARAMS record was reached */
} params_stream;

/* Moves to the next PARAMS record with content: 0; -1 at the empty record
 * (s->ended), at a record of another shape, or where the bytes end. */
static int next_record(params_stream *s)
{
    while (!s->ended && s->next + 8 <= s->n) {
        const unsigned char *h = s->b + s->next;
        unsigned id = ((unsigned)h[2] << 8) | h[3];
        size_t clen = ((size_t)h[4] << 8) | h[5];
        if (h[0] != 1 || h[1] != FCGI_PARAMS || id != s->id) return -1;
        if (clen == 0) {
            s->ended = h[6] == 0;
            return -1;
        }
        s->off = s->next + 8;
        s->next = s->off + clen + h[6];
        if (s->off + clen > s->n) return -1; /* past what was peeked */
        s->left = clen;
        return 0;
    }
    return -1;
}

/* Consumes len bytes: 0, or -1 when the stream ends first. */
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
    if (n < 16 || b[0] != 1 || b[1] != FCGI_BEGIN_REQUEST || b[4] || b[5] != 8 || b[6])
        return 0;
    unsigned id = ((unsigned)b[2] << 8) | b[3];
    if (id == 0) return 0;
    params_stream s = {b, n, 0, 0, 16, id, 0};
    for (;;) {
        size_t name, value;
        if (!s.left && next_record(&s)) return s.ended; /* between pairs */
        if (take_length(&s, &name) || take_length(&s, &value)) return 0;
        if (take(&s, name, NULL) || take(&s, value, NULL)) return 0;
    }
}
