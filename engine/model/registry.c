/* Model lookup by registry name or path, and what the registry says about a
 * name: its normalisation, or why cutout does not run it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutout.h"
#include "registry_table.h"
#include "util.h"

#ifndef CUTOUT_DATADIR
#define CUTOUT_DATADIR "/usr/local/share/cutout/models"
#endif

static int refuse_name(const char *name, char *err, size_t errlen);

int cut_registry_is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".onnx") == 0);
}

int cutout_model_find(const char *name, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (!name || !*name) return cut_fail(err, errlen, CUTOUT_E_ARG, "no model given");
    if (cut_registry_is_path(name)) {
        if (access(name, R_OK) != 0)
            return cut_fail(err, errlen, CUTOUT_E_IO, "model file %s cannot be read", name);
        if ((size_t)snprintf(path, pathlen, "%s", name) >= pathlen)
            return cut_fail(err, errlen, CUTOUT_E_ARG, "model path too long");
        return CUTOUT_OK;
    }
    for (const char *p = name; *p; p++)
        if (!(*p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return cut_fail(err, errlen, CUTOUT_E_ARG, "'%s' is not a model name", name);
    int rc = refuse_name(name, err, errlen);
    if (rc) return rc;
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

/* ---- the compiled registry (registry_table.h) ---- */

const cut_registry_row *cut_registry_lookup(const char *name)
{
    for (int i = 0; i < cut_registry_n_rows; i++)
        if (strcmp(cut_registry_rows[i].name, name) == 0) return &cut_registry_rows[i];
    return NULL;
}

const char *cut_registry_refused_family(const cut_registry_row *row)
{
    static const struct {
        const char *arch, *family;
    } refused[] = {
        {"birefnet", "BiRefNet"},
        {"bria", "BRIA RMBG-2.0 (BiRefNet)"},
        {"ben", "BEN (Background Erase Network)"},
        {"sam", "Segment Anything (SAM)"},
        {"custom", "rembg custom-session"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (strcmp(row->arch, refused[i].arch) == 0) return refused[i].family;
    return NULL;
}

void cut_registry_runnable(char *buf, size_t len)
{
    size_t used = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < cut_registry_n_rows && used < len; i++) {
        const cut_registry_row *r = &cut_registry_rows[i];
        /* fp16 copies and refused families are not separate names to offer */
        if (cut_registry_refused_family(r) || strstr(r->name, "-fp16")) continue;
        int k = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", r->name);
        if (k < 0) break;
        used += (size_t)k;
    }
}

/* The refusal for a registry name cutout does not run, or 0. */
static int refuse_name(const char *name, char *err, size_t errlen)
{
    const cut_registry_row *r = cut_registry_lookup(name);
    const char *family = r ? cut_registry_refused_family(r) : NULL;
    if (!family) return 0;
    char runs[256];
    cut_registry_runnable(runs, sizeof runs);
    if (strcmp(r->arch, "custom") == 0)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "%s is rembg's session for a model file of your own: give cutout the "
                        "file's path instead (a U²-Net-family file runs); cutout runs: %s",
                        name, runs);
    return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                    "%s is a %s model (not a U²-Net-family network); cutout runs: %s", name,
                    family, runs);
}
