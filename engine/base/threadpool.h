/* A fixed pool of worker threads that runs parallel-for loops: the public
 * cutout_pool (cutout.h creates, sizes and frees it), which the library
 * calls threadpool. The calling thread takes part as thread 0, so a pool of
 * N threads starts N-1. */
#ifndef CUTOUT_THREADPOOL_H
#define CUTOUT_THREADPOOL_H

#include "cutout.h"

typedef cutout_pool threadpool;
/* Runs task `task` on pool thread `thread` (0..threads-1). */
typedef void (*tp_task_fn)(void *ctx, int task, int thread);

/* Runs tasks 0..n_tasks-1, returns when all are done. Not reentrant. */
void cut_pool_run(threadpool *tp, int n_tasks, tp_task_fn fn, void *ctx);

#endif
