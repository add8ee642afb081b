/* The JSON form of POST /remove's body: one object whose members are
 * strings, numbers, true, false or null (RFC 8259, depth 1). Everything
 * else -- nested objects or arrays, duplicate keys, more than
 * JSON_MAX_MEMBERS members, bad escapes, lone surrogates, anything after
 * the object -- is refused with a sentence naming the byte offset. Every
 * read is checked against the length given; the text needs no NUL. */
#ifndef CUTOUT_FCGI_JSON_IN_H
#define CUTOUT_FCGI_JSON_IN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_MEMBERS 64

typedef enum { JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL } json_kind;

/* A member: key and value decoded (escapes resolved, UTF-8), each
 * NUL-terminated in the object's buffer; a string may hold NUL bytes
 * (\u0000): its length is klen / vlen. Numbers keep their text, true and
 * false read "true" / "false", null reads "". */
typedef struct {
    const char *key, *val;
    size_t klen, vlen;
    json_kind kind;
} json_member;

typedef struct {
    json_member m[JSON_MAX_MEMBERS];
    int n;
    char *buf; /* owned: the decoded keys and values */
} json_object;

/* Parses text[0..len). 0, or -1 with the sentence in err (o holds
 * nothing then). Free a parsed object with json_object_free. */
int json_parse_object(const uint8_t *text, size_t len, json_object *o, char *err, size_t errlen);

void json_object_free(json_object *o);

/* The member named key (a NUL-free C string), or NULL. */
const json_member *json_find(const json_object *o, const char *key);

#endif
