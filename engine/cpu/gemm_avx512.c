/* AVX-512 micro-kernel for gemm.c (compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mfma; called only when the CPU has them).
 *
 * The packed layouts are those of the AVX2 kernel (gemm.h: 16-column B
 * panels, A in row blocks of at most 6), so weights packed once serve every
 * kernel. One zmm holds a whole panel row, so a single 6×16 micro-tile
 * would have six accumulators, too few for two FMA units of latency 4.
 * This kernel takes instead up to two row blocks of equal height (their C
 * rows follow each other) times up to two adjacent panels: up to 12×32,
 * 24 zmm accumulators, with two B loads and 12 broadcasts per k. The
 * Winograd GEMMs (N = 16, one panel) get 12×16; an im2col conv 12×32. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__FMA__)

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE void kernel(const int MR, const int RB, const int NP, const int S, int kc,
                                 const float *a0, const float *a1, size_t a_step,
                                 const float *b, size_t b_panel, float *c, size_t ldc,
                                 int nvalid, int accumulate, const gemm_tile_epilogue *ep)
{
    enum { ROWS = 2 * GEMM_MR };
    __m512 acc[4][ROWS][2];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++)
#pragma GCC unroll 12
        for (int i = 0; i < RB * MR; i++)
#pragma GCC unroll 2
            for (int v = 0; v < NP; v++) acc[s][i][v] = _mm512_setzero_ps();

    /* C rows (and residual rows) are a plane apart: fetch them while the
     * k loop runs. */
    for (int i = 0; i < RB * MR; i++)
        for (int v = 0; v < NP; v++) _mm_prefetch((const char *)(c + (size_t)i * ldc + 16 * v),
                                                  _MM_HINT_T0);
    if (ep && ep->res)
        for (int i = 0; i < RB * MR; i++)
            for (int v = 0; v < NP; v++)
                _mm_prefetch((const char *)(ep->res + (size_t)i * ep->ldr + 16 * v), _MM_HINT_T0);

    int k = 0;
    for (; k + S <= kc; k += S) {
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            const float *bk = b + (size_t)(k + s) * GEMM_NR;
            __m512 bv[2];
#pragma GCC unroll 2
            for (int v = 0; v < NP; v++) bv[v] = _mm512_loadu_ps(bk + v * b_panel);
#pragma GCC unroll 12
            for (int i = 0; i < RB * MR; i++) {
                const float *ak = (i < MR ? a0 + i : a1 + (i - MR)) + (size_t)(k + s) * a_step;
                __m512 ai = _mm512_set1_ps(*ak);
#pragma GCC unroll 2
                for (int v = 0; v < NP; v++) acc[s][i][v] = _mm512_fmadd_ps(ai, bv[v], acc[s][i][v]);
            }
        }
    }
    for (; k < kc; k++) {
        const float *bk = b + (size_t)k * GEMM_NR;
        __m512 bv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NP; v++) bv[v] = _mm512_loadu_ps(bk + v * b_panel);
#pragma GCC unroll 12
        for (int i = 0; i < RB * MR; i++) {
            const float *ak = (i < MR ? a0 + i : a1 + (i - MR)) + (size_t)k * a_step;
            __m512 ai = _mm512_set1_ps(*ak);
#pragma GCC unroll 2
            for (int v = 0; v < NP; v++) acc[0][i][v] = _mm512_fmadd_ps(ai, bv[v], acc[0][i][v]);
        }
    }
#pragma GCC unroll 4
    for (int s = 1; s < S; s++)
#pragma GCC unroll 12
        for (int i = 0; i < RB * MR; i++)
#pragma GCC unroll 2
            for (int v = 0; v < NP; v++) acc[0][i][v] = _mm512_add_ps(acc[0][i][v], acc[s][i][v]);

    __mmask16 mask[2];
#pragma GCC unroll 2
    for (int v = 0; v < NP; v++) {
        int n = nvalid - 16 * v;
        mask[v] = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
    }
    const float *bias = ep ? ep->bias : NULL, *res = ep ? ep->res : NULL;
    int relu = ep && ep->relu;
    size_t ldr = ep ? ep->ldr : 0;
    __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < RB * MR; i++) {
        __m512 bi = bias ? _mm512_set1_ps(bias[i]) : zero;
#pragma GCC unroll 2
        for (int v = 0; v < NP; v++) {
            float *p = c + (size_t)i * ldc + 16 * v;
            __m512 x = acc[0][i][v];
            if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], p));
            if (bias) x = _mm512_add_ps(x, bi);
            /* max(0, x) returns x when x is NaN: NaN propagates as in PyTorch. */
            if (relu) x = _mm512_max_ps(zero, x);
            if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], res + (size_t)i * ldr + 16 * v));
            _mm512_mask_storeu_ps(p, mask[v], x);
        }
    }
}

/* Independent k streams so that small tiles still have about eight
 * accumulators in flight. */
#define STREAMS(n) ((n) >= 8 ? 1 : (n) >= 4 ? 2 : 4)

#define DEFINE_KERNEL(MR, RB, NP)                                                              \
    static void kernel_##MR##_##RB##_##NP(int kc, const float *a0, const float *a1,           \
                                          size_t a_step, const float *b, size_t b_panel,       \
                                          float *c, size_t ldc, int nvalid, int accumulate,    \
                                          const gemm_tile_epilogue *ep)                        \
    {                                                                                          \
        kernel(MR, RB, NP, STREAMS(MR * RB * NP), kc, a0, a1, a_step, b, b_panel, c, ldc,      \
               nvalid, accumulate, ep);                                                        \
    }
#define DEFINE_MR(MR) DEFINE_KERNEL(MR, 1, 1) DEFINE_KERNEL(MR, 1, 2) DEFINE_KERNEL(MR, 2, 1) \
    DEFINE_KERNEL(MR, 2, 2)
DEFINE_MR(1)
DEFINE_MR(2)
DEFINE_MR(3)
DEFINE_MR(4)
DEFINE_MR(5)
DEFINE_MR(6)

typedef void kernel_fn(int kc, const float *a0, const float *a1, size_t a_step, const float *b,
                       size_t b_panel, float *c, size_t ldc, int nvalid, int accumulate,
                       const gemm_tile_epilogue *ep);
#define ROW(MR) {kernel_##MR##_1_1, kernel_##MR##_1_2, kernel_##MR##_2_1, kernel_##MR##_2_2}
static kernel_fn *const kernels[GEMM_MR][4] = {ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6)};

void cut_gemm_microkernel_avx512(int mr, int rb, int kc, const float *a0, const float *a1,
                                 int a_step, const float *b, size_t b_panel, float *c,
                                 size_t ldc, int nvalid, int accumulate,
                                 const gemm_tile_epilogue *ep)
{
    int np = nvalid > GEMM_NR ? 2 : 1;
    kernels[mr - 1][(rb - 1) * 2 + np - 1](kc, a0, a1, (size_t)a_step, b, b_panel, c, ldc,
                                           nvalid, accumulate, ep);
}

#else
/* Not x86-64 or no AVX-512 flags: gemm.c never calls the AVX-512 kernel. */
typedef int gemm_avx512_unavailable;
#endif
