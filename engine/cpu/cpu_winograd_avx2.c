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
#define WS_V __m256
#define WS(op) _mm256_##op
#define WS_LANES 8
/* bt6, at6, transpose4 (v[k]: tiles 2k, 2k+1 -> lanes 0-3 tiles 0, 2, 4, 6
 * and lanes 4-7 tiles 1, 3, 5, 7), row_out_channel */
#include "cpu_winograd_simd.h"

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
        transpose4(t[r], p);
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
            const float *m = M + (size_t)co * io->m_co + k * WINO_GROUP;
            if (!fast[k]) {
                wino_scatter_channel(&sg[k], io, l, co, m, io->m_pos);
                continue;
            }
            size_t at = (size_t)co * plane + (size_t)l->oy0 * io->ow + (size_t)l->ox0;
            float *o = io->dst + (size_t)l->img * io->dst_img + at;
            const float *res = io->res ? io->res + (size_t)l->img * io->res_img + at : NULL;
            /* rows of 32 floats: aligned when the plane and row are */
            if (io->stream && ((uintptr_t)o & 31) == 0 && io->ow % 8 == 0)
                row_out_channel(io, m, io->m_pos, io->bias[co], o, res, 1);
            else
                row_out_channel(io, m, io->m_pos, io->bias[co], o, res, 0);
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
