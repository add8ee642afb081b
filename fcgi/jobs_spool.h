/* The jobs spool directory (jobs.dir): one folder per job, named by its
 * id, holding in-I (the input of item I, as uploaded) and out-I.EXT (its
 * result). Every file is written to a temporary name, fsynced, renamed and
 * the folder fsynced: a file under its final name is whole and survives a
 * crash or a power cut. Folders are 0750 and files 0640: a web server
 * that sends results itself (jobs.serve x-accel-redirect, x-sendfile)
 * reads them as a member of the server's group. */
#ifndef CUTOUT_FCGI_JOBS_SPOOL_H
#define CUTOUT_FCGI_JOBS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* dir/id/name into out; -1 when it does not fit. */
int spool_path(const char *dir, const char *id, const char *name, char *out, size_t len);

/* Creates dir/id (mode 0700); 0, or -1 with errno. */
int spool_job_mkdir(const char *dir, const char *id);

/* Writes data as dir/id/name durably (see above). 0, or -1 with errno set
 * and nothing left under either name. */
int spool_write(const char *dir, const char *id, const char *name, const void *data, size_t len);

/* Reads a whole file of at most max bytes (malloc'ed). 0, or -1 (errno;
 * EFBIG when larger). */
int spool_read(const char *path, size_t max, uint8_t **data, size_t *len);

/* Removes dir/id and everything in it (missing: fine). */
void spool_job_remove(const char *dir, const char *id);

/* Creates a directory and its parents (mkdir -p). 0 or -1 with errno. */
int spool_mkdirs(const char *path);

#endif
