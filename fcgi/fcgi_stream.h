/* One FastCGI request on a connection, as a request thread serves it: its
 * head (BEGIN_REQUEST and the PARAMS stream) read and its parameters
 * looked up by name, its body (STDIN) read as a byte stream, its answer
 * written as STDOUT records and ended with END_REQUEST. Every length a
 * record declares is checked against the bytes received and against the
 * head limit; a violation ends the request and the connection (the caller
 * closes it and counts it), never more.
 *
 * One request at a time (FCGI_MPXS_CONNS 0): a BEGIN_REQUEST for another
 * id during a request is answered END_REQUEST FCGI_CANT_MPX_CONN, records
 * of other ids are skipped (the specification: inactive requests), and
 * management records (request id 0) met in the body are answered at once
 * (fcgi_record.h). Reads are exact: nothing past the current record is
 * taken from the socket, so a kept connection goes back to the poller in
 * step with the web server. */
#ifndef CUTOUT_FCGI_FCGI_STREAM_H
#define CUTOUT_FCGI_FCGI_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fcgi_record.h"

typedef struct fcgi_stream {
    int fd;
    /* The transport: read(2) and writev(2) on fd unless a test sets its own. */
    ssize_t (*rd)(struct fcgi_stream *s, void *buf, size_t n);
    ssize_t (*wv)(struct fcgi_stream *s, const struct iovec *iov, int n);
    void *io; /* the test's */
    const fcgi_caps *caps;
    size_t head_max; /* PARAMS content bytes allowed */
    int write_ms;    /* a write finding no room this long fails (EAGAIN) */

    unsigned id;   /* the request's id */
    int keep_conn; /* FCGI_KEEP_CONN; the caller clears it to close anyway */
    int err;       /* errno of a failed read or write (EAGAIN: a timeout; 0 at EOF: ECONNRESET) */
    int bad;       /* a protocol violation */
    int aborted;   /* ABORT_REQUEST received */

    /* input: the STDIN record being read */
    size_t in_left, in_pad;
    int in_eof; /* the empty STDIN record was read */

    /* parameters: "NAME\0VALUE\0" pairs in env, nenv of them */
    uint8_t *raw;     /* the PARAMS content (head_max) */
    char *env;        /* head_max */
    uint32_t *pairs;  /* offsets of the names in env */
    size_t npairs, pairs_cap;

    uint8_t *scratch; /* a management record's content (FCGI_CONTENT_MAX + 255) */
    uint8_t *out;     /* STDOUT content waiting (FCGI_OUT_CONTENT_MAX) */
    size_t out_len;
    int werr; /* errno of the first failed write (EAGAIN: write_ms passed without room) */
} fcgi_stream;

/* Allocates the buffers (once per thread); 0, or -1 out of memory.
 * head_max: the PARAMS content allowed; write_ms: limits.write_timeout_s. */
int fcgs_init(fcgi_stream *s, const fcgi_caps *caps, size_t head_max, int write_ms);
void fcgs_free(fcgi_stream *s);

enum {
    FCGS_OK = 0,
    FCGS_CLOSED = -1,  /* EOF or a read error before a whole head */
    FCGS_BAD = -2,     /* a protocol violation (s->bad) */
    FCGS_REFUSED = -3, /* not a RESPONDER: answered END_REQUEST FCGI_UNKNOWN_ROLE */
};

/* Starts a request on connection fd: reads its head. FCGS_* */
int fcgs_read_head(fcgi_stream *s, int fd);

/* A parameter's value, or NULL. */
const char *fcgs_param(const fcgi_stream *s, const char *name);

/* Reads up to n bytes of the body: their count, 0 at its end (the empty
 * STDIN record), -1 when it cannot go on (s->err, s->bad or s->aborted). */
ssize_t fcgs_read(fcgi_stream *s, void *buf, size_t n);

/* Writes n bytes of the answer (STDOUT): 0, or -1 once a write failed
 * (s->werr; later writes are dropped). */
int fcgs_write(fcgi_stream *s, const void *p, size_t n);

/* Ends the request: the STDOUT buffered, the empty STDOUT record and
 * END_REQUEST. Returns 1 when the connection may serve another request
 * (FCGI_KEEP_CONN, the body read to its end, nothing failed), else 0: the
 * caller closes it (fcgs_close). */
int fcgs_finish(fcgi_stream *s);

/* Closes a connection whose client may still be sending: the write side
 * first, then what arrives is read and dropped until EOF or 2 s of quiet
 * (so that no reset destroys the answer in flight). The caller bounds it
 * (conns_watch). */
void fcgs_close(int fd);

#endif
