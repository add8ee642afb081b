/* cutout_image_probe: a file's declared size and what processing it costs
 * in memory, from its header alone, so that a server can budget a request
 * before it decodes anything. The figures follow the allocations of the
 * decoders (image_*.c) and of the pipeline as the server runs it
 * (preprocess, mask, render, encode); they are upper estimates. */
#include <string.h>

#include "image_codec.h"
#include "util.h"

/* Bytes per pixel at the peak after decoding: the decoded image (RGBA at
 * most), the mask (1), the rendered output (RGBA) and the encoded answer
 * (at most about its raw size). */
#define AFTER_DECODE_BYTES_PER_PIXEL (4 + 1 + 4 + 4)

static uint64_t u64max(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Whole-image buffers a decoder holds besides the output, per pixel in
 * 1/8 bytes: progressive JPEG keeps every DCT coefficient (2 bytes per
 * sample, every component at full resolution at most); lossless WebP and
 * animation frames decode through a whole-frame ARGB buffer; PNG's raw
 * rows are kept when they need converting (palettes, 16 bits). */
static uint64_t decoder_eighths_per_pixel(const cutout_image_probe_info *pi, int components,
                                          int lossless, int png_bits)
{
    switch (pi->format) {
    case CUTOUT_FORMAT_JPEG: return pi->progressive ? 16u * (uint64_t)components : 0;
    case CUTOUT_FORMAT_WEBP: return lossless ? 32 : 0;
    case CUTOUT_FORMAT_PNG: return (uint64_t)png_bits;
    default: return 0;
    }
}

int cutout_image_probe(const void *data, size_t size, int model_size,
                       cutout_image_probe_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    if (!data || model_size < 0) return cut_fail(err, errlen, CUTOUT_E_ARG, "probe: no image data");
    const uint8_t *p = data;
    info->format = cutout_image_sniff(p, size);
    info->frames = 1;
    int components = 3, lossless = 0, png_bits = 0, rc;
    switch (info->format) {
    case CUTOUT_FORMAT_PNG:
        rc = cut_png_header(p, size, &info->width, &info->height, &info->frames, &png_bits, err,
                            errlen);
        break;
    case CUTOUT_FORMAT_JPEG:
        rc = cut_jpeg_header(p, size, &info->width, &info->height, &components,
                             &info->progressive, err, errlen);
        break;
    case CUTOUT_FORMAT_WEBP:
        rc = cut_webp_header(p, size, &info->width, &info->height, &info->frames, &lossless, err,
                             errlen);
        break;
    default:
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "not a PNG, JPEG or WebP image");
    }
    if (rc) return rc;
    uint64_t px = (uint64_t)info->width * (uint64_t)info->height; /* < 2^62 */
    /* The output (RGBA at most) and its EXIF-rotated copy, plus the decoder's own. */
    info->decode_bytes =
        px * 8 + px * decoder_eighths_per_pixel(info, components, lossless, png_bits) / 8;
    uint64_t s = (uint64_t)model_size, w = (uint64_t)info->width, h = (uint64_t)info->height;
    /* The network's input (3 floats a pixel) and output (1 float), and the
     * resampler's intermediate between the image and the model size (model
     * size x image side, 4 floats a pixel). */
    uint64_t model = model_size ? s * s * 16 + s * (w + h) * 16 : 0;
    info->peak_bytes =
        u64max(info->decode_bytes, px * AFTER_DECODE_BYTES_PER_PIXEL) + model;
    return CUTOUT_OK;
}
