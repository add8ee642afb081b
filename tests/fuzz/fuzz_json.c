/* libFuzzer entry point for POST /remove's JSON body: fcgi/json_in.c (the
 * object reader) and fcgi/base64.c (on every string member, and an encode
 * / decode round trip of the input itself). Built and run by
 * tests/fuzz/run-fuzz json. Every member must lie inside the object's
 * buffer with a NUL after it; a refusal must say why; a decoded string
 * re-encodes to itself; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "json_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_base64(const char *s, size_t n)
{
    uint8_t *out = malloc(b64_decoded_max(n));
    size_t len, bad;
    if (!out) return;
    if (b64_decode(s, n, out, &len, &bad) == 0) {
        /* Strict: one text per byte string, so it encodes back to itself. */
        if (len > b64_decoded_max(n) || b64_encoded_len(len) != n) abort();
        char *again = malloc(n ? n : 1);
        if (!again) abort();
        b64_encode(out, len, again);
        if (memcmp(again, s, n)) abort();
        free(again);
    } else if (bad > n) {
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes: ASan sees any read past the text. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    json_object o;
    char err[256];
    if (json_parse_object(copy, size, &o, err, sizeof err) == 0) {
        if (o.n < 0 || o.n > JSON_MAX_MEMBERS) abort();
        for (int i = 0; i < o.n; i++) {
            const json_member *m = &o.m[i];
            if (m->key[m->klen] || m->val[m->vlen] || m->klen > size || m->vlen > size) abort();
            for (int k = 0; k < i; k++)
                if (o.m[k].klen == m->klen && !memcmp(o.m[k].key, m->key, m->klen)) abort();
            if (m->kind == JSON_STRING) check_base64(m->val, m->vlen);
        }
        json_object_free(&o);
    } else if (strncmp(err, "bad JSON at byte ", 17) || o.buf) {
        abort();
    }
    /* The raw input as base64 text, and as bytes encoded and decoded. */
    check_base64((const char *)copy, size);
    size_t n = b64_encoded_len(size);
    char *enc = malloc(n ? n : 1);
    uint8_t *dec = malloc(b64_decoded_max(n));
    size_t len, bad;
    if (enc && dec) {
        b64_encode(copy, size, enc);
        if (b64_decode(enc, n, dec, &len, &bad) || len != size || memcmp(dec, copy, size)) abort();
    }
    free(enc);
    free(dec);
    free(copy);
    return 0;
}
