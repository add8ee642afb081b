/* Query strings, urlencoded forms and multipart/form-data. All input is
 * outside data: every index is checked against the length it came with,
 * and nothing here reads past a buffer or relies on NUL termination of the
 * body. */
#include "form.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
    return -1;
}

/* ------------------------------------------------------------ urlencoded */

int form_add(form_params *p, const char *key, size_t klen, const char *val, size_t vlen, char *err,
             size_t errlen)
{
    if (klen == 0) return 0;
    if (memchr(key, '\0', klen) || memchr(val, '\0', vlen))
        return set_err(err, errlen, "a parameter contains a NUL byte");
    if (klen >= FORM_KEY_LEN) return set_err(err, errlen, "a parameter name is too long");
    if (vlen >= FORM_VALUE_LEN) {
        if (err && errlen)
            snprintf(err, errlen, "the value of parameter '%.*s' is too long (at most %d bytes)",
                     (int)klen, key, FORM_VALUE_LEN - 1);
        return -1;
    }
    if (p->n == FORM_MAX_PARAMS) return set_err(err, errlen, "too many parameters");
    form_param *fp = &p->v[p->n++];
    memcpy(fp->key, key, klen);
    fp->key[klen] = '\0';
    memcpy(fp->value, val, vlen);
    fp->value[vlen] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out (at most outcap bytes). The decoded
 * length, or -1 (bad escape, too long). */
static long url_decode(const char *s, size_t len, char *out, size_t outcap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (len - i < 3) return -1; /* needs two hex digits */
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o == outcap) return -1;
        out[o++] = c;
    }
    return (long)o;
}

int form_parse_urlencoded(const char *s, size_t len, form_params *p, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&') end++;
        size_t eq = i;
        while (eq < end && s[eq] != '=') eq++;
        char k[FORM_KEY_LEN], v[FORM_VALUE_LEN];
        long kl = url_decode(s + i, eq - i, k, sizeof k - 1);
        long vl = eq < end ? url_decode(s + eq + 1, end - eq - 1, v, sizeof v - 1) : 0;
        if (kl < 0 || vl < 0) {
            if (err && errlen)
                snprintf(err, errlen, "malformed or too long parameter '%.*s'",
                         (int)(eq - i > 40 ? 40 : eq - i), s + i);
            return -1;
        }
        if (kl > 0 && form_add(p, k, (size_t)kl, v, (size_t)vl, err, errlen)) return -1;
        i = end + 1;
    }
    return 0;
}

const char *form_get(const form_params *p, const char *key)
{
    for (int i = p->n - 1; i >= 0; i--)
        if (!strcmp(p->v[i].key, key)) return p->v[i].value;
    return NULL;
}

/* ------------------------------------------------------------ multipart */

static int is_space(char c) { return c == ' ' || c == '\t'; }

int mp_boundary(const char *ct, char *out, size_t outlen)
{
    if (!ct) return -1;
    while (is_space(*ct)) ct++;
    static const char type[] = "multipart/form-data";
    if (strncasecmp(ct, type, sizeof type - 1)) return -1;
    const char *p = ct + sizeof type - 1;
    while (*p) {
        while (is_space(*p)) p++;
        if (*p != ';') return -1;
        p++;
        while (is_space(*p)) p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ';' && !is_space(*p)) p++;
        size_t klen = (size_t)(p - key);
        if (*p != '=') return -1;
        p++;
        char val[128];
        size_t vlen = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                if (vlen + 1 >= sizeof val) return -1;
                val[vlen++] = *p++;
            }
            if (*p != '"') return -1;
            p++;
        } else {
            while (*p && *p != ';' && !is_space(*p)) {
                if (vlen + 1 >= sizeof val) return -1;
                val[vlen++] = *p++;
            }
        }
        val[vlen] = '\0';
        if (klen == 8 && !strncasecmp(key, "boundary", 8)) {
            if (vlen < 1 || vlen > 70 || vlen + 1 > outlen) return -1;
            memcpy(out, val, vlen + 1);
            return 0;
        }
    }
    return -1;
}

/* First index >= from where needle occurs in hay[0..len), or len. */
static size_t find(const uint8_t *hay, size_t len, size_t from, const uint8_t *needle, size_t nlen)
{
    if (nlen == 0 || len < nlen) return len;
    for (size_t i = from; i + nlen <= len; i++) {
        const uint8_t *q = memchr(hay + i, needle[0], len - nlen + 1 - i);
        if (!q) return len;
        i = (size_t)(q - hay);
        if (!memcmp(hay + i, needle, nlen)) return i;
    }
    return len;
}

/* Copies the value of parameter pname from a header line's parameters
 * (line[0..len), after the header name) into out; 1 found, 0 not found,
 * -1 malformed or too long. */
static int header_param(const char *line, size_t len, const char *pname, char *out, size_t outlen,
                        int truncate_ok)
{
    size_t i = 0, pl = strlen(pname);
    while (i < len) {
        while (i < len && line[i] != ';') {
            if (line[i] == '"') { /* skip a quoted string outside parameters */
                i++;
                while (i < len && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
            }
            i++;
        }
        if (i >= len) return 0;
        i++; /* ';' */
        while (i < len && is_space(line[i])) i++;
        size_t k0 = i;
        while (i < len && line[i] != '=' && line[i] != ';' && !is_space(line[i])) i++;
        size_t klen = i - k0;
        while (i < len && is_space(line[i])) i++;
        if (i >= len || line[i] != '=') continue;
        i++;
        while (i < len && is_space(line[i])) i++;
        size_t o = 0;
        int trunc = 0;
        if (i < len && line[i] == '"') {
            i++;
            while (i < len && line[i] != '"') {
                if (line[i] == '\\' && i + 1 < len) i++;
                if (o + 1 < outlen) out[o++] = line[i];
                else trunc = 1;
                i++;
            }
            if (i >= len) return -1; /* unterminated quote */
            i++;
        } else {
            while (i < len && line[i] != ';' && !is_space(line[i])) {
                if (o + 1 < outlen) out[o++] = line[i];
                else trunc = 1;
                i++;
            }
        }
        out[o] = '\0';
        if (klen == pl && !strncasecmp(line + k0, pname, pl)) {
            if (trunc && !truncate_ok) return -1;
            return 1;
        }
    }
    return 0;
}

#define MP_MAX_HEADER_BLOCK 8192

/* Parses the header block hdr[0..len) of one part (without the blank line). */
static int part_headers(const char *hdr, size_t len, mp_part *part, char *err, size_t errlen)
{
    int has_disposition = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && !(hdr[e] == '\r' && e + 1 < len && hdr[e + 1] == '\n')) e++;
        const char *line = hdr + i;
        size_t ll = e - i;
        static const char cd[] = "content-disposition:", ctype[] = "content-type:";
        if (ll >= sizeof cd - 1 && !strncasecmp(line, cd, sizeof cd - 1)) {
            const char *v = line + sizeof cd - 1;
            size_t vl = ll - (sizeof cd - 1);
            while (vl && is_space(*v)) v++, vl--;
            if (vl < 9 || strncasecmp(v, "form-data", 9))
                return set_err(err, errlen, "multipart: a part is not form-data");
            int r = header_param(v, vl, "name", part->name, sizeof part->name, 0);
            if (r <= 0) return set_err(err, errlen, "multipart: a part has no valid name");
            if (header_param(v, vl, "filename", part->filename, sizeof part->filename, 1) < 0)
                return set_err(err, errlen, "multipart: malformed filename");
            has_disposition = 1;
        } else if (ll >= sizeof ctype - 1 && !strncasecmp(line, ctype, sizeof ctype - 1)) {
            const char *v = line + sizeof ctype - 1;
            size_t vl = ll - (sizeof ctype - 1);
            while (vl && is_space(*v)) v++, vl--;
            size_t n = vl < sizeof part->content_type - 1 ? vl : sizeof part->content_type - 1;
            memcpy(part->content_type, v, n);
            part->content_type[n] = '\0';
        } else if (!memchr(line, ':', ll)) {
            return set_err(err, errlen, "multipart: malformed part header");
        }
        i = e + 2;
    }
    if (!has_disposition) return set_err(err, errlen, "multipart: a part has no Content-Disposition");
    return 0;
}

/* Whether what follows a boundary at pos makes it a delimiter. A body
 * cut right after the boundary is not one. */
static int is_delimiter_end(const uint8_t *body, size_t len, size_t pos)
{
    if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-') return 1;
    while (pos < len && is_space((char)body[pos])) pos++;
    return len - pos >= 2 && body[pos] == '\r' && body[pos + 1] == '\n';
}

int mp_parse(const uint8_t *body, size_t len, const char *boundary, mp_part *parts, int max_parts,
             int *nparts, char *err, size_t errlen)
{
    *nparts = 0;
    size_t blen = strlen(boundary);
    if (blen < 1 || blen > 70) return set_err(err, errlen, "multipart: bad boundary");
    /* "\r\n--" + boundary; the first delimiter may be at the very start. */
    uint8_t delim[2 + 2 + 70];
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    size_t dlen = 4 + blen;

    size_t pos;
    if (len >= dlen - 2 && !memcmp(body, delim + 2, dlen - 2)) {
        pos = dlen - 2;
    } else {
        size_t at = find(body, len, 0, delim, dlen); /* after a preamble */
        if (at == len) return set_err(err, errlen, "multipart: no boundary found in the body");
        pos = at + dlen;
    }
    for (;;) {
        /* pos is just after a delimiter: "--" closes, else padding + CRLF. */
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-') return 0;
        while (pos < len && is_space((char)body[pos])) pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return set_err(err, errlen, "multipart: truncated or malformed delimiter line");
        pos += 2;
        if (*nparts == max_parts) return set_err(err, errlen, "multipart: too many parts");
        mp_part *part = &parts[*nparts];
        memset(part, 0, sizeof *part);
        /* Headers end at the first empty line (a part with no headers starts
         * with CRLF right away). */
        size_t hend;
        if (len - pos >= 2 && body[pos] == '\r' && body[pos + 1] == '\n') {
            hend = pos;
        } else {
            size_t limit = len - pos > MP_MAX_HEADER_BLOCK ? pos + MP_MAX_HEADER_BLOCK : len;
            hend = find(body, limit, pos, (const uint8_t *)"\r\n\r\n", 4);
            if (hend == limit) return set_err(err, errlen, "multipart: part headers not terminated");
        }
        if (part_headers((const char *)body + pos, hend - pos, part, err, errlen)) return -1;
        size_t dstart = hend == pos ? pos + 2 : hend + 4;
        if (dstart > len) return set_err(err, errlen, "multipart: truncated part");
        /* The data ends at the first "CRLF--boundary" that is a real
         * delimiter: followed by "--", or by optional blanks and CRLF. */
        size_t dend = dstart;
        for (;;) {
            dend = find(body, len, dend, delim, dlen);
            if (dend == len) return set_err(err, errlen, "multipart: missing closing boundary");
            if (is_delimiter_end(body, len, dend + dlen)) break;
            dend++;
        }
        part->data = body + dstart;
        part->len = dend - dstart;
        (*nparts)++;
        pos = dend + dlen;
    }
}

const mp_part *mp_find(const mp_part *parts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(parts[i].name, name)) return &parts[i];
    return NULL;
}
