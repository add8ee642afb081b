#define _DEFAULT_SOURCE /* strncasecmp */
/* POST /remove and POST /api/remove: the image of the request (body or
 * multipart field "file") decoded, through the network on the worker's
 * inference thread, masked, rendered and encoded. */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "membudget.h"
#include "remove_opts.h"
#include "app_util.h"

static double ms_since(double t) { return (mono_now() - t) * 1000.0; }

/* The request thread's helpers while there are idle cores for them: with
 * as many requests in flight in the pool as the CPUs can give a full set of
 * helpers to (on 2 CPUs: one request), otherwise none. When every core is
 * busy anyway, splitting a request's work only adds switches and takes
 * cores from the forward pass. */
static cutout_pool *helpers(request *rq)
{
    if (!rq->helpers) return NULL;
    long room = rq->h->ncpu / cutout_pool_threads(rq->helpers);
    uint64_t inflight = 0;
    for (int i = 0; i < BOARD_SLOTS; i++) inflight += board_get(&rq->h->b->slots[i].inflight);
    return (long)inflight <= (room < 1 ? 1 : room) ? rq->helpers : NULL;
}

/* 504 (as a web server answers a backend past its deadline): the request
 * was not done within request_timeout_s of its arrival. */
static void timed_out(request *rq, response *r)
{
    board_add(&rq->h->b->timeouts, 1);
    resp_fail(r, 504, "timeout", "the request was not done within request_timeout_s (%d s)",
         rq->h->cfg->request_timeout_s);
}

/* A decoder's (or the header probe's) refusal as the HTTP answer. */
static void decode_failed(response *r, int rc, const char *err, int size_checked)
{
    /* Past the size limits, a limit is the file's complexity (JPEG scans):
     * not too large, but not decodable here. */
    if (rc == CUTOUT_E_LIMIT && size_checked)
        resp_fail(r, 422, "undecodable_image", "the image could not be decoded: %s", err);
    else if (rc == CUTOUT_E_LIMIT) resp_fail(r, 413, "too_large", "%s", err);
    else if (rc == CUTOUT_E_UNSUPPORTED) resp_fail(r, 415, "unsupported_media_type", "%s", err);
    else if (rc == CUTOUT_E_NOMEM) resp_fail(r, 500, "internal", "out of memory while decoding");
    else resp_fail(r, 422, "undecodable_image", "the image could not be decoded: %s", err);
}

/* Reserves the request's memory (limits.max_memory_mb) from its header
 * before anything is decoded; *reserved gets what to give back. 0, or -1
 * with r filled. Images the pixel limits refuse are left to the decoder,
 * whose message names the limit. */
static int reserve_memory(request *rq, response *r, const uint8_t *data, size_t len, int model_size,
                          double deadline, uint64_t *reserved)
{
    const cf_config *c = rq->h->cfg;
    cutout_image_probe_info pi;
    char err[512];
    *reserved = 0;
    int rc = cutout_image_probe(data, len, model_size, &pi, err, sizeof err);
    if (rc) {
        decode_failed(r, rc, err, 0);
        return -1;
    }
    if ((uint64_t)pi.width * (uint64_t)pi.height > (uint64_t)c->max_pixels ||
        pi.width > c->max_dimension || pi.height > c->max_dimension)
        return 0;
    int mb = cf_max_memory_mb(c);
    uint64_t budget = (uint64_t)mb << 20;
    rc = mb_reserve(pi.peak_bytes, budget, deadline);
    if (rc == -1) {
        resp_fail(r, 413, "too_large",
                  "the image (%dx%d) needs about %llu MB to process; this server allows %d MB per "
                  "worker (limits.max_memory_mb)",
                  pi.width, pi.height, (unsigned long long)((pi.peak_bytes + (1 << 20) - 1) >> 20),
                  mb);
        return -1;
    }
    if (rc == -2) {
        timed_out(rq, r);
        return -1;
    }
    *reserved = pi.peak_bytes;
    return 0;
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
        resp_fail(r, 400, "bad_request", "no image in the request (send the image as the body or as the multipart field 'file')");
        return;
    }
    if (cutout_image_sniff(data, len) == CUTOUT_FORMAT_UNKNOWN) {
        resp_fail(r, 415, "unsupported_media_type", "not a PNG, JPEG or WebP image");
        return;
    }
    if (infer_full(h->q)) { /* refuse before spending time on decoding */
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        resp_fail(r, 503, "overloaded", "the inference queue is full; retry later");
        return;
    }
    double deadline = rq->t0 + c->request_timeout_s;
    if (mono_now() >= deadline) { /* waited that long for a free request thread */
        timed_out(rq, r);
        return;
    }
    uint64_t reserved;
    if (reserve_memory(rq, r, data, len, m->size, deadline, &reserved)) return;
    cutout_image img = {0}, mask = {0}, out = {0};
    infer_job *job = NULL;
    char err[512];
    infer_expect(h->q); /* settled by infer_submit, or below */
    int expecting = 1;
    double t = mono_now();
    cutout_image_limits lim = {(uint64_t)c->max_pixels, c->max_dimension, 1};
    int rc = cutout_image_decode(data, len, &lim, (cutout_decode_flags){0}, &img, NULL, err, sizeof err);
    r->decode_ms = ms_since(t);
    if (rc) {
        decode_failed(r, rc, err, reserved > 0);
        goto done;
    }
    if (img.width < c->min_dimension || img.height < c->min_dimension) {
        resp_fail(r, 422, "image_too_small", "the image is %dx%d; both sides must be at least %d pixels",
             img.width, img.height, c->min_dimension);
        goto done;
    }
    job = infer_job_new(o->model, m->size);
    if (!job) {
        resp_fail(r, 500, "internal", "out of memory");
        goto done;
    }
    t = mono_now();
    rc = cutout_pipeline_preprocess(&img, m->size, m->mean, m->std, job->input, helpers(rq), err,
                                    sizeof err);
    r->decode_ms += ms_since(t);
    if (rc) {
        resp_fail(r, 500, "internal", "preprocessing failed: %s", err);
        goto done;
    }
    expecting = 0;
    if (infer_submit(h->q, job)) {
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        resp_fail(r, 503, "overloaded", "the inference queue is full; retry later");
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
        resp_fail(r, 500, "internal", "inference failed: %s", job->err);
        goto done;
    }
    t = mono_now();
    cutout_pool *tp = helpers(rq);
    rc = cutout_pipeline_mask(job->pred, m->size, img.width, img.height, &mask, tp, err,
                              sizeof err);
    if (!rc) rc = cutout_render(&img, &mask, &o->ropt, &out, tp, err, sizeof err);
    /* PNGs are deflated in strips on the helpers (eopt.png_strips): c=1 latency. */
    if (!rc)
        rc = cutout_image_encode(&out, &o->eopt, &r->image, &r->image_len, tp, err, sizeof err);
    r->encode_ms = ms_since(t);
    if (rc) {
        resp_fail(r, 500, "internal", "building the output failed: %s", err);
        goto done;
    }
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "%s", o->ctype);
done:
    if (expecting) infer_unexpect(h->q);
    mb_release(reserved);
    cutout_image_free(&img);
    cutout_image_free(&mask);
    cutout_image_free(&out);
    infer_job_free(job);
}

/* The query, then the body (raw image or multipart), then the options:
 * the order decides which error a request with several faults gets. */
static void remove_image(request *rq, response *r, int rembg)
{
    form_params p;
    p.n = 0;
    char err[256];
    if (form_parse_urlencoded(rq->query, strlen(rq->query), &p, err, sizeof err)) {
        resp_fail(r, 400, "bad_parameter", "%s", err);
        return;
    }
    if (req_read_body(rq, r)) return;
    const uint8_t *data = rq->body;
    size_t len = rq->body_len;
    char boundary[128];
    if (!mp_boundary(rq->ctype, boundary, sizeof boundary)) {
        mp_part file;
        if (ro_multipart(rq, r, boundary, &p, &file)) return;
        data = file.data;
        len = file.len;
    } else if (rembg) {
        resp_fail(r, 400, "bad_request", "POST /api/remove expects multipart/form-data with the field 'file'");
        return;
    } else if (!strncasecmp(rq->ctype, "multipart/", 10)) {
        resp_fail(r, 400, "bad_request", "multipart body without a valid boundary");
        return;
    }
    job_opts o;
    if (rembg ? ro_rembg_params(rq, r, &p, &o) : ro_remove_params(rq, r, &p, &o)) return;
    cut_image_request(rq, r, data, len, &o);
}

void ep_remove(request *rq, response *r) { remove_image(rq, r, 0); }

void ep_rembg(request *rq, response *r) { remove_image(rq, r, 1); }
