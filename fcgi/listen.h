/* The listening socket the workers share: host:port or unix:/path from
 * the configuration, a socket systemd passed (socket activation), or the
 * one on fd 0 (spawn-fcgi, mod_fcgid). */
#ifndef CUTOUT_FCGI_LISTEN_H
#define CUTOUT_FCGI_LISTEN_H

#include <stddef.h>

#include "config.h"

typedef struct {
    int fd;                      /* non-blocking */
    char desc[CF_PATH_LEN];      /* for logs and /status: the address, systemd:fd3 or fd:0 */
    char unix_path[CF_PATH_LEN]; /* to unlink at exit, "" if none */
} listen_socket;

/* Opens (or takes) the socket for c->listen ("" : systemd's, fd 0's, else
 * 127.0.0.1:9000); a unix: socket gets listen_mode and listen_group. 0, or
 * -1 with a message in err. */
int listen_setup(listen_socket *ls, const cf_config *c, char *err, size_t errlen);

#endif
