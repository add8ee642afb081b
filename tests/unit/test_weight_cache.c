/* The CPU backend's on-disk weight cache (engine/cpu/cpu_weight_cache.c),
 * through the public API, on u2netp in a fresh $CUTOUT_CACHE_DIR:
 * - off (no_weight_cache, CUTOUT_WEIGHT_CACHE=0): no file, state UNUSED;
 * - first engine writes the file, the next maps it (HIT), and both give
 *   masks bit-identical to the engine that never used the cache;
 * - a payload byte changed, a header byte changed, the file truncated, a
 *   file that is not ours: each is a miss, rewritten, then a HIT again, with
 *   the same masks;
 * - two processes creating engines at the same moment with no file: both
 *   succeed with identical masks, and the file left behind is a HIT;
 * - a hit marks the file used (mtime); a write deletes the least recently
 *   used other cache files beyond 3 GiB and temporaries older than an hour,
 *   and leaves younger temporaries and other files alone.
 * Checked to fail: with cut_wcache_load's chunk comparison removed, the
 * changed payload byte gives a HIT and a different output. */
#define _DEFAULT_SOURCE /* mkdtemp, setenv */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cutout.h"

#define SIDE 320

static int failures;
static char cache_dir[256];
static float input[3 * SIDE * SIDE];

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* Creates an engine (no_cache: option off), runs one pass into out; the
 * cache state, or -1 on failure. */
static int run(const cutout_model *m, int no_cache, float *out)
{
    cutout_engine_options o;
    cutout_engine_options_default(&o);
    o.backend = CUTOUT_BACKEND_CPU;
    o.threads = 2;
    o.no_weight_cache = no_cache;
    cutout_engine *e = NULL;
    char err[256];
    if (cutout_engine_create(m, &o, &e, err, sizeof err)) {
        printf("engine: %s\n", err);
        return -1;
    }
    int state = (int)cutout_engine_weight_cache(e);
    float *outs[1] = {out};
    if (cutout_engine_run(e, input, 1, SIDE, SIDE, outs, err, sizeof err)) {
        printf("run: %s\n", err);
        state = -1;
    }
    cutout_engine_free(e);
    return state;
}

/* How many cpu-weights-* files (temporaries included) the directory holds;
 * the path of one into buf. */
static int cache_file(char *buf, size_t len)
{
    DIR *d = opendir(cache_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "cpu-weights-", 12)) {
            snprintf(buf, len, "%s/%s", cache_dir, de->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Overwrites one byte at off (from the end when off < 0). */
static void poke(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    long at = off < 0 ? file_size(path) + off : off;
    unsigned char c = 0;
    if (fd < 0 || pread(fd, &c, 1, at) != 1) return;
    c ^= 0x5a;
    if (pwrite(fd, &c, 1, at) != 1) printf("poke failed\n");
    close(fd);
}

/* A damaged cache file must be a miss that rewrites it and the masks stay. */
static void damaged(const cutout_model *m, const float *ref, float *out, const char *what,
                    void (*damage)(const char *path))
{
    char path[512], msg[128];
    if (cache_file(path, sizeof path) != 1) {
        check(0, "one cache file before damaging it");
        return;
    }
    damage(path);
    int st = run(m, 0, out);
    snprintf(msg, sizeof msg, "%s: a miss, file rewritten (state %d)", what, st);
    check(st == CUTOUT_WEIGHT_CACHE_WRITTEN, msg);
    snprintf(msg, sizeof msg, "%s: masks bit-identical after the rewrite", what);
    check(!memcmp(out, ref, sizeof(float) * SIDE * SIDE), msg);
    st = run(m, 0, out);
    snprintf(msg, sizeof msg, "%s: the rewritten file is a hit (state %d)", what, st);
    check(st == CUTOUT_WEIGHT_CACHE_HIT && !memcmp(out, ref, sizeof(float) * SIDE * SIDE), msg);
}

static void flip_payload(const char *path) { poke(path, -(long)(3 << 20) - 12345); }
static void flip_header(const char *path) { poke(path, 20); }
static void truncate_file(const char *path)
{
    if (truncate(path, file_size(path) - 4096)) printf("truncate failed\n");
}
static void foreign_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("not a weight cache\n", f);
        fclose(f);
    }
}

/* Two processes released at once onto an empty cache directory. */
static void race(const cutout_model *m, const float *ref)
{
    char path[512];
    while (cache_file(path, sizeof path) > 0) unlink(path);
    int go[2];
    if (pipe(go)) return;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) _exit(3); /* released by the parent's close */
            static float out[SIDE * SIDE];
            int st = run(m, 0, out);
            _exit(st < 0 ? 2 : memcmp(out, ref, sizeof out) ? 1 : 0);
        }
    }
    close(go[0]);
    close(go[1]);
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        int status = 0;
        if (kids[k] < 0 || waitpid(kids[k], &status, 0) != kids[k] || !WIFEXITED(status) ||
            WEXITSTATUS(status)) {
            printf("racer %d: status %d\n", k, status);
            ok = 0;
        }
    }
    check(ok, "two processes racing on an empty cache: both succeed, identical masks");
    static float out[SIDE * SIDE];
    check(cache_file(path, sizeof path) == 1, "one cache file after the race, no temporary left");
    check(run(m, 0, out) == CUTOUT_WEIGHT_CACHE_HIT && !memcmp(out, ref, sizeof out),
          "the file the race left is a hit");
}

/* A file named name in the cache directory, `bytes` long (sparse), last
 * modified age_s seconds ago. */
static void fake(const char *name, off_t bytes, long age_s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cache_dir, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age_s;
    t[1] = t[0];
    if (fd < 0 || ftruncate(fd, bytes) || futimens(fd, t)) printf("fake %s failed\n", name);
    if (fd >= 0) close(fd);
}

static int present(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cache_dir, name);
    return !access(path, F_OK);
}

static long age_s(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)(time(NULL) - st.st_mtime);
}

#define GIB ((off_t)1 << 30)
#define OLD_A "cpu-weights-00000000000000a1.bin"
#define OLD_B "cpu-weights-00000000000000b2.bin"
#define OLD_C "cpu-weights-00000000000000c3.bin"
#define TMP_STALE "cpu-weights-00000000000000d4.bin.Ab12Cd"
#define TMP_LIVE "cpu-weights-00000000000000e5.bin.Ef34Gh"

/* Use marks and pruning, around one hit and one write of u2netp's file. */
static void prune(const cutout_model *m, const float *ref)
{
    char path[512];
    static float out[SIDE * SIDE];
    if (cache_file(path, sizeof path) != 1) {
        check(0, "one cache file before the pruning checks");
        return;
    }
    struct timespec old[2] = {{time(NULL) - 5 * 86400, 0}, {time(NULL) - 5 * 86400, 0}};
    utimensat(AT_FDCWD, path, old, 0);
    check(run(m, 0, out) == CUTOUT_WEIGHT_CACHE_HIT && age_s(path) < 600,
          "a hit marks the file as used (mtime 5 days ago -> now)");
    unlink(path);
    fake(OLD_A, GIB, 3 * 86400); /* least recently used */
    fake(OLD_B, GIB, 2 * 86400);
    fake(OLD_C, GIB, 1 * 86400);
    fake(TMP_STALE, 4096, 7200);
    fake(TMP_LIVE, 4096, 60);
    fake("notes.txt", 2 * GIB, 9 * 86400);
    int st = run(m, 0, out);
    check(st == CUTOUT_WEIGHT_CACHE_WRITTEN && !memcmp(out, ref, sizeof out),
          "a write with 3 GiB of other cache files: written, same masks");
    check(!present(OLD_A) && present(OLD_B) && present(OLD_C),
          "the least recently used file deleted, the two newer kept (3 GiB + 18 MB > 3 GiB)");
    check(!present(TMP_STALE) && present(TMP_LIVE),
          "a temporary 2 h old deleted, one 60 s old (a live writer's) kept");
    check(present("notes.txt"), "a file that is not a cache file is left alone");
    check(run(m, 0, out) == CUTOUT_WEIGHT_CACHE_HIT, "the new file is kept and is a hit");
    const char *mine[] = {OLD_B, OLD_C, TMP_LIVE, "notes.txt"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", cache_dir, mine[i]);
        unlink(path);
    }
}

int main(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/cutout-wcache-XXXXXX");
    if (!mkdtemp(cache_dir)) return 1;
    setenv("CUTOUT_CACHE_DIR", cache_dir, 1);
    unsetenv("CUTOUT_WEIGHT_CACHE");
    for (size_t i = 0; i < sizeof input / sizeof *input; i++)
        input[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;

    char err[256], path[512];
    cutout_model *m = NULL;
    if (cutout_model_load_file("models/u2netp.onnx", &m, err, sizeof err)) {
        printf("FAIL model: %s\n", err);
        return 1;
    }
    static float ref[SIDE * SIDE], out[SIDE * SIDE];
    check(run(m, 1, ref) == CUTOUT_WEIGHT_CACHE_UNUSED && cache_file(path, sizeof path) == 0,
          "no_weight_cache: state unused, no file");
    setenv("CUTOUT_WEIGHT_CACHE", "0", 1);
    check(run(m, 0, out) == CUTOUT_WEIGHT_CACHE_UNUSED && cache_file(path, sizeof path) == 0,
          "CUTOUT_WEIGHT_CACHE=0: state unused, no file");
    unsetenv("CUTOUT_WEIGHT_CACHE");

    int st = run(m, 0, out);
    check(st == CUTOUT_WEIGHT_CACHE_WRITTEN && cache_file(path, sizeof path) == 1,
          "first engine writes one file");
    check(!memcmp(out, ref, sizeof out), "written: masks bit-identical to the uncached engine");
    memset(out, 0, sizeof out);
    st = run(m, 0, out);
    check(st == CUTOUT_WEIGHT_CACHE_HIT, "second engine maps the file (hit)");
    check(!memcmp(out, ref, sizeof out), "hit: masks bit-identical to the uncached engine");

    damaged(m, ref, out, "payload byte changed", flip_payload);
    damaged(m, ref, out, "header byte changed", flip_header);
    damaged(m, ref, out, "file truncated", truncate_file);
    damaged(m, ref, out, "foreign file", foreign_file);
    race(m, ref);
    prune(m, ref);

    while (cache_file(path, sizeof path) > 0) unlink(path);
    rmdir(cache_dir);
    cutout_model_free(m);
    printf("%s\n", failures ? "FAILED" : "all weight-cache checks passed");
    return failures ? 1 : 0;
}
