/* Portable 4-wide float vectors (GCC/clang vector extensions) for the CPU
 * backend's plane ops; they compile to SSE on x86-64 and NEON on arm64. */
#ifndef CUTOUT_CPU_V4_H
#define CUTOUT_CPU_V4_H

#include <string.h>

typedef float v4 __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

static inline v4 v4_load(const float *p)
{
    v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, v4 v) { memcpy(p, &v, sizeof v); }

#if defined(__clang__)
#define V4_SHUFFLE(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define V4_SHUFFLE(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4i){i, j, k, l})
#endif

#endif
