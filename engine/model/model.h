/* A recognised U²-Net-family network: its stages, derived channel widths and
 * the weights of its convolutions in forward order. */
#ifndef CUTOUT_MODEL_H
#define CUTOUT_MODEL_H

#include "conv_desc.h"
#include "cutout.h"
#include "onnx.h"

#define NET_ENC_STAGES 6
#define NET_DEC_STAGES 5
#define NET_SIDES 6

/* One residual U-block. RSU-L (height 7..4) pools between levels and uses one
 * dilation-2 conv at the bottom; RSU-4F keeps the resolution and dilates
 * 1, 2, 4, 8 instead. Its 2*height convs start at conv0:
 * in, enc 1..height, dec height-1..1. */
typedef struct {
    int height;
    int fused;   /* RSU-4F */
    int cin, mid, cout;
    int conv0;
} net_stage;

struct cutout_model {
    cutout_arch arch;
    char name[16];      /* "u2net", "u2netp", "isnet" */
    int input_size;     /* from the graph input, else the architecture's */
    int conv_in;        /* ISNet's stride-2 stem conv index, or -1 */
    int pool_in;        /* ISNet variant that pools after the stem */
    net_stage enc[NET_ENC_STAGES];
    net_stage dec[NET_DEC_STAGES]; /* dec[0] = stage5d ... dec[4] = stage1d */
    int side[NET_SIDES];
    int outconv;        /* U²-Net's 1×1 fusion conv, or -1 */
    bk_conv_desc *convs;
    int n_convs;
    onnx_model *onnx;   /* the parsed file: owns every conv's weight and bias tensor */
    float *weights;     /* zero biases of the convs that have none */
    size_t n_params;
};

#endif
