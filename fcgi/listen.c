#define _GNU_SOURCE /* unsetenv */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "app_util.h"

static int is_listening_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

/* listen_mode and listen_group on a fresh unix socket. It is bound under
 * umask 0177 (owner only), so it is never open wider than asked. */
static int set_permissions(const char *path, const cf_config *c)
{
    if (c->listen_group[0]) {
        struct group *g = getgrnam(c->listen_group);
        if (!g) {
            errno = ENOENT;
            return -1;
        }
        if (chown(path, (uid_t)-1, g->gr_gid)) return -1;
    }
    return chmod(path, (mode_t)strtol(c->listen_mode, NULL, 8));
}

static int open_listen(listen_socket *ls, const char *addr, const cf_config *c, char *err,
                       size_t errlen)
{
    int fd = -1;
    if (!strncmp(addr, "unix:", 5)) {
        const char *path = addr + 5;
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa.sun_path) {
            snprintf(err, errlen, "listen %.300s: path too long", addr);
            return -1;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path); /* stale socket */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        mode_t old = umask(0177);
        int bound = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        umask(old);
        if (!bound || set_permissions(path, c) || listen(fd, 1024)) {
            snprintf(err, errlen, "listen %.300s: %s", addr, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        snprintf(ls->unix_path, sizeof ls->unix_path, "%s", path);
    } else {
        char host[256], port[16];
        int p;
        if (cf_split_host_port(addr, host, sizeof host, &p)) {
            snprintf(err, errlen, "listen %.300s: not host:port", addr);
            return -1;
        }
        snprintf(port, sizeof port, "%d", p);
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int gai = getaddrinfo(host, port, &hints, &res);
        if (gai) {
            snprintf(err, errlen, "listen %.300s: %s", addr, gai_strerror(gai));
            return -1;
        }
        int one = 1;
        fd = socket(res->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
            bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1024)) {
            snprintf(err, errlen, "listen %.300s: %s", addr, strerror(errno));
            if (fd >= 0) close(fd);
            freeaddrinfo(res);
            return -1;
        }
        freeaddrinfo(res);
    }
    return fd;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): when
 * LISTEN_PID is this process and LISTEN_FDS is 1, the socket is fd 3. The
 * variables are removed so that nothing started later takes them for its
 * own. Returns the fd, -1 when not socket-activated, -2 (message in err)
 * when activated wrongly. */
#define SD_LISTEN_FDS_START 3
static int systemd_socket(char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds) return -1;
    int p = 0, n = 0;
    int ours = !app_parse_int(pid, 1, 1 << 30, &p) && p == (int)getpid();
    int ok = !app_parse_int(fds, 0, 1 << 16, &n);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!ours) return -1;
    if (!ok || n != 1) {
        snprintf(err, errlen, "systemd socket activation: LISTEN_FDS=%s; expected exactly one socket", fds);
        return -2;
    }
    if (!is_listening_socket(SD_LISTEN_FDS_START)) {
        snprintf(err, errlen, "systemd socket activation: fd 3 is not a listening stream socket");
        return -2;
    }
    fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
    return SD_LISTEN_FDS_START;
}

/* Non-blocking (a worker's poller that loses the race for a connection
 * gets EAGAIN instead of sleeping in accept()), and its own address. */
static int finish(listen_socket *ls, char *err, size_t errlen)
{
    int fl = fcntl(ls->fd, F_GETFL);
    ls->addr_len = sizeof ls->addr;
    if (fl < 0 || fcntl(ls->fd, F_SETFL, fl | O_NONBLOCK) ||
        getsockname(ls->fd, (struct sockaddr *)&ls->addr, &ls->addr_len)) {
        snprintf(err, errlen, "listen socket %s: %s", ls->desc, strerror(errno));
        return -1;
    }
    return 0;
}

int listen_setup(listen_socket *ls, const cf_config *c, char *err, size_t errlen)
{
    const char *addr = c->listen;
    int sd = systemd_socket(err, errlen);
    if (sd == -2) return -1;
    if (sd >= 0 && addr[0]) {
        log_msg(CF_LOG_WARN, "systemd passed a socket, but listen is set (%s): using listen", addr);
        close(sd);
        sd = -1;
    }
    if (sd >= 0) {
        ls->fd = sd;
        snprintf(ls->desc, sizeof ls->desc, "systemd:fd3");
    } else if (!addr[0]) {
        if (is_listening_socket(0)) {
            ls->fd = 0;
            snprintf(ls->desc, sizeof ls->desc, "fd:0");
        } else {
            addr = "127.0.0.1:9000";
        }
    }
    if (addr[0]) {
        ls->fd = open_listen(ls, addr, c, err, errlen);
        if (ls->fd < 0) return -1;
        snprintf(ls->desc, sizeof ls->desc, "%s", addr);
    }
    return finish(ls, err, errlen);
}

int listen_setup_admin(listen_socket *ls, const cf_config *c, char *err, size_t errlen)
{
    memset(ls, 0, sizeof *ls);
    ls->fd = -1;
    if (!c->admin_listen[0]) return 0;
    ls->fd = open_listen(ls, c->admin_listen, c, err, errlen);
    if (ls->fd < 0) return -1;
    snprintf(ls->desc, sizeof ls->desc, "%s", c->admin_listen);
    return finish(ls, err, errlen);
}

int listen_accepted_on(int fd, const listen_socket *on)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (on->fd < 0 || getsockname(fd, (struct sockaddr *)&a, &len)) return 0;
    const struct sockaddr_storage *b = &on->addr;
    if (a.ss_family != b->ss_family) return 0;
    if (a.ss_family == AF_UNIX)
        return !strcmp(((const struct sockaddr_un *)&a)->sun_path, ((const struct sockaddr_un *)b)->sun_path);
    if (a.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               (y->sin_addr.s_addr == htonl(INADDR_ANY) || x->sin_addr.s_addr == y->sin_addr.s_addr);
    }
    if (a.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               (!memcmp(&y->sin6_addr, &in6addr_any, sizeof y->sin6_addr) ||
                !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr));
    }
    return 0;
}
