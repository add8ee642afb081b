/* rembg-compatible image pipeline: network input from an image, the mask
 * from the network output, and the outputs built from image + mask
 * (cutout, mask, composite over a colour or an image, crop, downscale,
 * rembg's post_process_mask). README.md "rembg-compatible processing".
 *
 * Every function is pure over its arguments (no global state) and returns
 * CUTOUT_OK or a negative cutout_status with a message in err. Functions
 * that produce an image allocate it (free with cut_image_free). */
#ifndef CUTOUT_PIPELINE_H
#define CUTOUT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "threadpool.h"

/* ---- network input and mask (steps 2-5) ---- */

/* rembg's normalize(): img (1, 3 or 4 channels) converted to RGB (alpha
 * dropped, grey replicated), LANCZOS-resized to size x size (aspect not
 * kept), divided by its own maximum value (over all three channels, after
 * the resize; an all-black image divides by 1 instead of 0), minus mean,
 * over std, computed in double and stored as float32 CHW (3*size*size
 * floats at out). For a batch call it once per image with out advanced by
 * 3*size*size. */
int cut_pipeline_preprocess(const cut_image *img, int size, const float mean[3],
                            const float std[3], float *out, char *err, size_t errlen);
/* The same, with the resize spread over tp's threads (NULL: none). */
int cut_pipeline_preprocess_tp(const cut_image *img, int size, const float mean[3],
                               const float std[3], float *out, threadpool *tp, char *err,
                               size_t errlen);

/* rembg's predict() after the forward pass: pred is output 0 of one image
 * (size x size floats). Min-max normalised in float32 ((p - mi) / (ma - mi),
 * clipped to [0,1]; a constant map gives 0), times 255 truncated to uint8
 * (numpy astype), then LANCZOS-resized to width x height. *mask is a new
 * 1-channel image. */
int cut_pipeline_mask(const float *pred, int size, int width, int height, cut_image *mask,
                      char *err, size_t errlen);
/* The same, with the resize spread over tp's threads (NULL: none). */
int cut_pipeline_mask_tp(const float *pred, int size, int width, int height, cut_image *mask,
                         threadpool *tp, char *err, size_t errlen);

/* Only the 8-bit step of cut_pipeline_mask (no resize): out[i] for size*size
 * values. Exposed for tests. */
void cut_pipeline_pred_to_u8(const float *pred, size_t count, uint8_t *out);

/* ---- mask post-processing (postprocess.c) ---- */

/* rembg's post_process_mask, in place on a 1-channel image: morphological
 * opening with the 3x3 cross (cv2 MORPH_ELLIPSE 3x3 = skimage disk(1);
 * pixels outside the image do not take part, as cv2's default border),
 * cv2.GaussianBlur ksize 5x5 sigma 2 with BORDER_REFLECT_101 (OpenCV's
 * bit-exact 8-bit path: integer taps 39,57,64,57,39 / 256 per axis, result
 * rounded half up), then 0 where < 127 and 255 elsewhere. */
int cut_mask_post_process(cut_image *mask, char *err, size_t errlen);

/* ---- outputs ---- */

/* Parses "#rrggbb", "#rrggbbaa", "r,g,b" or "r,g,b,a" (decimal 0..255).
 * Returns 0 and fills rgba (alpha 255 when absent) or -1. */
int cut_parse_color(const char *text, uint8_t rgba[4]);

/* Bounding box of mask > 0: x, y, w, h. Returns 0 when the mask is empty
 * (box untouched), 1 otherwise. */
int cut_mask_bbox(const cut_image *mask, int box[4]);

/* Grows box by margin pixels, or margin percent of the box's width
 * (horizontally) and height (vertically) when percent, clamped to the
 * image. Percent margins are rounded to the nearest pixel. */
void cut_box_margin(int box[4], int margin, int percent, int img_w, int img_h);

/* Copies the rectangle x, y, w, h (inside src) into a new image. */
int cut_image_crop(const cut_image *src, const int box[4], cut_image *dst, char *err,
                   size_t errlen);

/* Size that fits w x h inside max_w x max_h keeping the aspect ratio
 * (rounded, at least 1); unchanged when it already fits. */
void cut_fit_size(int w, int h, int max_w, int max_h, int *out_w, int *out_h);

/* Cutout: RGBA with the image's RGB and alpha = mask (an input alpha a is
 * combined as round(a * mask / 255)). */
int cut_compose_cutout(const cut_image *img, const cut_image *mask, cut_image *out, char *err,
                       size_t errlen);
/* The same in bands of rows over tp's threads (NULL: none). */
int cut_compose_cutout_tp(const cut_image *img, const cut_image *mask, cut_image *out,
                          threadpool *tp, char *err, size_t errlen);

/* PIL's Image.alpha_composite(dst, src) in place: src (RGBA, straight
 * alpha) over dst (RGBA), same size. */
int cut_alpha_composite(cut_image *dst, const cut_image *src, char *err, size_t errlen);

/* Resizes bg (any channels) with LANCZOS to cover width x height keeping
 * its aspect ratio, centred, cropped to exactly width x height, as RGBA. */
int cut_cover_image(const cut_image *bg, int width, int height, cut_image *out, char *err,
                    size_t errlen);

typedef struct {
    int mask_only;          /* output the 8-bit mask (1 channel) */
    int post_process;       /* rembg post_process_mask on the mask first */
    int has_bg_color;       /* composite the cutout over bg_color */
    uint8_t bg_color[4];
    const cut_image *bg_image; /* composite over this image (scaled to cover); NULL: none */
    int crop;               /* crop to the bounding box of mask > 0 (whole image if empty) */
    int margin, margin_percent;
    int max_w, max_h;       /* 0: no limit; otherwise LANCZOS downscale to fit */
    int opaque;             /* flatten onto the background (white when none): JPEG */
} cut_render_options;

void cut_render_options_default(cut_render_options *opt);

/* The whole output step: img (as decoded, orientation applied) and its mask
 * (same size; post-processed in place when opt->post_process) -> *out, a
 * new image: 1 channel (mask_only), 3 (opaque) or 4 channels. */
int cut_render(const cut_image *img, cut_image *mask, const cut_render_options *opt,
               cut_image *out, char *err, size_t errlen);
/* The same with the cutout and the downscale spread over tp's threads (NULL:
 * none); the same bytes. */
int cut_render_tp(const cut_image *img, cut_image *mask, const cut_render_options *opt,
                  cut_image *out, threadpool *tp, char *err, size_t errlen);

#endif
