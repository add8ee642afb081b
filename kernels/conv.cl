/* Direct convolution with bias, ReLU and the residual add fused, reading a
 * decoder conv's two concatenated inputs (a's channels, then b's) in place.
 *
 * One work item computes COUT_BLOCK output channels x PX_BLOCK neighbouring
 * output pixels of one row: global size (ceil(ow / PX_BLOCK), oh,
 * n * ceil(cout / COUT_BLOCK)). Weights are OIHW as the model gives them
 * (the GEMM path multiplies the same buffer); the work items of a group share
 * their output channels, so each weight load is one broadcast.
 *
 * Every conv's weights and bias live in one read-only buffer (params, at
 * offsets w_off and bias_off in floats). Tensors live in one arena buffer;
 * each is (offset, floats between images) in floats, channels as contiguous
 * h*w planes. */

#ifndef COUT_BLOCK
#define COUT_BLOCK 4 /* output channels per work item */
#endif
#ifndef PX_BLOCK
#define PX_BLOCK 4 /* output pixels per work item along a row */
#endif

/* Accumulates one input tensor's channels (ci_base is its first channel
 * within the concatenation) into acc. w points at output channel co0's
 * weights; channel co0 + o is o * wstride further (clamped to the last real
 * channel by the caller's wstride choice). K is a compile-time constant at
 * each call site, so the tap loops unroll. */
void conv_accumulate(__global const float *src, int nch, int ci_base, __global const float *w,
                     const int *wrow, int ih, int iw, int oy, int ox0, int stride, int pad,
                     int dil, const int K, float acc[COUT_BLOCK][PX_BLOCK])
{
    const int plane = ih * iw;
    for (int c = 0; c < nch; c++) {
        __global const float *in = src + (size_t)c * plane;
        __global const float *wc = w + (size_t)(ci_base + c) * K * K;
        for (int ky = 0; ky < K; ky++) {
            int iy = oy * stride - pad + ky * dil;
            if (iy < 0 || iy >= ih) continue;
            __global const float *row = in + iy * iw;
            for (int kx = 0; kx < K; kx++) {
                float v[PX_BLOCK];
                for (int p = 0; p < PX_BLOCK; p++) {
                    int ix = (ox0 + p) * stride - pad + kx * dil;
                    v[p] = (ix >= 0 && ix < iw) ? row[ix] : 0.0f;
                }
                for (int o = 0; o < COUT_BLOCK; o++) {
                    float wv = wc[wrow[o] + ky * K + kx];
                    for (int p = 0; p < PX_BLOCK; p++) acc[o][p] = fma(wv, v[p], acc[o][p]);
                }
            }
        }
    }
}

void conv_body(__global float *arena, __global const float *params, ulong w_off,
                      ulong bias_off, ulong a_off, ulong a_ns, int ca, ulong b_off,
                      ulong b_ns, int cb, ulong r_off, ulong r_ns, int has_res, ulong d_off,
                      ulong d_ns, int ih, int iw, int oh, int ow, int cout, int stride, int pad,
                      int dil, int relu, const int K)
{
    const int ox0 = get_global_id(0) * PX_BLOCK;
    const int oy = get_global_id(1);
    const int cblocks = (cout + COUT_BLOCK - 1) / COUT_BLOCK;
    const int img = get_global_id(2) / cblocks;
    const int cblk = get_global_id(2) % cblocks;
    if (ox0 >= ow || oy >= oh) return;
    const int cin = ca + cb;
    __global const float *bias = params + bias_off;
    __global const float *w = params + w_off;

    /* Row offsets of this item's output channels in the OIHW weights; the
     * channels past cout repeat the last one (computed, never stored). */
    float acc[COUT_BLOCK][PX_BLOCK];
    int wrow[COUT_BLOCK];
    for (int o = 0; o < COUT_BLOCK; o++) {
        int co = min(cblk * COUT_BLOCK + o, cout - 1);
        wrow[o] = co * cin * K * K;
        for (int p = 0; p < PX_BLOCK; p++) acc[o][p] = bias[co];
    }
    conv_accumulate(arena + a_off + img * a_ns, ca, 0, w, wrow, ih, iw, oy, ox0, stride, pad,
                    dil, K, acc);
    if (cb > 0)
        conv_accumulate(arena + b_off + img * b_ns, cb, ca, w, wrow, ih, iw, oy, ox0, stride,
                        pad, dil, K, acc);

    const int plane = oh * ow;
    for (int o = 0; o < COUT_BLOCK; o++) {
        int co = cblk * COUT_BLOCK + o;
        if (co >= cout) break;
        size_t at = (size_t)co * plane + oy * ow;
        __global float *out = arena + d_off + img * d_ns + at;
        __global const float *res = arena + r_off + img * r_ns + at;
        for (int p = 0; p < PX_BLOCK; p++) {
            int ox = ox0 + p;
            if (ox >= ow) break;
            float v = acc[o][p];
            if (relu) v = fmax(v, 0.0f);
            if (has_res) v += res[ox];
            out[ox] = v;
        }
    }
}

#define CONV_ARGS                                                                              \
    __global float *arena, __global const float *params, ulong w_off, ulong bias_off,         \
        ulong a_off, ulong a_ns, int ca, ulong b_off, ulong b_ns, int cb, ulong r_off,         \
        ulong r_ns, int has_res, ulong d_off, ulong d_ns, int ih, int iw, int oh, int ow,      \
        int cout, int stride, int pad, int dil, int relu
#define CONV_PASS                                                                              \
    arena, params, w_off, bias_off, a_off, a_ns, ca, b_off, b_ns, cb, r_off, r_ns, has_res,   \
        d_off, d_ns, ih, iw, oh, ow, cout, stride, pad, dil, relu

__kernel void conv_k3(CONV_ARGS) { conv_body(CONV_PASS, 3); }
__kernel void conv_k1(CONV_ARGS) { conv_body(CONV_PASS, 1); }
