/* Aggregation multigrid preconditioner for the closed-form matting system
 * (matting.c): one symmetric W-cycle per application, so CG can use it.
 *
 * The fine system is given as matting.c stores it: n rows in raster order,
 * each at a position of a padded grid (width w + 4, height h + 4, 2-pixel
 * border), with 25 stencil values (the 5x5 neighbourhood; 0 where there is
 * no unknown neighbour). Each coarser level aggregates 2x2 cells of the level
 * below. Level 0 -> 1 uses a smoothed prolongation (smoothed aggregation:
 * P = (I - omega D^-1 A_F) P0, A_F the inner 3x3 of the stencil, omega from
 * rho(D^-1 A) by power iteration): its coarse functions follow the
 * Laplacian's edges, and CG needs 149 iterations on the 2 MP bench photo
 * instead of 252 with the piecewise-constant P0; above, P = P0. Each
 * coarse operator is the Galerkin product P^T A P: 5x5 on level 1, 3x3
 * above (2x2 aggregates of a 5x5 or 3x3 stencil reach only the 8
 * neighbouring aggregates).
 * Smoother: one forward Gauss-Seidel sweep before the coarse correction
 * (from x = 0, so it needs only the entries before each row's centre, and
 * restricting the residual as it goes with the entries after it) and one
 * backward sweep after (so the cycle is a symmetric positive definite
 * operator), in band-coloured order so that the pool can run it: even bands
 * of image rows, then odd ones, the backward sweep the exact reverse.
 * W-cycle (two coarse cycles per level), the piecewise-constant corrections
 * scaled by 1.5; the coarsest level (few hundred rows) is solved exactly by
 * dense Cholesky.
 *
 * Internal header: nothing here prints. */
#ifndef CUTOUT_MATTING_MG_H
#define CUTOUT_MATTING_MG_H

#include <stddef.h>

#include "threadpool.h"

/* One row of a 5x5 stencil: v[0..4] times q[-2..2]. The stencils sum their
 * five rows written out, so the compiler keeps the sums in registers (a loop
 * over an offset table spilled them) and the additions do not form one
 * 25-long chain. */
#define CUT_STENCIL25_ROW(v, q) \
    ((v)[0] * (q)[-2] + (v)[1] * (q)[-1] + (v)[2] * (q)[0] + (v)[3] * (q)[1] + (v)[4] * (q)[2])

typedef struct cut_mg cut_mg;

/* Levels of fewer rows than this run on the calling thread: below it a pool
 * run costs more than it saves. */
#define CUT_MG_PAR_MIN_ROWS 16384

/* Builds the hierarchy. vals (25 per row) and pos are borrowed for the
 * preconditioner's lifetime. tp (may be NULL) runs the row bands of levels
 * of at least par_min_rows rows (CUT_MG_PAR_MIN_ROWS; tests pass 0); the
 * result does not depend on it. Returns 0 or CUTOUT_E_* with err set
 * (CUTOUT_E_UNSUPPORTED: a coarsest matrix that is not positive definite). */
int cut_mg_build(size_t n, int w, int h, const size_t *pos, const double *vals, threadpool *tp,
                 size_t par_min_rows, cut_mg **out, char *err, size_t errlen);

/* z = M^-1 r: one cycle from z = 0 (r, z: n values, compact order).
 * Returns r.z, summed in row order. */
double cut_mg_apply(cut_mg *mg, const double *r, double *z);

/* Levels built (1 = the dense solve only). */
int cut_mg_levels(const cut_mg *mg);

void cut_mg_free(cut_mg *mg);

#endif
