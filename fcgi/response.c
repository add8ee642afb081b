#include "response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 403: return "Forbidden";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 507: return "Insufficient Storage";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

void resp_fail(response *r, int status, const char *slug, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->slug = slug;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_free(&r->body);
    sb_puts(&r->body, "{\"error\":");
    sb_json_str(&r->body, msg);
    sb_puts(&r->body, ",\"code\":");
    sb_json_str(&r->body, slug);
    sb_puts(&r->body, "}\n");
    free(r->image);
    r->image = NULL;
    r->image_len = 0;
}

void resp_send(const request *rq, response *r)
{
    fcgi_stream *out = rq->fs;
    if (r->body.oom) resp_fail(r, 500, "internal", "out of memory");
    const void *body = r->image ? (const void *)r->image : r->body.p;
    size_t len = r->stream ? r->stream_len : r->image ? r->image_len : r->body.len;
    strbuf hd;
    sb_init(&hd);
    sb_printf(&hd, "Status: %d %s\r\n", r->status, reason(r->status));
    if (r->status != 204) /* no body, so neither (RFC 9110 8.6) */
        sb_printf(&hd, "Content-Type: %s\r\nContent-Length: %zu\r\n", r->ctype, len);
    sb_printf(&hd, "X-Request-Id: %s\r\n", rq->id);
    if (r->status != 200 || r->image) sb_puts(&hd, "Cache-Control: no-store\r\n");
    if (r->retry_after) sb_printf(&hd, "Retry-After: %d\r\n", r->retry_after);
    if (r->model) sb_printf(&hd, "X-Model: %s\r\n", r->model);
    if (r->image)
        sb_printf(&hd, "Server-Timing: decode;dur=%.1f, queue;dur=%.1f, infer;dur=%.1f, encode;dur=%.1f\r\n",
                  r->decode_ms, r->queue_ms, r->infer_ms, r->encode_ms);
    if (r->headers.len && !r->headers.oom) sb_put(&hd, r->headers.p, r->headers.len);
    sb_puts(&hd, "\r\n");
    if (!hd.oom) fcgs_write(out, hd.p, hd.len);
    sb_free(&hd);
    if (r->stream) {
        if (strcmp(rq->method, "HEAD")) r->stream(r->stream_arg, out);
        if (r->stream_free) r->stream_free(r->stream_arg);
        r->stream = NULL;
        r->stream_free = NULL;
    } else if (len && strcmp(rq->method, "HEAD")) {
        fcgs_write(out, body, len);
    }
}

void resp_log(const request *rq, const response *r, double total_ms)
{
    strbuf f;
    sb_init(&f);
    sb_puts(&f, "\"id\":");
    sb_json_str(&f, rq->id);
    sb_puts(&f, ",\"method\":");
    sb_json_str(&f, rq->method);
    sb_puts(&f, ",\"path\":");
    sb_json_str(&f, rq->path);
    sb_printf(&f, ",\"status\":%d", r->status);
    if (r->slug) {
        sb_puts(&f, ",\"code\":");
        sb_json_str(&f, r->slug);
    }
    if (r->model) {
        sb_puts(&f, ",\"model\":");
        sb_json_str(&f, r->model);
    }
    sb_printf(&f, ",\"bytes_in\":%zu,\"bytes_out\":%zu,\"ms\":%.2f", rq->body_len,
              r->image ? r->image_len : r->body.len, total_ms);
    if (r->decode_ms > 0 || r->infer_ms > 0)
        sb_printf(&f, ",\"decode_ms\":%.2f,\"queue_ms\":%.2f,\"infer_ms\":%.2f,\"encode_ms\":%.2f,\"batch\":%d",
                  r->decode_ms, r->queue_ms, r->infer_ms, r->encode_ms, r->batch);
    log_access(&f);
    sb_free(&f);
}
