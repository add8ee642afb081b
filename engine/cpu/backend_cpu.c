/* The CPU backend: one float arena, a thread pool, convolutions (cpu_conv.c
 * picks Winograd, direct or im2col + engine/cpu/gemm.c per conv), resizing
 * (cpu_resize.c) and plane-parallel pooling and sigmoid. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pretouch.h"
#include "cpu_backend.h"
#include "cpu_direct.h"
#include "cpu_features.h"
#include "cpu_planes.h"
#include "cpu_v4.h"
#include "util.h"

static int bk_error(backend *bk, int code, const char *msg)
{
    snprintf(bk->err, sizeof bk->err, "%s", msg);
    return code;
}

/* Sizes the per-thread rows and resize taps for the widest planned input
 * and touches them: the first forward pass grows nothing. */
static int reserve_rows(cpu_backend *cb, int width)
{
    if (width <= 0) return 0;
    size_t direct = direct_rows_floats(width), resize = cpu_resize_rows_floats(width);
    if (!cut_cpu_rows(cb, direct > resize ? direct : resize) || cut_cpu_taps(cb, (size_t)width))
        return -1;
    cut_pool_touch(cb->tp, cb->rows,
                   cb->rows_floats * (size_t)cutout_pool_threads(cb->tp) * sizeof(float));
    return 0;
}

static int cpu_prepare(backend *bk, const bk_conv_desc *convs, int n_convs, size_t arena_floats)
{
    cpu_backend *cb = (cpu_backend *)bk;
    cut_cpu_conv_release(cb); /* the previous model's plans */
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
    int rc = cut_cpu_conv_prepare(cb);
    if (rc) return rc;
    /* The first forward pass is a steady one: no buffer left to grow and no
     * page of the arena left to fault in (the weights and the conv scratch
     * were written or touched by cut_cpu_conv_prepare). */
    if (reserve_rows(cb, bk->max_width))
        return bk_error(bk, CUTOUT_E_NOMEM, "out of memory for row buffers");
    cut_pool_touch(cb->tp, cb->arena, bytes);
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


static inline v4 v4_max2(v4 a, v4 b) /* lane-wise max2 */
{
    v4i gt = a > b;
    return (v4)((gt & (v4i)a) | (~gt & (v4i)b));
}


/* Plane-parallel ops: task t handles channel t % c of image t / c. */
typedef struct {
    cpu_backend *cb;
    bk_tensor dst, src;
    int avx512; /* cut_cpu_has(AVX-512), asked once per op */
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
        int ox = j->avx512 ? cut_maxpool_row_avx512(r0, r1, o, iw / 2) : 0;
        for (; ox + 4 <= iw / 2; ox += 4) { /* eight input columns, four outputs */
            v4 m0 = v4_max2(v4_load(r0 + 2 * ox), v4_load(r1 + 2 * ox));
            v4 m1 = v4_max2(v4_load(r0 + 2 * ox + 4), v4_load(r1 + 2 * ox + 4));
            v4 m = v4_max2(V4_SHUFFLE(m0, m1, 0, 2, 4, 6), V4_SHUFFLE(m0, m1, 1, 3, 5, 7));
            memcpy(o + ox, &m, sizeof m);
        }
        for (; ox < iw / 2; ox++) {
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
    plane_job j = {cb, dst, src, cut_cpu_has(CUT_CPU_ISA_AVX512)};
    cpu_run(cb, src.n * src.c, maxpool_task, &j, (double)src.n * src.c * src.h * src.w);
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
    plane_job j = {cb, dst, src, 0};
    cpu_run(cb, src.n * src.c, sigmoid_task, &j, 8.0 * src.n * src.c * src.h * src.w);
    return 0;
}

static void cpu_destroy(backend *bk)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (!cb) return;
    cut_cpu_conv_release(cb);
    cutout_pool_free(cb->tp);
    free(cb->arena);
    free(cb->taps);
    free(cb->rows);
    free(cb);
}

static const backend_ops cpu_ops = {
    .prepare = cpu_prepare,
    .write = cpu_write,
    .read = cpu_read,
    .conv = cut_cpu_conv,
    .maxpool2 = cpu_maxpool2,
    .resize = cut_cpu_resize,
    .sigmoid = cpu_sigmoid,
    .destroy = cpu_destroy,
};

int cut_cpu_backend_create(int threads, backend **out, char *err, size_t errlen)
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
    cb->force_method = -1;
    if (cutout_pool_create(threads, &cb->tp)) {
        free(cb);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "cpu backend: cannot start %d threads",
                        threads);
    }
    snprintf(cb->base.device, sizeof cb->base.device, "cpu (%d threads)", threads);
    *out = &cb->base;
    return CUTOUT_OK;
}
