/* cut_resize_lanczos: PIL golden values, an independent floating-point
 * reference, invariants, and each SIMD family the CPU has (AVX2, AVX-512)
 * == portable.
 *
 * The exhaustive comparison with PIL itself (random sizes, 4000 -> 320,
 * 7 -> 1000, 1-pixel images) is tests/image/check_resample.py, which needs
 * Python; this test needs nothing but the library. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"
#include "cpu_features.h"
#include "resample.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static uint32_t rng_state = 2463534242u;
static uint32_t rnd(void) /* xorshift32: reproducible on every platform */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static cutout_image make(int w, int h, int c)
{
    cutout_image im;
    char err[128];
    if (cutout_image_alloc(&im, w, h, c, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return im;
}

/* The pattern the golden values were computed from. */
static cutout_image pattern(int w, int h, int c)
{
    cutout_image im = make(w, h, c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                int v = (x * 37 + y * 91 + ch * 53 + (x * y) % 7 * 11) & 255;
                if (c == 4 && ch == 3) v = (x * y * 29 + 40) & 255;
                im.pixels[(size_t)y * im.stride + (size_t)x * c + ch] = (uint8_t)v;
            }
    return im;
}

/* Expected bytes from Pillow 9.4.0, computed once by:
 *   a = pattern(w, h, c) (as above); Image.fromarray(a, mode).resize((ow, oh),
 *   Image.LANCZOS); np.array(...).reshape(-1)
 * They pin PIL's exact arithmetic: 22-bit weights, the intermediate rounding,
 * RGBA premultiplication. */
static const uint8_t gold_l_3x4[] = {39, 130, 167, 176, 120, 100, 106, 144, 164, 138, 108, 87};
static const uint8_t gold_l_13x11[] = {
    0,   0,   21,  40,  52,  63,  88,  132, 171, 191, 209, 232, 242, 8,   14,  38,  67,  92,
    118, 133, 131, 131, 147, 176, 199, 208, 40,  47,  73,  113, 154, 202, 202, 130, 67,  78,
    123, 144, 151, 101, 117, 147, 165, 177, 231, 234, 117, 11,  22,  87,  118, 130, 165, 199,
    233, 186, 111, 136, 167, 92,  17,  35,  110, 163, 187, 168, 210, 248, 171, 53,  50,  103,
    99,  85,  110, 157, 193, 208, 96,  130, 170, 138, 74,  73,  121, 156, 183, 207, 189, 147,
    120, 17,  37,  78,  123, 143, 144, 153, 188, 231, 255, 188, 78,  13,  26,  44,  88,  157,
    189, 153, 107, 121, 163, 196, 155, 71,  20,  80,  106, 152, 206, 201, 123, 38,  27,  60,
    104, 120, 101, 83,  117, 147, 194, 235, 204, 103, 0,   0,   0,   46,  98,  122, 127};
static const uint8_t gold_rgb_4x7[] = {
    12,  56,  115, 96,  183, 244, 205, 162, 87,  48,  34,  89,  50,  113, 156, 133, 155,
    169, 148, 142, 125, 65,  94,  160, 124, 188, 193, 171, 115, 82,  75,  118, 182, 114,
    174, 230, 195, 173, 130, 119, 104, 145, 93,  139, 203, 209, 164, 140, 180, 117, 68,
    81,  130, 195, 154, 132, 162, 210, 106, 47,  101, 122, 106, 146, 155, 85,  157, 57,
    107, 96,  103, 112, 46,  137, 148, 200, 168, 0,   146, 7,   76,  11,  111, 179};
static const uint8_t gold_rgba_3x5[] = {
    24,  115, 151, 42,  160, 144, 138, 46,  114, 140, 140, 71,  178, 174, 152,
    57,  141, 109, 130, 137, 53,  121, 184, 134, 127, 100, 105, 94,  112, 160,
    117, 156, 255, 44,  98,  91,  157, 229, 94,  89,  99,  151, 42,  108, 91,
    49,  126, 184, 87,  140, 106, 96,  43,  96,  165, 140, 126, 202, 60,  189};

/* FNV-1a 64 of Pillow 9.4.0's output for larger pattern images, computed by
 * the same recipe (fnv1a(np.array(resized).tobytes())): every byte counts. */
static const struct {
    int w, h, c, ow, oh;
    uint64_t fnv;
} gold_hashes[] = {
    {601, 401, 3, 320, 320, 0xce7a1b9658a4d334ull},
    {320, 320, 1, 1000, 750, 0x1725350def97c0ull},
    {333, 222, 4, 100, 77, 0x392a8ffb071bc11dull},
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Kernel families run in turn: the portable passes (isa 0) and each SIMD
 * family the CPU supports, capped with cut_cpu_set_isa. */
static int isa_runs(int isa)
{
    return isa == CUT_ISA_PORTABLE || cut_cpu_isa_supported((cut_isa)isa);
}

/* simd: 0 portable, else the SIMD passes of ISA simd; CUT_ISA_COUNT (ANY)
 * the best the CPU has, as the library picks them. */
#define ANY CUT_ISA_COUNT
static int resize(const cutout_image *src, int w, int h, int simd, cutout_image *dst)
{
    char err[128];
    cut_cpu_set_isa(simd ? (cut_isa)simd : CUT_ISA_COUNT);
    int rc = cut_resize_lanczos_impl(src, w, h, dst, simd != 0, err, sizeof err);
    cut_cpu_set_isa(CUT_ISA_COUNT);
    if (rc) printf("     resize %dx%d -> %dx%d: %s\n", src->width, src->height, w, h, err);
    return rc;
}

static void test_golden(int w, int h, int c, int ow, int oh, const uint8_t *gold, size_t n,
                        const char *name)
{
    cutout_image src = pattern(w, h, c);
    for (int simd = 0; simd < CUT_ISA_COUNT; simd++) {
        if (!isa_runs(simd)) continue;
        cutout_image dst;
        int ok = resize(&src, ow, oh, simd, &dst) == 0 && (size_t)ow * oh * c == n &&
                 memcmp(dst.pixels, gold, n) == 0;
        char what[128];
        snprintf(what, sizeof what, "%s matches Pillow 9.4 byte for byte (%s)", name,
                 cut_isa_name((cut_isa)simd));
        check(ok, what);
        cutout_image_free(&dst);
    }
    cutout_image_free(&src);
}

/* An independent reference written from the definition, in double: a=3
 * Lanczos, support scaled by the downscale factor, weights normalised per
 * output pixel, horizontal pass rounded to uint8 before the vertical pass
 * (as README.md "rembg-compatible processing" specifies). It does not share the fixed-point code. */
static double lanczos3(double x)
{
    if (x == 0) return 1;
    if (x <= -3 || x >= 3) return 0;
    double px = M_PI * x;
    return 3 * sin(px) * sin(px / 3) / (px * px);
}

static void ref_pass(const double *in, int n_in, int stride_in, double *out, int n_out,
                     int stride_out)
{
    double scale = (double)n_in / n_out, fs = scale < 1 ? 1 : scale;
    for (int i = 0; i < n_out; i++) {
        double center = (i + 0.5) * scale, sum = 0, wsum = 0;
        int lo = (int)floor(center - 3 * fs), hi = (int)ceil(center + 3 * fs);
        for (int j = lo < 0 ? 0 : lo; j < n_in && j <= hi; j++) {
            double wgt = lanczos3((j + 0.5 - center) / fs);
            sum += wgt * in[j * stride_in];
            wsum += wgt;
        }
        out[i * stride_out] = sum / wsum;
    }
}

static double round_clamp(double v)
{
    v = floor(v + 0.5);
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Grey only: the reference is per channel anyway. */
static int reference_max_diff(const cutout_image *src, const cutout_image *got)
{
    int w = src->width, h = src->height, ow = got->width, oh = got->height;
    double *a = malloc(sizeof *a * (size_t)w * h), *t = malloc(sizeof *t * (size_t)ow * h);
    double *o = malloc(sizeof *o * (size_t)ow * oh);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) a[(size_t)y * w + x] = src->pixels[(size_t)y * src->stride + x];
    if (ow != w) {
        for (int y = 0; y < h; y++) ref_pass(a + (size_t)y * w, w, 1, t + (size_t)y * ow, ow, 1);
        for (size_t i = 0; i < (size_t)ow * h; i++) t[i] = round_clamp(t[i]);
    } else {
        memcpy(t, a, sizeof *t * (size_t)w * h);
    }
    if (oh != h)
        for (int x = 0; x < ow; x++) ref_pass(t + x, h, ow, o + x, oh, ow);
    else
        memcpy(o, t, sizeof *o * (size_t)ow * oh);
    int worst = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int d = abs((int)round_clamp(o[(size_t)y * ow + x]) -
                        got->pixels[(size_t)y * got->stride + x]);
            if (d > worst) worst = d;
        }
    free(a);
    free(t);
    free(o);
    return worst;
}

static void fill_random(cutout_image *im, int smooth)
{
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width * im->channels; x++) {
            int v = smooth ? (x / im->channels * 3 + y * 2 + (int)(rnd() % 9)) & 255 : (int)(rnd() & 255);
            im->pixels[(size_t)y * im->stride + x] = (uint8_t)v;
        }
}

int main(void)
{
    test_golden(7, 5, 1, 3, 4, gold_l_3x4, sizeof gold_l_3x4, "L 7x5 -> 3x4");
    test_golden(7, 5, 1, 13, 11, gold_l_13x11, sizeof gold_l_13x11, "L 7x5 -> 13x11");
    test_golden(9, 4, 3, 4, 7, gold_rgb_4x7, sizeof gold_rgb_4x7, "RGB 9x4 -> 4x7");
    test_golden(6, 6, 4, 3, 5, gold_rgba_3x5, sizeof gold_rgba_3x5, "RGBA 6x6 -> 3x5");

    for (size_t i = 0; i < sizeof gold_hashes / sizeof gold_hashes[0]; i++) {
        cutout_image src = pattern(gold_hashes[i].w, gold_hashes[i].h, gold_hashes[i].c);
        for (int simd = 0; simd < CUT_ISA_COUNT; simd++) {
            if (!isa_runs(simd)) continue;
            cutout_image dst;
            int ok = resize(&src, gold_hashes[i].ow, gold_hashes[i].oh, simd, &dst) == 0 &&
                     fnv1a(dst.pixels, dst.stride * dst.height) == gold_hashes[i].fnv;
            char what[128];
            snprintf(what, sizeof what, "%dx%dx%d -> %dx%d hashes like Pillow 9.4's (%s)",
                     gold_hashes[i].w, gold_hashes[i].h, gold_hashes[i].c, gold_hashes[i].ow,
                     gold_hashes[i].oh, cut_isa_name((cut_isa)simd));
            check(ok, what);
            cutout_image_free(&dst);
        }
        cutout_image_free(&src);
    }

    /* Against the double-precision reference. Tolerance 1 level: PIL rounds
     * its weights to 22-bit integers, and a value within a rounding error
     * of .5 may land on either side; more than 1 would be a real error. */
    static const int sizes[][4] = {{640, 480, 320, 320}, {97, 13, 320, 320}, {320, 320, 1001, 777},
                                   {1, 40, 1, 320},    {40, 1, 320, 1},    {5, 7, 3, 2},
                                   {300, 200, 299, 201}, {1200, 900, 37, 23}};
    int worst = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cutout_image src = make(sizes[i][0], sizes[i][1], 1), dst;
        fill_random(&src, (int)(i & 1));
        if (resize(&src, sizes[i][2], sizes[i][3], ANY, &dst) == 0) {
            int d = reference_max_diff(&src, &dst);
            if (d > worst) worst = d;
            cutout_image_free(&dst);
        } else {
            worst = 999;
        }
        cutout_image_free(&src);
    }
    char what[160];
    snprintf(what, sizeof what, "within 1 level of a double-precision Lanczos reference (max %d)",
             worst);
    check(worst <= 1, what);

    /* A flat image stays flat at every size and channel count: the rounded
     * weights still sum to 1 within far less than half a level. */
    int flat_ok = 1;
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        cutout_image src = make(53, 31, c), dst;
        memset(src.pixels, 201, src.stride * src.height);
        if (c == 4)
            for (size_t j = 3; j < src.stride * src.height; j += 4) src.pixels[j] = 255;
        static const int out[][2] = {{320, 320}, {1, 1}, {7, 1000}, {52, 31}};
        for (int k = 0; k < 4; k++) {
            if (resize(&src, out[k][0], out[k][1], ANY, &dst)) {
                flat_ok = 0;
                continue;
            }
            for (size_t j = 0; j < dst.stride * dst.height; j++)
                if (dst.pixels[j] != (c == 4 && j % 4 == 3 ? 255 : 201)) flat_ok = 0;
            cutout_image_free(&dst);
        }
        cutout_image_free(&src);
    }
    check(flat_ok, "a flat image stays flat (1/3/4 channels, up and down)");

    /* Same size: an exact copy, as PIL returns. */
    {
        cutout_image src = make(33, 17, 4), dst;
        fill_random(&src, 0);
        int ok = resize(&src, 33, 17, ANY, &dst) == 0 &&
                 memcmp(src.pixels, dst.pixels, src.stride * src.height) == 0;
        check(ok, "same size returns an exact copy (RGBA not premultiplied)");
        cutout_image_free(&src);
        cutout_image_free(&dst);
    }

    /* RGBA: colour under alpha 0 must not bleed (premultiplied resize). Left
     * half transparent red, right half opaque blue. */
    {
        cutout_image src = make(40, 10, 4), dst;
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 40; x++) {
                uint8_t *p = src.pixels + (size_t)y * src.stride + (size_t)x * 4;
                p[0] = x < 20 ? 255 : 0;
                p[1] = 0;
                p[2] = x < 20 ? 0 : 255;
                p[3] = x < 20 ? 0 : 255;
            }
        int ok = resize(&src, 13, 7, ANY, &dst) == 0;
        for (int i = 0; ok && i < dst.width * dst.height; i++)
            if (dst.pixels[i * 4 + 3] != 0 && dst.pixels[i * 4] != 0) ok = 0;
        check(ok, "RGBA: no colour bleeds from fully transparent pixels");
        cutout_image_free(&src);
        cutout_image_free(&dst);
    }

    /* Each SIMD family and the portable code: identical bytes on random
     * shapes, including rows too short for a whole 8-tap group and the
     * right-edge tails (AVX-512's masked ones: row bytes not multiples of 16). */
    for (int isa = CUT_ISA_AVX2; isa < CUT_ISA_COUNT; isa++) {
        if (!isa_runs(isa)) {
            printf("skip %s: not supported by this CPU\n", cut_isa_name((cut_isa)isa));
            continue;
        }
        int same = 1, runs = 0;
        for (int i = 0; i < 150; i++) {
            int c = (int[]){1, 3, 4}[rnd() % 3];
            int sw = 1 + (int)(rnd() % (i % 3 ? 90 : 900)), sh = 1 + (int)(rnd() % 60);
            int ow = 1 + (int)(rnd() % (i % 2 ? 60 : 500)), oh = 1 + (int)(rnd() % 90);
            cutout_image src = make(sw, sh, c), a, b;
            fill_random(&src, 0);
            if (resize(&src, ow, oh, isa, &a) || resize(&src, ow, oh, 0, &b)) {
                same = 0;
            } else {
                same &= memcmp(a.pixels, b.pixels, a.stride * a.height) == 0;
                cutout_image_free(&a);
                cutout_image_free(&b);
                runs++;
            }
            cutout_image_free(&src);
        }
        snprintf(what, sizeof what, "%s and portable passes agree byte for byte (%d shapes)",
                 cut_isa_name((cut_isa)isa), runs);
        check(same, what);
    }

    /* Strided source (a view into a larger buffer) reads only its pixels. */
    {
        cutout_image big = make(50, 20, 3), view, a, b;
        fill_random(&big, 0);
        view = big;
        view.width = 31;
        view.pixels += 3 * 7;
        cutout_image copy;
        char err[128];
        int ok = cutout_image_convert(&view, 3, &copy, err, sizeof err) == 0 &&
                 resize(&view, 17, 9, ANY, &a) == 0 && resize(&copy, 17, 9, ANY, &b) == 0 &&
                 memcmp(a.pixels, b.pixels, a.stride * a.height) == 0;
        check(ok, "a source with stride > width*channels resizes like a packed copy");
        cutout_image_free(&a);
        cutout_image_free(&b);
        cutout_image_free(&copy);
        cutout_image_free(&big);
    }

    /* Bad arguments are errors, not crashes. */
    {
        cutout_image src = make(4, 4, 3), dst;
        char err[128] = "";
        int rc = cut_resize_lanczos(&src, 0, 5, &dst, NULL, err, sizeof err);
        check(rc == CUTOUT_E_ARG && err[0], "zero output size is CUTOUT_E_ARG with a message");
        src.channels = 2;
        rc = cut_resize_lanczos(&src, 3, 3, &dst, NULL, err, sizeof err);
        check(rc == CUTOUT_E_ARG, "2-channel images are refused");
        src.channels = 3;
        cutout_image_free(&src);
    }

    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
