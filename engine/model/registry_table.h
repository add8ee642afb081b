/* models/registry.tsv as a table compiled into the library
 * (tools/embed-registry), and lookups over it (registry.c). */
#ifndef CUTOUT_REGISTRY_TABLE_H
#define CUTOUT_REGISTRY_TABLE_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *arch;  /* u2net, u2netp, isnet; or a family cutout does not run */
    int input;         /* H of HxW (square), 0 for models cutout does not run */
    float mean[3], std[3];
} cut_registry_row;

extern const cut_registry_row cut_registry_rows[];
extern const int cut_registry_n_rows;

/* The row of a registry name, or NULL. */
const cut_registry_row *cut_registry_lookup(const char *name);
/* The network family of a row cutout does not run ("BiRefNet", ...), or NULL
 * when cutout runs it. */
const char *cut_registry_refused_family(const cut_registry_row *row);
/* "u2net, u2netp, ...": the names cutout runs, for messages. */
void cut_registry_runnable(char *buf, size_t len);

/* Whether a model argument names a file (a path, or NAME.onnx) rather than a
 * registry name. */
int cut_registry_is_path(const char *s);

#endif
