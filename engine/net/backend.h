/* The backend interface: the only thing the network code (net.c) calls.
 *
 * Tensors are float32 NCHW views into one activation arena owned by the
 * backend, addressed by offset (in floats) so that a device backend can keep
 * them in one buffer. A view may be a channel slice of a larger tensor:
 * image i of the view starts at off + i * nstride. Within an image, channels
 * are contiguous planes of h*w floats.
 *
 * Every op returns 0 or a negative cutout_status with a message in the
 * backend's error buffer. Ops are issued in order; a backend may run them
 * asynchronously until read_output or finish. */
#ifndef CUTOUT_BACKEND_H
#define CUTOUT_BACKEND_H

#include <stddef.h>

#include "conv_desc.h"
#include "cutout.h"

typedef struct {
    size_t off;     /* first float of image 0, in the arena */
    size_t nstride; /* floats between images */
    int n, c, h, w;
} bk_tensor;

/* A conv's optional fused parts. cin of the conv = a.c + (b ? b->c : 0):
 * b is the second input of a channel concat (a's channels first). After
 * bias, relu (if set) then + residual (if not NULL, same shape as dst). */
typedef struct {
    const bk_tensor *b;
    const bk_tensor *residual;
    int relu;
} bk_conv_fuse;

typedef struct backend backend;

typedef struct {
    /* Upload weights once and allocate an arena of arena_floats floats. */
    int (*prepare)(backend *bk, const bk_conv_desc *convs, int n_convs, size_t arena_floats);
    int (*write)(backend *bk, bk_tensor dst, const float *host); /* host: dense n*c*h*w */
    int (*read)(backend *bk, bk_tensor src, float *host);        /* waits for the result */
    int (*conv)(backend *bk, int conv_index, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse);
    /* 2×2 max pooling, stride 2, ceil mode: dst h,w = ceil(src h,w / 2). */
    int (*maxpool2)(backend *bk, bk_tensor dst, bk_tensor src);
    /* Bilinear resize to dst's h,w with half-pixel centres (PyTorch
     * align_corners=False, ONNX pytorch_half_pixel). */
    int (*resize)(backend *bk, bk_tensor dst, bk_tensor src);
    int (*sigmoid)(backend *bk, bk_tensor dst, bk_tensor src); /* in place allowed */
    void (*destroy)(backend *bk);
} backend_ops;

struct backend {
    const backend_ops *ops;
    const char *name;        /* "cpu", "opencl" */
    char device[128];        /* human description of the device */
    int threads;
    int max_width;           /* the widest tensor any op will see (the engine's largest input
                                width), set by the engine before prepare so that buffers that
                                depend on it are sized there; 0: not known */
    int no_weight_cache;     /* set before prepare: 1 keeps the CPU backend off its on-disk
                                weight cache */
    cutout_weight_cache_state weight_cache; /* what prepare did with that cache */
    char err[512];           /* message of the last failure */
};

/* CPU backend with `threads` worker threads (0: all online CPUs). */
int cut_cpu_backend_create(int threads, backend **out, char *err, size_t errlen);

/* OpenCL backend (built when CUTOUT_OPENCL is 1) on a device chosen by index or name substring (NULL or
 * "auto": the first GPU or accelerator, else any device). With require_gpu
 * a CPU device is never chosen. CUTOUT_E_UNSUPPORTED means no platform or
 * no suitable device (callers may fall back to the CPU backend). */
int cut_cl_backend_create(const char *device, int require_gpu, backend **out, char *err,
                      size_t errlen);

#endif
