/* fcgi/base64.c (compiled in here): RFC 4648's test vectors both ways, a
 * round trip of every length up to 300 over all byte values, and the
 * texts a strict decoder must refuse, each at the offset it names. */
#include "../../fcgi/base64.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* Decodes an exactly-sized heap copy of text (ASan sees reads past it). */
static int decode(const char *text, uint8_t *out, size_t *n, size_t *bad)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = b64_decode(copy, len, out, n, bad);
    free(copy);
    return rc;
}

static void test_vectors(void)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    int ok = 1;
    for (int i = 0; i < 7; i++) {
        char out[16] = {0};
        size_t n = strlen(plain[i]);
        b64_encode((const uint8_t *)plain[i], n, out);
        ok &= b64_encoded_len(n) == strlen(enc[i]) && !memcmp(out, enc[i], strlen(enc[i]));
        uint8_t dec[16];
        size_t dn, bad;
        ok &= decode(enc[i], dec, &dn, &bad) == 0 && dn == n && !memcmp(dec, plain[i], n);
    }
    check(ok, "RFC 4648 section 10 vectors encode and decode");
}

static void test_roundtrip(void)
{
    uint8_t in[300], back[303];
    char text[400];
    int ok = 1;
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)(i * 97 + n);
        b64_encode(in, n, text);
        size_t tl = b64_encoded_len(n), dn, bad;
        ok &= tl % 4 == 0 && b64_decoded_max(tl) <= sizeof back;
        ok &= b64_decode(text, tl, back, &dn, &bad) == 0 && dn == n && !memcmp(in, back, n);
        ok &= dn <= b64_decoded_max(tl);
    }
    check(ok, "every length 0..300 round-trips, within b64_decoded_max");
}

static void refused(const char *text, size_t at, const char *what)
{
    uint8_t out[64];
    size_t n = 99, bad = 99;
    int rc = decode(text, out, &n, &bad);
    char msg[160];
    snprintf(msg, sizeof msg, "refused: %s (at %zu, said %zu)", what, at, bad);
    check(rc == -1 && bad == at && n == 0, msg);
}

static void test_refused(void)
{
    refused("Zg=", 3, "cut short");
    refused("Zg", 2, "no padding");
    refused("Zm9v\n", 5, "a trailing newline");
    refused("Zm 9v", 2, "a space");
    refused("Zm9v YmFy", 4, "a space between groups");
    refused("Zh==", 1, "bits left after the last byte (Zh==)");
    refused("Zm9=", 2, "bits left after the last byte (Zm9=)");
    refused("Zg==Zm9v", 2, "padding before the end");
    refused("Z===", 1, "three padding characters");
    refused("====", 0, "padding only");
    refused("Zm-v", 2, "the URL alphabet's '-'");
    refused("Zm_v", 2, "the URL alphabet's '_'");
    refused("Zg=a", 2, "padding then a letter");
    char nul[] = {'Z', 'm', '\0', 'v'};
    uint8_t out[8];
    size_t n, bad = 99;
    check(b64_decode(nul, 4, out, &n, &bad) == -1 && bad == 2, "refused: a NUL byte");
}

int main(void)
{
    test_vectors();
    test_roundtrip();
    test_refused();
    printf("%s\n", failures ? "test_base64: FAILED" : "test_base64: all passed");
    return failures ? 1 : 0;
}
