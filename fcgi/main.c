/* cutout-fcgi's command line: options, the configuration read and checked
 * (--check-config, --print-default-config), the listening socket opened,
 * then the master (master.h) runs the pool. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "jobs_s3.h"
#include "jobs_store.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "models.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cutout-fcgi [--config FILE] [--listen ADDR] [--check-config]\n"
            "                   [--print-default-config] [--print-config-reference] [--help]\n"
            "  --config FILE            YAML configuration (fcgi/README.md); defaults without it\n"
            "  --listen ADDR            host:port or unix:/path, overrides the file's listen\n"
            "  --check-config           check the configuration and the models, then exit\n"
            "  --print-default-config   print the default configuration as YAML\n"
            "  --print-config-reference print every key as a Markdown table\n"
            "Signals: TERM/QUIT/INT drain and stop; HUP reloads the configuration;\n"
            "         USR1 reopens the log file (after logrotate renamed it).\n");
}

int main(int argc, char **argv)
{
    static master m; /* large: worker table */
    const char *listen_override = NULL;
    int check = 0, print_default = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"print-default-config", no_argument, NULL, 'p'},
                                         {"print-config-reference", no_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': m.config_path = optarg; break;
        case 'l': listen_override = optarg; break;
        case 'k': check = 1; break;
        case 'p': print_default = 1; break;
        case 'r': cf_print_reference(stdout); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cutout-fcgi: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    cf_defaults(&m.cfg);
    if (print_default) {
        cf_print(stdout, &m.cfg);
        return 0;
    }
    char err[1024];
    if (m.config_path && cf_load_file(m.config_path, &m.cfg, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    if (listen_override) {
        cf_config t = m.cfg;
        char y[CF_PATH_LEN + 32];
        snprintf(y, sizeof y, "listen: \"%s\"\n", listen_override);
        if (cf_load_string("--listen", y, strlen(y), &t, err, sizeof err)) {
            fprintf(stderr, "cutout-fcgi: %s\n", err);
            return 2;
        }
        m.cfg = t;
    }
    /* Redis that cannot be reached: say so now, not in every worker. */
    if (!strncmp(m.cfg.jobs_store, "redis://", 8)) {
        jobs_store *js = jobs_store_open(&m.cfg, err, sizeof err);
        if (!js) {
            fprintf(stderr, "cutout-fcgi: %s\n", err);
            return 1;
        }
        js->ops->close(js);
    }
    if (check) {
        if (models_check(&m.cfg, 1, err, sizeof err)) {
            fprintf(stderr, "cutout-fcgi: %s\n", err);
            return 1;
        }
        printf("%s: ok\n", m.config_path ? m.config_path : "(defaults)");
        return 0;
    }
    /* Fail at once on a model that cannot load, instead of a pool of
     * workers that die at start (the back-off is for what happens later). */
    if (models_check(&m.cfg, 0, err, sizeof err) || jobs_s3_check_env(&m.cfg, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    if (log_open(&m.cfg, err, sizeof err)) {
        fprintf(stderr, "cutout-fcgi: %s\n", err);
        return 1;
    }
    log_set_role("master");
    if (listen_setup(&m.ls, &m.cfg, err, sizeof err) || listen_setup_admin(&m.admin, &m.cfg, err, sizeof err)) {
        log_msg(CF_LOG_ERROR, "%s", err);
        return 1;
    }
    log_msg(CF_LOG_INFO, "memory for image work: %d MB per worker (limits.max_memory_mb%s)",
            cf_max_memory_mb(&m.cfg), m.cfg.max_memory_mb ? "" : " = 0: half the machine's memory over workers");
    return master_run(&m);
}
