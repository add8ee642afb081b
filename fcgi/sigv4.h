/* AWS Signature Version 4 for S3 presigned URLs (query-string signing),
 * with the SHA-256 and HMAC-SHA256 it rests on (FIPS 180-4, RFC 2104):
 * libcurl signs the requests the server makes itself (CURLOPT_AWS_SIGV4)
 * but does not presign, so a URL a client follows is signed here.
 * Self-contained: nothing else in the server links a crypto library. */
#ifndef CUTOUT_FCGI_SIGV4_H
#define CUTOUT_FCGI_SIGV4_H

#include <stddef.h>
#include <stdint.h>

void sv_sha256(const void *data, size_t len, uint8_t out[32]);
void sv_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);

/* n bytes as 2n lowercase hex digits and a NUL. */
void sv_hex(const uint8_t *b, size_t n, char *out);

/* s percent-encoded as SigV4 wants (RFC 3986: all but A-Z a-z 0-9 - . _ ~
 * encoded, upper-case hex); '/' kept when keep_slash. 0, or -1 when it
 * does not fit. */
int sv_uri_encode(const char *s, int keep_slash, char *out, size_t len);

typedef struct {
    const char *base;     /* "https://host[:port]": what the URL starts with */
    const char *host;     /* the Host header a client sends for it */
    const char *path;     /* "/bucket/key", not encoded */
    const char *region, *service;          /* "us-east-1", "s3" */
    const char *access_key, *secret_key;
    const char *session_token;             /* NULL or "": none */
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (UTC) */
    int expires_s;        /* 1..604800 */
} sv_presign_req;

/* The presigned GET URL for r (UNSIGNED-PAYLOAD, SignedHeaders=host) into
 * out. 0, or -1 when it does not fit or a field is malformed. */
int sv_presign_get(const sv_presign_req *r, char *out, size_t len);

#endif
