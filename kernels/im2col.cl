/* The GEMM path of a convolution: im2col of a tile of output pixels, and the
 * epilogue (bias, ReLU, residual) run on the GEMM's output in place.
 *
 * im2col: col is a (cin*k*k) x count matrix, row-major with leading
 * dimension count, for output pixels p0 .. p0+count-1 of one image; rows
 * run over the concatenation of a's channels and then b's. Global size
 * (count, cin*k*k). Out-of-image taps are 0 (zero padding). */
__kernel void im2col(__global const float *arena, __global float *col, ulong a_off, int ca,
                     ulong b_off, int ih, int iw, int ow, int k, int stride, int pad, int dil,
                     int p0, int count)
{
    const int i = get_global_id(0), r = get_global_id(1);
    if (i >= count) return;
    const int kk = k * k, c = r / kk, t = r % kk;
    const int p = p0 + i, oy = p / ow, ox = p % ow;
    const int iy = oy * stride - pad + (t / k) * dil, ix = ox * stride - pad + (t % k) * dil;
    float v = 0.0f;
    if (iy >= 0 && iy < ih && ix >= 0 && ix < iw) {
        ulong plane = c < ca ? a_off + (ulong)c * ih * iw : b_off + (ulong)(c - ca) * ih * iw;
        v = arena[plane + iy * iw + ix];
    }
    col[(size_t)r * count + i] = v;
}

/* dst = relu?(dst + bias) + residual?, over a (plane, cout, n) view. */
__kernel void conv_epilogue(__global float *arena, __global const float *params, ulong bias_off,
                            ulong d_off, ulong d_ns, ulong r_off, ulong r_ns, int has_res,
                            int relu, int cout, int plane)
{
    const int i = get_global_id(0), co = get_global_id(1), img = get_global_id(2);
    if (i >= plane || co >= cout) return;
    size_t at = (size_t)co * plane + i;
    float v = arena[d_off + img * d_ns + at] + params[bias_off + co];
    if (relu) v = fmax(v, 0.0f);
    if (has_res) v += arena[r_off + img * r_ns + at];
    arena[d_off + img * d_ns + at] = v;
}
