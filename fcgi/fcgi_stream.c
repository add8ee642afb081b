#include "fcgi_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCRATCH_LEN (FCGI_CONTENT_MAX + 255)

static ssize_t fd_read(fcgi_stream *s, void *buf, size_t n)
{
    return read(s->fd, buf, n);
}

/* A write that finds no room for write_ms fails (EAGAIN); any progress
 * starts the wait again. (SO_SNDTIMEO would wait again after a partial
 * write: up to twice as long.) */
static ssize_t fd_writev(fcgi_stream *s, const struct iovec *iov, int n)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t k = sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            if (k < 0 && errno == ENOTSOCK) return writev(s->fd, iov, n);
            return k;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int rc = poll(&p, 1, s->write_ms);
        if (rc == 0) {
            errno = EAGAIN;
            return -1;
        }
        if (rc < 0 && errno != EINTR) return -1;
    }
}

int fcgs_init(fcgi_stream *s, const fcgi_caps *caps, size_t head_max, int write_ms)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->rd = fd_read;
    s->wv = fd_writev;
    s->caps = caps;
    s->head_max = head_max;
    s->write_ms = write_ms;
    s->raw = malloc(head_max ? head_max : 1);
    s->env = malloc(head_max ? head_max : 1);
    s->scratch = malloc(SCRATCH_LEN);
    s->out = malloc(FCGI_OUT_CONTENT_MAX);
    if (!s->raw || !s->env || !s->scratch || !s->out) {
        fcgs_free(s);
        return -1;
    }
    return 0;
}

void fcgs_free(fcgi_stream *s)
{
    free(s->raw);
    free(s->env);
    free(s->pairs);
    free(s->scratch);
    free(s->out);
    s->raw = s->scratch = s->out = NULL;
    s->env = NULL;
    s->pairs = NULL;
}

/* Reads exactly n bytes: 0, or -1 (s->err; EOF is ECONNRESET). */
static int read_full(fcgi_stream *s, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = s->rd(s, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s->err = k < 0 ? errno : ECONNRESET;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes the iovecs whole: 0, or -1 (s->werr). */
static int write_all(fcgi_stream *s, struct iovec *iov, int n)
{
    if (s->werr) return -1;
    while (n) {
        ssize_t k = s->wv(s, iov, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s->werr = k < 0 ? errno : EPIPE;
            return -1;
        }
        while (n && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

static int write_bytes(fcgi_stream *s, const void *p, size_t n)
{
    struct iovec v = {(void *)p, n};
    return write_all(s, &v, 1);
}

static int violation(fcgi_stream *s)
{
    s->bad = 1;
    if (!s->err) s->err = EPROTO;
    return -1;
}

/* Reads a record's content (n <= SCRATCH_LEN with its padding) into scratch. */
static int read_content(fcgi_stream *s, const fcgi_header *h)
{
    return read_full(s, s->scratch, h->clen + h->plen);
}

/* A record of request id 0: answered (its content read whole first). */
static int management(fcgi_stream *s, const fcgi_header *h)
{
    if (read_content(s, h)) return -1;
    uint8_t ans[FCGI_MGMT_ANSWER_MAX];
    size_t n = fcgi_management_answer(h->type, s->scratch, h->clen, s->caps, ans, sizeof ans);
    if (!n) return violation(s); /* pairs lying about their lengths */
    write_bytes(s, ans, n); /* a failed write shows in s->werr */
    return 0;
}

/* The records between two records of this request that the request does
 * not see: management records answered, another BEGIN_REQUEST refused
 * (FCGI_CANT_MPX_CONN), records of inactive requests skipped. 1 when h was
 * one of those, 0 when it is the request's own, -1 on failure. */
static int aside(fcgi_stream *s, const fcgi_header *h)
{
    if (h->version != 1) return violation(s);
    if (h->id == 0) return management(s, h) ? -1 : 1;
    if (h->id == s->id) return 0;
    if (read_content(s, h)) return -1;
    if (h->type == FCGI_BEGIN_REQUEST) {
        uint8_t end[16];
        fcgi_end_request_put(end, h->id, 0, FCGI_CANT_MPX_CONN);
        write_bytes(s, end, sizeof end);
    }
    return 1;
}

static int next_header(fcgi_stream *s, fcgi_header *h)
{
    uint8_t b[FCGI_HEADER_LEN];
    if (read_full(s, b, sizeof b)) return -1;
    fcgi_header_get(b, h);
    return 0;
}

/* The pairs of raw[0..len) into env as "NAME\0VALUE\0": 0, or -1 when a
 * length lies. env needs no more room than raw: each pair has at least
 * two length bytes, where env puts two NULs. */
static int split_pairs(fcgi_stream *s, size_t len)
{
    size_t off = 0, at = 0, nl, vl;
    const uint8_t *name, *value;
    int rc;
    s->npairs = 0;
    while ((rc = fcgi_pair_next(s->raw, len, &off, &name, &nl, &value, &vl)) == 1) {
        if (s->npairs == s->pairs_cap) {
            size_t cap = s->pairs_cap ? s->pairs_cap * 2 : 64;
            uint32_t *np = realloc(s->pairs, cap * sizeof *np);
            if (!np) return -1;
            s->pairs = np;
            s->pairs_cap = cap;
        }
        s->pairs[s->npairs++] = (uint32_t)at;
        memcpy(s->env + at, name, nl);
        s->env[at + nl] = '\0';
        memcpy(s->env + at + nl + 1, value, vl);
        s->env[at + nl + 1 + vl] = '\0';
        at += nl + vl + 2;
    }
    return rc;
}

int fcgs_read_head(fcgi_stream *s, int fd)
{
    s->fd = fd;
    s->id = 0;
    s->keep_conn = 0;
    s->err = s->bad = s->aborted = s->werr = 0;
    s->in_left = s->in_pad = 0;
    s->in_eof = 0;
    s->npairs = 0;
    s->out_len = 0;
    fcgi_header h;
    /* Management records before the request are answered (the poller
     * answers them first on an idle connection). */
    for (;;) {
        if (next_header(s, &h)) return FCGS_CLOSED;
        if (h.version != 1) return violation(s), FCGS_BAD;
        if (h.id != 0) break;
        if (management(s, &h)) return s->bad ? FCGS_BAD : FCGS_CLOSED;
    }
    if (h.type != FCGI_BEGIN_REQUEST || h.clen != 8) return violation(s), FCGS_BAD;
    if (read_content(s, &h)) return FCGS_CLOSED;
    unsigned role = ((unsigned)s->scratch[0] << 8) | s->scratch[1];
    s->id = h.id;
    s->keep_conn = s->scratch[2] & FCGI_KEEP_CONN;
    size_t len = 0;
    for (;;) {
        if (next_header(s, &h)) return FCGS_CLOSED;
        int a = aside(s, &h);
        if (a < 0) return s->bad ? FCGS_BAD : FCGS_CLOSED;
        if (a) continue;
        if (h.type != FCGI_PARAMS || h.clen > s->head_max - len) return violation(s), FCGS_BAD;
        if (read_full(s, s->raw + len, h.clen) || read_full(s, s->scratch, h.plen)) return FCGS_CLOSED;
        if (!h.clen) break;
        len += h.clen;
    }
    if (split_pairs(s, len)) return violation(s), FCGS_BAD;
    if (role != FCGI_RESPONDER) {
        uint8_t end[16];
        fcgi_end_request_put(end, s->id, 0, FCGI_UNKNOWN_ROLE);
        write_bytes(s, end, sizeof end);
        return FCGS_REFUSED;
    }
    return FCGS_OK;
}

const char *fcgs_param(const fcgi_stream *s, const char *name)
{
    for (size_t i = 0; i < s->npairs; i++) {
        const char *n = s->env + s->pairs[i];
        if (!strcmp(n, name)) return n + strlen(n) + 1;
    }
    return NULL;
}

ssize_t fcgs_read(fcgi_stream *s, void *buf, size_t n)
{
    if (!n) return 0;
    for (;;) {
        if (s->err || s->aborted) return -1;
        if (s->in_left) {
            size_t want = n < s->in_left ? n : s->in_left;
            ssize_t k = s->rd(s, buf, want);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                s->err = k < 0 ? errno : ECONNRESET;
                return -1;
            }
            s->in_left -= (size_t)k;
            return k;
        }
        if (s->in_eof) return 0;
        if (s->in_pad) {
            if (read_full(s, s->scratch, s->in_pad)) return -1;
            s->in_pad = 0;
        }
        fcgi_header h;
        if (next_header(s, &h)) return -1;
        int a = aside(s, &h);
        if (a < 0) return -1;
        if (a) continue;
        if (h.type == FCGI_ABORT_REQUEST) {
            if (read_content(s, &h)) return -1;
            s->aborted = 1;
            return -1;
        }
        if (h.type != FCGI_STDIN) return violation(s);
        s->in_left = h.clen;
        s->in_pad = h.plen;
        if (!h.clen) {
            if (read_full(s, s->scratch, s->in_pad)) return -1;
            s->in_pad = 0;
            s->in_eof = 1;
        }
    }
}

/* Writes the buffered STDOUT content as one record. */
static int flush_out(fcgi_stream *s)
{
    if (!s->out_len) return s->werr ? -1 : 0;
    uint8_t h[FCGI_HEADER_LEN];
    fcgi_header_put(h, FCGI_STDOUT, s->id, s->out_len);
    struct iovec v[2] = {{h, sizeof h}, {s->out, s->out_len}};
    s->out_len = 0;
    return write_all(s, v, 2);
}

int fcgs_write(fcgi_stream *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (s->aborted) return -1;
    while (n) {
        if (s->werr) return -1;
        if (!s->out_len && n >= FCGI_OUT_CONTENT_MAX) { /* whole records straight from p */
            uint8_t h[FCGI_HEADER_LEN];
            fcgi_header_put(h, FCGI_STDOUT, s->id, FCGI_OUT_CONTENT_MAX);
            struct iovec v[2] = {{h, sizeof h}, {(void *)b, FCGI_OUT_CONTENT_MAX}};
            if (write_all(s, v, 2)) return -1;
            b += FCGI_OUT_CONTENT_MAX;
            n -= FCGI_OUT_CONTENT_MAX;
            continue;
        }
        size_t k = FCGI_OUT_CONTENT_MAX - s->out_len;
        if (k > n) k = n;
        memcpy(s->out + s->out_len, b, k);
        s->out_len += k;
        b += k;
        n -= k;
        if (s->out_len == FCGI_OUT_CONTENT_MAX && flush_out(s)) return -1;
    }
    return s->werr ? -1 : 0;
}

int fcgs_finish(fcgi_stream *s)
{
    uint8_t tail[2 * FCGI_HEADER_LEN + 8];
    size_t n = 0;
    if (!s->aborted) {
        if (s->out_len && s->out_len + sizeof tail > FCGI_OUT_CONTENT_MAX) flush_out(s);
        if (s->out_len) { /* the last content, the empty STDOUT and END_REQUEST in one write */
            uint8_t h[FCGI_HEADER_LEN];
            fcgi_header_put(h, FCGI_STDOUT, s->id, s->out_len);
            fcgi_header_put(tail, FCGI_STDOUT, s->id, 0);
            fcgi_end_request_put(tail + FCGI_HEADER_LEN, s->id, 0, FCGI_REQUEST_COMPLETE);
            struct iovec v[3] = {{h, sizeof h}, {s->out, s->out_len}, {tail, sizeof tail}};
            s->out_len = 0;
            write_all(s, v, 3);
            goto done;
        }
        fcgi_header_put(tail, FCGI_STDOUT, s->id, 0);
        n = FCGI_HEADER_LEN;
    }
    fcgi_end_request_put(tail + n, s->id, 0, FCGI_REQUEST_COMPLETE);
    write_bytes(s, tail, n + 2 * FCGI_HEADER_LEN);
done:
    s->out_len = 0;
    return s->keep_conn && s->in_eof && !s->err && !s->werr && !s->aborted;
}

void fcgs_close(int fd)
{
    if (shutdown(fd, SHUT_WR) == 0) {
        char buf[4096];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, 2000) > 0 && read(fd, buf, sizeof buf) > 0) {
        }
    }
    close(fd);
}
