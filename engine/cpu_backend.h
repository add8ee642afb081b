/* Internals shared by the CPU backend's files. */
#ifndef CUTOUT_CPU_BACKEND_H
#define CUTOUT_CPU_BACKEND_H

#include "backend.h"
#include "threadpool.h"

/* One output index of a bilinear axis: taps i0 and i0+step, weight l1 on the second. */
typedef struct {
    int i0, step;
    float l1;
} resize_tap;

typedef struct {
    backend base;
    threadpool *tp;
    float *arena;
    size_t arena_floats;
    const bk_conv_desc *convs;
    int n_convs;
    float *scratch;          /* per-thread im2col tiles */
    size_t scratch_floats;   /* per thread */
    resize_tap *taps;        /* resize column taps, grown on first use */
    size_t taps_cap;
} cpu_backend;

/* Output pixels per im2col tile for a reduction length K. */
int cpu_conv_tile(int K);
int cpu_conv(backend *bk, int conv_index, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse);

static inline float *cpu_plane(cpu_backend *cb, bk_tensor t, int img, int ch)
{
    return cb->arena + t.off + (size_t)img * t.nstride + (size_t)ch * t.h * t.w;
}

#endif
