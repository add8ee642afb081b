/* The configured models as a whole: checking that each one loads (at
 * start, --check-config and SIGHUP), and what each architecture is, in
 * words (GET /models). */
#ifndef CUTOUT_FCGI_MODELS_H
#define CUTOUT_FCGI_MODELS_H

#include <stddef.h>

#include "config.h"

/* Loads (and frees) every configured model. 0, or -1 with the first
 * problem in err. verbose: prints each model found on stdout. */
int models_check(const cf_config *c, int verbose, char *err, size_t errlen);

/* A one-line description of an architecture (cutout_model_arch_name);
 * "" for one this table does not know. */
const char *models_describe(const char *arch);

#endif
