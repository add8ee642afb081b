/* Small helpers shared by the library: error messages and checked sizes. */
#ifndef CUTOUT_UTIL_H
#define CUTOUT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cutout.h"

/* Writes a formatted message into err (if not NULL) and returns code. */
int cut_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* a*b into *out; 0 on overflow. */
static inline int cut_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

#endif
