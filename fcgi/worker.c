/* Worker process: `threads` request threads, one inference thread, and a
 * connection poller (conns.h) between the listening socket and the request
 * threads. A threaded FastCGI server that serialises accepting with one
 * mutex (libfcgi's example) deadlocks with kept-alive connections (nginx
 * fastcgi_keep_conn): the thread holding it blocks reading its idle
 * connection and no other thread can accept. Giving each thread its own
 * kept connection instead starves new connections while the kept ones stay
 * busy. Here no thread owns a connection: the poller hands out connections
 * that have a request on them, in arrival order, and a thread serves one
 * request (fcgi_stream.h) and hands the connection back. */
#define _GNU_SOURCE /* prctl, pthread_timedjoin_np */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "conns.h"
#include "fcgi_stream.h"
#include "router.h"
#include "infer.h"
#include "jobs.h"
#include "log.h"

/* Threads (the request thread included) that share one request's image
 * work; a 1 MP PNG is deflated in 16 strips. */
#define HELPERS_MAX 8

typedef struct {
    const cf_config *cfg;
    conns pool;
    int stopping;       /* atomic */
    int recycle;        /* atomic: max_requests reached */
    long long served;   /* atomic */
    fcgi_caps caps;     /* what GET_VALUES answers */
    handler_ctx h;
} worker;

/* A request ended by a record that broke the protocol (its connection is
 * closed): counted and logged, the worker goes on. */
static void count_bad_records(worker *w, const fcgi_stream *fs)
{
    board_add(&w->h.b->bad_records, 1);
    log_msg(CF_LOG_INFO, "FastCGI protocol violation on request %u: connection closed", fs->id);
}

static void stop_worker(worker *w)
{
    if (__atomic_exchange_n(&w->stopping, 1, __ATOMIC_SEQ_CST)) return;
    conns_stop(&w->pool);
}

static void *request_thread(void *arg)
{
    worker *w = arg;
    fcgi_stream fs;
    if (fcgs_init(&fs, &w->caps, CONNS_PEEK_MAX, (int)(w->cfg->write_timeout_s * 1000.0))) {
        log_msg(CF_LOG_ERROR, "request thread: out of memory");
        return NULL;
    }
    /* Helpers for this thread's image work (resizing, PNG deflate): a
     * request alone uses the idle cores, as the CLI keeps them busy across
     * images. Idle helpers sleep; under load the calling thread does what
     * the busy helpers do not take (cutout_pool, cutout.h). */
    cutout_pool *helpers = NULL;
    long ncpu = w->h.ncpu;
    int nhelp = ncpu > HELPERS_MAX ? HELPERS_MAX : ncpu < 1 ? 1 : (int)ncpu;
    if (nhelp > 1 && cutout_pool_create(nhelp, &helpers)) {
        log_msg(CF_LOG_WARN, "cannot start helper threads: image work on one thread");
        helpers = NULL;
    }
    int prev = -1, kept = 0;
    for (;;) {
        double ready_at = 0;
        int fd = conns_next(&w->pool, prev, kept, &ready_at);
        if (fd < 0) break; /* drained */
        prev = fd;
        kept = 0;
        int rc = fcgs_read_head(&fs, fd);
        if (rc != FCGS_OK) {
            /* Closed or broken before a whole head (the poller saw one:
             * only a client that lies gets here), or not a responder. */
            if (rc == FCGS_BAD) count_bad_records(w, &fs);
            if (rc == FCGS_REFUSED) fcgs_close(fd); /* its END_REQUEST must not be reset */
            else close(fd);
            continue;
        }
        /* The head is read; the body (when an endpoint reads one) sets
         * its own deadline (request.c). */
        conns_watch(&w->pool, fd, 0);
        board_add(&w->h.slot->busy_threads, 1);
        handle_request(&w->h, &fs, ready_at, helpers);
        if (fs.bad) count_bad_records(w, &fs);
        int werr = fs.werr;
        if (werr == EAGAIN || werr == EWOULDBLOCK) { /* write_timeout_s: the answer was not read */
            board_add(&w->h.b->write_timeouts, 1);
            log_msg(CF_LOG_INFO, "answer not read within write_timeout_s: connection closed");
        }
        /* Closing, fcgs_close reads what the client still sends until it
         * has been quiet for 2 s (so that no reset destroys the answer):
         * bounded, or a trickle after a 413 would hold the thread. */
        conns_watch(&w->pool, fd, app_mono_s() + w->cfg->read_timeout_s);
        kept = fcgs_finish(&fs); /* FCGI_KEEP_CONN and in step */
        if (!kept) fcgs_close(fd);
        board_sub(&w->h.slot->busy_threads, 1);
        long long served = __atomic_add_fetch(&w->served, 1, __ATOMIC_SEQ_CST);
        if (w->cfg->max_requests > 0 && served >= w->cfg->max_requests &&
            !__atomic_exchange_n(&w->recycle, 1, __ATOMIC_SEQ_CST)) {
            /* Still serving: the master starts a replacement and, once it
             * is ready, tells this worker to drain (SIGTERM). */
            log_msg(CF_LOG_INFO, "served %lld requests (max_requests): recycling", served);
            __atomic_store_n(&w->h.slot->state, SLOT_RECYCLING, __ATOMIC_SEQ_CST);
        }
    }
    cutout_pool_free(helpers);
    fcgs_free(&fs);
    return NULL;
}

void worker_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
}

int worker_main(const cf_config *cfg, const listen_socket *ls, const listen_socket *admin, board *b, int slot_idx)
{
    log_set_role("worker");
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* a killed master takes its workers along */
    board_slot *slot = &b->slots[slot_idx];
    slot->threads = cfg->threads;

    static infer_queue q; /* large; one per process */
    char err[512];
    if (infer_start(&q, cfg, b, slot, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "worker cannot start: %s", err);
        return WORKER_EXIT_START;
    }
    snprintf(slot->backend, sizeof slot->backend, "%s", infer_backend(&q));
    snprintf(slot->device, sizeof slot->device, "%s", infer_device(&q));
    /* A client gone while its answer is written: the write fails (EPIPE). */
    signal(SIGPIPE, SIG_IGN);

    worker w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    /* GET_VALUES answers for the whole server: every worker's share. */
    w.caps.max_conns = (long)cfg->max_connections * cfg->workers;
    w.caps.max_reqs = (long)cfg->threads * cfg->workers;
    conns_limits lim = {cfg->idle_timeout_s, cfg->read_timeout_s, cfg->drain_timeout_s, &w.caps};
    if (conns_start(&w.pool, ls->fd, admin->fd, cfg->max_connections, &lim, b, slot, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "worker cannot start: %s", err);
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    w.h.cfg = cfg;
    w.h.q = &q;
    w.h.b = b;
    w.h.slot = slot;
    w.h.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    w.h.pool = &w.pool;
    w.h.admin = admin;

    if (jobs_start(&w.h, err, sizeof err)) { /* the job runner (jobs.h) */
        log_msg(CF_LOG_ERROR, "worker cannot start: %s", err);
        stop_worker(&w);
        conns_join(&w.pool);
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    pthread_t *th = calloc((size_t)cfg->threads, sizeof *th);
    int started = 0;
    if (th)
        for (; started < cfg->threads; started++)
            if (pthread_create(&th[started], NULL, request_thread, &w)) break;
    if (started == 0) {
        log_msg(CF_LOG_ERROR, "cannot start request threads");
        free(th);
        stop_worker(&w);
        conns_join(&w.pool);
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    __atomic_store_n(&slot->state, SLOT_READY, __ATOMIC_SEQ_CST);
    log_msg(CF_LOG_INFO, "worker ready: %d threads, model %s, backend %s, device %s", started,
            q.models[0].name, slot->backend, slot->device);

    /* The master blocked these signals before forking; wait for them here. */
    sigset_t set;
    worker_signals(&set);
    pid_t parent = getppid();
    while (!__atomic_load_n(&w.stopping, __ATOMIC_SEQ_CST)) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGQUIT || sig == SIGINT) {
            log_msg(CF_LOG_INFO, "signal %d: draining", sig);
            stop_worker(&w);
        }
        if (sig == SIGUSR1) { /* from the master (or logrotate): log file renamed */
            int rc = log_reopen(err, sizeof err);
            if (rc < 0) log_msg(CF_LOG_ERROR, "SIGUSR1: %s; still logging to the old file", err);
            else if (rc == 0) log_msg(CF_LOG_INFO, "SIGUSR1: log file reopened");
        }
        if (getppid() != parent) {
            log_msg(CF_LOG_WARN, "master is gone: draining");
            stop_worker(&w);
        }
    }
    __atomic_store_n(&slot->state, SLOT_DRAINING, __ATOMIC_SEQ_CST);
    /* At drain_timeout_s the poller shuts the busy connections down; a
     * thread still waiting for its forward pass then (it would answer
     * into a closed connection) does not keep the worker: it exits. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += cfg->drain_timeout_s + 1;
    int joined = 0;
    for (; joined < started; joined++)
        if (pthread_timedjoin_np(th[joined], NULL, &until)) break;
    if (joined < started) {
        log_msg(CF_LOG_WARN, "%d request threads still busy %d s after the drain began: exiting",
                started - joined, cfg->drain_timeout_s + 1);
        return w.recycle ? WORKER_EXIT_RECYCLE : WORKER_EXIT_OK; /* the process exits */
    }
    free(th);
    conns_join(&w.pool);
    jobs_stop();
    infer_stop(&q);
    log_msg(CF_LOG_INFO, "worker done after %lld requests", w.served);
    return w.recycle ? WORKER_EXIT_RECYCLE : WORKER_EXIT_OK;
}
