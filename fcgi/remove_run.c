#include "remove_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget.h"

static double ms_since(double t) { return (app_mono_s() - t) * 1000.0; }

int remove_check(const uint8_t *data, size_t len, response *r)
{
    if (len == 0) {
        resp_fail(r, 400, "bad_request", "no image in the request (send the image as the body or as the multipart field 'file')");
        return -1;
    }
    if (cutout_image_sniff(data, len) == CUTOUT_FORMAT_UNKNOWN) {
        resp_fail(r, 415, "unsupported_media_type", "not a PNG, JPEG, WebP or BMP image");
        return -1;
    }
    return 0;
}

void remove_timed_out(handler_ctx *h, response *r)
{
    board_add(&h->b->timeouts, 1);
    resp_fail(r, 504, "timeout", "the request was not done within request_timeout_s (%d s)",
              h->cfg->request_timeout_s);
}

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

/* The image's estimated peak (cutout_image_probe, header only) out of the
 * worker's budget: 0 with w->reserved set (0 when the size limits will
 * refuse it anyway), or -1 with r failed (413 never fits, 504 deadline). */
static int reserve_memory(handler_ctx *h, const uint8_t *data, size_t len, int model_size,
                          double deadline, response *r, remove_work *w)
{
    const cf_config *c = h->cfg;
    cutout_image_probe_info pi;
    char err[512];
    int rc = cutout_image_probe(data, len, model_size, &pi, err, sizeof err);
    if (rc) {
        decode_failed(r, rc, err, 0);
        return -1;
    }
    if ((uint64_t)pi.width * (uint64_t)pi.height > (uint64_t)c->max_pixels ||
        pi.width > c->max_dimension || pi.height > c->max_dimension)
        return 0;
    int mb = cf_max_memory_mb(c);
    rc = mb_reserve(pi.peak_bytes, (uint64_t)mb << 20, deadline);
    if (rc == -1) {
        resp_fail(r, 413, "too_large",
                  "the image (%dx%d) needs about %llu MB to process; this server allows %d MB per "
                  "worker (limits.max_memory_mb)",
                  pi.width, pi.height, (unsigned long long)((pi.peak_bytes + (1 << 20) - 1) >> 20),
                  mb);
        return -1;
    }
    if (rc == -2) {
        remove_timed_out(h, r);
        return -1;
    }
    w->reserved = pi.peak_bytes;
    return 0;
}

int remove_prepare(handler_ctx *h, cutout_pool *tp, const uint8_t *data, size_t len,
                   const job_opts *o, double deadline, response *r, remove_work *w)
{
    const cf_config *c = h->cfg;
    infer_model *m = &h->q->models[o->model];
    r->model = m->name;
    memset(w, 0, sizeof *w);
    if (reserve_memory(h, data, len, m->size, deadline, r, w)) return -1;
    char err[512];
    double t = app_mono_s();
    cutout_image_limits lim = {(uint64_t)c->max_pixels, c->max_dimension, 1};
    int rc = cutout_image_decode(data, len, &lim, (cutout_decode_flags){0}, &w->img, NULL, err, sizeof err);
    r->decode_ms = ms_since(t);
    if (rc) {
        decode_failed(r, rc, err, w->reserved > 0);
        return -1;
    }
    if (w->img.width < c->min_dimension || w->img.height < c->min_dimension) {
        resp_fail(r, 422, "image_too_small", "the image is %dx%d; both sides must be at least %d pixels",
                  w->img.width, w->img.height, c->min_dimension);
        return -1;
    }
    w->job = infer_job_new(o->model, m->size, m->out_ch);
    if (!w->job) {
        resp_fail(r, 500, "internal", "out of memory");
        return -1;
    }
    t = app_mono_s();
    rc = cutout_pipeline_preprocess(&w->img, m->size, m->mean, m->std, w->job->input, tp, err,
                                    sizeof err);
    r->decode_ms += ms_since(t);
    if (rc) {
        resp_fail(r, 500, "internal", "preprocessing failed: %s", err);
        return -1;
    }
    return 0;
}

/* u2net_cloth_seg: the class o->cloth rendered, or (0) rembg's no-cc answer:
 * upper, lower and full rendered and stacked vertically (RGB when opaque). */
static int render_classes(const cutout_image *img, const float *pred, const infer_model *m,
                          const job_opts *o, cutout_image *out, cutout_pool *tp, char *err,
                          size_t errlen)
{
    cutout_image map = {0}, parts[3] = {{0}};
    int n = 0;
    int rc = cutout_pipeline_class_map(pred, m->out_ch, m->size, img->width, img->height, &map,
                                       tp, err, errlen);
    for (int cls = CUTOUT_CLOTH_UPPER; !rc && cls <= CUTOUT_CLOTH_FULL; cls++) {
        if (o->cloth && cls != o->cloth) continue;
        cutout_image mask = {0};
        rc = cutout_pipeline_class_mask(&map, cls, &mask, err, errlen);
        if (!rc) rc = cutout_render(img, &mask, &o->ropt, &parts[n++], tp, err, errlen);
        cutout_image_free(&mask);
    }
    if (!rc && n == 1) {
        *out = parts[0];
        parts[0] = (cutout_image){0};
    } else if (!rc) {
        rc = cutout_stack_vertical(parts, n, o->ropt.opaque ? 3 : 4, out, err, errlen);
    }
    for (int i = 0; i < 3; i++) cutout_image_free(&parts[i]);
    cutout_image_free(&map);
    return rc;
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
    double t = app_mono_s();
    int rc;
    if (m->out_ch > 1) {
        rc = render_classes(&w->img, job->pred, m, o, &out, tp, err, sizeof err);
    } else {
        rc = cutout_pipeline_mask(job->pred, m->size, w->img.width, w->img.height, &mask, tp,
                                  err, sizeof err);
        if (!rc) rc = cutout_render(&w->img, &mask, &o->ropt, &out, tp, err, sizeof err);
    }
    /* PNGs are deflated in strips on the helpers (eopt.png_strips): c=1 latency. */
    if (!rc)
        rc = cutout_image_encode(&out, &o->eopt, &r->image, &r->image_len, tp, err, sizeof err);
    r->encode_ms = ms_since(t);
    r->width = out.width;
    r->height = out.height;
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
    mb_release(w->reserved);
    w->reserved = 0;
}
