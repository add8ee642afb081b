/* Every CPU backend op against the naive reference (engine/ref_ops.c) on odd
 * shapes: dilations 1/2/4/8, stride 2, 1×1, concat inputs, fused residual,
 * channel-slice views, ceil-mode pooling, resizing up and down, and 1, 2 and
 * 3 threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ref_ops.h"

static int failures, checks;

static unsigned rng = 2024;
static float frand(void) /* uniform in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN counts as a failure */
    }
    return m;
}

static void report(const char *what, double err, double tol)
{
    checks++;
    int ok = err <= tol;
    if (!ok) failures++;
    printf("%s %s max_abs_err=%.3g tol=%.1g\n", ok ? "ok" : "FAIL", what, err, tol);
}

typedef struct {
    int n, ca, cb, cout, ih, iw, k, stride, dil, relu, residual, view;
} conv_case;

/* Conv through the backend: a at offset 0, b after it, dst after that (as
 * channel 1 of a 3-channel-wider buffer when view is set). */
static void test_conv(backend *bk, const conv_case *t)
{
    int cin = t->ca + t->cb, k = t->k, pad = k == 1 ? 0 : t->dil;
    int oh = (t->ih + 2 * pad - t->dil * (k - 1) - 1) / t->stride + 1;
    int ow = (t->iw + 2 * pad - t->dil * (k - 1) - 1) / t->stride + 1;
    size_t wn = (size_t)t->cout * cin * k * k;
    float *w = malloc(wn * sizeof(float)), *bias = malloc((size_t)t->cout * sizeof(float));
    fill(w, wn, 1.0f / sqrtf((float)cin * k * k));
    fill(bias, (size_t)t->cout, 0.5f);
    bk_conv_desc d = {cin, t->cout, k, t->stride, pad, t->dil, w, bias};

    size_t na = (size_t)t->n * t->ca * t->ih * t->iw, nb = (size_t)t->n * t->cb * t->ih * t->iw;
    size_t plane = (size_t)oh * ow, dst_c = t->cout + (t->view ? 3 : 0);
    size_t nd = (size_t)t->n * dst_c * plane, nr = (size_t)t->n * t->cout * plane;
    float *a = malloc(na * sizeof(float)), *b = malloc((nb + 1) * sizeof(float));
    float *res = malloc(nr * sizeof(float)), *want = malloc(nr * sizeof(float));
    float *got = malloc(nr * sizeof(float));
    fill(a, na, 1.0f);
    fill(b, nb, 1.0f);
    fill(res, nr, 1.0f);

    bk_tensor ta = {0, (size_t)t->ca * t->ih * t->iw, t->n, t->ca, t->ih, t->iw};
    bk_tensor tb = {na, (size_t)t->cb * t->ih * t->iw, t->n, t->cb, t->ih, t->iw};
    bk_tensor tr = {na + nb, (size_t)t->cout * plane, t->n, t->cout, oh, ow};
    bk_tensor td = {na + nb + nr + (t->view ? plane : 0), dst_c * plane, t->n, t->cout, oh, ow};
    int rc = bk->ops->prepare(bk, &d, 1, na + nb + nr + nd);
    if (!rc) rc = bk->ops->write(bk, ta, a);
    if (!rc && t->cb) rc = bk->ops->write(bk, tb, b);
    if (!rc) rc = bk->ops->write(bk, tr, res);
    bk_conv_fuse f = {t->cb ? &tb : NULL, t->residual ? &tr : NULL, t->relu};
    if (!rc) rc = bk->ops->conv(bk, 0, td, ta, &f);
    if (!rc) rc = bk->ops->read(bk, td, got);
    ref_conv(&d, a, t->ca, t->cb ? b : NULL, t->cb, t->n, t->ih, t->iw, t->relu,
             t->residual ? res : NULL, want, oh, ow);
    char what[160];
    snprintf(what, sizeof what,
             "conv n=%d cin=%d+%d cout=%d %dx%d k=%d s=%d d=%d relu=%d res=%d view=%d thr=%d",
             t->n, t->ca, t->cb, t->cout, t->ih, t->iw, k, t->stride, t->dil, t->relu,
             t->residual, t->view, bk->threads);
    /* fp32 dot products of up to ~1.2k terms of magnitude <= 1/sqrt(K): the
     * summation-order difference is ~1e-6; an indexing error is ~0.1. */
    report(what, rc ? INFINITY : max_abs_diff(got, want, nr), 2e-5);
    free(w);
    free(bias);
    free(a);
    free(b);
    free(res);
    free(want);
    free(got);
}

static void test_pool_resize_sigmoid(backend *bk, int n, int c, int ih, int iw, int oh, int ow)
{
    int ph = (ih + 1) / 2, pw = (iw + 1) / 2;
    size_t ni = (size_t)n * c * ih * iw, np = (size_t)n * c * ph * pw, nr = (size_t)n * c * oh * ow;
    size_t most = ni > np + nr ? ni : np + nr;
    float *in = malloc(ni * sizeof(float)), *want = malloc(most * sizeof(float));
    float *got = malloc(most * sizeof(float));
    fill(in, ni, 3.0f);
    bk_tensor ti = {0, (size_t)c * ih * iw, n, c, ih, iw};
    bk_tensor tp = {ni, (size_t)c * ph * pw, n, c, ph, pw};
    bk_tensor tr = {ni + np, (size_t)c * oh * ow, n, c, oh, ow};
    char what[128];
    int rc = bk->ops->prepare(bk, NULL, 0, ni + np + nr);
    if (!rc) rc = bk->ops->write(bk, ti, in);
    if (!rc) rc = bk->ops->maxpool2(bk, tp, ti);
    if (!rc) rc = bk->ops->read(bk, tp, got);
    ref_maxpool2(in, n, c, ih, iw, want);
    snprintf(what, sizeof what, "maxpool2 n=%d c=%d %dx%d thr=%d", n, c, ih, iw, bk->threads);
    report(what, rc ? INFINITY : max_abs_diff(got, want, np), 0); /* max is exact */

    rc = bk->ops->resize(bk, tr, ti);
    if (!rc) rc = bk->ops->read(bk, tr, got);
    ref_resize(in, n, c, ih, iw, want, oh, ow);
    snprintf(what, sizeof what, "resize n=%d c=%d %dx%d->%dx%d thr=%d", n, c, ih, iw, oh, ow,
             bk->threads);
    /* The backend computes source coordinates in float as PyTorch does, the
     * reference in double: weights differ by up to ~1e-6 (coordinates up to
     * ~20 at 2^-23 relative), times neighbour differences of up to 6. A wrong
     * tap or weight errs by >= 0.01. */
    report(what, rc ? INFINITY : max_abs_diff(got, want, nr), 1e-5);

    rc = bk->ops->sigmoid(bk, ti, ti);
    if (!rc) rc = bk->ops->read(bk, ti, got);
    ref_sigmoid(in, ni, want);
    snprintf(what, sizeof what, "sigmoid n=%d c=%d %dx%d in place thr=%d", n, c, ih, iw,
             bk->threads);
    report(what, rc ? INFINITY : max_abs_diff(got, want, ni), 1e-6);
    free(in);
    free(want);
    free(got);
}

int main(void)
{
    static const conv_case convs[] = {
        {1, 3, 0, 8, 17, 23, 3, 1, 1, 1, 0, 0},
        {2, 5, 7, 16, 13, 9, 3, 1, 2, 1, 1, 0},
        {1, 16, 16, 16, 11, 31, 3, 1, 4, 1, 0, 0},
        {3, 4, 0, 5, 9, 10, 3, 1, 8, 1, 0, 0},
        {1, 3, 0, 64, 33, 21, 3, 2, 1, 0, 0, 0},
        {2, 3, 0, 7, 8, 9, 3, 2, 1, 1, 0, 0},
        {1, 6, 0, 1, 15, 14, 1, 1, 1, 0, 0, 0},
        {1, 64, 0, 16, 40, 41, 3, 1, 1, 1, 0, 0},
        {1, 32, 32, 64, 37, 29, 3, 1, 1, 1, 1, 0},
        {2, 128, 0, 128, 5, 3, 3, 1, 2, 1, 0, 0},
        {1, 1, 0, 1, 1, 1, 3, 1, 1, 0, 0, 0},
        {2, 16, 0, 1, 19, 12, 3, 1, 1, 0, 0, 1},
    };
    static const int shapes[][6] = {
        {1, 1, 1, 1, 1, 1},  {1, 2, 1, 5, 3, 9},     {2, 3, 7, 8, 13, 17},
        {1, 4, 9, 9, 4, 5},  {3, 1, 2, 3, 320, 203}, {1, 5, 10, 10, 20, 20},
        {1, 2, 7, 7, 3, 3},  {1, 1, 8, 1, 8, 16},
    };
    static const int thread_counts[] = {1, 2, 3};
    for (size_t ti = 0; ti < sizeof thread_counts / sizeof *thread_counts; ti++) {
        backend *bk;
        char err[256];
        if (backend_cpu_create(thread_counts[ti], &bk, err, sizeof err)) {
            printf("FAIL cpu backend: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) test_conv(bk, &convs[i]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            test_pool_resize_sigmoid(bk, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3],
                                     shapes[i][4], shapes[i][5]);
        bk->ops->destroy(bk);
    }
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures != 0;
}
