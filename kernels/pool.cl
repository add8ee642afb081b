/* 2x2 max pooling, stride 2, ceil mode: an odd last row or column pools
 * alone. One work item computes POOL_PX neighbouring outputs of one row (a
 * CPU OpenCL runs each item as a loop body: per-item index work is paid once
 * per POOL_PX outputs). Global size (ceil(ow / POOL_PX), oh, n * c). */
#ifndef POOL_PX
#define POOL_PX 8
#endif

__kernel void maxpool2(__global float *arena, ulong s_off, ulong s_ns, ulong d_off, ulong d_ns,
                       int c, int ih, int iw, int oh, int ow)
{
    const int ox0 = get_global_id(0) * POOL_PX, oy = get_global_id(1), p = get_global_id(2);
    if (ox0 >= ow || oy >= oh) return;
    const int img = p / c, ch = p % c;
    __global const float *in = arena + s_off + img * s_ns + (size_t)ch * ih * iw;
    __global float *out = arena + d_off + img * d_ns + (size_t)ch * oh * ow + oy * ow;
    const int y0 = 2 * oy, y1 = min(y0 + 1, ih - 1);
    __global const float *r0 = in + y0 * iw, *r1 = in + y1 * iw;
    const int n = min(POOL_PX, ow - ox0);
    for (int i = 0; i < n; i++) {
        const int x0 = 2 * (ox0 + i), x1 = min(x0 + 1, iw - 1);
        out[ox0 + i] = fmax(fmax(r0[x0], r0[x1]), fmax(r1[x0], r1[x1]));
    }
}
