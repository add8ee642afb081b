/* Bilinear resize with half-pixel centres (PyTorch align_corners=False):
 * source coordinate scale*(i + 0.5) - 0.5 in float, clamped at 0, as
 * PyTorch computes it. One work item computes RESIZE_PX neighbouring outputs
 * of one row, sharing the row pair and its weight. Global size
 * (ceil(ow / RESIZE_PX), oh, n * c). */
#ifndef RESIZE_PX
#define RESIZE_PX 8
#endif

__kernel void resize_bilinear(__global float *arena, ulong s_off, ulong s_ns, ulong d_off,
                              ulong d_ns, int c, int ih, int iw, int oh, int ow, float scale_y,
                              float scale_x)
{
    const int ox0 = get_global_id(0) * RESIZE_PX, oy = get_global_id(1), p = get_global_id(2);
    if (ox0 >= ow || oy >= oh) return;
    const int img = p / c, ch = p % c;
    __global const float *in = arena + s_off + img * s_ns + (size_t)ch * ih * iw;
    __global float *out = arena + d_off + img * d_ns + (size_t)ch * oh * ow + oy * ow;

    const float sy = fmax(scale_y * ((float)oy + 0.5f) - 0.5f, 0.0f);
    const int y0 = (int)sy, y1 = y0 + (y0 < ih - 1);
    const float wy = sy - (float)y0;
    __global const float *r0 = in + y0 * iw, *r1 = in + y1 * iw;
    const int n = min(RESIZE_PX, ow - ox0);
    for (int i = 0; i < n; i++) {
        const int ox = ox0 + i;
        const float sx = fmax(scale_x * ((float)ox + 0.5f) - 0.5f, 0.0f);
        const int x0 = (int)sx, x1 = x0 + (x0 < iw - 1);
        const float wx = sx - (float)x0;
        const float top = (1.0f - wx) * r0[x0] + wx * r0[x1];
        const float bot = (1.0f - wx) * r1[x0] + wx * r1[x1];
        out[ox] = (1.0f - wy) * top + wy * bot;
    }
}
