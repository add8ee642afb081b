/* OpenCL plumbing: error names, device selection, cached program builds. */
#include "cl_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_dir.h"
#include "util.h"

const char *cut_cl_error_name(cl_int code)
{
    switch (code) {
#define E(x) case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE)
        E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES)
        E(CL_OUT_OF_HOST_MEMORY) E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP)
        E(CL_IMAGE_FORMAT_MISMATCH) E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE)
        E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) E(CL_COMPILE_PROGRAM_FAILURE)
        E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE) E(CL_DEVICE_PARTITION_FAILED)
        E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE)
        E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
        E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
        E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
        E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
        E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

void cut_cl_device_string(cl_device_id dev, cl_device_info what, char *buf, size_t len)
{
    if (!len) return;
    buf[0] = 0;
    if (clGetDeviceInfo(dev, what, len - 1, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[len - 1] = 0;
}

int cut_cl_device_is_gpu(cl_device_id dev)
{
    cl_device_type t = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL) != CL_SUCCESS) return 0;
    return (t & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0;
}

/* Every device of every platform, in platform order (clinfo -l's order). */
#define MAX_DEVICES 64

static int list_devices(cl_device_id *devs, int *n, char *err, size_t errlen)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    *n = 0;
    cl_int rc = clGetPlatformIDs(16, plats, &np);
    if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (rc == CL_SUCCESS && np == 0))
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "opencl: no OpenCL platform installed");
    if (rc != CL_SUCCESS)
        return cut_fail(err, errlen, CUTOUT_E_BACKEND, "opencl: clGetPlatformIDs: %s (%d)",
                        cut_cl_error_name(rc), rc);
    if (np > 16) np = 16;
    for (cl_uint p = 0; p < np && *n < MAX_DEVICES; p++) {
        cl_uint nd = 0;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, (cl_uint)(MAX_DEVICES - *n), devs + *n,
                            &nd);
        if (rc == CL_DEVICE_NOT_FOUND) continue;
        if (rc != CL_SUCCESS)
            return cut_fail(err, errlen, CUTOUT_E_BACKEND, "opencl: clGetDeviceIDs: %s (%d)",
                            cut_cl_error_name(rc), rc);
        *n += nd < (cl_uint)(MAX_DEVICES - *n) ? (int)nd : MAX_DEVICES - *n;
    }
    if (*n == 0)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "opencl: no OpenCL device found");
    return 0;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

int cut_cl_select_device(const char *spec, int gpu_only, cl_device_id *out, char *err,
                         size_t errlen)
{
    cl_device_id devs[MAX_DEVICES];
    int n, rc = list_devices(devs, &n, err, errlen);
    if (rc) return rc;
    char name[256];
    if (spec && all_digits(spec)) {
        long idx = strtol(spec, NULL, 10);
        if (idx >= n)
            return cut_fail(err, errlen, CUTOUT_E_ARG,
                            "opencl: device index %ld out of range (%d devices)", idx, n);
        cut_cl_device_string(devs[idx], CL_DEVICE_NAME, name, sizeof name);
        if (gpu_only && !cut_cl_device_is_gpu(devs[idx]))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "opencl: device %ld (%s) is not a GPU or accelerator", idx, name);
        *out = devs[idx];
        return 0;
    }
    int by_name = spec && *spec && strcmp(spec, "auto") != 0;
    /* Two passes: GPUs and accelerators first, then (unless gpu_only) the rest. */
    for (int pass = 0; pass < (gpu_only ? 1 : 2); pass++)
        for (int i = 0; i < n; i++) {
            if (cut_cl_device_is_gpu(devs[i]) != (pass == 0)) continue;
            cut_cl_device_string(devs[i], CL_DEVICE_NAME, name, sizeof name);
            if (by_name && !contains_nocase(name, spec)) continue;
            *out = devs[i];
            return 0;
        }
    if (by_name)
        return cut_fail(err, errlen, gpu_only ? CUTOUT_E_UNSUPPORTED : CUTOUT_E_ARG,
                        "opencl: no %sdevice name contains \"%s\" (see clinfo -l)",
                        gpu_only ? "GPU or accelerator " : "", spec);
    return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                    "opencl: no GPU or accelerator OpenCL device (%d other device%s)", n,
                    n == 1 ? "" : "s");
}

/* 64-bit FNV-1a, chained through h. */
static uint64_t cl_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t cut_cl_hash_str(uint64_t h, const char *s) { return cl_hash(h, s, strlen(s) + 1); }

uint64_t cut_cl_device_hash(cl_device_id dev)
{
    static const cl_device_info what[] = {CL_DEVICE_NAME, CL_DEVICE_VENDOR, CL_DRIVER_VERSION,
                                          CL_DEVICE_VERSION};
    uint64_t h = CL_HASH_INIT;
    char buf[512];
    for (size_t i = 0; i < sizeof what / sizeof *what; i++) {
        cut_cl_device_string(dev, what[i], buf, sizeof buf);
        h = cut_cl_hash_str(h, buf);
    }
    cl_platform_id plat;
    if (clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) == CL_SUCCESS &&
        clGetPlatformInfo(plat, CL_PLATFORM_VERSION, sizeof buf - 1, buf, NULL) == CL_SUCCESS) {
        buf[sizeof buf - 1] = 0;
        h = cut_cl_hash_str(h, buf);
    }
    return h;
}

/* Cache file: magic, the 8-byte key, the device binary. */
static const char CACHE_MAGIC[8] = {'c', 'u', 't', 'c', 'l', 'b', 'i', '1'};
#define MAX_BINARY (256u << 20)

static int cache_path(uint64_t key, char *path, size_t len)
{
    char dir[3072];
    if (cut_cache_dir(dir, sizeof dir)) return -1;
    int w = snprintf(path, len, "%s/cl-%016llx.bin", dir, (unsigned long long)key);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* The cached binary for key, or NULL (absent, unreadable or not ours). */
static uint8_t *cache_load(uint64_t key, size_t *size)
{
    char path[4096];
    uint8_t *data;
    size_t n;
    if (cache_path(key, path, sizeof path) ||
        cutout_read_file(path, MAX_BINARY, &data, &n, NULL, 0))
        return NULL;
    if (n <= 16 || memcmp(data, CACHE_MAGIC, 8) || memcmp(data + 8, &key, 8)) {
        free(data);
        return NULL;
    }
    memmove(data, data + 16, n - 16);
    *size = n - 16;
    return data;
}

/* Best effort: a cache that cannot be written only costs a rebuild. */
static void cache_store(uint64_t key, cl_program prog)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0 || size > MAX_BINARY)
        return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    char path[4096], tmp[4200];
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS &&
        !cache_path(key, path, sizeof path) &&
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) < (int)sizeof tmp) {
        FILE *f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&key, 1, 8, f) == 8 &&
                     fwrite(bin, 1, size, f) == size;
            if (fclose(f) || !ok || rename(tmp, path)) remove(tmp);
        }
    }
    free(bin);
}

static int build_failure(cl_program prog, cl_device_id dev, cl_int rc, char *err, size_t errlen)
{
    char log[2048];
    log[0] = 0;
    clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    log[sizeof log - 1] = 0;
    return cut_fail(err, errlen, CUTOUT_E_BACKEND, "opencl: clBuildProgram: %s (%d): %.400s",
                    cut_cl_error_name(rc), rc, log);
}

int cut_cl_build_program(cl_context ctx, cl_device_id dev, const char *const *sources,
                         int n_sources, const char *options, cl_program *out, char *err,
                         size_t errlen)
{
    uint64_t key = cut_cl_hash_str(cut_cl_device_hash(dev), options);
    for (int i = 0; i < n_sources; i++) key = cut_cl_hash_str(key, sources[i]);
    cl_int rc;
    size_t size;
    uint8_t *bin = cache_load(key, &size);
    if (bin) {
        const unsigned char *b = bin;
        cl_int status;
        cl_program prog = clCreateProgramWithBinary(ctx, 1, &dev, &size, &b, &status, &rc);
        free(bin);
        if (rc == CL_SUCCESS && status == CL_SUCCESS &&
            clBuildProgram(prog, 1, &dev, options, NULL, NULL) == CL_SUCCESS) {
            *out = prog;
            return 0;
        }
        if (prog) clReleaseProgram(prog); /* stale or foreign binary: rebuild below */
    }
    cl_program prog = clCreateProgramWithSource(ctx, (cl_uint)n_sources, (const char **)sources,
                                                NULL, &rc);
    if (rc != CL_SUCCESS)
        return cut_fail(err, errlen, CUTOUT_E_BACKEND, "opencl: clCreateProgramWithSource: %s (%d)",
                        cut_cl_error_name(rc), rc);
    rc = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        int r = build_failure(prog, dev, rc, err, errlen);
        clReleaseProgram(prog);
        return r;
    }
    cache_store(key, prog);
    *out = prog;
    return 0;
}
