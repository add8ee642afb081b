/* Winograd F(4×4, 3×3) transforms on WINO_GROUP lanes (one tile per lane),
 * written with GCC vector extensions so that one source serves the portable
 * build (cpu_winograd.c, SSE2) and the AVX2 build (cpu_winograd_avx2.c).
 * Included only by those two files; everything here is static inline.
 *
 * Matrices (Lavin & Gray 2016, points 0, ±1, ±2, ∞):
 *   Bᵀ = [4  0 -5  0 1 0]      Aᵀ = [1 1  1 1  1 0]
 *        [0 -4 -4  1 1 0]           [0 1 -1 2 -2 0]
 *        [0  4 -4 -1 1 0]           [0 1  1 4  4 0]
 *        [0 -2 -1  2 1 0]           [0 1 -1 8 -8 1]
 *        [0  2 -1 -2 1 0]
 *        [0  4  0 -5 0 1]
 * V = Bᵀ·d·B per 6×6 input patch d; Y = Aᵀ·M·A per 6×6 product M. */
#ifndef CUTOUT_CPU_WINOGRAD_LANES_H
#define CUTOUT_CPU_WINOGRAD_LANES_H

#include <string.h>

#include "cpu_winograd.h"

typedef float wv __attribute__((vector_size(32)));
typedef int wvi __attribute__((vector_size(32)));

#define WV_ALIGNED __attribute__((aligned(32)))

/* Unaligned access as the intrinsics headers do it. Macros rather than
 * functions: a vector passed or returned by value in the portable build
 * (no AVX) draws GCC's ABI note whenever it is not inlined. */
typedef float wv_u __attribute__((vector_size(32), aligned(4), may_alias));
#define wv_load(p) ((wv) * (const wv_u *)(p))
#define wv_store(p, v) (*(wv_u *)(p) = (v))
#define wv_splat(x) ((wv){(x), (x), (x), (x), (x), (x), (x), (x)})
/* max(x, 0) that keeps NaN, as the GEMM epilogue does (x: a variable). */
#define wv_relu(x) ((wv)((wvi)(x) & ~((x) < wv_splat(0.0f))))

/* o = Bᵀ·d for one 6-vector (lane-wise). */
static inline void wino_bt(const wv d[6], wv o[6])
{
    wv t0 = d[4] - 4.0f * d[2], t1 = d[3] - 4.0f * d[1];
    wv t2 = d[4] - d[2], t3 = 2.0f * (d[3] - d[1]);
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = t0 + t1;
    o[2] = t0 - t1;
    o[3] = t2 + t3;
    o[4] = t2 - t3;
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* o = Aᵀ·m for one 6-vector. */
static inline void wino_at(const wv m[6], wv o[4])
{
    wv s12 = m[1] + m[2], d12 = m[1] - m[2];
    wv s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = m[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + m[5];
}

/* Bᵀ·x·B of x[r][c] (6×6), stored to V[(r·6+c)·ps]. */
static inline void wino_input_2d(wv x[6][6], float *V, size_t ps)
{
    wv col[6], t[6][6];
    for (int c = 0; c < 6; c++) {
        for (int r = 0; r < 6; r++) col[r] = x[r][c];
        wv o[6];
        wino_bt(col, o);
        for (int r = 0; r < 6; r++) t[r][c] = o[r];
    }
    for (int r = 0; r < 6; r++) {
        wv o[6];
        wino_bt(t[r], o);
        for (int c = 0; c < 6; c++) wv_store(V + (size_t)(r * 6 + c) * ps, o[c]);
    }
}

/* Aᵀ·m·A of m[r·6+c] (loaded from M[(r·6+c)·ps]) plus bias, ReLU: y[y][x]. */
static inline void wino_output_2d(const float *M, size_t ps, float bias, int relu, wv y[4][4])
{
    wv z[4][6];
    for (int c = 0; c < 6; c++) {
        wv col[6], o[4];
        for (int r = 0; r < 6; r++) col[r] = wv_load(M + (size_t)(r * 6 + c) * ps);
        wino_at(col, o);
        for (int i = 0; i < 4; i++) z[i][c] = o[i];
    }
    for (int i = 0; i < 4; i++) {
        wino_at(z[i], y[i]);
        for (int j = 0; j < 4; j++) {
            y[i][j] += wv_splat(bias);
            if (relu) y[i][j] = wv_relu(y[i][j]);
        }
    }
}

static inline const float *wino_in_plane(const wino_io *io, int img, int ci)
{
    size_t plane = (size_t)io->ih * io->iw;
    return ci < io->ca ? io->a + (size_t)img * io->a_img + (size_t)ci * plane
                       : io->b + (size_t)img * io->b_img + (size_t)(ci - io->ca) * plane;
}

/* [lo, hi) of the k < n with 0 <= base + k·d < size. */
static inline void wino_valid_range(int base, int d, int n, int size, int *lo, int *hi)
{
    int l = 0, h = n;
    while (l < n && base + l * d < 0) l++;
    while (h > l && base + (h - 1) * d >= size) h--;
    *lo = l;
    *hi = h;
}

/* The lane-gathering input path, split so that a caller can interleave it
 * with other work per channel: set up once per group, then one channel at
 * a time. */
typedef struct {
    float P[36][WINO_GROUP] WV_ALIGNED; /* the current channel's patches */
    int n;
    int r0[WINO_GROUP], r1[WINO_GROUP], c0[WINO_GROUP], c1[WINO_GROUP];
} wino_gather;

static inline void wino_gather_init(wino_gather *g, const wino_io *io, const wino_lane *lanes,
                                    int n)
{
    memset(g->P, 0, sizeof g->P); /* entries outside the plane stay zero for every channel */
    g->n = n;
    for (int l = 0; l < n; l++) {
        wino_valid_range(lanes[l].oy0 - io->pad, io->d, 6, io->ih, &g->r0[l], &g->r1[l]);
        wino_valid_range(lanes[l].ox0 - io->pad, io->d, 6, io->iw, &g->c0[l], &g->c1[l]);
    }
}

/* Gathers channel ci's patches and stores their transforms to
 * V[p·ps + lane] (V already offset to the channel and group). */
static inline void wino_gather_channel(wino_gather *g, const wino_io *io, const wino_lane *lanes,
                                       int ci, float *V, size_t ps)
{
    int d = io->d;
    for (int l = 0; l < g->n; l++) {
        const float *src = wino_in_plane(io, lanes[l].img, ci);
        int iy0 = lanes[l].oy0 - io->pad, ix0 = lanes[l].ox0 - io->pad;
        for (int r = g->r0[l]; r < g->r1[l]; r++) {
            const float *row = src + (size_t)(iy0 + r * d) * io->iw;
            for (int c = g->c0[l]; c < g->c1[l]; c++) g->P[r * 6 + c][l] = row[ix0 + c * d];
        }
    }
    wv x[6][6];
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) x[r][c] = wv_load(g->P[r * 6 + c]);
    wino_input_2d(x, V, ps);
}

/* The lane-scattering output path: per group, then per output channel. */
typedef struct {
    int n;
    int y1[WINO_GROUP], x1[WINO_GROUP]; /* in-plane rows and columns of each tile */
} wino_scatter;

static inline void wino_scatter_init(wino_scatter *s, const wino_io *io, const wino_lane *lanes,
                                     int n)
{
    int lo;
    s->n = n;
    for (int l = 0; l < n; l++) {
        wino_valid_range(lanes[l].oy0, io->d, 4, io->oh, &lo, &s->y1[l]);
        wino_valid_range(lanes[l].ox0, io->d, 4, io->ow, &lo, &s->x1[l]);
    }
}

/* Output transform of channel co (M offset to the channel and group), then
 * each tile's in-plane pixels one by one. */
static inline void wino_scatter_channel(const wino_scatter *s, const wino_io *io,
                                        const wino_lane *lanes, int co, const float *M, size_t ps)
{
    float Y[16][WINO_GROUP] WV_ALIGNED;
    int d = io->d;
    size_t plane = (size_t)io->oh * io->ow;
    wv y[4][4];
    wino_output_2d(M, ps, io->bias[co], io->relu, y);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) wv_store(Y[i * 4 + j], y[i][j]);
    for (int l = 0; l < s->n; l++) {
        size_t at = (size_t)lanes[l].oy0 * io->ow + (size_t)lanes[l].ox0;
        float *o = io->dst + (size_t)lanes[l].img * io->dst_img + (size_t)co * plane + at;
        const float *res =
            io->res ? io->res + (size_t)lanes[l].img * io->res_img + (size_t)co * plane + at : NULL;
        for (int i = 0; i < s->y1[l]; i++)
            for (int j = 0; j < s->x1[l]; j++) {
                size_t k = (size_t)(i * d) * io->ow + (size_t)(j * d);
                o[k] = res ? Y[i * 4 + j][l] + res[k] : Y[i * 4 + j][l];
            }
    }
}

#endif
