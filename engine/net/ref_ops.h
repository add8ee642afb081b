/* Naive reference implementations of every backend op, written for clarity
 * from the definitions (PyTorch semantics). Tests hold the optimised backends
 * to these. Dense NCHW arrays; accumulation in double. */
#ifndef CUTOUT_REF_OPS_H
#define CUTOUT_REF_OPS_H

#include <stddef.h>

#include "backend.h"

/* Conv over the channel concat of a (ca channels) and b (cb channels, may be
 * NULL with cb 0); out: n×cout×oh×ow; then +bias, relu, +residual. */
void cut_ref_conv(const bk_conv_desc *d, const float *a, int ca, const float *b, int cb, int n,
                  int ih, int iw, int relu, const float *residual, float *out, int oh, int ow);
/* 2×2 max pool, stride 2, ceil mode. out: n×c×ceil(ih/2)×ceil(iw/2). */
void cut_ref_maxpool2(const float *in, int n, int c, int ih, int iw, float *out);
/* Bilinear, align_corners=False (half-pixel centres, source clamped at 0). */
void cut_ref_resize(const float *in, int n, int c, int ih, int iw, float *out, int oh, int ow);
void cut_ref_sigmoid(const float *in, size_t count, float *out);

#endif
