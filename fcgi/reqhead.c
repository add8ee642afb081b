#include "reqhead.h"

/* Record types (the FastCGI specification). */
#define FCGI_BEGIN_REQUEST 1
#define FCGI_PARAMS 4

int reqhead_complete(const unsigned char *b, size_t n)
{
    size_t off = 0;
    while (off + 8 <= n) { /* a record: 8-byte header, content, padding */
        unsigned type = b[off + 1];
        size_t clen = ((size_t)b[off + 4] << 8) | b[off + 5], end = off + 8 + clen + b[off + 6];
        if (b[off] != 1) return 1;
        if (end > n) return 0;
        if (type == FCGI_PARAMS && clen == 0) return 1;
        if (type != FCGI_BEGIN_REQUEST && type != FCGI_PARAMS) return 1;
        off = end;
    }
    return 0;
}
