#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct threadpool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped for every tp_run */
    int stopping;
    int busy;                 /* workers still inside the current run */
    tp_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
};

typedef struct {
    threadpool *tp;
    int id;
} worker_arg;

static void run_tasks(threadpool *tp, int thread)
{
    for (;;) {
        int t = atomic_fetch_add(&tp->next_task, 1);
        if (t >= tp->n_tasks) break;
        tp->fn(tp->ctx, t, thread);
    }
}

static void *worker_main(void *p)
{
    worker_arg a = *(worker_arg *)p;
    free(p);
    threadpool *tp = a.tp;
    unsigned long seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->stopping && tp->generation == seen) pthread_cond_wait(&tp->start, &tp->mu);
        if (tp->stopping) break;
        seen = tp->generation;
        pthread_mutex_unlock(&tp->mu);
        run_tasks(tp, a.id);
        pthread_mutex_lock(&tp->mu);
        if (--tp->busy == 0) pthread_cond_signal(&tp->done);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

int tp_create(int threads, threadpool **out)
{
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return -1;
    tp->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->start, NULL);
    pthread_cond_init(&tp->done, NULL);
    tp->workers = calloc((size_t)tp->threads, sizeof *tp->workers);
    if (!tp->workers) {
        tp_destroy(tp);
        return -1;
    }
    for (int i = 1; i < tp->threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            tp->threads = i;
            tp_destroy(tp);
            return -1;
        }
        *a = (worker_arg){tp, i};
        if (pthread_create(&tp->workers[i], NULL, worker_main, a) != 0) {
            free(a);
            tp->threads = i;
            tp_destroy(tp);
            return -1;
        }
    }
    *out = tp;
    return 0;
}

int tp_threads(const threadpool *tp) { return tp->threads; }

void tp_run(threadpool *tp, int n_tasks, tp_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    if (tp->threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n_tasks = n_tasks;
    atomic_store(&tp->next_task, 0);
    tp->busy = tp->threads - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->start);
    pthread_mutex_unlock(&tp->mu);
    run_tasks(tp, 0);
    pthread_mutex_lock(&tp->mu);
    while (tp->busy > 0) pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}

void tp_destroy(threadpool *tp)
{
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    tp->stopping = 1;
    pthread_cond_broadcast(&tp->start);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->threads; i++)
        if (tp->workers && tp->workers[i]) pthread_join(tp->workers[i], NULL);
    pthread_cond_destroy(&tp->start);
    pthread_cond_destroy(&tp->done);
    pthread_mutex_destroy(&tp->mu);
    free(tp->workers);
    free(tp);
}
