/* AVX-512 Winograd transforms (compiled with -mavx512f ...; called only when
 * the CPU has AVX-512 F/BW/VL/DQ).
 *
 * A block whose 16 tiles lie side by side in one tile row of an undilated
 * conv (a "row block": planes 64·k wide, e.g. every 320-wide plane) runs on
 * whole rows of 64 outputs: the vertical transform on contiguous columns
 * (five zmm per input row, masked at the plane's edges: masked lanes are
 * never read, so no padded copy is needed), then a 4×4 transpose in each
 * 128-bit lane puts one tile per zmm lane for the horizontal transform, and
 * the reverse on output, so that stores are rows of 64 pixels. Every other
 * block (dilated convs, tile rows that are not a multiple of 16 tiles,
 * blocks that cross the right or bottom edge on output) takes the AVX2
 * transforms, which handle groups of eight. */
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

/* Lane l of a row block holds tile ROW_ORDER[l]. */
static const int ROW_ORDER[WINO_LANES] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

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
    /* lane -> the lane of the next tile in ROW_ORDER (tile 16: lane 15,
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

void cut_wino_input_avx512(const wino_io *io, const wino_lane *lanes, int n, float *V, size_t ps)
{
    if (!row_block(io, lanes, n)) {
        cut_wino_input_avx2(io, lanes, n, V, ps);
        return;
    }
    row_in g;
    row_in_init(&g, io, lanes);
    for (int ci = 0; ci < io->cin; ci++) {
        if (ci + WINO512_PREFETCH < io->cin) row_in_prefetch(&g, io, ci + WINO512_PREFETCH);
        row_in_channel(&g, io, ci, V + (size_t)ci * WINO_LANES, ps);
    }
}

void cut_wino_output_avx512(const wino_io *io, const wino_lane *lanes, int n, const float *M,
                            int co0, int co1)
{
    const wino_lane *l = lanes;
    if (!row_block(io, l, n)) {
        cut_wino_output_avx2(io, lanes, n, M, co0, co1);
        return;
    }
    if (l->oy0 + 4 > io->oh || l->ox0 + 64 > io->ow) {
        /* A row block crossing the plane's edge: M is in ROW_ORDER. Its
         * eight-lane groups are not row groups, so the AVX2 transform
         * scatters them lane by lane as given. */
        wino_lane ordered[WINO_LANES];
        for (int i = 0; i < WINO_LANES; i++) ordered[i] = lanes[ROW_ORDER[i]];
        cut_wino_output_avx2(io, ordered, n, M, co0, co1);
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
