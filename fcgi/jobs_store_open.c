/* The job store a configuration names (jobs.store). */
#include "jobs_store.h"

#include <stdio.h>
#include <string.h>

jobs_store *jobs_store_open(const cf_config *c, char *err, size_t errlen)
{
    const char *spec = c->jobs_store;
    if (!strncmp(spec, "sqlite:", 7) && spec[7]) return jobs_sqlite_open(spec + 7, err, errlen);
    if (!strncmp(spec, "redis://", 8)) return jobs_redis_open(c, err, errlen);
    snprintf(err, errlen, "jobs.store: '%s' is not sqlite:PATH or redis://HOST[:PORT][/DB]", spec);
    return NULL;
}
