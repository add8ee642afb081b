/* fcgi/sigv4.c (compiled in here): SHA-256 against FIPS 180-4's examples
 * and Python hashlib's digests at the padding boundaries, HMAC-SHA256
 * against RFC 4231, and the presigned URL against the example of AWS's
 * "Authenticating Requests: Using Query Parameters (AWS Signature Version
 * 4)" (Amazon S3 API reference), signature and URL. */
#include "../../fcgi/sigv4.c"
#include "../../fcgi/strbuf.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static int sha_is(const void *data, size_t len, const char *want)
{
    uint8_t d[32];
    char hex[65];
    sv_sha256(data, len, d);
    sv_hex(d, 32, hex);
    return !strcmp(hex, want);
}

static void test_sha256(void)
{
    check(sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('')");
    check(sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256('abc')");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(sha_is(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          "sha256 of the two-block FIPS example");
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    check(sha_is(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          "sha256 of a million 'a'");
    free(a);
    /* Bytes (i*7+3)&255, digests from Python's hashlib. */
    static const struct { size_t n; const char *hex; } b[] = {
        {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
        {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
        {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
        {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
        {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
        {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
        {128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"},
    };
    uint8_t data[128];
    for (int i = 0; i < 128; i++) data[i] = (uint8_t)((i * 7 + 3) & 255);
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "sha256 of %zu bytes (padding boundary)", b[i].n);
        check(sha_is(data, b[i].n, b[i].hex), what);
    }
}

static int hmac_is(const void *key, size_t klen, const char *msg, const char *want)
{
    uint8_t d[32];
    char hex[65];
    sv_hmac_sha256(key, klen, msg, strlen(msg), d);
    sv_hex(d, 32, hex);
    return !strcmp(hex, want);
}

static void test_hmac(void)
{
    uint8_t k1[20], k6[131];
    memset(k1, 0x0b, sizeof k1);
    memset(k6, 0xaa, sizeof k6);
    check(hmac_is(k1, 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
          "hmac-sha256 RFC 4231 case 1");
    check(hmac_is("Jefe", 4, "what do ya want for nothing?",
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
          "hmac-sha256 RFC 4231 case 2");
    check(hmac_is(k6, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
                  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
          "hmac-sha256 RFC 4231 case 6 (a key longer than a block)");
}

static void test_presign(void)
{
    sv_presign_req r = {
        .base = "https://examplebucket.s3.amazonaws.com",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .region = "us-east-1",
        .service = "s3",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        .amz_date = "20130524T000000Z",
        .expires_s = 86400,
    };
    char url[2048];
    int rc = sv_presign_get(&r, url, sizeof url);
    check(!rc && !strcmp(url, "https://examplebucket.s3.amazonaws.com/test.txt"
                              "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
          "presigned GET = the AWS documentation's example URL and signature");
    if (rc || !strstr(url, "aeeed9bb")) printf("     got %s\n", rc ? "(error)" : url);
    r.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz";
    check(!sv_presign_get(&r, url, sizeof url) && !strstr(url, "aeeed9bb"), "another secret, another signature");
    r.amz_date = "2013-05-24T00:00Z";
    check(sv_presign_get(&r, url, sizeof url) == -1, "a malformed date is refused");
    r.amz_date = "20130524T000000Z";
    r.expires_s = 604801;
    check(sv_presign_get(&r, url, sizeof url) == -1, "X-Amz-Expires over 7 days is refused");
    r.expires_s = 60;
    check(sv_presign_get(&r, url, 100) == -1, "a URL that does not fit is refused");
    char enc[64];
    check(!sv_uri_encode("a b/c~d+e%", 1, enc, sizeof enc) && !strcmp(enc, "a%20b/c~d%2Be%25"),
          "uri encoding keeps unreserved characters and '/', upper-case hex");
    check(!sv_uri_encode("a/b", 0, enc, sizeof enc) && !strcmp(enc, "a%2Fb"), "uri encoding of '/' in a value");
    check(sv_uri_encode("abcdef", 0, enc, 6) == -1, "uri encoding that does not fit is refused");
}

int main(void)
{
    test_sha256();
    test_hmac();
    test_presign();
    if (failures) printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
