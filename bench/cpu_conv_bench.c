/* Per-layer timing of the CPU backend inside a real forward pass: wraps the
 * backend, times every op, and prints one row per conv shape with its
 * effective GFLOP/s (2 × the direct convolution's MACs / time), then the
 * other ops and the whole pass.
 *
 *   make BUILD=build all
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Iengine/include -Iengine/base -Iengine/model -Iengine/net -Iengine/cpu bench/cpu_conv_bench.c \
 *      build/libcutout.a -lopenblas -lpng16 -ldeflate -lz -ljpeg -lwebp -lwebpdemux -lpthread -lm \
 *      -o build/cpu_conv_bench
 *   build/cpu_conv_bench MODEL.onnx [--size S] [--threads T] [--iterations N]
 *   build/cpu_conv_bench --conv COUT,CIN,H,W,DIL [--threads T] [--iterations N]
 *   [--method im2col|winograd|direct]: that method wherever it applies
 *
 * The second form times one 3×3 conv (pad = dilation, bias, ReLU) alone on
 * random data, best and median of N calls.
 * Times are the median over N passes (after one warm-up) of each op's
 * summed time per pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "cpu_backend.h"
#include "model.h"
#include "net.h"
#include "plan.h"

static double cpu_ms(void) /* CPU time of the whole process: immune to time-sharing */
{
    return 1e3 * cut_clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

enum { MAX_CONVS = 512, MAX_ITERS = 64 };

typedef struct {
    backend base;
    backend *inner;
    const bk_conv_desc *convs;
    int iter;
    double conv_ms[MAX_CONVS][MAX_ITERS];
    int oh[MAX_CONVS], ow[MAX_CONVS], n[MAX_CONVS];
    double pool_ms[MAX_ITERS], resize_ms[MAX_ITERS], other_ms[MAX_ITERS];
} timed;

static int t_prepare(backend *bk, const bk_conv_desc *c, int n, size_t f)
{
    timed *t = (timed *)bk;
    t->convs = c;
    int rc = t->inner->ops->prepare(t->inner, c, n, f);
    if (rc) snprintf(bk->err, sizeof bk->err, "%s", t->inner->err);
    return rc;
}
static int t_write(backend *bk, bk_tensor d, const float *h)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->write(t->inner, d, h);
    t->other_ms[t->iter] += cut_now_ms() - t0;
    return rc;
}
static int t_read(backend *bk, bk_tensor s, float *h)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->read(t->inner, s, h);
    t->other_ms[t->iter] += cut_now_ms() - t0;
    return rc;
}
static int t_conv(backend *bk, int i, bk_tensor d, bk_tensor a, const bk_conv_fuse *f)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->conv(t->inner, i, d, a, f);
    t->conv_ms[i][t->iter] += cut_now_ms() - t0;
    t->oh[i] = d.h;
    t->ow[i] = d.w;
    t->n[i] = d.n;
    if (rc) snprintf(bk->err, sizeof bk->err, "%s", t->inner->err);
    return rc;
}
static int t_pool(backend *bk, bk_tensor d, bk_tensor s)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->maxpool2(t->inner, d, s);
    t->pool_ms[t->iter] += cut_now_ms() - t0;
    return rc;
}
static int t_resize(backend *bk, bk_tensor d, bk_tensor s)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->resize(t->inner, d, s);
    t->resize_ms[t->iter] += cut_now_ms() - t0;
    return rc;
}
static int t_sigmoid(backend *bk, bk_tensor d, bk_tensor s)
{
    timed *t = (timed *)bk;
    double t0 = cut_now_ms();
    int rc = t->inner->ops->sigmoid(t->inner, d, s);
    t->other_ms[t->iter] += cut_now_ms() - t0;
    return rc;
}
static void t_destroy(backend *bk) { (void)bk; }

static const backend_ops timed_ops = {t_prepare, t_write,  t_read,    t_conv,
                                      t_pool,    t_resize, t_sigmoid, t_destroy};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_ITERS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static int method_of(const char *name)
{
    return !strcmp(name, "im2col") ? CPU_CONV_IM2COL
           : !strcmp(name, "winograd") ? CPU_CONV_WINOGRAD
           : !strcmp(name, "direct") ? CPU_CONV_DIRECT
                                    : -1;
}

static const char *method_name(cpu_conv_method m)
{
    return m == CPU_CONV_WINOGRAD ? "winograd" : m == CPU_CONV_DIRECT ? "direct" : "im2col";
}

static int one_conv(const char *spec, int threads, int iters, int method)
{
    int cout, cin, h, w, dil;
    if (sscanf(spec, "%d,%d,%d,%d,%d", &cout, &cin, &h, &w, &dil) != 5) return 2;
    size_t wn = (size_t)cout * cin * 9, in = (size_t)cin * h * w, out = (size_t)cout * h * w;
    float *wt = malloc(wn * sizeof(float)), *bias = calloc((size_t)cout, sizeof(float));
    float *x = malloc(in * sizeof(float));
    for (size_t i = 0; i < wn; i++) wt[i] = (float)((i * 7919) % 1000) / 500000 - 0.001f;
    for (size_t i = 0; i < in; i++) x[i] = (float)((i * 104729) % 1000) / 500 - 1;
    bk_conv_desc d = {cin, cout, 3, 1, dil, dil, wt, bias};
    backend *bk;
    char err[256];
    if (cut_cpu_backend_create(threads, &bk, err, sizeof err)) return 1;
    ((cpu_backend *)bk)->force_method = method;
    if (bk->ops->prepare(bk, &d, 1, in + out)) return 1;
    bk_tensor ta = {0, in, 1, cin, h, w}, td = {in, out, 1, cout, h, w};
    bk->ops->write(bk, ta, x);
    bk_conv_fuse f = {NULL, NULL, 1};
    double ms[MAX_ITERS], cms[MAX_ITERS], best = 1e30;
    bk->ops->conv(bk, 0, td, ta, &f);
    for (int i = 0; i < iters; i++) {
        double t0 = cut_now_ms(), c0 = cpu_ms();
        bk->ops->conv(bk, 0, td, ta, &f);
        ms[i] = cut_now_ms() - t0;
        cms[i] = cpu_ms() - c0;
        if (ms[i] < best) best = ms[i];
    }
    double gflop = 2e-9 * out * cin * 9;
    double cpu = median(cms, iters);
    printf("conv cout=%d cin=%d %dx%d d=%d %s threads=%d: best %.2f ms (%.1f GFLOP/s), median %.2f "
           "ms; CPU time median %.2f ms (%.1f GFLOP/s per thread)\n",
           cout, cin, h, w, dil, method_name(((cpu_backend *)bk)->plans[0].method), threads, best, gflop / best * 1e3, median(ms, iters), cpu, gflop / cpu * 1e3);
    bk->ops->destroy(bk);
    free(wt);
    free(bias);
    free(x);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--conv")) {
        int threads = 1, iters = 10, method = -1;
        for (int i = 3; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--iterations")) iters = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--method")) method = method_of(argv[i + 1]);
        }
        if (iters < 1 || iters > MAX_ITERS) iters = 10;
        return one_conv(argv[2], threads, iters, method);
    }
    if (argc < 2) {
        fprintf(stderr, "usage: cpu_conv_bench MODEL.onnx [--size S] [--threads T] "
                        "[--iterations N]\n");
        return 2;
    }
    int size = 320, threads = 2, iters = 5, method = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iterations")) iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--method")) method = method_of(argv[i + 1]);
    }
    if (iters < 1) iters = 1;
    if (iters > MAX_ITERS - 1) iters = MAX_ITERS - 1;
    char err[512];
    cutout_model *m;
    if (cutout_model_load_file(argv[1], &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (m->n_convs > MAX_CONVS) return 1;
    static timed t;
    t.base.ops = &timed_ops;
    if (cut_cpu_backend_create(threads, &t.inner, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ((cpu_backend *)t.inner)->force_method = method;
    plan pl;
    cut_plan_init(&pl);
    double macs = 0;
    if (cut_net_forward(m, NULL, &pl, NULL, 1, size, size, 0, NULL, &macs, err, sizeof err) ||
        cut_plan_finish(&pl) || t_prepare(&t.base, m->convs, m->n_convs, pl.total)) {
        fprintf(stderr, "plan/prepare failed: %s %s\n", err, t.base.err);
        return 1;
    }
    float *in = malloc((size_t)3 * size * size * sizeof(float));
    float *out = malloc((size_t)size * size * sizeof(float));
    for (size_t i = 0; i < (size_t)3 * size * size; i++) in[i] = (float)((i * 7919) % 1000) / 500 - 1;
    double total[MAX_ITERS], cpu[MAX_ITERS];
    for (int it = 0; it <= iters; it++) {
        t.iter = it == 0 ? MAX_ITERS - 1 : it - 1; /* warm-up lands in the spare slot */
        cut_plan_rewind(&pl);
        double t0 = cut_now_ms(), c0 = cpu_ms();
        if (cut_net_forward(m, &t.base, &pl, in, 1, size, size, 0, &out, NULL, err, sizeof err)) {
            fprintf(stderr, "forward failed: %s\n", err);
            return 1;
        }
        if (it > 0) {
            total[it - 1] = cut_now_ms() - t0;
            cpu[it - 1] = cpu_ms() - c0;
        }
    }
    cpu_backend *cb = (cpu_backend *)t.inner;
    printf("model %s, %dx%d, %d threads, median of %d passes; weights as laid out: %.1f MB\n",
           m->name, size, size, threads, iters, cb->weight_floats * 4.0 / 1e6);
    printf("| cout | cin | k | s | d | out | method | convs | ms | GMAC | GFLOP/s |\n");
    printf("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n");
    int done[MAX_CONVS] = {0};
    double conv_total = 0;
    for (int i = 0; i < m->n_convs; i++) {
        if (done[i]) continue;
        const bk_conv_desc *d = &m->convs[i];
        int count = 0;
        double ms = 0, gmac = 0;
        for (int k = i; k < m->n_convs; k++) {
            const bk_conv_desc *e = &m->convs[k];
            if (done[k] || e->cout != d->cout || e->cin != d->cin || e->k != d->k ||
                e->stride != d->stride || e->dil != d->dil || t.oh[k] != t.oh[i] ||
                t.ow[k] != t.ow[i])
                continue;
            done[k] = 1;
            count++;
            ms += median(t.conv_ms[k], iters);
            gmac += 1e-9 * t.n[k] * t.oh[k] * t.ow[k] * (double)d->cout * d->cin * d->k * d->k;
        }
        conv_total += ms;
        printf("| %d | %d | %d | %d | %d | %dx%d | %s | %d | %.2f | %.3f | %.1f |\n", d->cout,
               d->cin, d->k, d->stride, d->dil, t.oh[i], t.ow[i],
               method_name(cb->plans[i].method), count, ms, gmac,
               ms > 0 ? 2 * gmac / ms * 1e3 : 0);
    }
    printf("\nconvs %.1f ms (%.2f GMAC, %.1f GFLOP/s effective), maxpool %.1f ms, resize %.1f ms, "
           "other %.1f ms; whole pass median %.1f ms, CPU time median %.1f ms\n",
           conv_total, macs * 1e-9, 2 * macs * 1e-9 / conv_total * 1e3, median(t.pool_ms, iters),
           median(t.resize_ms, iters), median(t.other_ms, iters), median(total, iters),
           median(cpu, iters));
    cut_plan_free(&pl);
    t.inner->ops->destroy(t.inner);
    cutout_model_free(m);
    free(in);
    free(out);
    return 0;
}
