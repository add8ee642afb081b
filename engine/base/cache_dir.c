/* The directory of cutout's on-disk caches (cache_dir.h). */
#include "cache_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int cut_cache_dir(char *buf, size_t len)
{
    const char *env = getenv("CUTOUT_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int w;
    if (env && *env)
        w = snprintf(buf, len, "%s", env);
    else if (xdg && *xdg)
        w = snprintf(buf, len, "%s/cutout", xdg);
    else if (home && *home)
        w = snprintf(buf, len, "%s/.cache/cutout", home);
    else
        return -1;
    if (w < 0 || (size_t)w >= len) return -1;
    /* mkdir -p, one component at a time */
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            int r = mkdir(buf, 0700);
            *p = c;
            if (r && errno != EEXIST) return -1;
            if (!c) break;
        }
    }
    return 0;
}
