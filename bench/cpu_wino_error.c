/* Winograd F(4×4, 3×3) error on a real model's weights: every 3×3 stride-1
 * conv of MODEL run once through the CPU backend with Winograd forced and
 * once with im2col forced, both against cut_ref_conv (float64 sums), on a
 * post-ReLU-like input (uniform in [0, 1)) of SIZE×SIZE.
 *
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Iengine/include -Iengine/base -Iengine/model -Iengine/net -Iengine/cpu bench/cpu_wino_error.c \
 *      build/libcutout.a LIBS -o build/cpu_wino_error
 *   build/cpu_wino_error MODEL.onnx [SIZE]
 *
 * Per conv: max |error| / max |output| for both methods. The summary gives
 * the worst ratio and the median over convs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "model.h"
#include "ref_ops.h"

static double run(backend *bk, int method, const bk_conv_desc *d, const float *x, int s,
                  const float *want, float *got)
{
    cpu_backend *cb = (cpu_backend *)bk;
    cb->force_method = method;
    size_t in = (size_t)d->cin * s * s, out = (size_t)d->cout * s * s;
    bk_tensor ta = {0, in, 1, d->cin, s, s}, td = {in, out, 1, d->cout, s, s};
    bk_conv_fuse f = {NULL, NULL, 0};
    if (bk->ops->prepare(bk, d, 1, in + out) || bk->ops->write(bk, ta, x) ||
        bk->ops->conv(bk, 0, td, ta, &f) || bk->ops->read(bk, td, got))
        return INFINITY;
    double e = 0;
    for (size_t i = 0; i < out; i++) {
        double v = fabs((double)got[i] - want[i]);
        if (!(v <= e)) e = v;
    }
    return e;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    int s = argc > 2 ? atoi(argv[2]) : 24;
    char err[512];
    cutout_model *m;
    backend *bk;
    if (cutout_model_load_file(argv[1], &m, err, sizeof err) ||
        cut_cpu_backend_create(1, &bk, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double *rw = malloc((size_t)m->n_convs * sizeof *rw), *ri = malloc((size_t)m->n_convs * sizeof *ri);
    int n = 0;
    unsigned rng = 7;
    printf("| conv | cout | cin | dil | max abs out | winograd err/max | im2col err/max |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < m->n_convs; i++) {
        const bk_conv_desc *d = &m->convs[i];
        if (d->k != 3 || d->stride != 1) continue;
        size_t in = (size_t)d->cin * s * s, out = (size_t)d->cout * s * s;
        float *x = malloc(in * sizeof(float)), *want = malloc(out * sizeof(float));
        float *got = malloc(out * sizeof(float));
        for (size_t k = 0; k < in; k++) {
            rng = rng * 1664525u + 1013904223u;
            x[k] = (float)(rng >> 8) / 16777216.0f;
        }
        cut_ref_conv(d, x, d->cin, NULL, 0, 1, s, s, 0, NULL, want, s, s);
        double peak = 0;
        for (size_t k = 0; k < out; k++)
            if (fabs(want[k]) > peak) peak = fabs(want[k]);
        double ew = run(bk, CPU_CONV_WINOGRAD, d, x, s, want, got);
        double ei = run(bk, CPU_CONV_IM2COL, d, x, s, want, got);
        rw[n] = ew / peak;
        ri[n] = ei / peak;
        n++;
        printf("| %d | %d | %d | %d | %.3g | %.2e | %.2e |\n", i, d->cout, d->cin, d->dil, peak,
               ew / peak, ei / peak);
        free(x);
        free(want);
        free(got);
    }
    qsort(rw, (size_t)n, sizeof *rw, cmp);
    qsort(ri, (size_t)n, sizeof *ri, cmp);
    printf("\n%d convs at %dx%d: error / max |output|: winograd median %.2e worst %.2e; "
           "im2col median %.2e worst %.2e\n",
           n, s, s, rw[n / 2], rw[n - 1], ri[n / 2], ri[n - 1]);
    bk->ops->destroy(bk);
    cutout_model_free(m);
    free(rw);
    free(ri);
    return 0;
}
