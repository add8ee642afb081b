/* The answer to one request: its status, headers and body, the JSON error
 * body every failure gets, writing it out through FastCGI, and the access
 * log line (fcgi/README.md "HTTP API", "Logs"). */
#ifndef CUTOUT_FCGI_RESPONSE_H
#define CUTOUT_FCGI_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "strbuf.h"

typedef struct response {
    int status;
    const char *slug; /* error code slug, NULL on success */
    char ctype[64];
    strbuf body;          /* JSON / text bodies */
    uint8_t *image;       /* encoded image body (owned) */
    size_t image_len;
    int width, height;    /* of the image answered */
    strbuf headers;       /* extra header lines */
    const char *model;
    int retry_after;      /* seconds; 0: none */
    double decode_ms, queue_ms, infer_ms, encode_ms;
    int batch;
    /* A body written by the endpoint's own function (GET /jobs/ID/archive):
     * stream_len bytes, Content-Length known in advance; stream_free(arg)
     * runs after it (also for HEAD). */
    int (*stream)(void *arg, fcgi_stream *out);
    void (*stream_free)(void *arg);
    void *stream_arg;
    size_t stream_len;
} response;

/* Makes r the JSON error {"error": message, "code": slug}. */
void resp_fail(response *r, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the status line, headers and body (none for HEAD). */
void resp_send(const request *rq, response *r);

/* The access log line of a finished request. */
void resp_log(const request *rq, const response *r, double total_ms);

#endif
