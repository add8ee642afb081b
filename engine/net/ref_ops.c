#include "ref_ops.h"

#include <math.h>

void cut_ref_conv(const bk_conv_desc *d, const float *a, int ca, const float *b, int cb, int n,
                  int ih, int iw, int relu, const float *residual, float *out, int oh, int ow)
{
    int cin = ca + cb, k = d->k;
    for (int img = 0; img < n; img++)
        for (int co = 0; co < d->cout; co++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = d->bias[co];
                    for (int ci = 0; ci < cin; ci++) {
                        const float *src = ci < ca ? a + ((size_t)img * ca + ci) * ih * iw
                                                   : b + ((size_t)img * cb + ci - ca) * ih * iw;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * d->stride - d->pad + ky * d->dil;
                                int ix = ox * d->stride - d->pad + kx * d->dil;
                                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
                                acc += (double)d->weight[((size_t)co * cin + ci) * k * k + ky * k +
                                                         kx] *
                                       src[(size_t)iy * iw + ix];
                            }
                    }
                    if (relu && acc < 0) acc = 0;
                    size_t o = (((size_t)img * d->cout + co) * oh + oy) * ow + ox;
                    if (residual) acc += residual[o];
                    out[o] = (float)acc;
                }
}

void cut_ref_maxpool2(const float *in, int n, int c, int ih, int iw, float *out)
{
    int oh = (ih + 1) / 2, ow = (iw + 1) / 2;
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float m = -INFINITY;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int y = 2 * oy + dy, x = 2 * ox + dx;
                        if (y < ih && x < iw && in[((size_t)p * ih + y) * iw + x] > m)
                            m = in[((size_t)p * ih + y) * iw + x];
                    }
                out[((size_t)p * oh + oy) * ow + ox] = m;
            }
}

/* Source coordinate and the two taps for output index i of an axis. */
static void axis_taps(int i, int in, int out, int *i0, int *i1, double *w1)
{
    double s = ((double)i + 0.5) * in / out - 0.5;
    if (s < 0) s = 0;
    *i0 = (int)s;
    if (*i0 > in - 1) *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *w1 = s - *i0;
}

void cut_ref_resize(const float *in, int n, int c, int ih, int iw, float *out, int oh, int ow)
{
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            double wy;
            axis_taps(oy, ih, oh, &y0, &y1, &wy);
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                double wx;
                axis_taps(ox, iw, ow, &x0, &x1, &wx);
                const float *pl = in + (size_t)p * ih * iw;
                double top = (1 - wx) * pl[y0 * iw + x0] + wx * pl[y0 * iw + x1];
                double bot = (1 - wx) * pl[y1 * iw + x0] + wx * pl[y1 * iw + x1];
                out[((size_t)p * oh + oy) * ow + ox] = (float)((1 - wy) * top + wy * bot);
            }
        }
}

void cut_ref_sigmoid(const float *in, size_t count, float *out)
{
    for (size_t i = 0; i < count; i++) out[i] = (float)(1.0 / (1.0 + exp(-(double)in[i])));
}
