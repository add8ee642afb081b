/* Aggregation multigrid preconditioner for the closed-form matting system
 * (matting.c): one symmetric V-cycle per application, so CG can use it.
 *
 * The fine system is given as matting.c stores it: n rows in raster order,
 * each at a position of a padded grid (width w + 4, height h + 4, 2-pixel
 * border), with 25 stencil values (the 5x5 neighbourhood; 0 where there is
 * no unknown neighbour). Each coarser level aggregates 2x2 cells of the level
 * below (piecewise-constant prolongation P); its operator is the Galerkin
 * product P^T A P, which again fits a 5x5 stencil (3x3 in fact), so all levels
 * share one layout. Smoother: one forward Gauss-Seidel sweep before the
 * coarse correction and one backward sweep after (so the V-cycle is a
 * symmetric positive definite operator), W-cycle (two coarse cycles per
 * level), coarse correction scaled by 1.5; the coarsest level (few hundred
 * rows) is solved exactly by dense Cholesky.
 *
 * Internal header: nothing here prints. */
#ifndef CUTOUT_MATTING_MG_H
#define CUTOUT_MATTING_MG_H

#include <stddef.h>

/* sum_o v[o] p[off[o]] over a 5x5 stencil, five independent sums (one per
 * stencil column) so the additions do not form one 25-long latency chain. */
static inline double cut_stencil25(const double *v, const double *p, const ptrdiff_t off[25])
{
    double s[5] = {0, 0, 0, 0, 0};
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 5; j++) s[j] += v[r * 5 + j] * p[off[r * 5 + j]];
    return (s[0] + s[1]) + (s[2] + s[3]) + s[4];
}

typedef struct cut_mg cut_mg;

/* Builds the hierarchy. vals (25 per row) and pos are borrowed for the
 * preconditioner's lifetime. Returns 0 or CUTOUT_E_* with err set
 * (CUTOUT_E_UNSUPPORTED: a coarsest matrix that is not positive definite). */
int cut_mg_build(size_t n, int w, int h, const size_t *pos, const double *vals, cut_mg **out,
                 char *err, size_t errlen);

/* z = M^-1 r: one V-cycle from z = 0 (r, z: n values, compact order). */
void cut_mg_apply(cut_mg *mg, const double *r, double *z);

/* Levels built (1 = the dense solve only). */
int cut_mg_levels(const cut_mg *mg);

void cut_mg_free(cut_mg *mg);

#endif
