/* CPU convolution: the per-conv method (cpu_conv_choose: Winograd,
 * cpu_winograd.c; direct, cpu_direct.c; im2col + GEMM), weight layout in
 * prepare, shape checks, and the im2col path.
 *
 * im2col path: output pixels are cut into tiles; for each tile the receptive
 * fields are gathered straight into engine/cpu/gemm.c's packed-B panels (im2col
 * of the tile only, never of the whole layer) and multiplied by the weights
 * packed once in prepare; bias, ReLU and the residual are fused into the
 * GEMM's store. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pretouch.h"
#include "cpu_backend.h"
#include "cpu_direct.h"
#include "cpu_weight_cache.h"
#include "cpu_winograd.h"
#include "gemm.h"
#include "util.h"

/* Target im2col tile size in floats: 128 K floats = 512 KB, this core's L2. */
#ifndef CONV_TILE_FLOATS
#define CONV_TILE_FLOATS (128 * 1024)
#endif

/* Output pixels per im2col tile for a reduction length K: a multiple of
 * the GEMM panel width. */
static int conv_tile(int K)
{
    int t = CONV_TILE_FLOATS / (K > 0 ? K : 1);
    if (t > 1024) t = 1024;
    t = t / GEMM_NR * GEMM_NR;
    return t < 64 ? 64 : t;
}

int cut_cpu_conv_method_applies(cpu_conv_method m, const bk_conv_desc *d)
{
    switch (m) {
    case CPU_CONV_IM2COL: return 1;
    case CPU_CONV_WINOGRAD: return d->k == 3 && d->stride == 1;
    case CPU_CONV_DIRECT: return d->stride == 1;
    }
    return 0;
}

/* The rule, from measurements on u2netp's shapes (bench/results/cpu-conv-*.md):
 * - 3×3 stride 1 with at most 2 output channels (the side heads): direct.
 *   Winograd would transform every input channel for one output; im2col
 *   copies nine times the input for a GEMM of one row.
 * - other 3×3 stride 1 (every dilation): Winograd F(4×4, 3×3), 2.5-4× the
 *   im2col GEMM's effective rate; with 3 input channels (the stem) it ties
 *   im2col and beats direct.
 * - anything else (1×1, stride 2): im2col + GEMM. */
static cpu_conv_method cpu_conv_choose(const bk_conv_desc *d)
{
    if (d->k == 3 && d->stride == 1 && d->cout <= 2) return CPU_CONV_DIRECT;
    if (d->k == 3 && d->stride == 1) return CPU_CONV_WINOGRAD;
    return CPU_CONV_IM2COL;
}

void cut_cpu_conv_release(cpu_backend *cb)
{
    if (cb->wmap) munmap(cb->wmap, cb->wmap_bytes);
    cb->wmap = NULL;
    cb->wmap_bytes = 0;
    free(cb->plans);
    cb->plans = NULL;
    free(cb->scratch);
    cb->scratch = NULL;
    cb->scratch_floats = 0;
    cb->weight_floats = 0;
}

static float *alloc_floats(size_t n)
{
    size_t bytes;
    if (!cut_mul_size(n ? n : 1, sizeof(float), &bytes) || bytes > SIZE_MAX - 63) return NULL;
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* Output channels per weight-layout task: enough work per task (at least
 * 2304 weights a task for 3×3 convs of 256 inputs) that claiming it costs
 * nothing, few enough tasks per conv that small convs still spread out. */
#define LAYOUT_ROWS 16

/* The weight layout of every conv, as pool tasks: task t lays out rows
 * [r0, r0 + LAYOUT_ROWS) of the conv whose first task is <= t. */
typedef struct {
    cpu_backend *cb;
    const int *first_task; /* per conv, n_convs + 1 entries */
} layout_job;

/* Output channels [r0, r1) of one conv's weights into its packed layout. */
static void layout_rows(const bk_conv_desc *d, cpu_conv_method m, float *packed, int r0, int r1)
{
    int K = d->cin * d->k * d->k;
    if (m == CPU_CONV_WINOGRAD)
        cut_wino_transform_weights_rows(d, packed, r0, r1);
    else if (m == CPU_CONV_IM2COL)
        cut_gemm_pack_a_rows(d->weight, (size_t)K, d->cout, K, r0, r1 - r0, packed);
}

static void layout_task(void *p, int t, int thread)
{
    (void)thread;
    const layout_job *j = p;
    int lo = 0, hi = j->cb->n_convs; /* the conv: last first_task <= t */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (j->first_task[mid] <= t) lo = mid; else hi = mid;
    }
    const bk_conv_desc *d = &j->cb->convs[lo];
    int r0 = (t - j->first_task[lo]) * LAYOUT_ROWS;
    int r1 = r0 + LAYOUT_ROWS < d->cout ? r0 + LAYOUT_ROWS : d->cout;
    layout_rows(d, j->cb->plans[lo].method, j->cb->plans[lo].packed, r0, r1);
}

/* Lays out every conv's weights on the pool's threads (the transforms are
 * most of the load time of a large model). */
static int layout_weights(cpu_backend *cb)
{
    int *first = malloc(((size_t)cb->n_convs + 1) * sizeof *first);
    if (!first) return -1;
    int tasks = 0;
    for (int i = 0; i < cb->n_convs; i++) {
        first[i] = tasks;
        if (cb->plans[i].packed) tasks += (cb->convs[i].cout + LAYOUT_ROWS - 1) / LAYOUT_ROWS;
    }
    first[cb->n_convs] = tasks;
    layout_job j = {cb, first};
    cut_pool_run(cb->tp, tasks, layout_task, &j);
    free(first);
    return 0;
}

/* Whether the mapped cache holds what this build's layout code writes: the
 * smallest conv of each packed method laid out again and compared. Catches a
 * layout changed without a WC_FORMAT bump. */
static int cache_spot_check(const cpu_backend *cb, const size_t *floats)
{
    for (int m = CPU_CONV_IM2COL; m <= CPU_CONV_WINOGRAD; m++) {
        int best = -1;
        for (int i = 0; i < cb->n_convs; i++)
            if (cb->plans[i].method == (cpu_conv_method)m &&
                (best < 0 || floats[i] < floats[best]))
                best = i;
        if (best < 0) continue;
        float *again = calloc(floats[best] ? floats[best] : 1, sizeof(float));
        if (!again) return 0;
        layout_rows(&cb->convs[best], (cpu_conv_method)m, again, 0, cb->convs[best].cout);
        int same = !memcmp(again, cb->plans[best].packed, floats[best] * sizeof(float));
        free(again);
        if (!same) return 0;
    }
    return 1;
}

static void point_plans(cpu_backend *cb, float *block, const size_t *floats)
{
    size_t at = 0;
    for (int i = 0; i < cb->n_convs; i++)
        if (cb->plans[i].method != CPU_CONV_DIRECT) {
            cb->plans[i].packed = block + at;
            at += (floats[i] + 15) / 16 * 16; /* every conv's part 64-byte aligned */
        }
}

/* Every packed conv's weights in one block of total floats: mapped from the
 * weight cache when it holds them, else laid out here (and the cache
 * written). The block is zeroed pages, so the layouts' padding is zero and
 * the file the same for every run. */
static int place_weights(cpu_backend *cb, const size_t *floats, size_t total)
{
    backend *bk = &cb->base;
    size_t bytes;
    bk->weight_cache = CUTOUT_WEIGHT_CACHE_UNUSED;
    if (!total) return 0;
    if (!cut_mul_size(total, sizeof(float), &bytes)) return -1;
    char path[4200];
    uint64_t key = 0;
    int cached = !bk->no_weight_cache && bytes >= CUT_WCACHE_MIN_BYTES &&
                 !cut_wcache_path(key = cut_wcache_key(cb), path, sizeof path);
    if (cached) {
        void *w = cut_wcache_load(cb->tp, path, key, bytes, &cb->wmap, &cb->wmap_bytes);
        if (w) {
            point_plans(cb, w, floats);
            if (cache_spot_check(cb, floats)) {
                bk->weight_cache = CUTOUT_WEIGHT_CACHE_HIT;
                return 0;
            }
            munmap(cb->wmap, cb->wmap_bytes);
            cb->wmap = NULL;
        }
    }
    /* A miss: laid out straight into the new cache file's pages, or, when
     * it cannot be created, into anonymous memory. */
    cut_wcache_new nw;
    void *block = cached ? cut_wcache_begin(path, bytes, &nw) : NULL;
    int to_file = block != NULL;
    if (to_file) {
        cb->wmap = nw.map;
        cb->wmap_bytes = nw.map_bytes;
    } else {
        block = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (block == MAP_FAILED) return -1;
        cb->wmap = block;
        cb->wmap_bytes = bytes;
    }
    cut_pool_touch(cb->tp, block, bytes);
    point_plans(cb, block, floats);
    if (layout_weights(cb)) {
        if (to_file) cut_wcache_abandon(&nw);
        return -1;
    }
    if (cached)
        bk->weight_cache = to_file && !cut_wcache_commit(cb->tp, &nw, key)
                               ? CUTOUT_WEIGHT_CACHE_WRITTEN
                               : CUTOUT_WEIGHT_CACHE_NOT_WRITTEN;
    return 0;
}

int cut_cpu_conv_prepare(cpu_backend *cb)
{
    backend *bk = &cb->base;
    size_t n = cb->n_convs > 0 ? (size_t)cb->n_convs : 1;
    size_t *floats = calloc(n, sizeof *floats);
    cb->plans = calloc(n, sizeof *cb->plans);
    if (!cb->plans || !floats) goto nomem;
    size_t need = 0, total = 0;
    for (int i = 0; i < cb->n_convs; i++) {
        const bk_conv_desc *d = &cb->convs[i];
        if (d->cin < 1 || d->cout < 1 || d->k < 1 || d->stride < 1 || d->dil < 1 || d->pad < 0) {
            free(floats);
            cut_cpu_conv_release(cb);
            snprintf(bk->err, sizeof bk->err, "conv %d: unsupported parameters", i);
            return CUTOUT_E_ARG;
        }
        cpu_conv_plan *p = &cb->plans[i];
        p->method = cpu_conv_choose(d);
        if (cb->force_method >= 0 &&
            cut_cpu_conv_method_applies((cpu_conv_method)cb->force_method, d))
            p->method = (cpu_conv_method)cb->force_method;
        size_t K = (size_t)d->cin * d->k * d->k, f = 0, scratch = 0;
        if (p->method == CPU_CONV_DIRECT) {
            p->packed = NULL; /* reads the descriptor's weights; row buffers: cpu_prepare */
            continue;
        }
        if (p->method == CPU_CONV_WINOGRAD) {
            f = cut_wino_weight_floats(d);
            scratch = cut_wino_scratch_floats(d);
        } else {
            f = cut_gemm_packed_a_floats(d->cout, (int)K);
            scratch = cut_gemm_packed_b_floats((int)K, conv_tile((int)K));
        }
        if (scratch > need) need = scratch;
        floats[i] = f;
        if (f > SIZE_MAX / 2 - 16 - total) goto nomem;
        total += (f + 15) / 16 * 16;
        cb->weight_floats += f;
    }
    if (place_weights(cb, floats, total)) goto nomem;
    free(floats);
    floats = NULL;
    need = (need + 15) / 16 * 16; /* each thread's part starts 64-byte aligned */
    size_t all;
    if (!cut_mul_size(need, (size_t)cutout_pool_threads(cb->tp), &all)) goto nomem;
    cb->scratch = alloc_floats(all);
    if (!cb->scratch) goto nomem;
    cb->scratch_floats = need;
    cut_pool_touch(cb->tp, cb->scratch, all * sizeof(float));
    return 0;
nomem:
    free(floats);
    cut_cpu_conv_release(cb);
    snprintf(bk->err, sizeof bk->err, "out of memory for conv weights or scratch");
    return CUTOUT_E_NOMEM;
}

typedef struct {
    cpu_backend *cb;
    const bk_conv_desc *d;
    const float *packed;
    bk_tensor dst, a, b, res;
    int has_res, relu;
    int K, tile, tiles, cout_blocks, cout_per_block;
} conv_job;

/* im2col of output pixels [p0, p0+tn) into packed-B panels: element (k, j)
 * at col[gemm_packed_b_index(K, k, j)], k = (ci·k + ky)·k + kx, padding
 * columns zero. */
static void im2col_panels(const conv_job *j, int img, int p0, int tn, float *col)
{
    const bk_conv_desc *d = j->d;
    int k = d->k, ih = j->a.h, iw = j->a.w, ow = j->dst.w, K = j->K;
    for (int jp = 0; jp < tn; jp += GEMM_NR) {
        int w = tn - jp < GEMM_NR ? tn - jp : GEMM_NR;
        int iy0[GEMM_NR], ix0[GEMM_NR];
        for (int q = 0; q < w; q++) {
            int p = p0 + jp + q;
            iy0[q] = p / ow * d->stride - d->pad;
            ix0[q] = p % ow * d->stride - d->pad;
        }
        /* Sixteen pixels of one output row: one input row per tap, read
         * as a run (stride 1: copies) without per-pixel bounds checks
         * where the run lies inside the plane. */
        int one_row = w == GEMM_NR && iy0[0] == iy0[GEMM_NR - 1];
        int one_run = one_row && d->stride == 1;
        int step = d->stride;
        float *panel = col + gemm_packed_b_index(K, 0, jp);
        for (int ci = 0; ci < d->cin; ci++) {
            const float *src = ci < j->a.c ? cpu_plane(j->cb, j->a, img, ci)
                                           : cpu_plane(j->cb, j->b, img, ci - j->a.c);
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    float *o = panel + (size_t)((ci * k + ky) * k + kx) * GEMM_NR;
                    int dy = ky * d->dil, dx = kx * d->dil;
                    if (one_row) {
                        int iy = iy0[0] + dy, ix = ix0[0] + dx;
                        int last = ix0[GEMM_NR - 1] + dx;
                        if (iy >= 0 && iy < ih && ix >= 0 && last < iw) {
                            const float *r = src + (size_t)iy * iw + ix;
                            if (one_run)
                                memcpy(o, r, GEMM_NR * sizeof(float));
                            else
                                for (int q = 0; q < GEMM_NR; q++) o[q] = r[q * step];
                            continue;
                        }
                    }
                    for (int q = 0; q < GEMM_NR; q++) {
                        int iy = iy0[q] + dy, ix = ix0[q] + dx;
                        o[q] = q < w && iy >= 0 && iy < ih && ix >= 0 && ix < iw
                                   ? src[(size_t)iy * iw + ix]
                                   : 0.0f;
                    }
                }
        }
    }
}

static void conv_task(void *p, int task, int thread)
{
    const conv_job *j = p;
    cpu_backend *cb = j->cb;
    const bk_conv_desc *d = j->d;
    int cblk = task % j->cout_blocks;
    int rest = task / j->cout_blocks;
    int tile = rest % j->tiles, img = rest / j->tiles;
    int P = j->dst.h * j->dst.w;
    int p0 = tile * j->tile, tn = P - p0 < j->tile ? P - p0 : j->tile;
    int co0 = cblk * j->cout_per_block;
    int co1 = co0 + j->cout_per_block < d->cout ? co0 + j->cout_per_block : d->cout;
    if (co0 >= co1) return;
    float *col = cb->scratch + (size_t)thread * cb->scratch_floats;
    im2col_panels(j, img, p0, tn, col);
    gemm_epilogue ep = {
        .bias = d->bias + co0,
        .residual = j->has_res ? cpu_plane(cb, j->res, img, co0) + p0 : NULL,
        .ldr = (size_t)P,
        .relu = j->relu,
    };
    cut_gemm_run_rows(j->packed, d->cout, co0, co1 - co0, col, tn, j->K,
                  cpu_plane(cb, j->dst, img, co0) + p0, (size_t)P, &ep);
}

static void im2col_conv(cpu_backend *cb, const cpu_conv_plan *plan, const bk_conv_desc *d,
                        bk_tensor dst, bk_tensor a, const bk_tensor *b, const bk_tensor *res,
                        int relu)
{
    conv_job j = {.cb = cb, .d = d, .packed = plan->packed, .dst = dst, .a = a, .relu = relu};
    if (b) j.b = *b;
    if (res) {
        j.res = *res;
        j.has_res = 1;
    }
    j.K = d->cin * d->k * d->k;
    j.tile = conv_tile(j.K);
    int P = dst.h * dst.w;
    j.tiles = (P + j.tile - 1) / j.tile;
    /* Small planes with many channels: split output channels as well so
     * every thread has work. */
    int threads = cutout_pool_threads(cb->tp);
    j.cout_blocks = 1;
    while (dst.n * j.tiles * j.cout_blocks < 2 * threads && d->cout / (j.cout_blocks * 2) >= 16)
        j.cout_blocks *= 2;
    j.cout_per_block = (d->cout + j.cout_blocks - 1) / j.cout_blocks;
    cpu_run(cb, dst.n * j.tiles * j.cout_blocks, conv_task, &j, (double)dst.n * P * d->cout * j.K);
}

/* Whether two views share a float (image by image: channel-slice views of
 * one buffer interleave). */
static int views_overlap(bk_tensor x, bk_tensor y)
{
    size_t xs = (size_t)x.c * x.h * x.w, ys = (size_t)y.c * y.h * y.w;
    for (int i = 0; i < x.n; i++)
        for (int k = 0; k < y.n; k++) {
            size_t x0 = x.off + (size_t)i * x.nstride, y0 = y.off + (size_t)k * y.nstride;
            if (x0 < y0 + ys && y0 < x0 + xs) return 1;
        }
    return 0;
}

static size_t view_end(bk_tensor t) /* one past the view's last float */
{
    return t.n > 0 ? t.off + (size_t)(t.n - 1) * t.nstride + (size_t)t.c * t.h * t.w : t.off;
}

static int conv_fail(backend *bk, int conv_index, const char *what)
{
    snprintf(bk->err, sizeof bk->err, "conv %d: %s", conv_index, what);
    return CUTOUT_E_ARG;
}

int cut_cpu_conv(backend *bk, int conv_index, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (conv_index < 0 || conv_index >= cb->n_convs || !cb->plans) {
        snprintf(bk->err, sizeof bk->err, "conv %d does not exist", conv_index);
        return CUTOUT_E_ARG;
    }
    const bk_conv_desc *d = &cb->convs[conv_index];
    const bk_tensor *b = fuse ? fuse->b : NULL, *res = fuse ? fuse->residual : NULL;
    int cin = a.c + (b ? b->c : 0);
    if (b && (b->h != a.h || b->w != a.w || b->n != a.n))
        return conv_fail(bk, conv_index, "concat inputs differ in shape");
    if (cin != d->cin || dst.c != d->cout || dst.n != a.n)
        return conv_fail(bk, conv_index, "input or output channels do not match the weights");
    int oh = cut_conv_out_size(a.h, d->k, d->stride, d->pad, d->dil);
    int ow = cut_conv_out_size(a.w, d->k, d->stride, d->pad, d->dil);
    if (dst.h != oh || dst.w != ow) return conv_fail(bk, conv_index, "wrong output size");
    if (res && (res->n != dst.n || res->c != dst.c || res->h != dst.h || res->w != dst.w))
        return conv_fail(bk, conv_index, "residual shape differs from the output");
    size_t end = view_end(dst);
    if (view_end(a) > cb->arena_floats || end > cb->arena_floats ||
        (b && view_end(*b) > cb->arena_floats) || (res && view_end(*res) > cb->arena_floats))
        return conv_fail(bk, conv_index, "a view lies outside the arena");
    /* Tiles are written while other tiles still read the inputs; the GEMM
     * keeps partial sums in dst while the residual is still to be read. */
    if (views_overlap(dst, a) || (b && views_overlap(dst, *b)) || (res && views_overlap(dst, *res)))
        return conv_fail(bk, conv_index, "output overlaps an input");
    int relu = fuse && fuse->relu;
    switch (cb->plans[conv_index].method) {
    case CPU_CONV_WINOGRAD:
        cut_wino_conv(cb, &cb->plans[conv_index], d, dst, a, b, res, relu);
        break;
    case CPU_CONV_DIRECT: return cut_direct_conv(cb, d, dst, a, b, res, relu);
    case CPU_CONV_IM2COL: im2col_conv(cb, &cb->plans[conv_index], d, dst, a, b, res, relu); break;
    }
    return 0;
}
