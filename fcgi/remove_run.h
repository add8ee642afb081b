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
    uint64_t reserved; /* bytes of the worker's memory budget held (membudget.h) */
} remove_work;

/* Empty or not an image: fails r (400, 415). 0 when it may be decoded. */
int remove_check(const uint8_t *data, size_t len, response *r);

/* Reserves the image's estimated memory in the worker's budget (waiting
 * for it until deadline, a app_mono_s() time), decodes (limits of the
 * configuration), checks the size and preprocesses into w->job. 0, or -1
 * with r failed (413, 415, 422, 500, 504). */
int remove_prepare(handler_ctx *h, cutout_pool *tp, const uint8_t *data, size_t len,
                   const job_opts *o, double deadline, response *r, remove_work *w);

/* 504 (as a web server answers a backend past its deadline), counted on
 * the status board: not done within request_timeout_s of its arrival. */
void remove_timed_out(handler_ctx *h, response *r);

/* After w->job ran: timings into r, then mask, render and encode into
 * r->image (200), or r failed. */
void remove_finish(handler_ctx *h, cutout_pool *tp, remove_work *w, const job_opts *o,
                   response *r);

/* Frees w and gives its memory reservation back. */
void remove_work_free(remove_work *w);

#endif
