/* Touching long-lived buffers (activation arena, per-thread scratch) up
 * front, so that the first forward pass takes no page faults the steady
 * ones do not. */
#ifndef CUTOUT_PRETOUCH_H
#define CUTOUT_PRETOUCH_H

#include <stddef.h>

#include "threadpool.h"

/* Writes zeros over buf[0, bytes) on the pool's threads: every page is
 * faulted in now, in parallel, rather than during a forward pass. */
void cut_pool_touch(threadpool *tp, void *buf, size_t bytes);

#endif
