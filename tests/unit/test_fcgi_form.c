/* cutout-fcgi's parsers of outside data (fcgi/form.c, compiled in here):
 * query strings and multipart/form-data, well-formed and malformed. Every
 * malformed body is also fed at every truncation length, each copied into
 * an exactly-sized heap buffer so AddressSanitizer (make sanitize-test)
 * catches any read past the end. */
#include "../../fcgi/form.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* mp_parse on an exact-size heap copy of text[0..len). */
static int parse_copy(const char *text, size_t len, const char *boundary, mp_part *parts, int *n,
                      char *err, size_t errlen, uint8_t **keep)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) exit(2);
    memcpy(buf, text, len);
    int rc = mp_parse(buf, len, boundary, parts, MP_MAX_PARTS, n, err, errlen);
    if (keep) *keep = buf;
    else free(buf);
    return rc;
}

static void test_urlencoded(void)
{
    form_params p = {.n = 0};
    char err[256];
    int rc = form_parse_urlencoded("format=jpeg&bg=%23ff00ff&x=a+b&&empty=&mask", 43, &p, err, sizeof err);
    check(rc == 0 && !strcmp(form_get(&p, "format"), "jpeg") && !strcmp(form_get(&p, "bg"), "#ff00ff") &&
              !strcmp(form_get(&p, "x"), "a b") && !strcmp(form_get(&p, "empty"), "") &&
              !strcmp(form_get(&p, "mask"), "") && form_get(&p, "nope") == NULL,
          "query string: escapes, '+', empty values, keys without '='");
    p.n = 0;
    rc = form_parse_urlencoded("a=1&a=2", 7, &p, err, sizeof err);
    check(rc == 0 && !strcmp(form_get(&p, "a"), "2"), "a repeated key: the last value wins");
    p.n = 0;
    check(form_parse_urlencoded("a=%4", 4, &p, err, sizeof err) == -1, "truncated %-escape rejected");
    p.n = 0;
    check(form_parse_urlencoded("a=%zz", 5, &p, err, sizeof err) == -1, "non-hex %-escape rejected");
    p.n = 0;
    check(form_parse_urlencoded("a=%00", 5, &p, err, sizeof err) == -1, "NUL byte rejected");
    char longq[600];
    memset(longq, 'v', sizeof longq);
    memcpy(longq, "k=", 2);
    p.n = 0;
    check(form_parse_urlencoded(longq, sizeof longq, &p, err, sizeof err) == -1, "over-long value rejected");
    char many[400] = "";
    for (int i = 0; i < 40; i++) {
        char kv[16];
        snprintf(kv, sizeof kv, "k%d=1&", i);
        strcat(many, kv);
    }
    p.n = 0;
    check(form_parse_urlencoded(many, strlen(many), &p, err, sizeof err) == -1 && p.n == FORM_MAX_PARAMS,
          "more than FORM_MAX_PARAMS parameters rejected");
}

static void test_boundary(void)
{
    char b[128];
    check(!mp_boundary("multipart/form-data; boundary=abc123", b, sizeof b) && !strcmp(b, "abc123"),
          "boundary token");
    check(!mp_boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"", b, sizeof b) &&
              !strcmp(b, "a b:c"),
          "quoted boundary after another parameter, case-insensitive type");
    check(mp_boundary("multipart/form-data", b, sizeof b) == -1, "no boundary");
    check(mp_boundary("multipart/form-data; boundary=", b, sizeof b) == -1, "empty boundary");
    check(mp_boundary("multipart/form-data; boundary=\"abc", b, sizeof b) == -1, "unterminated quote");
    check(mp_boundary("image/png", b, sizeof b) == -1, "not multipart");
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    check(mp_boundary(longb, b, sizeof b) == -1, "boundary over 70 bytes rejected");
}

static void test_multipart_ok(void)
{
    static const char body[] = "preamble to ignore\r\n"
                               "--XyZ\r\n"
                               "Content-Disposition: form-data; name=\"mask\"\r\n"
                               "\r\n"
                               "1\r\n"
                               "--XyZ  \r\n"
                               "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n"
                               "Content-Type: image/png\r\n"
                               "\r\n"
                               "\x89PNG\r\n--XyZnot-a-delimiter\r\n\r\n"
                               "--XyZ--\r\n"
                               "epilogue";
    mp_part parts[MP_MAX_PARTS];
    int n;
    char err[256];
    uint8_t *buf;
    int rc = parse_copy(body, sizeof body - 1, "XyZ", parts, &n, err, sizeof err, &buf);
    check(rc == 0 && n == 2, "two parts, preamble and epilogue ignored");
    if (rc || n != 2) printf("     rc=%d n=%d err=%s\n", rc, n, err);
    if (rc == 0 && n == 2) {
        check(!strcmp(parts[0].name, "mask") && parts[0].len == 1 && parts[0].data[0] == '1',
              "field value");
        const mp_part *f = mp_find(parts, n, "file");
        static const char want[] = "\x89PNG\r\n--XyZnot-a-delimiter\r\n";
        check(f && !strcmp(f->filename, "a \"b\".png") && !strcmp(f->content_type, "image/png"),
              "filename with escaped quotes, content type");
        check(f && f->len == sizeof want - 1 && !memcmp(f->data, want, f->len),
              "file data keeps CRLF and a boundary-like line that is not a delimiter");
    }
    free(buf);
    static const char empty_file[] = "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--b--";
    rc = parse_copy(empty_file, sizeof empty_file - 1, "b", parts, &n, err, sizeof err, NULL);
    check(rc == 0 && n == 1 && parts[0].len == 0, "an empty part");
}

static void test_multipart_malformed(void)
{
    static const char *bodies[] = {
        "",
        "no boundary at all",
        "--b\r\n",
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata without an end",
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\nno blank line --b--",
        "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",                      /* no disposition */
        "--b\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nx\r\n--b--", /* not form-data */
        "--b\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nx\r\n--b--", /* no name */
        "--b\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nbroken header line\r\n\r\nx\r\n--b--",
        "--bX\r\n",          /* delimiter followed by junk */
        "--b\r\n\r\nx\r\n--b--", /* a part without headers */
        "--b--",             /* no parts at all: fine by RFC, checked below */
    };
    int nb = (int)(sizeof bodies / sizeof *bodies);
    mp_part parts[MP_MAX_PARTS];
    int n;
    char err[256];
    for (int i = 0; i < nb; i++) {
        size_t len = strlen(bodies[i]);
        int rc = parse_copy(bodies[i], len, "b", parts, &n, err, sizeof err, NULL);
        char what[128];
        int want_ok = i == nb - 1;
        snprintf(what, sizeof what, "malformed body %d rejected (%s)", i, want_ok ? "empty ok" : "error");
        check(want_ok ? rc == 0 && n == 0 : rc == -1 && err[0], what);
    }
    /* Every truncation of a valid body: never crashes, never reads past the
     * end (ASan), and only complete bodies parse with the full file. */
    static const char good[] = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n"
                               "Content-Type: image/png\r\n\r\n0123456789\r\n--b--\r\n";
    int bad_prefix = 0;
    for (size_t len = 0; len < sizeof good - 1; len++) {
        int rc = parse_copy(good, len, "b", parts, &n, err, sizeof err, NULL);
        /* The body is complete once "--b--" is in: anything shorter fails. */
        size_t complete = strstr(good, "--b--") - good + 5;
        if ((len < complete && rc == 0) || (len >= complete && (rc != 0 || parts[0].len != 10))) bad_prefix++;
    }
    check(bad_prefix == 0, "every truncation of a valid body: rejected until complete, then exact");
    /* Too many parts. */
    char many[4096] = "";
    for (int i = 0; i < MP_MAX_PARTS + 1; i++) strcat(many, "--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n");
    strcat(many, "--b--");
    check(parse_copy(many, strlen(many), "b", parts, &n, err, sizeof err, NULL) == -1,
          "more than MP_MAX_PARTS parts rejected");
    /* Part headers larger than the limit. */
    size_t hl = MP_MAX_HEADER_BLOCK + 100;
    char *big = malloc(hl + 64);
    if (!big) exit(2);
    strcpy(big, "--b\r\nX-Pad: ");
    size_t o = strlen(big);
    memset(big + o, 'p', hl);
    strcpy(big + o + hl, "\r\n\r\nx\r\n--b--");
    check(parse_copy(big, strlen(big), "b", parts, &n, err, sizeof err, NULL) == -1,
          "part headers over MP_MAX_HEADER_BLOCK rejected");
    free(big);
    /* Pseudo-random bytes after a valid start: must return, either way. */
    unsigned s = 12345;
    int survived = 0;
    for (int t = 0; t < 2000; t++) {
        char buf[256];
        size_t len = 5 + (size_t)(t % 200);
        memcpy(buf, "--b\r\n", 5);
        for (size_t i = 5; i < len; i++) {
            s = s * 1103515245u + 12345u;
            const char alphabet[] = "-b\r\n\"=;: Content-Disposition form-data name x";
            buf[i] = alphabet[(s >> 16) % (sizeof alphabet - 1)];
        }
        int rc = parse_copy(buf, len, "b", parts, &n, err, sizeof err, NULL);
        if (rc == 0 || rc == -1) survived++;
        if (rc == 0)
            for (int k = 0; k < n; k++) /* parts lie inside the buffer by construction */
                if (parts[k].len > len) survived--;
    }
    check(survived == 2000, "2000 random bodies from a delimiter alphabet: all return, parts in bounds");
}

int main(void)
{
    test_urlencoded();
    test_boundary();
    test_multipart_ok();
    test_multipart_malformed();
    printf("%s\n", failures ? "test_fcgi_form: FAILED" : "test_fcgi_form: all passed");
    return failures ? 1 : 0;
}
