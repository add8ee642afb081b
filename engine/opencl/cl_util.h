/* OpenCL plumbing for the OpenCL backend: error names, device selection and
 * program building with an on-disk binary cache. */
#ifndef CUTOUT_CL_UTIL_H
#define CUTOUT_CL_UTIL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

/* "CL_OUT_OF_RESOURCES" etc.; "unknown OpenCL error" for codes it does not know. */
const char *cut_cl_error_name(cl_int code);

/* Picks a device. spec NULL, "" or "auto": the first GPU or accelerator,
 * else (unless gpu_only) the first device of any kind. A decimal number:
 * that index in the list of all devices of all platforms (`clinfo -l`
 * order). Other text: the first device whose name contains it (case
 * insensitive), GPUs and accelerators before other devices. With gpu_only a
 * CPU device is never chosen. Returns 0; CUTOUT_E_UNSUPPORTED when no
 * platform or no suitable device exists (the caller may fall back to the
 * CPU backend); CUTOUT_E_ARG when spec names no device; CUTOUT_E_BACKEND
 * when an OpenCL query fails. */
int cut_cl_select_device(const char *spec, int gpu_only, cl_device_id *out, char *err,
                         size_t errlen);

/* Whether a device is a GPU or an accelerator. */
int cut_cl_device_is_gpu(cl_device_id dev);

/* A string device query into buf (always NUL-terminated). */
void cut_cl_device_string(cl_device_id dev, cl_device_info what, char *buf, size_t len);

/* 64-bit FNV-1a, chained through h (start with CL_HASH_INIT). */
#define CL_HASH_INIT 14695981039346656037ull
uint64_t cut_cl_hash_str(uint64_t h, const char *s); /* includes the terminating NUL */

/* Hash of what makes a device's compiled code differ: device name, vendor,
 * driver version, device and platform OpenCL versions. */
uint64_t cut_cl_device_hash(cl_device_id dev);

/* Builds the program from the sources with the options, loading the device
 * binary from the cache (keyed by device, driver, options and source hash)
 * when present and storing it after a build from source. Errors include the
 * build log's start. */
int cut_cl_build_program(cl_context ctx, cl_device_id dev, const char *const *sources,
                         int n_sources, const char *options, cl_program *out, char *err,
                         size_t errlen);

#endif
