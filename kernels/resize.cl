/* Bilinear resize with half-pixel centres (PyTorch align_corners=False):
 * source coordinate scale*(i + 0.5) - 0.5 in float, clamped at 0, as
 * PyTorch computes it. Global size (ow, oh, n * c). */
__kernel void resize_bilinear(__global float *arena, ulong s_off, ulong s_ns, ulong d_off,
                              ulong d_ns, int c, int ih, int iw, int oh, int ow, float scale_y,
                              float scale_x)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= ow || oy >= oh) return;
    const int img = p / c, ch = p % c;
    __global const float *in = arena + s_off + img * s_ns + (size_t)ch * ih * iw;

    float sy = fmax(scale_y * ((float)oy + 0.5f) - 0.5f, 0.0f);
    float sx = fmax(scale_x * ((float)ox + 0.5f) - 0.5f, 0.0f);
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + (y0 < ih - 1), x1 = x0 + (x0 < iw - 1);
    float wy = sy - (float)y0, wx = sx - (float)x0;
    float top = (1.0f - wx) * in[y0 * iw + x0] + wx * in[y0 * iw + x1];
    float bot = (1.0f - wx) * in[y1 * iw + x0] + wx * in[y1 * iw + x1];
    arena[d_off + img * d_ns + (size_t)ch * oh * ow + oy * ow + ox] = (1.0f - wy) * top + wy * bot;
}
