/* libFuzzer entry point for the YAML configuration loader (fcgi/config.c,
 * cf_load_string: the same code path as cf_load_file after the read). Built
 * and run by tests/fuzz/run-fuzz config. Every input gives a configuration
 * whose strings are terminated and whose values print, or an error message;
 * anything else aborts, and so does any sanitizer report or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
    char *text = malloc(size ? size : 1); /* not terminated: the loader must use len */
    if (!text) return 0;
    memcpy(text, data, size);
    cf_config c;
    cf_defaults(&c);
    char err[1024] = "";
    if (cf_load_string("fuzz.yaml", text, size, &c, err, sizeof err) == 0) {
        if (!memchr(c.listen, 0, sizeof c.listen) || !memchr(c.log_file, 0, sizeof c.log_file)) abort();
        cf_print(devnull, &c);
        char host[256];
        int port;
        (void)cf_split_host_port(c.listen, host, sizeof host, &port);
        (void)cf_model_path_of(&c, "u2netp");
    } else if (!err[0] || !memchr(err, 0, sizeof err)) {
        abort();
    }
    free(text);
    return 0;
}
