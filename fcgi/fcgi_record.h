/* FastCGI records (the FastCGI 1.0 specification): the 8-byte header, the
 * name-value pairs of PARAMS and GET_VALUES (read bounds-checked against
 * the bytes at hand), and the records the server writes. No I/O here: the
 * per-request stream (fcgi_stream.h) and the connection poller (conns.c)
 * read and write the bytes. */
#ifndef CUTOUT_FCGI_FCGI_RECORD_H
#define CUTOUT_FCGI_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>

enum {
    FCGI_HEADER_LEN = 8,
    FCGI_CONTENT_MAX = 65535, /* the header's 16-bit length */
    FCGI_OUT_CONTENT_MAX = 65536 - 8, /* what the server writes per record */
};

enum { /* record types */
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
};

enum { FCGI_RESPONDER = 1, FCGI_KEEP_CONN = 1 };

enum { /* END_REQUEST protocolStatus */
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_OVERLOADED = 2,
    FCGI_UNKNOWN_ROLE = 3,
};

typedef struct {
    unsigned version, type, id;
    size_t clen, plen; /* content and padding lengths */
} fcgi_header;

/* Decodes the 8 bytes at h. */
void fcgi_header_get(const uint8_t *h, fcgi_header *out);

/* Writes a header (version 1, no padding) to h[0..8). */
void fcgi_header_put(uint8_t *h, unsigned type, unsigned id, size_t clen);

/* The next name-value pair of content[0..n) from *off: 1 with *name,
 * *nlen, *value, *vlen pointing into content and *off past the pair; 0 at
 * the end (*off == n); -1 when a length (1 byte, or 4 with the top bit set)
 * or the bytes it declares run past n. */
int fcgi_pair_next(const uint8_t *content, size_t n, size_t *off, const uint8_t **name,
                   size_t *nlen, const uint8_t **value, size_t *vlen);

/* What GET_VALUES is answered from (the whole server's configuration). */
typedef struct {
    long max_conns; /* FCGI_MAX_CONNS: connections open at once */
    long max_reqs;  /* FCGI_MAX_REQS: requests served at once */
} fcgi_caps;

/* The longest answer to a management record. */
#define FCGI_MGMT_ANSWER_MAX 136

/* The answer to a management record (request id 0) of `type` with
 * content[0..n): GET_VALUES_RESULT naming the known variables asked for
 * (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS: 0, no multiplexing),
 * each once, UNKNOWN_TYPE for any other type. Written whole to out (cap >=
 * FCGI_MGMT_ANSWER_MAX); returns its length, or 0 when the pairs lie about
 * their lengths (a protocol error: the connection is closed) or out is too
 * small. */
size_t fcgi_management_answer(unsigned type, const uint8_t *content, size_t n,
                              const fcgi_caps *caps, uint8_t *out, size_t cap);

/* Management records answered at once, before a request, on an idle
 * connection (conns.c); more close the connection. */
#define FCGI_MGMT_BURST 16

/* The whole management records at the front of b[0..n) (at most
 * FCGI_MGMT_BURST): their answers in out (room for FCGI_MGMT_BURST *
 * FCGI_MGMT_ANSWER_MAX bytes), *outlen bytes in all. Returns the bytes
 * those records take (0: none), or -1 when one lies about its pairs or
 * more than FCGI_MGMT_BURST are there. */
long fcgi_management_prefix(const uint8_t *b, size_t n, const fcgi_caps *caps, uint8_t *out,
                            size_t *outlen);

/* END_REQUEST for request `id` (16 bytes at out). */
void fcgi_end_request_put(uint8_t *out, unsigned id, uint32_t app_status, unsigned proto_status);

#endif
