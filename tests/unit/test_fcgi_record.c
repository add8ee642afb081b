/* The server's FastCGI record layer (fcgi/fcgi_record.c and
 * fcgi/fcgi_stream.c, compiled in here): name-value pairs and every
 * truncation of them, lying lengths, the GET_VALUES and UNKNOWN_TYPE
 * answers, and a whole request read through a transport that splits it at
 * every byte boundary (and one byte at a time) with padding, a management
 * record and another request's BEGIN_REQUEST in the middle of the body;
 * the answer's records; the refusals (unknown role, ABORT_REQUEST, a
 * GET_VALUES whose pairs lie, PARAMS after the head, a head over the
 * limit, a record of another version). Inputs are exactly-sized heap
 * copies so AddressSanitizer (make sanitize-test) catches a read past the
 * end. */
#include "../../fcgi/fcgi_record.c"
#include "../../fcgi/fcgi_stream.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* ---------------------------------------------------------------- bytes */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(2);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void rec(buf *b, unsigned type, unsigned id, const void *content, size_t n, unsigned pad)
{
    uint8_t h[8] = {1, (uint8_t)type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(n >> 8), (uint8_t)n,
                    (uint8_t)pad, 0};
    put(b, h, 8);
    put(b, content, n);
    uint8_t zero[255] = {0};
    put(b, zero, pad);
}

/* A name-value pair, lengths of 1 byte, or 4 when `wide`. */
static void pair(buf *b, const char *name, const char *value, int wide)
{
    size_t l[2] = {strlen(name), strlen(value)};
    for (int i = 0; i < 2; i++) {
        if (wide || l[i] > 127) {
            uint8_t w[4] = {(uint8_t)(0x80 | (l[i] >> 24)), (uint8_t)(l[i] >> 16), (uint8_t)(l[i] >> 8),
                            (uint8_t)l[i]};
            put(b, w, 4);
        } else {
            uint8_t c = (uint8_t)l[i];
            put(b, &c, 1);
        }
    }
    put(b, name, l[0]);
    put(b, value, l[1]);
}

static void begin(buf *b, unsigned id, unsigned role, int keep)
{
    uint8_t c[8] = {(uint8_t)(role >> 8), (uint8_t)role, (uint8_t)(keep ? FCGI_KEEP_CONN : 0)};
    rec(b, FCGI_BEGIN_REQUEST, id, c, 8, 0);
}

/* -------------------------------------------------------- name-value pairs */

static int pairs_copy(const uint8_t *p, size_t n, size_t *count)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c) exit(2);
    memcpy(c, p, n);
    size_t off = 0, nl, vl;
    const uint8_t *name, *value;
    int rc;
    *count = 0;
    volatile unsigned sum = 0; /* every byte of each pair touched: ASan sees a pointer past c */
    while ((rc = fcgi_pair_next(c, n, &off, &name, &nl, &value, &vl)) == 1) {
        for (size_t i = 0; i < nl; i++) sum += name[i];
        for (size_t i = 0; i < vl; i++) sum += value[i];
        (*count)++;
    }
    free(c);
    return rc;
}

static void test_pairs(void)
{
    buf b = {0};
    pair(&b, "REQUEST_METHOD", "POST", 0);
    pair(&b, "HTTP_COOKIE", "", 1);
    char big[300];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    pair(&b, "X", big, 0); /* 4-byte value length */
    size_t count;
    check(pairs_copy(b.p, b.len, &count) == 0 && count == 3, "three pairs, 1- and 4-byte lengths, read to the end");
    int cut_ok = 1;
    for (size_t n = 1; n < b.len; n++) {
        int rc = pairs_copy(b.p, n, &count);
        /* A cut between pairs ends cleanly; anywhere else it is refused. */
        int between = n == 2 + 14 + 4 || n == 2 + 14 + 4 + 8 + 11;
        if (between ? rc != 0 : rc != -1) cut_ok = 0;
    }
    check(cut_ok, "every truncation: refused inside a pair, clean between pairs");
    static const uint8_t lie1[] = {0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xf0, 'A', 'B'};
    static const uint8_t lie2[] = {0x05, 0x80, 0x00, 0x00, 0x10, 'N', 'A', 'M', 'E', 'X'};
    static const uint8_t lie3[] = {0x80, 0x00, 0x00};
    check(pairs_copy(lie1, sizeof lie1, &count) == -1, "lengths of 2^31 - 16 each are refused (no overflow)");
    check(pairs_copy(lie2, sizeof lie2, &count) == -1, "a value length past the content is refused");
    check(pairs_copy(lie3, sizeof lie3, &count) == -1, "a 4-byte length cut short is refused");
    free(b.p);
}

/* -------------------------------------------------------- management records */

static int records(const uint8_t *p, size_t n, unsigned id, buf *content, char *seq, size_t seqlen);

static void test_management(void)
{
    fcgi_caps caps = {128, 8};
    fcgi_caps widest = {9223372036854775807L, 9223372036854775807L};
    buf q = {0};
    pair(&q, "FCGI_MAX_CONNS", "", 0);
    pair(&q, "FCGI_MAX_REQS", "", 0);
    pair(&q, "FCGI_MPXS_CONNS", "", 0);
    pair(&q, "SOMETHING_ELSE", "", 0);
    pair(&q, "FCGI_MAX_REQS", "", 1); /* asked twice, answered once */
    uint8_t out[FCGI_MGMT_ANSWER_MAX];
    size_t n = fcgi_management_answer(FCGI_GET_VALUES, q.p, q.len, &caps, out, sizeof out);
    fcgi_header h;
    fcgi_header_get(out, &h);
    check(n > 8 && h.version == 1 && h.type == FCGI_GET_VALUES_RESULT && h.id == 0 && h.clen == n - 8 && !h.plen,
          "GET_VALUES answered by GET_VALUES_RESULT on request id 0");
    const char *want[3][2] = {{"FCGI_MAX_CONNS", "128"}, {"FCGI_MAX_REQS", "8"}, {"FCGI_MPXS_CONNS", "0"}};
    size_t off = 0, nl, vl, k = 0;
    const uint8_t *name, *value;
    int good = 1;
    while (n > 8 && fcgi_pair_next(out + 8, n - 8, &off, &name, &nl, &value, &vl) == 1) {
        if (k >= 3 || nl != strlen(want[k][0]) || memcmp(name, want[k][0], nl) || vl != strlen(want[k][1]) ||
            memcmp(value, want[k][1], vl))
            good = 0;
        k++;
    }
    check(good && k == 3, "the answer: FCGI_MAX_CONNS 128, FCGI_MAX_REQS 8, FCGI_MPXS_CONNS 0, nothing else");
    buf one = {0};
    pair(&one, "FCGI_MPXS_CONNS", "", 0);
    n = fcgi_management_answer(FCGI_GET_VALUES, one.p, one.len, &caps, out, sizeof out);
    check(n == 8 + 2 + 15 + 1 && !memcmp(out + 10, "FCGI_MPXS_CONNS0", 16), "only what is asked is answered");
    n = fcgi_management_answer(FCGI_GET_VALUES, NULL, 0, &caps, out, sizeof out);
    check(n == 8 && out[1] == FCGI_GET_VALUES_RESULT, "an empty GET_VALUES gets an empty result");
    n = fcgi_management_answer(42, (const uint8_t *)"xyz", 3, &caps, out, sizeof out);
    fcgi_header_get(out, &h);
    check(n == 16 && h.type == FCGI_UNKNOWN_TYPE && h.clen == 8 && out[8] == 42 && !out[9],
          "an unknown management type is answered UNKNOWN_TYPE naming it");
    static const uint8_t lie[] = {0x7f, 0x7f, 'A'};
    check(fcgi_management_answer(FCGI_GET_VALUES, lie, sizeof lie, &caps, out, sizeof out) == 0,
          "GET_VALUES whose pairs lie: no answer (protocol error)");

    /* What the poller answers on an idle connection: the whole records in front. */
    buf f = {0};
    rec(&f, FCGI_GET_VALUES, 0, q.p, q.len, 3);
    rec(&f, 77, 0, "", 0, 0);
    size_t two = f.len;
    rec(&f, FCGI_GET_VALUES, 0, q.p, q.len, 0);
    uint8_t ans[FCGI_MGMT_BURST * FCGI_MGMT_ANSWER_MAX];
    size_t alen;
    long taken = fcgi_management_prefix(f.p, f.len - 1, &caps, ans, &alen); /* the third cut short */
    buf content = {0};
    char seq[64];
    check(taken == (long)two && records(ans, alen, 1, &content, seq, sizeof seq) == 0 && !strcmp(seq, "GU"),
          "front of a connection: two whole management records taken and answered, a partial third left");
    buf g = {0};
    begin(&g, 1, FCGI_RESPONDER, 1);
    check(fcgi_management_prefix(g.p, g.len, &caps, ans, &alen) == 0 && alen == 0,
          "front of a connection: a BEGIN_REQUEST takes nothing");
    buf many = {0};
    for (int i = 0; i < FCGI_MGMT_BURST; i++) rec(&many, FCGI_GET_VALUES, 0, q.p, q.len, 0);
    taken = fcgi_management_prefix(many.p, many.len, &widest, ans, &alen);
    int sixteen = taken == (long)many.len && records(ans, alen, 1, &content, seq, sizeof seq) == 0 &&
                  strlen(seq) == FCGI_MGMT_BURST;
    rec(&many, FCGI_GET_VALUES, 0, q.p, q.len, 0);
    check(sixteen && fcgi_management_prefix(many.p, many.len, &widest, ans, &alen) == -1,
          "front of a connection: 16 records answered (longest answers fit), a 17th refused");
    buf bad = {0};
    rec(&bad, FCGI_GET_VALUES, 0, lie, sizeof lie, 0);
    check(fcgi_management_prefix(bad.p, bad.len, &caps, ans, &alen) == -1,
          "front of a connection: GET_VALUES with lying pairs refused");
    free(f.p);
    free(g.p);
    free(many.p);
    free(bad.p);
    free(content.p);
    free(q.p);
    free(one.p);
}

/* ---------------------------------------------------------- the stream */

/* The transport of a test: input delivered in pieces (at most `cut` bytes
 * up to the cut, then at most `step` per read), output collected. */
typedef struct {
    const uint8_t *in;
    size_t len, at, cut, step;
    buf out;
} pipe_io;

static ssize_t t_read(fcgi_stream *s, void *p, size_t n)
{
    pipe_io *io = s->io;
    if (io->at == io->len) return 0;
    size_t k = io->len - io->at;
    if (io->at < io->cut && k > io->cut - io->at) k = io->cut - io->at;
    if (io->step && k > io->step) k = io->step;
    if (k > n) k = n;
    memcpy(p, io->in + io->at, k);
    io->at += k;
    return (ssize_t)k;
}

static ssize_t t_writev(fcgi_stream *s, const struct iovec *v, int n)
{
    pipe_io *io = s->io;
    ssize_t all = 0;
    for (int i = 0; i < n; i++) {
        put(&io->out, v[i].iov_base, v[i].iov_len);
        all += (ssize_t)v[i].iov_len;
    }
    return all;
}


static void stream_on(fcgi_stream *s, pipe_io *io, const uint8_t *in, size_t len, size_t cut, size_t step)
{
    uint8_t *copy = malloc(len ? len : 1); /* exactly sized */
    if (!copy) exit(2);
    memcpy(copy, in, len);
    memset(io, 0, sizeof *io);
    io->in = copy;
    io->len = len;
    io->cut = cut;
    io->step = step;
    static const fcgi_caps caps = {64, 4};
    if (fcgs_init(s, &caps, 4096, 1000)) exit(2);
    s->rd = t_read;
    s->wv = t_writev;
    s->io = io;
}

static void stream_done(fcgi_stream *s, pipe_io *io)
{
    fcgs_free(s);
    free((void *)io->in);
    free(io->out.p);
}

/* The records in out[0..n): the STDOUT content of request id joined into
 * *content, and what else came, in order, as a string of type letters
 * (G GET_VALUES_RESULT, E END_REQUEST with its protocol status digit, U
 * UNKNOWN_TYPE, S the empty STDOUT). -1 when the records do not parse. */
static int records(const uint8_t *p, size_t n, unsigned id, buf *content, char *seq, size_t seqlen)
{
    size_t off = 0, k = 0;
    while (off < n) {
        if (n - off < 8) return -1;
        fcgi_header h;
        fcgi_header_get(p + off, &h);
        if (h.version != 1 || n - off - 8 < h.clen + h.plen) return -1;
        const uint8_t *c = p + off + 8;
        if (k + 3 >= seqlen) return -1;
        if (h.type == FCGI_STDOUT && h.id == id && h.clen) {
            if (h.clen > 65536 - 8) return -1; /* the server's bound per record */
            put(content, c, h.clen);
        } else if (h.type == FCGI_STDOUT && h.id == id) {
            seq[k++] = 'S';
        } else if (h.type == FCGI_GET_VALUES_RESULT && h.id == 0) {
            seq[k++] = 'G';
        } else if (h.type == FCGI_UNKNOWN_TYPE && h.id == 0) {
            seq[k++] = 'U';
        } else if (h.type == FCGI_END_REQUEST && h.clen == 8) {
            seq[k++] = 'E';
            seq[k++] = (char)('0' + c[4]);
            seq[k++] = (char)('0' + h.id);
        } else {
            return -1;
        }
        off += 8 + h.clen + h.plen;
    }
    seq[k] = 0;
    return 0;
}

/* A request as a web server sends it, with what the specification allows
 * in the middle: padding everywhere, a GET_VALUES and an unknown
 * management record, a BEGIN_REQUEST of request 2, a record of an inactive
 * request. */
static void full_request(buf *b)
{
    begin(b, 1, FCGI_RESPONDER, 1);
    buf p = {0};
    pair(&p, "REQUEST_METHOD", "POST", 0);
    pair(&p, "REQUEST_URI", "/remove?x=1", 1);
    pair(&p, "CONTENT_LENGTH", "11", 0);
    rec(b, FCGI_PARAMS, 1, p.p, 20, 3); /* a record boundary inside a pair */
    rec(b, FCGI_PARAMS, 1, p.p + 20, p.len - 20, 0);
    rec(b, FCGI_PARAMS, 1, "", 0, 5);
    rec(b, FCGI_STDIN, 1, "hello", 5, 3);
    buf q = {0};
    pair(&q, "FCGI_MPXS_CONNS", "", 0);
    rec(b, FCGI_GET_VALUES, 0, q.p, q.len, 1);
    rec(b, 200, 0, "", 0, 0);
    begin(b, 2, FCGI_RESPONDER, 0);
    rec(b, FCGI_STDIN, 3, "zz", 2, 0); /* an inactive request's: skipped */
    rec(b, FCGI_STDIN, 1, " world", 6, 0);
    rec(b, FCGI_STDIN, 1, "", 0, 7);
    free(p.p);
    free(q.p);
}

/* Reads the request through the stream; 0 when everything came right. */
static int serve(const buf *in, size_t cut, size_t step, int *keep)
{
    fcgi_stream s;
    pipe_io io;
    stream_on(&s, &io, in->p, in->len, cut, step);
    int ok = fcgs_read_head(&s, -1) == FCGS_OK && s.id == 1 && s.keep_conn;
    const char *m = fcgs_param(&s, "REQUEST_METHOD"), *u = fcgs_param(&s, "REQUEST_URI");
    ok = ok && m && !strcmp(m, "POST") && u && !strcmp(u, "/remove?x=1") && !fcgs_param(&s, "QUERY_STRING");
    char body[64];
    size_t len = 0;
    ssize_t k;
    while (ok && (k = fcgs_read(&s, body + len, sizeof body - len)) > 0) len += (size_t)k;
    ok = ok && len == 11 && !memcmp(body, "hello world", 11) && s.in_eof && !s.bad;
    ok = ok && fcgs_write(&s, "Status: 200 OK\r\n\r\nok", 20) == 0;
    *keep = fcgs_finish(&s);
    buf content = {0};
    char seq[32];
    ok = ok && records(io.out.p, io.out.len, 1, &content, seq, sizeof seq) == 0 && content.len == 20 &&
         !memcmp(content.p, "Status: 200 OK\r\n\r\nok", 20) && !strcmp(seq, "GUE12SE01") &&
         io.at == io.len;
    free(content.p);
    stream_done(&s, &io);
    return ok ? 0 : -1;
}

static void test_split(void)
{
    buf b = {0};
    full_request(&b);
    int keep = 0, all = 1, kept = 1;
    check(serve(&b, 0, 0, &keep) == 0 && keep,
          "a whole request: params across records, padding, GET_VALUES, UNKNOWN_TYPE and CANT_MPX_CONN answered in the body, "
          "body read, answer and END_REQUEST written, connection kept");
    for (size_t cut = 1; cut < b.len; cut++) {
        if (serve(&b, cut, 0, &keep)) all = 0;
        if (!keep) kept = 0;
    }
    check(all && kept, "the same request split at every byte boundary");
    check(serve(&b, 0, 1, &keep) == 0 && keep, "the same request one byte per read");
    int cut_ok = 1;
    for (size_t n = 0; n < b.len; n++) { /* every truncation: fails cleanly */
        fcgi_stream s;
        pipe_io io;
        stream_on(&s, &io, b.p, n, 0, 0);
        int rc = fcgs_read_head(&s, -1);
        char body[64];
        ssize_t k = 1;
        while (rc == FCGS_OK && k > 0) k = fcgs_read(&s, body, sizeof body);
        if ((rc == FCGS_OK && k != -1) || (rc != FCGS_OK && rc != FCGS_CLOSED)) cut_ok = 0;
        if (rc == FCGS_OK && fcgs_finish(&s)) cut_ok = 0; /* a broken one is never kept */
        stream_done(&s, &io);
    }
    check(cut_ok, "every truncation of it: the head or the body ends with an error, never kept");
    free(b.p);
}

/* The stream over in[0..len): the head's result, then the body's. */
static int body_result(const buf *in, fcgi_stream *s, pipe_io *io, int *head)
{
    stream_on(s, io, in->p, in->len, 0, 0);
    *head = fcgs_read_head(s, -1);
    if (*head != FCGS_OK) return -2;
    char body[64];
    ssize_t k;
    while ((k = fcgs_read(s, body, sizeof body)) > 0) {
    }
    return (int)k;
}

static void head_params(buf *b, unsigned role, int keep)
{
    begin(b, 1, role, keep);
    buf p = {0};
    pair(&p, "REQUEST_METHOD", "POST", 0);
    rec(b, FCGI_PARAMS, 1, p.p, p.len, 0);
    rec(b, FCGI_PARAMS, 1, "", 0, 0);
    free(p.p);
}

static void test_refusals(void)
{
    fcgi_stream s;
    pipe_io io;
    int head;
    buf content = {0};
    char seq[32];

    buf b = {0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_STDIN, 1, "abc", 3, 0);
    static const uint8_t lie[] = {0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xf0, 'A', 'B'};
    rec(&b, FCGI_GET_VALUES, 0, lie, sizeof lie, 0);
    rec(&b, FCGI_STDIN, 1, "", 0, 0);
    int rc = body_result(&b, &s, &io, &head);
    check(rc == -1 && s.bad && io.out.len == 0 && !fcgs_finish(&s),
          "GET_VALUES with lying lengths in the body: protocol error, not answered, connection not kept");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, 2 /* AUTHORIZER */, 1);
    rc = body_result(&b, &s, &io, &head);
    check(head == FCGS_REFUSED && records(io.out.p, io.out.len, 1, &content, seq, sizeof seq) == 0 &&
              !strcmp(seq, "E31"),
          "role AUTHORIZER: END_REQUEST FCGI_UNKNOWN_ROLE");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_STDIN, 1, "abc", 3, 0);
    rec(&b, FCGI_ABORT_REQUEST, 1, "", 0, 0);
    rc = body_result(&b, &s, &io, &head);
    int keep = fcgs_finish(&s);
    check(rc == -1 && s.aborted && !s.bad && !keep &&
              records(io.out.p, io.out.len, 1, &content, seq, sizeof seq) == 0 && !strcmp(seq, "E01"),
          "ABORT_REQUEST: the body stops, END_REQUEST only, connection not kept");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_PARAMS, 1, "\x01\x01XY", 4, 0);
    rc = body_result(&b, &s, &io, &head);
    check(rc == -1 && s.bad, "PARAMS after the head: protocol error");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 1);
    uint8_t v2[8] = {2, FCGI_STDIN, 0, 1, 0, 0, 0, 0};
    put(&b, v2, 8);
    rc = body_result(&b, &s, &io, &head);
    check(rc == -1 && s.bad, "a record of version 2: protocol error");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_STDIN, 1, "ab", 2, 0);
    begin(&b, 1, FCGI_RESPONDER, 0);
    rc = body_result(&b, &s, &io, &head);
    check(rc == -1 && s.bad, "BEGIN_REQUEST of the same id in its body: protocol error");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    begin(&b, 1, FCGI_RESPONDER, 1);
    char big[3000];
    memset(big, 'x', sizeof big);
    rec(&b, FCGI_PARAMS, 1, big, sizeof big, 0);
    rec(&b, FCGI_PARAMS, 1, big, sizeof big, 0); /* 6000 > the 4096 of this test */
    rec(&b, FCGI_PARAMS, 1, "", 0, 0);
    rc = body_result(&b, &s, &io, &head);
    check(head == FCGS_BAD, "a head over the limit: protocol error before it is buffered");
    stream_done(&s, &io);
    free(b.p);

    static const char *const lies[2] = {"\x05\x7fNAME", "\x04\xff\xff\xff\xf0NAME"};
    for (int i = 0; i < 2; i++) {
        b = (buf){0};
        begin(&b, 1, FCGI_RESPONDER, 1);
        rec(&b, FCGI_PARAMS, 1, lies[i], strlen(lies[i]), 0);
        rec(&b, FCGI_PARAMS, 1, "", 0, 0);
        rc = body_result(&b, &s, &io, &head);
        check(head == FCGS_BAD, i ? "a parameter declaring a value of 2^31 - 16 bytes: protocol error"
                                  : "a parameter whose value length runs past the parameters: protocol error");
        stream_done(&s, &io);
        free(b.p);
    }

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_STDIN, 1, "unread", 6, 0);
    rec(&b, FCGI_STDIN, 1, "", 0, 0);
    stream_on(&s, &io, b.p, b.len, 0, 0);
    head = fcgs_read_head(&s, -1);
    check(head == FCGS_OK && !fcgs_finish(&s), "a body left unread: the connection is not kept (out of step)");
    stream_done(&s, &io);
    free(b.p);

    b = (buf){0};
    head_params(&b, FCGI_RESPONDER, 0);
    rec(&b, FCGI_STDIN, 1, "", 0, 0);
    rc = body_result(&b, &s, &io, &head);
    check(rc == 0 && !fcgs_finish(&s), "without FCGI_KEEP_CONN the connection is not kept");
    stream_done(&s, &io);
    free(b.p);
    free(content.p);
}

static void test_output(void)
{
    buf b = {0};
    head_params(&b, FCGI_RESPONDER, 1);
    rec(&b, FCGI_STDIN, 1, "", 0, 0);
    fcgi_stream s;
    pipe_io io;
    int head;
    body_result(&b, &s, &io, &head);
    size_t n = 300000;
    uint8_t *data = malloc(n);
    if (!data) exit(2);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + (i >> 9));
    int ok = fcgs_write(&s, data, 5) == 0 && fcgs_write(&s, data + 5, 100000) == 0 &&
             fcgs_write(&s, data + 100005, n - 100005) == 0;
    int keep = fcgs_finish(&s);
    buf content = {0};
    char seq[32];
    int parsed = records(io.out.p, io.out.len, 1, &content, seq, sizeof seq); /* checks each <= 65528 */
    check(ok && keep && parsed == 0 && content.len == n && !memcmp(content.p, data, n) && !strcmp(seq, "SE01"),
          "300000 bytes written in pieces: STDOUT records of at most 65528 bytes, the same bytes, empty STDOUT, END_REQUEST");
    free(content.p);
    free(data);
    stream_done(&s, &io);
    free(b.p);
}

int main(void)
{
    test_pairs();
    test_management();
    test_split();
    test_refusals();
    test_output();
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
