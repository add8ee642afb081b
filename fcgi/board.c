#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "board.h"

#include <string.h>
#include <sys/mman.h>

const int board_codes[BOARD_CODES - 1] = {200, 400, 404, 405, 413, 415, 422, 500, 503, 504};
const double board_bucket_le[BOARD_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                               1,     2.5,  5,     10,   30,  60,  120};

board *board_create(void)
{
    void *p = mmap(NULL, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, sizeof(board));
    return p;
}

uint64_t board_inflight_total(const board *b)
{
    uint64_t n = 0;
    for (int i = 0; i < BOARD_SLOTS; i++) n += board_get(&b->slots[i].inflight);
    return n;
}

void board_request_done(board *b, int code, double seconds)
{
    int k = BOARD_CODES - 1;
    for (int i = 0; i < BOARD_CODES - 1; i++)
        if (board_codes[i] == code) k = i;
    board_add(&b->by_code[k], 1);
    int bucket = BOARD_BUCKETS;
    for (int i = 0; i < BOARD_BUCKETS; i++)
        if (seconds <= board_bucket_le[i]) {
            bucket = i;
            break;
        }
    board_add(&b->hist[bucket], 1);
    board_add(&b->dur_us, (uint64_t)(seconds * 1e6));
    board_add(&b->dur_count, 1);
}

const char *board_state_name(int state)
{
    return state == SLOT_STARTING ? "starting" : state == SLOT_READY ? "ready" : state == SLOT_DRAINING ? "draining" : state == SLOT_RECYCLING ? "recycling" : "free";
}
