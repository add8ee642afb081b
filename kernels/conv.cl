/* Direct convolution with bias, ReLU and the residual add fused, reading a
 * decoder conv's two concatenated inputs (a's channels, then b's) in place.
 *
 * One work item computes COUT_BLOCK output channels (1 in the _c1 kernels,
 * for cout 1) x PX_VEC neighbouring output pixels of one row, the pixels as
 * one OpenCL vector: global size (ceil(ow / PX_VEC), oh,
 * n * ceil(cout / COUT_BLOCK)). Vector types make
 * the SIMD explicit: a CPU OpenCL (PoCL) turns each input row load into one
 * vector load and each weight into one broadcast FMA per channel, instead of
 * relying on its work-item loop vectoriser, which gives up on kernels with
 * loops inside; on a GPU the vector is per-thread register blocking.
 * Weights are OIHW as the model gives them (the GEMM path multiplies the same
 * buffer); the work items of a group share their output channels, so each
 * weight load is one broadcast.
 *
 * Every conv's weights and bias live in one read-only buffer (params, at
 * offsets w_off and bias_off in floats). Tensors live in one arena buffer;
 * each is (offset, floats between images) in floats, channels as contiguous
 * h*w planes. */

#ifndef COUT_BLOCK
#define COUT_BLOCK 8 /* output channels per work item */
#endif
#ifndef PX_VEC
#define PX_VEC 8 /* output pixels per work item along a row: 1, 2, 4, 8 or 16 */
#endif

/* Forced inlining: K and CO are constants only inside each kernel, and the
 * loops over them must unroll for acc to live in registers. */
#define INLINE static inline __attribute__((always_inline))

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if PX_VEC == 1
typedef float vfloat;
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#else
typedef CAT(float, PX_VEC) vfloat;
#define VLOAD(p) CAT(vload, PX_VEC)(0, p)
#define VSTORE(v, p) CAT(vstore, PX_VEC)(v, 0, p)
#endif

/* PX_VEC pixels of one input row starting at column ix0, stepping by
 * stride; columns outside the row read as 0 (zero padding). The slow path
 * of the row's edges (and of strided convs). */
INLINE vfloat load_lanes(__global const float *row, int ix0, int stride, int iw)
{
    float t[PX_VEC];
    for (int p = 0; p < PX_VEC; p++) {
        int ix = ix0 + p * stride;
        t[p] = (ix >= 0 && ix < iw) ? row[ix] : 0.0f;
    }
    return VLOAD(t);
}

/* Accumulates one input tensor's channels (ci_base is its first channel
 * within the concatenation) into acc. wrow[o] is output channel o's row in
 * the OIHW weights. K and CO are compile-time constants at each call site,
 * so the tap and channel loops unroll and acc stays in registers. Whether
 * every tap of this item lies inside the image is decided once: then the
 * loop over channels is K*K vector loads, CO*K*K weight broadcasts and FMAs,
 * with no tests; items at the borders take the per-tap, per-lane path. */
INLINE void conv_accumulate(__global const float *src, int nch, int ci_base,
                            __global const float *w, const int *wrow, int ih, int iw, int oy,
                            int ox0, int stride, int pad, int dil, const int K, const int CO,
                            vfloat acc[COUT_BLOCK])
{
    const int plane = ih * iw, y0 = oy * stride - pad, x0 = ox0 * stride - pad;
    const int inside = stride == 1 && y0 >= 0 && y0 + (K - 1) * dil < ih && x0 >= 0 &&
                       x0 + (K - 1) * dil + PX_VEC <= iw;
    __global const float *wp[COUT_BLOCK];
    #pragma unroll
    for (int o = 0; o < CO; o++) wp[o] = w + wrow[o] + ci_base * K * K;
    if (inside) {
        __global const float *in = src + y0 * iw + x0;
        for (int c = 0; c < nch; c++, in += plane) {
            #pragma unroll
            for (int ky = 0; ky < K; ky++) {
                __global const float *row = in + ky * dil * iw;
                #pragma unroll
                for (int kx = 0; kx < K; kx++) {
                    vfloat v = VLOAD(row + kx * dil);
                    #pragma unroll
                    for (int o = 0; o < CO; o++)
                        acc[o] = fma((vfloat)(wp[o][ky * K + kx]), v, acc[o]);
                }
            }
            #pragma unroll
            for (int o = 0; o < CO; o++) wp[o] += K * K;
        }
        return;
    }
    for (int c = 0; c < nch; c++, src += plane) {
        #pragma unroll
        for (int ky = 0; ky < K; ky++) {
            int iy = y0 + ky * dil;
            if (iy < 0 || iy >= ih) continue;
            #pragma unroll
            for (int kx = 0; kx < K; kx++) {
                vfloat v = load_lanes(src + iy * iw, x0 + kx * dil, stride, iw);
                #pragma unroll
                for (int o = 0; o < CO; o++)
                    acc[o] = fma((vfloat)(wp[o][ky * K + kx]), v, acc[o]);
            }
        }
        #pragma unroll
        for (int o = 0; o < CO; o++) wp[o] += K * K;
    }
}

/* conv_accumulate for one output channel (the side heads, cout 1): one
 * partial sum per tap, because a single chain of dependent FMAs runs at the
 * FMA latency, not its throughput. */
INLINE void conv_accumulate1(__global const float *src, int nch, int ci_base,
                             __global const float *w, int ih, int iw, int oy, int ox0,
                             int stride, int pad, int dil, const int K, vfloat *acc)
{
    const int plane = ih * iw, y0 = oy * stride - pad, x0 = ox0 * stride - pad;
    const int inside = stride == 1 && y0 >= 0 && y0 + (K - 1) * dil < ih && x0 >= 0 &&
                       x0 + (K - 1) * dil + PX_VEC <= iw;
    vfloat part[9];
    #pragma unroll
    for (int t = 0; t < K * K; t++) part[t] = (vfloat)(0.0f);
    __global const float *wp = w + ci_base * K * K;
    if (inside) {
        __global const float *in = src + y0 * iw + x0;
        for (int c = 0; c < nch; c++, in += plane, wp += K * K) {
            #pragma unroll
            for (int ky = 0; ky < K; ky++) {
                #pragma unroll
                for (int kx = 0; kx < K; kx++)
                    part[ky * K + kx] = fma((vfloat)(wp[ky * K + kx]),
                                            VLOAD(in + (ky * iw + kx) * dil), part[ky * K + kx]);
            }
        }
    } else {
        for (int c = 0; c < nch; c++, src += plane, wp += K * K) {
            #pragma unroll
            for (int ky = 0; ky < K; ky++) {
                int iy = y0 + ky * dil;
                if (iy < 0 || iy >= ih) continue;
                #pragma unroll
                for (int kx = 0; kx < K; kx++)
                    part[ky * K + kx] =
                        fma((vfloat)(wp[ky * K + kx]),
                            load_lanes(src + iy * iw, x0 + kx * dil, stride, iw), part[ky * K + kx]);
            }
        }
    }
    vfloat sum = *acc;
    #pragma unroll
    for (int t = 0; t < K * K; t++) sum += part[t];
    *acc = sum;
}

INLINE void conv_body(__global float *arena, __global const float *params, ulong w_off, ulong bias_off,
               ulong a_off, ulong a_ns, int ca, ulong b_off, ulong b_ns, int cb, ulong r_off,
               ulong r_ns, int has_res, ulong d_off, ulong d_ns, int ih, int iw, int oh, int ow,
               int cout, int stride, int pad, int dil, int relu, const int K, const int CO)
{
    const int ox0 = get_global_id(0) * PX_VEC;
    const int oy = get_global_id(1);
    const int cblocks = (cout + CO - 1) / CO;
    const int img = get_global_id(2) / cblocks;
    const int cblk = get_global_id(2) % cblocks;
    if (ox0 >= ow || oy >= oh) return;
    const int cin = ca + cb;
    __global const float *bias = params + bias_off;
    __global const float *w = params + w_off;

    /* Row offsets of this item's output channels in the OIHW weights; the
     * channels past cout repeat the last one (computed, never stored). */
    vfloat acc[COUT_BLOCK];
    int wrow[COUT_BLOCK];
    #pragma unroll
    for (int o = 0; o < CO; o++) {
        int co = min(cblk * CO + o, cout - 1);
        wrow[o] = co * cin * K * K;
        acc[o] = (vfloat)(bias[co]);
    }
    __global const float *a = arena + a_off + img * a_ns, *b = arena + b_off + img * b_ns;
    if (CO == 1) {
        conv_accumulate1(a, ca, 0, w + wrow[0], ih, iw, oy, ox0, stride, pad, dil, K, acc);
        if (cb > 0)
            conv_accumulate1(b, cb, ca, w + wrow[0], ih, iw, oy, ox0, stride, pad, dil, K, acc);
    } else {
        conv_accumulate(a, ca, 0, w, wrow, ih, iw, oy, ox0, stride, pad, dil, K, CO, acc);
        if (cb > 0)
            conv_accumulate(b, cb, ca, w, wrow, ih, iw, oy, ox0, stride, pad, dil, K, CO, acc);
    }

    const int plane = oh * ow;
    const int whole = ox0 + PX_VEC <= ow; /* the last vector of a row may stick out */
    #pragma unroll
    for (int o = 0; o < CO; o++) {
        int co = cblk * CO + o;
        if (co >= cout) break;
        size_t at = (size_t)co * plane + oy * ow + ox0;
        __global float *out = arena + d_off + img * d_ns + at;
        __global const float *res = arena + r_off + img * r_ns + at;
        vfloat v = acc[o];
        if (relu) v = fmax(v, (vfloat)(0.0f));
        if (whole) {
            if (has_res) v += VLOAD(res);
            VSTORE(v, out);
        } else {
            float t[PX_VEC];
            VSTORE(v, t);
            for (int p = 0; p < ow - ox0; p++) out[p] = t[p] + (has_res ? res[p] : 0.0f);
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

/* COUT_BLOCK channels per item, and one channel per item for the side heads
 * (cout 1), which would otherwise compute COUT_BLOCK - 1 copies for nothing. */
__kernel void conv_k3(CONV_ARGS) { conv_body(CONV_PASS, 3, COUT_BLOCK); }
__kernel void conv_k1(CONV_ARGS) { conv_body(CONV_PASS, 1, COUT_BLOCK); }
__kernel void conv_k3_c1(CONV_ARGS) { conv_body(CONV_PASS, 3, 1); }
__kernel void conv_k1_c1(CONV_ARGS) { conv_body(CONV_PASS, 1, 1); }
