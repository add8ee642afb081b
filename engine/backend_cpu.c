/* The CPU backend: one float arena, a thread pool, im2col+GEMM convolutions
 * (cpu_conv.c) and plane-parallel pooling, resizing and sigmoid. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_backend.h"
#include "util.h"

static int bk_error(backend *bk, int code, const char *msg)
{
    snprintf(bk->err, sizeof bk->err, "%s", msg);
    return code;
}

static int cpu_prepare(backend *bk, const bk_conv_desc *convs, int n_convs, size_t arena_floats)
{
    cpu_backend *cb = (cpu_backend *)bk;
    cb->convs = convs;
    cb->n_convs = n_convs;
    size_t bytes;
    if (!cut_mul_size(arena_floats ? arena_floats : 1, sizeof(float), &bytes))
        return bk_error(bk, CUTOUT_E_NOMEM, "activation arena size overflows");
    bytes = (bytes + 63) / 64 * 64;
    free(cb->arena);
    cb->arena = aligned_alloc(64, bytes);
    if (!cb->arena) return bk_error(bk, CUTOUT_E_NOMEM, "out of memory for the activation arena");
    cb->arena_floats = arena_floats;
    size_t need = 0;
    for (int i = 0; i < n_convs; i++) {
        size_t K = (size_t)convs[i].cin * convs[i].k * convs[i].k;
        size_t t = K * (size_t)cpu_conv_tile((int)K);
        if (t > need) need = t;
    }
    need = (need + 15) / 16 * 16;
    free(cb->scratch);
    cb->scratch = aligned_alloc(64, need * sizeof(float) * (size_t)tp_threads(cb->tp) + 64);
    if (!cb->scratch) return bk_error(bk, CUTOUT_E_NOMEM, "out of memory for conv scratch");
    cb->scratch_floats = need;
    return 0;
}

static int cpu_write(backend *bk, bk_tensor dst, const float *host)
{
    cpu_backend *cb = (cpu_backend *)bk;
    size_t img = (size_t)dst.c * dst.h * dst.w;
    for (int i = 0; i < dst.n; i++) memcpy(cpu_plane(cb, dst, i, 0), host + i * img, img * 4);
    return 0;
}

static int cpu_read(backend *bk, bk_tensor src, float *host)
{
    cpu_backend *cb = (cpu_backend *)bk;
    size_t img = (size_t)src.c * src.h * src.w;
    for (int i = 0; i < src.n; i++) memcpy(host + i * img, cpu_plane(cb, src, i, 0), img * 4);
    return 0;
}

static inline float max2(float a, float b) { return a > b ? a : b; }

/* Plane-parallel ops: task t handles channel t % c of image t / c. */
typedef struct {
    cpu_backend *cb;
    bk_tensor dst, src;
} plane_job;

static void maxpool_task(void *p, int t, int thread)
{
    (void)thread;
    plane_job *j = p;
    int img = t / j->src.c, ch = t % j->src.c;
    const float *in = cpu_plane(j->cb, j->src, img, ch);
    float *out = cpu_plane(j->cb, j->dst, img, ch);
    int ih = j->src.h, iw = j->src.w, ow = j->dst.w;
    for (int oy = 0; oy < j->dst.h; oy++) {
        const float *r0 = in + (size_t)(2 * oy) * iw;
        const float *r1 = 2 * oy + 1 < ih ? r0 + iw : r0; /* ceil mode: last row alone */
        float *o = out + (size_t)oy * ow;
        for (int ox = 0; ox < iw / 2; ox++) {
            float m0 = max2(r0[2 * ox], r0[2 * ox + 1]);
            float m1 = max2(r1[2 * ox], r1[2 * ox + 1]);
            o[ox] = max2(m0, m1);
        }
        if (iw & 1) o[ow - 1] = max2(r0[iw - 1], r1[iw - 1]);
    }
}

static int cpu_maxpool2(backend *bk, bk_tensor dst, bk_tensor src)
{
    cpu_backend *cb = (cpu_backend *)bk;
    plane_job j = {cb, dst, src};
    tp_run(cb->tp, src.n * src.c, maxpool_task, &j);
    return 0;
}

/* Half-pixel source index as PyTorch computes it in float. */
static resize_tap tap_at(int i, float scale, int in)
{
    float s = scale * ((float)i + 0.5f) - 0.5f;
    if (s < 0) s = 0;
    int x = (int)s;
    return (resize_tap){x, x < in - 1 ? 1 : 0, s - (float)x};
}

typedef struct {
    plane_job pj;
    const resize_tap *cols; /* computed once per op */
} resize_job;

static void resize_task(void *p, int t, int thread)
{
    (void)thread;
    resize_job *r = p;
    plane_job *j = &r->pj;
    int img = t / j->src.c, ch = t % j->src.c;
    const float *in = cpu_plane(j->cb, j->src, img, ch);
    float *out = cpu_plane(j->cb, j->dst, img, ch);
    int ih = j->src.h, iw = j->src.w, oh = j->dst.h, ow = j->dst.w;
    float sy = (float)ih / (float)oh;
    for (int oy = 0; oy < oh; oy++) {
        resize_tap ty = tap_at(oy, sy, ih);
        float ly = ty.l1;
        const float *r0 = in + (size_t)ty.i0 * iw, *r1 = r0 + (size_t)ty.step * iw;
        float *o = out + (size_t)oy * ow;
        for (int ox = 0; ox < ow; ox++) {
            int x0 = r->cols[ox].i0, dx = r->cols[ox].step;
            float lx = r->cols[ox].l1;
            o[ox] = (1 - ly) * ((1 - lx) * r0[x0] + lx * r0[x0 + dx]) +
                    ly * ((1 - lx) * r1[x0] + lx * r1[x0 + dx]);
        }
    }
}

static int cpu_resize(backend *bk, bk_tensor dst, bk_tensor src)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (dst.c != src.c || dst.n != src.n)
        return bk_error(bk, CUTOUT_E_ARG, "resize: source and destination shapes differ");
    /* grow-only: allocates on the first forward pass, never in steady state */
    if ((size_t)dst.w > cb->taps_cap) {
        resize_tap *t = realloc(cb->taps, (size_t)dst.w * sizeof *t);
        if (!t) return bk_error(bk, CUTOUT_E_NOMEM, "resize: out of memory");
        cb->taps = t;
        cb->taps_cap = (size_t)dst.w;
    }
    float sx = (float)src.w / (float)dst.w;
    for (int ox = 0; ox < dst.w; ox++) cb->taps[ox] = tap_at(ox, sx, src.w);
    resize_job r = {{cb, dst, src}, cb->taps};
    tp_run(cb->tp, src.n * src.c, resize_task, &r);
    return 0;
}

static void sigmoid_task(void *p, int t, int thread)
{
    (void)thread;
    plane_job *j = p;
    int img = t / j->src.c, ch = t % j->src.c;
    const float *in = cpu_plane(j->cb, j->src, img, ch);
    float *out = cpu_plane(j->cb, j->dst, img, ch);
    size_t count = (size_t)j->src.h * j->src.w;
    for (size_t i = 0; i < count; i++) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

static int cpu_sigmoid(backend *bk, bk_tensor dst, bk_tensor src)
{
    cpu_backend *cb = (cpu_backend *)bk;
    plane_job j = {cb, dst, src};
    tp_run(cb->tp, src.n * src.c, sigmoid_task, &j);
    return 0;
}

static void cpu_destroy(backend *bk)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (!cb) return;
    tp_destroy(cb->tp);
    free(cb->arena);
    free(cb->scratch);
    free(cb->taps);
    free(cb);
}

static const backend_ops cpu_ops = {
    .prepare = cpu_prepare,
    .write = cpu_write,
    .read = cpu_read,
    .conv = cpu_conv,
    .maxpool2 = cpu_maxpool2,
    .resize = cpu_resize,
    .sigmoid = cpu_sigmoid,
    .destroy = cpu_destroy,
};

int backend_cpu_create(int threads, backend **out, char *err, size_t errlen)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "cpu backend: out of memory");
    cb->base.ops = &cpu_ops;
    cb->base.name = "cpu";
    cb->base.threads = threads;
    /* The pool parallelises over tiles; each GEMM call stays on its thread. */
    openblas_set_num_threads(1);
    if (tp_create(threads, &cb->tp)) {
        free(cb);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "cpu backend: cannot start %d threads",
                        threads);
    }
    snprintf(cb->base.device, sizeof cb->base.device, "cpu (%d threads)", threads);
    *out = &cb->base;
    return CUTOUT_OK;
}
