/* Resizes raw images with cut_resize_lanczos for tests/image/check_resample.py,
 * and times it.
 *
 *   resample_run [--portable] IN.raw OUT.raw WIDTH HEIGHT
 *   resample_run --bench [--portable] SRC_W SRC_H CHANNELS WIDTH HEIGHT N
 *       prints the median of N runs in ms (synthetic image). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "raw_image.h"
#include "resample.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(int simd, char **argv)
{
    int sw = atoi(argv[0]), sh = atoi(argv[1]), c = atoi(argv[2]);
    int w = atoi(argv[3]), h = atoi(argv[4]), n = atoi(argv[5]);
    char err[256];
    cutout_image src;
    if (n < 1 || n > 1000 || cutout_image_alloc(&src, sw, sh, c, err, sizeof err)) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    uint32_t s = 12345; /* smooth gradient plus noise, like a photo */
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw * c; x++) {
            s = s * 1664525u + 1013904223u;
            src.pixels[(size_t)y * src.stride + x] = (uint8_t)((x / c + y) / 8 + (s >> 28));
        }
    double *t = malloc(sizeof *t * (size_t)n);
    for (int i = 0; i < n; i++) {
        cutout_image dst;
        double t0 = cut_now_ms();
        if (cut_resize_lanczos_impl(&src, w, h, &dst, simd, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        t[i] = cut_now_ms() - t0;
        cutout_image_free(&dst);
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("%dx%dx%d -> %dx%d %s: median %.2f ms, min %.2f ms\n", sw, sh, c, w, h,
           simd ? "simd" : "portable", t[n / 2], t[0]);
    free(t);
    cutout_image_free(&src);
    return 0;
}

int main(int argc, char **argv)
{
    int simd = 1, i = 1, do_bench = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--portable") == 0)
            simd = 0;
        else if (strcmp(argv[i], "--bench") == 0)
            do_bench = 1;
    }
    if (do_bench) {
        if (argc - i != 6) return 2;
        return bench(simd, argv + i);
    }
    if (argc - i != 4) {
        fprintf(stderr, "usage: resample_run [--portable] IN.raw OUT.raw WIDTH HEIGHT\n");
        return 2;
    }
    cutout_image src, dst;
    char err[256];
    if (raw_read(argv[i], &src)) {
        fprintf(stderr, "cannot read %s\n", argv[i]);
        return 1;
    }
    if (cut_resize_lanczos_impl(&src, atoi(argv[i + 2]), atoi(argv[i + 3]), &dst, simd, err,
                                sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = raw_write(argv[i + 1], &dst);
    cutout_image_free(&src);
    cutout_image_free(&dst);
    return rc ? 1 : 0;
}
