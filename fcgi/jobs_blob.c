/* Inputs and results of jobs (jobs.h): files in jobs.dir (jobs_spool.h)
 * unless the store keeps them itself (Redis, jobs_store.h blob_*). Also
 * the answer to a store that failed. */
#include "jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "jobs_spool.h"

int jobs_blob_begin(jobs_ctx *jc, const char *id)
{
    return jc->store->ops->blob_put ? 0 : spool_job_mkdir(jc->dir, id);
}

int jobs_blob_put(jobs_ctx *jc, const char *id, const char *name, const void *data, size_t len)
{
    jobs_store *s = jc->store;
    if (s->ops->blob_put) return s->ops->blob_put(s, id, name, data, len);
    return spool_write(jc->dir, id, name, data, len);
}

int jobs_blob_get(jobs_ctx *jc, const char *id, const char *name, size_t max, uint8_t **data,
                  size_t *len)
{
    jobs_store *s = jc->store;
    if (s->ops->blob_get) {
        int rc = s->ops->blob_get(s, id, name, max, data, len);
        if (rc > 0) errno = ENOENT;
        return rc ? -1 : 0;
    }
    char path[4096];
    if (spool_path(jc->dir, id, name, path, sizeof path)) return errno = ENAMETOOLONG, -1;
    return spool_read(path, max, data, len);
}

int jobs_blob_size(jobs_ctx *jc, const char *id, const char *name, uint64_t *size)
{
    jobs_store *s = jc->store;
    if (s->ops->blob_size) return s->ops->blob_size(s, id, name, size) ? -1 : 0;
    char path[4096];
    struct stat st;
    if (spool_path(jc->dir, id, name, path, sizeof path) || stat(path, &st)) return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

void jobs_blob_remove(jobs_ctx *jc, const char *id)
{
    jobs_store *s = jc->store;
    if (s->ops->blob_remove) s->ops->blob_remove(s, id);
    else spool_job_remove(jc->dir, id);
}

int jobs_store_reachable(jobs_ctx *jc)
{
    return !jc || !jc->store->ops->reachable || jc->store->ops->reachable(jc->store);
}

void jobs_store_fail(jobs_ctx *jc, response *r, const char *what)
{
    if (!jobs_store_reachable(jc)) {
        r->retry_after = 5;
        resp_fail(r, 503, "unavailable", "the job store (Redis) cannot be reached; retry later");
    } else {
        resp_fail(r, 500, "internal", "the job store could not be %s", what);
    }
}
