/* cutout --server URL: the inputs as one job of a cutout-fcgi server
 * (POST /jobs, fcgi/README.md "Jobs"), a progress bar from the job's
 * progress, and the results downloaded to their output paths. */
#ifndef CUTOUT_CLIENT_H
#define CUTOUT_CLIENT_H

#include <stddef.h>

/* query: the options as the server's parameters ("mask=1&format=png").
 * Returns the exit status: 0 every item done, 1 some failed (each named on
 * stderr) or the server could not be used. */
int client_run(const char *prog, const char *server, const char *query, char *const *ins,
               char *const *outs, size_t n, int quiet);

#endif
