#define _DEFAULT_SOURCE /* mkstemps */
#include "cutout_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JSON_MAX (64u << 20)   /* a job's JSON: 100s of items, far below */
#define RESULT_MAX (1u << 30)  /* one result image */

typedef struct {
    char *p;
    size_t len, cap, max;
    int too_big;
} buf;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->max) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 65536;
        while (nc < b->len + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* One request; the answer's status (0: no answer, message in err). */
static long fetch(CURL *c, const char *url, const char *method, curl_mime *mime, buf *out,
                  size_t max, char *err)
{
    out->len = 0;
    out->max = max;
    out->too_big = 0;
    if (out->p) out->p[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
    if (mime) curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    /* Results in S3 are a 302 to a presigned URL (fcgi/README.md "Jobs"). */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    err[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        if (!err[0]) snprintf(err, CURL_ERROR_SIZE, "%s", out->too_big ? "answer too large" : curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* The JSON string value of key after p (into out), or NULL. Escapes are
 * kept as they are: the values read here are ids, statuses and messages. */
static const char *json_str(const char *p, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *s = p ? strstr(p, pat) : NULL;
    if (!s) return NULL;
    s += strlen(pat);
    size_t o = 0;
    for (; *s && *s != '"' && o + 1 < len; s++) {
        if (*s == '\\' && s[1]) s++;
        out[o++] = *s;
    }
    out[o] = '\0';
    return s;
}

static double json_num(const char *p, const char *key, double dflt)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *s = p ? strstr(p, pat) : NULL;
    if (!s) return dflt;
    char *end;
    double v = strtod(s + strlen(pat), &end);
    return end == s + strlen(pat) ? dflt : v;
}

/* The server's error message of a failed answer. */
static const char *why(const buf *b, char *msg, size_t len)
{
    if (!json_str(b->p, "error", msg, len)) snprintf(msg, len, "%.200s", b->p ? b->p : "");
    return msg;
}

static void progress(const char *prog, int quiet, double frac, int done, int failed, int total,
                     double eta)
{
    if (quiet) return;
    int w = 30, k = (int)(frac * w + 0.5);
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < k ? '#' : '.';
    bar[w] = '\0';
    fprintf(stderr, "\r%s: [%s] %3.0f%% %d/%d", prog, bar, frac * 100, done + failed, total);
    if (failed) fprintf(stderr, " (%d failed)", failed);
    if (eta >= 0) fprintf(stderr, " eta %.0f s   ", eta);
    else fprintf(stderr, "            ");
    fflush(stderr);
}

/* Writes data as path through a temporary file in the same folder. */
static int save(const char *path, const buf *b)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return -1;
    snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->p + off, b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int rc = off == b->len && !close(fd) ? rename(tmp, path) : (close(fd), -1);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int client_run(const char *prog, const char *server, const char *query, char *const *ins,
               char *const *outs, size_t n, int quiet)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "%s: libcurl does not start\n", prog);
        return 1;
    }
    CURL *c = curl_easy_init();
    curl_mime *mime = c ? curl_mime_init(c) : NULL;
    buf b = {0};
    char err[CURL_ERROR_SIZE], msg[512], url[4096], id[64], status[32];
    int rc = 1;
    size_t slen = strlen(server);
    while (slen && server[slen - 1] == '/') slen--;
    if (!mime) goto out;
    for (size_t i = 0; i < n; i++) {
        curl_mimepart *part = curl_mime_addpart(mime);
        const char *slash = strrchr(ins[i], '/');
        curl_mime_name(part, "file");
        if (curl_mime_filedata(part, ins[i]) != CURLE_OK) {
            fprintf(stderr, "%s: %s: cannot read\n", prog, ins[i]);
            goto out;
        }
        curl_mime_filename(part, slash ? slash + 1 : ins[i]);
    }
    snprintf(url, sizeof url, "%.*s/jobs%s%s", (int)slen, server, query[0] ? "?" : "", query);
    long st = fetch(c, url, NULL, mime, &b, JSON_MAX, err);
    if (st != 202 || !json_str(b.p, "id", id, sizeof id)) {
        if (!st) fprintf(stderr, "%s: %s: %s\n", prog, url, err);
        else fprintf(stderr, "%s: %s: HTTP %ld: %s\n", prog, url, st, why(&b, msg, sizeof msg));
        goto out;
    }
    snprintf(url, sizeof url, "%.*s/jobs/%s", (int)slen, server, id);
    for (int polls = 0;; polls++) {
        st = fetch(c, url, NULL, NULL, &b, JSON_MAX, err);
        if (st != 200 || !json_str(b.p, "status", status, sizeof status)) {
            fprintf(stderr, "%s%s: %s: %s\n", quiet ? "" : "\n", prog, url,
                    st ? why(&b, msg, sizeof msg) : err);
            goto out;
        }
        int done = (int)json_num(b.p, "done", 0), failed = (int)json_num(b.p, "failed", 0);
        progress(prog, quiet, json_num(b.p, "progress", 0), done, failed, (int)n,
                 json_num(b.p, "eta_s", -1));
        if (strcmp(status, "queued") && strcmp(status, "running")) break;
        struct timespec ts = {0, polls < 10 ? 200000000L : 500000000L};
        nanosleep(&ts, NULL);
    }
    if (!quiet) fputc('\n', stderr);
    /* The items in index order: the n inputs as sent. */
    buf job = b, img = {0};
    memset(&b, 0, sizeof b);
    int bad = 0;
    const char *p = job.p;
    for (size_t i = 0; i < n; i++) {
        char pat[48], ist[32];
        snprintf(pat, sizeof pat, "{\"index\":%zu,", i);
        const char *it = strstr(p, pat);
        if (!it || !json_str(it, "status", ist, sizeof ist)) {
            fprintf(stderr, "%s: %s: item %zu missing from the job\n", prog, ins[i], i);
            bad++;
            continue;
        }
        if (strcmp(ist, "done")) {
            const char *e = strstr(it, "\"error\":{");
            if (!e || !json_str(e + 8, "error", msg, sizeof msg)) snprintf(msg, sizeof msg, "%s", ist);
            fprintf(stderr, "%s: %s: %s\n", prog, ins[i], msg);
            bad++;
            continue;
        }
        char iurl[4200];
        snprintf(iurl, sizeof iurl, "%s/items/%zu", url, i);
        st = fetch(c, iurl, NULL, NULL, &img, RESULT_MAX, err);
        if (st != 200) {
            fprintf(stderr, "%s: %s: %s\n", prog, ins[i], st ? why(&img, msg, sizeof msg) : err);
            bad++;
        } else if (save(outs[i], &img)) {
            fprintf(stderr, "%s: %s: cannot write: %s\n", prog, outs[i], strerror(errno));
            bad++;
        }
    }
    free(job.p);
    free(img.p);
    rc = bad ? 1 : 0;
out:
    free(b.p);
    curl_mime_free(mime);
    if (c) curl_easy_cleanup(c);
    curl_global_cleanup();
    return rc;
}
