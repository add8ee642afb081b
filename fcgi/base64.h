/* Base64 (RFC 4648 section 4, the standard alphabet with '=' padding) for
 * the JSON form of POST /remove: the one encoder and decoder of the server.
 * Decoding is strict: no whitespace, no missing or misplaced padding, no
 * bits left over after the last byte (one text per byte string). */
#ifndef CUTOUT_FCGI_BASE64_H
#define CUTOUT_FCGI_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters that n bytes encode to (no NUL counted); SIZE_MAX when that
 * does not fit a size_t. */
size_t b64_encoded_len(size_t n);

/* Writes b64_encoded_len(n) characters to out (no NUL). */
void b64_encode(const uint8_t *in, size_t n, char *out);

/* Most bytes that len characters decode to (what out must hold). */
size_t b64_decoded_max(size_t len);

/* Decodes in[0..len) into out (b64_decoded_max(len) bytes); *outlen gets
 * the byte count. 0, or -1 with *bad_at the offset of the first character
 * that is wrong (len when the text is cut short). */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen, size_t *bad_at);

#endif
