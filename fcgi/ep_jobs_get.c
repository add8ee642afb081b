/* GET /jobs/ID, DELETE /jobs/ID (cancel and delete the files), POST
 * /jobs/ID/retry. fcgi/README.md "Jobs". */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "jobs.h"
#include "jobs_s3.h"

/* The job's JSON with its items as r (status given), or 404. */
static void answer_job(response *r, int status, const char *base, const char *id)
{
    jobs_ctx *jc = jobs_get();
    js_job j;
    js_item *items = NULL;
    int n = 0;
    double now = app_wall_s();
    int rc = jc->store->ops->get(jc->store, id, now, &j, &items, &n);
    if (rc) {
        if (rc > 0) resp_fail(r, 404, "not_found", "no such job (unknown or expired)");
        else jobs_store_fail(jc, r, "read");
        return;
    }
    r->status = status;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    jobs_json(&r->body, &j, items, n, base, now);
    sb_puts(&r->body, "\n");
    free(items);
}

void ep_jobs_get(request *rq, response *r, const char *base, const char *id)
{
    (void)rq;
    answer_job(r, 200, base, id);
}

void ep_jobs_cancel(request *rq, response *r, const char *base, const char *id)
{
    (void)rq;
    jobs_ctx *jc = jobs_get();
    int rc = jc->store->ops->cancel(jc->store, id, app_wall_s());
    if (rc) {
        if (rc > 0) resp_fail(r, 404, "not_found", "no such job (unknown or expired)");
        else jobs_store_fail(jc, r, "written");
        return;
    }
    /* Running items finish their batch and find their item cancelled:
     * they drop their result (jobs_runner.c). */
    jobs_blob_remove(jc, id);
    jobs_s3_delete_job(id);
    answer_job(r, 200, base, id);
}

void ep_jobs_retry(request *rq, response *r, const char *base, const char *id)
{
    (void)rq;
    jobs_ctx *jc = jobs_get();
    int rc = jc->store->ops->retry(jc->store, id);
    if (rc == -1) {
        resp_fail(r, 404, "not_found", "no such job (unknown or expired)");
        return;
    }
    if (rc == -3) { /* the store failed */
        jobs_store_fail(jc, r, "written");
        return;
    }
    if (rc == -2) {
        resp_fail(r, 409, "cancelled", "the job was cancelled: its inputs are deleted");
        return;
    }
    if (rc > 0) jobs_wake();
    answer_job(r, 202, base, id);
}
