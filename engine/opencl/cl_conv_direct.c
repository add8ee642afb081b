/* The direct convolution kernels (conv.cl): one work-item per output pixel
 * vector and channel block, with concat, bias, ReLU and residual fused. */
#include "cl_backend.h"

int cut_cl_conv_direct(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                    const bk_tensor *res, int relu)
{
    const bk_conv_desc *d = &cb->convs[ci];
    cl_ulong w_off = cb->cp[ci].w_off, bias_off = cb->cp[ci].bias_off;
    cl_ulong a_off = a.off, a_ns = a.nstride, d_off = dst.off, d_ns = dst.nstride;
    cl_ulong b_off = b ? b->off : 0, b_ns = b ? b->nstride : 0;
    cl_ulong r_off = res ? res->off : 0, r_ns = res ? res->nstride : 0;
    cl_int ca = a.c, cbc = b ? b->c : 0, has_res = res != NULL, ih = a.h, iw = a.w, oh = dst.h,
           ow = dst.w, cout = d->cout, stride = d->stride, pad = d->pad, dil = d->dil,
           relu_i = relu;
    karg args[] = {KA(cb->arena), KA(cb->params), KA(w_off), KA(bias_off), KA(a_off), KA(a_ns),
                   KA(ca), KA(b_off), KA(b_ns), KA(cbc), KA(r_off), KA(r_ns), KA(has_res),
                   KA(d_off), KA(d_ns), KA(ih), KA(iw), KA(oh), KA(ow), KA(cout), KA(stride),
                   KA(pad), KA(dil), KA(relu_i)};
    int one = d->cout == 1, block = one ? 1 : cb->cout_block;
    cl_kernel k = d->k == 3 ? (one ? cb->k_conv3_c1 : cb->k_conv3)
                            : (one ? cb->k_conv1_c1 : cb->k_conv1);
    const char *name = d->k == 3 ? (one ? "conv_k3_c1" : "conv_k3")
                                 : (one ? "conv_k1_c1" : "conv_k1");
    int rc = cut_cl_set_args(cb, k, name, args, (int)(sizeof args / sizeof *args));
    size_t blocks = (size_t)(d->cout + block - 1) / block;
    size_t vecs = ((size_t)ow + cb->px_vec - 1) / cb->px_vec;
    if (!rc)
        rc = cut_cl_launch(cb, k, name, vecs, (size_t)oh, (size_t)dst.n * blocks, LOCAL_X, LOCAL_Y);
    return rc;
}

