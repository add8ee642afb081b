#define _DEFAULT_SOURCE /* random ids */
#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "response.h"
#include "app_util.h"

static const char *param(fcgi_stream *fs, const char *name)
{
    const char *v = fcgs_param(fs, name);
    return v ? v : "";
}

/* A caller's X-Request-Id is kept when it is a sane token; else a new one. */
static void request_id(request *rq)
{
    const char *in = fcgs_param(rq->fs, "HTTP_X_REQUEST_ID");
    if (in) {
        size_t n = strlen(in);
        int ok = n >= 1 && n <= 128;
        for (size_t i = 0; ok && i < n; i++) {
            char c = in[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("-_.:", c);
        }
        if (ok) {
            memcpy(rq->id, in, n + 1);
            return;
        }
    }
    /* Unique enough for logs: pid, time and a per-thread counter. */
    static _Thread_local unsigned long long counter;
    static _Thread_local unsigned long long state;
    if (!state) state = ((unsigned long long)getpid() << 32) ^ (unsigned long long)(app_mono_s() * 1e9) ^ (unsigned long long)(size_t)&counter;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    counter++;
    snprintf(rq->id, sizeof rq->id, "%016llx", state ^ (counter * 0x9E3779B97F4A7C15ull));
}

void req_init(request *rq, handler_ctx *h, fcgi_stream *fs, double arrived, cutout_pool *helpers)
{
    memset(rq, 0, sizeof *rq);
    rq->h = h;
    rq->helpers = helpers;
    rq->fs = fs;
    rq->t0 = app_mono_s();
    if (arrived > 0 && arrived < rq->t0) rq->t0 = arrived;
    rq->method = param(fs, "REQUEST_METHOD");
    rq->query = param(fs, "QUERY_STRING");
    rq->ctype = param(fs, "CONTENT_TYPE");
    /* REQUEST_URI is the original path everywhere (nginx, lighttpd, Apache);
     * DOCUMENT_URI / SCRIPT_NAME differ between servers. */
    const char *uri = fcgs_param(fs, "REQUEST_URI");
    if (!uri || !*uri) uri = param(fs, "SCRIPT_NAME");
    size_t plen = strcspn(uri, "?");
    if (plen >= sizeof rq->path) plen = sizeof rq->path - 1;
    memcpy(rq->path, uri, plen);
    rq->path[plen] = '\0';
    while (plen > 1 && rq->path[plen - 1] == '/') rq->path[--plen] = '\0';
    request_id(rq);
    rq->on_admin = h->admin && h->admin->fd >= 0 && listen_accepted_on(fs->fd, h->admin);
}

int req_admin_allowed(const request *rq)
{
    if (rq->h->cfg->admin_listen[0]) return rq->on_admin;
    const char *addr = fcgs_param(rq->fs, "REMOTE_ADDR");
    return addr && cf_admin_allowed(rq->h->cfg, addr);
}

/* The body's read deadline: read_timeout_s from its start, and one more
 * second per REQ_BODY_MIN_RATE bytes received (a slow upload is served; a
 * trickle is cut). Past it the poller shuts the connection down. */
static void watch_body(request *rq, double t0, size_t got)
{
    if (!rq->h->pool) return;
    conns_watch(rq->h->pool, rq->fs->fd,
                t0 + rq->h->cfg->read_timeout_s + (double)got / REQ_BODY_MIN_RATE);
}

static int req_body_broken(const request *rq)
{
    return rq->fs->err || rq->fs->bad || rq->fs->aborted;
}

/* The body was refused unread (413): nothing more is read; the connection
 * closes after the answer instead of being kept in step. */
static void refuse_rest(request *rq)
{
    rq->body_read = 1;
    rq->fs->keep_conn = 0;
}

int req_read_body(request *rq, response *r)
{
    return req_read_body_max(rq, r, rq->h->cfg->max_body_bytes);
}

int req_read_body_max(request *rq, response *r, long long max)
{
    const char *cl = fcgs_param(rq->fs, "CONTENT_LENGTH");
    rq->content_length = -1;
    if (cl && *cl) {
        char *end;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        if (errno || *end || n < 0) {
            resp_fail(r, 400, "bad_request", "invalid Content-Length");
            return -1;
        }
        rq->content_length = n;
        if (n > max) {
            refuse_rest(rq);
            resp_fail(r, 413, "too_large", "the request body (%lld bytes) is larger than the limit of %lld bytes", n, max);
            return -1;
        }
    }
    /* At most max + 1 bytes are read without a length: one byte past the
     * limit tells a body over it. */
    size_t limit = rq->content_length >= 0 ? (size_t)rq->content_length : (size_t)max + 1;
    size_t cap = limit < 65536 ? limit : 65536;
    rq->body = malloc(cap ? cap : 1);
    if (!rq->body) {
        resp_fail(r, 500, "internal", "out of memory");
        return -1;
    }
    double t0 = app_mono_s();
    watch_body(rq, t0, 0);
    size_t len = 0;
    while (len < limit) {
        if (len == cap) {
            size_t nc = cap * 2 < limit ? cap * 2 : limit;
            uint8_t *nb = realloc(rq->body, nc);
            if (!nb) {
                if (rq->h->pool) conns_watch(rq->h->pool, rq->fs->fd, 0);
                resp_fail(r, 500, "internal", "out of memory");
                return -1;
            }
            rq->body = nb;
            cap = nc;
        }
        /* 64 KiB at a time: the deadline moves on as bytes come. */
        size_t want = cap - len < 65536 ? cap - len : 65536;
        ssize_t got = fcgs_read(rq->fs, rq->body + len, want);
        if (got <= 0) break;
        len += (size_t)got;
        watch_body(rq, t0, len);
    }
    if (rq->h->pool) conns_watch(rq->h->pool, rq->fs->fd, 0);
    rq->body_len = len;
    if ((long long)len > max) {
        refuse_rest(rq);
        resp_fail(r, 413, "too_large", "the request body is larger than the limit of %lld bytes", max);
        return -1;
    }
    if (req_body_broken(rq)) { /* cut at read_timeout_s, broken, aborted, or a bad record */
        rq->fs->keep_conn = 0;
        resp_fail(r, 400, "bad_request", "the request body stopped after %zu bytes", len);
        return -1;
    }
    rq->body_read = rq->content_length < 0 || (long long)len == rq->content_length ||
                    rq->fs->in_eof;
    if (rq->content_length >= 0 && (long long)len < rq->content_length) {
        resp_fail(r, 400, "bad_request", "the request body ended after %zu of %lld bytes", len,
                  rq->content_length);
        return -1;
    }
    return 0;
}

void req_discard_body(request *rq)
{
    /* Read to its end, or refused unread (the connection closes). A body
     * read to its Content-Length still has its empty STDIN record to come:
     * read here, so that the kept connection goes back in step. */
    if (rq->fs->in_eof || (rq->body_read && !rq->fs->keep_conn)) return;
    char buf[65536];
    long long left = rq->h->cfg->max_body_bytes * 2 + (1 << 20);
    double t0 = app_mono_s();
    size_t got_all = 0;
    watch_body(rq, t0, 0);
    while (left > 0) {
        ssize_t got = fcgs_read(rq->fs, buf, sizeof buf);
        if (got <= 0) break;
        left -= got;
        got_all += (size_t)got;
        watch_body(rq, t0, got_all);
    }
    if (rq->h->pool) conns_watch(rq->h->pool, rq->fs->fd, 0);
    if (left <= 0 || req_body_broken(rq)) rq->fs->keep_conn = 0;
}
