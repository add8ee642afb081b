/* Per-thread row buffers and resize taps of the CPU backend (resize, direct
 * conv): sized at prepare for the widest tensor, grown on demand beyond it.
 * Its own file so that the ops that use it need nothing from the backend's
 * op table (backend_cpu.c) that calls them. */
#include <stdlib.h>

#include "pretouch.h"
#include "cpu_backend.h"
#include "cpu_direct.h"

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

int cut_cpu_reserve_rows(cpu_backend *cb, int width)
{
    if (width <= 0) return 0;
    size_t direct = direct_rows_floats(width), resize = cpu_resize_rows_floats(width);
    if (!cut_cpu_rows(cb, direct > resize ? direct : resize) || cut_cpu_taps(cb, (size_t)width))
        return -1;
    cut_pool_touch(cb->tp, cb->rows,
                   cb->rows_floats * (size_t)cutout_pool_threads(cb->tp) * sizeof(float));
    return 0;
}
