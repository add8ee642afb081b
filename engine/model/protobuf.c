#include "protobuf.h"

#include <stdarg.h>
#include <stdio.h>

/* Tags carry the field number in 29 bits. */
#define PB_MAX_FIELD_NUMBER 0x1fffffffu

static int pb_fail(pb_error *e, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pb_fail(pb_error *e, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->offset = offset;
    return -1;
}

const char *cut_pb_wire_name(pb_wire_type w)
{
    switch (w) {
    case PB_VARINT: return "varint";
    case PB_FIXED64: return "fixed64";
    case PB_LEN: return "length-delimited";
    case PB_START_GROUP: return "start-group";
    case PB_END_GROUP: return "end-group";
    case PB_FIXED32: return "fixed32";
    }
    return "invalid";
}

void cut_pb_reader_init(pb_reader *r, const uint8_t *base, const uint8_t *data, size_t len)
{
    r->base = base;
    r->p = data;
    r->end = data + len;
}

void cut_pb_reader_sub(pb_reader *sub, const pb_reader *r, const pb_field *f)
{
    cut_pb_reader_init(sub, r->base, f->data, f->len);
}

/* Reads one varint at *pp (< end), advancing *pp. 0 on success; -1 when it is
 * truncated or longer than 64 bits. */
static int pb_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        /* The 10th byte holds bit 63 only; anything more overflows. */
        if (i == 9 && b > 1) return -2;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *v = x;
            return 0;
        }
    }
    return -2;
}

static int varint_fail(pb_error *e, int rc, size_t offset, const char *what, uint32_t number)
{
    if (rc == -1)
        return pb_fail(e, offset, "%s of field %u is truncated by the end of its message", what,
                       number);
    return pb_fail(e, offset, "%s of field %u is a varint longer than 64 bits", what, number);
}

static size_t left(const pb_reader *r)
{
    return (size_t)(r->end - r->p);
}

static int read_tag(pb_reader *r, pb_field *f, pb_error *e)
{
    f->offset = (size_t)(r->p - r->base);
    uint64_t tag;
    int rc = pb_read_varint(&r->p, r->end, &tag);
    if (rc == -1) return pb_fail(e, f->offset, "field tag is truncated by the end of its message");
    if (rc) return pb_fail(e, f->offset, "field tag is a varint longer than 64 bits");
    if (tag >> 3 == 0 || tag >> 3 > PB_MAX_FIELD_NUMBER)
        return pb_fail(e, f->offset, "invalid field number %llu", (unsigned long long)(tag >> 3));
    f->number = (uint32_t)(tag >> 3);
    f->wire = (pb_wire_type)(tag & 7);
    f->value = 0;
    f->data = NULL;
    f->len = 0;
    return 0;
}

/* The value of a field whose tag was just read; groups are handled by the caller. */
static int read_value(pb_reader *r, pb_field *f, pb_error *e)
{
    size_t at = (size_t)(r->p - r->base);
    int rc;
    switch ((int)f->wire) {
    case PB_VARINT:
        rc = pb_read_varint(&r->p, r->end, &f->value);
        return rc ? varint_fail(e, rc, at, "varint value", f->number) : 0;
    case PB_FIXED64:
        if (left(r) < 8)
            return pb_fail(e, at, "fixed64 value of field %u needs 8 bytes, %zu remain", f->number,
                           left(r));
        f->value = pb_le64(r->p);
        r->p += 8;
        return 0;
    case PB_FIXED32:
        if (left(r) < 4)
            return pb_fail(e, at, "fixed32 value of field %u needs 4 bytes, %zu remain", f->number,
                           left(r));
        f->value = pb_le32(r->p);
        r->p += 4;
        return 0;
    case PB_LEN: {
        uint64_t n;
        rc = pb_read_varint(&r->p, r->end, &n);
        if (rc) return varint_fail(e, rc, at, "length", f->number);
        if (n > left(r))
            return pb_fail(e, at,
                           "field %u declares %llu bytes but only %zu remain in its enclosing "
                           "message",
                           f->number, (unsigned long long)n, left(r));
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 0;
    }
    default:
        return pb_fail(e, f->offset, "field %u has invalid wire type %d", f->number, (int)f->wire);
    }
}

/* Skips a group whose start tag (f) was just read, without recursion. */
static int skip_group(pb_reader *r, pb_field *f, pb_error *e)
{
    uint32_t open[PB_MAX_GROUP_DEPTH];
    size_t depth = 0;
    open[depth++] = f->number;
    const uint8_t *begin = r->p;
    for (;;) {
        if (r->p >= r->end)
            return pb_fail(e, f->offset, "group (field %u) is not closed before the end of its "
                                         "enclosing message",
                           f->number);
        const uint8_t *tag_start = r->p;
        pb_field in;
        if (read_tag(r, &in, e)) return -1;
        if (in.wire == PB_START_GROUP) {
            if (depth == PB_MAX_GROUP_DEPTH)
                return pb_fail(e, in.offset, "groups nested deeper than %d levels",
                               PB_MAX_GROUP_DEPTH);
            open[depth++] = in.number;
        } else if (in.wire == PB_END_GROUP) {
            if (in.number != open[depth - 1])
                return pb_fail(e, in.offset, "end-group tag of field %u closes a group of field %u",
                               in.number, open[depth - 1]);
            if (--depth == 0) {
                f->data = begin;
                f->len = (size_t)(tag_start - begin);
                return 0;
            }
        } else if (read_value(r, &in, e)) {
            return -1;
        }
    }
}

int cut_pb_next(pb_reader *r, pb_field *f, pb_error *e)
{
    if (r->p >= r->end) return 0;
    if (read_tag(r, f, e)) return -1;
    if (f->wire == PB_START_GROUP) return skip_group(r, f, e) ? -1 : 1;
    if (f->wire == PB_END_GROUP)
        return pb_fail(e, f->offset, "end-group tag of field %u without a matching start-group",
                       f->number);
    return read_value(r, f, e) ? -1 : 1;
}

static const pb_wire_type single_wire[] = {PB_VARINT, PB_FIXED32, PB_FIXED64};

int cut_pb_scalars_count(const pb_reader *r, const pb_field *f, pb_kind kind, size_t *count,
                     pb_error *e)
{
    if (f->wire == single_wire[kind]) {
        *count += 1;
        return 0;
    }
    if (f->wire != PB_LEN)
        return pb_fail(e, f->offset, "field %u has wire type %s, expected %s or packed", f->number,
                       cut_pb_wire_name(f->wire), cut_pb_wire_name(single_wire[kind]));
    size_t at = (size_t)(f->data - r->base);
    if (kind == PB_KIND_FIXED32 || kind == PB_KIND_FIXED64) {
        size_t size = kind == PB_KIND_FIXED32 ? 4 : 8;
        if (f->len % size)
            return pb_fail(e, at, "packed %s field %u is %zu bytes, not a multiple of %zu",
                           cut_pb_wire_name(single_wire[kind]), f->number, f->len, size);
        *count += f->len / size;
        return 0;
    }
    const uint8_t *p = f->data, *end = f->data + f->len;
    size_t n = 0;
    while (p < end) {
        const uint8_t *elem = p;
        uint64_t v;
        int rc = pb_read_varint(&p, end, &v);
        if (rc)
            return pb_fail(e, (size_t)(elem - r->base), "packed varint field %u: element %zu %s",
                           f->number, n,
                           rc == -1 ? "is truncated by the end of the field"
                                    : "is longer than 64 bits");
        n++;
    }
    *count += n;
    return 0;
}

void cut_pb_scalars_begin(pb_scalars *it, const pb_field *f, pb_kind kind)
{
    it->kind = kind;
    it->has_single = f->wire != PB_LEN;
    it->single = f->value;
    it->p = it->has_single ? NULL : f->data;
    it->end = it->has_single ? NULL : f->data + f->len;
}

int cut_pb_scalars_next(pb_scalars *it, uint64_t *v)
{
    if (it->has_single) {
        it->has_single = 0;
        *v = it->single;
        return 1;
    }
    if (!it->p || it->p >= it->end) return 0; /* NULL: a single value, already returned */
    switch (it->kind) {
    case PB_KIND_FIXED32:
        if (it->end - it->p < 4) return 0;
        *v = pb_le32(it->p);
        it->p += 4;
        return 1;
    case PB_KIND_FIXED64:
        if (it->end - it->p < 8) return 0;
        *v = pb_le64(it->p);
        it->p += 8;
        return 1;
    case PB_KIND_VARINT:
        return pb_read_varint(&it->p, it->end, v) == 0;
    }
    return 0;
}
