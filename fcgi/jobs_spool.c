#define _DEFAULT_SOURCE /* DT_DIR */
#include "jobs_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int spool_path(const char *dir, const char *id, const char *name, char *out, size_t len)
{
    int k = name ? snprintf(out, len, "%s/%s/%s", dir, id, name) : snprintf(out, len, "%s/%s", dir, id);
    return k < 0 || (size_t)k >= len ? -1 : 0;
}

int spool_mkdirs(const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) return errno = ENAMETOOLONG, -1;
    memcpy(p, path, n + 1);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) && errno != EEXIST) return -1;
        *s = '/';
    }
    return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int spool_job_mkdir(const char *dir, const char *id)
{
    char p[4096];
    if (spool_path(dir, id, NULL, p, sizeof p)) return errno = ENAMETOOLONG, -1;
    if (mkdir(p, 0750)) return -1;
    return fsync_dir(dir);
}

int spool_write(const char *dir, const char *id, const char *name, const void *data, size_t len)
{
    char tmp[4096], fin[4096], folder[4096], tname[128];
    snprintf(tname, sizeof tname, ".tmp-%s", name);
    if (spool_path(dir, id, tname, tmp, sizeof tmp) || spool_path(dir, id, name, fin, sizeof fin) ||
        spool_path(dir, id, NULL, folder, sizeof folder))
        return errno = ENAMETOOLONG, -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    const uint8_t *p = data;
    size_t left = len;
    int rc = 0;
    while (left && !rc) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            rc = -1;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!rc) rc = fsync(fd);
    int saved = errno;
    if (close(fd) && !rc) rc = -1, saved = errno;
    if (!rc && rename(tmp, fin)) rc = -1, saved = errno;
    if (!rc && fsync_dir(folder)) rc = -1, saved = errno;
    if (rc) {
        unlink(tmp);
        errno = saved;
    }
    return rc;
}

int spool_read(const char *path, size_t max, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        return errno = EFBIG, -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    size_t got = 0;
    while (b && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!b || got != n) {
        free(b);
        return errno = EIO, -1;
    }
    *data = b;
    *len = n;
    return 0;
}

void spool_job_remove(const char *dir, const char *id)
{
    char folder[4096], p[4096];
    if (spool_path(dir, id, NULL, folder, sizeof folder)) return;
    DIR *d = opendir(folder);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            !spool_path(dir, id, e->d_name, p, sizeof p))
            unlink(p);
    closedir(d);
    rmdir(folder);
}
