/* The OpenCL backend: one context and in-order queue on one device, every
 * conv's weights uploaded once into one read-only buffer, activations in one
 * arena buffer addressed by the planner's offsets (the kernels take offsets
 * in floats). Kernels are the sources in kernels/, embedded at build time; the built
 * program is cached on disk (cl_util.c). Every OpenCL failure becomes a
 * message naming the call and the error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cl_backend.h"
#include "cl_kernels.h"
#include "util.h"

static void release_buffers(cl_backend *cb)
{
    if (cb->arena) clReleaseMemObject(cb->arena);
    if (cb->params) clReleaseMemObject(cb->params);
    cb->arena = cb->params = NULL;
    free(cb->cp);
    cb->cp = NULL;
    cb->n_convs = 0;
    cb->arena_floats = 0;
}

static size_t weight_floats(const bk_conv_desc *d)
{
    return (size_t)d->cout * d->cin * d->k * d->k;
}

static int create_buffer(cl_backend *cb, cl_mem_flags flags, size_t bytes, void *host,
                         const char *what, cl_mem *out)
{
    if (bytes > cb->max_alloc) {
        snprintf(cb->base.err, sizeof cb->base.err,
                 "%s needs %zu MB in one buffer; the device allows %zu MB", what, bytes >> 20,
                 cb->max_alloc >> 20);
        return CUTOUT_E_NOMEM;
    }
    cl_int rc;
    *out = clCreateBuffer(cb->ctx, flags, bytes, host, &rc);
    if (rc != CL_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "clCreateBuffer(%s, %zu bytes)", what, bytes);
        return cut_cl_fail(cb, rc, call);
    }
    return 0;
}

static int cl_prepare(backend *bk, const bk_conv_desc *convs, int n_convs, size_t arena_floats)
{
    cl_backend *cb = (cl_backend *)bk;
    release_buffers(cb);
    if (n_convs < 0 || (n_convs && !convs))
        return cut_cl_error(cb, CUTOUT_E_ARG, "prepare: bad convs");
    size_t total = 0;
    for (int i = 0; i < n_convs; i++) {
        const bk_conv_desc *d = &convs[i];
        if (d->k != 1 && d->k != 3) {
            snprintf(bk->err, sizeof bk->err, "conv %d: %dx%d kernels are not implemented "
                     "(only 1x1 and 3x3)", i, d->k, d->k);
            return CUTOUT_E_UNSUPPORTED;
        }
        total += weight_floats(d) + (size_t)d->cout;
    }
    cb->cp = calloc(n_convs > 0 ? (size_t)n_convs : 1, sizeof *cb->cp);
    float *host = malloc((total ? total : 1) * sizeof(float));
    if (!cb->cp || !host) {
        free(host);
        return cut_cl_error(cb, CUTOUT_E_NOMEM, "out of memory packing the weights");
    }
    size_t at = 0;
    for (int i = 0; i < n_convs; i++) {
        const bk_conv_desc *d = &convs[i];
        cb->cp[i].w_off = at;
        memcpy(host + at, d->weight, weight_floats(d) * sizeof(float));
        at += weight_floats(d);
        cb->cp[i].bias_off = at;
        memcpy(host + at, d->bias, (size_t)d->cout * sizeof(float));
        at += (size_t)d->cout;
    }
    int rc = create_buffer(cb, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                           (total ? total : 1) * sizeof(float), host, "weights", &cb->params);
    free(host);
    if (!rc)
        rc = create_buffer(cb, CL_MEM_READ_WRITE, (arena_floats ? arena_floats : 1) * sizeof(float),
                           NULL, "activation arena", &cb->arena);
    if (rc) {
        release_buffers(cb);
        return rc;
    }
    cb->convs = convs;
    cb->n_convs = n_convs;
    cb->arena_floats = arena_floats;
    return 0;
}

/* Host ↔ arena copies, one per image unless the view is dense. Blocking, so
 * the caller's buffer is free to reuse on return. */
static int transfer(cl_backend *cb, bk_tensor t, float *host, int to_device)
{
    if (!cb->arena) return cut_cl_error(cb, CUTOUT_E_ARG, "transfer before prepare");
    if (!cut_cl_in_arena(cb, t)) return cut_cl_error(cb, CUTOUT_E_ARG, "tensor outside the arena");
    size_t img = (size_t)t.c * t.h * t.w;
    int dense = t.nstride == img;
    int pieces = dense ? 1 : t.n;
    size_t bytes = (dense ? img * (size_t)t.n : img) * sizeof(float);
    for (int i = 0; i < pieces; i++) {
        size_t off = (t.off + (size_t)i * t.nstride) * sizeof(float);
        cl_int rc = to_device ? clEnqueueWriteBuffer(cb->q, cb->arena, CL_TRUE, off, bytes,
                                                     host + i * img, 0, NULL, NULL)
                              : clEnqueueReadBuffer(cb->q, cb->arena, CL_TRUE, off, bytes,
                                                    host + i * img, 0, NULL, NULL);
        if (rc != CL_SUCCESS)
            return cut_cl_fail(cb, rc, to_device ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer");
    }
    return 0;
}

static int cl_write(backend *bk, bk_tensor dst, const float *host)
{
    return transfer((cl_backend *)bk, dst, (float *)host, 1);
}

static int cl_read(backend *bk, bk_tensor src, float *host)
{
    return transfer((cl_backend *)bk, src, host, 0);
}

static int cl_conv(backend *bk, int ci, bk_tensor dst, bk_tensor a, const bk_conv_fuse *fuse)
{
    cl_backend *cb = (cl_backend *)bk;
    if (ci < 0 || ci >= cb->n_convs)
        return cut_cl_error(cb, CUTOUT_E_ARG, "conv index out of range");
    const bk_conv_desc *d = &cb->convs[ci];
    const bk_tensor *b = fuse ? fuse->b : NULL, *res = fuse ? fuse->residual : NULL;
    int relu = fuse ? fuse->relu : 0;
    int oh = cut_conv_out_size(a.h, d->k, d->stride, d->pad, d->dil);
    int ow = cut_conv_out_size(a.w, d->k, d->stride, d->pad, d->dil);
    if (a.c + (b ? b->c : 0) != d->cin || dst.c != d->cout || dst.n != a.n || dst.h != oh ||
        dst.w != ow || (b && (b->h != a.h || b->w != a.w || b->n != a.n)) ||
        (res && (res->c != dst.c || res->h != dst.h || res->w != dst.w || res->n != dst.n)))
        return cut_cl_error(cb, CUTOUT_E_ARG, "conv: tensor shapes do not match the conv");
    if (!cut_cl_in_arena(cb, dst) || !cut_cl_in_arena(cb, a) || (b && !cut_cl_in_arena(cb, *b)) ||
        (res && !cut_cl_in_arena(cb, *res)))
        return cut_cl_error(cb, CUTOUT_E_ARG, "conv: tensor outside the arena");
    int method, done = 0;
    int rc = cut_cl_conv_choose(cb, ci, dst, a, b, res, relu, &method, &done);
    if (rc || done) return rc;
    return method == CLB_CONV_GEMM ? cut_cl_conv_gemm(cb, ci, dst, a, b, res, relu)
                                   : cut_cl_conv_direct(cb, ci, dst, a, b, res, relu);
}

/* maxpool2 and resize share their arguments: src view, dst view, shape. */
static int plane_op(cl_backend *cb, cl_kernel k, const char *name, bk_tensor dst, bk_tensor src,
                    int with_scales)
{
    if (dst.n != src.n || dst.c != src.c)
        return cut_cl_error(cb, CUTOUT_E_ARG, "pool/resize: batch or channels differ");
    if (!cut_cl_in_arena(cb, dst) || !cut_cl_in_arena(cb, src))
        return cut_cl_error(cb, CUTOUT_E_ARG, "pool/resize: tensor outside the arena");
    cl_ulong s_off = src.off, s_ns = src.nstride, d_off = dst.off, d_ns = dst.nstride;
    cl_int c = src.c, ih = src.h, iw = src.w, oh = dst.h, ow = dst.w;
    /* PyTorch's scale for align_corners=False without explicit scales: in/out in float */
    cl_float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    karg args[] = {KA(cb->arena), KA(s_off), KA(s_ns), KA(d_off), KA(d_ns), KA(c),
                   KA(ih),        KA(iw),    KA(oh),   KA(ow),    KA(sy),   KA(sx)};
    int rc = cut_cl_set_args(cb, k, name, args, with_scales ? 12 : 10);
    if (!rc)
        rc = cut_cl_launch(cb, k, name, ((size_t)ow + cb->plane_px - 1) / cb->plane_px, (size_t)oh,
                        (size_t)dst.n * dst.c, LOCAL_X, LOCAL_Y);
    return rc;
}

static int cl_maxpool2(backend *bk, bk_tensor dst, bk_tensor src)
{
    cl_backend *cb = (cl_backend *)bk;
    if (dst.h != (src.h + 1) / 2 || dst.w != (src.w + 1) / 2)
        return cut_cl_error(cb, CUTOUT_E_ARG, "maxpool2: dst is not ceil(src / 2)");
    return plane_op(cb, cb->k_pool, "maxpool2", dst, src, 0);
}

static int cl_resize(backend *bk, bk_tensor dst, bk_tensor src)
{
    cl_backend *cb = (cl_backend *)bk;
    return plane_op(cb, cb->k_resize, "resize_bilinear", dst, src, 1);
}

static int cl_sigmoid(backend *bk, bk_tensor dst, bk_tensor src)
{
    cl_backend *cb = (cl_backend *)bk;
    if (dst.n != src.n || dst.c != src.c || dst.h != src.h || dst.w != src.w)
        return cut_cl_error(cb, CUTOUT_E_ARG, "sigmoid: shapes differ");
    if (!cut_cl_in_arena(cb, dst) || !cut_cl_in_arena(cb, src))
        return cut_cl_error(cb, CUTOUT_E_ARG, "sigmoid: tensor outside the arena");
    cl_ulong s_off = src.off, s_ns = src.nstride, d_off = dst.off, d_ns = dst.nstride;
    cl_int c = src.c, plane = src.h * src.w;
    karg args[] = {KA(cb->arena), KA(s_off), KA(s_ns), KA(d_off), KA(d_ns), KA(c), KA(plane)};
    int rc = cut_cl_set_args(cb, cb->k_sigmoid, "sigmoid", args, 7);
    if (!rc)
        rc = cut_cl_launch(cb, cb->k_sigmoid, "sigmoid", (size_t)plane, 1, (size_t)src.n * src.c,
                           LOCAL_X * LOCAL_Y, 1);
    return rc;
}

static void cl_destroy(backend *bk)
{
    cl_backend *cb = (cl_backend *)bk;
    if (!cb) return;
    if (cb->q) clFinish(cb->q);
    release_buffers(cb);
    cut_cl_gemm_release(cb);
    cl_kernel ks[] = {cb->k_conv3,  cb->k_conv1,   cb->k_conv3_c1, cb->k_conv1_c1, cb->k_pool,
                      cb->k_resize, cb->k_sigmoid, cb->k_im2col,   cb->k_epilogue};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    if (cb->prog) clReleaseProgram(cb->prog);
    if (cb->q) clReleaseCommandQueue(cb->q);
    if (cb->ctx) clReleaseContext(cb->ctx);
    free(cb);
}

void cut_cl_force_method(backend *bk, int method)
{
    ((cl_backend *)bk)->force_method = method;
}

static const backend_ops cl_ops = {
    .prepare = cl_prepare,
    .write = cl_write,
    .read = cl_read,
    .conv = cl_conv,
    .maxpool2 = cl_maxpool2,
    .resize = cl_resize,
    .sigmoid = cl_sigmoid,
    .destroy = cl_destroy,
};

static int make_kernel(cl_backend *cb, const char *name, cl_kernel *out)
{
    cl_int rc;
    *out = clCreateKernel(cb->prog, name, &rc);
    if (rc != CL_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "clCreateKernel(%s)", name);
        return cut_cl_fail(cb, rc, call);
    }
    return 0;
}

/* Knobs per device type. On a CPU device (PoCL) a work group runs as a
 * loop over its items, each item as straight-line SIMD code: the direct
 * conv's 8 output channels x 8 pixels are eight 8-wide AVX accumulators,
 * one row load and eight weight broadcasts per eight FMAs (the best of the
 * COUT_BLOCK x PX_VEC pairs measured on PoCL 3.1, Zen 3: 12x8, 8x16, 4x8,
 * 4x16, 8x4 and 16x8 took 1.2-2.1x as long; bench/results/opencl-*.md),
 * and pooling and resizing take 8 outputs per item to spread the per-item
 * index work.
 * On a GPU, 4 x 4 keeps 16 accumulators per thread with many threads per
 * layer, and one output per item keeps a warp's loads contiguous; not yet
 * tuned on a real GPU. CUTOUT_CL_KNOBS=COxPX[xPLANE] overrides them (for
 * tuning experiments, and to run the GPU defaults 4x4x1 on PoCL in tests;
 * the options key their own program and tuning caches). */
static void conv_knobs(cl_backend *cb)
{
    int gpu = cut_cl_device_is_gpu(cb->dev);
    cb->cout_block = gpu ? 4 : 8;
    cb->px_vec = gpu ? 4 : 8;
    cb->plane_px = gpu ? 1 : 8;
    const char *env = getenv("CUTOUT_CL_KNOBS");
    int co, px, pp = cb->plane_px;
    int got = env ? sscanf(env, "%dx%dx%d", &co, &px, &pp) : 0;
    if (got >= 2 && co >= 1 && co <= 16 &&
        (px == 1 || px == 2 || px == 4 || px == 8 || px == 16) && pp >= 1 && pp <= 64) {
        cb->cout_block = co;
        cb->px_vec = px;
        cb->plane_px = pp;
    }
}

/* Context, queue, program and kernels on the chosen device. */
static int cl_setup(cl_backend *cb)
{
    cl_int rc;
    cb->ctx = clCreateContext(NULL, 1, &cb->dev, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) return cut_cl_fail(cb, rc, "clCreateContext");
    cb->q = clCreateCommandQueue(cb->ctx, cb->dev, 0, &rc);
    if (rc != CL_SUCCESS) return cut_cl_fail(cb, rc, "clCreateCommandQueue");
    cl_ulong max_alloc = 0;
    rc = clGetDeviceInfo(cb->dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (rc != CL_SUCCESS)
        return cut_cl_fail(cb, rc, "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE)");
    cb->max_alloc = max_alloc > SIZE_MAX ? SIZE_MAX : (size_t)max_alloc;
    rc = clGetDeviceInfo(cb->dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cb->max_wg, &cb->max_wg,
                         NULL);
    if (rc != CL_SUCCESS)
        return cut_cl_fail(cb, rc, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE)");
    cl_uint units = 1;
    clGetDeviceInfo(cb->dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    cb->base.threads = (int)units;

    const char *srcs[16];
    int n = cut_cl_n_kernel_files < 16 ? cut_cl_n_kernel_files : 16;
    for (int i = 0; i < n; i++) srcs[i] = cut_cl_kernel_files[i].source;
    conv_knobs(cb);
    char options[128];
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -DCOUT_BLOCK=%d -DPX_VEC=%d -DPOOL_PX=%d -DRESIZE_PX=%d",
             cb->cout_block, cb->px_vec, cb->plane_px, cb->plane_px);
    cb->tune_hash = cut_cl_hash_str(cut_cl_device_hash(cb->dev), options);
    for (int i = 0; i < n; i++) cb->tune_hash = cut_cl_hash_str(cb->tune_hash, srcs[i]);
    int r = cut_cl_build_program(cb->ctx, cb->dev, srcs, n, options, &cb->prog, cb->base.err,
                             sizeof cb->base.err);
    if (r) return r;
    if ((r = make_kernel(cb, "conv_k3", &cb->k_conv3)) ||
        (r = make_kernel(cb, "conv_k1", &cb->k_conv1)) ||
        (r = make_kernel(cb, "conv_k3_c1", &cb->k_conv3_c1)) ||
        (r = make_kernel(cb, "conv_k1_c1", &cb->k_conv1_c1)) ||
        (r = make_kernel(cb, "maxpool2", &cb->k_pool)) ||
        (r = make_kernel(cb, "resize_bilinear", &cb->k_resize)) ||
        (r = make_kernel(cb, "sigmoid", &cb->k_sigmoid)) ||
        (r = make_kernel(cb, "im2col", &cb->k_im2col)) ||
        (r = make_kernel(cb, "conv_epilogue", &cb->k_epilogue)))
        return r;
    return 0;
}

int cut_cl_backend_create(const char *device, int require_gpu, backend **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    cl_device_id dev;
    int rc = cut_cl_select_device(device, require_gpu, &dev, err, errlen);
    if (rc) return rc;
    cl_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "opencl backend: out of memory");
    cb->base.ops = &cl_ops;
    cb->base.name = "opencl";
    cb->dev = dev;
    cb->force_method = CLB_CONV_AUTO;
    char name[128], version[64];
    cut_cl_device_string(dev, CL_DEVICE_NAME, name, sizeof name);
    cut_cl_device_string(dev, CL_DEVICE_VERSION, version, sizeof version);
    snprintf(cb->base.device, sizeof cb->base.device, "%.80s (%.40s)", name, version);
    rc = cl_setup(cb);
    if (rc) {
        cut_fail(err, errlen, rc, "opencl backend on %s: %s", name, cb->base.err);
        cl_destroy(&cb->base);
        return rc;
    }
    *out = &cb->base;
    return CUTOUT_OK;
}
