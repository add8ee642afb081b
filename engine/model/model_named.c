/* Loading a model by registry name: the file cutout_model_find resolves,
 * then the registry row's normalisation (rembg's values for that model,
 * which two models of one architecture may not share). Its own file so that
 * the registry needs nothing from the model loader that uses it. */
#include <string.h>

#include "cutout.h"
#include "model.h"
#include "registry_table.h"

int cutout_model_use_registry(cutout_model *m, const char *name)
{
    const cut_registry_row *r = name ? cut_registry_lookup(name) : NULL;
    if (!m || !r || cut_registry_refused_family(r)) return 0;
    memcpy(m->mean, r->mean, sizeof m->mean);
    memcpy(m->std, r->std, sizeof m->std);
    return 1;
}

int cutout_model_load_named(const char *name_or_path, cutout_model **out, char *err,
                            size_t errlen)
{
    char path[4096];
    int rc = cutout_model_find(name_or_path, path, sizeof path, err, errlen);
    if (rc) return rc;
    if ((rc = cutout_model_load_file(path, out, err, errlen))) return rc;
    if (!cut_registry_is_path(name_or_path)) cutout_model_use_registry(*out, name_or_path);
    return CUTOUT_OK;
}
