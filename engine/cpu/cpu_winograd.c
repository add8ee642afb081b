/* Winograd F(4×4, 3×3) convolution: weight transform, tile numbering, the
 * per-block task (input transform, 36 GEMMs, output transform) and the
 * portable transforms. See cpu_winograd.h for the scheme. */
#include "cpu_winograd.h"

#include <string.h>

#include "cpu_winograd_lanes.h"
#include "gemm.h"

size_t cut_wino_weight_floats(const bk_conv_desc *d)
{
    return (size_t)WINO_POS * (size_t)d->cout * (size_t)d->cin;
}

/* Floats between positions in V for nb blocks of `ch` channels: one cache
 * line more than the data, so that the 36 vectors a transform writes for
 * one channel (4 KB apart when ch·WINO_LANES·4 is a multiple of 4 KB) do
 * not all land in the same L1 set. */
static size_t pos_stride(int ch, int nb) { return (size_t)nb * ch * WINO_LANES + 16; }

/* Cache budgets for a group's V and M: L2 (2 MB a core here) while U fits
 * in it too; beyond, U streams from memory for every group, and a larger
 * group (V and M spilling to L3) costs less than reading U again. */
#ifndef WINO_GROUP_BYTES
#define WINO_GROUP_BYTES (1u << 20)
#endif
#ifndef WINO_GROUP_BYTES_BIG_U
#define WINO_GROUP_BYTES_BIG_U (8u << 20)
#endif
#define WINO_BIG_U_BYTES (2u << 20)

/* Blocks per group for a conv (at most; a conv with few blocks uses fewer). */
static int wino_group_blocks(const bk_conv_desc *d)
{
    double u = 4.0 * WINO_POS * d->cin * d->cout;
    double per_block = 4.0 * WINO_POS * WINO_LANES * (d->cin + d->cout); /* V and M */
    double budget = u > WINO_BIG_U_BYTES ? WINO_GROUP_BYTES_BIG_U : WINO_GROUP_BYTES;
    int nb = (int)(budget / per_block);
    return nb < 1 ? 1 : nb > WINO_GROUP_MAX ? WINO_GROUP_MAX : nb;
}

static size_t m_floats(int cout, int nb) { return (size_t)cout * WINO_POS * WINO_LANES * nb; }

size_t cut_wino_scratch_floats(const bk_conv_desc *d)
{
    int nb = wino_group_blocks(d);
    /* V (36 positions × nb × cin × lanes) then M (cout × 36 × nb × lanes) */
    return (size_t)WINO_POS * pos_stride(d->cin, nb) + m_floats(d->cout, nb);
}

/* The six values of G·x for one column (or row) x of three, summed in the
 * same order as the matrix product so that U is bit-for-bit what it was
 * when the transform was written as two plain products. */
static inline void g_apply(double x0, double x1, double x2, double out[6])
{
    for (int r = 0; r < 6; r++)
        out[r] = WINO_G[r][0] * x0 + WINO_G[r][1] * x1 + WINO_G[r][2] * x2;
}

void cut_wino_transform_weights_rows(const bk_conv_desc *d, float *U, int co0, int co1)
{
    size_t mk = (size_t)d->cout * d->cin;
    int fast = cut_gemm_have_avx2();
    for (int co = co0; co < co1; co++) {
        size_t first;
        int step;
        cut_gemm_packed_a_row(d->cout, d->cin, co, &first, &step);
        float *dst = U + first;
        int ci = 0;
        if (fast)
            for (; ci + 4 <= d->cin; ci += 4, dst += 4 * step)
                cut_wino_weights4_avx2(d->weight + ((size_t)co * d->cin + ci) * 9, dst, step, mk);
        for (; ci < d->cin; ci++, dst += step) {
            const float *g = d->weight + ((size_t)co * d->cin + ci) * 9;
            double t[3][6]; /* G·g, column by column of g */
            for (int j = 0; j < 3; j++) g_apply(g[j], g[3 + j], g[6 + j], t[j]);
            for (int i = 0; i < 6; i++) {
                double u[6]; /* row i of (G·g)·Gᵀ */
                g_apply(t[0][i], t[1][i], t[2][i], u);
                for (int j = 0; j < 6; j++) dst[(size_t)(i * 6 + j) * mk] = (float)u[j];
            }
        }
    }
}

/* Tile numbering: image, then phase row py and tile row ty, then phase
 * column px and tile column tx, so that consecutive tiles of one phase row
 * are consecutive numbers (the transforms' fast path wants eight in a row). */
typedef struct {
    int d, oh, ow;
    int rows, cols; /* tile rows over every py, tile columns over every px */
} wino_tiling;

static int phase_tiles(int size, int d, int phase) /* tiles along one axis of a phase */
{
    int n = (size - phase + d - 1) / d; /* outputs of the phase */
    return n > 0 ? (n + 3) / 4 : 0;
}

static wino_tiling tiling_of(int oh, int ow, int d)
{
    wino_tiling t = {d, oh, ow, 0, 0};
    for (int p = 0; p < d; p++) {
        t.rows += phase_tiles(oh, d, p);
        t.cols += phase_tiles(ow, d, p);
    }
    return t;
}

/* Axis index i (over every phase) -> first output coordinate of the tile. */
static int tile_origin(int i, int size, int d)
{
    for (int p = 0; p < d; p++) {
        int n = phase_tiles(size, d, p);
        if (i < n) return p + 4 * d * i;
        i -= n;
    }
    return 0; /* not reached for i < rows/cols */
}

static wino_lane lane_of(const wino_tiling *t, int tile)
{
    int per_img = t->rows * t->cols;
    int r = tile % per_img;
    return (wino_lane){tile / per_img, tile_origin(r / t->cols, t->oh, t->d),
                       tile_origin(r % t->cols, t->ow, t->d)};
}

typedef struct {
    wino_io io;
    wino_tiling tiling;
    const float *U;
    int cout, cin, tiles, blocks;
    int group; /* blocks per task */
    int cout_blocks, cout_per_block;
    float *scratch;
    size_t scratch_floats;
    wino_input_fn *input;
    wino_output_fn *output;
} wino_job;

/* The tiles of block b: n of them (the last block may have fewer). */
static int block_lanes(const wino_job *j, int b, wino_lane lanes[WINO_LANES])
{
    int first = b * WINO_LANES;
    int n = j->tiles - first < WINO_LANES ? j->tiles - first : WINO_LANES;
    for (int l = 0; l < n; l++) lanes[l] = lane_of(&j->tiling, first + l);
    return n;
}

static void wino_task(void *p, int task, int thread)
{
    const wino_job *j = p;
    int grp = task / j->cout_blocks, cblk = task % j->cout_blocks;
    int co0 = cblk * j->cout_per_block;
    int co1 = co0 + j->cout_per_block < j->cout ? co0 + j->cout_per_block : j->cout;
    if (co0 >= co1) return;
    int b0 = grp * j->group;
    int nb = j->blocks - b0 < j->group ? j->blocks - b0 : j->group;
    int cols = nb * WINO_LANES; /* GEMM columns */

    float *V = j->scratch + (size_t)thread * j->scratch_floats;
    size_t vps = pos_stride(j->cin, j->group);
    float *M = V + WINO_POS * vps;
    size_t panel = (size_t)j->cin * WINO_LANES; /* one block's part of a position */
    wino_lane lanes[WINO_LANES];
    for (int b = 0; b < nb; b++) {
        int n = block_lanes(j, b0 + b, lanes);
        j->input(&j->io, lanes, n, V + b * panel, vps);
    }
    size_t mk = (size_t)j->cout * j->cin;
    for (int pos = 0; pos < WINO_POS; pos++)
        cut_gemm_run_rows(j->U + pos * mk, j->cout, co0, co1 - co0, V + pos * vps, cols, j->cin,
                          M + (size_t)co0 * j->io.m_co + pos * j->io.m_pos, j->io.m_co, NULL);
    for (int b = 0; b < nb; b++) {
        int n = block_lanes(j, b0 + b, lanes);
        j->output(&j->io, lanes, n, M + b * WINO_LANES, co0, co1);
    }
}

void cut_wino_conv(cpu_backend *cb, const cpu_conv_plan *plan, const bk_conv_desc *d, bk_tensor dst,
               bk_tensor a, const bk_tensor *b, const bk_tensor *res, int relu)
{
    wino_job j;
    memset(&j, 0, sizeof j);
    j.io = (wino_io){
        .d = d->dil,
        .pad = d->pad,
        .ih = a.h,
        .iw = a.w,
        .oh = dst.h,
        .ow = dst.w,
        .ca = a.c,
        .cin = d->cin,
        .a = cpu_plane(cb, a, 0, 0),
        .a_img = a.nstride,
        .b = b ? cpu_plane(cb, *b, 0, 0) : NULL,
        .b_img = b ? b->nstride : 0,
        .dst = cpu_plane(cb, dst, 0, 0),
        .dst_img = dst.nstride,
        .res = res ? cpu_plane(cb, *res, 0, 0) : NULL,
        .res_img = res ? res->nstride : 0,
        .bias = d->bias,
        .relu = relu,
        .stream = (size_t)dst.n * dst.c * dst.h * dst.w * sizeof(float) > CPU_STREAM_BYTES,
    };
    j.tiling = tiling_of(dst.h, dst.w, d->dil);
    j.U = plan->packed;
    j.cout = d->cout;
    j.cin = d->cin;
    j.tiles = dst.n * j.tiling.rows * j.tiling.cols;
    j.blocks = (j.tiles + WINO_LANES - 1) / WINO_LANES;
    int threads = cutout_pool_threads(cb->tp);
    /* groups: as large as the budget allows, but two per thread where
     * there are blocks enough */
    j.group = wino_group_blocks(d);
    int fair = (j.blocks + 2 * threads - 1) / (2 * threads);
    if (j.group > fair) j.group = fair > 1 ? fair : 1;
    int groups = (j.blocks + j.group - 1) / j.group;
    j.io.m_pos = (size_t)j.group * WINO_LANES;
    j.io.m_co = WINO_POS * j.io.m_pos;
    j.scratch = cb->scratch;
    j.scratch_floats = cb->scratch_floats;
    int fast = cut_gemm_have_avx2() && !cb->force_portable;
    int wide = fast && cut_gemm_have_avx512();
    j.input = wide ? cut_wino_input_avx512 : fast ? cut_wino_input_avx2 : cut_wino_input_portable;
    j.output = wide ? cut_wino_output_avx512 : fast ? cut_wino_output_avx2 : cut_wino_output_portable;
    /* Few blocks (small planes): split output channels too so every thread
     * has work; each part repeats the block's input transform. Not when the
     * conv is small enough to run on this thread alone. */
    double macs = (double)j.blocks * WINO_LANES * WINO_POS * d->cin * d->cout;
    j.cout_blocks = 1;
    while (macs >= CPU_INLINE_WORK && groups * j.cout_blocks < 2 * threads &&
           d->cout / (j.cout_blocks * 2) >= 8)
        j.cout_blocks *= 2;
    j.cout_per_block = (d->cout + j.cout_blocks - 1) / j.cout_blocks;
    cpu_run(cb, groups * j.cout_blocks, wino_task, &j, macs);
}

void cut_wino_input_portable(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    wino_gather g[2];
    for (int k = 0; k < 2; k++) {
        int nk = n - k * WINO_GROUP;
        wino_gather_init(&g[k], io, lanes + k * WINO_GROUP,
                         nk < 0 ? 0 : nk > WINO_GROUP ? WINO_GROUP : nk);
    }
    for (int ci = 0; ci < io->cin; ci++)
        for (int k = 0; k < 2; k++)
            wino_gather_channel(&g[k], io, lanes + k * WINO_GROUP, ci,
                                V + (size_t)ci * WINO_LANES + k * WINO_GROUP, ps);
}

void cut_wino_output_portable(const wino_io *io, const wino_lane *lanes, int n, const float *M,
                          int co0, int co1)
{
    wino_scatter s[2];
    int groups = (n + WINO_GROUP - 1) / WINO_GROUP;
    for (int k = 0; k < groups; k++) {
        int nk = n - k * WINO_GROUP;
        wino_scatter_init(&s[k], io, lanes + k * WINO_GROUP, nk > WINO_GROUP ? WINO_GROUP : nk);
    }
    for (int co = co0; co < co1; co++)
        for (int k = 0; k < groups; k++)
            wino_scatter_channel(&s[k], io, lanes + k * WINO_GROUP, co,
                                 M + (size_t)co * io->m_co + k * WINO_GROUP, io->m_pos);
}
