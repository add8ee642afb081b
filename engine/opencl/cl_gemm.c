/* The OpenCL backend's GEMM path and the choice between it and the direct
 * kernel. GEMM path: for each image, output pixels in tiles; im2col of a
 * tile into a scratch buffer (never the whole layer: at 320² a 128-channel
 * layer would be 472 MB), CLBlastSgemm of the OIHW weights (cout × cin·k·k,
 * row-major) by the tile straight into dst, then one epilogue kernel for
 * bias, ReLU and the residual. Which path runs a conv is measured once per
 * shape on the device and remembered in a file keyed by device, driver and
 * kernels ($CUTOUT_CACHE_DIR or ~/.cache/cutout/cl-tuneN-HASH.txt). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_backend.h" /* before clblast_c.h: it fixes the OpenCL version */
#include "clock.h"
#include "cache_dir.h"
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
    if (rc != CL_SUCCESS) return cut_cl_fail(cb, rc, "clCreateBuffer(im2col tile)");
    cb->col_floats = floats;
    return 0;
}

void cut_cl_gemm_release(cl_backend *cb)
{
    if (cb->col) clReleaseMemObject(cb->col);
    cb->col = NULL;
    cb->col_floats = 0;
    free(cb->choices);
    cb->choices = NULL;
    cb->n_choices = cb->cap_choices = 0;
}

int cut_cl_conv_gemm(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
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
    if (tile == 0) return cut_cl_error(cb, CUTOUT_E_NOMEM, "conv: one im2col column is too large");
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
            rc = cut_cl_set_args(cb, cb->k_im2col, "im2col", args, 14);
            if (!rc)
                rc = cut_cl_launch(cb, cb->k_im2col, "im2col", (size_t)count, kdim, 1,
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
    rc = cut_cl_set_args(cb, cb->k_epilogue, "conv_epilogue", args, 11);
    if (!rc)
        rc = cut_cl_launch(cb, cb->k_epilogue, "conv_epilogue", plane, (size_t)cout, (size_t)dst.n,
                        LOCAL_X * LOCAL_Y, 1);
    return rc;
}

/* ---- the per-shape choice and its disk cache ----
 *
 * Measuring once picks whichever path happened to run while another process
 * had the CPU (or the GPU clocked up). So: one untimed run of each path
 * (CLBlast builds its kernels on first use, PoCL compiles a kernel per
 * work-group size on first launch), then TUNE_REPEATS timed runs of each,
 * interleaved so drift in the machine's load hits both, and the fastest run
 * of each compared (interference only ever adds time, so the minimum is the
 * best estimate of a path's own cost). GEMM must win by TUNE_MARGIN: the
 * direct kernel needs no scratch buffer and one launch, and a near tie is
 * noise, not a reason to switch. Repeats stop early once one path's best is
 * TUNE_CLEAR times the other's: more than the 2-2.5x that a second job on
 * the machine was seen to add, so no amount of noise flips that verdict, and
 * the clear cases (on PoCL, CLBlast is 3-80x behind the direct kernel on
 * every u2netp shape) do not pay for the close ones.
 *
 * The cache file's name carries the format version and a hash of everything
 * a measurement depends on (device, driver, kernel sources and build
 * options): a new driver or a changed kernel starts a new file. Lines are
 * "KEY<TAB>direct|gemm<TAB>direct_ms<TAB>gemm_ms"; anything else is ignored
 * (a cache, not a config); for a key seen twice the last line counts. */
#define TUNE_FORMAT 2
#define TUNE_REPEATS 5
#define TUNE_MARGIN 0.10
#define TUNE_CLEAR 3.0

static int tune_path(cl_backend *cb, char *path, size_t len)
{
    char dir[3072];
    if (cut_cache_dir(dir, sizeof dir)) return -1;
    int w = snprintf(path, len, "%s/cl-tune%d-%016llx.txt", dir, TUNE_FORMAT,
                     (unsigned long long)cb->tune_hash);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

static clb_choice *find_choice(cl_backend *cb, const char *key)
{
    for (int i = cb->n_choices - 1; i >= 0; i--)
        if (!strcmp(cb->choices[i].key, key)) return &cb->choices[i];
    return NULL;
}

static clb_choice *remember(cl_backend *cb, const char *key)
{
    clb_choice *c = find_choice(cb, key);
    if (c) return c;
    if (cb->n_choices == cb->cap_choices) {
        int ncap = cb->cap_choices ? 2 * cb->cap_choices : 64;
        clb_choice *nc = realloc(cb->choices, (size_t)ncap * sizeof *nc);
        if (!nc) return NULL;
        cb->choices = nc;
        cb->cap_choices = ncap;
    }
    c = &cb->choices[cb->n_choices++];
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%s", key);
    return c;
}

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
        char method[16];
        double td = 0, tg = 0;
        if (sscanf(tab + 1, "%15s %lf %lf", method, &td, &tg) < 1) continue;
        int m = !strcmp(method, "gemm") ? CLB_CONV_GEMM
                : !strcmp(method, "direct") ? CLB_CONV_DIRECT
                                            : -1;
        if (m < 0) continue;
        clb_choice *c = remember(cb, line);
        if (!c) break;
        c->method = m;
        c->direct_ms = td;
        c->gemm_ms = tg;
    }
    fclose(f);
}

static void store_choice(cl_backend *cb, const clb_choice *c)
{
    char path[4096];
    if (tune_path(cb, path, sizeof path)) return;
    FILE *f = fopen(path, "a"); /* one short line per write: appends do not interleave */
    if (!f) return;
    fprintf(f, "%s\t%s\t%.4f\t%.4f\n", c->key, c->method == CLB_CONV_GEMM ? "gemm" : "direct",
            c->direct_ms, c->gemm_ms);
    fclose(f);
}

/* Runs one path to completion; its wall time in ms. */
static double timed(cl_backend *cb, int method, int ci, bk_tensor dst, bk_tensor a,
                    const bk_tensor *b, const bk_tensor *res, int relu, int *rc)
{
    double t0 = cut_now_ms();
    *rc = method == CLB_CONV_GEMM ? cut_cl_conv_gemm(cb, ci, dst, a, b, res, relu)
                                  : cut_cl_conv_direct(cb, ci, dst, a, b, res, relu);
    cl_int e = clFinish(cb->q);
    if (!*rc && e != CL_SUCCESS) *rc = cut_cl_fail(cb, e, "clFinish");
    return cut_now_ms() - t0;
}

/* Both paths, warmed up, up to TUNE_REPEATS times each, interleaved; the
 * best time of each into c (gemm_ms < 0: the GEMM path failed). The direct
 * kernel runs last, so dst holds its result. Running a conv again is only
 * harmless when dst overlaps no input (the caller checks). */
static int measure(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                   const bk_tensor *res, int relu, clb_choice *c)
{
    int rc, grc;
    timed(cb, CLB_CONV_GEMM, ci, dst, a, b, res, relu, &grc);
    timed(cb, CLB_CONV_DIRECT, ci, dst, a, b, res, relu, &rc);
    double best_d = INFINITY, best_g = INFINITY;
    for (int r = 0; r < TUNE_REPEATS && !rc; r++) {
        if (!grc) {
            double t = timed(cb, CLB_CONV_GEMM, ci, dst, a, b, res, relu, &grc);
            if (!grc && t < best_g) best_g = t;
        }
        double t = timed(cb, CLB_CONV_DIRECT, ci, dst, a, b, res, relu, &rc);
        if (t < best_d) best_d = t;
        if (grc || best_g > TUNE_CLEAR * best_d || best_d > TUNE_CLEAR * best_g) break;
    }
    if (rc) return rc;
    c->direct_ms = best_d;
    c->gemm_ms = grc ? -1 : best_g;
    c->method = !grc && best_g < best_d * (1 - TUNE_MARGIN) ? CLB_CONV_GEMM : CLB_CONV_DIRECT;
    c->measured = 1;
    return 0;
}

/* Whether two views' spans in the arena intersect. */
static int overlaps(bk_tensor x, const bk_tensor *y)
{
    size_t xe = x.off + (size_t)(x.n - 1) * x.nstride + (size_t)x.c * x.h * x.w;
    size_t ye = y->off + (size_t)(y->n - 1) * y->nstride + (size_t)y->c * y->h * y->w;
    return x.off < ye && y->off < xe;
}

int cut_cl_conv_choose(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
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
    clb_choice *c = find_choice(cb, key);
    if (c && (c->measured || !cb->retune)) {
        *method = c->method;
        return 0;
    }
    /* Measuring runs the conv several times: only where that is harmless. */
    if (overlaps(dst, &a) || (b && overlaps(dst, b)) || (res && overlaps(dst, res))) {
        *method = c ? c->method : CLB_CONV_DIRECT;
        return 0;
    }
    clb_choice m = {0};
    int rc = measure(cb, ci, dst, a, b, res, relu, &m);
    if (rc) return rc;
    *method = m.method;
    *done = 1; /* dst holds the direct kernel's result, equal to GEMM's within rounding */
    c = remember(cb, key);
    if (c) {
        snprintf(m.key, sizeof m.key, "%s", key);
        *c = m;
        store_choice(cb, c);
    }
    return 0;
}

void cut_cl_retune(backend *bk, int on) { ((cl_backend *)bk)->retune = on; }

int cut_cl_choices(backend *bk, const clb_choice **list)
{
    cl_backend *cb = (cl_backend *)bk;
    *list = cb->choices;
    return cb->n_choices;
}
