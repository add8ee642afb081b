/* Protobuf wire-format reader: fields, varints, fixed-width values,
 * length-delimited payloads, packed and unpacked repeated scalars, and
 * skipping of unknown fields of every wire type (groups included). It knows
 * nothing about any schema. Input is untrusted: every read is bounds-checked
 * and failures name the problem and its byte offset from the buffer start. */
#ifndef CUTOUT_PROTOBUF_H
#define CUTOUT_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

/* Deprecated groups can nest; a skipped group deeper than this is rejected. */
#define PB_MAX_GROUP_DEPTH 64

typedef enum {
    PB_VARINT = 0,
    PB_FIXED64 = 1,
    PB_LEN = 2,
    PB_START_GROUP = 3,
    PB_END_GROUP = 4,
    PB_FIXED32 = 5
} pb_wire_type;

/* The encoding of one element of a repeated scalar field. */
typedef enum { PB_KIND_VARINT, PB_KIND_FIXED32, PB_KIND_FIXED64 } pb_kind;

typedef struct {
    const uint8_t *base; /* start of the whole file: offsets count from here */
    const uint8_t *p;    /* next unread byte */
    const uint8_t *end;  /* end of the message being read */
} pb_reader;

typedef struct {
    uint32_t number;
    pb_wire_type wire;
    size_t offset;       /* byte offset of the tag */
    uint64_t value;      /* VARINT, FIXED32, FIXED64 */
    const uint8_t *data; /* LEN: the payload; groups: the bytes between the tags */
    size_t len;
} pb_field;

typedef struct {
    char msg[160];
    size_t offset;
} pb_error;

void cut_pb_reader_init(pb_reader *r, const uint8_t *base, const uint8_t *data, size_t len);
/* A reader over the payload of a LEN field read by r. */
void cut_pb_reader_sub(pb_reader *sub, const pb_reader *r, const pb_field *f);

/* Reads the next field. Returns 1 with *f filled, 0 at the end of the
 * message, -1 if malformed (e says why and where). */
int cut_pb_next(pb_reader *r, pb_field *f, pb_error *e);

/* One occurrence of a repeated scalar field, packed (LEN) or not: checks it
 * (wire type, packed payload well formed) and adds its element count to
 * *count. 0 on success, -1 with e filled. */
int cut_pb_scalars_count(const pb_reader *r, const pb_field *f, pb_kind kind, size_t *count,
                     pb_error *e);

/* Iterates the elements of a field accepted by cut_pb_scalars_count, as raw
 * 64-bit words (fixed32 in the low half). */
typedef struct {
    const uint8_t *p, *end;
    pb_kind kind;
    uint64_t single;
    int has_single;
} pb_scalars;

void cut_pb_scalars_begin(pb_scalars *it, const pb_field *f, pb_kind kind);
int cut_pb_scalars_next(pb_scalars *it, uint64_t *v); /* 1: *v holds the next value */

static inline uint32_t pb_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t pb_le64(const uint8_t *p)
{
    return (uint64_t)pb_le32(p) | (uint64_t)pb_le32(p + 4) << 32;
}

const char *cut_pb_wire_name(pb_wire_type w);

#endif
