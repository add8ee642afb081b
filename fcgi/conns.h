/* A worker's FastCGI connections, decoupled from its request threads.
 *
 * One poller thread owns the listening socket and every idle connection
 * (kept alive by the web server: nginx fastcgi_keep_conn, Apache
 * enablereuse). A connection with data on it goes to a FIFO ready queue; a
 * request thread takes it, serves exactly one request, and hands it back
 * (or reports it closed). So no thread ever sits on a quiet connection, and
 * a busy kept connection cannot keep a new one waiting: every connection
 * with a request is served in the order its request arrived.
 *
 * Several workers share the listening socket, and a connection stays with
 * the worker that accepted it (the web server keeps reusing it), so a new
 * connection should go to the least loaded worker: a poller accepts at once
 * only while it has a free request thread and no other ready worker has
 * fewer requests (in flight + waiting, from the status board); otherwise
 * after ACCEPT_DEFER_S, when the better placed worker has not taken it.
 * Connections are accepted one at a time so that the next one sees the new
 * load. At most max_conns are open; at the bound, the idle connection unused
 * for longest is closed to make room (the web server reuses its most
 * recently freed connection first, so the oldest is the least likely to be
 * in use).
 *
 * Stopping (conns_stop): nothing new is accepted; connections in the ready
 * queue are still served, and an idle kept connection is still served while
 * the web server uses it, until it has been quiet for CONNS_DRAIN_IDLE_S
 * (at most CONNS_DRAIN_MAX_S after the stop): closing it at once would race
 * with a request already on its way. Once every connection is closed,
 * conns_next returns -1 to every thread. */
#ifndef CUTOUT_FCGI_CONNS_H
#define CUTOUT_FCGI_CONNS_H

#include <pthread.h>
#include <stdint.h>

#include "board.h"

#define CONNS_DRAIN_IDLE_S 0.1
#define CONNS_DRAIN_MAX_S 2.0

/* conns_next's prev: no connection (first call), or the thread closed it. */
#define CONNS_NONE (-1)
#define CONNS_CLOSED (-2)

typedef struct {
    int fd;
    double t; /* idle: since when; ready: when its request was seen */
} conns_entry;

typedef struct {
    int listen_fd, max_conns;
    board *b;         /* the pool's status board (loads of the other workers), or NULL */
    board_slot *self; /* this worker's slot: connection gauges published there */
    int wake_rd, wake_wr; /* self-pipe: wakes the poller */
    pthread_t thread;
    int started;

    pthread_mutex_t mu; /* guards the fields down to `done` */
    pthread_cond_t ready_cv;
    conns_entry *ready; /* ring of max_conns */
    int ready_head, ready_len;
    int *back; /* kept connections handed back by threads, max_conns */
    int back_len;
    int waiting; /* threads blocked in conns_next */
    int open;    /* connections open, wherever they are */
    int stopping;
    double stop_time;
    int done; /* drained: conns_next returns -1 */

    /* the poller's own */
    conns_entry *idle;
    int idle_len;
    double accept_pause_until; /* after EMFILE and the like */
} conns;

/* Starts the poller on a non-blocking listening socket; b and self: the
 * status board and this worker's slot on it (both NULL: a lone worker). 0,
 * or -1 with a message in err. */
int conns_start(conns *p, int listen_fd, int max_conns, board *b, board_slot *self, char *err,
                size_t errlen);

/* Hands back the connection just served (its fd when it stays open,
 * CONNS_CLOSED when it was closed, CONNS_NONE on the first call) and waits
 * for the next connection with a request on it. Returns its fd (blocking;
 * set *ready_at to when its request was first seen), or -1 once the pool has
 * stopped and drained. */
int conns_next(conns *p, int prev, double *ready_at);

/* Begins draining (see above). Any thread; idempotent. */
void conns_stop(conns *p);

/* Waits for the poller (after conns_stop and after the threads have seen
 * -1) and frees everything. */
void conns_join(conns *p);

#endif
