#define _GNU_SOURCE /* accept4, pipe2 */
#include "conns.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "infer.h" /* app_mono_s */
#include "log.h"
#include "reqhead.h"

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

/* Takes idle entry i out of the set (and out of the epoll set when its
 * request head was partial); returns its fd. */
static int take_idle(conns *p, int i)
{
    int fd = p->idle[i].fd;
    if (p->idle[i].first > 0) epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
    p->idle[i] = p->idle[--p->idle_len];
    return fd;
}

/* Under mu. */
static void push_ready(conns *p, conns_entry e)
{
    int tail = (p->ready_head + p->ready_len) % p->max_conns;
    p->ready[tail] = e;
    p->ready_len++;
    set_gauge(p);
    pthread_cond_signal(&p->ready_cv);
}

/* Management records (request id 0) a connection sent before a request
 * are answered here (a web server asking GET_VALUES costs no thread): the
 * whole ones are taken off the socket and answered. Returns the bytes of
 * b[0..n) taken, or -1 when one lies about its pairs, too many come at
 * once or the answers do not fit the socket: the connection is closed. */
static long answer_management(conns *p, int fd, const unsigned char *b, size_t n)
{
    unsigned char ans[FCGI_MGMT_BURST * FCGI_MGMT_ANSWER_MAX];
    size_t alen;
    long taken = fcgi_management_prefix(b, n, p->lim.caps, ans, &alen);
    if (taken <= 0) return taken;
    /* Peeked, so there: taken whole. */
    if (recv(fd, p->drop, (size_t)taken, MSG_DONTWAIT) != (ssize_t)taken) return -1;
    if (send(fd, ans, alen, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)alen) return -1;
    return taken;
}

/* Looks at idle connection i: a whole request head on it sends it to the
 * ready queue; the web server closed it (EOF) or it broke: closed; a
 * partial head is watched for more (edge-triggered). Returns 1 when it
 * left the idle set, 0 when it stays. */
static int check_idle(conns *p, int i)
{
    conns_entry *e = &p->idle[i];
    ssize_t k = recv(e->fd, p->peek, CONNS_PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (k <= 0) {
        close_conn(p, take_idle(p, i));
        return 1;
    }
    long taken = p->lim.caps ? answer_management(p, e->fd, p->peek, (size_t)k) : 0;
    if (taken < 0) {
        if (p->b) board_add(&p->b->bad_heads, 1);
        close_conn(p, take_idle(p, i));
        return 1;
    }
    if (taken == k) return 0; /* answered; idle as before */
    const unsigned char *head = p->peek + taken;
    size_t n = (size_t)(k - taken);
    int whole = reqhead_complete(head, n);
    if (!whole && k < CONNS_PEEK_MAX) {
        if (e->first == 0) {
            e->first = app_mono_s();
            struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = e->fd};
            if (epoll_ctl(p->ep, EPOLL_CTL_ADD, e->fd, &ev)) { /* cannot watch: a thread reads it */
                e->first = 0;
                goto ready;
            }
        }
        return 0;
    }
    /* A head over CONNS_PEEK_MAX (web servers send a few KiB), of another
     * shape than web servers send, or with a parameter that lies about its
     * length: closed unread (reqhead.h). */
    if (!whole || !reqhead_params_valid(head, n)) {
        if (p->b) board_add(&p->b->bad_heads, 1);
        close_conn(p, take_idle(p, i));
        return 1;
    }
ready:;
    conns_entry r = {e->fd, e->used, app_mono_s(), 0};
    take_idle(p, i);
    pthread_mutex_lock(&p->mu);
    push_ready(p, r);
    pthread_mutex_unlock(&p->mu);
    return 1;
}

/* When idle entry e is closed for a timeout, and the counter it counts in. */
static double idle_due(const conns *p, const conns_entry *e, uint64_t **counter)
{
    board *b = p->b;
    if (e->first > 0 || !e->used) { /* a request head begun, or a new connection that sent none */
        if (counter) *counter = b ? &b->read_timeouts : NULL;
        return (e->first > 0 ? e->first : e->since) + p->lim.read_s;
    }
    if (counter) *counter = b ? &b->idle_closed : NULL;
    return e->since + p->lim.idle_s;
}

/* The idle connection to close to make room: one that never carried a
 * request (a new or half-sent one: not a web server's kept connection)
 * before any kept one; the oldest first. */
static int eviction_victim(const conns *p)
{
    int best = 0;
    for (int i = 1; i < p->idle_len; i++) {
        const conns_entry *a = &p->idle[i], *b = &p->idle[best];
        if (a->used != b->used ? !a->used : a->since < b->since) best = i;
    }
    return best;
}

/* Accepts one new connection on lfd; it joins the idle set until its
 * request head is whole (usually at once: the web server sends it right
 * after connecting). At the bound, an idle connection makes room. */
static void accept_new(conns *p, int lfd)
{
    pthread_mutex_lock(&p->mu);
    int full = p->open >= p->max_conns;
    pthread_mutex_unlock(&p->mu);
    while (full) {
        /* Only if a connection is really waiting: closing an idle one
         * for nothing would cost the web server a reconnect. */
        struct pollfd lp = {.fd = lfd, .events = POLLIN};
        if (!p->idle_len || poll(&lp, 1, 0) <= 0) return;
        int victim = eviction_victim(p);
        /* Not one with a request already on it (to the ready queue
         * instead); one the web server closed makes room by itself. */
        if (check_idle(p, victim)) {
            pthread_mutex_lock(&p->mu);
            full = p->open >= p->max_conns;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        close_conn(p, take_idle(p, victim));
        full = 0;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return;
        log_msg(CF_LOG_WARN, "accept: %s", strerror(errno));
        p->accept_pause_until = app_mono_s() + 0.05; /* EMFILE and the like */
        return;
    }
    int one = 1; /* fails harmlessly on unix sockets */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&p->mu);
    p->open++;
    /* A stale watch on a number the kernel reused must not strike. */
    for (int i = 0; i < p->busy_len; i++)
        if (p->busy[i].fd == fd) p->busy[i] = p->busy[--p->busy_len];
    set_gauge(p);
    pthread_mutex_unlock(&p->mu);
    p->idle[p->idle_len++] = (conns_entry){fd, 0, app_mono_s(), 0};
    check_idle(p, p->idle_len - 1);
}

/* Closes the idle connections past their timeout (all of them when
 * stopping); returns the earliest timeout left, or `next`. */
static double expire_idle(conns *p, double now, int stopping, double next)
{
    for (int i = 0; i < p->idle_len;) {
        uint64_t *counter;
        double due = idle_due(p, &p->idle[i], &counter);
        if (stopping || now >= due) {
            if (!stopping && counter) board_add(counter, 1);
            close_conn(p, take_idle(p, i));
            continue;
        }
        if (due < next) next = due;
        i++;
    }
    return next;
}

/* Under mu: shuts down the busy connections past their deadline (or past
 * the drain when stopping); returns the earliest deadline left, or `next`. */
static double expire_busy(conns *p, double now, double next)
{
    double drain_end = p->stopping ? p->stop_time + p->lim.drain_s : 0;
    for (int i = 0; i < p->busy_len; i++) {
        conns_busy *c = &p->busy[i];
        if (c->due < 0) continue; /* shut down already */
        int drained = drain_end > 0 && now >= drain_end;
        if (drained || (c->due > 0 && now >= c->due)) {
            shutdown(c->fd, SHUT_RDWR); /* the thread's blocked read or write returns */
            if (!drained && p->b) board_add(&p->b->read_timeouts, 1);
            log_msg(CF_LOG_INFO, drained ? "connection still busy after drain_timeout_s: closed"
                                         : "request not read within read_timeout_s: connection closed");
            c->due = -1;
            continue;
        }
        if (c->due > 0 && c->due < next) next = c->due;
        if (drain_end > 0 && drain_end < next) next = drain_end;
    }
    return next;
}

static void *poller_main(void *arg)
{
    conns *p = arg;
    double listen_seen = 0; /* since when a waiting connection has been left to others */
    struct pollfd *pf = malloc(((size_t)p->max_conns + 4) * sizeof *pf);
    if (!pf) { /* cannot poll: stop serving (the master replaces the worker) */
        log_msg(CF_LOG_ERROR, "connection poller: out of memory");
        conns_stop(p);
    }
    for (;;) {
        double now = app_mono_s();
        pthread_mutex_lock(&p->mu);
        int stopping = p->stopping || !pf;
        for (int i = 0; i < p->back_len; i++) { /* handed back: idle again */
            if (stopping) { /* nothing new is served: closed at once */
                close(p->back[i]);
                p->open--;
            } else {
                p->idle[p->idle_len++] = (conns_entry){p->back[i], 1, now, 0};
            }
        }
        p->back_len = 0;
        set_gauge(p);
        double next = expire_busy(p, now, now + 1.0);
        int may_accept = !stopping && now >= p->accept_pause_until &&
                         (p->open < p->max_conns || p->idle_len > 0);
        int slots = p->waiting - p->ready_len; /* threads free for a new connection */
        pthread_mutex_unlock(&p->mu);
        next = expire_idle(p, now, stopping, next);
        pthread_mutex_lock(&p->mu);
        if (stopping && (p->open == 0 || !pf)) {
            p->done = 1;
            pthread_cond_broadcast(&p->ready_cv);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        pthread_mutex_unlock(&p->mu);

        if (!stopping && now < p->accept_pause_until && p->accept_pause_until < next)
            next = p->accept_pause_until;
        /* A new connection is accepted at once by a worker with a free
         * thread and no less loaded peer; otherwise after ACCEPT_DEFER_S
         * all the same (kept connections must not starve it: it queues in
         * arrival order). */
        int watch_listen = may_accept;
        if (may_accept && listen_seen > 0) {
            double due = listen_seen + ACCEPT_DEFER_S;
            if (now < due) {
                watch_listen = 0;
                if (due < next) next = due;
            }
        }
        int timeout = (int)((next - now) * 1000.0) + 1;
        if (timeout < 1) timeout = 1;
        int n = 0, at_listen = -1, at_admin = -1;
        pf[n++] = (struct pollfd){.fd = p->wake_rd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = p->ep, .events = POLLIN};
        if (watch_listen) {
            at_listen = n;
            pf[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        }
        if (may_accept && p->admin_fd >= 0) { /* no placement: few, and any worker answers them */
            at_admin = n;
            pf[n++] = (struct pollfd){.fd = p->admin_fd, .events = POLLIN};
        }
        int first_idle = n;
        /* Partial heads are left to the epoll set: their bytes would keep
         * poll() awake. fd -1 keeps the indices of the idle set. */
        for (int i = 0; i < p->idle_len; i++)
            pf[n++] = (struct pollfd){.fd = p->idle[i].first > 0 ? -1 : p->idle[i].fd, .events = POLLIN};
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
        /* Backwards: take_idle moves the last entry into the hole. */
        for (int k = n - 1; k >= first_idle; k--)
            if (pf[k].revents && k - first_idle < p->idle_len) check_idle(p, k - first_idle);
        if (pf[1].revents) { /* more bytes on partial heads */
            struct epoll_event ev[64];
            int m = epoll_wait(p->ep, ev, 64, 0);
            for (int j = 0; j < m; j++)
                for (int i = 0; i < p->idle_len; i++)
                    if (p->idle[i].fd == ev[j].data.fd && p->idle[i].first > 0) {
                        /* A half-sent head whose sender has closed can
                         * never be completed: closed now, not at read_s. */
                        if (!check_idle(p, i) && (ev[j].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                            close_conn(p, take_idle(p, i));
                        break;
                    }
        }
        if (at_listen >= 0) {
            if (!pf[at_listen].revents) listen_seen = 0; /* nobody waiting (now) */
            else if (listen_seen > 0) { /* deferred ACCEPT_DEFER_S: nobody else took it */
                accept_new(p, p->listen_fd);
                listen_seen = 0;
            } else if (slots > 0 && !better_placed_worker(p)) accept_new(p, p->listen_fd);
            else listen_seen = app_mono_s();
        }
        if (at_admin >= 0 && pf[at_admin].revents) accept_new(p, p->admin_fd);
    }
    /* Whatever is left (only when the poller failed) is closed. */
    for (int i = 0; i < p->idle_len; i++) close(p->idle[i].fd);
    p->idle_len = 0;
    free(pf);
    return NULL;
}

int conns_start(conns *p, int listen_fd, int admin_fd, int max_conns, const conns_limits *lim,
                board *b, board_slot *self, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->listen_fd = listen_fd;
    p->admin_fd = admin_fd;
    p->lim = *lim;
    p->ep = -1;
    p->max_conns = max_conns < 1 ? 1 : max_conns;
    p->b = b;
    p->self = self;
    p->wake_rd = p->wake_wr = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready_cv, NULL);
    p->ready = malloc((size_t)p->max_conns * sizeof *p->ready);
    p->idle = malloc((size_t)p->max_conns * sizeof *p->idle);
    p->back = malloc((size_t)p->max_conns * sizeof *p->back);
    p->busy = malloc((size_t)p->max_conns * sizeof *p->busy);
    p->peek = malloc(CONNS_PEEK_MAX);
    p->drop = malloc(CONNS_PEEK_MAX);
    int pfd[2];
    if (!p->ready || !p->idle || !p->back || !p->busy || !p->peek || !p->drop) {
        snprintf(err, errlen, "out of memory for %d connections", p->max_conns);
        goto fail;
    }
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    p->wake_rd = pfd[0];
    p->wake_wr = pfd[1];
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    if (p->ep < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        goto fail;
    }
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

int conns_next(conns *p, int prev, int kept, double *ready_at)
{
    pthread_mutex_lock(&p->mu);
    if (prev >= 0) {
        for (int i = 0; i < p->busy_len; i++)
            if (p->busy[i].fd == prev) {
                p->busy[i] = p->busy[--p->busy_len];
                break;
            }
        if (kept) p->back[p->back_len++] = prev;
        else p->open--;
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
        if (ready_at) *ready_at = e.since;
        p->busy[p->busy_len++] = (conns_busy){fd, app_mono_s() + p->lim.read_s};
        wake(p); /* the poller's next timeout */
    }
    pthread_mutex_unlock(&p->mu);
    return fd;
}

void conns_watch(conns *p, int fd, double due)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->busy_len; i++)
        if (p->busy[i].fd == fd && p->busy[i].due >= 0) {
            p->busy[i].due = due;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    if (due > 0) wake(p);
}

void conns_stop(conns *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->stopping) {
        p->stopping = 1;
        p->stop_time = app_mono_s();
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
    if (p->ep >= 0) close(p->ep);
    p->wake_rd = p->wake_wr = p->ep = -1;
    free(p->ready);
    free(p->idle);
    free(p->back);
    free(p->busy);
    free(p->peek);
    free(p->drop);
    p->drop = NULL;
    p->ready = p->idle = NULL;
    p->back = NULL;
    p->busy = NULL;
    p->peek = NULL;
    pthread_cond_destroy(&p->ready_cv);
    pthread_mutex_destroy(&p->mu);
}
