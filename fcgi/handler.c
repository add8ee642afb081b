#define _DEFAULT_SOURCE /* strcasecmp, random ids */
#include "handler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "form.h"
#include "image.h"
#include "image_codec.h"
#include "util.h"
#include "log.h"
#include "pipeline.h"
#include "strbuf.h"

/* ------------------------------------------------------------ response */

typedef struct {
    int status;
    const char *slug; /* error code slug, NULL on success */
    char ctype[64];
    strbuf body;          /* JSON / text bodies */
    uint8_t *image;       /* encoded image body (owned) */
    size_t image_len;
    strbuf headers;       /* extra header lines */
    const char *model;
    int retry_after;      /* seconds; 0: none */
    double decode_ms, queue_ms, infer_ms, encode_ms;
    int batch;
} response;

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

static void fail(response *r, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(response *r, int status, const char *slug, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->slug = slug;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_free(&r->body);
    sb_puts(&r->body, "{\"error\":");
    sb_json_str(&r->body, msg);
    sb_puts(&r->body, ",\"code\":");
    sb_json_str(&r->body, slug);
    sb_puts(&r->body, "}\n");
    free(r->image);
    r->image = NULL;
    r->image_len = 0;
}

/* ------------------------------------------------------------ request */

typedef struct {
    handler_ctx *h;
    threadpool *helpers; /* the request thread's helpers (image work), or NULL */
    FCGX_Request *req;
    const char *method, *path_full, *query, *ctype;
    char path[512];
    char id[130];
    uint8_t *body;
    size_t body_len;
    long long content_length; /* -1 unknown */
    int body_read;            /* the whole body was consumed */
    double t0;
} request;

static const char *param(FCGX_Request *req, const char *name)
{
    const char *v = FCGX_GetParam(name, req->envp);
    return v ? v : "";
}

/* A caller's X-Request-Id is kept when it is a sane token; else a new one. */
static void request_id(request *rq)
{
    const char *in = FCGX_GetParam("HTTP_X_REQUEST_ID", rq->req->envp);
    if (in) {
        size_t n = strlen(in);
        int ok = n >= 1 && n <= 128;
        for (size_t i = 0; ok && i < n; i++) {
            char c = in[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("-_.:", c);
        }
        if (ok) {
            memcpy(rq->id, in, n + 1);
            return;
        }
    }
    /* Unique enough for logs: pid, time and a per-thread counter. */
    static _Thread_local unsigned long long counter;
    static _Thread_local unsigned long long state;
    if (!state) state = ((unsigned long long)getpid() << 32) ^ (unsigned long long)(mono_now() * 1e9) ^ (unsigned long long)(size_t)&counter;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    counter++;
    snprintf(rq->id, sizeof rq->id, "%016llx", state ^ (counter * 0x9E3779B97F4A7C15ull));
}

/* Reads the body; 0, or fails r (413 too large, 400 unreadable). */
static int read_body(request *rq, response *r)
{
    long long max = rq->h->cfg->max_body_bytes;
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->req->envp);
    rq->content_length = -1;
    if (cl && *cl) {
        char *end;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        if (errno || *end || n < 0) {
            fail(r, 400, "bad_request", "invalid Content-Length");
            return -1;
        }
        rq->content_length = n;
        if (n > max) {
            fail(r, 413, "too_large", "the request body (%lld bytes) is larger than the limit of %lld bytes", n, max);
            return -1;
        }
    }
    size_t cap = rq->content_length >= 0 ? (size_t)rq->content_length : 65536;
    rq->body = malloc(cap ? cap : 1);
    if (!rq->body) {
        fail(r, 500, "internal", "out of memory");
        return -1;
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (rq->content_length >= 0) break;
            if ((long long)cap > max) break;
            size_t nc = cap * 2;
            uint8_t *nb = realloc(rq->body, nc);
            if (!nb) {
                fail(r, 500, "internal", "out of memory");
                return -1;
            }
            rq->body = nb;
            cap = nc;
        }
        size_t want = cap - len;
        if (want > (1 << 20)) want = 1 << 20;
        int got = FCGX_GetStr((char *)rq->body + len, (int)want, rq->req->in);
        if (got <= 0) break;
        len += (size_t)got;
    }
    rq->body_len = len;
    if ((long long)len > max) {
        fail(r, 413, "too_large", "the request body is larger than the limit of %lld bytes", max);
        return -1;
    }
    rq->body_read = rq->content_length < 0 || (long long)len == rq->content_length ||
                    FCGX_HasSeenEOF(rq->req->in);
    if (rq->content_length >= 0 && (long long)len < rq->content_length) {
        fail(r, 400, "bad_request", "the request body ended after %zu of %lld bytes", len,
             rq->content_length);
        return -1;
    }
    return 0;
}

/* Reads and drops what is left of the body so a kept-alive connection
 * stays in step; a body much larger than allowed closes the connection. */
static void discard_body(request *rq)
{
    if (rq->body_read) return;
    char buf[65536];
    long long left = rq->h->cfg->max_body_bytes * 2 + (1 << 20);
    while (left > 0) {
        int got = FCGX_GetStr(buf, sizeof buf, rq->req->in);
        if (got <= 0) return;
        left -= got;
    }
    rq->req->keepConnection = 0;
}

/* ------------------------------------------------------------ params */

static int is_true(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return *out = 1, 0;
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
        !*v)
        return *out = 0, 0;
    return -1;
}

typedef struct {
    int model;
    cut_render_options ropt;
    cut_encode_options eopt;
    const char *ctype;
} job_opts;

static void list_models(const infer_queue *q, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < q->n_models && o < len; i++) {
        int k = snprintf(out + o, len - o, "%s%s", i ? ", " : "", q->models[i].name);
        if (k < 0) break;
        o += (size_t)k;
    }
}

static int pick_model(request *rq, response *r, const char *v, job_opts *o)
{
    o->model = 0;
    if (!v || !*v) return 0;
    int i = infer_model_index(rq->h->q, v);
    if (i < 0) {
        char names[256];
        list_models(rq->h->q, names, sizeof names);
        fail(r, 400, "bad_parameter", "unknown model '%s' (available: %s)", v, names);
        return -1;
    }
    o->model = i;
    return 0;
}

static void set_format(job_opts *o, const cf_config *c, int format)
{
    cut_encode_options_default(&o->eopt, (cut_image_format)format);
    o->eopt.png_level = c->png_compression;
    o->eopt.quality = format == CUT_FORMAT_JPEG ? c->jpeg_quality : c->webp_quality;
    o->eopt.lossless = 0;
    o->ctype = format == CUT_FORMAT_JPEG ? "image/jpeg" : format == CUT_FORMAT_WEBP ? "image/webp" : "image/png";
}

/* POST /remove parameters (query and form fields, fcgi/README.md "HTTP API"). */
static int remove_params(request *rq, response *r, const form_params *p, job_opts *o)
{
    const cf_config *c = rq->h->cfg;
    cut_render_options_default(&o->ropt);
    const char *v;
    if (pick_model(rq, r, form_get(p, "model"), o)) return -1;
    int format = c->out_format;
    if ((v = form_get(p, "format")) && *v) {
        if (!strcasecmp(v, "png")) format = CUT_FORMAT_PNG;
        else if (!strcasecmp(v, "webp")) format = CUT_FORMAT_WEBP;
        else if (!strcasecmp(v, "jpeg") || !strcasecmp(v, "jpg")) format = CUT_FORMAT_JPEG;
        else {
            fail(r, 400, "bad_parameter", "format: '%s' is not png, webp or jpeg", v);
            return -1;
        }
    }
    set_format(o, c, format);
    if ((v = form_get(p, "quality")) && *v && cut_parse_int(v, 1, 100, &o->eopt.quality)) {
        fail(r, 400, "bad_parameter", "quality: '%s' is not an integer 1..100", v);
        return -1;
    }
    static const char *flags[] = {"mask", "crop", "post_process"};
    int *dst[] = {&o->ropt.mask_only, &o->ropt.crop, &o->ropt.post_process};
    for (int i = 0; i < 3; i++)
        if ((v = form_get(p, flags[i])) && is_true(v, dst[i])) {
            fail(r, 400, "bad_parameter", "%s: '%s' is not 0/1 or true/false", flags[i], v);
            return -1;
        }
    if ((v = form_get(p, "bg")) && *v) {
        if (cut_parse_color(v, o->ropt.bg_color)) {
            fail(r, 400, "bad_parameter", "bg: '%s' is not #rrggbb[aa] or r,g,b[,a]", v);
            return -1;
        }
        o->ropt.has_bg_color = 1;
    }
    if (o->ropt.has_bg_color && o->ropt.mask_only) {
        fail(r, 400, "bad_parameter", "mask=1 answers the mask only: bg does not apply");
        return -1;
    }
    if ((v = form_get(p, "margin")) && *v) {
        char buf[32];
        size_t n = strlen(v);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
        if (n && buf[n - 1] == '%') {
            o->ropt.margin_percent = 1;
            buf[n - 1] = '\0';
        }
        if (cut_parse_int(buf, 0, 100000, &o->ropt.margin)) {
            fail(r, 400, "bad_parameter", "margin: '%s' is not N or N%% (0..100000)", v);
            return -1;
        }
    }
    static const char *dims[] = {"max_width", "max_height"};
    int *dd[] = {&o->ropt.max_w, &o->ropt.max_h};
    for (int i = 0; i < 2; i++)
        if ((v = form_get(p, dims[i])) && *v && cut_parse_int(v, 1, 1000000, dd[i])) {
            fail(r, 400, "bad_parameter", "%s: '%s' is not an integer 1..1000000", dims[i], v);
            return -1;
        }
    /* One bound given: the other is unbounded (the library takes 0 as none
     * only for both). */
    if (o->ropt.max_w && !o->ropt.max_h) o->ropt.max_h = 1 << 30;
    if (o->ropt.max_h && !o->ropt.max_w) o->ropt.max_w = 1 << 30;
    if (format == CUT_FORMAT_JPEG && !o->ropt.mask_only) o->ropt.opaque = 1;
    return 0;
}

/* POST /api/remove parameters (rembg server: model, om, ppm, bgc). */
static int rembg_params(request *rq, response *r, const form_params *p, job_opts *o)
{
    const cf_config *c = rq->h->cfg;
    cut_render_options_default(&o->ropt);
    const char *v;
    if (pick_model(rq, r, form_get(p, "model"), o)) return -1;
    set_format(o, c, CUT_FORMAT_PNG);
    if ((v = form_get(p, "om")) && is_true(v, &o->ropt.mask_only)) {
        fail(r, 400, "bad_parameter", "om: '%s' is not true/false", v);
        return -1;
    }
    if ((v = form_get(p, "ppm")) && is_true(v, &o->ropt.post_process)) {
        fail(r, 400, "bad_parameter", "ppm: '%s' is not true/false", v);
        return -1;
    }
    if ((v = form_get(p, "a")) && *v) {
        int a;
        if (is_true(v, &a) || a) {
            fail(r, 400, "bad_parameter", "alpha matting (a=true) is not supported");
            return -1;
        }
    }
    if ((v = form_get(p, "bgc")) && *v && strcmp(v, "None")) {
        if (cut_parse_color(v, o->ropt.bg_color)) {
            fail(r, 400, "bad_parameter", "bgc: '%s' is not r,g,b,a", v);
            return -1;
        }
        o->ropt.has_bg_color = !o->ropt.mask_only;
    }
    return 0;
}

/* ------------------------------------------------------------ the work */

static double ms_since(double t) { return (mono_now() - t) * 1000.0; }

/* The request thread's helpers while there are idle cores for them: with
 * as many requests in flight in the pool as the CPUs can give a full set of
 * helpers to (on 2 CPUs: one request), otherwise none. When every core is
 * busy anyway, splitting a request's work only adds switches and takes
 * cores from the forward pass. */
static threadpool *helpers(request *rq)
{
    if (!rq->helpers) return NULL;
    long room = rq->h->ncpu / tp_threads(rq->helpers);
    uint64_t inflight = 0;
    for (int i = 0; i < BOARD_SLOTS; i++) inflight += board_get(&rq->h->b->slots[i].inflight);
    return (long)inflight <= (room < 1 ? 1 : room) ? rq->helpers : NULL;
}

/* 504 (as a web server answers a backend past its deadline): the request
 * was not done within request_timeout_s of its arrival. */
static void timed_out(request *rq, response *r)
{
    board_add(&rq->h->b->timeouts, 1);
    fail(r, 504, "timeout", "the request was not done within request_timeout_s (%d s)",
         rq->h->cfg->request_timeout_s);
}

/* Decode, network, mask, output: fills r with the image or an error. */
static void cut_image_request(request *rq, response *r, const uint8_t *data, size_t len,
                              job_opts *o)
{
    handler_ctx *h = rq->h;
    const cf_config *c = h->cfg;
    infer_model *m = &h->q->models[o->model];
    r->model = m->name;
    if (len == 0) {
        fail(r, 400, "bad_request", "no image in the request (send the image as the body or as the multipart field 'file')");
        return;
    }
    if (cut_image_sniff(data, len) == CUT_FORMAT_UNKNOWN) {
        fail(r, 415, "unsupported_media_type", "not a PNG, JPEG or WebP image");
        return;
    }
    if (infer_full(h->q)) { /* refuse before spending time on decoding */
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        fail(r, 503, "overloaded", "the inference queue is full; retry later");
        return;
    }
    double deadline = rq->t0 + c->request_timeout_s;
    if (mono_now() >= deadline) { /* waited that long for a free request thread */
        timed_out(rq, r);
        return;
    }
    cut_image img = {0}, mask = {0}, out = {0};
    infer_job *job = NULL;
    char err[512];
    infer_expect(h->q); /* settled by infer_submit, or below */
    int expecting = 1;
    double t = mono_now();
    cut_image_limits lim = {(uint64_t)c->max_pixels, c->max_dimension, 1};
    int rc = cut_image_decode(data, len, &lim, (cut_decode_flags){0}, &img, NULL, err, sizeof err);
    r->decode_ms = ms_since(t);
    if (rc == CUTOUT_E_LIMIT) {
        fail(r, 413, "too_large", "%s", err);
        goto done;
    }
    if (rc == CUTOUT_E_UNSUPPORTED) {
        fail(r, 415, "unsupported_media_type", "%s", err);
        goto done;
    }
    if (rc == CUTOUT_E_NOMEM) {
        fail(r, 500, "internal", "out of memory while decoding");
        goto done;
    }
    if (rc) {
        fail(r, 422, "undecodable_image", "the image could not be decoded: %s", err);
        goto done;
    }
    if (img.width < c->min_dimension || img.height < c->min_dimension) {
        fail(r, 422, "image_too_small", "the image is %dx%d; both sides must be at least %d pixels",
             img.width, img.height, c->min_dimension);
        goto done;
    }
    job = infer_job_new(o->model, m->size);
    if (!job) {
        fail(r, 500, "internal", "out of memory");
        goto done;
    }
    t = mono_now();
    rc = cut_pipeline_preprocess_tp(&img, m->size, m->mean, m->std, job->input, helpers(rq), err,
                                    sizeof err);
    r->decode_ms += ms_since(t);
    if (rc) {
        fail(r, 500, "internal", "preprocessing failed: %s", err);
        goto done;
    }
    expecting = 0;
    if (infer_submit(h->q, job)) {
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        fail(r, 503, "overloaded", "the inference queue is full; retry later");
        goto done;
    }
    rc = infer_wait(h->q, job, deadline);
    if (rc) {
        if (rc == -2) job = NULL; /* abandoned: the inference thread frees it */
        timed_out(rq, r);
        goto done;
    }
    r->queue_ms = (job->t_start - job->t_enqueue) * 1000.0;
    r->infer_ms = (job->t_end - job->t_start) * 1000.0;
    r->batch = job->batch_n;
    board_add(&h->b->queue_us, (uint64_t)(r->queue_ms * 1000.0));
    if (job->status) {
        fail(r, 500, "internal", "inference failed: %s", job->err);
        goto done;
    }
    t = mono_now();
    threadpool *tp = helpers(rq);
    rc = cut_pipeline_mask_tp(job->pred, m->size, img.width, img.height, &mask, tp, err,
                              sizeof err);
    if (!rc) rc = cut_render_tp(&img, &mask, &o->ropt, &out, tp, err, sizeof err);
    if (!rc && o->eopt.format == CUT_FORMAT_PNG) /* deflated on both cores: c=1 latency */
        rc = cut_png_encode_parallel(&out, o->eopt.png_level < 0 ? 3 : o->eopt.png_level, tp,
                                     &r->image, &r->image_len, err, sizeof err);
    else if (!rc)
        rc = cut_image_encode(&out, &o->eopt, &r->image, &r->image_len, err, sizeof err);
    r->encode_ms = ms_since(t);
    if (rc) {
        fail(r, 500, "internal", "building the output failed: %s", err);
        goto done;
    }
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "%s", o->ctype);
done:
    if (expecting) infer_unexpect(h->q);
    cut_image_free(&img);
    cut_image_free(&mask);
    cut_image_free(&out);
    infer_job_free(job);
}

/* Fields of a multipart body other than "file" become parameters. */
static int multipart(request *rq, response *r, const char *boundary, form_params *p,
                     mp_part *file)
{
    mp_part parts[MP_MAX_PARTS];
    int n;
    char err[256];
    if (mp_parse(rq->body, rq->body_len, boundary, parts, MP_MAX_PARTS, &n, err, sizeof err)) {
        fail(r, 400, "bad_request", "%s", err);
        return -1;
    }
    const mp_part *f = mp_find(parts, n, "file");
    if (!f) {
        fail(r, 400, "bad_request", "the multipart body has no field named 'file'");
        return -1;
    }
    *file = *f; /* its data points into the body */
    for (int i = 0; i < n; i++) {
        if (!strcmp(parts[i].name, "file")) continue;
        if (form_add(p, parts[i].name, strlen(parts[i].name), (const char *)parts[i].data,
                     parts[i].len, err, sizeof err)) {
            fail(r, 400, "bad_parameter", "%s", err);
            return -1;
        }
    }
    return 0;
}

static void do_remove(request *rq, response *r, int rembg)
{
    form_params p;
    p.n = 0;
    char err[256];
    if (form_parse_urlencoded(rq->query, strlen(rq->query), &p, err, sizeof err)) {
        fail(r, 400, "bad_parameter", "%s", err);
        return;
    }
    if (read_body(rq, r)) return;
    const uint8_t *data = rq->body;
    size_t len = rq->body_len;
    char boundary[128];
    if (!mp_boundary(rq->ctype, boundary, sizeof boundary)) {
        mp_part file;
        if (multipart(rq, r, boundary, &p, &file)) return;
        data = file.data;
        len = file.len;
    } else if (rembg) {
        fail(r, 400, "bad_request", "POST /api/remove expects multipart/form-data with the field 'file'");
        return;
    } else if (!strncasecmp(rq->ctype, "multipart/", 10)) {
        fail(r, 400, "bad_request", "multipart body without a valid boundary");
        return;
    }
    job_opts o;
    if (rembg ? rembg_params(rq, r, &p, &o) : remove_params(rq, r, &p, &o)) return;
    cut_image_request(rq, r, data, len, &o);
}

/* ------------------------------------------------------------ info pages */

static void do_health(request *rq, response *r)
{
    handler_ctx *h = rq->h;
    /* A worker draining for a reload or max_requests still answers (others
     * take over); only a pool that is shutting down reports 503. */
    int ok = !__atomic_load_n(&h->b->shutting_down, __ATOMIC_SEQ_CST);
    r->status = ok ? 200 : 503;
    r->slug = ok ? NULL : "not_ready";
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_printf(&r->body, "{\"status\":\"%s\",\"model\":", ok ? "ok" : "stopping");
    sb_json_str(&r->body, h->q->models[0].name);
    sb_puts(&r->body, ",\"backend\":");
    sb_json_str(&r->body, infer_backend(h->q));
    sb_puts(&r->body, ",\"device\":");
    sb_json_str(&r->body, infer_device(h->q));
    sb_puts(&r->body, "}\n");
}

static const char *state_name(int s)
{
    return s == SLOT_STARTING ? "starting" : s == SLOT_READY ? "ready" : s == SLOT_DRAINING ? "draining" : "free";
}

/* One Prometheus counter with its HELP and TYPE lines. */
static void put_counter(strbuf *o, const char *name, const char *help, const uint64_t *value)
{
    sb_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
              (unsigned long long)board_get(value));
}

static void do_metrics(request *rq, response *r)
{
    board *b = rq->h->b;
    strbuf *o = &r->body;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "text/plain; version=0.0.4; charset=utf-8");
    sb_puts(o, "# HELP cutout_requests_total Requests answered, by HTTP status.\n"
               "# TYPE cutout_requests_total counter\n");
    for (int i = 0; i < BOARD_CODES; i++) {
        if (i < BOARD_CODES - 1) sb_printf(o, "cutout_requests_total{code=\"%d\"} ", board_codes[i]);
        else sb_puts(o, "cutout_requests_total{code=\"other\"} ");
        sb_printf(o, "%llu\n", (unsigned long long)board_get(&b->by_code[i]));
    }
    sb_puts(o, "# HELP cutout_request_duration_seconds Time from the request's arrival to its answer.\n"
               "# TYPE cutout_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i <= BOARD_BUCKETS; i++) {
        cum += board_get(&b->hist[i]);
        if (i < BOARD_BUCKETS)
            sb_printf(o, "cutout_request_duration_seconds_bucket{le=\"%g\"} %llu\n", board_bucket_le[i], cum);
        else
            sb_printf(o, "cutout_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    sb_printf(o, "cutout_request_duration_seconds_sum %.6f\n", board_get(&b->dur_us) / 1e6);
    sb_printf(o, "cutout_request_duration_seconds_count %llu\n", (unsigned long long)board_get(&b->dur_count));
    static const char *stages[] = {"decode", "queue", "infer", "encode"};
    uint64_t *stage_us[] = {&b->decode_us, &b->queue_us, &b->infer_us, &b->encode_us};
    sb_puts(o, "# HELP cutout_stage_seconds_total Time spent per stage (infer counts each batch once).\n"
               "# TYPE cutout_stage_seconds_total counter\n");
    for (int i = 0; i < 4; i++)
        sb_printf(o, "cutout_stage_seconds_total{stage=\"%s\"} %.6f\n", stages[i], board_get(stage_us[i]) / 1e6);
    put_counter(o, "cutout_batches_total", "Forward passes run.", &b->batches);
    put_counter(o, "cutout_batch_images_total", "Images through forward passes.", &b->batch_images);
    put_counter(o, "cutout_queue_full_total",
                "Requests refused with 503 because the queue was full.", &b->queue_full);
    put_counter(o, "cutout_timeouts_total", "Requests that waited past request_timeout_s.",
                &b->timeouts);
    put_counter(o, "cutout_received_bytes_total", "Request body bytes.", &b->bytes_in);
    put_counter(o, "cutout_sent_bytes_total", "Response body bytes.", &b->bytes_out);
    put_counter(o, "cutout_worker_restarts_total", "Workers replaced after they died.",
                &b->worker_restarts);
    put_counter(o, "cutout_worker_hangs_total",
                "Workers killed by the watchdog (a forward pass past request_timeout_s + grace, "
                "or a stopped process).",
                &b->worker_hangs);
    sb_printf(o, "# HELP cutout_worker_recycles_total Workers replaced after max_requests.\n"
                 "# TYPE cutout_worker_recycles_total counter\ncutout_worker_recycles_total %llu\n",
              (unsigned long long)board_get(&b->worker_recycles));
    unsigned long long inflight = 0, queued = 0, conns = 0;
    int states[4] = {0};
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &b->slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SLOT_FREE) continue;
        states[st & 3]++;
        inflight += board_get(&s->inflight);
        queued += board_get(&s->queued);
        conns += board_get(&s->connections);
    }
    sb_puts(o, "# HELP cutout_workers Worker processes by state.\n# TYPE cutout_workers gauge\n");
    for (int s = 1; s < 4; s++) sb_printf(o, "cutout_workers{state=\"%s\"} %d\n", state_name(s), states[s]);
    sb_printf(o, "# HELP cutout_inflight_requests Requests being handled.\n# TYPE cutout_inflight_requests gauge\n"
                 "cutout_inflight_requests %llu\n", inflight);
    sb_printf(o, "# HELP cutout_open_connections FastCGI connections open (web server keepalive included).\n"
                 "# TYPE cutout_open_connections gauge\ncutout_open_connections %llu\n", conns);
    sb_printf(o, "# HELP cutout_queued_inputs Inputs waiting for the network.\n# TYPE cutout_queued_inputs gauge\n"
                 "cutout_queued_inputs %llu\n", queued);
    sb_printf(o, "# HELP cutout_start_time_seconds Start of the master process.\n# TYPE cutout_start_time_seconds gauge\n"
                 "cutout_start_time_seconds %.3f\n", b->started_ms / 1000.0);
}

static void do_status(request *rq, response *r)
{
    handler_ctx *h = rq->h;
    board *b = h->b;
    strbuf *o = &r->body;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    int64_t now = board_now_ms();
    unsigned long long total = 0;
    for (int i = 0; i < BOARD_CODES; i++) total += board_get(&b->by_code[i]);
    sb_printf(o, "{\"pool\":{\"master_pid\":%d,\"start_time\":%.3f,\"uptime_s\":%.3f,\"generation\":%d,"
                 "\"workers_target\":%d,\"threads_per_worker\":%d,\"queue_depth\":%d,\"batch_max_size\":%d,"
                 "\"batch_max_delay_ms\":%d,\"requests\":%llu,\"queue_full\":%llu,\"timeouts\":%llu,"
                 "\"worker_restarts\":%llu,\"worker_recycles\":%llu,\"worker_hangs\":%llu,\"listen\":",
              b->master_pid, b->started_ms / 1000.0, (now - b->started_ms) / 1000.0, b->generation,
              b->workers_target, h->cfg->threads, h->cfg->queue_depth, h->cfg->batch_max_size,
              h->cfg->batch_max_delay_ms, total, (unsigned long long)board_get(&b->queue_full),
              (unsigned long long)board_get(&b->timeouts),
              (unsigned long long)board_get(&b->worker_restarts),
              (unsigned long long)board_get(&b->worker_recycles),
              (unsigned long long)board_get(&b->worker_hangs));
    sb_json_str(o, b->listen);
    sb_puts(o, ",\"models\":[");
    for (int i = 0; i < h->q->n_models; i++) {
        if (i) sb_puts(o, ",");
        sb_json_str(o, h->q->models[i].name);
    }
    sb_puts(o, "]},\"workers\":[");
    int first = 1;
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &b->slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SLOT_FREE) continue;
        if (!first) sb_puts(o, ",");
        first = 0;
        sb_printf(o, "{\"pid\":%d,\"state\":\"%s\",\"generation\":%d,\"uptime_s\":%.3f,\"requests\":%llu,"
                     "\"inflight\":%llu,\"busy_threads\":%llu,\"threads\":%d,\"connections\":%llu,\"queued\":%llu,"
                     "\"batches\":%llu,"
                     "\"images\":%llu,\"last_request_age_s\":",
                  s->pid, state_name(st), s->generation, (now - s->started_ms) / 1000.0,
                  (unsigned long long)board_get(&s->requests), (unsigned long long)board_get(&s->inflight),
                  (unsigned long long)board_get(&s->busy_threads), s->threads,
                  (unsigned long long)board_get(&s->connections),
                  (unsigned long long)board_get(&s->queued), (unsigned long long)board_get(&s->batches),
                  (unsigned long long)board_get(&s->images));
        int64_t last = __atomic_load_n(&s->last_request_ms, __ATOMIC_RELAXED);
        if (last) sb_printf(o, "%.3f", (now - last) / 1000.0);
        else sb_puts(o, "null");
        /* How long its current forward pass has run (null: none running). */
        int64_t busy = __atomic_load_n(&s->infer_busy_since_ms, __ATOMIC_RELAXED);
        sb_puts(o, ",\"forward_pass_s\":");
        if (busy) sb_printf(o, "%.3f", (board_mono_ms() - busy) / 1000.0);
        else sb_puts(o, "null");
        sb_puts(o, ",\"backend\":");
        sb_json_str(o, s->backend);
        sb_puts(o, ",\"device\":");
        sb_json_str(o, s->device);
        sb_printf(o, ",\"self\":%s}", s == h->slot ? "true" : "false");
    }
    sb_puts(o, "]}\n");
}

/* ------------------------------------------------------------ dispatch */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void send_response(request *rq, response *r)
{
    FCGX_Stream *out = rq->req->out;
    if (r->body.oom) fail(r, 500, "internal", "out of memory");
    const void *body = r->image ? (const void *)r->image : r->body.p;
    size_t len = r->image ? r->image_len : r->body.len;
    /* libfcgi's own printf knows no %zu: headers are formatted here. */
    strbuf hd;
    sb_init(&hd);
    sb_printf(&hd, "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Request-Id: %s\r\n",
              r->status, reason(r->status), r->ctype, len, rq->id);
    if (r->status != 200 || r->image) sb_puts(&hd, "Cache-Control: no-store\r\n");
    if (r->retry_after) sb_printf(&hd, "Retry-After: %d\r\n", r->retry_after);
    if (r->model) sb_printf(&hd, "X-Model: %s\r\n", r->model);
    if (r->image)
        sb_printf(&hd, "Server-Timing: decode;dur=%.1f, queue;dur=%.1f, infer;dur=%.1f, encode;dur=%.1f\r\n",
                  r->decode_ms, r->queue_ms, r->infer_ms, r->encode_ms);
    if (r->headers.len && !r->headers.oom) sb_put(&hd, r->headers.p, r->headers.len);
    sb_puts(&hd, "\r\n");
    if (!hd.oom) FCGX_PutStr(hd.p, (int)hd.len, out);
    sb_free(&hd);
    if (len && strcmp(rq->method, "HEAD")) {
        const char *p = body;
        while (len) { /* FCGX_PutStr takes an int */
            int n = len > (1u << 30) ? 1 << 30 : (int)len;
            if (FCGX_PutStr(p, n, out) < 0) break;
            p += n;
            len -= (size_t)n;
        }
    }
}

static void access_log(request *rq, response *r, double total_ms)
{
    strbuf f;
    sb_init(&f);
    sb_puts(&f, "\"id\":");
    sb_json_str(&f, rq->id);
    sb_puts(&f, ",\"method\":");
    sb_json_str(&f, rq->method);
    sb_puts(&f, ",\"path\":");
    sb_json_str(&f, rq->path);
    sb_printf(&f, ",\"status\":%d", r->status);
    if (r->slug) {
        sb_puts(&f, ",\"code\":");
        sb_json_str(&f, r->slug);
    }
    if (r->model) {
        sb_puts(&f, ",\"model\":");
        sb_json_str(&f, r->model);
    }
    sb_printf(&f, ",\"bytes_in\":%zu,\"bytes_out\":%zu,\"ms\":%.2f", rq->body_len,
              r->image ? r->image_len : r->body.len, total_ms);
    if (r->decode_ms > 0 || r->infer_ms > 0)
        sb_printf(&f, ",\"decode_ms\":%.2f,\"queue_ms\":%.2f,\"infer_ms\":%.2f,\"encode_ms\":%.2f,\"batch\":%d",
                  r->decode_ms, r->queue_ms, r->infer_ms, r->encode_ms, r->batch);
    log_access(&f);
    sb_free(&f);
}

void handle_request(handler_ctx *h, FCGX_Request *req, double arrived, threadpool *helpers)
{
    request rq;
    memset(&rq, 0, sizeof rq);
    rq.h = h;
    rq.helpers = helpers;
    rq.req = req;
    rq.t0 = mono_now();
    if (arrived > 0 && arrived < rq.t0) rq.t0 = arrived;
    rq.method = param(req, "REQUEST_METHOD");
    rq.query = param(req, "QUERY_STRING");
    rq.ctype = param(req, "CONTENT_TYPE");
    /* REQUEST_URI is the original path everywhere (nginx, lighttpd, Apache);
     * DOCUMENT_URI / SCRIPT_NAME differ between servers. */
    const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
    if (!uri || !*uri) uri = param(req, "SCRIPT_NAME");
    size_t plen = strcspn(uri, "?");
    if (plen >= sizeof rq.path) plen = sizeof rq.path - 1;
    memcpy(rq.path, uri, plen);
    rq.path[plen] = '\0';
    while (plen > 1 && rq.path[plen - 1] == '/') rq.path[--plen] = '\0';
    request_id(&rq);

    board_add(&h->slot->inflight, 1);
    response r;
    memset(&r, 0, sizeof r);
    sb_init(&r.body);
    sb_init(&r.headers);
    int is_get = !strcmp(rq.method, "GET") || !strcmp(rq.method, "HEAD");
    int is_post = !strcmp(rq.method, "POST");
    /* Suffix match: the app may be mounted under a prefix (/cutout/remove). */
    if (ends_with(rq.path, "/api/remove")) {
        if (is_post) do_remove(&rq, &r, 1);
        else {
            sb_puts(&r.headers, "Allow: POST\r\n");
            fail(&r, 405, "method_not_allowed",
                 "%s /api/remove: use POST with the image as the multipart field 'file' (fetching URLs is not supported)",
                 rq.method);
        }
    } else if (ends_with(rq.path, "/remove")) {
        if (is_post) do_remove(&rq, &r, 0);
        else {
            sb_puts(&r.headers, "Allow: POST\r\n");
            fail(&r, 405, "method_not_allowed", "%s /remove: use POST with the image", rq.method);
        }
    } else if (ends_with(rq.path, "/health") || ends_with(rq.path, "/metrics") ||
               ends_with(rq.path, "/status")) {
        if (!is_get) {
            sb_puts(&r.headers, "Allow: GET, HEAD\r\n");
            fail(&r, 405, "method_not_allowed", "%s %s: use GET", rq.method, rq.path);
        } else if (ends_with(rq.path, "/health")) do_health(&rq, &r);
        else if (ends_with(rq.path, "/metrics")) do_metrics(&rq, &r);
        else do_status(&rq, &r);
    } else {
        fail(&r, 404, "not_found", "no such endpoint: %s (try POST /remove, POST /api/remove, GET /health, /metrics, /status)",
             rq.path);
    }
    discard_body(&rq);
    send_response(&rq, &r);
    double total = mono_now() - rq.t0;
    board_add(&h->b->decode_us, (uint64_t)(r.decode_ms * 1000.0));
    board_add(&h->b->encode_us, (uint64_t)(r.encode_ms * 1000.0));
    board_add(&h->b->bytes_in, rq.body_len);
    board_add(&h->b->bytes_out, r.image ? r.image_len : r.body.len);
    board_request_done(h->b, r.status, total);
    board_add(&h->slot->requests, 1);
    board_sub(&h->slot->inflight, 1);
    __atomic_store_n(&h->slot->last_request_ms, board_now_ms(), __ATOMIC_RELAXED);
    access_log(&rq, &r, total * 1000.0);
    free(rq.body);
    free(r.image);
    sb_free(&r.body);
    sb_free(&r.headers);
}
