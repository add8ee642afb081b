/* GET /status: the pool and every worker of the status board as JSON
 * (php-fpm's status page, fcgi/README.md "HTTP API"). */
#include "endpoint.h"

#include <stdio.h>

#include "jobs.h"

void ep_status(request *rq, response *r)
{
    handler_ctx *h = rq->h;
    board *b = h->b;
    strbuf *o = &r->body;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    int64_t now = (int64_t)(app_wall_s() * 1e3);
    unsigned long long total = 0;
    for (int i = 0; i < BOARD_CODES; i++) total += board_get(&b->by_code[i]);
    sb_printf(o, "{\"pool\":{\"master_pid\":%d,\"start_time\":%.3f,\"uptime_s\":%.3f,\"generation\":%d,"
                 "\"workers_target\":%d,\"threads_per_worker\":%d,\"queue_depth\":%d,\"batch_max_size\":%d,"
                 "\"batch_max_delay_ms\":%d,\"requests\":%llu,\"queue_full\":%llu,\"timeouts\":%llu,"
                 "\"worker_restarts\":%llu,\"worker_recycles\":%llu,\"worker_hangs\":%llu,\"listen\":",
              b->master_pid, b->started_ms / 1000.0, (now - b->started_ms) / 1000.0, b->generation,
              b->workers_target, h->cfg->threads, h->cfg->queue_depth, h->cfg->batch_max_size,
              h->cfg->batch_max_delay_ms, total, (unsigned long long)board_get(&b->queue_full),
              (unsigned long long)board_get(&b->timeouts),
              (unsigned long long)board_get(&b->worker_restarts),
              (unsigned long long)board_get(&b->worker_recycles),
              (unsigned long long)board_get(&b->worker_hangs));
    sb_json_str(o, b->listen);
    sb_puts(o, ",\"models\":[");
    for (int i = 0; i < h->q->n_models; i++) {
        if (i) sb_puts(o, ",");
        sb_json_str(o, h->q->models[i].name);
    }
    sb_puts(o, "],\"jobs\":");
    jobs_status_json(o); /* null when jobs are not enabled */
    sb_puts(o, "},\"workers\":[");
    int first = 1;
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &b->slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SLOT_FREE) continue;
        if (!first) sb_puts(o, ",");
        first = 0;
        sb_printf(o, "{\"pid\":%d,\"state\":\"%s\",\"generation\":%d,\"uptime_s\":%.3f,\"requests\":%llu,"
                     "\"inflight\":%llu,\"busy_threads\":%llu,\"threads\":%d,\"connections\":%llu,\"queued\":%llu,"
                     "\"batches\":%llu,"
                     "\"images\":%llu,\"last_request_age_s\":",
                  s->pid, board_state_name(st), s->generation, (now - s->started_ms) / 1000.0,
                  (unsigned long long)board_get(&s->requests), (unsigned long long)board_get(&s->inflight),
                  (unsigned long long)board_get(&s->busy_threads), s->threads,
                  (unsigned long long)board_get(&s->connections),
                  (unsigned long long)board_get(&s->queued), (unsigned long long)board_get(&s->batches),
                  (unsigned long long)board_get(&s->images));
        int64_t last = __atomic_load_n(&s->last_request_ms, __ATOMIC_RELAXED);
        if (last) sb_printf(o, "%.3f", (now - last) / 1000.0);
        else sb_puts(o, "null");
        /* How long its current forward pass has run (null: none running). */
        int64_t busy = __atomic_load_n(&s->infer_busy_since_ms, __ATOMIC_RELAXED);
        sb_puts(o, ",\"forward_pass_s\":");
        if (busy) sb_printf(o, "%.3f", ((int64_t)(app_mono_s() * 1e3) - busy) / 1000.0);
        else sb_puts(o, "null");
        sb_puts(o, ",\"backend\":");
        sb_json_str(o, s->backend);
        sb_puts(o, ",\"device\":");
        sb_json_str(o, s->device);
        sb_printf(o, ",\"self\":%s}", s == h->slot ? "true" : "false");
    }
    sb_puts(o, "]}\n");
}
