/* Direct convolution: the task split and the portable kernel. See
 * cpu_direct.h. */
#include "cpu_direct.h"

#include <stdio.h>

#include "cutout.h"
#include "gemm.h" /* cut_gemm_have_avx2: the same CPU test picks the AVX2 kernel */

void cut_direct_rows_portable(const direct_io *io, int img, int co, int oy0, int rows, float *buf)
{
    (void)buf;
    float *out = direct_out_plane(io, img, co);
    const float *res = direct_res_plane(io, img, co);
    int k = io->k;
    for (int oy = oy0; oy < oy0 + rows; oy++)
        for (int ox = 0; ox < io->ow; ox++) {
            float acc = io->bias[co];
            for (int ci = 0; ci < io->cin; ci++) {
                const float *in = direct_in_plane(io, img, ci);
                const float *w = io->weight + ((size_t)co * io->cin + ci) * k * k;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy - io->pad + ky * io->d;
                    if (iy < 0 || iy >= io->ih) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox - io->pad + kx * io->d;
                        if (ix >= 0 && ix < io->iw)
                            acc += w[ky * k + kx] * in[(size_t)iy * io->iw + ix];
                    }
                }
            }
            if (io->relu && acc < 0) acc = 0; /* keeps NaN */
            size_t at = (size_t)oy * io->ow + ox;
            out[at] = res ? acc + res[at] : acc;
        }
}

typedef struct {
    direct_io io;
    int row_blocks;
    direct_rows_fn *rows;
    float *scratch;
    size_t scratch_floats;
} direct_job;

static void direct_task(void *p, int task, int thread)
{
    const direct_job *j = p;
    int rb = task % j->row_blocks, rest = task / j->row_blocks;
    int co = rest % j->io.cout, img = rest / j->io.cout;
    int oy0 = rb * DIRECT_ROWS;
    int rows = j->io.oh - oy0 < DIRECT_ROWS ? j->io.oh - oy0 : DIRECT_ROWS;
    j->rows(&j->io, img, co, oy0, rows, j->scratch + (size_t)thread * j->scratch_floats);
}

int cut_direct_conv(cpu_backend *cb, const bk_conv_desc *d, bk_tensor dst, bk_tensor a,
                const bk_tensor *b, const bk_tensor *res, int relu)
{
    direct_job j;
    j.io = (direct_io){
        .k = d->k,
        .d = d->dil,
        .pad = d->pad,
        .ih = a.h,
        .iw = a.w,
        .oh = dst.h,
        .ow = dst.w,
        .ca = a.c,
        .cin = d->cin,
        .cout = d->cout,
        .a = cpu_plane(cb, a, 0, 0),
        .a_img = a.nstride,
        .b = b ? cpu_plane(cb, *b, 0, 0) : NULL,
        .b_img = b ? b->nstride : 0,
        .dst = cpu_plane(cb, dst, 0, 0),
        .dst_img = dst.nstride,
        .res = res ? cpu_plane(cb, *res, 0, 0) : NULL,
        .res_img = res ? res->nstride : 0,
        .weight = d->weight,
        .bias = d->bias,
        .relu = relu,
    };
    j.row_blocks = (dst.h + DIRECT_ROWS - 1) / DIRECT_ROWS;
    j.rows = cb->force_portable          ? cut_direct_rows_portable
             : cut_gemm_have_avx512() ? cut_direct_rows_avx512
             : cut_gemm_have_avx2()   ? cut_direct_rows_avx2
                                      : cut_direct_rows_portable;
    j.scratch = cut_cpu_rows(cb, direct_rows_floats(dst.w));
    if (!j.scratch) {
        snprintf(cb->base.err, sizeof cb->base.err, "conv: out of memory for row buffers");
        return CUTOUT_E_NOMEM;
    }
    j.scratch_floats = cb->rows_floats;
    cpu_run(cb, dst.n * d->cout * j.row_blocks, direct_task, &j,
            (double)dst.n * dst.h * dst.w * d->cout * d->cin * d->k * d->k);
    return 0;
}
