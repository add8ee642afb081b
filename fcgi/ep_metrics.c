/* GET /metrics: the status board in the Prometheus text format (0.0.4). */
#include "endpoint.h"

#include "jobs.h"

#include <stdio.h>

/* One Prometheus counter with its HELP and TYPE lines. */
static void put_counter(strbuf *o, const char *name, const char *help, const uint64_t *value)
{
    sb_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
              (unsigned long long)board_get(value));
}

void ep_metrics(request *rq, response *r)
{
    board *b = rq->h->b;
    strbuf *o = &r->body;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "text/plain; version=0.0.4; charset=utf-8");
    sb_puts(o, "# HELP cutout_requests_total Requests answered, by HTTP status.\n"
               "# TYPE cutout_requests_total counter\n");
    for (int i = 0; i < BOARD_CODES; i++) {
        if (i < BOARD_CODES - 1) sb_printf(o, "cutout_requests_total{code=\"%d\"} ", board_codes[i]);
        else sb_puts(o, "cutout_requests_total{code=\"other\"} ");
        sb_printf(o, "%llu\n", (unsigned long long)board_get(&b->by_code[i]));
    }
    sb_puts(o, "# HELP cutout_request_duration_seconds Time from the request's arrival to its answer.\n"
               "# TYPE cutout_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i <= BOARD_BUCKETS; i++) {
        cum += board_get(&b->hist[i]);
        if (i < BOARD_BUCKETS)
            sb_printf(o, "cutout_request_duration_seconds_bucket{le=\"%g\"} %llu\n", board_bucket_le[i], cum);
        else
            sb_printf(o, "cutout_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    sb_printf(o, "cutout_request_duration_seconds_sum %.6f\n", board_get(&b->dur_us) / 1e6);
    sb_printf(o, "cutout_request_duration_seconds_count %llu\n", (unsigned long long)board_get(&b->dur_count));
    static const char *stages[] = {"decode", "queue", "infer", "encode"};
    uint64_t *stage_us[] = {&b->decode_us, &b->queue_us, &b->infer_us, &b->encode_us};
    sb_puts(o, "# HELP cutout_stage_seconds_total Time spent per stage (infer counts each batch once).\n"
               "# TYPE cutout_stage_seconds_total counter\n");
    for (int i = 0; i < 4; i++)
        sb_printf(o, "cutout_stage_seconds_total{stage=\"%s\"} %.6f\n", stages[i], board_get(stage_us[i]) / 1e6);
    put_counter(o, "cutout_batches_total", "Forward passes run.", &b->batches);
    put_counter(o, "cutout_batch_images_total", "Images through forward passes.", &b->batch_images);
    put_counter(o, "cutout_queue_full_total",
                "Requests refused with 503 because the queue was full.", &b->queue_full);
    put_counter(o, "cutout_timeouts_total", "Requests that waited past request_timeout_s.",
                &b->timeouts);
    sb_puts(o, "# HELP cutout_connection_timeouts_total FastCGI connections closed by "
               "limits.idle_timeout_s, read_timeout_s (request or body stalled) or write_timeout_s "
               "(answer not read).\n# TYPE cutout_connection_timeouts_total counter\n");
    sb_printf(o, "cutout_connection_timeouts_total{kind=\"idle\"} %llu\n"
                 "cutout_connection_timeouts_total{kind=\"read\"} %llu\n"
                 "cutout_connection_timeouts_total{kind=\"write\"} %llu\n",
              (unsigned long long)board_get(&b->idle_closed),
              (unsigned long long)board_get(&b->read_timeouts),
              (unsigned long long)board_get(&b->write_timeouts));
    put_counter(o, "cutout_bad_request_heads_total",
                "FastCGI request heads closed unread: over 64 KiB, or a parameter whose declared "
                "length runs past the parameters.",
                &b->bad_heads);
    put_counter(o, "cutout_bad_fastcgi_records_total",
                "Requests whose connection was closed for a FastCGI record breaking the protocol "
                "after the head (a length that lies, a record out of place).",
                &b->bad_records);
    put_counter(o, "cutout_received_bytes_total", "Request body bytes.", &b->bytes_in);
    put_counter(o, "cutout_sent_bytes_total", "Response body bytes.", &b->bytes_out);
    put_counter(o, "cutout_worker_restarts_total", "Workers replaced after they died.",
                &b->worker_restarts);
    put_counter(o, "cutout_worker_hangs_total",
                "Workers killed by the watchdog (a forward pass past request_timeout_s + grace, "
                "or a stopped process).",
                &b->worker_hangs);
    sb_printf(o, "# HELP cutout_worker_recycles_total Workers replaced after max_requests.\n"
                 "# TYPE cutout_worker_recycles_total counter\ncutout_worker_recycles_total %llu\n",
              (unsigned long long)board_get(&b->worker_recycles));
    unsigned long long inflight = 0, queued = 0, conns = 0;
    int states[5] = {0};
    for (int i = 0; i < BOARD_SLOTS; i++) {
        board_slot *s = &b->slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SLOT_FREE) continue;
        if (st > 0 && st < 5) states[st]++;
        inflight += board_get(&s->inflight);
        queued += board_get(&s->queued);
        conns += board_get(&s->connections);
    }
    sb_puts(o, "# HELP cutout_workers Worker processes by state.\n# TYPE cutout_workers gauge\n");
    for (int s = 1; s < 5; s++) sb_printf(o, "cutout_workers{state=\"%s\"} %d\n", board_state_name(s), states[s]);
    sb_printf(o, "# HELP cutout_inflight_requests Requests being handled.\n# TYPE cutout_inflight_requests gauge\n"
                 "cutout_inflight_requests %llu\n", inflight);
    sb_printf(o, "# HELP cutout_open_connections FastCGI connections open (web server keepalive included).\n"
                 "# TYPE cutout_open_connections gauge\ncutout_open_connections %llu\n", conns);
    sb_printf(o, "# HELP cutout_queued_inputs Inputs waiting for the network.\n# TYPE cutout_queued_inputs gauge\n"
                 "cutout_queued_inputs %llu\n", queued);
    sb_printf(o, "# HELP cutout_start_time_seconds Start of the master process.\n# TYPE cutout_start_time_seconds gauge\n"
                 "cutout_start_time_seconds %.3f\n", b->started_ms / 1000.0);
    jobs_metrics(o); /* nothing when jobs are not enabled */
}
