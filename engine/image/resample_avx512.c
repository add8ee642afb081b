/* AVX-512 vertical pass for resample.c (compiled with -mavx512f -mavx512bw
 * ...; called only when the CPU has them). The arithmetic is the portable
 * pass's, so the bytes are the same: pixels widened to int32, multiplied by
 * the 22-bit weights, summed in int32, rounded, shifted and clamped as
 * clip8 (max with 0, then vpmovusdb saturates at 255). 64 bytes of a row
 * per step; the tail of the row is masked rather than done byte by byte.
 * The horizontal pass stays AVX2 (resample.c pairs them). */
#include "resample.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

/* 16 bytes (under mask m) -> 16 x int32 */
static inline __m512i widen16(const uint8_t *p, __mmask16 m)
{
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p));
}

/* Sixteen sums -> sixteen bytes, as cut_resample_clip. */
static inline __m128i clip16(__m512i a)
{
    a = _mm512_srai_epi32(_mm512_add_epi32(a, _mm512_set1_epi32(1 << (CUT_RESAMPLE_BITS - 1))),
                          CUT_RESAMPLE_BITS);
    return _mm512_cvtusepi32_epi8(_mm512_max_epi32(a, _mm512_setzero_si512()));
}

void cut_resample_v_avx512(const uint8_t *in, size_t in_stride, size_t row_bytes,
                           const cut_coeffs *co, uint8_t *out, size_t out_stride)
{
    for (int i = 0; i < co->out_size; i++) {
        const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
        const uint8_t *base = in + (size_t)co->first[i] * in_stride;
        uint8_t *o = out + (size_t)i * out_stride;
        int n = co->count[i];
        size_t x = 0;
        for (; x + 64 <= row_bytes; x += 64) {
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = base + x;
            for (int t = 0; t < n; t++, p += in_stride) {
                __m512i kt = _mm512_set1_epi32(k[t]);
                a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(widen16(p, 0xffff), kt));
                a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(widen16(p + 16, 0xffff), kt));
                a2 = _mm512_add_epi32(a2, _mm512_mullo_epi32(widen16(p + 32, 0xffff), kt));
                a3 = _mm512_add_epi32(a3, _mm512_mullo_epi32(widen16(p + 48, 0xffff), kt));
            }
            _mm_storeu_si128((__m128i *)(o + x), clip16(a0));
            _mm_storeu_si128((__m128i *)(o + x + 16), clip16(a1));
            _mm_storeu_si128((__m128i *)(o + x + 32), clip16(a2));
            _mm_storeu_si128((__m128i *)(o + x + 48), clip16(a3));
        }
        for (; x < row_bytes; x += 16) {
            size_t left = row_bytes - x;
            __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512i a = _mm512_setzero_si512();
            const uint8_t *p = base + x;
            for (int t = 0; t < n; t++, p += in_stride)
                a = _mm512_add_epi32(a, _mm512_mullo_epi32(widen16(p, m), _mm512_set1_epi32(k[t])));
            _mm_mask_storeu_epi8(o + x, m, clip16(a));
        }
    }
}

#else
/* Not x86-64 or no AVX-512 flags: resample.c never calls this. */
typedef int resample_avx512_unavailable;
#endif
