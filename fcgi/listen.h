/* The listening socket the workers share: host:port or unix:/path from
 * the configuration, a socket systemd passed (socket activation), or the
 * one on fd 0 (spawn-fcgi, mod_fcgid). */
#ifndef CUTOUT_FCGI_LISTEN_H
#define CUTOUT_FCGI_LISTEN_H

#include <stddef.h>

#include "config.h"

#include <sys/socket.h>

typedef struct {
    int fd;                      /* non-blocking */
    struct sockaddr_storage addr; /* its own address (getsockname) */
    socklen_t addr_len;
    char desc[CF_PATH_LEN];      /* for logs and /status: the address, systemd:fd3 or fd:0 */
    char unix_path[CF_PATH_LEN]; /* to unlink at exit, "" if none */
} listen_socket;

/* Opens (or takes) the socket for c->listen ("" : systemd's, fd 0's, else
 * 127.0.0.1:9000); a unix: socket gets listen_mode and listen_group. 0, or
 * -1 with a message in err. */
int listen_setup(listen_socket *ls, const cf_config *c, char *err, size_t errlen);

/* Opens the admin socket of c->admin_listen (its unix: socket as listen's);
 * ls->fd -1 when none is set. 0, or -1 with a message in err. */
int listen_setup_admin(listen_socket *ls, const cf_config *c, char *err, size_t errlen);

/* Whether connection fd was accepted on the socket `on` (its local
 * address is on's; a socket bound to any address matches by port). */
int listen_accepted_on(int fd, const listen_socket *on);

#endif
