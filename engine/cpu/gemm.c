/* SGEMM for convolution tiles: packing, the blocked driver, the portable
 * micro-kernel and the choice of kernel. See gemm.h for the layouts.
 *
 * Blocking (Goto/BLIS order): K in balanced blocks of about GEMM_KC (the
 * kc×NR B micro-panel, 16 KB, stays in L1 while every row block of A passes
 * over it); rows in groups of GEMM_MC_BLOCKS row blocks (their kc×mr A
 * slices, ~150 KB, stay in L2 across all column panels). */
#include "gemm.h"

#include <string.h>

#include "cpu_features.h"

#define GEMM_KC 256
#define GEMM_MC_BLOCKS 24

/* Balanced split of M rows into blocks of at most GEMM_MR rows. */
typedef struct {
    int nblocks, base, extra; /* the first `extra` blocks have base+1 rows */
} row_split;

static row_split split_rows(int M)
{
    row_split s;
    s.nblocks = (M + GEMM_MR - 1) / GEMM_MR;
    s.base = M / s.nblocks;
    s.extra = M % s.nblocks;
    return s;
}

static int block_first_row(row_split s, int i) { return i * s.base + (i < s.extra ? i : s.extra); }
static int block_rows(row_split s, int i) { return s.base + (i < s.extra); }
static int block_of_row(row_split s, int r)
{
    int big = s.extra * (s.base + 1); /* rows in the (base+1)-row blocks */
    return r < big ? r / (s.base + 1) : s.extra + (r - big) / s.base;
}

size_t cut_gemm_packed_a_floats(int M, int K) { return (size_t)M * (size_t)K; }

void cut_gemm_pack_a(const float *A, size_t lda, int M, int K, float *packed_a)
{
    if (M <= 0 || K <= 0) return;
    row_split s = split_rows(M);
    for (int b = 0; b < s.nblocks; b++) {
        int r0 = block_first_row(s, b), mr = block_rows(s, b);
        float *dst = packed_a + (size_t)r0 * K;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < mr; i++) dst[(size_t)k * mr + i] = A[(size_t)(r0 + i) * lda + k];
    }
}

void cut_gemm_packed_a_row(int M, int K, int r, size_t *first, int *step)
{
    row_split s = split_rows(M);
    int b = block_of_row(s, r), r0 = block_first_row(s, b);
    *first = (size_t)r0 * K + (size_t)(r - r0);
    *step = block_rows(s, b);
}

void cut_gemm_pack_a_rows(const float *A, size_t lda, int M, int K, int row0, int rows,
                          float *packed_a)
{
    for (int r = row0; r < row0 + rows; r++) {
        size_t first;
        int step;
        cut_gemm_packed_a_row(M, K, r, &first, &step);
        const float *src = A + (size_t)r * lda;
        float *dst = packed_a + first;
        for (int k = 0; k < K; k++) dst[(size_t)k * step] = src[k];
    }
}

size_t cut_gemm_packed_b_floats(int K, int N)
{
    size_t panels = ((size_t)N + GEMM_NR - 1) / GEMM_NR;
    return panels * GEMM_NR * (size_t)K;
}

void cut_gemm_pack_b(const float *B, size_t ldb, int K, int N, float *packed_b)
{
    /* Eight rows at a time: eight sequential read streams, and each panel
     * gets 8×64 contiguous bytes per visit (row by row, the panel writes are
     * K·64 bytes apart and fight over the same cache sets). */
    enum { KB = 8 };
    for (int k0 = 0; k0 < K; k0 += KB) {
        int kb = K - k0 < KB ? K - k0 : KB;
        for (int col = 0; col < N; col += GEMM_NR) {
            int w = N - col < GEMM_NR ? N - col : GEMM_NR;
            float *dst = packed_b + gemm_packed_b_index(K, k0, col);
            const float *src = B + (size_t)k0 * ldb + col;
            for (int k = 0; k < kb; k++, dst += GEMM_NR, src += ldb) {
                if (w == GEMM_NR) {
                    memcpy(dst, src, GEMM_NR * sizeof(float)); /* constant size: inlined */
                } else {
                    for (int j = 0; j < w; j++) dst[j] = src[j];
                    for (int j = w; j < GEMM_NR; j++) dst[j] = 0.0f;
                }
            }
        }
    }
}

void cut_gemm_pack_b_row(const float *row, int K, int k, int N, float *packed_b)
{
    float *dst = packed_b + gemm_packed_b_index(K, k, 0);
    int col = 0;
    for (; col + GEMM_NR <= N; col += GEMM_NR, dst += (size_t)K * GEMM_NR)
        memcpy(dst, row + col, GEMM_NR * sizeof(float));
    if (col < N) {
        int w = N - col;
        for (int j = 0; j < w; j++) dst[j] = row[col + j];
        for (int j = w; j < GEMM_NR; j++) dst[j] = 0.0f;
    }
}

static void gemm_microkernel_portable(int mr, int kc, const float *a, int a_step,
                                      const float *b, float *c, size_t ldc, int nvalid,
                                      int accumulate, const gemm_tile_epilogue *ep)
{
    float acc[GEMM_MR][GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * GEMM_NR;
        for (int i = 0; i < mr; i++) {
            float ai = a[(size_t)k * a_step + i];
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] += ai * bk[j];
        }
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < nvalid; j++) {
            float x = acc[i][j];
            if (accumulate) x += ci[j];
            if (ep) {
                if (ep->bias) x += ep->bias[i];
                if (ep->relu && x < 0.0f) x = 0.0f; /* keeps NaN, like the AVX2 max */
                if (ep->res) x += ep->res[(size_t)i * ep->ldr + j];
            }
            ci[j] = x;
        }
    }
}

int cut_gemm_have_avx2(void) { return cut_cpu_has(CUT_CPU_ISA_AVX2); }
int cut_gemm_have_avx512(void) { return cut_cpu_has(CUT_CPU_ISA_AVX512); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#else
#define GEMM_X86 0
#endif

static int use_avx512(gemm_impl impl)
{
    return GEMM_X86 && (impl == GEMM_IMPL_AUTO || impl == GEMM_IMPL_AVX512) &&
           cut_gemm_have_avx512();
}

static gemm_microkernel_fn *pick_kernel(gemm_impl impl)
{
#if GEMM_X86
    if (impl != GEMM_IMPL_PORTABLE && cut_gemm_have_avx2()) return cut_gemm_microkernel_avx2;
#else
    (void)impl;
#endif
    return gemm_microkernel_portable;
}

void cut_gemm_run_impl(gemm_impl impl, int kc_target, const float *packed_a, int M, int row0,
                       int rows, const float *packed_b, int N, int K, float *C, size_t ldc,
                       const gemm_epilogue *ep)
{
    if (M <= 0 || N <= 0 || K <= 0 || rows <= 0 || row0 < 0 || row0 + rows > M) return;
    gemm_microkernel_fn *kernel = pick_kernel(impl);
    int wide = use_avx512(impl);
    int cstep = wide ? 2 * GEMM_NR : GEMM_NR; /* columns per micro-tile */
    if (kc_target <= 0) kc_target = GEMM_KC;
    /* Equal K blocks: 288 -> 144+144 rather than 256+32. */
    int nkb = (K + kc_target - 1) / kc_target;
    int kcb = (K + nkb - 1) / nkb;
    row_split s = split_rows(M);
    int row1 = row0 + rows;
    int first_blk = block_of_row(s, row0), end_blk = block_of_row(s, row1 - 1) + 1;
    int fuse = ep && (ep->bias || ep->residual || ep->relu);

    for (int pc = 0; pc < K; pc += kcb) {
        int kc = K - pc < kcb ? K - pc : kcb;
        int first = pc == 0, last = pc + kc == K;
        for (int g0 = first_blk; g0 < end_blk; g0 += GEMM_MC_BLOCKS) {
            int g1 = g0 + GEMM_MC_BLOCKS < end_blk ? g0 + GEMM_MC_BLOCKS : end_blk;
            for (int col = 0; col < N; col += cstep) {
                int nvalid = N - col < cstep ? N - col : cstep;
                const float *bp = packed_b + gemm_packed_b_index(K, pc, col);
                for (int blk = g0; blk < g1; blk++) {
                    int r0 = block_first_row(s, blk), mr = block_rows(s, blk);
                    /* The part of this block inside [row0, row1). */
                    int lo = r0 > row0 ? r0 : row0, hi = r0 + mr < row1 ? r0 + mr : row1;
                    const float *ap = packed_a + (size_t)r0 * K + (size_t)pc * mr + (lo - r0);
                    size_t crow = (size_t)(lo - row0);
                    gemm_tile_epilogue tep = {0};
                    if (last && fuse) {
                        tep.bias = ep->bias ? ep->bias + crow : NULL;
                        tep.res = ep->residual ? ep->residual + crow * ep->ldr + col : NULL;
                        tep.ldr = ep->ldr;
                        tep.relu = ep->relu;
                    }
                    const gemm_tile_epilogue *tp = last && fuse ? &tep : NULL;
#if GEMM_X86 /* gemm_avx512.c defines the kernel on x86-64 only */
                    if (wide) {
                        /* Two whole blocks of equal height as one taller tile. */
                        int pair = lo == r0 && hi == r0 + mr && blk + 1 < g1 &&
                                   block_rows(s, blk + 1) == mr && r0 + 2 * mr <= row1;
                        cut_gemm_microkernel_avx512(hi - lo, pair ? 2 : 1, kc, ap,
                                                    ap + (size_t)mr * K, mr, bp,
                                                    (size_t)K * GEMM_NR, C + crow * ldc + col,
                                                    ldc, nvalid, !first, tp);
                        blk += pair;
                        continue;
                    }
#endif
                    kernel(hi - lo, kc, ap, mr, bp, C + crow * ldc + col, ldc, nvalid, !first, tp);
                }
            }
        }
    }
}

void cut_gemm_run(const float *packed_a, const float *packed_b, int M, int N, int K, float *C,
              size_t ldc, const gemm_epilogue *ep)
{
    cut_gemm_run_impl(GEMM_IMPL_AUTO, 0, packed_a, M, 0, M, packed_b, N, K, C, ldc, ep);
}

void cut_gemm_run_rows(const float *packed_a, int M, int row0, int rows, const float *packed_b,
                       int N, int K, float *C, size_t ldc, const gemm_epilogue *ep)
{
    cut_gemm_run_impl(GEMM_IMPL_AUTO, 0, packed_a, M, row0, rows, packed_b, N, K, C, ldc, ep);
}

void cut_gemm_run_rowmajor_b(const float *packed_a, int M, int K, const float *B, size_t ldb, int N,
                         float *C, size_t ldc, float *scratch, const gemm_epilogue *ep)
{
    cut_gemm_pack_b(B, ldb, K, N, scratch);
    cut_gemm_run(packed_a, scratch, M, N, K, C, ldc, ep);
}
