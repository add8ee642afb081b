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

/* /jobs and /jobs/ID/...: 1 when the path is one of them (r answered),
 * 0 when it is not (fcgi/README.md "Jobs"). */
int ep_jobs_route(request *rq, response *r, const char *app_path);
void ep_jobs_submit(request *rq, response *r, const char *base); /* POST /jobs */
void ep_jobs_list(request *rq, response *r, const char *base);   /* GET /jobs */
void ep_jobs_get(request *rq, response *r, const char *base, const char *id);    /* GET /jobs/ID */
void ep_jobs_cancel(request *rq, response *r, const char *base, const char *id); /* DELETE /jobs/ID */
void ep_jobs_retry(request *rq, response *r, const char *base, const char *id);  /* POST /jobs/ID/retry */
void ep_jobs_item(request *rq, response *r, const char *id, const char *index);  /* GET /jobs/ID/items/I */
void ep_jobs_archive(request *rq, response *r, const char *id);                  /* GET /jobs/ID/archive */

#endif
