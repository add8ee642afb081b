/* Model lookup by registry name or path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutout.h"
#include "util.h"

#ifndef CUTOUT_DATADIR
#define CUTOUT_DATADIR "/usr/local/share/cutout/models"
#endif

static int is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".onnx") == 0);
}

int cutout_model_find(const char *name, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (!name || !*name) return cut_fail(err, errlen, CUTOUT_E_ARG, "no model given");
    if (is_path(name)) {
        if (access(name, R_OK) != 0)
            return cut_fail(err, errlen, CUTOUT_E_IO, "model file %s cannot be read", name);
        if ((size_t)snprintf(path, pathlen, "%s", name) >= pathlen)
            return cut_fail(err, errlen, CUTOUT_E_ARG, "model path too long");
        return CUTOUT_OK;
    }
    for (const char *p = name; *p; p++)
        if (!(*p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return cut_fail(err, errlen, CUTOUT_E_ARG, "'%s' is not a model name", name);
    const char *env = getenv("CUTOUT_MODEL_DIR");
    const char *dirs[] = {env, "models", "models/cache", CUTOUT_DATADIR};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        if ((size_t)snprintf(path, pathlen, "%s/%s.onnx", dirs[i], name) >= pathlen) continue;
        if (access(path, R_OK) == 0) return CUTOUT_OK;
    }
    return cut_fail(err, errlen, CUTOUT_E_IO,
                    "model '%s' not found in $CUTOUT_MODEL_DIR, ./models or %s; fetch it with "
                    "tools/fetch-model %s",
                    name, CUTOUT_DATADIR, name);
}
