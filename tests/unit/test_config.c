/* cutout-fcgi's YAML configuration (fcgi/config.c, compiled in here): the
 * defaults of fcgi/README.md, every section read back, and bad files rejected
 * with the right file:line:column. Expected positions were counted by hand
 * in the YAML texts below (1-based). */
#include "../../fcgi/config.c"

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static int load(const char *text, cf_config *c, char *err, size_t errlen)
{
    cf_defaults(c);
    err[0] = '\0';
    return cf_load_string("t.yaml", text, strlen(text), c, err, errlen);
}

/* The text must be rejected with a message starting with prefix. */
static void bad(const char *text, const char *prefix, const char *what)
{
    cf_config c;
    char err[512];
    int rc = load(text, &c, err, sizeof err);
    int ok = rc == -1 && !strncmp(err, prefix, strlen(prefix));
    check(ok, what);
    if (!ok) printf("     got rc=%d err='%s', want prefix '%s'\n", rc, err, prefix);
}

static void test_defaults(void)
{
    cf_config c;
    cf_defaults(&c);
    check(c.workers == 2 && c.threads == 4 && c.backend == CUTOUT_BACKEND_AUTO && !strcmp(c.device, "0") &&
              !c.require_gpu && c.cpu_threads == 2,
          "defaults: workers 2, threads 4, backend auto, device 0, require_gpu false, cpu_threads 2");
    check(!strcmp(c.default_model, "u2netp") && c.n_models == 1 &&
              !strcmp(c.models[0].path, "models/u2netp.onnx"),
          "defaults: models {default: u2netp, paths: {u2netp: models/u2netp.onnx}}");
    check(c.batch_max_size == 8 && c.batch_max_delay_ms == 5, "defaults: batch 8 / 5 ms");
    check(c.max_body_bytes == 20971520 && c.max_pixels == 40000000 && c.max_dimension == 12000 &&
              c.min_dimension == 8 && c.request_timeout_s == 60 && c.queue_depth == 0,
          "defaults: limits as fcgi/README.md");
    check(c.idle_timeout_s == 75 && c.read_timeout_s == 30 && c.write_timeout_s == 30 &&
              c.drain_timeout_s == 60,
          "defaults: idle/read/write/drain_timeout_s 75/30/30/60");
    check(c.max_connections == 64, "defaults: limits.max_connections 64 (per worker)");
    check(c.out_format == CUTOUT_FORMAT_PNG && c.png_compression == 3 && c.webp_quality == 90 &&
              c.jpeg_quality == 90 && c.max_requests == 0,
          "defaults: output png/3/90/90, max_requests 0");
    check(c.log_level == CF_LOG_INFO && c.log_json && !strcmp(c.log_file, "stderr") && c.listen[0] == '\0',
          "defaults: log info json stderr, listen absent");
}

static void test_full_file(void)
{
    const char *y = "listen: unix:/run/cutout.sock\n"
                    "workers: 3\n"
                    "threads: 6\n"
                    "backend: opencl\n"
                    "device: \"NVIDIA\"\n"
                    "require_gpu: true\n"
                    "cpu_threads: 1\n"
                    "models:\n"
                    "  default: isnet\n"
                    "  paths:\n"
                    "    isnet: /srv/isnet.onnx\n"
                    "    u2netp: models/u2netp.onnx\n"
                    "batch: {max_size: 4, max_delay_ms: 0}\n"
                    "limits: {max_body_bytes: 1000, max_pixels: 2000, max_dimension: 300,\n"
                    "         min_dimension: 16, request_timeout_s: 5, queue_depth: 3,\n"
                    "         max_connections: 10}\n"
                    "output: {format: webp, png_compression: 9, webp_quality: 70, jpeg_quality: 80}\n"
                    "max_requests: 1000\n"
                    "log: {level: warn, format: text, file: /var/log/cutout.log}\n";
    cf_config c;
    char err[512];
    int rc = load(y, &c, err, sizeof err);
    check(rc == 0, "every key of the contract is accepted");
    if (rc) printf("     %s\n", err);
    check(!strcmp(c.listen, "unix:/run/cutout.sock") && c.workers == 3 && c.threads == 6 &&
              c.backend == CUTOUT_BACKEND_OPENCL && !strcmp(c.device, "NVIDIA") && c.require_gpu &&
              c.cpu_threads == 1,
          "top-level values read back");
    check(!strcmp(c.default_model, "isnet") && c.n_models == 2 && !strcmp(c.models[0].name, "isnet") &&
              !strcmp(cf_model_path_of(&c, "u2netp"), "models/u2netp.onnx") &&
              cf_model_path_of(&c, "u2net") == NULL,
          "models.paths replaces the built-in list");
    check(c.batch_max_size == 4 && c.batch_max_delay_ms == 0 && c.max_body_bytes == 1000 &&
              c.max_pixels == 2000 && c.max_dimension == 300 && c.min_dimension == 16 &&
              c.request_timeout_s == 5 && c.queue_depth == 3 && c.max_connections == 10,
          "batch and limits (flow mapping over three lines)");
    check(c.out_format == CUTOUT_FORMAT_WEBP && c.png_compression == 9 && c.webp_quality == 70 &&
              c.jpeg_quality == 80 && c.max_requests == 1000 && c.log_level == CF_LOG_WARN &&
              !c.log_json && !strcmp(c.log_file, "/var/log/cutout.log"),
          "output, max_requests, log");

    /* Partial files keep the other defaults. */
    rc = load("batch:\n  max_size: 2\n", &c, err, sizeof err);
    check(rc == 0 && c.batch_max_size == 2 && c.batch_max_delay_ms == 5 && c.workers == 2,
          "a partial section keeps the other defaults");
    rc = load("# only comments\n", &c, err, sizeof err);
    check(rc == 0 && c.workers == 2, "an empty file means the defaults");
    rc = load("listen: 127.0.0.1:9000\n", &c, err, sizeof err);
    check(rc == 0 && !strcmp(c.listen, "127.0.0.1:9000"), "listen host:port");
    rc = load("listen: \"[::1]:9001\"\n", &c, err, sizeof err);
    check(rc == 0, "listen [::1]:port");
    /* Every request thread needs a connection: the default follows threads. */
    rc = load("threads: 100\n", &c, err, sizeof err);
    check(rc == 0 && c.max_connections == 100, "threads 100 raises the default max_connections to 100");
    rc = load("threads: 8\nlimits: {max_connections: 8}\n", &c, err, sizeof err);
    check(rc == 0 && c.max_connections == 8, "max_connections equal to threads is accepted");
}

static void test_errors(void)
{
    bad("workers: 2\nwokers: 3\n", "t.yaml:2:1: unknown key 'wokers'", "unknown top-level key at 2:1");
    bad("batch:\n  max_size: 4\n  max_delay: 3\n", "t.yaml:3:3: unknown key 'max_delay' in batch",
        "unknown nested key at 3:3");
    bad("workers: two\n", "t.yaml:1:10: workers: expected an integer 1..64, found 'two'",
        "non-integer workers at the value's column");
    bad("workers: 0\n", "t.yaml:1:10: workers: expected an integer", "workers 0 out of range");
    bad("workers: 65\n", "t.yaml:1:10: workers:", "workers 65 out of range");
    bad("threads: 4x\n", "t.yaml:1:10: threads:", "trailing garbage in an integer");
    bad("backend: cuda\n", "t.yaml:1:10: backend: expected one of auto|cpu|opencl, found 'cuda'",
        "bad backend");
    bad("require_gpu: maybe\n", "t.yaml:1:14: require_gpu: expected true or false", "bad bool");
    bad("limits:\n  queue_depth: -1\n", "t.yaml:2:16: limits.queue_depth:", "negative queue_depth");
    bad("limits:\n  max_connections: 0\n", "t.yaml:2:20: limits.max_connections: expected an integer 1..65536",
        "max_connections 0 out of range");
    bad("threads: 8\nlimits:\n  max_connections: 4\n",
        "t.yaml:3:20: limits.max_connections: 4 is below threads (8)", "max_connections below threads, at its value");
    bad("output: {format: gif}\n", "t.yaml:1:18: output.format: expected one of png|webp|jpeg",
        "bad output format inside a flow mapping");
    bad("log: {level: loud}\n", "t.yaml:1:14: log.level:", "bad log level");
    bad("listen: 9000\n", "t.yaml:1:9: listen: expected host:port", "listen without a host");
    bad("listen: localhost:70000\n", "t.yaml:1:9: listen:", "listen port out of range");
    bad("listen: \"unix:\"\n", "t.yaml:1:9: listen: a unix socket path", "empty unix path");
    bad("workers: 2\nworkers: 3\n", "t.yaml:2:1: the configuration: duplicate key 'workers'",
        "duplicate key");
    bad("batch: 4\n", "t.yaml:1:8: batch: expected a mapping", "scalar where a mapping belongs");
    bad("workers: [1, 2]\n", "t.yaml:1:10: workers: expected a single value, found a list",
        "list where a scalar belongs");
    bad("- a\n- b\n", "t.yaml:1:1: the configuration: expected a mapping", "a list as the document");
    bad("workers: 2\n  threads: 3\n", "t.yaml:2:10:", "YAML syntax error with its position");
    bad("base: &b {max_size: 2}\nbatch: *b\n", "t.yaml:2:8: aliases (*name) are not supported", "aliases are refused with their position");
    bad("batch: *b\n", "t.yaml:1:8:", "undefined alias is an error with a position");
    bad("models:\n  paths:\n    \"../x\": /tmp/x.onnx\n", "t.yaml:3:13: models.paths: '../x' is not a model name",
        "model names are words, not paths");
    bad("limits: {min_dimension: 500, max_dimension: 100}\n", "t.yaml:1:1: limits: min_dimension (500)",
        "min_dimension above max_dimension");
    bad("a: b\n---\nc: d\n", "t.yaml:", "two documents");

    cf_config c;
    char err[512];
    int rc = cf_load_file("/nonexistent/cutout.yaml", &c, err, sizeof err);
    check(rc == -1 && strstr(err, "/nonexistent/cutout.yaml") && strstr(err, "No such file"),
          "missing file: message names the file");
}

/* The printed defaults are a valid configuration that reads back the same. */
static void test_print_roundtrip(void)
{
    cf_config a, b;
    cf_defaults(&a);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        check(0, "open_memstream");
        return;
    }
    cf_print(f, &a);
    fclose(f);
    char err[512];
    cf_defaults(&b);
    b.workers = 7; /* must be overwritten by the printed value */
    int rc = cf_load_string("printed", buf, len, &b, err, sizeof err);
    check(rc == 0 && !memcmp(&a, &b, sizeof a), "--print-default-config output reads back as the defaults");
    if (rc) printf("     %s\n", err);
    free(buf);
}

/* A whole file (from the repository root, where the tests run); NULL if unreadable. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int ch;
    while (m && (ch = fgetc(f)) != EOF) fputc(ch, m);
    fclose(f);
    if (m) fclose(m);
    return buf;
}

/* fcgi/README.md's configuration reference is --print-config-reference. */
static void test_readme_reference(void)
{
    static const char begin[] = "<!-- config-reference:begin -->\n", end[] = "<!-- config-reference:end -->";
    char *readme = slurp("fcgi/README.md"), *ref = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ref, &len);
    if (f) {
        cf_print_reference(f);
        fclose(f);
    }
    const char *b = readme ? strstr(readme, begin) : NULL;
    const char *e = b ? strstr(b, end) : NULL;
    int ok = b && e && ref && (size_t)(e - b - (sizeof begin - 1)) == len &&
             !memcmp(b + sizeof begin - 1, ref, len);
    check(ok, "fcgi/README.md's config reference equals --print-config-reference (make it with: "
              "build/cutout-fcgi --print-config-reference)");
    free(readme);
    free(ref);
}

/* fcgi/conf/cutout.yaml parses, and is the defaults except where it says
 * otherwise: listen and the installed path of models.paths. */
static void test_shipped_file(void)
{
    cf_config d, c;
    char err[512];
    cf_defaults(&d);
    cf_defaults(&c);
    int rc = cf_load_file("fcgi/conf/cutout.yaml", &c, err, sizeof err);
    check(rc == 0, "fcgi/conf/cutout.yaml parses");
    if (rc) printf("     %s\n", err);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!strcmp(keys[i].path, "listen") || keys[i].type == T_MODELS) continue;
        char a[256], b[256];
        key_value(&keys[i], &d, a, sizeof a);
        key_value(&keys[i], &c, b, sizeof b);
        if (strcmp(a, b)) {
            printf("     %s: default %s, fcgi/conf/cutout.yaml %s\n", keys[i].path, a, b);
            rc = -1;
        }
    }
    check(rc == 0, "fcgi/conf/cutout.yaml holds the defaults (but listen and models.paths)");
    check(c.n_models == 1 && !strcmp(c.models[0].name, d.models[0].name),
          "fcgi/conf/cutout.yaml: the default model's name in models.paths");
}

/* admin.allow, listen_mode and max_memory_mb: parsed, checked, applied. */
static void test_security_keys(void)
{
    cf_config c;
    char err[512];
    cf_defaults(&c);
    check(cf_admin_allowed(&c, "127.0.0.1") && cf_admin_allowed(&c, "::1") &&
              !cf_admin_allowed(&c, "127.0.0.2") && !cf_admin_allowed(&c, "10.0.0.1") &&
              !cf_admin_allowed(&c, "not an address"),
          "admin.allow default: 127.0.0.1 and ::1 only");
    check(!strcmp(c.listen_mode, "0660") && c.max_memory_mb == 0 && cf_max_memory_mb(&c) >= 256,
          "defaults: listen_mode 0660, max_memory_mb from the machine (>= 256)");
    cf_defaults(&c);
    int rc = load("admin: {allow: [10.0.0.0/8, 192.168.1.7, \"2001:db8::/33\"]}\n"
                  "limits: {max_memory_mb: 300}\nlisten_mode: \"0600\"\n", &c, err, sizeof err);
    check(rc == 0 && cf_admin_allowed(&c, "10.255.0.1") && !cf_admin_allowed(&c, "11.0.0.1") &&
              cf_admin_allowed(&c, "192.168.1.7") && !cf_admin_allowed(&c, "192.168.1.8") &&
              cf_admin_allowed(&c, "::ffff:10.1.2.3") && cf_admin_allowed(&c, "2001:db8:7fff::1") &&
              !cf_admin_allowed(&c, "2001:db8:8000::1") && !cf_admin_allowed(&c, "127.0.0.1") &&
              cf_max_memory_mb(&c) == 300,
          "admin.allow: prefixes of v4, v6 and v4-mapped addresses; max_memory_mb 300");
    cf_defaults(&c);
    rc = load("admin: {allow: []}\n", &c, err, sizeof err);
    check(rc == 0 && !cf_admin_allowed(&c, "127.0.0.1"), "admin.allow []: nobody");
    bad("admin: {allow: [10.0.0.0/33]}\n", "t.yaml:1:17: admin.allow: expected an address block",
        "admin.allow: prefix out of range");
    bad("admin: {allow: [example.com]}\n", "t.yaml:1:17: admin.allow", "admin.allow: a name");
    bad("listen_mode: \"0999\"\n", "t.yaml:1:14: listen_mode: expected an octal mode",
        "listen_mode: not octal");
    bad("listen_group: no-such-group-here\n", "t.yaml:1:15: listen_group: no group",
        "listen_group: unknown group");
}

/* cors.allow_origins: off by default, exact origins or "*", bad entries refused. */
static void test_cors_key(void)
{
    cf_config c;
    char err[512];
    cf_defaults(&c);
    check(c.cors_allow_origins.n == 0 && !cf_cors_allowed(&c, "https://a.example"),
          "cors.allow_origins default: none");
    int rc = load("cors:\n  allow_origins: [https://a.example, \"http://localhost:8080\"]\n", &c, err,
                  sizeof err);
    check(rc == 0 && c.cors_allow_origins.n == 2 && cf_cors_allowed(&c, "https://a.example") &&
              cf_cors_allowed(&c, "http://localhost:8080") && !cf_cors_allowed(&c, "https://b.example") &&
              !cf_cors_allowed(&c, "https://a.example.evil") && !cf_cors_allowed(&c, NULL),
          "cors.allow_origins: exact origins only");
    cf_defaults(&c);
    rc = load("cors: {allow_origins: [\"*\"]}\n", &c, err, sizeof err);
    check(rc == 0 && cf_cors_allowed(&c, "https://any.example"), "cors.allow_origins [*]: any origin");
    bad("cors: {allow_origins: [https://a.example/path]}\n", "t.yaml:1:24: cors.allow_origins: expected",
        "cors.allow_origins: a path is not an origin");
    bad("cors: {allow_origins: [a.example]}\n", "t.yaml:1:24: cors.allow_origins: expected",
        "cors.allow_origins: no scheme");
    bad("cors: {allow_origins: [{a: b}]}\n", "t.yaml:1:24: cors.allow_origins", "cors.allow_origins: a map item");
}

/* jobs.store: redis://HOST[:PORT][/DB] parsed, and refused when malformed. */
static void test_jobs_redis(void)
{
    char host[256];
    int port = 0, db = -1;
    check(!cf_parse_redis_url("redis://10.0.0.5:6380/2", host, sizeof host, &port, &db) &&
              !strcmp(host, "10.0.0.5") && port == 6380 && db == 2, "redis URL: host, port and db");
    check(!cf_parse_redis_url("redis://cache", host, sizeof host, &port, &db) && !strcmp(host, "cache") &&
              port == 6379 && db == 0, "redis URL: port 6379 and db 0 by default");
    check(!cf_parse_redis_url("redis://[::1]:7000/", host, sizeof host, &port, &db) && !strcmp(host, "::1") &&
              port == 7000 && db == 0, "redis URL: an IPv6 host");
    const char *bad_urls[] = {"redis://", "redis://h:0", "redis://h:99999", "redis://h:6379/x",
                              "redis://h:6379/-1", "redis://u:pw@h:6379", "rediss://h", "redis://h:/1"};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++)
        refused += cf_parse_redis_url(bad_urls[i], host, sizeof host, &port, &db) == -1;
    check(refused == (int)(sizeof bad_urls / sizeof *bad_urls), "redis URL: malformed ones refused");
    cf_config c;
    char err[512];
    int rc = load("jobs: {store: \"redis://127.0.0.1:6379/1\", lease_s: 5}\n", &c, err, sizeof err);
    check(rc == 0 && c.jobs_lease_s == 5, "jobs.store redis:// and jobs.lease_s accepted");
    bad("jobs: {store: \"redis://h:x\"}\n", "t.yaml:1:15: jobs.store: expected sqlite:PATH or redis://",
        "jobs.store: a bad redis URL at its value");
    bad("jobs: {store: \"redis://h\", serve: x-accel-redirect}\n",
        "t.yaml:1:1: jobs.serve: with jobs.store redis://", "jobs.serve other than direct refused with Redis");
}

/* jobs.s3: a section inside a section (the walker and --print-default-config
 * at any depth), each key's check, and the pair endpoint/bucket. */
static void test_s3_keys(void)
{
    cf_config c;
    char err[512];
    cf_defaults(&c);
    check(!c.s3_endpoint[0] && !c.s3_bucket[0] && !strcmp(c.s3_region, "us-east-1") && c.s3_expires_s == 900,
          "jobs.s3 default: off, region us-east-1, expires_s 900");
    int rc = load("jobs:\n  store: sqlite:j.db\n  s3:\n    endpoint: https://s3.example.com:8443/\n"
                  "    bucket: my-bucket.1\n    prefix: results/cut_out-1/\n    region: eu-west-3\n"
                  "    expires_s: 60\n  ttl_s: 5\n",
                  &c, err, sizeof err);
    check(rc == 0 && !strcmp(c.s3_endpoint, "https://s3.example.com:8443") && !strcmp(c.s3_bucket, "my-bucket.1") &&
              !strcmp(c.s3_prefix, "results/cut_out-1") && !strcmp(c.s3_region, "eu-west-3") &&
              c.s3_expires_s == 60 && c.jobs_ttl_s == 5 && !strcmp(c.jobs_store, "sqlite:j.db"),
          "jobs.s3 read (trailing '/' of endpoint and prefix dropped), a key of jobs after it too");
    if (rc) printf("     %s\n", err);
    rc = load("jobs: {s3: {endpoint: \"http://127.0.0.1:9000\", bucket: abc}}\n", &c, err, sizeof err);
    check(rc == 0 && !strcmp(c.s3_endpoint, "http://127.0.0.1:9000") && !strcmp(c.s3_bucket, "abc"),
          "jobs.s3 in flow style");
    /* Printed and read back, nested section included. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cf_config a, b;
    load("jobs:\n  s3:\n    endpoint: http://h:1\n    bucket: abc\n    prefix: p/q\ncors: {allow_origins: []}\n",
         &a, err, sizeof err);
    cf_print(f, &a);
    fclose(f);
    cf_defaults(&b);
    rc = cf_load_string("printed", buf, len, &b, err, sizeof err);
    check(rc == 0 && !memcmp(&a, &b, sizeof a) && strstr(buf, "\n  s3:\n    endpoint: http://h:1"),
          "a configuration with jobs.s3 printed (s3: nested under jobs:) reads back the same");
    if (rc) printf("     %s\n", err);
    free(buf);
    bad("jobs:\n  s3:\n    endpoint: http://h:1\n    bucket: abc\n    secret: x\n",
        "t.yaml:5:5: unknown key 'secret' in jobs.s3 (expected one of endpoint|bucket|prefix|region|expires_s)",
        "jobs.s3: an unknown key (no secret in the file) names the keys there are");
    bad("jobs:\n  s4: {}\n", "t.yaml:2:3: unknown key 's4' in jobs (expected one of store|dir|ttl_s|max_items|"
        "max_queued_items|lease_s|serve|s3)", "jobs: an unknown key lists s3 once");
    bad("jobs: {s3: 5}\n", "t.yaml:1:12: jobs.s3: expected a mapping", "jobs.s3: a scalar is not a section");
    bad("jobs: {s3: {endpoint: \"http://h:1/path\", bucket: abc}}\n", "t.yaml:1:23: jobs.s3.endpoint: expected",
        "jobs.s3.endpoint: a path is refused (path-style addressing adds the bucket)");
    bad("jobs: {s3: {endpoint: \"ftp://h\", bucket: abc}}\n", "t.yaml:1:23: jobs.s3.endpoint: expected",
        "jobs.s3.endpoint: http or https only");
    bad("jobs: {s3: {endpoint: \"http://h/?a\", bucket: abc}}\n", "t.yaml:1:23: jobs.s3.endpoint: expected",
        "jobs.s3.endpoint: a query is refused");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: Abc}}\n", "t.yaml:1:43: jobs.s3.bucket: expected",
        "jobs.s3.bucket: upper case refused");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: ab}}\n", "t.yaml:1:43: jobs.s3.bucket: expected",
        "jobs.s3.bucket: shorter than 3");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: abc, prefix: a/../b}}\n", "t.yaml:1:56: jobs.s3.prefix: expected",
        "jobs.s3.prefix: '..' refused");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: abc, prefix: /a}}\n", "t.yaml:1:56: jobs.s3.prefix: expected",
        "jobs.s3.prefix: a leading '/' refused");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: abc, prefix: \"a b\"}}\n",
        "t.yaml:1:56: jobs.s3.prefix: expected", "jobs.s3.prefix: a space refused (keys need no encoding)");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: abc, region: us_east}}\n",
        "t.yaml:1:56: jobs.s3.region: expected", "jobs.s3.region: '_' refused");
    bad("jobs: {s3: {endpoint: \"http://h\", bucket: abc, expires_s: 604801}}\n", "t.yaml:1:59: jobs.s3.expires_s",
        "jobs.s3.expires_s: over 7 days (SigV4's limit) refused");
    bad("jobs: {s3: {endpoint: \"http://h\"}}\n", "t.yaml:1:1: jobs.s3: endpoint and bucket go together",
        "jobs.s3: endpoint without bucket");
    bad("jobs: {s3: {bucket: abc}}\n", "t.yaml:1:1: jobs.s3: endpoint and bucket go together",
        "jobs.s3: bucket without endpoint");
}

int main(void)
{
    test_defaults();
    test_full_file();
    test_errors();
    test_security_keys();
    test_cors_key();
    test_jobs_redis();
    test_s3_keys();
    test_print_roundtrip();
    test_readme_reference();
    test_shipped_file();
    printf("%s\n", failures ? "test_config: FAILED" : "test_config: all passed");
    return failures ? 1 : 0;
}
