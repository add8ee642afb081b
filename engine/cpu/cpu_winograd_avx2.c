/* AVX2 Winograd transforms (compiled with -mavx2 -mfma; called only when the
 * CPU has both).
 *
 * The common case, eight horizontally adjacent tiles of an undilated conv
 * (a "row group"), runs on whole rows: the vertical transform on contiguous
 * columns, then 4×4 transposes put one tile per lane for the horizontal one
 * (and the reverse on output, so that stores are contiguous rows).
 * Other groups (dilated convs, groups that wrap to the next tile row or
 * cross the plane's right or bottom edge on output) take the lane-gathering
 * path of cpu_winograd_lanes.h, compiled here for AVX2. Both groups of a
 * block are done per channel, so that each channel's rows, and each output
 * channel's 36 GEMM results, are fetched once. */
#include "cpu_winograd.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cpu_winograd_lanes.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Channels ahead that the input transform prefetches: the planes are far
 * apart and each visit reads six short rows, a pattern the hardware
 * prefetchers do not follow. */
#ifndef WINO_PREFETCH
#define WINO_PREFETCH 2
#endif
#ifndef WINO_PREFETCH_HINT
#define WINO_PREFETCH_HINT _MM_HINT_T0
#endif

/* Eight tiles side by side in one row of one image, undilated. */
static int row_group(const wino_io *io, const wino_lane *l, int n)
{
    if (io->d != 1 || n != WINO_GROUP) return 0;
    for (int i = 1; i < WINO_GROUP; i++)
        if (l[i].img != l[0].img || l[i].oy0 != l[0].oy0 || l[i].ox0 != l[0].ox0 + 4 * i)
            return 0;
    return 1;
}

/* o = Bᵀ·d (see cpu_winograd_lanes.h), with FMAs. */
static ALWAYS_INLINE void bt6(const __m256 d[6], __m256 o[6])
{
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
    __m256 t0 = _mm256_fnmadd_ps(c4, d[2], d[4]); /* d4 - 4 d2 */
    __m256 t1 = _mm256_fnmadd_ps(c4, d[1], d[3]); /* d3 - 4 d1 */
    __m256 t2 = _mm256_sub_ps(d[4], d[2]);
    __m256 t3 = _mm256_sub_ps(d[3], d[1]);
    o[0] = _mm256_fmadd_ps(c4, d[0], _mm256_fnmadd_ps(c5, d[2], d[4]));
    o[1] = _mm256_add_ps(t0, t1);
    o[2] = _mm256_sub_ps(t0, t1);
    o[3] = _mm256_fmadd_ps(c2, t3, t2);
    o[4] = _mm256_fnmadd_ps(c2, t3, t2);
    o[5] = _mm256_fmadd_ps(c4, d[1], _mm256_fnmadd_ps(c5, d[3], d[5]));
}

/* o = Aᵀ·m. */
static ALWAYS_INLINE void at6(const __m256 m[6], __m256 o[4])
{
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c8 = _mm256_set1_ps(8.0f);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_fmadd_ps(c2, d34, d12);
    o[2] = _mm256_fmadd_ps(c4, s34, s12);
    o[3] = _mm256_fmadd_ps(c8, d34, _mm256_add_ps(d12, m[5]));
}

/* A 4×4 transpose in each 128-bit half. v[k] holds tiles 2k, 2k+1 (4
 * columns each); p[c] gets column c of the tiles in ROW_ORDER: lanes 0-3
 * tiles 0, 2, 4, 6 and lanes 4-7 tiles 1, 3, 5, 7. Lanes are independent
 * GEMM columns, so a row group keeps this order from its input transform
 * to its output transform and saves the cross-half shuffles. */
static ALWAYS_INLINE void deinterleave4(const __m256 v[4], __m256 p[4])
{
    __m256 u0 = _mm256_unpacklo_ps(v[0], v[1]), u1 = _mm256_unpackhi_ps(v[0], v[1]);
    __m256 u2 = _mm256_unpacklo_ps(v[2], v[3]), u3 = _mm256_unpackhi_ps(v[2], v[3]);
    p[0] = _mm256_shuffle_ps(u0, u2, 0x44);
    p[1] = _mm256_shuffle_ps(u0, u2, 0xee);
    p[2] = _mm256_shuffle_ps(u1, u3, 0x44);
    p[3] = _mm256_shuffle_ps(u1, u3, 0xee);
}

/* The inverse (the same transposes): p[c] = column c in ROW_ORDER ->
 * v[k] = tiles 2k, 2k+1. */
static ALWAYS_INLINE void interleave4(const __m256 p[4], __m256 v[4]) { deinterleave4(p, v); }

/* Lane l of a row group holds tile ROW_ORDER[l]. */
static const int ROW_ORDER[WINO_GROUP] = {0, 2, 4, 6, 1, 3, 5, 7};

/* A row group's input geometry: columns ix0 .. ix0+33 feed the eight
 * tiles; five vectors read 40. Rows outside the plane read zeros from pad;
 * when the columns cross an edge of the plane every row is first copied,
 * masked to the plane's columns, into pad. */
typedef struct {
    int img, iy0, ix0, inside; /* inside: every row and column in the plane */
    int row_in[6];             /* input row r inside the plane */
    __m256i mask[5];
    float pad[6][40] __attribute__((aligned(32)));
} row_in;

static void row_in_init(row_in *g, const wino_io *io, const wino_lane *l)
{
    g->img = l->img;
    g->iy0 = l->oy0 - io->pad;
    g->ix0 = l->ox0 - io->pad;
    int cols = g->ix0 >= 0 && g->ix0 + 40 <= io->iw;
    g->inside = cols;
    for (int r = 0; r < 6; r++) {
        g->row_in[r] = g->iy0 + r >= 0 && g->iy0 + r < io->ih;
        g->inside = g->inside && g->row_in[r];
    }
    for (int v = 0; v < 5; v++) {
        __m256i x = _mm256_add_epi32(_mm256_set1_epi32(g->ix0 + 8 * v),
                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        g->mask[v] = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), x),
                                         _mm256_cmpgt_epi32(_mm256_set1_epi32(io->iw), x));
    }
    memset(g->pad, 0, sizeof g->pad); /* rows outside the plane stay zero */
}

static ALWAYS_INLINE void row_in_prefetch(const row_in *g, const wino_io *io, int ci)
{
    int x = g->ix0 > 0 ? g->ix0 : 0;
    const char *p = (const char *)(wino_in_plane(io, g->img, ci) + x);
    for (int r = 0; r < 6; r++)
        if (g->row_in[r]) {
            const char *q = p + (size_t)(g->iy0 + r) * io->iw * sizeof(float);
            _mm_prefetch(q, WINO_PREFETCH_HINT);
            _mm_prefetch(q + 64, WINO_PREFETCH_HINT);
            _mm_prefetch(q + 128, WINO_PREFETCH_HINT);
            _mm_prefetch(q + 159, WINO_PREFETCH_HINT);
        }
}

/* The six input rows of channel ci, each at its first column. */
static ALWAYS_INLINE void row_in_rows(row_in *g, const wino_io *io, int ci, const float *rp[6])
{
    const float *src = wino_in_plane(io, g->img, ci) + g->ix0;
    if (g->inside) {
        for (int r = 0; r < 6; r++) rp[r] = src + (size_t)(g->iy0 + r) * io->iw;
        return;
    }
    int cols = g->ix0 >= 0 && g->ix0 + 40 <= io->iw;
    for (int r = 0; r < 6; r++) {
        rp[r] = g->pad[r];
        if (!g->row_in[r]) continue;
        const float *row = src + (ptrdiff_t)(g->iy0 + r) * io->iw;
        if (cols) {
            rp[r] = row;
        } else {
            for (int v = 0; v < 5; v++)
                _mm256_store_ps(g->pad[r] + 8 * v, _mm256_maskload_ps(row + 8 * v, g->mask[v]));
        }
    }
}

/* One channel of a row group: V[(r·6+c)·ps + lane]. */
static ALWAYS_INLINE void row_in_channel(row_in *g, const wino_io *io, int ci, float *V, size_t ps)
{
    const float *rp[6];
    row_in_rows(g, io, ci, rp);
    __m256 t[6][5];
#pragma GCC unroll 5
    for (int v = 0; v < 5; v++) {
        __m256 x[6], o[6];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) x[r] = _mm256_loadu_ps(rp[r] + 8 * v);
        bt6(x, o);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) t[r][v] = o[r];
    }
    /* lane -> the lane of the next tile in ROW_ORDER (tile 8: lane 7, patched) */
    const __m256i next = _mm256_setr_epi32(4, 5, 6, 7, 1, 2, 3, 0);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        __m256 p[6], o[6];
        deinterleave4(t[r], p);
        /* Columns 4, 5 of a tile are columns 0, 1 of the next; tile 8's
         * are lanes 0, 1 of the fifth vector. */
        __m256 e = t[r][4];
        p[4] = _mm256_blend_ps(_mm256_permutevar8x32_ps(p[0], next),
                               _mm256_permutevar8x32_ps(e, _mm256_setzero_si256()), 0x80);
        p[5] = _mm256_blend_ps(_mm256_permutevar8x32_ps(p[1], next),
                               _mm256_permutevar8x32_ps(e, _mm256_set1_epi32(1)), 0x80);
        bt6(p, o);
#pragma GCC unroll 6
        for (int c = 0; c < 6; c++) _mm256_storeu_ps(V + (size_t)(r * 6 + c) * ps, o[c]);
    }
}

void cut_wino_input_avx2(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    int fast[2];
    row_in rg[2];
    wino_gather gg[2];
    for (int k = 0; k < 2; k++) {
        const wino_lane *l = lanes + k * WINO_GROUP;
        int nk = n - k * WINO_GROUP;
        nk = nk < 0 ? 0 : nk > WINO_GROUP ? WINO_GROUP : nk;
        fast[k] = row_group(io, l, nk);
        if (fast[k])
            row_in_init(&rg[k], io, l);
        else
            wino_gather_init(&gg[k], io, l, nk); /* nk = 0: zeros for the GEMM */
    }
    for (int ci = 0; ci < io->cin; ci++) {
        for (int k = 0; k < 2; k++) {
            float *v = V + (size_t)ci * WINO_LANES + k * WINO_GROUP;
            if (fast[k]) {
                if (ci + WINO_PREFETCH < io->cin) row_in_prefetch(&rg[k], io, ci + WINO_PREFETCH);
                row_in_channel(&rg[k], io, ci, v, ps);
            } else {
                wino_gather_channel(&gg[k], io, lanes + k * WINO_GROUP, ci, v, ps);
            }
        }
    }
}

/* One output channel of a row group entirely inside the plane: transform,
 * bias, ReLU, residual, four rows of 32 contiguous pixels. */
static ALWAYS_INLINE void row_out_channel(const wino_io *io, const float *M, size_t ps, float bias,
                                          float *o, const float *res, int stream)
{
    __m256 z[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        __m256 m[6];
#pragma GCC unroll 6
        for (int c = 0; c < 6; c++) m[c] = _mm256_loadu_ps(M + (size_t)(r * 6 + c) * ps);
        at6(m, z[r]);
    }
    __m256 y[4][4]; /* y[i][x] */
#pragma GCC unroll 4
    for (int x = 0; x < 4; x++) {
        __m256 col[6], out[4];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) col[r] = z[r][x];
        at6(col, out);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) y[i][x] = out[i];
    }
    __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m256 v[4];
#pragma GCC unroll 4
        for (int x = 0; x < 4; x++) {
            y[i][x] = _mm256_add_ps(y[i][x], b);
            /* max(0, x) keeps NaN, as the GEMM epilogue does */
            if (io->relu) y[i][x] = _mm256_max_ps(zero, y[i][x]);
        }
        interleave4(y[i], v);
        float *orow = o + (size_t)i * io->ow;
        const float *rrow = res ? res + (size_t)i * io->ow : NULL;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m256 x = v[k];
            if (rrow) x = _mm256_add_ps(x, _mm256_loadu_ps(rrow + 8 * k));
            if (stream)
                _mm256_stream_ps(orow + 8 * k, x);
            else
                _mm256_storeu_ps(orow + 8 * k, x);
        }
    }
}

void cut_wino_output_avx2(const wino_io *io, const wino_lane *lanes, int n, const float *M, int co0,
                      int co1)
{
    int groups = (n + WINO_GROUP - 1) / WINO_GROUP, fast[2];
    wino_scatter sg[2];
    wino_lane ordered[2][WINO_GROUP]; /* a row group's lanes, in ROW_ORDER */
    const wino_lane *gl[2];
    for (int k = 0; k < groups; k++) {
        const wino_lane *l = lanes + k * WINO_GROUP;
        int nk = n - k * WINO_GROUP > WINO_GROUP ? WINO_GROUP : n - k * WINO_GROUP;
        int rg = row_group(io, l, nk);
        fast[k] = rg && l->oy0 + 4 <= io->oh && l->ox0 + 32 <= io->ow;
        gl[k] = l;
        if (rg) {
            for (int i = 0; i < WINO_GROUP; i++) ordered[k][i] = l[ROW_ORDER[i]];
            gl[k] = ordered[k];
        }
        if (!fast[k]) wino_scatter_init(&sg[k], io, gl[k], nk);
    }
    size_t plane = (size_t)io->oh * io->ow;
    for (int co = co0; co < co1; co++)
        for (int k = 0; k < groups; k++) {
            const wino_lane *l = gl[k];
            const float *m = M + (size_t)co * WINO_M_CO + k * WINO_GROUP;
            if (!fast[k]) {
                wino_scatter_channel(&sg[k], io, l, co, m, WINO_LANES);
                continue;
            }
            size_t at = (size_t)co * plane + (size_t)l->oy0 * io->ow + (size_t)l->ox0;
            float *o = io->dst + (size_t)l->img * io->dst_img + at;
            const float *res = io->res ? io->res + (size_t)l->img * io->res_img + at : NULL;
            /* rows of 32 floats: aligned when the plane and row are */
            if (io->stream && ((uintptr_t)o & 31) == 0 && io->ow % 8 == 0)
                row_out_channel(io, m, WINO_LANES, io->bias[co], o, res, 1);
            else
                row_out_channel(io, m, WINO_LANES, io->bias[co], o, res, 0);
        }
    if (io->stream) _mm_sfence(); /* order the streamed rows before the pool's hand-off */
}

#else
/* Not x86-64 or no AVX2 flags: cpu_winograd.c never calls these. */
void cut_wino_input_avx2(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    cut_wino_input_portable(io, lanes, n, V, ps);
}
void cut_wino_output_avx2(const wino_io *io, const wino_lane *lanes, int n, const float *M, int co0,
                      int co1)
{
    cut_wino_output_portable(io, lanes, n, M, co0, co1);
}
#endif
