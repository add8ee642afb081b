/* Every CPU backend op against the naive reference (engine/net/ref_ops.c) on odd
 * shapes: dilations 1/2/4/8, stride 2, 1×1, concat inputs, fused residual,
 * channel-slice views, ceil-mode pooling, resizing up and down, and 1, 2 and
 * 3 threads. Convs run through every method that applies (im2col, Winograd,
 * direct; the portable kernels and those of every SIMD family the CPU has:
 * AVX2, AVX-512). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "cpu_features.h"
#include "ref_ops.h"

#define OP_CHECK_SEED 2024u
#include "../tools/op_check.h"

/* Tolerances (max abs error against cut_ref_conv's float64 sums). Inputs are
 * uniform in [-1, 1], weights in ±1/sqrt(K) (K = cin·k·k), so outputs are
 * O(1) and a wrong tap, tile, phase or channel errs by >= ~0.05.
 * - im2col and direct: fp32 dot products of up to ~1.2k terms; the
 *   summation-order difference is ~1e-6: 2e-5.
 * - Winograd F(4×4, 3×3): besides the dot product over cin, each output is
 *   a sum of 36 transformed products whose weights reach 8·5 = 40 (the Bᵀ
 *   and Aᵀ entries), so rounding grows ~10-30× that of a direct sum
 *   (measured here: 1e-6 .. 2e-5 on these cases, in line with the
 *   literature's 5-10× for F(4,3) over direct); 1e-4 leaves room while an
 *   indexing error is still 500× above it. */
#define TOL_DIRECT 2e-5
#define TOL_WINOGRAD 1e-4

static const char *method_name(int m)
{
    return m == CPU_CONV_WINOGRAD ? "winograd" : m == CPU_CONV_DIRECT ? "direct" : "im2col";
}

/* Conv through the backend with method `method` (-1: the backend's own
 * choice). a is channel slice 1 of a buffer 2 channels wider when view is
 * set, likewise b and the residual; dst is channel slice 1 of a buffer 3
 * channels wider. */
static void test_conv(backend *bk, const conv_case *t, int method, int portable)
{
    cpu_backend *cb = (cpu_backend *)bk;
    cb->force_method = method;
    cb->force_portable = portable;
    int cin = t->ca + t->cb, k = t->k, pad = k == 1 ? 0 : t->dil;
    int oh = cut_conv_out_size(t->ih, k, t->stride, pad, t->dil);
    int ow = cut_conv_out_size(t->iw, k, t->stride, pad, t->dil);
    size_t wn = (size_t)t->cout * cin * k * k;
    float *w = malloc(wn * sizeof(float)), *bias = malloc((size_t)t->cout * sizeof(float));
    fill(w, wn, 1.0f / sqrtf((float)cin * k * k));
    fill(bias, (size_t)t->cout, 0.5f);
    bk_conv_desc d = {cin, t->cout, k, t->stride, pad, t->dil, w, bias};

    int extra_in = t->view ? 2 : 0, extra_out = t->view ? 3 : 0;
    size_t ip = (size_t)t->ih * t->iw, op = (size_t)oh * ow;
    size_t na = (size_t)t->n * t->ca * ip, nb = (size_t)t->n * t->cb * ip;
    size_t nr = (size_t)t->n * t->cout * op;
    /* arena: a's buffer, b's, the residual's, dst's */
    size_t sa = (size_t)t->n * (t->ca + extra_in) * ip, sb = (size_t)t->n * (t->cb + extra_in) * ip;
    size_t sr = (size_t)t->n * (t->cout + extra_in) * op;
    size_t sd = (size_t)t->n * (t->cout + extra_out) * op;
    float *a = malloc(na * sizeof(float)), *b = malloc((nb + 1) * sizeof(float));
    float *res = malloc(nr * sizeof(float)), *want = malloc(nr * sizeof(float));
    float *got = malloc(nr * sizeof(float));
    fill(a, na, 1.0f);
    fill(b, nb, 1.0f);
    fill(res, nr, 1.0f);

    size_t in_off = t->view ? ip : 0, out_off = t->view ? op : 0;
    bk_tensor ta = {in_off, (size_t)(t->ca + extra_in) * ip, t->n, t->ca, t->ih, t->iw};
    bk_tensor tb = {sa + in_off, (size_t)(t->cb + extra_in) * ip, t->n, t->cb, t->ih, t->iw};
    bk_tensor tr = {sa + sb + out_off, (size_t)(t->cout + extra_in) * op, t->n, t->cout, oh, ow};
    bk_tensor td = {sa + sb + sr + out_off, (size_t)(t->cout + extra_out) * op, t->n, t->cout, oh,
                    ow};
    int rc = bk->ops->prepare(bk, &d, 1, sa + sb + sr + sd);
    int used = rc ? -1 : (int)cb->plans[0].method;
    if (!rc) rc = bk->ops->write(bk, ta, a);
    if (!rc && t->cb) rc = bk->ops->write(bk, tb, b);
    if (!rc) rc = bk->ops->write(bk, tr, res);
    bk_conv_fuse f = {t->cb ? &tb : NULL, t->residual ? &tr : NULL, t->relu};
    if (!rc) rc = bk->ops->conv(bk, 0, td, ta, &f);
    if (!rc) rc = bk->ops->read(bk, td, got);
    cut_ref_conv(&d, a, t->ca, t->cb ? b : NULL, t->cb, t->n, t->ih, t->iw, t->relu,
             t->residual ? res : NULL, want, oh, ow);
    char what[200];
    snprintf(what, sizeof what,
             "conv n=%d cin=%d+%d cout=%d %dx%d k=%d s=%d d=%d relu=%d res=%d view=%d thr=%d %s %s",
             t->n, t->ca, t->cb, t->cout, t->ih, t->iw, k, t->stride, t->dil, t->relu, t->residual,
             t->view, bk->threads, used < 0 ? "none" : method_name(used),
             portable ? "portable" : cut_isa_name(cut_cpu_isa()));
    /* The method asked for must be the one used wherever it applies. */
    if (method >= 0 && !rc && cut_cpu_conv_method_applies((cpu_conv_method)method, &d) &&
        used != method)
        rc = -1;
    report(what, rc ? INFINITY : max_abs_diff(got, want, nr),
           used == CPU_CONV_WINOGRAD ? TOL_WINOGRAD : TOL_DIRECT);
    cb->force_method = -1;
    cb->force_portable = 0;
    free(w);
    free(bias);
    free(a);
    free(b);
    free(res);
    free(want);
    free(got);
}

/* Maxpool and resize under every kernel family the CPU has (CUTOUT_ISA caps
 * included): each against the reference, and each family's output bit for
 * bit equal to the portable code's (the SIMD rows do the same max, products
 * and sums), then sigmoid in place. */
static void test_pool_resize_sigmoid(backend *bk, int n, int c, int ih, int iw, int oh, int ow)
{
    int ph = (ih + 1) / 2, pw = (iw + 1) / 2;
    size_t ni = (size_t)n * c * ih * iw, np = (size_t)n * c * ph * pw, nr = (size_t)n * c * oh * ow;
    size_t most = ni > np + nr ? ni : np + nr;
    float *in = malloc(ni * sizeof(float)), *want = malloc(most * sizeof(float));
    float *got = malloc(most * sizeof(float)), *first = malloc((np + nr) * sizeof(float));
    fill(in, ni, 3.0f);
    bk_tensor ti = {0, (size_t)c * ih * iw, n, c, ih, iw};
    bk_tensor tp = {ni, (size_t)c * ph * pw, n, c, ph, pw};
    bk_tensor tr = {ni + np, (size_t)c * oh * ow, n, c, oh, ow};
    char what[160];
    int rc = bk->ops->prepare(bk, NULL, 0, ni + np + nr);
    if (!rc) rc = bk->ops->write(bk, ti, in);
    int have_first = 0;
    for (int isa = CUT_ISA_PORTABLE; isa < CUT_ISA_COUNT; isa++) {
        if (!cut_cpu_isa_supported((cut_isa)isa)) continue;
        cut_cpu_set_isa((cut_isa)isa);
        const char *name = cut_isa_name((cut_isa)isa);
        int r = rc;
        if (!r) r = bk->ops->maxpool2(bk, tp, ti);
        if (!r) r = bk->ops->read(bk, tp, got);
        cut_ref_maxpool2(in, n, c, ih, iw, want);
        snprintf(what, sizeof what, "maxpool2 %s n=%d c=%d %dx%d thr=%d", name, n, c, ih, iw,
                 bk->threads);
        report(what, r ? INFINITY : max_abs_diff(got, want, np), 0); /* max is exact */

        int r2 = rc;
        if (!r2) r2 = bk->ops->resize(bk, tr, ti);
        if (!r2) r2 = bk->ops->read(bk, tr, got + np);
        cut_ref_resize(in, n, c, ih, iw, want, oh, ow);
        snprintf(what, sizeof what, "resize %s n=%d c=%d %dx%d->%dx%d thr=%d", name, n, c, ih, iw,
                 oh, ow, bk->threads);
        /* The backend computes source coordinates in float as PyTorch does,
         * the reference in double: s = scale·(i + 0.5) - 0.5 with s up to ~20
         * here carries two roundings of 2^-24 relative, so each axis's weight
         * is off by up to ~2.4e-6, times neighbour differences of up to 6,
         * for two axes: ~3e-5 (measured 1.1e-5 on the 20x20 -> 37x41 case,
         * the same before and after the separable rewrite). A wrong tap or
         * weight errs by >= 0.01. */
        report(what, r2 ? INFINITY : max_abs_diff(got + np, want, nr), 3e-5);
        if (r || r2) continue;
        if (!have_first) {
            memcpy(first, got, (np + nr) * sizeof(float));
            have_first = 1;
        } else {
            snprintf(what, sizeof what, "maxpool2+resize %s == portable n=%d c=%d %dx%d->%dx%d thr=%d",
                     name, n, c, ih, iw, oh, ow, bk->threads);
            report(what, memcmp(first, got, (np + nr) * sizeof(float)) ? 1.0 : 0.0, 0);
        }
    }
    cut_cpu_set_isa(CUT_ISA_COUNT);

    if (!rc) rc = bk->ops->sigmoid(bk, ti, ti);
    if (!rc) rc = bk->ops->read(bk, ti, got);
    cut_ref_sigmoid(in, ni, want);
    snprintf(what, sizeof what, "sigmoid n=%d c=%d %dx%d in place thr=%d", n, c, ih, iw,
             bk->threads);
    report(what, rc ? INFINITY : max_abs_diff(got, want, ni), 1e-6);
    free(in);
    free(want);
    free(got);
    free(first);
}

/* One conv case with methods[m] (method, force portable), unless the case
 * skips it. */
static void conv_case_run(backend *bk, const conv_case *t, int m, const int methods[][2],
                          int threads)
{
    int big = t->ih * t->iw > 10000;
    /* forcing a method that does not apply is the default again */
    bk_conv_desc d = {t->ca + t->cb, t->cout, t->k, t->stride, 0, t->dil, NULL, NULL};
    if (m > 0 && !cut_cpu_conv_method_applies((cpu_conv_method)methods[m][0], &d)) return;
    /* the big plane only where it matters: default, Winograd on 2 threads */
    if (big && (methods[m][0] != CPU_CONV_WINOGRAD || methods[m][1] || threads != 2)) return;
    /* direct on wide layers only through its own shapes */
    if (methods[m][0] == CPU_CONV_DIRECT && t->cout > 16) return;
    test_conv(bk, t, methods[m][0], methods[m][1]);
}

int main(void)
{
    /* n, ca, cb, cout, ih, iw, k, stride, dil, relu, residual, view */
    static const conv_case convs[] = {
        OP_CHECK_CONV_CASES,
        /* Winograd's row groups (eight tiles side by side): interior, both
         * edges, rows that wrap, a partial last tile row; concat, residual,
         * views everywhere */
        {1, 8, 8, 16, 37, 150, 3, 1, 1, 1, 1, 1},
        {2, 5, 3, 9, 33, 128, 3, 1, 1, 0, 1, 1},
        /* AVX-512 row blocks (16 tiles side by side) whose last tile
         * crosses the right edge, and the bottom edge */
        {1, 5, 3, 7, 10, 62, 3, 1, 1, 1, 1, 1},
        /* AVX-512 segmented blocks: widths whose tile rows are not a
         * multiple of 16 tiles (u2netp's 80, 40, 20, 10), so blocks run on
         * into the next tile row (4+12, 8+8, 12+4 tiles; several rows; a
         * partial last tile) and into the next image */
        {1, 5, 3, 8, 13, 80, 3, 1, 1, 1, 1, 1},
        {2, 6, 0, 7, 11, 40, 3, 1, 1, 0, 1, 0},
        {2, 3, 2, 4, 9, 20, 3, 1, 1, 1, 0, 1},
        {2, 4, 0, 5, 10, 10, 3, 1, 1, 1, 1, 1},
        /* stride 2 with output rows of 16 pixels and more (im2col's
         * one-row runs: interior, left and right edges) */
        {1, 3, 0, 8, 20, 70, 3, 2, 1, 1, 0, 1},
        /* dilated on odd sizes, down to planes smaller than a tile and than
         * the dilation (phases with one pixel, or none) */
        {1, 7, 2, 6, 21, 46, 3, 1, 2, 1, 1, 1},
        {2, 3, 4, 5, 23, 19, 3, 1, 4, 1, 0, 1},
        {1, 6, 0, 4, 17, 35, 3, 1, 8, 0, 1, 0},
        {1, 2, 3, 3, 3, 3, 3, 1, 8, 1, 1, 1},
        {2, 3, 0, 2, 2, 5, 3, 1, 4, 1, 0, 0},
        {1, 4, 0, 3, 1, 1, 3, 1, 2, 0, 1, 1},
        {3, 2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 0},
        /* 3×3 convs with many channels: deeper sums (Winograd's error), and
         * a block count low enough that output channels are split */
        {1, 256, 0, 32, 9, 11, 3, 1, 1, 1, 1, 0},
        {1, 96, 96, 24, 6, 7, 3, 1, 2, 1, 0, 1},
        /* Winograd's non-temporal stores (an output over 8 MB) */
        {1, 4, 0, 64, 192, 192, 3, 1, 1, 1, 1, 0},
        /* direct (the side heads): one or two outputs from few or many
         * input channels, edges, rows and widths off the blocking */
        {1, 3, 2, 2, 23, 37, 3, 1, 1, 1, 1, 1},
        {2, 40, 30, 1, 18, 50, 3, 1, 1, 0, 1, 1},
        {1, 64, 0, 1, 5, 3, 3, 1, 1, 1, 0, 0},
    };
    /* Every case by the backend's own choice, then with each method forced
     * where it applies, and the portable kernels. */
    static const int methods[][2] = {{-1, 0},
                                     {CPU_CONV_IM2COL, 0},
                                     {CPU_CONV_WINOGRAD, 0},
                                     {CPU_CONV_DIRECT, 0},
                                     {CPU_CONV_WINOGRAD, 1},
                                     {CPU_CONV_DIRECT, 1}};
    static const int shapes[][6] = {
        {1, 1, 1, 1, 1, 1},  {1, 2, 1, 5, 3, 9},     {2, 3, 7, 8, 13, 17},
        {1, 4, 9, 9, 4, 5},  {3, 1, 2, 3, 320, 203}, {1, 5, 10, 10, 20, 20},
        {1, 2, 7, 7, 3, 3},  {1, 1, 8, 1, 8, 16},
        /* rows of one or more 16-float vectors and a tail: 35 pooled, 37
         * and 33 -> 2× widths, 2× in both axes */
        {1, 3, 9, 70, 18, 140}, {2, 2, 5, 33, 10, 66}, {1, 1, 4, 64, 8, 128},
        /* a resize output beyond CPU_STREAM_BYTES (non-temporal rows) */
        {1, 4, 400, 400, 800, 800},
        /* large enough to be split between threads (smaller ops run on the
         * calling thread) */
        {2, 330, 20, 20, 37, 41},
    };
    static const int thread_counts[] = {1, 2, 3};
    for (size_t ti = 0; ti < sizeof thread_counts / sizeof *thread_counts; ti++) {
        backend *bk;
        char err[256];
        if (cut_cpu_backend_create(thread_counts[ti], &bk, err, sizeof err)) {
            printf("FAIL cpu backend: %s\n", err);
            return 1;
        }
        /* Every kernel family the CPU has, capped in turn: the rows that
         * force the portable kernels once, the others per SIMD family (or
         * portable when there is none). */
        for (int isa = CUT_ISA_PORTABLE; isa < CUT_ISA_COUNT; isa++) {
            if (!cut_cpu_isa_supported((cut_isa)isa)) {
                if (ti == 0) printf("skip %s: not supported by this CPU\n", cut_isa_name((cut_isa)isa));
                continue;
            }
            int simd_rows = isa != CUT_ISA_PORTABLE || !cut_cpu_isa_supported(CUT_ISA_AVX2);
            cut_cpu_set_isa((cut_isa)isa);
            for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
                for (size_t m = 0; m < sizeof methods / sizeof *methods; m++)
                    if (methods[m][1] ? isa == CUT_ISA_PORTABLE : simd_rows)
                        conv_case_run(bk, &convs[i], (int)m, methods, thread_counts[ti]);
        }
        cut_cpu_set_isa(CUT_ISA_COUNT);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            test_pool_resize_sigmoid(bk, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3],
                                     shapes[i][4], shapes[i][5]);
        bk->ops->destroy(bk);
    }
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures != 0;
}
