/* Internals shared by the OpenCL backend's files: backend_cl.c (device,
 * buffers, the direct kernels) and cl_gemm.c (im2col + CLBlast GEMM path and
 * its per-shape choice). */
#ifndef CUTOUT_CL_BACKEND_H
#define CUTOUT_CL_BACKEND_H

#include "backend.h"
#include "cl_util.h"

/* Work-group shape for the 2-D/3-D kernels. */
#define LOCAL_X 16
#define LOCAL_Y 4

/* How a conv is computed. */
typedef enum {
    CLB_CONV_AUTO = -1,  /* by measurement per shape (cl_gemm.c), cached on disk */
    CLB_CONV_DIRECT = 0, /* kernels/conv.cl */
    CLB_CONV_GEMM = 1,   /* im2col tiles (kernels/im2col.cl) + CLBlastSgemm + epilogue */
} clb_conv_method;

/* A conv's weights (OIHW, as the model gives them: the GEMM's row-major A
 * and what the direct kernel reads) and bias in the params buffer. */
typedef struct {
    size_t w_off, bias_off; /* floats */
} cl_conv_params;

/* One choice: a conv shape ("k3 s1 d1 cin64 cout16 320x320 n1"), the
 * method for it and the best times measured for each path (gemm_ms < 0:
 * the GEMM path failed there). measured: in this process (else read from
 * the cache file). */
typedef struct {
    char key[96];
    int method;
    double direct_ms, gemm_ms;
    int measured;
} clb_choice;

typedef struct {
    backend base;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    cl_program prog;
    cl_kernel k_conv3, k_conv1, k_conv3_c1, k_conv1_c1; /* COUT_BLOCK and 1 channel per item */
    cl_kernel k_pool, k_resize, k_sigmoid, k_im2col, k_epilogue;
    /* Knobs chosen per device type (backend_cl.c, conv_knobs): the direct
     * conv's register blocking (-DCOUT_BLOCK, -DPX_VEC) and the outputs per
     * work item along a row of pooling and resizing (-DPOOL_PX, -DRESIZE_PX). */
    int cout_block, px_vec, plane_px;
    size_t max_alloc;      /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    size_t max_wg;         /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_mem arena, params;
    size_t arena_floats;
    const bk_conv_desc *convs;
    cl_conv_params *cp;
    int n_convs;
    int force_method;      /* a clb_conv_method; CLB_CONV_AUTO unless tests force one */
    uint64_t tune_hash;    /* device, driver, kernel sources, options: keys the tuning cache */
    cl_mem col;            /* im2col tile buffer, grown on demand */
    size_t col_floats;
    clb_choice *choices;   /* measured choices, loaded from and appended to the disk cache */
    int n_choices, cap_choices;
    int choices_loaded;    /* the disk cache was read */
    int retune;            /* measure every shape again, whatever the cache says */
} cl_backend;

/* bk->err = "call: CL_ERROR_NAME (code)"; returns CUTOUT_E_BACKEND. */
int cut_cl_fail(cl_backend *cb, cl_int code, const char *call);
/* bk->err = msg; returns code. */
int cut_cl_error(cl_backend *cb, int code, const char *msg);

/* Kernel arguments as (size, pointer) pairs. */
typedef struct {
    size_t size;
    const void *p;
} karg;
#define KA(v) ((karg){sizeof(v), &(v)})
int cut_cl_set_args(cl_backend *cb, cl_kernel k, const char *name, const karg *args, int n);

/* Enqueues over gx × gy × gz items. With lx × ly work groups (when the
 * device allows groups that large) gx and gy are padded to whole groups and
 * the kernels bound-check dimensions 0 and 1; dimension 2 is never padded. */
int cut_cl_launch(cl_backend *cb, cl_kernel k, const char *name, size_t gx, size_t gy, size_t gz,
               size_t lx, size_t ly);
int cut_cl_in_arena(cl_backend *cb, bk_tensor t);

/* The direct kernel (backend_cl.c) and the GEMM path (cl_gemm.c) for one
 * conv whose arguments were checked. */
int cut_cl_conv_direct(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                    const bk_tensor *res, int relu);
int cut_cl_conv_gemm(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                  const bk_tensor *res, int relu);
/* The method for this conv at this shape: forced, cached, or measured now
 * (running both, which also computes dst) and remembered on disk. *done is
 * set when measuring already produced dst. */
int cut_cl_conv_choose(cl_backend *cb, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                    const bk_tensor *res, int relu, int *method, int *done);
void cut_cl_gemm_release(cl_backend *cb);

/* Forces a conv method for every later conv (tests); CLB_CONV_AUTO restores
 * the measured choice. Not part of the public API. */
void cut_cl_force_method(backend *bk, int method);

/* cutout-bench --tune: with on, the first conv of each shape in this
 * process is measured again (and the cache file updated) even when the cache
 * has a choice for it. */
void cut_cl_retune(backend *bk, int on);
/* The choices known so far (loaded or measured), in first-seen order; the
 * list stays valid until the next conv or destroy. */
int cut_cl_choices(backend *bk, const clb_choice **list);

#endif
