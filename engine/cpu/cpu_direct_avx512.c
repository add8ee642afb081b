/* AVX-512 direct-convolution kernel (compiled with -mavx512f ...; called
 * only when the CPU has AVX-512 F/BW/VL/DQ), for 3×3 undilated convs:
 * thirty-two output pixels of DIRECT_ROWS rows accumulate in eight zmm,
 * reading the input planes in place. Masked loads replace the AVX2 kernel's
 * zero-padded edge copies: lanes outside the plane (columns left or right
 * of it, rows above or below) are not read and count as zeros. */
#include "cpu_direct.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__FMA__)

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Input channels ahead that channel_outer prefetches. */
#ifndef DIRECT_PREFETCH
#define DIRECT_PREFETCH 2
#endif

/* Lanes x .. x+15 that lie in [0, n). */
static ALWAYS_INLINE __mmask16 lanes_in(int x, int n)
{
    __m512i i = _mm512_add_epi32(_mm512_set1_epi32(x),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                   14, 15));
    return _mm512_cmpge_epi32_mask(i, _mm512_setzero_si512()) &
           _mm512_cmplt_epi32_mask(i, _mm512_set1_epi32(n));
}

/* A chunk's input window, the same for every input channel: the offset of
 * input row ir (ir < DIRECT_ROWS + 2) at the chunk's first column, and the
 * masks of its two zmm for each kx. */
typedef struct {
    ptrdiff_t off[DIRECT_ROWS + 2];
    __mmask16 m[DIRECT_ROWS + 2][3][2];
} window;

static ALWAYS_INLINE void window_init(const direct_io *io, int iy0, int ix0, window *w)
{
    __mmask16 cm[3][2];
    for (int kx = 0; kx < 3; kx++)
        for (int h = 0; h < 2; h++) cm[kx][h] = lanes_in(ix0 + kx + 16 * h, io->iw);
    for (int ir = 0; ir < DIRECT_ROWS + 2; ir++) {
        int iy = iy0 + ir, in = iy >= 0 && iy < io->ih;
        /* a row outside the plane: any valid address, every lane masked off */
        w->off[ir] = (ptrdiff_t)(in ? iy : 0) * io->iw + ix0;
        for (int kx = 0; kx < 3; kx++)
            for (int h = 0; h < 2; h++) w->m[ir][kx][h] = in ? cm[kx][h] : 0;
    }
}

/* acc += one input channel's 3×3 taps for 32 columns and DIRECT_ROWS rows;
 * each input row feeds up to three output rows. */
static ALWAYS_INLINE void window_3x3(const window *win, const float *plane, const float *w,
                                     __m512 acc[DIRECT_ROWS][2])
{
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; kx++) {
        __m512 w0 = _mm512_set1_ps(w[kx]), w1 = _mm512_set1_ps(w[3 + kx]);
        __m512 w2 = _mm512_set1_ps(w[6 + kx]);
        __m512 v0, v1;
#define ROW(ir)                                                                 \
    (v0 = _mm512_maskz_loadu_ps(win->m[ir][kx][0], plane + win->off[ir] + kx),  \
     v1 = _mm512_maskz_loadu_ps(win->m[ir][kx][1], plane + win->off[ir] + kx + 16))
#define FMA(w, r) (acc[r][0] = _mm512_fmadd_ps(w, v0, acc[r][0]), \
                   acc[r][1] = _mm512_fmadd_ps(w, v1, acc[r][1]))
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

/* relu, residual and store of one output row's chunk of n <= 32 pixels. */
static ALWAYS_INLINE void store_chunk(const direct_io *io, __m512 acc[2], float *o, const float *rp,
                                      int n)
{
    for (int h = 0; h < 2; h++) {
        __mmask16 m = lanes_in(16 * h, n);
        __m512 x = acc[h];
        /* max(0, x) keeps NaN, as the GEMM epilogue does */
        if (io->relu) x = _mm512_max_ps(_mm512_setzero_ps(), x);
        if (rp) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, rp + 16 * h));
        _mm512_mask_storeu_ps(o + 16 * h, m, x);
    }
}

/* Few input channels: each chunk's accumulators stay in registers over
 * every channel. */
static void chunk_outer(const direct_io *io, int img, int co, int oy0, int rows, float *out,
                        const float *res)
{
    const float *w = io->weight + (size_t)co * io->cin * 9;
    int iy0 = oy0 - io->pad;
    for (int x0 = 0; x0 < io->ow; x0 += 32) {
        int ix0 = x0 - io->pad;
        __m512 acc[DIRECT_ROWS][2];
        __m512 b = _mm512_set1_ps(io->bias[co]);
        for (int r = 0; r < DIRECT_ROWS; r++) acc[r][0] = acc[r][1] = b;
        window win;
        window_init(io, iy0, ix0, &win);
        for (int ci = 0; ci < io->cin; ci++)
            window_3x3(&win, direct_in_plane(io, img, ci), w + (size_t)ci * 9, acc);
        int n = io->ow - x0 < 32 ? io->ow - x0 : 32;
        for (int r = 0; r < rows; r++) {
            size_t at = (size_t)(oy0 + r) * io->ow + x0;
            store_chunk(io, acc[r], out + at, res ? res + at : NULL, n);
        }
    }
}

/* Many input channels: one channel at a time over the whole row block, the
 * accumulators in the thread's buffer (rows of owp >= ow floats; a chunk
 * touches only its n columns). */
static void channel_outer(const direct_io *io, int img, int co, int oy0, int rows,
                          float *accbuf, float *out, const float *res)
{
    const float *w = io->weight + (size_t)co * io->cin * 9;
    int iy0 = oy0 - io->pad, owp = (io->ow + 15) / 16 * 16;
    __m512 b = _mm512_set1_ps(io->bias[co]);
    for (int i = 0; i < DIRECT_ROWS * owp; i += 16) _mm512_storeu_ps(accbuf + i, b);
    for (int ci = 0; ci < io->cin; ci++) {
        const float *plane = direct_in_plane(io, img, ci);
        /* Each channel's rows are short runs (a few lines) the hardware
         * prefetcher barely starts on: fetch a later channel's while this
         * one is summed. */
        const float *ahead =
            ci + DIRECT_PREFETCH < io->cin ? direct_in_plane(io, img, ci + DIRECT_PREFETCH) : NULL;
        for (int x0 = 0; x0 < io->ow; x0 += 32) {
            int n = io->ow - x0 < 32 ? io->ow - x0 : 32;
            __mmask16 m0 = lanes_in(0, n), m1 = lanes_in(16, n);
            window win;
            window_init(io, iy0, x0 - io->pad, &win);
            if (ahead)
                for (int ir = 0; ir < DIRECT_ROWS + 2; ir++)
                    if (win.m[ir][0][0] | win.m[ir][2][1]) /* a row in the plane */
                        for (int b = 0; b < 3; b++)
                            _mm_prefetch((const char *)(ahead + win.off[ir] + (b < 2 ? 16 * b : 33)),
                                         _MM_HINT_T0);
            __m512 acc[DIRECT_ROWS][2];
            float *a = accbuf + x0;
#pragma GCC unroll 4
            for (int r = 0; r < DIRECT_ROWS; r++) {
                acc[r][0] = _mm512_maskz_loadu_ps(m0, a + (size_t)r * owp);
                acc[r][1] = _mm512_maskz_loadu_ps(m1, a + (size_t)r * owp + 16);
            }
            window_3x3(&win, plane, w + (size_t)ci * 9, acc);
#pragma GCC unroll 4
            for (int r = 0; r < DIRECT_ROWS; r++) {
                _mm512_mask_storeu_ps(a + (size_t)r * owp, m0, acc[r][0]);
                _mm512_mask_storeu_ps(a + (size_t)r * owp + 16, m1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int x0 = 0; x0 < io->ow; x0 += 32) {
            int n = io->ow - x0 < 32 ? io->ow - x0 : 32;
            const float *a = accbuf + (size_t)r * owp + x0;
            __m512 acc[2] = {_mm512_maskz_loadu_ps(lanes_in(0, n), a),
                             _mm512_maskz_loadu_ps(lanes_in(16, n), a + 16)};
            size_t at = (size_t)(oy0 + r) * io->ow + x0;
            store_chunk(io, acc, out + at, res ? res + at : NULL, n);
        }
}

void cut_direct_rows_avx512(const direct_io *io, int img, int co, int oy0, int rows, float *buf)
{
    if (io->k != 3 || io->d != 1) { /* not in the networks' thin layers */
        cut_direct_rows_avx2(io, img, co, oy0, rows, buf);
        return;
    }
    float *out = direct_out_plane(io, img, co);
    const float *res = direct_res_plane(io, img, co);
    if (io->cin <= DIRECT_CHUNK_CIN)
        chunk_outer(io, img, co, oy0, rows, out, res);
    else
        channel_outer(io, img, co, oy0, rows, buf + DIRECT_WIN_FLOATS, out, res);
}

#else
/* Not x86-64 or no AVX-512 flags: cpu_direct.c never calls this. */
void cut_direct_rows_avx512(const direct_io *io, int img, int co, int oy0, int rows, float *buf)
{
    cut_direct_rows_avx2(io, img, co, oy0, rows, buf);
}
#endif
