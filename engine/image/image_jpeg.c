/* JPEG decoding and encoding with libjpeg(-turbo), from and to memory.
 *
 * Decoding uses the settings PIL uses (ISLOW DCT, fancy upsampling), so
 * pixels match PIL exactly. libjpeg's error_exit is replaced by a longjmp and
 * its warnings are inspected: those that mean pixel data is missing or
 * corrupt (premature end, bad Huffman code, ...) become errors instead of a
 * half-grey image; cosmetic ones are ignored. Nothing is printed. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_codec.h"
#include "util.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static int warning_is_fatal(int code)
{
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
        return 1;
    default:
        return 0;
    }
}

static void on_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && warning_is_fatal(cinfo->err->msg_code)) on_error_exit(cinfo);
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    struct jpeg_progress_mgr progress;
    const cutout_image_limits *limits;
    cutout_image img;
    uint8_t *row; /* CMYK scanline */
    int refused_rc; /* set when we refuse the file (limits, components, scans) */
    char refused_msg[160];
} jpeg_dec;

/* Counts scans (CUTOUT_JPEG_MAX_SCANS): libjpeg calls this while it reads
 * them, before the pixels are produced. */
static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > CUTOUT_JPEG_MAX_SCANS) {
        jpeg_dec *dec = (jpeg_dec *)d; /* cinfo is jpeg_dec's first member */
        dec->refused_rc = CUTOUT_E_LIMIT;
        snprintf(dec->refused_msg, sizeof dec->refused_msg,
                 "JPEG: more than %d progressive scans (a real photo has about 10)",
                 CUTOUT_JPEG_MAX_SCANS);
        longjmp(dec->err.jump, 1);
    }
}

/* First APP1 that starts with "Exif\0", as PIL picks it. */
static int jpeg_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 &&
            memcmp(m->data, "Exif\0", 5) == 0)
            return cut_exif_orientation(m->data, m->data_length);
    }
    return 1;
}

/* PIL reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and converts with
 * nk = 255 - K, X = nk - nk*C/255 (rounded like its MULDIV255), which on the
 * stored (inverted) values is k - k*(255 - c)/255. */
static uint8_t cmyk_channel(unsigned c, unsigned k)
{
    unsigned t = (255 - c) * k + 128;
    int v = (int)k - (int)(((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v);
}

static int decode_jpeg(jpeg_dec *d, const uint8_t *data, size_t size, cutout_image_info *info)
{
    j_decompress_ptr cinfo = &d->cinfo;
    if (setjmp(d->err.jump)) return -1;
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    d->progress.progress_monitor = on_progress;
    cinfo->progress = &d->progress;
    jpeg_read_header(cinfo, TRUE);

    info->file_width = (int)cinfo->image_width;
    info->file_height = (int)cinfo->image_height;
    d->refused_rc = cut_check_limits("JPEG", cinfo->image_width, cinfo->image_height, d->limits,
                                   d->refused_msg, sizeof d->refused_msg);
    if (d->refused_rc) return -1;
    int comps = cinfo->num_components;
    if (comps == 1)
        cinfo->out_color_space = JCS_GRAYSCALE;
    else if (comps == 3)
        cinfo->out_color_space = JCS_RGB;
    else if (comps == 4)
        cinfo->out_color_space = JCS_CMYK; /* libjpeg undoes YCCK itself */
    else {
        d->refused_rc = CUTOUT_E_UNSUPPORTED;
        snprintf(d->refused_msg, sizeof d->refused_msg,
                 "JPEG: images with %d components are not supported", comps);
        return -1;
    }
    info->orientation = jpeg_orientation(cinfo);
    jpeg_start_decompress(cinfo);
    int out_c = comps == 1 ? 1 : 3;
    char err[64];
    if (cinfo->output_components != (comps == 4 ? 4 : out_c) ||
        cutout_image_alloc(&d->img, (int)cinfo->output_width, (int)cinfo->output_height, out_c,
                        err, sizeof err))
        ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
    if (comps == 4) {
        d->row = malloc((size_t)cinfo->output_width * 4);
        if (!d->row) ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *o = d->img.pixels + (size_t)cinfo->output_scanline * d->img.stride;
        JSAMPROW row = comps == 4 ? d->row : o;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) ERREXIT(cinfo, JERR_INPUT_EOF);
        if (comps == 4) {
            const uint8_t *s = d->row;
            for (JDIMENSION x = 0; x < cinfo->output_width; x++, s += 4, o += 3) {
                o[0] = cmyk_channel(s[0], s[3]);
                o[1] = cmyk_channel(s[1], s[3]);
                o[2] = cmyk_channel(s[2], s[3]);
            }
        }
    }
    /* Not finishing: everything needed is in. (A file that lacks only its EOI
     * still fails, as in PIL: libjpeg reads ahead and reports premature end.) */
    return 0;
}

int cut_jpeg_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                    cutout_image *out, cutout_image_info *info, char *err, size_t errlen)
{
    jpeg_dec *d = calloc(1, sizeof *d);
    if (!d) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "JPEG: out of memory");
    d->limits = limits;
    d->cinfo.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = on_error_exit;
    d->err.pub.emit_message = on_emit_message;
    d->err.pub.output_message = on_output_message;
    int rc = decode_jpeg(d, data, size, info);
    jpeg_destroy_decompress(&d->cinfo);
    free(d->row);
    if (rc == 0) {
        *out = d->img;
        free(d);
        return CUTOUT_OK;
    }
    cutout_image_free(&d->img);
    if (d->refused_rc) {
        rc = cut_fail(err, errlen, d->refused_rc, "%s", d->refused_msg);
    } else {
        int code = d->err.pub.msg_code;
        if (code == JWRN_JPEG_EOF || code == JERR_INPUT_EMPTY || code == JERR_INPUT_EOF)
            rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "JPEG: truncated file");
        else if (code == JERR_OUT_OF_MEMORY)
            rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "JPEG: out of memory");
        else
            rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "JPEG: %s", d->err.msg);
    }
    free(d);
    return rc;
}

int cut_jpeg_header(const uint8_t *data, size_t size, int *width, int *height, int *components,
                    int *progressive, char *err, size_t errlen)
{
    jpeg_dec *d = calloc(1, sizeof *d);
    if (!d) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "JPEG: out of memory");
    d->cinfo.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = on_error_exit;
    d->err.pub.emit_message = on_emit_message;
    d->err.pub.output_message = on_output_message;
    int rc = CUTOUT_OK;
    if (setjmp(d->err.jump)) {
        int code = d->err.pub.msg_code;
        if (code == JWRN_JPEG_EOF || code == JERR_INPUT_EMPTY || code == JERR_INPUT_EOF)
            rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "JPEG: truncated file");
        else
            rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "JPEG: %s", d->err.msg);
    } else {
        jpeg_create_decompress(&d->cinfo);
        jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
        jpeg_read_header(&d->cinfo, TRUE);
        *width = (int)d->cinfo.image_width;
        *height = (int)d->cinfo.image_height;
        *components = d->cinfo.num_components;
        *progressive = d->cinfo.progressive_mode ? 1 : 0;
    }
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
    return rc;
}

/* ---- encoding ---- */

typedef struct {
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    unsigned char *buf;
    unsigned long len;
} jpeg_enc;

static int encode_jpeg(jpeg_enc *e, const cutout_image *img, int quality)
{
    j_compress_ptr cinfo = &e->cinfo;
    if (setjmp(e->err.jump)) return -1;
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &e->buf, &e->len);
    cinfo->image_width = (JDIMENSION)img->width;
    cinfo->image_height = (JDIMENSION)img->height;
    cinfo->input_components = img->channels;
    cinfo->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo); /* 4:2:0 chroma, like PIL's default */
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = img->pixels + (size_t)cinfo->next_scanline * img->stride;
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return 0;
}

int cut_jpeg_encode(const cutout_image *img, int quality, uint8_t **data, size_t *size,
                    char *err, size_t errlen)
{
    if (img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "JPEG: %dx%d exceeds JPEG's %d pixel limit",
                        img->width, img->height, (int)JPEG_MAX_DIMENSION);
    jpeg_enc *e = calloc(1, sizeof *e);
    if (!e) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "JPEG: out of memory");
    e->cinfo.err = jpeg_std_error(&e->err.pub);
    e->err.pub.error_exit = on_error_exit;
    e->err.pub.output_message = on_output_message;
    int rc = encode_jpeg(e, img, quality);
    jpeg_destroy_compress(&e->cinfo);
    if (rc) {
        free(e->buf);
        int nomem = e->err.pub.msg_code == JERR_OUT_OF_MEMORY;
        rc = cut_fail(err, errlen, nomem ? CUTOUT_E_NOMEM : CUTOUT_E_ARG, "JPEG: %s", e->err.msg);
        free(e);
        return rc;
    }
    *data = e->buf;
    *size = e->len;
    free(e);
    return CUTOUT_OK;
}
