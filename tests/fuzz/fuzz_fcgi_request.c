/* libFuzzer entry point for the server's FastCGI request path, fed with raw
 * bytes as the web server would send them on a kept-alive connection.
 *
 * cutout-fcgi does not parse FastCGI records itself: libfcgi does (its
 * FCGX_Accept_r reads BEGIN_REQUEST, PARAMS and STDIN records from the
 * connection); the connection poller (fcgi/conns.c) only peeks at each
 * request head (fcgi/reqhead.c) to see that it is whole and that no
 * parameter lies about its length, and closes it unread otherwise (mirrored
 * by poller_lets_through below). So this target drives the code between the
 * two exactly as a request thread of fcgi/worker.c does: the input goes down
 * one end of a socketpair, and on the other FCGX_Accept_r is called on the
 * open connection (ipcFd set, keepConnection) for up to four requests in a
 * row; for each, fcgi/request.c (req_init: path, request id; req_read_body:
 * Content-Length, the body limit) and the parameter parsers (query string,
 * multipart Content-Type and body) run and an answer goes back through
 * fcgi/response.c. Built and run by tests/fuzz/run-fuzz fcgi_request.
 * libfcgi itself is the system's (not instrumented): ASan checks what our
 * code reads from what it returns. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "form.h"
#include "reqhead.h"
#include "request.h"
#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int fd;
    const uint8_t *data;
    size_t size;
} peer;

/* The web server's side: sends the input, then reads answers until the
 * server side closes (so a long answer never blocks it). */
static void *web_server(void *arg)
{
    peer *p = arg;
    size_t off = 0;
    while (off < p->size) {
        ssize_t k = write(p->fd, p->data + off, p->size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    shutdown(p->fd, SHUT_WR);
    char buf[4096];
    while (read(p->fd, buf, sizeof buf) > 0) {
    }
    return NULL;
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
    resp_send(rq, &r);
    req_discard_body(rq);
    sb_free(&r.body);
    sb_free(&r.headers);
    free(r.image);
    free(rq->body);
}

/* What reaches libfcgi in the server: the connection poller closes a head
 * of any shape but the one web servers send, or with a parameter lying about
 * its length, before a thread reads it (fcgi/conns.c, reqhead.h). The first
 * head starts the input; where a later one starts depends on what libfcgi
 * buffered, so every place a BEGIN_REQUEST header could start is held to
 * the same rule. A GET_VALUES management record (type 9) anywhere is left
 * out: libfcgi parses its pairs as it parses parameters, after the head,
 * where the poller does not look (fcgi/README.md, "Limits and known gaps"). */
static int poller_lets_through(const uint8_t *data, size_t size)
{
    if (!reqhead_params_valid(data, size)) return 0;
    for (size_t off = 1; off + 8 <= size; off++) {
        if (data[off] == 1 && data[off + 1] == 9) return 0;
        if (data[off] == 1 && data[off + 1] == 1 && !reqhead_params_valid(data + off, size - off))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!poller_lets_through(data, size)) return 0;
    static int init;
    static cf_config cfg;
    if (!init) {
        if (FCGX_Init()) abort();
        cf_defaults(&cfg);
        cfg.max_body_bytes = 1 << 16; /* small: the 413 paths within reach */
        init = 1;
    }
    handler_ctx h = {.cfg = &cfg, .ncpu = 1};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) abort();
    peer p = {sv[1], data, size};
    pthread_t t;
    if (pthread_create(&t, NULL, web_server, &p)) abort();

    FCGX_Request req;
    if (FCGX_InitRequest(&req, -1, 0)) abort();
    int fd = sv[0];
    for (int i = 0; i < 4 && fd >= 0; i++) { /* as request_thread in fcgi/worker.c */
        req.ipcFd = fd;
        req.keepConnection = 1;
        req.detached = 0;
        if (FCGX_Accept_r(&req) < 0) {
            if (req.ipcFd >= 0) FCGX_Free(&req, 1);
            fd = -1; /* closed by libfcgi */
            break;
        }
        request rq;
        req_init(&rq, &h, &req, 0, NULL);
        handle(&rq, &h);
        FCGX_Finish_r(&req);
        fd = req.ipcFd; /* -1: closed (no FCGI_KEEP_CONN) */
        req.ipcFd = -1;
    }
    if (fd >= 0) close(fd);
    pthread_join(t, NULL);
    close(sv[1]);
    return 0;
}
