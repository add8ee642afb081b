/* The worker's inference thread: it alone owns the engines (one per model,
 * created on first use) and runs queued network inputs in batches of up to
 * batch.max_size, waiting at most batch.max_delay_ms after the oldest input
 * for more to arrive. The queue is bounded: a full queue is refused at once
 * (the caller answers 503) instead of growing without limit; with
 * limits.queue_depth auto it is also full when a new input would wait
 * longer than request_timeout_s (so 503 comes early, not 504 late). */
#ifndef CUTOUT_FCGI_INFER_H
#define CUTOUT_FCGI_INFER_H

#include <pthread.h>

#include "app_util.h" /* app_mono_s: the clock of queue times and deadlines */
#include "board.h"
#include "config.h"
#include "cutout.h"

/* limits.queue_depth 0 (auto): at most this many queued per worker. */
#define INFER_AUTO_DEPTH 64

/* Made by infer_job_new (the job owns input and pred): a request that
 * gives up on a running job leaves it to the inference thread to free. */
typedef struct infer_job {
    int model;          /* index into the worker's model table */
    float *input;       /* 3 x S x S, normalised */
    float *pred;        /* C x S x S, output 0 (C: the model's out_ch) */
    /* set by the inference thread */
    int status;         /* cutout_status */
    char err[256];
    int batch_n;
    double t_enqueue, t_start, t_end; /* monotonic seconds */
    /* queue bookkeeping */
    int state;          /* 0 queued, 1 running, 2 done */
    int abandoned;      /* its request gave up while it ran: freed by the inference thread */
    struct infer_job *next;
} infer_job;

typedef struct {
    char name[CF_NAME_LEN];
    cutout_model *model;
    cutout_engine *engine; /* inference thread only */
    int size;
    int out_ch;         /* output channels: 4 for u2net_cloth_seg, else 1 */
    float mean[3], std[3];
} infer_model;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    infer_job *head, *tail;
    int len, cap, closing;
    int bound_wait;   /* queue_depth auto: refuse what would wait past its deadline */
    double batch_s;   /* moving average of a forward pass (0: none yet) */
    int running;      /* a batch is in its forward pass */
    int expected; /* requests preparing an input (infer_admit): company worth waiting for */
    infer_model models[CF_MAX_MODELS];
    int n_models;
    cutout_engine_options eopt;
    int max_batch, max_delay_ms;
    float *batch_in, *batch_out;
    size_t batch_plane; /* floats per image plane the buffers hold */
    board *b;
    board_slot *slot;
    pthread_t thread;
    int started;
    /* start-up result of the default engine */
    int ready;          /* 1 ok, -1 failed */
    char start_err[512];
} infer_queue;

/* Loads every configured model (the default first, at index 0), starts the
 * thread and waits until the default model's engine exists. 0, or -1 with
 * a message in err. */
int infer_start(infer_queue *q, const cf_config *c, board *b, board_slot *slot, char *err,
                size_t errlen);

/* Index of a model name, or -1. */
int infer_model_index(const infer_queue *q, const char *name);


/* 1 while synchronous work is queued or on its way (the job runner waits:
 * requests come first). */
int infer_busy(infer_queue *q);

/* Admits a request that is about to decode and preprocess an image for the
 * network: 0, or -1 when it should be refused now (503) — the queue is full,
 * or its image would wait past budget_s (what is left of the request's
 * request_timeout_s) behind those queued and those admitted before it
 * (counted together, so a burst is judged as one).
 * An admitted request is company a batch waits for (up to
 * batch.max_delay_ms), so a lone request never waits for nothing. Settled
 * by infer_submit, or by infer_unexpect when the request ends before that. */
int infer_admit(infer_queue *q, double budget_s);
void infer_unexpect(infer_queue *q);

/* Queues a job (settling the caller's infer_admit); -1 when the queue is
 * full or closing. */
int infer_submit(infer_queue *q, infer_job *job);

/* A job for an input of side `size` (input and pred allocated with it);
 * NULL when out of memory. */
infer_job *infer_job_new(int model, int size, int channels);
void infer_job_free(infer_job *job);

/* Waits for the job until deadline (monotonic seconds). 0 when it ran (see
 * job->status); -1 when the deadline passed while it was still queued (it
 * is taken off the queue; the caller frees it); -2 when the deadline passed
 * while it was running (a forward pass that takes too long, or hangs): the
 * job is abandoned and the inference thread frees it when (if) the pass
 * ends; the caller must not touch it again. */
int infer_wait(infer_queue *q, infer_job *job, double deadline);

/* Runs what is queued, then stops the thread and frees the engines. */
void infer_stop(infer_queue *q);

const char *infer_backend(const infer_queue *q);
const char *infer_device(const infer_queue *q);

#endif
