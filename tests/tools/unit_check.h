/* What the image unit tests share: one "ok"/"FAIL" line per check with a
 * failure count, a reproducible xorshift32 generator for test data, and
 * pixel equality of two images. */
#ifndef CUTOUT_TESTS_UNIT_CHECK_H
#define CUTOUT_TESTS_UNIT_CHECK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "image.h"

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) failures++;
}

/* A test that wants other data sets rng_state before its first rnd(). */
static uint32_t rng_state = 2463534242u;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int same_pixels(const cutout_image *a, const cutout_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels) return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->pixels + (size_t)y * a->stride, b->pixels + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->channels))
            return 0;
    return 1;
}

#endif
