/* AVX-512 row kernels of maxpool and resize (cpu_planes.h). Compiled with
 * -mavx512f ...; products and sums are separate instructions (no FMA), so
 * the results equal the 4-wide code's. */
#include "cpu_planes.h"

#if defined(__x86_64__) && defined(__AVX512F__)

#include <immintrin.h>
#include <stdint.h>

int cut_maxpool_row_avx512(const float *r0, const float *r1, float *o, int n)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int x = 0;
    for (; x + 16 <= n; x += 16) { /* 32 input columns, 16 outputs */
        /* max_ps(a, b) is a > b ? a : b, as max2 in backend_cpu.c */
        __m512 m0 = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * x), _mm512_loadu_ps(r1 + 2 * x));
        __m512 m1 = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * x + 16), _mm512_loadu_ps(r1 + 2 * x + 16));
        __m512 e = _mm512_permutex2var_ps(m0, even, m1), d = _mm512_permutex2var_ps(m0, odd, m1);
        _mm512_storeu_ps(o + x, _mm512_max_ps(e, d));
    }
    return x;
}

int cut_resize_twice_avx512(const float *in, float *out, int iw)
{
    const __m512 q = _mm512_set1_ps(0.25f), tq = _mm512_set1_ps(0.75f);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int i = 1;
    for (; i + 17 <= iw; i += 16) { /* reads in[i-1 .. i+16] */
        __m512 l = _mm512_loadu_ps(in + i - 1), c = _mm512_loadu_ps(in + i);
        __m512 r = _mm512_loadu_ps(in + i + 1), tc = _mm512_mul_ps(tq, c);
        __m512 ev = _mm512_add_ps(tc, _mm512_mul_ps(q, l)), od = _mm512_add_ps(tc, _mm512_mul_ps(q, r));
        _mm512_storeu_ps(out + 2 * i, _mm512_permutex2var_ps(ev, lo, od));
        _mm512_storeu_ps(out + 2 * i + 16, _mm512_permutex2var_ps(ev, hi, od));
    }
    return i;
}

int cut_resize_blend_avx512(const float *a, const float *b, float l0, float l1, float *o, int n,
                            int stream)
{
    const __m512 w0 = _mm512_set1_ps(l0), w1 = _mm512_set1_ps(l1);
    int x = 0;
#define BLEND(x) _mm512_add_ps(_mm512_mul_ps(w0, _mm512_loadu_ps(a + (x))), \
                               _mm512_mul_ps(w1, _mm512_loadu_ps(b + (x))))
    if (stream && ((uintptr_t)o & 63) == 0)
        for (; x + 16 <= n; x += 16) _mm512_stream_ps(o + x, BLEND(x));
    for (; x + 16 <= n; x += 16) _mm512_storeu_ps(o + x, BLEND(x));
#undef BLEND
    return x;
}

void cut_planes_fence(void) { _mm_sfence(); }

#else
/* Not x86-64 or no AVX-512 flags: never called; nothing done. */
int cut_maxpool_row_avx512(const float *r0, const float *r1, float *o, int n)
{
    (void)r0, (void)r1, (void)o, (void)n;
    return 0;
}
int cut_resize_twice_avx512(const float *in, float *out, int iw)
{
    (void)in, (void)out, (void)iw;
    return 1;
}
int cut_resize_blend_avx512(const float *a, const float *b, float l0, float l1, float *o, int n,
                            int stream)
{
    (void)a, (void)b, (void)l0, (void)l1, (void)o, (void)n, (void)stream;
    return 0;
}
void cut_planes_fence(void) {}
#endif
