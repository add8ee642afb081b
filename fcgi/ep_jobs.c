#define _DEFAULT_SOURCE /* strncasecmp */
/* /jobs: routing of the jobs paths, POST /jobs (a job from uploaded
 * images) and GET /jobs (a page of jobs). fcgi/README.md "Jobs". */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app_util.h"
#include "form.h"
#include "jobs.h"
#include "remove_opts.h"

#define JOBS_LIST_MAX 100

static int method_is(const request *rq, const char *m) { return !strcmp(rq->method, m); }

static int is_get(const request *rq) { return method_is(rq, "GET") || method_is(rq, "HEAD"); }

static void not_allowed(request *rq, response *r, const char *allow)
{
    sb_printf(&r->headers, "Allow: %s\r\n", allow);
    resp_fail(r, 405, "method_not_allowed", "%s %s: use %s", rq->method, rq->path, allow);
}

int ep_jobs_route(request *rq, response *r, const char *app_path)
{
    /* Segments of the path below the mount point: jobs[/ID[/archive|retry|/items/I]]. */
    char path[sizeof rq->path];
    snprintf(path, sizeof path, "%s", app_path);
    char *seg[8];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(path, "/", &save); t && n < 8; t = strtok_r(NULL, "/", &save)) seg[n++] = t;
    if (n < 1 || n > 4 || strcmp(seg[0], "jobs")) return 0;
    int at = 0, rest = n - 1;
    if ((rest == 2 && strcmp(seg[2], "archive") && strcmp(seg[2], "retry")) ||
        (rest == 3 && strcmp(seg[2], "items")))
        return 0;
    /* base: the request path up to and including "/jobs" (the mount point kept). */
    char base[sizeof rq->path];
    size_t blen = (size_t)(app_path - rq->path) + strlen("/jobs");
    snprintf(base, sizeof base, "%.*s", (int)blen, rq->path);
    jobs_ctx *jc = jobs_get();
    if (!jc) {
        resp_fail(r, 404, "not_found", "jobs are not enabled (jobs.store in the configuration)");
        return 1;
    }
    if (!jobs_store_reachable(jc)) { /* Redis down: /remove is not affected */
        jobs_store_fail(jc, r, "read");
        return 1;
    }
    const char *id = rest ? seg[at + 1] : NULL;
    if (id && !jobs_valid_id(id)) {
        resp_fail(r, 404, "not_found", "no such job");
        return 1;
    }
    if (rest == 0) {
        if (method_is(rq, "POST")) ep_jobs_submit(rq, r, base);
        else if (is_get(rq)) {
            /* Every id is a capability: only admin.allow clients may list them. */
            if (req_admin_allowed(rq)) ep_jobs_list(rq, r, base);
            else resp_fail(r, 404, "not_found", "no such endpoint: %s", rq->path);
        }
        else not_allowed(rq, r, "GET, HEAD, POST");
    } else if (rest == 1) {
        if (is_get(rq)) ep_jobs_get(rq, r, base, id);
        else if (method_is(rq, "DELETE")) ep_jobs_cancel(rq, r, base, id);
        else not_allowed(rq, r, "GET, HEAD, DELETE");
    } else if (rest == 2 && !strcmp(seg[n - 1], "retry")) {
        if (method_is(rq, "POST")) ep_jobs_retry(rq, r, base, id);
        else not_allowed(rq, r, "POST");
    } else if (is_get(rq)) {
        if (rest == 2) ep_jobs_archive(rq, r, id);
        else ep_jobs_item(rq, r, id, seg[n - 1]);
    } else not_allowed(rq, r, "GET, HEAD");
    return 1;
}

/* The options as a query string (stored with the job, parsed again by
 * the runner): key=value pairs percent-encoded. */
static int encode_options(const form_params *p, char *out, size_t len)
{
    size_t o = 0;
    for (int i = 0; i < p->n; i++) {
        if (!strcmp(p->v[i].key, "name")) continue;
        const char *parts[2] = {p->v[i].key, p->v[i].value};
        for (int k = 0; k < 2; k++) {
            if (o + 2 >= len) return -1;
            if (k == 0 && o) out[o++] = '&';
            if (k == 1) out[o++] = '=';
            for (const unsigned char *s = (const unsigned char *)parts[k]; *s; s++) {
                if (o + 4 >= len) return -1;
                if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                    strchr("-_.~", *s))
                    out[o++] = (char)*s;
                else o += (size_t)snprintf(out + o, len - o, "%%%02X", *s);
            }
        }
    }
    out[o] = '\0';
    return 0;
}

/* A file name for the listing and the archive: the last path component,
 * printable ASCII without quotes or separators (others become '_'). */
static void clean_name(const char *in, size_t inlen, int index, char *out, size_t len)
{
    const char *s = in;
    for (size_t i = 0; i < inlen; i++)
        if (in[i] == '/' || in[i] == '\\') s = in + i + 1;
    size_t n = inlen - (size_t)(s - in), o = 0;
    for (size_t i = 0; i < n && o + 1 < len && o < 200; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = ch < 0x20 || ch >= 0x7f || strchr("\"'`:*?<>|", ch) ? '_' : (char)ch;
    }
    out[o] = '\0';
    if (!o || !strcmp(out, ".") || !strcmp(out, "..")) snprintf(out, len, "image-%d", index);
}

typedef struct {
    const uint8_t *data;
    size_t len;
    char name[JOB_NAME_LEN];
} upload;

void ep_jobs_submit(request *rq, response *r, const char *base)
{
    jobs_ctx *jc = jobs_get();
    const cf_config *c = rq->h->cfg;
    form_params p;
    char err[256];
    if (ro_query(rq, r, &p)) return;
    /* Every file within max_body_bytes, and multipart framing besides. */
    long long max = (long long)c->jobs_max_items * c->max_body_bytes + (1 << 20);
    if (req_read_body_max(rq, r, max)) return;
    int maxparts = c->jobs_max_items + FORM_MAX_PARAMS + 1;
    upload *up = calloc((size_t)c->jobs_max_items, sizeof *up);
    mp_part *parts = calloc((size_t)maxparts, sizeof *parts);
    char boundary[128];
    int n = 0;
    if (!up || !parts) {
        resp_fail(r, 500, "internal", "out of memory");
        goto out;
    }
    if (!mp_boundary(rq->ctype, boundary, sizeof boundary)) {
        int np;
        if (mp_parse(rq->body, rq->body_len, boundary, parts, maxparts, &np, err, sizeof err)) {
            resp_fail(r, 400, "bad_request", "%s", err);
            goto out;
        }
        for (int i = 0; i < np; i++) {
            if (strcmp(parts[i].name, "file")) {
                if (form_add(&p, parts[i].name, strlen(parts[i].name), (const char *)parts[i].data,
                             parts[i].len, err, sizeof err)) {
                    resp_fail(r, 400, "bad_parameter", "%s", err);
                    goto out;
                }
                continue;
            }
            if (n == c->jobs_max_items) {
                resp_fail(r, 413, "too_large", "more than jobs.max_items (%d) files in one job", c->jobs_max_items);
                goto out;
            }
            up[n].data = parts[i].data;
            up[n].len = parts[i].len;
            clean_name(parts[i].filename, strlen(parts[i].filename), n, up[n].name, sizeof up[n].name);
            n++;
        }
        if (n == 0) {
            resp_fail(r, 400, "bad_request", "the multipart body has no field named 'file'");
            goto out;
        }
    } else if (!strncasecmp(rq->ctype, "multipart/", 10)) {
        resp_fail(r, 400, "bad_request", "multipart body without a valid boundary");
        goto out;
    } else {
        if (rq->body_len == 0) {
            resp_fail(r, 400, "bad_request", "no image in the request (send images as multipart fields 'file', or one image as the body)");
            goto out;
        }
        up[0].data = rq->body;
        up[0].len = rq->body_len;
        const char *nm = form_get(&p, "name");
        clean_name(nm ? nm : "", nm ? strlen(nm) : 0, 0, up[0].name, sizeof up[0].name);
        n = 1;
    }
    for (int i = 0; i < n; i++)
        if ((long long)up[i].len > c->max_body_bytes) {
            resp_fail(r, 413, "too_large", "file %d (%s) is %zu bytes, larger than the limit of %lld bytes",
                      i, up[i].name, up[i].len, c->max_body_bytes);
            goto out;
        }
    job_opts o;
    if (ro_remove_params(rq, r, &p, &o)) goto out;
    js_job job;
    memset(&job, 0, sizeof job);
    if (encode_options(&p, job.options, sizeof job.options)) {
        resp_fail(r, 400, "bad_parameter", "the options are too long");
        goto out;
    }
    long long pending = jc->store->ops->pending(jc->store);
    if (pending < 0 && !jobs_store_reachable(jc)) {
        jobs_store_fail(jc, r, "read");
        goto out;
    }
    if (pending < 0 || pending + n > c->jobs_max_queued_items) {
        r->retry_after = 5;
        resp_fail(r, 503, "overloaded", "too many job items queued (jobs.max_queued_items %d); retry later",
                  c->jobs_max_queued_items);
        goto out;
    }
    if (jobs_new_id(job.id)) {
        resp_fail(r, 500, "internal", "no random bytes for a job id");
        goto out;
    }
    job.created = app_wall_s();
    job.expires = job.created + c->jobs_ttl_s;
    /* Inputs durable first; the job becomes visible (claimable) only
     * when all of them are. */
    js_item *items = calloc((size_t)n, sizeof *items);
    int rc = items ? jobs_blob_begin(jc, job.id) : (errno = ENOMEM, -1);
    for (int i = 0; !rc && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "in-%d", i);
        rc = jobs_blob_put(jc, job.id, name, up[i].data, up[i].len);
        items[i].index = i;
        snprintf(items[i].name, sizeof items[i].name, "%s", up[i].name);
        items[i].in_bytes = (long long)up[i].len;
    }
    if (rc) {
        int e = errno;
        jobs_blob_remove(jc, job.id);
        if (!jobs_store_reachable(jc)) jobs_store_fail(jc, r, "written");
        else if (e == ENOSPC || e == EDQUOT)
            resp_fail(r, 507, "insufficient_storage", "the job spool (jobs.dir) is full: the job was not stored");
        else resp_fail(r, 500, "internal", "the job could not be stored: %s", strerror(e));
        free(items);
        goto out;
    }
    if (jc->store->ops->create(jc->store, &job, items, n, err, sizeof err)) {
        jobs_blob_remove(jc, job.id);
        if (!jobs_store_reachable(jc)) jobs_store_fail(jc, r, "written");
        else resp_fail(r, 500, "internal", "the job could not be stored: %s", err);
        free(items);
        goto out;
    }
    free(items);
    jobs_wake();
    r->status = 202;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    char url[sizeof rq->path + JOB_ID_LEN + 2];
    snprintf(url, sizeof url, "%s/%s", base, job.id);
    sb_printf(&r->headers, "Location: %s\r\n", url);
    sb_puts(&r->body, "{\"id\":");
    sb_json_str(&r->body, job.id);
    sb_printf(&r->body, ",\"status\":\"queued\",\"total\":%d,\"url\":", n);
    sb_json_str(&r->body, url);
    sb_puts(&r->body, "}\n");
out:
    free(up);
    free(parts);
}

void ep_jobs_list(request *rq, response *r, const char *base)
{
    jobs_ctx *jc = jobs_get();
    form_params p;
    if (ro_query(rq, r, &p)) return;
    const char *status = form_get(&p, "status"), *after = form_get(&p, "after"), *v;
    static const char *known[] = {"queued", "running", "done", "failed", "cancelled"};
    int ok = !status || !*status;
    for (int i = 0; i < 5 && !ok; i++) ok = !strcmp(status, known[i]);
    if (!ok) {
        resp_fail(r, 400, "bad_parameter", "status: '%s' is not queued, running, done, failed or cancelled", status);
        return;
    }
    if (after && *after && !jobs_valid_id(after)) {
        resp_fail(r, 400, "bad_parameter", "after: not a job id");
        return;
    }
    int limit = 20;
    if ((v = form_get(&p, "limit")) && *v && app_parse_int(v, 1, JOBS_LIST_MAX, &limit)) {
        resp_fail(r, 400, "bad_parameter", "limit: '%s' is not an integer 1..%d", v, JOBS_LIST_MAX);
        return;
    }
    js_job *jobs = calloc((size_t)limit, sizeof *jobs);
    if (!jobs) {
        resp_fail(r, 500, "internal", "out of memory");
        return;
    }
    double now = app_wall_s();
    int n = jc->store->ops->list(jc->store, status ? status : "", after ? after : "", limit, jobs, now);
    if (n < 0) {
        jobs_store_fail(jc, r, "read");
        free(jobs);
        return;
    }
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_puts(&r->body, "{\"jobs\":[");
    for (int i = 0; i < n; i++) {
        if (i) sb_puts(&r->body, ",");
        jobs_json(&r->body, &jobs[i], NULL, 0, base, now);
    }
    sb_puts(&r->body, "],\"next\":");
    if (n == limit) sb_json_str(&r->body, jobs[n - 1].id);
    else sb_puts(&r->body, "null");
    sb_puts(&r->body, "}\n");
    free(jobs);
}
