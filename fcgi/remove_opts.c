#define _DEFAULT_SOURCE /* strcasecmp */
#include "remove_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app_util.h"
#include "base64.h"
#include "json_in.h"

static int is_true(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return *out = 1, 0;
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
        !*v)
        return *out = 0, 0;
    return -1;
}

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
        resp_fail(r, 400, "bad_parameter", "unknown model '%s' (available: %s)", v, names);
        return -1;
    }
    o->model = i;
    return 0;
}

/* u2net_cloth_seg's class (rembg's cc): upper, lower, full; all or empty: 0. */
static int pick_cloth(response *r, const char *field, const char *v, job_opts *o)
{
    static const char *const names[] = {"upper", "lower", "full"};
    o->cloth = 0;
    if (!v || !*v || !strcmp(v, "all")) return 0;
    for (int i = 0; i < 3; i++)
        if (!strcmp(v, names[i])) return o->cloth = CUTOUT_CLOTH_UPPER + i, 0;
    resp_fail(r, 400, "bad_parameter", "%s: '%s' is not upper, lower, full or all", field, v);
    return -1;
}

/* Alpha matting: the flag (alpha_matting or rembg's a) and af, ab, ae. */
static int matting_params(response *r, const form_params *p, const char *flag, job_opts *o)
{
    const char *v;
    if ((v = form_get(p, flag)) && is_true(v, &o->ropt.alpha_matting)) {
        resp_fail(r, 400, "bad_parameter", "%s: '%s' is not 0/1 or true/false", flag, v);
        return -1;
    }
    static const char *names[] = {"af", "ab", "ae"};
    int *dst[] = {&o->ropt.am_foreground_threshold, &o->ropt.am_background_threshold,
                  &o->ropt.am_erode_size};
    for (int i = 0; i < 3; i++)
        if ((v = form_get(p, names[i])) && *v && app_parse_int(v, 0, 255, dst[i])) {
            resp_fail(r, 400, "bad_parameter", "%s: '%s' is not an integer 0..255", names[i], v);
            return -1;
        }
    return 0;
}

static void set_format(job_opts *o, const cf_config *c, int format)
{
    cutout_encode_options_default(&o->eopt, (cutout_image_format)format);
    o->eopt.png_level = c->png_compression;
    o->eopt.quality = format == CUTOUT_FORMAT_JPEG ? c->jpeg_quality : c->webp_quality;
    o->eopt.lossless = 0;
    o->eopt.png_strips = 1; /* the strip encoder, spread over the request's helper threads */
    o->ctype = format == CUTOUT_FORMAT_JPEG ? "image/jpeg" : format == CUTOUT_FORMAT_WEBP ? "image/webp" : "image/png";
}

int ro_remove_params(request *rq, response *r, const form_params *p, job_opts *o)
{
    const cf_config *c = rq->h->cfg;
    cutout_render_options_default(&o->ropt);
    const char *v;
    if (pick_model(rq, r, form_get(p, "model"), o)) return -1;
    if (pick_cloth(r, "cloth", form_get(p, "cloth"), o)) return -1;
    int format = c->out_format;
    if ((v = form_get(p, "format")) && *v) {
        if (!strcasecmp(v, "png")) format = CUTOUT_FORMAT_PNG;
        else if (!strcasecmp(v, "webp")) format = CUTOUT_FORMAT_WEBP;
        else if (!strcasecmp(v, "jpeg") || !strcasecmp(v, "jpg")) format = CUTOUT_FORMAT_JPEG;
        else {
            resp_fail(r, 400, "bad_parameter", "format: '%s' is not png, webp or jpeg", v);
            return -1;
        }
    }
    set_format(o, c, format);
    if ((v = form_get(p, "quality")) && *v && app_parse_int(v, 1, 100, &o->eopt.quality)) {
        resp_fail(r, 400, "bad_parameter", "quality: '%s' is not an integer 1..100", v);
        return -1;
    }
    static const char *flags[] = {"mask", "crop", "post_process"};
    int *dst[] = {&o->ropt.mask_only, &o->ropt.crop, &o->ropt.post_process};
    for (int i = 0; i < 3; i++)
        if ((v = form_get(p, flags[i])) && is_true(v, dst[i])) {
            resp_fail(r, 400, "bad_parameter", "%s: '%s' is not 0/1 or true/false", flags[i], v);
            return -1;
        }
    if ((v = form_get(p, "bg")) && *v) {
        if (cutout_parse_color(v, o->ropt.bg_color)) {
            resp_fail(r, 400, "bad_parameter", "bg: '%s' is not #rrggbb[aa] or r,g,b[,a]", v);
            return -1;
        }
        o->ropt.has_bg_color = 1;
    }
    if (o->ropt.has_bg_color && o->ropt.mask_only) {
        resp_fail(r, 400, "bad_parameter", "mask=1 answers the mask only: bg does not apply");
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
        if (app_parse_int(buf, 0, 100000, &o->ropt.margin)) {
            resp_fail(r, 400, "bad_parameter", "margin: '%s' is not N or N%% (0..100000)", v);
            return -1;
        }
    }
    if (matting_params(r, p, "alpha_matting", o)) return -1;
    static const char *dims[] = {"max_width", "max_height"};
    int *dd[] = {&o->ropt.max_w, &o->ropt.max_h};
    for (int i = 0; i < 2; i++)
        if ((v = form_get(p, dims[i])) && *v && app_parse_int(v, 1, 1000000, dd[i])) {
            resp_fail(r, 400, "bad_parameter", "%s: '%s' is not an integer 1..1000000", dims[i], v);
            return -1;
        }
    /* One bound given: the other is unbounded (the library takes 0 as none
     * only for both). */
    if (o->ropt.max_w && !o->ropt.max_h) o->ropt.max_h = 1 << 30;
    if (o->ropt.max_h && !o->ropt.max_w) o->ropt.max_w = 1 << 30;
    if (format == CUTOUT_FORMAT_JPEG && !o->ropt.mask_only) o->ropt.opaque = 1;
    return 0;
}

int ro_rembg_params(request *rq, response *r, const form_params *p, job_opts *o)
{
    const cf_config *c = rq->h->cfg;
    cutout_render_options_default(&o->ropt);
    const char *v;
    if (pick_model(rq, r, form_get(p, "model"), o)) return -1;
    if (pick_cloth(r, "cc", form_get(p, "cc"), o)) return -1;
    set_format(o, c, CUTOUT_FORMAT_PNG);
    if ((v = form_get(p, "om")) && is_true(v, &o->ropt.mask_only)) {
        resp_fail(r, 400, "bad_parameter", "om: '%s' is not true/false", v);
        return -1;
    }
    if ((v = form_get(p, "ppm")) && is_true(v, &o->ropt.post_process)) {
        resp_fail(r, 400, "bad_parameter", "ppm: '%s' is not true/false", v);
        return -1;
    }
    if (matting_params(r, p, "a", o)) return -1;
    if ((v = form_get(p, "bgc")) && *v && strcmp(v, "None")) {
        if (cutout_parse_color(v, o->ropt.bg_color)) {
            resp_fail(r, 400, "bad_parameter", "bgc: '%s' is not r,g,b,a", v);
            return -1;
        }
        o->ropt.has_bg_color = !o->ropt.mask_only;
    }
    return 0;
}

int ro_query(request *rq, response *r, form_params *p)
{
    char err[256];
    p->n = 0;
    if (!form_parse_urlencoded(rq->query, strlen(rq->query), p, err, sizeof err)) return 0;
    resp_fail(r, 400, "bad_parameter", "%s", err);
    return -1;
}

int ro_multipart(request *rq, response *r, const char *boundary, form_params *p, mp_part *file)
{
    mp_part parts[MP_MAX_PARTS];
    int n;
    char err[256];
    if (mp_parse(rq->body, rq->body_len, boundary, parts, MP_MAX_PARTS, &n, err, sizeof err)) {
        resp_fail(r, 400, "bad_request", "%s", err);
        return -1;
    }
    const mp_part *f = mp_find(parts, n, "file");
    if (!f) {
        resp_fail(r, 400, "bad_request", "the multipart body has no field named 'file'");
        return -1;
    }
    *file = *f; /* its data points into the body */
    for (int i = 0; i < n; i++) {
        if (!strcmp(parts[i].name, "file")) continue;
        if (form_add(p, parts[i].name, strlen(parts[i].name), (const char *)parts[i].data,
                     parts[i].len, err, sizeof err)) {
            resp_fail(r, 400, "bad_parameter", "%s", err);
            return -1;
        }
    }
    return 0;
}

int ro_json(request *rq, response *r, form_params *p, uint8_t **image, size_t *image_len)
{
    json_object o;
    char err[256];
    *image = NULL;
    if (json_parse_object(rq->body, rq->body_len, &o, err, sizeof err)) {
        resp_fail(r, 400, "bad_json", "%s", err);
        return -1;
    }
    int rc = -1;
    const json_member *img = json_find(&o, "image");
    if (!img || img->kind != JSON_STRING) {
        resp_fail(r, 400, "bad_request", "the JSON body needs the member \"image\": the image as a base64 string");
        goto done;
    }
    for (int i = 0; i < o.n; i++) {
        const json_member *m = &o.m[i];
        if (m == img || m->kind == JSON_NULL) continue;
        if (form_add(p, m->key, m->klen, m->val, m->vlen, err, sizeof err)) {
            resp_fail(r, 400, "bad_parameter", "%s", err);
            goto done;
        }
    }
    size_t bad_at;
    *image = malloc(b64_decoded_max(img->vlen));
    if (!*image) {
        resp_fail(r, 500, "internal", "out of memory");
        goto done;
    }
    if (b64_decode(img->val, img->vlen, *image, image_len, &bad_at)) {
        resp_fail(r, 400, "bad_base64", "image: not base64 (RFC 4648, standard alphabet, padded, no whitespace): wrong at character %zu of %zu",
                  bad_at, img->vlen);
        free(*image);
        *image = NULL;
        goto done;
    }
    rc = 0;
done:
    json_object_free(&o);
    return rc;
}
