/* Job results in S3 (jobs_s3.h): requests signed by libcurl
 * (CURLOPT_AWS_SIGV4), presigned URLs by sigv4.c. */
#define _GNU_SOURCE /* gmtime_r, nanosleep */
#include "jobs_s3.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sigv4.h"
#include "strbuf.h"

#define PUT_TRIES 3
#define LIST_ROUNDS 20 /* a listing answers up to 1000 keys; jobs.max_items is at most 10000 */

static struct {
    int on;
    char base[CF_PATH_LEN];   /* scheme://host[:port] */
    char host[CF_PATH_LEN];   /* the Host header clients send */
    char bucket[CF_NAME_LEN], prefix[CF_PATH_LEN], region[CF_NAME_LEN];
    char sigv4[128];          /* "aws:amz:REGION:s3" */
    char key[256], secret[256], token[4096];
    int expires_s;
} s3;

int jobs_s3_on(void) { return s3.on; }

int jobs_s3_check_env(const cf_config *c, char *err, size_t errlen)
{
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!c->s3_endpoint[0] || (key && key[0] && secret && secret[0])) return 0;
    snprintf(err, errlen, "jobs.s3 is configured: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set in the environment");
    return -1;
}

int jobs_s3_init(const cf_config *c, char *err, size_t errlen)
{
    if (!c->s3_endpoint[0]) return 0;
    if (jobs_s3_check_env(c, err, errlen)) return -1;
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (strlen(key) >= sizeof s3.key || strlen(secret) >= sizeof s3.secret ||
        (token && strlen(token) >= sizeof s3.token)) {
        snprintf(err, errlen, "jobs.s3: the AWS_* keys in the environment are too long");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(err, errlen, "jobs.s3: libcurl could not be initialised");
        return -1;
    }
    snprintf(s3.base, sizeof s3.base, "%s", c->s3_endpoint);
    /* The Host header carries the port only when it is not the scheme's. */
    int tls = !strncmp(c->s3_endpoint, "https://", 8);
    snprintf(s3.host, sizeof s3.host, "%s", c->s3_endpoint + (tls ? 8 : 7));
    size_t hl = strlen(s3.host);
    const char *dflt = tls ? ":443" : ":80";
    if (hl > strlen(dflt) && !strcmp(s3.host + hl - strlen(dflt), dflt)) s3.host[hl - strlen(dflt)] = '\0';
    snprintf(s3.bucket, sizeof s3.bucket, "%s", c->s3_bucket);
    snprintf(s3.prefix, sizeof s3.prefix, "%s", c->s3_prefix);
    snprintf(s3.region, sizeof s3.region, "%s", c->s3_region);
    snprintf(s3.sigv4, sizeof s3.sigv4, "aws:amz:%s:s3", c->s3_region);
    snprintf(s3.key, sizeof s3.key, "%s", key);
    snprintf(s3.secret, sizeof s3.secret, "%s", secret);
    snprintf(s3.token, sizeof s3.token, "%s", token ? token : "");
    s3.expires_s = c->s3_expires_s;
    s3.on = 1;
    return 0;
}

/* "/bucket/prefix/id/I.EXT" for the result out-I.EXT; -1 when it does
 * not fit. The configuration and the ids allow only characters that need
 * no encoding. */
static int object_path(const char *id, const char *name, char *out, size_t len)
{
    if (!strncmp(name, "out-", 4)) name += 4;
    int k = snprintf(out, len, "/%s/%s%s%s/%s", s3.bucket, s3.prefix, s3.prefix[0] ? "/" : "", id, name);
    return k < 0 || (size_t)k >= len ? -1 : 0;
}

typedef struct {
    strbuf body;   /* what the server answered (bounded by max) */
    size_t max;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t len = size * n;
    if (s->body.len + len > s->max) return 0; /* too large: the transfer fails */
    sb_put(&s->body, p, len);
    return s->body.oom ? 0 : len;
}

/* One signed request: method on path (+ query, already in canonical
 * form: names sorted, values encoded) with an optional body, on handle c
 * (NULL: a handle of its own; one handle for several requests keeps the
 * connection). The HTTP status, or -1 (no answer: err says why); the
 * answer in *out. */
static long request(CURL *c, const char *method, const char *path, const char *query, const char *ctype,
                    const void *data, size_t len, sink *out, char *err, size_t errlen)
{
    CURL *own = c ? NULL : curl_easy_init();
    if (!c && !(c = own)) {
        snprintf(err, errlen, "libcurl: out of memory");
        return -1;
    }
    curl_easy_reset(c);
    char url[CF_PATH_LEN * 3];
    snprintf(url, sizeof url, "%s%s%s%s", s3.base, path, query ? "?" : "", query ? query : "");
    struct curl_slist *h = NULL;
    char line[4200], hex[65];
    uint8_t sum[32];
    /* S3 wants the payload's hash; libcurl 7.88 signs the header as given. */
    sv_sha256(data ? data : "", data ? len : 0, sum);
    sv_hex(sum, 32, hex);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hex);
    h = curl_slist_append(h, line);
    if (s3.token[0]) {
        snprintf(line, sizeof line, "x-amz-security-token: %s", s3.token);
        h = curl_slist_append(h, line);
    }
    if (ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    /* No "Expect:" to turn off 100-continue: libcurl 7.88 signs that empty
     * header without sending it, and S3 refuses the signature. */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (data) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3.sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s3.key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s3.secret);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
    if (own) curl_easy_cleanup(own);
    return status;
}

/* The text of <tag>...</tag> at or after *from (advanced past it) into
 * out; 0, or -1 when there is none or it does not fit. */
static int xml_text(const char *doc, size_t *from, const char *tag, char *out, size_t len)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(doc + *from, open);
    if (!a) return -1;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b || (size_t)(b - a) >= len) return -1;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    *from = (size_t)(b + strlen(close) - doc);
    return 0;
}

/* "HTTP 403 SignatureDoesNotMatch: the message" from an S3 error body. */
static void s3_error(long status, const sink *s, char *err, size_t errlen)
{
    char code[128] = "", msg[256] = "";
    size_t at = 0;
    if (s->body.p && !s->body.oom) {
        xml_text(s->body.p, &at, "Code", code, sizeof code);
        at = 0;
        xml_text(s->body.p, &at, "Message", msg, sizeof msg);
    }
    snprintf(err, errlen, "HTTP %ld%s%s%s%s", status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

int jobs_s3_put(const char *id, const char *name, const char *ctype, const void *data, size_t len,
                char *err, size_t errlen)
{
    if (!s3.on) return 0;
    char path[CF_PATH_LEN * 2], why[512] = "";
    if (object_path(id, name, path, sizeof path)) {
        snprintf(err, errlen, "the S3 object name is too long");
        return -1;
    }
    for (int t = 1; t <= PUT_TRIES; t++) {
        sink s = {{0}, 64 * 1024};
        sb_init(&s.body);
        long st = request(NULL, "PUT", path, NULL, ctype, data ? data : "", len, &s, why, sizeof why);
        if (st >= 200 && st < 300) {
            sb_free(&s.body);
            return 0;
        }
        if (st > 0) s3_error(st, &s, why, sizeof why);
        sb_free(&s.body);
        int transient = st < 0 || st >= 500 || st == 429;
        if (!transient || t == PUT_TRIES) {
            snprintf(err, errlen, "the result could not be stored in S3 (PUT %s%s, %d attempt%s): %s", s3.base,
                     path, t, t > 1 ? "s" : "", why);
            return -1;
        }
        log_msg(CF_LOG_WARN, "jobs: S3 PUT %s failed (%s), trying again", path, why);
        struct timespec ts = {0, 500000000L * t}; /* 0.5 s, then 1 s */
        nanosleep(&ts, NULL);
    }
    return -1;
}

int jobs_s3_get(const char *id, const char *name, size_t max, uint8_t **data, size_t *len)
{
    char path[CF_PATH_LEN * 2], why[512];
    if (!s3.on || object_path(id, name, path, sizeof path)) return -1;
    sink s = {{0}, max};
    sb_init(&s.body);
    long st = request(NULL, "GET", path, NULL, NULL, NULL, 0, &s, why, sizeof why);
    if (st != 200 || s.body.oom) {
        if (st > 0) s3_error(st, &s, why, sizeof why);
        log_msg(CF_LOG_WARN, "jobs: S3 GET %s failed: %s", path, why);
        sb_free(&s.body);
        return -1;
    }
    *len = s.body.len;
    *data = s.body.p ? (uint8_t *)s.body.p : malloc(1);
    return *data ? 0 : -1;
}

int jobs_s3_presign(const char *id, const char *name, char *url, size_t len)
{
    char path[CF_PATH_LEN * 2], date[32];
    if (!s3.on || object_path(id, name, path, sizeof path)) return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    sv_presign_req r = {s3.base, s3.host, path, s3.region, "s3", s3.key, s3.secret, s3.token, date,
                        s3.expires_s};
    return sv_presign_get(&r, url, len);
}

static void delete_on(CURL *c, const char *id, const char *name)
{
    char path[CF_PATH_LEN * 2], why[512];
    if (!s3.on || object_path(id, name, path, sizeof path)) return;
    sink s = {{0}, 64 * 1024};
    sb_init(&s.body);
    long st = request(c, "DELETE", path, NULL, NULL, NULL, 0, &s, why, sizeof why);
    if (st != 204 && st != 200 && st != 404) {
        if (st > 0) s3_error(st, &s, why, sizeof why);
        log_msg(CF_LOG_WARN, "jobs: S3 DELETE %s failed: %s", path, why);
    }
    sb_free(&s.body);
}

void jobs_s3_delete(const char *id, const char *name) { delete_on(NULL, id, name); }

void jobs_s3_delete_job(const char *id)
{
    if (!s3.on) return;
    char bucket[CF_NAME_LEN + 2], pfx[CF_PATH_LEN + 64], enc[CF_PATH_LEN * 3 + 200], query[CF_PATH_LEN * 3 + 256];
    snprintf(bucket, sizeof bucket, "/%s", s3.bucket);
    snprintf(pfx, sizeof pfx, "%s%s%s/", s3.prefix, s3.prefix[0] ? "/" : "", id);
    if (sv_uri_encode(pfx, 0, enc, sizeof enc)) return;
    snprintf(query, sizeof query, "list-type=2&prefix=%s", enc); /* canonical: names in order */
    CURL *c = curl_easy_init(); /* one connection for the listing and the deletes */
    if (!c) return;
    /* List, delete what was listed, again: a listing answers at most 1000
     * keys, and the deleted ones are not listed a second time. */
    for (int round = 0; round < LIST_ROUNDS; round++) {
        char why[512];
        sink s = {{0}, 4 << 20};
        sb_init(&s.body);
        long st = request(c, "GET", bucket, query, NULL, NULL, 0, &s, why, sizeof why);
        if (st != 200 || !s.body.p || s.body.oom) {
            if (st > 0) s3_error(st, &s, why, sizeof why);
            log_msg(CF_LOG_WARN, "jobs: S3 listing of %s failed: %s", pfx, why);
            sb_free(&s.body);
            break;
        }
        int n = 0;
        size_t at = 0;
        char key[CF_PATH_LEN + 64];
        while (!xml_text(s.body.p, &at, "Key", key, sizeof key)) {
            /* Only this job's objects, by the names this file gives them. */
            if (strncmp(key, pfx, strlen(pfx)) || strchr(key + strlen(pfx), '/') || strchr(key, '&')) continue;
            delete_on(c, id, key + strlen(pfx));
            n++;
        }
        sb_free(&s.body);
        if (!n) break;
    }
    curl_easy_cleanup(c);
}
