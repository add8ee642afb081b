#include "json_in.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *s;
    size_t len, i;
    char *out; /* the object's buffer */
    size_t o;
    char *err;
    size_t errlen;
} reader;

static int fail(reader *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(reader *r, size_t at, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (r->err && r->errlen) snprintf(r->err, r->errlen, "bad JSON at byte %zu: %s", at, what);
    return -1;
}

static void skip_ws(reader *r)
{
    while (r->i < r->len && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int hex4(reader *r, size_t at, unsigned *v)
{
    if (r->len - at < 4) return fail(r, at, "\\u needs four hex digits");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = r->s[at + (size_t)k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return fail(r, at + (size_t)k, "\\u needs four hex digits");
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

static void put_utf8(reader *r, unsigned cp)
{
    char *p = r->out + r->o;
    if (cp < 0x80) {
        p[0] = (char)cp;
        r->o += 1;
    } else if (cp < 0x800) {
        p[0] = (char)(0xc0 | cp >> 6);
        p[1] = (char)(0x80 | (cp & 0x3f));
        r->o += 2;
    } else if (cp < 0x10000) {
        p[0] = (char)(0xe0 | cp >> 12);
        p[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        p[2] = (char)(0x80 | (cp & 0x3f));
        r->o += 3;
    } else {
        p[0] = (char)(0xf0 | cp >> 18);
        p[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        p[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        p[3] = (char)(0x80 | (cp & 0x3f));
        r->o += 4;
    }
}

/* One \uXXXX escape (a surrogate pair: two) at r->i, which is at the 'u'. */
static int unicode_escape(reader *r)
{
    size_t at = r->i - 1; /* the backslash */
    unsigned cp;
    if (hex4(r, r->i + 1, &cp)) return -1;
    r->i += 5;
    if (cp >= 0xdc00 && cp <= 0xdfff) return fail(r, at, "a low surrogate without a high one");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (r->len - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
            return fail(r, at, "a high surrogate without a low one");
        if (hex4(r, r->i + 2, &lo)) return -1;
        if (lo < 0xdc00 || lo > 0xdfff) return fail(r, at, "a high surrogate without a low one");
        r->i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    put_utf8(r, cp);
    return 0;
}

/* A string at r->i (the opening quote) into the buffer, NUL-terminated;
 * decoded text never is longer than its JSON form. */
static int read_string(reader *r, const char **out, size_t *outlen)
{
    size_t start = r->i++;
    *out = r->out + r->o;
    size_t o0 = r->o;
    for (;;) {
        if (r->i >= r->len) return fail(r, start, "a string is not closed");
        uint8_t c = r->s[r->i];
        if (c == '"') break;
        if (c < 0x20) return fail(r, r->i, "a control character in a string (escape it)");
        if (c != '\\') {
            r->out[r->o++] = (char)c;
            r->i++;
            continue;
        }
        if (++r->i >= r->len) return fail(r, start, "a string is not closed");
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = memchr(from, r->s[r->i], sizeof from - 1);
        if (e) {
            r->out[r->o++] = to[e - from];
            r->i++;
        } else if (r->s[r->i] == 'u') {
            if (unicode_escape(r)) return -1;
        } else {
            return fail(r, r->i - 1, "unknown escape");
        }
    }
    r->i++;
    *outlen = r->o - o0;
    r->out[r->o++] = '\0';
    return 0;
}

static int is_digit(reader *r, size_t i) { return i < r->len && r->s[i] >= '0' && r->s[i] <= '9'; }

/* RFC 8259 number grammar; its text is copied as it stands. */
static int read_number(reader *r, const char **out, size_t *outlen)
{
    size_t start = r->i, i = r->i;
    if (i < r->len && r->s[i] == '-') i++;
    if (!is_digit(r, i)) return fail(r, i, "a number needs a digit");
    if (r->s[i] == '0') i++;
    else
        while (is_digit(r, i)) i++;
    if (i < r->len && r->s[i] == '.') {
        if (!is_digit(r, ++i)) return fail(r, i, "a digit must follow the decimal point");
        while (is_digit(r, i)) i++;
    }
    if (i < r->len && (r->s[i] == 'e' || r->s[i] == 'E')) {
        i++;
        if (i < r->len && (r->s[i] == '+' || r->s[i] == '-')) i++;
        if (!is_digit(r, i)) return fail(r, i, "an exponent needs a digit");
        while (is_digit(r, i)) i++;
    }
    *out = r->out + r->o;
    *outlen = i - start;
    memcpy(r->out + r->o, r->s + start, *outlen);
    r->o += *outlen;
    r->out[r->o++] = '\0';
    r->i = i;
    return 0;
}

static int read_value(reader *r, json_member *m)
{
    static const struct { const char *word; json_kind kind; const char *text; } words[] = {
        {"true", JSON_TRUE, "true"}, {"false", JSON_FALSE, "false"}, {"null", JSON_NULL, ""}};
    if (r->i >= r->len) return fail(r, r->i, "a value is missing");
    uint8_t c = r->s[r->i];
    if (c == '"') {
        m->kind = JSON_STRING;
        return read_string(r, &m->val, &m->vlen);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        m->kind = JSON_NUMBER;
        return read_number(r, &m->val, &m->vlen);
    }
    if (c == '{' || c == '[') return fail(r, r->i, "nested objects and arrays are not accepted");
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t n = strlen(words[k].word);
        if (r->len - r->i >= n && !memcmp(r->s + r->i, words[k].word, n)) {
            m->kind = words[k].kind;
            m->val = words[k].text;
            m->vlen = strlen(words[k].text);
            r->i += n;
            return 0;
        }
    }
    return fail(r, r->i, "expected a string, number, true, false or null");
}

static int parse(reader *r, json_object *o)
{
    skip_ws(r);
    if (r->i >= r->len || r->s[r->i] != '{') return fail(r, r->i, "expected an object ('{')");
    r->i++;
    skip_ws(r);
    if (r->i < r->len && r->s[r->i] == '}') {
        r->i++;
    } else {
        for (;;) {
            skip_ws(r);
            size_t kat = r->i;
            if (r->i >= r->len || r->s[r->i] != '"') return fail(r, r->i, "expected a member name");
            if (o->n == JSON_MAX_MEMBERS)
                return fail(r, r->i, "more than %d members", JSON_MAX_MEMBERS);
            json_member *m = &o->m[o->n];
            if (read_string(r, &m->key, &m->klen)) return -1;
            for (int k = 0; k < o->n; k++)
                if (o->m[k].klen == m->klen && !memcmp(o->m[k].key, m->key, m->klen))
                    return fail(r, kat, "duplicate member name");
            skip_ws(r);
            if (r->i >= r->len || r->s[r->i] != ':') return fail(r, r->i, "expected ':'");
            r->i++;
            skip_ws(r);
            if (read_value(r, m)) return -1;
            o->n++;
            skip_ws(r);
            if (r->i < r->len && r->s[r->i] == ',') {
                r->i++;
                continue;
            }
            if (r->i < r->len && r->s[r->i] == '}') {
                r->i++;
                break;
            }
            return fail(r, r->i, "expected ',' or '}'");
        }
    }
    skip_ws(r);
    if (r->i != r->len) return fail(r, r->i, "text after the object");
    return 0;
}

int json_parse_object(const uint8_t *text, size_t len, json_object *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    if (err && errlen) err[0] = '\0';
    /* Every key and value fits in its own JSON text plus a NUL. */
    if (len > SIZE_MAX / 2) {
        if (err && errlen) snprintf(err, errlen, "JSON text too large");
        return -1;
    }
    reader r = {text, len, 0, malloc(len + 2 * JSON_MAX_MEMBERS + 2), 0, err, errlen};
    if (!r.out) {
        if (err && errlen) snprintf(err, errlen, "out of memory reading JSON");
        return -1;
    }
    o->buf = r.out;
    if (parse(&r, o)) {
        json_object_free(o);
        return -1;
    }
    return 0;
}

void json_object_free(json_object *o)
{
    free(o->buf);
    memset(o, 0, sizeof *o);
}

const json_member *json_find(const json_object *o, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < o->n; i++)
        if (o->m[i].klen == n && !memcmp(o->m[i].key, key, n)) return &o->m[i];
    return NULL;
}
