/* AVX-512 Winograd transforms (compiled with -mavx512f ...; called only when
 * the CPU has AVX-512 F/BW/VL/DQ).
 *
 * A block whose 16 tiles lie side by side in one tile row of an undilated
 * conv (a "row block": planes 64·k wide, e.g. every 320-wide plane) runs on
 * whole rows of 64 outputs: the vertical transform on contiguous columns
 * (five zmm per input row, masked at the plane's edges: masked lanes are
 * never read, so no padded copy is needed), then a 4×4 transpose in each
 * 128-bit lane puts one tile per zmm lane for the horizontal transform, and
 * the reverse on output, so that stores are rows of 64 pixels. Any other
 * undilated block (tile rows that are not a multiple of 16 tiles: planes
 * 160, 80, 40 ... wide, whose blocks run on into the next tile row; blocks
 * crossing the right or bottom edge; a short last block) is a "segmented
 * block": runs of tiles side by side, each vector's lanes loaded and stored
 * under masks from the run that holds them, the same arithmetic lane for
 * lane, so the same bits as a row block. Dilated convs take the AVX2
 * transforms. */
#include "cpu_winograd.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)

#include <immintrin.h>
#include <stdint.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define WS_V __m512
#define WS(op) _mm512_##op
#define WS_LANES 16
/* bt6, at6, transpose4 (v[k]: tiles 4k .. 4k+3, tile 4k+j in 128-bit lane
 * j -> lane 4j+i holds tile 4i+j), row_out_channel */
#include "cpu_winograd_simd.h"

/* Channels ahead that the input transform prefetches (see the AVX2 file). */
#define WINO512_PREFETCH 2

/* Sixteen tiles side by side in one row of one image, undilated. */
static int row_block(const wino_io *io, const wino_lane *l, int n)
{
    if (io->d != 1 || n != WINO_LANES) return 0;
    for (int i = 1; i < WINO_LANES; i++)
        if (l[i].img != l[0].img || l[i].oy0 != l[0].oy0 || l[i].ox0 != l[0].ox0 + 4 * i)
            return 0;
    return 1;
}

/* Lane l of a block holds tile {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3,
 * 7, 11, 15}[l] (transpose4's order), row block or segmented, from the
 * input transform to the output transform. */

/* A row block's input geometry: columns ix0 .. ix0+65 feed the 16 tiles,
 * read as five zmm per row under masks that keep to the plane. */
typedef struct {
    int img, iy0, ix0;
    int row_in[6];
    __mmask16 mask[5];
} row_in;

static void row_in_init(row_in *g, const wino_io *io, const wino_lane *l)
{
    g->img = l->img;
    g->iy0 = l->oy0 - io->pad;
    g->ix0 = l->ox0 - io->pad;
    for (int r = 0; r < 6; r++) g->row_in[r] = g->iy0 + r >= 0 && g->iy0 + r < io->ih;
    for (int v = 0; v < 5; v++) {
        unsigned m = 0;
        int width = v < 4 ? 16 : 2; /* the fifth vector: columns 64, 65 */
        for (int x = 0; x < width; x++) {
            int col = g->ix0 + 16 * v + x;
            if (col >= 0 && col < io->iw) m |= 1u << x;
        }
        g->mask[v] = (__mmask16)m;
    }
}

static ALWAYS_INLINE const float *in_plane(const wino_io *io, int img, int ci)
{
    size_t plane = (size_t)io->ih * io->iw;
    return ci < io->ca ? io->a + (size_t)img * io->a_img + (size_t)ci * plane
                       : io->b + (size_t)img * io->b_img + (size_t)(ci - io->ca) * plane;
}

static ALWAYS_INLINE void row_in_prefetch(const row_in *g, const wino_io *io, int ci)
{
    int x = g->ix0 > 0 ? g->ix0 : 0;
    const char *p = (const char *)(in_plane(io, g->img, ci) + x);
    for (int r = 0; r < 6; r++)
        if (g->row_in[r]) {
            const char *q = p + (size_t)(g->iy0 + r) * io->iw * sizeof(float);
            for (int b = 0; b < 5; b++) _mm_prefetch(q + 64 * b, _MM_HINT_T0);
        }
}

/* One channel of a row block: V[(r·6+c)·ps + lane]. */
static ALWAYS_INLINE void row_in_channel(const row_in *g, const wino_io *io, int ci, float *V,
                                         size_t ps)
{
    const float *src = in_plane(io, g->img, ci);
    __m512 t[6][5];
#pragma GCC unroll 5
    for (int v = 0; v < 5; v++) {
        __m512 x[6], o[6];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            /* The address is formed only for rows in the plane; masked-off
             * columns are not read. */
            x[r] = g->row_in[r]
                       ? _mm512_maskz_loadu_ps(g->mask[v], src + (ptrdiff_t)(g->iy0 + r) * io->iw +
                                                               g->ix0 + 16 * v)
                       : _mm512_setzero_ps();
        }
        bt6(x, o);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) t[r][v] = o[r];
    }
    /* lane -> the lane of the next tile in that order (tile 16: lane 15,
     * patched from the fifth vector) */
    const __m512i next = _mm512_setr_epi32(4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2, 3, 0);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        __m512 p[6], o[6];
        transpose4(t[r], p);
        /* Columns 4, 5 of a tile are columns 0, 1 of the next. */
        __m512 e = t[r][4];
        p[4] = _mm512_mask_blend_ps((__mmask16)0x8000, _mm512_permutexvar_ps(next, p[0]),
                                    _mm512_permutexvar_ps(_mm512_setzero_si512(), e));
        p[5] = _mm512_mask_blend_ps((__mmask16)0x8000, _mm512_permutexvar_ps(next, p[1]),
                                    _mm512_permutexvar_ps(_mm512_set1_epi32(1), e));
        bt6(p, o);
#pragma GCC unroll 6
        for (int c = 0; c < 6; c++) _mm512_storeu_ps(V + (size_t)(r * 6 + c) * ps, o[c]);
    }
}


/* A segmented block: each of its (row, vector) loads or stores is one or
 * more masked accesses, one per run of side-by-side tiles that the vector's
 * lanes cover. Offsets are from the run's image plane (channel 0), so a
 * channel adds its plane; an access's masked-off lanes are never touched. */
typedef struct {
    ptrdiff_t off[2]; /* floats from channel 0 of image 0, by the image strides img[0], img[1] */
    __mmask16 m;
} seg_access;

/* Most accesses: 6 rows × 8 vectors × up to 4 runs per vector. */
#define SEG_MAX (6 * 8 * 4)

typedef struct {
    int n;                          /* accesses */
    unsigned char first[6 * 8 + 1]; /* accesses of (row, vector) j: first[j] .. first[j+1] */
    seg_access a[SEG_MAX];
} seg_plan;

/* Runs of tiles side by side in one tile row: start tile, count. Returns
 * the number of runs; 0 when the block is dilated. */
static int seg_runs(const wino_io *io, const wino_lane *l, int n, int start[WINO_LANES],
                    int count[WINO_LANES])
{
    if (io->d != 1) return 0;
    int runs = 0;
    for (int t = 0; t < n; t++) {
        if (t > 0 && l[t].img == l[t - 1].img && l[t].oy0 == l[t - 1].oy0 &&
            l[t].ox0 == l[t - 1].ox0 + 4) {
            count[runs - 1]++;
            continue;
        }
        start[runs] = t;
        count[runs++] = 1;
    }
    return runs;
}

/* Adds access j = row·vectors + vector: for each run, the lanes of tiles
 * it holds among 4v .. 4v+3, columns `cols` of each (a bit mask of the
 * four), at plane row oy0 + org + row of the run and column
 * ox0 + org + 4·(t - start) + shift + c, inside rows [0, h) and columns
 * [0, w) (w is the row stride); img: the two floats-per-image strides. */
static void seg_add(seg_plan *p, int j, const wino_lane *l, const int *start, const int *count,
                    int runs, int row, int v, int shift, unsigned cols, int org, int h, int w,
                    const size_t img[2])
{
    p->first[j] = (unsigned char)p->n;
    for (int s = 0; s < runs; s++) {
        const wino_lane *t0 = &l[start[s]];
        int y = t0->oy0 + org + row;
        if (y < 0 || y >= h) continue;
        unsigned m = 0;
        for (int t = 4 * v; t < 4 * v + 4; t++) {
            if (t < start[s] || t >= start[s] + count[s]) continue;
            for (int c = 0; c < 4; c++) {
                int x = t0->ox0 + org + 4 * (t - start[s]) + shift + c;
                if ((cols >> c & 1) && x >= 0 && x < w) m |= 1u << (4 * (t - 4 * v) + c);
            }
        }
        if (!m) continue;
        /* lane 0 of the vector sits at the run's column of tile 4v */
        int x0 = t0->ox0 + org + 4 * (4 * v - start[s]) + shift;
        ptrdiff_t at = (ptrdiff_t)y * w + x0;
        p->a[p->n++] = (seg_access){{(ptrdiff_t)(t0->img * img[0]) + at,
                                     (ptrdiff_t)(t0->img * img[1]) + at},
                                    (__mmask16)m};
    }
    p->first[j + 1] = (unsigned char)p->n;
}

/* The accesses of the input transform (input: (row r, vector k) for
 * r < 6, k < 8; vectors 0-3 are columns 0-3 of tiles 4k .. 4k+3, vectors
 * 4-7 columns 4, 5 of the tiles 4(k-4) .., the next tile's columns 0, 1 in
 * a row block; from a and b by their image strides) or of the output
 * transform ((row i, vector k) for i, k < 4, the layout of row_out_rows; to
 * dst and res by theirs). */
static void seg_init(seg_plan *p, const wino_io *io, const wino_lane *l, int n, int input)
{
    int start[WINO_LANES], count[WINO_LANES];
    int runs = seg_runs(io, l, n, start, count);
    const size_t img[2] = {input ? io->a_img : io->dst_img, input ? io->b_img : io->res_img};
    int rows = input ? 6 : 4, vecs = input ? 8 : 4;
    p->n = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < vecs; k++)
            seg_add(p, r * vecs + k, l, start, count, runs, r, k & 3, k < 4 ? 0 : 4,
                    k < 4 ? 0xf : 0x3, input ? -io->pad : 0, input ? io->ih : io->oh,
                    input ? io->iw : io->ow, img);
}

/* Vector j's lanes from the plane at base (image 0), by image stride w. */
static ALWAYS_INLINE __m512 seg_load(const seg_plan *p, int j, const float *base, int w)
{
    __m512 x = _mm512_setzero_ps();
    for (int e = p->first[j]; e < p->first[j + 1]; e++)
        x = _mm512_mask_loadu_ps(x, p->a[e].m, base + p->a[e].off[w]);
    return x;
}

/* One channel of a segmented block, as row_in_channel computes it. */
static ALWAYS_INLINE void seg_in_channel(const seg_plan *p, const wino_io *io, int ci, float *V,
                                         size_t ps)
{
    int w = ci >= io->ca;
    const float *base = in_plane(io, 0, ci);
    __m512 t[6][8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        __m512 x[6], o[6];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) x[r] = seg_load(p, r * 8 + k, base, w);
        bt6(x, o);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) t[r][k] = o[r];
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        __m512 p6[6], q[4], o[6];
        transpose4(t[r], p6);
        transpose4(t[r] + 4, q);
        p6[4] = q[0];
        p6[5] = q[1];
        bt6(p6, o);
#pragma GCC unroll 6
        for (int c = 0; c < 6; c++) _mm512_storeu_ps(V + (size_t)(r * 6 + c) * ps, o[c]);
    }
}

/* The lines of the next channels that a segmented block reads. */
static ALWAYS_INLINE void seg_in_prefetch(const seg_plan *p, const wino_io *io, int ci)
{
    int w = ci >= io->ca;
    const char *base = (const char *)in_plane(io, 0, ci);
    /* vectors 0-3 of each row: columns 4, 5 lie on the same lines */
    for (int r = 0; r < 6; r++)
        for (int e = p->first[r * 8]; e < p->first[r * 8 + 4]; e++) {
            const char *q =
                base + (p->a[e].off[w] + __builtin_ctz(p->a[e].m)) * (ptrdiff_t)sizeof(float);
            _mm_prefetch(q, _MM_HINT_T0);
            _mm_prefetch(q + 60, _MM_HINT_T0);
        }
}

void cut_wino_input_avx512(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    if (io->d != 1) {
        cut_wino_input_avx2(io, lanes, n, V, ps);
        return;
    }
    if (!row_block(io, lanes, n)) {
        seg_plan p;
        seg_init(&p, io, lanes, n, 1);
        for (int ci = 0; ci < io->cin; ci++) {
            if (ci + WINO512_PREFETCH < io->cin) seg_in_prefetch(&p, io, ci + WINO512_PREFETCH);
            seg_in_channel(&p, io, ci, V + (size_t)ci * WINO_LANES, ps);
        }
        return;
    }
    row_in g;
    row_in_init(&g, io, lanes);
    for (int ci = 0; ci < io->cin; ci++) {
        if (ci + WINO512_PREFETCH < io->cin) row_in_prefetch(&g, io, ci + WINO512_PREFETCH);
        row_in_channel(&g, io, ci, V + (size_t)ci * WINO_LANES, ps);
    }
}

/* Output channel co of a segmented block (M offset to the block). */
static ALWAYS_INLINE void seg_out_channel(const seg_plan *p, const wino_io *io, const float *M,
                                          int co)
{
    size_t at = (size_t)co * io->oh * io->ow;
    float *o = io->dst + at;
    const float *res = io->res ? io->res + at : NULL;
    __m512 v[4][4];
    row_out_rows(io, M + (size_t)co * io->m_co, io->m_pos, io->bias[co], v);
    for (int j = 0; j < 16; j++)
        for (int e = p->first[j]; e < p->first[j + 1]; e++) {
            const seg_access *a = &p->a[e];
            __m512 x = v[j / 4][j % 4];
            if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(a->m, res + a->off[1]));
            _mm512_mask_storeu_ps(o + a->off[0], a->m, x);
        }
}

void cut_wino_output_avx512(const wino_io *io, const wino_lane *lanes, int n, const float *M,
                            int co0, int co1)
{
    const wino_lane *l = lanes;
    if (io->d != 1) {
        cut_wino_output_avx2(io, lanes, n, M, co0, co1);
        return;
    }
    if (!row_block(io, l, n) || l->oy0 + 4 > io->oh || l->ox0 + 64 > io->ow) {
        /* lanes in transpose4's order, as the input transform left them */
        seg_plan p;
        seg_init(&p, io, lanes, n, 0);
        for (int co = co0; co < co1; co++) seg_out_channel(&p, io, M, co);
        return;
    }
    size_t plane = (size_t)io->oh * io->ow;
    for (int co = co0; co < co1; co++) {
        size_t at = (size_t)co * plane + (size_t)l->oy0 * io->ow + (size_t)l->ox0;
        float *o = io->dst + (size_t)l->img * io->dst_img + at;
        const float *res = io->res ? io->res + (size_t)l->img * io->res_img + at : NULL;
        const float *m = M + (size_t)co * io->m_co;
        /* rows of 64 floats: aligned when the plane and row are */
        if (io->stream && ((uintptr_t)o & 63) == 0 && io->ow % 16 == 0)
            row_out_channel(io, m, io->m_pos, io->bias[co], o, res, 1);
        else
            row_out_channel(io, m, io->m_pos, io->bias[co], o, res, 0);
    }
    if (io->stream) _mm_sfence(); /* order the streamed rows before the pool's hand-off */
}

#else
/* Not x86-64 or no AVX-512 flags: cpu_winograd.c never calls these. */
void cut_wino_input_avx512(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    cut_wino_input_avx2(io, lanes, n, V, ps);
}
void cut_wino_output_avx512(const wino_io *io, const wino_lane *lanes, int n, const float *M,
                            int co0, int co1)
{
    cut_wino_output_avx2(io, lanes, n, M, co0, co1);
}
#endif
