/* The Winograd weight transform U = G·g·Gᵀ, four input channels per AVX2
 * vector of doubles (cpu_winograd.h). Explicit multiplies and adds, no FMA
 * (-std=c11 leaves contraction off), so every lane rounds as the scalar
 * transform does. */
#include "cpu_winograd.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

/* out[r] = G[r][0]·x0 + G[r][1]·x1 + G[r][2]·x2, lane by lane. */
static inline void g_apply4(__m256d x0, __m256d x1, __m256d x2, __m256d out[6])
{
    for (int r = 0; r < 6; r++) {
        __m256d s = _mm256_mul_pd(_mm256_set1_pd(WINO_G[r][0]), x0);
        s = _mm256_add_pd(s, _mm256_mul_pd(_mm256_set1_pd(WINO_G[r][1]), x1));
        out[r] = _mm256_add_pd(s, _mm256_mul_pd(_mm256_set1_pd(WINO_G[r][2]), x2));
    }
}

void cut_wino_weights4_avx2(const float *g, float *dst, int step, size_t mk)
{
    __m256d x[9]; /* weight e of the four channels */
    for (int e = 0; e < 9; e++)
        x[e] = _mm256_cvtps_pd(_mm_set_ps(g[27 + e], g[18 + e], g[9 + e], g[e]));
    __m256d t[3][6]; /* G·g, column by column of g */
    for (int j = 0; j < 3; j++) g_apply4(x[j], x[3 + j], x[6 + j], t[j]);
    for (int i = 0; i < 6; i++) {
        __m256d u[6]; /* row i of (G·g)·Gᵀ */
        g_apply4(t[0][i], t[1][i], t[2][i], u);
        for (int j = 0; j < 6; j++) {
            float f[4];
            _mm_storeu_ps(f, _mm256_cvtpd_ps(u[j]));
            float *o = dst + (size_t)(i * 6 + j) * mk;
            o[0] = f[0];
            o[step] = f[1];
            o[2 * step] = f[2];
            o[3 * step] = f[3];
        }
    }
}
#else
/* Not x86-64 or no AVX2 flags: cut_gemm_have_avx2() is 0, never called. */
void cut_wino_weights4_avx2(const float *g, float *dst, int step, size_t mk)
{
    (void)g, (void)dst, (void)step, (void)mk;
}
#endif
