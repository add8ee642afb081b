/* A worker process: a connection poller on the shared listening socket
 * (conns.h), `threads` request threads, and one inference thread. */
#ifndef CUTOUT_FCGI_WORKER_H
#define CUTOUT_FCGI_WORKER_H

#include <signal.h>

#include "board.h"
#include "config.h"
#include "listen.h"

/* Exit statuses the master tells apart. */
#define WORKER_EXIT_OK 0        /* drained after SIGTERM, or parent gone */
#define WORKER_EXIT_RECYCLE 10  /* max_requests reached */
#define WORKER_EXIT_START 11    /* could not start (model, engine, threads) */

/* The signals both the master and its workers take (TERM, QUIT, INT, HUP,
 * USR1): the master blocks them before forking, each process waits for them. */
void worker_signals(sigset_t *set);

/* Runs the worker until it is told to stop; returns its exit status. */
int worker_main(const cf_config *cfg, const listen_socket *ls, const listen_socket *admin, board *b, int slot);

#endif
