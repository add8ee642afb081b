/* Parallel pre-touching of large buffers (pretouch.h).
 *
 * Transparent huge pages (madvise MADV_HUGEPAGE) were tried for these
 * buffers: 7× fewer faults, ~5% faster steady passes, but the kernel's
 * compaction on the huge-page faults made engine creation 1.5-4× slower and
 * unpredictable on a loaded machine (bench/results/load-2026-12-07.md). */
#define _DEFAULT_SOURCE /* madvise */
#include "pretouch.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL */
#endif

#define TOUCH_CHUNK ((size_t)2 << 20) /* bytes per task */

/* Under AddressSanitizer every access also reads the shadow of its bytes:
 * writing the buffer maps those shadow pages now, the madvise would not (the
 * first pass would take their faults). */
#if defined(__SANITIZE_ADDRESS__)
#define TOUCH_BY_MADVISE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TOUCH_BY_MADVISE 0
#endif
#endif
#ifndef TOUCH_BY_MADVISE
#define TOUCH_BY_MADVISE 1
#endif

void cut_touch(void *buf, size_t bytes)
{
    char *p = buf;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + bytes) / page * page;
    /* The kernel maps the whole pages in one call: about a third less CPU
     * than taking one fault per page (bench/results/load-2026-12-07-cache.md).
     * The partial pages at the ends, and any kernel without it: written. */
    if (TOUCH_BY_MADVISE && b > a && madvise((void *)a, b - a, MADV_POPULATE_WRITE) == 0) {
        memset(p, 0, a - (uintptr_t)p);
        memset((void *)b, 0, (uintptr_t)p + bytes - b);
        return;
    }
    memset(p, 0, bytes);
}

typedef struct {
    char *buf;
    size_t bytes;
} touch_job;

static void touch_task(void *ctx, int task, int thread)
{
    (void)thread;
    const touch_job *j = ctx;
    size_t off = (size_t)task * TOUCH_CHUNK;
    cut_touch(j->buf + off, j->bytes - off < TOUCH_CHUNK ? j->bytes - off : TOUCH_CHUNK);
}

void cut_pool_touch(threadpool *tp, void *buf, size_t bytes)
{
    if (!buf || !bytes) return;
    touch_job j = {buf, bytes};
    size_t tasks = (bytes + TOUCH_CHUNK - 1) / TOUCH_CHUNK;
    if (tasks > (1u << 30)) tasks = 1u << 30; /* 2 PiB: not reached */
    cut_pool_run(tp, (int)tasks, touch_task, &j);
}
