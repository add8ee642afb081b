/* WebP decoding and encoding with libwebp, from and to memory.
 *
 * Still images decode straight into the output (PIL's WebPAnimDecoder path
 * produces the same pixels for them: one key frame on a cleared canvas).
 * Animations: the first frame on a cleared canvas at its offset, the pixels
 * PIL's WebPAnimDecoder gives for it (decode_first_frame). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>

#include "image_codec.h"
#include "util.h"

static const char *status_text(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated file";
    default: return "decoding failed";
    }
}

static int fail_status(VP8StatusCode s, char *err, size_t errlen)
{
    int code = s == VP8_STATUS_OUT_OF_MEMORY ? CUTOUT_E_NOMEM : CUTOUT_E_FORMAT;
    return cut_fail(err, errlen, code, "WebP: %s", status_text(s));
}

static int webp_orientation(const WebPData *wd)
{
    WebPDemuxer *demux = WebPDemux(wd);
    if (!demux) return 1;
    int orientation = 1;
    WebPChunkIterator it;
    if (WebPDemuxGetChunk(demux, "EXIF", 1, &it)) {
        orientation = cut_exif_orientation(it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(demux);
    return orientation;
}

static int decode_still(const uint8_t *data, size_t size, const WebPBitstreamFeatures *f,
                        cutout_image *out, char *err, size_t errlen)
{
    int rc = cutout_image_alloc(out, f->width, f->height, f->has_alpha ? 4 : 3, err, errlen);
    if (rc) return rc;
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        cutout_image_free(out);
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: library version mismatch");
    }
    config.output.colorspace = f->has_alpha ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out->pixels;
    config.output.u.RGBA.stride = (int)out->stride;
    config.output.u.RGBA.size = out->stride * (size_t)out->height;
    VP8StatusCode s = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (s != VP8_STATUS_OK) {
        cutout_image_free(out);
        return fail_status(s, err, errlen);
    }
    return CUTOUT_OK;
}

/* The first frame on its canvas without WebPAnimDecoder, which allocates
 * two RGBA canvases up front (the frame being built and the previous one
 * disposed): a 90-byte animation declaring a huge canvas cost 3 canvases.
 * Frame 1 is always a key frame, which WebPAnimDecoder decodes straight
 * into a zeroed canvas at the frame's offset (no blending), as here. */
static int decode_first_frame(const WebPData *wd, const WebPBitstreamFeatures *f, cutout_image *out,
                              cutout_image_info *info, char *err, size_t errlen)
{
    WebPDemuxer *demux = WebPDemux(wd);
    if (!demux) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: corrupt animation");
    WebPIterator it;
    if ((int)WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH) != f->width ||
        (int)WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT) != f->height ||
        !WebPDemuxGetFrame(demux, 1, &it)) {
        WebPDemuxDelete(demux);
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: corrupt animation");
    }
    info->frames = (int)WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT);
    int c = f->has_alpha ? 4 : 3; /* as PIL: RGB unless the file declares alpha */
    int rc = CUTOUT_OK;
    if (it.x_offset < 0 || it.y_offset < 0 || it.width <= 0 || it.height <= 0 ||
        it.x_offset + it.width > f->width || it.y_offset + it.height > f->height)
        rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: frame outside the canvas");
    if (rc == 0) rc = cutout_image_alloc(out, f->width, f->height, c, err, errlen);
    WebPDecoderConfig config;
    if (rc == 0 && !WebPInitDecoderConfig(&config))
        rc = cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: library version mismatch");
    if (rc == 0) {
        memset(out->pixels, 0, out->stride * (size_t)out->height);
        config.output.colorspace = c == 4 ? MODE_RGBA : MODE_RGB;
        config.output.is_external_memory = 1;
        config.output.u.RGBA.rgba =
            out->pixels + (size_t)it.y_offset * out->stride + (size_t)it.x_offset * (size_t)c;
        config.output.u.RGBA.stride = (int)out->stride;
        /* libwebp refuses a frame whose bitstream does not fit this. */
        config.output.u.RGBA.size =
            out->stride * (size_t)(it.height - 1) + (size_t)it.width * (size_t)c;
        VP8StatusCode s = WebPDecode(it.fragment.bytes, it.fragment.size, &config);
        WebPFreeDecBuffer(&config.output);
        if (s != VP8_STATUS_OK) {
            cutout_image_free(out);
            rc = fail_status(s, err, errlen);
        }
    }
    WebPDemuxReleaseIterator(&it);
    WebPDemuxDelete(demux);
    if (rc == 0 && info->frames > 1)
        snprintf(info->warning, sizeof info->warning,
                 "WebP: animated image with %d frames; only the first frame is used",
                 info->frames);
    return rc;
}

int cut_webp_header(const uint8_t *data, size_t size, int *width, int *height, int *frames,
                    int *lossless, char *err, size_t errlen)
{
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(data, size, &f);
    if (s != VP8_STATUS_OK) return fail_status(s, err, errlen);
    *width = f.width;
    *height = f.height;
    *frames = 1;
    *lossless = f.format != 1; /* 2 lossless, 0 mixed (animations): whole-frame ARGB */
    if (f.has_animation) {
        WebPData wd = {data, size};
        WebPDemuxer *demux = WebPDemux(&wd);
        if (!demux) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: corrupt animation");
        *frames = (int)WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT);
        WebPDemuxDelete(demux);
    }
    return CUTOUT_OK;
}

int cut_webp_decode(const uint8_t *data, size_t size, const cutout_image_limits *limits,
                    cutout_image *out, cutout_image_info *info, char *err, size_t errlen)
{
    /* The RIFF header says how long the file is: shorter is truncated. */
    uint32_t riff = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
                    (uint32_t)data[7] << 24;
    if (size - 8 < riff) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "WebP: truncated file");
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(data, size, &f);
    if (s != VP8_STATUS_OK) return fail_status(s, err, errlen);
    int rc = cut_check_limits("WebP", (uint64_t)f.width, (uint64_t)f.height, limits, err, errlen);
    if (rc) return rc;
    info->file_width = f.width;
    info->file_height = f.height;
    WebPData wd = {data, size};
    info->orientation = webp_orientation(&wd);
    if (f.has_animation) return decode_first_frame(&wd, &f, out, info, err, errlen);
    return decode_still(data, size, &f, out, err, errlen);
}

int cut_webp_encode(const cutout_image *img, int quality, int lossless, uint8_t **data,
                    size_t *size, char *err, size_t errlen)
{
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "WebP: %dx%d exceeds WebP's %d pixel limit",
                        img->width, img->height, WEBP_MAX_DIMENSION);
    cutout_image rgb = {0};
    const cutout_image *src = img;
    if (img->channels == 1) { /* libwebp takes RGB(A) only */
        int rc = cutout_image_convert(img, 3, &rgb, err, errlen);
        if (rc) return rc;
        src = &rgb;
    }
    uint8_t *buf = NULL;
    size_t n;
    int stride = (int)src->stride;
    float q = (float)quality;
    if (src->channels == 4)
        n = lossless ? WebPEncodeLosslessRGBA(src->pixels, src->width, src->height, stride, &buf)
                     : WebPEncodeRGBA(src->pixels, src->width, src->height, stride, q, &buf);
    else
        n = lossless ? WebPEncodeLosslessRGB(src->pixels, src->width, src->height, stride, &buf)
                     : WebPEncodeRGB(src->pixels, src->width, src->height, stride, q, &buf);
    cutout_image_free(&rgb);
    if (n == 0) {
        WebPFree(buf);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "WebP: encoding failed");
    }
    /* Hand back a buffer the caller can free() (WebPFree may differ). */
    *data = malloc(n);
    if (!*data) {
        WebPFree(buf);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "WebP: out of memory");
    }
    memcpy(*data, buf, n);
    WebPFree(buf);
    *size = n;
    return CUTOUT_OK;
}
