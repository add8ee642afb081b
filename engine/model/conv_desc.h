/* One convolution as the model describes it and every backend receives it:
 * fixed parameters and host weights. Lives with the model (which fills it)
 * so that the model layer needs nothing from the network or the backends. */
#ifndef CUTOUT_CONV_DESC_H
#define CUTOUT_CONV_DESC_H

/* OIHW float32 weights. */
typedef struct {
    int cin, cout, k, stride, pad, dil;
    const float *weight; /* cout * cin * k * k */
    const float *bias;   /* cout */
} bk_conv_desc;

#endif
