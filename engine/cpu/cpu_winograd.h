/* Winograd F(4×4, 3×3) convolution for the CPU backend (3×3, stride 1, any
 * padding and dilation).
 *
 * A dilation-d conv is an ordinary 3×3 conv on each of the d×d interleaved
 * phase sub-grids, so a tile is 4×4 outputs at stride d: rows oy0 + d·y,
 * columns ox0 + d·x (y, x < 4), computed from the 6×6 inputs at rows
 * oy0 - pad + d·r, columns ox0 - pad + d·c (r, c < 6). Tiles of every phase
 * and image are numbered in one sequence and taken WINO_LANES at a time
 * (a "block"); a task takes a group of up to wino_group_blocks() blocks
 * ("nb"). Each block's input patches are transformed into V (36 positions
 * × nb blocks × cin × WINO_LANES: per position, one packed GEMM B matrix of
 * nb panels), 36 GEMMs of N = nb·WINO_LANES with the pre-transformed
 * weights U give M (cout × 36 × nb·WINO_LANES), and the output transform
 * plus bias/ReLU/residual writes each block's tiles out. Grouping reads U
 * once per group instead of once per block (U is 4× the weights: 38 MB for
 * a 512×512 conv, far beyond the caches, so small planes with wide layers
 * were bound by streaming it), and lets the GEMM use its 32-column tiles.
 * Transforms run on groups of WINO_GROUP lanes (one 8-float vector per
 * value, one lane per tile), both groups of a block per channel. */
#ifndef CUTOUT_CPU_WINOGRAD_H
#define CUTOUT_CPU_WINOGRAD_H

#include <stddef.h>

#include "cpu_backend.h"

#define WINO_LANES 16 /* tiles per block = GEMM_NR, one packed-B panel */
#define WINO_GROUP 8  /* tiles per transform group */
#define WINO_POS 36   /* 6×6 transformed positions */
/* Most blocks a task groups (cpu_winograd.c picks fewer where V and M
 * would outgrow the cache budget). */
#define WINO_GROUP_MAX 8

/* One tile: image and top-left output pixel (plane coordinates). */
typedef struct {
    int img, oy0, ox0;
} wino_lane;

/* The operands of one conv call, as plane pointers and strides. */
typedef struct {
    int d, pad;
    int ih, iw, oh, ow;
    int ca, cin; /* channels ca.. come from b */
    const float *a, *b;
    size_t a_img, b_img; /* floats between images */
    float *dst;
    size_t dst_img;
    const float *res; /* or NULL */
    size_t res_img;
    const float *bias;
    int relu;
    int stream; /* output far larger than the caches: non-temporal stores */
    /* M's layout for one block: floats between output channels and between
     * positions (each output channel's 36 positions together, so that the
     * output transform reads one run) */
    size_t m_co, m_pos;
} wino_io;

/* Transforms the input patches of lanes[0..n) (n <= WINO_LANES; the other
 * lanes get zeros, as the GEMM reads all of them) for every input channel:
 * V[p·pos_stride + ci·WINO_LANES + l]. */
typedef void wino_input_fn(const wino_io *io, const wino_lane *lanes, int n, float *V,
                           size_t pos_stride);
/* Output transform of M[co·io->m_co + p·io->m_pos + l] for channels
 * [co0, co1) and lanes[0..n), with the epilogue, into io->dst. */
typedef void wino_output_fn(const wino_io *io, const wino_lane *lanes, int n, const float *M,
                            int co0, int co1);

wino_input_fn cut_wino_input_portable, cut_wino_input_avx2, cut_wino_input_avx512;
wino_output_fn cut_wino_output_portable, cut_wino_output_avx2, cut_wino_output_avx512;

/* Floats of transformed weights for a conv: 36 · cout · cin. */
size_t cut_wino_weight_floats(const bk_conv_desc *d);
/* U = G·g·Gᵀ (in double) for output channels [co0, co1) and every ci,
 * written straight into the packed layout cut_gemm_run reads per position
 * (36 blocks of cut_gemm_pack_a(cout × cin)). Disjoint channel ranges may
 * run on different threads. */
void cut_wino_transform_weights_rows(const bk_conv_desc *d, float *U, int co0, int co1);
/* The transform's matrix G of F(4×4, 3×3). */
static const double WINO_G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
/* Four consecutive input channels of one output channel at once (AVX2, the
 * same double operations in the same order per lane, so the same bits as
 * the scalar transform): g: their 4×9 weights; dst: where the first one's
 * position 0 goes; the others follow `step` floats apart, positions mk apart. */
void cut_wino_weights4_avx2(const float *g, float *dst, int step, size_t mk);
/* Per-thread scratch floats for a conv's V and M. */
size_t cut_wino_scratch_floats(const bk_conv_desc *d);
/* Runs the conv (shapes already checked by cut_cpu_conv). */
void cut_wino_conv(cpu_backend *cb, const cpu_conv_plan *plan, const bk_conv_desc *d, bk_tensor dst,
               bk_tensor a, const bk_tensor *b, const bk_tensor *res, int relu);

#endif
