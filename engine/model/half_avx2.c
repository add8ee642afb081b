/* F16C conversion of FLOAT16 weights (half.h): an fp16 ISNet has 44 M of
 * them, and the scalar conversion was most of the parse time. */
#include "half.h"

#include "cpu_features.h"

int cut_half_have_f16c(void)
{
#if defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__)
    return cut_cpu_has(CUT_CPU_AVX2 | CUT_CPU_F16C);
#else
    return 0;
#endif
}

#if defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

size_t cut_half_to_float_f16c(const uint8_t *src, float *dst, size_t n)
{
    const __m128i exp_mask = _mm_set1_epi16(0x7c00);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        __m128i special = _mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask);
        if (_mm_movemask_epi8(special)) break;
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}
#else
size_t cut_half_to_float_f16c(const uint8_t *src, float *dst, size_t n)
{
    (void)src, (void)dst, (void)n;
    return 0;
}
#endif
