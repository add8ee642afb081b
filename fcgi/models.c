#include "models.h"

#include <stdio.h>
#include <string.h>

#include "cutout.h"

int models_check(const cf_config *c, int verbose, char *err, size_t errlen)
{
    char path[CF_PATH_LEN], e[512];
    const char *names[CF_MAX_MODELS + 1];
    int n = 0;
    names[n++] = c->default_model;
    for (int i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, c->default_model)) names[n++] = c->models[i].name;
    for (int i = 0; i < n; i++) {
        const char *p = cf_model_path_of(c, names[i]);
        if (p) snprintf(path, sizeof path, "%s", p);
        else if (cutout_model_find(names[i], path, sizeof path, e, sizeof e)) {
            snprintf(err, errlen, "model %s: %s", names[i], e);
            return -1;
        }
        cutout_model *mo;
        if (cutout_model_load_file(path, &mo, e, sizeof e)) {
            snprintf(err, errlen, "model %s (%.300s): %s", names[i], path, e);
            return -1;
        }
        if (verbose)
            printf("model %s: %s (%s, %d px)\n", names[i], path, cutout_model_arch_name(mo),
                   cutout_model_input_size(mo));
        cutout_model_free(mo);
    }
    return 0;
}

const char *models_describe(const char *arch)
{
    static const struct {
        const char *arch, *text;
    } known[] = {
        {"u2netp", "U²-Net small (4.7 MB): fast, general objects"},
        {"u2net", "U²-Net (176 MB): general objects"},
        {"isnet", "IS-Net general use (1024×1024): finer edges"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(arch, known[i].arch)) return known[i].text;
    return "";
}
