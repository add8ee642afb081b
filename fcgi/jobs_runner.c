/* The job runner of a worker (jobs.h). It claims up to batch.max_size
 * queued items at once, decodes and preprocesses them all, then submits
 * them together so they share forward passes, and only when the
 * inference queue holds no request of POST /remove (a request waits at
 * most for the batch that is running). A result is written durably
 * (jobs_spool.h) before its item is marked done; a crash between the two
 * computes the item again and renames the same file over (computed at
 * least once, stored exactly once). */
#define _GNU_SOURCE /* pthread_timedjoin-free waits, strtok_r */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs_s3.h"
#include "jobs_spool.h"
#include "log.h"
#include "remove_run.h"

#define RUNNER_POLL_S 0.25  /* looks for items this often (other workers' POSTs) */
#define SWEEP_EVERY_S 2.0
#define EXPIRE_BATCH 64

static jobs_ctx ctx;
static int enabled;
static pthread_t runner;
static int running, stopping;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;

jobs_ctx *jobs_get(void) { return enabled ? &ctx : NULL; }

void jobs_wake(void)
{
    pthread_mutex_lock(&mu);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
}

/* Field 22 of /proc/PID/stat: the process's start time in clock ticks,
 * so that a new process that got a dead one's PID is not taken for it. */
static int start_time(long pid, unsigned long long *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    p++;
    for (int field = 3; field < 22 && p; field++) p = strchr(p + 1, ' ');
    if (!p) return -1;
    return sscanf(p, " %llu", out) == 1 ? 0 : -1;
}

static int owner_alive(const char *owner)
{
    long pid;
    unsigned long long t, now_t;
    if (sscanf(owner, "%ld:%llu", &pid, &t) != 2 || pid <= 0) return 0;
    return !start_time(pid, &now_t) && now_t == t;
}

static void sweep(void)
{
    jobs_store *s = ctx.store;
    int n = s->ops->requeue_dead(s, owner_alive);
    if (n > 0) log_msg(CF_LOG_WARN, "jobs: %d item(s) left running by a dead process queued again", n);
    char ids[EXPIRE_BATCH][JOB_ID_LEN];
    int k = s->ops->expire(s, app_wall_s(), ids, EXPIRE_BATCH);
    for (int i = 0; i < k; i++) {
        spool_job_remove(ctx.dir, ids[i]);
        jobs_s3_delete_job(ids[i]);
    }
    if (k > 0) log_msg(CF_LOG_INFO, "jobs: %d expired job(s) deleted", k);
}

typedef struct {
    js_claim c;
    job_opts o;
    response r;
    remove_work w;
    int ok;      /* prepared and submitted */
} item_run;

/* The item failed with r's error (the JSON body resp_fail made). */
static void finish_failed(item_run *it)
{
    js_item res;
    memset(&res, 0, sizeof res);
    snprintf(res.status, sizeof res.status, "failed");
    res.http = it->r.status;
    snprintf(res.code, sizeof res.code, "%s", it->r.slug ? it->r.slug : "internal");
    size_t n = it->r.body.len;
    while (n && it->r.body.p[n - 1] == '\n') n--;
    snprintf(res.error, sizeof res.error, "%.*s", (int)n, it->r.body.p ? it->r.body.p : "");
    ctx.store->ops->finish(ctx.store, it->c.id, it->c.index, ctx.owner, &res, app_wall_s());
}

static const char *ext_of(const char *ctype)
{
    return !strcmp(ctype, "image/jpeg") ? "jpg" : !strcmp(ctype, "image/webp") ? "webp" : "png";
}

static void finish_done(item_run *it)
{
    js_item res;
    memset(&res, 0, sizeof res);
    snprintf(res.status, sizeof res.status, "done");
    snprintf(res.result, sizeof res.result, "out-%d.%s", it->c.index, ext_of(it->o.ctype));
    snprintf(res.ctype, sizeof res.ctype, "%s", it->o.ctype);
    snprintf(res.model, sizeof res.model, "%s", it->r.model ? it->r.model : "");
    res.out_bytes = (long long)it->r.image_len;
    if (jobs_s3_on()) { /* the result goes to S3 only (jobs_s3.h), whatever the store */
        char err[1024];
        if (jobs_s3_put(it->c.id, res.result, res.ctype, it->r.image, it->r.image_len, err, sizeof err)) {
            log_msg(CF_LOG_WARN, "jobs: item %s/%d: %s", it->c.id, it->c.index, err);
            resp_fail(&it->r, 502, "upload_failed", "%s", err);
            finish_failed(it);
            return;
        }
    } else if (ctx.store->ops->finish_result) { /* the result goes into the store (Redis) with its state */
        ctx.store->ops->finish_result(ctx.store, it->c.id, it->c.index, ctx.owner, &res, it->r.image,
                                      it->r.image_len, app_wall_s());
        return;
    } else if (spool_write(ctx.dir, it->c.id, res.result, it->r.image, it->r.image_len)) {
        int e = errno;
        if (e == ENOENT) { /* the job was deleted meanwhile */
            ctx.store->ops->finish(ctx.store, it->c.id, it->c.index, ctx.owner, &res, app_wall_s());
            return;
        }
        resp_fail(&it->r, e == ENOSPC || e == EDQUOT ? 507 : 500, e == ENOSPC || e == EDQUOT ? "insufficient_storage" : "internal",
                  "the result could not be stored: %s", strerror(e));
        finish_failed(it);
        return;
    }
    if (ctx.store->ops->finish(ctx.store, it->c.id, it->c.index, ctx.owner, &res, app_wall_s()) == 1) {
        char p[4096]; /* cancelled meanwhile: its files are going */
        if (jobs_s3_on()) jobs_s3_delete(it->c.id, res.result);
        else if (!spool_path(ctx.dir, it->c.id, res.result, p, sizeof p)) unlink(p);
    }
}

/* Options and input of a claimed item, decoded and preprocessed. */
static int prepare(item_run *it)
{
    handler_ctx *h = ctx.h;
    memset(&it->r, 0, sizeof it->r);
    sb_init(&it->r.body);
    sb_init(&it->r.headers);
    memset(&it->w, 0, sizeof it->w);
    form_params p;
    p.n = 0;
    char err[256];
    request rq; /* the options' parser reads the worker's context only */
    memset(&rq, 0, sizeof rq);
    rq.h = h;
    if (form_parse_urlencoded(it->c.options, strlen(it->c.options), &p, err, sizeof err)) {
        resp_fail(&it->r, 400, "bad_parameter", "%s", err);
        return -1;
    }
    if (ro_remove_params(&rq, &it->r, &p, &it->o)) return -1;
    char name[32];
    snprintf(name, sizeof name, "in-%d", it->c.index);
    uint8_t *data = NULL;
    size_t len = 0;
    if (jobs_blob_get(&ctx, it->c.id, name, (size_t)h->cfg->max_body_bytes, &data, &len)) {
        resp_fail(&it->r, 500, "internal", "the stored input could not be read: %s", strerror(errno));
        return -1;
    }
    int rc = remove_check(data, len, &it->r);
    if (!rc) rc = remove_prepare(h, NULL, data, len, &it->o, app_mono_s() + h->cfg->request_timeout_s,
                                 &it->r, &it->w);
    free(data);
    return rc;
}

static void run_batch(js_claim *claims, int n)
{
    handler_ctx *h = ctx.h;
    item_run *items = calloc((size_t)n, sizeof *items);
    if (!items) {
        for (int i = 0; i < n; i++)
            ctx.store->ops->release(ctx.store, claims[i].id, claims[i].index, ctx.owner);
        return;
    }
    for (int i = 0; i < n; i++) {
        items[i].c = claims[i];
        if (prepare(&items[i])) finish_failed(&items[i]);
        else items[i].ok = 1;
    }
    for (int i = 0; i < n; i++) /* together: they share forward passes */
        if (items[i].ok && (infer_admit(h->q, h->cfg->request_timeout_s) ||
                            infer_submit(h->q, items[i].w.job))) {
            ctx.store->ops->release(ctx.store, items[i].c.id, items[i].c.index, ctx.owner);
            items[i].ok = 0;
            items[i].r.status = -1; /* released, not failed */
        }
    for (int i = 0; i < n; i++) {
        item_run *it = &items[i];
        if (it->ok) {
            /* No deadline of its own: a hung pass is the watchdog's, and
             * the items of a killed worker are queued again. */
            if (infer_wait(h->q, it->w.job, app_mono_s() + 86400.0 * 365)) {
                it->w.job = NULL;
                resp_fail(&it->r, 500, "internal", "inference did not finish");
                finish_failed(it);
            } else {
                remove_finish(h, NULL, &it->w, &it->o, &it->r);
                if (it->r.status == 200) finish_done(it);
                else finish_failed(it);
            }
        }
        remove_work_free(&it->w);
        free(it->r.image);
        sb_free(&it->r.body);
        sb_free(&it->r.headers);
    }
    free(items);
}

static void *runner_main(void *arg)
{
    (void)arg;
    int max = ctx.h->q->max_batch;
    js_claim *claims = calloc((size_t)max, sizeof *claims);
    if (!claims) return NULL;
    double next_sweep = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        int stop = stopping;
        pthread_mutex_unlock(&mu);
        if (stop) break;
        double now = app_mono_s();
        if (now >= next_sweep) {
            sweep();
            next_sweep = now + SWEEP_EVERY_S;
        }
        /* Requests first: items are claimed only while the inference queue
         * is idle, and one at a time while requests are being handled on
         * any worker (the CPUs are shared), so a request that comes next
         * waits behind one job image, not a batch of them. */
        int n = 0, room = board_inflight_total(ctx.h->b) ? 1 : max;
        if (!infer_busy(ctx.h->q)) n = ctx.store->ops->claim(ctx.store, ctx.owner, room, claims, app_wall_s());
        if (n > 0) {
            run_batch(claims, n);
            continue;
        }
        /* Nothing to do, or requests first: look again soon. */
        double wait = n <= 0 && !infer_busy(ctx.h->q) ? RUNNER_POLL_S : 0.01; /* -1: store down */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(wait * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_mutex_lock(&mu);
        if (!stopping) pthread_cond_timedwait(&wake, &mu, &ts);
        pthread_mutex_unlock(&mu);
    }
    free(claims);
    return NULL;
}

int jobs_start(handler_ctx *h, char *err, size_t errlen)
{
    const cf_config *c = h->cfg;
    if (!c->jobs_store[0]) return 0;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = c;
    ctx.h = h;
    if (spool_mkdirs(c->jobs_dir)) {
        snprintf(err, errlen, "jobs.dir %s: %s", c->jobs_dir, strerror(errno));
        return -1;
    }
    if (!realpath(c->jobs_dir, ctx.dir)) {
        snprintf(err, errlen, "jobs.dir %s: %s", c->jobs_dir, strerror(errno));
        return -1;
    }
    /* The database's folder too (sqlite:var/jobs.db). */
    char dbdir[CF_PATH_LEN];
    snprintf(dbdir, sizeof dbdir, "%s", c->jobs_store + 7);
    char *slash = strrchr(dbdir, '/');
    if (slash && slash != dbdir && !strncmp(c->jobs_store, "sqlite:", 7)) {
        *slash = '\0';
        spool_mkdirs(dbdir);
    }
    if (jobs_s3_init(c, err, errlen)) return -1;
    ctx.store = jobs_store_open(c, err, errlen);
    if (!ctx.store) return -1;
    unsigned long long t = 0;
    start_time((long)getpid(), &t);
    snprintf(ctx.owner, sizeof ctx.owner, "%ld:%llu", (long)getpid(), t);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&wake, &ca);
    pthread_condattr_destroy(&ca);
    stopping = 0;
    enabled = 1;
    if (pthread_create(&runner, NULL, runner_main, NULL)) {
        snprintf(err, errlen, "cannot start the job runner thread");
        enabled = 0;
        ctx.store->ops->close(ctx.store);
        return -1;
    }
    running = 1;
    return 0;
}

void jobs_stop(void)
{
    if (!enabled) return;
    if (running) {
        pthread_mutex_lock(&mu);
        stopping = 1;
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&mu);
        pthread_join(runner, NULL);
        running = 0;
    }
    enabled = 0;
    ctx.store->ops->close(ctx.store);
}
