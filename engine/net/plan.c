#include "plan.h"

#include <stdlib.h>

/* Offsets are multiples of 16 floats so every tensor starts on a 64-byte line. */
#define PLAN_ALIGN 16

void cut_plan_init(plan *p) { *p = (plan){0}; }

void cut_plan_free(plan *p)
{
    free(p->slots);
    *p = (plan){0};
}

int cut_plan_record_alloc(plan *p, size_t floats)
{
    if (p->n == p->cap) {
        int ncap = p->cap ? p->cap * 2 : 64;
        plan_slot *ns = realloc(p->slots, (size_t)ncap * sizeof *ns);
        if (!ns) return -1;
        p->slots = ns;
        p->cap = ncap;
    }
    size_t aligned = (floats + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
    p->slots[p->n] = (plan_slot){.size = aligned, .born = p->clock++, .died = -1};
    return p->n++;
}

void cut_plan_record_release(plan *p, int slot)
{
    if (slot >= 0 && slot < p->n && !p->replaying) p->slots[slot].died = p->clock++;
}

static int overlaps_in_time(const plan_slot *a, const plan_slot *b)
{
    int a_end = a->died < 0 ? 1 << 30 : a->died, b_end = b->died < 0 ? 1 << 30 : b->died;
    return a->born < b_end && b->born < a_end;
}

static int by_size_desc(const void *x, const void *y)
{
    const plan_slot *a = *(plan_slot *const *)x, *b = *(plan_slot *const *)y;
    if (a->size != b->size) return a->size < b->size ? 1 : -1;
    return a->born - b->born;
}

/* Greedy placement, largest first: each slot goes to the lowest offset that
 * does not collide with an already placed slot alive at the same time. */
int cut_plan_finish(plan *p)
{
    plan_slot **order = malloc((size_t)(p->n ? p->n : 1) * sizeof *order);
    plan_slot **placed = malloc((size_t)(p->n ? p->n : 1) * sizeof *placed);
    if (!order || !placed) {
        free(order);
        free(placed);
        return -1;
    }
    for (int i = 0; i < p->n; i++) order[i] = &p->slots[i];
    qsort(order, (size_t)p->n, sizeof *order, by_size_desc);
    int n_placed = 0;
    p->total = 0;
    for (int i = 0; i < p->n; i++) {
        plan_slot *s = order[i];
        size_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < n_placed; j++) {
                plan_slot *o = placed[j];
                if (!overlaps_in_time(s, o)) continue;
                if (off < o->offset + o->size && o->offset < off + s->size) {
                    off = o->offset + o->size;
                    moved = 1;
                }
            }
        }
        s->offset = off;
        placed[n_placed++] = s;
        if (off + s->size > p->total) p->total = off + s->size;
    }
    free(order);
    free(placed);
    p->replaying = 1;
    p->next = 0;
    return 0;
}

void cut_plan_rewind(plan *p) { p->next = 0; }

int cut_plan_replay_alloc(plan *p, size_t floats)
{
    if (p->next >= p->n || floats > p->slots[p->next].size) return -1;
    return p->next++;
}
