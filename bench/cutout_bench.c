/* cutout-bench: times the forward pass (input tensor ready → output 0
 * produced) and prints one JSON object (contract in bench/README.md, "cutout-bench: the contract"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app_util.h"
#include "cutout.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cutout-bench --model M --backend cpu|opencl [--device D] [--threads N]\n"
            "                    [--batch N] [--size HxW] [--iterations N] [--warmup N]\n"
            "                    [--input X.f32] [--output Y.f32] [--tune] [--require-gpu]\n"
            "Times the forward pass and prints one JSON object on stdout.\n"
            "  --input        raw float32 NCHW tensor (batch x 3 x H x W, native endian)\n"
            "  --output       writes output 0 (after sigmoid, batch x 1 x H x W float32)\n"
            "  --tune         OpenCL: first measure direct vs GEMM for every conv shape of\n"
            "                 this model, size and batch, and write the tuning cache\n"
            "                 (choices on stderr and in the JSON's \"tuned\" list)\n"
            "  --require-gpu  fail unless a GPU or accelerator runs the network\n");
}

/* FP32 flops per cycle per core of the kernel family the engine uses
 * (cutout_cpu_isa): vector lanes × 2 (an FMA is a multiply and an add) ×
 * FMA units. The unit count is assumed, not detected: 2, as on Intel server
 * cores since Skylake-SP and AMD Zen 2-4 for 256-bit vectors. Cores with one
 * 512-bit unit (Xeon Silver/Bronze, client Ice Lake) or 512-bit FMAs split in
 * two halves (Zen 4) reach half the avx512 figure. "portable" is the x86-64
 * baseline the compiler vectorises for: SSE2, 4 lanes, a multiply and an add
 * on separate ports, no FMA. */
static double flops_per_cycle(const char *isa)
{
    if (!strcmp(isa, "avx512")) return 16 * 2 * 2;
    if (!strcmp(isa, "avx2")) return 8 * 2 * 2;
    return 4 * 2;
}

/* The core clock in MHz: cpufreq's cpuinfo_max_freq (the highest the
 * kernel lets a core run) where there is one, else /proc/cpuinfo's first
 * "cpu MHz". In a VM without cpufreq that is the nominal (TSC) frequency the
 * hypervisor reports, not the turbo or AVX-512 clock the core really runs
 * at, so peak_fraction is approximate. *src names the source; 0 if none. */
static double clock_mhz(const char **src)
{
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    double v = 0;
    if (f) {
        double khz = 0;
        if (fscanf(f, "%lf", &khz) == 1 && khz > 0) v = khz / 1000;
        fclose(f);
        *src = "cpufreq max";
        if (v > 0) return v;
    }
    *src = "cpuinfo";
    f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[256];
    while (!v && fgets(line, sizeof line, f))
        if (!strncmp(line, "cpu MHz", 7)) {
            const char *c = strchr(line, ':');
            if (c) v = atof(c + 1);
        }
    fclose(f);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int read_tensor(const char *path, float *buf, size_t count)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(buf, sizeof(float), count, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    return got == count && !extra ? 0 : -2;
}

/* The tuning pass of --tune: an OpenCL engine for this batch and size told
 * to measure every conv shape again, one forward pass, then what it
 * measured. Each measurement becomes one stderr line and one entry of *json
 * (malloc'd). Returns 0, 1 on failure (message on stderr), or 2 when there
 * is no OpenCL device to tune (auto without a GPU, or a library built
 * without OpenCL: the CPU backend has nothing to tune). */
static int tune(const cutout_model *m, const char *device, int gpu_only, const float *input,
                int n, int h, int w, char **json)
{
    char err[512];
    cutout_engine_options opt;
    cutout_engine_options_default(&opt);
    opt.backend = CUTOUT_BACKEND_OPENCL;
    opt.device = device;
    opt.require_gpu = gpu_only;
    opt.retune = 1;
    opt.max_batch = n;
    opt.max_height = h;
    opt.max_width = w;
    cutout_engine *e = NULL;
    float *out = malloc((size_t)n * h * w * sizeof(float));
    float *outs[1] = {out};
    int rc = out ? cutout_engine_create(m, &opt, &e, err, sizeof err)
                 : app_fail(err, sizeof err, CUTOUT_E_NOMEM, "out of memory");
    if (rc == CUTOUT_E_UNSUPPORTED && gpu_only) { /* as the engine: auto falls back to cpu */
        free(out);
        return 2;
    }
    if (!rc) rc = cutout_engine_run(e, input, n, h, w, outs, err, sizeof err);
    size_t cap = 64, len = 0;
    char *j = rc ? NULL : malloc(cap);
    if (!rc && !j) rc = app_fail(err, sizeof err, CUTOUT_E_NOMEM, "out of memory");
    if (!rc) {
        cutout_tuning t;
        len = (size_t)snprintf(j, cap, "[");
        for (int i = 0; !rc && cutout_engine_tuning(e, i, &t); i++) {
            fprintf(stderr, "cutout-bench: tune %-36s direct %9.3f ms  gemm %9.3f ms  -> %s\n",
                    t.shape, t.direct_ms, t.gemm_ms, t.method);
            char item[256];
            int il = snprintf(item, sizeof item,
                              "%s{\"shape\":\"%s\",\"method\":\"%s\",\"direct_ms\":%.3f,"
                              "\"gemm_ms\":%.3f}", i ? "," : "", t.shape, t.method,
                              t.direct_ms, t.gemm_ms);
            if (len + (size_t)il + 2 > cap) {
                char *nj = realloc(j, cap = 2 * (len + (size_t)il + 2));
                if (!nj) {
                    rc = app_fail(err, sizeof err, CUTOUT_E_NOMEM, "out of memory");
                    break;
                }
                j = nj;
            }
            memcpy(j + len, item, (size_t)il + 1);
            len += (size_t)il;
        }
        if (!rc) memcpy(j + len, "]", 2);
    }
    if (rc) {
        fprintf(stderr, "cutout-bench: tune: %s\n", err);
        free(j);
        j = NULL;
    }
    *json = j;
    cutout_engine_free(e);
    free(out);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *model_arg = NULL, *backend_arg = "cpu", *device = NULL, *in_path = NULL,
               *out_path = NULL;
    int threads = 0, batch = 1, h = 0, w = 0, iterations = 10, warmup = 1, do_tune = 0,
        require_gpu = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tune")) {
            do_tune = 1;
            continue;
        } else if (!strcmp(a, "--require-gpu")) {
            require_gpu = 1;
            continue;
        } else if (!v) {
            bad = 1;
        } else if (!strcmp(a, "--model")) {
            model_arg = v;
        } else if (!strcmp(a, "--backend")) {
            backend_arg = v;
        } else if (!strcmp(a, "--device")) {
            device = v;
        } else if (!strcmp(a, "--threads")) {
            bad = app_parse_int(v, 0, 1024, &threads);
        } else if (!strcmp(a, "--batch")) {
            bad = app_parse_int(v, 1, 4096, &batch);
        } else if (!strcmp(a, "--iterations")) {
            bad = app_parse_int(v, 1, 1000000, &iterations);
        } else if (!strcmp(a, "--warmup")) {
            bad = app_parse_int(v, 0, 1000000, &warmup);
        } else if (!strcmp(a, "--size")) {
            bad = sscanf(v, "%dx%d", &h, &w) != 2 || h < 8 || w < 8 || h > 16384 || w > 16384;
        } else if (!strcmp(a, "--input")) {
            in_path = v;
        } else if (!strcmp(a, "--output")) {
            out_path = v;
        } else {
            fprintf(stderr, "cutout-bench: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "cutout-bench: bad or missing value for %s\n", a);
            return 2;
        }
        i++;
    }
    if (!model_arg) {
        usage(stderr);
        return 2;
    }
    cutout_engine_options opt;
    cutout_engine_options_default(&opt);
    if (!strcmp(backend_arg, "cpu"))
        opt.backend = CUTOUT_BACKEND_CPU;
    else if (!strcmp(backend_arg, "opencl"))
        opt.backend = CUTOUT_BACKEND_OPENCL;
    else if (!strcmp(backend_arg, "auto"))
        opt.backend = CUTOUT_BACKEND_AUTO;
    else {
        fprintf(stderr, "cutout-bench: --backend must be cpu, opencl or auto\n");
        return 2;
    }
    if (device && opt.backend == CUTOUT_BACKEND_CPU)
        fprintf(stderr, "cutout-bench: --device applies to the opencl backend only; ignored\n");
    else
        opt.device = device;
    if (opt.backend == CUTOUT_BACKEND_CPU && (do_tune || require_gpu)) {
        fprintf(stderr, "cutout-bench: %s needs --backend opencl or auto\n",
                do_tune ? "--tune" : "--require-gpu");
        return 2;
    }
    opt.require_gpu = require_gpu;

    char err[512], path[4096];
    double t0 = (app_mono_s() * 1e3);
    cutout_model *model = NULL;
    cutout_engine *engine = NULL;
    if (cutout_model_find(model_arg, path, sizeof path, err, sizeof err) ||
        cutout_model_load_file(path, &model, err, sizeof err)) {
        fprintf(stderr, "cutout-bench: %s\n", err);
        return 1;
    }
    double load_ms = (app_mono_s() * 1e3) - t0, tune_ms = 0;
    if (!h) h = w = cutout_model_input_size(model);

    size_t in_count = (size_t)batch * 3 * h * w, out_count = (size_t)batch * h * w;
    float *input = malloc(in_count * sizeof(float)), *output = malloc(out_count * sizeof(float));
    double *times = malloc((size_t)iterations * sizeof(double));
    char *tuned = NULL;
    int rc = 1;
    if (!input || !output || !times) {
        fprintf(stderr, "cutout-bench: out of memory\n");
        goto done;
    }
    if (in_path) {
        int r = read_tensor(in_path, input, in_count);
        if (r) {
            fprintf(stderr, "cutout-bench: %s: %s\n", in_path,
                    r == -1 ? strerror(errno)
                            : "size is not batch x 3 x H x W float32 for --batch/--size");
            goto done;
        }
    } else {
        /* a fixed pseudo-random pattern in the range of normalised pixels */
        unsigned s = 12345;
        for (size_t i = 0; i < in_count; i++) {
            s = s * 1103515245u + 12345u;
            input[i] = ((s >> 8) & 0xffff) / 65535.0f * 4.5f - 2.1f;
        }
    }
    /* Tuning is timed on its own: load_ms and first_ms then show a start
     * with a warm tuning cache, as every start after this one gets. */
    if (do_tune) {
        double tt = (app_mono_s() * 1e3);
        int r = tune(model, opt.device, opt.backend == CUTOUT_BACKEND_AUTO || require_gpu, input,
                     batch, h, w, &tuned);
        if (r == 1) goto done;
        if (r == 2 && !require_gpu) /* with it, creating the engine says what is missing */
            fprintf(stderr, "cutout-bench: --tune: no GPU or accelerator OpenCL device; the "
                            "cpu backend has nothing to tune\n");
        tune_ms = (app_mono_s() * 1e3) - tt;
    }

    double t1 = (app_mono_s() * 1e3);
    opt.threads = threads;
    opt.max_batch = batch;
    opt.max_height = h;
    opt.max_width = w;
    if (cutout_engine_create(model, &opt, &engine, err, sizeof err)) {
        fprintf(stderr, "cutout-bench: %s\n", err);
        goto done;
    }
    load_ms += (app_mono_s() * 1e3) - t1;
    float *outs[8] = {output};
    double t2 = (app_mono_s() * 1e3);
    if (cutout_engine_run(engine, input, batch, h, w, outs, err, sizeof err)) {
        fprintf(stderr, "cutout-bench: %s\n", err);
        goto done;
    }
    double first_ms = (app_mono_s() * 1e3) - t2;
    for (int i = 0; i < warmup; i++)
        if (cutout_engine_run(engine, input, batch, h, w, outs, err, sizeof err)) {
            fprintf(stderr, "cutout-bench: %s\n", err);
            goto done;
        }
    for (int i = 0; i < iterations; i++) {
        double s = (app_mono_s() * 1e3);
        if (cutout_engine_run(engine, input, batch, h, w, outs, err, sizeof err)) {
            fprintf(stderr, "cutout-bench: %s\n", err);
            goto done;
        }
        times[i] = (app_mono_s() * 1e3) - s;
    }
    if (out_path) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(output, sizeof(float), out_count, f) != out_count || fclose(f)) {
            fprintf(stderr, "cutout-bench: cannot write %s\n", out_path);
            goto done;
        }
    }
    qsort(times, (size_t)iterations, sizeof *times, cmp_double);
    double median = iterations % 2 ? times[iterations / 2]
                                   : (times[iterations / 2 - 1] + times[iterations / 2]) / 2;
    int p90i = (int)(0.9 * (iterations - 1) + 0.5);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* Achieved rate as a direct convolution's arithmetic (cutout_model_gmac),
     * and its share of the FP32 FMA peak of the threads used (CPU only). */
    double gmac_image = cutout_model_gmac(model, h, w), ips = batch * 1000.0 / median;
    double gflops = 2 * gmac_image * ips;
    const char *isa = cutout_cpu_isa(), *clock_src = "none";
    double mhz = clock_mhz(&clock_src);
    double peak = flops_per_cycle(isa) * mhz / 1e3 * cutout_engine_threads(engine);
    int on_cpu = !strcmp(cutout_engine_backend_name(engine), "cpu") && peak > 0;
    printf("{\"model\":\"%s\",\"backend\":\"%s\",\"device\":\"%s\",\"threads\":%d,\"batch\":%d,"
           "\"height\":%d,\"width\":%d,\"iterations\":%d,\"load_ms\":%.2f,\"first_ms\":%.2f,"
           "\"median_ms\":%.2f,\"min_ms\":%.2f,\"p90_ms\":%.2f,\"images_per_s\":%.3f,"
           "\"gmac\":%.3f,\"peak_rss_mb\":%.1f,\"gmac_per_image\":%.3f,\"gflops\":%.2f",
           cutout_model_arch_name(model), cutout_engine_backend_name(engine),
           cutout_engine_device_name(engine), cutout_engine_threads(engine), batch, h, w,
           iterations, load_ms, first_ms, median, times[0], times[p90i], ips,
           gmac_image * batch, ru.ru_maxrss / 1024.0, gmac_image, gflops);
    if (on_cpu)
        printf(",\"isa\":\"%s\",\"clock_mhz\":%.0f,\"clock_source\":\"%s\","
               "\"peak_gflops\":%.1f,\"peak_fraction\":%.4f",
               isa, mhz, clock_src, peak, gflops / peak);
    else
        printf(",\"peak_gflops\":null,\"peak_fraction\":null");
    if (do_tune) printf(",\"tune_ms\":%.2f,\"tuned\":%s", tune_ms, tuned ? tuned : "[]");
    printf("}\n");
    rc = 0;
done:
    free(tuned);
    free(input);
    free(output);
    free(times);
    cutout_engine_free(engine);
    cutout_model_free(model);
    return rc;
}
