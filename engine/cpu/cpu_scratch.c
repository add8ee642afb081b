/* Per-thread row buffers and resize taps of the CPU backend (resize, direct
 * conv): sized at prepare for the widest tensor, grown on demand beyond it.
 * Its own file so that the ops that use it need nothing from the backend's
 * op table (backend_cpu.c) that calls them. */
#include <stdlib.h>

#include "cpu_backend.h"

float *cut_cpu_rows(cpu_backend *cb, size_t floats)
{
    floats = (floats + 15) / 16 * 16;
    if (floats > cb->rows_floats) {
        size_t n = floats * (size_t)cutout_pool_threads(cb->tp);
        float *r = aligned_alloc(64, n * sizeof(float));
        if (!r) return NULL;
        free(cb->rows);
        cb->rows = r;
        cb->rows_floats = floats;
    }
    return cb->rows;
}

int cut_cpu_taps(cpu_backend *cb, size_t n)
{
    if (n <= cb->taps_cap) return 0;
    resize_tap *t = realloc(cb->taps, n * sizeof *t);
    if (!t) return -1;
    cb->taps = t;
    cb->taps_cap = n;
    return 0;
}
