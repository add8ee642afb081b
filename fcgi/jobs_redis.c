/* The jobs store in Redis (jobs_store.h; fcgi/README.md "Jobs", "Redis
 * layout"): any number of cutout-fcgi instances on any machines share one
 * queue. Every step that changes more than one key is one Lua script
 * (jobs_redis_lua.c; a script runs atomically in Redis). A process has one connection,
 * serialised by a mutex; a lost connection is reconnected at most once a
 * second, and until then every call fails at once (the endpoints answer
 * 503). Items claimed by an instance are in its processing list and held
 * by its lease, a key with a time to live that a thread of its own renews:
 * when the lease is gone, any instance's sweep queues the items again. */
#define _GNU_SOURCE /* gethostname */
#include "jobs_store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "app_util.h"
#include "jobs_redis_lua.h"
#include "log.h"

#define P JR_PREFIX
#define CONNECT_S 1         /* connect timeout, and the pause between attempts */
#define IO_S 5              /* one command's reply */
#define SWEEP_ZSET 200      /* listing entries checked per expire call */
#define LIST_CHUNK 100
#define MAX_ARGS 16

typedef struct {
    jobs_store base;
    pthread_mutex_t mu;
    redisContext *c;        /* NULL: not connected */
    char host[256];
    int port, db;
    long long lease_ms, ttl_ms;
    double next_try;        /* app_mono_s: no connection attempt before */
    char tag[96];           /* "@host#random": owner ids unique over machines */
    char owner[160];        /* this process's owner id, once it claimed */
    pthread_t hb;           /* renews the lease */
    pthread_cond_t hb_cv;
    int hb_running, hb_stop;
    long long sweep_at;     /* where expire goes on in the listing */
} rd_store;

/* ------------------------------------------------------ connection */

static rd_store *of(jobs_store *s) { return (rd_store *)s; }

static int connect_now(rd_store *q, char *err, size_t errlen)
{
    struct timeval tv = {CONNECT_S, 0}, io = {IO_S, 0};
    redisContext *c = redisConnectWithTimeout(q->host, q->port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", q->host, q->port,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, io);
    redisReply *r = redisCommand(c, "SELECT %d", q->db);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "Redis at %s:%d: SELECT %d: %s", q->host, q->port, q->db,
                 r ? r->str : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        return -1;
    }
    freeReplyObject(r);
    q->c = c;
    return 0;
}

/* Connected (mutex held), or -1 at once while the last attempt is recent. */
static int ensure(rd_store *q)
{
    if (q->c) return 0;
    double now = app_mono_s();
    if (now < q->next_try) return -1;
    char err[512];
    if (connect_now(q, err, sizeof err)) {
        q->next_try = now + CONNECT_S;
        return -1;
    }
    log_msg(CF_LOG_WARN, "jobs: connected to Redis at %s:%d again", q->host, q->port);
    return 0;
}

/* The connection failed: dropped, logged, tried again in a second. */
static void lost(rd_store *q)
{
    log_msg(CF_LOG_ERROR, "jobs: Redis at %s:%d lost: %s; reconnecting", q->host, q->port,
            q->c->errstr[0] ? q->c->errstr : "connection closed");
    redisFree(q->c);
    q->c = NULL;
    q->next_try = app_mono_s() + CONNECT_S;
}

/* One command (mutex held); NULL when Redis cannot be reached or answered
 * with an error (logged). */
static redisReply *cmdv(rd_store *q, int argc, const char **argv, const size_t *lens)
{
    if (ensure(q)) return NULL;
    redisReply *r = redisCommandArgv(q->c, argc, argv, lens);
    if (!r) {
        lost(q);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        log_msg(CF_LOG_ERROR, "jobs: Redis %s: %s", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisReply *cmdf(rd_store *q, const char *fmt, ...)
{
    if (ensure(q)) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(q->c, fmt, ap);
    va_end(ap);
    if (!r) {
        lost(q);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        log_msg(CF_LOG_ERROR, "jobs: Redis: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* EVAL script with string arguments (NULL-terminated `args`), the last
 * one binary when data is not NULL. */
static redisReply *eval(rd_store *q, const char *script, const char **args, const void *data,
                        size_t len)
{
    const char *argv[MAX_ARGS + 4];
    size_t lens[MAX_ARGS + 4];
    int n = 0;
    argv[n] = "EVAL", lens[n++] = 4;
    argv[n] = script, lens[n++] = strlen(script);
    argv[n] = "0", lens[n++] = 1;
    for (; *args && n < MAX_ARGS + 3; args++) argv[n] = *args, lens[n++] = strlen(*args);
    if (data) argv[n] = data, lens[n++] = len;
    return cmdv(q, n, argv, lens);
}

static long long int_reply(redisReply *r, long long fail)
{
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : fail;
    freeReplyObject(r);
    return v;
}

/* owner (the runner's pid:starttime) made unique over machines. */
static void full_owner(rd_store *q, const char *owner, char *out, size_t len)
{
    snprintf(out, len, "%s%s", owner, q->tag);
}

static void num(char *buf, size_t len, double v) { snprintf(buf, len, "%.6f", v); }

/* ------------------------------------------------------------ lease */

static void *heartbeat(void *arg)
{
    rd_store *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->hb_stop) {
        redisReply *r = cmdf(q, "SET " P "lease:%s 1 PX %lld", q->owner, q->lease_ms);
        freeReplyObject(r);
        r = cmdf(q, "SADD " P "owners %s", q->owner);
        freeReplyObject(r);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + q->lease_ms * 1000000LL / 3;
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        if (!q->hb_stop) pthread_cond_timedwait(&q->hb_cv, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ------------------------------------------------------------- ops */

static int rd_create(jobs_store *s, const js_job *j, const js_item *items, int n, char *err,
                     size_t errlen)
{
    rd_store *q = of(s);
    size_t argc = 6 + 2 * (size_t)n + 4;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char (*nums)[32] = calloc((size_t)n + 6, sizeof *nums);
    int rc = -1;
    if (argv && lens && nums) {
        size_t k = 0;
        argv[k++] = "EVAL";
        argv[k++] = lua_create;
        argv[k++] = "0";
        argv[k++] = j->id;
        num(nums[0], sizeof nums[0], j->created);
        num(nums[1], sizeof nums[1], j->expires);
        snprintf(nums[2], sizeof nums[2], "%d", n);
        snprintf(nums[3], sizeof nums[3], "%lld", q->ttl_ms);
        argv[k++] = nums[0];
        argv[k++] = nums[1];
        argv[k++] = nums[2];
        argv[k++] = j->options;
        argv[k++] = nums[3];
        for (int i = 0; i < n; i++) {
            snprintf(nums[6 + i], sizeof nums[6 + i], "%lld", items[i].in_bytes);
            argv[k++] = items[i].name;
            argv[k++] = nums[6 + i];
        }
        for (size_t i = 0; i < k; i++) lens[i] = strlen(argv[i]);
        pthread_mutex_lock(&q->mu);
        redisReply *r = cmdv(q, (int)k, argv, lens);
        rc = r ? 0 : -1;
        freeReplyObject(r);
        pthread_mutex_unlock(&q->mu);
    }
    if (rc) snprintf(err, errlen, "Redis: the job could not be created");
    free(argv);
    free(lens);
    free(nums);
    return rc;
}

static int rd_claim(jobs_store *s, const char *owner, int max, js_claim *out, double now)
{
    rd_store *q = of(s);
    char o[160], smax[16], snow[32], slease[32];
    full_owner(q, owner, o, sizeof o);
    snprintf(smax, sizeof smax, "%d", max);
    num(snow, sizeof snow, now);
    snprintf(slease, sizeof slease, "%lld", q->lease_ms);
    const char *args[] = {o, smax, snow, slease, NULL};
    pthread_mutex_lock(&q->mu);
    if (!q->hb_running) { /* the lease is renewed from now on */
        snprintf(q->owner, sizeof q->owner, "%s", o);
        q->hb_stop = 0;
        q->hb_running = !pthread_create(&q->hb, NULL, heartbeat, q);
    }
    redisReply *r = eval(q, lua_claim, args, NULL, 0);
    pthread_mutex_unlock(&q->mu);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i + 2 < r->elements && n < max; i += 3, n++) {
        snprintf(out[n].id, sizeof out[n].id, "%s", r->element[i]->str ? r->element[i]->str : "");
        out[n].index = atoi(r->element[i + 1]->str ? r->element[i + 1]->str : "0");
        snprintf(out[n].options, sizeof out[n].options, "%s",
                 r->element[i + 2]->str ? r->element[i + 2]->str : "");
    }
    freeReplyObject(r);
    return n;
}

static int finish_with(jobs_store *s, const char *id, int index, const char *owner,
                       const js_item *it, const void *data, size_t len, double now)
{
    rd_store *q = of(s);
    char o[160], sidx[16], snow[32], sttl[32], sexp[32], sout[32], shttp[16];
    full_owner(q, owner, o, sizeof o);
    snprintf(sidx, sizeof sidx, "%d", index);
    num(snow, sizeof snow, now);
    snprintf(sttl, sizeof sttl, "%lld", q->ttl_ms);
    num(sexp, sizeof sexp, now + (double)q->ttl_ms / 1000);
    snprintf(sout, sizeof sout, "%lld", it->out_bytes);
    snprintf(shttp, sizeof shttp, "%d", it->http);
    const char *args[] = {o,         id,        sidx,   snow,  sttl,      sexp,  it->status, it->result,
                          it->ctype, it->model, sout,   shttp, it->code,  it->error, NULL};
    pthread_mutex_lock(&q->mu);
    redisReply *r = eval(q, lua_finish, args, data ? data : "", data ? len : 0);
    pthread_mutex_unlock(&q->mu);
    long long v = int_reply(r, -1);
    return v < 0 ? -1 : (int)v;
}

static int rd_finish(jobs_store *s, const char *id, int index, const char *owner, const js_item *it,
                     double now)
{
    return finish_with(s, id, index, owner, it, NULL, 0, now);
}

static int rd_release(jobs_store *s, const char *id, int index, const char *owner)
{
    rd_store *q = of(s);
    char o[160], sidx[16];
    full_owner(q, owner, o, sizeof o);
    snprintf(sidx, sizeof sidx, "%d", index);
    const char *args[] = {o, id, sidx, NULL};
    pthread_mutex_lock(&q->mu);
    long long v = int_reply(eval(q, lua_release, args, NULL, 0), -1);
    pthread_mutex_unlock(&q->mu);
    return v < 0 ? -1 : 0;
}

/* The value of field f in an HGETALL reply, "" when absent. */
static const char *field(const redisReply *h, const char *f)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (h->element[i]->str && !strcmp(h->element[i]->str, f))
            return h->element[i + 1]->str ? h->element[i + 1]->str : "";
    return "";
}

static void copy(char *out, size_t len, const char *s) { snprintf(out, len, "%s", s); }

static void parse_job(const char *id, const redisReply *h, js_job *j)
{
    memset(j, 0, sizeof *j);
    copy(j->id, sizeof j->id, id);
    j->created = atof(field(h, "created"));
    j->started = atof(field(h, "started"));
    j->finished = atof(field(h, "finished"));
    j->expires = atof(field(h, "expires"));
    j->total = atoi(field(h, "total"));
    j->queued = atoi(field(h, "q"));
    j->running = atoi(field(h, "r"));
    j->done = atoi(field(h, "d"));
    j->failed = atoi(field(h, "f"));
    j->cancelled = atoi(field(h, "c"));
    copy(j->options, sizeof j->options, field(h, "options"));
    copy(j->status, sizeof j->status, js_job_status(j, atoi(field(h, "cancelled"))));
}

static void parse_item(int index, const redisReply *h, js_item *it)
{
    memset(it, 0, sizeof *it);
    it->index = index;
    copy(it->name, sizeof it->name, field(h, "name"));
    copy(it->status, sizeof it->status, field(h, "status"));
    it->http = atoi(field(h, "http"));
    copy(it->code, sizeof it->code, field(h, "code"));
    copy(it->error, sizeof it->error, field(h, "error"));
    copy(it->result, sizeof it->result, field(h, "result"));
    copy(it->ctype, sizeof it->ctype, field(h, "ctype"));
    copy(it->model, sizeof it->model, field(h, "model"));
    it->in_bytes = atoll(field(h, "in_bytes"));
    it->out_bytes = atoll(field(h, "out_bytes"));
}

/* The job (mutex held), and its items when items != NULL. 0, 1, -1. */
static int get_locked(rd_store *q, const char *id, js_job *job, js_item **items, int *n)
{
    const char *args[] = {id, items ? "1" : "0", NULL};
    redisReply *r = eval(q, lua_get, args, NULL, 0);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return 1;
    }
    parse_job(id, r->element[0], job);
    int rc = 0;
    if (items) {
        size_t k = r->elements - 1;
        *items = calloc(k ? k : 1, sizeof **items);
        *n = 0;
        if (!*items) rc = -1;
        for (size_t i = 0; !rc && i < k; i++) parse_item((int)i, r->element[i + 1], &(*items)[(*n)++]);
    }
    freeReplyObject(r);
    return rc;
}

static int rd_get(jobs_store *s, const char *id, double now, js_job *job, js_item **items, int *n)
{
    (void)now; /* an expired job's keys are gone */
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    int rc = get_locked(q, id, job, items, n);
    pthread_mutex_unlock(&q->mu);
    if (rc && items) {
        free(*items);
        *items = NULL;
    }
    return rc;
}

static int rd_list(jobs_store *s, const char *status, const char *after, int limit, js_job *out,
                   double now)
{
    (void)now;
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    long long start = 0;
    int n = 0;
    if (after[0]) {
        redisReply *r = cmdf(q, "ZREVRANK " P "jobs %s", after);
        if (!r) n = -1;
        else if (r->type == REDIS_REPLY_INTEGER) start = r->integer + 1;
        else start = -1; /* the cursor's job is gone: nothing after it */
        freeReplyObject(r);
    }
    while (n >= 0 && start >= 0 && n < limit) {
        redisReply *r = cmdf(q, "ZREVRANGE " P "jobs %lld %lld", start, start + LIST_CHUNK - 1);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            n = -1;
            break;
        }
        size_t got = r->elements;
        for (size_t i = 0; i < got && n < limit && n >= 0; i++) {
            int rc = get_locked(q, r->element[i]->str ? r->element[i]->str : "", &out[n], NULL, NULL);
            if (rc < 0) n = -1;
            else if (rc == 0 && (!status[0] || !strcmp(status, out[n].status))) n++;
        }
        freeReplyObject(r);
        if (got < LIST_CHUNK) break;
        start += LIST_CHUNK;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* A script of id and the finished job's time to live; its integer reply. */
static long long run_job_script(rd_store *q, const char *script, const char *id, double now,
                                int with_now, long long fail)
{
    char snow[32], sttl[32], sexp[32];
    num(snow, sizeof snow, now);
    snprintf(sttl, sizeof sttl, "%lld", q->ttl_ms);
    num(sexp, sizeof sexp, now + (double)q->ttl_ms / 1000);
    const char *with[] = {id, snow, sttl, sexp, NULL}, *without[] = {id, sttl, sexp, NULL};
    pthread_mutex_lock(&q->mu);
    long long v = int_reply(eval(q, script, with_now ? with : without, NULL, 0), fail);
    pthread_mutex_unlock(&q->mu);
    return v;
}

static int rd_cancel(jobs_store *s, const char *id, double now)
{
    return (int)run_job_script(of(s), lua_cancel, id, now, 1, -1);
}

static int rd_retry(jobs_store *s, const char *id)
{
    /* -3: the store failed (not "unknown") */
    return (int)run_job_script(of(s), lua_retry, id, app_wall_s(), 0, -3);
}

static int rd_expire(jobs_store *s, double now, char (*ids)[JOB_ID_LEN], int max)
{
    (void)now; /* Redis deletes a job's keys itself (their time to live) */
    rd_store *q = of(s);
    int count = max < SWEEP_ZSET ? max : SWEEP_ZSET;
    pthread_mutex_lock(&q->mu);
    char sstart[32], scount[16];
    snprintf(sstart, sizeof sstart, "%lld", q->sweep_at);
    snprintf(scount, sizeof scount, "%d", count);
    const char *args[] = {sstart, scount, NULL};
    redisReply *r = eval(q, lua_expire, args, NULL, 0);
    int n = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        long long checked = r->element[0]->integer;
        for (size_t i = 1; i < r->elements && n < max; i++)
            copy(ids[n++], JOB_ID_LEN, r->element[i]->str ? r->element[i]->str : "");
        q->sweep_at = checked < count ? 0 : q->sweep_at + checked - n;
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&q->mu);
    return n;
}

static int rd_requeue_dead(jobs_store *s, js_alive_fn alive)
{
    (void)alive; /* processes of other machines: their leases tell */
    rd_store *q = of(s);
    const char *args[] = {NULL};
    pthread_mutex_lock(&q->mu);
    long long v = int_reply(eval(q, lua_requeue_dead, args, NULL, 0), 0);
    pthread_mutex_unlock(&q->mu);
    return (int)v;
}

static long long rd_pending(jobs_store *s)
{
    rd_store *q = of(s);
    const char *args[] = {NULL};
    pthread_mutex_lock(&q->mu);
    long long v = int_reply(eval(q, lua_pending, args, NULL, 0), -1);
    pthread_mutex_unlock(&q->mu);
    return v;
}

static int rd_stats(jobs_store *s, js_stats *st)
{
    rd_store *q = of(s);
    memset(st, 0, sizeof *st);
    const char *args[] = {NULL};
    pthread_mutex_lock(&q->mu);
    redisReply *r = eval(q, lua_stats, args, NULL, 0);
    pthread_mutex_unlock(&q->mu);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    static const char *names[5] = {"queued", "running", "done", "failed", "cancelled"};
    for (size_t i = 0; i + 9 < r->elements; i += 10) {
        long long v[10];
        for (int k = 0; k < 10; k++) v[k] = r->element[i + k]->str ? atoll(r->element[i + k]->str) : 0;
        js_job j;
        memset(&j, 0, sizeof j);
        j.total = (int)v[0];
        j.queued = (int)v[2], j.running = (int)v[3], j.done = (int)v[4], j.failed = (int)v[5];
        j.cancelled = (int)v[6];
        j.started = r->element[i + 7]->str ? atof(r->element[i + 7]->str) : 0;
        for (int k = 0; k < 5; k++) st->items[k] += v[2 + k];
        const char *status = js_job_status(&j, (int)v[1]);
        for (int k = 0; k < 5; k++)
            if (!strcmp(status, names[k])) st->jobs[k]++;
        st->spool_bytes += v[8] + v[9];
    }
    freeReplyObject(r);
    return 0;
}

static int rd_reachable(jobs_store *s)
{
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    int ok = !ensure(q);
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static int rd_blob_put(jobs_store *s, const char *id, const char *name, const void *data, size_t len)
{
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    redisReply *r = cmdf(q, "SET " P "job:%s:%s %b PX %lld", id, name, data, len, q->ttl_ms);
    pthread_mutex_unlock(&q->mu);
    int ok = r != NULL;
    freeReplyObject(r);
    return ok ? 0 : (errno = EIO, -1);
}

static int rd_blob_get(jobs_store *s, const char *id, const char *name, size_t max, uint8_t **data,
                       size_t *len)
{
    rd_store *q = of(s);
    *data = NULL;
    *len = 0;
    pthread_mutex_lock(&q->mu);
    redisReply *r = cmdf(q, "GET " P "job:%s:%s", id, name);
    pthread_mutex_unlock(&q->mu);
    int rc = !r ? (errno = EIO, -1) : r->type != REDIS_REPLY_STRING ? 1 : r->len > max ? (errno = EFBIG, -1) : 0;
    if (!rc) {
        *data = malloc(r->len ? r->len : 1);
        if (!*data) rc = (errno = ENOMEM, -1);
        else {
            memcpy(*data, r->str, r->len);
            *len = r->len;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int rd_blob_size(jobs_store *s, const char *id, const char *name, uint64_t *size)
{
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    long long v = int_reply(cmdf(q, "STRLEN " P "job:%s:%s", id, name), -1);
    pthread_mutex_unlock(&q->mu);
    if (v <= 0) return v < 0 ? -1 : 1; /* no value is empty: 0 is a missing key */
    *size = (uint64_t)v;
    return 0;
}

static void rd_blob_remove(jobs_store *s, const char *id)
{
    rd_store *q = of(s);
    const char *args[] = {id, NULL};
    pthread_mutex_lock(&q->mu);
    freeReplyObject(eval(q, lua_blob_remove, args, NULL, 0));
    pthread_mutex_unlock(&q->mu);
}

static void rd_close(jobs_store *s)
{
    rd_store *q = of(s);
    pthread_mutex_lock(&q->mu);
    q->hb_stop = 1;
    pthread_cond_broadcast(&q->hb_cv);
    pthread_mutex_unlock(&q->mu);
    if (q->hb_running) pthread_join(q->hb, NULL);
    if (q->c) redisFree(q->c);
    pthread_cond_destroy(&q->hb_cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static const jobs_store_ops rd_ops = {
    .create = rd_create, .claim = rd_claim, .finish = rd_finish, .release = rd_release,
    .get = rd_get, .list = rd_list, .cancel = rd_cancel, .retry = rd_retry, .expire = rd_expire,
    .requeue_dead = rd_requeue_dead, .pending = rd_pending, .stats = rd_stats, .close = rd_close,
    .reachable = rd_reachable, .blob_put = rd_blob_put, .blob_get = rd_blob_get,
    .blob_size = rd_blob_size, .blob_remove = rd_blob_remove, .finish_result = finish_with};

jobs_store *jobs_redis_open(const cf_config *c, char *err, size_t errlen)
{
    rd_store *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->base.ops = &rd_ops;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->hb_cv, NULL);
    q->lease_ms = (long long)c->jobs_lease_s * 1000;
    q->ttl_ms = (long long)c->jobs_ttl_s * 1000;
    if (cf_parse_redis_url(c->jobs_store, q->host, sizeof q->host, &q->port, &q->db)) {
        snprintf(err, errlen, "jobs.store: '%s' is not redis://HOST[:PORT][/DB]", c->jobs_store);
        rd_close(&q->base);
        return NULL;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    unsigned int rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) rnd = (unsigned)getpid() ^ (unsigned)time(NULL);
    snprintf(q->tag, sizeof q->tag, "@%s#%08x", host, rnd);
    char why[512];
    if (connect_now(q, why, sizeof why)) {
        snprintf(err, errlen, "jobs.store %s: %s", c->jobs_store, why);
        rd_close(&q->base);
        return NULL;
    }
    return &q->base;
}
