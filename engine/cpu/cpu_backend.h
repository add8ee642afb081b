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

/* How a conv is computed; chosen once per conv in prepare (cpu_conv_method). */
typedef enum {
    CPU_CONV_IM2COL = 0,   /* im2col tiles + engine/cpu/gemm.c (any conv) */
    CPU_CONV_WINOGRAD = 1, /* F(4×4, 3×3), cpu_winograd.c (3×3, stride 1) */
    CPU_CONV_DIRECT = 2,   /* register-blocked direct, cpu_direct.c (stride 1) */
} cpu_conv_method;

/* A conv's weights in the layout its method multiplies by. */
typedef struct {
    cpu_conv_method method;
    float *packed; /* im2col: cut_gemm_pack_a(cout × cin·k·k);
                      Winograd: 36 × cut_gemm_pack_a(cout × cin);
                      direct: NULL (reads the descriptor's weights) */
} cpu_conv_plan;

typedef struct {
    backend base;
    threadpool *tp;
    float *arena;
    size_t arena_floats;
    const bk_conv_desc *convs;
    cpu_conv_plan *plans;    /* one per conv */
    int force_method;        /* -1: by shape (cpu_conv_choose); else a cpu_conv_method used
                                wherever it applies (tests and benchmarks set it before prepare) */
    int force_portable;      /* tests: the portable transforms and kernels even on AVX2 CPUs */
    int n_convs;
    size_t weight_floats;    /* total floats in plans[*].packed */
    void *wmap;              /* the mapping plans[*].packed point into: anonymous, or the
                                weight cache's file (cpu_weight_cache.h) */
    size_t wmap_bytes;
    float *scratch;          /* per-thread conv scratch (im2col panels or Winograd tiles) */
    size_t scratch_floats;   /* per thread */
    resize_tap *taps;        /* resize column taps: for base.max_width at prepare, else grown
                                on first use */
    size_t taps_cap;
    float *rows;             /* per-thread row buffers (resize, direct conv): as for taps */
    size_t rows_floats;      /* per thread */
} cpu_backend;

/* Whether a method can compute a conv at all. */
int cut_cpu_conv_method_applies(cpu_conv_method m, const bk_conv_desc *d);
/* Lays out every conv's weights and sizes the per-thread scratch (cb->plans, cb->scratch). */
int cut_cpu_conv_prepare(cpu_backend *cb);
void cut_cpu_conv_release(cpu_backend *cb);
int cut_cpu_conv(backend *bk, int conv_index, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse);
int cut_cpu_resize(backend *bk, bk_tensor dst, bk_tensor src); /* cpu_resize.c */
/* cb->rows with at least `floats` per thread (64-byte aligned), or NULL when
 * out of memory. Grow-only: allocates at prepare (backend_cpu.c), or on
 * the first forward pass when the widths were not known there. */
float *cut_cpu_rows(cpu_backend *cb, size_t floats);
/* cb->taps with room for n taps; 0, or -1 when out of memory. Grow-only. */
int cut_cpu_taps(cpu_backend *cb, size_t n);
/* Floats of cut_cpu_rows a resize to `width` columns needs: two rows. */
static inline size_t cpu_resize_rows_floats(int width)
{
    return 2 * (((size_t)width + 15) / 16 * 16);
}

/* Op outputs larger than this are written with non-temporal stores (the
 * Winograd output transform, resize): they cannot stay in cache for the
 * next op anyway, and streaming them saves reading every line before it is
 * overwritten. */
#ifndef CPU_STREAM_BYTES
#define CPU_STREAM_BYTES (8u << 20)
#endif

/* Below this much work (in multiply-adds, or elements touched) an op runs
 * on the calling thread: handing tasks to the pool costs ~10 µs, and far
 * more when another process holds the workers' cores (cut_pool_run waits until
 * every worker has checked in). 2^18 is ~20 µs of GEMM on one core. */
#ifndef CPU_INLINE_WORK
#define CPU_INLINE_WORK (1 << 18)
#endif

static inline void cpu_run(cpu_backend *cb, int n_tasks, tp_task_fn fn, void *ctx, double work)
{
    if (work < CPU_INLINE_WORK)
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
    else
        cut_pool_run(cb->tp, n_tasks, fn, ctx);
}

static inline float *cpu_plane(cpu_backend *cb, bk_tensor t, int img, int ch)
{
    return cb->arena + t.off + (size_t)img * t.nstride + (size_t)ch * t.h * t.w;
}

#endif
