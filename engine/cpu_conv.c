/* CPU convolution: output pixels are cut into tiles; for each tile the
 * receptive fields are gathered into a K×T matrix (im2col of the tile only,
 * never of the whole layer) and multiplied by the weights, then bias, ReLU
 * and the residual are applied while the tile is still in cache. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "cpu_backend.h"
#include "util.h"

/* Target im2col tile size in floats: 128 K floats = 512 KB, this core's L2. */
#ifndef CONV_TILE_FLOATS
#define CONV_TILE_FLOATS (128 * 1024)
#endif

int cpu_conv_tile(int K)
{
    int t = CONV_TILE_FLOATS / (K > 0 ? K : 1);
    if (t > 1024) t = 1024;
    t = t / 16 * 16;
    return t < 64 ? 64 : t;
}

typedef struct {
    cpu_backend *cb;
    const bk_conv_desc *d;
    bk_tensor dst, a, b, res;
    int has_b, has_res, relu;
    int K, tile, tiles, cout_blocks, cout_per_block;
} conv_job;

/* Writes the im2col rows of input channel plane `src` for output pixels
 * [p0, p0+tn) into rows[(ky*k+kx)*tn ...]. */
static void im2col_plane(const bk_conv_desc *d, const float *src, int ih, int iw, int ow, int p0,
                         int tn, float *rows)
{
    int k = d->k;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            float *row = rows + (size_t)(ky * k + kx) * tn;
            int xoff = kx * d->dil - d->pad;
            for (int p = p0; p < p0 + tn;) {
                int oy = p / ow, ox0 = p % ow;
                int run = ow - ox0 < p0 + tn - p ? ow - ox0 : p0 + tn - p;
                float *o = row + (p - p0);
                int iy = oy * d->stride - d->pad + ky * d->dil;
                if (iy < 0 || iy >= ih) {
                    memset(o, 0, (size_t)run * sizeof(float));
                } else if (d->stride == 1) {
                    const float *in = src + (size_t)iy * iw;
                    /* valid ox: 0 <= ox + xoff < iw */
                    int lo = -xoff, hi = iw - xoff;
                    int i = 0;
                    for (; i < run && ox0 + i < lo; i++) o[i] = 0;
                    int end = hi - ox0 < run ? hi - ox0 : run;
                    if (end > i) {
                        memcpy(o + i, in + ox0 + i + xoff, (size_t)(end - i) * sizeof(float));
                        i = end;
                    }
                    for (; i < run; i++) o[i] = 0;
                } else {
                    const float *in = src + (size_t)iy * iw;
                    for (int i = 0; i < run; i++) {
                        int ix = (ox0 + i) * d->stride + xoff;
                        o[i] = ix >= 0 && ix < iw ? in[ix] : 0.0f;
                    }
                }
                p += run;
            }
        }
}

static void conv_task(void *p, int task, int thread)
{
    conv_job *j = p;
    cpu_backend *cb = j->cb;
    const bk_conv_desc *d = j->d;
    int cblk = task % j->cout_blocks;
    int rest = task / j->cout_blocks;
    int tile = rest % j->tiles, img = rest / j->tiles;
    int P = j->dst.h * j->dst.w;
    int p0 = tile * j->tile, tn = P - p0 < j->tile ? P - p0 : j->tile;
    int co0 = cblk * j->cout_per_block;
    int co1 = co0 + j->cout_per_block < d->cout ? co0 + j->cout_per_block : d->cout;
    if (co0 >= co1) return;
    int kk = d->k * d->k;
    float *col = cb->scratch + (size_t)thread * cb->scratch_floats;

    for (int ci = 0; ci < d->cin; ci++) {
        const float *src = ci < j->a.c ? cpu_plane(cb, j->a, img, ci)
                                       : cpu_plane(cb, j->b, img, ci - j->a.c);
        im2col_plane(d, src, j->a.h, j->a.w, j->dst.w, p0, tn, col + (size_t)ci * kk * tn);
    }
    float *out = cpu_plane(cb, j->dst, img, co0) + p0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co1 - co0, tn, j->K, 1.0f,
                d->weight + (size_t)co0 * j->K, j->K, col, tn, 0.0f, out, P);

    for (int co = co0; co < co1; co++) {
        float *o = cpu_plane(cb, j->dst, img, co) + p0;
        float bias = d->bias[co];
        const float *r = j->has_res ? cpu_plane(cb, j->res, img, co) + p0 : NULL;
        if (j->relu) {
            for (int i = 0; i < tn; i++) {
                float v = o[i] + bias;
                o[i] = v > 0 ? v : 0;
            }
        } else {
            for (int i = 0; i < tn; i++) o[i] += bias;
        }
        if (r)
            for (int i = 0; i < tn; i++) o[i] += r[i];
    }
}

int cpu_conv(backend *bk, int conv_index, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (conv_index < 0 || conv_index >= cb->n_convs) {
        snprintf(bk->err, sizeof bk->err, "conv %d does not exist", conv_index);
        return CUTOUT_E_ARG;
    }
    const bk_conv_desc *d = &cb->convs[conv_index];
    conv_job j = {.cb = cb, .d = d, .dst = dst, .a = a, .relu = fuse && fuse->relu};
    int cb_ch = 0;
    if (fuse && fuse->b) {
        j.b = *fuse->b;
        j.has_b = 1;
        cb_ch = j.b.c;
        if (j.b.h != a.h || j.b.w != a.w || j.b.n != a.n) {
            snprintf(bk->err, sizeof bk->err, "conv %d: concat inputs differ in shape",
                     conv_index);
            return CUTOUT_E_ARG;
        }
    }
    if (fuse && fuse->residual) {
        j.res = *fuse->residual;
        j.has_res = 1;
    }
    if (a.c + cb_ch != d->cin || dst.c != d->cout || dst.n != a.n) {
        snprintf(bk->err, sizeof bk->err, "conv %d: expects %d input channels, got %d",
                 conv_index, d->cin, a.c + cb_ch);
        return CUTOUT_E_ARG;
    }
    j.K = d->cin * d->k * d->k;
    j.tile = cpu_conv_tile(j.K);
    int P = dst.h * dst.w;
    j.tiles = (P + j.tile - 1) / j.tile;
    /* Small planes with many channels: split output channels as well so
     * every thread has work. */
    int threads = tp_threads(cb->tp);
    j.cout_blocks = 1;
    while (dst.n * j.tiles * j.cout_blocks < 2 * threads && d->cout / (j.cout_blocks * 2) >= 16)
        j.cout_blocks *= 2;
    j.cout_per_block = (d->cout + j.cout_blocks - 1) / j.cout_blocks;
    tp_run(cb->tp, dst.n * j.tiles * j.cout_blocks, conv_task, &j);
    return 0;
}
