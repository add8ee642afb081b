/* FLOAT16 initializers to float32: the F16C converter the ONNX reader uses
 * for runs of finite values (half_avx2.c). */
#ifndef CUTOUT_HALF_H
#define CUTOUT_HALF_H

#include <stddef.h>
#include <stdint.h>

/* 1 when cut_half_to_float_f16c may be called (x86-64 with AVX2 and F16C). */
int cut_half_have_f16c(void);
/* Converts little-endian halves src[0..n) to dst in blocks of eight, and
 * stops before the first block that holds an infinity or NaN (their
 * payloads are left to the exact scalar conversion) or is incomplete.
 * Returns how many were converted. Finite values, subnormals included,
 * convert exactly. */
size_t cut_half_to_float_f16c(const uint8_t *src, float *dst, size_t n);

#endif
