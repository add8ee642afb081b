/* libFuzzer entry point for the server's FastCGI request path, fed with raw
 * bytes as a client would send them on a kept-alive connection.
 *
 * The input is what the connection carries. First the connection poller's
 * treatment (fcgi/conns.c): management records (request id 0) in front of
 * a request are answered (fcgi_management_answer), then the request head
 * must pass the poller's checks (fcgi/reqhead.c), mirrored here. Then, as
 * a request thread
 * of fcgi/worker.c does, up to four requests in a row are read through
 * fcgi/fcgi_stream.c (head, parameters, body with management records,
 * other requests' BEGIN_REQUEST, ABORT_REQUEST in the middle) and served
 * by fcgi/request.c (req_init: path, request id; req_read_body:
 * Content-Length, the body limit), the parameter parsers (query string,
 * multipart Content-Type and body) and fcgi/response.c. The transport is
 * the stream's own hook over the input bytes. Each input runs twice: so,
 * with whole reads, and again with the poller's checks bypassed and the
 * bytes cut into short reads of varying sizes (the thread's reader must
 * hold on its own, whatever shape reaches it). What the server writes is parsed back and every record
 * checked (version 1, at most 65528 content bytes, STDOUT only for the
 * request being served). Built and run by tests/fuzz/run-fuzz fcgi_request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"
#include "fcgi_stream.h"
#include "form.h"
#include "reqhead.h"
#include "request.h"
#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t n, at;
    unsigned cut; /* 0: whole reads; else bytes per read 1 + cut % 61, varied per read */
    /* output being parsed back: the header of the record in progress */
    uint8_t hdr[8];
    size_t hdr_len, left;
} conn;

static ssize_t in_read(fcgi_stream *s, void *buf, size_t n)
{
    conn *c = s->io;
    if (c->at == c->n) return 0;
    size_t k = c->n - c->at;
    if (c->cut) {
        size_t most = 1 + (c->cut % 61);
        c->cut = c->cut * 1103515245u + 12345u;
        if (k > most) k = most;
    }
    if (k > n) k = n;
    memcpy(buf, c->p + c->at, k);
    c->at += k;
    return (ssize_t)k;
}

/* Every record the server writes: version 1, content within 65528 bytes
 * (management answers and END_REQUEST are shorter still). */
static ssize_t out_writev(fcgi_stream *s, const struct iovec *iov, int n)
{
    conn *c = s->io;
    ssize_t all = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *b = iov[i].iov_base;
        for (size_t j = 0; j < iov[i].iov_len;) {
            if (c->left) {
                size_t k = iov[i].iov_len - j < c->left ? iov[i].iov_len - j : c->left;
                c->left -= k;
                j += k;
                continue;
            }
            c->hdr[c->hdr_len++] = b[j++];
            if (c->hdr_len < 8) continue;
            c->hdr_len = 0;
            fcgi_header h;
            fcgi_header_get(c->hdr, &h);
            if (h.version != 1 || h.clen > FCGI_OUT_CONTENT_MAX) abort();
            if (h.type == FCGI_STDOUT && h.id != s->id) abort();
            c->left = h.clen + h.plen;
        }
        all += (ssize_t)iov[i].iov_len;
    }
    return all;
}

static void handle(request *rq, handler_ctx *h)
{
    response r;
    memset(&r, 0, sizeof r);
    r.status = 200;
    snprintf(r.ctype, sizeof r.ctype, "text/plain");
    if (!memchr(rq->path, 0, sizeof rq->path) || !memchr(rq->id, 0, sizeof rq->id)) abort();
    form_params fp;
    memset(&fp, 0, sizeof fp);
    char err[256];
    if (form_parse_urlencoded(rq->query, strlen(rq->query), &fp, err, sizeof err))
        resp_fail(&r, 400, "bad_request", "%s", err);
    else if (req_read_body(rq, &r) == 0) {
        if ((long long)rq->body_len > h->cfg->max_body_bytes) abort();
        char boundary[80];
        mp_part parts[MP_MAX_PARTS];
        int n;
        if (mp_boundary(rq->ctype, boundary, sizeof boundary) == 0 &&
            mp_parse(rq->body, rq->body_len, boundary, parts, MP_MAX_PARTS, &n, err, sizeof err))
            resp_fail(&r, 400, "bad_request", "%s", err);
        else
            sb_printf(&r.body, "%zu bytes\n", rq->body_len);
    }
    req_discard_body(rq);
    resp_send(rq, &r);
    sb_free(&r.body);
    sb_free(&r.headers);
    free(r.image);
    free(rq->body);
}

/* The poller's part (conns.c, check_idle): the management records in
 * front answered, then the head checked. Returns the offset of the head,
 * or -1 where the poller closes the connection. */
static long poller(const uint8_t *d, size_t n, const fcgi_caps *caps)
{
    static uint8_t ans[FCGI_MGMT_BURST * FCGI_MGMT_ANSWER_MAX];
    size_t alen;
    long off = fcgi_management_prefix(d, n, caps, ans, &alen);
    if (off < 0) return -1;
    for (size_t at = 0; at < alen;) { /* the answers: whole records, on request id 0 */
        fcgi_header h;
        fcgi_header_get(ans + at, &h);
        if (h.id != 0 || at + 8 + h.clen > alen) abort();
        at += 8 + h.clen;
    }
    if (!reqhead_complete(d + off, n - (size_t)off) || !reqhead_params_valid(d + off, n - (size_t)off))
        return -1;
    return off;
}

static void serve(const uint8_t *data, size_t size, unsigned cut)
{
    static int init;
    static cf_config cfg;
    static fcgi_caps caps = {64, 8};
    static fcgi_stream fs;
    if (!init) {
        cf_defaults(&cfg);
        cfg.max_body_bytes = 1 << 16; /* small: the 413 paths within reach */
        if (fcgs_init(&fs, &caps, 65536, 1000)) abort();
        fs.rd = in_read;
        fs.wv = out_writev;
        init = 1;
    }
    long start = 0;
    if (!cut && (start = poller(data, size, &caps)) < 0) return;
    conn c = {data + start, size - (size_t)start, 0, cut, {0}, 0, 0};
    fs.io = &c;
    handler_ctx h = {.cfg = &cfg, .ncpu = 1};
    for (int i = 0; i < 4; i++) { /* as request_thread in fcgi/worker.c */
        if (fcgs_read_head(&fs, -1) != FCGS_OK) break;
        request rq;
        req_init(&rq, &h, &fs, 0, NULL);
        handle(&rq, &h);
        if (!fcgs_finish(&fs)) break; /* closed (no FCGI_KEEP_CONN, out of step, broken) */
    }
    if (c.hdr_len || c.left) abort(); /* a record written in part */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    serve(data, size, 0);
    unsigned seed = 2166136261u; /* FNV-1a of the input: the read sizes */
    for (size_t i = 0; i < size && i < 64; i++) seed = (seed ^ data[i]) * 16777619u;
    serve(data, size, seed | 1);
    return 0;
}
