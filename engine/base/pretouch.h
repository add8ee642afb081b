/* Touching long-lived buffers (activation arena, per-thread scratch) up
 * front, so that the first forward pass takes no page faults the steady
 * ones do not. */
#ifndef CUTOUT_PRETOUCH_H
#define CUTOUT_PRETOUCH_H

#include <stddef.h>

#include "threadpool.h"

/* Faults in every page of buf[0, bytes) now, for writing. Whole pages keep
 * their contents (fresh pages read zero); the partial pages at the ends, or
 * all of it where the kernel lacks MADV_POPULATE_WRITE, are written with
 * zeros. Callers must not rely on the contents. */
void cut_touch(void *buf, size_t bytes);
/* cut_touch on the pool's threads, in parallel. */
void cut_pool_touch(threadpool *tp, void *buf, size_t bytes);

#endif
