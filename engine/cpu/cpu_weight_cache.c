/* The CPU backend's on-disk weight cache (cpu_weight_cache.h). Every failure
 * is silent: the caller lays the weights out itself. */
#define _DEFAULT_SOURCE /* mkstemp, madvise */
#include "cpu_weight_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache_dir.h"
#include "cpu_features.h"
#include "hash64.h"

/* Bump when the file layout or any packed layout changes (the packed layouts
 * are also spot-checked on every hit, cpu_conv.c). */
#define WC_FORMAT 1
#define WC_CHUNK ((size_t)4 << 20)
#define WC_ALIGN ((size_t)64 << 10) /* payload offset: a multiple of any page size */
static const char WC_MAGIC[8] = {'c', 'u', 't', 'w', 'g', 't', 's', '1'};

typedef struct {
    char magic[8];
    uint64_t format, key, payload_bytes, chunk_bytes, n_chunks, payload_offset;
    uint64_t check; /* cut_hash64 of the fields above and the chunk table */
} wc_header;

static size_t n_chunks(size_t bytes) { return (bytes + WC_CHUNK - 1) / WC_CHUNK; }

static size_t payload_offset(size_t chunks)
{
    return (sizeof(wc_header) + chunks * 8 + WC_ALIGN - 1) / WC_ALIGN * WC_ALIGN;
}

static uint64_t header_check(const wc_header *h, const uint64_t *table)
{
    return cut_hash64(table, h->n_chunks * 8, cut_hash64(h, offsetof(wc_header, check), 0));
}

/* Chunk checksums on the pool: sums[i] of payload chunk i, seeded by the key. */
typedef struct {
    const unsigned char *payload;
    size_t bytes;
    uint64_t key;
    uint64_t *sums;
} sum_job;

static void sum_task(void *ctx, int t, int thread)
{
    (void)thread;
    const sum_job *j = ctx;
    size_t off = (size_t)t * WC_CHUNK, n = j->bytes - off < WC_CHUNK ? j->bytes - off : WC_CHUNK;
    j->sums[t] = cut_hash64(j->payload + off, n, j->key + (uint64_t)t);
}

static uint64_t *chunk_sums(threadpool *tp, const void *payload, size_t bytes, uint64_t key)
{
    size_t n = n_chunks(bytes);
    if (n > (size_t)1 << 30) return NULL;
    sum_job j = {payload, bytes, key, malloc(n * 8 + 8)};
    if (j.sums) cut_pool_run(tp, (int)n, sum_task, &j);
    return j.sums;
}

/* Per conv: the hash of its weights (weight_hash[i]), on the pool. */
typedef struct {
    const cpu_backend *cb;
    uint64_t *sums;
} key_job;

static void key_task(void *ctx, int i, int thread)
{
    (void)thread;
    const key_job *j = ctx;
    const bk_conv_desc *d = &j->cb->convs[i];
    j->sums[i] = j->cb->plans[i].packed ? cut_hash64(d->weight, (size_t)d->cout * d->cin *
                                                                    d->k * d->k * sizeof(float), 0)
                                        : 0;
}

uint64_t cut_wcache_key(cpu_backend *cb)
{
    uint64_t *sums = malloc(((size_t)cb->n_convs + 1) * 8);
    if (!sums) return 0;
    key_job j = {cb, sums};
    cut_pool_run(cb->tp, cb->n_convs, key_task, &j);
    uint64_t head[3] = {WC_FORMAT, (uint64_t)cut_cpu_isa(), (uint64_t)cb->n_convs};
    uint64_t key = cut_hash64(head, sizeof head, 0);
    for (int i = 0; i < cb->n_convs; i++) {
        const bk_conv_desc *d = &cb->convs[i];
        int64_t f[8] = {cb->plans[i].method, d->cout, d->cin, d->k, d->stride, d->dil, d->pad,
                        (int64_t)sums[i]};
        key = cut_hash64(f, sizeof f, key);
    }
    free(sums);
    return key;
}

int cut_wcache_path(uint64_t key, char *path, size_t len)
{
    const char *env = getenv("CUTOUT_WEIGHT_CACHE");
    char dir[4096];
    if ((env && !strcmp(env, "0")) || cut_cache_dir(dir, sizeof dir)) return -1;
    int w = snprintf(path, len, "%s/cpu-weights-%016llx.bin", dir, (unsigned long long)key);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

void *cut_wcache_load(threadpool *tp, const char *path, uint64_t key, size_t bytes, void **map,
                      size_t *map_bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    void *base = MAP_FAILED, *payload = NULL;
    uint64_t *table = NULL, *sums = NULL;
    wc_header h;
    struct stat st;
    size_t chunks = n_chunks(bytes), off = payload_offset(chunks);
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != off + bytes ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h.magic, WC_MAGIC, 8) ||
        h.format != WC_FORMAT || h.key != key || h.payload_bytes != bytes ||
        h.chunk_bytes != WC_CHUNK || h.n_chunks != chunks || h.payload_offset != off)
        goto out;
    table = malloc(chunks * 8 + 8);
    if (!table || pread(fd, table, chunks * 8, sizeof h) != (ssize_t)(chunks * 8) ||
        header_check(&h, table) != h.check)
        goto out;
    base = mmap(NULL, off + bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (base == MAP_FAILED) goto out;
    sums = chunk_sums(tp, (char *)base + off, bytes, key);
    if (!sums || memcmp(sums, table, chunks * 8)) goto out;
    payload = (char *)base + off;
    futimens(fd, NULL); /* last use, for cut_wcache_prune's order */
    *map = base;
    *map_bytes = off + bytes;
out:
    if (!payload && base != MAP_FAILED) munmap(base, off + bytes);
    free(sums);
    free(table);
    close(fd);
    return payload;
}

static int pwrite_all(int fd, const void *buf, size_t n, size_t at)
{
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n, (off_t)at);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
        at += (size_t)w;
    }
    return 0;
}

void *cut_wcache_begin(const char *path, size_t bytes, cut_wcache_new *w)
{
    w->off = payload_offset(n_chunks(bytes));
    w->bytes = bytes;
    w->map_bytes = w->off + bytes;
    int n = snprintf(w->tmp, sizeof w->tmp, "%s.XXXXXX", path);
    int m = snprintf(w->path, sizeof w->path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof w->tmp || m < 0 || (size_t)m >= sizeof w->path) return NULL;
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) return NULL;
    if (!posix_fallocate(w->fd, 0, (off_t)w->map_bytes)) {
        w->map = mmap(NULL, w->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
        if (w->map != MAP_FAILED) return (char *)w->map + w->off;
    }
    close(w->fd);
    unlink(w->tmp);
    return NULL;
}

int cut_wcache_commit(threadpool *tp, cut_wcache_new *w, uint64_t key)
{
    size_t chunks = n_chunks(w->bytes);
    uint64_t *sums = chunk_sums(tp, (char *)w->map + w->off, w->bytes, key);
    int rc = -1;
    if (sums) {
        wc_header h = {.format = WC_FORMAT, .key = key, .payload_bytes = w->bytes,
                       .chunk_bytes = WC_CHUNK, .n_chunks = chunks, .payload_offset = w->off};
        memcpy(h.magic, WC_MAGIC, 8);
        h.check = header_check(&h, sums);
        rc = pwrite_all(w->fd, &h, sizeof h, 0) || pwrite_all(w->fd, sums, chunks * 8, sizeof h)
                 ? -1
                 : 0;
    }
    mprotect(w->map, w->map_bytes, PROT_READ); /* no stray write reaches the file */
    if (close(w->fd)) rc = -1;
    if (!rc && rename(w->tmp, w->path)) rc = -1;
    if (rc) unlink(w->tmp);
    free(sums);
    if (!rc) cut_wcache_prune(w->path, CUT_WCACHE_MAX_BYTES);
    return rc;
}

/* One cache file of the directory: its name, size and last use. */
typedef struct {
    char name[64];
    off_t size;
    time_t used;
} wc_entry;

static int newest_first(const void *a, const void *b)
{
    time_t x = ((const wc_entry *)a)->used, y = ((const wc_entry *)b)->used;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* "cpu-weights-" 16 hex digits ".bin": 1; the same followed by "." and
 * mkstemp's suffix (a temporary): 2; anything else: 0. */
static int wc_name_kind(const char *n)
{
    if (strncmp(n, "cpu-weights-", 12)) return 0;
    for (int i = 12; i < 28; i++)
        if (!strchr("0123456789abcdef", n[i]) || !n[i]) return 0;
    if (strncmp(n + 28, ".bin", 4)) return 0;
    return n[32] == 0 ? 1 : n[32] == '.' ? 2 : 0;
}

void cut_wcache_prune(const char *keep, uint64_t max_bytes)
{
    const char *slash = strrchr(keep, '/');
    char dir[4200];
    if (!slash || (size_t)(slash - keep) >= sizeof dir) return;
    memcpy(dir, keep, (size_t)(slash - keep));
    dir[slash - keep] = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    wc_entry *e = NULL;
    size_t n = 0, cap = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        int kind = wc_name_kind(de->d_name);
        struct stat st;
        if (!kind || !strcmp(de->d_name, slash + 1) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
            continue;
        if (kind == 2) { /* a writer killed mid-way left it; a live one is younger */
            if (now - st.st_mtime > CUT_WCACHE_STALE_TMP_S) unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (n == cap) {
            wc_entry *g = realloc(e, (cap = cap ? cap * 2 : 16) * sizeof *e);
            if (!g) break;
            e = g;
        }
        memcpy(e[n].name, de->d_name, 33); /* kind 1: exactly 32 characters */
        e[n].size = st.st_size;
        e[n++].used = st.st_mtime;
    }
    struct stat ks;
    uint64_t total = stat(keep, &ks) ? 0 : (uint64_t)ks.st_size;
    if (n) qsort(e, n, sizeof *e, newest_first); /* e is NULL when n is 0 */
    for (size_t i = 0; i < n; i++) {
        total += (uint64_t)e[i].size;
        if (total > max_bytes) unlinkat(dirfd(d), e[i].name, 0); /* mapped copies live on */
    }
    free(e);
    closedir(d);
}

void cut_wcache_abandon(cut_wcache_new *w)
{
    close(w->fd);
    unlink(w->tmp);
}
