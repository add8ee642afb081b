/* PNG decoding and encoding with libpng, from and to memory.
 *
 * libpng reports errors by longjmp: every libpng call runs inside a function
 * that did setjmp, and everything it allocates is owned by a context struct
 * the caller frees, so nothing leaks and nothing is printed. */
#include <libdeflate.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cpu_features.h"
#include "image_codec.h"
#include "threadpool.h"
#include "util.h"

#define TRUNCATED_MSG "truncated"

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size, pos;
    char msg[128];      /* libpng's error message */
    cutout_image img;      /* the output */
    uint8_t *tmp;       /* palette indices or 16-bit samples */
    png_bytep *rows;
    cutout_decode_flags flags;
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
static void scan_chunks(const uint8_t *data, size_t size, cutout_image_info *info)
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
    cutout_image *im = &d->img;
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
    cutout_image *im = &d->img;
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
    if (cutout_image_alloc(&d->img, (int)w, (int)h, out_c, err, sizeof err))
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

int cut_png_header(const uint8_t *data, size_t size, int *width, int *height, int *frames,
                   int *bits_per_pixel, char *err, size_t errlen)
{
    if (size < 33) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: truncated file");
    if (be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: missing IHDR header");
    uint32_t w = be32(data + 16), h = be32(data + 20);
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type */
    int depth = data[24], type = data[25];
    if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff || type > 6 || !channels[type])
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "PNG: invalid IHDR header");
    cutout_image_info info;
    memset(&info, 0, sizeof info);
    info.orientation = 1;
    info.frames = 1;
    scan_chunks(data, size, &info);
    *width = (int)w;
    *height = (int)h;
    *frames = info.frames;
    *bits_per_pixel = depth * channels[type];
    return CUTOUT_OK;
}

int cut_png_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                   cutout_decode_flags flags, cutout_image *out, cutout_image_info *info, char *err,
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
        cutout_image_free(&d.img);
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

static int encode_rows(png_enc *e, const cutout_image *img, int level)
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

int cut_png_encode(const cutout_image *img, int level, uint8_t **data, size_t *size, char *err,
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

/* ---- parallel encoding (the fast levels) ----
 *
 * At levels 0..3 deflate dominates the encode of a large image (1 MP RGBA:
 * ~100 ms of ~110). Like pigz, the filtered scanlines are cut into strips
 * of STRIP_BYTES that are deflated independently (each primed with the
 * previous DICT_BYTES of input as its dictionary, so matches across the cut
 * are not lost) and ended with a sync flush (byte-aligned, not final); the
 * raw deflate strips concatenated behind a zlib header, with the adler32 of
 * the whole input (adler32_combine), are one ordinary zlib stream. Filters
 * as cut_png_encode chooses them: none at level 0, Paeth at 1..3. The strip
 * layout depends on the image only, so the bytes do not depend on the
 * number of threads. */

#define STRIP_BYTES (256u * 1024u)
#define DICT_BYTES 32768u
#define IDAT_MAX (1u << 20)

typedef struct {
    uint8_t *out;
    size_t len;
    uLong adler;
    int rc; /* zlib status; Z_OK when done */
} png_strip;

typedef struct {
    const cutout_image *img;
    int level, paeth, bpp, simd;
    size_t row_len;    /* 1 (filter type) + width * channels */
    uint8_t *filtered; /* height * row_len */
    const uint8_t *zero_row;
    int rows_per_strip, n_strips;
    png_strip *strips;
} png_par;

/* PNG filter 4 (Paeth) of bytes from..n-1 of a row; prev is the row above
 * (zeros for the first), a the byte bpp to the left, c the one above that. */
static void paeth_bytes(uint8_t *out, const uint8_t *row, const uint8_t *prev, size_t from,
                        size_t n, int bpp)
{
    for (size_t i = from; i < n; i++) {
        int a = row[i - (size_t)bpp], b = prev[i], c = prev[i - (size_t)bpp];
        int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
        int pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        out[i] = (uint8_t)(row[i] - pred);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PAETH_AVX2 1
/* The same 16 bytes at a time in 16-bit lanes (a, b, c are input bytes, so
 * nothing depends on an earlier output). Chosen at run time. */
__attribute__((target("avx2"))) static size_t paeth_avx2(uint8_t *out, const uint8_t *row,
                                                         const uint8_t *prev, size_t n, int bpp)
{
    size_t i = (size_t)bpp;
    for (; i + 16 <= n; i += 16) {
        __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + i - bpp)));
        __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(prev + i)));
        __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(prev + i - bpp)));
        __m256i bc = _mm256_sub_epi16(b, c), ac = _mm256_sub_epi16(a, c);
        __m256i pa = _mm256_abs_epi16(bc), pb = _mm256_abs_epi16(ac);
        __m256i pc = _mm256_abs_epi16(_mm256_add_epi16(bc, ac));
        /* a when pa <= pb and pa <= pc; else b when pb <= pc; else c */
        __m256i not_a = _mm256_or_si256(_mm256_cmpgt_epi16(pa, pb), _mm256_cmpgt_epi16(pa, pc));
        __m256i pred = _mm256_blendv_epi8(b, c, _mm256_cmpgt_epi16(pb, pc));
        pred = _mm256_blendv_epi8(a, pred, not_a);
        /* 16-bit lanes (0..255) to bytes, in order */
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(pred, pred), 0x08);
        __m128i x = _mm_loadu_si128((const __m128i *)(row + i));
        _mm_storeu_si128((__m128i *)(out + i), _mm_sub_epi8(x, _mm256_castsi256_si128(packed)));
    }
    return i;
}
#endif

static void paeth_row(uint8_t *out, const uint8_t *row, const uint8_t *prev, size_t n, int bpp,
                      int simd)
{
    for (int i = 0; i < bpp; i++) out[i] = (uint8_t)(row[i] - prev[i]); /* a = c = 0: b */
    size_t from = (size_t)bpp;
#ifdef PAETH_AVX2
    if (simd) from = paeth_avx2(out, row, prev, n, bpp);
#else
    (void)simd;
#endif
    paeth_bytes(out, row, prev, from, n, bpp);
}

static void filter_task(void *ctx, int task, int thread)
{
    (void)thread;
    png_par *p = ctx;
    const cutout_image *im = p->img;
    size_t n = p->row_len - 1;
    int y0 = task * p->rows_per_strip, y1 = y0 + p->rows_per_strip;
    if (y1 > im->height) y1 = im->height;
    for (int y = y0; y < y1; y++) {
        uint8_t *o = p->filtered + (size_t)y * p->row_len;
        const uint8_t *row = im->pixels + (size_t)y * im->stride;
        if (!p->paeth) {
            o[0] = 0;
            memcpy(o + 1, row, n);
        } else {
            o[0] = 4;
            paeth_row(o + 1, row, y ? row - im->stride : p->zero_row, n, p->bpp, p->simd);
        }
    }
}

static void deflate_task(void *ctx, int task, int thread)
{
    (void)thread;
    png_par *p = ctx;
    png_strip *s = &p->strips[task];
    size_t start = (size_t)task * (size_t)p->rows_per_strip * p->row_len;
    size_t end = start + (size_t)p->rows_per_strip * p->row_len;
    size_t total = (size_t)p->img->height * p->row_len;
    if (end > total) end = total;
    const uint8_t *in = p->filtered + start;
    size_t len = end - start;
    int last = task == p->n_strips - 1;
    s->adler = adler32(1L, in, (uInt)len); /* len <= STRIP_BYTES + a row: fits uInt */
    z_stream z;
    memset(&z, 0, sizeof z);
    /* Raw deflate (no zlib header: written once for the whole stream);
     * libpng's strategy for filtered rows. */
    s->rc = deflateInit2(&z, p->level, Z_DEFLATED, -15, 8, p->paeth ? Z_FILTERED : Z_DEFAULT_STRATEGY);
    if (s->rc != Z_OK) return;
    if (task > 0) {
        size_t d = start < DICT_BYTES ? start : DICT_BYTES;
        s->rc = deflateSetDictionary(&z, in - d, (uInt)d);
    }
    size_t cap = deflateBound(&z, (uLong)len) + 64; /* + the sync flush marker */
    s->out = s->rc == Z_OK ? malloc(cap) : NULL;
    if (!s->out) {
        if (s->rc == Z_OK) s->rc = Z_MEM_ERROR;
        deflateEnd(&z);
        return;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        z.next_out = s->out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        int rc = deflate(&z, flush);
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->rc = rc;
            break;
        }
        if (!last && z.avail_in == 0 && z.avail_out > 0) break; /* flushed */
        uint8_t *nb = realloc(s->out, cap * 2); /* more room: rare past deflateBound */
        if (!nb) {
            s->rc = Z_MEM_ERROR;
            break;
        }
        s->out = nb;
        cap *= 2;
    }
    s->len = z.total_out;
    deflateEnd(&z);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A chunk at o: length, type, data (already at o + 8), CRC. Returns its size. */
static size_t finish_chunk(uint8_t *o, const char type[4], size_t len)
{
    put32(o, (uint32_t)len);
    memcpy(o + 4, type, 4);
    put32(o + 8 + len, (uint32_t)crc32(0L, o + 4, (uInt)(len + 4)));
    return 12 + len;
}

/* Checks img and sets p up for filtering it at level (Paeth rows from
 * level 1; AVX2 Paeth when simd and the CPU has it): the filtered rows and
 * the zero row allocated, strips of ~STRIP_BYTES or, with whole, one strip
 * of every row. 0, or an error with p ready for png_par_free. */
static int png_par_init(png_par *p, const cutout_image *img, int level, int simd, int whole,
                        char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    int c = img->channels;
    if (level < 0 || img->width <= 0 || img->height <= 0 || (c != 1 && c != 3 && c != 4))
        return cut_fail(err, errlen, CUTOUT_E_ARG, "PNG: invalid image");
    p->img = img;
    p->level = level;
    p->paeth = level > 0;
    p->bpp = c;
#ifdef PAETH_AVX2
    p->simd = simd && cut_cpu_has(CUT_CPU_AVX2);
#else
    (void)simd;
#endif
    p->row_len = 1 + (size_t)img->width * (size_t)c;
    p->rows_per_strip = whole ? img->height : (int)(STRIP_BYTES / p->row_len) + 1;
    p->n_strips = (img->height + p->rows_per_strip - 1) / p->rows_per_strip;
    p->filtered = malloc((size_t)img->height * p->row_len);
    p->zero_row = calloc(1, p->row_len);
    if (!p->filtered || !p->zero_row) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    return CUTOUT_OK;
}

static void png_par_free(png_par *p)
{
    free(p->filtered);
    free((void *)p->zero_row);
}

/* The PNG file around a zlib stream of filtered rows given in n parts:
 * signature, IHDR, the stream in IDAT chunks of at most IDAT_MAX, IEND. */
static int png_wrap(const cutout_image *img, const uint8_t *const *parts, const size_t *lens,
                    int n, uint8_t **data, size_t *size, char *err, size_t errlen)
{
    size_t zlen = 0;
    for (int i = 0; i < n; i++) zlen += lens[i];
    size_t n_idat = (zlen + IDAT_MAX - 1) / IDAT_MAX;
    size_t cap = 8 + 25 + n_idat * 12 + zlen + 12;
    uint8_t *o = malloc(cap);
    if (!o) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t color_type[5] = {0, 0, 0, 2, 6}; /* grey, RGB, RGBA */
    size_t pos = 0;
    memcpy(o, signature, 8);
    pos += 8;
    uint8_t *ih = o + pos + 8;
    put32(ih, (uint32_t)img->width);
    put32(ih + 4, (uint32_t)img->height);
    ih[8] = 8;             /* bit depth */
    ih[9] = color_type[img->channels];
    ih[10] = ih[11] = ih[12] = 0; /* deflate, adaptive filtering, no interlace */
    pos += finish_chunk(o + pos, "IHDR", 13);
    /* The zlib stream is assembled behind room for every IDAT chunk's
     * length, type and CRC, then moved forward chunk by chunk into place. */
    uint8_t *z = o + pos + n_idat * 12, *zp = z;
    for (int i = 0; i < n; i++) {
        memcpy(zp, parts[i], lens[i]);
        zp += lens[i];
    }
    for (size_t k = 0, done_len = 0; k < n_idat; k++) {
        size_t len = zlen - done_len < IDAT_MAX ? zlen - done_len : IDAT_MAX;
        memmove(o + pos + 8, z + done_len, len);
        pos += finish_chunk(o + pos, "IDAT", len);
        done_len += len;
    }
    pos += finish_chunk(o + pos, "IEND", 0);
    *data = o;
    *size = pos;
    return CUTOUT_OK;
}

int cut_png_encode_parallel(const cutout_image *img, int level, threadpool *tp, uint8_t **data,
                            size_t *size, char *err, size_t errlen)
{
    return cut_png_encode_parallel_impl(img, level, tp, 1, data, size, err, errlen);
}

int cut_png_encode_parallel_impl(const cutout_image *img, int level, threadpool *tp, int simd,
                                 uint8_t **data, size_t *size, char *err, size_t errlen)
{
    if (level > 3) return cut_png_encode(img, level, data, size, err, errlen);
    *data = NULL;
    *size = 0;
    png_par p;
    int rc = png_par_init(&p, img, level, simd, 0, err, errlen);
    if (rc) goto done;
    size_t total = (size_t)img->height * p.row_len;
    p.strips = calloc((size_t)p.n_strips, sizeof *p.strips);
    if (!p.strips) {
        rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
        goto done;
    }
    if (tp) {
        cut_pool_run(tp, p.n_strips, filter_task, &p);
        cut_pool_run(tp, p.n_strips, deflate_task, &p);
    } else {
        for (int i = 0; i < p.n_strips; i++) filter_task(&p, i, 0);
        for (int i = 0; i < p.n_strips; i++) deflate_task(&p, i, 0);
    }
    uLong adler = 1L;
    for (int i = 0; i < p.n_strips; i++) {
        png_strip *s = &p.strips[i];
        if (s->rc != Z_OK) {
            rc = s->rc == Z_MEM_ERROR ? cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory")
                                      : cut_fail(err, errlen, CUTOUT_E_ARG, "PNG: zlib error %d", s->rc);
            goto done;
        }
        size_t start = (size_t)i * (size_t)p.rows_per_strip * p.row_len;
        size_t len = (i == p.n_strips - 1 ? total : start + (size_t)p.rows_per_strip * p.row_len) - start;
        adler = adler32_combine(adler, s->adler, (z_off_t)len);
    }
    /* The zlib stream: header (deflate, 32K window; FLEVEL as zlib writes
     * it for the level), the strips, the adler32 of the whole input. */
    unsigned hdr = 0x78u << 8 | (level < 2 ? 0u : 1u) << 6;
    hdr += 31 - hdr % 31;
    uint8_t head[2] = {(uint8_t)(hdr >> 8), (uint8_t)hdr}, tail[4];
    put32(tail, (uint32_t)adler);
    const uint8_t **parts = malloc(((size_t)p.n_strips + 2) * sizeof *parts);
    size_t *lens = malloc(((size_t)p.n_strips + 2) * sizeof *lens);
    if (!parts || !lens) {
        free(parts);
        free(lens);
        rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
        goto done;
    }
    parts[0] = head, lens[0] = 2;
    for (int i = 0; i < p.n_strips; i++) parts[i + 1] = p.strips[i].out, lens[i + 1] = p.strips[i].len;
    parts[p.n_strips + 1] = tail, lens[p.n_strips + 1] = 4;
    rc = png_wrap(img, parts, lens, p.n_strips + 2, data, size, err, errlen);
    free(parts);
    free(lens);
done:
    if (p.strips)
        for (int i = 0; i < p.n_strips; i++) free(p.strips[i].out);
    free(p.strips);
    png_par_free(&p);
    return rc;
}

/* ---- whole-image encoding with libdeflate (the fast levels, one thread) ----
 *
 * libdeflate compresses a whole buffer about twice as fast as zlib's
 * streaming deflate at the same level, and smaller: 6.3 MP RGBA cutout,
 * Paeth rows, level 1: 97 ms / 7.31 MB against zlib's 226 ms / 8.04 MB;
 * against the CLI's former zlib level 3: 415 ms / 7.47 MB
 * (bench/results/e2e-2026-12-07.md). It cannot end a piece on a
 * byte boundary without marking it final, so the strip encoder above keeps
 * zlib; this is for callers that encode on one thread (the CLI). Rows are
 * filtered as cut_png_encode_parallel filters them (Paeth), so the file has
 * the same pixels and the same filtered bytes, deflated otherwise. */
int cut_png_encode_deflate(const cutout_image *img, int level, uint8_t **data, size_t *size,
                           char *err, size_t errlen)
{
    if (level < 1 || level > 3) return cut_png_encode(img, level, data, size, err, errlen);
    *data = NULL;
    *size = 0;
    png_par p;
    int rc = png_par_init(&p, img, level, 1, 1, err, errlen);
    if (rc) {
        png_par_free(&p);
        return rc;
    }
    size_t total = (size_t)img->height * p.row_len;
    struct libdeflate_compressor *dc = libdeflate_alloc_compressor(level);
    size_t bound = dc ? libdeflate_zlib_compress_bound(dc, total) : 0;
    uint8_t *z = dc ? malloc(bound) : NULL;
    if (!z) {
        rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "PNG: out of memory");
    } else {
        filter_task(&p, 0, 0);
        size_t zlen = libdeflate_zlib_compress(dc, p.filtered, total, z, bound);
        if (!zlen) {
            rc = cut_fail(err, errlen, CUTOUT_E_ARG, "PNG: libdeflate did not fit its bound");
        } else {
            const uint8_t *parts[1] = {z};
            rc = png_wrap(img, parts, &zlen, 1, data, size, err, errlen);
        }
    }
    if (dc) libdeflate_free_compressor(dc);
    free(z);
    png_par_free(&p);
    return rc;
}
