/* GET /health: ready unless the pool is shutting down, with the default
 * model, backend and device. */
#include "endpoint.h"

#include <stdio.h>

void ep_health(request *rq, response *r)
{
    handler_ctx *h = rq->h;
    /* A worker draining for a reload or max_requests still answers (others
     * take over); only a pool that is shutting down reports 503. */
    int ok = !__atomic_load_n(&h->b->shutting_down, __ATOMIC_SEQ_CST);
    r->status = ok ? 200 : 503;
    r->slug = ok ? NULL : "not_ready";
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_printf(&r->body, "{\"status\":\"%s\",\"model\":", ok ? "ok" : "stopping");
    sb_json_str(&r->body, h->q->models[0].name);
    sb_puts(&r->body, ",\"backend\":");
    sb_json_str(&r->body, infer_backend(h->q));
    sb_puts(&r->body, ",\"device\":");
    sb_json_str(&r->body, infer_device(h->q));
    sb_puts(&r->body, "}\n");
}
