/* BMP decoding as PIL 9.4's BmpImagePlugin reads a file: headers of 12, 40,
 * 64, 108 and 124 bytes; 1/4/8-bit palette, 16-bit 5-5-5 (and 5-6-5 with
 * BI_BITFIELDS), 24-bit and 32-bit (alpha only with BI_BITFIELDS masks that
 * name it); RLE8 and RLE4; bottom-up and top-down rows. Everything the
 * header says is checked against the file before it is used.
 *
 * Deliberate differences from PIL 9.4: a palette or pixel array that runs
 * past the end of the file is an error (PIL reads a short palette); a greyscale
 * 4-bit palette is decoded through the palette (PIL unpacks those rows as
 * 8-bit); the RLE delta escape reads its two bytes (PIL 9.4 reads two more and
 * uses those). */
#include <stdlib.h>
#include <string.h>

#include "image_codec.h"
#include "util.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3 };

/* How a pixel is stored (PIL's raw modes). */
typedef enum {
    PX_PALETTE, PX_BGR15, PX_BGR16, PX_BGR, PX_BGRX, PX_XBGR, PX_ABGR, PX_RGBA, PX_BGRA
} px_layout;

typedef struct {
    const uint8_t *data;
    size_t size;
    uint32_t offset;    /* pixel data */
    int width, height, bits, compression, top_down;
    px_layout layout;
    int channels;       /* of the output: 1 grey palette, 3, or 4 */
    uint8_t pal[256][3]; /* RGB; entries past the file's colours: grey i, as PIL */
} bmp;

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int bitfields_layout(bmp *b, const uint32_t m[4], char *err, size_t errlen)
{
    static const struct {
        int bits;
        uint32_t r, g, bl, a;
        px_layout layout;
    } known[] = {
        {32, 0xFF0000, 0xFF00, 0xFF, 0x0, PX_BGRX},
        {32, 0xFF000000, 0xFF0000, 0xFF00, 0x0, PX_XBGR},
        {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF, PX_ABGR},
        {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000, PX_RGBA},
        {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000, PX_BGRA},
        {32, 0x0, 0x0, 0x0, 0x0, PX_BGRA},
        {24, 0xFF0000, 0xFF00, 0xFF, 0, PX_BGR},
        {16, 0xF800, 0x7E0, 0x1F, 0, PX_BGR16},
        {16, 0x7C00, 0x3E0, 0x1F, 0, PX_BGR15},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].bits == b->bits && known[i].r == m[0] && known[i].g == m[1] &&
            known[i].bl == m[2] && (b->bits != 32 || known[i].a == m[3])) {
            b->layout = known[i].layout;
            b->channels = b->layout >= PX_ABGR ? 4 : 3;
            return 0;
        }
    return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                    "BMP: unsupported %d-bit bitfields layout %08x/%08x/%08x/%08x", b->bits,
                    m[0], m[1], m[2], m[3]);
}

/* Reads the palette at pal_at (pad bytes an entry) and decides, as PIL does,
 * whether the image is greyscale (identity palette, or black/white for 2). */
static int read_palette(bmp *b, size_t pal_at, uint32_t colors, int pad, char *err, size_t errlen)
{
    if (colors == 0 || colors > 65536)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "BMP: palette of %u colours", colors);
    if (pal_at > b->size || (b->size - pal_at) / (size_t)pad < colors)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated palette");
    for (int i = 0; i < 256; i++) b->pal[i][0] = b->pal[i][1] = b->pal[i][2] = (uint8_t)i;
    int grey = 1;
    for (uint32_t i = 0; i < colors; i++) {
        const uint8_t *e = b->data + pal_at + (size_t)i * pad;
        uint32_t want = colors == 2 ? (i ? 255 : 0) : i;
        if (e[0] != want || e[1] != want || e[2] != want) grey = 0;
        if (i < 256) {
            b->pal[i][0] = e[2];
            b->pal[i][1] = e[1];
            b->pal[i][2] = e[0];
        }
    }
    b->layout = PX_PALETTE;
    b->channels = grey ? 1 : 3;
    return 0;
}

static int parse_header(bmp *b, char *err, size_t errlen)
{
    const uint8_t *d = b->data;
    if (b->size < 18) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated header");
    uint32_t hsize = u32le(d + 14);
    if (hsize != 12 && hsize != 40 && hsize != 64 && hsize != 108 && hsize != 124)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "BMP: unsupported header size %u",
                        hsize);
    if (b->size < 14 + (size_t)hsize)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated header");
    const uint8_t *h = d + 18; /* the header after its size field */
    uint32_t offset = u32le(d + 10), colors = 0, w, ht;
    size_t pos = 14 + (size_t)hsize; /* where PIL's file position is after the header */
    int pad = 4;
    if (hsize == 12) {
        w = u16le(h);
        ht = u16le(h + 2);
        b->bits = (int)u16le(h + 6);
        b->compression = BI_RGB;
        pad = 3;
    } else {
        int32_t sw = (int32_t)u32le(h);
        if (sw <= 0) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: width %d", sw);
        w = (uint32_t)sw;
        ht = u32le(h + 4);
        b->top_down = h[7] == 0xFF; /* PIL: the height's top byte says it is negative */
        if (b->top_down) ht = (uint32_t)(0x100000000ull - ht);
        b->bits = (int)u16le(h + 10);
        b->compression = (int)u32le(h + 12);
        colors = u32le(h + 28);
    }
    int rc = cut_check_limits("BMP", w, ht, NULL, err, errlen);
    if (rc) return rc;
    b->width = (int)w;
    b->height = (int)ht;
    if (b->bits != 1 && b->bits != 4 && b->bits != 8 && b->bits != 16 && b->bits != 24 &&
        b->bits != 32)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "BMP: unsupported depth of %d bits",
                        b->bits);
    if (!colors) colors = 1u << (b->bits > 16 ? 16 : b->bits);
    if (offset == 14 + hsize && b->bits <= 8) offset += 4 * colors;

    if (b->compression == BI_BITFIELDS) {
        uint32_t m[4] = {0, 0, 0, 0};
        if (hsize >= 52) {
            for (int i = 0; i < 4; i++) m[i] = u32le(h + 36 + 4 * i);
        } else {
            if (b->size < pos + 12)
                return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated bitfields");
            for (int i = 0; i < 3; i++) m[i] = u32le(d + pos + 4 * i);
            pos += 12;
        }
        if ((rc = bitfields_layout(b, m, err, errlen))) return rc;
    } else if (b->compression == BI_RGB || b->compression == BI_RLE8 ||
               b->compression == BI_RLE4) {
        if ((b->compression == BI_RLE8 && b->bits != 8) ||
            (b->compression == BI_RLE4 && b->bits != 4))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "BMP: RLE%d with %d bits",
                            b->compression == BI_RLE8 ? 8 : 4, b->bits);
        b->channels = 3;
        b->layout = b->bits == 16 ? PX_BGR15 : b->bits == 24 ? PX_BGR : PX_BGRX;
    } else {
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "BMP: unsupported compression %d",
                        b->compression);
    }
    if (b->bits <= 8) {
        if ((rc = read_palette(b, pos, colors, pad, err, errlen))) return rc;
        pos += (size_t)pad * colors;
    }
    b->offset = offset ? offset : (uint32_t)(pos > 0xffffffffu ? 0xffffffffu : pos);
    return 0;
}

int cut_bmp_header(const uint8_t *data, size_t size, int *width, int *height, int *rle,
                   char *err, size_t errlen)
{
    bmp b;
    memset(&b, 0, sizeof b);
    b.data = data;
    b.size = size;
    int rc = parse_header(&b, err, errlen);
    if (rc) return rc;
    *width = b.width;
    *height = b.height;
    *rle = b.compression == BI_RLE8 || b.compression == BI_RLE4;
    return 0;
}

/* One stored row (or RLE index row) into output row out. */
static void put_row(const bmp *b, const uint8_t *in, int indices, uint8_t *out)
{
    int w = b->width;
    if (b->layout == PX_PALETTE) {
        for (int x = 0; x < w; x++) {
            int i = indices ? in[x]
                    : b->bits == 8 ? in[x]
                    : b->bits == 4 ? (in[x >> 1] >> (x & 1 ? 0 : 4)) & 15
                                   : (in[x >> 3] >> (7 - (x & 7))) & 1;
            if (b->channels == 1) out[x] = b->pal[i][0];
            else memcpy(out + 3 * x, b->pal[i], 3);
        }
        return;
    }
    for (int x = 0; x < w; x++, out += b->channels) {
        const uint8_t *p = in + (size_t)x * (b->bits / 8);
        uint32_t v = b->bits == 16 ? u16le(p) : 0;
        switch (b->layout) {
        case PX_BGR15: /* PIL's BGR;15 and BGR;16 unpackers: v * 255 / max */
            out[0] = (uint8_t)(((v >> 10) & 31) * 255 / 31);
            out[1] = (uint8_t)(((v >> 5) & 31) * 255 / 31);
            out[2] = (uint8_t)((v & 31) * 255 / 31);
            break;
        case PX_BGR16:
            out[0] = (uint8_t)(((v >> 11) & 31) * 255 / 31);
            out[1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
            out[2] = (uint8_t)((v & 31) * 255 / 31);
            break;
        case PX_BGR: case PX_BGRX: case PX_BGRA:
            out[0] = p[2], out[1] = p[1], out[2] = p[0];
            if (b->channels == 4) out[3] = p[3];
            break;
        case PX_XBGR:
            out[0] = p[3], out[1] = p[2], out[2] = p[1];
            break;
        case PX_ABGR:
            out[0] = p[3], out[1] = p[2], out[2] = p[1], out[3] = p[0];
            break;
        case PX_RGBA:
            memcpy(out, p, 4);
            break;
        default: break;
        }
    }
}

/* RLE8/RLE4 into w*h palette indices in stored row order, as PIL's
 * BmpRleDecoder: runs clipped at the row's end, absolute runs not (they
 * continue on the next row), end of line pads the row with 0, and the
 * image must be complete when the data ends. */
static int rle_expand(const bmp *b, uint8_t *idx, char *err, size_t errlen)
{
    size_t w = (size_t)b->width, total = w * (size_t)b->height, n = 0, x = 0;
    size_t p = b->offset, end = b->size;
    int rle4 = b->compression == BI_RLE4;
#define EMIT(v) do { if (n < total) idx[n] = (uint8_t)(v); n++; } while (0)
    while (n < total && p + 2 <= end) {
        size_t count = b->data[p], byte = b->data[p + 1];
        p += 2;
        if (count) {
            if (x + count > w) count = x < w ? w - x : 0;
            for (size_t i = 0; i < count; i++)
                EMIT(rle4 ? (i & 1 ? byte & 15 : byte >> 4) : byte);
            x += count;
        } else if (byte == 0) { /* end of line */
            while (n % w) EMIT(0);
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta: right, up */
            if (p + 2 > end) break;
            size_t skip = b->data[p] + (size_t)b->data[p + 1] * w;
            p += 2;
            for (size_t i = 0; i < skip && n < total; i++) EMIT(0);
            if (n >= total) break;
            x = n % w;
        } else { /* absolute run of `byte` pixels */
            size_t nbytes = rle4 ? byte / 2 : byte, got = end - p < nbytes ? end - p : nbytes;
            for (size_t i = 0; i < got; i++) {
                uint8_t v = b->data[p + i];
                if (rle4) {
                    EMIT(v >> 4);
                    EMIT(v & 15);
                } else {
                    EMIT(v);
                }
            }
            p += got;
            if (got < nbytes) break;
            x += byte;
            if (p % 2) p++; /* runs end on a 16-bit boundary of the file */
        }
    }
#undef EMIT
    if (n < total)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: RLE data ends after %zu of %zu pixels",
                        n, total);
    return 0;
}

int cut_bmp_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                   cutout_image *out, cutout_image_info *info, char *err, size_t errlen)
{
    bmp local, *bp = &local;
    memset(bp, 0, sizeof *bp);
    bp->data = data;
    bp->size = size;
    memset(out, 0, sizeof *out);
    int rc = parse_header(bp, err, errlen);
    if (!rc) rc = cut_check_limits("BMP", (uint64_t)bp->width, (uint64_t)bp->height, limits, err,
                                   errlen);
    if (rc) return rc;
    info->file_width = bp->width;
    info->file_height = bp->height;
    size_t stride = 0, h = (size_t)bp->height;
    uint8_t *idx = NULL;
    if (bp->compression == BI_RLE8 || bp->compression == BI_RLE4) {
        if (bp->offset > size) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated");
        size_t total = 0;
        if (!cut_mul_size((size_t)bp->width, h, &total))
            return cut_fail(err, errlen, CUTOUT_E_LIMIT, "BMP: too large");
        /* an RLE pair gives at most 255 pixels: refuse a header far larger
         * than its data before allocating for it */
        if (total / 255 / 2 > size - bp->offset + (size_t)bp->height)
            return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: RLE data too short for %dx%d",
                            bp->width, bp->height);
        idx = malloc(total ? total : 1);
        if (!idx) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "BMP: out of memory");
        if ((rc = rle_expand(bp, idx, err, errlen))) {
            free(idx);
            return rc;
        }
        stride = (size_t)bp->width;
    } else {
        stride = (((uint64_t)bp->width * (uint64_t)bp->bits + 31) >> 3) & ~(uint64_t)3;
        if (bp->offset > size || (size - bp->offset) / stride < h)
            return cut_fail(err, errlen, CUTOUT_E_FORMAT, "BMP: truncated pixel data");
    }
    rc = cutout_image_alloc(out, bp->width, bp->height, bp->channels, err, errlen);
    if (!rc) {
        const uint8_t *src = idx ? idx : data + bp->offset;
        for (size_t y = 0; y < h; y++) {
            size_t row = bp->top_down ? y : h - 1 - y;
            put_row(bp, src + y * stride, idx != NULL, out->pixels + row * out->stride);
        }
    }
    free(idx);
    return rc;
}
