/* The OpenCL C sources in kernels/ (one family per file), embedded at build time by
 * tools/embed-kernels into $(BUILD)/kernels.c. */
#ifndef CUTOUT_CL_KERNELS_H
#define CUTOUT_CL_KERNELS_H

typedef struct {
    const char *name;   /* file name, e.g. "conv.cl" */
    const char *source;
} cl_kernel_file;

extern const cl_kernel_file cut_cl_kernel_files[];
extern const int cut_cl_n_kernel_files;

#endif
