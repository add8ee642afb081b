/* Shared by the op tests (test_ops.c, test_backend_cl.c): a seeded uniform
 * generator, max-abs-error and one "ok/FAIL" line per check. Define
 * OP_CHECK_SEED before including to pick the sequence. */
#ifndef CUTOUT_OP_CHECK_H
#define CUTOUT_OP_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

static int failures, checks;

static unsigned rng = OP_CHECK_SEED;
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

/* A convolution test case: batch n, input channels ca (+ cb concatenated),
 * cout, input ih×iw, kernel k, stride, dilation, fused relu/residual, and
 * view: the output is a channel slice of a wider buffer. */
typedef struct {
    int n, ca, cb, cout, ih, iw, k, stride, dil, relu, residual, view;
} conv_case;

/* Odd shapes every backend's conv is checked on: dilations 1/2/4/8, stride 2,
 * 1×1, concat, residual, planes smaller than the dilation, 1-pixel input,
 * side-head views. Each test adds its own cases after these. */
#define OP_CHECK_CONV_CASES \
    {1, 3, 0, 8, 17, 23, 3, 1, 1, 1, 0, 0}, \
    {2, 5, 7, 16, 13, 9, 3, 1, 2, 1, 1, 0}, \
    {1, 16, 16, 16, 11, 31, 3, 1, 4, 1, 0, 0}, \
    {3, 4, 0, 5, 9, 10, 3, 1, 8, 1, 0, 0}, \
    {1, 3, 0, 64, 33, 21, 3, 2, 1, 0, 0, 0}, \
    {2, 3, 0, 7, 8, 9, 3, 2, 1, 1, 0, 0}, \
    {1, 6, 0, 1, 15, 14, 1, 1, 1, 0, 0, 0}, \
    {1, 64, 0, 16, 40, 41, 3, 1, 1, 1, 0, 0}, \
    {1, 32, 32, 64, 37, 29, 3, 1, 1, 1, 1, 0}, \
    {2, 128, 0, 128, 5, 3, 3, 1, 2, 1, 0, 0}, \
    {1, 1, 0, 1, 1, 1, 3, 1, 1, 0, 0, 0}, \
    {2, 16, 0, 1, 19, 12, 3, 1, 1, 0, 0, 1}

#endif
