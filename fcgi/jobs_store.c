/* What every job store computes alike. */
#include "jobs_store.h"

#include <stdio.h>
#include <string.h>

const char *js_job_status(const js_job *j, int cancelled)
{
    if (cancelled) return "cancelled";
    if (j->cancelled && !j->queued && !j->running && j->cancelled + j->done + j->failed == j->total)
        return "cancelled";
    if (j->queued || j->running) return j->running || j->started > 0 ? "running" : "queued";
    if (j->total && j->failed == j->total) return "failed";
    return "done";
}
