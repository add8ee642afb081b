#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cut_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cutout_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                     char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cut_fail(err, errlen, CUTOUT_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return cut_fail(err, errlen, CUTOUT_E_LIMIT, "%s: larger than %zu bytes", path,
                                max_bytes);
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return cut_fail(err, errlen, CUTOUT_E_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cut_fail(err, errlen, CUTOUT_E_IO, "%s: read error", path);
    }
    *data = buf;
    *size = len;
    return CUTOUT_OK;
}
