/* libFuzzer entry point for the request-body parsers of fcgi/form.c: the
 * multipart/form-data splitter (mp_boundary, mp_parse, mp_find) and the
 * urlencoded parser. Input: a Content-Type value, a newline, then the body.
 * Built and run by tests/fuzz/run-fuzz multipart. Every part found must lie
 * inside the body with NUL-terminated names; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t clen = nl ? (size_t)(nl - data) : size;
    char ctype[512];
    if (clen >= sizeof ctype) return 0;
    memcpy(ctype, data, clen);
    ctype[clen] = '\0';
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);
    /* A copy of exactly blen bytes: ASan sees any read past the body. */
    uint8_t *copy = malloc(blen ? blen : 1);
    if (!copy) return 0;
    memcpy(copy, body, blen);

    char err[256], boundary[80];
    form_params fp;
    memset(&fp, 0, sizeof fp);
    if (form_parse_urlencoded((const char *)copy, blen, &fp, err, sizeof err) == 0) {
        if (fp.n < 0 || fp.n > FORM_MAX_PARAMS) abort();
        for (int i = 0; i < fp.n; i++)
            if (!memchr(fp.v[i].key, 0, FORM_KEY_LEN) || !memchr(fp.v[i].value, 0, FORM_VALUE_LEN)) abort();
    } else if (!err[0]) abort();

    if (mp_boundary(ctype, boundary, sizeof boundary) == 0) {
        size_t bl = strlen(boundary);
        if (bl < 1 || bl > 70) abort();
        mp_part parts[MP_MAX_PARTS];
        int n = -1;
        err[0] = '\0';
        if (mp_parse(copy, blen, boundary, parts, MP_MAX_PARTS, &n, err, sizeof err) == 0) {
            if (n < 0 || n > MP_MAX_PARTS) abort();
            for (int i = 0; i < n; i++) {
                const mp_part *p = &parts[i];
                if (p->data < copy || p->len > blen || p->data + p->len > copy + blen) abort();
                if (!memchr(p->name, 0, sizeof p->name) || !memchr(p->filename, 0, sizeof p->filename) ||
                    !memchr(p->content_type, 0, sizeof p->content_type))
                    abort();
                if (mp_find(parts, n, p->name) == NULL) abort();
                for (size_t k = 0; k < p->len; k++) sink ^= p->data[k];
            }
        } else if (!err[0]) abort();
    }
    free(copy);
    return 0;
}
