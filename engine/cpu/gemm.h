/* Single-threaded SGEMM for convolution tiles: C[M×N] = A[M×K] · B[K×N].
 *
 * A is the layer's weights (M = Cout, K = Cin·kh·kw), packed once at load
 * time with cut_gemm_pack_a. B is the im2col of a tile of N output pixels, in the
 * panel layout below (the caller's im2col should write it directly; otherwise
 * cut_gemm_pack_b converts a row-major K×N buffer). C rows are ldc apart (the
 * output plane's h·w), so C can point into the middle of an NCHW plane.
 *
 * Reentrant: no global state, no allocation; threads call it on their own
 * tiles. An AVX2+FMA kernel is used when the CPU has it, else portable C;
 * both read the same packed layouts.
 *
 * Packed B layout ("panels"): columns are grouped in panels of GEMM_NR;
 * panel p holds columns p·NR .. p·NR+NR-1 for every k, k-major:
 *
 *     element (k, j) is at packed_b[gemm_packed_b_index(K, k, j)]
 *                        = (j / NR)·K·NR + k·NR + j % NR
 *
 * The last panel is padded to NR columns; the padding must hold finite values
 * (write zeros): the kernel computes those lanes and discards them.
 * Total size cut_gemm_packed_b_floats(K, N). Align buffers to 64 bytes for speed
 * (not required for correctness).
 *
 * Packed A layout: rows are split into balanced blocks of at most GEMM_MR
 * rows (e.g. M=16 -> 6,5,5); block with first row r0 and mr rows is stored
 * k-major at packed_a + r0·K: element (r0 + i, k) at [r0·K + k·mr + i].
 * Exactly M·K floats, no padding. */
#ifndef CUTOUT_GEMM_H
#define CUTOUT_GEMM_H

#include <stddef.h>

#define GEMM_MR 6  /* rows of C per micro-tile (max) */
#define GEMM_NR 16 /* columns of C per micro-tile = packed B panel width */

/* Optional fused epilogue, applied as the result is stored:
 *   C = relu?(A·B + bias[row]) + residual[row·ldr + col]
 * (the order of bk_conv_fuse: bias, relu, then the residual). Any pointer
 * may be NULL. residual must not alias C (C holds partial sums until the
 * last K block). */
typedef struct {
    const float *bias;     /* M values */
    const float *residual; /* M rows of N, ldr apart */
    size_t ldr;
    int relu;
} gemm_epilogue;

size_t cut_gemm_packed_a_floats(int M, int K);
/* A row-major with rows lda apart (lda >= K). Once per layer. */
void cut_gemm_pack_a(const float *A, size_t lda, int M, int K, float *packed_a);
/* Where row r of an M×K packed A lives: element (r, k) is at
 * packed_a[first + k·step]. Rows are independent, so a conv's rows can be
 * packed by several threads at once. */
void cut_gemm_packed_a_row(int M, int K, int r, size_t *first, int *step);
/* cut_gemm_pack_a of rows [row0, row0+rows) only. */
void cut_gemm_pack_a_rows(const float *A, size_t lda, int M, int K, int row0, int rows,
                          float *packed_a);

size_t cut_gemm_packed_b_floats(int K, int N);
static inline size_t gemm_packed_b_index(int K, int k, int j)
{
    return (size_t)(j / GEMM_NR) * (size_t)K * GEMM_NR + (size_t)k * GEMM_NR +
           (size_t)(j % GEMM_NR);
}
/* B row-major K×N, rows ldb apart; zero-fills the padding. */
void cut_gemm_pack_b(const float *B, size_t ldb, int K, int N, float *packed_b);
/* Row k of B (N floats) into its panels, zero-filling the padding: for an
 * im2col that builds one row at a time in a small (L1) buffer. */
void cut_gemm_pack_b_row(const float *row, int K, int k, int N, float *packed_b);

/* C = epilogue(packed_a · packed_b), overwriting C. ep may be NULL.
 * M, N, K >= 1. */
void cut_gemm_run(const float *packed_a, const float *packed_b, int M, int N, int K, float *C,
              size_t ldc, const gemm_epilogue *ep);

/* Rows [row0, row0+rows) of the same product, for callers that split output
 * channels between threads: any range works (a range that cuts a row block
 * costs one narrower micro-tile). C, ep->bias and ep->residual address the
 * sub-matrix: their row 0 is output row row0. */
void cut_gemm_run_rows(const float *packed_a, int M, int row0, int rows, const float *packed_b,
                       int N, int K, float *C, size_t ldc, const gemm_epilogue *ep);

/* Convenience for a row-major B: packs it into scratch
 * (cut_gemm_packed_b_floats(K, N) floats) and runs. */
void cut_gemm_run_rowmajor_b(const float *packed_a, int M, int K, const float *B, size_t ldb, int N,
                         float *C, size_t ldc, float *scratch, const gemm_epilogue *ep);

/* --- For tests and benchmarks ------------------------------------------ */

typedef enum {
    GEMM_IMPL_AUTO = 0,
    GEMM_IMPL_PORTABLE = 1,
    GEMM_IMPL_AVX2 = 2,
    GEMM_IMPL_AVX512 = 3
} gemm_impl;

/* 1 when this CPU runs the AVX2+FMA kernel (and cut_cpu_has allows it). */
int cut_gemm_have_avx2(void);
/* Likewise for the AVX-512 kernel. */
int cut_gemm_have_avx512(void);

/* cut_gemm_run_rows with a chosen kernel and K block size (kc <= 0: default).
 * A kernel the CPU lacks falls back to the next one down. */
void cut_gemm_run_impl(gemm_impl impl, int kc, const float *packed_a, int M, int row0, int rows,
                   const float *packed_b, int N, int K, float *C, size_t ldc,
                   const gemm_epilogue *ep);

/* The micro-kernel contract shared by gemm.c and gemm_avx2.c:
 * c[0..mr) × [0..nvalid) (rows ldc apart) = (accumulate ? c : 0)
 *   + a · b[kc×NR, k-major], where row i of a at step k is a[k·a_step + i]
 * (a_step >= mr: a may be a slice of a wider packed block); if ep is given
 * (last K block only) the epilogue follows, its pointers already offset to
 * the micro-tile. */
typedef struct {
    const float *bias; /* mr values or NULL */
    const float *res;  /* or NULL */
    size_t ldr;
    int relu;
} gemm_tile_epilogue;

typedef void gemm_microkernel_fn(int mr, int kc, const float *a, int a_step, const float *b,
                                 float *c, size_t ldc, int nvalid, int accumulate,
                                 const gemm_tile_epilogue *ep);

gemm_microkernel_fn cut_gemm_microkernel_avx2;

/* The AVX-512 kernel (gemm_avx512.c) takes rb (1, 2) row blocks of mr rows
 * each, the second's packed slice at a1 with the same a_step, its C rows
 * (and bias, residual rows) right after the first's; and nvalid (1..32)
 * columns from up to two adjacent B panels, b_panel floats apart. */
void cut_gemm_microkernel_avx512(int mr, int rb, int kc, const float *a0, const float *a1,
                                 int a_step, const float *b, size_t b_panel, float *c,
                                 size_t ldc, int nvalid, int accumulate,
                                 const gemm_tile_epilogue *ep);

#endif
