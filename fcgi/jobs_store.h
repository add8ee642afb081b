/* Where jobs and their items live (fcgi/README.md "Jobs"): SQLite
 * (jobs_sqlite.c: one machine; inputs and results are files in the spool
 * directory, jobs_spool.h) or Redis (jobs_redis.c: any number of machines;
 * inputs and results are values in Redis, the blob_* calls). Every call is
 * atomic: a store is shared by the threads of one process and by every
 * process that uses it. */
#ifndef CUTOUT_FCGI_JOBS_STORE_H
#define CUTOUT_FCGI_JOBS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define JOB_ID_LEN 33       /* 32 hex digits (128 random bits) + NUL */
#define JOB_OPTS_LEN 2048   /* the options as a query string */
#define JOB_NAME_LEN 256

typedef struct {
    char id[JOB_ID_LEN];
    char status[16];        /* queued | running | done | failed | cancelled */
    double created, started, finished, expires; /* epoch seconds; 0: not yet */
    int total, queued, running, done, failed, cancelled;
    char options[JOB_OPTS_LEN];
} js_job;

typedef struct {
    int index;
    char name[JOB_NAME_LEN];
    char status[16];        /* queued | running | done | failed | cancelled */
    int http;               /* a failed item's HTTP status */
    char code[32];          /* a failed item's error slug */
    char error[512];
    char result[64];        /* a done item's file name in the job's spool folder */
    char ctype[32];
    char model[64];
    long long in_bytes, out_bytes;
} js_item;

/* An item handed to a runner by claim. */
typedef struct {
    char id[JOB_ID_LEN];
    int index;
    char options[JOB_OPTS_LEN];
} js_claim;

typedef struct {
    long long jobs[5];      /* by status: queued, running, done, failed, cancelled */
    long long items[5];
    long long spool_bytes;  /* inputs and results */
} js_stats;

typedef struct jobs_store jobs_store;

/* Is the process that claimed an item (its owner string) still alive? */
typedef int (*js_alive_fn)(const char *owner);

typedef struct {
    /* The job and all its items, at once: no item is claimable before
     * every input is stored. 0, or -1 with err. */
    int (*create)(jobs_store *s, const js_job *job, const js_item *items, int n, char *err,
                  size_t errlen);
    /* Up to max queued items of jobs not cancelled, oldest job first,
     * marked running by owner in one step. The count, or -1. */
    int (*claim)(jobs_store *s, const char *owner, int max, js_claim *out, double now);
    /* The item ran: done (it->result, ctype, out_bytes) or failed (http,
     * code, error). 0; 1 when the item is no longer running for this owner
     * (cancelled, deleted, re-queued): the caller drops its result. */
    int (*finish)(jobs_store *s, const char *id, int index, const char *owner, const js_item *it,
                  double now);
    /* Puts a claimed item back (the queue was full). */
    int (*release)(jobs_store *s, const char *id, int index, const char *owner);
    /* The job, and its items when items != NULL (*items malloc'ed, *n). 0;
     * 1 unknown or expired; -1 error. */
    int (*get)(jobs_store *s, const char *id, double now, js_job *job, js_item **items, int *n);
    /* Newest first, after the job `after` (a cursor; "" from the top),
     * with status `status` ("" any). The count written, or -1. */
    int (*list)(jobs_store *s, const char *status, const char *after, int limit, js_job *out,
                double now);
    /* Queued and running items cancelled. 0; 1 unknown. */
    int (*cancel)(jobs_store *s, const char *id, double now);
    /* Failed items queued again. The count (0: none failed); -1 unknown;
     * -2 the job is cancelled. */
    int (*retry)(jobs_store *s, const char *id);
    /* Deletes up to max jobs expired by now, their ids into ids. Count. */
    int (*expire)(jobs_store *s, double now, char (*ids)[JOB_ID_LEN], int max);
    /* Items running for owners that are gone queued again. Count. */
    int (*requeue_dead)(jobs_store *s, js_alive_fn alive);
    /* Items queued or running over all jobs (jobs.max_queued_items). */
    long long (*pending)(jobs_store *s);
    int (*stats)(jobs_store *s, js_stats *st);
    void (*close)(jobs_store *s);
    /* The rest is NULL for a store whose inputs and results are files
     * (jobs_blob.c chooses). */
    /* 0 when the store cannot be reached now (Redis down): 503. */
    int (*reachable)(jobs_store *s);
    /* Value `name` of job id (in-I, out-I.EXT): put with the job's time to
     * live (0, or -1 with errno); get 0, 1 missing, -1 error (errno; EFBIG
     * over max); size 0, 1 missing, -1 error; remove deletes every value. */
    int (*blob_put)(jobs_store *s, const char *id, const char *name, const void *data, size_t len);
    int (*blob_get)(jobs_store *s, const char *id, const char *name, size_t max, uint8_t **data,
                    size_t *len);
    int (*blob_size)(jobs_store *s, const char *id, const char *name, uint64_t *size);
    void (*blob_remove)(jobs_store *s, const char *id);
    /* finish of a done item with its result stored in the same step, only
     * while owner holds it (a result recorded exactly once). As finish. */
    int (*finish_result)(jobs_store *s, const char *id, int index, const char *owner,
                         const js_item *it, const void *data, size_t len, double now);
} jobs_store_ops;

struct jobs_store {
    const jobs_store_ops *ops;
};

/* Opens the store jobs.store names ("sqlite:PATH", "redis://..."). NULL with err. */
jobs_store *jobs_store_open(const cf_config *c, char *err, size_t errlen);

/* A job's status from its counts (cancelled: the job was cancelled). */
const char *js_job_status(const js_job *j, int cancelled);

/* The SQLite store (jobs_sqlite.c). */
jobs_store *jobs_sqlite_open(const char *path, char *err, size_t errlen);

/* The Redis store (jobs_redis.c): connected, or NULL with err. */
jobs_store *jobs_redis_open(const cf_config *c, char *err, size_t errlen);

#endif
