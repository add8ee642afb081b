/* The connection poller's test for a whole FastCGI request head
 * (fcgi/reqhead.c, compiled in here): heads as nginx and Apache send them,
 * every proper prefix (incomplete), padding, records a thread settles at
 * once, and random bytes; every input is an exactly-sized heap copy so
 * AddressSanitizer (make sanitize-test) catches a read past the end. */
#include "../../fcgi/reqhead.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* f on an exactly-sized heap copy of b[0..n). */
static int on_copy(int (*f)(const unsigned char *, size_t), const unsigned char *b, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (!c) exit(2);
    memcpy(c, b, n);
    int r = f(c, n);
    free(c);
    return r;
}

static int complete_copy(const unsigned char *b, size_t n) { return on_copy(reqhead_complete, b, n); }
static int valid_copy(const unsigned char *b, size_t n) { return on_copy(reqhead_params_valid, b, n); }

/* Appends one record (version 1, request id 1) with `pad` padding bytes. */
static size_t record(unsigned char *out, size_t o, int type, const char *content, size_t len, int pad)
{
    unsigned char h[8] = {1, (unsigned char)type, 0, 1, (unsigned char)(len >> 8), (unsigned char)len,
                          (unsigned char)pad, 0};
    memcpy(out + o, h, 8);
    memcpy(out + o + 8, content, len);
    memset(out + o + 8 + len, 0, (size_t)pad);
    return o + 8 + len + (size_t)pad;
}

/* BEGIN_REQUEST, two PARAMS records (the second padded), the empty PARAMS. */
static size_t head(unsigned char *out, int pad)
{
    static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    static const char p1[] = "\x0e\x04REQUEST_METHODPOST", p2[] = "\x0b\x07REQUEST_URI/remove";
    size_t o = record(out, 0, 1, begin, 8, 0);
    o = record(out, o, 4, p1, sizeof p1 - 1, 0);
    o = record(out, o, 4, p2, sizeof p2 - 1, pad);
    return record(out, o, 4, "", 0, 0);
}

static void test_heads(void)
{
    unsigned char b[512];
    for (int pad = 0; pad <= 7; pad += 7) {
        size_t n = head(b, pad);
        int prefixes_ok = 1;
        for (size_t k = 0; k < n; k++) prefixes_ok &= complete_copy(b, k) == 0;
        char what[128];
        snprintf(what, sizeof what, "a whole head (padding %d) is complete, every proper prefix of it is not", pad);
        check(complete_copy(b, n) == 1 && prefixes_ok, what);
    }
    /* A body (STDIN) right behind the head changes nothing. */
    size_t n = head(b, 0);
    n = record(b, n, 5, "abc", 3, 0);
    check(complete_copy(b, n) == 1, "a head followed by STDIN is complete");
}

static void test_settled_at_once(void)
{
    unsigned char b[64];
    size_t n = record(b, 0, 9, "", 0, 0); /* FCGI_GET_VALUES */
    check(complete_copy(b, n) == 1, "a whole management record (GET_VALUES) is settled at once (the poller answers it)");
    static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    n = record(b, 0, 1, begin, 8, 0);
    n = record(b, n, 5, "x", 1, 0);
    check(complete_copy(b, n) == 1, "STDIN before the parameters end is settled at once (refused by the shape check)");
    memcpy(b, "GET / HTTP/1.1\r\n", 16);
    check(complete_copy(b, 16) == 1, "not FastCGI (HTTP sent to the port) is settled at once (refused)");
    check(complete_copy(b, 0) == 0, "nothing yet: not complete");
}

/* Parameter lengths: a pair whose declared lengths run past the parameter
 * stream is refused in the poller, before a thread reads it. */
static void test_param_lengths(void)
{
    unsigned char b[512];
    static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    size_t n = head(b, 7);
    check(valid_copy(b, n) == 1, "nginx-style head: every pair ends inside the parameters");
    int prefixes_ok = 1;
    for (size_t k = 0; k < n; k++) prefixes_ok &= valid_copy(b, k) == 0 || valid_copy(b, k) == 1;
    check(prefixes_ok, "every prefix: an answer, no read past the end (ASan)");

    /* One pair split over two records (names and values may straddle them). */
    size_t o = record(b, 0, 1, begin, 8, 0);
    o = record(b, o, 4, "\x0e\x04REQUEST_", 10, 3);
    o = record(b, o, 4, "METHODPOST", 10, 0);
    o = record(b, o, 4, "", 0, 0);
    check(valid_copy(b, o) == 1, "a pair split over two PARAMS records (and padding) is valid");

    /* The fuzzer's crash of libfcgi 2.4 (before fcgi_stream.c replaced
     * it): 4-byte lengths summing past INT_MAX. */
    static const char huge[] = "\xff\xff\xff\xf0\xff\xff\xff\xf0" "AB";
    o = record(b, 0, 1, begin, 8, 0);
    o = record(b, o, 4, huge, sizeof huge - 1, 0);
    o = record(b, o, 4, "", 0, 0);
    check(complete_copy(b, o) == 1 && valid_copy(b, o) == 0,
          "4-byte lengths of 2^31 each (past any int) are refused");

    /* Lying parameters hidden in BEGIN_REQUEST's padding (the fcgi_request
     * fuzzer's find against libfcgi, which did not skip that padding):
     * the shape check refuses a padded BEGIN_REQUEST. */
    static const char lie[] = "\x88\x00\x00\x00\x88\x00\x00\x00" "AB";
    unsigned char hidden[256];
    o = record(hidden, 0, 1, begin, 8, 0);
    hidden[6] = 8 + sizeof lie - 1 + 8; /* BEGIN padded over the next record and more */
    o = record(hidden, o, 4, lie, sizeof lie - 1, 0);
    o = record(hidden, o, 4, "", 0, 0);
    check(valid_copy(hidden, o) == 0,
          "lying parameters in BEGIN_REQUEST's padding are refused");
    /* Parameters that run past the peeked bytes: not known to be honest. */
    n = head(b, 0);
    check(valid_copy(b, n - 8) == 0, "parameters not ended within the bytes seen are refused");

    /* A value one byte longer than what the stream holds. */
    static const char over[] = "\x01\x05" "AVALUE";
    o = record(b, 0, 1, begin, 8, 0);
    o = record(b, o, 4, over, sizeof over - 2, 0); /* the value's last byte missing */
    o = record(b, o, 4, "", 0, 0);
    check(valid_copy(b, o) == 0, "a value one byte past the end of the parameters is refused");
    o = record(b, 0, 1, begin, 8, 0);
    o = record(b, o, 4, over, sizeof over - 1, 0);
    o = record(b, o, 4, "", 0, 0);
    check(valid_copy(b, o) == 1, "the same pair with its last byte is valid");
    o = record(b, 0, 1, begin, 8, 0);
    o = record(b, o, 4, "\x80\x00", 2, 0); /* a 4-byte length cut after 2 bytes */
    o = record(b, o, 4, "", 0, 0);
    check(valid_copy(b, o) == 0, "a length cut short by the end of the parameters is refused");
}

static void test_random(void)
{
    unsigned long long s = 88172645463325252ull;
    unsigned char b[300];
    int ok = 1;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(s % sizeof b);
        for (size_t k = 0; k < n; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            b[k] = (unsigned char)(k % 8 == 0 ? 1 : s); /* version 1: records chain on */
        }
        int r = complete_copy(b, n), v = valid_copy(b, n);
        ok &= (r == 0 || r == 1) && (v == 0 || v == 1);
    }
    check(ok, "20000 random inputs: 0 or 1, no read past the end (ASan)");
}

int main(void)
{
    test_heads();
    test_settled_at_once();
    test_param_lengths();
    test_random();
    printf("%s\n", failures ? "test_fcgi_reqhead: FAILED" : "test_fcgi_reqhead: all passed");
    return failures ? 1 : 0;
}
