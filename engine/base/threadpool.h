/* A fixed pool of worker threads that runs parallel-for loops. The calling
 * thread takes part as thread 0, so a pool of N threads starts N-1. */
#ifndef CUTOUT_THREADPOOL_H
#define CUTOUT_THREADPOOL_H

typedef struct threadpool threadpool;
/* Runs task `task` on pool thread `thread` (0..threads-1). */
typedef void (*tp_task_fn)(void *ctx, int task, int thread);

int tp_create(int threads, threadpool **out); /* 0 or -1 */
int tp_threads(const threadpool *tp);
/* Runs tasks 0..n_tasks-1, returns when all are done. Not reentrant. */
void tp_run(threadpool *tp, int n_tasks, tp_task_fn fn, void *ctx);
void tp_destroy(threadpool *tp);

#endif
