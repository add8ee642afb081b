#define _DEFAULT_SOURCE /* strncasecmp */
/* POST /remove and POST /api/remove: the image of the request (body or
 * multipart field "file") decoded, through the network on the worker's
 * inference thread, masked, rendered and encoded. */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remove_run.h"
#include "app_util.h"
#include "base64.h"

/* The request thread's helpers while there are idle cores for them: with
 * as many requests in flight in the pool as the CPUs can give a full set of
 * helpers to (on 2 CPUs: one request), otherwise none. When every core is
 * busy anyway, splitting a request's work only adds switches and takes
 * cores from the forward pass. */
static cutout_pool *helpers(request *rq)
{
    if (!rq->helpers) return NULL;
    long room = rq->h->ncpu / cutout_pool_threads(rq->helpers);
    uint64_t inflight = board_inflight_total(rq->h->b);
    return (long)inflight <= (room < 1 ? 1 : room) ? rq->helpers : NULL;
}

/* Decode, network, mask, output: fills r with the image or an error. */
static void cut_image_request(request *rq, response *r, const uint8_t *data, size_t len,
                              job_opts *o)
{
    handler_ctx *h = rq->h;
    r->model = h->q->models[o->model].name;
    if (remove_check(data, len, r)) return;
    double deadline = rq->t0 + h->cfg->request_timeout_s;
    double left = deadline - app_mono_s(); /* less when it waited for a request thread */
    if (left <= 0) {
        remove_timed_out(h, r);
        return;
    }
    if (infer_admit(h->q, left)) { /* refused before spending time on decoding */
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        resp_fail(r, 503, "overloaded", "the inference queue is full; retry later");
        return;
    }
    remove_work w; /* admitted: settled by infer_submit, or below */
    if (remove_prepare(h, helpers(rq), data, len, o, deadline, r, &w)) {
        infer_unexpect(h->q);
        goto done;
    }
    if (infer_submit(h->q, w.job)) {
        board_add(&h->b->queue_full, 1);
        r->retry_after = 1;
        resp_fail(r, 503, "overloaded", "the inference queue is full; retry later");
        goto done;
    }
    int rc = infer_wait(h->q, w.job, deadline);
    if (rc) {
        if (rc == -2) w.job = NULL; /* abandoned: the inference thread frees it */
        remove_timed_out(h, r);
        goto done;
    }
    remove_finish(h, helpers(rq), &w, o, r);
done:
    remove_work_free(&w);
}

/* Whether the media type (parameters after ';' aside) is type. */
static int media_type_is(const char *v, const char *type)
{
    size_t n = strlen(type);
    while (*v == ' ') v++;
    return !strncasecmp(v, type, n) && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

/* Accept names application/json (in any place of its list). */
static int wants_json(request *rq)
{
    const char *a = fcgs_param(rq->fs, "HTTP_ACCEPT");
    for (const char *p = a; p && *p; p += strcspn(p, ",")) {
        if (*p == ',') p++;
        if (media_type_is(p, "application/json")) return 1;
    }
    return 0;
}

/* The image answered as {"image": base64, width, height, model, timings}. */
static void answer_json(response *r)
{
    size_t n = b64_encoded_len(r->image_len);
    strbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"image\":\"");
    char *enc = n == SIZE_MAX ? NULL : malloc(n ? n : 1);
    if (!enc) {
        sb_free(&b);
        resp_fail(r, 500, "internal", "out of memory");
        return;
    }
    b64_encode(r->image, r->image_len, enc);
    sb_put(&b, enc, n);
    free(enc);
    sb_printf(&b, "\",\"width\":%d,\"height\":%d,\"model\":", r->width, r->height);
    sb_json_str(&b, r->model);
    sb_printf(&b, ",\"timings\":{\"decode_ms\":%.1f,\"queue_ms\":%.1f,\"infer_ms\":%.1f,\"encode_ms\":%.1f}}\n",
              r->decode_ms, r->queue_ms, r->infer_ms, r->encode_ms);
    free(r->image);
    r->image = NULL;
    r->image_len = 0;
    sb_free(&r->body);
    r->body = b;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
}

/* The query, then the body (raw image, multipart or JSON), then the
 * options: the order decides which error a request with several faults
 * gets. */
static void remove_image(request *rq, response *r, int rembg)
{
    form_params p;
    if (ro_query(rq, r, &p)) return;
    if (req_read_body(rq, r)) return;
    const uint8_t *data = rq->body;
    size_t len = rq->body_len;
    uint8_t *decoded = NULL; /* a JSON body's image */
    char boundary[128];
    if (!rembg && media_type_is(rq->ctype, "application/json")) {
        if (ro_json(rq, r, &p, &decoded, &len)) return;
        data = decoded;
    } else if (!mp_boundary(rq->ctype, boundary, sizeof boundary)) {
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
    if (!(rembg ? ro_rembg_params(rq, r, &p, &o) : ro_remove_params(rq, r, &p, &o))) {
        cut_image_request(rq, r, data, len, &o);
        if (!rembg && r->status == 200 && r->image && wants_json(rq)) answer_json(r);
    }
    free(decoded);
}

void ep_remove(request *rq, response *r) { remove_image(rq, r, 0); }

void ep_rembg(request *rq, response *r) { remove_image(rq, r, 1); }
