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

/* Output height or width of a conv over `in` rows or columns (ONNX Conv with
 * explicit pads; floor, like PyTorch). */
static inline int cut_conv_out_size(int in, int k, int stride, int pad, int dil)
{
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

#endif
