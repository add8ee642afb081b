/* Runs rembg's alpha matting (engine/pipeline/matting.c) on raw files for
 * tests/pipeline/check_matting.py and bench/matting_bench.sh.
 *
 *   matting_run [--eps E] [--threads N] [--repeat R] RGB.raw MASK.raw AF AB AE OUTDIR
 *
 * Raw files: a text line "WIDTH HEIGHT CHANNELS\n", then the pixels, tightly
 * packed (tests/tools/raw_image.h's format). RGB.raw has 3 channels, MASK.raw 1.
 * Writes OUTDIR/trimap.raw (1 channel), OUTDIR/alpha.f64 (w*h doubles, the
 * clipped closed-form alpha), OUTDIR/rgba.raw (4 channels, the cutout). --eps
 * changes the Laplacian's epsilon (only to show the check can fail); the
 * cutout then uses the alpha computed with it.
 * Prints one JSON line: rc, unknown, iterations, rel_residual, seconds.
 * Exit status 0 when the tool ran (any rc), 2 on usage or I/O errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "matting.h"
#include "threadpool.h"

static uint8_t *read_raw(const char *path, int want_c, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int c;
    uint8_t *p = NULL;
    if (fscanf(f, "%d %d %d", w, h, &c) == 3 && fgetc(f) == '\n' && c == want_c && *w > 0 &&
        *h > 0 && *w < 65536 && *h < 65536) {
        size_t n = (size_t)*w * (size_t)*h * (size_t)c;
        p = malloc(n);
        if (p && fread(p, 1, n, f) != n) {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    return p;
}

static int write_file(const char *dir, const char *name, const char *header, const void *data,
                      size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    if (header) fputs(header, f);
    fwrite(data, 1, n, f);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    double eps = CUT_MATTING_EPSILON;
    int threads = 1, repeat = 1, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) return 2;
        if (strcmp(argv[i], "--eps") == 0)
            eps = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else
            return 2;
    }
    if (argc - i != 6 || threads < 1 || repeat < 1) {
        fprintf(stderr, "usage: matting_run [--eps E] [--threads N] [--repeat R] RGB.raw "
                        "MASK.raw AF AB AE OUTDIR\n");
        return 2;
    }
    int w, h, mw, mh;
    uint8_t *rgb = read_raw(argv[i], 3, &w, &h);
    uint8_t *mask = read_raw(argv[i + 1], 1, &mw, &mh);
    if (!rgb || !mask || mw != w || mh != h) {
        fprintf(stderr, "matting_run: cannot read inputs\n");
        return 2;
    }
    int af = atoi(argv[i + 2]), ab = atoi(argv[i + 3]), ae = atoi(argv[i + 4]);
    const char *outdir = argv[i + 5];
    threadpool *tp = NULL;
    if (threads > 1 && cutout_pool_create(threads, &tp)) return 2;
    size_t n = (size_t)w * h;
    uint8_t *trimap = malloc(n), *rgba = malloc(4 * n);
    double *alpha = malloc(n * sizeof *alpha);
    float *fg = malloc(3 * n * sizeof *fg);
    if (!trimap || !rgba || !alpha || !fg) return 2;
    char err[256] = "";
    cut_matting_stats st;
    memset(&st, 0, sizeof st);
    double best = 1e30, best_cpu = 1e30;
    int rc = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = cut_now_s(), c0 = cut_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (eps == CUT_MATTING_EPSILON) {
            rc = cut_alpha_matting(rgb, w, h, (size_t)w * 3, mask, (size_t)w, af, ab, ae, tp, rgba,
                                   (size_t)w * 4, &st, err, sizeof err);
        } else {
            /* The same steps with another epsilon. */
            rc = cut_matting_trimap(mask, w, h, (size_t)w, af, ab, ae, trimap, err, sizeof err);
            if (!rc)
                rc = cut_matting_alpha_cf(rgb, w, h, (size_t)w * 3, trimap, mask, (size_t)w, eps, tp, alpha, &st,
                                          err, sizeof err);
            if (!rc) rc = cut_matting_foreground_ml(rgb, w, h, (size_t)w * 3, alpha, tp, fg, err,
                                                    sizeof err);
            for (size_t k = 0; !rc && k < n; k++) {
                double v[4] = {fg[k], fg[n + k], fg[2 * n + k], alpha[k]};
                for (int ch = 0; ch < 4; ch++) {
                    double s = v[ch] * 255.0;
                    rgba[4 * k + ch] = !(s > 0) ? 0 : s > 255 ? 255 : (uint8_t)s;
                }
            }
        }
        double t = cut_now_s() - t0, tc = cut_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (t < best) best = t;
        if (tc < best_cpu) best_cpu = tc;
    }
    /* Trimap and alpha for the check, outside the timing. */
    if (rc >= 0) {
        cut_matting_trimap(mask, w, h, (size_t)w, af, ab, ae, trimap, err, sizeof err);
        cut_matting_alpha_cf(rgb, w, h, (size_t)w * 3, trimap, mask, (size_t)w, eps, tp, alpha, NULL, err,
                             sizeof err);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "%d %d 1\n", w, h);
        if (write_file(outdir, "trimap.raw", hdr, trimap, n)) return 2;
        if (write_file(outdir, "alpha.f64", NULL, alpha, n * sizeof *alpha)) return 2;
        snprintf(hdr, sizeof hdr, "%d %d 4\n", w, h);
        if (rc == 0 && write_file(outdir, "rgba.raw", hdr, rgba, 4 * n)) return 2;
    }
    printf("{\"rc\":%d,\"width\":%d,\"height\":%d,\"threads\":%d,\"unknown\":%zu,"
           "\"iterations\":%d,\"mg_levels\":%d,\"rel_residual\":%.3g,\"seconds\":%.4f,\"cpu_seconds\":%.4f,\"t_trimap\":%.4f,"
           "\"t_laplacian\":%.4f,\"t_cg\":%.4f,\"t_foreground\":%.4f,\"error\":\"%s\"}\n",
           rc, w, h, threads, st.unknown, st.iterations, st.mg_levels, st.rel_residual, best, best_cpu, st.t_trimap,
           st.t_laplacian, st.t_cg, st.t_foreground, err);
    if (tp) cutout_pool_free(tp);
    free(fg);
    free(alpha);
    free(rgba);
    free(trimap);
    free(mask);
    free(rgb);
    return 0;
}
