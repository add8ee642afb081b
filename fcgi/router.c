#define _DEFAULT_SOURCE /* strncasecmp */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "endpoint.h"
#include "response.h"
#include "app_util.h"

/* Matched exactly, after the prefix the web server mounts the app under
 * (the FastCGI parameter CUTOUT_MOUNT, e.g. /cutout for /cutout/remove;
 * none: "/"). Never by suffix: /x/status must not reach /status. */
typedef struct {
    const char *path;
    int admin;           /* 1: only for admin.allow clients (others: 404) */
    int post;            /* 1: POST only; 0: GET and HEAD */
    endpoint_fn fn;
    const char *misused; /* 405 text after the method; NULL: "PATH: use GET" */
} route;

static const route routes[] = {
    {"/api/remove", 0, 1, ep_rembg,
     "/api/remove: use POST with the image as the multipart field 'file' (fetching URLs is not supported)"},
    {"/remove", 0, 1, ep_remove, "/remove: use POST with the image"},
    {"/health", 0, 0, ep_health, NULL},
    {"/metrics", 1, 0, ep_metrics, NULL},
    {"/status", 1, 0, ep_status, NULL},
    {"/models", 0, 0, ep_models, NULL},
};

/* The path below the mount point, or NULL when it is not under it. */
static const char *app_path(request *rq)
{
    const char *mount = fcgs_param(rq->fs, "CUTOUT_MOUNT");
    size_t n = mount ? strlen(mount) : 0;
    while (n && mount[n - 1] == '/') n--;
    if (!n) return rq->path;
    if (strncmp(rq->path, mount, n) || rq->path[n] != '/') return NULL;
    return rq->path + n;
}

/* CORS (fcgi/README.md "CORS"): the Origin of a request when
 * cors.allow_origins lets it read answers, else NULL. */
static const char *cors_origin(const request *rq)
{
    const char *o = fcgs_param(rq->fs, "HTTP_ORIGIN");
    return o && *o && cf_cors_allowed(rq->h->cfg, o) ? o : NULL;
}

/* Request headers a browser may send on a cross-origin request (beyond
 * the ones CORS always allows). */
static const char *const cors_headers[] = {"Content-Type", "Accept", "X-Request-Id"};

/* A preflight (OPTIONS with Access-Control-Request-Method): 204 with what
 * the origin may do, or 403 when it may do nothing. */
static void cors_preflight(request *rq, response *r)
{
    const char *origin = cors_origin(rq);
    if (!origin) {
        resp_fail(r, 403, "cors_forbidden", "origin '%s' is not in cors.allow_origins",
                  fcgs_param(rq->fs, "HTTP_ORIGIN") ? fcgs_param(rq->fs, "HTTP_ORIGIN") : "");
        return;
    }
    r->status = 204;
    sb_puts(&r->headers, "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n");
    const char *want = fcgs_param(rq->fs, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
    int n = 0;
    for (const char *p = want; p && *p;) { /* the requested ones that are safe, in our spelling */
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t')) t--;
        for (size_t k = 0; t && k < sizeof cors_headers / sizeof cors_headers[0]; k++)
            if (strlen(cors_headers[k]) == t && !strncasecmp(p, cors_headers[k], t))
                sb_printf(&r->headers, "%s%s", n++ ? ", " : "Access-Control-Allow-Headers: ", cors_headers[k]);
        p += len;
    }
    if (n) sb_puts(&r->headers, "\r\n");
    sb_puts(&r->headers, "Access-Control-Max-Age: 600\r\n");
}

/* On every answer to an allowed origin, errors and preflights included. */
static void cors_headers_for(const request *rq, response *r)
{
    if (!rq->h->cfg->cors_allow_origins.n) return;
    sb_puts(&r->headers, "Vary: Origin\r\n"); /* caches must keep answers per origin */
    const char *origin = cors_origin(rq);
    if (!origin || strpbrk(origin, "\r\n")) return;
    sb_printf(&r->headers, "Access-Control-Allow-Origin: %s\r\n", origin);
    sb_puts(&r->headers,
            "Access-Control-Expose-Headers: Server-Timing, X-Model, X-Request-Id, Retry-After, Location\r\n");
}

static void route_request(request *rq, response *r)
{
    if (!strcmp(rq->method, "OPTIONS") && fcgs_param(rq->fs, "HTTP_ORIGIN") &&
        fcgs_param(rq->fs, "HTTP_ACCESS_CONTROL_REQUEST_METHOD")) {
        cors_preflight(rq, r);
        return;
    }
    const route *rt = NULL;
    const char *path = app_path(rq);
    if (path && !rq->on_admin && ep_jobs_route(rq, r, path)) return; /* /jobs, /jobs/ID/... (ep_jobs.c) */
    if (path && rq->on_admin && !strcmp(path, "/jobs") && ep_jobs_route(rq, r, path)) return; /* its listing */
    for (size_t i = 0; path && i < sizeof routes / sizeof routes[0] && !rt; i++)
        if (!strcmp(path, routes[i].path)) rt = &routes[i];
    if (rt && rt->admin && !req_admin_allowed(rq)) rt = NULL; /* not for the world: as if it did not exist */
    if (rt && !rt->admin && rq->on_admin && rt->fn != ep_health) rt = NULL; /* the admin socket: admin only */
    if (!rt) {
        resp_fail(r, 404, "not_found", "no such endpoint: %s (try POST /remove, POST /api/remove, GET /health, /models)",
                  rq->path);
        return;
    }
    int ok = rt->post ? !strcmp(rq->method, "POST")
                      : !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    if (ok) {
        rt->fn(rq, r);
        return;
    }
    sb_puts(&r->headers, rt->post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
    if (rt->misused) resp_fail(r, 405, "method_not_allowed", "%s %s", rq->method, rt->misused);
    else resp_fail(r, 405, "method_not_allowed", "%s %s: use GET", rq->method, rq->path);
}

void handle_request(handler_ctx *h, fcgi_stream *fs, double arrived, cutout_pool *helpers)
{
    request rq;
    req_init(&rq, h, fs, arrived, helpers);
    board_add(&h->slot->inflight, 1);
    response r;
    memset(&r, 0, sizeof r);
    sb_init(&r.body);
    sb_init(&r.headers);
    route_request(&rq, &r);
    cors_headers_for(&rq, &r);
    req_discard_body(&rq);
    resp_send(&rq, &r);
    double total = app_mono_s() - rq.t0;
    board_add(&h->b->decode_us, (uint64_t)(r.decode_ms * 1000.0));
    board_add(&h->b->encode_us, (uint64_t)(r.encode_ms * 1000.0));
    board_add(&h->b->bytes_in, rq.body_len);
    board_add(&h->b->bytes_out, r.image ? r.image_len : r.body.len);
    board_request_done(h->b, r.status, total);
    board_add(&h->slot->requests, 1);
    board_sub(&h->slot->inflight, 1);
    __atomic_store_n(&h->slot->last_request_ms, (int64_t)(app_wall_s() * 1e3), __ATOMIC_RELAXED);
    resp_log(&rq, &r, total * 1000.0);
    free(rq.body);
    free(r.image);
    sb_free(&r.body);
    sb_free(&r.headers);
}
