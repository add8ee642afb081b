/* 2x2 max pooling, stride 2, ceil mode: an odd last row or column pools
 * alone. Global size (ow, oh, n * c); one output per work item. */
__kernel void maxpool2(__global float *arena, ulong s_off, ulong s_ns, ulong d_off, ulong d_ns,
                       int c, int ih, int iw, int oh, int ow)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= ow || oy >= oh) return;
    const int img = p / c, ch = p % c;
    __global const float *in = arena + s_off + img * s_ns + (size_t)ch * ih * iw;
    const int y0 = 2 * oy, x0 = 2 * ox;
    const int y1 = min(y0 + 1, ih - 1), x1 = min(x0 + 1, iw - 1);
    float m = fmax(fmax(in[y0 * iw + x0], in[y0 * iw + x1]),
                   fmax(in[y1 * iw + x0], in[y1 * iw + x1]));
    arena[d_off + img * d_ns + (size_t)ch * oh * ow + oy * ow + ox] = m;
}
