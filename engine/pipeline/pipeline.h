/* rembg-compatible image pipeline, the library-internal steps behind the
 * public cutout_pipeline_preprocess, cutout_pipeline_mask and cutout_render
 * (cutout.h): mask post-processing, crop, downscale, composites.
 * README.md "rembg-compatible processing".
 *
 * Every function is pure over its arguments (no global state) and returns
 * CUTOUT_OK or a negative cutout_status with a message in err. Functions
 * that produce an image allocate it (free with cutout_image_free). */
#ifndef CUTOUT_PIPELINE_H
#define CUTOUT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "threadpool.h"

/* Only the 8-bit step of cutout_pipeline_mask (no resize): out[i] for size*size
 * values. Exposed for tests. */
void cut_pipeline_pred_to_u8(const float *pred, size_t count, uint8_t *out);

/* ---- mask post-processing (postprocess.c) ---- */

/* rembg's post_process_mask, in place on a 1-channel image: morphological
 * opening with the 3x3 cross (cv2 MORPH_ELLIPSE 3x3 = skimage disk(1);
 * pixels outside the image do not take part, as cv2's default border),
 * cv2.GaussianBlur ksize 5x5 sigma 2 with BORDER_REFLECT_101 (OpenCV's
 * bit-exact 8-bit path: integer taps 39,57,64,57,39 / 256 per axis, result
 * rounded half up), then 0 where < 127 and 255 elsewhere. */
int cut_mask_post_process(cutout_image *mask, char *err, size_t errlen);

/* ---- outputs ---- */

/* Bounding box of mask > 0: x, y, w, h. Returns 0 when the mask is empty
 * (box untouched), 1 otherwise. */
int cut_mask_bbox(const cutout_image *mask, int box[4]);

/* Grows box by margin pixels, or margin percent of the box's width
 * (horizontally) and height (vertically) when percent, clamped to the
 * image. Percent margins are rounded to the nearest pixel. */
void cut_box_margin(int box[4], int margin, int percent, int img_w, int img_h);

/* Copies the rectangle x, y, w, h (inside src) into a new image. */
int cut_image_crop(const cutout_image *src, const int box[4], cutout_image *dst, char *err,
                   size_t errlen);

/* Size that fits w x h inside max_w x max_h keeping the aspect ratio
 * (rounded, at least 1); unchanged when it already fits. */
void cut_fit_size(int w, int h, int max_w, int max_h, int *out_w, int *out_h);

/* Cutout: RGBA with the image's RGB and alpha = mask (an input alpha a is
 * combined as round(a * mask / 255)), in bands of rows over tp's threads
 * (NULL: the calling thread only). */
int cut_compose_cutout(const cutout_image *img, const cutout_image *mask, cutout_image *out,
                       threadpool *tp, char *err, size_t errlen);

/* PIL's Image.alpha_composite(dst, src) in place: src (RGBA, straight
 * alpha) over dst (RGBA), same size. */
int cut_alpha_composite(cutout_image *dst, const cutout_image *src, char *err, size_t errlen);

/* Resizes bg (any channels) with LANCZOS to cover width x height keeping
 * its aspect ratio, centred, cropped to exactly width x height, as RGBA. */
int cut_cover_image(const cutout_image *bg, int width, int height, cutout_image *out, char *err,
                    size_t errlen);

#endif
