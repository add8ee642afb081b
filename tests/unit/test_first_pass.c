/* First pass = steady pass on the CPU backend: cutout_engine_create does the
 * one-time work (weight layout, buffers sized for the largest input, every
 * page of the arena, scratch and row buffers faulted in), so the first
 * forward pass takes no page faults beyond what a steady one takes (none).
 *
 * Counted with getrusage's ru_minflt (the whole process, pool threads
 * included) around each cutout_engine_run, with the input and output
 * buffers written beforehand. u2netp at its own size, and an engine planned
 * for 256x384 run first at a smaller size then at its largest (the row
 * buffers and resize taps must already fit the widest tensor). Checked to
 * fail without the arena pre-touch in cpu_prepare (29 469 faults on the
 * first pass). Not caught here: row buffers sized late (a few KB, from
 * pages malloc already had). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cutout.h"

static int failures;

static void check(int ok, const char *what, long faults, long bound)
{
    printf("%s %s: %ld page faults (at most %ld)\n", ok ? "ok  " : "FAIL", what, faults, bound);
    if (!ok) failures++;
}

/* The first pass in a process also maps the code of every kernel it runs
 * for the first time (file-backed minor faults: ~70 here, 0 for a second
 * engine); the arena alone would be ~29 000. */
#define FAULT_SLACK 256

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Faults of one forward pass at n x h x w with touched buffers; -1 on error. */
static long pass_faults(cutout_engine *e, int h, int w)
{
    size_t in_n = (size_t)3 * h * w, out_n = (size_t)h * w;
    float *in = malloc(in_n * sizeof *in), *out = malloc(out_n * sizeof *out);
    if (!in || !out) return -1;
    for (size_t i = 0; i < in_n; i++) in[i] = (float)(i % 97) / 97.0f - 0.5f;
    memset(out, 0, out_n * sizeof *out);
    float *outs[1] = {out};
    char err[256];
    long f0 = minflt();
    int rc = cutout_engine_run(e, in, 1, h, w, outs, err, sizeof err);
    long f = minflt() - f0;
    if (rc) printf("run %dx%d: %s\n", h, w, err);
    free(in);
    free(out);
    return rc ? -1 : f;
}

static cutout_engine *engine(const cutout_model *m, int threads, int max_h, int max_w)
{
    cutout_engine_options o;
    cutout_engine_options_default(&o);
    o.backend = CUTOUT_BACKEND_CPU;
    o.threads = threads;
    o.max_height = max_h;
    o.max_width = max_w;
    cutout_engine *e = NULL;
    char err[256];
    if (cutout_engine_create(m, &o, &e, err, sizeof err)) printf("engine: %s\n", err);
    return e;
}

int main(void)
{
    char err[256];
    cutout_model *m = NULL;
    if (cutout_model_load_file("models/u2netp.onnx", &m, err, sizeof err)) {
        printf("FAIL model: %s\n", err);
        return 1;
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        cutout_engine *e = engine(m, threads, 0, 0);
        if (!e) {
            failures++;
            continue;
        }
        int s = cutout_model_input_size(m);
        long first = pass_faults(e, s, s), second = pass_faults(e, s, s);
        char what[96];
        snprintf(what, sizeof what, "u2netp %dx%d, %d threads, first pass", s, s, threads);
        check(first >= 0 && first <= FAULT_SLACK, what, first, FAULT_SLACK);
        snprintf(what, sizeof what, "u2netp %dx%d, %d threads, second pass", s, s, threads);
        check(second >= 0 && second <= FAULT_SLACK, what, second, FAULT_SLACK);
        cutout_engine_free(e);
    }
    cutout_engine *e = engine(m, 2, 256, 384);
    if (!e) failures++;
    if (e) {
        long small = pass_faults(e, 128, 160), full = pass_faults(e, 256, 384);
        check(small >= 0 && small <= FAULT_SLACK, "128x160 first, on a 256x384 engine", small,
              FAULT_SLACK);
        check(full >= 0 && full <= FAULT_SLACK, "then 256x384 (the widest)", full, FAULT_SLACK);
        cutout_engine_free(e);
    }
    cutout_model_free(m);
    printf("test_first_pass: %s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
