/* Per-thread row buffers of the CPU backend (resize, direct conv), grown on
 * demand. Its own file so that the ops that use it need nothing from the
 * backend's op table (backend_cpu.c) that calls them. */
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
