/* The OpenCL backend's GEMM path and the choice between it and the direct
 * kernel. GEMM path: for each image, output pixels in tiles; im2col of a
 * tile into a scratch buffer (never the whole layer: at 320² a 128-channel
 * layer would be 472 MB), CLBlastSgemm of the OIHW weights (cout × cin·k·k,
 * row-major) by the tile straight into dst, then one epilogue kernel for
 * bias, ReLU and the residual. Which path runs a conv is measured once per
 * shape on the device and remembered in a file keyed by device and driver
 * ($CUTOUT_CACHE_DIR or ~/.cache/cutout/cl-tune-HASH.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_backend.h" /* before clblast_c.h: it fixes the OpenCL version */
#include "util.h"

#include <clblast_c.h>

/* Largest im2col tile, in floats (64 MB). */
#define COL_MAX_FLOATS ((size_t)16 << 20)

static int ensure_col(cl_backend *cb, size_t floats)
{
    if (floats <= cb->col_floats) return 0;
    if (cb->col) clReleaseMemObject(cb->col);
    cb->col = NULL;
    cb->col_floats = 0;
    cl_int rc;
    cb->col = clCreateBuffer(cb->ctx, CL_MEM_READ_WRITE, floats * sizeof(float), NULL, &rc);
    if (rc != CL_SUCCESS) return clb_fail(cb, rc, "clCreateBuffer(im2col tile)");
    cb->col_floats = floats;
    return 0;
}

void clb_gemm_release(cl_backend *cb)
{
    if (cb->col) clReleaseMemObject(cb->col);
    cb->col = NULL;
    cb->col_floats = 0;
    free(cb->choices);
    cb->choices = NULL;
    cb->n_choices = cb->cap_choices = 0;
}

int clb_conv_gemm(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                  const bk_tensor *res, int relu)
{
    const bk_conv_desc *d = &cb->convs[ci];
    size_t kdim = (size_t)d->cin * d->k * d->k, plane = (size_t)dst.h * dst.w;
    size_t max_col = cb->max_alloc / sizeof(float) < COL_MAX_FLOATS
                         ? cb->max_alloc / sizeof(float)
                         : COL_MAX_FLOATS;
    size_t tile = max_col / kdim;
    if (tile >= plane)
        tile = plane;
    else if (tile >= 64)
        tile = tile / 64 * 64;
    if (tile == 0) return clb_error(cb, CUTOUT_E_NOMEM, "conv: one im2col column is too large");
    int rc = ensure_col(cb, tile * kdim);
    cl_int ca = a.c, ih = a.h, iw = a.w, ow = dst.w, k = d->k, stride = d->stride, pad = d->pad,
           dil = d->dil;
    for (int img = 0; img < dst.n && !rc; img++) {
        cl_ulong a_off = a.off + (size_t)img * a.nstride;
        cl_ulong b_off = b ? b->off + (size_t)img * b->nstride : 0;
        size_t c_off = dst.off + (size_t)img * dst.nstride;
        for (size_t p0 = 0; p0 < plane && !rc; p0 += tile) {
            cl_int first = (cl_int)p0, count = (cl_int)(plane - p0 < tile ? plane - p0 : tile);
            karg args[] = {KA(cb->arena), KA(cb->col), KA(a_off), KA(ca), KA(b_off),
                           KA(ih),        KA(iw),      KA(ow),    KA(k),  KA(stride),
                           KA(pad),       KA(dil),     KA(first), KA(count)};
            rc = clb_set_args(cb, cb->k_im2col, "im2col", args, 14);
            if (!rc)
                rc = clb_launch(cb, cb->k_im2col, "im2col", (size_t)count, kdim, 1,
                                LOCAL_X * LOCAL_Y, 1);
            if (rc) break;
            CLBlastStatusCode st = CLBlastSgemm(
                CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, (size_t)d->cout,
                (size_t)count, kdim, 1.0f, cb->params, cb->cp[ci].w_off, kdim, cb->col, 0,
                (size_t)count, 0.0f, cb->arena, c_off + p0, plane, &cb->q, NULL);
            if (st != CLBlastSuccess) {
                snprintf(cb->base.err, sizeof cb->base.err, "CLBlastSgemm(%d x %d x %zu): "
                         "CLBlast status %d", d->cout, count, kdim, (int)st);
                rc = CUTOUT_E_BACKEND;
            }
        }
    }
    if (rc) return rc;
    cl_ulong bias_off = cb->cp[ci].bias_off, d_off = dst.off, d_ns = dst.nstride;
    cl_ulong r_off = res ? res->off : 0, r_ns = res ? res->nstride : 0;
    cl_int has_res = res != NULL, relu_i = relu, cout = d->cout, plane_i = (cl_int)plane;
    karg args[] = {KA(cb->arena), KA(cb->params), KA(bias_off), KA(d_off), KA(d_ns), KA(r_off),
                   KA(r_ns),      KA(has_res),    KA(relu_i),   KA(cout),  KA(plane_i)};
    rc = clb_set_args(cb, cb->k_epilogue, "conv_epilogue", args, 11);
    if (!rc)
        rc = clb_launch(cb, cb->k_epilogue, "conv_epilogue", plane, (size_t)cout, (size_t)dst.n,
                        LOCAL_X * LOCAL_Y, 1);
    return rc;
}

/* ---- the per-shape choice and its disk cache ---- */

static int tune_path(cl_backend *cb, char *path, size_t len)
{
    char dir[3072];
    if (cl_cache_dir(dir, sizeof dir)) return -1;
    int w = snprintf(path, len, "%s/cl-tune-%016llx.txt", dir, (unsigned long long)cb->dev_hash);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

static int remember(cl_backend *cb, const char *key, int method)
{
    if (cb->n_choices == cb->cap_choices) {
        int ncap = cb->cap_choices ? 2 * cb->cap_choices : 64;
        clb_choice *nc = realloc(cb->choices, (size_t)ncap * sizeof *nc);
        if (!nc) return -1;
        cb->choices = nc;
        cb->cap_choices = ncap;
    }
    clb_choice *c = &cb->choices[cb->n_choices++];
    snprintf(c->key, sizeof c->key, "%s", key);
    c->method = method;
    return 0;
}

/* Lines "KEY<TAB>direct|gemm"; anything else is ignored (a cache, not a config). */
static void load_choices(cl_backend *cb)
{
    cb->choices_loaded = 1;
    char path[4096], line[256];
    if (tune_path(cb, path, sizeof path)) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab || (size_t)(tab - line) >= sizeof cb->choices->key) continue;
        *tab = 0;
        int method = !strncmp(tab + 1, "gemm", 4) ? CLB_CONV_GEMM
                     : !strncmp(tab + 1, "direct", 6) ? CLB_CONV_DIRECT
                                                       : -1;
        if (method >= 0 && remember(cb, line, method)) break;
    }
    fclose(f);
}

static void store_choice(cl_backend *cb, const char *key, int method)
{
    char path[4096];
    if (tune_path(cb, path, sizeof path)) return;
    FILE *f = fopen(path, "a"); /* one short line per write: appends do not interleave */
    if (!f) return;
    fprintf(f, "%s\t%s\n", key, method == CLB_CONV_GEMM ? "gemm" : "direct");
    fclose(f);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs one path to completion; its wall time in ms, or a negative code. */
static double timed(cl_backend *cb, int method, int ci, bk_tensor dst, bk_tensor a,
                    const bk_tensor *b, const bk_tensor *res, int relu, int *rc)
{
    double t0 = now_ms();
    *rc = method == CLB_CONV_GEMM ? clb_conv_gemm(cb, ci, dst, a, b, res, relu)
                                  : clb_conv_direct(cb, ci, dst, a, b, res, relu);
    cl_int e = clFinish(cb->q);
    if (!*rc && e != CL_SUCCESS) *rc = clb_fail(cb, e, "clFinish");
    return now_ms() - t0;
}

int clb_conv_choose(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                    const bk_tensor *res, int relu, int *method, int *done)
{
    *done = 0;
    if (cb->force_method != CLB_CONV_AUTO) {
        *method = cb->force_method;
        return 0;
    }
    const bk_conv_desc *d = &cb->convs[ci];
    char key[96];
    snprintf(key, sizeof key, "k%d s%d d%d cin%d cout%d %dx%d n%d", d->k, d->stride, d->dil,
             d->cin, d->cout, a.h, a.w, dst.n);
    if (!cb->choices_loaded) load_choices(cb);
    for (int i = 0; i < cb->n_choices; i++)
        if (!strcmp(cb->choices[i].key, key)) {
            *method = cb->choices[i].method;
            return 0;
        }
    /* Measure: each path once to warm up (CLBlast compiles its kernels on
     * first use), then once timed. The GEMM path runs last, so when it
     * succeeds dst holds its result; when it fails the direct kernel wins. */
    int rc;
    timed(cb, CLB_CONV_DIRECT, ci, dst, a, b, res, relu, &rc);
    if (rc) return rc;
    double t_direct = timed(cb, CLB_CONV_DIRECT, ci, dst, a, b, res, relu, &rc);
    if (rc) return rc;
    timed(cb, CLB_CONV_GEMM, ci, dst, a, b, res, relu, &rc);
    double t_gemm = rc ? 0 : timed(cb, CLB_CONV_GEMM, ci, dst, a, b, res, relu, &rc);
    *method = !rc && t_gemm < t_direct ? CLB_CONV_GEMM : CLB_CONV_DIRECT;
    *done = *method == CLB_CONV_GEMM; /* else recompute dst with the direct kernel */
    if (remember(cb, key, *method) == 0) store_choice(cb, key, *method);
    return 0;
}
