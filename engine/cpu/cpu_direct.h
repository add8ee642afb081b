/* Direct convolution for the CPU backend's thin layers (very few input or
 * output channels), where Winograd's per-channel transforms and im2col's
 * copies cost more than the arithmetic: each output is accumulated in
 * registers from the input rows, eight pixels per vector. Stride 1, any
 * kernel size, padding and dilation. */
#ifndef CUTOUT_CPU_DIRECT_H
#define CUTOUT_CPU_DIRECT_H

#include <stddef.h>

#include "cpu_backend.h"

#define DIRECT_ROWS 4 /* output rows per task */

typedef struct {
    int k, d, pad;
    int ih, iw, oh, ow;
    int ca, cin, cout;
    const float *a, *b; /* input planes, channels ca.. from b */
    size_t a_img, b_img;
    float *dst;
    size_t dst_img;
    const float *res; /* or NULL */
    size_t res_img;
    const float *weight, *bias;
    int relu;
} direct_io;

/* Output channel co, rows [oy0, oy0 + rows) (rows <= DIRECT_ROWS) of image
 * img; buf: the thread's direct_rows_floats(ow). */
typedef void direct_rows_fn(const direct_io *io, int img, int co, int oy0, int rows, float *buf);
direct_rows_fn cut_direct_rows_portable, cut_direct_rows_avx2, cut_direct_rows_avx512;

/* Up to this many input channels, a chunk of outputs accumulates over all
 * of them in registers; beyond, one channel at a time over a row block. */
#define DIRECT_CHUNK_CIN 8
/* A chunk's input window near an edge, zero-padded: rows of DIRECT_PAD_W. */
#define DIRECT_PAD_W 24
#define DIRECT_WIN_FLOATS ((DIRECT_ROWS + 2) * DIRECT_PAD_W)
/* Per-thread buffer: the edge window and DIRECT_ROWS accumulator rows. */
static inline size_t direct_rows_floats(int ow)
{
    return DIRECT_WIN_FLOATS + (size_t)DIRECT_ROWS * (((size_t)ow + 15) / 16 * 16);
}

static inline const float *direct_in_plane(const direct_io *io, int img, int ci)
{
    size_t plane = (size_t)io->ih * io->iw;
    return ci < io->ca ? io->a + (size_t)img * io->a_img + (size_t)ci * plane
                       : io->b + (size_t)img * io->b_img + (size_t)(ci - io->ca) * plane;
}

/* Output channel co's plane of image img, and the residual's (or NULL). */
static inline float *direct_out_plane(const direct_io *io, int img, int co)
{
    return io->dst + (size_t)img * io->dst_img + (size_t)co * io->oh * io->ow;
}
static inline const float *direct_res_plane(const direct_io *io, int img, int co)
{
    return io->res ? io->res + (size_t)img * io->res_img + (size_t)co * io->oh * io->ow : NULL;
}

/* 0, or CUTOUT_E_NOMEM when the row buffers cannot grow (first pass only). */
int cut_direct_conv(cpu_backend *cb, const bk_conv_desc *d, bk_tensor dst, bk_tensor a,
                const bk_tensor *b, const bk_tensor *res, int relu);

#endif
