#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "clock.h"

/* cut_pool_run returns as soon as every task is done, not when every worker has
 * checked in: a worker whose core is busy with another process must not stall
 * the op (the other threads take its share). Task claims carry the run's
 * generation, so a worker that wakes late can never claim a task of a later
 * run with the state of an earlier one. */
struct cutout_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    _Atomic uint32_t generation; /* bumped for every cut_pool_run under mu; read
                                  * without it while spinning */
    int stopping;
    tp_task_fn fn;       /* the current run, guarded by mu */
    void *ctx;
    int n_tasks;
    atomic_uint_fast64_t claim; /* generation << 32 | next task index */
    atomic_int finished;        /* tasks of the current run completed */
};

typedef struct {
    threadpool *tp;
    int id;
} worker_arg;

typedef struct {
    uint32_t gen;
    tp_task_fn fn;
    void *ctx;
    int n_tasks;
} run_state;

/* How long a worker polls for the next run, and the caller for the end of
 * its run, before sleeping on a condition variable: a forward pass is a few
 * hundred runs, most under a millisecond and close together, and each sleep
 * and wake-up costs tens of microseconds (more on a VM). After the first
 * 20 us the poll yields the core at every clock read, so a runnable thread
 * of another process is not kept waiting; bounded so that an idle pool gives
 * its cores back soon. Measured (u2netp at 320, 2 threads, interleaved):
 * quiet 93-95 ms vs 98-102 without polling; with a busy loop on the other
 * core 156-160 vs 160-165 (pause-only polling for 500 us: 172-177). */
#ifndef CUT_POOL_SPIN_US
#define CUT_POOL_SPIN_US 500
#endif

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls until *v != old (workers: a new run) or, with n_tasks > 0, until
 * *fin reaches n_tasks (the caller: its run done), for CUT_POOL_SPIN_US at
 * most; the clock is read once per 64 polls. */
static void spin_wait(const _Atomic uint32_t *v, uint32_t old, atomic_int *fin, int n_tasks)
{
    double until = cut_now_s() + 1e-6 * CUT_POOL_SPIN_US;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (fin ? atomic_load(fin) >= n_tasks : atomic_load(v) != old) return;
            cpu_relax();
        }
        double now = cut_now_s();
        if (now > until) return;
        if (now > until - 1e-6 * (CUT_POOL_SPIN_US - 20)) sched_yield();
    }
}

/* Claims and runs tasks of run `r` until none is left (or a new run began). */
static void run_tasks(threadpool *tp, const run_state *r, int thread)
{
    for (;;) {
        uint_fast64_t c = atomic_load(&tp->claim);
        if ((uint32_t)(c >> 32) != r->gen || (int)(c & 0xffffffffu) >= r->n_tasks) return;
        if (!atomic_compare_exchange_weak(&tp->claim, &c, c + 1)) continue;
        r->fn(r->ctx, (int)(c & 0xffffffffu), thread);
        if (atomic_fetch_add(&tp->finished, 1) + 1 == r->n_tasks) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
}

static void *worker_main(void *p)
{
    worker_arg a = *(worker_arg *)p;
    free(p);
    threadpool *tp = a.tp;
    uint32_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        if (!tp->stopping && tp->generation == seen) {
            pthread_mutex_unlock(&tp->mu);
            spin_wait(&tp->generation, seen, NULL, 0);
            pthread_mutex_lock(&tp->mu);
        }
        while (!tp->stopping && tp->generation == seen) pthread_cond_wait(&tp->start, &tp->mu);
        if (tp->stopping) break;
        run_state r = {tp->generation, tp->fn, tp->ctx, tp->n_tasks};
        seen = r.gen;
        pthread_mutex_unlock(&tp->mu);
        run_tasks(tp, &r, a.id);
        pthread_mutex_lock(&tp->mu);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

int cutout_pool_create(int threads, threadpool **out)
{
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return CUTOUT_E_NOMEM;
    tp->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->start, NULL);
    pthread_cond_init(&tp->done, NULL);
    atomic_init(&tp->claim, 0);
    atomic_init(&tp->finished, 0);
    tp->workers = calloc((size_t)tp->threads, sizeof *tp->workers);
    if (!tp->workers) {
        cutout_pool_free(tp);
        return CUTOUT_E_NOMEM;
    }
    for (int i = 1; i < tp->threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            tp->threads = i;
            cutout_pool_free(tp);
            return CUTOUT_E_NOMEM;
        }
        *a = (worker_arg){tp, i};
        if (pthread_create(&tp->workers[i], NULL, worker_main, a) != 0) {
            free(a);
            tp->threads = i;
            cutout_pool_free(tp);
            return CUTOUT_E_NOMEM;
        }
    }
    *out = tp;
    return CUTOUT_OK;
}

int cutout_pool_threads(const threadpool *tp) { return tp->threads; }

void cut_pool_run(threadpool *tp, int n_tasks, tp_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    if (tp->threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&tp->mu);
    run_state r = {tp->generation + 1, fn, ctx, n_tasks};
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n_tasks = n_tasks;
    atomic_store(&tp->finished, 0);
    atomic_store(&tp->claim, (uint_fast64_t)r.gen << 32);
    tp->generation = r.gen;
    pthread_cond_broadcast(&tp->start);
    pthread_mutex_unlock(&tp->mu);
    run_tasks(tp, &r, 0);
    spin_wait(NULL, 0, &tp->finished, n_tasks);
    pthread_mutex_lock(&tp->mu);
    while (atomic_load(&tp->finished) < n_tasks) pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}

void cutout_pool_free(threadpool *tp)
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
