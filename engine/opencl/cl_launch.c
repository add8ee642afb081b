/* Kernel launches for every OpenCL op: argument binding, global sizes rounded
 * to the work-group, and errors that name the failing call. */
#include <stdio.h>

#include "cl_backend.h"
#include "util.h"

int cut_cl_fail(cl_backend *cb, cl_int code, const char *call)
{
    snprintf(cb->base.err, sizeof cb->base.err, "%s: %s (%d)", call, cut_cl_error_name(code), code);
    return CUTOUT_E_BACKEND;
}

int cut_cl_error(cl_backend *cb, int code, const char *msg)
{
    snprintf(cb->base.err, sizeof cb->base.err, "%s", msg);
    return code;
}

int cut_cl_set_args(cl_backend *cb, cl_kernel k, const char *name, const karg *args, int n)
{
    for (int i = 0; i < n; i++) {
        cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].p);
        if (rc != CL_SUCCESS) {
            char what[96];
            snprintf(what, sizeof what, "clSetKernelArg(%s, %d)", name, i);
            return cut_cl_fail(cb, rc, what);
        }
    }
    return 0;
}

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

int cut_cl_launch(cl_backend *cb, cl_kernel k, const char *name, size_t gx, size_t gy, size_t gz,
                  size_t lx, size_t ly)
{
    if (!gx || !gy || !gz) return 0;
    size_t local[3] = {lx, ly, 1}, global[3] = {gx, gy, gz};
    size_t kwg = 0;
    clGetKernelWorkGroupInfo(k, cb->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL);
    int use_local = kwg >= lx * ly && cb->max_wg >= lx * ly;
    if (use_local) {
        global[0] = round_up(gx, lx);
        global[1] = round_up(gy, ly);
    }
    cl_int rc = clEnqueueNDRangeKernel(cb->q, k, 3, NULL, global, use_local ? local : NULL, 0,
                                       NULL, NULL);
    if (rc != CL_SUCCESS) {
        char what[96];
        snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", name);
        return cut_cl_fail(cb, rc, what);
    }
    return 0;
}

int cut_cl_in_arena(cl_backend *cb, bk_tensor t)
{
    size_t img = (size_t)t.c * t.h * t.w;
    if (t.n <= 0) return 1;
    size_t last = t.off + (size_t)(t.n - 1) * t.nstride + img;
    return last <= cb->arena_floats && last >= t.off;
}
