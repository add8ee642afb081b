/* A growable text buffer for responses and log lines. A failed allocation
 * sets oom and turns every later call into a no-op, so callers check once. */
#ifndef CUTOUT_FCGI_STRBUF_H
#define CUTOUT_FCGI_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

void sb_init(strbuf *b);
void sb_free(strbuf *b);
void sb_put(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string literal, quotes included; bytes < 0x20, '"' and '\\'
 * escaped, invalid UTF-8 bytes replaced by '?'. */
void sb_json_str(strbuf *b, const char *s);

#endif
