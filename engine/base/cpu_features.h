/* The x86 features the SIMD kernels need, detected once for the process. The
 * kernels are compiled for their instruction set (*_avx2.c, *_avx512.c) and
 * picked at run time with cut_cpu_has().
 *
 * An ISA cap limits what cut_cpu_has() reports, so that every kernel the
 * machine supports can be run and compared: the environment variable
 * CUTOUT_ISA=portable|avx2|avx512, read once at the first call (benchmarks,
 * users who want to rule a kernel out), and cut_cpu_set_isa() for tests. */
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
    CUT_CPU_AVX512DQ = 1 << 8,
} cut_cpu_feature;

/* What the *_avx2.c and *_avx512.c kernels are compiled for. */
#define CUT_CPU_ISA_AVX2 (CUT_CPU_AVX2 | CUT_CPU_FMA | CUT_CPU_F16C)
#define CUT_CPU_ISA_AVX512 \
    (CUT_CPU_ISA_AVX2 | CUT_CPU_AVX512F | CUT_CPU_AVX512BW | CUT_CPU_AVX512VL | CUT_CPU_AVX512DQ)

/* Kernel families, in order: a cap at one allows it and those below. */
typedef enum { CUT_ISA_PORTABLE, CUT_ISA_AVX2, CUT_ISA_AVX512, CUT_ISA_COUNT } cut_isa;

/* 1 when the CPU, and the OS (which must save the wide registers), supports
 * every feature of mask (cut_cpu_feature values or'ed) and the ISA cap
 * allows it; always 0 off x86-64. Thread-safe. */
int cut_cpu_has(unsigned mask);

/* 1 when the CPU supports isa's kernels, whatever the cap. */
int cut_cpu_isa_supported(cut_isa isa);
/* The highest ISA that cut_cpu_has() allows now. */
cut_isa cut_cpu_isa(void);
/* Caps cut_cpu_has() at isa (CUT_ISA_COUNT: CUTOUT_ISA's cap, or none),
 * for tests that run each kernel family. Not for use while other threads
 * pick kernels. */
void cut_cpu_set_isa(cut_isa isa);
/* "portable", "avx2", "avx512". */
const char *cut_isa_name(cut_isa isa);

#endif
