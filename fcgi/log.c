#define _GNU_SOURCE /* dup3 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide log settings (server bookkeeping, not library state). */
static int log_fd = 2;
static int log_is_file = 0;            /* log_fd is a file we opened (log_path) */
static char log_path[CF_PATH_LEN];
static int log_level = CF_LOG_INFO;
static int log_json = 1;
static const char *log_role = "master";

int log_open(const cf_config *c, char *err, size_t errlen)
{
    int fd;
    if (!strcmp(c->log_file, "stderr")) fd = 2;
    else if (!strcmp(c->log_file, "stdout")) fd = 1;
    else {
        fd = open(c->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "log file %s: %s", c->log_file, strerror(errno));
            return -1;
        }
    }
    if (log_is_file && log_fd != fd) close(log_fd);
    log_fd = fd;
    log_is_file = strcmp(c->log_file, "stderr") && strcmp(c->log_file, "stdout");
    snprintf(log_path, sizeof log_path, "%s", log_is_file ? c->log_file : "");
    log_level = c->log_level;
    log_json = c->log_json;
    return 0;
}

int log_reopen(char *err, size_t errlen)
{
    if (!log_is_file) return 1;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "log file %s: %s", log_path, strerror(errno));
        return -1;
    }
    /* dup3 puts the new file under the old descriptor number in one step:
     * a thread writing a line meanwhile writes it whole to the old file or
     * to the new one, never to a closed (or reused) descriptor. */
    if (dup3(fd, log_fd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "log file %s: dup3: %s", log_path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

void log_set_role(const char *role) { log_role = role; }

void log_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void write_line(const strbuf *b)
{
    if (b->oom) return;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(log_fd, b->p + off, b->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* nowhere left to report it */
        }
        off += (size_t)w;
    }
}

static const char *level_name(int level)
{
    static const char *n[] = {"debug", "info", "warn", "error"};
    return n[level & 3];
}

void log_msg(int level, const char *fmt, ...)
{
    if (level < log_level) return;
    char msg[1024], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_timestamp(ts, sizeof ts);
    strbuf b;
    sb_init(&b);
    if (log_json) {
        sb_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"msg\":", ts,
                  level_name(level), log_role, (int)getpid());
        sb_json_str(&b, msg);
        sb_puts(&b, "}\n");
    } else {
        sb_printf(&b, "%s %s %s[%d] %s\n", ts, level_name(level), log_role, (int)getpid(), msg);
    }
    write_line(&b);
    sb_free(&b);
}

void log_access(const strbuf *fields)
{
    if (CF_LOG_INFO < log_level || fields->oom) return;
    char ts[40];
    log_timestamp(ts, sizeof ts);
    strbuf b;
    sb_init(&b);
    if (log_json)
        sb_printf(&b, "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"pid\":%d,%s}\n", ts,
                  (int)getpid(), fields->p ? fields->p : "");
    else
        sb_printf(&b, "%s access [%d] %s\n", ts, (int)getpid(), fields->p ? fields->p : "");
    write_line(&b);
    sb_free(&b);
}
