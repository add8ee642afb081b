/* rembg's alpha matting on plain buffers (see matting.h).
 *
 * Closed-form alpha: the matting Laplacian L (3x3 windows, one per interior
 * pixel, as pymatting's cf_laplacian) is built only for the rows of unknown
 * pixels, 25 entries per row (the 5x5 neighbourhood a pixel shares windows
 * with). As pymatting's estimate_alpha_cf, the known pixels are hard
 * constraints: L_UU x = -L_UK is_fg. That system is solved with CG,
 * preconditioned by an aggregation-multigrid W-cycle (matting_mg.c; Jacobi
 * where that cannot be built), from x = the mask / 255, stopping as
 * pymatting's cg does (||b - A x|| < rtol ||b||). The CG vector work is split
 * into a fixed number of chunks of unknown pixels, the partial dot products
 * are summed in chunk order, and the preconditioner's bands of rows are fixed
 * by the image, so the result does not depend on the number of threads.
 *
 * Foreground: pymatting's multi-level method, level by level, each pixel's
 * 2x2 system solved in raster order in place; the three colour channels are
 * independent, so they run as three tasks. */
#include "matting.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "matting_mg.h"
#include "util.h"

static void run(threadpool *tp, int n, tp_task_fn fn, void *ctx)
{
    if (tp)
        cut_pool_run(tp, n, fn, ctx);
    else
        for (int t = 0; t < n; t++) fn(ctx, t, 0);
}

static int alloc_array(void **p, size_t n, size_t elem, char *err, size_t errlen, const char *what)
{
    size_t bytes;
    *p = NULL;
    if (!cut_mul_size(n, elem, &bytes))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "matting: %s size overflows", what);
    *p = malloc(bytes ? bytes : 1);
    if (!*p)
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "matting: out of memory (%s, %zu bytes)",
                        what, bytes);
    return 0;
}

static int check_dims(int w, int h, size_t stride, size_t min_stride_per_px, char *err,
                      size_t errlen)
{
    size_t row;
    if (w <= 0 || h <= 0)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "matting: bad size %dx%d", w, h);
    if (!cut_mul_size((size_t)w, min_stride_per_px, &row) || stride < row)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "matting: stride %zu too small for width %d",
                        stride, w);
    size_t n;
    if (!cut_mul_size(stride, (size_t)h, &n) || !cut_mul_size((size_t)w + 4, (size_t)h + 4, &n))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "matting: image size overflows");
    return 0;
}

/* ---------------------------------------------------------------- trimap */

/* Erodes src (0/1, w*h) with a square of n x n ones into dst, scipy's
 * binary_erosion: dst[y][x] = AND of src[y+dy][x+dx], dy, dx in
 * [-n/2, n-1-n/2], outside the image counting as `border`. tmp: w*h bytes,
 * zc: w+1 counts. */
static void erode_square(const uint8_t *src, uint8_t *dst, uint8_t *tmp, size_t *zc, int w, int h,
                         int n, int border)
{
    int lo = -(n / 2), hi = n - 1 - n / 2;
    /* Rows: prefix counts of zeros. */
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * w;
        zc[0] = 0;
        for (int x = 0; x < w; x++) zc[x + 1] = zc[x] + (s[x] == 0);
        for (int x = 0; x < w; x++) {
            int a = x + lo, b = x + hi;
            int out = a < 0 || b >= w;
            if (out && !border) {
                tmp[(size_t)y * w + x] = 0;
                continue;
            }
            if (a < 0) a = 0;
            if (b >= w) b = w - 1;
            tmp[(size_t)y * w + x] = zc[b + 1] == zc[a];
        }
    }
    /* Columns, one column at a time through zc (h+1 needed: zc has max(w,h)+1). */
    for (int x = 0; x < w; x++) {
        zc[0] = 0;
        for (int y = 0; y < h; y++) zc[y + 1] = zc[y] + (tmp[(size_t)y * w + x] == 0);
        for (int y = 0; y < h; y++) {
            int a = y + lo, b = y + hi;
            int out = a < 0 || b >= h;
            if (out && !border) {
                dst[(size_t)y * w + x] = 0;
                continue;
            }
            if (a < 0) a = 0;
            if (b >= h) b = h - 1;
            dst[(size_t)y * w + x] = zc[b + 1] == zc[a];
        }
    }
}

/* scipy's default structure (3x3 cross), one iteration. */
static void erode_cross(const uint8_t *src, uint8_t *dst, int w, int h, int border)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int v = src[i];
            v &= x > 0 ? src[i - 1] : border;
            v &= x < w - 1 ? src[i + 1] : border;
            v &= y > 0 ? src[i - (size_t)w] : border;
            v &= y < h - 1 ? src[i + (size_t)w] : border;
            dst[i] = (uint8_t)v;
        }
}

int cut_matting_trimap(const uint8_t *mask, int w, int h, size_t mask_stride, int af, int ab,
                       int ae, uint8_t *trimap, char *err, size_t errlen)
{
    int rc = check_dims(w, h, mask_stride, 1, err, errlen);
    if (rc) return rc;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *buf = NULL;
    size_t *zc = NULL;
    if ((rc = alloc_array((void **)&buf, n, 4, err, errlen, "trimap")) ||
        (rc = alloc_array((void **)&zc, (size_t)(w > h ? w : h) + 1, sizeof *zc, err, errlen,
                          "trimap"))) {
        free(buf);
        return rc;
    }
    uint8_t *fg = buf, *bg = buf + n, *tmp = buf + 2 * n, *ero = buf + 3 * n;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int m = mask[(size_t)y * mask_stride + x];
            fg[(size_t)y * w + x] = m > af;
            bg[(size_t)y * w + x] = m < ab;
        }
    memset(trimap, CUT_TRIMAP_UNKNOWN, n);
    if (ae > 0)
        erode_square(fg, ero, tmp, zc, w, h, ae, 0);
    else
        erode_cross(fg, ero, w, h, 0);
    for (size_t i = 0; i < n; i++)
        if (ero[i]) trimap[i] = CUT_TRIMAP_FG;
    if (ae > 0)
        erode_square(bg, ero, tmp, zc, w, h, ae, 1);
    else
        erode_cross(bg, ero, w, h, 1);
    for (size_t i = 0; i < n; i++)
        if (ero[i]) trimap[i] = CUT_TRIMAP_BG;
    free(zc);
    free(buf);
    return 0;
}

/* ------------------------------------------------------ closed-form alpha */

#define CHUNK 4096 /* unknown pixels per CG task */

typedef struct {
    double mu[3];
    double m[6]; /* inverse of (epsilon I + sum c c^T) / 9: 00 01 02 11 12 22 */
} win_stats;

typedef struct {
    const uint8_t *rgb;
    size_t stride;
    int w, h;
    const uint8_t *trimap;
    double eps;
    double lut[256];
    const size_t *row_start; /* compact index of row y's first unknown, h+1 */
    size_t *pos;             /* padded-grid position of each unknown */
    double *vals;            /* 25 per unknown: L entries, known columns zeroed;
                                for CG then 13: the centre and the 12 entries
                                after it in raster order (L is symmetric) */
    double *b;               /* right-hand side */
    double *invd;            /* 1 / L_ii */
    win_stats *ring;         /* per thread: 3 rows of w windows */
    int *ring_tag;           /* per thread: 3 */
    int band;                /* image rows per build task */
    /* CG */
    size_t n;
    int pw; /* padded width w + 4 */
    double *x, *r, *P;
    double *Y;    /* A p on the padded grid, 0 on the rows before each product */
    double *z; /* M^-1 r with the multigrid preconditioner; NULL: Jacobi */
    double *part; /* 2 per chunk */
    int cg_bh, cg_nb, cg_first; /* product bands: image rows each, count, colour */
    double *band_pap;           /* p.Ap per band */
    double alpha, beta;
} cf_ctx;

static inline double pix(const cf_ctx *c, int x, int y, int ch)
{
    return c->lut[c->rgb[(size_t)y * c->stride + 3 * (size_t)x + (size_t)ch]];
}

static void window_row(const cf_ctx *c, int cy, win_stats *row)
{
    for (int cx = 1; cx < c->w - 1; cx++) {
        double v[9][3], s[3] = {0, 0, 0};
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                for (int ch = 0; ch < 3; ch++) {
                    double p = pix(c, cx + dx - 1, cy + dy - 1, ch);
                    v[dy * 3 + dx][ch] = p;
                    s[ch] += p;
                }
        win_stats *st = &row[cx];
        double mu[3];
        for (int ch = 0; ch < 3; ch++) mu[ch] = st->mu[ch] = s[ch] / 9.0;
        double a00 = c->eps, a01 = 0, a02 = 0, a11 = c->eps, a12 = 0, a22 = c->eps;
        for (int k = 0; k < 9; k++) {
            double r0 = v[k][0] - mu[0], r1 = v[k][1] - mu[1], r2 = v[k][2] - mu[2];
            a00 += r0 * r0;
            a01 += r0 * r1;
            a02 += r0 * r2;
            a11 += r1 * r1;
            a12 += r1 * r2;
            a22 += r2 * r2;
        }
        a00 /= 9.0, a01 /= 9.0, a02 /= 9.0, a11 /= 9.0, a12 /= 9.0, a22 /= 9.0;
        double c00 = a11 * a22 - a12 * a12, c01 = a02 * a12 - a01 * a22,
               c02 = a01 * a12 - a02 * a11;
        double det = a00 * c00 + a01 * c01 + a02 * c02;
        double id = 1.0 / det;
        st->m[0] = c00 * id;
        st->m[1] = c01 * id;
        st->m[2] = c02 * id;
        st->m[3] = (a00 * a22 - a02 * a02) * id;
        st->m[4] = (a01 * a02 - a00 * a12) * id;
        st->m[5] = (a00 * a11 - a01 * a01) * id;
    }
}

static const win_stats *stats_row(cf_ctx *c, int thread, int cy)
{
    win_stats *base = c->ring + (size_t)thread * 3 * (size_t)c->w;
    int *tag = c->ring_tag + 3 * thread;
    int slot = cy % 3;
    if (tag[slot] != cy) {
        window_row(c, cy, base + (size_t)slot * c->w);
        tag[slot] = cy;
    }
    return base + (size_t)slot * c->w;
}

static void build_task(void *ctx, int task, int thread)
{
    cf_ctx *c = ctx;
    int w = c->w, h = c->h;
    int y0 = task * c->band, y1 = y0 + c->band < h ? y0 + c->band : h;
    for (int k = 0; k < 3; k++) c->ring_tag[3 * thread + k] = -1;
    for (int y = y0; y < y1; y++) {
        size_t k = c->row_start[y];
        if (k == c->row_start[y + 1]) continue;
        const win_stats *rows[3] = {NULL, NULL, NULL};
        for (int d = -1; d <= 1; d++)
            if (y + d >= 1 && y + d <= h - 2) rows[d + 1] = stats_row(c, thread, y + d);
        for (int x = 0; x < w; x++) {
            if (c->trimap[(size_t)y * w + x] != CUT_TRIMAP_UNKNOWN) continue;
            double *L = c->vals + k * 25;
            memset(L, 0, 25 * sizeof *L);
            double ii[3] = {pix(c, x, y, 0), pix(c, x, y, 1), pix(c, x, y, 2)};
            for (int wy = y - 1; wy <= y + 1; wy++) {
                const win_stats *row = rows[wy - y + 1];
                if (!row) continue;
                for (int wx = x - 1; wx <= x + 1; wx++) {
                    if (wx < 1 || wx > w - 2) continue;
                    const win_stats *st = &row[wx];
                    const double *m = st->m;
                    double c0 = ii[0] - st->mu[0], c1 = ii[1] - st->mu[1], c2 = ii[2] - st->mu[2];
                    double v0 = m[0] * c0 + m[1] * c1 + m[2] * c2;
                    double v1 = m[1] * c0 + m[3] * c1 + m[4] * c2;
                    double v2 = m[2] * c0 + m[4] * c1 + m[5] * c2;
                    for (int jy = wy - 1; jy <= wy + 1; jy++)
                        for (int jx = wx - 1; jx <= wx + 1; jx++) {
                            double t = v0 * (pix(c, jx, jy, 0) - st->mu[0]) +
                                       v1 * (pix(c, jx, jy, 1) - st->mu[1]) +
                                       v2 * (pix(c, jx, jy, 2) - st->mu[2]);
                            double val = (jx == x && jy == y ? 1.0 : 0.0) - (1.0 + t) / 9.0;
                            L[(jy - y + 2) * 5 + (jx - x + 2)] += val;
                        }
                }
            }
            /* Known columns move to the right-hand side: b = -L_UK is_fg. */
            double bk = 0;
            for (int oy = -2; oy <= 2; oy++)
                for (int ox = -2; ox <= 2; ox++) {
                    int jx = x + ox, jy = y + oy;
                    if (jx < 0 || jx >= w || jy < 0 || jy >= h) continue;
                    uint8_t t = c->trimap[(size_t)jy * w + jx];
                    if (t == CUT_TRIMAP_UNKNOWN) continue;
                    double *e = &L[(oy + 2) * 5 + ox + 2];
                    if (t == CUT_TRIMAP_FG) bk -= *e;
                    *e = 0;
                }
            c->b[k] = bk;
            c->pos[k] = (size_t)(y + 2) * (size_t)c->pw + (size_t)(x + 2);
            c->invd[k] = L[12] > 0 ? 1.0 / L[12] : 1.0;
            k++;
        }
    }
}

static inline void chunk_range(const cf_ctx *c, int task, size_t *a, size_t *b)
{
    *a = (size_t)task * CHUNK;
    *b = *a + CHUNK < c->n ? *a + CHUNK : c->n;
}

/* Y += A p over one band of image rows, from the upper half of L (13 values
 * a row): row k adds its upper entries' products to Y_k and, by symmetry,
 * a_kj p_k to each later Y_j, which is at most 2 image rows further. So
 * bands of >= 2 rows two apart write disjoint rows: the even bands run
 * together, then the odd ones; each band's p.Ap (row k: p_k (2 s_k - a_kk
 * p_k), s_k its upper sum) goes to band_pap. Half the coefficients of the
 * full 25-entry product are read. */
static void cg_matvec_band(void *ctx, int task, int thread)
{
    (void)thread;
    cf_ctx *c = ctx;
    int j = c->cg_first + 2 * task, y0 = j * c->cg_bh, y1 = y0 + c->cg_bh;
    if (y1 > c->h) y1 = c->h;
    const ptrdiff_t pw = c->pw;
    double pap = 0;
    for (size_t k = c->row_start[y0]; k < c->row_start[y1]; k++) {
        const double *u = c->vals + k * 13;
        const size_t q = c->pos[k];
        const double pk = c->P[q], *p1 = c->P + q + pw, *p2 = p1 + pw;
        double *yq = c->Y + q, *y1r = yq + pw, *y2r = y1r + pw;
        double s0 = u[0] * pk + u[1] * c->P[q + 1] + u[2] * c->P[q + 2];
        double s1 = u[3] * p1[-2] + u[4] * p1[-1] + u[5] * p1[0] + u[6] * p1[1] + u[7] * p1[2];
        double s2 = u[8] * p2[-2] + u[9] * p2[-1] + u[10] * p2[0] + u[11] * p2[1] + u[12] * p2[2];
        yq[1] += u[1] * pk, yq[2] += u[2] * pk;
        for (int i = 0; i < 5; i++) y1r[i - 2] += u[3 + i] * pk, y2r[i - 2] += u[8 + i] * pk;
        double sum = s0 + s1 + s2;
        yq[0] += sum;
        pap += pk * (2 * sum - u[0] * pk);
    }
    c->band_pap[j] = pap;
}

/* Y = A p (Y 0 on the rows before); returns p.Ap, summed in band order. */
static double cg_matvec(cf_ctx *c, threadpool *tp)
{
    for (c->cg_first = 0; c->cg_first < 2; c->cg_first++)
        run(tp, (c->cg_nb - c->cg_first + 1) / 2, cg_matvec_band, c);
    double pap = 0;
    for (int j = 0; j < c->cg_nb; j++) pap += c->band_pap[j];
    return pap;
}

/* x += alpha p, r -= alpha ap; part = (r.r, r.z) */
static void cg_update(void *ctx, int task, int thread)
{
    (void)thread;
    cf_ctx *c = ctx;
    size_t a, b;
    chunk_range(c, task, &a, &b);
    double al = c->alpha, rr = 0, rz = 0;
    for (size_t k = a; k < b; k++) {
        c->x[k] += al * c->P[c->pos[k]];
        double r = c->r[k] - al * c->Y[c->pos[k]];
        c->r[k] = r;
        rr += r * r;
        if (!c->z) rz += r * r * c->invd[k];
    }
    c->part[2 * task] = rr;
    c->part[2 * task + 1] = rz;
}

/* p = z + beta p */
static void cg_direction(void *ctx, int task, int thread)
{
    (void)thread;
    cf_ctx *c = ctx;
    size_t a, b;
    chunk_range(c, task, &a, &b);
    double be = c->beta;
    for (size_t k = a; k < b; k++) {
        double *p = &c->P[c->pos[k]];
        *p = (c->z ? c->z[k] : c->r[k] * c->invd[k]) + be * *p;
        c->Y[c->pos[k]] = 0; /* for the next product */
    }
}

int cut_matting_alpha_cf(const uint8_t *rgb, int w, int h, size_t stride, const uint8_t *trimap,
                         const uint8_t *guess, size_t guess_stride, double epsilon, threadpool *tp,
                         double *alpha, cut_matting_stats *stats, char *err, size_t errlen)
{
    int rc = check_dims(w, h, stride, 3, err, errlen);
    if (rc) return rc;
    size_t npx = (size_t)w * (size_t)h;
    int has_fg = 0, has_bg = 0;
    size_t *row_start = NULL;
    if ((rc = alloc_array((void **)&row_start, (size_t)h + 1, sizeof *row_start, err, errlen,
                          "rows")))
        return rc;
    size_t n = 0;
    for (int y = 0; y < h; y++) {
        row_start[y] = n;
        const uint8_t *t = trimap + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            n += t[x] == CUT_TRIMAP_UNKNOWN;
            has_fg |= t[x] == CUT_TRIMAP_FG;
            has_bg |= t[x] == CUT_TRIMAP_BG;
        }
    }
    row_start[h] = n;
    for (size_t i = 0; i < npx; i++) alpha[i] = trimap[i] == CUT_TRIMAP_FG ? 1.0 : 0.0;
    if (stats) stats->unknown = n, stats->iterations = 0, stats->rel_residual = 0;
    if (!has_fg || !has_bg || n == 0) {
        free(row_start);
        return CUT_MATTING_FALLBACK;
    }
    double t0 = cut_now_s();

    cf_ctx c;
    memset(&c, 0, sizeof c);
    c.rgb = rgb, c.stride = stride, c.w = w, c.h = h, c.trimap = trimap, c.eps = epsilon;
    for (int i = 0; i < 256; i++) c.lut[i] = (double)i / 255.0;
    c.row_start = row_start;
    c.n = n;
    c.pw = w + 4;
    int threads = tp ? cutout_pool_threads(tp) : 1;
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    size_t grid = (size_t)(w + 4) * (size_t)(h + 4), vals_n, ring_n;
    if (nchunks > (size_t)1 << 30 || !cut_mul_size(n, 25, &vals_n) ||
        !cut_mul_size((size_t)threads * 3, (size_t)w, &ring_n)) {
        free(row_start);
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "matting: system size overflows");
    }
    if ((rc = alloc_array((void **)&c.pos, n, sizeof *c.pos, err, errlen, "laplacian")) ||
        (rc = alloc_array((void **)&c.vals, vals_n, sizeof *c.vals, err, errlen, "laplacian")) ||
        (rc = alloc_array((void **)&c.b, n, 6 * sizeof(double), err, errlen, "cg vectors")) ||
        (rc = alloc_array((void **)&c.P, grid, 2 * sizeof *c.P, err, errlen, "cg grid")) ||
        (rc = alloc_array((void **)&c.part, nchunks, 2 * sizeof(double), err, errlen, "cg")) ||
        (rc = alloc_array((void **)&c.ring, ring_n, sizeof *c.ring, err, errlen, "windows")) ||
        (rc = alloc_array((void **)&c.ring_tag, (size_t)threads, 3 * sizeof(int), err, errlen,
                          "windows")))
        goto done;
    c.invd = c.b + n, c.x = c.b + 2 * n, c.r = c.b + 3 * n, c.Y = c.P + grid;
    /* Product bands: >= 2 image rows (the reach of a row's scatter), about
     * 16, fixed by the image so that the sums do not depend on threads. */
    c.cg_bh = (h + 15) / 16 < 2 ? 2 : (h + 15) / 16;
    c.cg_nb = (h + c.cg_bh - 1) / c.cg_bh;
    if ((rc = alloc_array((void **)&c.band_pap, (size_t)c.cg_nb, sizeof *c.band_pap, err, errlen,
                          "cg")))
        goto done;

    /* Build: bands of rows, a few per thread. */
    int ntask = threads * 8;
    if (ntask > h) ntask = h;
    c.band = (h + ntask - 1) / ntask;
    ntask = (h + c.band - 1) / c.band;
    run(tp, ntask, build_task, &c);
    double t1 = cut_now_s();

    /* The multigrid preconditioner; Jacobi where it cannot be built. */
    cut_mg *mg = NULL;
    char mg_err[128];
    if (cut_mg_build(n, w, h, c.pos, c.vals, tp, CUT_MG_PAR_MIN_ROWS, &mg, mg_err,
                     sizeof mg_err) == 0) {
        if ((rc = alloc_array((void **)&c.z, n, sizeof *c.z, err, errlen, "cg vectors"))) {
            cut_mg_free(mg);
            goto done;
        }
    }

    /* CG's product reads the upper half (centre and after) of each row:
     * compacted in place, the multigrid has its own copy. */
    for (size_t k = 0; k < n; k++) memmove(c.vals + k * 13, c.vals + k * 25 + 12, 13 * sizeof *c.vals);

    /* PCG from x0 = the mask scaled to [0, 1] (close to the answer, so
     * fewer iterations to the same ||r|| < rtol ||b||; 0 without a mask):
     * r = b - A x0, p = z = M^-1 r. */
    memset(c.P, 0, 2 * grid * sizeof *c.P); /* P and Y */
    for (size_t k = 0; k < n; k++) {
        size_t y = c.pos[k] / (size_t)c.pw - 2, x = c.pos[k] % (size_t)c.pw - 2;
        c.x[k] = guess ? guess[y * guess_stride + x] / 255.0 : 0.0;
        c.P[c.pos[k]] = c.x[k];
    }
    cg_matvec(&c, tp);
    double bb = 0, rz = 0;
    for (size_t k = 0; k < n; k++) {
        c.r[k] = c.b[k] - c.Y[c.pos[k]];
        c.Y[c.pos[k]] = 0;
        bb += c.b[k] * c.b[k];
    }
    if (mg) cut_mg_apply(mg, c.r, c.z);
    for (size_t k = 0; k < n; k++) {
        double z = mg ? c.z[k] : c.r[k] * c.invd[k];
        rz += c.r[k] * z;
        c.P[c.pos[k]] = z;
    }
    double norm_b = sqrt(bb), norm_r = norm_b;
    int it = 0, converged = 0;
    if (norm_b > 0) {
        for (; it < CUT_MATTING_MAXITER; it++) {
            c.alpha = rz / cg_matvec(&c, tp);
            run(tp, (int)nchunks, cg_update, &c);
            double rr = 0, rz_new = 0;
            for (size_t t = 0; t < nchunks; t++) rr += c.part[2 * t], rz_new += c.part[2 * t + 1];
            norm_r = sqrt(rr);
            if (norm_r < CUT_MATTING_RTOL * norm_b) {
                converged = 1;
                it++;
                break;
            }
            if (mg) rz_new = cut_mg_apply(mg, c.r, c.z);
            c.beta = rz_new / rz;
            rz = rz_new;
            run(tp, (int)nchunks, cg_direction, &c);
        }
    }
    if (stats) stats->mg_levels = mg ? cut_mg_levels(mg) : 0;
    cut_mg_free(mg);
    double t2 = cut_now_s();
    if (stats) {
        stats->iterations = it;
        stats->rel_residual = norm_b > 0 ? norm_r / norm_b : 0;
        stats->t_laplacian = t1 - t0;
        stats->t_cg = t2 - t1;
    }
    if (!converged) {
        rc = CUT_MATTING_FALLBACK;
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        size_t p = c.pos[k];
        size_t y = p / (size_t)c.pw - 2, x = p % (size_t)c.pw - 2;
        double v = c.x[k];
        alpha[y * (size_t)w + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    rc = 0;
done:
    free(c.z);
    free(c.band_pap);
    free(c.ring_tag);
    free(c.ring);
    free(c.part);
    free(c.P);
    free(c.b);
    free(c.vals);
    free(c.pos);
    free(row_start);
    return rc;
}

/* ------------------------------------------------------ ML foreground */

typedef struct {
    const uint8_t *rgb;
    size_t stride;
    int w0, h0;
    float lut[256];
    const float *alpha0; /* full-size alpha, float32 */
    /* current level */
    int w, h;
    const int *xs, *ys; /* level -> full-size nearest indices */
    float *alpha;       /* level alpha */
    float *F[3], *B[3]; /* level planes */
    int iters;
} ml_ctx;

static void ml_channel(void *ctx, int ch, int thread)
{
    (void)thread;
    ml_ctx *c = ctx;
    const int w = c->w, h = c->h;
    const float reg = 1e-5f, gw = 1.0f;
    float *F = c->F[ch], *B = c->B[ch];
    const float *al = c->alpha;
    static const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
    for (int it = 0; it < c->iters; it++)
        for (int y = 0; y < h; y++) {
            const uint8_t *src = c->rgb + (size_t)c->ys[y] * c->stride + (size_t)ch;
            for (int x = 0; x < w; x++) {
                float a0 = al[(size_t)y * w + x];
                double a1 = 1.0 - (double)a0;
                float a00 = a0 * a0;
                double a01 = (double)a0 * a1;
                double a11 = a1 * a1;
                float img = c->lut[src[3 * (size_t)c->xs[x]]];
                float b0 = a0 * img;
                float b1 = (float)(a1 * (double)img);
                for (int d = 0; d < 4; d++) {
                    int x2 = x + dx[d], y2 = y + dy[d];
                    x2 = x2 < 0 ? 0 : x2 > w - 1 ? w - 1 : x2;
                    y2 = y2 < 0 ? 0 : y2 > h - 1 ? h - 1 : y2;
                    size_t j = (size_t)y2 * w + x2;
                    float g = fabsf(a0 - al[j]);
                    float da = reg + gw * g;
                    a00 += da;
                    a11 += (double)da;
                    b0 += da * F[j];
                    b1 += da * B[j];
                }
                double det = (double)a00 * a11 - a01 * a01;
                double inv = 1.0 / det;
                double b00 = inv * a11, b01 = inv * -a01, b11 = inv * (double)a00;
                double fc = b00 * (double)b0 + b01 * (double)b1;
                double bc = b01 * (double)b0 + b11 * (double)b1;
                fc = fc < 0.0 ? 0.0 : fc > 1.0 ? 1.0 : fc;
                bc = bc < 0.0 ? 0.0 : bc > 1.0 ? 1.0 : bc;
                F[(size_t)y * w + x] = (float)fc;
                B[(size_t)y * w + x] = (float)bc;
            }
        }
}

int cut_matting_foreground_ml(const uint8_t *rgb, int w0, int h0, size_t stride,
                              const double *alpha, threadpool *tp, float *fg, char *err,
                              size_t errlen)
{
    int rc = check_dims(w0, h0, stride, 3, err, errlen);
    if (rc) return rc;
    size_t npx = (size_t)w0 * (size_t)h0;
    int mx = w0 > h0 ? w0 : h0;
    int n_levels = (int)ceil(log2((double)mx));
    if (n_levels < 1) n_levels = 1; /* a 1x1 image: one level of 1x1 */
    /* Level sizes grow; level n_levels is w0 x h0 and goes into `fg`, the
     * levels before alternate between a buffer of the previous level's size
     * and fg. */
    int wp = (int)nearbyint(pow((double)w0, (double)(n_levels - 1) / n_levels));
    int hp = (int)nearbyint(pow((double)h0, (double)(n_levels - 1) / n_levels));
    size_t nprev = (size_t)wp * (size_t)hp;
    float *alpha0 = NULL, *alev = NULL, *bg_full = NULL, *small = NULL;
    int *idx = NULL;
    if ((rc = alloc_array((void **)&alpha0, npx, sizeof(float), err, errlen, "foreground")) ||
        (rc = alloc_array((void **)&alev, npx, sizeof(float), err, errlen, "foreground")) ||
        (rc = alloc_array((void **)&bg_full, npx, 3 * sizeof(float), err, errlen, "foreground")) ||
        (rc = alloc_array((void **)&small, nprev, 6 * sizeof(float), err, errlen, "foreground")) ||
        (rc = alloc_array((void **)&idx, (size_t)w0 + (size_t)h0, sizeof(int), err, errlen,
                          "foreground")))
        goto done;
    ml_ctx c;
    memset(&c, 0, sizeof c);
    c.rgb = rgb, c.stride = stride, c.w0 = w0, c.h0 = h0, c.alpha0 = alpha0;
    for (int i = 0; i < 256; i++) c.lut[i] = (float)((double)i / 255.0);
    for (size_t i = 0; i < npx; i++) alpha0[i] = (float)alpha[i];

    /* Mean foreground / background colours, float32 sums in raster order. */
    float fm[3] = {0, 0, 0}, bm[3] = {0, 0, 0};
    long fcount = 0, bcount = 0;
    for (int y = 0; y < h0; y++)
        for (int x = 0; x < w0; x++) {
            float a = alpha0[(size_t)y * w0 + x];
            const uint8_t *p = rgb + (size_t)y * stride + 3 * (size_t)x;
            if ((double)a > 0.9) {
                for (int ch = 0; ch < 3; ch++) fm[ch] += c.lut[p[ch]];
                fcount++;
            }
            if ((double)a < 0.1) {
                for (int ch = 0; ch < 3; ch++) bm[ch] += c.lut[p[ch]];
                bcount++;
            }
        }
    for (int ch = 0; ch < 3; ch++) {
        fm[ch] = (float)((double)fm[ch] / ((double)fcount + 1e-5));
        bm[ch] = (float)((double)bm[ch] / ((double)bcount + 1e-5));
    }

    int w_prev = 1, h_prev = 1;
    float prevF1[3], prevB1[3];
    const float *pF[3], *pB[3];
    for (int ch = 0; ch < 3; ch++) {
        prevF1[ch] = fm[ch], prevB1[ch] = bm[ch];
        pF[ch] = &prevF1[ch], pB[ch] = &prevB1[ch];
    }
    int *xs = idx, *ys = idx + w0;
    for (int lv = 0; lv <= n_levels; lv++) {
        int w = (int)nearbyint(pow((double)w0, (double)lv / n_levels));
        int h = (int)nearbyint(pow((double)h0, (double)lv / n_levels));
        size_t nl = (size_t)w * (size_t)h;
        float *F[3], *B[3];
        if (lv == n_levels) {
            for (int ch = 0; ch < 3; ch++) F[ch] = fg + ch * npx, B[ch] = bg_full + ch * npx;
        } else if ((n_levels - lv) % 2 == 1) {
            for (int ch = 0; ch < 3; ch++) F[ch] = small + ch * nprev, B[ch] = small + (3 + ch) * nprev;
        } else {
            for (int ch = 0; ch < 3; ch++) F[ch] = fg + ch * nl, B[ch] = bg_full + ch * nl;
        }
        /* Nearest upsampling of the previous level (sources are smaller, and
         * live in the other buffer). */
        for (int y = 0; y < h; y++) {
            int sy = (int)((long long)y * h_prev / h);
            sy = sy > h_prev - 1 ? h_prev - 1 : sy;
            for (int x = 0; x < w; x++) {
                int sx = (int)((long long)x * w_prev / w);
                sx = sx > w_prev - 1 ? w_prev - 1 : sx;
                for (int ch = 0; ch < 3; ch++) {
                    F[ch][(size_t)y * w + x] = pF[ch][(size_t)sy * w_prev + sx];
                    B[ch][(size_t)y * w + x] = pB[ch][(size_t)sy * w_prev + sx];
                }
            }
        }
        for (int x = 0; x < w; x++) {
            long long s = (long long)x * w0 / w;
            xs[x] = (int)(s > w0 - 1 ? w0 - 1 : s);
        }
        for (int y = 0; y < h; y++) {
            long long s = (long long)y * h0 / h;
            ys[y] = (int)(s > h0 - 1 ? h0 - 1 : s);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                alev[(size_t)y * w + x] = alpha0[(size_t)ys[y] * w0 + xs[x]];
        c.w = w, c.h = h, c.xs = xs, c.ys = ys, c.alpha = alev;
        for (int ch = 0; ch < 3; ch++) c.F[ch] = F[ch], c.B[ch] = B[ch];
        c.iters = (w <= 32 && h <= 32) ? 10 : 2;
        run(tp, 3, ml_channel, &c);
        for (int ch = 0; ch < 3; ch++) pF[ch] = F[ch], pB[ch] = B[ch];
        w_prev = w, h_prev = h;
    }
    rc = 0;
done:
    free(idx);
    free(small);
    free(bg_full);
    free(alev);
    free(alpha0);
    return rc;
}

/* ------------------------------------------------------ the whole cutout */

static inline uint8_t to_u8(double v)
{
    v *= 255.0;
    if (!(v > 0.0)) return 0;
    if (v > 255.0) return 255;
    return (uint8_t)v;
}

int cut_alpha_matting(const uint8_t *rgb, int w, int h, size_t stride, const uint8_t *mask,
                      size_t mask_stride, int af, int ab, int ae, threadpool *tp,
                      uint8_t *out_rgba, size_t out_stride, cut_matting_stats *stats, char *err,
                      size_t errlen)
{
    int rc;
    if ((rc = check_dims(w, h, stride, 3, err, errlen)) ||
        (rc = check_dims(w, h, mask_stride, 1, err, errlen)) ||
        (rc = check_dims(w, h, out_stride, 4, err, errlen)))
        return rc;
    if (!rgb || !mask || !out_rgba)
        return cut_fail(err, errlen, CUTOUT_E_ARG, "matting: NULL buffer");
    size_t npx = (size_t)w * (size_t)h;
    uint8_t *trimap = NULL;
    double *alpha = NULL;
    float *fg = NULL;
    cut_matting_stats st;
    memset(&st, 0, sizeof st);
    double t0 = cut_now_s();
    if ((rc = alloc_array((void **)&trimap, npx, 1, err, errlen, "trimap")) ||
        (rc = alloc_array((void **)&alpha, npx, sizeof *alpha, err, errlen, "alpha")) ||
        (rc = alloc_array((void **)&fg, npx, 3 * sizeof *fg, err, errlen, "foreground")))
        goto done;
    if ((rc = cut_matting_trimap(mask, w, h, mask_stride, af, ab, ae, trimap, err, errlen)))
        goto done;
    st.t_trimap = cut_now_s() - t0;
    if ((rc = cut_matting_alpha_cf(rgb, w, h, stride, trimap, mask, mask_stride,
                                   CUT_MATTING_EPSILON, tp, alpha, &st, err, errlen)))
        goto done;
    double t1 = cut_now_s();
    if ((rc = cut_matting_foreground_ml(rgb, w, h, stride, alpha, tp, fg, err, errlen))) goto done;
    st.t_foreground = cut_now_s() - t1;
    for (int y = 0; y < h; y++) {
        uint8_t *o = out_rgba + (size_t)y * out_stride;
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            o[4 * x + 0] = to_u8((double)fg[i]);
            o[4 * x + 1] = to_u8((double)fg[npx + i]);
            o[4 * x + 2] = to_u8((double)fg[2 * npx + i]);
            o[4 * x + 3] = to_u8(alpha[i]);
        }
    }
done:
    if (stats) *stats = st;
    free(fg);
    free(alpha);
    free(trimap);
    return rc;
}
