/* PIL-exact LANCZOS resizing of 8-bit images (Image.resize(size, LANCZOS)
 * of Pillow 9.x, whose arithmetic has not changed since 4.x).
 *
 * PIL's algorithm, reproduced here integer for integer: a separable a=3
 * windowed sinc whose support is scaled by the downscale factor; per output
 * pixel the weights are normalised in double, then rounded to signed 22-bit
 * fixed point; each pass starts from 1 << 21, accumulates pixel * weight in
 * 32-bit integers, shifts right by 22 and clamps to 0..255. The horizontal
 * pass runs first (only over the rows the vertical pass reads), the vertical
 * pass reads its rounded uint8 result. A pass whose size does not change is
 * skipped, and an unchanged size returns a copy. RGBA is premultiplied with
 * PIL's rounding before and unpremultiplied after, as PIL's resize does.
 *
 * Integer sums do not depend on their order, so the AVX2 code gives the same
 * bytes as the portable code and as PIL. */
#ifndef CUTOUT_RESAMPLE_H
#define CUTOUT_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "threadpool.h"

/* Resizes src (1, 3 or 4 channels) into a newly allocated dst, with the
 * passes spread over tp's threads (NULL: the calling thread only); the same
 * bytes either way. */
int cut_resize_lanczos(const cutout_image *src, int width, int height, cutout_image *dst,
                       threadpool *tp, char *err, size_t errlen);

/* Same, choosing the implementation: simd 0 runs the portable code only
 * (tests check both give identical bytes), 1 uses AVX2 when the CPU has it. */
int cut_resize_lanczos_impl(const cutout_image *src, int width, int height, cutout_image *dst,
                            int simd, char *err, size_t errlen);

/* ---- shared by resample.c, resample_avx2.c and resample_avx512.c ---- */

#define CUT_RESAMPLE_BITS 22

/* One pass's weights: output i reads inputs first[i] .. first[i]+count[i]-1
 * with weights k[i*kstride ..], zero beyond count up to kstride (a multiple
 * of 8, so SIMD loads of whole 8-tap groups stay inside the row of weights). */
typedef struct {
    int out_size, kstride;
    int *first, *count;
    int32_t *k;
} cut_coeffs;

int cut_lanczos_coeffs(int in_size, int out_size, cut_coeffs *c); /* 0 or -1 (memory) */
void cut_coeffs_free(cut_coeffs *c);

static inline uint8_t cut_resample_clip(int32_t acc)
{
    int32_t v = acc >> CUT_RESAMPLE_BITS; /* arithmetic shift, as PIL's clip8 */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One output pixel of the horizontal pass: channels c, row of input pixels. */
static inline void cut_resample_h_pixel(const uint8_t *row, int c, const cut_coeffs *co, int i,
                                        uint8_t *out)
{
    const int32_t *k = co->k + (size_t)i * (size_t)co->kstride;
    const uint8_t *p = row + (size_t)co->first[i] * (size_t)c;
    for (int ch = 0; ch < c; ch++) {
        int32_t acc = 1 << (CUT_RESAMPLE_BITS - 1);
        for (int t = 0; t < co->count[i]; t++) acc += (int32_t)p[(size_t)t * (size_t)c + (size_t)ch] * k[t];
        out[ch] = cut_resample_clip(acc);
    }
}

/* Horizontal pass over one row of w pixels of c channels. */
void cut_resample_h_row_avx2(const uint8_t *row, int w, int c, const cut_coeffs *co,
                             uint8_t *out);
/* Vertical pass: every output row is a weighted sum of input rows of
 * row_bytes bytes (channels do not matter). */
void cut_resample_v_avx2(const uint8_t *in, size_t in_stride, size_t row_bytes,
                         const cut_coeffs *co, uint8_t *out, size_t out_stride);
/* The same vertical pass, 64 bytes a step (resample_avx512.c). */
void cut_resample_v_avx512(const uint8_t *in, size_t in_stride, size_t row_bytes,
                           const cut_coeffs *co, uint8_t *out, size_t out_stride);

#endif
