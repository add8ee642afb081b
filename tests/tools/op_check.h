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

#endif
