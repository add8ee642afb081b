/* Aggregation multigrid V-cycle for the matting system (see matting_mg.h). */
#include "matting_mg.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MG_MAX_LEVELS 24
#define MG_COARSEST 400 /* rows solved densely */
/* The coarse correction is scaled up: piecewise-constant aggregates
 * underestimate smooth errors' energy. 1.5 gave the fewest CG iterations on
 * the bench photo (1 MP: 1.0 -> 238, 1.3 -> 213, 1.5 -> 184, 1.8 -> 223 with
 * the W-cycle); any factor below 2 keeps the V-cycle positive definite. */
#define MG_OVERCORRECT 1.5

typedef struct {
    size_t n;
    int w, h, pw;
    int sw;              /* stencil width: 5 on level 0, 3 above (2x2
                            aggregates of a 5x5 or 3x3 stencil reach only the
                            8 neighbouring aggregates) */
    const size_t *pos;   /* row -> padded-grid position */
    float *vals;         /* sw*sw per row: float halves the memory traffic, and
                            a preconditioner needs no more precision */
    double *invd;        /* 1 / diagonal */
    double *b, *r;       /* right-hand side, residual (n) */
    double *save, *b0;   /* W-cycle: first solution and right-hand side (n) */
    double *xg;          /* solution on the padded grid, 0 off the rows */
    uint32_t *agg;       /* row -> row of the next level (not on the coarsest) */
    size_t *own_pos;     /* storage this level owns (level 0 borrows) */
} mg_level;

struct cut_mg {
    int nlev;
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

static int grid_alloc(mg_level *L, char *err, size_t errlen)
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
    int c = L->sw * L->sw / 2;
    for (size_t k = 0; k < L->n; k++) {
        double d = (double)L->vals[k * (size_t)(L->sw * L->sw) + (size_t)c];
        L->invd[k] = d > 0 ? 1.0 / d : 0.0;
    }
    return 0;
}

/* The level above `f`: 2x2 aggregates of its rows, Galerkin operator. */
static int coarsen(mg_level *f, mg_level *c, char *err, size_t errlen)
{
    c->w = (f->w + 1) / 2, c->h = (f->h + 1) / 2, c->pw = c->w + 4, c->sw = 3;
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
    c->own_pos = malloc((nc ? nc : 1) * sizeof *c->own_pos);
    c->vals = malloc((nc ? nc : 1) * 9 * sizeof *c->vals);
    double *acc = calloc((nc ? nc : 1) * 9, sizeof *acc); /* Galerkin sums */
    if (!c->own_pos || !c->vals || !acc) {
        free(acc);
        free(map);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    }
    for (size_t i = 0; i < cells; i++)
        if (map[i] >= 0)
            c->own_pos[map[i]] = (i / (size_t)c->w + 2) * (size_t)c->pw + i % (size_t)c->w + 2;
    const int rad = f->sw / 2;
    for (size_t k = 0; k < f->n; k++) {
        long x = (long)(f->pos[k] % (size_t)f->pw) - 2, y = (long)(f->pos[k] / (size_t)f->pw) - 2;
        size_t I = (size_t)map[(size_t)(y / 2) * (size_t)c->w + (size_t)(x / 2)];
        f->agg[k] = (uint32_t)I;
        const float *v = f->vals + k * (size_t)(f->sw * f->sw);
        double *cv = acc + I * 9;
        for (int oy = -rad; oy <= rad; oy++)
            for (int ox = -rad; ox <= rad; ox++) {
                double a = (double)v[(oy + rad) * f->sw + ox + rad];
                if (a == 0) continue; /* no unknown there (or a true zero) */
                long jx = x + ox, jy = y + oy; /* an unknown: inside the image */
                int dx = (int)(jx / 2 - x / 2), dy = (int)(jy / 2 - y / 2);
                cv[(dy + 1) * 3 + dx + 1] += a;
            }
    }
    free(map);
    for (size_t i = 0; i < nc * 9; i++) c->vals[i] = (float)acc[i];
    free(acc);
    c->pos = c->own_pos;
    return grid_alloc(c, err, errlen);
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

int cut_mg_build(size_t n, int w, int h, const size_t *pos, const double *vals, cut_mg **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    cut_mg *mg = calloc(1, sizeof *mg);
    if (!mg) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    mg_level *L0 = &mg->lev[0];
    L0->n = n, L0->w = w, L0->h = h, L0->pw = w + 4, L0->sw = 5, L0->pos = pos;
    mg->nlev = 1;
    size_t nv;
    if (!cut_mul_size(n ? n : 1, 25 * sizeof *L0->vals, &nv) || !(L0->vals = malloc(nv))) {
        free(mg);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (multigrid)");
    }
    for (size_t i = 0; i < n * 25; i++) L0->vals[i] = (float)vals[i];
    int rc = grid_alloc(L0, err, errlen);
    while (!rc && mg->lev[mg->nlev - 1].n > MG_COARSEST && mg->nlev < MG_MAX_LEVELS) {
        rc = coarsen(&mg->lev[mg->nlev - 1], &mg->lev[mg->nlev], err, errlen);
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

/* One Gauss-Seidel sweep on L->xg, forward or backward. */
static void gauss_seidel(mg_level *L, int backward)
{
    for (size_t i = 0; i < L->n; i++) {
        size_t k = backward ? L->n - 1 - i : i;
        L->xg[L->pos[k]] += (L->b[k] - row_product(L, k)) * L->invd[k];
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
    for (size_t k = 0; k < L->n; k++) L->xg[L->pos[k]] = 0;
    gauss_seidel(L, 0);
    mg_level *C = &mg->lev[l + 1];
    memset(C->b, 0, C->n * sizeof *C->b);
    for (size_t k = 0; k < L->n; k++) C->b[L->agg[k]] += L->b[k] - row_product(L, k);
    vcycle(mg, l + 1);
    if (l + 1 < mg->nlev - 1) {
        /* W-cycle: a second coarse cycle on what the first left over. */
        for (size_t k = 0; k < C->n; k++) {
            C->save[k] = C->xg[C->pos[k]];
            C->b0[k] = C->b[k];
            C->r[k] = C->b[k] - row_product(C, k);
        }
        for (size_t k = 0; k < C->n; k++) C->b[k] = C->r[k];
        vcycle(mg, l + 1);
        for (size_t k = 0; k < C->n; k++) {
            C->xg[C->pos[k]] += C->save[k];
            C->b[k] = C->b0[k];
        }
    }
    for (size_t k = 0; k < L->n; k++) L->xg[L->pos[k]] += MG_OVERCORRECT * C->xg[C->pos[L->agg[k]]];
    gauss_seidel(L, 1);
}

void cut_mg_apply(cut_mg *mg, const double *r, double *z)
{
    mg_level *L = &mg->lev[0];
    memcpy(L->b, r, L->n * sizeof *r);
    vcycle(mg, 0);
    for (size_t k = 0; k < L->n; k++) z[k] = L->xg[L->pos[k]];
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
        free(mg->lev[l].own_pos);
        free(mg->lev[l].vals);
    }
    free(mg->chol);
    free(mg);
}
