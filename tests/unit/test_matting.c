/* rembg's alpha matting (engine/pipeline/matting.c) on small hand-made
 * inputs: the trimap's erosion offsets and borders (as scipy's binary_erosion,
 * checked by hand), the fallback cases, argument errors, and the same result
 * with and without threads. Accuracy against a numpy/scipy reference is
 * tests/pipeline/check_matting.py. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matting.h"
#include "matting_mg.h"
#include "threadpool.h"
#include "util.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static void test_trimap(void)
{
    /* 12x1 rows are too thin for a 2-high square: use 12x12. Mask: columns
     * 0..5 = 255, 6..11 = 0. ae = 4: offsets -2..1. fg eroded: x-2 >= 0,
     * x+1 <= 5, y-2 >= 0, y+1 <= 11 (border 0) -> x 2..4, y 2..10. bg eroded
     * (border 1): x-2 >= 6 -> x 8..11, all rows. */
    enum { W = 12, H = 12 };
    uint8_t mask[W * H], tri[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) mask[y * W + x] = x < 6 ? 255 : 0;
    char err[128];
    int rc = cut_matting_trimap(mask, W, H, W, 240, 10, 4, tri, err, sizeof err);
    int ok = rc == 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int want = (x >= 2 && x <= 4 && y >= 2 && y <= 10) ? 255 : x >= 8 ? 0 : 128;
            ok &= tri[y * W + x] == want;
        }
    check(ok, "trimap: square erosion offsets -ae/2..ae-1-ae/2, border 0 for fg, 1 for bg");

    /* ae = 0: scipy's 3x3 cross. A single bg hole at (5,5) in fg. */
    for (int i = 0; i < W * H; i++) mask[i] = 255;
    mask[5 * W + 5] = 0;
    rc = cut_matting_trimap(mask, W, H, W, 240, 10, 0, tri, err, sizeof err);
    /* Border pixels (outside counts 0) and the cross around the hole leave
     * fg; the lone bg pixel erodes away too (its neighbours are not bg). */
    check(rc == 0 && tri[5 * W + 5] == 128 && tri[5 * W + 6] == 128 && tri[5 * W + 7] == 255 &&
              tri[0] == 128,
          "trimap: ae = 0 erodes with the 3x3 cross");
}

static void make_image(uint8_t *rgb, uint8_t *mask, int w, int h)
{
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int fgp = x * 2 < w;
            for (int c = 0; c < 3; c++) {
                s = s * 1103515245u + 12345u;
                int base = fgp ? 200 - 40 * c : 30 + 30 * c;
                rgb[(y * w + x) * 3 + c] = (uint8_t)(base + (int)((s >> 16) % 21) - 10);
            }
            int d = x - w / 2;
            int m = 128 - d * 20;
            mask[y * w + x] = (uint8_t)(m < 0 ? 0 : m > 255 ? 255 : m);
        }
}

static void test_cutout(void)
{
    enum { W = 40, H = 30 };
    uint8_t rgb[W * H * 3], mask[W * H], out1[W * H * 4], out2[W * H * 4];
    make_image(rgb, mask, W, H);
    char err[128];
    cut_matting_stats st;
    int rc = cut_alpha_matting(rgb, W, H, W * 3, mask, W, 240, 10, 4, NULL, out1, W * 4, &st, err,
                               sizeof err);
    check(rc == 0 && st.unknown > 0 && st.iterations > 0 && st.rel_residual < 1e-7,
          "cutout: converges on a two-colour image");
    check(out1[(H / 2 * W + 5) * 4 + 3] == 255 && out1[(H / 2 * W + W - 2) * 4 + 3] == 0,
          "cutout: known fg alpha 255, known bg alpha 0");
    threadpool *tp;
    if (cutout_pool_create(2, &tp) == 0) {
        rc = cut_alpha_matting(rgb, W, H, W * 3, mask, W, 240, 10, 4, tp, out2, W * 4, NULL, err,
                               sizeof err);
        check(rc == 0 && memcmp(out1, out2, sizeof out1) == 0,
              "cutout: the same bytes with 2 threads as with none");
        cutout_pool_free(tp);
    }

    /* All foreground: pymatting raises ValueError, rembg falls back. */
    memset(mask, 255, sizeof mask);
    memset(out2, 7, sizeof out2);
    rc = cut_alpha_matting(rgb, W, H, W * 3, mask, W, 240, 10, 4, NULL, out2, W * 4, NULL, err,
                           sizeof err);
    check(rc == CUT_MATTING_FALLBACK && out2[0] == 7, "cutout: no background -> fallback, output untouched");

    rc = cut_alpha_matting(rgb, W, H, W * 2, mask, W, 240, 10, 4, NULL, out2, W * 4, NULL, err,
                           sizeof err);
    check(rc == CUTOUT_E_ARG && strstr(err, "stride"), "cutout: short stride is an argument error");
    rc = cut_alpha_matting(rgb, 0x7fffffff, 0x7fffffff, SIZE_MAX, mask, SIZE_MAX, 240, 10, 4,
                           NULL, out2, SIZE_MAX, NULL, err, sizeof err);
    check(rc == CUTOUT_E_LIMIT, "cutout: sizes that overflow are refused");
}

/* A synthetic matting-like system on a w x h image: unknowns everywhere
 * but a diagonal pattern of known pixels, a symmetric 5x5 stencil, diagonally
 * dominant (so SPD). Returns n. */
static size_t make_system(int w, int h, size_t *pos, double *vals, int *idx)
{
    const int pw = w + 4;
    size_t n = 0;
    for (int i = 0; i < (w + 4) * (h + 4); i++) idx[i] = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x + 2 * y) % 37 < 30) { /* holes: known pixels */
                idx[(y + 2) * pw + x + 2] = (int)n;
                pos[n++] = (size_t)(y + 2) * pw + x + 2;
            }
    for (size_t k = 0; k < n; k++) {
        double *v = vals + k * 25;
        memset(v, 0, 25 * sizeof *v);
        v[12] = 1e-3;
        for (int oy = -2; oy <= 2; oy++)
            for (int ox = -2; ox <= 2; ox++) {
                if (!ox && !oy) continue;
                /* weight symmetric in (ox, oy) -> (-ox, -oy) */
                double wgt = 1.0 / (ox * ox + 3 * oy * oy);
                v[12] += wgt; /* missing neighbours act as known: still SPD */
                if (idx[(ptrdiff_t)pos[k] + oy * pw + ox] >= 0) v[(oy + 2) * 5 + ox + 2] = -wgt;
            }
    }
    return n;
}

/* The multigrid preconditioner must be symmetric and positive definite for
 * CG (r2.M r1 == r1.M r2, r.M r > 0), and its row bands run on a pool
 * (every level threaded: par_min_rows 0) must give the same bits as on the
 * calling thread, on odd sizes. */
static void test_mg(int W, int H)
{
    size_t npx = (size_t)W * H, ngrid = (size_t)(W + 4) * (H + 4);
    size_t *pos = malloc(npx * sizeof *pos);
    double *vals = calloc(npx * 25, sizeof *vals), *v = calloc(npx * 6, sizeof *v);
    int *idx = malloc(ngrid * sizeof *idx);
    char what[160], err[128];
    if (!pos || !vals || !v || !idx) {
        check(0, "multigrid: allocation");
        goto out;
    }
    double *r1 = v, *r2 = v + npx, *z1 = v + 2 * npx, *z2 = v + 3 * npx, *zt = v + 4 * npx;
    size_t n = make_system(W, H, pos, vals, idx);
    uint32_t s = 7;
    for (size_t k = 0; k < n; k++) {
        s = s * 1103515245u + 12345u;
        r1[k] = (double)(s >> 8) / (1 << 24) - 0.5;
        s = s * 1103515245u + 12345u;
        r2[k] = (double)(s >> 8) / (1 << 24) - 0.5;
    }
    cut_mg *mg;
    int rc = cut_mg_build(n, W, H, pos, vals, NULL, 0, &mg, err, sizeof err);
    snprintf(what, sizeof what, "multigrid %dx%d: builds (%d levels, %zu rows)", W, H,
             rc ? 0 : cut_mg_levels(mg), n);
    check(rc == 0 && (n < 2000 || cut_mg_levels(mg) >= 3), what);
    if (rc) goto out;
    cut_mg_apply(mg, r1, z1);
    cut_mg_apply(mg, r2, z2);
    cut_mg_free(mg);
    double a = 0, b = 0, p1 = 0, p2 = 0, nn = 0;
    for (size_t k = 0; k < n; k++) {
        a += r2[k] * z1[k], b += r1[k] * z2[k];
        p1 += r1[k] * z1[k], p2 += r2[k] * z2[k], nn += z1[k] * z1[k];
    }
    printf("     %dx%d: r2.Mr1 %.12g r1.Mr2 %.12g\n", W, H, a, b);
    snprintf(what, sizeof what, "multigrid %dx%d: the cycle is symmetric", W, H);
    check(fabs(a - b) <= 1e-5 * sqrt(p1 * p2), what);
    snprintf(what, sizeof what, "multigrid %dx%d: the cycle is positive", W, H);
    check(p1 > 0 && p2 > 0 && nn > 0, what);
    for (int threads = 2; threads <= 3; threads++) {
        threadpool *tp;
        if (cutout_pool_create(threads, &tp) != 0) continue;
        rc = cut_mg_build(n, W, H, pos, vals, tp, 0, &mg, err, sizeof err);
        int same = rc == 0;
        for (int rep = 0; same && rep < 3; rep++) { /* races would show as a changed bit */
            cut_mg_apply(mg, r1, zt);
            same = memcmp(zt, z1, n * sizeof *zt) == 0;
        }
        if (rc == 0) cut_mg_free(mg);
        cutout_pool_free(tp);
        snprintf(what, sizeof what, "multigrid %dx%d: %d threads give the same bits as none", W, H,
                 threads);
        check(same, what);
    }
out:
    free(idx);
    free(v);
    free(vals);
    free(pos);
}

/* The whole cutout (CG's banded product included) on odd sizes: the same
 * bytes and return code with 2 threads as with none. */
static void test_cutout_threads(int W, int H)
{
    size_t npx = (size_t)W * H;
    uint8_t *rgb = malloc(npx * 3), *mask = malloc(npx), *o1 = calloc(npx, 4), *o2 = calloc(npx, 4);
    threadpool *tp = NULL;
    char what[128], err[128];
    if (rgb && mask && o1 && o2 && cutout_pool_create(2, &tp) == 0) {
        make_image(rgb, mask, W, H);
        cut_matting_stats st;
        int rc1 = cut_alpha_matting(rgb, W, H, (size_t)W * 3, mask, (size_t)W, 240, 10, 4, NULL, o1,
                                    (size_t)W * 4, &st, err, sizeof err);
        int rc2 = cut_alpha_matting(rgb, W, H, (size_t)W * 3, mask, (size_t)W, 240, 10, 4, tp, o2,
                                    (size_t)W * 4, NULL, err, sizeof err);
        snprintf(what, sizeof what, "cutout %dx%d (rc %d, %d CG iterations): the same bytes with 2 threads",
                 W, H, rc1, st.iterations);
        check(rc1 == rc2 && memcmp(o1, o2, npx * 4) == 0, what);
    } else {
        check(0, "cutout threads: allocation");
    }
    if (tp) cutout_pool_free(tp);
    free(o2);
    free(o1);
    free(mask);
    free(rgb);
}

int main(void)
{
    test_cutout_threads(1, 1);
    test_cutout_threads(7, 3);
    test_cutout_threads(129, 65);
    test_cutout_threads(301, 203);
    test_mg(70, 50);
    test_mg(1, 1);
    test_mg(7, 3);
    test_mg(129, 65);
    test_mg(301, 203);
    test_trimap();
    test_cutout();
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
