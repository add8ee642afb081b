/* fcgi/json_in.c (compiled in here): what POST /remove's JSON body may be
 * and the hostile texts it must refuse with the byte offset: truncations
 * (every prefix of a valid document), bad escapes, lone surrogates,
 * nesting, duplicates, too many members, NUL bytes, huge numbers, a 1 MB
 * string. Each text is parsed from an exactly-sized heap copy, so
 * AddressSanitizer (make sanitize-test) catches any read past its end. */
#include "../../fcgi/json_in.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static int parse_n(const char *text, size_t len, json_object *o, char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) exit(2);
    memcpy(copy, text, len);
    int rc = json_parse_object(copy, len, o, err, errlen);
    free(copy);
    return rc;
}

static int parse_text(const char *text, json_object *o, char *err, size_t errlen)
{
    return parse_n(text, strlen(text), o, err, errlen);
}

static int member_is(const json_object *o, const char *key, json_kind kind, const char *val, size_t vlen)
{
    const json_member *m = json_find(o, key);
    return m && m->kind == kind && m->vlen == vlen && !memcmp(m->val, val, vlen) && m->val[vlen] == '\0';
}

static const char doc[] =
    " {\"image\": \"iVBORw0KGgo=\", \"model\":\"u2netp\" ,\"margin\":-12.5e+3,\"mask\":true,"
    "\"crop\":false,\"bg\":null,\"esc\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\"}\r\n";

static void test_valid(void)
{
    json_object o;
    char err[256];
    int rc = parse_text(doc, &o, err, sizeof err);
    check(rc == 0 && o.n == 7, "a document with every kind of value parses");
    if (rc) {
        printf("     %s\n", err);
        return;
    }
    check(member_is(&o, "image", JSON_STRING, "iVBORw0KGgo=", 12) &&
              member_is(&o, "model", JSON_STRING, "u2netp", 6), "strings");
    check(member_is(&o, "margin", JSON_NUMBER, "-12.5e+3", 8), "a number keeps its text");
    check(member_is(&o, "mask", JSON_TRUE, "true", 4) && member_is(&o, "crop", JSON_FALSE, "false", 5) &&
              member_is(&o, "bg", JSON_NULL, "", 0), "true, false, null");
    check(member_is(&o, "esc", JSON_STRING, "a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 18),
          "escapes, \\u to UTF-8, a surrogate pair to 4 bytes");
    check(!json_find(&o, "nope") && !json_find(&o, "imag"), "json_find: absent keys");
    json_object_free(&o);
    rc = parse_text("{}", &o, err, sizeof err);
    check(rc == 0 && o.n == 0, "{} is an empty object");
    json_object_free(&o);
    rc = parse_n("{\"k\":\"a\\u0000b\"}", 16, &o, err, sizeof err);
    check(rc == 0 && member_is(&o, "k", JSON_STRING, "a\0b", 3), "\\u0000 kept with its length");
    json_object_free(&o);
}

/* Refused, with "bad JSON at byte AT" in the message. */
static void refused_n(const char *text, size_t len, long at, const char *what)
{
    json_object o;
    char err[256] = "", want[64], msg[400];
    int rc = parse_n(text, len, &o, err, sizeof err);
    snprintf(want, sizeof want, "bad JSON at byte %ld:", at);
    snprintf(msg, sizeof msg, "refused: %s (%s)", what, err);
    check(rc == -1 && (at < 0 ? !strncmp(err, "bad JSON at byte ", 17) : !strncmp(err, want, strlen(want))) &&
              o.buf == NULL && o.n == 0,
          msg);
}

static void refused(const char *text, long at, const char *what) { refused_n(text, strlen(text), at, what); }

static void test_refused(void)
{
    refused("", 0, "empty");
    refused("[]", 0, "an array at the top");
    refused("\"s\"", 0, "a string at the top");
    refused("{\"a\":{}}", 5, "a nested object");
    refused("{\"a\":[1]}", 5, "a nested array");
    refused("{\"a\":1,\"a\":2}", 7, "a duplicate key");
    refused("{\"a\":1}x", 7, "text after the object");
    refused("{\"a\":1}{}", 7, "a second object");
    refused("{\"a\":1,}", 7, "a trailing comma");
    refused("{,}", 1, "a lone comma");
    refused("{a:1}", 1, "an unquoted key");
    refused("{\"a\" 1}", 5, "no colon");
    refused("{\"a\":}", 5, "no value");
    refused("{\"a\":tru}", 5, "a cut word");
    refused("{\"a\":True}", 5, "a capitalised word");
    refused("{\"a\":01}", 6, "a leading zero");
    refused("{\"a\":1.}", 7, "no digit after the point");
    refused("{\"a\":1e}", 7, "no exponent digit");
    refused("{\"a\":-}", 6, "a lone minus");
    refused("{\"a\":+1}", 5, "a plus sign");
    refused("{\"a\":\"\\x\"}", 6, "an unknown escape");
    refused("{\"a\":\"\\u12\"}", 10, "a short \\u");
    refused("{\"a\":\"\\u12G4\"}", 10, "a non-hex \\u digit");
    refused("{\"a\":\"\\ud800\"}", 6, "a lone high surrogate");
    refused("{\"a\":\"\\ud800x\"}", 6, "a high surrogate then a letter");
    refused("{\"a\":\"\\ud800\\u0041\"}", 6, "a high surrogate then no low one");
    refused("{\"a\":\"\\udc00\"}", 6, "a lone low surrogate");
    refused("{\"a\":\"x\ty\"}", 7, "a raw tab in a string");
    refused_n("{\"a\":\"x\0y\"}", 11, 7, "a raw NUL byte in a string");
    refused_n("{\"a\":1\0}", 8, 6, "a NUL byte between tokens");
    refused("{\"a\":\"abc", 5, "an unclosed string");
}

static void test_prefixes(void)
{
    size_t len = strlen(doc);
    int ok = 1;
    /* The document ends in "}\r\n": every prefix up to the '}' is refused. */
    for (size_t n = 0; n < len - 2; n++) {
        json_object o;
        char err[256] = "";
        ok &= parse_n(doc, n, &o, err, sizeof err) == -1 && !strncmp(err, "bad JSON at byte ", 17);
    }
    check(ok, "every proper prefix of a valid document is refused");
}

static void test_limits(void)
{
    char text[64 * 16 + 16];
    size_t o = 0;
    text[o++] = '{';
    for (int i = 0; i < 65; i++) o += (size_t)sprintf(text + o, "%s\"k%d\":%d", i ? "," : "", i, i);
    text[o++] = '}';
    text[o] = '\0';
    refused(text, -1, "65 members");
    json_object ob;
    char err[256];
    char *end = strstr(text, ",\"k64\"");
    end[0] = '}';
    end[1] = '\0';
    int rc = parse_text(text, &ob, err, sizeof err);
    check(rc == 0 && ob.n == 64 && member_is(&ob, "k63", JSON_NUMBER, "63", 2), "64 members are accepted");
    json_object_free(&ob);

    /* A number of 100 000 digits: accepted as text (the option parsers judge it). */
    size_t big = 100000;
    char *num = malloc(big + 16);
    memcpy(num, "{\"n\":", 5);
    memset(num + 5, '9', big);
    memcpy(num + 5 + big, "}", 2);
    rc = parse_text(num, &ob, err, sizeof err);
    check(rc == 0 && json_find(&ob, "n")->vlen == big, "a 100000-digit number is kept as text");
    json_object_free(&ob);
    free(num);

    /* A 1 MB string of escapes: decoded to 1/6 of its length... */
    size_t n = 1 << 20;
    char *s = malloc(n * 6 + 16);
    o = 0;
    memcpy(s, "{\"s\":\"", 6);
    o = 6;
    for (size_t i = 0; i < n; i++, o += 6) memcpy(s + o, "\\u0041", 6);
    memcpy(s + o, "\"}", 3);
    rc = parse_text(s, &ob, err, sizeof err);
    check(rc == 0 && json_find(&ob, "s")->vlen == n, "a string of 1 Mi \\u escapes decodes");
    json_object_free(&ob);
    /* ...and a 1 MB raw string left unclosed: refused at its quote. */
    memset(s + 6, 'A', n);
    s[6 + n] = '\0';
    refused(s, 5, "a 1 MB string without its closing quote");
    free(s);
}

int main(void)
{
    test_valid();
    test_refused();
    test_prefixes();
    test_limits();
    printf("%s\n", failures ? "test_json_in: FAILED" : "test_json_in: all passed");
    return failures ? 1 : 0;
}
