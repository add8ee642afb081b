/* The jobs store in SQLite (jobs_store.h): one database file for every
 * process of the machine, WAL journal (readers do not block the writer),
 * synchronous=FULL (a committed state survives a power cut, as the spool
 * files do). One connection per process, serialised by a mutex: a
 * transaction of one thread never takes in another thread's statements.
 * Between processes SQLite's file locks decide (busy_timeout). */
#include "jobs_store.h"

#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jobs_store base;
    sqlite3 *db;
    pthread_mutex_t mu;
} sq_store;

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, created REAL NOT NULL,"
    " started REAL NOT NULL DEFAULT 0, finished REAL NOT NULL DEFAULT 0, expires REAL NOT NULL,"
    " total INTEGER NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0, options TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS items(job TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,"
    " status TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', http INTEGER NOT NULL DEFAULT 0,"
    " code TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '',"
    " ctype TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',"
    " in_bytes INTEGER NOT NULL DEFAULT 0, out_bytes INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(job, idx));"
    "CREATE INDEX IF NOT EXISTS items_status ON items(status);"
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);"
    "CREATE INDEX IF NOT EXISTS jobs_expires ON jobs(expires);";

static void lock(jobs_store *s) { pthread_mutex_lock(&((sq_store *)s)->mu); }
static void unlock(jobs_store *s) { pthread_mutex_unlock(&((sq_store *)s)->mu); }
static sqlite3 *db_of(jobs_store *s) { return ((sq_store *)s)->db; }

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    return st;
}

static void col_str(sqlite3_stmt *st, int i, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* One statement with text/number arguments run to completion; the
 * number of rows changed, or -1. fmt: 's' text, 'i' int, 'd' double. */
static int run(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = prep(db, sql);
    if (!st) return -1;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 's') bind_str(st, i + 1, va_arg(ap, const char *));
        else if (fmt[i] == 'i') sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
        else sqlite3_bind_double(st, i + 1, va_arg(ap, double));
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

static int sq_create(jobs_store *s, const js_job *j, const js_item *items, int n, char *err,
                     size_t errlen)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    if (ok)
        ok = run(db, "INSERT INTO jobs(id, created, expires, total, options) VALUES(?,?,?,?,?)",
                 "sddis", j->id, j->created, j->expires, (long long)n, j->options) == 1;
    for (int i = 0; ok && i < n; i++)
        ok = run(db, "INSERT INTO items(job, idx, name, status, in_bytes) VALUES(?,?,?,'queued',?)",
                 "sisi", j->id, (long long)items[i].index, items[i].name, items[i].in_bytes) == 1;
    if (ok) ok = exec(db, "COMMIT") == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        exec(db, "ROLLBACK");
    }
    unlock(s);
    return ok ? 0 : -1;
}

static int sq_claim(jobs_store *s, const char *owner, int max, js_claim *out, double now)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int n = 0, ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    sqlite3_stmt *st = ok ? prep(db, "SELECT items.job, items.idx, jobs.options FROM items JOIN jobs"
                                     " ON jobs.id = items.job WHERE items.status = 'queued' AND"
                                     " jobs.cancelled = 0 AND jobs.expires > ?"
                                     " ORDER BY jobs.created, items.job, items.idx LIMIT ?")
                          : NULL;
    if (st) {
        sqlite3_bind_double(st, 1, now);
        sqlite3_bind_int(st, 2, max);
        while (n < max && sqlite3_step(st) == SQLITE_ROW) {
            col_str(st, 0, out[n].id, sizeof out[n].id);
            out[n].index = sqlite3_column_int(st, 1);
            col_str(st, 2, out[n].options, sizeof out[n].options);
            n++;
        }
        sqlite3_finalize(st);
    } else ok = 0;
    for (int i = 0; ok && i < n; i++) {
        ok = run(db, "UPDATE items SET status = 'running', owner = ? WHERE job = ? AND idx = ?"
                     " AND status = 'queued'", "ssi", owner, out[i].id, (long long)out[i].index) == 1;
        if (ok) ok = run(db, "UPDATE jobs SET started = ? WHERE id = ? AND started = 0", "ds", now, out[i].id) >= 0;
    }
    if (ok) ok = exec(db, "COMMIT") == SQLITE_OK;
    if (!ok) exec(db, "ROLLBACK");
    unlock(s);
    return ok ? n : -1;
}

/* The job's finished time once nothing is queued or running. */
static void mark_finished(sqlite3 *db, const char *id, double now)
{
    run(db, "UPDATE jobs SET finished = ? WHERE id = ? AND NOT EXISTS (SELECT 1 FROM items"
            " WHERE job = ? AND status IN ('queued', 'running'))", "dss", now, id, id);
}

static int sq_finish(jobs_store *s, const char *id, int index, const char *owner, const js_item *it,
                     double now)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK, changed = 0;
    if (ok) {
        int done = !strcmp(it->status, "done");
        changed = done ? run(db, "UPDATE items SET status = 'done', owner = '', result = ?, ctype = ?,"
                                 " model = ?, out_bytes = ?, http = 0, code = '', error = ''"
                                 " WHERE job = ? AND idx = ? AND status = 'running' AND owner = ?",
                             "sssisis", it->result, it->ctype, it->model, it->out_bytes, id,
                             (long long)index, owner)
                       : run(db, "UPDATE items SET status = 'failed', owner = '', http = ?, code = ?,"
                                 " error = ? WHERE job = ? AND idx = ? AND status = 'running'"
                                 " AND owner = ?",
                             "isssis", (long long)it->http, it->code, it->error, id,
                             (long long)index, owner);
        ok = changed >= 0;
        if (changed == 1) mark_finished(db, id, now);
        if (ok) ok = exec(db, "COMMIT") == SQLITE_OK;
        if (!ok) exec(db, "ROLLBACK");
    }
    unlock(s);
    return !ok ? -1 : changed == 1 ? 0 : 1;
}

static int sq_release(jobs_store *s, const char *id, int index, const char *owner)
{
    lock(s);
    int rc = run(db_of(s), "UPDATE items SET status = 'queued', owner = '' WHERE job = ? AND idx = ?"
                           " AND status = 'running' AND owner = ?", "sis", id, (long long)index, owner);
    unlock(s);
    return rc < 0 ? -1 : 0;
}

/* jobs row + item counts; 0, 1 none, -1 error. */
static int read_job(sqlite3 *db, const char *id, double now, js_job *j)
{
    sqlite3_stmt *st = prep(db, "SELECT id, created, started, finished, expires, total, cancelled, options,"
                                " (SELECT COUNT(*) FROM items WHERE job = jobs.id AND status = 'queued'),"
                                " (SELECT COUNT(*) FROM items WHERE job = jobs.id AND status = 'running'),"
                                " (SELECT COUNT(*) FROM items WHERE job = jobs.id AND status = 'done'),"
                                " (SELECT COUNT(*) FROM items WHERE job = jobs.id AND status = 'failed'),"
                                " (SELECT COUNT(*) FROM items WHERE job = jobs.id AND status = 'cancelled')"
                                " FROM jobs WHERE id = ? AND expires > ?");
    if (!st) return -1;
    bind_str(st, 1, id);
    sqlite3_bind_double(st, 2, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(j, 0, sizeof *j);
        col_str(st, 0, j->id, sizeof j->id);
        j->created = sqlite3_column_double(st, 1);
        j->started = sqlite3_column_double(st, 2);
        j->finished = sqlite3_column_double(st, 3);
        j->expires = sqlite3_column_double(st, 4);
        j->total = sqlite3_column_int(st, 5);
        int cancelled_flag = sqlite3_column_int(st, 6);
        col_str(st, 7, j->options, sizeof j->options);
        j->queued = sqlite3_column_int(st, 8);
        j->running = sqlite3_column_int(st, 9);
        j->done = sqlite3_column_int(st, 10);
        j->failed = sqlite3_column_int(st, 11);
        j->cancelled = sqlite3_column_int(st, 12);
        snprintf(j->status, sizeof j->status, "%s", js_job_status(j, cancelled_flag));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

static int read_items(sqlite3 *db, const char *id, int total, js_item **out, int *n)
{
    *out = calloc(total > 0 ? (size_t)total : 1, sizeof **out);
    *n = 0;
    if (!*out) return -1;
    sqlite3_stmt *st = prep(db, "SELECT idx, name, status, http, code, error, result, ctype, model,"
                                " in_bytes, out_bytes FROM items WHERE job = ? ORDER BY idx");
    if (!st) return -1;
    bind_str(st, 1, id);
    while (*n < total && sqlite3_step(st) == SQLITE_ROW) {
        js_item *it = &(*out)[(*n)++];
        it->index = sqlite3_column_int(st, 0);
        col_str(st, 1, it->name, sizeof it->name);
        col_str(st, 2, it->status, sizeof it->status);
        it->http = sqlite3_column_int(st, 3);
        col_str(st, 4, it->code, sizeof it->code);
        col_str(st, 5, it->error, sizeof it->error);
        col_str(st, 6, it->result, sizeof it->result);
        col_str(st, 7, it->ctype, sizeof it->ctype);
        col_str(st, 8, it->model, sizeof it->model);
        it->in_bytes = sqlite3_column_int64(st, 9);
        it->out_bytes = sqlite3_column_int64(st, 10);
    }
    sqlite3_finalize(st);
    return 0;
}

static int sq_get(jobs_store *s, const char *id, double now, js_job *job, js_item **items, int *n)
{
    sqlite3 *db = db_of(s);
    lock(s);
    /* One read transaction: the counts and the items agree. */
    exec(db, "BEGIN");
    int rc = read_job(db, id, now, job);
    if (!rc && items && read_items(db, id, job->total, items, n)) rc = -1;
    exec(db, "COMMIT");
    unlock(s);
    if (rc && items) {
        free(*items);
        *items = NULL;
    }
    return rc;
}

static int sq_list(jobs_store *s, const char *status, const char *after, int limit, js_job *out,
                   double now)
{
    sqlite3 *db = db_of(s);
    lock(s);
    exec(db, "BEGIN");
    sqlite3_stmt *st = prep(db, after[0] ? "SELECT id FROM jobs WHERE expires > ?1 AND (created, id) <"
                                           " (SELECT created, id FROM jobs WHERE id = ?2)"
                                           " ORDER BY created DESC, id DESC"
                                         : "SELECT id FROM jobs WHERE expires > ?1"
                                           " ORDER BY created DESC, id DESC");
    int n = 0;
    if (st) {
        sqlite3_bind_double(st, 1, now);
        if (after[0]) bind_str(st, 2, after);
        char id[JOB_ID_LEN];
        while (n < limit && sqlite3_step(st) == SQLITE_ROW) {
            col_str(st, 0, id, sizeof id);
            if (read_job(db, id, now, &out[n])) continue;
            if (!status[0] || !strcmp(status, out[n].status)) n++;
        }
        sqlite3_finalize(st);
    } else n = -1;
    exec(db, "COMMIT");
    unlock(s);
    return n;
}

static int sq_cancel(jobs_store *s, const char *id, double now)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    int found = ok ? run(db, "UPDATE jobs SET cancelled = 1, finished = CASE WHEN finished = 0 THEN ?"
                             " ELSE finished END WHERE id = ? AND expires > ?", "dsd", now, id, now)
                   : -1;
    if (found == 1)
        ok = run(db, "UPDATE items SET status = 'cancelled', owner = '' WHERE job = ? AND status IN"
                     " ('queued', 'running')", "s", id) >= 0;
    ok = ok && found >= 0 && exec(db, "COMMIT") == SQLITE_OK;
    if (!ok) exec(db, "ROLLBACK");
    unlock(s);
    return !ok ? -1 : found == 1 ? 0 : 1;
}

static int sq_retry(jobs_store *s, const char *id)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int rc = -1, ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    sqlite3_stmt *st = ok ? prep(db, "SELECT cancelled FROM jobs WHERE id = ?") : NULL;
    if (st) {
        bind_str(st, 1, id);
        int step = sqlite3_step(st);
        int cancelled = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_finalize(st);
        if (step != SQLITE_ROW) rc = -1;
        else if (cancelled) rc = -2;
        else {
            rc = run(db, "UPDATE items SET status = 'queued', http = 0, code = '', error = ''"
                         " WHERE job = ? AND status = 'failed'", "s", id);
            if (rc > 0) run(db, "UPDATE jobs SET finished = 0 WHERE id = ?", "s", id);
            if (rc < 0) ok = 0;
        }
    } else ok = 0;
    if (ok) ok = exec(db, "COMMIT") == SQLITE_OK;
    if (!ok) {
        exec(db, "ROLLBACK");
        rc = rc == -2 ? -2 : -1;
    }
    unlock(s);
    return rc;
}

static int sq_expire(jobs_store *s, double now, char (*ids)[JOB_ID_LEN], int max)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int n = 0, ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    sqlite3_stmt *st = ok ? prep(db, "SELECT id FROM jobs WHERE expires <= ? LIMIT ?") : NULL;
    if (st) {
        sqlite3_bind_double(st, 1, now);
        sqlite3_bind_int(st, 2, max);
        while (n < max && sqlite3_step(st) == SQLITE_ROW) col_str(st, 0, ids[n++], JOB_ID_LEN);
        sqlite3_finalize(st);
    }
    for (int i = 0; ok && i < n; i++)
        ok = run(db, "DELETE FROM items WHERE job = ?", "s", ids[i]) >= 0 &&
             run(db, "DELETE FROM jobs WHERE id = ?", "s", ids[i]) >= 0;
    if (ok) ok = exec(db, "COMMIT") == SQLITE_OK;
    if (!ok) exec(db, "ROLLBACK");
    unlock(s);
    return ok ? n : 0;
}

static int sq_requeue_dead(jobs_store *s, js_alive_fn alive)
{
    sqlite3 *db = db_of(s);
    lock(s);
    int n = 0, ok = exec(db, "BEGIN IMMEDIATE") == SQLITE_OK;
    sqlite3_stmt *st = ok ? prep(db, "SELECT DISTINCT owner FROM items WHERE status = 'running'") : NULL;
    if (st) {
        char owner[64];
        while (sqlite3_step(st) == SQLITE_ROW) {
            col_str(st, 0, owner, sizeof owner);
            if (alive(owner)) continue;
            int k = run(db, "UPDATE items SET status = 'queued', owner = '' WHERE status = 'running'"
                            " AND owner = ?", "s", owner);
            if (k > 0) n += k;
        }
        sqlite3_finalize(st);
    }
    if (ok) exec(db, "COMMIT");
    unlock(s);
    return n;
}

static long long sq_pending(jobs_store *s)
{
    sqlite3 *db = db_of(s);
    lock(s);
    long long n = -1;
    sqlite3_stmt *st = prep(db, "SELECT COUNT(*) FROM items WHERE status IN ('queued', 'running')");
    if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    unlock(s);
    return n;
}

static int status_index(const char *s)
{
    static const char *names[] = {"queued", "running", "done", "failed", "cancelled"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

static int sq_stats(jobs_store *s, js_stats *out)
{
    sqlite3 *db = db_of(s);
    memset(out, 0, sizeof *out);
    lock(s);
    exec(db, "BEGIN");
    char status[16];
    sqlite3_stmt *st = prep(db, "SELECT status, COUNT(*), SUM(in_bytes + out_bytes) FROM items GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        col_str(st, 0, status, sizeof status);
        int i = status_index(status);
        if (i >= 0) out->items[i] = sqlite3_column_int64(st, 1);
        out->spool_bytes += sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    st = prep(db, "SELECT id FROM jobs");
    char id[JOB_ID_LEN];
    js_job j;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        col_str(st, 0, id, sizeof id);
        if (read_job(db, id, 0, &j)) continue;
        int i = status_index(j.status);
        if (i >= 0) out->jobs[i]++;
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
    unlock(s);
    return 0;
}

static void sq_close(jobs_store *s)
{
    if (!s) return;
    sq_store *q = (sq_store *)s;
    sqlite3_close(q->db);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Inputs and results are files (jobs_spool.h): no blob_* calls. */
static const jobs_store_ops sq_ops = {.create = sq_create, .claim = sq_claim, .finish = sq_finish,
                                      .release = sq_release, .get = sq_get, .list = sq_list,
                                      .cancel = sq_cancel, .retry = sq_retry, .expire = sq_expire,
                                      .requeue_dead = sq_requeue_dead, .pending = sq_pending,
                                      .stats = sq_stats, .close = sq_close};

jobs_store *jobs_sqlite_open(const char *path, char *err, size_t errlen)
{
    sq_store *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->base.ops = &sq_ops;
    pthread_mutex_init(&q->mu, NULL);
    int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(q->db, 10000);
        char *msg = NULL;
        rc = sqlite3_exec(q->db, schema, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
        }
    } else snprintf(err, errlen, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    if (rc != SQLITE_OK) {
        sq_close(&q->base);
        return NULL;
    }
    return &q->base;
}
