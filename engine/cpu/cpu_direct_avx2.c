/* AVX2 direct-convolution kernel (compiled with -mavx2 -mfma; called only
 * when the CPU has both), for 3×3 undilated convs: sixteen output pixels of
 * DIRECT_ROWS rows accumulate in eight registers, reading the input planes
 * in place; chunks that reach an edge of the plane run on a zero-padded
 * copy of their window. */
#include "cpu_direct.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Lanes x .. x+7 that lie in [0, n). */
static ALWAYS_INLINE __m256i lanes_in(int x, int n)
{
    __m256i i = _mm256_add_epi32(_mm256_set1_epi32(x), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), i),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(n), i));
}

/* acc += one input channel's 3×3 undilated taps for sixteen columns and
 * DIRECT_ROWS output rows; row[ir] (ir < DIRECT_ROWS + 2) points at the
 * first of the 18 input columns of input row ir. Each input row feeds up to
 * three output rows; no branches, so everything stays in registers. */
static ALWAYS_INLINE void window_3x3(const float *const row[DIRECT_ROWS + 2], const float *w,
                                     __m256 acc[DIRECT_ROWS][2])
{
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; kx++) {
        __m256 w0 = _mm256_broadcast_ss(w + kx), w1 = _mm256_broadcast_ss(w + 3 + kx);
        __m256 w2 = _mm256_broadcast_ss(w + 6 + kx);
        __m256 v0, v1;
#define ROW(ir) (v0 = _mm256_loadu_ps(row[ir] + kx), v1 = _mm256_loadu_ps(row[ir] + kx + 8))
#define FMA(w, r) (acc[r][0] = _mm256_fmadd_ps(w, v0, acc[r][0]), \
                   acc[r][1] = _mm256_fmadd_ps(w, v1, acc[r][1]))
        ROW(0), FMA(w0, 0);
        ROW(1), FMA(w1, 0), FMA(w0, 1);
        ROW(2), FMA(w2, 0), FMA(w1, 1), FMA(w0, 2);
        ROW(3), FMA(w2, 1), FMA(w1, 2), FMA(w0, 3);
        ROW(4), FMA(w2, 2), FMA(w1, 3);
        ROW(5), FMA(w2, 3);
#undef ROW
#undef FMA
    }
}

/* The window's rows when the chunk reaches an edge of the plane: copied
 * into win (DIRECT_ROWS + 2 rows of DIRECT_PAD_W), zero outside. src[ir]
 * is input row ir at column 0 (NULL outside the plane). */
static void edge_window(const float *const src[DIRECT_ROWS + 2], int ix0, int iw, float *win,
                        const float *row[DIRECT_ROWS + 2])
{
    __m256i m[3];
    for (int v = 0; v < 3; v++) m[v] = lanes_in(ix0 + 8 * v, iw);
    for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) {
        float *o = win + ir * DIRECT_PAD_W;
        for (int v = 0; v < 3; v++)
            _mm256_storeu_ps(o + 8 * v, src[ir] ? _mm256_maskload_ps(src[ir] + ix0 + 8 * v, m[v])
                                                : _mm256_setzero_ps());
        row[ir] = o;
    }
}

static ALWAYS_INLINE void input_rows(const direct_io *io, int img, int ci, int iy0,
                                     const float *src[DIRECT_ROWS + 2])
{
    const float *plane = direct_in_plane(io, img, ci);
    for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) {
        int iy = iy0 + ir;
        src[ir] = iy >= 0 && iy < io->ih ? plane + (size_t)iy * io->iw : NULL;
    }
}

/* relu, residual and store of one output row's chunk of n <= 16 pixels. */
static ALWAYS_INLINE void store_chunk(const direct_io *io, __m256 acc[2], float *o, const float *rp,
                                      int n)
{
    __m256i m0 = lanes_in(0, n), m1 = lanes_in(8, n);
    for (int h = 0; h < 2; h++) {
        __m256 x = acc[h];
        __m256i m = h ? m1 : m0;
        /* max(0, x) keeps NaN, as the GEMM epilogue does */
        if (io->relu) x = _mm256_max_ps(_mm256_setzero_ps(), x);
        if (rp) x = _mm256_add_ps(x, n == 16 ? _mm256_loadu_ps(rp + 8 * h)
                                             : _mm256_maskload_ps(rp + 8 * h, m));
        if (n == 16)
            _mm256_storeu_ps(o + 8 * h, x);
        else
            _mm256_maskstore_ps(o + 8 * h, m, x);
    }
}

/* Few input channels: each chunk's accumulators stay in registers over
 * every channel (the channels' rows are few and stay in L1). */
static void chunk_outer(const direct_io *io, int img, int co, int oy0, int rows, float *win,
                        float *out, const float *res)
{
    const float *w = io->weight + (size_t)co * io->cin * 9;
    int iy0 = oy0 - io->pad;
    for (int x0 = 0; x0 < io->ow; x0 += 16) {
        int ix0 = x0 - io->pad, inside = ix0 >= 0 && ix0 + 18 <= io->iw;
        __m256 acc[DIRECT_ROWS][2];
        __m256 b = _mm256_set1_ps(io->bias[co]);
        for (int r = 0; r < DIRECT_ROWS; r++) acc[r][0] = acc[r][1] = b;
        for (int ci = 0; ci < io->cin; ci++) {
            const float *src[DIRECT_ROWS + 2], *row[DIRECT_ROWS + 2];
            input_rows(io, img, ci, iy0, src);
            int all = inside;
            for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) all = all && src[ir];
            if (all)
                for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) row[ir] = src[ir] + ix0;
            else
                edge_window(src, ix0, io->iw, win, row);
            window_3x3(row, w + (size_t)ci * 9, acc);
        }
        int n = io->ow - x0 < 16 ? io->ow - x0 : 16;
        for (int r = 0; r < rows; r++) {
            size_t at = (size_t)(oy0 + r) * io->ow + x0;
            store_chunk(io, acc[r], out + at, res ? res + at : NULL, n);
        }
    }
}

/* Many input channels: one channel at a time over the whole row block, its
 * rows read once in order, the accumulators in an L1-sized buffer. */
static void channel_outer(const direct_io *io, int img, int co, int oy0, int rows, float *win,
                          float *accbuf, float *out, const float *res)
{
    const float *w = io->weight + (size_t)co * io->cin * 9;
    int iy0 = oy0 - io->pad, owp = (io->ow + 15) / 16 * 16;
    __m256 b = _mm256_set1_ps(io->bias[co]);
    for (int i = 0; i < DIRECT_ROWS * owp; i += 8) _mm256_storeu_ps(accbuf + i, b);
    for (int ci = 0; ci < io->cin; ci++) {
        const float *src[DIRECT_ROWS + 2], *row[DIRECT_ROWS + 2];
        input_rows(io, img, ci, iy0, src);
        int all = 1;
        for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) all = all && src[ir];
        for (int x0 = 0; x0 < io->ow; x0 += 16) {
            int ix0 = x0 - io->pad;
            if (all && ix0 >= 0 && ix0 + 18 <= io->iw)
                for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) row[ir] = src[ir] + ix0;
            else
                edge_window(src, ix0, io->iw, win, row);
            __m256 acc[DIRECT_ROWS][2];
            float *a = accbuf + x0;
#pragma GCC unroll 4
            for (int r = 0; r < DIRECT_ROWS; r++) {
                acc[r][0] = _mm256_loadu_ps(a + (size_t)r * owp);
                acc[r][1] = _mm256_loadu_ps(a + (size_t)r * owp + 8);
            }
            window_3x3(row, w + (size_t)ci * 9, acc);
#pragma GCC unroll 4
            for (int r = 0; r < DIRECT_ROWS; r++) {
                _mm256_storeu_ps(a + (size_t)r * owp, acc[r][0]);
                _mm256_storeu_ps(a + (size_t)r * owp + 8, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int x0 = 0; x0 < io->ow; x0 += 16) {
            __m256 acc[2] = {_mm256_loadu_ps(accbuf + (size_t)r * owp + x0),
                             _mm256_loadu_ps(accbuf + (size_t)r * owp + x0 + 8)};
            size_t at = (size_t)(oy0 + r) * io->ow + x0;
            int n = io->ow - x0 < 16 ? io->ow - x0 : 16;
            store_chunk(io, acc, out + at, res ? res + at : NULL, n);
        }
}

void cut_direct_rows_avx2(const direct_io *io, int img, int co, int oy0, int rows, float *buf)
{
    if (io->k != 3 || io->d != 1) { /* not in the networks' thin layers */
        cut_direct_rows_portable(io, img, co, oy0, rows, buf);
        return;
    }
    float *out = direct_out_plane(io, img, co);
    const float *res = direct_res_plane(io, img, co);
    float *win = buf, *accbuf = buf + DIRECT_WIN_FLOATS;
    if (io->cin <= DIRECT_CHUNK_CIN)
        chunk_outer(io, img, co, oy0, rows, win, out, res);
    else
        channel_outer(io, img, co, oy0, rows, win, accbuf, out, res);
}

#else
/* Not x86-64 or no AVX2 flags: cpu_direct.c never calls this. */
void cut_direct_rows_avx2(const direct_io *io, int img, int co, int oy0, int rows, float *buf)
{
    cut_direct_rows_portable(io, img, co, oy0, rows, buf);
}
#endif
