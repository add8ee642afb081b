/* PNG decoding and encoding with libpng, from and to memory.
 *
 * libpng reports errors by longjmp: every libpng call runs inside a function
 * that did setjmp, and everything it allocates is owned by a context struct
 * the caller frees, so nothing leaks and nothing is printed. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "image_codec.h"
#include "util.h"

#define TRUNCATED_MSG "truncated"

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size, pos;
    char msg[128];      /* libpng's error message */
    cut_image img;      /* the output */
    uint8_t *tmp;       /* palette indices or 16-bit samples */
    png_bytep *rows;
    cut_decode_flags flags;
} png_dec;

static void on_error(png_structp png, png_const_charp msg)
{
    png_dec *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign: ancillary chunk CRC, extra image data, ... */
}

static void read_mem(png_structp png, png_bytep out, size_t len)
{
    png_dec *d = png_get_io_ptr(png);
    if (len > d->size - d->pos) png_error(png, TRUNCATED_MSG);
    memcpy(out, d->data + d->pos, len);
    d->pos += len;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walks the chunk list (lengths checked) for what libpng does not report:
 * eXIf, which PIL honours wherever it is, and APNG's acTL (frame count;
 * libpng, like PIL, shows the IDAT image). */
static void scan_chunks(const uint8_t *data, size_t size, cut_image_info *info)
{
    size_t pos = 8;
    while (size - pos >= 12) {
        uint32_t len = be32(data + pos);
        const uint8_t *type = data + pos + 4, *body = data + pos + 8;
        if (len > size - pos - 12) break;
        if (memcmp(type, "eXIf", 4) == 0 && info->orientation == 1)
            info->orientation = cut_exif_orientation(body, len);
        if (memcmp(type, "acTL", 4) == 0 && len >= 8 && be32(body) > 1 && be32(body) < 1u << 30)
            info->frames = (int)be32(body);
        if (memcmp(type, "IEND", 4) == 0) break;
        pos += 12 + (size_t)len;
    }
    if (info->frames > 1)
        snprintf(info->warning, sizeof info->warning,
                 "PNG: animated image with %d frames; only the first frame is used",
                 info->frames);
}

/* Palette lookup like PIL: entries past the PLTE are grey (i, i, i), alpha
 * comes from tRNS and is 255 past its end. */
static void map_palette(png_dec *d, int num_palette, const png_color *pal, int num_trans,
                        const png_byte *trans)
{
    uint8_t lut[256][4];
    for (int i = 0; i < 256; i++) {
        if (i < num_palette) {
            lut[i][0] = pal[i].red;
            lut[i][1] = pal[i].green;
            lut[i][2] = pal[i].blue;
        } else {
            lut[i][0] = lut[i][1] = lut[i][2] = (uint8_t)i;
        }
        lut[i][3] = i < num_trans ? trans[i] : 255;
    }
    cut_image *im = &d->img;
    int c = im->channels;
    for (int y = 0; y < im->height; y++) {
        const uint8_t *s = d->tmp + (size_t)y * (size_t)im->width;
        uint8_t *o = im->pixels + (size_t)y * im->stride;
        for (int x = 0; x < im->width; x++, o += c) memcpy(o, lut[s[x]], (size_t)c);
    }
}

/* 16-bit grey (+ alpha) the PIL 9.4 way: grey clipped to 255, alpha's high byte. */
static void clip_gray16(png_dec *d, int src_channels)
{
    cut_image *im = &d->img;
    for (int y = 0; y < im->height; y++) {
        const uint8_t *s = d->tmp + (size_t)y * (size_t)im->width * 2 * (size_t)src_channels;
        uint8_t *o = im->pixels + (size_t)y * im->stride;
        for (int x = 0; x < im->width; x++, s += 2 * src_channels) {
            unsigned v = (unsigned)s[0] << 8 | s[1];
            uint8_t g = v > 255 ? 255 : (uint8_t)v;
            if (src_channels == 1) {
                *o++ = g;
            } else {
                o[0] = o[1] = o[2] = g;
                o[3] = s[2];
                o += 4;
            }
        }
    }
}

static int decode_rows(png_dec *d)
{
    if (setjmp(png_jmpbuf(d->png))) return -1;
    png_set_read_fn(d->png, d, read_mem);
    /* PIL ignores these; skipping them saves work and bounds memory. */
    static const png_byte ignored[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0";
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, ignored, 6);
    png_read_info(d->png, d->info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(d->png, d->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    int has_trns = png_get_valid(d->png, d->info, PNG_INFO_tRNS) != 0;
    int palette = ctype == PNG_COLOR_TYPE_PALETTE;
    int gray16_clip = d->flags.gray16_clip && depth == 16 && (ctype & PNG_COLOR_MASK_COLOR) == 0;
    int out_c, tmp_c = 0; /* tmp_c: samples per pixel read into d->tmp */

    if (palette) {
        png_set_packing(d->png); /* 1/2/4-bit indices, one per byte */
        out_c = has_trns ? 4 : 3;
        tmp_c = 1;
    } else if (gray16_clip) {
        if (has_trns) png_set_tRNS_to_alpha(d->png);
        tmp_c = (ctype & PNG_COLOR_MASK_ALPHA) || has_trns ? 2 : 1;
        out_c = tmp_c == 2 ? 4 : 1;
    } else {
        if (depth < 8) png_set_expand_gray_1_2_4_to_8(d->png);
        if (depth == 16) png_set_strip_16(d->png); /* keeps the high byte, as PIL */
        if (has_trns) png_set_tRNS_to_alpha(d->png);
        int alpha = (ctype & PNG_COLOR_MASK_ALPHA) || has_trns;
        int color = (ctype & PNG_COLOR_MASK_COLOR) != 0;
        if (!color && alpha) png_set_gray_to_rgb(d->png);
        out_c = alpha ? 4 : color ? 3 : 1;
    }
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);

    size_t want = (size_t)w * (size_t)(tmp_c ? tmp_c * (gray16_clip ? 2 : 1) : out_c);
    if (png_get_rowbytes(d->png, d->info) != want) png_error(d->png, "unexpected row layout");
    char err[64];
    if (cut_image_alloc(&d->img, (int)w, (int)h, out_c, err, sizeof err))
        png_error(d->png, "out of memory");
    uint8_t *base = d->img.pixels;
    if (tmp_c) {
        d->tmp = malloc(want * h);
        if (!d->tmp) png_error(d->png, "out of memory");
        base = d->tmp;
    }
    d->rows = malloc(sizeof *d->rows * h);
    if (!d->rows) png_error(d->png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) d->rows[y] = base + want * y;
    png_read_image(d->png, d->rows);

    if (palette) {
        png_colorp pal = NULL;
        int npal = 0, ntrans = 0;
        png_bytep trans = NULL;
        png_get_PLTE(d->png, d->info, &pal, &npal);
        if (has_trns) png_get_tRNS(d->png, d->info, &trans, &ntrans, NULL);
        map_palette(d, npal, pal, ntrans, trans);
    } else if (gray16_clip) {
        clip_gray16(d, tmp_c);
    }
    return 0;
}

int cut_png_decode(const uint8_t *data, size_t size, const cut_image_limits *limits,
                   cut_decode_flags flags, cut_image *out, cut_image_info *info, char *err,
                   size_t errlen)
{
    /* signature, IHDR length + type + 13 bytes + CRC */
    if (size < 33) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: truncated file");
    if (be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: missing IHDR header");
    uint64_t w = be32(data + 16), h = be32(data + 20);
    int rc = cut_check_limits("PNG", w, h, limits, err, errlen);
    if (rc) return rc;
    /* Deflate expands at most 1032:1, so a header promising more scanline
     * bytes than the file can hold lies: refuse it before allocating.
     * (1 bit per pixel and a filter byte per row is the least a row holds.) */
    if (h * ((w + 7) / 8 + 1) / 1032 > size)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT,
                        "PNG: %llux%llu pixels cannot be stored in %zu bytes (corrupt header)",
                        (unsigned long long)w, (unsigned long long)h, size);
    info->file_width = (int)be32(data + 16);
    info->file_height = (int)be32(data + 20);
    scan_chunks(data, size, info);

    png_dec d;
    memset(&d, 0, sizeof d);
    d.data = data;
    d.size = size;
    d.flags = flags;
    d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_error, on_warning);
    if (!d.png) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    d.info = png_create_info_struct(d.png);
    if (!d.info) {
        png_destroy_read_struct(&d.png, NULL, NULL);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    }
    rc = decode_rows(&d);
    png_destroy_read_struct(&d.png, &d.info, NULL);
    free(d.tmp);
    free(d.rows);
    if (rc) {
        cut_image_free(&d.img);
        if (strcmp(d.msg, TRUNCATED_MSG) == 0 || strcmp(d.msg, "Not enough image data") == 0)
            return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: truncated file");
        if (strcmp(d.msg, "out of memory") == 0)
            return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: %s", d.msg);
    }
    *out = d.img;
    return CUTOUT_OK;
}

/* ---- encoding ---- */

typedef struct {
    png_structp png;
    png_infop info;
    uint8_t *buf;
    size_t len, cap;
    int nomem;
    char msg[128];
} png_enc;

static void write_mem(png_structp png, png_bytep src, size_t len)
{
    png_enc *e = png_get_io_ptr(png);
    if (len > e->cap - e->len) {
        size_t cap = e->cap ? e->cap : 1 << 16;
        while (cap - e->len < len) {
            if (cap > SIZE_MAX / 2) png_error(png, "out of memory");
            cap *= 2;
        }
        uint8_t *nb = realloc(e->buf, cap);
        if (!nb) {
            e->nomem = 1;
            png_error(png, "out of memory");
        }
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, src, len);
    e->len += len;
}

static void flush_mem(png_structp png)
{
    (void)png;
}

static void enc_error(png_structp png, png_const_charp msg)
{
    png_enc *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static int encode_rows(png_enc *e, const cut_image *img, int level)
{
    if (setjmp(png_jmpbuf(e->png))) return -1;
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(e->png, e, write_mem, flush_mem);
    png_set_compression_level(e->png, level);
    /* libpng's adaptive filtering tries all five filters on every row, which
     * doubles the time of a fast zlib level for ~1-2% smaller files (12 MP
     * cutout: 0.25 s vs 0.53 s at level 3); the fast levels use Paeth only.
     * Level 0 (stored) does not filter at all. */
    if (level == 0)
        png_set_filter(e->png, 0, PNG_FILTER_NONE);
    else if (level <= 3)
        png_set_filter(e->png, 0, PNG_FILTER_PAETH);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 types[img->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(e->png, e->info);
    for (int y = 0; y < img->height; y++)
        png_write_row(e->png, img->pixels + (size_t)y * img->stride);
    png_write_end(e->png, NULL);
    return 0;
}

int cut_png_encode(const cut_image *img, int level, uint8_t **data, size_t *size, char *err,
                   size_t errlen)
{
    png_enc e;
    memset(&e, 0, sizeof e);
    e.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, enc_error, on_warning);
    if (!e.png) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    e.info = png_create_info_struct(e.png);
    if (!e.info) {
        png_destroy_write_struct(&e.png, NULL);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    }
    int rc = encode_rows(&e, img, level);
    png_destroy_write_struct(&e.png, &e.info);
    if (rc) {
        free(e.buf);
        return cut_fail(err, errlen, e.nomem ? CUTOUT_E_NOMEM : CUTOUT_E_ARG, "PNG: %s", e.msg);
    }
    *data = e.buf;
    *size = e.len;
    return CUTOUT_OK;
}
