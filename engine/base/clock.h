/* The library's clock, for timings and the OpenCL tuner; tests and benchmarks
 * use it too. */
#ifndef CUTOUT_CLOCK_H
#define CUTOUT_CLOCK_H

#include <time.h>

/* Seconds on a POSIX clock: CLOCK_MONOTONIC below; benchmarks on a shared
 * machine also read the CPU-time clocks. */
static inline double cut_clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Wall time for intervals: monotonic, so setting the date moves nothing. */
static inline double cut_now_s(void) { return cut_clock_s(CLOCK_MONOTONIC); }
static inline double cut_now_ms(void) { return 1e3 * cut_now_s(); }

#endif
