/* YAML configuration for cutout-fcgi: libyaml's event stream is turned into
 * a small node tree (with the line and column of every node), then walked
 * against the schema below. Anything the schema does not know is an error. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cutout.h"
#include "image.h"

/* ------------------------------------------------------------ defaults */

void cf_defaults(cf_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen[0] = '\0';
    c->workers = 2;
    c->threads = 4;
    c->backend = CUTOUT_BACKEND_AUTO;
    snprintf(c->device, sizeof c->device, "0");
    c->require_gpu = 0;
    c->cpu_threads = 2;
    snprintf(c->default_model, sizeof c->default_model, "u2netp");
    snprintf(c->models[0].name, sizeof c->models[0].name, "u2netp");
    snprintf(c->models[0].path, sizeof c->models[0].path, "models/u2netp.onnx");
    c->n_models = 1;
    c->batch_max_size = 8;
    c->batch_max_delay_ms = 5;
    c->max_body_bytes = 20971520;
    c->max_pixels = 40000000;
    c->max_dimension = 12000;
    c->min_dimension = 8;
    c->request_timeout_s = 60;
    c->queue_depth = 64;
    c->max_connections = 64;
    c->out_format = CUT_FORMAT_PNG;
    c->png_compression = 3;
    c->webp_quality = 90;
    c->jpeg_quality = 90;
    c->max_requests = 0;
    c->log_level = CF_LOG_INFO;
    c->log_json = 1;
    snprintf(c->log_file, sizeof c->log_file, "stderr");
}

/* ------------------------------------------------------------ node tree */

typedef enum { N_SCALAR, N_MAP, N_SEQ } node_kind;

typedef struct node {
    node_kind kind;
    int line, col;      /* 1-based */
    char *text;         /* scalars */
    struct node **kids; /* maps: key, value, key, value...; sequences: items */
    size_t n, cap;
} node;

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
    int failed;
    const void *max_connections_node; /* where limits.max_connections was set, or NULL */
} ctx;

static int failf(ctx *x, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int failf(ctx *x, int line, int col, const char *fmt, ...)
{
    if (x->failed) return -1; /* keep the first message */
    x->failed = 1;
    int k = snprintf(x->err, x->errlen, "%s:%d:%d: ", x->file, line, col);
    if (k < 0 || (size_t)k >= x->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + k, x->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static void node_free(node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static node *node_new(node_kind kind, const yaml_mark_t *m)
{
    node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static int node_add(node *parent, node *kid)
{
    if (parent->n == parent->cap) {
        size_t nc = parent->cap ? parent->cap * 2 : 8;
        node **nk = realloc(parent->kids, nc * sizeof *nk);
        if (!nk) return -1;
        parent->kids = nk;
        parent->cap = nc;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

#define MAX_DEPTH 16

/* Builds the node that starts with ev (already taken from the parser). */
static node *build(ctx *x, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        failf(x, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        node *n = node_new(N_SCALAR, &ev->start_mark);
        if (!n || !(n->text = malloc(ev->data.scalar.length + 1))) {
            free(n);
            failf(x, 0, 0, "out of memory");
            return NULL;
        }
        memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
        n->text[ev->data.scalar.length] = '\0';
        if (strlen(n->text) != ev->data.scalar.length) {
            failf(x, n->line, n->col, "NUL byte in a value");
            node_free(n);
            return NULL;
        }
        return n;
    }
    case YAML_ALIAS_EVENT:
        failf(x, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "aliases (*name) are not supported");
        return NULL;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        node *n = node_new(is_map ? N_MAP : N_SEQ, &ev->start_mark);
        if (!n) {
            failf(x, 0, 0, "out of memory");
            return NULL;
        }
        for (;;) {
            yaml_event_t e;
            if (!yaml_parser_parse(p, &e)) {
                failf(x, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, "%s",
                      p->problem ? p->problem : "YAML syntax error");
                node_free(n);
                return NULL;
            }
            if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return n;
            }
            node *kid = build(x, p, &e, depth + 1);
            yaml_event_delete(&e);
            if (!kid || node_add(n, kid)) {
                if (kid) failf(x, 0, 0, "out of memory");
                node_free(kid);
                node_free(n);
                return NULL;
            }
        }
    }
    default:
        failf(x, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "unexpected YAML event");
        return NULL;
    }
}

/* The document's root node; NULL with *empty = 1 for an empty file. */
static node *parse_tree(ctx *x, const char *text, size_t len, int *empty)
{
    yaml_parser_t p;
    *empty = 0;
    if (!yaml_parser_initialize(&p)) {
        failf(x, 0, 0, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    node *root = NULL;
    int docs = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            failf(x, (int)p.problem_mark.line + 1, (int)p.problem_mark.column + 1, "%s%s%s",
                  p.problem ? p.problem : "YAML syntax error", p.context ? " " : "",
                  p.context ? p.context : "");
            break;
        }
        yaml_event_type_t t = e.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            failf(x, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                  "only one YAML document is allowed");
            yaml_event_delete(&e);
            break;
        }
        if (t == YAML_SCALAR_EVENT || t == YAML_MAPPING_START_EVENT ||
            t == YAML_SEQUENCE_START_EVENT || t == YAML_ALIAS_EVENT) {
            root = build(x, &p, &e, 0);
            yaml_event_delete(&e);
            if (!root) break;
            continue;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (x->failed) {
        node_free(root);
        return NULL;
    }
    if (!root) *empty = 1;
    /* An empty document ("" or only comments) parses as an empty scalar. */
    if (root && root->kind == N_SCALAR && root->text[0] == '\0') {
        node_free(root);
        root = NULL;
        *empty = 1;
    }
    return root;
}

/* ------------------------------------------------------------ values */

static int want_scalar(ctx *x, const node *v, const char *key)
{
    if (v->kind == N_SCALAR) return 0;
    return failf(x, v->line, v->col, "%s: expected a single value, found a %s", key,
                 v->kind == N_MAP ? "mapping" : "list");
}

static int get_ll(ctx *x, const node *v, const char *key, long long lo, long long hi,
                  long long *out)
{
    if (want_scalar(x, v, key)) return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v->text, &end, 10);
    if (errno || end == v->text || *end || n < lo || n > hi)
        return failf(x, v->line, v->col, "%s: expected an integer %lld..%lld, found '%s'", key, lo,
                     hi, v->text);
    *out = n;
    return 0;
}

static int get_int(ctx *x, const node *v, const char *key, int lo, int hi, int *out)
{
    long long n;
    if (get_ll(x, v, key, lo, hi, &n)) return -1;
    *out = (int)n;
    return 0;
}

static int get_bool(ctx *x, const node *v, const char *key, int *out)
{
    if (want_scalar(x, v, key)) return -1;
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(v->text, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v->text, no[i])) return *out = 0, 0;
    }
    return failf(x, v->line, v->col, "%s: expected true or false, found '%s'", key, v->text);
}

static int get_str(ctx *x, const node *v, const char *key, char *out, size_t outlen)
{
    if (want_scalar(x, v, key)) return -1;
    size_t n = strlen(v->text);
    if (n >= outlen)
        return failf(x, v->line, v->col, "%s: value longer than %zu bytes", key, outlen - 1);
    memcpy(out, v->text, n + 1);
    return 0;
}

/* One of the words in choices ("a|b|c"); the index. */
static int get_choice(ctx *x, const node *v, const char *key, const char *choices, int *out)
{
    if (want_scalar(x, v, key)) return -1;
    int i = 0;
    for (const char *c = choices; *c; i++) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (strlen(v->text) == n && !strncmp(v->text, c, n)) return *out = i, 0;
        c += n + (bar ? 1 : 0);
    }
    return failf(x, v->line, v->col, "%s: expected one of %s, found '%s'", key, choices, v->text);
}

static int valid_name(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int cf_split_host_port(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !strncmp(listen, "unix:", 5)) return -1;
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:9000 */
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen) return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 1 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int check_listen(ctx *x, const node *v, const char *s)
{
    if (!strncmp(s, "unix:", 5)) {
        size_t n = strlen(s + 5);
        if (n == 0 || n >= 108) /* sun_path */
            return failf(x, v->line, v->col, "listen: a unix socket path of 1..107 bytes is needed");
        return 0;
    }
    char host[256];
    int port;
    if (cf_split_host_port(s, host, sizeof host, &port))
        return failf(x, v->line, v->col,
                     "listen: expected host:port (port 1..65535) or unix:/path, found '%s'", s);
    return 0;
}

/* ------------------------------------------------------------ schema */

/* Calls fn(key, value) for every pair of map m after checking the keys
 * against known ("a|b|c") and for duplicates. */
typedef int (*pair_fn)(ctx *x, cf_config *c, const char *key, const node *v);

static int walk_map(ctx *x, cf_config *c, const node *m, const char *what, const char *known,
                    pair_fn fn)
{
    if (m->kind != N_MAP)
        return failf(x, m->line, m->col, "%s: expected a mapping (key: value)", what);
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const node *k = m->kids[i], *v = m->kids[i + 1];
        if (k->kind != N_SCALAR) return failf(x, k->line, k->col, "%s: keys must be plain words", what);
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(m->kids[j]->text, k->text))
                return failf(x, k->line, k->col, "%s: duplicate key '%s'", what, k->text);
        if (known) {
            int found = 0;
            size_t kl = strlen(k->text);
            for (const char *s = known; *s && !found;) {
                const char *bar = strchr(s, '|');
                size_t n = bar ? (size_t)(bar - s) : strlen(s);
                found = n == kl && !strncmp(s, k->text, n);
                s += n + (bar ? 1 : 0);
            }
            if (!found)
                return failf(x, k->line, k->col, "unknown key '%s' in %s (expected one of %s)",
                             k->text, what, known);
        }
        if (fn(x, c, k->text, v)) return -1;
    }
    return 0;
}

static int model_path_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!valid_name(key) || strlen(key) >= CF_NAME_LEN)
        return failf(x, v->line, v->col,
                     "models.paths: '%s' is not a model name (letters, digits, '-', '_', '.')", key);
    if (c->n_models == CF_MAX_MODELS)
        return failf(x, v->line, v->col, "models.paths: at most %d models", CF_MAX_MODELS);
    cf_model_path *mp = &c->models[c->n_models];
    snprintf(mp->name, sizeof mp->name, "%s", key);
    if (get_str(x, v, "models.paths", mp->path, sizeof mp->path)) return -1;
    if (!mp->path[0]) return failf(x, v->line, v->col, "models.paths.%s: empty path", key);
    c->n_models++;
    return 0;
}

static int models_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "default")) {
        if (get_str(x, v, "models.default", c->default_model, sizeof c->default_model)) return -1;
        if (!valid_name(c->default_model))
            return failf(x, v->line, v->col, "models.default: '%s' is not a model name",
                         c->default_model);
        return 0;
    }
    c->n_models = 0; /* paths replaces the built-in list */
    if (v->kind == N_SCALAR && v->text[0] == '\0') return 0;
    return walk_map(x, c, v, "models.paths", NULL, model_path_pair);
}

static int batch_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "max_size")) return get_int(x, v, "batch.max_size", 1, 64, &c->batch_max_size);
    return get_int(x, v, "batch.max_delay_ms", 0, 10000, &c->batch_max_delay_ms);
}

static int limits_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "max_body_bytes"))
        return get_ll(x, v, "limits.max_body_bytes", 1, (long long)1 << 40, &c->max_body_bytes);
    if (!strcmp(key, "max_pixels"))
        return get_ll(x, v, "limits.max_pixels", 1, (long long)1 << 40, &c->max_pixels);
    if (!strcmp(key, "max_dimension"))
        return get_int(x, v, "limits.max_dimension", 1, 1 << 20, &c->max_dimension);
    if (!strcmp(key, "min_dimension"))
        return get_int(x, v, "limits.min_dimension", 1, 1 << 20, &c->min_dimension);
    if (!strcmp(key, "request_timeout_s"))
        return get_int(x, v, "limits.request_timeout_s", 1, 86400, &c->request_timeout_s);
    if (!strcmp(key, "max_connections")) {
        x->max_connections_node = v;
        return get_int(x, v, "limits.max_connections", 1, 65536, &c->max_connections);
    }
    return get_int(x, v, "limits.queue_depth", 1, 100000, &c->queue_depth);
}

static int output_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "format")) {
        int i;
        if (get_choice(x, v, "output.format", "png|webp|jpeg", &i)) return -1;
        c->out_format = i == 0 ? CUT_FORMAT_PNG : i == 1 ? CUT_FORMAT_WEBP : CUT_FORMAT_JPEG;
        return 0;
    }
    if (!strcmp(key, "png_compression"))
        return get_int(x, v, "output.png_compression", 0, 9, &c->png_compression);
    if (!strcmp(key, "webp_quality"))
        return get_int(x, v, "output.webp_quality", 1, 100, &c->webp_quality);
    return get_int(x, v, "output.jpeg_quality", 1, 100, &c->jpeg_quality);
}

static int log_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "level")) return get_choice(x, v, "log.level", "debug|info|warn|error", &c->log_level);
    if (!strcmp(key, "format")) {
        int i;
        if (get_choice(x, v, "log.format", "text|json", &i)) return -1;
        c->log_json = i;
        return 0;
    }
    if (get_str(x, v, "log.file", c->log_file, sizeof c->log_file)) return -1;
    if (!c->log_file[0]) return failf(x, v->line, v->col, "log.file: empty (use stderr)");
    return 0;
}

static int top_pair(ctx *x, cf_config *c, const char *key, const node *v)
{
    if (!strcmp(key, "listen")) {
        if (get_str(x, v, "listen", c->listen, sizeof c->listen)) return -1;
        return c->listen[0] ? check_listen(x, v, c->listen) : 0;
    }
    if (!strcmp(key, "workers")) return get_int(x, v, "workers", 1, CF_MAX_WORKERS, &c->workers);
    if (!strcmp(key, "threads")) return get_int(x, v, "threads", 1, 256, &c->threads);
    if (!strcmp(key, "backend")) return get_choice(x, v, "backend", "auto|cpu|opencl", &c->backend);
    if (!strcmp(key, "device")) return get_str(x, v, "device", c->device, sizeof c->device);
    if (!strcmp(key, "require_gpu")) return get_bool(x, v, "require_gpu", &c->require_gpu);
    if (!strcmp(key, "cpu_threads")) return get_int(x, v, "cpu_threads", 1, 1024, &c->cpu_threads);
    if (!strcmp(key, "models"))
        return walk_map(x, c, v, "models", "default|paths", models_pair);
    if (!strcmp(key, "batch")) return walk_map(x, c, v, "batch", "max_size|max_delay_ms", batch_pair);
    if (!strcmp(key, "limits"))
        return walk_map(x, c, v, "limits",
                        "max_body_bytes|max_pixels|max_dimension|min_dimension|request_timeout_s|"
                        "queue_depth|max_connections",
                        limits_pair);
    if (!strcmp(key, "output"))
        return walk_map(x, c, v, "output", "format|png_compression|webp_quality|jpeg_quality",
                        output_pair);
    if (!strcmp(key, "max_requests"))
        return get_ll(x, v, "max_requests", 0, LLONG_MAX, &c->max_requests);
    return walk_map(x, c, v, "log", "level|format|file", log_pair);
}

#define TOP_KEYS                                                                               \
    "listen|workers|threads|backend|device|require_gpu|cpu_threads|models|batch|limits|output|" \
    "max_requests|log"

int cf_load_string(const char *name, const char *text, size_t len, cf_config *c, char *err,
                   size_t errlen)
{
    ctx x = {name, err, errlen, 0, NULL};
    int empty;
    node *root = parse_tree(&x, text, len, &empty);
    if (!root) return empty ? 0 : -1;
    int rc = walk_map(&x, c, root, "the configuration", TOP_KEYS, top_pair);
    /* Every request thread must be able to hold a connection: a default
     * below `threads` grows with it, a value given below it is an error. */
    if (!rc && c->max_connections < c->threads) {
        const node *mc = x.max_connections_node;
        if (mc)
            rc = failf(&x, mc->line, mc->col,
                       "limits.max_connections: %d is below threads (%d); every request thread "
                       "needs a connection", c->max_connections, c->threads);
        else
            c->max_connections = c->threads;
    }
    if (!rc && c->min_dimension > c->max_dimension)
        rc = failf(&x, root->line, root->col,
                   "limits: min_dimension (%d) is larger than max_dimension (%d)", c->min_dimension,
                   c->max_dimension);
    node_free(root);
    return rc ? -1 : 0;
}

int cf_load_file(const char *path, cf_config *c, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= ((size_t)1 << 20)) { /* a configuration, not a data file */
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: larger than 1 MiB", path);
                return -1;
            }
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    int rc = cf_load_string(path, buf, len, c, err, errlen);
    free(buf);
    return rc;
}

const char *cf_model_path_of(const cf_config *c, const char *name)
{
    for (int i = 0; i < c->n_models; i++)
        if (!strcmp(c->models[i].name, name)) return c->models[i].path;
    return NULL;
}

/* ------------------------------------------------------------ printing */

/* A YAML scalar: plain when safe, double-quoted otherwise. */
static void put_scalar(FILE *f, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_./:", *p)))
            plain = 0;
    if (plain && (s[0] == '-' || !strcasecmp(s, "true") || !strcasecmp(s, "false") ||
                  !strcasecmp(s, "yes") || !strcasecmp(s, "no") || !strcasecmp(s, "on") ||
                  !strcasecmp(s, "off") || !strcasecmp(s, "null")))
        plain = 0;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void cf_print(FILE *f, const cf_config *c)
{
    static const char *backends[] = {"auto", "cpu", "opencl"};
    static const char *levels[] = {"debug", "info", "warn", "error"};
    fprintf(f, "# cutout-fcgi configuration (fcgi/README.md \"Configuration (YAML)\")\n");
    if (c->listen[0]) {
        fprintf(f, "listen: ");
        put_scalar(f, c->listen);
        fprintf(f, "     # or unix:/path\n");
    } else {
        fprintf(f, "# listen: 127.0.0.1:9000   # or unix:/path; absent: the socket on fd 0 when\n"
                   "#                           # there is one (spawn-fcgi), else 127.0.0.1:9000\n");
    }
    fprintf(f, "workers: %d                 # supervised processes (static pool)\n", c->workers);
    fprintf(f, "threads: %d                 # request threads per worker (decode, encode)\n", c->threads);
    fprintf(f, "backend: %s              # auto | cpu | opencl\n",
            backends[c->backend >= 0 && c->backend <= 2 ? c->backend : 0]);
    fprintf(f, "device: ");
    put_scalar(f, c->device);
    fprintf(f, "                  # OpenCL index or name substring\n");
    fprintf(f, "require_gpu: %s         # fail at start instead of silently using the CPU\n",
            c->require_gpu ? "true" : "false");
    fprintf(f, "cpu_threads: %d\n", c->cpu_threads);
    fprintf(f, "models:\n  default: ");
    put_scalar(f, c->default_model);
    fprintf(f, "\n  paths:\n");
    for (int i = 0; i < c->n_models; i++) {
        fprintf(f, "    ");
        put_scalar(f, c->models[i].name);
        fprintf(f, ": ");
        put_scalar(f, c->models[i].path);
        fputc('\n', f);
    }
    fprintf(f, "batch: {max_size: %d, max_delay_ms: %d}\n", c->batch_max_size, c->batch_max_delay_ms);
    fprintf(f,
            "limits: {max_body_bytes: %lld, max_pixels: %lld, max_dimension: %d,\n"
            "         min_dimension: %d, request_timeout_s: %d, queue_depth: %d,\n"
            "         max_connections: %d}   # FastCGI connections per worker\n",
            c->max_body_bytes, c->max_pixels, c->max_dimension, c->min_dimension,
            c->request_timeout_s, c->queue_depth, c->max_connections);
    fprintf(f, "output: {format: %s, png_compression: %d, webp_quality: %d, jpeg_quality: %d}\n",
            c->out_format == CUT_FORMAT_WEBP ? "webp" : c->out_format == CUT_FORMAT_JPEG ? "jpeg" : "png",
            c->png_compression, c->webp_quality, c->jpeg_quality);
    fprintf(f, "max_requests: %lld            # recycle a worker after N requests (0: never)\n",
            c->max_requests);
    fprintf(f, "log: {level: %s, format: %s, file: ", levels[c->log_level & 3],
            c->log_json ? "json" : "text");
    put_scalar(f, c->log_file);
    fprintf(f, "}\n");
}
