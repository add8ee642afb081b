/* Format sniffing, limits and dispatch to the PNG/JPEG/WebP/BMP codecs. */
#include <string.h>

#include "image_codec.h"
#include "util.h"

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t jpeg_magic[3] = {0xff, 0xd8, 0xff};

cutout_image_format cutout_image_sniff(const void *data, size_t size)
{
    const uint8_t *p = data;
    if (size >= 8 && memcmp(p, png_magic, 8) == 0) return CUTOUT_FORMAT_PNG;
    if (size >= 3 && memcmp(p, jpeg_magic, 3) == 0) return CUTOUT_FORMAT_JPEG;
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return CUTOUT_FORMAT_WEBP;
    /* "BM" and a header size below 2^24 (PIL's are 12 .. 124): not any text starting BM */
    if (size >= 18 && p[0] == 'B' && p[1] == 'M' && p[17] == 0) return CUTOUT_FORMAT_BMP;
    return CUTOUT_FORMAT_UNKNOWN;
}

const char *cutout_image_format_name(cutout_image_format format)
{
    switch (format) {
    case CUTOUT_FORMAT_PNG: return "PNG";
    case CUTOUT_FORMAT_JPEG: return "JPEG";
    case CUTOUT_FORMAT_WEBP: return "WebP";
    case CUTOUT_FORMAT_BMP: return "BMP";
    default: return "unknown";
    }
}

/* A file too short to hold its whole magic, but starting like one. */
static cutout_image_format truncated_magic(const uint8_t *p, size_t size)
{
    if (size == 0) return CUTOUT_FORMAT_UNKNOWN;
    if (size < 8 && memcmp(p, png_magic, size) == 0) return CUTOUT_FORMAT_PNG;
    if (size < 3 && memcmp(p, jpeg_magic, size) == 0) return CUTOUT_FORMAT_JPEG;
    if (size < 12 && memcmp(p, "RIFF", size < 4 ? size : 4) == 0 &&
        (size <= 8 || memcmp(p + 8, "WEBP", size - 8) == 0))
        return CUTOUT_FORMAT_WEBP;
    if (size < 18 && memcmp(p, "BM", size < 2 ? size : 2) == 0) return CUTOUT_FORMAT_BMP;
    return CUTOUT_FORMAT_UNKNOWN;
}

/* Names a few formats people do send, to make the 415 message useful. */
static const char *other_format(const uint8_t *p, size_t size)
{
    if (size >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "GIF";
    if (size >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
    if (size >= 12 && memcmp(p + 4, "ftyp", 4) == 0) return "HEIF/AVIF";
    if (size >= 12 && memcmp(p, "\0\0\0\x0cjP  ", 8) == 0) return "JPEG 2000";
    return NULL;
}

int cutout_image_decode(const void *data, size_t size, const cutout_image_limits *limits,
                     cutout_decode_flags flags, cutout_image *out, cutout_image_info *info, char *err,
                     size_t errlen)
{
    cutout_image_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    info->frames = 1;
    memset(out, 0, sizeof *out);
    if (!data && size) return cut_fail(err, errlen, CUTOUT_E_ARG, "no image data");
    const uint8_t *p = data;
    cutout_image_format f = cutout_image_sniff(p, size);
    info->format = f;
    if (f == CUTOUT_FORMAT_UNKNOWN) {
        cutout_image_format t = truncated_magic(p, size);
        if (t != CUTOUT_FORMAT_UNKNOWN)
            return cut_fail(err, errlen, CUTOUT_E_FORMAT, "%s: truncated file",
                            cutout_image_format_name(t));
        if (size == 0) return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "empty input");
        const char *other = other_format(p, size);
        if (other && !strcmp(other, "TIFF"))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "TIFF is not supported; convert to PNG");
        if (other)
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "%s images are not supported (PNG, JPEG, WebP or BMP)", other);
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "not a PNG, JPEG, WebP or BMP image");
    }
    cutout_image raw;
    int rc;
    if (f == CUTOUT_FORMAT_PNG)
        rc = cut_png_decode(p, size, limits, flags, &raw, info, err, errlen);
    else if (f == CUTOUT_FORMAT_JPEG)
        rc = cut_jpeg_decode(p, size, limits, &raw, info, err, errlen);
    else if (f == CUTOUT_FORMAT_WEBP)
        rc = cut_webp_decode(p, size, limits, &raw, info, err, errlen);
    else
        rc = cut_bmp_decode(p, size, limits, &raw, info, err, errlen);
    if (rc) return rc;
    info->has_alpha = raw.channels == 4;
    if (info->orientation == 1) {
        *out = raw;
        return CUTOUT_OK;
    }
    rc = cut_image_orient(&raw, info->orientation, out, err, errlen);
    cutout_image_free(&raw);
    return rc;
}

void cutout_encode_options_default(cutout_encode_options *opt, cutout_image_format format)
{
    opt->format = format;
    opt->quality = 90;
    opt->lossless = 0;
    opt->png_level = 3;
    opt->png_strips = 0;
}

int cutout_image_encode(const cutout_image *img, const cutout_encode_options *opt,
                        uint8_t **data, size_t *size, cutout_pool *pool, char *err,
                        size_t errlen)
{
    *data = NULL;
    *size = 0;
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3 && img->channels != 4) ||
        img->stride < (size_t)img->width * (size_t)img->channels)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "encode: invalid image");
    int quality = opt->quality ? opt->quality : 90;
    if (quality < 1 || quality > 100)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "encode: quality %d is not in 1..100",
                        opt->quality);
    switch (opt->format) {
    case CUTOUT_FORMAT_PNG: {
        int level = opt->png_level < 0 ? 3 : opt->png_level;
        if (level > 9)
            return cut_fail(err, errlen, CUTOUT_E_ARG,
                            "encode: PNG compression level %d is not in 0..9", level);
        if (opt->png_strips)
            return cut_png_encode_parallel(img, level, pool, data, size, err, errlen);
        return cut_png_encode_deflate(img, level, data, size, err, errlen);
    }
    case CUTOUT_FORMAT_JPEG:
        if (img->channels == 4)
            return cut_fail(err, errlen, CUTOUT_E_ARG,
                            "JPEG has no alpha: composite the image on a background first");
        return cut_jpeg_encode(img, quality, data, size, err, errlen);
    case CUTOUT_FORMAT_WEBP:
        return cut_webp_encode(img, quality, opt->lossless, data, size, err, errlen);
    default:
        return cut_fail(err, errlen, CUTOUT_E_ARG, "encode: unknown output format");
    }
}
