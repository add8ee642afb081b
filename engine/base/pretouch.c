/* Parallel pre-touching of large buffers (pretouch.h).
 *
 * Transparent huge pages (madvise MADV_HUGEPAGE) were tried for these
 * buffers: 7× fewer faults, ~5% faster steady passes, but the kernel's
 * compaction on the huge-page faults made engine creation 1.5-4× slower and
 * unpredictable on a loaded machine (bench/results/load-2026-12-07.md). */
#include "pretouch.h"

#include <string.h>

#define TOUCH_CHUNK ((size_t)2 << 20) /* bytes per task */

typedef struct {
    char *buf;
    size_t bytes;
} touch_job;

static void touch_task(void *p, int task, int thread)
{
    (void)thread;
    const touch_job *j = p;
    size_t off = (size_t)task * TOUCH_CHUNK;
    memset(j->buf + off, 0, j->bytes - off < TOUCH_CHUNK ? j->bytes - off : TOUCH_CHUNK);
}

void cut_pool_touch(threadpool *tp, void *buf, size_t bytes)
{
    if (!buf || !bytes) return;
    touch_job j = {buf, bytes};
    size_t tasks = (bytes + TOUCH_CHUNK - 1) / TOUCH_CHUNK;
    if (tasks > (1u << 30)) tasks = 1u << 30; /* 2 PiB: not reached */
    cut_pool_run(tp, (int)tasks, touch_task, &j);
}
