/* The Winograd row-path pieces that are the same at every SIMD width, for
 * cpu_winograd_avx2.c (8 lanes) and cpu_winograd_avx512.c (16 lanes). The
 * including file defines, before including it:
 *   WS_V        the vector type (__m256, __m512)
 *   WS(op)      the intrinsic of op at that width (_mm256_##op, _mm512_##op)
 *   WS_LANES    floats per vector
 * and gets static inline bt6, at6, transpose4, row_out_rows and
 * row_out_channel. Not include-guarded on purpose: one inclusion per file,
 * one width each. */
#include <stddef.h>

#include "cpu_winograd.h"

#ifndef ALWAYS_INLINE
#define ALWAYS_INLINE inline __attribute__((always_inline))
#endif

/* o = Bᵀ·d (see cpu_winograd_lanes.h), with FMAs. */
static ALWAYS_INLINE void bt6(const WS_V d[6], WS_V o[6])
{
    const WS_V c2 = WS(set1_ps)(2.0f), c4 = WS(set1_ps)(4.0f), c5 = WS(set1_ps)(5.0f);
    WS_V t0 = WS(fnmadd_ps)(c4, d[2], d[4]); /* d4 - 4 d2 */
    WS_V t1 = WS(fnmadd_ps)(c4, d[1], d[3]); /* d3 - 4 d1 */
    WS_V t2 = WS(sub_ps)(d[4], d[2]);
    WS_V t3 = WS(sub_ps)(d[3], d[1]);
    o[0] = WS(fmadd_ps)(c4, d[0], WS(fnmadd_ps)(c5, d[2], d[4]));
    o[1] = WS(add_ps)(t0, t1);
    o[2] = WS(sub_ps)(t0, t1);
    o[3] = WS(fmadd_ps)(c2, t3, t2);
    o[4] = WS(fnmadd_ps)(c2, t3, t2);
    o[5] = WS(fmadd_ps)(c4, d[1], WS(fnmadd_ps)(c5, d[3], d[5]));
}

/* o = Aᵀ·m. */
static ALWAYS_INLINE void at6(const WS_V m[6], WS_V o[4])
{
    const WS_V c2 = WS(set1_ps)(2.0f), c4 = WS(set1_ps)(4.0f), c8 = WS(set1_ps)(8.0f);
    WS_V s12 = WS(add_ps)(m[1], m[2]), d12 = WS(sub_ps)(m[1], m[2]);
    WS_V s34 = WS(add_ps)(m[3], m[4]), d34 = WS(sub_ps)(m[3], m[4]);
    o[0] = WS(add_ps)(WS(add_ps)(m[0], s12), s34);
    o[1] = WS(fmadd_ps)(c2, d34, d12);
    o[2] = WS(fmadd_ps)(c4, s34, s12);
    o[3] = WS(fmadd_ps)(c8, d34, WS(add_ps)(d12, m[5]));
}

/* A 4×4 transpose in each 128-bit lane: v[k] holds four columns of each of
 * the tiles 4 columns apart that vector k covers (one tile per 128-bit
 * lane); p[c] gets column c of every tile, one tile per float lane, in the
 * including file's ROW_ORDER. Lanes are independent GEMM columns, so a row
 * group keeps that order from input to output transform. The transpose is
 * its own inverse. */
static ALWAYS_INLINE void transpose4(const WS_V v[4], WS_V p[4])
{
    WS_V u0 = WS(unpacklo_ps)(v[0], v[1]), u1 = WS(unpackhi_ps)(v[0], v[1]);
    WS_V u2 = WS(unpacklo_ps)(v[2], v[3]), u3 = WS(unpackhi_ps)(v[2], v[3]);
    p[0] = WS(shuffle_ps)(u0, u2, 0x44);
    p[1] = WS(shuffle_ps)(u0, u2, 0xee);
    p[2] = WS(shuffle_ps)(u1, u3, 0x44);
    p[3] = WS(shuffle_ps)(u1, u3, 0xee);
}

/* One output channel's tiles, transformed, biased and ReLU'd: v[i][k] is
 * output row i of the tiles that vector k of the input covered (four
 * columns per tile, in tile order), ready to store as a row. */
static ALWAYS_INLINE void row_out_rows(const wino_io *io, const float *M, size_t ps, float bias,
                                       WS_V v[4][4])
{
    WS_V z[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        WS_V m[6];
#pragma GCC unroll 6
        for (int c = 0; c < 6; c++) m[c] = WS(loadu_ps)(M + (size_t)(r * 6 + c) * ps);
        at6(m, z[r]);
    }
    WS_V y[4][4]; /* y[i][x] */
#pragma GCC unroll 4
    for (int x = 0; x < 4; x++) {
        WS_V col[6], out[4];
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) col[r] = z[r][x];
        at6(col, out);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) y[i][x] = out[i];
    }
    WS_V b = WS(set1_ps)(bias), zero = WS(setzero_ps)();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
#pragma GCC unroll 4
        for (int x = 0; x < 4; x++) {
            y[i][x] = WS(add_ps)(y[i][x], b);
            /* max(0, x) keeps NaN, as the GEMM epilogue does */
            if (io->relu) y[i][x] = WS(max_ps)(zero, y[i][x]);
        }
        transpose4(y[i], v[i]);
    }
}

/* One output channel of a row group entirely inside the plane: transform,
 * bias, ReLU, residual, four rows of 4·WS_LANES contiguous pixels. stream:
 * non-temporal stores (o aligned to the vector). */
static ALWAYS_INLINE void row_out_channel(const wino_io *io, const float *M, size_t ps, float bias,
                                          float *o, const float *res, int stream)
{
    WS_V v[4][4];
    row_out_rows(io, M, ps, bias, v);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        float *orow = o + (size_t)i * io->ow;
        const float *rrow = res ? res + (size_t)i * io->ow : NULL;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            WS_V x = v[i][k];
            if (rrow) x = WS(add_ps)(x, WS(loadu_ps)(rrow + WS_LANES * k));
            if (stream)
                WS(stream_ps)(orow + WS_LANES * k, x);
            else
                WS(storeu_ps)(orow + WS_LANES * k, x);
        }
    }
}
