/* rembg's post_process_mask on an 8-bit mask:
 *   mask = cv2.morphologyEx(mask, MORPH_OPEN, getStructuringElement(MORPH_ELLIPSE, (3, 3)))
 *   mask = cv2.GaussianBlur(mask, (5, 5), sigmaX=2, sigmaY=2, borderType=BORDER_DEFAULT)
 *   mask = np.where(mask < 127, 0, 255)
 * The 3x3 ellipse is the cross (= skimage disk(1)). cv2's erode/dilate
 * ignore pixels outside the image (default border value). For 8-bit images
 * OpenCV's GaussianBlur is bit-exact fixed point: each 1-D kernel is
 * rounded to 8 fractional bits keeping the sum 256 (sigma 2, 5 taps:
 * exp(-x²/8) normalised = .1525 .2218 .2514 -> 39 57 64 57 39), the
 * horizontal pass is kept exact (Q8), the vertical pass sums in Q16 and the
 * result is rounded half up. BORDER_DEFAULT is BORDER_REFLECT_101. */
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "util.h"

static const int gauss5[5] = {39, 57, 64, 57, 39};

/* Reflect-101 index: -1 -> 1, n -> n-2; a 1-pixel side maps everything to 0. */
static int reflect101(int i, int n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * n - 2 - i;
    }
    return i;
}

/* One pass of erosion (is_max 0) or dilation (is_max 1) with the 3x3 cross. */
static void cross_pass(const uint8_t *src, uint8_t *dst, int w, int h, int is_max)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = src[(size_t)y * w + x];
            int nb[4] = {x > 0 ? src[(size_t)y * w + x - 1] : -1,
                         x + 1 < w ? src[(size_t)y * w + x + 1] : -1,
                         y > 0 ? src[(size_t)(y - 1) * w + x] : -1,
                         y + 1 < h ? src[(size_t)(y + 1) * w + x] : -1};
            for (int k = 0; k < 4; k++) {
                if (nb[k] < 0) continue; /* outside: ignored */
                if (is_max ? nb[k] > v : nb[k] < v) v = nb[k];
            }
            dst[(size_t)y * w + x] = (uint8_t)v;
        }
}

int cut_mask_post_process(cutout_image *mask, char *err, size_t errlen)
{
    if (!mask || !mask->pixels || mask->channels != 1)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "post-process: need a 1-channel mask");
    int w = mask->width, h = mask->height;
    size_t n;
    if (!cut_mul_size((size_t)w, (size_t)h, &n))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "post-process: mask too large");
    uint8_t *a = calloc(n ? n : 1, 1), *b = malloc(n ? n : 1);
    uint32_t *hq = malloc(n * sizeof *hq);
    if (!a || !b || !hq) {
        free(a);
        free(b);
        free(hq);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "post-process: out of memory");
    }
    for (int y = 0; y < h; y++) memcpy(a + (size_t)y * w, mask->pixels + (size_t)y * mask->stride, (size_t)w);
    cross_pass(a, b, w, h, 0); /* opening = erosion then dilation */
    cross_pass(b, a, w, h, 1);

    for (int y = 0; y < h; y++) /* horizontal, exact in Q8 */
        for (int x = 0; x < w; x++) {
            uint32_t s = 0;
            for (int k = -2; k <= 2; k++) s += (uint32_t)gauss5[k + 2] * a[(size_t)y * w + reflect101(x + k, w)];
            hq[(size_t)y * w + x] = s;
        }
    for (int y = 0; y < h; y++) { /* vertical in Q16, rounded, thresholded */
        uint8_t *row = mask->pixels + (size_t)y * mask->stride;
        for (int x = 0; x < w; x++) {
            uint32_t s = 0;
            for (int k = -2; k <= 2; k++) s += (uint32_t)gauss5[k + 2] * hq[(size_t)reflect101(y + k, h) * w + x];
            uint32_t v = (s + (1u << 15)) >> 16;
            row[x] = v < 127 ? 0 : 255;
        }
    }
    free(a);
    free(b);
    free(hq);
    return CUTOUT_OK;
}
