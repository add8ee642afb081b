/* Jobs in a worker process (fcgi/README.md "Jobs"): the store connection,
 * the spool, and the job runner thread that claims queued items and runs
 * them through the worker's inference queue, in batches, only while no
 * request of POST /remove is waiting (requests keep priority). The runner
 * also sweeps: items left running by a dead process are queued again, and
 * expired jobs are deleted with their files. Job times are wall-clock epoch
 * seconds (app_wall_s): shown to clients and compared across restarts. */
#ifndef CUTOUT_FCGI_JOBS_H
#define CUTOUT_FCGI_JOBS_H

#include "jobs_store.h"
#include "request.h"
#include "response.h"
#include "strbuf.h"

typedef struct {
    jobs_store *store;
    const cf_config *cfg;
    handler_ctx *h;
    char dir[4096];   /* jobs.dir, absolute (X-Sendfile names files by path) */
    char owner[64];   /* "pid:starttime": claims of this process */
} jobs_ctx;

/* Opens the store and starts the runner when jobs.store is set; 0 (also
 * when jobs are not enabled), or -1 with err. */
int jobs_start(handler_ctx *h, char *err, size_t errlen);

/* Stops the runner (after its current batch) and closes the store. */
void jobs_stop(void);

/* The process's jobs, or NULL when jobs are not enabled. */
jobs_ctx *jobs_get(void);

/* New items were stored: the runner looks now instead of at its next poll. */
void jobs_wake(void);

/* 32 hex digits from 128 bits of getrandom; 0 or -1. */
int jobs_new_id(char out[JOB_ID_LEN]);

/* 1 when s is a well-formed job id. */
int jobs_valid_id(const char *s);

/* The job as the JSON of GET /jobs/ID; items (n of them) when not NULL.
 * base: the path up to and including "/jobs" (mounted prefix kept). */
void jobs_json(strbuf *o, const js_job *j, const js_item *items, int n, const char *base,
               double now);

/* Inputs and results (jobs_blob.c): files in jobs.dir with a SQLite
 * store, values in the store with Redis. begin makes room for a new job;
 * put (0, or -1 with errno: ENOSPC, EDQUOT, ...), get (a whole value of
 * at most max bytes, malloc'ed; 0 or -1 with errno), size (0 or -1),
 * remove (every input and result of the job). */
int jobs_blob_begin(jobs_ctx *jc, const char *id);
int jobs_blob_put(jobs_ctx *jc, const char *id, const char *name, const void *data, size_t len);
int jobs_blob_get(jobs_ctx *jc, const char *id, const char *name, size_t max, uint8_t **data,
                  size_t *len);
int jobs_blob_size(jobs_ctx *jc, const char *id, const char *name, uint64_t *size);
void jobs_blob_remove(jobs_ctx *jc, const char *id);

/* r fails for a store call that failed: 503 unavailable with Retry-After
 * when the store cannot be reached (Redis down), else 500 (what: "read",
 * "written"). 1 when the store is reachable now. */
void jobs_store_fail(jobs_ctx *jc, response *r, const char *what);
int jobs_store_reachable(jobs_ctx *jc);

/* Counts and spool bytes for /status (JSON members) and /metrics. */
void jobs_status_json(strbuf *o);
void jobs_metrics(strbuf *o);

#endif
