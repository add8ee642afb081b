/* 8-bit images: the library-internal part. The image type, decoding and
 * encoding are public (cutout.h, "Images"). */
#ifndef CUTOUT_IMAGE_H
#define CUTOUT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cutout.h"

/* Applies EXIF orientation 1..8 (PIL's exif_transpose) into a new image. */
int cut_image_orient(const cutout_image *src, int orientation, cutout_image *dst, char *err,
                     size_t errlen);

/* EXIF orientation (1..8) from a TIFF-structured EXIF block, with or
 * without the "Exif\0\0" prefix; 1 when absent or malformed. */
int cut_exif_orientation(const uint8_t *exif, size_t size);

#endif
