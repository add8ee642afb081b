/* Activation memory planning. The forward pass is run once "dry" at the
 * maximum batch and size: every allocation and release is recorded in order,
 * then offsets are assigned so that tensors alive at the same time never
 * overlap. Later runs replay the same allocation sequence and get the same
 * offsets: every tensor of a smaller input is no larger than at the maximum
 * size, so it fits its slot. */
#ifndef CUTOUT_PLAN_H
#define CUTOUT_PLAN_H

#include <stddef.h>

typedef struct {
    size_t size;   /* floats, at the planned maximum */
    size_t offset; /* assigned by cut_plan_finish */
    int born, died; /* event indices; died = -1 while alive */
} plan_slot;

typedef struct {
    plan_slot *slots;
    int n, cap;
    int clock;       /* event counter */
    int next;        /* replay cursor */
    int replaying;
    size_t total;    /* arena size in floats */
} plan;

void cut_plan_init(plan *p);
void cut_plan_free(plan *p);
/* Recording: returns the slot id (or -1 when out of memory). */
int cut_plan_record_alloc(plan *p, size_t floats);
void cut_plan_record_release(plan *p, int slot);
/* Assigns offsets; after it, cut_plan_replay_alloc hands them out in order. */
int cut_plan_finish(plan *p);
void cut_plan_rewind(plan *p);
/* Replay: the next slot's id, or -1 if the sequence or sizes diverge. */
int cut_plan_replay_alloc(plan *p, size_t floats);

#endif
