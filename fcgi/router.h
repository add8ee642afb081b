/* One HTTP request through FastCGI: the route table (method and path to an
 * endpoint of endpoint.h), the answer written, the status board counted
 * and the access log line. A bad request is answered and forgotten: it
 * never takes the worker down. */
#ifndef CUTOUT_FCGI_ROUTER_H
#define CUTOUT_FCGI_ROUTER_H

#include "request.h"

/* Answers the request whose head fcgs_read_head read. arrived: when its
 * connection became readable (monotonic seconds); the request's time counts from it.
 * helpers: the calling thread's pool for the image work (NULL: none). */
void handle_request(handler_ctx *h, fcgi_stream *fs, double arrived, cutout_pool *helpers);

#endif
