/* Job ids, the job's JSON, and the jobs numbers of /status and /metrics. */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "form.h"

int jobs_new_id(char out[JOB_ID_LEN])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

int jobs_valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == JOB_ID_LEN - 1;
}

static void put_time(strbuf *o, const char *key, double t)
{
    sb_printf(o, ",\"%s\":", key);
    if (t > 0) sb_printf(o, "%.3f", t);
    else sb_puts(o, "null");
}

/* The stored options (a query string) as a JSON object of strings. */
static void put_options(strbuf *o, const char *q)
{
    form_params p;
    p.n = 0;
    char err[256];
    sb_puts(o, ",\"options\":{");
    if (!form_parse_urlencoded(q, strlen(q), &p, err, sizeof err))
        for (int i = 0; i < p.n; i++) {
            if (i) sb_puts(o, ",");
            sb_json_str(o, p.v[i].key);
            sb_puts(o, ":");
            sb_json_str(o, p.v[i].value);
        }
    sb_puts(o, "}");
}

void jobs_json(strbuf *o, const js_job *j, const js_item *items, int n, const char *base,
               double now)
{
    int finished = j->done + j->failed;
    int active = j->total - j->cancelled;
    sb_puts(o, "{\"id\":");
    sb_json_str(o, j->id);
    sb_puts(o, ",\"status\":");
    sb_json_str(o, j->status);
    put_time(o, "created", j->created);
    put_time(o, "started", j->started);
    put_time(o, "finished", j->queued || j->running ? 0 : j->finished);
    sb_printf(o, ",\"total\":%d,\"done\":%d,\"failed\":%d,\"queued\":%d,\"running\":%d,\"cancelled\":%d",
              j->total, j->done, j->failed, j->queued, j->running, j->cancelled);
    sb_printf(o, ",\"progress\":%.4f", active > 0 ? (double)finished / active : 1.0);
    /* ETA from this job's measured pace: items finished per second since
     * its first item was claimed. */
    sb_puts(o, ",\"eta_s\":");
    int left = j->queued + j->running;
    if (left == 0) sb_puts(o, "0");
    else if (finished > 0 && j->started > 0 && now > j->started)
        sb_printf(o, "%.1f", left * (now - j->started) / finished);
    else sb_puts(o, "null");
    put_options(o, j->options);
    sb_puts(o, ",\"url\":");
    char url[600];
    snprintf(url, sizeof url, "%s/%s", base, j->id);
    sb_json_str(o, url);
    if (items) {
        sb_puts(o, ",\"items\":[");
        for (int i = 0; i < n; i++) {
            const js_item *it = &items[i];
            sb_printf(o, "%s{\"index\":%d,\"name\":", i ? "," : "", it->index);
            sb_json_str(o, it->name);
            sb_puts(o, ",\"status\":");
            sb_json_str(o, it->status);
            sb_puts(o, ",\"error\":");
            /* The stored error is the JSON body the item would have had
             * from POST /remove, made by resp_fail. */
            if (!strcmp(it->status, "failed") && it->error[0] == '{') sb_puts(o, it->error);
            else sb_puts(o, "null");
            sb_printf(o, ",\"url\":");
            char iu[700];
            snprintf(iu, sizeof iu, "%s/items/%d", url, it->index);
            sb_json_str(o, iu);
            sb_puts(o, "}");
        }
        sb_puts(o, "]");
    }
    sb_puts(o, "}");
}

static const char *state_names[5] = {"queued", "running", "done", "failed", "cancelled"};

void jobs_status_json(strbuf *o)
{
    jobs_ctx *j = jobs_get();
    js_stats st;
    if (!j || j->store->ops->stats(j->store, &st)) {
        sb_puts(o, "null");
        return;
    }
    sb_puts(o, "{\"jobs\":{");
    for (int i = 0; i < 5; i++) sb_printf(o, "%s\"%s\":%lld", i ? "," : "", state_names[i], st.jobs[i]);
    sb_puts(o, "},\"items\":{");
    for (int i = 0; i < 5; i++) sb_printf(o, "%s\"%s\":%lld", i ? "," : "", state_names[i], st.items[i]);
    sb_printf(o, "},\"spool_bytes\":%lld}", st.spool_bytes);
}

void jobs_metrics(strbuf *o)
{
    jobs_ctx *j = jobs_get();
    js_stats st;
    if (!j || j->store->ops->stats(j->store, &st)) return;
    sb_puts(o, "# HELP cutout_jobs Jobs by status.\n# TYPE cutout_jobs gauge\n");
    for (int i = 0; i < 5; i++) sb_printf(o, "cutout_jobs{status=\"%s\"} %lld\n", state_names[i], st.jobs[i]);
    sb_puts(o, "# HELP cutout_job_items Job items by status.\n# TYPE cutout_job_items gauge\n");
    for (int i = 0; i < 5; i++)
        sb_printf(o, "cutout_job_items{status=\"%s\"} %lld\n", state_names[i], st.items[i]);
    sb_printf(o, "# HELP cutout_jobs_spool_bytes Bytes of job inputs and results in jobs.dir.\n"
                 "# TYPE cutout_jobs_spool_bytes gauge\ncutout_jobs_spool_bytes %lld\n", st.spool_bytes);
}
