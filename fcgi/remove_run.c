#include "remove_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double ms_since(double t) { return (mono_now() - t) * 1000.0; }

int remove_check(const uint8_t *data, size_t len, response *r)
{
    if (len == 0) {
        resp_fail(r, 400, "bad_request", "no image in the request (send the image as the body or as the multipart field 'file')");
        return -1;
    }
    if (cutout_image_sniff(data, len) == CUTOUT_FORMAT_UNKNOWN) {
        resp_fail(r, 415, "unsupported_media_type", "not a PNG, JPEG or WebP image");
        return -1;
    }
    return 0;
}

int remove_prepare(handler_ctx *h, cutout_pool *tp, const uint8_t *data, size_t len,
                   const job_opts *o, response *r, remove_work *w)
{
    const cf_config *c = h->cfg;
    infer_model *m = &h->q->models[o->model];
    r->model = m->name;
    memset(w, 0, sizeof *w);
    char err[512];
    double t = mono_now();
    cutout_image_limits lim = {(uint64_t)c->max_pixels, c->max_dimension, 1};
    int rc = cutout_image_decode(data, len, &lim, (cutout_decode_flags){0}, &w->img, NULL, err, sizeof err);
    r->decode_ms = ms_since(t);
    if (rc == CUTOUT_E_LIMIT) {
        resp_fail(r, 413, "too_large", "%s", err);
        return -1;
    }
    if (rc == CUTOUT_E_UNSUPPORTED) {
        resp_fail(r, 415, "unsupported_media_type", "%s", err);
        return -1;
    }
    if (rc == CUTOUT_E_NOMEM) {
        resp_fail(r, 500, "internal", "out of memory while decoding");
        return -1;
    }
    if (rc) {
        resp_fail(r, 422, "undecodable_image", "the image could not be decoded: %s", err);
        return -1;
    }
    if (w->img.width < c->min_dimension || w->img.height < c->min_dimension) {
        resp_fail(r, 422, "image_too_small", "the image is %dx%d; both sides must be at least %d pixels",
                  w->img.width, w->img.height, c->min_dimension);
        return -1;
    }
    w->job = infer_job_new(o->model, m->size);
    if (!w->job) {
        resp_fail(r, 500, "internal", "out of memory");
        return -1;
    }
    t = mono_now();
    rc = cutout_pipeline_preprocess(&w->img, m->size, m->mean, m->std, w->job->input, tp, err,
                                    sizeof err);
    r->decode_ms += ms_since(t);
    if (rc) {
        resp_fail(r, 500, "internal", "preprocessing failed: %s", err);
        return -1;
    }
    return 0;
}

void remove_finish(handler_ctx *h, cutout_pool *tp, remove_work *w, const job_opts *o,
                   response *r)
{
    infer_model *m = &h->q->models[o->model];
    infer_job *job = w->job;
    r->queue_ms = (job->t_start - job->t_enqueue) * 1000.0;
    r->infer_ms = (job->t_end - job->t_start) * 1000.0;
    r->batch = job->batch_n;
    board_add(&h->b->queue_us, (uint64_t)(r->queue_ms * 1000.0));
    if (job->status) {
        resp_fail(r, 500, "internal", "inference failed: %s", job->err);
        return;
    }
    char err[512];
    cutout_image mask = {0}, out = {0};
    double t = mono_now();
    int rc = cutout_pipeline_mask(job->pred, m->size, w->img.width, w->img.height, &mask, tp, err,
                                  sizeof err);
    if (!rc) rc = cutout_render(&w->img, &mask, &o->ropt, &out, tp, err, sizeof err);
    /* PNGs are deflated in strips on the helpers (eopt.png_strips): c=1 latency. */
    if (!rc)
        rc = cutout_image_encode(&out, &o->eopt, &r->image, &r->image_len, tp, err, sizeof err);
    r->encode_ms = ms_since(t);
    cutout_image_free(&mask);
    cutout_image_free(&out);
    if (rc) {
        resp_fail(r, 500, "internal", "building the output failed: %s", err);
        return;
    }
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "%s", o->ctype);
}

void remove_work_free(remove_work *w)
{
    cutout_image_free(&w->img);
    infer_job_free(w->job);
    w->job = NULL;
}
