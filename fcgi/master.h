/* The master process: it forks `workers` workers that share the listening
 * socket and supervises them (fcgi/README.md "Process model"): a worker that dies
 * is replaced (with a growing delay while they keep dying at start), one
 * that reached max_requests is replaced at once, one whose inference thread
 * stops beating is killed (watchdog); SIGTERM/SIGQUIT/SIGINT drain and stop
 * everything; SIGHUP re-reads the configuration, starts a new generation
 * of workers and stops the old one once the new one is ready; SIGUSR1
 * reopens the log file (logrotate) here and in every worker. */
#ifndef CUTOUT_FCGI_MASTER_H
#define CUTOUT_FCGI_MASTER_H

#include <sys/types.h>

#include "board.h"
#include "config.h"
#include "listen.h"

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
    const char *config_path; /* NULL: the defaults (SIGHUP reloads them) */
    listen_socket ls;
    listen_socket admin; /* admin.listen (fd -1: none) */
    board *b;
    proc w[BOARD_SLOTS];
    int generation;
    int fast_failures;  /* consecutive workers that died young */
    double restart_at;  /* no replacement before this (back-off) */
} master;

/* Runs the pool on m->ls with m->cfg until it is told to stop; the exit
 * status of the program. */
int master_run(master *m);

#endif
