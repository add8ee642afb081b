/* cutout-fcgi configuration: the YAML file of fcgi/README.md ("Configuration
 * (YAML)"), its defaults, and the checks on every value. Errors name
 * the file, line and column of the offending key or value. */
#ifndef CUTOUT_FCGI_CONFIG_H
#define CUTOUT_FCGI_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CF_MAX_MODELS 16
#define CF_MAX_WORKERS 64 /* two generations must fit the status board (SIGHUP) */
#define CF_NAME_LEN 64
#define CF_PATH_LEN 1024

typedef enum { CF_LOG_DEBUG = 0, CF_LOG_INFO = 1, CF_LOG_WARN = 2, CF_LOG_ERROR = 3 } cf_log_level;

typedef struct {
    char name[CF_NAME_LEN];
    char path[CF_PATH_LEN];
} cf_model_path;

#define CF_MAX_NETS 32

/* An address block of admin.allow: family AF_INET or AF_INET6, the
 * address in network order (4 or 16 bytes) and the prefix length. */
typedef struct {
    int family;
    unsigned char addr[16];
    int prefix;
} cf_net;

#define CF_MAX_STRS 32
#define CF_STR_LEN 256

/* A list of short strings (cors.allow_origins). */
typedef struct {
    char v[CF_MAX_STRS][CF_STR_LEN];
    int n;
} cf_strs;

typedef struct {
    /* "" when absent: the listening socket on fd 0 when there is one
     * (spawn-fcgi, mod_fcgid), else 127.0.0.1:9000. */
    char listen[CF_PATH_LEN];
    char admin_listen[CF_PATH_LEN]; /* "": the admin endpoints on listen (admin.allow) */
    char listen_mode[8];        /* octal, for a unix: socket */
    char listen_group[CF_NAME_LEN]; /* "" : the server's own group */
    int workers, threads;
    int backend;                /* cutout_backend_kind */
    char device[CF_NAME_LEN];   /* "" : the engine's default device */
    int require_gpu;
    int weight_cache;           /* CPU backend: use the on-disk weight cache */
    int cpu_threads;
    char default_model[CF_NAME_LEN];
    cf_model_path models[CF_MAX_MODELS];
    int n_models;
    int batch_max_size, batch_max_delay_ms;
    long long max_body_bytes, max_pixels;
    int max_dimension, min_dimension, request_timeout_s, queue_depth;
    int max_connections;        /* open FastCGI connections per worker */
    int idle_timeout_s, read_timeout_s, write_timeout_s, drain_timeout_s; /* conns.h */
    int out_format;             /* cutout_image_format */
    int png_compression, webp_quality, jpeg_quality;
    int max_memory_mb;          /* image work per worker; 0: from the machine (cf_max_memory_mb) */
    cf_net admin_allow[CF_MAX_NETS]; /* who may GET /status and /metrics */
    int n_admin_allow;
    cf_strs cors_allow_origins; /* Origin values answered with CORS headers; "*": any */
    long long max_requests;     /* 0: never recycle */
    int log_level;              /* cf_log_level */
    int log_json;               /* 1: json, 0: text */
    char log_file[CF_PATH_LEN]; /* "stderr", "stdout" or a path */
    /* jobs: (fcgi/README.md "Jobs"); store "" : /jobs is not enabled */
    char jobs_store[CF_PATH_LEN]; /* "sqlite:PATH" or "redis://HOST:PORT/DB" */
    char jobs_dir[CF_PATH_LEN];   /* spool of inputs and results */
    int jobs_ttl_s, jobs_max_items, jobs_max_queued_items;
    int jobs_serve;               /* cf_jobs_serve */
    int jobs_lease_s;             /* redis: a claimer's lease */
    /* jobs.s3: results in S3 (jobs_s3.h); endpoint "": off */
    char s3_endpoint[CF_PATH_LEN], s3_bucket[CF_NAME_LEN], s3_prefix[CF_PATH_LEN], s3_region[CF_NAME_LEN];
    int s3_expires_s;             /* presigned URLs are valid this long */
} cf_config;

typedef enum { CF_SERVE_DIRECT = 0, CF_SERVE_X_ACCEL = 1, CF_SERVE_X_SENDFILE = 2 } cf_jobs_serve;

void cf_defaults(cf_config *c);

/* redis://HOST[:PORT][/DB] (PORT 6379, DB 0 when absent); 0 or -1. */
int cf_parse_redis_url(const char *url, char *host, size_t hostlen, int *port, int *db);

/* Reads a YAML file over the defaults already in *c. Returns 0, or -1 with
 * "FILE:LINE:COLUMN: message" in err. */
int cf_load_file(const char *path, cf_config *c, char *err, size_t errlen);

/* The same from memory; name is used in messages. */
int cf_load_string(const char *name, const char *text, size_t len, cf_config *c, char *err,
                   size_t errlen);

/* The configuration as YAML, one key a line with its help (what
 * --print-default-config prints for the defaults). */
void cf_print(FILE *f, const cf_config *c);

/* Every key as a Markdown table: key, type, default, range, meaning
 * (--print-config-reference; fcgi/README.md holds a copy). */
void cf_print_reference(FILE *f);

/* Path of a model name from models.paths, or NULL. */
const char *cf_model_path_of(const cf_config *c, const char *name);

/* limits.max_memory_mb, or when 0 the default: half the machine's memory
 * shared by the workers (at least 256). */
int cf_max_memory_mb(const cf_config *c);

/* Whether a client address (REMOTE_ADDR text) is in admin.allow. */
int cf_admin_allowed(const cf_config *c, const char *addr);

/* Whether a request's Origin header value is in cors.allow_origins. */
int cf_cors_allowed(const cf_config *c, const char *origin);

/* Parses "host:port" into host and port; 0 or -1. unix: addresses are not
 * host:port. */
int cf_split_host_port(const char *listen, char *host, size_t hostlen, int *port);

#endif
