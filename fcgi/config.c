/* YAML configuration for cutout-fcgi: libyaml's event stream is turned into
 * a small node tree (with the line and column of every node), then walked
 * against the key table below: one row per key gives its YAML path, type,
 * place in cf_config, default, limits and help. The parser, the defaults,
 * --print-default-config and --print-config-reference (the table in
 * fcgi/README.md) all read that table. Anything it does not know is an
 * error. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <grp.h>
#include <unistd.h>
#include <yaml.h>

#include "cutout.h"

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
    char sec[CF_NAME_LEN];            /* the section being read, "" at the top */
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

/* A socket address of `key`: host:port or unix:/path ("": none). */
static int check_address(ctx *x, const node *v, const char *key, const char *s)
{
    if (!s[0]) return 0;
    if (!strncmp(s, "unix:", 5)) {
        size_t n = strlen(s + 5);
        if (n == 0 || n >= 108) /* sun_path */
            return failf(x, v->line, v->col, "%s: a unix socket path of 1..107 bytes is needed", key);
        return 0;
    }
    char host[256];
    int port;
    if (cf_split_host_port(s, host, sizeof host, &port))
        return failf(x, v->line, v->col,
                     "%s: expected host:port (port 1..65535) or unix:/path, found '%s'", key, s);
    return 0;
}

/* absent: fd 0, systemd's or 127.0.0.1:9000 */
static int check_listen(ctx *x, const node *v, cf_config *c)
{
    return check_address(x, v, "listen", c->listen);
}

static int check_admin_listen(ctx *x, const node *v, cf_config *c)
{
    return check_address(x, v, "admin.listen", c->admin_listen);
}


/* ------------------------------------------------------------ the key table */

typedef enum { T_INT, T_LL, T_BOOL, T_STR, T_ENUM, T_MODELS, T_NETS, T_STRS } key_type;

/* A key's own check after its value is stored (messages name the key). */
typedef int (*key_check)(ctx *x, const node *v, cf_config *c);

typedef struct {
    const char *path;     /* "section.key" or "key" */
    key_type type;
    size_t off, size;     /* the field in cf_config */
    long long lo, hi;     /* T_INT, T_LL */
    const char *choices;  /* T_ENUM: "a|b|c", stored as values[i] (or i) */
    const int *values;
    const char *def;      /* the default, as YAML */
    const char *range;    /* T_STR: what is accepted, in words */
    key_check check;
    const char *help;
} cf_key;

static int check_name(ctx *x, const node *v, cf_config *c)
{
    if (valid_name(c->default_model)) return 0;
    return failf(x, v->line, v->col, "models.default: '%s' is not a model name", c->default_model);
}

static int check_log_file(ctx *x, const node *v, cf_config *c)
{
    return c->log_file[0] ? 0 : failf(x, v->line, v->col, "log.file: empty (use stderr)");
}

/* Where max_connections was given: cf_load_string checks it against threads. */
static int note_max_connections(ctx *x, const node *v, cf_config *c)
{
    (void)c;
    x->max_connections_node = v;
    return 0;
}

static int check_listen_mode(ctx *x, const node *v, cf_config *c)
{
    char *end;
    long m = strtol(c->listen_mode, &end, 8);
    if (!c->listen_mode[0] || *end || m < 0 || m > 0777)
        return failf(x, v->line, v->col, "listen_mode: expected an octal mode 0..0777, found '%s'",
                     c->listen_mode);
    return 0;
}

static int check_listen_group(ctx *x, const node *v, cf_config *c)
{
    if (!c->listen_group[0] || getgrnam(c->listen_group)) return 0;
    return failf(x, v->line, v->col, "listen_group: no group '%s' on this machine", c->listen_group);
}

/* "a.b.c.d/n" or "v6/n" (no /n: the single address). */
static int parse_net(const char *s, cf_net *n)
{
    char a[64];
    const char *slash = strchr(s, '/');
    size_t al = slash ? (size_t)(slash - s) : strlen(s);
    if (al == 0 || al >= sizeof a) return -1;
    memcpy(a, s, al);
    a[al] = '\0';
    memset(n, 0, sizeof *n);
    n->family = strchr(a, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n->family, a, n->addr) != 1) return -1;
    int bits = n->family == AF_INET ? 32 : 128;
    n->prefix = bits;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || p < 0 || p > bits) return -1;
        n->prefix = (int)p;
    }
    return 0;
}

/* One item of a YAML list (a scalar), stored as item i of the key's field. */
typedef int (*list_item)(ctx *x, const node *it, const char *key, int i, void *field);

/* A list key: [] or empty is none, a single scalar one item, at most max
 * items, each through item; *n gets the count. */
static int set_list(ctx *x, const node *v, const char *key, int max, list_item item, void *field,
                    int *n)
{
    *n = 0;
    if (v->kind == N_SCALAR && !v->text[0]) return 0; /* [] or empty: none */
    if (v->kind == N_MAP) return failf(x, v->line, v->col, "%s: expected a list", key);
    size_t count = v->kind == N_SEQ ? v->n : 1;
    for (size_t i = 0; i < count; i++) {
        const node *it = v->kind == N_SEQ ? v->kids[i] : v;
        if (want_scalar(x, it, key)) return -1;
        if (*n == max) return failf(x, it->line, it->col, "%s: at most %d items", key, max);
        if (item(x, it, key, *n, field)) return -1;
        ++*n;
    }
    return 0;
}

static int net_item(ctx *x, const node *it, const char *key, int i, void *field)
{
    if (!parse_net(it->text, &((cf_net *)field)[i])) return 0;
    return failf(x, it->line, it->col,
                 "%s: expected an address block such as 127.0.0.1/32 or ::1/128, found '%s'", key,
                 it->text);
}

static int str_item(ctx *x, const node *it, const char *key, int i, void *field)
{
    cf_strs *l = field;
    return get_str(x, it, key, l->v[i], sizeof l->v[i]);
}

/* "*", or scheme://host[:port] as browsers send Origin (no path, no
 * spaces): anything else could never match. */
static int check_origins(ctx *x, const node *v, cf_config *c)
{
    for (int i = 0; i < c->cors_allow_origins.n; i++) {
        const char *o = c->cors_allow_origins.v[i];
        const node *it = v->kind == N_SEQ ? v->kids[i] : v;
        const char *sep = strstr(o, "://");
        int ok = !strcmp(o, "*") ||
                 (sep && sep > o && sep[3] && !strchr(sep + 3, '/') && !strpbrk(o, " \t*,"));
        if (!ok)
            return failf(x, it->line, it->col,
                         "cors.allow_origins: expected \"*\" or an origin such as https://example.com, found '%s'",
                         o);
    }
    return 0;
}

int cf_cors_allowed(const cf_config *c, const char *origin)
{
    for (int i = 0; origin && i < c->cors_allow_origins.n; i++)
        if (!strcmp(c->cors_allow_origins.v[i], "*") || !strcmp(c->cors_allow_origins.v[i], origin))
            return 1;
    return 0;
}

static int net_contains(const cf_net *n, int family, const unsigned char *a)
{
    if (n->family != family) return 0;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, a, (size_t)full)) return 0;
    return !rest || ((n->addr[full] ^ a[full]) & (0xff00 >> rest) & 0xff) == 0;
}

int cf_admin_allowed(const cf_config *c, const char *addr)
{
    unsigned char a[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, addr, a) != 1) return 0;
    /* ::ffff:a.b.c.d (a dual-stack web server) is the IPv4 address. */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && !memcmp(a, mapped, 12)) {
        memmove(a, a + 12, 4);
        family = AF_INET;
    }
    for (int i = 0; i < c->n_admin_allow; i++)
        if (net_contains(&c->admin_allow[i], family, a)) return 1;
    return 0;
}

int cf_max_memory_mb(const cf_config *c)
{
    if (c->max_memory_mb) return c->max_memory_mb;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long long mb = pages > 0 && page > 0 ? (long long)pages * page / 2 / c->workers >> 20 : 1024;
    return mb < 256 ? 256 : mb > INT_MAX ? INT_MAX : (int)mb;
}

int cf_parse_redis_url(const char *url, char *host, size_t hostlen, int *port, int *db)
{
    if (strncmp(url, "redis://", 8)) return -1;
    const char *h = url + 8, *slash = strchr(h, '/');
    char hp[CF_PATH_LEN];
    size_t n = slash ? (size_t)(slash - h) : strlen(h);
    if (n == 0 || n >= sizeof hp) return -1;
    memcpy(hp, h, n);
    hp[n] = '\0';
    if (strchr(hp, '@')) return -1; /* no credentials in the URL */
    *port = 6379;
    if (cf_split_host_port(hp, host, hostlen, port)) {
        if (strchr(hp, ':') || n >= hostlen) return -1;
        memcpy(host, hp, n + 1);
    }
    *db = 0;
    if (slash && slash[1]) {
        char *end;
        errno = 0;
        long d = strtol(slash + 1, &end, 10);
        if (errno || *end || d < 0 || d > 1000000 || !(slash[1] >= '0' && slash[1] <= '9')) return -1;
        *db = (int)d;
    }
    return 0;
}

static int check_jobs_store(ctx *x, const node *v, cf_config *c)
{
    const char *s = c->jobs_store;
    char host[256];
    int port, db;
    if (!s[0] || (!strncmp(s, "sqlite:", 7) && s[7]) || !cf_parse_redis_url(s, host, sizeof host, &port, &db))
        return 0;
    return failf(x, v->line, v->col, "jobs.store: expected sqlite:PATH or redis://HOST[:PORT][/DB], found '%s'", s);
}

static int check_jobs_dir(ctx *x, const node *v, cf_config *c)
{
    return c->jobs_dir[0] ? 0 : failf(x, v->line, v->col, "jobs.dir: empty");
}

/* 1 when every byte of s is a letter, a digit or one of extra. */
static int only(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return 0;
    return 1;
}

/* http(s)://host[:port], nothing after it: objects are addressed
 * path-style (endpoint/bucket/key). */
static int check_s3_endpoint(ctx *x, const node *v, cf_config *c)
{
    char *s = c->s3_endpoint;
    size_t n = strlen(s);
    if (n && s[n - 1] == '/') s[--n] = '\0';
    const char *host = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8 : NULL;
    if (!n || (host && host[0] && only(host, ".-:[]"))) return 0;
    return failf(x, v->line, v->col, "jobs.s3.endpoint: expected http://HOST[:PORT] or https://HOST[:PORT] (no path), found '%s'", s);
}

static int check_s3_bucket(ctx *x, const node *v, cf_config *c)
{
    const char *s = c->s3_bucket;
    size_t n = strlen(s);
    if (!n || (n >= 3 && n <= 63 && only(s, ".-") && !strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))) return 0;
    return failf(x, v->line, v->col, "jobs.s3.bucket: expected 3..63 of a-z 0-9 . -, found '%s'", s);
}

static int check_s3_prefix(ctx *x, const node *v, cf_config *c)
{
    char *s = c->s3_prefix;
    size_t n = strlen(s);
    while (n && s[n - 1] == '/') s[--n] = '\0';
    if (only(s, "._-/") && s[0] != '/' && !strstr(s, "//") && !strstr(s, "..")) return 0;
    return failf(x, v->line, v->col, "jobs.s3.prefix: expected words of A-Z a-z 0-9 . _ - between '/', found '%s'", s);
}

static int check_s3_region(ctx *x, const node *v, cf_config *c)
{
    if (c->s3_region[0] && only(c->s3_region, "-")) return 0;
    return failf(x, v->line, v->col, "jobs.s3.region: expected a region name (a-z 0-9 -), found '%s'", c->s3_region);
}

static const int out_formats[] = {CUTOUT_FORMAT_PNG, CUTOUT_FORMAT_WEBP, CUTOUT_FORMAT_JPEG};

#define FIELD(f) offsetof(cf_config, f), sizeof(((cf_config *)0)->f)
#define INT(p, f, lo, hi, def, help) {p, T_INT, FIELD(f), lo, hi, NULL, NULL, def, NULL, NULL, help}
#define LL(p, f, lo, hi, def, help) {p, T_LL, FIELD(f), lo, hi, NULL, NULL, def, NULL, NULL, help}

static const cf_key keys[] = {
    {"listen", T_STR, FIELD(listen), 0, 0, NULL, NULL, "", "host:port, [v6]:port or unix:/path",
     check_listen, "the FastCGI socket; absent: the socket systemd or spawn-fcgi passed, else 127.0.0.1:9000"},
    {"listen_mode", T_STR, FIELD(listen_mode), 0, 0, NULL, NULL, "\"0660\"", "octal 0..0777",
     check_listen_mode, "permissions of a unix: socket (only its owner and group may connect)"},
    {"listen_group", T_STR, FIELD(listen_group), 0, 0, NULL, NULL, "", "a group name",
     check_listen_group, "group of a unix: socket (the web server's); absent: the server's own"},
    INT("workers", workers, 1, CF_MAX_WORKERS, "2", "supervised worker processes (static pool)"),
    INT("threads", threads, 1, 256, "4", "request threads per worker (decode, encode)"),
    {"backend", T_ENUM, FIELD(backend), 0, 0, "auto|cpu|opencl", NULL, "auto", NULL, NULL,
     "where the network runs; auto: OpenCL when a device works, else the CPU"},
    {"device", T_STR, FIELD(device), 0, 0, NULL, NULL, "0", "index or name substring", NULL,
     "the OpenCL device"},
    {"require_gpu", T_BOOL, FIELD(require_gpu), 0, 0, NULL, NULL, "false", NULL, NULL,
     "fail at start instead of silently using the CPU"},
    INT("cpu_threads", cpu_threads, 1, 1024, "2", "network threads per worker (CPU backend)"),
    {"weight_cache", T_BOOL, FIELD(weight_cache), 0, 0, NULL, NULL, "true", NULL, NULL,
     "CPU backend: map each model's laid-out weights from a file in $CUTOUT_CACHE_DIR (else "
     "$XDG_CACHE_HOME/cutout, else ~/.cache/cutout), written at the first start, instead of "
     "computing them in every worker; the workers then share those pages"},
    {"models.default", T_STR, FIELD(default_model), 0, 0, NULL, NULL, "u2netp",
     "a model name", check_name, "the model of requests that name none"},
    {"models.paths", T_MODELS, 0, 0, 0, 0, NULL, NULL, "{u2netp: models/u2netp.onnx}",
     "name: path.onnx", NULL,
     "the only models clients may ask for (?model=NAME); relative paths: from the working directory"},
    INT("batch.max_size", batch_max_size, 1, 64, "8", "most images in one forward pass"),
    INT("batch.max_delay_ms", batch_max_delay_ms, 0, 10000, "5",
        "longest wait after the oldest queued image for more to batch with it"),
    LL("limits.max_body_bytes", max_body_bytes, 1, (long long)1 << 40, "20971520",
       "largest request body (413 above)"),
    LL("limits.max_pixels", max_pixels, 1, (long long)1 << 40, "40000000",
       "largest decoded image, width x height (413 above)"),
    INT("limits.max_dimension", max_dimension, 1, 1 << 20, "12000", "longest image side (413 above)"),
    INT("limits.min_dimension", min_dimension, 1, 1 << 20, "8", "shortest image side (422 below)"),
    INT("limits.request_timeout_s", request_timeout_s, 1, 86400, "60",
        "a request not answered by then gets 504"),
    INT("limits.max_memory_mb", max_memory_mb, 0, 1 << 24, "0",
        "memory for image work per worker, reserved per request from the image header before "
        "decoding (waits when full, 413 when one image needs more); 0: half the machine's memory "
        "over workers"),
    INT("limits.queue_depth", queue_depth, 0, 100000, "0",
        "images waiting for the network per worker (503 beyond); 0: auto, 503 when an image "
        "would wait past request_timeout_s (at most 64)"),
    {"limits.max_connections", T_INT, FIELD(max_connections), 1, 65536, NULL, NULL, "64", NULL,
     note_max_connections, "FastCGI connections open per worker (at least threads)"},
    INT("limits.idle_timeout_s", idle_timeout_s, 1, 86400, "75",
        "a kept FastCGI connection with no request is closed after this (keep it above the web "
        "server's upstream keepalive_timeout)"),
    INT("limits.read_timeout_s", read_timeout_s, 1, 86400, "30",
        "a request's head must arrive within this of its first byte (a new connection's: of the "
        "accept); its body too, plus 1 s per 4 KiB received; else the connection is closed"),
    INT("limits.write_timeout_s", write_timeout_s, 1, 86400, "30",
        "an answer the client does not read for this long is cut (connection closed)"),
    INT("limits.drain_timeout_s", drain_timeout_s, 1, 86400, "60",
        "a draining worker (SIGHUP, SIGTERM, max_requests) closes what is still busy after this "
        "and exits"),
    {"output.format", T_ENUM, FIELD(out_format), 0, 0, "png|webp|jpeg", out_formats, "png", NULL,
     NULL, "the answer's format when the request names none"},
    INT("output.png_compression", png_compression, 0, 9, "3", "zlib level of PNG answers"),
    INT("output.webp_quality", webp_quality, 1, 100, "90", "WebP quality"),
    INT("output.jpeg_quality", jpeg_quality, 1, 100, "90", "JPEG quality"),
    {"admin.allow", T_NETS, 0, 0, 0, 0, NULL, NULL, "[127.0.0.1/32, \"::1/128\"]",
     "list of address/prefix", NULL,
     "clients (REMOTE_ADDR) that may GET /status and /metrics; others get 404"},
    {"admin.listen", T_STR, FIELD(admin_listen), 0, 0, NULL, NULL, "", "host:port, [v6]:port or unix:/path",
     check_admin_listen,
     "a second FastCGI socket for /status, /metrics and the GET /jobs listing: set, they are answered "
     "there only (admin.allow is not asked) and 404 on listen, and the admin socket answers nothing "
     "else but /health; absent: on listen, to admin.allow"},
    {"cors.allow_origins", T_STRS, FIELD(cors_allow_origins), 0, 0, NULL, NULL, "[]",
     "list of \"*\" or scheme://host[:port]", check_origins,
     "browser origins answered with CORS headers (Access-Control-Allow-Origin); \"*\": any; []: none"},
    LL("max_requests", max_requests, 0, LLONG_MAX, "0", "recycle a worker after N requests (0: never)"),
    {"log.level", T_ENUM, FIELD(log_level), 0, 0, "debug|info|warn|error", NULL, "info", NULL, NULL,
     "least severe message logged"},
    {"log.format", T_ENUM, FIELD(log_json), 0, 0, "text|json", NULL, "json", NULL, NULL,
     "one JSON object or one text line per message"},
    {"log.file", T_STR, FIELD(log_file), 0, 0, NULL, NULL, "stderr", "stderr, stdout or a path",
     check_log_file, "where log lines go (SIGUSR1 reopens it)"},
    {"jobs.store", T_STR, FIELD(jobs_store), 0, 0, NULL, NULL, "", "sqlite:PATH or redis://HOST[:PORT][/DB]", check_jobs_store,
     "where job state lives; absent: /jobs answers 404 (jobs are not enabled)"},
    {"jobs.dir", T_STR, FIELD(jobs_dir), 0, 0, NULL, NULL, "var/jobs", "a directory", check_jobs_dir,
     "spool of job inputs and results (created when missing)"},
    INT("jobs.ttl_s", jobs_ttl_s, 1, 365 * 86400, "86400",
        "a job, its inputs and results are deleted this long after it was created (redis://: after it finished)"),
    INT("jobs.max_items", jobs_max_items, 1, 10000, "100", "most images in one job (413 above)"),
    INT("jobs.max_queued_items", jobs_max_queued_items, 1, 100000000, "10000",
        "most items queued or running over all jobs (503 above)"),
    INT("jobs.lease_s", jobs_lease_s, 1, 3600, "30",
        "redis:// only: an instance that has not renewed its lease this long is taken for dead, its running items queued again"),
    {"jobs.serve", T_ENUM, FIELD(jobs_serve), 0, 0, "direct|x-accel-redirect|x-sendfile", NULL,
     "direct", NULL, NULL,
     "who sends result files: the server itself, nginx (X-Accel-Redirect) or lighttpd/Apache (X-Sendfile)"},
    {"jobs.s3.endpoint", T_STR, FIELD(s3_endpoint), 0, 0, NULL, NULL, "", "http(s)://HOST[:PORT]",
     check_s3_endpoint, "S3-compatible server results are uploaded to (path-style); absent: results stay in jobs.dir. "
     "Keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), never here"},
    {"jobs.s3.bucket", T_STR, FIELD(s3_bucket), 0, 0, NULL, NULL, "", "a bucket name", check_s3_bucket,
     "the bucket (it must exist); required with endpoint"},
    {"jobs.s3.prefix", T_STR, FIELD(s3_prefix), 0, 0, NULL, NULL, "", "words between '/'", check_s3_prefix,
     "objects are PREFIX/JOBID/INDEX.EXT"},
    {"jobs.s3.region", T_STR, FIELD(s3_region), 0, 0, NULL, NULL, "us-east-1", "a region name",
     check_s3_region, "the region requests are signed for"},
    INT("jobs.s3.expires_s", s3_expires_s, 1, 604800, "900",
        "GET /jobs/ID/items/I answers 302 to a presigned URL valid this long"),
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static int model_path_pair(ctx *x, cf_config *c, const node *k, const node *v)
{
    const char *key = k->text;
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

/* Calls fn(key, value) for every pair of map m after checking for
 * duplicates; what names the map in messages. */
typedef int (*pair_fn)(ctx *x, cf_config *c, const node *k, const node *v);

static int walk_map(ctx *x, cf_config *c, const node *m, const char *what, pair_fn fn)
{
    if (m->kind != N_MAP)
        return failf(x, m->line, m->col, "%s: expected a mapping (key: value)", what);
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const node *k = m->kids[i], *v = m->kids[i + 1];
        if (k->kind != N_SCALAR) return failf(x, k->line, k->col, "%s: keys must be plain words", what);
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(m->kids[j]->text, k->text))
                return failf(x, k->line, k->col, "%s: duplicate key '%s'", what, k->text);
        if (fn(x, c, k, v)) return -1;
    }
    return 0;
}

static int set_key(ctx *x, cf_config *c, const cf_key *key, const node *v)
{
    void *f = (char *)c + key->off;
    int rc = 0;
    switch (key->type) {
    case T_INT: {
        long long n;
        rc = get_ll(x, v, key->path, key->lo, key->hi, &n);
        if (!rc) *(int *)f = (int)n;
        break;
    }
    case T_LL: rc = get_ll(x, v, key->path, key->lo, key->hi, f); break;
    case T_BOOL: rc = get_bool(x, v, key->path, f); break;
    case T_STR: rc = get_str(x, v, key->path, f, key->size); break;
    case T_ENUM: {
        int i = 0;
        rc = get_choice(x, v, key->path, key->choices, &i);
        if (!rc) *(int *)f = key->values ? key->values[i] : i;
        break;
    }
    case T_MODELS:
        c->n_models = 0; /* paths replaces the built-in list */
        if (v->kind == N_SCALAR && v->text[0] == '\0') return 0;
        return walk_map(x, c, v, key->path, model_path_pair);
    case T_NETS:
        return set_list(x, v, key->path, CF_MAX_NETS, net_item, c->admin_allow, &c->n_admin_allow);
    case T_STRS: {
        cf_strs *l = f;
        rc = set_list(x, v, key->path, CF_MAX_STRS, str_item, l, &l->n);
        break;
    }
    }
    return rc ? -1 : key->check ? key->check(x, v, c) : 0;
}

/* A key's path is its sections and its word, dot-separated
 * ("jobs.s3.bucket"). The length of its sections ("jobs.s3"; 0 at the
 * top) and its word. */
static size_t section_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static const char *leaf(const char *path)
{
    size_t n = section_len(path);
    return n ? path + n + 1 : path;
}

/* Whether path lies in section sec (seclen 0: the top), and if so the
 * word after it, a key or a subsection (its length in *wl). */
static const char *word_in(const char *path, const char *sec, size_t seclen, size_t *wl)
{
    if (seclen && (strncmp(path, sec, seclen) || path[seclen] != '.')) return NULL;
    const char *w = seclen ? path + seclen + 1 : path;
    *wl = strcspn(w, ".");
    return w;
}

/* The words of a section ("" : the top level), a subsection once, as
 * "a|b|c" in table order. */
static void section_keys(const char *sec, size_t seclen, char *out, size_t outlen)
{
    size_t o = 0, prevl = 0;
    const char *prev = NULL;
    out[0] = '\0';
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t wl;
        const char *word = word_in(keys[i].path, sec, seclen, &wl);
        if (!word || (prev && wl == prevl && !strncmp(word, prev, wl))) continue;
        prev = word;
        prevl = wl;
        int k = snprintf(out + o, outlen - o, "%s%.*s", o ? "|" : "", (int)wl, word);
        if (k < 0 || (size_t)k >= outlen - o) return;
        o += (size_t)k;
    }
}

static int section_pair(ctx *x, cf_config *c, const node *k, const node *v);

/* One key of the top level (sec "") or of section sec: a key of the table,
 * or a subsection, read with x->sec naming it. */
static int top_or_section_pair(ctx *x, cf_config *c, const node *k, const node *v, const char *sec)
{
    size_t seclen = strlen(sec), kl = strlen(k->text);
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t wl;
        const char *word = word_in(keys[i].path, sec, seclen, &wl);
        if (!word || wl != kl || strncmp(word, k->text, kl)) continue;
        if (!word[wl]) return set_key(x, c, &keys[i], v);
        if (seclen + 1 + kl >= sizeof x->sec) break;
        char saved[CF_NAME_LEN];
        memcpy(saved, x->sec, sizeof saved);
        snprintf(x->sec, sizeof x->sec, "%s%s%s", sec, seclen ? "." : "", k->text);
        int rc = walk_map(x, c, v, x->sec, section_pair);
        memcpy(x->sec, saved, sizeof saved);
        return rc;
    }
    char known[512];
    section_keys(sec, seclen, known, sizeof known);
    return failf(x, k->line, k->col, "unknown key '%s' in %s (expected one of %s)", k->text,
                 seclen ? sec : "the configuration", known);
}

static int top_pair(ctx *x, cf_config *c, const node *k, const node *v)
{
    return top_or_section_pair(x, c, k, v, "");
}

static int section_pair(ctx *x, cf_config *c, const node *k, const node *v)
{
    char sec[CF_NAME_LEN];
    memcpy(sec, x->sec, sizeof sec);
    return top_or_section_pair(x, c, k, v, sec);
}

/* ------------------------------------------------------------ defaults */

void cf_defaults(cf_config *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    ctx x = {"defaults", err, sizeof err, 0, NULL, ""};
    for (size_t i = 0; i < N_KEYS; i++) {
        int empty;
        node *v = parse_tree(&x, keys[i].def, strlen(keys[i].def), &empty);
        node blank = {N_SCALAR, 0, 0, "", NULL, 0, 0};
        set_key(&x, c, &keys[i], v ? v : &blank); /* the table's own values: they pass */
        node_free(v);
    }
}

int cf_load_string(const char *name, const char *text, size_t len, cf_config *c, char *err,
                   size_t errlen)
{
    ctx x = {name, err, errlen, 0, NULL, ""};
    int empty;
    node *root = parse_tree(&x, text, len, &empty);
    if (!root) return empty ? 0 : -1;
    int rc = walk_map(&x, c, root, "the configuration", top_pair);
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
    if (!rc && c->jobs_serve != CF_SERVE_DIRECT && !strncmp(c->jobs_store, "redis://", 8))
        rc = failf(&x, root->line, root->col,
                   "jobs.serve: with jobs.store redis:// the results are in Redis, not files a web "
                   "server could send: use direct");
    if (!rc && !c->s3_endpoint[0] != !c->s3_bucket[0])
        rc = failf(&x, root->line, root->col, "jobs.s3: endpoint and bucket go together (one of them is missing)");
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

/* s as a YAML scalar: plain when safe, double-quoted otherwise. */
static void yaml_scalar(const char *s, char *out, size_t len)
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
        snprintf(out, len, "%s", s);
        return;
    }
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < len; p++) {
        if (*p == '"' || *p == '\\') o += (size_t)snprintf(out + o, len - o, "\\%c", *p);
        else if (*p < 0x20) o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
        else out[o++] = (char)*p;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Key k's value in c as YAML. */
static void key_value(const cf_key *k, const cf_config *c, char *out, size_t len)
{
    const void *f = (const char *)c + k->off;
    switch (k->type) {
    case T_INT: snprintf(out, len, "%d", *(const int *)f); return;
    case T_LL: snprintf(out, len, "%lld", *(const long long *)f); return;
    case T_BOOL: snprintf(out, len, "%s", *(const int *)f ? "true" : "false"); return;
    case T_STR: yaml_scalar(f, out, len); return;
    case T_ENUM: {
        const char *w = k->choices;
        for (int i = 0; *w; i++) {
            size_t n = strcspn(w, "|");
            if ((k->values ? k->values[i] : i) == *(const int *)f) {
                snprintf(out, len, "%.*s", (int)n, w);
                return;
            }
            w += n + (w[n] ? 1 : 0);
        }
        snprintf(out, len, "?");
        return;
    }
    case T_MODELS: {
        size_t o = (size_t)snprintf(out, len, "{");
        for (int i = 0; i < c->n_models && o < len; i++) {
            char name[CF_NAME_LEN * 4], path[CF_PATH_LEN * 4];
            yaml_scalar(c->models[i].name, name, sizeof name);
            yaml_scalar(c->models[i].path, path, sizeof path);
            int n = snprintf(out + o, len - o, "%s%s: %s", i ? ", " : "", name, path);
            if (n < 0) break;
            o += (size_t)n;
        }
        if (o + 1 < len) snprintf(out + o, len - o, "}");
        return;
    }
    case T_STRS: {
        const cf_strs *l = f;
        size_t o = (size_t)snprintf(out, len, "[");
        for (int i = 0; i < l->n && o < len; i++) {
            char q[CF_STR_LEN * 4];
            yaml_scalar(l->v[i], q, sizeof q);
            int n = snprintf(out + o, len - o, "%s%s", i ? ", " : "", q);
            if (n < 0) break;
            o += (size_t)n;
        }
        if (o + 1 < len) snprintf(out + o, len - o, "]");
        return;
    }
    case T_NETS: {
        size_t o = (size_t)snprintf(out, len, "[");
        for (int i = 0; i < c->n_admin_allow && o < len; i++) {
            const cf_net *n = &c->admin_allow[i];
            char a[INET6_ADDRSTRLEN];
            inet_ntop(n->family, n->addr, a, sizeof a);
            int k = snprintf(out + o, len - o, "%s%s%s/%d%s", i ? ", " : "",
                             n->family == AF_INET6 ? "\"" : "", a, n->prefix,
                             n->family == AF_INET6 ? "\"" : "");
            if (k < 0) break;
            o += (size_t)k;
        }
        if (o + 1 < len) snprintf(out + o, len - o, "]");
        return;
    }
    }
}

/* How many leading sections paths a and b share. */
static int shared_sections(const char *a, const char *b)
{
    size_t la = section_len(a), lb = section_len(b), i = 0;
    int n = 0;
    for (;;) {
        size_t ea = i + strcspn(a + i, "."), eb = i + strcspn(b + i, ".");
        if (ea > la || eb > lb || ea != eb || strncmp(a + i, b + i, ea - i)) return n;
        n++;
        i = ea + 1;
    }
}

void cf_print(FILE *f, const cf_config *c)
{
    fprintf(f, "# cutout-fcgi configuration (fcgi/README.md \"Configuration (YAML)\")\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const cf_key *k = &keys[i];
        size_t sl = section_len(k->path);
        int shared = i ? shared_sections(k->path, keys[i - 1].path) : 0, depth = 0;
        for (size_t pos = 0; sl && pos <= sl; depth++) { /* the sections it opens */
            size_t e = pos + strcspn(k->path + pos, ".");
            if (depth >= shared) fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(e - pos), k->path + pos);
            pos = e + 1;
        }
        char v[CF_PATH_LEN * 4 + 8], line[CF_PATH_LEN * 4 + 80];
        key_value(k, c, v, sizeof v);
        if (k->type == T_STR && !((const char *)c + k->off)[0])
            snprintf(line, sizeof line, "%*s# %s:", 2 * depth, "", leaf(k->path)); /* absent */
        else
            snprintf(line, sizeof line, "%*s%s: %s", 2 * depth, "", leaf(k->path),
                     k->type == T_MODELS ? "" : v);
        fprintf(f, "%-26s # %s\n", line, k->help);
        for (int m = 0; k->type == T_MODELS && m < c->n_models; m++) {
            char name[CF_NAME_LEN * 4], path[CF_PATH_LEN * 4];
            yaml_scalar(c->models[m].name, name, sizeof name);
            yaml_scalar(c->models[m].path, path, sizeof path);
            fprintf(f, "    %s: %s\n", name, path);
        }
    }
}

void cf_print_reference(FILE *f)
{
    static const char *type_names[] = {"int", "int", "bool", "string", "enum", "map", "list", "list"};
    cf_config d;
    cf_defaults(&d);
    fprintf(f, "| Key | Type | Default | Range | Meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const cf_key *k = &keys[i];
        char v[CF_PATH_LEN * 4 + 8], range[256];
        key_value(k, &d, v, sizeof v);
        if (k->type == T_INT || k->type == T_LL) {
            if (k->hi == LLONG_MAX) snprintf(range, sizeof range, "%lld or more", k->lo);
            else snprintf(range, sizeof range, "%lld..%lld", k->lo, k->hi);
        } else if (k->type == T_BOOL) {
            snprintf(range, sizeof range, "true, false");
        } else if (k->type == T_ENUM) {
            size_t o = 0;
            for (const char *w = k->choices; *w && o + 3 < sizeof range; w++)
                o += (size_t)snprintf(range + o, sizeof range - o, *w == '|' ? ", " : "%c", *w);
        } else {
            snprintf(range, sizeof range, "%s", k->range);
        }
        int absent = k->type == T_STR && !((const char *)&d + k->off)[0];
        fprintf(f, "| `%s` | %s | %s%s%s | %s | %s |\n", k->path, type_names[k->type],
                absent ? "" : "`", absent ? "(absent)" : v, absent ? "" : "`", range, k->help);
    }
}
