/* rembg's alpha matting (rembg/bg.py alpha_matting_cutout) on plain buffers:
 * the trimap rembg builds from the mask, closed-form alpha (Levin, Lischinski,
 * Weiss 2008) as pymatting's estimate_alpha_cf solves it, the multi-level
 * foreground (Germer et al. 2020) as pymatting's estimate_foreground_ml
 * computes it, and the RGBA cutout rembg composes from them.
 *
 * Internal header: the pipeline calls it; nothing here prints. */
#ifndef CUTOUT_MATTING_H
#define CUTOUT_MATTING_H

#include <stddef.h>
#include <stdint.h>

#include "threadpool.h"

/* Returned (not an error) when rembg would not matte: the trimap has no
 * foreground or no background pixel (pymatting raises ValueError), or there is
 * no unknown pixel / the unknown pixels see no foreground (pymatting's CG then
 * fails), or CG does not converge in CUT_MATTING_MAXITER iterations. rembg then
 * falls back to its plain cutout (naive_cutout or putalpha_cutout); the
 * caller does the same. out_rgba is left untouched. */
#define CUT_MATTING_FALLBACK 1

/* pymatting's defaults: cf_laplacian epsilon, window radius 1; cg rtol
 * (||r|| < rtol ||b||, r the unpreconditioned residual) and maxiter. */
#define CUT_MATTING_EPSILON 1e-7
#define CUT_MATTING_RTOL 1e-7
#define CUT_MATTING_MAXITER 10000

/* Trimap values, as rembg writes them. */
#define CUT_TRIMAP_BG 0
#define CUT_TRIMAP_UNKNOWN 128
#define CUT_TRIMAP_FG 255

typedef struct {
    size_t unknown;     /* pixels solved for */
    int iterations;     /* CG iterations */
    int mg_levels;      /* multigrid levels of the preconditioner; 0: Jacobi */
    double rel_residual; /* ||r|| / ||b|| at the end */
    double t_trimap, t_laplacian, t_cg, t_foreground; /* seconds */
} cut_matting_stats;

/* rembg's trimap: fg = mask > af, bg = mask < ab, each eroded with an ae x ae
 * square of ones (scipy.ndimage.binary_erosion, origin 0: offsets -ae/2 ..
 * ae-1-ae/2; outside the image counts as 0 for fg, 1 for bg); ae <= 0 erodes
 * with scipy's default 3x3 cross. trimap: 255 fg, 0 bg, 128 otherwise.
 * Returns 0, or CUTOUT_E_* with err set. */
int cut_matting_trimap(const uint8_t *mask, int w, int h, size_t mask_stride,
                       int af, int ab, int ae, uint8_t *trimap,
                       char *err, size_t errlen);

/* Closed-form alpha for the trimap (w*h, tight): alpha (w*h doubles) gets
 * clip(x, 0, 1) as estimate_alpha_cf returns it, with epsilon as given (use
 * CUT_MATTING_EPSILON). rgb: 8-bit RGB rows of `stride` bytes, used as
 * rgb/255. guess (may be NULL: start from 0): 8-bit rows of guess_stride
 * bytes, CG's starting point as guess/255 -- the mask the trimap came from.
 * CG stops at ||b - Ax|| < CUT_MATTING_RTOL ||b|| wherever it starts.
 * Returns 0, CUT_MATTING_FALLBACK, or CUTOUT_E_*. */
int cut_matting_alpha_cf(const uint8_t *rgb, int w, int h, size_t stride,
                         const uint8_t *trimap, const uint8_t *guess, size_t guess_stride,
                         double epsilon, threadpool *tp,
                         double *alpha, cut_matting_stats *stats,
                         char *err, size_t errlen);

/* estimate_foreground_ml with pymatting's defaults (regularization 1e-5,
 * 10 small / 2 big iterations, small size 32, gradient weight 1), in its
 * float32/float64 mix and its raster (Gauss-Seidel) order; threads run the
 * three colour channels, which are independent. fg: 3 planes of w*h floats
 * (R plane, G plane, B plane). */
int cut_matting_foreground_ml(const uint8_t *rgb, int w, int h, size_t stride,
                              const double *alpha, threadpool *tp, float *fg,
                              char *err, size_t errlen);

/* The whole of rembg's alpha_matting_cutout: out_rgba (rows of out_stride
 * bytes) = clip(stack(F, alpha) * 255, 0, 255) truncated to uint8 -- F is
 * not multiplied by alpha, as in rembg. mask: 8-bit, image size. tp may be
 * NULL (calling thread only). stats may be NULL.
 * Returns 0, CUT_MATTING_FALLBACK (out_rgba untouched), or CUTOUT_E_*. */
int cut_alpha_matting(const uint8_t *rgb, int w, int h, size_t stride,
                      const uint8_t *mask, size_t mask_stride,
                      int af, int ab, int ae, threadpool *tp,
                      uint8_t *out_rgba, size_t out_stride,
                      cut_matting_stats *stats, char *err, size_t errlen);

#endif
