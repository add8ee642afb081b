/* Public engine API: backend choice, activation planning, forward passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#if CUTOUT_OPENCL
#include "cl_backend.h"
#endif
#include "cutout.h"
#include "model.h"
#include "net.h"
#include "plan.h"
#include "util.h"

/* Large enough for ISNet's 1024² input several times over, small enough that
 * a mistaken size fails before the planner asks for terabytes. */
#define MAX_SIDE 16384
#define MIN_SIDE 8

struct cutout_engine {
    const cutout_model *model;
    backend *bk;
    plan pl;
    cutout_engine_options opt;
};

void cutout_engine_options_default(cutout_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->backend = CUTOUT_BACKEND_AUTO;
    opt->max_batch = 1;
}

double cutout_model_gmac(const cutout_model *model, int h, int w)
{
    if (h < MIN_SIDE || w < MIN_SIDE || h > MAX_SIDE || w > MAX_SIDE) return -1.0;
    plan pl;
    cut_plan_init(&pl);
    double macs = 0;
    int rc = cut_net_forward(model, NULL, &pl, NULL, 1, h, w, 0, NULL, &macs, NULL, 0);
    cut_plan_free(&pl);
    return rc ? -1.0 : macs / 1e9;
}

static int check_size(int n, int h, int w, int max_n, int max_h, int max_w, char *err,
                      size_t errlen)
{
    if (n < 1 || n > max_n)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "engine: batch %d outside 1..%d", n, max_n);
    if (h < MIN_SIDE || w < MIN_SIDE || h > max_h || w > max_w)
        return cut_fail(err, errlen, CUTOUT_E_ARG,
                        "engine: input %dx%d outside %dx%d..%dx%d (height x width)", h, w,
                        MIN_SIDE, MIN_SIDE, max_h, max_w);
    return 0;
}

/* AUTO: a GPU or accelerator OpenCL device when there is one, else the CPU
 * backend (a CPU OpenCL device such as PoCL's only when opencl is asked for
 * explicitly). OpenCL failures other than "no such device" are reported, not
 * hidden behind the CPU fallback. */
static int create_backend(const cutout_engine_options *opt, backend **bk, char *err,
                          size_t errlen)
{
    if (opt->backend == CUTOUT_BACKEND_CPU)
        return cut_cpu_backend_create(opt->threads, bk, err, errlen);
#if CUTOUT_OPENCL
    int explicit = opt->backend == CUTOUT_BACKEND_OPENCL;
    int rc = cut_cl_backend_create(opt->device, explicit ? opt->require_gpu : 1, bk, err, errlen);
    if (!rc && opt->retune) cut_cl_retune(*bk, 1);
    if (rc == CUTOUT_E_UNSUPPORTED && !explicit && !opt->require_gpu)
        rc = cut_cpu_backend_create(opt->threads, bk, err, errlen);
    return rc;
#else
    if (opt->backend == CUTOUT_BACKEND_OPENCL || opt->require_gpu)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "%s: this libcutout was built without OpenCL (CUTOUT_OPENCL=0), so no "
                        "GPU can run it; only the cpu backend is available",
                        opt->require_gpu ? "require_gpu" : "opencl backend");
    return cut_cpu_backend_create(opt->threads, bk, err, errlen);
#endif
}

int cutout_engine_create(const cutout_model *model, const cutout_engine_options *opt_in,
                         cutout_engine **out, char *err, size_t errlen)
{
    if (!model || !out) return cut_fail(err, errlen, CUTOUT_E_ARG, "engine: no model");
    *out = NULL;
    cutout_engine_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        cutout_engine_options_default(&opt);
    if (opt.max_batch <= 0) opt.max_batch = 1;
    if (opt.max_height <= 0) opt.max_height = model->input_size;
    if (opt.max_width <= 0) opt.max_width = model->input_size;
    int rc = check_size(opt.max_batch, opt.max_height, opt.max_width, 4096, MAX_SIDE, MAX_SIDE,
                        err, errlen);
    if (rc) return rc;
    if (opt.threads < 0 || opt.threads > 1024)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "engine: %d threads is not a thread count",
                        opt.threads);
    if (opt.require_gpu && opt.backend == CUTOUT_BACKEND_CPU)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "engine: require_gpu with the cpu backend");

    cutout_engine *e = calloc(1, sizeof *e);
    if (!e) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "engine: out of memory");
    e->model = model;
    e->opt = opt;
    cut_plan_init(&e->pl);
    rc = cut_net_forward(model, NULL, &e->pl, NULL, opt.max_batch, opt.max_height, opt.max_width,
                     opt.side_outputs, NULL, NULL, err, errlen);
    if (!rc && cut_plan_finish(&e->pl))
        rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "engine: out of memory while planning");
    if (!rc) rc = create_backend(&opt, &e->bk, err, errlen);
    if (!rc) {
        e->bk->max_width = opt.max_width;
        e->bk->no_weight_cache = opt.no_weight_cache;
        rc = e->bk->ops->prepare(e->bk, model->convs, model->n_convs, e->pl.total);
        if (rc) cut_fail(err, errlen, rc, "%s backend: %s", e->bk->name, e->bk->err);
    }
    if (rc) {
        cutout_engine_free(e);
        return rc;
    }
    *out = e;
    return CUTOUT_OK;
}

void cutout_engine_free(cutout_engine *e)
{
    if (!e) return;
    if (e->bk) e->bk->ops->destroy(e->bk);
    cut_plan_free(&e->pl);
    free(e);
}

const char *cutout_engine_backend_name(const cutout_engine *e) { return e->bk->name; }
const char *cutout_engine_device_name(const cutout_engine *e) { return e->bk->device; }
cutout_weight_cache_state cutout_engine_weight_cache(const cutout_engine *e)
{
    return e->bk->weight_cache;
}
int cutout_engine_threads(const cutout_engine *e) { return e->bk->threads; }
size_t cutout_engine_arena_bytes(const cutout_engine *e) { return e->pl.total * sizeof(float); }

int cutout_engine_tuning(const cutout_engine *e, int i, cutout_tuning *out)
{
#if CUTOUT_OPENCL
    if (strcmp(e->bk->name, "opencl")) return 0;
    const clb_choice *c;
    int n = cut_cl_choices(e->bk, &c);
    for (int k = 0; k < n; k++) {
        if (!c[k].measured || i-- > 0) continue;
        snprintf(out->shape, sizeof out->shape, "%s", c[k].key);
        out->method = c[k].method == CLB_CONV_GEMM ? "gemm" : "direct";
        out->direct_ms = c[k].direct_ms;
        out->gemm_ms = c[k].gemm_ms;
        return 1;
    }
#else
    (void)e, (void)i, (void)out;
#endif
    return 0;
}

int cutout_engine_run(cutout_engine *e, const float *input, int n, int h, int w,
                      float *const *outputs, char *err, size_t errlen)
{
    if (!e || !input || !outputs || !outputs[0])
        return cut_fail(err, errlen, CUTOUT_E_ARG, "engine: missing input or output buffer");
    int rc = check_size(n, h, w, e->opt.max_batch, e->opt.max_height, e->opt.max_width, err,
                        errlen);
    if (rc) return rc;
    cut_plan_rewind(&e->pl);
    return cut_net_forward(e->model, e->bk, &e->pl, input, n, h, w, e->opt.side_outputs, outputs,
                       NULL, err, errlen);
}
