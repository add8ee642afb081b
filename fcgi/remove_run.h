/* The work of one image of POST /remove, in the steps a caller drives:
 * check the bytes, decode and preprocess for the network (an infer_job to
 * submit), then, once the network ran, mask, render and encode. POST
 * /remove runs them for one request; the job runner (jobs_runner.c) runs
 * them for a batch of job items, so that its items share forward passes. */
#ifndef CUTOUT_FCGI_REMOVE_RUN_H
#define CUTOUT_FCGI_REMOVE_RUN_H

#include "remove_opts.h"

typedef struct {
    cutout_image img;
    infer_job *job;
} remove_work;

/* Empty or not an image: fails r (400, 415). 0 when it may be decoded. */
int remove_check(const uint8_t *data, size_t len, response *r);

/* Decodes (limits of the configuration), checks the size and preprocesses
 * into w->job. 0, or -1 with r failed (413, 415, 422, 500). */
int remove_prepare(handler_ctx *h, cutout_pool *tp, const uint8_t *data, size_t len,
                   const job_opts *o, response *r, remove_work *w);

/* After w->job ran: timings into r, then mask, render and encode into
 * r->image (200), or r failed. */
void remove_finish(handler_ctx *h, cutout_pool *tp, remove_work *w, const job_opts *o,
                   response *r);

void remove_work_free(remove_work *w);

#endif
