/* Worker process. libfcgi's threaded example serialises FCGX_Accept_r with
 * one mutex; with kept-alive connections (nginx fastcgi_keep_conn) the
 * thread holding it blocks reading its idle connection and no other thread
 * can accept: a deadlock. Here there is no accept mutex: each thread polls
 * its own kept connection, the listening socket (non-blocking) and the stop
 * pipe; it accepts new connections itself (the kernel serialises accept()
 * between threads and processes; a lost race is EAGAIN) and hands the
 * descriptor to FCGX_Accept_r, which then reads the request from it. */
#define _GNU_SOURCE /* prctl, pipe2 */
#include "worker.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handler.h"
#include "infer.h"
#include "log.h"

typedef struct {
    const cf_config *cfg;
    int listen_fd;
    int wake_fd;        /* read end of the stop pipe: readable once stopping */
    int wake_wr;
    int stopping;       /* atomic */
    int recycle;        /* atomic: max_requests reached */
    double stop_time;   /* monotonic, set when stopping */
    long long served;   /* atomic */
    handler_ctx h;
} worker;

/* A kept connection used less than this long ago is not given up for a new
 * one (see request_thread). */
#define KEEP_FRESH_S 0.02
#define DRAIN_IDLE_MS 100
#define DRAIN_KEEP_S 2.0

static void stop_worker(worker *w)
{
    if (__atomic_load_n(&w->stopping, __ATOMIC_SEQ_CST)) return;
    w->stop_time = mono_now();
    if (__atomic_exchange_n(&w->stopping, 1, __ATOMIC_SEQ_CST)) return;
    ssize_t k = write(w->wake_wr, "x", 1);
    (void)k;
}

static void *request_thread(void *arg)
{
    worker *w = arg;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, w->listen_fd, 0)) {
        log_msg(CF_LOG_ERROR, "FCGX_InitRequest failed");
        return NULL;
    }
    double idle_since = mono_now();
    for (;;) {
        struct pollfd pf[3];
        int n = 0, kept = req.ipcFd >= 0, rc;
        if (__atomic_load_n(&w->stopping, __ATOMIC_SEQ_CST)) {
            /* Draining: no new connections. A kept connection still gets
             * what the web server sends on it until it has been quiet for
             * DRAIN_IDLE_MS (or DRAIN_KEEP_S passed): closing it at once
             * races with a request already on its way. */
            if (!kept || mono_now() > w->stop_time + DRAIN_KEEP_S) break;
            pf[0] = (struct pollfd){.fd = req.ipcFd, .events = POLLIN};
            rc = poll(pf, 1, DRAIN_IDLE_MS);
            if (rc <= 0 || !pf[0].revents) break;
        } else {
            pf[n++] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
            if (kept) pf[n++] = (struct pollfd){.fd = req.ipcFd, .events = POLLIN};
            pf[n++] = (struct pollfd){.fd = w->listen_fd, .events = POLLIN};
            rc = poll(pf, (nfds_t)n, 1000);
            if (rc < 0 && errno != EINTR) {
                log_msg(CF_LOG_ERROR, "poll: %s", strerror(errno));
                break;
            }
            if (rc <= 0 || (pf[0].revents & POLLIN)) continue; /* loop re-checks stopping */
            if (kept && !pf[1].revents && mono_now() - idle_since < KEEP_FRESH_S) {
                /* A new connection waits but ours was used just now: the web
                 * server may be about to reuse it (nginx takes its most
                 * recently freed connection first), and closing it then
                 * fails that request. Threads without a kept connection take
                 * the new one; we look again when ours is no longer fresh. */
                int ms = (int)((KEEP_FRESH_S - (mono_now() - idle_since)) * 1000.0) + 1;
                struct pollfd kp[2] = {pf[0], pf[1]};
                poll(kp, 2, ms);
                continue;
            }
            if (!kept || !pf[1].revents) {
                /* A new connection is waiting (and ours, if any, is quiet):
                 * take it ourselves. Losing the race (EAGAIN) keeps our kept
                 * connection; winning replaces it, so idle kept connections
                 * never make new ones wait for long. */
                int fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                        errno != ECONNABORTED) {
                        log_msg(CF_LOG_WARN, "accept: %s", strerror(errno));
                        struct timespec ts = {0, 50000000}; /* EMFILE and the like */
                        nanosleep(&ts, NULL);
                    }
                    continue;
                }
                int one = 1; /* fails harmlessly on unix sockets */
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (kept) FCGX_Free(&req, 1);
                /* FCGX_Accept_r reads from an open ipcFd instead of accepting;
                 * keepConnection stops its FCGX_Finish_r from closing it. */
                req.ipcFd = fd;
                req.keepConnection = 1;
            }
        }
        rc = FCGX_Accept_r(&req);
        if (rc < 0) {
            /* A connection closed before its request (e.g. an idle kept
             * one the web server dropped) makes libfcgi try its own accept:
             * EAGAIN on our non-blocking socket. Anything else is logged. */
            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
                log_msg(CF_LOG_WARN, "FCGX_Accept_r: %s", rc < -9000 ? "protocol error" : strerror(-rc));
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        board_add(&w->h.slot->busy_threads, 1);
        handle_request(&w->h, &req);
        FCGX_Finish_r(&req);
        board_sub(&w->h.slot->busy_threads, 1);
        idle_since = mono_now();
        long long served = __atomic_add_fetch(&w->served, 1, __ATOMIC_SEQ_CST);
        if (w->cfg->max_requests > 0 && served >= w->cfg->max_requests &&
            !__atomic_exchange_n(&w->recycle, 1, __ATOMIC_SEQ_CST)) {
            log_msg(CF_LOG_INFO, "served %lld requests (max_requests): recycling", served);
            stop_worker(w);
        }
    }
    if (req.ipcFd >= 0) FCGX_Free(&req, 1); /* close a kept connection */
    return NULL;
}

int worker_main(const cf_config *cfg, int listen_fd, board *b, int slot_idx)
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
    if (FCGX_Init()) {
        log_msg(CF_LOG_ERROR, "FCGX_Init failed");
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    /* libfcgi installs handlers where they were default; ours decide. */
    signal(SIGPIPE, SIG_IGN);

    worker w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.listen_fd = listen_fd;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) {
        log_msg(CF_LOG_ERROR, "pipe: %s", strerror(errno));
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    w.wake_fd = pfd[0];
    w.wake_wr = pfd[1];
    w.h.cfg = cfg;
    w.h.q = &q;
    w.h.b = b;
    w.h.slot = slot;

    pthread_t *th = calloc((size_t)cfg->threads, sizeof *th);
    int started = 0;
    if (th)
        for (; started < cfg->threads; started++)
            if (pthread_create(&th[started], NULL, request_thread, &w)) break;
    if (started == 0) {
        log_msg(CF_LOG_ERROR, "cannot start request threads");
        free(th);
        infer_stop(&q);
        return WORKER_EXIT_START;
    }
    __atomic_store_n(&slot->state, SLOT_READY, __ATOMIC_SEQ_CST);
    log_msg(CF_LOG_INFO, "worker ready: %d threads, model %s, backend %s, device %s", started,
            q.models[0].name, slot->backend, slot->device);

    /* The master blocked these signals before forking; wait for them here. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
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
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    infer_stop(&q);
    log_msg(CF_LOG_INFO, "worker done after %lld requests", w.served);
    return w.recycle ? WORKER_EXIT_RECYCLE : WORKER_EXIT_OK;
}
