/* rembg's u2net_cloth_seg post-processing (rembg/sessions/u2net_cloth_seg.py):
 * the class of each pixel is the argmax over the output channels, resized to
 * the image with LANCZOS as an 8-bit image of class indices, then each class
 * becomes a mask through a 4-colour palette. */
#include <string.h>

#include "cutout.h"
#include "resample.h"
#include "util.h"

/* rembg's palettes have 4 entries (background, upper, lower, full). */
#define PALETTE_ENTRIES 4

int cutout_pipeline_class_map(const float *pred, int channels, int size, int width, int height,
                              cutout_image *map, cutout_pool *pool, char *err, size_t errlen)
{
    memset(map, 0, sizeof *map);
    if (!pred || channels < 1 || channels > 255 || size < 1 || width < 1 || height < 1)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "class map: bad arguments");
    cutout_image small = {0};
    int rc = cutout_image_alloc(&small, size, size, 1, err, errlen);
    if (rc) return rc;
    size_t plane = (size_t)size * (size_t)size;
    for (size_t i = 0; i < plane; i++) {
        /* numpy argmax: the first channel holding the maximum */
        int best = 0;
        for (int c = 1; c < channels; c++)
            if (pred[(size_t)c * plane + i] > pred[(size_t)best * plane + i]) best = c;
        small.pixels[i] = (uint8_t)best;
    }
    rc = cut_resize_lanczos(&small, width, height, map, pool, err, errlen);
    cutout_image_free(&small);
    return rc;
}

int cutout_pipeline_class_mask(const cutout_image *map, int cls, cutout_image *mask, char *err,
                               size_t errlen)
{
    memset(mask, 0, sizeof *mask);
    if (!map || !map->pixels || map->channels != 1 || cls < 1 || cls >= PALETTE_ENTRIES)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "class mask: bad arguments");
    int rc = cutout_image_alloc(mask, map->width, map->height, 1, err, errlen);
    if (rc) return rc;
    for (int y = 0; y < map->height; y++) {
        const uint8_t *in = map->pixels + (size_t)y * map->stride;
        uint8_t *out = mask->pixels + (size_t)y * mask->stride;
        /* The palette is white at cls and black at the other three entries;
         * PIL leaves indices past the palette's end grey (index i -> i), and
         * LANCZOS overshoot puts a few there. */
        for (int x = 0; x < map->width; x++)
            out[x] = in[x] == cls ? 255 : in[x] < PALETTE_ENTRIES ? 0 : in[x];
    }
    return CUTOUT_OK;
}

int cutout_stack_vertical(const cutout_image *imgs, int n, int channels, cutout_image *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!imgs || n < 1 || (channels != 1 && channels != 3 && channels != 4))
        return cut_fail(err, errlen, CUTOUT_E_ARG, "stack: bad arguments");
    int height = 0;
    for (int i = 0; i < n; i++) {
        if (!imgs[i].pixels || imgs[i].height > (1 << 30) - height)
            return cut_fail(err, errlen, CUTOUT_E_ARG, "stack: bad image %d", i);
        height += imgs[i].height;
    }
    int rc = cutout_image_alloc(out, imgs[0].width, height, channels, err, errlen);
    if (rc) return rc;
    /* PIL's Image.new("RGBA") + paste: uncovered pixels stay 0 (transparent black) */
    memset(out->pixels, 0, out->stride * (size_t)height);
    int y0 = 0;
    for (int i = 0; i < n && !rc; i++) {
        cutout_image conv = {0};
        const cutout_image *src = &imgs[i];
        if (src->channels != channels) {
            rc = cutout_image_convert(src, channels, &conv, err, errlen);
            src = &conv;
        }
        int w = src->width < out->width ? src->width : out->width;
        for (int y = 0; !rc && y < src->height; y++)
            memcpy(out->pixels + (size_t)(y0 + y) * out->stride,
                   src->pixels + (size_t)y * src->stride, (size_t)w * channels);
        y0 += imgs[i].height;
        cutout_image_free(&conv);
    }
    if (rc) cutout_image_free(out);
    return rc;
}
