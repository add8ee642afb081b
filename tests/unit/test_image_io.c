/* Image decoding and encoding: round trips, files written with libpng,
 * libjpeg and libwebp directly (interlaced, 16-bit, palettes, tRNS, CMYK,
 * animation), EXIF orientation, limits and hostile input (every truncation,
 * random corruption, lying headers). Run it under the sanitizer build too.
 *
 * The comparison with PIL's decoding of the same files is
 * tests/image/check_decode.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include <png.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>
#include <zlib.h>

#include "cutout.h"
#include "image.h"
#include "../tools/unit_check.h"


static cutout_image make(int w, int h, int c, int smooth)
{
    cutout_image im;
    char err[128];
    if (cutout_image_alloc(&im, w, h, c, err, sizeof err)) exit(1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                im.pixels[(size_t)y * im.stride + (size_t)x * c + ch] =
                    (uint8_t)(smooth ? 30 + x + y + ch * 30 + (int)(rnd() % 3) : (int)rnd());
    return im;
}

static double mean_abs_diff(const cutout_image *a, const cutout_image *b)
{
    double s = 0;
    size_t n = (size_t)a->width * (size_t)a->channels;
    for (int y = 0; y < a->height; y++)
        for (size_t i = 0; i < n; i++)
            s += abs(a->pixels[(size_t)y * a->stride + i] - b->pixels[(size_t)y * b->stride + i]);
    return s / ((double)n * a->height);
}

static uint8_t *encode(const cutout_image *im, cutout_image_format f, int q, int lossless,
                       size_t *size)
{
    cutout_encode_options o;
    cutout_encode_options_default(&o, f);
    if (f == CUTOUT_FORMAT_PNG)
        o.png_level = q;
    else
        o.quality = q;
    o.lossless = lossless;
    uint8_t *data;
    char err[256];
    if (cutout_image_encode(im, &o, &data, size, NULL, err, sizeof err)) {
        printf("     encode: %s\n", err);
        return NULL;
    }
    return data;
}

static const cutout_decode_flags no_flags = {0};

static int decode(const uint8_t *data, size_t size, const cutout_image_limits *lim,
                  cutout_decode_flags flags, cutout_image *out, cutout_image_info *info, char *err)
{
    return cutout_image_decode(data, size, lim, flags, out, info, err, 256);
}

/* ---- round trips through our own encoders ---- */

static void test_roundtrips(void)
{
    char err[256];
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        cutout_image im = make(37, 23, c, 0), out;
        for (int level = 0; level <= 9; level += 3) {
            size_t n;
            uint8_t *png = encode(&im, CUTOUT_FORMAT_PNG, level, 0, &n);
            cutout_image_info info;
            int ok = png && decode(png, n, NULL, no_flags, &out, &info, err) == 0 &&
                     same_pixels(&im, &out) && info.format == CUTOUT_FORMAT_PNG &&
                     info.has_alpha == (c == 4);
            check(ok, "PNG %d channel(s), level %d: lossless round trip", c, level);
            free(png);
            cutout_image_free(&out);
        }
        if (c != 1) {
            /* libwebp may change the colour of fully transparent pixels
             * (exact = 0, smaller files); everything visible is exact. */
            size_t n;
            uint8_t *w = encode(&im, CUTOUT_FORMAT_WEBP, 90, 1, &n);
            int ok = w && decode(w, n, NULL, no_flags, &out, NULL, err) == 0 &&
                     out.channels == c;
            for (int y = 0; ok && y < im.height; y++)
                for (int x = 0; x < im.width; x++) {
                    const uint8_t *a = im.pixels + (size_t)y * im.stride + (size_t)x * c;
                    const uint8_t *b = out.pixels + (size_t)y * out.stride + (size_t)x * c;
                    if (c == 4 && a[3] == 0 ? b[3] != 0 : memcmp(a, b, (size_t)c) != 0) ok = 0;
                }
            check(ok, "WebP lossless %d channels: exact round trip (visible pixels)", c);
            free(w);
            cutout_image_free(&out);
        }
        cutout_image_free(&im);
    }
    /* Lossy formats: a smooth image must come back close. The bounds (mean
     * error under 3 levels at quality 90) are loose for these codecs and
     * catch what matters: swapped channels, shifted rows, wrong subsampling
     * or colour conversion give tens of levels. */
    cutout_image im = make(64, 48, 3, 1), out;
    size_t n;
    uint8_t *j = encode(&im, CUTOUT_FORMAT_JPEG, 90, 0, &n);
    int ok = j && decode(j, n, NULL, no_flags, &out, NULL, err) == 0 && out.channels == 3;
    double d = ok ? mean_abs_diff(&im, &out) : 999;
    check(ok && d < 3, "JPEG q90 RGB round trip: mean error %.2f levels", d);
    free(j);
    cutout_image_free(&out);
    uint8_t *w = encode(&im, CUTOUT_FORMAT_WEBP, 90, 0, &n);
    ok = w && decode(w, n, NULL, no_flags, &out, NULL, err) == 0 && out.channels == 3;
    d = ok ? mean_abs_diff(&im, &out) : 999;
    check(ok && d < 3, "WebP lossy q90 RGB round trip: mean error %.2f levels", d);
    free(w);
    cutout_image_free(&out);
    cutout_image gray = make(64, 48, 1, 1);
    j = encode(&gray, CUTOUT_FORMAT_JPEG, 90, 0, &n);
    ok = j && decode(j, n, NULL, no_flags, &out, NULL, err) == 0 && out.channels == 1;
    d = ok ? mean_abs_diff(&gray, &out) : 999;
    check(ok && d < 3, "JPEG q90 grey round trip: mean error %.2f levels", d);
    free(j);
    cutout_image_free(&out);
    cutout_image_free(&gray);
    cutout_image_free(&im);

    /* Lossy WebP keeps alpha losslessly (alpha_quality defaults to 100). */
    im = make(40, 30, 4, 1);
    w = encode(&im, CUTOUT_FORMAT_WEBP, 80, 0, &n);
    ok = w && decode(w, n, NULL, no_flags, &out, NULL, err) == 0 && out.channels == 4;
    for (int i = 0; ok && i < 40 * 30; i++) ok = out.pixels[i * 4 + 3] == im.pixels[i * 4 + 3];
    check(ok, "WebP lossy RGBA keeps alpha exactly");
    free(w);
    cutout_image_free(&out);

    cutout_encode_options o;
    cutout_encode_options_default(&o, CUTOUT_FORMAT_JPEG);
    uint8_t *data;
    int rc = cutout_image_encode(&im, &o, &data, &n, NULL, err, sizeof err);
    check(rc == CUTOUT_E_ARG && strstr(err, "alpha"), "JPEG refuses RGBA: %s", err);
    o.quality = 101;
    rc = cutout_image_encode(&im, &o, &data, &n, NULL, err, sizeof err);
    check(rc == CUTOUT_E_ARG, "quality 101 refused: %s", err);
    cutout_encode_options_default(&o, CUTOUT_FORMAT_PNG);
    o.png_level = 10;
    rc = cutout_image_encode(&im, &o, &data, &n, NULL, err, sizeof err);
    check(rc == CUTOUT_E_ARG, "PNG level 10 refused: %s", err);
    cutout_image_free(&im);
}

/* ---- PNG files written with libpng directly ---- */

typedef struct {
    uint8_t *buf;
    size_t len;
} membuf;

static void mem_write(png_structp png, png_bytep p, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    m->buf = realloc(m->buf, m->len + n);
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* rows: packed samples as libpng wants them (big-endian for 16-bit). */
static membuf write_png(int w, int h, int depth, int ctype, int interlace, uint8_t **rows,
                        const png_color *pal, int npal, const uint8_t *trans, int ntrans,
                        const png_color_16 *trans_color)
{
    membuf m = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng write failed\n");
        exit(1);
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_check_for_invalid_index(png, 0); /* we write indices past the PLTE on purpose */
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trans || trans_color) png_set_tRNS(png, info, trans, ntrans, trans_color);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return m;
}

static void test_png_variants(void)
{
    enum { W = 29, H = 19 };
    char err[256];
    cutout_image out;
    cutout_image_info info;
    uint8_t *rows[H];

    /* Interlaced 8-bit RGB: Adam7 handled. */
    cutout_image src = make(W, H, 3, 0);
    for (int y = 0; y < H; y++) rows[y] = src.pixels + (size_t)y * src.stride;
    membuf m = write_png(W, H, 8, PNG_COLOR_TYPE_RGB, 1, rows, NULL, 0, NULL, 0, NULL);
    int ok = decode(m.buf, m.len, NULL, no_flags, &out, &info, err) == 0 && same_pixels(&src, &out);
    check(ok, "interlaced RGB PNG decodes exactly");
    free(m.buf);
    cutout_image_free(&out);
    cutout_image_free(&src);

    /* 16-bit RGBA: the high byte of each sample (what PIL's unpacker keeps). */
    static uint8_t s16[H][W * 8];
    for (int y = 0; y < H; y++) {
        for (int i = 0; i < W * 8; i++) s16[y][i] = (uint8_t)rnd();
        rows[y] = s16[y];
    }
    m = write_png(W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, 0, rows, NULL, 0, NULL, 0, NULL);
    ok = decode(m.buf, m.len, NULL, no_flags, &out, &info, err) == 0 && out.channels == 4;
    for (int y = 0; ok && y < H; y++)
        for (int i = 0; i < W * 4; i++)
            if (out.pixels[(size_t)y * out.stride + i] != s16[y][2 * i]) ok = 0;
    check(ok, "16-bit RGBA PNG keeps the high byte of every sample");
    free(m.buf);
    cutout_image_free(&out);

    /* 16-bit grey: scaled by default, clipped like PIL with the flag. */
    m = write_png(W, H, 16, PNG_COLOR_TYPE_GRAY, 0, rows, NULL, 0, NULL, 0, NULL);
    ok = decode(m.buf, m.len, NULL, no_flags, &out, &info, err) == 0 && out.channels == 1;
    for (int y = 0; ok && y < H; y++)
        for (int x = 0; x < W; x++)
            if (out.pixels[(size_t)y * out.stride + x] != s16[y][2 * x]) ok = 0;
    check(ok, "16-bit grey PNG: high byte by default");
    cutout_image_free(&out);
    cutout_decode_flags clip = {.gray16_clip = 1};
    ok = decode(m.buf, m.len, NULL, clip, &out, &info, err) == 0 && out.channels == 1;
    for (int y = 0; ok && y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned v = (unsigned)s16[y][2 * x] << 8 | s16[y][2 * x + 1];
            if (out.pixels[(size_t)y * out.stride + x] != (v > 255 ? 255 : v)) ok = 0;
        }
    check(ok, "16-bit grey PNG with gray16_clip: clipped to 255 like PIL 9.4");
    free(m.buf);
    cutout_image_free(&out);

    /* 2-bit grey with a tRNS key: levels scale to 0/85/170/255, the key
     * sample becomes alpha 0. Samples 0..3 packed 4 per byte. */
    static uint8_t g2[H][(W + 3) / 4];
    uint8_t vals[H][W];
    for (int y = 0; y < H; y++) {
        memset(g2[y], 0, sizeof g2[y]);
        for (int x = 0; x < W; x++) {
            vals[y][x] = (uint8_t)(rnd() & 3);
            g2[y][x / 4] |= (uint8_t)(vals[y][x] << (6 - 2 * (x % 4)));
        }
        rows[y] = g2[y];
    }
    png_color_16 key = {0, 0, 0, 0, 2};
    m = write_png(W, H, 2, PNG_COLOR_TYPE_GRAY, 0, rows, NULL, 0, NULL, 0, &key);
    ok = decode(m.buf, m.len, NULL, no_flags, &out, &info, err) == 0 && out.channels == 4 &&
         info.has_alpha;
    for (int y = 0; ok && y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = out.pixels + (size_t)y * out.stride + (size_t)x * 4;
            if (p[0] != vals[y][x] * 85 || p[1] != p[0] || p[2] != p[0] ||
                p[3] != (vals[y][x] == 2 ? 0 : 255))
                ok = 0;
        }
    check(ok, "2-bit grey PNG with tRNS: scaled levels, keyed alpha");
    free(m.buf);
    cutout_image_free(&out);

    /* 4-bit palette, 5 PLTE entries, tRNS for 3, indices up to 15: past the
     * PLTE PIL shows index i as grey (i, i, i), alpha 255 past the tRNS. */
    png_color pal[5] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}, {40, 50, 60}};
    uint8_t trans[3] = {0, 128, 200};
    static uint8_t p4[H][(W + 1) / 2];
    for (int y = 0; y < H; y++) {
        memset(p4[y], 0, sizeof p4[y]);
        for (int x = 0; x < W; x++) {
            vals[y][x] = (uint8_t)(rnd() & 15);
            p4[y][x / 2] |= (uint8_t)(vals[y][x] << (x % 2 ? 0 : 4));
        }
        rows[y] = p4[y];
    }
    m = write_png(W, H, 4, PNG_COLOR_TYPE_PALETTE, 1, rows, pal, 5, trans, 3, NULL);
    ok = decode(m.buf, m.len, NULL, no_flags, &out, &info, err) == 0 && out.channels == 4;
    for (int y = 0; ok && y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = vals[y][x];
            const uint8_t *p = out.pixels + (size_t)y * out.stride + (size_t)x * 4;
            uint8_t r = i < 5 ? pal[i].red : (uint8_t)i, g = i < 5 ? pal[i].green : (uint8_t)i;
            uint8_t b = i < 5 ? pal[i].blue : (uint8_t)i, a = i < 3 ? trans[i] : 255;
            if (p[0] != r || p[1] != g || p[2] != b || p[3] != a) ok = 0;
        }
    check(ok, "interlaced 4-bit palette PNG with tRNS and indices past the PLTE");
    free(m.buf);
    cutout_image_free(&out);
}

/* ---- CMYK JPEG written with libjpeg ---- */

static void test_cmyk_jpeg(void)
{
    /* Four 8x8 blocks of uniform stored CMYK values; quality 100 and no
     * subsampling keep uniform aligned blocks exact. Stored values follow
     * Adobe's inverted convention (255 = no ink), which PIL assumes. */
    static const uint8_t stored[4][4] = {
        {255, 255, 255, 255}, /* no ink: white */
        {255, 255, 255, 0},   /* full black */
        {0, 255, 255, 255},   /* full cyan: (0, 255, 255) */
        {255, 128, 255, 200}, /* some magenta, some black */
    };
    uint8_t px[8][32 * 4];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 32; x++) memcpy(px[y] + x * 4, stored[x / 8], 4);
    /* expected: k - k*(255-c)/255 per channel, by hand */
    static const int want[4][3] = {{255, 255, 255}, {0, 0, 0}, {0, 255, 255}, {200, 100, 200}};
    for (int ycck = 0; ycck <= 1; ycck++) {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr jerr;
        c.err = jpeg_std_error(&jerr);
        jpeg_create_compress(&c);
        unsigned char *buf = NULL;
        unsigned long len = 0;
        jpeg_mem_dest(&c, &buf, &len);
        c.image_width = 32;
        c.image_height = 8;
        c.input_components = 4;
        c.in_color_space = JCS_CMYK;
        jpeg_set_defaults(&c);
        if (ycck) { /* Adobe transform 2: libjpeg converts CMY to YCC itself */
            jpeg_set_colorspace(&c, JCS_YCCK);
            for (int i = 0; i < 4; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
        }
        jpeg_set_quality(&c, 100, TRUE);
        jpeg_start_compress(&c, TRUE);
        for (int y = 0; y < 8; y++) {
            JSAMPROW r = px[y];
            jpeg_write_scanlines(&c, &r, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);

        cutout_image out;
        char err[256];
        int ok = decode(buf, len, NULL, no_flags, &out, NULL, err) == 0 && out.channels == 3;
        int worst = 0;
        for (int b = 0; ok && b < 4; b++)
            for (int ch = 0; ch < 3; ch++) {
                int d = abs(out.pixels[(size_t)(b * 8 + 3) * 3 + ch] - want[b][ch]);
                if (d > worst) worst = d;
            }
        /* CMYK: 1 level for the DCT round trip of a flat block at quality
         * 100; YCCK adds libjpeg's fixed-point colour conversion both ways. */
        check(ok && worst <= (ycck ? 3 : 1), "%s JPEG (Adobe inverted) to RGB, max error %d",
              ycck ? "YCCK" : "CMYK", worst);
        free(buf);
        cutout_image_free(&out);
    }
}

/* A valid progressive grey JPEG with 1 + 63 * 10 scans (every AC band in
 * 10 successive-approximation steps): legal, but far past the 500-scan
 * limit that keeps hostile files from taking minutes. */
/* A 1-component progressive JPEG with the given scan script, of noise or
 * (flat) one grey: a few bytes a scan. */
static unsigned char *jpeg_with_scans(const jpeg_scan_info *scans, int n, int w, int h, int flat,
                                      unsigned long *len)
{
    uint8_t *px = malloc((size_t)w * (size_t)h);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) px[i] = (uint8_t)(flat ? 128 : rnd());
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    *len = 0;
    jpeg_mem_dest(&c, &buf, len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    c.scan_info = scans;
    c.num_scans = n;
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW r = px + (size_t)y * (size_t)w;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    return buf;
}

/* Scan scripts for 1 component. cycling: every AC coefficient refined bit
 * by bit (631 scans, the hostile kind); at_cap: DC, then each AC coefficient
 * in its own scan (64). Both return the number of scans. */
#define CYCLING_SCANS (1 + 63 * 10)
static int cycling_scans(jpeg_scan_info *s)
{
    int n = 0;
    s[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int band = 1; band <= 63; band++) {
        s[n++] = (jpeg_scan_info){1, {0}, band, band, 0, 9};
        for (int al = 8; al >= 0; al--) s[n++] = (jpeg_scan_info){1, {0}, band, band, al + 1, al};
    }
    return n;
}

static int at_cap_scans(jpeg_scan_info *s)
{
    s[0] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int band = 1; band <= 63; band++) s[band] = (jpeg_scan_info){1, {0}, band, band, 0, 0};
    return 64;
}

/* Hostile files cycle through thousands of scans (each a pass over every
 * block); CUTOUT_JPEG_MAX_SCANS is the cap: exactly that many decode, one
 * more is a limit error. */
static void test_jpeg_scan_limit(void)
{
    static jpeg_scan_info scans[CYCLING_SCANS];
    int n = cycling_scans(scans);
    unsigned long len;
    unsigned char *buf = jpeg_with_scans(scans, n, 16, 16, 0, &len);
    cutout_image out;
    char err[256];
    int rc = decode(buf, len, NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_LIMIT && strstr(err, "scans"), "JPEG with %d scans refused: %s", n, err);
    free(buf);

    /* DC, then the 63 AC coefficients one scan each: 64 scans. With the DC
     * split in two (Al 1, then its refinement): 65. */
    static jpeg_scan_info at_cap[64], over[65];
    at_cap_scans(at_cap);
    at_cap_scans(over + 1);
    over[0] = (jpeg_scan_info){1, {0}, 0, 0, 0, 1};
    over[1] = (jpeg_scan_info){1, {0}, 0, 0, 1, 0};
    check(CUTOUT_JPEG_MAX_SCANS == 64, "the scan cap is 64 (the scripts below assume it)");
    buf = jpeg_with_scans(at_cap, 64, 64, 48, 0, &len);
    rc = decode(buf, len, NULL, no_flags, &out, NULL, err);
    check(rc == 0 && out.width == 64, "JPEG with %d scans (the cap) decodes: %s",
          CUTOUT_JPEG_MAX_SCANS, rc ? err : "ok");
    cutout_image_free(&out);
    free(buf);
    buf = jpeg_with_scans(over, 65, 64, 48, 0, &len);
    rc = decode(buf, len, NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_LIMIT, "JPEG with %d scans (one over) is a limit error: %s",
          CUTOUT_JPEG_MAX_SCANS + 1, err);
    cutout_image_probe_info pi;
    rc = cutout_image_probe(buf, len, 320, &pi, err, sizeof err);
    check(rc == 0 && pi.progressive && pi.width == 64 && pi.height == 48 &&
              pi.decode_bytes >= 64 * 48 * (8 + 2),
          "probe: progressive 64x48 JPEG, coefficients counted (%llu bytes)",
          (unsigned long long)pi.decode_bytes);
    free(buf);
}

/* ---- animated WebP ---- */

static void test_animated_webp(void)
{
    WebPAnimEncoderOptions eo;
    WebPAnimEncoderOptionsInit(&eo);
    WebPAnimEncoder *enc = WebPAnimEncoderNew(24, 16, &eo);
    WebPConfig cfg;
    WebPConfigInit(&cfg);
    cfg.lossless = 1;
    cutout_image frames[3];
    for (int f = 0; f < 3; f++) {
        frames[f] = make(24, 16, 4, 0);
        for (int i = 0; i < 24 * 16; i++) frames[f].pixels[i * 4 + 3] = 255;
        WebPPicture pic;
        WebPPictureInit(&pic);
        pic.use_argb = 1;
        pic.width = 24;
        pic.height = 16;
        WebPPictureImportRGBA(&pic, frames[f].pixels, (int)frames[f].stride);
        WebPAnimEncoderAdd(enc, &pic, f * 100, &cfg);
        WebPPictureFree(&pic);
    }
    WebPAnimEncoderAdd(enc, NULL, 300, NULL);
    WebPData wd;
    WebPDataInit(&wd);
    WebPAnimEncoderAssemble(enc, &wd);
    WebPAnimEncoderDelete(enc);

    cutout_image out, first;
    cutout_image_info info;
    char err[256];
    int ok = decode(wd.bytes, wd.size, NULL, no_flags, &out, &info, err) == 0;
    ok = ok && cutout_image_convert(&frames[0], out.channels, &first, err, sizeof err) == 0;
    check(ok && same_pixels(&out, &first), "animated WebP: the first frame, exactly");
    check(info.frames == 3 && strstr(info.warning, "first frame"), "animated WebP warns: \"%s\"",
          info.warning);
    cutout_image_free(&out);
    cutout_image_free(&first);
    for (int f = 0; f < 3; f++) cutout_image_free(&frames[f]);
    WebPDataClear(&wd);
}

/* ---- decode bombs: small files declaring huge images ----
 *
 * Each is decoded in a child process whose peak resident memory (VmHWM,
 * reset first through /proc/self/clear_refs) is compared with what
 * cutout_image_probe estimated from the header: the estimate must bound it. */

static long long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    if (f) fclose(f);
    return kb;
}

/* Peak memory growth of decoding data, in bytes; -1 when it cannot be
 * measured. *rc gets the decoder's status. */
static long long decode_peak_bytes(const uint8_t *data, size_t len, int *rc)
{
    int fds[2];
    if (pipe(fds)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *c = fopen("/proc/self/clear_refs", "w");
        long long r[2] = {-1, 0};
        if (c && fputs("5", c) >= 0 && fclose(c) == 0) {
            long long before = vm_hwm_kb();
            cutout_image out;
            char err[256];
            r[1] = cutout_image_decode(data, len, NULL, no_flags, &out, NULL, err, sizeof err);
            r[0] = (vm_hwm_kb() - before) * 1024;
            cutout_image_free(&out);
        }
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    long long r[2] = {-1, 0};
    if (read(fds[0], r, sizeof r) != (ssize_t)sizeof r) r[0] = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    *rc = (int)r[1];
    return r[0];
}

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t png_chunk(uint8_t *o, const char *type, const uint8_t *body, size_t n)
{
    put32be(o, (uint32_t)n);
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, body, n);
    put32be(o + 8 + n, (uint32_t)crc32(crc32(0, NULL, 0), o + 4, (uInt)(4 + n)));
    return 12 + n;
}

/* A 1-bit palette PNG of w x h zeros with an opaque and a transparent
 * entry (so it decodes to RGBA): a few KB for hundreds of MB of pixels. */
static uint8_t *png_bomb(uint32_t w, uint32_t h, size_t *len)
{
    size_t row = 1 + (w + 7) / 8, raw = row * h;
    uint8_t *zeros = calloc(1, raw);
    uLongf zlen = compressBound((uLong)raw);
    uint8_t *z = malloc(zlen);
    compress2(z, &zlen, zeros, (uLong)raw, 9);
    free(zeros);
    uint8_t *o = malloc(zlen + 128), ihdr[13] = {0};
    put32be(ihdr, w);
    put32be(ihdr + 4, h);
    ihdr[8] = 1; /* bit depth */
    ihdr[9] = 3; /* palette */
    static const uint8_t plte[6] = {10, 20, 30, 200, 100, 50}, trns[1] = {0};
    memcpy(o, "\x89PNG\r\n\x1a\n", 8);
    size_t n = 8;
    n += png_chunk(o + n, "IHDR", ihdr, 13);
    n += png_chunk(o + n, "PLTE", plte, 6);
    n += png_chunk(o + n, "tRNS", trns, 1);
    n += png_chunk(o + n, "IDAT", z, zlen);
    n += png_chunk(o + n, "IEND", NULL, 0);
    free(z);
    *len = n;
    return o;
}

/* An animated WebP: a w x h canvas holding 2 frames of 16x16 (lossless,
 * with alpha) at (x, y). */
static void webp_anim(int w, int h, int x, int y, WebPData *out)
{
    cutout_image im = make(16, 16, 4, 0);
    for (int i = 0; i < 16 * 16; i++) im.pixels[i * 4 + 3] = (uint8_t)(i % 3 ? 255 : i % 5 * 40);
    uint8_t *bits = NULL;
    size_t n = WebPEncodeLosslessRGBA(im.pixels, 16, 16, (int)im.stride, &bits);
    WebPMux *mux = WebPMuxNew();
    WebPMuxSetCanvasSize(mux, w, h);
    WebPMuxAnimParams ap = {0, 0};
    WebPMuxSetAnimationParams(mux, &ap);
    for (int f = 0; f < 2; f++) {
        WebPMuxFrameInfo fi;
        memset(&fi, 0, sizeof fi);
        fi.bitstream.bytes = bits;
        fi.bitstream.size = n;
        fi.x_offset = x;
        fi.y_offset = y;
        fi.duration = 100;
        fi.id = WEBP_CHUNK_ANMF;
        fi.dispose_method = WEBP_MUX_DISPOSE_NONE;
        fi.blend_method = f ? WEBP_MUX_BLEND : WEBP_MUX_NO_BLEND;
        WebPMuxPushFrame(mux, &fi, 1);
    }
    WebPDataInit(out);
    WebPMuxAssemble(mux, out);
    WebPMuxDelete(mux);
    WebPFree(bits);
    cutout_image_free(&im);
}

/* The first frame as WebPAnimDecoder (PIL's path) gives it. */
static int anim_decoder_first(const WebPData *wd, cutout_image *out)
{
    WebPAnimDecoderOptions opt;
    WebPAnimDecoderOptionsInit(&opt);
    opt.color_mode = MODE_RGBA;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(wd, &opt);
    WebPAnimInfo ai;
    uint8_t *canvas;
    int ts, rc = -1;
    char err[64];
    if (dec && WebPAnimDecoderGetInfo(dec, &ai) && WebPAnimDecoderGetNext(dec, &canvas, &ts) &&
        !cutout_image_alloc(out, (int)ai.canvas_width, (int)ai.canvas_height, 4, err, sizeof err)) {
        memcpy(out->pixels, canvas, out->stride * (size_t)out->height);
        rc = 0;
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}

static void test_bombs(void)
{
    char err[256];
    cutout_image_probe_info pi;
    cutout_image out, ref;

    /* Animation: frame 1 at an offset on a larger canvas, pixel for pixel as
     * WebPAnimDecoder composes it. */
    WebPData wd;
    webp_anim(40, 30, 10, 6, &wd);
    int ok = decode(wd.bytes, wd.size, NULL, no_flags, &out, NULL, err) == 0 &&
             anim_decoder_first(&wd, &ref) == 0;
    check(ok && out.channels == 4 && same_pixels(&out, &ref),
          "animated WebP: frame 1 at (10,6) on a 40x30 canvas as WebPAnimDecoder gives it");
    if (ok) {
        cutout_image_free(&out);
        cutout_image_free(&ref);
    }
    WebPDataClear(&wd);

    /* 7000 x 6000 canvas: 168 MB of RGBA from a file of a few hundred bytes.
     * WebPAnimDecoder held two canvases besides the output. */
    webp_anim(7000, 6000, 100, 100, &wd);
    int rc = cutout_image_probe(wd.bytes, wd.size, 320, &pi, err, sizeof err);
    check(rc == 0 && pi.width == 7000 && pi.height == 6000 && pi.frames == 2,
          "probe: animated WebP of %zu bytes declares 7000x6000, 2 frames (%dx%d, %d)", wd.size,
          pi.width, pi.height, pi.frames);
    long long peak = decode_peak_bytes(wd.bytes, wd.size, &rc);
    check(rc == 0 && peak > 0 && (uint64_t)peak <= pi.decode_bytes &&
              peak < 7000LL * 6000 * 4 * 3 / 2,
          "animated WebP bomb: peak %.0f MB, within the probe's %.0f MB and under 1.5 canvases",
          peak / 1e6, pi.decode_bytes / 1e6);
    check(pi.peak_bytes >= 7000ULL * 6000 * 13, "probe: the pipeline's peak counts 13 bytes a pixel");
    WebPDataClear(&wd);

    /* PNG: 1 bit a pixel of zeros, to RGBA. */
    size_t len;
    uint8_t *png = png_bomb(8000, 5000, &len);
    rc = cutout_image_probe(png, len, 320, &pi, err, sizeof err);
    check(rc == 0 && pi.width == 8000 && pi.height == 5000 && len < 20000,
          "probe: PNG bomb of %zu bytes declares %dx%d", len, pi.width, pi.height);
    peak = decode_peak_bytes(png, len, &rc);
    check(rc == 0 && peak > 0 && (uint64_t)peak <= pi.decode_bytes,
          "PNG bomb: decoding peaks at %.0f MB, within the probe's %.0f MB", peak / 1e6,
          pi.decode_bytes / 1e6);
    free(png);

    /* Progressive JPEG at the scan cap, large: coefficients + pixels. */
    static jpeg_scan_info at_cap[64];
    at_cap_scans(at_cap);
    unsigned long jlen;
    unsigned char *jpg = jpeg_with_scans(at_cap, 64, 3000, 2000, 0, &jlen);
    rc = cutout_image_probe(jpg, jlen, 320, &pi, err, sizeof err);
    check(rc == 0 && pi.progressive, "probe: progressive JPEG");
    peak = decode_peak_bytes(jpg, jlen, &rc);
    check(rc == 0 && peak > 0 && (uint64_t)peak <= pi.decode_bytes,
          "progressive JPEG: decoding peaks at %.0f MB, within the probe's %.0f MB", peak / 1e6,
          pi.decode_bytes / 1e6);
    free(jpg);

    rc = cutout_image_probe("GIF89a....", 10, 320, &pi, err, sizeof err);
    check(rc == CUTOUT_E_UNSUPPORTED, "probe: a GIF is unsupported");
    rc = cutout_image_probe("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16, 320, &pi, err, sizeof err);
    check(rc == CUTOUT_E_FORMAT, "probe: a truncated PNG header is a format error: %s", err);
}

/* ---- EXIF orientation ---- */

/* A TIFF block: IFD0 with one entry, tag 0x0112, of `type`, count, value. */
static size_t make_exif(uint8_t *out, int big, int type, uint32_t count, unsigned value)
{
    uint8_t *p = out;
    memcpy(p, "Exif\0\0", 6);
    p += 6;
    memcpy(p, big ? "MM\0*" : "II*\0", 4);
    uint8_t e[18] = {0};
#define PUT16(q, v) ((big) ? ((q)[0] = (uint8_t)((v) >> 8), (q)[1] = (uint8_t)(v)) \
                           : ((q)[0] = (uint8_t)(v), (q)[1] = (uint8_t)((v) >> 8)))
#define PUT32(q, v) ((big) ? (PUT16(q, (v) >> 16), PUT16((q) + 2, (v) & 0xffff)) \
                           : (PUT16(q, (v) & 0xffff), PUT16((q) + 2, (v) >> 16)))
    PUT32(p + 4, 8u);
    PUT16(e, 1u);
    PUT16(e + 2, 0x0112u);
    PUT16(e + 4, (unsigned)type);
    PUT32(e + 6, count);
    if (type == 3)
        PUT16(e + 10, value);
    else
        PUT32(e + 10, value);
    memcpy(p + 8, e, sizeof e);
    return 6 + 8 + sizeof e; /* e ends with the next-IFD offset (zero) */
}

/* Inserts an APP1 segment right after SOI. */
static uint8_t *jpeg_with_app1(const uint8_t *jpg, size_t n, const uint8_t *payload, size_t plen,
                               size_t *out_len)
{
    uint8_t *o = malloc(n + plen + 4);
    memcpy(o, jpg, 2);
    o[2] = 0xff;
    o[3] = 0xe1;
    o[4] = (uint8_t)((plen + 2) >> 8);
    o[5] = (uint8_t)(plen + 2);
    memcpy(o + 6, payload, plen);
    memcpy(o + 6 + plen, jpg + 2, n - 2);
    *out_len = n + plen + 4;
    return o;
}

static uint32_t crc_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

/* Inserts an eXIf chunk (TIFF block without the "Exif\0\0" prefix) after IHDR. */
static uint8_t *png_with_exif(const uint8_t *png, size_t n, const uint8_t *tiff, size_t tlen,
                              size_t *out_len)
{
    size_t at = 33, clen = 12 + tlen;
    uint8_t *o = malloc(n + clen);
    memcpy(o, png, at);
    uint8_t *c = o + at;
    c[0] = (uint8_t)(tlen >> 24);
    c[1] = (uint8_t)(tlen >> 16);
    c[2] = (uint8_t)(tlen >> 8);
    c[3] = (uint8_t)tlen;
    memcpy(c + 4, "eXIf", 4);
    memcpy(c + 8, tiff, tlen);
    uint32_t crc = crc_png(c + 4, 4 + tlen);
    c[8 + tlen] = (uint8_t)(crc >> 24);
    c[9 + tlen] = (uint8_t)(crc >> 16);
    c[10 + tlen] = (uint8_t)(crc >> 8);
    c[11 + tlen] = (uint8_t)crc;
    memcpy(o + at + clen, png + at, n - at);
    *out_len = n + clen;
    return o;
}

static void test_orientation(void)
{
    /* A 3x2 grey image whose pixels are their ids:   0 1 2
     *                                                 3 4 5
     * and the eight EXIF orientations written out by hand (what a viewer
     * shows; PIL's exif_transpose agrees, see check_decode.py). */
    static const struct {
        int w, h;
        uint8_t px[6];
    } want[9] = {
        {0, 0, {0}},
        {3, 2, {0, 1, 2, 3, 4, 5}}, /* 1 as is */
        {3, 2, {2, 1, 0, 5, 4, 3}}, /* 2 mirrored */
        {3, 2, {5, 4, 3, 2, 1, 0}}, /* 3 rotated 180 */
        {3, 2, {3, 4, 5, 0, 1, 2}}, /* 4 flipped */
        {2, 3, {0, 3, 1, 4, 2, 5}}, /* 5 transposed */
        {2, 3, {3, 0, 4, 1, 5, 2}}, /* 6 rotated 90 clockwise */
        {2, 3, {5, 2, 4, 1, 3, 0}}, /* 7 transversed */
        {2, 3, {2, 5, 1, 4, 0, 3}}, /* 8 rotated 90 counter-clockwise */
    };
    char err[256];
    size_t n;
    for (int c = 1; c <= 4; c++) { /* grey, RGB, RGBA: channel ch of pixel id is id*40+ch */
        if (c == 2) continue;
        cutout_image src;
        cutout_image_alloc(&src, 3, 2, c, err, sizeof err);
        for (int i = 0; i < 6 * c; i++) src.pixels[i] = (uint8_t)(i / c * 40 + i % c);
        uint8_t *png = encode(&src, CUTOUT_FORMAT_PNG, 3, 0, &n);
        for (int o = 1; o <= 8; o++) {
            for (int big = 0; big <= 1; big++) {
                uint8_t exif[64];
                size_t el = make_exif(exif, big, 3, 1, (unsigned)o), len;
                uint8_t *f = png_with_exif(png, n, exif + 6, el - 6, &len);
                cutout_image out;
                cutout_image_info info;
                int ok = decode(f, len, NULL, no_flags, &out, &info, err) == 0 &&
                         info.orientation == o && out.width == want[o].w &&
                         out.height == want[o].h && out.channels == c;
                for (int i = 0; ok && i < 6 * c; i++)
                    ok = out.pixels[i] == want[o].px[i / c] * 40 + i % c;
                check(ok, "PNG eXIf orientation %d (%s-endian, %d channel(s)) applied", o,
                      big ? "big" : "little", c);
                free(f);
                cutout_image_free(&out);
            }
        }
        free(png);
        cutout_image_free(&src);
    }

    /* JPEG APP1: the decoded pixels are the plain decode, oriented. */
    cutout_image im = make(40, 24, 3, 1), plain, out, oriented;
    uint8_t *jpg = encode(&im, CUTOUT_FORMAT_JPEG, 90, 0, &n);
    decode(jpg, n, NULL, no_flags, &plain, NULL, err);
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[64];
        size_t el = make_exif(exif, o & 1, o == 4 ? 4 : 3, 1, (unsigned)o), len;
        uint8_t *f = jpeg_with_app1(jpg, n, exif, el, &len);
        cutout_image_info info;
        int ok = decode(f, len, NULL, no_flags, &out, &info, err) == 0 && info.orientation == o &&
                 cut_image_orient(&plain, o, &oriented, err, sizeof err) == 0 &&
                 same_pixels(&out, &oriented);
        check(ok, "JPEG APP1 EXIF orientation %d applied", o);
        free(f);
        cutout_image_free(&out);
        cutout_image_free(&oriented);
    }
    free(jpg);
    cutout_image_free(&plain);
    cutout_image_free(&im);

    /* Malformed EXIF blocks read as orientation 1, never out of bounds. */
    uint8_t e[64];
    size_t el = make_exif(e, 0, 3, 1, 6);
    check(cut_exif_orientation(e, el) == 6, "EXIF parser reads orientation 6");
    int bad = 0;
    /* el - 4: the entry ends there (then comes the next-IFD offset) */
    for (size_t cut = 0; cut < el - 4; cut++) bad |= cut_exif_orientation(e, cut) != 1;
    check(!bad, "every truncated EXIF block reads as 1");
    el = make_exif(e, 0, 3, 2, 6);
    check(cut_exif_orientation(e, el) == 1, "orientation with count 2 is ignored (as PIL)");
    el = make_exif(e, 1, 3, 1, 9);
    check(cut_exif_orientation(e, el) == 1, "orientation 9 is ignored");
    el = make_exif(e, 0, 3, 1, 6);
    e[10] = 0xff; /* IFD offset beyond the block */
    check(cut_exif_orientation(e, el) == 1, "IFD offset out of range is ignored");
    el = make_exif(e, 0, 3, 1, 6);
    e[14] = 0xff;
    e[15] = 0xff; /* 65535 entries claimed */
    check(cut_exif_orientation(e, el) == 1, "entry count beyond the block is ignored");
}

/* ---- limits and hostile input ---- */

static void test_limits(void)
{
    char err[256];
    cutout_image im = make(40, 24, 3, 1), out;
    size_t np, nj, nw;
    uint8_t *png = encode(&im, CUTOUT_FORMAT_PNG, 3, 0, &np);
    uint8_t *jpg = encode(&im, CUTOUT_FORMAT_JPEG, 90, 0, &nj);
    uint8_t *webp = encode(&im, CUTOUT_FORMAT_WEBP, 90, 0, &nw);
    const uint8_t *files[3] = {png, jpg, webp};
    size_t sizes[3] = {np, nj, nw};
    const char *names[3] = {"PNG", "JPEG", "WebP"};
    for (int f = 0; f < 3; f++) {
        cutout_image_limits lim = {959, 0, 0};
        int rc = decode(files[f], sizes[f], &lim, no_flags, &out, NULL, err);
        check(rc == CUTOUT_E_LIMIT && strstr(err, "40x24 exceeds the limit of 959 pixels"),
              "%s max_pixels: %s", names[f], err);
        lim = (cutout_image_limits){960, 40, 24};
        rc = decode(files[f], sizes[f], &lim, no_flags, &out, NULL, err);
        check(rc == 0, "%s exactly at the limits decodes", names[f]);
        cutout_image_free(&out);
        lim = (cutout_image_limits){0, 39, 0};
        rc = decode(files[f], sizes[f], &lim, no_flags, &out, NULL, err);
        check(rc == CUTOUT_E_LIMIT, "%s max_dimension: %s", names[f], err);
        lim = (cutout_image_limits){0, 0, 25};
        rc = decode(files[f], sizes[f], &lim, no_flags, &out, NULL, err);
        check(rc == CUTOUT_E_LIMIT, "%s min_dimension: %s", names[f], err);
    }
    /* Lying headers: checked before any pixel memory exists. */
    uint8_t *big = malloc(np);
    memcpy(big, png, np);
    big[16] = 0, big[17] = 1, big[18] = 0x86, big[19] = 0xa0; /* width 100000 */
    big[20] = 0, big[21] = 1, big[22] = 0x86, big[23] = 0xa0; /* height 100000 */
    uint32_t crc = crc_png(big + 12, 17);
    big[29] = (uint8_t)(crc >> 24), big[30] = (uint8_t)(crc >> 16);
    big[31] = (uint8_t)(crc >> 8), big[32] = (uint8_t)crc;
    cutout_image_limits lim = {40000000, 0, 0};
    int rc = decode(big, np, &lim, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_LIMIT && strcmp(err, "PNG: 100000x100000 exceeds the limit of 40000000 pixels") == 0,
          "PNG 100000x100000 header: %s", err);
    rc = decode(big, np, NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_FORMAT, "same without limits: %s", err);
    free(big);
    uint8_t *bj = malloc(nj);
    memcpy(bj, jpg, nj);
    for (size_t i = 2; i + 9 < nj; i++)
        if (bj[i] == 0xff && bj[i + 1] == 0xc0) { /* SOF0: height, width at +5 */
            bj[i + 5] = 0xfd, bj[i + 6] = 0xe8, bj[i + 7] = 0xfd, bj[i + 8] = 0xe8; /* 65000 */
            break;
        }
    rc = decode(bj, nj, &lim, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_LIMIT && strstr(err, "JPEG: 65000x65000 exceeds"), "JPEG 65000x65000 header: %s", err);
    free(bj);
    free(png);
    free(jpg);
    free(webp);
    cutout_image_free(&im);
}

static void test_hostile(void)
{
    char err[256];
    cutout_image out;
    cutout_image_info info;
    int rc = decode((const uint8_t *)"", 0, NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_UNSUPPORTED && err[0], "empty input: %s", err);
    const char *text = "this is plain text, not an image at all\n";
    rc = decode((const uint8_t *)text, strlen(text), NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_UNSUPPORTED && strstr(err, "not a PNG"), "text: %s", err);
    rc = decode((const uint8_t *)"GIF89a\1\0\1\0\0\0\0", 13, NULL, no_flags, &out, NULL, err);
    check(rc == CUTOUT_E_UNSUPPORTED && strstr(err, "GIF"), "GIF: %s", err);

    /* Every truncation of a small file in each format, and (PNG) a
     * progressive-free interlaced one: an error with a message, or, when
     * only trailing bytes are gone, exactly the full image. */
    cutout_image im = make(21, 13, 4, 1);
    cutout_image rgb;
    cutout_image_convert(&im, 3, &rgb, err, sizeof err);
    struct {
        const char *name;
        uint8_t *data;
        size_t size;
    } files[4];
    files[0].name = "PNG";
    files[0].data = encode(&im, CUTOUT_FORMAT_PNG, 6, 0, &files[0].size);
    files[1].name = "JPEG";
    files[1].data = encode(&rgb, CUTOUT_FORMAT_JPEG, 85, 0, &files[1].size);
    files[2].name = "WebP lossy+alpha";
    files[2].data = encode(&im, CUTOUT_FORMAT_WEBP, 70, 0, &files[2].size);
    files[3].name = "WebP lossless";
    files[3].data = encode(&im, CUTOUT_FORMAT_WEBP, 70, 1, &files[3].size);
    for (int f = 0; f < 4; f++) {
        cutout_image full;
        decode(files[f].data, files[f].size, NULL, no_flags, &full, NULL, err);
        int bad = 0, decodable = 0;
        for (size_t n = 0; n < files[f].size; n++) {
            uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees over-reads */
            memcpy(copy, files[f].data, n);
            err[0] = 0;
            rc = decode(copy, n, NULL, no_flags, &out, &info, err);
            if (rc == 0) {
                decodable++;
                if (!same_pixels(&out, &full)) bad++;
                cutout_image_free(&out);
            } else if (!err[0] || (rc != CUTOUT_E_FORMAT && rc != CUTOUT_E_UNSUPPORTED) ||
                       out.pixels) {
                bad++;
            }
            free(copy);
        }
        check(!bad, "%s: %zu truncations: errors with a message, or (%d, trailing bytes "
              "only) the complete image", files[f].name, files[f].size, decodable);
        /* random corruption */
        bad = 0;
        for (int k = 0; k < 300; k++) {
            uint8_t *copy = malloc(files[f].size);
            memcpy(copy, files[f].data, files[f].size);
            int flips = 1 + (int)(rnd() % 6);
            for (int j = 0; j < flips; j++) copy[rnd() % files[f].size] = (uint8_t)rnd();
            err[0] = 0;
            rc = decode(copy, files[f].size, NULL, no_flags, &out, &info, err);
            if (rc != 0 && !err[0]) bad++;
            cutout_image_free(&out);
            free(copy);
        }
        check(!bad, "%s: 300 randomly corrupted copies: decoded or an error with a message",
              files[f].name);
        cutout_image_free(&full);
        free(files[f].data);
    }
    cutout_image_free(&im);
    cutout_image_free(&rgb);
}

static void test_convert(void)
{
    cutout_image im, g;
    char err[128];
    cutout_image_alloc(&im, 4, 1, 3, err, sizeof err);
    static const uint8_t px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    memcpy(im.pixels, px, 12);
    int ok = cutout_image_convert(&im, 1, &g, err, sizeof err) == 0 && g.pixels[0] == 76 &&
             g.pixels[1] == 150 && g.pixels[2] == 29 && g.pixels[3] == 255;
    /* PIL: Image.new("RGB", (1, 1), red).convert("L") is 76; green 150; blue 29 */
    check(ok, "RGB to grey uses PIL's weights (76, 150, 29, 255)");
    cutout_image_free(&g);
    cutout_image_free(&im);
}

/* test_image_io --write-bombs DIR: the bomb files for the server's
 * integration test (tests/integration/servers.py, test_hardening). */
static int write_bombs(const char *dir)
{
    char path[1024];
    size_t len;
    uint8_t *png = png_bomb(8000, 5000, &len);
    WebPData wd;
    webp_anim(7000, 6000, 100, 100, &wd);
    /* 631 scans over 4000x4000 of one grey: 65 KB. */
    static jpeg_scan_info cycling[CYCLING_SCANS];
    int n = cycling_scans(cycling);
    unsigned long jlen;
    unsigned char *jpg = jpeg_with_scans(cycling, n, 4000, 4000, 1, &jlen);
    const struct { const char *name; const void *data; size_t n; } files[] = {
        {"bomb.png", png, len}, {"bomb.webp", wd.bytes, wd.size}, {"scans.jpg", jpg, jlen}};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(files[i].data, 1, files[i].n, f) != files[i].n) rc = 1;
        if (f && fclose(f)) rc = 1;
    }
    free(png);
    WebPDataClear(&wd);
    free(jpg);
    return rc;
}

int main(int argc, char **argv)
{
    rng_state = 88172645u; /* the data this test was written with */
    if (argc == 3 && !strcmp(argv[1], "--write-bombs")) return write_bombs(argv[2]);
    test_roundtrips();
    test_png_variants();
    test_cmyk_jpeg();
    test_jpeg_scan_limit();
    test_animated_webp();
    test_bombs();
    test_orientation();
    test_limits();
    test_hostile();
    test_convert();
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
