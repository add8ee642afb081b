/* Server log: one line per event, JSON or text, to stderr, stdout or a
 * file (opened O_APPEND and written with one write() per line, so lines
 * from the master, the workers and their threads never interleave). */
#ifndef CUTOUT_FCGI_LOG_H
#define CUTOUT_FCGI_LOG_H

#include "config.h"
#include "strbuf.h"

/* Opens the log named in the configuration; 0 or -1 (message in err). On
 * reopening (SIGHUP) the previous file is closed. */
int log_open(const cf_config *c, char *err, size_t errlen);
/* SIGUSR1 (logrotate): opens log.file again by its name, so that after a
 * rename new lines go to a new file at the configured path. The new file
 * takes the old descriptor's number (dup3), safe while other threads log.
 * 0 reopened; 1 nothing to do (stderr/stdout); -1 failed (message in err;
 * the old file stays in use). Call from one thread at a time. */
int log_reopen(char *err, size_t errlen);
void log_set_role(const char *role); /* "master" or "worker" */

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a finished access-log line: the caller built the fields after
 * "{...," as JSON members (no braces); text format prints them as they are. */
void log_access(const strbuf *fields);

/* Wall-clock time as "2026-01-02T03:04:05.678Z". */
void log_timestamp(char *buf, size_t len);

#endif
