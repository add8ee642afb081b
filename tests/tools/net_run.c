/* net_run: the reference tests' window into the engine.
 *   net_run MODEL.onnx INPUT.f32 N H W OUTPUT.f32 [--threads T] [--side-outputs]
 *           [--backend cpu|opencl] [--device D]
 * Reads N×3×H×W float32, writes output 0 and, with --side-outputs, every
 * side output after it (each N×C×H×W float32, C the model's output channels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: net_run MODEL INPUT.f32 N H W OUTPUT.f32 [--threads T] "
                        "[--side-outputs] [--backend cpu|opencl] [--device D]\n");
        return 2;
    }
    int n = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]), threads = 0, sides = 0;
    cutout_backend_kind kind = CUTOUT_BACKEND_CPU;
    const char *device = NULL;
    for (int i = 7; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--side-outputs"))
            sides = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "cpu"))
                kind = CUTOUT_BACKEND_CPU;
            else if (!strcmp(b, "opencl"))
                kind = CUTOUT_BACKEND_OPENCL;
            else {
                fprintf(stderr, "net_run: --backend must be cpu or opencl\n");
                return 2;
            }
        }
        else {
            fprintf(stderr, "net_run: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char err[512];
    cutout_model *m = NULL;
    cutout_engine *e = NULL;
    if (cutout_model_load_file(argv[1], &m, err, sizeof err)) {
        fprintf(stderr, "net_run: %s\n", err);
        return 1;
    }
    cutout_engine_options opt;
    cutout_engine_options_default(&opt);
    opt.backend = kind;
    opt.device = device;
    opt.threads = threads;
    opt.max_batch = n;
    opt.max_height = h;
    opt.max_width = w;
    opt.side_outputs = sides;
    if (cutout_engine_create(m, &opt, &e, err, sizeof err)) {
        fprintf(stderr, "net_run: %s\n", err);
        cutout_model_free(m);
        return 1;
    }
    int n_out = sides ? cutout_model_num_outputs(m) : 1;
    size_t in_count = (size_t)n * 3 * h * w;
    size_t plane = (size_t)n * cutout_model_output_channels(m) * h * w;
    float *in = malloc(in_count * sizeof(float)), *out = malloc(plane * n_out * sizeof(float));
    float *outs[8];
    int rc = 1;
    FILE *f = NULL;
    if (!in || !out) goto done;
    for (int i = 0; i < n_out; i++) outs[i] = out + plane * i;
    f = fopen(argv[2], "rb");
    if (!f || fread(in, sizeof(float), in_count, f) != in_count) {
        fprintf(stderr, "net_run: cannot read %zu floats from %s\n", in_count, argv[2]);
        goto done;
    }
    fclose(f);
    f = NULL;
    if (cutout_engine_run(e, in, n, h, w, outs, err, sizeof err)) {
        fprintf(stderr, "net_run: %s\n", err);
        goto done;
    }
    f = fopen(argv[6], "wb");
    if (!f || fwrite(out, sizeof(float), plane * n_out, f) != plane * n_out) {
        fprintf(stderr, "net_run: cannot write %s\n", argv[6]);
        goto done;
    }
    rc = 0;
done:
    if (f && fclose(f)) rc = 1;
    free(in);
    free(out);
    cutout_engine_free(e);
    cutout_model_free(m);
    return rc;
}
