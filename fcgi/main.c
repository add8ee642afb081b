/* cutout-fcgi: the master process. It reads the configuration, opens the
 * listening socket (or takes fd 0 from spawn-fcgi), forks `workers`
 * workers that share it, and supervises them: a worker that dies is
 * replaced (with a growing delay while they keep dying at start), one that
 * reached max_requests is replaced at once; SIGTERM/SIGQUIT/SIGINT drain
 * and stop everything; SIGHUP re-reads the configuration, starts a new
 * generation of workers and stops the old one once the new one is ready;
 * SIGUSR1 reopens the log file (logrotate) here and in every worker. */
#define _GNU_SOURCE /* getopt_long, sigtimedwait helpers */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "config.h"
#include "cutout.h"
#include "infer.h"
#include "log.h"
#include "util.h"
#include "worker.h"

typedef struct {
    pid_t pid;
    int generation;
    double started;   /* monotonic */
    int stopping;     /* SIGTERM sent */
    double kill_at;   /* SIGKILL if still alive then */
    int hung;         /* SIGKILLed by the watchdog */
} proc;

/* Master bookkeeping (one process, single-threaded). */
typedef struct {
    cf_config cfg;
    const char *config_path;
    char listen_desc[CF_PATH_LEN];
    char unix_path[CF_PATH_LEN]; /* to unlink at exit, "" if none */
    int listen_fd;
    board *b;
    proc w[BOARD_SLOTS];
    int generation;
    int fast_failures;  /* consecutive workers that died young */
    double restart_at;  /* no replacement before this (back-off) */
} master;

#define YOUNG_S 10.0     /* a worker dying earlier than this counts as a start failure */
#define MAX_BACKOFF_S 30.0
#define RELOAD_READY_S 120.0
#define HANG_GRACE_S 5.0 /* beyond request_timeout_s before the watchdog kills */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cutout-fcgi [--config FILE] [--listen ADDR] [--check-config]\n"
            "                   [--print-default-config] [--help]\n"
            "  --config FILE            YAML configuration (fcgi/README.md); defaults without it\n"
            "  --listen ADDR            host:port or unix:/path, overrides the file's listen\n"
            "  --check-config           check the configuration and the models, then exit\n"
            "  --print-default-config   print the default configuration as YAML\n"
            "Signals: TERM/QUIT/INT drain and stop; HUP reloads the configuration;\n"
            "         USR1 reopens the log file (after logrotate renamed it).\n");
}

/* ------------------------------------------------------------ socket */

static int is_listening_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int open_listen(master *m, const char *addr, char *err, size_t errlen)
{
    int fd = -1;
    if (!strncmp(addr, "unix:", 5)) {
        const char *path = addr + 5;
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa.sun_path) {
            snprintf(err, errlen, "listen %.300s: path too long", addr);
            return -1;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path); /* stale socket */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || chmod(path, 0666) ||
            listen(fd, 1024)) {
            snprintf(err, errlen, "listen %.300s: %s", addr, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        snprintf(m->unix_path, sizeof m->unix_path, "%s", path);
    } else {
        char host[256], port[16];
        int p;
        if (cf_split_host_port(addr, host, sizeof host, &p)) {
            snprintf(err, errlen, "listen %.300s: not host:port", addr);
            return -1;
        }
        snprintf(port, sizeof port, "%d", p);
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int gai = getaddrinfo(host, port, &hints, &res);
        if (gai) {
            snprintf(err, errlen, "listen %.300s: %s", addr, gai_strerror(gai));
            return -1;
        }
        int one = 1;
        fd = socket(res->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
            bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1024)) {
            snprintf(err, errlen, "listen %.300s: %s", addr, strerror(errno));
            if (fd >= 0) close(fd);
            freeaddrinfo(res);
            return -1;
        }
        freeaddrinfo(res);
    }
    return fd;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): when
 * LISTEN_PID is this process and LISTEN_FDS is 1, the socket is fd 3. The
 * variables are removed so that nothing started later takes them for its
 * own. Returns the fd, -1 when not socket-activated, -2 (message in err)
 * when activated wrongly. */
#define SD_LISTEN_FDS_START 3
static int systemd_socket(char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds) return -1;
    int p = 0, n = 0;
    int ours = !cut_parse_int(pid, 1, 1 << 30, &p) && p == (int)getpid();
    int ok = !cut_parse_int(fds, 0, 1 << 16, &n);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!ours) return -1;
    if (!ok || n != 1) {
        snprintf(err, errlen, "systemd socket activation: LISTEN_FDS=%s; expected exactly one socket", fds);
        return -2;
    }
    if (!is_listening_socket(SD_LISTEN_FDS_START)) {
        snprintf(err, errlen, "systemd socket activation: fd 3 is not a listening stream socket");
        return -2;
    }
    fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
    return SD_LISTEN_FDS_START;
}

static int setup_listen(master *m, char *err, size_t errlen)
{
    const char *addr = m->cfg.listen;
    int sd = systemd_socket(err, errlen);
    if (sd == -2) return -1;
    if (sd >= 0 && addr[0]) {
        log_msg(CF_LOG_WARN, "systemd passed a socket, but listen is set (%s): using listen", addr);
        close(sd);
        sd = -1;
    }
    if (sd >= 0) {
        m->listen_fd = sd;
        snprintf(m->listen_desc, sizeof m->listen_desc, "systemd:fd3");
    } else if (!addr[0]) {
        if (is_listening_socket(0)) {
            m->listen_fd = 0;
            snprintf(m->listen_desc, sizeof m->listen_desc, "fd:0");
        } else {
            addr = "127.0.0.1:9000";
        }
    }
    if (addr[0]) {
        m->listen_fd = open_listen(m, addr, err, errlen);
        if (m->listen_fd < 0) return -1;
        snprintf(m->listen_desc, sizeof m->listen_desc, "%s", addr);
    }
    /* Non-blocking: a worker's poller that loses the race for a connection
     * gets EAGAIN instead of sleeping in accept(). */
    int fl = fcntl(m->listen_fd, F_GETFL);
    if (fl < 0 || fcntl(m->listen_fd, F_SETFL, fl | O_NONBLOCK)) {
        snprintf(err, errlen, "listen socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ workers */

static int live_workers(const master *m, int generation)
{
    int n = 0;
    for (int i = 0; i < BOARD_SLOTS; i++)
        n += m->w[i].pid > 0 && m->w[i].generation == generation && !m->w[i].stopping &&
             /* a worker draining for max_requests is replaced before it exits */
             __atomic_load_n(&m->b->slots[i].state, __ATOMIC_SEQ_CST) != SLOT_DRAINING;
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
    bs->started_ms = board_now_ms();
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
        int rc = worker_main(&m->cfg, m->listen_fd, m->b, s);
        bs->state = SLOT_FREE;
        _exit(rc);
    }
    bs->pid = pid;
    m->w[s] = (proc){pid, m->generation, mono_now(), 0, 0, 0};
    log_msg(CF_LOG_INFO, "started worker %d (generation %d, slot %d)", (int)pid, m->generation, s);
    return 0;
}

static void stop_proc(master *m, int i, double grace)
{
    if (m->w[i].pid <= 0 || m->w[i].stopping) return;
    kill(m->w[i].pid, SIGTERM);
    m->w[i].stopping = 1;
    m->w[i].kill_at = mono_now() + grace;
}

/* Drain time allowed before SIGKILL: a request may take request_timeout_s. */
static double grace_s(const master *m) { return m->cfg.request_timeout_s + 10.0; }

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
        double lived = mono_now() - p.started;
        if (p.stopping || p.generation != m->generation) {
            log_msg(CF_LOG_INFO, "worker %d stopped (%s %d) after %.1f s", (int)pid,
                    WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), lived);
            continue;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_RECYCLE) {
            board_add(&m->b->worker_recycles, 1);
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
            m->restart_at = mono_now() + delay;
            log_msg(CF_LOG_WARN, "%d workers in a row died young: next start in %.0f s",
                    m->fast_failures, delay);
        } else {
            m->fast_failures = 0;
        }
    }
}

static void top_up(master *m)
{
    if (mono_now() < m->restart_at) return;
    while (live_workers(m, m->generation) < m->cfg.workers)
        if (spawn_worker(m)) break;
}

static void enforce_kills(master *m)
{
    double now = mono_now();
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
    int64_t now = board_mono_ms();
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

static int check_models(const cf_config *c, int verbose, char *err, size_t errlen);

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
    if (check_models(&nc, 0, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
        return;
    }
    if (strcmp(nc.listen, m->cfg.listen)) {
        log_msg(CF_LOG_WARN, "SIGHUP: listen changed to '%s'; a restart is needed for that, keeping %s",
                nc.listen, m->listen_desc);
        snprintf(nc.listen, sizeof nc.listen, "%s", m->cfg.listen);
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
    double deadline = mono_now() + RELOAD_READY_S;
    int ok = 0;
    while (mono_now() < deadline) {
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

/* ------------------------------------------------------------ checks */

/* Loads (and frees) every configured model. 0, or -1 with the first
 * problem in err. verbose: prints each model found on stdout. */
static int check_models(const cf_config *c, int verbose, char *err, size_t errlen)
{
    char path[CF_PATH_LEN], e[512];
    const char *names[CF_MAX_MODELS + 1];
    int n = 0;
    names[n++] = c->default_model;
    for (int i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, c->default_model)) names[n++] = c->models[i].name;
    for (int i = 0; i < n; i++) {
        const char *p = cf_model_path_of(c, names[i]);
        if (p) snprintf(path, sizeof path, "%s", p);
        else if (cutout_model_find(names[i], path, sizeof path, e, sizeof e)) {
            snprintf(err, errlen, "model %s: %s", names[i], e);
            return -1;
        }
        cutout_model *mo;
        if (cutout_model_load_file(path, &mo, e, sizeof e)) {
            snprintf(err, errlen, "model %s (%.300s): %s", names[i], path, e);
            return -1;
        }
        if (verbose)
            printf("model %s: %s (%s, %d px)\n", names[i], path, cutout_model_arch_name(mo),
                   cutout_model_input_size(mo));
        cutout_model_free(mo);
    }
    return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    static master m; /* large: worker table */
    const char *listen_override = NULL;
    int check = 0, print_default = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"print-default-config", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': m.config_path = optarg; break;
        case 'l': listen_override = optarg; break;
        case 'k': check = 1; break;
        case 'p': print_default = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cutout-fcgi: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    cf_defaults(&m.cfg);
    if (print_default) {
        cf_print(stdout, &m.cfg);
        return 0;
    }
    char err[1024];
    if (m.config_path && cf_load_file(m.config_path, &m.cfg, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    if (listen_override) {
        cf_config t = m.cfg;
        char y[CF_PATH_LEN + 32];
        snprintf(y, sizeof y, "listen: \"%s\"\n", listen_override);
        if (cf_load_string("--listen", y, strlen(y), &t, err, sizeof err)) {
            fprintf(stderr, "cutout-fcgi: %s\n", err);
            return 2;
        }
        m.cfg = t;
    }
    if (check) {
        if (check_models(&m.cfg, 1, err, sizeof err)) {
            fprintf(stderr, "cutout-fcgi: %s\n", err);
            return 1;
        }
        printf("%s: ok\n", m.config_path ? m.config_path : "(defaults)");
        return 0;
    }
    /* Fail at once on a model that cannot load, instead of a pool of
     * workers that die at start (the back-off is for what happens later). */
    if (check_models(&m.cfg, 0, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    if (log_open(&m.cfg, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    log_set_role("master");
    if (setup_listen(&m, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "%s", err);
        return 1;
    }
    m.b = board_create();
    if (!m.b) {
        log_msg(CF_LOG_ERROR, "cannot map the status board: %s", strerror(errno));
        return 1;
    }
    m.b->started_ms = board_now_ms();
    snprintf(m.b->listen, sizeof m.b->listen, "%.255s", m.listen_desc);
    m.b->master_pid = getpid();
    m.generation = 1;
    m.b->generation = 1;
    m.b->workers_target = m.cfg.workers;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    /* Blocked and taken with sigtimedwait in the loop below: no signal
     * handlers, so reopening a file or forking runs in plain code, never
     * inside a handler. Workers inherit this and sigwait too. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_msg(CF_LOG_INFO, "cutout-fcgi listening on %s: %d workers x %d threads, model %s",
            m.listen_desc, m.cfg.workers, m.cfg.threads, m.cfg.default_model);
    top_up(&m);
    int stopping = 0;
    double stop_deadline = 0;
    for (;;) {
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGCHLD || sig < 0) reap(&m);
        if ((sig == SIGTERM || sig == SIGQUIT || sig == SIGINT) && !stopping) {
            log_msg(CF_LOG_INFO, "signal %d: draining workers and stopping", sig);
            stopping = 1;
            __atomic_store_n(&m.b->shutting_down, 1, __ATOMIC_SEQ_CST);
            stop_deadline = mono_now() + grace_s(&m) + 5;
            for (int i = 0; i < BOARD_SLOTS; i++) stop_proc(&m, i, grace_s(&m));
        }
        if (sig == SIGHUP && !stopping) reload(&m);
        if (sig == SIGUSR1) reopen_logs(&m);
        reap(&m);
        enforce_kills(&m);
        watchdog(&m);
        if (stopping) {
            int alive = 0;
            for (int i = 0; i < BOARD_SLOTS; i++) alive += m.w[i].pid > 0;
            if (!alive || mono_now() > stop_deadline) break;
        } else {
            top_up(&m);
        }
    }
    if (m.unix_path[0]) unlink(m.unix_path);
    log_msg(CF_LOG_INFO, "stopped");
    return 0;
}
