/* The status board: counters and worker states in one shared anonymous
 * mapping made by the master before it forks, so any worker can answer
 * /metrics and /status for the whole pool (as php-fpm's scoreboard).
 * Fields are updated with atomic builtins; readers take a relaxed view. */
#ifndef CUTOUT_FCGI_BOARD_H
#define CUTOUT_FCGI_BOARD_H

#include <stdint.h>

#include "config.h"

#define BOARD_SLOTS (2 * CF_MAX_WORKERS)
#define BOARD_BUCKETS 14

/* RECYCLING: reached max_requests, still serving until the master has a
 * ready replacement and tells it to drain. */
typedef enum { SLOT_FREE = 0, SLOT_STARTING, SLOT_READY, SLOT_DRAINING, SLOT_RECYCLING } slot_state;

typedef struct {
    int pid, state, generation;
    int64_t started_ms; /* epoch milliseconds */
    uint64_t requests, inflight, queued, batches, images, busy_threads;
    uint64_t connections;       /* FastCGI connections open (gauge) */
    uint64_t ready_connections; /* of which with a request waiting for a thread */
    /* The inference thread's heartbeat (app_mono_s in ms: CLOCK_MONOTONIC, one clock for every process), and when its
     * current forward pass began (0: idle); the master's watchdog. */
    int64_t infer_beat_ms, infer_busy_since_ms;
    int threads;
    int64_t last_request_ms;
    char backend[32], device[96];
} board_slot;

/* Status codes counted separately; anything else counts as "other". */
#define BOARD_CODES 11
extern const int board_codes[BOARD_CODES - 1];

typedef struct {
    int64_t started_ms;
    int generation, workers_target, master_pid;
    int shutting_down; /* the whole pool is stopping: /health answers 503 */
    char listen[256];  /* what the master listens on, e.g. "fd:0" */
    uint64_t worker_restarts, worker_recycles, worker_crashes;
    uint64_t worker_hangs; /* killed by the watchdog */
    uint64_t by_code[BOARD_CODES];
    uint64_t hist[BOARD_BUCKETS + 1]; /* request seconds, cumulative in output */
    uint64_t dur_us, dur_count;
    uint64_t decode_us, queue_us, infer_us, encode_us;
    uint64_t batches, batch_images, queue_full, timeouts;
    uint64_t bytes_in, bytes_out;
    /* connections closed by limits.{idle,read,write}_timeout_s (conns.h) */
    uint64_t idle_closed, read_timeouts, write_timeouts;
    uint64_t bad_heads; /* request heads closed unread (conns.c: over 64 KiB, lying lengths) */
    uint64_t bad_records; /* requests ended by a record breaking FastCGI (fcgi_stream.h) */
    board_slot slots[BOARD_SLOTS];
} board;

extern const double board_bucket_le[BOARD_BUCKETS];

/* Shared mapping; NULL on failure. */
board *board_create(void);

static inline void board_add(uint64_t *field, uint64_t v)
{
    __atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}
static inline void board_sub(uint64_t *field, uint64_t v)
{
    __atomic_fetch_sub(field, v, __ATOMIC_RELAXED);
}
static inline uint64_t board_get(const uint64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* Requests being handled now by all workers (the slots' inflight). */
uint64_t board_inflight_total(const board *b);

/* Counts one finished request. */
void board_request_done(board *b, int code, double seconds);

/* "starting", "ready", "draining", "recycling" or "free" (/status, /metrics). */
const char *board_state_name(int state);


#endif
