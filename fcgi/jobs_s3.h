/* Job results in S3 (jobs.s3 in the configuration; fcgi/README.md "Jobs",
 * "Results in S3"): each result is uploaded, path-style, to
 * endpoint/bucket/prefix/JOBID/INDEX.EXT with libcurl's SigV4 signing,
 * GET /jobs/ID/items/I answers 302 to a presigned URL (sigv4.h), the
 * archive reads the objects back, and a job's objects are deleted with it.
 * Keys come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
 * temporary credentials, AWS_SESSION_TOKEN. Every function but init is
 * safe from any thread; all are no-ops (0) while S3 is off. */
#ifndef CUTOUT_FCGI_JOBS_S3_H
#define CUTOUT_FCGI_JOBS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Whether the keys are in the environment when jobs.s3 is configured
 * (checked at start, before any worker). 0, or -1 with err. */
int jobs_s3_check_env(const cf_config *c, char *err, size_t errlen);

/* Reads the keys from the environment when jobs.s3 is configured. 0, or
 * -1 with err (a key is missing). */
int jobs_s3_init(const cf_config *c, char *err, size_t errlen);

/* 1 when results go to S3. */
int jobs_s3_on(void);

/* Stores the result `name` (out-I.EXT in the spool's naming; the object is
 * I.EXT) of job id. Transient failures (no connection, HTTP 5xx, 429) are
 * tried 3 times in all; 0, or -1 with a sentence in err. */
int jobs_s3_put(const char *id, const char *name, const char *ctype, const void *data, size_t len,
                char *err, size_t errlen);

/* Reads an object back (at most max bytes, malloc'ed). 0 or -1. */
int jobs_s3_get(const char *id, const char *name, size_t max, uint8_t **data, size_t *len);

/* A presigned GET URL for the object, valid jobs.s3.expires_s. 0 or -1. */
int jobs_s3_presign(const char *id, const char *name, char *url, size_t len);

/* Deletes one object (a result that lost its item). */
void jobs_s3_delete(const char *id, const char *name);

/* Deletes every object of job id (listed by its prefix). */
void jobs_s3_delete_job(const char *id);

#endif
