/* The x86 features the SIMD kernels need, detected once for the process. The
 * kernels are compiled for their instruction set (*_avx2.c) and picked at run
 * time with cut_cpu_has(); the AVX-512 flags are for the kernels to come. */
#ifndef CUTOUT_CPU_FEATURES_H
#define CUTOUT_CPU_FEATURES_H

typedef enum {
    CUT_CPU_AVX2 = 1 << 0,
    CUT_CPU_FMA = 1 << 1,
    CUT_CPU_F16C = 1 << 2,
    CUT_CPU_AVX512F = 1 << 3,
    CUT_CPU_AVX512BW = 1 << 4,
    CUT_CPU_AVX512VL = 1 << 5,
    CUT_CPU_AVX512VNNI = 1 << 6,
    CUT_CPU_AVX512BF16 = 1 << 7,
} cut_cpu_feature;

/* 1 when the CPU, and the OS (which must save the wide registers), supports
 * every feature of mask (cut_cpu_feature values or'ed); always 0 off x86-64.
 * Thread-safe. */
int cut_cpu_has(unsigned mask);

#endif
