/* The ONNX reader (engine/model/onnx.c, engine/model/protobuf.c).
 *
 * 1. models/u2netp.onnx against facts read independently with Debian's
 *    python3-onnx 1.12 (see u2netp_facts below for the script).
 * 2. Small models built here with a tiny protobuf writer, one feature each:
 *    FLOAT16 (all 65536 bit patterns against a reference built from the
 *    IEEE definition with ldexp), float_data / int64_data / int32_data
 *    packed and unpacked and split over several fields, DOUBLE, the integer
 *    types, Constant nodes, graph inputs that repeat initializers, unknown
 *    fields of every wire type, external data rejection.
 * 3. Malformed input: every truncation and many single-byte corruptions of
 *    a small valid model, huge lengths, wrong wire types, deep nesting,
 *    varint overflow, bad dims, wrong data sizes, absurd counts. Each must
 *    give an error with a message (or, for benign corruptions, a model
 *    whose every byte can be read), and never crash; the sanitizer build
 *    (make sanitize-test) runs this same program under ASan/UBSan/LSan.
 *    Where an error names a byte offset, the test checks that the byte
 *    there is the tag of the field at fault.
 * Run from the repository root. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "onnx.h"
#include "util.h"

static int checks, failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    checks++;
    if (!ok) failures++;
    printf("%s ", ok ? "ok" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- a tiny protobuf writer ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} pbuf;

static void b_raw(pbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_free(pbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void b_varint(pbuf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        b_raw(b, &c, 1);
    } while (v);
}

enum { W_VARINT = 0, W_FIXED64 = 1, W_LEN = 2, W_SGROUP = 3, W_EGROUP = 4, W_FIXED32 = 5 };

static void b_tag(pbuf *b, uint32_t field, int wire)
{
    b_varint(b, (uint64_t)field << 3 | (unsigned)wire);
}

static void f_varint(pbuf *b, uint32_t field, uint64_t v)
{
    b_tag(b, field, W_VARINT);
    b_varint(b, v);
}

static void f_fixed32(pbuf *b, uint32_t field, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    b_tag(b, field, W_FIXED32);
    b_raw(b, le, 4);
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void f_fixed64(pbuf *b, uint32_t field, uint64_t v)
{
    uint8_t le[8];
    le64(le, v);
    b_tag(b, field, W_FIXED64);
    b_raw(b, le, 8);
}

static void f_bytes(pbuf *b, uint32_t field, const void *d, size_t n)
{
    b_tag(b, field, W_LEN);
    b_varint(b, n);
    b_raw(b, d, n);
}

static void f_str(pbuf *b, uint32_t field, const char *s)
{
    f_bytes(b, field, s, strlen(s));
}

/* Appends sub as a length-delimited field and frees it. */
static void f_msg(pbuf *b, uint32_t field, pbuf *sub)
{
    f_bytes(b, field, sub->p, sub->n);
    b_free(sub);
}

static void f_packed_varints(pbuf *b, uint32_t field, const int64_t *v, size_t n)
{
    pbuf body = {0};
    for (size_t i = 0; i < n; i++) b_varint(&body, (uint64_t)v[i]);
    f_msg(b, field, &body);
}

static void f_packed_floats(pbuf *b, uint32_t field, const float *v, size_t n)
{
    pbuf body = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t u = float_bits(v[i]);
        uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        b_raw(&body, le, 4);
    }
    f_msg(b, field, &body);
}

/* Unknown fields of every wire type, nested groups included: a reader must skip them all. */
static void f_junk(pbuf *b)
{
    f_varint(b, 990, 12345);
    f_fixed64(b, 991, 0xdeadbeefcafef00du);
    f_str(b, 992, "junk");
    f_fixed32(b, 993, 7);
    b_tag(b, 994, W_SGROUP);
    f_varint(b, 1, 5);
    b_tag(b, 995, W_SGROUP);
    f_str(b, 2, "inner");
    b_tag(b, 995, W_EGROUP);
    b_tag(b, 994, W_EGROUP);
}

/* ---- ONNX message builders (field numbers from onnx.proto) ---- */

static pbuf tensor_head(const char *name, int dtype, const int64_t *dims, int ndims)
{
    pbuf t = {0};
    if (ndims > 0) f_packed_varints(&t, 1, dims, (size_t)ndims);
    f_varint(&t, 2, (uint64_t)dtype);
    if (name) f_str(&t, 8, name);
    return t;
}

static pbuf float_tensor(const char *name, const int64_t *dims, int ndims, const float *v,
                         size_t n)
{
    pbuf t = tensor_head(name, ONNX_FLOAT, dims, ndims);
    f_packed_floats(&t, 4, v, n);
    return t;
}

/* Names separated by '|'; "" gives no names, "a|" gives "a" and "". */
static void f_names(pbuf *b, uint32_t field, const char *list)
{
    if (!*list) return;
    for (;;) {
        const char *bar = strchr(list, '|');
        size_t n = bar ? (size_t)(bar - list) : strlen(list);
        f_bytes(b, field, list, n);
        if (!bar) break;
        list = bar + 1;
    }
}

static pbuf node_head(const char *op, const char *name, const char *inputs, const char *outputs)
{
    pbuf n = {0};
    f_names(&n, 1, inputs);
    f_names(&n, 2, outputs);
    if (name) f_str(&n, 3, name);
    if (op) f_str(&n, 4, op);
    return n;
}

static pbuf attr_head(const char *name, int type)
{
    pbuf a = {0};
    f_str(&a, 1, name);
    if (type) f_varint(&a, 20, (uint64_t)type);
    return a;
}

static void add_attr(pbuf *node, pbuf *attr)
{
    f_msg(node, 5, attr);
}

static void attr_ints(pbuf *node, const char *name, const int64_t *v, size_t n, int packed)
{
    pbuf a = attr_head(name, ONNX_ATTR_INTS);
    if (packed) f_packed_varints(&a, 8, v, n);
    else
        for (size_t i = 0; i < n; i++) f_varint(&a, 8, (uint64_t)v[i]);
    add_attr(node, &a);
}

static void attr_int(pbuf *node, const char *name, int64_t v)
{
    pbuf a = attr_head(name, ONNX_ATTR_INT);
    f_varint(&a, 3, (uint64_t)v);
    add_attr(node, &a);
}

static void attr_float(pbuf *node, const char *name, float v)
{
    pbuf a = attr_head(name, ONNX_ATTR_FLOAT);
    f_fixed32(&a, 2, float_bits(v));
    add_attr(node, &a);
}

static void attr_str(pbuf *node, const char *name, const char *s)
{
    pbuf a = attr_head(name, ONNX_ATTR_STRING);
    f_str(&a, 4, s);
    add_attr(node, &a);
}

static void attr_tensor(pbuf *node, const char *name, pbuf *tensor)
{
    pbuf a = attr_head(name, ONNX_ATTR_TENSOR);
    f_msg(&a, 5, tensor);
    add_attr(node, &a);
}

/* ValueInfoProto; dims < 0 become dim_param "N"; ndims < 0: no shape. */
static pbuf value_info(const char *name, int elem, const int64_t *dims, int ndims)
{
    pbuf v = {0}, type = {0}, tt = {0}, shape = {0};
    f_str(&v, 1, name);
    f_varint(&tt, 1, (uint64_t)elem);
    if (ndims >= 0) {
        for (int i = 0; i < ndims; i++) {
            pbuf d = {0};
            if (dims[i] >= 0) f_varint(&d, 1, (uint64_t)dims[i]);
            else f_str(&d, 2, "N");
            f_msg(&shape, 1, &d);
        }
        f_msg(&tt, 2, &shape);
    }
    f_msg(&type, 1, &tt);
    f_msg(&v, 2, &type);
    return v;
}

/* ModelProto: ir_version 7, opset 11, producer "cutout-test", graph last. */
static pbuf model_of(pbuf *graph)
{
    pbuf m = {0}, op = {0};
    f_varint(&m, 1, 7);
    f_str(&m, 2, "cutout-test");
    f_str(&op, 1, "");
    f_varint(&op, 2, 11);
    f_msg(&m, 8, &op);
    f_msg(&m, 7, graph);
    return m;
}

/* ---- reading back ---- */

static int parse(const pbuf *b, onnx_model **m, char *err, size_t errlen)
{
    *m = NULL;
    err[0] = 0;
    return cut_onnx_parse(b->p, b->n, m, err, errlen);
}

/* Reads every string and value of a parsed model, so that ASan sees any
 * pointer or count that does not match its allocation. Returns a checksum. */
static double touch_tensor(const onnx_tensor *t)
{
    double s = (double)strlen(t->name) + t->ndims;
    if (t->ndims < 0 || t->ndims > ONNX_MAX_DIMS) abort();
    for (size_t i = 0; t->f32 && i < t->count; i++) s += t->f32[i] == t->f32[i];
    for (size_t i = 0; t->i64 && i < t->count; i++) s += (double)(t->i64[i] & 1);
    return s;
}

static double touch_model(const onnx_model *m)
{
    double s = (double)strlen(m->producer_name);
    for (size_t i = 0; i < m->n_nodes; i++) {
        const onnx_node *n = &m->nodes[i];
        s += (double)(strlen(n->name) + strlen(n->op_type) + strlen(n->domain));
        for (size_t j = 0; j < n->n_inputs; j++) s += (double)strlen(n->inputs[j]);
        for (size_t j = 0; j < n->n_outputs; j++) {
            s += (double)strlen(n->outputs[j]);
            if (*n->outputs[j] && !cut_onnx_producer(m, n->outputs[j])) abort();
        }
        for (size_t j = 0; j < n->n_attrs; j++) {
            const onnx_attr *a = &n->attrs[j];
            s += (double)strlen(a->name) + (a->s ? (double)strlen(a->s) : 0);
            for (size_t k = 0; k < a->n_ints; k++) s += (double)(a->ints[k] & 1);
            for (size_t k = 0; k < a->n_floats; k++) s += a->floats[k] == a->floats[k];
            if (a->t) s += touch_tensor(a->t);
            if (cut_onnx_node_attr(n, a->name) == NULL) abort();
        }
    }
    for (size_t i = 0; i < m->n_initializers; i++) {
        s += touch_tensor(&m->initializers[i]);
        if (!cut_onnx_find_tensor(m, m->initializers[i].name)) abort();
    }
    const onnx_value_info *vi[2] = {m->inputs, m->outputs};
    size_t nv[2] = {m->n_inputs, m->n_outputs};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < nv[k]; i++) {
            s += (double)strlen(vi[k][i].name);
            if (vi[k][i].ndims < -1 || vi[k][i].ndims > ONNX_MAX_DIMS) abort();
            for (int d = 0; d < vi[k][i].ndims; d++) s += (double)(vi[k][i].dims[d] & 1);
        }
    return s;
}

/* The byte offset an error message names, or SIZE_MAX. */
static size_t err_offset(const char *err)
{
    const char *at = strstr(err, "(at byte ");
    return at ? (size_t)strtoull(at + 9, NULL, 10) : SIZE_MAX;
}

/* Expects failure with code, a message containing want, and (tag != 0)
 * the named offset pointing at that tag byte. */
static void expect_error(const pbuf *b, int code, const char *want, int tag, const char *what)
{
    onnx_model *m;
    char err[512];
    int rc = parse(b, &m, err, sizeof err);
    size_t off = err_offset(err);
    int tag_ok = !tag || (off < b->n && b->p[off] == tag);
    check(rc == code && m == NULL && strstr(err, want) && tag_ok,
          "%s: rc %d (want %d), message \"%s\"%s", what, rc, code, err,
          tag_ok ? "" : " -- offset does not point at the expected field");
    cut_onnx_free(m);
}

/* ---- 1. the real model ---- */

/* Facts from models/u2netp.onnx, read with Debian's python3-onnx 1.12:
 *   /usr/bin/python3 -c "import onnx, numpy as np, collections
 *   from onnx import numpy_helper
 *   m = onnx.load('models/u2netp.onnx'); g = m.graph
 *   print(m.ir_version, m.opset_import, m.producer_name, len(g.node), len(g.initializer))
 *   print(collections.Counter(n.op_type for n in g.node)); print(g.node[0], g.node[4], g.node[42])
 *   a = numpy_helper.to_array([t for t in g.initializer if t.name == '1967'][0])
 *   print(a.shape, a.astype(np.float64).sum(), a.ravel()[:3], a.ravel()[-1])
 *   tot = tabs = tw = 0.0
 *   for t in g.initializer:
 *       x = numpy_helper.to_array(t).astype(np.float64).ravel(); w = np.arange(x.size) % 7 + 1
 *       tot += x.sum(); tabs += np.abs(x).sum(); tw += (x * w).sum()
 *   print(repr(tot), repr(tabs), repr(tw))"
 * The weighted sum (weights 1..7 cycling over each tensor's elements) also
 * catches values decoded into the wrong places. */
static void u2netp_facts(void)
{
    uint8_t *data;
    size_t size;
    char err[512] = "";
    onnx_model *m = NULL;
    if (cutout_read_file("models/u2netp.onnx", (size_t)1 << 30, &data, &size, err, sizeof err)) {
        check(0, "read models/u2netp.onnx: %s", err);
        return;
    }
    double t0 = cut_now_ms();
    int rc = cut_onnx_parse(data, size, &m, err, sizeof err);
    double ms = cut_now_ms() - t0;
    free(data);
    check(rc == CUTOUT_OK, "u2netp.onnx parses (%zu bytes in %.1f ms) %s", size, ms, err);
    if (rc) return;

    check(m->ir_version == 6 && m->opset == 11 && !strcmp(m->producer_name, "pytorch"),
          "u2netp: ir_version %lld (want 6), opset %lld (want 11), producer '%s' (want pytorch)",
          (long long)m->ir_version, (long long)m->opset, m->producer_name);
    check(m->n_nodes == 1055 && m->n_initializers == 238,
          "u2netp: %zu nodes (want 1055), %zu initializers (want 238)", m->n_nodes,
          m->n_initializers);
    const char *ops[] = {"Conv", "Constant", "Relu", "MaxPool", "Resize", "Sigmoid", "Concat"};
    const size_t want_ops[] = {119, 266, 112, 33, 38, 7, 127};
    for (int k = 0; k < 7; k++) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_nodes; i++) n += !strcmp(m->nodes[i].op_type, ops[k]);
        check(n == want_ops[k], "u2netp: %zu %s nodes (want %zu)", n, ops[k], want_ops[k]);
    }
    size_t n_in = 0, n_out = 0, n_attr = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        n_in += m->nodes[i].n_inputs;
        n_out += m->nodes[i].n_outputs;
        n_attr += m->nodes[i].n_attrs;
    }
    check(n_in == 1473 && n_out == 1055 && n_attr == 1462,
          "u2netp: node inputs/outputs/attributes %zu/%zu/%zu (want 1473/1055/1462)", n_in, n_out,
          n_attr);

    const onnx_value_info *in = m->inputs;
    check(m->n_inputs == 1 && !strcmp(in->name, "input.1") && in->elem_type == ONNX_FLOAT &&
              in->ndims == 4 && in->dims[0] == 1 && in->dims[1] == 3 && in->dims[2] == 320 &&
              in->dims[3] == 320,
          "u2netp: one graph input 'input.1' FLOAT 1x3x320x320");
    check(m->n_outputs == 7 && !strcmp(m->outputs[0].name, "1959") && m->outputs[0].ndims == 4 &&
              m->outputs[0].dims[2] == 320 && !strcmp(m->outputs[2].name, "1961") &&
              m->outputs[2].ndims == 4 && m->outputs[2].dims[0] == -1 &&
              m->outputs[2].dims[3] == -1,
          "u2netp: 7 outputs, '1959' 1x1x320x320, '1961' with symbolic dims (-1)");

    const onnx_node *conv = &m->nodes[0];
    const onnx_attr *pads = cut_onnx_node_attr(conv, "pads"),
                    *group = cut_onnx_node_attr(conv, "group");
    check(!strcmp(conv->name, "Conv_0") && !strcmp(conv->op_type, "Conv") &&
              conv->n_inputs == 3 && !strcmp(conv->inputs[0], "input.1") &&
              !strcmp(conv->inputs[1], "1967") && !strcmp(conv->inputs[2], "1968") &&
              conv->n_outputs == 1 && !strcmp(conv->outputs[0], "1966") && conv->n_attrs == 5 &&
              pads && pads->type == ONNX_ATTR_INTS && pads->n_ints == 4 && pads->ints[0] == 1 &&
              pads->ints[3] == 1 && group && group->type == ONNX_ATTR_INT && group->i == 1 &&
              !cut_onnx_node_attr(conv, "nothing"),
          "u2netp: node 0 is Conv_0(input.1, 1967, 1968) -> 1966 with pads [1,1,1,1], group 1");
    const onnx_attr *ceil = cut_onnx_node_attr(&m->nodes[4], "ceil_mode");
    check(!strcmp(m->nodes[4].op_type, "MaxPool") && ceil && ceil->i == 1,
          "u2netp: node 4 MaxPool has ceil_mode 1");
    const onnx_node *rs = &m->nodes[42];
    const onnx_attr *ctm = cut_onnx_node_attr(rs, "coordinate_transformation_mode"),
                    *mode = cut_onnx_node_attr(rs, "mode"),
                    *cubic = cut_onnx_node_attr(rs, "cubic_coeff_a");
    check(!strcmp(rs->op_type, "Resize") && ctm && ctm->type == ONNX_ATTR_STRING &&
              !strcmp(ctm->s, "pytorch_half_pixel") && mode && !strcmp(mode->s, "linear") &&
              cubic && cubic->type == ONNX_ATTR_FLOAT && cubic->f == -0.75f,
          "u2netp: node 42 Resize: pytorch_half_pixel, linear, cubic_coeff_a -0.75");

    const onnx_tensor *w = cut_onnx_find_tensor(m, "1967");
    double sum = 0;
    for (size_t i = 0; w && w->f32 && i < w->count; i++) sum += w->f32[i];
    /* First and last values exact (float32 printed by numpy with repr);
     * the sum of 1728 floats in double differs from numpy's pairwise sum
     * by far less than 1e-12. */
    check(w && w->data_type == ONNX_FLOAT && w->ndims == 4 && w->dims[0] == 64 &&
              w->dims[1] == 3 && w->dims[2] == 3 && w->dims[3] == 3 && w->count == 1728 &&
              w->f32 && !w->i64 && w->f32[0] == 0.04649604111909866f &&
              w->f32[1] == 0.1275029182434082f && w->f32[2] == 0.12780708074569702f &&
              w->f32[1727] == 0.011645297519862652f && fabs(sum - -5.012901918030366) < 1e-12,
          "u2netp: weight 1967 (first conv) is 64x3x3x3, sum %.15g (want -5.012901918030366)",
          sum);

    double tot = 0, tabs = 0, tw = 0;
    size_t params = 0;
    for (size_t i = 0; i < m->n_initializers; i++) {
        const onnx_tensor *t = &m->initializers[i];
        params += t->count;
        for (size_t j = 0; t->f32 && j < t->count; j++) {
            tot += t->f32[j];
            tabs += fabs(t->f32[j]);
            tw += t->f32[j] * (double)(j % 7 + 1);
        }
    }
    /* Both sides add exact floats in double, in different orders: the
     * difference is below n·2^-53·Σ|w·x| ≈ 1.1e6 · 1.1e-16 · 2.3e5 < 3e-5. */
    check(params == 1125485 && fabs(tot - 11672.27303523011) < 3e-5 &&
              fabs(tabs - 57579.074463355646) < 3e-5 && fabs(tw - 39623.91964278943) < 3e-5,
          "u2netp: %zu weights (want 1125485), sum %.10f, sum|x| %.10f, weighted %.10f", params,
          tot, tabs, tw);

    const onnx_tensor *c = cut_onnx_find_tensor(m, "833"), *e = cut_onnx_find_tensor(m, "1955");
    const onnx_node *pc = cut_onnx_producer(m, "833");
    check(c && c->data_type == ONNX_INT64 && c->ndims == 0 && c->count == 1 && c->i64 &&
              c->i64[0] == 2 && pc && !strcmp(pc->name, "Constant_25") && e && e->count == 0 &&
              e->ndims == 1 && e->dims[0] == 0 && e->f32,
          "u2netp: Constant outputs found: '833' INT64 scalar 2 from Constant_25, '1955' empty "
          "FLOAT [0]");
    const onnx_node *relu = cut_onnx_producer(m, "801");
    check(relu && !strcmp(relu->name, "Relu_1") && !cut_onnx_producer(m, "input.1") &&
              !cut_onnx_producer(m, "1967") && !cut_onnx_find_tensor(m, "input.1") &&
              !cut_onnx_find_tensor(m, "nothing") && !cut_onnx_find_tensor(m, ""),
          "u2netp: producer of 801 is Relu_1; graph input and weights have no producer");
    cut_onnx_free(m);
}

/* ---- 2. features, on small models built here ---- */

/* The IEEE 754 binary16 definition, for the FLOAT16 check. */
static float half_reference(unsigned h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v;
    if (exp == 31) v = mant ? NAN : INFINITY;
    else if (exp == 0) v = ldexp(mant, -24);
    else v = ldexp(1024 + mant, exp - 25);
    return (float)(sign ? -v : v);
}

static void test_float16(void)
{
    pbuf g = {0}, t;
    int64_t dims[1] = {65536};
    uint8_t *raw = malloc(2 * 65536);
    for (unsigned h = 0; h < 65536; h++) {
        raw[2 * h] = (uint8_t)h;
        raw[2 * h + 1] = (uint8_t)(h >> 8);
    }
    t = tensor_head("h_raw", ONNX_FLOAT16, dims, 1);
    f_bytes(&t, 9, raw, 2 * 65536);
    f_msg(&g, 5, &t);
    free(raw);
    /* int32_data holds the uint16 bits; packed in one field, unpacked in another. */
    const int64_t bits[] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x7e00, 0x8000};
    int64_t d8[1] = {8};
    t = tensor_head("h_packed", ONNX_FLOAT16, d8, 1);
    f_packed_varints(&t, 5, bits, 8);
    f_msg(&g, 5, &t);
    t = tensor_head("h_unpacked", ONNX_FLOAT16, d8, 1);
    for (int i = 0; i < 8; i++) f_varint(&t, 5, (uint64_t)bits[i]);
    f_msg(&g, 5, &t);
    pbuf mb = model_of(&g);

    onnx_model *m;
    char err[512];
    int rc = parse(&mb, &m, err, sizeof err);
    check(rc == 0, "fp16 model parses %s", err);
    b_free(&mb);
    if (rc) return;
    const onnx_tensor *h = cut_onnx_find_tensor(m, "h_raw");
    size_t bad = 0, nans = 0;
    for (unsigned i = 0; h && i < 65536; i++) {
        float want = half_reference(i), got = h->f32[i];
        if (isnan(want)) {
            nans++;
            bad += !isnan(got) || signbit(got) != signbit(want);
        } else {
            bad += float_bits(got) != float_bits(want); /* exact, including -0 */
        }
    }
    check(h && h->f32 && !h->i64 && h->count == 65536 && bad == 0 && nans == 2046,
          "FLOAT16 raw_data: all 65536 values exact against the IEEE definition (%zu wrong, %zu "
          "NaNs)",
          bad, nans);
    const float want[8] = {1.0f, -2.0f, 0x1p-24f, 0x3ffp-24f, 65504.0f, -INFINITY, NAN, -0.0f};
    const char *names[2] = {"h_packed", "h_unpacked"};
    for (int k = 0; k < 2; k++) {
        const onnx_tensor *t8 = cut_onnx_find_tensor(m, names[k]);
        int ok = t8 && t8->f32 && t8->count == 8;
        for (int i = 0; ok && i < 8; i++)
            ok = i == 6 ? isnan(t8->f32[i]) : float_bits(t8->f32[i]) == float_bits(want[i]);
        check(ok, "FLOAT16 in int32_data (%s): 1, -2, 2^-24, largest subnormal, 65504, -inf, "
                  "nan, -0",
              names[k] + 2);
    }
    cut_onnx_free(m);
}

/* A model with one of each data layout; junk adds unknown fields everywhere. */
static pbuf layouts_model(int junk)
{
    pbuf g = {0}, t, n;
    int64_t d23[2] = {2, 3}, d5[1] = {5}, d4[1] = {4};
    if (junk) f_junk(&g);

    /* FLOAT [2,3] over three float_data fields: packed, unpacked, packed. */
    t = tensor_head(NULL, ONNX_FLOAT, d23, 2);
    if (junk) f_junk(&t);
    const float fv[6] = {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 1234.5f};
    f_packed_floats(&t, 4, fv, 2);
    f_fixed32(&t, 4, float_bits(fv[2]));
    f_packed_floats(&t, 4, fv + 3, 3);
    f_str(&t, 8, "floats"); /* the name after the data */
    f_msg(&g, 5, &t);

    /* INT64 packed and unpacked. */
    const int64_t iv[5] = {-1, INT64_MIN, INT64_MAX, 0, 42};
    t = tensor_head("i64_packed", ONNX_INT64, d5, 1);
    f_packed_varints(&t, 7, iv, 5);
    f_msg(&g, 5, &t);
    t = tensor_head("i64_unpacked", ONNX_INT64, d5, 1);
    for (int i = 0; i < 5; i++) f_varint(&t, 7, (uint64_t)iv[i]);
    f_msg(&g, 5, &t);
    /* INT64 in raw_data, data_type given after the data. */
    t = (pbuf){0};
    f_packed_varints(&t, 1, d5, 1);
    uint8_t raw64[40];
    for (int i = 0; i < 5; i++) le64(raw64 + 8 * i, (uint64_t)iv[i]);
    f_bytes(&t, 9, raw64, 40);
    f_varint(&t, 2, ONNX_INT64);
    f_str(&t, 8, "i64_raw");
    f_msg(&g, 5, &t);

    /* INT32 / INT8 in int32_data (negatives are 10-byte varints), UINT8 and INT8 raw. */
    const int64_t i32[4] = {-7, INT32_MIN, INT32_MAX, 0};
    t = tensor_head("i32", ONNX_INT32, d4, 1);
    f_packed_varints(&t, 5, i32, 4);
    f_msg(&g, 5, &t);
    const int64_t i8[4] = {-128, 127, -1, 5};
    t = tensor_head("i8", ONNX_INT8, d4, 1);
    f_packed_varints(&t, 5, i8, 4);
    f_msg(&g, 5, &t);
    const uint8_t bytes[4] = {0, 1, 0x80, 0xff};
    t = tensor_head("u8_raw", ONNX_UINT8, d4, 1);
    f_bytes(&t, 9, bytes, 4);
    f_msg(&g, 5, &t);
    t = tensor_head("i8_raw", ONNX_INT8, d4, 1);
    f_bytes(&t, 9, bytes, 4);
    f_msg(&g, 5, &t);

    /* DOUBLE in double_data (packed + unpacked) and raw_data. */
    const double dv[4] = {1.5, -0.1, 1e300, -1e-50};
    t = tensor_head("f64", ONNX_DOUBLE, d4, 1);
    pbuf packed = {0};
    uint8_t le[8];
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &dv[i], 8);
        le64(le, u);
        b_raw(&packed, le, 8);
    }
    f_msg(&t, 10, &packed);
    uint64_t u3;
    memcpy(&u3, &dv[3], 8);
    f_fixed64(&t, 10, u3);
    f_msg(&g, 5, &t);
    t = tensor_head("f64_raw", ONNX_DOUBLE, d4, 1);
    uint8_t rawd[32];
    for (int i = 0; i < 4; i++) {
        uint64_t u;
        memcpy(&u, &dv[i], 8);
        le64(rawd + 8 * i, u);
    }
    f_bytes(&t, 9, rawd, 32);
    f_msg(&g, 5, &t);

    /* A scalar, an empty tensor, a repeat of a graph input (IR < 4 style). */
    const float one = 7.0f;
    t = float_tensor("scalar", NULL, 0, &one, 1);
    f_msg(&g, 5, &t);
    int64_t d0[2] = {3, 0};
    t = tensor_head("empty", ONNX_FLOAT, d0, 2);
    f_msg(&g, 5, &t);

    /* Constant → Conv with every attribute kind; one attribute has no type. */
    n = node_head("Constant", "const0", "", "c0");
    if (junk) f_junk(&n);
    t = tensor_head(NULL, ONNX_INT64, d4, 1);
    const int64_t cv[4] = {1, 2, 3, -4};
    f_packed_varints(&t, 7, cv, 4);
    attr_tensor(&n, "value", &t);
    f_msg(&g, 1, &n);
    n = node_head("Conv", "conv0", "x|scalar|", "y");
    const int64_t pads[4] = {1, 2, 3, 4}, ks[2] = {3, 3};
    attr_ints(&n, "pads", pads, 4, 0);
    attr_ints(&n, "kernel_shape", ks, 2, 1);
    attr_int(&n, "group", -3);
    attr_float(&n, "alpha", 0.25f);
    attr_str(&n, "auto_pad", "NOTSET");
    pbuf a = attr_head("legacy", 0); /* no type field: inferred from the floats */
    if (junk) f_junk(&a);
    const float fl[3] = {1.5f, -2.5f, 0.125f};
    f_packed_floats(&a, 7, fl, 2);
    f_fixed32(&a, 7, float_bits(fl[2]));
    add_attr(&n, &a);
    f_str(&n, 7, "ai.onnx");
    f_msg(&g, 1, &n);

    const int64_t xdims[4] = {1, 3, -1, 320};
    pbuf v = value_info("x", ONNX_FLOAT, xdims, 4);
    f_msg(&g, 11, &v);
    v = value_info("scalar", ONNX_FLOAT, NULL, 0); /* also an initializer: dropped */
    f_msg(&g, 11, &v);
    v = value_info("y", ONNX_FLOAT, NULL, -1);
    if (junk) f_junk(&v);
    f_msg(&g, 12, &v);

    pbuf m = {0}, op = {0}, op2 = {0};
    if (junk) f_junk(&m);
    f_varint(&m, 1, 3); /* overridden below: the last value wins */
    f_str(&op, 1, "com.microsoft");
    f_varint(&op, 2, 1);
    f_msg(&m, 8, &op);
    f_str(&op2, 1, "ai.onnx");
    f_varint(&op2, 2, 13);
    f_msg(&m, 8, &op2);
    f_str(&m, 2, "layouts");
    f_msg(&m, 7, &g);
    f_varint(&m, 1, 8);
    if (junk) f_junk(&m);
    return m;
}

static void test_layouts(int junk)
{
    pbuf mb = layouts_model(junk);
    onnx_model *m;
    char err[512];
    const char *tag = junk ? " (with unknown fields of every wire type everywhere)" : "";
    int rc = parse(&mb, &m, err, sizeof err);
    b_free(&mb);
    check(rc == 0, "layouts model parses%s %s", tag, err);
    if (rc) return;
    check(m->ir_version == 8 && m->opset == 13 && !strcmp(m->producer_name, "layouts"),
          "ir_version last value wins (%lld), opset from domain ai.onnx (%lld)%s",
          (long long)m->ir_version, (long long)m->opset, tag);

    const onnx_tensor *t = cut_onnx_find_tensor(m, "floats");
    const float fv[6] = {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 1234.5f};
    int ok = t && t->f32 && !t->i64 && t->count == 6 && t->ndims == 2 && t->dims[1] == 3;
    for (int i = 0; ok && i < 6; i++) ok = float_bits(t->f32[i]) == float_bits(fv[i]);
    check(ok, "float_data split over packed + unpacked + packed fields%s", tag);

    const int64_t iv[5] = {-1, INT64_MIN, INT64_MAX, 0, 42};
    const char *i64names[3] = {"i64_packed", "i64_unpacked", "i64_raw"};
    for (int k = 0; k < 3; k++) {
        t = cut_onnx_find_tensor(m, i64names[k]);
        ok = t && t->i64 && !t->f32 && t->count == 5;
        for (int i = 0; ok && i < 5; i++) ok = t->i64[i] == iv[i];
        check(ok, "INT64 %s: -1, INT64_MIN, INT64_MAX, 0, 42%s", i64names[k] + 4, tag);
    }
    const onnx_tensor *i32 = cut_onnx_find_tensor(m, "i32"), *i8 = cut_onnx_find_tensor(m, "i8"),
                      *u8r = cut_onnx_find_tensor(m, "u8_raw"),
                      *i8r = cut_onnx_find_tensor(m, "i8_raw");
    check(i32 && i32->i64 && i32->i64[0] == -7 && i32->i64[1] == INT32_MIN &&
              i32->i64[2] == INT32_MAX && i32->i64[3] == 0 && i8 && i8->i64[0] == -128 &&
              i8->i64[1] == 127 && i8->i64[2] == -1 && i8->i64[3] == 5,
          "INT32 and INT8 in int32_data, negatives included%s", tag);
    check(u8r && u8r->i64 && u8r->i64[2] == 128 && u8r->i64[3] == 255 && i8r &&
              i8r->i64[2] == -128 && i8r->i64[3] == -1,
          "UINT8 and INT8 in raw_data%s", tag);
    const char *dnames[2] = {"f64", "f64_raw"};
    for (int k = 0; k < 2; k++) {
        t = cut_onnx_find_tensor(m, dnames[k]);
        check(t && t->f32 && t->count == 4 && t->f32[0] == 1.5f && t->f32[1] == (float)-0.1 &&
                  isinf(t->f32[2]) && t->f32[2] > 0 && t->f32[3] == 0 && signbit(t->f32[3]),
              "DOUBLE %s: 1.5, -0.1 rounded to float, 1e300 -> +inf, -1e-50 -> -0%s",
              k ? "raw_data" : "double_data", tag);
    }
    const onnx_tensor *sc = cut_onnx_find_tensor(m, "scalar"),
                      *em = cut_onnx_find_tensor(m, "empty");
    check(sc && sc->ndims == 0 && sc->count == 1 && sc->f32[0] == 7.0f && em && em->ndims == 2 &&
              em->count == 0 && em->f32,
          "scalar (no dims, 1 value) and empty [3,0] tensors%s", tag);

    const onnx_tensor *c0 = cut_onnx_find_tensor(m, "c0");
    const onnx_node *p = cut_onnx_producer(m, "c0");
    check(c0 && c0->i64 && c0->count == 4 && c0->i64[3] == -4 && p && !strcmp(p->name, "const0") &&
              cut_onnx_producer(m, "y") == &m->nodes[1] && !cut_onnx_producer(m, "x"),
          "Constant value tensor found by output name; producers%s", tag);
    const onnx_node *conv = &m->nodes[1];
    const onnx_attr *pads = cut_onnx_node_attr(conv, "pads"),
                    *ks = cut_onnx_node_attr(conv, "kernel_shape"),
                    *grp = cut_onnx_node_attr(conv, "group"),
                    *al = cut_onnx_node_attr(conv, "alpha"),
                    *ap = cut_onnx_node_attr(conv, "auto_pad"),
                    *lg = cut_onnx_node_attr(conv, "legacy");
    check(conv->n_inputs == 3 && !strcmp(conv->inputs[2], "") && !strcmp(conv->domain, "ai.onnx") &&
              pads && pads->n_ints == 4 && pads->ints[0] == 1 && pads->ints[3] == 4 && ks &&
              ks->n_ints == 2 && ks->ints[1] == 3 && grp && grp->i == -3 && al &&
              al->type == ONNX_ATTR_FLOAT && al->f == 0.25f && ap && !strcmp(ap->s, "NOTSET") &&
              lg && lg->type == ONNX_ATTR_FLOATS && lg->n_floats == 3 && lg->floats[0] == 1.5f &&
              lg->floats[2] == 0.125f,
          "attributes: ints unpacked/packed, negative int, float, string, type-less floats "
          "(inferred FLOATS), omitted optional input \"\"%s",
          tag);
    check(m->n_inputs == 1 && !strcmp(m->inputs[0].name, "x") && m->inputs[0].ndims == 4 &&
              m->inputs[0].dims[2] == -1 && m->inputs[0].dims[3] == 320 && m->n_outputs == 1 &&
              m->outputs[0].ndims == -1 && m->outputs[0].elem_type == ONNX_FLOAT,
          "graph inputs that repeat initializers are dropped; dim_param -> -1; no shape -> "
          "ndims -1%s",
          tag);
    cut_onnx_free(m);
}

static void test_external(void)
{
    int64_t d2[1] = {2};
    pbuf g = {0}, t = tensor_head("w_ext", ONNX_FLOAT, d2, 1), kv = {0};
    f_str(&kv, 1, "location");
    f_str(&kv, 2, "weights.bin");
    f_msg(&t, 13, &kv);
    f_varint(&t, 14, 1);
    f_msg(&g, 5, &t);
    pbuf mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "initializer 0 'w_ext': data is stored in an external",
                 0x6a /* field 13, LEN */, "external_data + data_location=EXTERNAL rejected");
    b_free(&mb);

    g = (pbuf){0};
    t = tensor_head("w_loc", ONNX_FLOAT, d2, 1);
    f_varint(&t, 14, 1);
    f_msg(&g, 5, &t);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "external file", 0x70 /* field 14, varint */,
                 "data_location=EXTERNAL alone rejected");
    b_free(&mb);

    g = (pbuf){0};
    pbuf n = node_head("Constant", "c", "", "k");
    t = tensor_head(NULL, ONNX_FLOAT, d2, 1);
    f_str(&kv, 1, "location");
    f_msg(&t, 13, &kv);
    attr_tensor(&n, "value", &t);
    f_msg(&g, 1, &n);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "node 0 'c' > attribute 0 'value' > tensor: data",
                 0x6a, "external data in a Constant's tensor rejected");
    b_free(&mb);
}

/* ---- 3. malformed input ---- */

/* A small valid model (~400 bytes), the base for truncations and corruptions. */
static pbuf small_model(void)
{
    pbuf g = {0}, t, n;
    int64_t wd[4] = {2, 1, 3, 3}, d2[1] = {2};
    float w[18];
    for (int i = 0; i < 18; i++) w[i] = (float)i / 8 - 1;
    n = node_head("Conv", "conv", "x|w|b", "y");
    const int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
    attr_ints(&n, "kernel_shape", ks, 2, 1);
    attr_ints(&n, "pads", pads, 4, 0);
    attr_int(&n, "group", 1);
    f_msg(&g, 1, &n);
    n = node_head("Constant", "c", "", "shape");
    int64_t sv[2] = {1, -1};
    t = tensor_head(NULL, ONNX_INT64, d2, 1);
    uint8_t raw[16];
    le64(raw, (uint64_t)sv[0]);
    le64(raw + 8, (uint64_t)sv[1]);
    f_bytes(&t, 9, raw, 16);
    attr_tensor(&n, "value", &t);
    f_msg(&g, 1, &n);
    n = node_head("Resize", "up", "y|||shape", "z");
    attr_str(&n, "mode", "linear");
    attr_float(&n, "cubic_coeff_a", -0.75f);
    f_msg(&g, 1, &n);
    t = float_tensor("w", wd, 4, w, 18);
    f_msg(&g, 5, &t);
    t = tensor_head("b", ONNX_FLOAT16, d2, 1);
    const uint8_t hb[4] = {0x00, 0x3c, 0x00, 0xc0};
    f_bytes(&t, 9, hb, 4);
    f_msg(&g, 5, &t);
    const int64_t xd[4] = {1, 1, -1, 4};
    pbuf v = value_info("x", ONNX_FLOAT, xd, 4);
    f_msg(&g, 11, &v);
    v = value_info("z", ONNX_FLOAT, NULL, -1);
    f_msg(&g, 12, &v);
    return model_of(&g);
}

static int known_code(int rc)
{
    return rc == CUTOUT_E_FORMAT || rc == CUTOUT_E_UNSUPPORTED;
}

static void test_truncations(void)
{
    pbuf full = small_model();
    onnx_model *m;
    char err[512];
    int rc = parse(&full, &m, err, sizeof err);
    check(rc == 0 && m->n_nodes == 3 && m->n_initializers == 2 && touch_model(m) > 0,
          "small model (%zu bytes) parses %s", full.n, err);
    cut_onnx_free(m);
    /* The graph is the last field and runs to the end: every shorter
     * prefix cuts it (or drops it) and must be rejected. */
    size_t bad = 0;
    char first_bad[600] = "";
    for (size_t len = 0; len < full.n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
        memcpy(copy, full.p, len);
        err[0] = 0;
        rc = cut_onnx_parse(copy, len, &m, err, sizeof err);
        if (rc == 0 || !known_code(rc) || !err[0] || m) {
            if (!bad++) snprintf(first_bad, sizeof first_bad, "length %zu: rc %d %s", len, rc, err);
            cut_onnx_free(m);
        }
        free(copy);
    }
    check(bad == 0, "all %zu truncations rejected with a message %s", full.n, first_bad);
    b_free(&full);
}

static void test_corruptions(void)
{
    pbuf full = small_model();
    size_t accepted = 0, rejected = 0, bad = 0;
    char first_bad[600] = "";
    for (size_t pos = 0; pos < full.n; pos++) {
        const uint8_t orig = full.p[pos];
        const uint8_t vals[8] = {0x00,
                                 0xff,
                                 0x80,
                                 0x7f,
                                 (uint8_t)(orig ^ 1),
                                 (uint8_t)(orig ^ 0x80),
                                 (uint8_t)(orig + 1),
                                 (uint8_t)(orig ^ 0x08)};
        for (int k = 0; k < 8; k++) {
            if (vals[k] == orig) continue;
            uint8_t *copy = malloc(full.n);
            memcpy(copy, full.p, full.n);
            copy[pos] = vals[k];
            onnx_model *m;
            char err[512] = "";
            int rc = cut_onnx_parse(copy, full.n, &m, err, sizeof err);
            if (rc == 0) {
                accepted++;
                touch_model(m); /* under ASan: every pointer and count is consistent */
                cut_onnx_free(m);
            } else if (known_code(rc) && err[0] && !m && err_offset(err) <= full.n) {
                rejected++;
            } else if (!bad++) {
                snprintf(first_bad, sizeof first_bad, "byte %zu = 0x%02x: rc %d %s", pos, vals[k],
                         rc, err);
            }
            free(copy);
        }
    }
    check(bad == 0 && rejected > 0,
          "%zu single-byte corruptions: %zu rejected with a message and offset, %zu accepted "
          "(benign) and fully readable %s",
          accepted + rejected + bad, rejected, accepted, first_bad);
    b_free(&full);
}

static void test_wire_errors(void)
{
    pbuf b = {0};
    /* Huge length prefix on the graph field. */
    b_tag(&b, 7, W_LEN);
    b_varint(&b, (uint64_t)1 << 62);
    b_raw(&b, "abc", 3);
    expect_error(&b, CUTOUT_E_FORMAT,
                 "field 7 declares 4611686018427387904 bytes but only 3 remain", 0, "huge length");
    b_free(&b);

    /* 11-byte varint, and a 10-byte one whose last byte overflows 64 bits. */
    b_tag(&b, 1, W_VARINT);
    b_raw(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    expect_error(&b, CUTOUT_E_FORMAT, "varint value of field 1 is a varint longer than 64 bits", 0,
                 "11-byte varint");
    b_free(&b);
    b_tag(&b, 1, W_VARINT);
    b_raw(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    expect_error(&b, CUTOUT_E_FORMAT, "longer than 64 bits", 0, "varint overflowing bit 63");
    b_free(&b);

    /* Wrong wire types for known fields. */
    f_varint(&b, 7, 5);
    expect_error(&b, CUTOUT_E_FORMAT, "graph (field 7) has wire type varint, expected "
                                      "length-delimited",
                 0x38, "graph as a varint");
    b_free(&b);
    f_str(&b, 1, "7");
    expect_error(&b, CUTOUT_E_FORMAT, "ir_version (field 1) has wire type length-delimited", 0x0a,
                 "ir_version as a string");
    b_free(&b);

    /* Invalid wire types, field number 0, stray end-group, unclosed group. */
    b_raw(&b, "\x0e\x00", 2);
    expect_error(&b, CUTOUT_E_FORMAT, "invalid wire type 6", 0x0e, "wire type 6");
    b_free(&b);
    b_raw(&b, "\x02\x00", 2);
    expect_error(&b, CUTOUT_E_FORMAT, "invalid field number 0", 0x02, "field number 0");
    b_free(&b);
    b_tag(&b, 5, W_EGROUP);
    expect_error(&b, CUTOUT_E_FORMAT, "end-group tag of field 5 without a matching start-group",
                 0x2c, "stray end-group");
    b_free(&b);
    b_tag(&b, 5, W_SGROUP);
    f_varint(&b, 1, 1);
    expect_error(&b, CUTOUT_E_FORMAT, "group (field 5) is not closed", 0x2b, "unclosed group");
    b_free(&b);
    b_tag(&b, 5, W_SGROUP);
    b_tag(&b, 6, W_EGROUP);
    expect_error(&b, CUTOUT_E_FORMAT, "end-group tag of field 6 closes a group of field 5", 0x34,
                 "mismatched end-group");
    b_free(&b);

    /* Not ONNX at all. */
    b_raw(&b, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    expect_error(&b, CUTOUT_E_FORMAT, "is this an ONNX model file?", 0, "a PNG header");
    b_free(&b);
    expect_error(&b, CUTOUT_E_FORMAT, "ONNX: the file is empty", 0, "empty file");
    f_varint(&b, 1, 7);
    expect_error(&b, CUTOUT_E_FORMAT, "the model has no graph", 0, "model without a graph");
    b_free(&b);
}

static void test_nesting(void)
{
    /* Groups nested 100 deep inside the graph: rejected past 64 levels. */
    pbuf g = {0};
    for (int i = 0; i < 100; i++) b_tag(&g, 50, W_SGROUP);
    for (int i = 0; i < 100; i++) b_tag(&g, 50, W_EGROUP);
    pbuf mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "graph: groups nested deeper than 64 levels", 0x93,
                 "groups nested 100 deep");
    b_free(&mb);
    /* 64 levels are fine. */
    g = (pbuf){0};
    for (int i = 0; i < 64; i++) b_tag(&g, 50, W_SGROUP);
    for (int i = 0; i < 64; i++) b_tag(&g, 50, W_EGROUP);
    mb = model_of(&g);
    onnx_model *m;
    char err[512];
    int rc = parse(&mb, &m, err, sizeof err);
    check(rc == 0, "groups nested 64 deep are skipped %s", err);
    cut_onnx_free(m);
    b_free(&mb);
    /* Length-delimited messages nested 20000 deep in an unknown field are
     * skipped without recursion: no stack growth with depth. */
    pbuf inner = {0};
    for (int i = 0; i < 20000; i++) {
        pbuf outer = {0};
        f_msg(&outer, 1, &inner);
        inner = outer;
    }
    g = (pbuf){0};
    f_msg(&g, 13, &inner); /* value_info: not read */
    pbuf v = value_info("x", ONNX_FLOAT, NULL, -1);
    f_msg(&g, 11, &v);
    mb = model_of(&g);
    rc = parse(&mb, &m, err, sizeof err);
    check(rc == 0 && m->n_inputs == 1,
          "messages nested 20000 deep in a skipped field (%zu bytes) %s", mb.n, err);
    cut_onnx_free(m);
    b_free(&mb);
}

/* One-tensor models for tensor errors; returns the model bytes. */
static pbuf one_initializer(pbuf *t)
{
    pbuf g = {0};
    f_msg(&g, 5, t);
    return model_of(&g);
}

static void test_tensor_errors(void)
{
    int64_t dims[9] = {2, 3, 3, 3, 1, 1, 1, 1, 1};
    float v[54] = {0};
    pbuf t, mb;

    t = tensor_head("conv1.weight", ONNX_FLOAT, dims, 4);
    f_bytes(&t, 9, v, 100);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT,
                 "ONNX: graph > initializer 0 'conv1.weight': raw_data is 100 bytes, expected 216 "
                 "(54 FLOAT values of 4 bytes) (at byte ",
                 0x4a /* field 9, LEN */, "raw_data size mismatch");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 4);
    f_packed_floats(&t, 4, v, 53);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "float_data holds 53 values, expected 54", 0x22,
                 "float_data count mismatch");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 4);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "has no data: expected 54 FLOAT values in raw_data or "
                                       "float_data",
                 0, "no data");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 1);
    f_packed_floats(&t, 4, v, 1);
    f_bytes(&t, 9, v, 4);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "has both raw_data and float_data", 0x22,
                 "raw_data and float_data");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 1);
    const int64_t iv[2] = {1, 2};
    f_packed_varints(&t, 7, iv, 2);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "a FLOAT tensor cannot hold int64_data", 0x3a,
                 "FLOAT tensor with int64_data");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 1);
    f_bytes(&t, 4, v, 7);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "packed fixed32 field 4 is 7 bytes, not a multiple of 4", 0,
                 "packed floats of 7 bytes");
    b_free(&mb);

    t = tensor_head("w", ONNX_INT64, dims, 1);
    f_bytes(&t, 7, "\x01\xff", 2);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "packed varint field 7: element 1 is truncated", 0xff,
                 "packed varints cut mid-element");
    b_free(&mb);

    t = (pbuf){0};
    f_str(&t, 8, "w");
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "initializer 0 'w': has no data_type", 0, "no data_type");
    b_free(&mb);

    t = tensor_head("", ONNX_FLOAT, NULL, 0);
    f_packed_floats(&t, 4, v, 1);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "initializer 0: has no name", 0, "nameless initializer");
    b_free(&mb);

    f_bytes(&t, 8, "a\0b", 3);
    f_varint(&t, 2, 1);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "tensor name contains a NUL byte", 0x42, "NUL in a name");
    b_free(&mb);

    const int64_t neg[2] = {4, -2};
    t = tensor_head("w", ONNX_FLOAT, neg, 2);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "dims[1] is -2, outside 0..2147483648", 0x0a,
                 "negative dim");
    b_free(&mb);

    const int64_t big[3] = {(int64_t)1 << 31, (int64_t)1 << 31, 0};
    t = tensor_head("w", ONNX_FLOAT, big, 2);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "dims multiply to more than 2147483648 elements", 0x0a,
                 "dims product overflow");
    b_free(&mb);
    const int64_t huge[2] = {(int64_t)1 << 40, 0};
    t = tensor_head("w", ONNX_FLOAT, huge, 2);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_FORMAT, "dims[0] is 1099511627776, outside", 0x0a,
                 "dim beyond 2^31 (even with a zero dim)");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 9);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "has 9 dims, at most 8 are supported", 0x0a,
                 "9 dims");
    b_free(&mb);

    t = tensor_head("w", ONNX_FLOAT, dims, 1);
    f_bytes(&t, 3, "", 0);
    mb = one_initializer(&t);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "segmented tensors", 0x1a, "segment");
    b_free(&mb);

    /* Types not decoded keep dims and no data; unknown fields of a
     * TensorProto do not matter. */
    t = tensor_head("str", 8 /* STRING */, dims, 1);
    f_str(&t, 6, "a");
    f_str(&t, 6, "b");
    mb = one_initializer(&t);
    onnx_model *m;
    char err[512];
    int rc = parse(&mb, &m, err, sizeof err);
    check(rc == 0 && m->initializers[0].count == 2 && !m->initializers[0].f32 &&
              !m->initializers[0].i64 && m->initializers[0].data_type == 8,
          "STRING tensor: dims kept, no values %s", err);
    cut_onnx_free(m);
    b_free(&mb);
}

static void test_node_errors(void)
{
    pbuf g = {0}, n = node_head(NULL, "nop", "a", "b"), mb;
    f_msg(&g, 1, &n);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "ONNX: graph > node 0 'nop': has no op_type", 0x0a,
                 "node without op_type");
    b_free(&mb);

    g = (pbuf){0};
    n = node_head("Relu", "r", "a", "b");
    pbuf a = attr_head("alpha", 99);
    add_attr(&n, &a);
    f_msg(&g, 1, &n);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "attribute 0 'alpha': type 99 is not an AttributeType",
                 0xa0 /* field 20, varint: first byte */, "attribute type 99");
    b_free(&mb);

    g = (pbuf){0};
    n = node_head("Relu", "r", "a", "b");
    a = (pbuf){0};
    f_varint(&a, 3, 1);
    add_attr(&n, &a);
    f_msg(&g, 1, &n);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "attribute 0: has no name", 0x2a, "nameless attribute");
    b_free(&mb);

    g = (pbuf){0};
    n = node_head("Relu", "r", "a", "b");
    a = attr_head("f", ONNX_ATTR_FLOAT);
    f_varint(&a, 2, 1);
    add_attr(&n, &a);
    f_msg(&g, 1, &n);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "f (field 2) has wire type varint, expected fixed32", 0x10,
                 "attribute f as a varint");
    b_free(&mb);

    /* Shape with 9 dims on a graph input. */
    g = (pbuf){0};
    const int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pbuf v = value_info("x", ONNX_FLOAT, d9, 9);
    f_msg(&g, 11, &v);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "input 0 'x': shape has more than 8 dims", 0x0a,
                 "input with 9 dims");
    b_free(&mb);

    g = (pbuf){0};
    f_bytes(&g, 15, "", 0);
    mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_UNSUPPORTED, "sparse initializers", 0x7a, "sparse_initializer");
    b_free(&mb);
}

/* 1,000,001 empty nodes (2 bytes each): over the node limit, rejected
 * before anything is allocated for them. */
static void test_limits(void)
{
    pbuf g = {0};
    for (int i = 0; i < 1000001; i++) f_bytes(&g, 1, "", 0);
    pbuf mb = model_of(&g);
    expect_error(&mb, CUTOUT_E_FORMAT, "graph: has 1000001 nodes, more than the limit 1000000",
                 0x3a, "1000001 nodes");
    b_free(&mb);
    onnx_model *m = (onnx_model *)1;
    char err[128];
    check(cut_onnx_parse(NULL, 4, &m, err, sizeof err) == CUTOUT_E_ARG && m == NULL &&
              cut_onnx_parse((const uint8_t *)"", 0, NULL, err, sizeof err) == CUTOUT_E_ARG,
          "NULL buffer / NULL out rejected as CUTOUT_E_ARG");
    cut_onnx_free(NULL);
    check(!cut_onnx_find_tensor(NULL, "x") && !cut_onnx_producer(NULL, "x") &&
              !cut_onnx_node_attr(NULL, "x"),
          "lookups on NULL return NULL");
}

int main(void)
{
    u2netp_facts();
    test_float16();
    test_layouts(0);
    test_layouts(1);
    test_external();
    test_truncations();
    test_corruptions();
    test_wire_errors();
    test_nesting();
    test_tensor_errors();
    test_node_errors();
    test_limits();
    printf("test_onnx: %d checks, %d failed\n", checks, failures);
    return failures != 0;
}
