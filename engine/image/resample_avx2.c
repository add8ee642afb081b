/* AVX2 passes for resample.c (compiled with -mavx2; called only when the CPU
 * has it). Same integer arithmetic as the portable passes, so the same bytes:
 * pixels widened to int32, multiplied by the 22-bit weights (vpmulld), summed
 * in int32. The last few output pixels of a row, whose 8-tap groups would
 * read past the end of the input row, use the portable per-pixel code. */
#include "resample.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>
#include <string.h>

static inline __m256i widen8(const uint8_t *p) /* 8 bytes -> 8 x int32 */
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

static inline int32_t hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Four int32 channel sums (+ rounding) -> four clamped bytes, as clip8. */
static inline uint32_t clip4(__m128i acc)
{
    acc = _mm_add_epi32(acc, _mm_set1_epi32(1 << (CUT_RESAMPLE_BITS - 1)));
    acc = _mm_srai_epi32(acc, CUT_RESAMPLE_BITS);
    __m128i b = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
    return (uint32_t)_mm_cvtsi128_si32(b);
}

static void h_row_gray(const uint8_t *row, int w, const cut_coeffs *co, uint8_t *out)
{
    for (int i = 0; i < co->out_size; i++) {
        int first = co->first[i], groups = (co->count[i] + 7) / 8;
        if (first + 8 * groups > w) {
            cut_resample_h_pixel(row, 1, co, i, out + i);
            continue;
        }
        const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
        const uint8_t *p = row + first;
        __m256i acc = _mm256_setzero_si256();
        for (int g = 0; g < groups; g++)
            acc = _mm256_add_epi32(
                acc, _mm256_mullo_epi32(widen8(p + 8 * g),
                                        _mm256_loadu_si256((const __m256i *)(k + 8 * g))));
        out[i] = cut_resample_clip(hsum(acc) + (1 << (CUT_RESAMPLE_BITS - 1)));
    }
}

/* RGB and RGBA: each 8-tap group becomes four vectors of two RGBX pixels,
 * multiplied by the weights of those two pixels spread over 4 lanes each. */
static void h_row_color(const uint8_t *row, int w, int c, const cut_coeffs *co, uint8_t *out)
{
    const __m256i sel01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i sel23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    const __m256i sel45 = _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5);
    const __m256i sel67 = _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7);
    /* RGB RGB RGB RGB -> RGB0 RGB0 RGB0 RGB0 */
    const __m128i rgbx = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    /* bytes a group reads: 8 pixels, and 4 more for RGB's second 16-byte load */
    size_t span = c == 4 ? 32 : 28;
    size_t row_bytes = (size_t)w * (size_t)c;
    for (int i = 0; i < co->out_size; i++) {
        int first = co->first[i], groups = (co->count[i] + 7) / 8;
        size_t start = (size_t)first * (size_t)c;
        if (start + (size_t)(groups - 1) * 8 * (size_t)c + span > row_bytes) {
            cut_resample_h_pixel(row, c, co, i, out + (size_t)i * (size_t)c);
            continue;
        }
        const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
        const uint8_t *p = row + start;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int g = 0; g < groups; g++, p += 8 * c) {
            __m128i lo, hi;
            if (c == 4) {
                lo = _mm_loadu_si128((const __m128i *)p);
                hi = _mm_loadu_si128((const __m128i *)(p + 16));
            } else {
                lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), rgbx);
                hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 12)), rgbx);
            }
            __m256i kk = _mm256_loadu_si256((const __m256i *)(k + 8 * g));
            __m256i p01 = _mm256_cvtepu8_epi32(lo);
            __m256i p23 = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
            __m256i p45 = _mm256_cvtepu8_epi32(hi);
            __m256i p67 = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(p01, _mm256_permutevar8x32_epi32(kk, sel01)));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(p23, _mm256_permutevar8x32_epi32(kk, sel23)));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(p45, _mm256_permutevar8x32_epi32(kk, sel45)));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(p67, _mm256_permutevar8x32_epi32(kk, sel67)));
        }
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        __m128i px = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        uint32_t v = clip4(px);
        memcpy(out + (size_t)i * (size_t)c, &v, (size_t)c);
    }
}

void cut_resample_h_row_avx2(const uint8_t *row, int w, int c, const cut_coeffs *co,
                             uint8_t *out)
{
    if (c == 1)
        h_row_gray(row, w, co, out);
    else
        h_row_color(row, w, c, co, out);
}

/* 32 output bytes from four int32 accumulators of 8 lanes each. */
static inline __m256i clip32(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    const __m256i r = _mm256_set1_epi32(1 << (CUT_RESAMPLE_BITS - 1));
    a0 = _mm256_srai_epi32(_mm256_add_epi32(a0, r), CUT_RESAMPLE_BITS);
    a1 = _mm256_srai_epi32(_mm256_add_epi32(a1, r), CUT_RESAMPLE_BITS);
    a2 = _mm256_srai_epi32(_mm256_add_epi32(a2, r), CUT_RESAMPLE_BITS);
    a3 = _mm256_srai_epi32(_mm256_add_epi32(a3, r), CUT_RESAMPLE_BITS);
    __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
    /* the packs work within 128-bit halves: put the 4-byte groups back in order */
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void cut_resample_v_avx2(const uint8_t *in, size_t in_stride, size_t row_bytes,
                         const cut_coeffs *co, uint8_t *out, size_t out_stride)
{
    for (int i = 0; i < co->out_size; i++) {
        const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
        const uint8_t *base = in + (size_t)co->first[i] * in_stride;
        uint8_t *o = out + (size_t)i * out_stride;
        int n = co->count[i];
        size_t x = 0;
        for (; x + 32 <= row_bytes; x += 32) {
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = base + x;
            for (int t = 0; t < n; t++, p += in_stride) {
                __m256i kt = _mm256_set1_epi32(k[t]);
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(widen8(p), kt));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(widen8(p + 8), kt));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(widen8(p + 16), kt));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(widen8(p + 24), kt));
            }
            _mm256_storeu_si256((__m256i *)(o + x), clip32(a0, a1, a2, a3));
        }
        for (; x + 8 <= row_bytes; x += 8) {
            __m256i a = _mm256_setzero_si256();
            const uint8_t *p = base + x;
            for (int t = 0; t < n; t++, p += in_stride)
                a = _mm256_add_epi32(a, _mm256_mullo_epi32(widen8(p), _mm256_set1_epi32(k[t])));
            /* clip32 orders its output bytes: the first 8 are a's lanes */
            _mm_storel_epi64((__m128i *)(o + x), _mm256_castsi256_si128(clip32(a, a, a, a)));
        }
        for (; x < row_bytes; x++) {
            int32_t acc = 1 << (CUT_RESAMPLE_BITS - 1);
            for (int t = 0; t < n; t++) acc += (int32_t)base[(size_t)t * in_stride + x] * k[t];
            o[x] = cut_resample_clip(acc);
        }
    }
}

#else
/* Not x86-64 or no AVX2 flags: resample.c never calls these. */
typedef int resample_avx2_unavailable;
#endif
