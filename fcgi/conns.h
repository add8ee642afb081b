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
 * load. At most max_conns are open; at the bound, an idle connection is
 * closed to make room: one that never carried a request (a flood of silent
 * connections must not push out the web server's kept ones), else the one
 * unused for longest (the web server reuses its most recently freed
 * connection first, so the oldest is the least likely to be in use).
 *
 * A connection costs a request thread only once it carries a whole request
 * head: the poller peeks (MSG_PEEK, nothing consumed) at what arrived and
 * hands a connection to the ready queue when its FastCGI records reach the
 * end of the PARAMS stream (or of a shape it closes at once). Management
 * records (request id 0) before a request are answered by the poller
 * itself (GET_VALUES, fcgi_record.h) and cost no thread. Until
 * then it waits in the poller, bounded by the timeouts of conns_limits:
 * a kept connection with nothing on it, idle_s; a new connection that sent
 * nothing, or a request head begun but not finished, read_s. A connection
 * whose head is partial is watched through an edge-triggered epoll set
 * (its peeked bytes would keep poll() awake). A request thread reading a
 * body or writing an answer is bounded too: conns_watch sets a deadline
 * past which the poller shuts the socket down (blocked reads and writes
 * return at once); writes are bounded by the request's stream
 * (fcgi_stream.h, limits.write_timeout_s).
 *
 * Stopping (conns_stop): nothing new is accepted, idle connections are
 * closed at once (the web server retries a request that crossed the close:
 * fcgi/conf/nginx.conf), connections in the ready queue are still served,
 * and connections still busy drain_s after the stop are shut down. Once
 * every connection is closed, conns_next returns -1 to every thread. */
#ifndef CUTOUT_FCGI_CONNS_H
#define CUTOUT_FCGI_CONNS_H

#include <pthread.h>
#include <stdint.h>

#include "board.h"
#include "fcgi_record.h"

/* A request head (BEGIN_REQUEST + PARAMS) larger than this is handed to a
 * thread before it is complete (the thread's read deadline bounds it). */
#define CONNS_PEEK_MAX 65536

typedef struct {
    double idle_s;  /* limits.idle_timeout_s */
    double read_s;  /* limits.read_timeout_s */
    double drain_s; /* limits.drain_timeout_s */
    const fcgi_caps *caps; /* what management records are answered from */
} conns_limits;

typedef struct {
    int fd;
    int used;     /* has served a request: a web server's kept connection */
    double since; /* idle: since when (accepted or handed back); ready: when its request was complete */
    double first; /* idle: when the first byte of a request arrived (0: none yet) */
} conns_entry;

/* A connection a request thread holds, with its deadline (0: none). */
typedef struct {
    int fd;
    double due;
} conns_busy;

typedef struct {
    int listen_fd, max_conns;
    int admin_fd; /* admin.listen's socket, accepted at once (-1: none) */
    conns_limits lim;
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
    conns_busy *busy; /* connections the threads hold, max_conns */
    int busy_len;
    int waiting; /* threads blocked in conns_next */
    int open;    /* connections open, wherever they are */
    int stopping;
    double stop_time;
    int done; /* drained: conns_next returns -1 */

    /* the poller's own */
    conns_entry *idle;
    int idle_len;
    int ep;            /* epoll set of the idle connections with a partial request head */
    unsigned char *peek; /* CONNS_PEEK_MAX */
    unsigned char *drop; /* CONNS_PEEK_MAX: management records taken off a connection */
    double accept_pause_until; /* after EMFILE and the like */
} conns;

/* Starts the poller on a non-blocking listening socket (and admin_fd, the
 * admin socket, or -1); b and self: the
 * status board and this worker's slot on it (both NULL: a lone worker). 0,
 * or -1 with a message in err. */
int conns_start(conns *p, int listen_fd, int admin_fd, int max_conns, const conns_limits *lim,
                board *b, board_slot *self, char *err, size_t errlen);

/* Hands back the connection just served (prev: its fd, -1 on the first
 * call; kept: 1 when it stays open, 0 when the thread closed it) and waits
 * for the next connection with a whole request head on it. Returns its fd
 * (blocking; sets *ready_at to when its request was complete), or -1 once
 * the pool has stopped and drained. The connection comes with a deadline
 * of read_s from now (conns_watch). */
int conns_next(conns *p, int prev, int kept, double *ready_at);

/* Sets the deadline (app_mono_s() seconds; 0: none) of a connection the
 * calling thread holds: past it, the poller shuts the socket down. A
 * read deadline is counted as a read timeout when it strikes. */
void conns_watch(conns *p, int fd, double due);

/* Begins draining (see above). Any thread; idempotent. */
void conns_stop(conns *p);

/* Waits for the poller (after conns_stop and after the threads have seen
 * -1) and frees everything. */
void conns_join(conns *p);

#endif
