/* PIL-exact LANCZOS resizing: weights, portable passes, RGBA handling and
 * dispatch to the AVX2 passes (resample_avx2.c) and the AVX-512 vertical pass
 * (resample_avx512.c). See resample.h. */
#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "threadpool.h"
#include "util.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The filter exactly as PIL evaluates it, in double (the weights must
 * round to the same 22-bit integers, so the operations and their order
 * matter). */
static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
}

void cut_coeffs_free(cut_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->k);
    memset(c, 0, sizeof *c);
}

int cut_lanczos_coeffs(int in_size, int out_size, cut_coeffs *c)
{
    memset(c, 0, sizeof *c);
    /* PIL passes the box as floats: in1 - in0 is a float subtraction. */
    float in0 = 0.0f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int kstride = (ksize + 7) & ~7;
    size_t nk;
    if (!cut_mul_size((size_t)out_size, (size_t)kstride, &nk)) return -1;
    double *w = malloc(sizeof *w * (size_t)ksize);
    c->first = malloc(sizeof *c->first * (size_t)out_size);
    c->count = malloc(sizeof *c->count * (size_t)out_size);
    c->k = calloc(nk, sizeof *c->k);
    if (!w || !c->first || !c->count || !c->k) {
        free(w);
        cut_coeffs_free(c);
        return -1;
    }
    c->out_size = out_size;
    c->kstride = kstride;
    double ss = 1.0 / filterscale;
    for (int i = 0; i < out_size; i++) {
        double center = in0 + (i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5); /* truncation, as PIL */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps writes in bounds */
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = lanczos((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)i * (size_t)kstride;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            /* PIL's normalize_coeffs_8bpc: round half away from zero */
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << CUT_RESAMPLE_BITS))
                         : (int32_t)(0.5 + v * (1 << CUT_RESAMPLE_BITS));
        }
        c->first[i] = xmin;
        c->count[i] = xmax;
    }
    free(w);
    return 0;
}

static void v_pass_portable(const uint8_t *in, size_t in_stride, size_t row_bytes,
                            const cut_coeffs *co, uint8_t *out, size_t out_stride)
{
    for (int i = 0; i < co->out_size; i++) {
        const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
        const uint8_t *base = in + (size_t)co->first[i] * in_stride;
        uint8_t *o = out + (size_t)i * out_stride;
        int n = co->count[i];
        for (size_t x = 0; x < row_bytes; x++) {
            int32_t acc = 1 << (CUT_RESAMPLE_BITS - 1);
            for (int t = 0; t < n; t++) acc += (int32_t)base[(size_t)t * in_stride + x] * k[t];
            o[x] = cut_resample_clip(acc);
        }
    }
}

/* PIL's RGBA -> RGBa: c * a / 255 rounded with its MULDIV255. */
static void premultiply_row(const uint8_t *in, int w, uint8_t *out)
{
    for (int x = 0; x < w; x++, in += 4, out += 4) {
        unsigned a = in[3];
        for (int ch = 0; ch < 3; ch++) {
            unsigned t = in[ch] * a + 128;
            out[ch] = (uint8_t)(((t >> 8) + t) >> 8);
        }
        out[3] = (uint8_t)a;
    }
}

/* PIL's RGBa -> RGBA: 255 * c / a truncated, clipped; a of 0 or 255 as is. */
static void unpremultiply(cutout_image *im)
{
    for (int y = 0; y < im->height; y++) {
        uint8_t *p = im->pixels + (size_t)y * im->stride;
        for (int x = 0; x < im->width; x++, p += 4) {
            unsigned a = p[3];
            if (a == 0 || a == 255) continue;
            for (int ch = 0; ch < 3; ch++) {
                unsigned v = 255u * p[ch] / a;
                p[ch] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
}

static void h_row_portable(const uint8_t *row, int w, int c, const cut_coeffs *co, uint8_t *out)
{
    (void)w;
    for (int i = 0; i < co->out_size; i++)
        cut_resample_h_pixel(row, c, co, i, out + (size_t)i * (size_t)c);
}

typedef struct {
    void (*h_row)(const uint8_t *row, int w, int c, const cut_coeffs *co, uint8_t *out);
    void (*v_pass)(const uint8_t *in, size_t in_stride, size_t row_bytes, const cut_coeffs *co,
                   uint8_t *out, size_t out_stride);
} passes;

static passes pick_passes(int simd)
{
    passes p = {h_row_portable, v_pass_portable};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (simd && cut_cpu_has(CUT_CPU_AVX2)) {
        p.h_row = cut_resample_h_row_avx2;
        p.v_pass = cut_resample_v_avx2;
    }
    if (simd && cut_cpu_has(CUT_CPU_ISA_AVX512)) p.v_pass = cut_resample_v_avx512;
#else
    (void)simd;
#endif
    return p;
}

/* Both passes go by bands of rows, the bands spread over a thread pool when
 * there is one: every output byte is computed exactly as without one. */
#define BAND_ROWS 32

typedef struct {
    const cutout_image *src;
    int y0;                /* h pass: first source row read */
    const cut_coeffs *co;
    const passes *p;
    cutout_image *out;
    const uint8_t *vin;    /* v pass input */
    size_t vin_stride, row_bytes;
    int failed;            /* h pass: out of memory (atomic) */
} band_job;

static int n_bands(int rows) { return (rows + BAND_ROWS - 1) / BAND_ROWS; }

static void run_bands(threadpool *tp, int rows, tp_task_fn fn, band_job *j)
{
    if (tp) cut_pool_run(tp, n_bands(rows), fn, j);
    else
        for (int b = 0; b < n_bands(rows); b++) fn(j, b, 0);
}

/* The horizontal pass over a band of rows: each row premultiplied first for
 * RGBA. */
static void h_band(void *ctx, int band, int thread)
{
    (void)thread;
    band_job *j = ctx;
    const cutout_image *src = j->src;
    int c = src->channels;
    uint8_t *pre = NULL;
    if (c == 4 && !(pre = malloc((size_t)src->width * 4))) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    int y1 = (band + 1) * BAND_ROWS < j->out->height ? (band + 1) * BAND_ROWS : j->out->height;
    for (int y = band * BAND_ROWS; y < y1; y++) {
        const uint8_t *row = src->pixels + (size_t)(j->y0 + y) * src->stride;
        uint8_t *o = j->out->pixels + (size_t)y * j->out->stride;
        if (pre) {
            premultiply_row(row, src->width, pre);
            row = pre;
        }
        j->p->h_row(row, src->width, c, j->co, o);
    }
    free(pre);
}

static int h_pass(const cutout_image *src, int y0, const cut_coeffs *co, const passes *p,
                  cutout_image *out, threadpool *tp)
{
    band_job j = {.src = src, .y0 = y0, .co = co, .p = p, .out = out};
    run_bands(tp, out->height, h_band, &j);
    return j.failed ? -1 : 0;
}

/* The vertical pass for a band of output rows: the same pass over a view of
 * the weights that starts at the band's first row. */
static void v_band(void *ctx, int band, int thread)
{
    (void)thread;
    band_job *j = ctx;
    const cut_coeffs *co = j->co;
    int i0 = band * BAND_ROWS;
    int n = co->out_size - i0 < BAND_ROWS ? co->out_size - i0 : BAND_ROWS;
    cut_coeffs view = {n, co->kstride, co->first + i0, co->count + i0,
                       co->k + (size_t)i0 * (size_t)co->kstride};
    j->p->v_pass(j->vin, j->vin_stride, j->row_bytes, &view,
                 j->out->pixels + (size_t)i0 * j->out->stride, j->out->stride);
}

static void unpremultiply_band(void *ctx, int band, int thread)
{
    (void)thread;
    band_job *j = ctx;
    int y1 = (band + 1) * BAND_ROWS < j->out->height ? (band + 1) * BAND_ROWS : j->out->height;
    cutout_image rows = *j->out;
    rows.pixels += (size_t)band * BAND_ROWS * rows.stride;
    rows.height = y1 - band * BAND_ROWS;
    unpremultiply(&rows);
}

/* PIL's ImagingResampleInner for 8-bit images of 1, 3 or 4 channels, with
 * RGBA premultiplied on the way in and unpremultiplied on the way out. */
static int resize_u8(const cutout_image *src, int ow, int oh, cutout_image *dst, int simd,
                     threadpool *tp, char *err, size_t errlen)
{
    int c = src->channels;
    int need_h = ow != src->width, need_v = oh != src->height;
    passes p = pick_passes(simd);
    cut_coeffs cv, chz;
    memset(&chz, 0, sizeof chz);
    cutout_image tmp;
    memset(&tmp, 0, sizeof tmp);
    if (cut_lanczos_coeffs(src->height, oh, &cv))
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "resize: out of memory");
    /* Only the input rows the vertical pass will read. */
    int y_first = cv.first[0];
    int y_last = cv.first[oh - 1] + cv.count[oh - 1];
    const cutout_image *vin = src;
    int rc = CUTOUT_OK;
    if (need_h) {
        if (cut_lanczos_coeffs(src->width, ow, &chz)) {
            rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "resize: out of memory");
            goto done;
        }
        cutout_image *h_out = need_v ? &tmp : dst;
        rc = cutout_image_alloc(h_out, ow, need_v ? y_last - y_first : src->height, c, err, errlen);
        if (rc) goto done;
        if (h_pass(src, need_v ? y_first : 0, &chz, &p, h_out, tp)) {
            rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int i = 0; i < oh; i++) cv.first[i] -= y_first;
        vin = &tmp;
    } else if (c == 4) { /* the vertical pass reads the source: premultiply a copy */
        rc = cutout_image_alloc(&tmp, src->width, src->height, 4, err, errlen);
        if (rc) goto done;
        for (int y = 0; y < src->height; y++)
            premultiply_row(src->pixels + (size_t)y * src->stride, src->width,
                            tmp.pixels + (size_t)y * tmp.stride);
        vin = &tmp;
    }
    if (need_v) {
        rc = cutout_image_alloc(dst, ow, oh, c, err, errlen);
        if (rc) goto done;
        band_job j = {.co = &cv, .p = &p, .out = dst, .vin = vin->pixels, .vin_stride = vin->stride,
                      .row_bytes = (size_t)ow * (size_t)c};
        run_bands(tp, oh, v_band, &j);
    }
    if (c == 4) {
        band_job j = {.out = dst};
        run_bands(tp, oh, unpremultiply_band, &j);
    }
done:
    cut_coeffs_free(&cv);
    cut_coeffs_free(&chz);
    cutout_image_free(&tmp);
    if (rc) cutout_image_free(dst);
    return rc;
}

static int resize(const cutout_image *src, int width, int height, cutout_image *dst, int simd,
                  threadpool *tp, char *err, size_t errlen)
{
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels || src->width <= 0 || src->height <= 0 ||
        (src->channels != 1 && src->channels != 3 && src->channels != 4) ||
        src->stride < (size_t)src->width * (size_t)src->channels)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "resize: invalid source image");
    if (width <= 0 || height <= 0)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "resize: invalid size %dx%d", width, height);
    if (width == src->width && height == src->height)
        return cutout_image_convert(src, src->channels, dst, err, errlen); /* a copy, as PIL */
    return resize_u8(src, width, height, dst, simd, tp, err, errlen);
}

int cut_resize_lanczos_impl(const cutout_image *src, int width, int height, cutout_image *dst,
                            int simd, char *err, size_t errlen)
{
    return resize(src, width, height, dst, simd, NULL, err, errlen);
}

int cut_resize_lanczos(const cutout_image *src, int width, int height, cutout_image *dst,
                       threadpool *tp, char *err, size_t errlen)
{
    return resize(src, width, height, dst, 1, tp, err, errlen);
}
