/* Per-format decoders and encoders behind cut_image_decode/encode (image_io.c).
 * Decoders return the pixels as stored (no orientation applied) and fill
 * info->orientation; image_io.c applies it. */
#ifndef CUTOUT_IMAGE_CODEC_H
#define CUTOUT_IMAGE_CODEC_H

#include "image.h"

/* Checks a header's dimensions against the limits; "FMT: ..." messages. */
int cut_check_limits(const char *fmt, uint64_t width, uint64_t height,
                     const cut_image_limits *limits, char *err, size_t errlen);

int cut_png_decode(const uint8_t *data, size_t size, const cut_image_limits *limits,
                   cut_decode_flags flags, cut_image *out, cut_image_info *info, char *err,
                   size_t errlen);
int cut_jpeg_decode(const uint8_t *data, size_t size, const cut_image_limits *limits,
                    cut_image *out, cut_image_info *info, char *err, size_t errlen);
int cut_webp_decode(const uint8_t *data, size_t size, const cut_image_limits *limits,
                    cut_image *out, cut_image_info *info, char *err, size_t errlen);

int cut_png_encode(const cut_image *img, int level, uint8_t **data, size_t *size, char *err,
                   size_t errlen);
int cut_jpeg_encode(const cut_image *img, int quality, uint8_t **data, size_t *size,
                    char *err, size_t errlen);
int cut_webp_encode(const cut_image *img, int quality, int lossless, uint8_t **data,
                    size_t *size, char *err, size_t errlen);

#endif
