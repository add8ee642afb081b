/* ONNX reader: ModelProto → GraphProto → NodeProto / AttributeProto /
 * TensorProto / ValueInfoProto, over the wire-format reader of protobuf.h.
 * Field numbers are those of onnx.proto.
 *
 * Each message is read in two passes over its fields: the first checks wire
 * types, counts repeated fields and remembers singular ones (the last
 * occurrence wins, as in protobuf; embedded messages are not merged), the
 * second fills arrays allocated at their final size. Tensor data is checked
 * against the dims before anything is allocated, so memory stays
 * proportional to the file. Everything lives in one arena owned by the
 * model: any error path frees it all with one call.
 *
 * Tensor types decoded (besides those onnx.h lists): BFLOAT16 into f32;
 * INT16, UINT16, BOOL, UINT32 into i64. Other types (STRING, UINT64,
 * COMPLEX, 8-bit floats...) keep their dims but leave f32 and i64 NULL. */
#include "onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "pretouch.h"
#include "protobuf.h"
#include "util.h"

/* Limits for untrusted files, far above any real network. */
#define MAX_NODES 1000000
#define MAX_INITIALIZERS 1000000
#define MAX_VALUE_INFOS 1000000
#define MAX_ATTRS 8000000
#define MAX_NODE_NAMES 16000000             /* node inputs + outputs, whole model */
#define MAX_ELEMENTS ((uint64_t)1 << 31)     /* tensor elements + attribute lists, whole model */
#define MAX_DIM ((int64_t)1 << 31)

/* ---- arena: every allocation of one model ---- */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used; /* bytes after the header */
} chunk;

typedef struct {
    chunk *head;      /* the chunk small allocations come from */
    size_t next_cap;  /* size of the next shared chunk */
} arena;

#define ARENA_FIRST_CHUNK ((size_t)16 << 10)
#define ARENA_MAX_CHUNK ((size_t)1 << 20)

static void *chunk_take(chunk *c, size_t size, size_t align)
{
    char *base = (char *)(c + 1);
    size_t pad = (align - ((uintptr_t)(base + c->used) & (align - 1))) & (align - 1);
    if (pad > c->cap - c->used || size > c->cap - c->used - pad) return NULL;
    void *p = base + c->used + pad;
    c->used += pad + size;
    return p;
}

/* align: a power of two. Zero-byte requests get a valid pointer. */
static void *arena_alloc(arena *a, size_t size, size_t align)
{
    void *p = a->head ? chunk_take(a->head, size, align) : NULL;
    if (p) return p;
    /* Big requests get a chunk of their own; small ones share a growing one. */
    int own = size > a->next_cap / 4;
    size_t cap = own ? size : a->next_cap;
    if (cap > SIZE_MAX - sizeof(chunk) - align) return NULL;
    chunk *c = malloc(sizeof(chunk) + cap + align);
    if (!c) return NULL;
    c->cap = cap + align;
    c->used = 0;
    /* A tensor's own chunk (the weights: up to hundreds of MB) is written
     * front to back next: its pages mapped in one call, not one fault each. */
    if (own && cap >= ((size_t)1 << 20)) cut_touch(c + 1, cap);
    if (own && a->head) {
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
        if (!own && a->next_cap < ARENA_MAX_CHUNK) a->next_cap *= 2;
    }
    return chunk_take(c, size, align);
}

static void arena_free(arena *a)
{
    chunk *c = a->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- name → pointer index (open addressing, first insertion wins) ---- */

typedef struct {
    const char **keys;
    const void **vals;
    size_t mask;
} name_index;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3u;
    return h;
}

static void index_put(name_index *ix, const char *key, const void *val)
{
    if (!*key) return; /* "" names nothing: an omitted optional input */
    size_t i = (size_t)hash_name(key) & ix->mask;
    while (ix->keys[i]) {
        if (!strcmp(ix->keys[i], key)) return;
        i = (i + 1) & ix->mask;
    }
    ix->keys[i] = key;
    ix->vals[i] = val;
}

static const void *index_get(const name_index *ix, const char *key)
{
    if (!ix->keys || !key || !*key) return NULL;
    size_t i = (size_t)hash_name(key) & ix->mask;
    while (ix->keys[i]) {
        if (!strcmp(ix->keys[i], key)) return ix->vals[i];
        i = (i + 1) & ix->mask;
    }
    return NULL;
}

/* The model as allocated: onnx_model first, so the public pointer is ours. */
typedef struct {
    onnx_model pub;
    arena mem;
    name_index tensors;   /* initializers, then Constant outputs */
    name_index producers; /* node outputs */
} model_impl;

/* ---- parser state and errors ---- */

#define NO_INDEX ((size_t)-1)
#define MAX_CTX 8

typedef struct {
    const char *kind;
    size_t index;
    const char *name;
} ctx_entry;

typedef struct {
    arena *mem;
    char *err;
    size_t errlen;
    ctx_entry ctx[MAX_CTX]; /* what is being read, for messages */
    int depth;
    size_t n_attrs, n_names;
    uint64_t n_elements;
    int no_model_field; /* no ModelProto field seen yet: a failure suggests this is not ONNX */
} parser;

static void push(parser *ps, const char *kind, size_t index)
{
    if (ps->depth < MAX_CTX) ps->ctx[ps->depth] = (ctx_entry){kind, index, NULL};
    ps->depth++;
}

static void pop(parser *ps)
{
    ps->depth--;
}

static void name_ctx(parser *ps, const char *name)
{
    if (ps->depth > 0 && ps->depth <= MAX_CTX) ps->ctx[ps->depth - 1].name = name;
}

static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len = (size_t)n >= cap - *len ? cap - 1 : *len + (size_t)n;
}

/* Names come from the file: shorten them and hide control characters. */
static void append_name(char *buf, size_t cap, size_t *len, const char *name)
{
    char safe[52];
    size_t n = 0;
    for (; name[n] && n < 48; n++) {
        unsigned char c = (unsigned char)name[n];
        safe[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    safe[n] = 0;
    appendf(buf, cap, len, " '%s%s'", safe, name[n] ? "..." : "");
}

static int fail(parser *ps, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *ps, int code, size_t offset, const char *fmt, ...)
{
    char where[400];
    size_t w = 0;
    where[0] = 0;
    for (int i = 0; i < ps->depth && i < MAX_CTX; i++) {
        const ctx_entry *c = &ps->ctx[i];
        appendf(where, sizeof where, &w, "%s%s", i ? " > " : "", c->kind);
        if (c->index != NO_INDEX) appendf(where, sizeof where, &w, " %zu", c->index);
        if (c->name && *c->name) append_name(where, sizeof where, &w, c->name);
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cut_fail(ps->err, ps->errlen, code, "ONNX: %s%s%s (at byte %zu)%s", where,
                    w ? ": " : "", msg, offset,
                    ps->no_model_field ? "; is this an ONNX model file?" : "");
}

static int nomem(parser *ps, size_t offset, size_t bytes)
{
    return fail(ps, CUTOUT_E_NOMEM, offset, "out of memory allocating %zu bytes", bytes);
}

/* An array of n elements of size bytes; a valid pointer even when n is 0. */
/* zero: 0 when the caller writes every element (raw_data, whose length
 * check_tensor has matched to the count): zeroing hundreds of MB of weights
 * first cost 10 % of an fp16 ISNet's load. */
static int alloc_array(parser *ps, size_t n, size_t size, size_t align, size_t offset, int zero,
                       void **out)
{
    size_t bytes;
    if (!cut_mul_size(n, size, &bytes)) return nomem(ps, offset, SIZE_MAX);
    *out = arena_alloc(ps->mem, bytes, align);
    if (!*out) return nomem(ps, offset, bytes);
    if (zero) memset(*out, 0, bytes);
    return 0;
}

#define TRY(expr)                       \
    do {                                \
        int try_rc_ = (expr);           \
        if (try_rc_ < 0) return try_rc_; \
    } while (0)

/* 1: a field; 0: end of message; < 0: error status. */
static int next_field(parser *ps, pb_reader *r, pb_field *f)
{
    pb_error e;
    int rc = cut_pb_next(r, f, &e);
    if (rc < 0) return fail(ps, CUTOUT_E_FORMAT, e.offset, "%s", e.msg);
    return rc;
}

static int want(parser *ps, const pb_field *f, pb_wire_type wire, const char *what)
{
    if (f->wire == wire) return 0;
    return fail(ps, CUTOUT_E_FORMAT, f->offset, "%s (field %u) has wire type %s, expected %s",
                what, f->number, cut_pb_wire_name(f->wire), cut_pb_wire_name(wire));
}

static int count_scalars(parser *ps, const pb_reader *r, const pb_field *f, pb_kind kind,
                         const char *what, size_t *count)
{
    pb_error e;
    if (cut_pb_scalars_count(r, f, kind, count, &e) == 0) return 0;
    return fail(ps, CUTOUT_E_FORMAT, e.offset, "%s: %s", what, e.msg);
}

/* A NUL-terminated copy of a string field. Identifiers (names, op types)
 * must not contain NUL, which would silently make two names equal. */
static int copy_str(parser *ps, const pb_field *f, int identifier, const char *what,
                    const char **out)
{
    if (identifier && f->len && memchr(f->data, 0, f->len))
        return fail(ps, CUTOUT_E_FORMAT, f->offset, "%s contains a NUL byte", what);
    char *s = arena_alloc(ps->mem, f->len + 1, 1);
    if (!s) return nomem(ps, f->offset, f->len + 1);
    if (f->len) memcpy(s, f->data, f->len);
    s[f->len] = 0;
    *out = s;
    return 0;
}

/* Two's-complement views of raw 64-bit words, without implementation-defined casts. */
static int64_t to_i64(uint64_t v)
{
    return v <= INT64_MAX ? (int64_t)v : (int64_t)(v - (uint64_t)INT64_MAX - 1) + INT64_MIN;
}

static int64_t sign_extend(uint64_t v, int bits)
{
    uint64_t m = ((uint64_t)1 << bits) - 1, sign = (uint64_t)1 << (bits - 1);
    v &= m;
    return (v & sign) ? (int64_t)v - (int64_t)((uint64_t)1 << bits) : (int64_t)v;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half → float, exact for every value (subnormals, inf, NaN payloads). */
static float half_to_float(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13; /* rebias 15 → 127 */
    } else if (!mant) {
        bits = sign;
    } else { /* subnormal mant·2^-24: shift the leading 1 into the implicit bit */
        uint32_t e = 113;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e--;
        }
        bits = sign | e << 23 | (mant & 0x3ffu) << 13;
    }
    return bits_to_float(bits);
}

static float double_to_float(double d)
{
    /* Beyond FLT_MAX + half an ulp, IEEE rounding gives infinity; say so
     * explicitly rather than rely on an out-of-range conversion. */
    if (d >= 0x1.ffffffp127) return bits_to_float(0x7f800000u);
    if (d <= -0x1.ffffffp127) return bits_to_float(0xff800000u);
    return (float)d;
}

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- TensorProto ---- */

/* Typed data fields of TensorProto. */
enum { D_FLOAT, D_INT32, D_INT64, D_DOUBLE, D_UINT64, N_DATA };

static const struct {
    uint32_t number;
    const char *name;
    pb_kind kind;
} data_fields[N_DATA] = {
    {4, "float_data", PB_KIND_FIXED32}, {5, "int32_data", PB_KIND_VARINT},
    {7, "int64_data", PB_KIND_VARINT},  {10, "double_data", PB_KIND_FIXED64},
    {11, "uint64_data", PB_KIND_VARINT},
};

typedef struct {
    int type;
    const char *name;
    size_t size;   /* bytes per element in raw_data */
    int field;     /* the typed field that may hold the values instead */
    int is_float;  /* decoded into f32 (else i64) */
} dtype_info;

static const dtype_info dtypes[] = {
    {ONNX_FLOAT, "FLOAT", 4, D_FLOAT, 1},     {ONNX_UINT8, "UINT8", 1, D_INT32, 0},
    {ONNX_INT8, "INT8", 1, D_INT32, 0},       {4, "UINT16", 2, D_INT32, 0},
    {5, "INT16", 2, D_INT32, 0},              {ONNX_INT32, "INT32", 4, D_INT32, 0},
    {ONNX_INT64, "INT64", 8, D_INT64, 0},     {9, "BOOL", 1, D_INT32, 0},
    {ONNX_FLOAT16, "FLOAT16", 2, D_INT32, 1}, {ONNX_DOUBLE, "DOUBLE", 8, D_DOUBLE, 1},
    {12, "UINT32", 4, D_UINT64, 0},           {16, "BFLOAT16", 2, D_INT32, 1},
};

static const dtype_info *find_dtype(int64_t type)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].type == type) return &dtypes[i];
    return NULL;
}

/* One element, given as the raw little-endian word (raw_data) or the value
 * of its typed field, which hold the same bits for every type here. */
static void store_element(const dtype_info *d, uint64_t v, onnx_tensor *t, size_t i)
{
    switch (d->type) {
    case ONNX_FLOAT: t->f32[i] = bits_to_float((uint32_t)v); break;
    case ONNX_FLOAT16: t->f32[i] = half_to_float((uint32_t)v & 0xffffu); break;
    case 16: t->f32[i] = bits_to_float(((uint32_t)v & 0xffffu) << 16); break;
    case ONNX_DOUBLE: t->f32[i] = double_to_float(bits_to_double(v)); break;
    case ONNX_UINT8: t->i64[i] = (int64_t)(v & 0xffu); break;
    case ONNX_INT8: t->i64[i] = sign_extend(v, 8); break;
    case 4: t->i64[i] = (int64_t)(v & 0xffffu); break;
    case 5: t->i64[i] = sign_extend(v, 16); break;
    case ONNX_INT32: t->i64[i] = sign_extend(v, 32); break;
    case ONNX_INT64: t->i64[i] = to_i64(v); break;
    case 9: t->i64[i] = (v & 0xffffffffu) != 0; break;
    case 12: t->i64[i] = (int64_t)(v & 0xffffffffu); break;
    }
}

static void decode_raw(const dtype_info *d, const uint8_t *p, onnx_tensor *t)
{
    if (d->type == ONNX_FLOAT) { /* the common case, kept tight */
        for (size_t i = 0; i < t->count; i++) t->f32[i] = bits_to_float(pb_le32(p + 4 * i));
        return;
    }
    if (d->type == ONNX_FLOAT16) { /* fp16 models: tens of millions of weights */
        int fast = cut_half_have_f16c();
        size_t i = 0;
        while (i < t->count) {
            if (fast) i += cut_half_to_float_f16c(p + 2 * i, t->f32 + i, t->count - i);
            /* a block with an infinity or NaN, or the tail: the exact scalar way */
            size_t stop = t->count - i < 8 ? t->count : i + 8;
            for (; i < stop; i++)
                t->f32[i] = half_to_float((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8);
        }
        return;
    }
    for (size_t i = 0; i < t->count; i++, p += d->size) {
        uint64_t v = 0;
        for (size_t b = 0; b < d->size; b++) v |= (uint64_t)p[b] << (8 * b);
        store_element(d, v, t, i);
    }
}

typedef struct {
    pb_field raw;
    int has_raw, has_type;
    int64_t data_type;
    size_t type_off;
    size_t n_dims;
    int64_t dims[ONNX_MAX_DIMS];
    size_t dims_off;
    size_t counts[N_DATA], data_off[N_DATA];
    size_t n_strings, strings_off;
    size_t external_off;
    int has_external;
    uint64_t location;
    size_t location_off;
} tensor_scan;

/* Names are copied as soon as they are seen, so that errors further on name
 * what they are in. */
static int scan_tensor(parser *ps, pb_reader *r, tensor_scan *s, onnx_tensor *t)
{
    pb_field f;
    int rc;
    while ((rc = next_field(ps, r, &f)) > 0) {
        switch (f.number) {
        case 1: { /* dims */
            size_t before = s->n_dims;
            TRY(count_scalars(ps, r, &f, PB_KIND_VARINT, "dims", &s->n_dims));
            if (!before) s->dims_off = f.offset;
            pb_scalars it;
            uint64_t v;
            cut_pb_scalars_begin(&it, &f, PB_KIND_VARINT);
            for (size_t i = before; cut_pb_scalars_next(&it, &v); i++)
                if (i < ONNX_MAX_DIMS) s->dims[i] = to_i64(v);
            break;
        }
        case 2:
            TRY(want(ps, &f, PB_VARINT, "data_type"));
            s->has_type = 1;
            s->data_type = to_i64(f.value);
            s->type_off = f.offset;
            break;
        case 3:
            return fail(ps, CUTOUT_E_UNSUPPORTED, f.offset,
                        "segmented tensors (TensorProto.segment) are not supported");
        case 4: case 5: case 7: case 10: case 11: {
            int k = f.number == 4 ? D_FLOAT : f.number == 5 ? D_INT32 : f.number == 7 ? D_INT64
                  : f.number == 10 ? D_DOUBLE : D_UINT64;
            if (!s->counts[k]) s->data_off[k] = f.offset;
            TRY(count_scalars(ps, r, &f, data_fields[k].kind, data_fields[k].name, &s->counts[k]));
            break;
        }
        case 6:
            TRY(want(ps, &f, PB_LEN, "string_data"));
            if (!s->n_strings++) s->strings_off = f.offset;
            break;
        case 8:
            TRY(want(ps, &f, PB_LEN, "name"));
            TRY(copy_str(ps, &f, 1, "tensor name", &t->name));
            name_ctx(ps, t->name);
            break;
        case 9:
            TRY(want(ps, &f, PB_LEN, "raw_data"));
            s->raw = f;
            s->has_raw = 1;
            break;
        case 13:
            TRY(want(ps, &f, PB_LEN, "external_data"));
            if (!s->has_external) s->external_off = f.offset;
            s->has_external = 1;
            break;
        case 14:
            TRY(want(ps, &f, PB_VARINT, "data_location"));
            s->location = f.value;
            s->location_off = f.offset;
            break;
        }
    }
    return rc;
}

/* Checks dims and the presence and size of the data against the data type;
 * nothing is allocated before this says the data is all there. */
static int check_tensor(parser *ps, const tensor_scan *s, size_t msg_off, const dtype_info *d,
                        onnx_tensor *t)
{
    if (s->n_dims > ONNX_MAX_DIMS)
        return fail(ps, CUTOUT_E_UNSUPPORTED, s->dims_off, "has %zu dims, at most %d are supported",
                    s->n_dims, ONNX_MAX_DIMS);
    t->ndims = (int)s->n_dims;
    uint64_t count = 1;
    int zero = 0;
    for (size_t i = 0; i < s->n_dims; i++) {
        int64_t dim = s->dims[i];
        if (dim < 0 || dim > MAX_DIM)
            return fail(ps, CUTOUT_E_FORMAT, s->dims_off, "dims[%zu] is %lld, outside 0..%lld", i,
                        (long long)dim, (long long)MAX_DIM);
        t->dims[i] = dim;
        if (!dim) zero = 1;
        else if (!zero && (count *= (uint64_t)dim) > MAX_ELEMENTS)
            return fail(ps, CUTOUT_E_FORMAT, s->dims_off,
                        "dims multiply to more than %llu elements",
                        (unsigned long long)MAX_ELEMENTS);
    }
    t->count = zero ? 0 : (size_t)count;
    if (!d) return 0; /* a type that is not decoded: dims only */

    for (int k = 0; k < N_DATA; k++)
        if (k != d->field && s->counts[k])
            return fail(ps, CUTOUT_E_FORMAT, s->data_off[k],
                        "a %s tensor cannot hold %s (expected raw_data or %s)", d->name,
                        data_fields[k].name, data_fields[d->field].name);
    if (s->n_strings)
        return fail(ps, CUTOUT_E_FORMAT, s->strings_off, "a %s tensor cannot hold string_data",
                    d->name);
    size_t typed = s->counts[d->field];
    if (s->has_raw) {
        if (typed)
            return fail(ps, CUTOUT_E_FORMAT, s->data_off[d->field], "has both raw_data and %s",
                        data_fields[d->field].name);
        size_t expected = SIZE_MAX; /* stays so only if count · size overflows */
        if (!cut_mul_size(t->count, d->size, &expected) || s->raw.len != expected)
            return fail(ps, CUTOUT_E_FORMAT, s->raw.offset,
                        "raw_data is %zu bytes, expected %zu (%zu %s values of %zu bytes)",
                        s->raw.len, expected, t->count, d->name, d->size);
    } else if (typed != t->count) {
        if (!typed)
            return fail(ps, CUTOUT_E_FORMAT, msg_off,
                        "has no data: expected %zu %s values in raw_data or %s", t->count, d->name,
                        data_fields[d->field].name);
        return fail(ps, CUTOUT_E_FORMAT, s->data_off[d->field],
                    "%s holds %zu values, expected %zu (the product of dims)",
                    data_fields[d->field].name, typed, t->count);
    }
    if (t->count > MAX_ELEMENTS - ps->n_elements)
        return fail(ps, CUTOUT_E_FORMAT, msg_off, "the model holds more than %llu values",
                    (unsigned long long)MAX_ELEMENTS);
    ps->n_elements += t->count;
    return 0;
}

/* A TensorProto (field f of the message r reads) into *t. Initializers
 * must be named; Constant values need not be. */
static int parse_tensor(parser *ps, const pb_reader *r, const pb_field *tf, onnx_tensor *t,
                        int require_name)
{
    pb_reader sub;
    tensor_scan s;
    memset(&s, 0, sizeof s);
    t->name = "";
    cut_pb_reader_sub(&sub, r, tf);
    TRY(scan_tensor(ps, &sub, &s, t));
    if (require_name && !*t->name) return fail(ps, CUTOUT_E_FORMAT, tf->offset, "has no name");
    if (s.has_external || s.location == 1)
        return fail(ps, CUTOUT_E_UNSUPPORTED, s.has_external ? s.external_off : s.location_off,
                    "data is stored in an external file (external_data / "
                    "data_location=EXTERNAL), which cutout does not read; save the model with "
                    "its weights inside the .onnx file");
    if (s.location > 1)
        return fail(ps, CUTOUT_E_FORMAT, s.location_off, "data_location %llu is not defined",
                    (unsigned long long)s.location);
    if (!s.has_type || s.data_type == 0)
        return fail(ps, CUTOUT_E_FORMAT, tf->offset, "has no data_type");
    if (s.data_type < 0 || s.data_type > INT32_MAX)
        return fail(ps, CUTOUT_E_FORMAT, s.type_off, "data_type %lld is not defined",
                    (long long)s.data_type);
    t->data_type = (int)s.data_type;
    const dtype_info *d = find_dtype(s.data_type);
    TRY(check_tensor(ps, &s, tf->offset, d, t));
    if (!d) return 0;

    void *values = NULL;
    size_t data_off = s.has_raw ? s.raw.offset : s.data_off[d->field];
    if (d->is_float) {
        TRY(alloc_array(ps, t->count, sizeof(float), 64, data_off, !s.has_raw, &values));
        t->f32 = values;
    } else {
        TRY(alloc_array(ps, t->count, sizeof(int64_t), 64, data_off, !s.has_raw, &values));
        t->i64 = values;
    }
    if (s.has_raw) {
        decode_raw(d, s.raw.data, t);
        return 0;
    }
    /* Second pass: the typed field, possibly split over several occurrences. */
    pb_field f;
    int rc;
    size_t i = 0;
    uint32_t number = data_fields[d->field].number;
    cut_pb_reader_sub(&sub, r, tf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number != number) continue;
        pb_scalars it;
        uint64_t v;
        cut_pb_scalars_begin(&it, &f, data_fields[d->field].kind);
        while (i < t->count && cut_pb_scalars_next(&it, &v)) store_element(d, v, t, i++);
    }
    return rc;
}

/* ---- AttributeProto ---- */

static int parse_attr(parser *ps, const pb_reader *r, const pb_field *af, onnx_attr *a,
                      size_t index)
{
    pb_reader sub;
    pb_field f, s = {0}, t = {0};
    int rc, has_s = 0, has_t = 0, has_f = 0, has_i = 0;
    uint64_t type = 0;
    size_t type_off = af->offset, n_floats = 0, n_ints = 0, floats_off = 0, ints_off = 0;

    push(ps, "attribute", index);
    cut_pb_reader_sub(&sub, r, af);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        switch (f.number) {
        case 1:
            TRY(want(ps, &f, PB_LEN, "name"));
            TRY(copy_str(ps, &f, 1, "attribute name", &a->name));
            name_ctx(ps, a->name);
            break;
        case 2:
            TRY(want(ps, &f, PB_FIXED32, "f"));
            a->f = bits_to_float((uint32_t)f.value);
            has_f = 1;
            break;
        case 3: TRY(want(ps, &f, PB_VARINT, "i")); a->i = to_i64(f.value); has_i = 1; break;
        case 4: TRY(want(ps, &f, PB_LEN, "s")); s = f; has_s = 1; break;
        case 5: TRY(want(ps, &f, PB_LEN, "t")); t = f; has_t = 1; break;
        case 7:
            if (!n_floats) floats_off = f.offset;
            TRY(count_scalars(ps, &sub, &f, PB_KIND_FIXED32, "floats", &n_floats));
            break;
        case 8:
            if (!n_ints) ints_off = f.offset;
            TRY(count_scalars(ps, &sub, &f, PB_KIND_VARINT, "ints", &n_ints));
            break;
        case 20:
            TRY(want(ps, &f, PB_VARINT, "type"));
            type = f.value;
            type_off = f.offset;
            break;
        }
    }
    if (rc < 0) return rc;

    if (!a->name || !*a->name) return fail(ps, CUTOUT_E_FORMAT, af->offset, "has no name");
    if (type > 14) /* AttributeType ends at TYPE_PROTOS = 14 */
        return fail(ps, CUTOUT_E_FORMAT, type_off, "type %llu is not an AttributeType",
                    (unsigned long long)type);
    if (!type) /* files before IR version 2 have no type: infer it */
        type = has_t ? ONNX_ATTR_TENSOR : has_s ? ONNX_ATTR_STRING : n_floats ? ONNX_ATTR_FLOATS
             : n_ints ? ONNX_ATTR_INTS : has_f ? ONNX_ATTR_FLOAT : has_i ? ONNX_ATTR_INT
             : ONNX_ATTR_UNDEFINED;
    a->type = (onnx_attr_type)type;
    if (has_s) TRY(copy_str(ps, &s, 0, "s", &a->s));

    if (n_floats + n_ints > MAX_ELEMENTS - ps->n_elements)
        return fail(ps, CUTOUT_E_FORMAT, af->offset, "the model holds more than %llu values",
                    (unsigned long long)MAX_ELEMENTS);
    ps->n_elements += n_floats + n_ints;
    if (n_floats || n_ints) {
        void *p = NULL;
        TRY(alloc_array(ps, n_floats, sizeof(float), 16, floats_off, 1, &p));
        a->floats = n_floats ? p : NULL;
        TRY(alloc_array(ps, n_ints, sizeof(int64_t), 16, ints_off, 1, &p));
        a->ints = n_ints ? p : NULL;
        cut_pb_reader_sub(&sub, r, af);
        while ((rc = next_field(ps, &sub, &f)) > 0) {
            pb_scalars it;
            uint64_t v;
            if (f.number == 7) {
                cut_pb_scalars_begin(&it, &f, PB_KIND_FIXED32);
                while (a->n_floats < n_floats && cut_pb_scalars_next(&it, &v))
                    a->floats[a->n_floats++] = bits_to_float((uint32_t)v);
            } else if (f.number == 8) {
                cut_pb_scalars_begin(&it, &f, PB_KIND_VARINT);
                while (a->n_ints < n_ints && cut_pb_scalars_next(&it, &v))
                    a->ints[a->n_ints++] = to_i64(v);
            }
        }
        if (rc < 0) return rc;
    }
    if (has_t) {
        void *p;
        TRY(alloc_array(ps, 1, sizeof(onnx_tensor), 16, t.offset, 1, &p));
        a->t = p;
        push(ps, "tensor", NO_INDEX);
        TRY(parse_tensor(ps, &sub, &t, a->t, 0));
        pop(ps);
    }
    pop(ps);
    return 0;
}

/* ---- NodeProto ---- */

static int parse_node(parser *ps, const pb_reader *r, const pb_field *nf, onnx_node *node,
                      size_t index)
{
    pb_reader sub;
    pb_field f, op = {0}, domain = {0};
    int rc, has_op = 0, has_domain = 0;
    size_t n_in = 0, n_out = 0, n_attrs = 0;

    push(ps, "node", index);
    node->name = node->domain = "";
    cut_pb_reader_sub(&sub, r, nf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        switch (f.number) {
        case 1: TRY(want(ps, &f, PB_LEN, "input")); n_in++; break;
        case 2: TRY(want(ps, &f, PB_LEN, "output")); n_out++; break;
        case 3:
            TRY(want(ps, &f, PB_LEN, "name"));
            TRY(copy_str(ps, &f, 1, "node name", &node->name));
            name_ctx(ps, node->name);
            break;
        case 4: TRY(want(ps, &f, PB_LEN, "op_type")); op = f; has_op = 1; break;
        case 5: TRY(want(ps, &f, PB_LEN, "attribute")); n_attrs++; break;
        case 7: TRY(want(ps, &f, PB_LEN, "domain")); domain = f; has_domain = 1; break;
        }
    }
    if (rc < 0) return rc;

    if (has_op) TRY(copy_str(ps, &op, 1, "op_type", &node->op_type));
    if (!has_op || !*node->op_type) return fail(ps, CUTOUT_E_FORMAT, nf->offset, "has no op_type");
    if (has_domain) TRY(copy_str(ps, &domain, 1, "domain", &node->domain));
    if (n_in + n_out > MAX_NODE_NAMES - ps->n_names)
        return fail(ps, CUTOUT_E_FORMAT, nf->offset,
                    "the model names more than %d node inputs and outputs", MAX_NODE_NAMES);
    ps->n_names += n_in + n_out;
    if (n_attrs > MAX_ATTRS - ps->n_attrs)
        return fail(ps, CUTOUT_E_FORMAT, nf->offset, "the model has more than %d attributes",
                    MAX_ATTRS);
    ps->n_attrs += n_attrs;

    void *p;
    TRY(alloc_array(ps, n_in, sizeof(char *), 16, nf->offset, 1, &p));
    node->inputs = p;
    TRY(alloc_array(ps, n_out, sizeof(char *), 16, nf->offset, 1, &p));
    node->outputs = p;
    TRY(alloc_array(ps, n_attrs, sizeof(onnx_attr), 16, nf->offset, 1, &p));
    node->attrs = p;

    cut_pb_reader_sub(&sub, r, nf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number == 1 && node->n_inputs < n_in)
            TRY(copy_str(ps, &f, 1, "input name", &node->inputs[node->n_inputs++]));
        else if (f.number == 2 && node->n_outputs < n_out)
            TRY(copy_str(ps, &f, 1, "output name", &node->outputs[node->n_outputs++]));
        else if (f.number == 5 && node->n_attrs < n_attrs) {
            TRY(parse_attr(ps, &sub, &f, &node->attrs[node->n_attrs], node->n_attrs));
            node->n_attrs++;
        }
    }
    if (rc < 0) return rc;
    pop(ps);
    return 0;
}

/* ---- ValueInfoProto / TypeProto ---- */

static int parse_shape(parser *ps, const pb_reader *r, const pb_field *sf, onnx_value_info *v)
{
    pb_reader sub, dim;
    pb_field f, g;
    int rc, n = 0;
    cut_pb_reader_sub(&sub, r, sf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number != 1) continue;
        TRY(want(ps, &f, PB_LEN, "shape dim"));
        if (n == ONNX_MAX_DIMS)
            return fail(ps, CUTOUT_E_UNSUPPORTED, f.offset, "shape has more than %d dims",
                        ONNX_MAX_DIMS);
        int64_t value = -1; /* dim_param or nothing: symbolic / unknown */
        cut_pb_reader_sub(&dim, &sub, &f);
        while ((rc = next_field(ps, &dim, &g)) > 0) {
            if (g.number == 1) {
                TRY(want(ps, &g, PB_VARINT, "dim_value"));
                value = to_i64(g.value) < 0 ? -1 : to_i64(g.value);
            } else if (g.number == 2) {
                TRY(want(ps, &g, PB_LEN, "dim_param"));
                value = -1; /* oneof: the last one set wins */
            }
        }
        if (rc < 0) return rc;
        v->dims[n++] = value;
    }
    if (rc < 0) return rc;
    v->ndims = n;
    return 0;
}

static int parse_type(parser *ps, const pb_reader *r, const pb_field *tf, onnx_value_info *v)
{
    pb_reader sub, tensor;
    pb_field f, g, shape = {0};
    int rc, has_shape = 0;
    cut_pb_reader_sub(&sub, r, tf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number != 1) continue; /* sequence, map, optional...: not tensors */
        TRY(want(ps, &f, PB_LEN, "tensor_type"));
        cut_pb_reader_sub(&tensor, &sub, &f);
        has_shape = 0;
        v->elem_type = 0;
        while ((rc = next_field(ps, &tensor, &g)) > 0) {
            if (g.number == 1) {
                TRY(want(ps, &g, PB_VARINT, "elem_type"));
                if (g.value > INT32_MAX)
                    return fail(ps, CUTOUT_E_FORMAT, g.offset, "elem_type %llu is not defined",
                                (unsigned long long)g.value);
                v->elem_type = (int)g.value;
            } else if (g.number == 2) {
                TRY(want(ps, &g, PB_LEN, "shape"));
                shape = g;
                has_shape = 1;
            }
        }
        if (rc < 0) return rc;
        if (has_shape) {
            cut_pb_reader_sub(&tensor, &sub, &f);
            TRY(parse_shape(ps, &tensor, &shape, v));
        }
    }
    return rc;
}

static int parse_value_info(parser *ps, const pb_reader *r, const pb_field *vf,
                            onnx_value_info *v, const char *kind, size_t index)
{
    pb_reader sub;
    pb_field f, type = {0};
    int rc, has_type = 0;
    push(ps, kind, index);
    v->name = "";
    v->elem_type = 0;
    v->ndims = -1;
    for (int i = 0; i < ONNX_MAX_DIMS; i++) v->dims[i] = -1;
    cut_pb_reader_sub(&sub, r, vf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number == 1) {
            TRY(want(ps, &f, PB_LEN, "name"));
            TRY(copy_str(ps, &f, 1, "name", &v->name));
            name_ctx(ps, v->name);
        } else if (f.number == 2) {
            TRY(want(ps, &f, PB_LEN, "type"));
            type = f;
            has_type = 1;
        }
    }
    if (rc < 0) return rc;
    if (has_type) TRY(parse_type(ps, &sub, &type, v));
    pop(ps);
    return 0;
}

/* ---- GraphProto ---- */

static int parse_graph(parser *ps, const pb_reader *r, const pb_field *gf, onnx_model *m,
                       model_impl *impl)
{
    pb_reader sub;
    pb_field f;
    int rc;
    size_t n_nodes = 0, n_inits = 0, n_in = 0, n_out = 0;

    push(ps, "graph", NO_INDEX);
    cut_pb_reader_sub(&sub, r, gf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        switch (f.number) {
        case 1: TRY(want(ps, &f, PB_LEN, "node")); n_nodes++; break;
        case 5: TRY(want(ps, &f, PB_LEN, "initializer")); n_inits++; break;
        case 11: TRY(want(ps, &f, PB_LEN, "input")); n_in++; break;
        case 12: TRY(want(ps, &f, PB_LEN, "output")); n_out++; break;
        case 15:
            return fail(ps, CUTOUT_E_UNSUPPORTED, f.offset,
                        "sparse initializers (GraphProto.sparse_initializer) are not supported");
        }
    }
    if (rc < 0) return rc;
    if (n_nodes > MAX_NODES)
        return fail(ps, CUTOUT_E_FORMAT, gf->offset, "has %zu nodes, more than the limit %d",
                    n_nodes, MAX_NODES);
    if (n_inits > MAX_INITIALIZERS)
        return fail(ps, CUTOUT_E_FORMAT, gf->offset,
                    "has %zu initializers, more than the limit %d", n_inits, MAX_INITIALIZERS);
    if (n_in + n_out > MAX_VALUE_INFOS)
        return fail(ps, CUTOUT_E_FORMAT, gf->offset,
                    "has %zu inputs and outputs, more than the limit %d", n_in + n_out,
                    MAX_VALUE_INFOS);

    void *p;
    TRY(alloc_array(ps, n_nodes, sizeof(onnx_node), 16, gf->offset, 1, &p));
    m->nodes = p;
    TRY(alloc_array(ps, n_inits, sizeof(onnx_tensor), 16, gf->offset, 1, &p));
    m->initializers = p;
    TRY(alloc_array(ps, n_in, sizeof(onnx_value_info), 16, gf->offset, 1, &p));
    m->inputs = p;
    TRY(alloc_array(ps, n_out, sizeof(onnx_value_info), 16, gf->offset, 1, &p));
    m->outputs = p;

    cut_pb_reader_sub(&sub, r, gf);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number == 1 && m->n_nodes < n_nodes) {
            TRY(parse_node(ps, &sub, &f, &m->nodes[m->n_nodes], m->n_nodes));
            m->n_nodes++;
        } else if (f.number == 5 && m->n_initializers < n_inits) {
            push(ps, "initializer", m->n_initializers);
            TRY(parse_tensor(ps, &sub, &f, &m->initializers[m->n_initializers], 1));
            pop(ps);
            m->n_initializers++;
        } else if (f.number == 11 && m->n_inputs < n_in) {
            TRY(parse_value_info(ps, &sub, &f, &m->inputs[m->n_inputs], "input", m->n_inputs));
            m->n_inputs++;
        } else if (f.number == 12 && m->n_outputs < n_out) {
            TRY(parse_value_info(ps, &sub, &f, &m->outputs[m->n_outputs], "output",
                                 m->n_outputs));
            m->n_outputs++;
        }
    }
    if (rc < 0) return rc;

    /* Indexes: initializers first (graph inputs that repeat them, as files
     * before IR version 4 do, are dropped), then Constant outputs. */
    size_t n_outs = 0;
    for (size_t i = 0; i < m->n_nodes; i++) n_outs += m->nodes[i].n_outputs;
    name_index *ix[2] = {&impl->tensors, &impl->producers};
    size_t ix_n[2] = {m->n_initializers + m->n_nodes, n_outs};
    for (int k = 0; k < 2; k++) {
        size_t size = 8;
        while (size < 2 * ix_n[k]) size *= 2;
        TRY(alloc_array(ps, size, sizeof(char *), 16, gf->offset, 1, &p));
        ix[k]->keys = p;
        TRY(alloc_array(ps, size, sizeof(void *), 16, gf->offset, 1, &p));
        ix[k]->vals = p;
        ix[k]->mask = size - 1;
    }
    for (size_t i = 0; i < m->n_initializers; i++)
        index_put(&impl->tensors, m->initializers[i].name, &m->initializers[i]);
    size_t kept = 0;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (!index_get(&impl->tensors, m->inputs[i].name)) m->inputs[kept++] = m->inputs[i];
    m->n_inputs = kept;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const onnx_node *n = &m->nodes[i];
        for (size_t j = 0; j < n->n_outputs; j++) index_put(&impl->producers, n->outputs[j], n);
        if (strcmp(n->op_type, "Constant") != 0 ||
            (*n->domain && strcmp(n->domain, "ai.onnx") != 0) || !n->n_outputs)
            continue;
        const onnx_attr *value = cut_onnx_node_attr(n, "value");
        if (value && value->t) index_put(&impl->tensors, n->outputs[0], value->t);
    }
    pop(ps);
    return 0;
}

/* ---- ModelProto ---- */

static int parse_opset(parser *ps, const pb_reader *r, const pb_field *of, onnx_model *m)
{
    pb_reader sub;
    pb_field f, domain = {0};
    int rc, has_version = 0;
    int64_t version = 0;
    cut_pb_reader_sub(&sub, r, of);
    while ((rc = next_field(ps, &sub, &f)) > 0) {
        if (f.number == 1) {
            TRY(want(ps, &f, PB_LEN, "domain"));
            domain = f;
        } else if (f.number == 2) {
            TRY(want(ps, &f, PB_VARINT, "version"));
            version = to_i64(f.value);
            has_version = 1;
        }
    }
    if (rc < 0) return rc;
    int default_domain = domain.len == 0 || (domain.len == 7 && !memcmp(domain.data, "ai.onnx", 7));
    if (default_domain && has_version) m->opset = version;
    return 0;
}

static int parse_model(parser *ps, const uint8_t *buf, size_t len, model_impl *impl)
{
    onnx_model *m = &impl->pub;
    pb_reader r;
    pb_field f, graph = {0};
    int rc, has_graph = 0;
    size_t n_opsets = 0;

    cut_pb_reader_init(&r, buf, buf, len);
    ps->no_model_field = 1;
    while ((rc = next_field(ps, &r, &f)) > 0) {
        if (f.number <= 8 || f.number == 14 || f.number == 20 || f.number == 25)
            ps->no_model_field = 0; /* a field ModelProto defines */
        switch (f.number) {
        case 1:
            TRY(want(ps, &f, PB_VARINT, "ir_version"));
            m->ir_version = to_i64(f.value);
            break;
        case 2:
            TRY(want(ps, &f, PB_LEN, "producer_name"));
            TRY(copy_str(ps, &f, 0, "producer_name", &m->producer_name));
            break;
        case 7:
            TRY(want(ps, &f, PB_LEN, "graph"));
            graph = f;
            has_graph = 1;
            break;
        case 8:
            TRY(want(ps, &f, PB_LEN, "opset_import"));
            push(ps, "opset_import", n_opsets++);
            TRY(parse_opset(ps, &r, &f, m));
            pop(ps);
            break;
        }
    }
    if (rc < 0) return rc;
    if (!has_graph)
        return fail(ps, CUTOUT_E_FORMAT, len, "the model has no graph (ModelProto field 7)");
    return parse_graph(ps, &r, &graph, m, impl);
}

/* ---- public API ---- */

int cut_onnx_parse(const uint8_t *buf, size_t len, onnx_model **out, char *err, size_t errlen)
{
    if (!out) return cut_fail(err, errlen, CUTOUT_E_ARG, "cut_onnx_parse: out is NULL");
    *out = NULL;
    if (!buf && len) return cut_fail(err, errlen, CUTOUT_E_ARG, "cut_onnx_parse: buffer is NULL");
    if (!len) return cut_fail(err, errlen, CUTOUT_E_FORMAT, "ONNX: the file is empty");

    arena mem = {NULL, ARENA_FIRST_CHUNK};
    model_impl *impl = arena_alloc(&mem, sizeof *impl, 16);
    if (!impl) return cut_fail(err, errlen, CUTOUT_E_NOMEM, "ONNX: out of memory");
    memset(impl, 0, sizeof *impl);
    impl->pub.producer_name = "";

    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.mem = &mem;
    ps.err = err;
    ps.errlen = errlen;
    int rc = parse_model(&ps, buf, len, impl);
    if (rc < 0) {
        arena_free(&mem);
        return rc;
    }
    impl->mem = mem;
    *out = &impl->pub;
    return CUTOUT_OK;
}

void cut_onnx_free(onnx_model *model)
{
    if (!model) return;
    arena mem = ((model_impl *)model)->mem; /* the arena holds the model itself */
    arena_free(&mem);
}

const onnx_tensor *cut_onnx_find_tensor(const onnx_model *model, const char *name)
{
    if (!model) return NULL;
    return index_get(&((const model_impl *)model)->tensors, name);
}

const onnx_attr *cut_onnx_node_attr(const onnx_node *node, const char *name)
{
    if (!node || !name) return NULL;
    for (size_t i = 0; i < node->n_attrs; i++)
        if (!strcmp(node->attrs[i].name, name)) return &node->attrs[i];
    return NULL;
}

const onnx_node *cut_onnx_producer(const onnx_model *model, const char *name)
{
    if (!model) return NULL;
    return index_get(&((const model_impl *)model)->producers, name);
}
