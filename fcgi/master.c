#define _GNU_SOURCE /* sigtimedwait */
#include "master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "infer.h"
#include "log.h"
#include "models.h"
#include "app_util.h"
#include "worker.h"


#define YOUNG_S 10.0     /* a worker dying earlier than this counts as a start failure */
#define MAX_BACKOFF_S 30.0
#define RELOAD_READY_S 120.0
#define HANG_GRACE_S 5.0 /* beyond request_timeout_s before the watchdog kills */

/* ------------------------------------------------------------ workers */

static int live_workers(const master *m, int generation)
{
    int n = 0;
    for (int i = 0; i < BOARD_SLOTS; i++)
        n += m->w[i].pid > 0 && m->w[i].generation == generation && !m->w[i].stopping &&
             /* a worker at max_requests is replaced while it still serves */
             __atomic_load_n(&m->b->slots[i].state, __ATOMIC_SEQ_CST) < SLOT_DRAINING;
    return n;
}

static int spawn_worker(master *m)
{
    int s = -1;
    for (int i = 0; i < BOARD_SLOTS && s < 0; i++)
        if (m->w[i].pid == 0) s = i;
    if (s < 0) {
        log_msg(CF_LOG_ERROR, "no free worker slot");
        return -1;
    }
    board_slot *bs = &m->b->slots[s];
    memset(bs, 0, sizeof *bs);
    bs->generation = m->generation;
    bs->started_ms = (int64_t)(app_wall_s() * 1e3);
    bs->state = SLOT_STARTING;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        log_msg(CF_LOG_ERROR, "fork: %s", strerror(errno));
        bs->state = SLOT_FREE;
        return -1;
    }
    if (pid == 0) {
        bs->pid = getpid();
        int rc = worker_main(&m->cfg, &m->ls, &m->admin, m->b, s);
        bs->state = SLOT_FREE;
        _exit(rc);
    }
    bs->pid = pid;
    m->w[s] = (proc){pid, m->generation, app_mono_s(), 0, 0, 0};
    log_msg(CF_LOG_INFO, "started worker %d (generation %d, slot %d)", (int)pid, m->generation, s);
    return 0;
}

static void stop_proc(master *m, int i, double grace)
{
    if (m->w[i].pid <= 0 || m->w[i].stopping) return;
    kill(m->w[i].pid, SIGTERM);
    m->w[i].stopping = 1;
    m->w[i].kill_at = app_mono_s() + grace;
}

/* Drain time allowed before SIGKILL: the worker exits by itself within
 * drain_timeout_s + 1 (worker.c). */
static double grace_s(const master *m) { return m->cfg.drain_timeout_s + 5.0; }

/* Collects exited workers; schedules replacements for the current generation. */
static void reap(master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int i = 0;
        while (i < BOARD_SLOTS && m->w[i].pid != pid) i++;
        if (i == BOARD_SLOTS) continue;
        proc p = m->w[i];
        m->w[i].pid = 0;
        __atomic_store_n(&m->b->slots[i].state, SLOT_FREE, __ATOMIC_SEQ_CST);
        double lived = app_mono_s() - p.started;
        if (p.stopping || p.generation != m->generation) {
            log_msg(CF_LOG_INFO, "worker %d stopped (%s %d) after %.1f s", (int)pid,
                    WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), lived);
            continue;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_RECYCLE) {
            log_msg(CF_LOG_INFO, "worker %d recycled (max_requests); replacing it", (int)pid);
            continue;
        }
        board_add(&m->b->worker_restarts, 1);
        if (WIFSIGNALED(status))
            log_msg(CF_LOG_ERROR, "worker %d died by signal %d after %.1f s; replacing it", (int)pid,
                    WTERMSIG(status), lived);
        else
            log_msg(CF_LOG_ERROR, "worker %d exited with status %d after %.1f s; replacing it",
                    (int)pid, WEXITSTATUS(status), lived);
        if (lived < YOUNG_S) {
            m->fast_failures++;
            double delay = 1.0;
            for (int k = 1; k < m->fast_failures && delay < MAX_BACKOFF_S; k++) delay *= 2;
            if (delay > MAX_BACKOFF_S) delay = MAX_BACKOFF_S;
            m->restart_at = app_mono_s() + delay;
            log_msg(CF_LOG_WARN, "%d workers in a row died young: next start in %.0f s",
                    m->fast_failures, delay);
        } else {
            m->fast_failures = 0;
        }
    }
}

static void top_up(master *m)
{
    if (app_mono_s() < m->restart_at) return;
    while (live_workers(m, m->generation) < m->cfg.workers)
        if (spawn_worker(m)) break;
}

/* A worker that reached max_requests keeps serving until its replacement
 * (started by top_up: it no longer counts as live) is ready; then it is
 * told to drain. So the pool never has fewer ready workers than it should. */
static void retire_recycled(master *m)
{
    int ready = 0;
    for (int i = 0; i < BOARD_SLOTS; i++)
        ready += m->w[i].pid > 0 && m->w[i].generation == m->generation && !m->w[i].stopping &&
                 __atomic_load_n(&m->b->slots[i].state, __ATOMIC_SEQ_CST) == SLOT_READY;
    if (ready < m->cfg.workers) return;
    for (int i = 0; i < BOARD_SLOTS; i++)
        if (m->w[i].pid > 0 && !m->w[i].stopping &&
            __atomic_load_n(&m->b->slots[i].state, __ATOMIC_SEQ_CST) == SLOT_RECYCLING) {
            board_add(&m->b->worker_recycles, 1);
            log_msg(CF_LOG_INFO, "worker %d reached max_requests and its replacement is ready: draining it",
                    (int)m->w[i].pid);
            stop_proc(m, i, grace_s(m));
        }
}

static void enforce_kills(master *m)
{
    double now = app_mono_s();
    for (int i = 0; i < BOARD_SLOTS; i++)
        if (m->w[i].pid > 0 && m->w[i].stopping && now >= m->w[i].kill_at) {
            log_msg(CF_LOG_WARN, "worker %d did not drain in time: SIGKILL", (int)m->w[i].pid);
            kill(m->w[i].pid, SIGKILL);
            m->w[i].kill_at = now + 3600;
        }
}

/* php-fpm's request_terminate_timeout for the network: a worker whose
 * inference thread has not beaten (board.h) for request_timeout_s +
 * HANG_GRACE_S is killed, and replaced like any dead worker. Its requests
 * have answered 504 by then (they give up at request_timeout_s). Covers a
 * forward pass that hangs or crawls, and a stopped (SIGSTOP) or wedged
 * process: the thread beats at least once a second while idle. */
static void watchdog(master *m)
{
    int64_t now = (int64_t)(app_mono_s() * 1e3);
    double limit = m->cfg.request_timeout_s + HANG_GRACE_S;
    for (int i = 0; i < BOARD_SLOTS; i++) {
        proc *p = &m->w[i];
        board_slot *s = &m->b->slots[i];
        if (p->pid <= 0 || p->hung) continue;
        int st = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
        int64_t beat = __atomic_load_n(&s->infer_beat_ms, __ATOMIC_RELAXED);
        int64_t busy = __atomic_load_n(&s->infer_busy_since_ms, __ATOMIC_RELAXED);
        if ((st != SLOT_READY && st != SLOT_DRAINING) || !beat) continue;
        double stale = (now - beat) / 1000.0;
        if (stale <= limit) continue;
        if (busy)
            log_msg(CF_LOG_ERROR,
                    "worker %d: forward pass running for %.1f s (request_timeout_s %d + %.0f s): "
                    "killing it", (int)p->pid, (now - busy) / 1000.0, m->cfg.request_timeout_s,
                    HANG_GRACE_S);
        else
            log_msg(CF_LOG_ERROR,
                    "worker %d: no heartbeat from its inference thread for %.1f s (request_timeout_s "
                    "%d + %.0f s; stopped or stuck): killing it", (int)p->pid, stale,
                    m->cfg.request_timeout_s, HANG_GRACE_S);
        kill(p->pid, SIGKILL);
        p->hung = 1;
        board_add(&m->b->worker_hangs, 1);
    }
}

/* ------------------------------------------------------------ reload */

static void reload(master *m)
{
    cf_config nc;
    cf_defaults(&nc);
    char err[1024];
    if (m->config_path && cf_load_file(m->config_path, &nc, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
        return;
    }
    if (models_check(&nc, 0, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
        return;
    }
    if (strcmp(nc.listen, m->cfg.listen)) {
        log_msg(CF_LOG_WARN, "SIGHUP: listen changed to '%s'; a restart is needed for that, keeping %s",
                nc.listen, m->ls.desc);
        snprintf(nc.listen, sizeof nc.listen, "%s", m->cfg.listen);
    }
    if (strcmp(nc.admin_listen, m->cfg.admin_listen)) {
        log_msg(CF_LOG_WARN, "SIGHUP: admin.listen changed to '%s'; a restart is needed for that, keeping '%s'",
                nc.admin_listen, m->cfg.admin_listen);
        snprintf(nc.admin_listen, sizeof nc.admin_listen, "%s", m->cfg.admin_listen);
    }
    cf_config old = m->cfg;
    int old_gen = m->generation;
    m->cfg = nc;
    if (log_open(&m->cfg, err, sizeof err)) log_msg(CF_LOG_ERROR, "SIGHUP: %s", err);
    m->generation++;
    m->b->generation = m->generation;
    m->b->workers_target = m->cfg.workers;
    log_msg(CF_LOG_INFO, "SIGHUP: starting generation %d (%d workers)", m->generation, m->cfg.workers);
    m->restart_at = 0;
    m->fast_failures = 0;
    for (int k = 0; k < m->cfg.workers; k++) spawn_worker(m);
    /* Wait (bounded) for the new generation; the old one keeps serving. */
    double deadline = app_mono_s() + RELOAD_READY_S;
    int ok = 0;
    while (app_mono_s() < deadline) {
        reap(m);
        watchdog(m);
        int ready = 0, alive = 0;
        for (int i = 0; i < BOARD_SLOTS; i++)
            if (m->w[i].pid > 0 && m->w[i].generation == m->generation) {
                alive++;
                ready += __atomic_load_n(&m->b->slots[i].state, __ATOMIC_SEQ_CST) == SLOT_READY;
            }
        if (alive < m->cfg.workers) break; /* one died while starting */
        if (ready == m->cfg.workers) {
            ok = 1;
            break;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    if (!ok) {
        log_msg(CF_LOG_ERROR, "SIGHUP: the new workers did not become ready; keeping generation %d",
                old_gen);
        for (int i = 0; i < BOARD_SLOTS; i++)
            if (m->w[i].pid > 0 && m->w[i].generation == m->generation) stop_proc(m, i, 5);
        m->cfg = old;
        m->generation = old_gen;
        m->restart_at = 0; /* the failure was the new generation's */
        m->fast_failures = 0;
        m->b->generation = old_gen;
        m->b->workers_target = old.workers;
        /* the failed generation's exits are ignored by reap() (stopping) */
        return;
    }
    for (int i = 0; i < BOARD_SLOTS; i++)
        if (m->w[i].pid > 0 && m->w[i].generation != m->generation) stop_proc(m, i, grace_s(m));
    log_msg(CF_LOG_INFO, "SIGHUP: generation %d ready; old workers draining", m->generation);
}

/* ------------------------------------------------------------ log rotation */

/* SIGUSR1, as nginx and php-fpm: logrotate renamed log.file; the master
 * opens the path again, then tells every worker to do the same (each
 * process holds its own descriptor). Lines written before a process has
 * reopened still go to the renamed file. */
static void reopen_logs(master *m)
{
    char err[1200];
    int rc = log_reopen(err, sizeof err);
    if (rc < 0) log_msg(CF_LOG_ERROR, "SIGUSR1: %s; still logging to the old file", err);
    int n = 0;
    for (int i = 0; i < BOARD_SLOTS; i++)
        if (m->w[i].pid > 0 && kill(m->w[i].pid, SIGUSR1) == 0) n++;
    if (rc == 0)
        log_msg(CF_LOG_INFO, "SIGUSR1: log file %s reopened; told %d workers", m->cfg.log_file, n);
    else if (rc > 0)
        log_msg(CF_LOG_INFO, "SIGUSR1: logging to %s, nothing to reopen", m->cfg.log_file);
}

/* ------------------------------------------------------------ run */

int master_run(master *m)
{
    m->b = board_create();
    if (!m->b) {
        log_msg(CF_LOG_ERROR, "cannot map the status board: %s", strerror(errno));
        return 1;
    }
    m->b->started_ms = (int64_t)(app_wall_s() * 1e3);
    snprintf(m->b->listen, sizeof m->b->listen, "%.255s", m->ls.desc);
    m->b->master_pid = getpid();
    m->generation = 1;
    m->b->generation = 1;
    m->b->workers_target = m->cfg.workers;

    sigset_t set;
    worker_signals(&set);
    sigaddset(&set, SIGCHLD);
    /* Blocked and taken with sigtimedwait in the loop below: no signal
     * handlers, so reopening a file or forking runs in plain code, never
     * inside a handler. Workers inherit this and sigwait too. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_msg(CF_LOG_INFO, "cutout-fcgi listening on %s: %d workers x %d threads, model %s",
            m->ls.desc, m->cfg.workers, m->cfg.threads, m->cfg.default_model);
    if (m->admin.fd >= 0) log_msg(CF_LOG_INFO, "admin endpoints on %s only (admin.listen)", m->admin.desc);
    top_up(m);
    int stopping = 0;
    double stop_deadline = 0;
    for (;;) {
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGCHLD || sig < 0) reap(m);
        if ((sig == SIGTERM || sig == SIGQUIT || sig == SIGINT) && !stopping) {
            log_msg(CF_LOG_INFO, "signal %d: draining workers and stopping", sig);
            stopping = 1;
            __atomic_store_n(&m->b->shutting_down, 1, __ATOMIC_SEQ_CST);
            stop_deadline = app_mono_s() + grace_s(m) + 5;
            for (int i = 0; i < BOARD_SLOTS; i++) stop_proc(m, i, grace_s(m));
        }
        if (sig == SIGHUP && !stopping) reload(m);
        if (sig == SIGUSR1) reopen_logs(m);
        reap(m);
        enforce_kills(m);
        watchdog(m);
        if (stopping) {
            int alive = 0;
            for (int i = 0; i < BOARD_SLOTS; i++) alive += m->w[i].pid > 0;
            if (!alive || app_mono_s() > stop_deadline) break;
        } else {
            top_up(m);
            retire_recycled(m);
        }
    }
    if (m->ls.unix_path[0]) unlink(m->ls.unix_path);
    if (m->admin.fd >= 0 && m->admin.unix_path[0]) unlink(m->admin.unix_path);
    log_msg(CF_LOG_INFO, "stopped");
    return 0;
}
