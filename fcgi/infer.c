#include "infer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define INFER_IDLE_BEAT_S 1.0

static struct timespec mono_ts(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    return ts;
}

int infer_model_index(const infer_queue *q, const char *name)
{
    for (int i = 0; i < q->n_models; i++)
        if (!strcmp(q->models[i].name, name)) return i;
    return -1;
}

static int load_model(infer_queue *q, const cf_config *c, const char *name, char *err, size_t errlen)
{
    infer_model *m = &q->models[q->n_models];
    char path[CF_PATH_LEN], e[512];
    const char *p = cf_model_path_of(c, name);
    if (p) snprintf(path, sizeof path, "%s", p);
    else if (cutout_model_find(name, path, sizeof path, e, sizeof e)) {
        snprintf(err, errlen, "model %s: %s", name, e);
        return -1;
    }
    if (cutout_model_load_file(path, &m->model, e, sizeof e)) {
        snprintf(err, errlen, "model %s (%s): %s", name, path, e);
        return -1;
    }
    cutout_model_use_registry(m->model, name); /* a registry name's own mean/std */
    snprintf(m->name, sizeof m->name, "%s", name);
    m->size = cutout_model_input_size(m->model);
    m->out_ch = cutout_model_output_channels(m->model);
    cutout_model_mean_std(m->model, m->mean, m->std);
    q->n_models++;
    return 0;
}

/* Engine of model i, created on first use (inference thread only). */
static int ensure_engine(infer_queue *q, int i, char *err, size_t errlen)
{
    infer_model *m = &q->models[i];
    if (m->engine) return 0;
    return cutout_engine_create(m->model, &q->eopt, &m->engine, err, errlen);
}

static int count_model(const infer_queue *q, int model)
{
    int n = 0;
    for (const infer_job *j = q->head; j; j = j->next) n += j->model == model;
    return n;
}

static void unlink_job(infer_queue *q, infer_job *job)
{
    infer_job **pp = &q->head, *prev = NULL;
    while (*pp && *pp != job) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = job->next;
    if (q->tail == job) q->tail = prev;
    job->next = NULL;
    q->len--;
    if (q->slot) board_sub(&q->slot->queued, 1);
}

/* The watchdog's heartbeat on the status board (monotonic ms): the master
 * kills a worker whose inference thread has not beaten for longer than
 * request_timeout_s plus a grace (a forward pass that hangs, or a stopped
 * process). Beats while idle and around every forward pass. */
static void beat(infer_queue *q, int busy)
{
    if (!q->slot) return;
    int64_t now = (int64_t)(app_mono_s() * 1e3);
    __atomic_store_n(&q->slot->infer_beat_ms, now, __ATOMIC_RELAXED);
    __atomic_store_n(&q->slot->infer_busy_since_ms, busy ? now : 0, __ATOMIC_RELAXED);
}

infer_job *infer_job_new(int model, int size, int channels)
{
    size_t plane = (size_t)size * (size_t)size;
    infer_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->model = model;
    j->input = malloc(3 * plane * sizeof *j->input);
    j->pred = malloc((size_t)channels * plane * sizeof *j->pred);
    if (!j->input || !j->pred) {
        infer_job_free(j);
        return NULL;
    }
    return j;
}

void infer_job_free(infer_job *job)
{
    if (!job) return;
    free(job->input);
    free(job->pred);
    free(job);
}

static void run_batch(infer_queue *q, infer_job **jobs, int n)
{
    infer_model *m = &q->models[jobs[0]->model];
    size_t plane = (size_t)m->size * (size_t)m->size, out = (size_t)m->out_ch * plane;
    char err[256] = "";
    beat(q, 1);
    int rc = ensure_engine(q, jobs[0]->model, err, sizeof err);
    double t0 = app_mono_s();
    if (!rc) {
        for (int i = 0; i < n; i++)
            memcpy(q->batch_in + (size_t)i * 3 * plane, jobs[i]->input, 3 * plane * sizeof(float));
        float *outs[1] = {q->batch_out};
        rc = cutout_engine_run(m->engine, q->batch_in, n, m->size, m->size, outs, err, sizeof err);
        if (!rc)
            for (int i = 0; i < n; i++)
                memcpy(jobs[i]->pred, q->batch_out + (size_t)i * out, out * sizeof(float));
    }
    double t1 = app_mono_s();
    beat(q, 0);
    if (rc) log_msg(CF_LOG_ERROR, "inference failed (model %s, batch %d): %s", m->name, n, err);
    if (q->b) {
        board_add(&q->b->batches, 1);
        board_add(&q->b->batch_images, (uint64_t)n);
        board_add(&q->b->infer_us, (uint64_t)((t1 - t0) * 1e6));
    }
    if (q->slot) {
        board_add(&q->slot->batches, 1);
        board_add(&q->slot->images, (uint64_t)n);
    }
    int gone = 0;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < n; i++) {
        if (jobs[i]->abandoned) { /* its request answered 504 meanwhile */
            jobs[gone++] = jobs[i];
            continue;
        }
        jobs[i]->status = rc;
        snprintf(jobs[i]->err, sizeof jobs[i]->err, "%s", err);
        jobs[i]->batch_n = n;
        jobs[i]->t_start = t0;
        jobs[i]->t_end = t1;
        jobs[i]->state = 2;
    }
    if (!rc) /* the admission estimate (infer_wait_too_long) */
        q->batch_s = q->batch_s > 0 ? 0.8 * q->batch_s + 0.2 * (t1 - t0) : t1 - t0;
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < gone; i++) infer_job_free(jobs[i]);
}

static void *infer_main(void *arg)
{
    infer_queue *q = arg;
    char err[512];
    beat(q, 1);
    int rc = ensure_engine(q, 0, err, sizeof err);
    beat(q, 0);
    pthread_mutex_lock(&q->mu);
    q->ready = rc ? -1 : 1;
    if (rc) snprintf(q->start_err, sizeof q->start_err, "%s", err);
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->mu);
    if (rc) return NULL;

    infer_job *batch[64];
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing) { /* idle: beat at least once a second */
            struct timespec ts = mono_ts(app_mono_s() + INFER_IDLE_BEAT_S);
            pthread_cond_timedwait(&q->work, &q->mu, &ts);
            beat(q, 0);
        }
        if (!q->head) break; /* closing and drained */
        int model = q->head->model;
        /* Wait a little for company, counted from the oldest input, while
         * some is on its way (infer_admit). */
        if (q->max_batch > 1 && q->max_delay_ms > 0 && !q->closing) {
            double deadline = q->head->t_enqueue + q->max_delay_ms / 1000.0;
            while (q->head && count_model(q, q->head->model) < q->max_batch && !q->closing &&
                   q->expected > 0 && app_mono_s() < deadline) {
                struct timespec ts = mono_ts(deadline);
                pthread_cond_timedwait(&q->work, &q->mu, &ts);
            }
            if (!q->head) continue; /* everything timed out meanwhile */
            model = q->head->model;
        }
        int n = 0;
        for (infer_job *j = q->head, *next; j && n < q->max_batch; j = next) {
            next = j->next;
            if (j->model != model) continue;
            unlink_job(q, j);
            j->state = 1;
            batch[n++] = j;
        }
        q->running = 1;
        pthread_mutex_unlock(&q->mu);
        run_batch(q, batch, n);
        pthread_mutex_lock(&q->mu);
        q->running = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int infer_start(infer_queue *q, const cf_config *c, board *b, board_slot *slot, char *err,
                size_t errlen)
{
    memset(q, 0, sizeof *q);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, &ca);
    pthread_cond_init(&q->done, &ca);
    pthread_condattr_destroy(&ca);
    /* queue_depth 0 (auto): bounded by the expected wait, and by
     * INFER_AUTO_DEPTH before a forward pass has been timed. */
    q->bound_wait = c->queue_depth == 0;
    q->cap = q->bound_wait ? INFER_AUTO_DEPTH : c->queue_depth;
    q->max_batch = c->batch_max_size > 64 ? 64 : c->batch_max_size;
    q->max_delay_ms = c->batch_max_delay_ms;
    q->b = b;
    q->slot = slot;
    cutout_engine_options_default(&q->eopt);
    q->eopt.backend = (cutout_backend_kind)c->backend;
    q->eopt.threads = c->cpu_threads;
    q->eopt.max_batch = q->max_batch;
    q->eopt.device = c->device[0] ? c->device : NULL;
    q->eopt.require_gpu = c->require_gpu;
    q->eopt.no_weight_cache = !c->weight_cache;

    if (load_model(q, c, c->default_model, err, errlen)) goto fail;
    for (int i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, c->default_model) &&
            load_model(q, c, c->models[i].name, err, errlen))
            goto fail;
    int maxs = 0, maxc = 1;
    for (int i = 0; i < q->n_models; i++) {
        if (q->models[i].size > maxs) maxs = q->models[i].size;
        if (q->models[i].out_ch > maxc) maxc = q->models[i].out_ch;
    }
    q->batch_plane = (size_t)maxs * (size_t)maxs;
    q->batch_in = malloc((size_t)q->max_batch * 3 * q->batch_plane * sizeof(float));
    q->batch_out = malloc((size_t)q->max_batch * maxc * q->batch_plane * sizeof(float));
    if (!q->batch_in || !q->batch_out) {
        snprintf(err, errlen, "out of memory for the batch buffers");
        goto fail;
    }
    if (pthread_create(&q->thread, NULL, infer_main, q)) {
        snprintf(err, errlen, "cannot start the inference thread");
        goto fail;
    }
    q->started = 1;
    pthread_mutex_lock(&q->mu);
    while (!q->ready) pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
    if (q->ready < 0) {
        snprintf(err, errlen, "%s", q->start_err);
        infer_stop(q);
        return -1;
    }
    return 0;
fail:
    infer_stop(q);
    return -1;
}

/* Under mu: 1 when a new input would not have its forward pass done
 * within budget_s (what is left of its request_timeout_s). It waits for
 * the batch running now (if any) and for the ceil((len + 1) / max_batch)
 * batches ahead of and with it, each taking about batch_s (a moving
 * average of the passes so far; none yet: no estimate). Such a request
 * would only end in 504 after the whole timeout: it is refused with 503
 * now, while the queue is not yet full.
 * A request that waited for a free request thread has less than the whole
 * timeout left: a burst larger than the threads is judged on that.
 * An idle worker always takes it: the estimate may be stale (one slow
 * pass), and only a pass can bring it up to date. */
static int wait_too_long(const infer_queue *q, double budget_s)
{
    int ahead = q->len + q->expected; /* queued, and admitted but still decoding */
    if (!q->bound_wait || q->batch_s <= 0 || (!ahead && !q->running)) return 0;
    int batches = (ahead + 1 + q->max_batch - 1) / q->max_batch + q->running;
    return batches * q->batch_s > budget_s;
}

int infer_admit(infer_queue *q, double budget_s)
{
    pthread_mutex_lock(&q->mu);
    int full = q->closing || q->len + q->expected >= q->cap || wait_too_long(q, budget_s);
    if (!full) q->expected++;
    pthread_mutex_unlock(&q->mu);
    return full ? -1 : 0;
}

int infer_busy(infer_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int busy = q->len > 0 || q->expected > 0;
    pthread_mutex_unlock(&q->mu);
    return busy;
}

void infer_unexpect(infer_queue *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->expected > 0) q->expected--;
    pthread_cond_signal(&q->work); /* a batch may be waiting for this one */
    pthread_mutex_unlock(&q->mu);
}

int infer_submit(infer_queue *q, infer_job *job)
{
    pthread_mutex_lock(&q->mu);
    if (q->expected > 0) q->expected--;
    /* Its wait was judged at infer_admit, among those admitted with it. */
    if (q->closing || q->len >= q->cap) {
        pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    job->state = 0;
    job->next = NULL;
    job->t_enqueue = app_mono_s();
    if (q->tail) q->tail->next = job;
    else q->head = job;
    q->tail = job;
    q->len++;
    if (q->slot) board_add(&q->slot->queued, 1);
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int infer_wait(infer_queue *q, infer_job *job, double deadline)
{
    pthread_mutex_lock(&q->mu);
    while (job->state != 2) {
        if (app_mono_s() >= deadline) {
            int rc = -1;
            if (job->state == 0) unlink_job(q, job);
            else {
                job->abandoned = 1;
                rc = -2;
            }
            pthread_mutex_unlock(&q->mu);
            return rc;
        }
        struct timespec ts = mono_ts(deadline);
        pthread_cond_timedwait(&q->done, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void infer_stop(infer_queue *q)
{
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->closing = 1;
        pthread_cond_broadcast(&q->work);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->thread, NULL);
        q->started = 0;
    }
    for (int i = 0; i < q->n_models; i++) {
        cutout_engine_free(q->models[i].engine);
        cutout_model_free(q->models[i].model);
        q->models[i].engine = NULL;
        q->models[i].model = NULL;
    }
    q->n_models = 0;
    free(q->batch_in);
    free(q->batch_out);
    q->batch_in = q->batch_out = NULL;
}

const char *infer_backend(const infer_queue *q)
{
    return q->n_models && q->models[0].engine ? cutout_engine_backend_name(q->models[0].engine) : "none";
}

const char *infer_device(const infer_queue *q)
{
    return q->n_models && q->models[0].engine ? cutout_engine_device_name(q->models[0].engine) : "none";
}
