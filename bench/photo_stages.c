/* photo-stages: where one photo's time goes in the CLI's pipeline. Runs the
 * CLI's steps on each file one after the other (no overlap), REPS times, and
 * prints the median milliseconds of each step as one JSON object per file
 * (bench/README.md, "photo-stages"). The steps are the calls tools/cutout.c
 * makes, with the same options: read, decode, preprocess (LANCZOS to the
 * model size + normalisation), forward, mask (normalise + LANCZOS back to the
 * photo), render (the RGBA cutout) and encode (PNG at the CLI's default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_util.h"
#include "cutout.h"

enum { S_READ, S_DECODE, S_PRE, S_FWD, S_MASK, S_RENDER, S_ENCODE, N_STAGES };
static const char *const stage_names[N_STAGES] = {"read",    "decode", "preprocess", "forward",
                                                  "mask",    "render", "encode"};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One pass over the steps; ms[stage] gets each step's time. */
static int one_pass(const char *path, cutout_engine *engine, int size, const float mean[3],
                    const float std[3], const cutout_encode_options *enc, double ms[N_STAGES],
                    int *w, int *h, size_t *png_bytes, char *err, size_t errlen)
{
    uint8_t *data = NULL, *png = NULL;
    size_t n = 0;
    cutout_image img = {0}, mask = {0}, out = {0};
    cutout_render_options ropt;
    cutout_render_options_default(&ropt);
    size_t plane = (size_t)size * (size_t)size;
    float *tensor = malloc(3 * plane * sizeof(float)), *pred = malloc(plane * sizeof(float));
    int rc = tensor && pred ? 0 : app_fail(err, errlen, CUTOUT_E_NOMEM, "out of memory");
    double t = app_mono_s(), t1;
#define LAP(s) (t1 = app_mono_s(), ms[s] = (t1 - t) * 1e3, t = t1)
    if (!rc) rc = cutout_read_file(path, (size_t)512 << 20, &data, &n, err, errlen);
    LAP(S_READ);
    if (!rc) rc = cutout_image_decode(data, n, NULL, (cutout_decode_flags){0}, &img, NULL, err, errlen);
    LAP(S_DECODE);
    if (!rc) rc = cutout_pipeline_preprocess(&img, size, mean, std, tensor, NULL, err, errlen);
    LAP(S_PRE);
    float *outs[1] = {pred};
    if (!rc) rc = cutout_engine_run(engine, tensor, 1, size, size, outs, err, errlen);
    LAP(S_FWD);
    if (!rc) rc = cutout_pipeline_mask(pred, size, img.width, img.height, &mask, NULL, err, errlen);
    LAP(S_MASK);
    if (!rc) rc = cutout_render(&img, &mask, &ropt, &out, NULL, err, errlen);
    LAP(S_RENDER);
    if (!rc) rc = cutout_image_encode(&out, enc, &png, png_bytes, NULL, err, errlen);
    LAP(S_ENCODE);
#undef LAP
    *w = img.width;
    *h = img.height;
    free(data);
    free(png);
    free(tensor);
    free(pred);
    cutout_image_free(&img);
    cutout_image_free(&mask);
    cutout_image_free(&out);
    return rc;
}

int main(int argc, char **argv)
{
    int png_level = APP_CLI_PNG_LEVEL;
    if (argc > 2 && !strcmp(argv[1], "--png-level")) {
        if (app_parse_int(argv[2], 0, 9, &png_level)) {
            fprintf(stderr, "photo-stages: --png-level is 0..9\n");
            return 2;
        }
        argv += 2;
        argc -= 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: photo-stages [--png-level N] MODEL THREADS REPS PHOTO...\n"
                        "Median ms of each step of the CLI's pipeline, one JSON line per photo.\n");
        return 2;
    }
    int threads, reps;
    if (app_parse_int(argv[2], 1, 1024, &threads) || app_parse_int(argv[3], 1, 1000, &reps)) {
        fprintf(stderr, "photo-stages: THREADS and REPS are positive integers\n");
        return 2;
    }
    app_keep_freed_memory(); /* as the CLI does */
    char err[512];
    cutout_model *model = NULL;
    cutout_engine *engine = NULL;
    cutout_engine_options eopt;
    cutout_engine_options_default(&eopt);
    eopt.backend = CUTOUT_BACKEND_CPU;
    eopt.threads = threads;
    if (cutout_model_load_named(argv[1], &model, err, sizeof err) ||
        cutout_engine_create(model, &eopt, &engine, err, sizeof err)) {
        fprintf(stderr, "photo-stages: %s\n", err);
        return 1;
    }
    int size = cutout_model_input_size(model);
    float mean[3], std[3];
    cutout_model_mean_std(model, mean, std);
    cutout_encode_options enc;
    cutout_encode_options_default(&enc, CUTOUT_FORMAT_PNG);
    enc.png_level = png_level;
    int status = 0;
    for (int f = 4; f < argc; f++) {
        double (*ms)[N_STAGES] = calloc((size_t)reps + 1, sizeof *ms);
        double col[1001];
        int w = 0, h = 0;
        size_t png_bytes = 0;
        if (!ms) return 1;
        /* pass 0 warms the caches and the engine; not counted */
        for (int r = 0; r <= reps && !status; r++)
            if (one_pass(argv[f], engine, size, mean, std, &enc, ms[r], &w, &h, &png_bytes, err,
                         sizeof err)) {
                fprintf(stderr, "photo-stages: %s: %s\n", argv[f], err);
                status = 1;
            }
        if (!status) {
            double total = 0, med[N_STAGES];
            for (int s = 0; s < N_STAGES; s++) {
                for (int r = 0; r < reps; r++) col[r] = ms[r + 1][s];
                med[s] = median(col, reps);
                total += med[s];
            }
            printf("{\"file\": \"%s\", \"width\": %d, \"height\": %d, \"mp\": %.2f, \"reps\": %d, "
                   "\"threads\": %d, \"png_level\": %d, \"png_bytes\": %zu",
                   argv[f], w, h, w * (double)h / 1e6, reps, threads, png_level, png_bytes);
            for (int s = 0; s < N_STAGES; s++) printf(", \"%s_ms\": %.1f", stage_names[s], med[s]);
            printf(", \"sum_ms\": %.1f, \"forward_share\": %.3f}\n", total, med[S_FWD] / total);
            fflush(stdout);
        }
        free(ms);
    }
    cutout_engine_free(engine);
    cutout_model_free(model);
    return status;
}
