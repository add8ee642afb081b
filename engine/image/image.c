/* cutout_image basics: allocation, channel conversion, EXIF orientation. */
#include "image.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cutout_image_alloc(cutout_image *img, int width, int height, int channels, char *err,
                    size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4))
        return cut_fail(err, errlen, CUTOUT_E_ARG, "invalid image shape %dx%dx%d", width,
                        height, channels);
    size_t stride, bytes;
    if (!cut_mul_size((size_t)width, (size_t)channels, &stride) ||
        !cut_mul_size(stride, (size_t)height, &bytes))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "image %dx%d is too large", width, height);
    img->pixels = malloc(bytes);
    if (!img->pixels)
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "out of memory for a %dx%d image", width,
                        height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = stride;
    return CUTOUT_OK;
}

void cutout_image_free(cutout_image *img)
{
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* PIL's ITU-R 601 luma in 16-bit fixed point (Convert.c L24). */
static uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

int cutout_image_convert(const cutout_image *src, int channels, cutout_image *dst, char *err,
                      size_t errlen)
{
    int rc = cutout_image_alloc(dst, src->width, src->height, channels, err, errlen);
    if (rc) return rc;
    int sc = src->channels;
    for (int y = 0; y < src->height; y++) {
        const uint8_t *s = src->pixels + (size_t)y * src->stride;
        uint8_t *d = dst->pixels + (size_t)y * dst->stride;
        if (sc == channels) {
            memcpy(d, s, (size_t)src->width * (size_t)sc);
            continue;
        }
        for (int x = 0; x < src->width; x++, s += sc, d += channels) {
            uint8_t r, g, b, a = sc == 4 ? s[3] : 255;
            if (sc == 1) {
                r = g = b = s[0];
            } else {
                r = s[0];
                g = s[1];
                b = s[2];
            }
            if (channels == 1) {
                d[0] = sc == 1 ? s[0] : luma(s);
            } else {
                d[0] = r;
                d[1] = g;
                d[2] = b;
                if (channels == 4) d[3] = a;
            }
        }
    }
    return CUTOUT_OK;
}

/* Where output pixel (x, y) comes from, as byte offsets into the source:
 * origin + x * dx + y * dy. The orientations are PIL's transpose methods
 * that exif_transpose picks: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180,
 * 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90. */
static void orient_steps(int orientation, const cutout_image *src, ptrdiff_t *origin, ptrdiff_t *dx,
                         ptrdiff_t *dy)
{
    ptrdiff_t c = src->channels, s = (ptrdiff_t)src->stride;
    ptrdiff_t right = (ptrdiff_t)(src->width - 1) * c, bottom = (ptrdiff_t)(src->height - 1) * s;
    switch (orientation) {
    case 2: *origin = right; *dx = -c; *dy = s; break;
    case 3: *origin = bottom + right; *dx = -c; *dy = -s; break;
    case 4: *origin = bottom; *dx = c; *dy = -s; break;
    case 5: *origin = 0; *dx = s; *dy = c; break;
    case 6: *origin = bottom; *dx = -s; *dy = c; break;
    case 7: *origin = bottom + right; *dx = -s; *dy = -c; break;
    case 8: *origin = right; *dx = s; *dy = -c; break;
    default: *origin = 0; *dx = c; *dy = s; break;
    }
}

int cut_image_orient(const cutout_image *src, int orientation, cutout_image *dst, char *err,
                     size_t errlen)
{
    if (orientation < 1 || orientation > 8) orientation = 1;
    int swap = orientation >= 5;
    int ow = swap ? src->height : src->width, oh = swap ? src->width : src->height;
    int rc = cutout_image_alloc(dst, ow, oh, src->channels, err, errlen);
    if (rc) return rc;
    int c = src->channels;
    ptrdiff_t origin, dx, dy;
    orient_steps(orientation, src, &origin, &dx, &dy);
    /* 64x64 tiles: the rotations read the source down its columns, and a
     * tile's columns stay in cache while the tile is written. */
    enum { T = 64 };
    for (int ty = 0; ty < oh; ty += T)
        for (int tx = 0; tx < ow; tx += T) {
            int xe = tx + T < ow ? tx + T : ow, ye = ty + T < oh ? ty + T : oh;
            for (int y = ty; y < ye; y++) {
                const uint8_t *p = src->pixels + origin + (ptrdiff_t)y * dy + (ptrdiff_t)tx * dx;
                uint8_t *d = dst->pixels + (size_t)y * dst->stride + (size_t)tx * (size_t)c;
                int n = xe - tx;
                if (c == 1) {
                    for (int x = 0; x < n; x++, p += dx) d[x] = *p;
                } else if (c == 3) {
                    for (int x = 0; x < n; x++, p += dx, d += 3) {
                        d[0] = p[0];
                        d[1] = p[1];
                        d[2] = p[2];
                    }
                } else {
                    for (int x = 0; x < n; x++, p += dx, d += 4) memcpy(d, p, 4);
                }
            }
        }
    return CUTOUT_OK;
}

static unsigned rd16(const uint8_t *p, int big)
{
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Reads tag 0x0112 from IFD0 of the TIFF structure; every offset is checked
 * against size because the block comes from an untrusted file. */
int cut_exif_orientation(const uint8_t *exif, size_t size)
{
    if (!exif) return 1;
    if (size >= 6 && memcmp(exif, "Exif\0\0", 6) == 0) {
        exif += 6;
        size -= 6;
    }
    if (size < 8) return 1;
    int big;
    if (memcmp(exif, "II*\0", 4) == 0)
        big = 0;
    else if (memcmp(exif, "MM\0*", 4) == 0)
        big = 1;
    else
        return 1;
    uint32_t ifd = rd32(exif + 4, big);
    if (ifd > size || size - ifd < 2) return 1;
    unsigned n = rd16(exif + ifd, big);
    if ((size - ifd - 2) / 12 < n) return 1;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = exif + ifd + 2 + 12 * (size_t)i;
        if (rd16(e, big) != 0x0112) continue;
        unsigned type = rd16(e + 2, big);
        uint32_t count = rd32(e + 4, big);
        if (count != 1) return 1; /* PIL reads several values as a tuple: no match */
        uint32_t v;
        if (type == 1) /* BYTE */
            v = e[8];
        else if (type == 3) /* SHORT, in the first two bytes of the value field */
            v = rd16(e + 8, big);
        else if (type == 4) /* LONG */
            v = rd32(e + 8, big);
        else
            return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}
