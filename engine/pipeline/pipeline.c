/* rembg-compatible pre- and post-processing around the forward pass, and
 * the outputs built from an image and its mask (see pipeline.h). */
#include "pipeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matting.h"
#include "resample.h"
#include "util.h"

int cutout_pipeline_preprocess(const cutout_image *img, int size, const float mean[3],
                               const float std[3], float *out, threadpool *tp, char *err,
                               size_t errlen)
{
    if (!img || !img->pixels || size < 1 || !out)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "preprocess: bad arguments");
    cutout_image rgb = {0}, small = {0};
    const cutout_image *src = img;
    int rc = CUTOUT_OK;
    if (img->channels != 3) {
        rc = cutout_image_convert(img, 3, &rgb, err, errlen);
        if (rc) return rc;
        src = &rgb;
    }
    rc = cut_resize_lanczos(src, size, size, &small, tp, err, errlen);
    cutout_image_free(&rgb);
    if (rc) return rc;

    /* rembg: im_ary / np.max(im_ary), then (x - mean) / std, all float64. */
    int maxv = 0;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = small.pixels + (size_t)y * small.stride;
        for (int i = 0; i < size * 3; i++)
            if (row[i] > maxv) maxv = row[i];
    }
    double div = maxv ? (double)maxv : 1.0; /* numpy would give NaN: keep it finite */
    size_t plane = (size_t)size * (size_t)size;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = small.pixels + (size_t)y * small.stride;
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++) {
                double v = row[x * 3 + c] / div;
                out[c * plane + (size_t)y * size + x] = (float)((v - (double)mean[c]) / (double)std[c]);
            }
    }
    cutout_image_free(&small);
    return CUTOUT_OK;
}

void cut_pipeline_pred_to_u8(const float *pred, size_t count, uint8_t *out)
{
    float mi = pred[0], ma = pred[0];
    for (size_t i = 1; i < count; i++) {
        if (pred[i] < mi) mi = pred[i];
        if (pred[i] > ma) ma = pred[i];
    }
    /* float32 throughout, as numpy does with ORT's float32 output:
     * (pred - mi) / (ma - mi), then (x * 255).astype(uint8) truncates. */
    float range = ma - mi;
    for (size_t i = 0; i < count; i++) {
        float v = range > 0.0f ? (pred[i] - mi) / range : 0.0f;
        if (!(v >= 0.0f)) v = 0.0f; /* also NaN */
        if (v > 1.0f) v = 1.0f;
        float s = v * 255.0f;
        out[i] = (uint8_t)s;
    }
}

int cutout_pipeline_mask(const float *pred, int size, int width, int height, cutout_image *mask,
                         threadpool *tp, char *err, size_t errlen)
{
    memset(mask, 0, sizeof *mask);
    if (!pred || size < 1 || width < 1 || height < 1)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "mask: bad arguments");
    cutout_image small = {0};
    int rc = cutout_image_alloc(&small, size, size, 1, err, errlen);
    if (rc) return rc;
    cut_pipeline_pred_to_u8(pred, (size_t)size * (size_t)size, small.pixels);
    rc = cut_resize_lanczos(&small, width, height, mask, tp, err, errlen);
    cutout_image_free(&small);
    return rc;
}

/* ---- outputs ---- */

static int parse_byte(const char *s, const char **end)
{
    int v = 0, n = 0;
    while (*s == ' ') s++;
    while (*s >= '0' && *s <= '9' && n < 4) {
        v = v * 10 + (*s - '0');
        s++;
        n++;
    }
    while (*s == ' ') s++;
    *end = s;
    return n == 0 || n > 3 || v > 255 ? -1 : v;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cutout_parse_color(const char *text, uint8_t rgba[4])
{
    if (!text) return -1;
    uint8_t v[4] = {0, 0, 0, 255};
    if (text[0] == '#') {
        size_t n = strlen(text + 1);
        if (n != 6 && n != 8) return -1;
        for (size_t i = 0; i < n / 2; i++) {
            int hi = hexval(text[1 + 2 * i]), lo = hexval(text[2 + 2 * i]);
            if (hi < 0 || lo < 0) return -1;
            v[i] = (uint8_t)(hi * 16 + lo);
        }
    } else {
        const char *s = text;
        int k = 0;
        for (;;) {
            if (k == 4) return -1;
            int b = parse_byte(s, &s);
            if (b < 0) return -1;
            v[k++] = (uint8_t)b;
            if (*s == '\0') break;
            if (*s != ',') return -1;
            s++;
        }
        if (k != 3 && k != 4) return -1;
    }
    memcpy(rgba, v, 4);
    return 0;
}

int cut_mask_bbox(const cutout_image *mask, int box[4])
{
    int x0 = mask->width, y0 = mask->height, x1 = -1, y1 = -1;
    for (int y = 0; y < mask->height; y++) {
        const uint8_t *row = mask->pixels + (size_t)y * mask->stride;
        for (int x = 0; x < mask->width; x++) {
            if (!row[(size_t)x * (size_t)mask->channels]) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            y1 = y;
        }
    }
    if (x1 < 0) return 0;
    box[0] = x0;
    box[1] = y0;
    box[2] = x1 - x0 + 1;
    box[3] = y1 - y0 + 1;
    return 1;
}

void cut_box_margin(int box[4], int margin, int percent, int img_w, int img_h)
{
    long mx = margin, my = margin;
    if (percent) {
        mx = ((long)box[2] * margin + 50) / 100;
        my = ((long)box[3] * margin + 50) / 100;
    }
    long x0 = box[0] - mx, y0 = box[1] - my;
    long x1 = (long)box[0] + box[2] + mx, y1 = (long)box[1] + box[3] + my;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img_w) x1 = img_w;
    if (y1 > img_h) y1 = img_h;
    box[0] = (int)x0;
    box[1] = (int)y0;
    box[2] = (int)(x1 - x0);
    box[3] = (int)(y1 - y0);
}

int cut_image_crop(const cutout_image *src, const int box[4], cutout_image *dst, char *err,
                   size_t errlen)
{
    memset(dst, 0, sizeof *dst);
    if (box[0] < 0 || box[1] < 0 || box[2] < 1 || box[3] < 1 || box[2] > src->width - box[0] ||
        box[3] > src->height - box[1])
        return cut_fail(err, errlen, CUTOUT_E_ARG, "crop: box outside the image");
    int rc = cutout_image_alloc(dst, box[2], box[3], src->channels, err, errlen);
    if (rc) return rc;
    size_t c = (size_t)src->channels;
    for (int y = 0; y < box[3]; y++)
        memcpy(dst->pixels + (size_t)y * dst->stride,
               src->pixels + (size_t)(box[1] + y) * src->stride + (size_t)box[0] * c,
               (size_t)box[2] * c);
    return CUTOUT_OK;
}

void cut_fit_size(int w, int h, int max_w, int max_h, int *out_w, int *out_h)
{
    *out_w = w;
    *out_h = h;
    if ((max_w <= 0 || w <= max_w) && (max_h <= 0 || h <= max_h)) return;
    double sx = max_w > 0 ? (double)max_w / w : 1e300;
    double sy = max_h > 0 ? (double)max_h / h : 1e300;
    double s = sx < sy ? sx : sy;
    long nw = lround(w * s), nh = lround(h * s);
    if (max_w > 0 && nw > max_w) nw = max_w;
    if (max_h > 0 && nh > max_h) nh = max_h;
    *out_w = nw < 1 ? 1 : (int)nw;
    *out_h = nh < 1 ? 1 : (int)nh;
}

/* round(a * b / 255) for bytes, PIL's DIV255 rounding. */
static inline uint8_t mul255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Rows of a cutout: cutout_image_convert(img, 4) (grey replicated, alpha 255
 * when absent) with the alpha then set from the mask, in one pass. */
#define COMPOSE_ROWS 64

typedef struct {
    const cutout_image *img, *mask;
    cutout_image *out;
} compose_job;

static void compose_band(void *ctx, int band, int thread)
{
    (void)thread;
    const compose_job *j = ctx;
    const cutout_image *img = j->img;
    int sc = img->channels;
    int y1 = (band + 1) * COMPOSE_ROWS < img->height ? (band + 1) * COMPOSE_ROWS : img->height;
    for (int y = band * COMPOSE_ROWS; y < y1; y++) {
        const uint8_t *s = img->pixels + (size_t)y * img->stride;
        const uint8_t *m = j->mask->pixels + (size_t)y * j->mask->stride;
        uint8_t *o = j->out->pixels + (size_t)y * j->out->stride;
        for (int x = 0; x < img->width; x++, o += 4, s += sc) {
            if (sc == 1) {
                o[0] = o[1] = o[2] = s[0];
            } else {
                o[0] = s[0];
                o[1] = s[1];
                o[2] = s[2];
            }
            o[3] = sc == 4 ? mul255(s[3], m[x]) : m[x];
        }
    }
}

int cut_compose_cutout(const cutout_image *img, const cutout_image *mask, cutout_image *out,
                          threadpool *tp, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (mask->channels != 1 || mask->width != img->width || mask->height != img->height)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "cutout: mask and image sizes differ");
    if (img->channels != 1 && img->channels != 3 && img->channels != 4)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "cutout: image of %d channels", img->channels);
    int rc = cutout_image_alloc(out, img->width, img->height, 4, err, errlen);
    if (rc) return rc;
    compose_job j = {img, mask, out};
    int bands = (img->height + COMPOSE_ROWS - 1) / COMPOSE_ROWS;
    if (tp) cut_pool_run(tp, bands, compose_band, &j);
    else
        for (int b = 0; b < bands; b++) compose_band(&j, b, 0);
    return CUTOUT_OK;
}

/* Pillow's AlphaComposite.c, integer for integer. */
#define AC_PRECISION 7
#define AC_DIV255(a) ((((a) >> 8) + (a)) >> 8)

int cut_alpha_composite(cutout_image *dst, const cutout_image *src, char *err, size_t errlen)
{
    if (dst->channels != 4 || src->channels != 4 || dst->width != src->width ||
        dst->height != src->height)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "composite: need two RGBA images of one size");
    for (int y = 0; y < dst->height; y++) {
        uint8_t *d = dst->pixels + (size_t)y * dst->stride;
        const uint8_t *s = src->pixels + (size_t)y * src->stride;
        for (int x = 0; x < dst->width; x++, d += 4, s += 4) {
            if (s[3] == 0) continue;
            uint32_t blend = (uint32_t)d[3] * (255u - s[3]);
            uint32_t outa255 = (uint32_t)s[3] * 255u + blend;
            uint32_t coef1 = (uint32_t)s[3] * 255u * 255u * (1u << AC_PRECISION) / outa255;
            uint32_t coef2 = 255u * (1u << AC_PRECISION) - coef1;
            for (int c = 0; c < 3; c++) {
                uint32_t t = (uint32_t)s[c] * coef1 + (uint32_t)d[c] * coef2;
                d[c] = (uint8_t)(AC_DIV255(t + (0x80u << AC_PRECISION)) >> AC_PRECISION);
            }
            d[3] = (uint8_t)AC_DIV255(outa255 + 0x80u);
        }
    }
    return CUTOUT_OK;
}

int cut_cover_image(const cutout_image *bg, int width, int height, cutout_image *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    cutout_image rgba = {0}, scaled = {0};
    int rc = cutout_image_convert(bg, 4, &rgba, err, errlen);
    if (rc) return rc;
    double s = (double)width / bg->width;
    if ((double)height / bg->height > s) s = (double)height / bg->height;
    long sw = (long)ceil(bg->width * s - 1e-9), sh = (long)ceil(bg->height * s - 1e-9);
    if (sw < width) sw = width;
    if (sh < height) sh = height;
    if (sw > 1 << 16 || sh > 1 << 16) {
        cutout_image_free(&rgba);
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "background image: scaled size too large");
    }
    rc = cut_resize_lanczos(&rgba, (int)sw, (int)sh, &scaled, NULL, err, errlen);
    cutout_image_free(&rgba);
    if (rc) return rc;
    int box[4] = {(int)((sw - width) / 2), (int)((sh - height) / 2), width, height};
    rc = cut_image_crop(&scaled, box, out, err, errlen);
    cutout_image_free(&scaled);
    return rc;
}

void cutout_render_options_default(cutout_render_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->am_foreground_threshold = 240;
    opt->am_background_threshold = 10;
    opt->am_erode_size = 10;
}

/* rembg's alpha_matting_cutout on img (as RGB, as rembg converts it) and
 * mask, or its plain cutout where rembg falls back to it. */
static int matting_cutout(const cutout_image *img, const cutout_image *mask,
                          const cutout_render_options *opt, cutout_image *out, threadpool *tp,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int af = opt->am_foreground_threshold, ab = opt->am_background_threshold,
        ae = opt->am_erode_size;
    if (af < 0 || af > 255 || ab < 0 || ab > 255 || ae < 0 || ae > 255)
        return cut_fail(err, errlen, CUTOUT_E_ARG,
                        "render: alpha matting thresholds must be 0..255, erode size 0..255");
    cutout_image rgb = {0};
    const cutout_image *src = img;
    int rc = CUTOUT_OK;
    if (img->channels != 3) {
        rc = cutout_image_convert(img, 3, &rgb, err, errlen);
        src = &rgb;
    }
    if (!rc) rc = cutout_image_alloc(out, img->width, img->height, 4, err, errlen);
    if (!rc)
        rc = cut_alpha_matting(src->pixels, src->width, src->height, src->stride, mask->pixels,
                               mask->stride, af, ab, ae, tp, out->pixels, out->stride, NULL, err,
                               errlen);
    cutout_image_free(&rgb);
    if (rc == CUT_MATTING_FALLBACK) {
        cutout_image_free(out);
        return cut_compose_cutout(img, mask, out, tp, err, errlen);
    }
    if (rc) cutout_image_free(out);
    return rc;
}

/* Replaces *img by the result of a step that produced next (or keeps it on error). */
static void take(cutout_image *img, cutout_image *next)
{
    cutout_image_free(img);
    *img = *next;
    memset(next, 0, sizeof *next);
}

int cutout_render(const cutout_image *img, cutout_image *mask, const cutout_render_options *opt,
                  cutout_image *out, threadpool *tp, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!img || !mask || !opt || mask->channels != 1 || mask->width != img->width ||
        mask->height != img->height)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "render: mask and image sizes differ");
    int rc = CUTOUT_OK;
    if (opt->post_process) {
        rc = cut_mask_post_process(mask, err, errlen);
        if (rc) return rc;
    }
    cutout_image cur = {0}, next = {0};
    if (opt->mask_only) {
        int box[4] = {0, 0, mask->width, mask->height};
        rc = cut_image_crop(mask, box, &cur, err, errlen); /* a copy */
    } else {
        rc = opt->alpha_matting ? matting_cutout(img, mask, opt, &cur, tp, err, errlen)
                                : cut_compose_cutout(img, mask, &cur, tp, err, errlen);
        if (!rc && (opt->bg_image || opt->has_bg_color || opt->opaque)) {
            if (opt->bg_image) {
                rc = cut_cover_image(opt->bg_image, img->width, img->height, &next, err, errlen);
            } else {
                rc = cutout_image_alloc(&next, img->width, img->height, 4, err, errlen);
                uint8_t c[4] = {255, 255, 255, 255};
                if (opt->has_bg_color) memcpy(c, opt->bg_color, 4);
                for (int y = 0; !rc && y < next.height; y++)
                    for (int x = 0; x < next.width; x++)
                        memcpy(next.pixels + (size_t)y * next.stride + 4 * (size_t)x, c, 4);
            }
            if (!rc) rc = cut_alpha_composite(&next, &cur, err, errlen);
            if (!rc) take(&cur, &next);
            cutout_image_free(&next);
        }
    }
    if (!rc && opt->crop) {
        int box[4];
        if (cut_mask_bbox(mask, box)) {
            cut_box_margin(box, opt->margin, opt->margin_percent, mask->width, mask->height);
            rc = cut_image_crop(&cur, box, &next, err, errlen);
            if (!rc) take(&cur, &next);
        }
    }
    if (!rc && (opt->max_w > 0 || opt->max_h > 0)) {
        int w, h;
        cut_fit_size(cur.width, cur.height, opt->max_w, opt->max_h, &w, &h);
        if (w != cur.width || h != cur.height) {
            rc = cut_resize_lanczos(&cur, w, h, &next, tp, err, errlen);
            if (!rc) take(&cur, &next);
        }
    }
    if (!rc && opt->opaque && cur.channels == 4) {
        rc = cutout_image_convert(&cur, 3, &next, err, errlen);
        if (!rc) take(&cur, &next);
    }
    if (rc) {
        cutout_image_free(&cur);
        return rc;
    }
    *out = cur;
    return CUTOUT_OK;
}
