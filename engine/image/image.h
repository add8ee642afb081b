/* 8-bit images: decoding (PNG, JPEG, WebP, from memory) and encoding.
 *
 * Decoding follows what PIL does for Image.open(...) + ImageOps.exif_transpose
 * + convert("RGB"/"RGBA"), so that the pipeline sees the same pixels rembg
 * sees. Known, deliberate differences are listed at cut_image_decode(). */
#ifndef CUTOUT_IMAGE_H
#define CUTOUT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Interleaved 8-bit pixels: channels 1 (grey), 3 (RGB) or 4 (RGBA, straight
 * alpha). Rows are stride bytes apart (stride >= width * channels). */
typedef struct {
    int width, height, channels;
    size_t stride;
    uint8_t *pixels;
} cut_image;

/* Allocates width x height x channels (tight stride, contents undefined). */
int cut_image_alloc(cut_image *img, int width, int height, int channels, char *err,
                    size_t errlen);
/* Frees the pixels and zeroes the struct; safe on a zeroed struct. */
void cut_image_free(cut_image *img);

/* Converts to 1, 3 or 4 channels into a new image, like PIL's convert():
 * grey -> RGB replicates; RGBA -> RGB drops alpha (no compositing); RGB ->
 * grey is ITU-R 601 (PIL's L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16);
 * anything -> RGBA gets alpha 255 where it had none. */
int cut_image_convert(const cut_image *src, int channels, cut_image *dst, char *err,
                      size_t errlen);

typedef enum {
    CUT_FORMAT_UNKNOWN = 0,
    CUT_FORMAT_PNG = 1,
    CUT_FORMAT_JPEG = 2,
    CUT_FORMAT_WEBP = 3
} cut_image_format;

/* By magic bytes only. */
cut_image_format cut_image_sniff(const void *data, size_t size);
const char *cut_image_format_name(cut_image_format format); /* "PNG", ... */

/* Checked from the file header before any pixel memory is allocated.
 * Zero means no limit. Dimensions are those stored in the file (before the
 * EXIF rotation, which only swaps them). */
typedef struct {
    uint64_t max_pixels;
    int max_dimension;
    int min_dimension;
} cut_image_limits;

typedef struct {
    unsigned gray16_clip : 1; /* 16-bit grey PNG like PIL 9.4: values clipped
                                 to 0..255 instead of scaled (>> 8). */
} cut_decode_flags;

typedef struct {
    cut_image_format format;
    int file_width, file_height; /* as stored, before orientation */
    int orientation;             /* EXIF orientation 1..8 (1 if none); already applied */
    int frames;                  /* animation frames (WebP, APNG), 1 otherwise */
    int has_alpha;               /* alpha channel or tRNS transparency: output is RGBA */
    char warning[160];           /* not an error, e.g. animation truncated; "" if none */
} cut_image_info;

/* Decodes a PNG, JPEG or WebP held in memory into grey (1), RGB (3) or RGBA
 * (4) with the EXIF orientation applied. Grey stays grey; every source with
 * transparency (alpha, tRNS) becomes RGBA; CMYK JPEGs become RGB with PIL's
 * formula (Adobe-inverted CMYK, as PIL always assumes). 16-bit samples keep
 * their high byte (PIL's unpacking). An animated WebP or PNG yields its first
 * frame (as PIL's Image.open) and a warning in info->warning.
 *
 * Differences from PIL 9.4 (on purpose): 16-bit grey PNGs are scaled (>> 8)
 * unless flags.gray16_clip (PIL clips them, turning them nearly white); PNG
 * tRNS on 1/2/4/16-bit grey and 16-bit RGB is applied as the PNG spec says
 * (PIL compares the unscaled key with scaled pixels and misses); JPEGs with
 * corrupt entropy data are rejected (PIL silently decodes garbage); XMP
 * orientation and ImageMagick "Raw profile type exif" text chunks are ignored.
 *
 * Errors: CUTOUT_E_UNSUPPORTED (not PNG/JPEG/WebP), CUTOUT_E_FORMAT (corrupt or
 * truncated), CUTOUT_E_LIMIT (limits), CUTOUT_E_NOMEM. limits and info may be
 * NULL. On error *out is zeroed. */
int cut_image_decode(const void *data, size_t size, const cut_image_limits *limits,
                     cut_decode_flags flags, cut_image *out, cut_image_info *info, char *err,
                     size_t errlen);

typedef struct {
    cut_image_format format;
    int quality;     /* JPEG and lossy WebP: 1..100 (0: 90) */
    int lossless;    /* WebP: lossless instead of quality */
    int png_level;   /* PNG zlib level 0..9 (-1: 3, fast with fair size) */
} cut_encode_options;

void cut_encode_options_default(cut_encode_options *opt, cut_image_format format);

/* Encodes into a malloc'd buffer (*data, *size; the caller frees). PNG takes
 * 1, 3 or 4 channels, WebP 3 or 4 (grey is expanded), JPEG 1 or 3: alpha must
 * be composited by the caller first (CUTOUT_E_ARG otherwise). */
int cut_image_encode(const cut_image *img, const cut_encode_options *opt, uint8_t **data,
                     size_t *size, char *err, size_t errlen);

/* Applies EXIF orientation 1..8 (PIL's exif_transpose) into a new image. */
int cut_image_orient(const cut_image *src, int orientation, cut_image *dst, char *err,
                     size_t errlen);

/* EXIF orientation (1..8) from a TIFF-structured EXIF block, with or
 * without the "Exif\0\0" prefix; 1 when absent or malformed. */
int cut_exif_orientation(const uint8_t *exif, size_t size);

#endif
