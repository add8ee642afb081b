/* GET /jobs/ID/items/I (one result, sent by the server or, with
 * jobs.serve, by the web server) and GET /jobs/ID/archive (a ZIP of the
 * finished results, streamed). fcgi/README.md "Jobs". */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "app_util.h"
#include "jobs.h"
#include "jobs_s3.h"
#include "jobs_spool.h"
#include "zip.h"

/* The internal location nginx maps onto jobs.dir (fcgi/conf/nginx.conf). */
#define X_ACCEL_PREFIX "/cutout-jobs-files/"

/* The job and its items, or r failed (404). */
static int load(response *r, const char *id, js_job *j, js_item **items, int *n)
{
    jobs_ctx *jc = jobs_get();
    int rc = jc->store->ops->get(jc->store, id, app_wall_s(), j, items, n);
    if (rc > 0) resp_fail(r, 404, "not_found", "no such job (unknown or expired)");
    else if (rc < 0) jobs_store_fail(jc, r, "read");
    return rc ? -1 : 0;
}

/* A failed item answers with the error it got (the JSON POST /remove would
 * have sent). */
static void item_error(response *r, const js_item *it)
{
    r->status = it->http >= 400 && it->http <= 599 ? it->http : 500;
    r->slug = "item_failed";
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_puts(&r->body, it->error);
    sb_puts(&r->body, "\n");
}

void ep_jobs_item(request *rq, response *r, const char *id, const char *index)
{
    jobs_ctx *jc = jobs_get();
    js_job j;
    js_item *items = NULL;
    int n = 0, idx;
    if (app_parse_int(index, 0, 1 << 30, &idx)) {
        resp_fail(r, 404, "not_found", "no such item: '%s'", index);
        return;
    }
    if (load(r, id, &j, &items, &n)) return;
    const js_item *it = NULL;
    for (int i = 0; i < n && !it; i++)
        if (items[i].index == idx) it = &items[i];
    if (!it) resp_fail(r, 404, "not_found", "the job has no item %d", idx);
    else if (!strcmp(it->status, "failed")) item_error(r, it);
    else if (!strcmp(it->status, "cancelled")) resp_fail(r, 410, "cancelled", "the item was cancelled");
    else if (strcmp(it->status, "done")) resp_fail(r, 409, "not_ready", "item %d is %s", idx, it->status);
    else {
        char path[4096];
        int serve = jc->cfg->jobs_serve;
        if (jobs_s3_on()) { /* to S3, by a presigned URL (jobs_s3.h) */
            char url[8192]; /* a session token makes it long */
            if (jobs_s3_presign(id, it->result, url, sizeof url)) {
                resp_fail(r, 500, "internal", "the presigned URL could not be made");
            } else {
                r->status = 302; /* no-store: a 3xx gets it from resp_send */
                snprintf(r->ctype, sizeof r->ctype, "text/plain");
                sb_printf(&r->headers, "Location: %s\r\nX-Model: %s\r\n", url, it->model);
            }
            free(items);
            return;
        }
        snprintf(r->ctype, sizeof r->ctype, "%s", it->ctype);
        sb_printf(&r->headers, "X-Model: %s\r\nCache-Control: no-store\r\n", it->model);
        if (spool_path(jc->dir, id, it->result, path, sizeof path)) {
            resp_fail(r, 500, "internal", "spool path too long");
        } else if (serve == CF_SERVE_X_ACCEL) {
            r->status = 200;
            sb_printf(&r->headers, "X-Accel-Redirect: " X_ACCEL_PREFIX "%s/%s\r\n", id, it->result);
        } else if (serve == CF_SERVE_X_SENDFILE) {
            r->status = 200;
            sb_printf(&r->headers, "X-Sendfile: %s\r\n", path);
        } else if (jobs_blob_get(jc, id, it->result, (size_t)1 << 32, &r->image, &r->image_len)) {
            if (!jobs_store_reachable(jc)) jobs_store_fail(jc, r, "read");
            else resp_fail(r, 500, "internal", "the result could not be read: %s", strerror(errno));
        } else {
            r->status = 200;
        }
    }
    (void)rq;
    free(items);
}

typedef struct {
    char id[JOB_ID_LEN];
    zip_entry *e;
    char (*files)[64];
    int n;
} archive;

static void archive_free(void *arg)
{
    archive *a = arg;
    free(a->e);
    free(a->files);
    free(a);
}

static int put(fcgi_stream *out, const void *p, size_t n)
{
    return fcgs_write(out, p, n);
}

/* Each result is read whole (for its CRC, before its header), written,
 * and freed: one result in memory at a time. A file that changed size
 * since the layout ends the stream short (the web server sees a short
 * body and drops the connection). */
static int archive_stream(void *arg, fcgi_stream *out)
{
    archive *a = arg;
    uint8_t hdr[ZIP_CENTRAL_FIXED + ZIP_NAME_MAX + 1];
    uint64_t cd = 0, cd_off = 0;
    for (int i = 0; i < a->n; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        int bad = jobs_s3_on() ? jobs_s3_get(a->id, a->files[i], (size_t)a->e[i].size, &data, &len)
                               : jobs_blob_get(jobs_get(), a->id, a->files[i], (size_t)a->e[i].size, &data,
                                               &len);
        if (bad || len != a->e[i].size) {
            free(data);
            return -1;
        }
        a->e[i].crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
        size_t h = zip_local_header(&a->e[i], hdr, sizeof hdr);
        int rc = !h || put(out, hdr, h) || (len && put(out, data, len));
        free(data);
        if (rc) return -1;
        cd_off = a->e[i].offset + h + len;
    }
    for (int i = 0; i < a->n; i++) {
        size_t h = zip_central_header(&a->e[i], hdr, sizeof hdr);
        if (!h || put(out, hdr, h)) return -1;
        cd += h;
    }
    size_t h = zip_end(a->n, cd, cd_off, hdr, sizeof hdr);
    return h && !put(out, hdr, h) ? 0 : -1;
}

/* name.png for input name.jpg; a name taken already gets "-INDEX". */
static void entry_name(const js_item *it, const zip_entry *prev, int nprev, char *out, size_t len)
{
    const char *ext = strrchr(it->result, '.');
    char stem[JOB_NAME_LEN];
    snprintf(stem, sizeof stem, "%s", it->name);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    snprintf(out, len, "%.200s%s", stem, ext ? ext : "");
    for (int i = 0; i < nprev; i++)
        if (!strcmp(prev[i].name, out)) {
            snprintf(out, len, "%.200s-%d%s", stem, it->index, ext ? ext : "");
            break;
        }
}

void ep_jobs_archive(request *rq, response *r, const char *id)
{
    (void)rq;
    jobs_ctx *jc = jobs_get();
    js_job j;
    js_item *items = NULL;
    int n = 0;
    if (load(r, id, &j, &items, &n)) return;
    archive *a = calloc(1, sizeof *a);
    if (a) {
        a->e = calloc((size_t)n + 1, sizeof *a->e);
        a->files = calloc((size_t)n + 1, sizeof *a->files);
    }
    if (!a || !a->e || !a->files) {
        if (a) archive_free(a);
        free(items);
        resp_fail(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(a->id, sizeof a->id, "%s", id);
    for (int i = 0; i < n; i++) {
        if (strcmp(items[i].status, "done")) continue;
        uint64_t size = (uint64_t)items[i].out_bytes; /* on S3: the size stored with the item */
        if (!jobs_s3_on() && jobs_blob_size(jc, id, items[i].result, &size)) continue;
        zip_entry *e = &a->e[a->n];
        entry_name(&items[i], a->e, a->n, e->name, sizeof e->name);
        e->size = size;
        snprintf(a->files[a->n], sizeof a->files[a->n], "%s", items[i].result);
        a->n++;
    }
    free(items);
    uint64_t total;
    if (zip_layout(a->e, a->n, &total)) {
        archive_free(a);
        resp_fail(r, 413, "too_large", "the results do not fit a ZIP archive (4 GiB, 65535 files): fetch them one by one");
        return;
    }
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "application/zip");
    sb_printf(&r->headers, "Content-Disposition: attachment; filename=\"job-%s.zip\"\r\nCache-Control: no-store\r\n", id);
    r->stream = archive_stream;
    r->stream_free = archive_free;
    r->stream_arg = a;
    r->stream_len = (size_t)total;
}
