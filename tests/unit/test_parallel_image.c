/* The image work the server spreads over a thread pool (one request on
 * every core).
 *
 * LANCZOS resize, preprocess, mask and render (cut_resize_lanczos,
 * cutout_pipeline_preprocess, cutout_pipeline_mask, cutout_render) on a pool
 * of 1..3 threads: exactly the bytes (and floats) of the same call without a
 * pool, which tests/image and test_resample compare with PIL, for odd sizes,
 * up and down, one pass or two.
 *
 * cut_png_encode_parallel (engine/image/image_png.c), the strip-parallel PNG
 * encoder. For images from 1x1 up to several strips, 1, 3 and 4 channels,
 * levels 0..3 and 1..3 threads (or no pool):
 *  - decoding (libpng, via cutout_image_decode) gives back exactly the pixels;
 *  - the file is checked without libpng too: chunk layout, every chunk's
 *    CRC-32 and the zlib stream's header and adler32, against checksums
 *    computed here from a reference filter (none at level 0, Paeth at 1..3,
 *    written from the PNG specification) - so a stream that libpng would
 *    accept leniently still fails here;
 *  - the bytes do not depend on the number of threads, nor on the Paeth
 *    filter's implementation (AVX2 or portable).
 * cut_png_encode_deflate (the same rows deflated whole by libdeflate, the
 * CLI's encoder) passes the same file and pixel checks at levels 1..3.
 * Python's zlib and PIL read the server's output in tests/integration. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "image_codec.h"
#include "pipeline.h"
#include "resample.h"
#include "threadpool.h"
#include "../tools/unit_check.h"


/* Smooth gradients with noise (compressible, like photos) or pure noise. */
static cutout_image make(int w, int h, int c, int noise)
{
    cutout_image im;
    char err[128];
    if (cutout_image_alloc(&im, w, h, c, err, sizeof err)) exit(1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                im.pixels[(size_t)y * im.stride + (size_t)x * c + ch] =
                    (uint8_t)(noise ? (int)rnd() : x / 3 + y / 2 + ch * 40 + (int)(rnd() % 4));
    return im;
}

/* ---- reference checksums (RFC 1950 adler32, PNG's CRC-32) ---- */

static uint32_t ref_adler(uint32_t a, const uint8_t *p, size_t n)
{
    uint64_t s1 = a & 0xffff, s2 = a >> 16; /* 64-bit sums: reduce every 4096 bytes */
    for (size_t i = 0; i < n; i++) {
        s1 += p[i];
        s2 += s1;
        if ((i & 4095) == 4095) s1 %= 65521, s2 %= 65521;
    }
    return (uint32_t)(s2 % 65521) << 16 | (uint32_t)(s1 % 65521);
}

static uint32_t ref_crc(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* adler32 of the scanlines as the encoder must filter them. */
static uint32_t expected_adler(const cutout_image *im, int level)
{
    size_t n = (size_t)im->width * (size_t)im->channels;
    uint8_t *line = malloc(n + 1);
    if (!line) exit(1);
    uint32_t a = 1;
    for (int y = 0; y < im->height; y++) {
        const uint8_t *row = im->pixels + (size_t)y * im->stride;
        const uint8_t *up = y ? row - im->stride : NULL;
        line[0] = level ? 4 : 0;
        for (size_t i = 0; i < n; i++) {
            int bpp = im->channels;
            int left = i >= (size_t)bpp ? row[i - (size_t)bpp] : 0;
            int above = up ? up[i] : 0;
            int corner = up && i >= (size_t)bpp ? up[i - (size_t)bpp] : 0;
            line[1 + i] = (uint8_t)(row[i] - (level ? paeth(left, above, corner) : 0));
        }
        a = ref_adler(a, line, n + 1);
    }
    free(line);
    return a;
}

/* The file's structure and checksums; "" or what is wrong. */
static const char *check_file(const uint8_t *d, size_t len, const cutout_image *im, int level)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(d, sig, 8)) return "signature";
    size_t pos = 8;
    int seen_ihdr = 0, seen_iend = 0;
    uint8_t *z = malloc(len); /* the concatenated IDAT data */
    size_t zlen = 0;
    if (!z) exit(1);
    const char *bad = "";
    while (!seen_iend && !*bad) {
        if (len - pos < 12) {
            bad = "truncated chunk";
            break;
        }
        uint32_t n = be32(d + pos);
        if (n > len - pos - 12) {
            bad = "chunk length past the end";
            break;
        }
        const uint8_t *type = d + pos + 4, *body = d + pos + 8;
        if (be32(body + n) != ref_crc(type, (size_t)n + 4)) bad = "chunk CRC";
        else if (!memcmp(type, "IHDR", 4)) {
            static const uint8_t ct[5] = {0, 0, 0, 2, 6};
            seen_ihdr = pos == 8 && n == 13 && be32(body) == (uint32_t)im->width &&
                        be32(body + 4) == (uint32_t)im->height && body[8] == 8 &&
                        body[9] == ct[im->channels] && !body[10] && !body[11] && !body[12];
            if (!seen_ihdr) bad = "IHDR";
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(z + zlen, body, n);
            zlen += n;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = 1;
            if (n || pos + 12 != len) bad = "IEND not last / not empty";
        } else {
            bad = "unexpected chunk";
        }
        pos += 12 + (size_t)n;
    }
    if (!*bad && (!seen_ihdr || !seen_iend)) bad = "missing IHDR or IEND";
    /* zlib header: deflate, 32K window, no preset dictionary, FCHECK. */
    if (!*bad && (zlen < 6 || z[0] != 0x78 || (z[1] & 0x20) || ((unsigned)z[0] << 8 | z[1]) % 31))
        bad = "zlib header";
    if (!*bad && be32(z + zlen - 4) != expected_adler(im, level)) bad = "adler32";
    free(z);
    return bad;
}

static void test_resize(threadpool *pools[3])
{
    /* from -> to: down, up, one axis only, sizes that leave a short band */
    static const int cases[][5] = {{1000, 1000, 3, 320, 320}, {320, 320, 1, 1000, 701},
                                   {333, 97, 4, 120, 300},    {64, 200, 4, 64, 33},
                                   {200, 64, 1, 33, 64},      {5, 3, 3, 1, 1}};
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *k = cases[i];
        for (int noise = 0; noise < 2; noise++) {
            cutout_image src = make(k[0], k[1], k[2], noise), ref = {0};
            if (k[2] == 4 && !noise) /* RGBA: some transparency for the premultiply path */
                for (int p = 0; p < k[0] * k[1]; p++) src.pixels[(size_t)p * 4 + 3] = (uint8_t)(p * 7);
            int ok = !cut_resize_lanczos(&src, k[3], k[4], &ref, NULL, err, sizeof err);
            for (int t = 0; t < 3 && ok; t++) {
                cutout_image out = {0};
                ok = !cut_resize_lanczos(&src, k[3], k[4], &out, pools[t], err, sizeof err) &&
                     same_pixels(&ref, &out);
                cutout_image_free(&out);
            }
            check(ok, "resize %dx%dx%d -> %dx%d %s: cut_resize_lanczos on 1..3 threads == "
                  "without a pool", k[0], k[1], k[2], k[3], k[4], noise ? "noise" : "smooth");
            cutout_image_free(&src);
            cutout_image_free(&ref);
        }
    }
    /* The pipeline steps around the network. */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    cutout_image img = make(777, 555, 3, 0);
    int s = 320;
    size_t plane = (size_t)s * (size_t)s;
    float *a = malloc(3 * plane * sizeof *a), *b = malloc(3 * plane * sizeof *b);
    float *pred = malloc(plane * sizeof *pred);
    if (!a || !b || !pred) exit(1);
    int ok = !cutout_pipeline_preprocess(&img, s, mean, sd, a, NULL, err, sizeof err);
    for (int t = 0; t < 3 && ok; t++)
        ok = !cutout_pipeline_preprocess(&img, s, mean, sd, b, pools[t], err, sizeof err) &&
             !memcmp(a, b, 3 * plane * sizeof *a);
    check(ok, "cutout_pipeline_preprocess on 1..3 threads == without a pool, bit for bit");
    for (size_t i = 0; i < plane; i++) pred[i] = (float)(rnd() % 1000) / 999.0f;
    cutout_image m1 = {0};
    ok = !cutout_pipeline_mask(pred, s, 777, 555, &m1, NULL, err, sizeof err);
    for (int t = 0; t < 3 && ok; t++) {
        cutout_image m2 = {0};
        ok = !cutout_pipeline_mask(pred, s, 777, 555, &m2, pools[t], err, sizeof err) && same_pixels(&m1, &m2);
        cutout_image_free(&m2);
    }
    check(ok, "cutout_pipeline_mask on 1..3 threads == without a pool");
    /* The outputs: cutouts of grey, RGB and RGBA images, over a colour,
     * cropped, downscaled, the mask alone. */
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        cutout_image src = make(777, 555, c, 0);
        for (int variant = 0; variant < 5; variant++) {
            cutout_render_options o;
            cutout_render_options_default(&o);
            o.has_bg_color = variant == 1;
            memcpy(o.bg_color, (uint8_t[4]){10, 200, 30, 128}, 4);
            o.crop = variant == 2;
            o.max_w = variant == 3 ? 300 : 0;
            o.max_h = variant == 3 ? 1 << 30 : 0;
            o.mask_only = variant == 4;
            cutout_image r1 = {0};
            ok = !cutout_render(&src, &m1, &o, &r1, NULL, err, sizeof err);
            for (int t = 0; t < 3 && ok; t++) {
                cutout_image r2 = {0};
                ok = !cutout_render(&src, &m1, &o, &r2, pools[t], err, sizeof err) && same_pixels(&r1, &r2);
                cutout_image_free(&r2);
            }
            static const char *names[] = {"cutout", "over a colour", "cropped", "downscaled", "mask only"};
            check(ok, "cutout_render on 1..3 threads == without a pool: %d-channel image, %s", c, names[variant]);
            cutout_image_free(&r1);
        }
        cutout_image_free(&src);
    }
    cutout_image_free(&m1);
    cutout_image_free(&img);
    free(a);
    free(b);
    free(pred);
}

int main(void)
{
    threadpool *pools[3];
    for (int t = 0; t < 3; t++)
        if (cutout_pool_create(t + 1, &pools[t])) return 1;
    test_resize(pools);
    /* Strips are ~256 KiB of scanlines: 600x200 RGBA is 2 strips, 1100x700
     * RGBA 12 (the last short); 1x1 and 5x3 one. */
    static const int shapes[][3] = {{1, 1, 4}, {5, 3, 1}, {7, 5, 3}, {600, 200, 4},
                                    {301, 401, 3}, {1100, 700, 4}, {2000, 131, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int noise = 0; noise < 2; noise++) {
            int w = shapes[s][0], h = shapes[s][1], c = shapes[s][2];
            cutout_image im = make(w, h, c, noise);
            for (int level = 0; level <= 3; level++) {
                uint8_t *ref = NULL;
                size_t ref_len = 0;
                int all_same = 1, all_ok = 1;
                char what[300] = "";
                for (int t = -2; t < 3; t++) { /* -1: no pool; -2: no pool, portable filter */
                    uint8_t *d = NULL;
                    size_t n = 0;
                    char err[256];
                    int rc = cut_png_encode_parallel_impl(&im, level, t < 0 ? NULL : pools[t], t != -2,
                                                          &d, &n, err, sizeof err);
                    cutout_image back = {0};
                    const char *bad = rc ? err : check_file(d, n, &im, level);
                    if (!*bad && cutout_image_decode(d, n, NULL, (cutout_decode_flags){0}, &back, NULL,
                                                  err, sizeof err))
                        bad = err;
                    if (!*bad && !same_pixels(&im, &back)) bad = "pixels differ after decoding";
                    if (*bad) {
                        all_ok = 0;
                        snprintf(what, sizeof what, "%s%d threads: %s", t == -2 ? "portable, " : "",
                                 t < 0 ? 0 : t + 1, bad);
                    }
                    if (!ref) {
                        ref = d;
                        ref_len = n;
                        d = NULL;
                    } else if (!d || n != ref_len || memcmp(d, ref, n)) {
                        all_same = 0;
                    }
                    free(d);
                    cutout_image_free(&back);
                }
                check(all_ok, "%dx%dx%d %s level %d: valid PNG (CRCs, adler32), same pixels back%s%s", w, h,
                      c, noise ? "noise" : "smooth", level, *what ? ": " : "", what);
                check(all_same, "%dx%dx%d %s level %d: same bytes with no pool and 1, 2, 3 threads, "
                      "portable or AVX2 filter", w, h, c, noise ? "noise" : "smooth", level);
                free(ref);
                if (level > 0) {
                    uint8_t *d = NULL;
                    size_t n = 0;
                    char err[256];
                    cutout_image back = {0};
                    const char *bad = cut_png_encode_deflate(&im, level, &d, &n, err, sizeof err)
                                          ? err : check_file(d, n, &im, level);
                    if (!*bad && cutout_image_decode(d, n, NULL, (cutout_decode_flags){0}, &back,
                                                     NULL, err, sizeof err))
                        bad = err;
                    if (!*bad && !same_pixels(&im, &back)) bad = "pixels differ after decoding";
                    check(!*bad, "%dx%dx%d %s level %d, libdeflate: valid PNG, same pixels back%s%s",
                          w, h, c, noise ? "noise" : "smooth", level, *bad ? ": " : "", bad);
                    free(d);
                    cutout_image_free(&back);
                }
            }
            cutout_image_free(&im);
        }
    }
    /* Levels above 3 are libpng's (adaptive filters): still the same pixels. */
    cutout_image im = make(300, 200, 4, 0);
    uint8_t *d = NULL;
    size_t n = 0;
    char err[256];
    cutout_image back = {0};
    int ok = !cut_png_encode_parallel(&im, 6, pools[1], &d, &n, err, sizeof err) &&
             !cutout_image_decode(d, n, NULL, (cutout_decode_flags){0}, &back, NULL, err, sizeof err) &&
             same_pixels(&im, &back);
    check(ok, "level 6 (libpng path): same pixels back");
    free(d);
    cutout_image_free(&back);
    /* A bad image is refused, not encoded. */
    cutout_image bad = im;
    bad.channels = 2;
    d = NULL;
    check(cut_png_encode_parallel(&bad, 3, pools[1], &d, &n, err, sizeof err) < 0 && !d,
          "2 channels -> error, no output");
    cutout_image_free(&im);
    for (int t = 0; t < 3; t++) cutout_pool_free(pools[t]);
    printf("test_parallel_image: %s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
