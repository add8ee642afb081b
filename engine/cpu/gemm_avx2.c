/* AVX2+FMA micro-kernel for gemm.c (compiled with -mavx2 -mfma; called only
 * when the CPU has both).
 *
 * A micro-tile is mr (1..6) rows × 16 columns: 2·mr ymm accumulators, two
 * ymm of B per k and one broadcast of A per row. FMA has latency 4 and two
 * issue per cycle on Zen 3 / Haswell, so eight independent accumulators are
 * needed to keep both units busy: below 4 rows the kernel runs S
 * interleaved k streams with separate accumulators and adds them at the end. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* c (mr rows × nvalid columns) = acc (+ c when accumulate), then
 * + bias[row], relu, + res[row·ldr + col] for those given. */
static ALWAYS_INLINE void store_tile(const int MR, __m256 acc[][2], float *c, size_t ldc,
                                     int accumulate, int full, int nvalid, const float *bias,
                                     int relu, const float *res, size_t ldr)
{
    __m256i mask[2];
    if (!full) {
        __m256i n = _mm256_set1_epi32(nvalid);
        mask[0] = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        mask[1] = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
    } else {
        mask[0] = mask[1] = _mm256_set1_epi32(-1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) {
            float *p = c + (size_t)i * ldc + 8 * v;
            __m256 x = acc[i][v];
            if (accumulate)
                x = _mm256_add_ps(x, full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask[v]));
            if (bias) x = _mm256_add_ps(x, _mm256_broadcast_ss(bias + i));
            /* max(0, x) returns x when x is NaN: NaN propagates as in PyTorch. */
            if (relu) x = _mm256_max_ps(_mm256_setzero_ps(), x);
            if (res) {
                const float *r = res + (size_t)i * ldr + 8 * v;
                x = _mm256_add_ps(x, full ? _mm256_loadu_ps(r) : _mm256_maskload_ps(r, mask[v]));
            }
            if (full)
                _mm256_storeu_ps(p, x);
            else
                _mm256_maskstore_ps(p, mask[v], x);
        }
    }
}

static ALWAYS_INLINE void kernel_mr(const int MR, const int S, int kc, const float *a,
                                    size_t a_step, const float *b, float *c, size_t ldc,
                                    int nvalid, int accumulate, const gemm_tile_epilogue *ep)
{
    __m256 acc[4][GEMM_MR][2];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++)
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) acc[s][i][0] = acc[s][i][1] = _mm256_setzero_ps();

    /* C rows (and residual rows) are a plane apart: fetch them while the
     * k loop runs. */
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 15), _MM_HINT_T0);
    }
    if (ep && ep->res)
        for (int i = 0; i < MR; i++) {
            _mm_prefetch((const char *)(ep->res + (size_t)i * ep->ldr), _MM_HINT_T0);
            _mm_prefetch((const char *)(ep->res + (size_t)i * ep->ldr + 15), _MM_HINT_T0);
        }

    int k = 0;
    for (; k + S <= kc; k += S) {
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            const float *bk = b + (size_t)(k + s) * GEMM_NR;
            const float *ak = a + (size_t)(k + s) * a_step;
            __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) {
                __m256 ai = _mm256_broadcast_ss(ak + i);
                acc[s][i][0] = _mm256_fmadd_ps(ai, b0, acc[s][i][0]);
                acc[s][i][1] = _mm256_fmadd_ps(ai, b1, acc[s][i][1]);
            }
        }
    }
    for (; k < kc; k++) {
        const float *bk = b + (size_t)k * GEMM_NR;
        const float *ak = a + (size_t)k * a_step;
        __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(ak + i);
            acc[0][i][0] = _mm256_fmadd_ps(ai, b0, acc[0][i][0]);
            acc[0][i][1] = _mm256_fmadd_ps(ai, b1, acc[0][i][1]);
        }
    }
#pragma GCC unroll 4
    for (int s = 1; s < S; s++)
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            acc[0][i][0] = _mm256_add_ps(acc[0][i][0], acc[s][i][0]);
            acc[0][i][1] = _mm256_add_ps(acc[0][i][1], acc[s][i][1]);
        }

    /* The common cases get their own branch-free copies of the store loop
     * (with kc as small as 27, per-row flag tests cost 15%): plain, and a
     * conv's bias+relu with or without a residual, on full tiles. */
    const int full = nvalid == GEMM_NR;
#define STORE(ACC, ...)                                                                        \
    do {                                                                                       \
        if (ACC)                                                                               \
            store_tile(MR, acc[0], c, ldc, 1, __VA_ARGS__);                                    \
        else                                                                                   \
            store_tile(MR, acc[0], c, ldc, 0, __VA_ARGS__);                                    \
    } while (0)
    if (!ep && full)
        STORE(accumulate, 1, GEMM_NR, NULL, 0, NULL, 0);
    else if (full && ep->bias && ep->relu && !ep->res)
        STORE(accumulate, 1, GEMM_NR, ep->bias, 1, NULL, 0);
    else if (full && ep->bias && ep->relu && ep->res)
        STORE(accumulate, 1, GEMM_NR, ep->bias, 1, ep->res, ep->ldr);
    else if (!ep)
        store_tile(MR, acc[0], c, ldc, accumulate, full, nvalid, NULL, 0, NULL, 0);
    else
        store_tile(MR, acc[0], c, ldc, accumulate, full, nvalid, ep->bias, ep->relu, ep->res,
                   ep->ldr);
#undef STORE
}

#define DEFINE_KERNEL(MR, S)                                                                   \
    static void kernel_##MR(int kc, const float *a, size_t a_step, const float *b, float *c,  \
                            size_t ldc, int nvalid, int accumulate,                            \
                            const gemm_tile_epilogue *ep)                                      \
    {                                                                                          \
        kernel_mr(MR, S, kc, a, a_step, b, c, ldc, nvalid, accumulate, ep);                    \
    }

DEFINE_KERNEL(1, 4)
DEFINE_KERNEL(2, 2)
DEFINE_KERNEL(3, 2)
DEFINE_KERNEL(4, 1)
DEFINE_KERNEL(5, 1)
DEFINE_KERNEL(6, 1)

void cut_gemm_microkernel_avx2(int mr, int kc, const float *a, int a_step, const float *b, float *c,
                           size_t ldc, int nvalid, int accumulate, const gemm_tile_epilogue *ep)
{
    size_t st = (size_t)a_step;
    switch (mr) {
    case 1: kernel_1(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    case 2: kernel_2(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    case 3: kernel_3(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    case 4: kernel_4(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    case 5: kernel_5(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    default: kernel_6(kc, a, st, b, c, ldc, nvalid, accumulate, ep); break;
    }
}

#else
/* Not x86-64 or no AVX2 flags: gemm.c never calls the AVX2 kernel. */
typedef int gemm_avx2_unavailable;
#endif
