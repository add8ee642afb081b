/* One HTTP request through FastCGI: routing, the endpoints of the HTTP
 * contract (fcgi/README.md "HTTP API"), error answers and the access log line.
 * A bad request is answered and forgotten: it never takes the worker down. */
#ifndef CUTOUT_FCGI_HANDLER_H
#define CUTOUT_FCGI_HANDLER_H

#include <fcgiapp.h>

#include "board.h"
#include "config.h"
#include "infer.h"
#include "threadpool.h"

typedef struct {
    const cf_config *cfg;
    infer_queue *q;
    board *b;
    board_slot *slot;
    long ncpu; /* online CPUs */
} handler_ctx;

/* Answers the request FCGX_Accept_r read. arrived: when its connection
 * became readable (monotonic seconds); the request's time counts from it.
 * helpers: the calling thread's pool for the image work (NULL: none). */
void handle_request(handler_ctx *h, FCGX_Request *req, double arrived, threadpool *helpers);

#endif
