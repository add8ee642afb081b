/* The endpoints of the HTTP API (fcgi/README.md "HTTP API"), one file each
 * (ep_*.c); router.c picks one by method and path. Each fills r and
 * never fails the worker: bad input is answered and forgotten. */
#ifndef CUTOUT_FCGI_ENDPOINT_H
#define CUTOUT_FCGI_ENDPOINT_H

#include "request.h"
#include "response.h"

typedef void (*endpoint_fn)(request *rq, response *r);

void ep_remove(request *rq, response *r);  /* POST /remove */
void ep_rembg(request *rq, response *r);   /* POST /api/remove (rembg server compatible) */
void ep_health(request *rq, response *r);  /* GET /health */
void ep_metrics(request *rq, response *r); /* GET /metrics (Prometheus) */
void ep_status(request *rq, response *r);  /* GET /status (JSON, per worker) */
void ep_models(request *rq, response *r);  /* GET /models (the model menu) */

#endif
