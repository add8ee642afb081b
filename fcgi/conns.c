#define _GNU_SOURCE /* accept4, pipe2 */
#include "conns.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "infer.h" /* mono_now */
#include "log.h"

/* See poller_main. */
#define ACCEPT_DEFER_S 0.005

static void wake(conns *p)
{
    ssize_t k = write(p->wake_wr, "x", 1); /* full pipe: a wake-up is pending anyway */
    (void)k;
}

/* Under mu: the connection gauges on the board. */
static void set_gauge(conns *p)
{
    if (!p->self) return;
    __atomic_store_n(&p->self->connections, (uint64_t)p->open, __ATOMIC_RELAXED);
    __atomic_store_n(&p->self->ready_connections, (uint64_t)p->ready_len, __ATOMIC_RELAXED);
}

/* Requests a worker holds: being handled, or waiting on a connection. */
static uint64_t load_of(board_slot *s)
{
    return board_get(&s->inflight) + board_get(&s->ready_connections);
}

/* 1 when another ready worker holds fewer requests than this one. */
static int better_placed_worker(conns *p)
{
    if (!p->b || !p->self) return 0;
    uint64_t mine = load_of(p->self);
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &p->b->slots[i];
        if (s == p->self || __atomic_load_n(&s->state, __ATOMIC_RELAXED) != SLOT_READY) continue;
        if (load_of(s) < mine) return 1;
    }
    return 0;
}

/* Poller: closes a connection it owns. */
static void close_conn(conns *p, int fd)
{
    close(fd);
    pthread_mutex_lock(&p->mu);
    p->open--;
    set_gauge(p);
    pthread_mutex_unlock(&p->mu);
}

static void drop_idle(conns *p, int i)
{
    p->idle[i] = p->idle[--p->idle_len];
}

/* Under mu. */
static void push_ready(conns *p, int fd, double t)
{
    int tail = (p->ready_head + p->ready_len) % p->max_conns;
    p->ready[tail] = (conns_entry){fd, t};
    p->ready_len++;
    set_gauge(p);
    pthread_cond_signal(&p->ready_cv);
}

/* Looks at idle connection i: a request on it goes to the ready queue; the
 * web server closed it (EOF) or it broke: closed. Returns 1 when it left the
 * idle set, 0 when it is still quiet. */
static int check_idle(conns *p, int i)
{
    int fd = p->idle[i].fd;
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    drop_idle(p, i);
    if (k <= 0) {
        close_conn(p, fd);
        return 1;
    }
    pthread_mutex_lock(&p->mu);
    push_ready(p, fd, mono_now());
    pthread_mutex_unlock(&p->mu);
    return 1;
}

/* Accepts one new connection (straight to the ready queue: the web server
 * sends its request right after connecting). At the bound, the idle
 * connection unused for longest makes room. */
static void accept_new(conns *p)
{
    pthread_mutex_lock(&p->mu);
    int full = p->open >= p->max_conns;
    pthread_mutex_unlock(&p->mu);
    while (full) {
        /* Only if a connection is really waiting: closing an idle one
         * for nothing would cost the web server a reconnect. */
        struct pollfd lp = {.fd = p->listen_fd, .events = POLLIN};
        if (!p->idle_len || poll(&lp, 1, 0) <= 0) return;
        int oldest = 0;
        for (int i = 1; i < p->idle_len; i++)
            if (p->idle[i].t < p->idle[oldest].t) oldest = i;
        /* Not one with a request already on it (to the ready queue
         * instead); one the web server closed makes room by itself. */
        if (check_idle(p, oldest)) {
            pthread_mutex_lock(&p->mu);
            full = p->open >= p->max_conns;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        int fd = p->idle[oldest].fd;
        drop_idle(p, oldest);
        close_conn(p, fd);
        full = 0;
    }
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return;
        log_msg(CF_LOG_WARN, "accept: %s", strerror(errno));
        p->accept_pause_until = mono_now() + 0.05; /* EMFILE and the like */
        return;
    }
    int one = 1; /* fails harmlessly on unix sockets */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&p->mu);
    p->open++;
    set_gauge(p);
    push_ready(p, fd, mono_now());
    pthread_mutex_unlock(&p->mu);
}

/* Draining: closes the idle connections whose time is up; returns the
 * poll timeout (ms) until the next one's. */
static int drain_idle(conns *p, double stop_time)
{
    double now = mono_now(), next = now + 1.0; /* no idle one: woken by the threads */
    for (int i = 0; i < p->idle_len;) {
        double since = p->idle[i].t > stop_time ? p->idle[i].t : stop_time;
        double due = since + CONNS_DRAIN_IDLE_S;
        if (due > stop_time + CONNS_DRAIN_MAX_S) due = stop_time + CONNS_DRAIN_MAX_S;
        if (now >= due) {
            int fd = p->idle[i].fd;
            drop_idle(p, i);
            close_conn(p, fd);
            continue;
        }
        if (due < next) next = due;
        i++;
    }
    int ms = (int)((next - now) * 1000.0) + 1;
    return ms < 1 ? 1 : ms;
}

static void *poller_main(void *arg)
{
    conns *p = arg;
    double listen_seen = 0; /* since when a waiting connection has been left to others */
    struct pollfd *pf = malloc(((size_t)p->max_conns + 2) * sizeof *pf);
    if (!pf) { /* cannot poll: stop serving (the master replaces the worker) */
        log_msg(CF_LOG_ERROR, "connection poller: out of memory");
        conns_stop(p);
    }
    for (;;) {
        double now = mono_now();
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < p->back_len; i++) /* handed back: idle again */
            p->idle[p->idle_len++] = (conns_entry){p->back[i], now};
        p->back_len = 0;
        int stopping = p->stopping || !pf;
        double stop_time = p->stop_time;
        int may_accept = !stopping && now >= p->accept_pause_until &&
                         (p->open < p->max_conns || p->idle_len > 0);
        int slots = p->waiting - p->ready_len; /* threads free for a new connection */
        if (stopping && (p->open == 0 || !pf)) {
            p->done = 1;
            pthread_cond_broadcast(&p->ready_cv);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        pthread_mutex_unlock(&p->mu);

        int timeout = 1000;
        if (stopping) timeout = drain_idle(p, stop_time);
        else if (now < p->accept_pause_until)
            timeout = (int)((p->accept_pause_until - now) * 1000.0) + 1;
        /* A new connection is accepted at once by a worker with a free
         * thread and no less loaded peer; otherwise after ACCEPT_DEFER_S
         * all the same (kept connections must not starve it: it queues in
         * arrival order). */
        int watch_listen = may_accept;
        if (may_accept && listen_seen > 0) {
            double due = listen_seen + ACCEPT_DEFER_S;
            if (now < due) {
                watch_listen = 0;
                int ms = (int)((due - now) * 1000.0) + 1;
                if (ms < timeout) timeout = ms;
            }
        }
        int n = 0, at_listen = -1;
        pf[n++] = (struct pollfd){.fd = p->wake_rd, .events = POLLIN};
        if (watch_listen) {
            at_listen = n;
            pf[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        }
        int first_idle = n;
        for (int i = 0; i < p->idle_len; i++)
            pf[n++] = (struct pollfd){.fd = p->idle[i].fd, .events = POLLIN};
        int rc = poll(pf, (nfds_t)n, timeout);
        if (rc < 0) {
            if (errno != EINTR) {
                log_msg(CF_LOG_ERROR, "poll: %s", strerror(errno));
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (rc == 0) continue;
        if (pf[0].revents) {
            char buf[256];
            while (read(p->wake_rd, buf, sizeof buf) > 0) {
            }
        }
        /* Backwards: drop_idle moves the last entry into the hole. */
        for (int k = n - 1; k >= first_idle; k--)
            if (pf[k].revents) check_idle(p, k - first_idle);
        if (at_listen >= 0) {
            if (!pf[at_listen].revents) listen_seen = 0; /* nobody waiting (now) */
            else if (listen_seen > 0) { /* deferred ACCEPT_DEFER_S: nobody else took it */
                accept_new(p);
                listen_seen = 0;
            } else if (slots > 0 && !better_placed_worker(p)) accept_new(p);
            else listen_seen = mono_now();
        }
    }
    /* Whatever is left (only when the poller failed) is closed. */
    for (int i = 0; i < p->idle_len; i++) close(p->idle[i].fd);
    p->idle_len = 0;
    free(pf);
    return NULL;
}

int conns_start(conns *p, int listen_fd, int max_conns, board *b, board_slot *self, char *err,
                size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->listen_fd = listen_fd;
    p->max_conns = max_conns < 1 ? 1 : max_conns;
    p->b = b;
    p->self = self;
    p->wake_rd = p->wake_wr = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready_cv, NULL);
    p->ready = malloc((size_t)p->max_conns * sizeof *p->ready);
    p->idle = malloc((size_t)p->max_conns * sizeof *p->idle);
    p->back = malloc((size_t)p->max_conns * sizeof *p->back);
    int pfd[2];
    if (!p->ready || !p->idle || !p->back) {
        snprintf(err, errlen, "out of memory for %d connections", p->max_conns);
        goto fail;
    }
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    p->wake_rd = pfd[0];
    p->wake_wr = pfd[1];
    if (pthread_create(&p->thread, NULL, poller_main, p)) {
        snprintf(err, errlen, "cannot start the connection poller");
        goto fail;
    }
    p->started = 1;
    return 0;
fail:
    conns_join(p);
    return -1;
}

int conns_next(conns *p, int prev, double *ready_at)
{
    pthread_mutex_lock(&p->mu);
    if (prev >= 0) p->back[p->back_len++] = prev;
    else if (prev == CONNS_CLOSED) {
        p->open--;
        set_gauge(p);
    }
    /* Tell the poller: a connection to watch again, or a thread free for
     * a new one. */
    wake(p);
    p->waiting++;
    while (!p->ready_len && !p->done) pthread_cond_wait(&p->ready_cv, &p->mu);
    p->waiting--;
    int fd = -1;
    if (p->ready_len) {
        conns_entry e = p->ready[p->ready_head];
        p->ready_head = (p->ready_head + 1) % p->max_conns;
        p->ready_len--;
        set_gauge(p);
        fd = e.fd;
        if (ready_at) *ready_at = e.t;
    }
    pthread_mutex_unlock(&p->mu);
    return fd;
}

void conns_stop(conns *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->stopping) {
        p->stopping = 1;
        p->stop_time = mono_now();
    }
    pthread_mutex_unlock(&p->mu);
    wake(p);
}

void conns_join(conns *p)
{
    if (p->started) {
        pthread_join(p->thread, NULL);
        p->started = 0;
    }
    for (int i = 0; i < p->ready_len; i++) /* none after a drain; harmless otherwise */
        close(p->ready[(p->ready_head + i) % p->max_conns].fd);
    p->ready_len = 0;
    if (p->wake_rd >= 0) close(p->wake_rd);
    if (p->wake_wr >= 0) close(p->wake_wr);
    p->wake_rd = p->wake_wr = -1;
    free(p->ready);
    free(p->idle);
    free(p->back);
    p->ready = p->idle = NULL;
    p->back = NULL;
    pthread_cond_destroy(&p->ready_cv);
    pthread_mutex_destroy(&p->mu);
}
