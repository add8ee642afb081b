/* Per-format decoders and encoders behind cutout_image_decode/encode (image_io.c).
 * Decoders return the pixels as stored (no orientation applied) and fill
 * info->orientation; image_io.c applies it. */
#ifndef CUTOUT_IMAGE_CODEC_H
#define CUTOUT_IMAGE_CODEC_H

#include "image.h"
#include "threadpool.h"

/* Checks a header's dimensions against the limits; "FMT: ..." messages. */
int cut_check_limits(const char *fmt, uint64_t width, uint64_t height,
                     const cutout_image_limits *limits, char *err, size_t errlen);

int cut_png_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                   cutout_decode_flags flags, cutout_image *out, cutout_image_info *info, char *err,
                   size_t errlen);
int cut_jpeg_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                    cutout_image *out, cutout_image_info *info, char *err, size_t errlen);
/* Header fields for cutout_image_probe (image_probe.c), no pixels decoded. */
int cut_jpeg_header(const uint8_t *data, size_t size, int *width, int *height, int *components,
                    int *progressive, char *err, size_t errlen);
int cut_webp_header(const uint8_t *data, size_t size, int *width, int *height, int *frames,
                    int *lossless, char *err, size_t errlen);
int cut_png_header(const uint8_t *data, size_t size, int *width, int *height, int *frames,
                   int *bits_per_pixel, char *err, size_t errlen);

int cut_webp_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                    cutout_image *out, cutout_image_info *info, char *err, size_t errlen);

/* A BMP's dimensions and whether it is RLE-compressed, from its header (checked
 * as the decoder checks it). */
int cut_bmp_header(const uint8_t *data, size_t size, int *width, int *height, int *rle,
                   char *err, size_t errlen);
int cut_bmp_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                   cutout_image *out, cutout_image_info *info, char *err, size_t errlen);

int cut_png_encode(const cutout_image *img, int level, uint8_t **data, size_t *size, char *err,
                   size_t errlen);
/* The same PNG (pixels) as cut_png_encode, for levels 0..3 deflated in
 * strips on the pool's threads (tp NULL: on the calling thread); other
 * levels, or a build without direct zlib access, go to cut_png_encode. */
int cut_png_encode_parallel(const cutout_image *img, int level, threadpool *tp, uint8_t **data,
                            size_t *size, char *err, size_t errlen);
/* Same, choosing the Paeth filter: simd 0 runs the portable code only (tests
 * check both give identical bytes), 1 uses AVX2 when the CPU has it. */
int cut_png_encode_parallel_impl(const cutout_image *img, int level, threadpool *tp, int simd,
                                 uint8_t **data, size_t *size, char *err, size_t errlen);
/* The same PNG (pixels, Paeth-filtered rows) as cut_png_encode_parallel,
 * for levels 1..3 deflated whole by libdeflate at that level on the calling
 * thread: faster and smaller than zlib; other levels go to cut_png_encode. */
int cut_png_encode_deflate(const cutout_image *img, int level, uint8_t **data, size_t *size,
                           char *err, size_t errlen);
int cut_jpeg_encode(const cutout_image *img, int quality, uint8_t **data, size_t *size,
                    char *err, size_t errlen);
int cut_webp_encode(const cutout_image *img, int quality, int lossless, uint8_t **data,
                    size_t *size, char *err, size_t errlen);

#endif
