/* Aggregation multigrid V-cycle for the matting system (see matting_mg.h). */
#include "matting_mg.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MG_BANDS 16 /* bands of image rows per level (fewer on short levels) */

#define MG_MAX_LEVELS 24
#define MG_COARSEST 400 /* rows solved densely */
/* The coarse correction is scaled up: piecewise-constant aggregates
 * underestimate smooth errors' energy. 1.5 gave the fewest CG iterations on
 * the bench photo (1 MP: 1.0 -> 238, 1.3 -> 213, 1.5 -> 184, 1.8 -> 223 with
 * the W-cycle); any factor below 2 keeps the V-cycle positive definite. */
#define MG_OVERCORRECT 1.5
/* The smoothed prolongation of level 0 (below) is not scaled: its coarse
 * functions already have about the right energy (bench photo, with the
 * smoothing by the whole 5x5 stencil: 128 CG iterations unscaled, 131 at
 * 1.25, 133 at 1.5). */
#define MG_MIN_BAND 8 /* image rows; see make_bands */
#define MG_POWER_ITERS 20 /* power iterations for rho(D^-1 A) */

typedef struct {
    size_t n;
    int w, h, pw;
    int sw;              /* stencil width: 5 on level 0 and level 1 (the
                            smoothed prolongation, see galerkin_smoothed),
                            3 above (2x2 aggregates of a 5x5 or 3x3 stencil
                            reach only the 8 neighbouring aggregates) */
    const size_t *pos;   /* row -> padded-grid position */
    float *vals;         /* sw*sw per row: float halves the memory traffic, and
                            a preconditioner needs no more precision */
    double *invd;        /* 1 / diagonal */
    double *b, *r;       /* right-hand side, residual (n) */
    double *save, *b0;   /* W-cycle: first solution and right-hand side (n) */
    double *xg;          /* solution on the padded grid, 0 off the rows */
    uint32_t *agg;       /* row -> row of the next level (not on the coarsest) */
    float *sp;           /* smoothed prolongation: 9 weights a row on the 3x3
                            aggregates around agg[k]; NULL: piecewise constant */
    double *bg;          /* on a level whose finer level has sp: its
                            restriction adds up here, on the padded grid (0
                            off the rows), then moves to b */
    size_t *own_pos;     /* storage this level owns (level 0 borrows) */
    size_t *row;         /* h + 1: first row (unknown) of each image row */
    int bh, nb;          /* band height (image rows), bands */
    int par;             /* run the bands on the pool */
} mg_level;

struct cut_mg {
    int nlev;
    threadpool *tp;
    mg_level lev[MG_MAX_LEVELS];
    double *chol; /* coarsest: lower Cholesky factor, n x n */
};

/* cut_stencil25 with float coefficients, and its 3x3 counterpart. */
static inline double stencil25f(const float *v, const double *p, ptrdiff_t pw)
{
    double s0 = CUT_STENCIL25_ROW(v, p - 2 * pw), s1 = CUT_STENCIL25_ROW(v + 5, p - pw);
    double s2 = CUT_STENCIL25_ROW(v + 10, p), s3 = CUT_STENCIL25_ROW(v + 15, p + pw);
    double s4 = CUT_STENCIL25_ROW(v + 20, p + 2 * pw);
    return (s0 + s1) + (s2 + s3) + s4;
}

static inline double stencil9f(const float *v, const double *p, ptrdiff_t pw)
{
    const double *u = p - pw, *d = p + pw;
    double s0 = v[0] * u[-1] + v[1] * u[0] + v[2] * u[1];
    double s1 = v[3] * p[-1] + v[4] * p[0] + v[5] * p[1];
    double s2 = v[6] * d[-1] + v[7] * d[0] + v[8] * d[1];
    return s0 + s1 + s2;
}

/* (A x)_k for row k of level L, x on L's grid. */
static inline double row_product(const mg_level *L, size_t k)
{
    const double *p = L->xg + L->pos[k];
    return L->sw == 5 ? stencil25f(L->vals + k * 25, p, L->pw)
                      : stencil9f(L->vals + k * 9, p, L->pw);
}

/* Splits L's rows into bands of an even number (>= MG_MIN_BAND = 8) of image
 * rows, about MG_BANDS of them: a 5x5 stencil reaches 2 rows, so bands two
 * apart share no unknown and all even (or all odd) bands can relax at once;
 * an even height keeps each 2x2 aggregate inside one band, and >= 8 keeps
 * the coarse rows that two odd bands restrict to apart (gs_forward: an odd
 * band finishes its neighbours' residual 2 rows in, and a smoothed
 * prolongation spreads a row over 2 aggregate rows, so an odd band adds to
 * 2 aggregate rows of each even neighbour). The bands depend on the image
 * only, never on the number of threads. */
static int make_bands(mg_level *L, size_t par_min_rows)
{
    int bh = (L->h + 2 * MG_BANDS - 1) / (2 * MG_BANDS) * 2;
    L->bh = bh < MG_MIN_BAND ? MG_MIN_BAND : bh;
    L->nb = (L->h + L->bh - 1) / L->bh;
    L->row = malloc(((size_t)L->h + 1) * sizeof *L->row);
    if (!L->row) return -1;
    size_t k = 0;
    for (int y = 0; y < L->h; y++) {
        size_t first_pos = (size_t)(y + 2) * (size_t)L->pw;
        while (k < L->n && L->pos[k] < first_pos) k++;
        L->row[y] = k;
    }
    L->row[L->h] = L->n;
    L->par = L->n >= par_min_rows;
    return 0;
}

static int grid_alloc(mg_level *L, size_t par_min_rows, char *err, size_t errlen)
{
    size_t g;
    if (!cut_mul_size((size_t)L->w + 4, (size_t)L->h + 4, &g))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "matting: grid size overflows");
    L->xg = calloc(g, sizeof *L->xg);
    L->b = malloc((L->n ? L->n : 1) * 5 * sizeof *L->b);
    if (!L->xg || !L->b)
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    L->r = L->b + L->n;
    L->invd = L->b + 2 * L->n;
    L->save = L->b + 3 * L->n, L->b0 = L->b + 4 * L->n;
    if (make_bands(L, par_min_rows))
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    int c = L->sw * L->sw / 2;
    for (size_t k = 0; k < L->n; k++) {
        double d = (double)L->vals[k * (size_t)(L->sw * L->sw) + (size_t)c];
        L->invd[k] = d > 0 ? 1.0 / d : 0.0;
    }
    return 0;
}

/* rho(D^-1 A) of level L by power iteration from a fixed vector (so the
 * result is the same on every run); L->xg is left 0 on the rows. */
static double spectral_radius(mg_level *L)
{
    uint32_t s = 12345;
    double nrm = 0;
    for (size_t k = 0; k < L->n; k++) {
        s = s * 1103515245u + 12345u;
        double v = (double)(s >> 8) / (1 << 24) + 0.5;
        L->xg[L->pos[k]] = v;
        nrm += v * v;
    }
    nrm = sqrt(nrm);
    for (int it = 0; it < MG_POWER_ITERS && nrm > 0; it++) {
        double sum = 0;
        for (size_t k = 0; k < L->n; k++) {
            double t = L->invd[k] * row_product(L, k) / nrm;
            L->r[k] = t, sum += t * t;
        }
        nrm = sqrt(sum);
        for (size_t k = 0; k < L->n; k++) L->xg[L->pos[k]] = L->r[k];
    }
    for (size_t k = 0; k < L->n; k++) L->xg[L->pos[k]] = 0;
    return nrm;
}

/* Coordinates of a padded-grid position. */
static inline long pos_x(const mg_level *L, size_t p) { return (long)(p % (size_t)L->pw) - 2; }
static inline long pos_y(const mg_level *L, size_t p) { return (long)(p / (size_t)L->pw) - 2; }

/* Smoothed prolongation of level f (5x5 stencil) to its aggregates:
 * P = (I - omega D^-1 A_F) P0, P0 the piecewise-constant one, omega = 4 /
 * (3 rho(D^-1 A)) (smoothed aggregation, Vanek, Mandel, Brezina 1996). A_F
 * is A filtered to its inner 3x3 entries, the outer ones added to the
 * diagonal (A_F 1 = A 1): P's rows then reach 1 pixel, and P^T A P fits a
 * 5x5 stencil (the whole 5x5 A reaches 3 pixels and needs 7x7: bench photo
 * 128 CG iterations instead of 149, but level 1 costs twice as much a
 * visit, and no less time overall). Returns -1 on no memory, 1 where it
 * does not apply (rho not positive). */
static int smooth_prolongation(mg_level *f)
{
    double rho = spectral_radius(f);
    if (!(rho > 0) || !isfinite(rho)) return 1;
    double omega = 4.0 / (3.0 * rho);
    f->sp = malloc((f->n ? f->n : 1) * 9 * sizeof *f->sp);
    if (!f->sp) return -1;
    for (size_t k = 0; k < f->n; k++) {
        long x = pos_x(f, f->pos[k]), y = pos_y(f, f->pos[k]);
        const float *v = f->vals + k * 25;
        double wsum[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
        for (int oy = -2; oy <= 2; oy++)
            for (int ox = -2; ox <= 2; ox++) {
                double a = (double)v[(oy + 2) * 5 + ox + 2];
                if (a == 0) continue; /* no unknown there */
                int dx = (int)((x + ox) / 2 - x / 2), dy = (int)((y + oy) / 2 - y / 2);
                if (ox < -1 || ox > 1 || oy < -1 || oy > 1) dx = dy = 0; /* filtered */
                wsum[(dy + 1) * 3 + dx + 1] -= omega * f->invd[k] * a;
            }
        for (int q = 0; q < 9; q++) f->sp[k * 9 + q] = (float)wsum[q];
    }
    return 0;
}

/* Galerkin operator P^T A P of a smoothed prolongation into acc (25 a
 * coarse row). Row k's A P reaches pixels 3 away, so aggregates -2..1 from
 * its own for an even x (y), -1..2 for an odd one; P^T spreads that over
 * k's aggregates, -1..0 (even) or 0..1 (odd): 2 apart at most. Returns -1 on
 * no memory, -2 if that did not hold. */
static int galerkin_smoothed(const mg_level *f, const mg_level *c, const int32_t *crow,
                             double *acc)
{
    size_t g = (size_t)(f->w + 4) * (size_t)(f->h + 4);
    int32_t *frow = malloc(g * sizeof *frow);
    if (!frow) return -1;
    for (size_t i = 0; i < g; i++) frow[i] = -1;
    for (size_t k = 0; k < f->n; k++) frow[f->pos[k]] = (int32_t)k;
    for (size_t k = 0; k < f->n; k++) {
        long x = pos_x(f, f->pos[k]), y = pos_y(f, f->pos[k]);
        const float *v = f->vals + k * 25;
        double ap[25] = {0};
        for (int oy = -2; oy <= 2; oy++)
            for (int ox = -2; ox <= 2; ox++) {
                double a = (double)v[(oy + 2) * 5 + ox + 2];
                if (a == 0) continue;
                size_t j = (size_t)frow[(ptrdiff_t)f->pos[k] + (ptrdiff_t)oy * f->pw + ox];
                long ax = (x + ox) / 2 - x / 2, ay = (y + oy) / 2 - y / 2; /* j's aggregate */
                const float *pj = f->sp + j * 9;
                for (int q = 0; q < 9; q++)
                    if (pj[q] != 0)
                        ap[(ay + q / 3 - 1 + 2) * 5 + ax + q % 3 - 1 + 2] += a * (double)pj[q];
            }
        const float *pk = f->sp + k * 9;
        size_t cp = c->pos[f->agg[k]];
        int bad = 0;
        for (int q = 0; q < 9; q++) {
            if (pk[q] == 0) continue;
            int qy = q / 3 - 1, qx = q % 3 - 1;
            double *cv = acc + (size_t)crow[(ptrdiff_t)cp + (ptrdiff_t)qy * c->pw + qx] * 25;
            for (int d = 0; d < 25; d++) {
                if (ap[d] == 0) continue;
                int ey = d / 5 - 2 - qy, ex = d % 5 - 2 - qx;
                if (ey < -2 || ey > 2 || ex < -2 || ex > 2) {
                    bad = 1;
                    continue;
                }
                cv[(ey + 2) * 5 + ex + 2] += (double)pk[q] * ap[d];
            }
        }
        if (bad) {
            free(frow);
            return -2;
        }
    }
    free(frow);
    return 0;
}

/* The level above `f`: 2x2 aggregates of its rows, Galerkin operator; with
 * `smooth` (f has a 5x5 stencil) the prolongation is smoothed. */
static int coarsen(mg_level *f, mg_level *c, int smooth, size_t par_min_rows, char *err,
                   size_t errlen)
{
    c->w = (f->w + 1) / 2, c->h = (f->h + 1) / 2, c->pw = c->w + 4;
    size_t cells = (size_t)c->w * (size_t)c->h;
    int32_t *map = malloc(cells * sizeof *map);
    f->agg = malloc((f->n ? f->n : 1) * sizeof *f->agg);
    if (!map || !f->agg) {
        free(map);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    }
    for (size_t i = 0; i < cells; i++) map[i] = -1;
    for (size_t k = 0; k < f->n; k++) {
        size_t x = f->pos[k] % (size_t)f->pw - 2, y = f->pos[k] / (size_t)f->pw - 2;
        map[(y / 2) * (size_t)c->w + x / 2] = 0;
    }
    size_t nc = 0;
    for (size_t i = 0; i < cells; i++)
        if (map[i] == 0) map[i] = (int32_t)nc++;
    c->n = nc;
    const int rad = f->sw / 2;
    if (smooth && rad == 2) {
        int rc = smooth_prolongation(f);
        if (rc < 0) {
            free(map);
            return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
        }
    }
    const int crad = f->sp ? 2 : (rad + 1) / 2, csw = 2 * crad + 1, cnv = csw * csw;
    c->sw = csw;
    size_t g = (size_t)(c->w + 4) * (size_t)(c->h + 4);
    c->own_pos = malloc((nc ? nc : 1) * sizeof *c->own_pos);
    c->vals = malloc((nc ? nc : 1) * (size_t)cnv * sizeof *c->vals);
    double *acc = calloc((nc ? nc : 1) * (size_t)cnv, sizeof *acc); /* Galerkin sums */
    int32_t *crow = f->sp ? malloc(g * sizeof *crow) : NULL; /* position -> row */
    if (!c->own_pos || !c->vals || !acc || (f->sp && !crow)) {
        free(crow);
        free(acc);
        free(map);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    }
    for (size_t i = 0; i < cells; i++)
        if (map[i] >= 0)
            c->own_pos[map[i]] = (i / (size_t)c->w + 2) * (size_t)c->pw + i % (size_t)c->w + 2;
    for (size_t k = 0; k < f->n; k++) {
        size_t x = (size_t)pos_x(f, f->pos[k]), y = (size_t)pos_y(f, f->pos[k]);
        f->agg[k] = (uint32_t)map[(y / 2) * (size_t)c->w + x / 2];
    }
    free(map);
    c->pos = c->own_pos;
    if (f->sp) {
        for (size_t i = 0; i < g; i++) crow[i] = -1;
        for (size_t k = 0; k < nc; k++) crow[c->pos[k]] = (int32_t)k;
        int rc = galerkin_smoothed(f, c, crow, acc);
        free(crow);
        if (rc == -2) {
            free(acc);
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "matting: smoothed coarse operator outside its 5x5 stencil");
        }
        if (rc || !(c->bg = calloc(g, sizeof *c->bg))) {
            free(acc);
            return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
        }
    } else {
        for (size_t k = 0; k < f->n; k++) {
            long x = pos_x(f, f->pos[k]), y = pos_y(f, f->pos[k]);
            const float *v = f->vals + k * (size_t)(f->sw * f->sw);
            double *cv = acc + (size_t)f->agg[k] * (size_t)cnv;
            for (int oy = -rad; oy <= rad; oy++)
                for (int ox = -rad; ox <= rad; ox++) {
                    double a = (double)v[(oy + rad) * f->sw + ox + rad];
                    if (a == 0) continue; /* no unknown there (or a true zero) */
                    long jx = x + ox, jy = y + oy; /* an unknown: inside the image */
                    int dx = (int)(jx / 2 - x / 2), dy = (int)(jy / 2 - y / 2);
                    cv[(dy + crad) * csw + dx + crad] += a;
                }
        }
    }
    for (size_t i = 0; i < nc * (size_t)cnv; i++) c->vals[i] = (float)acc[i];
    free(acc);
    return grid_alloc(c, par_min_rows, err, errlen);
}

static int dense_factor(cut_mg *mg, char *err, size_t errlen)
{
    mg_level *L = &mg->lev[mg->nlev - 1];
    size_t n = L->n, nn;
    if (!cut_mul_size(n ? n : 1, n ? n : 1, &nn) || !(mg->chol = calloc(nn, sizeof *mg->chol)))
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    double *A = mg->chol;
    /* Position -> row, to scatter the stencils into the dense matrix. */
    size_t g = (size_t)(L->w + 4) * (size_t)(L->h + 4);
    int32_t *row = malloc(g * sizeof *row);
    if (!row) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    for (size_t i = 0; i < g; i++) row[i] = -1;
    for (size_t k = 0; k < n; k++) row[L->pos[k]] = (int32_t)k;
    const int rad = L->sw / 2;
    for (size_t k = 0; k < n; k++)
        for (int oy = -rad; oy <= rad; oy++)
            for (int ox = -rad; ox <= rad; ox++) {
                double a = (double)L->vals[k * (size_t)(L->sw * L->sw) +
                                           (size_t)((oy + rad) * L->sw + ox + rad)];
                if (a == 0) continue;
                int32_t j = row[(ptrdiff_t)L->pos[k] + (ptrdiff_t)oy * L->pw + ox];
                if (j >= 0) A[k * n + (size_t)j] += a;
            }
    free(row);
    for (size_t j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (size_t k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "matting: coarsest multigrid matrix not positive definite");
        d = sqrt(d);
        A[j * n + j] = d;
        for (size_t i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (size_t k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / d;
        }
    }
    return 0;
}

int cut_mg_build(size_t n, int w, int h, const size_t *pos, const double *vals, threadpool *tp,
                 size_t par_min_rows, cut_mg **out, char *err, size_t errlen)
{
    *out = NULL;
    cut_mg *mg = calloc(1, sizeof *mg);
    if (!mg) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    mg->tp = tp;
    mg_level *L0 = &mg->lev[0];
    L0->n = n, L0->w = w, L0->h = h, L0->pw = w + 4, L0->sw = 5, L0->pos = pos;
    mg->nlev = 1;
    size_t nv;
    if (!cut_mul_size(n ? n : 1, 25 * sizeof *L0->vals, &nv) || !(L0->vals = malloc(nv))) {
        free(mg);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    }
    for (size_t i = 0; i < n * 25; i++) L0->vals[i] = (float)vals[i];
    int rc = grid_alloc(L0, par_min_rows, err, errlen);
    while (!rc && mg->lev[mg->nlev - 1].n > MG_COARSEST && mg->nlev < MG_MAX_LEVELS) {
        rc = coarsen(&mg->lev[mg->nlev - 1], &mg->lev[mg->nlev], mg->nlev == 1, par_min_rows, err,
                     errlen);
        mg->nlev++;
    }
    if (!rc && mg->lev[mg->nlev - 1].n > 4 * MG_COARSEST)
        rc = cut_fail(err, errlen, CUTOUT_E_LIMIT, "matting: multigrid did not coarsen");
    if (!rc) rc = dense_factor(mg, err, errlen);
    if (rc) {
        cut_mg_free(mg);
        return rc;
    }
    *out = mg;
    return 0;
}

/* The steps of a cycle, each on one band of image rows of level l. */
enum { OP_ZERO, OP_GS_FORWARD, OP_GS_BACKWARD, OP_PROLONG, OP_W_SAVE, OP_W_RESTORE, OP_TAKE_B };

static void gs_row(mg_level *L, size_t k)
{
    L->xg[L->pos[k]] += (L->b[k] - row_product(L, k)) * L->invd[k];
}

/* The products of row k with the entries before its centre in raster order
 * (after = 0) or after it (after = 1). */
static inline double half_product(const mg_level *L, size_t k, int after)
{
    const double *p = L->xg + L->pos[k];
    const ptrdiff_t pw = L->pw;
    if (L->sw == 5) {
        const float *v = L->vals + k * 25;
        return after ? (v[13] * p[1] + v[14] * p[2]) + CUT_STENCIL25_ROW(v + 15, p + pw) +
                           CUT_STENCIL25_ROW(v + 20, p + 2 * pw)
                     : (CUT_STENCIL25_ROW(v, p - 2 * pw) + CUT_STENCIL25_ROW(v + 5, p - pw)) +
                           (v[10] * p[-2] + v[11] * p[-1]);
    }
    const float *v = L->vals + k * 9;
    return after ? v[5] * p[1] + (v[6] * p[pw - 1] + v[7] * p[pw] + v[8] * p[pw + 1])
                 : (v[0] * p[-pw - 1] + v[1] * p[-pw] + v[2] * p[-pw + 1]) + v[3] * p[-1];
}

/* A forward Gauss-Seidel step from x = 0 where every neighbour after row k
 * in raster order is still 0 (the caller knows): only the entries before
 * the centre matter. */
static void gs_row_from_zero(mg_level *L, size_t k)
{
    L->xg[L->pos[k]] = (L->b[k] - half_product(L, k, 0)) * L->invd[k];
}

/* b_C += P^T (b - A x) over image rows [y0, y1), after a forward sweep from
 * x = 0. With `upper` (the caller knows that every neighbour of these rows
 * that comes later in raster order was relaxed after them, and every earlier
 * one before), b - A x is minus the product with the entries after the
 * centre: the sweep left b_k - (the entries up to the centre) . x = 0, and
 * the later neighbours were 0 then. Half the coefficients of the full
 * residual. */
static void restrict_rows(mg_level *L, mg_level *C, int y0, int y1, int upper)
{
    for (size_t k = L->row[y0]; k < L->row[y1]; k++) {
        double r = upper ? -half_product(L, k, 1) : L->b[k] - row_product(L, k);
        if (!L->sp) {
            C->b[L->agg[k]] += r;
            continue;
        }
        /* all 9, zero weights too: they fall off the rows, where bg stays 0 */
        const float *p = L->sp + k * 9;
        double *u = C->bg + C->pos[L->agg[k]] - C->pw, *m = u + C->pw, *d = m + C->pw;
        u[-1] += p[0] * r, u[0] += p[1] * r, u[1] += p[2] * r;
        m[-1] += p[3] * r, m[0] += p[4] * r, m[1] += p[5] * r;
        d[-1] += p[6] * r, d[0] += p[7] * r, d[1] += p[8] * r;
    }
}

/* x += scale P x_C over rows [k0, k1). */
static void prolong_rows(mg_level *L, const mg_level *C, size_t k0, size_t k1)
{
    if (!L->sp) {
        for (size_t k = k0; k < k1; k++)
            L->xg[L->pos[k]] += MG_OVERCORRECT * C->xg[C->pos[L->agg[k]]];
        return;
    }
    const ptrdiff_t cpw = C->pw;
    for (size_t k = k0; k < k1; k++) {
        const float *p = L->sp + k * 9;
        const double *u = C->xg + C->pos[L->agg[k]] - cpw, *m = u + cpw, *d = m + cpw;
        double s = (p[0] * u[-1] + p[1] * u[0] + p[2] * u[1]) +
                   (p[3] * m[-1] + p[4] * m[0] + p[5] * m[1]) +
                   (p[6] * d[-1] + p[7] * d[0] + p[8] * d[1]);
        L->xg[L->pos[k]] += s;
    }
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* A forward Gauss-Seidel sweep over band j of image rows [y0, y1) that also
 * restricts the residual to the next level (C, NULL on none) as soon as the
 * rows it depends on are final, while the band's matrix rows are still in
 * cache: one pass over the finest level's 25 coefficients a row instead of
 * two. Even bands (run first) restrict the rows at least rad (the stencil
 * radius) from their odd neighbours; odd bands (run after all even ones)
 * restrict their own rows and their even neighbours' rows within rad of
 * them. C's rows of this band are zeroed first (by even bands: before any
 * odd band adds to them). */
static void gs_forward(mg_level *L, mg_level *C, int j)
{
    const int y0 = j * L->bh, y1 = imin(L->h, y0 + L->bh), rad = L->sw / 2, odd = j & 1;
    /* x starts at 0: the rows after a row in raster order are still 0 when
     * it is relaxed, but for an odd band's last rad rows above an even band
     * (relaxed before them). */
    const int lower_end = odd && y1 < L->h ? y1 - rad : y1;
    if (!C) {
        for (int y = y0; y < y1; y++)
            for (size_t k = L->row[y]; k < L->row[y + 1]; k++)
                y < lower_end ? gs_row_from_zero(L, k) : gs_row(L, k);
        return;
    }
    size_t k0 = L->row[y0], k1 = L->row[y1];
    if (k1 > k0 && !L->sp) { /* this band's aggregates: the rows between its least and greatest */
        uint32_t lo = L->agg[k0], hi = lo;
        for (size_t k = k0; k < k1; k++) {
            lo = L->agg[k] < lo ? L->agg[k] : lo;
            hi = L->agg[k] > hi ? L->agg[k] : hi;
        }
        memset(C->b + lo, 0, (size_t)(hi + 1 - lo) * sizeof *C->b);
    }
    /* The own rows this band restricts: [lo, hi). */
    int lo = odd || y0 == 0 ? y0 : y0 + rad, hi = odd || y1 == L->h ? y1 : y1 - rad;
    lo = imin(lo, y1), hi = imax(hi, lo); /* a last band shorter than rad */
    /* Rows that may use the upper-entries residual (restrict_rows): all
     * but an odd band's last rad rows above an even band (relaxed before
     * them) and an even band's first rad rows below an odd one (relaxed
     * after them). */
    const int upper_end = lower_end;
    for (int y = y0; y < y1; y++) {
        for (size_t k = L->row[y]; k < L->row[y + 1]; k++)
            y < lower_end ? gs_row_from_zero(L, k) : gs_row(L, k);
        if (y - rad >= lo && y - rad < hi) restrict_rows(L, C, y - rad, y - rad + 1, y - rad < upper_end);
    }
    for (int y = imax(lo, y1 - rad); y < imax(hi, imax(lo, y1 - rad)); y++)
        restrict_rows(L, C, y, y + 1, y < upper_end);
    if (odd) {
        restrict_rows(L, C, imax(0, y0 - rad), y0, 1);
        restrict_rows(L, C, y1, imin(L->h, y1 + rad), 0);
    }
}

static void band_op(cut_mg *mg, int l, int op, int j)
{
    mg_level *L = &mg->lev[l], *C = l + 1 < mg->nlev ? &mg->lev[l + 1] : NULL;
    size_t k0 = L->row[j * L->bh], k1 = L->row[imin(L->h, (j + 1) * L->bh)];
    switch (op) {
    case OP_ZERO: /* x = 0 on the rows */
        for (size_t k = k0; k < k1; k++) L->xg[L->pos[k]] = 0;
        break;
    case OP_GS_FORWARD:
        gs_forward(L, C, j);
        break;
    case OP_GS_BACKWARD:
        for (size_t k = k1; k-- > k0;) gs_row(L, k);
        break;
    case OP_PROLONG:
        prolong_rows(L, C, k0, k1);
        break;
    case OP_W_SAVE: /* keep x and b, then b = b - A x */
        for (size_t k = k0; k < k1; k++) {
            L->save[k] = L->xg[L->pos[k]];
            L->b0[k] = L->b[k];
            L->r[k] = L->b[k] - row_product(L, k);
        }
        break;
    case OP_TAKE_B: /* b = the restriction summed on the grid, which is zeroed */
        for (size_t k = k0; k < k1; k++) {
            L->b[k] = L->bg[L->pos[k]];
            L->bg[L->pos[k]] = 0;
        }
        break;
    case OP_W_RESTORE: /* x += the first cycle's x, b back */
        for (size_t k = k0; k < k1; k++) {
            L->xg[L->pos[k]] += L->save[k];
            L->b[k] = L->b0[k];
        }
        break;
    }
}

typedef struct {
    cut_mg *mg;
    int l, op, first, step;
} band_job;

static void band_task(void *ctx, int task, int thread)
{
    (void)thread;
    const band_job *j = ctx;
    band_op(j->mg, j->l, j->op, j->first + task * j->step);
}

/* Runs op on the bands first, first + step, ...: in parallel where the level
 * is large enough, else in order on this thread (the same result: the bands
 * of one run touch disjoint data). */
static void run_bands(cut_mg *mg, int l, int op, int first, int step)
{
    const mg_level *L = &mg->lev[l];
    int ntask = (L->nb - first + step - 1) / step;
    band_job j = {mg, l, op, first, step};
    if (mg->tp && L->par && ntask > 1)
        cut_pool_run(mg->tp, ntask, band_task, &j);
    else
        for (int t = 0; t < ntask; t++) band_task(&j, t, 0);
}

/* Gauss-Seidel in band-coloured order: forward runs the even bands, then the
 * odd ones, each band in raster order (and restricts the residual, on all
 * but the coarsest level); backward is exactly the reverse, so a forward
 * sweep before the coarse correction and a backward one after keep the cycle
 * symmetric. */
static void gauss_seidel(cut_mg *mg, int l, int backward)
{
    if (!backward) {
        run_bands(mg, l, OP_GS_FORWARD, 0, 2);
        run_bands(mg, l, OP_GS_FORWARD, 1, 2);
    } else {
        run_bands(mg, l, OP_GS_BACKWARD, 1, 2);
        run_bands(mg, l, OP_GS_BACKWARD, 0, 2);
    }
}

static void vcycle(cut_mg *mg, int l)
{
    mg_level *L = &mg->lev[l];
    if (l == mg->nlev - 1) {
        size_t n = L->n;
        const double *A = mg->chol;
        double *y = L->r;
        for (size_t i = 0; i < n; i++) {
            double s = L->b[i];
            for (size_t k = 0; k < i; k++) s -= A[i * n + k] * y[k];
            y[i] = s / A[i * n + i];
        }
        for (size_t i = n; i-- > 0;) {
            double s = y[i];
            for (size_t k = i + 1; k < n; k++) s -= A[k * n + i] * y[k];
            y[i] = s / A[i * n + i];
            L->xg[L->pos[i]] = y[i];
        }
        return;
    }
    if (l > 0) run_bands(mg, l, OP_ZERO, 0, 1); /* level 0: cut_mg_apply left it 0 */
    gauss_seidel(mg, l, 0); /* and b_C = P^T (b - A x) */
    if (L->sp) run_bands(mg, l + 1, OP_TAKE_B, 0, 1);
    vcycle(mg, l + 1);
    if (l + 1 < mg->nlev - 1) {
        /* W-cycle: a second coarse cycle on what the first left over. */
        mg_level *C = &mg->lev[l + 1];
        run_bands(mg, l + 1, OP_W_SAVE, 0, 1);
        memcpy(C->b, C->r, C->n * sizeof *C->b);
        vcycle(mg, l + 1);
        run_bands(mg, l + 1, OP_W_RESTORE, 0, 1);
    }
    run_bands(mg, l, OP_PROLONG, 0, 1);
    gauss_seidel(mg, l, 1);
}

double cut_mg_apply(cut_mg *mg, const double *r, double *z)
{
    mg_level *L = &mg->lev[0];
    memcpy(L->b, r, L->n * sizeof *r);
    vcycle(mg, 0);
    double rz = 0;
    for (size_t k = 0; k < L->n; k++) {
        z[k] = L->xg[L->pos[k]];
        L->xg[L->pos[k]] = 0; /* level 0 starts from 0 (vcycle) */
        rz += r[k] * z[k];
    }
    return rz;
}

int cut_mg_levels(const cut_mg *mg)
{
    return mg->nlev;
}

void cut_mg_free(cut_mg *mg)
{
    if (!mg) return;
    for (int l = 0; l < mg->nlev; l++) {
        free(mg->lev[l].xg);
        free(mg->lev[l].b);
        free(mg->lev[l].agg);
        free(mg->lev[l].sp);
        free(mg->lev[l].bg);
        free(mg->lev[l].own_pos);
        free(mg->lev[l].vals);
        free(mg->lev[l].row);
    }
    free(mg->chol);
    free(mg);
}
