/* Request parameters from outside: query strings / urlencoded forms and
 * multipart/form-data bodies (RFC 7578, RFC 2046 section 5.1). Every read is
 * bounds-checked against the buffer it was given; nothing is trusted. */
#ifndef CUTOUT_FCGI_FORM_H
#define CUTOUT_FCGI_FORM_H

#include <stddef.h>
#include <stdint.h>

#define FORM_MAX_PARAMS 32
#define FORM_KEY_LEN 32
#define FORM_VALUE_LEN 256

typedef struct {
    char key[FORM_KEY_LEN];
    char value[FORM_VALUE_LEN];
} form_param;

typedef struct {
    form_param v[FORM_MAX_PARAMS];
    int n;
} form_params;

/* Adds key=value (copied; NUL bytes refused). Later values of a key win in
 * form_get. 0, or -1 with a sentence in err. */
int form_add(form_params *p, const char *key, size_t klen, const char *val, size_t vlen, char *err,
             size_t errlen);

/* Parses "a=1&b=x%20y" (application/x-www-form-urlencoded; '+' is a space).
 * Empty pieces are skipped. 0, or -1 with a sentence in err. */
int form_parse_urlencoded(const char *s, size_t len, form_params *p, char *err, size_t errlen);

/* The last value of key, or NULL. */
const char *form_get(const form_params *p, const char *key);

#define MP_MAX_PARTS 16

typedef struct {
    char name[FORM_KEY_LEN * 2];  /* form field name (truncated names are refused) */
    char filename[256];           /* "" when none (truncated if longer) */
    char content_type[128];       /* "" when none (truncated if longer) */
    const uint8_t *data;          /* inside the body given to mp_parse */
    size_t len;
} mp_part;

/* The boundary parameter of a multipart/form-data Content-Type value
 * (quoted or not, 1..70 bytes). 0, or -1 when the type is not
 * multipart/form-data or has no valid boundary. */
int mp_boundary(const char *content_type, char *out, size_t outlen);

/* Splits body into its parts. 0 on success; -1 malformed (message in err);
 * more than max_parts parts is malformed too. */
int mp_parse(const uint8_t *body, size_t len, const char *boundary, mp_part *parts, int max_parts,
             int *nparts, char *err, size_t errlen);

/* The first part named name, or NULL. */
const mp_part *mp_find(const mp_part *parts, int n, const char *name);

#endif
