/* One request as the endpoints see it: the worker's shared context, the
 * CGI parameters, the path, the request id and the body (read on demand,
 * bounded by limits.max_body_bytes). */
#ifndef CUTOUT_FCGI_REQUEST_H
#define CUTOUT_FCGI_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "config.h"
#include "conns.h"
#include "fcgi_stream.h"
#include "infer.h"
#include "listen.h"

/* What every request of a worker shares. */
typedef struct {
    const cf_config *cfg;
    infer_queue *q;
    board *b;
    board_slot *slot;
    long ncpu; /* online CPUs */
    conns *pool;            /* the worker's connections: body read deadlines */
    const listen_socket *admin; /* admin.listen's socket (fd -1: none), or NULL */
} handler_ctx;

typedef struct {
    handler_ctx *h;
    cutout_pool *helpers; /* the request thread's helpers (image work), or NULL */
    fcgi_stream *fs; /* its connection: parameters, body, answer */
    const char *method, *path_full, *query, *ctype;
    char path[512];
    char id[130];
    uint8_t *body;
    size_t body_len;
    long long content_length; /* -1 unknown */
    int body_read;            /* the whole body was consumed */
    int on_admin;             /* came on the admin.listen socket */
    double t0;
} request;

struct response;

/* Fills rq from the head fcgs_read_head read: method, query, content type, the
 * path without query or trailing slashes, and the request id. */
void req_init(request *rq, handler_ctx *h, fcgi_stream *fs, double arrived, cutout_pool *helpers);

/* Whether the admin endpoints answer this request: with admin.listen, on
 * that socket only; without, to admin.allow (REMOTE_ADDR). */
int req_admin_allowed(const request *rq);

/* A body must come at least this fast (bytes per second) once
 * read_timeout_s is spent (request.c, watch_body). */
#define REQ_BODY_MIN_RATE 4096.0

/* Reads the body (at most max_body_bytes + 1 bytes, under the read
 * deadline); 0, or fails r (413 too large, 400 unreadable or stalled). */
int req_read_body(request *rq, struct response *r);

/* The same with another bound (POST /jobs: several images). */
int req_read_body_max(request *rq, struct response *r, long long max);

/* Reads and drops what is left of the body so a kept-alive connection
 * stays in step; a body much larger than allowed closes the connection. */
void req_discard_body(request *rq);

#endif
