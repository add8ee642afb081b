/* ONNX model reader: a small protobuf wire-format decoder for the subset of
 * onnx.proto that cutout needs (graph nodes, attributes, initializers,
 * graph inputs/outputs). The file is untrusted: every length, offset, count
 * and tensor size is bounds-checked; errors say what is wrong and where. */
#ifndef CUTOUT_ONNX_H
#define CUTOUT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#define ONNX_MAX_DIMS 8

/* onnx.TensorProto.DataType values used here */
enum {
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_FLOAT16 = 10,
    ONNX_DOUBLE = 11
};

typedef enum {
    ONNX_ATTR_UNDEFINED = 0,
    ONNX_ATTR_FLOAT = 1,
    ONNX_ATTR_INT = 2,
    ONNX_ATTR_STRING = 3,
    ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_FLOATS = 6,
    ONNX_ATTR_INTS = 7
} onnx_attr_type;

typedef struct onnx_tensor {
    const char *name;
    int data_type;          /* original ONNX data type */
    int ndims;
    int64_t dims[ONNX_MAX_DIMS];
    size_t count;           /* product of dims (1 for a scalar) */
    /* Values converted at load: FLOAT, FLOAT16 and DOUBLE tensors fill
     * f32 (count floats); INT32, INT64, INT8, UINT8 fill i64. The other
     * pointer is NULL. Tensors stored as external data are rejected. */
    float *f32;
    int64_t *i64;
} onnx_tensor;

typedef struct onnx_attr {
    const char *name;
    onnx_attr_type type;
    int64_t i;
    float f;
    const char *s;          /* STRING: NUL-terminated copy */
    int64_t *ints;          /* INTS */
    size_t n_ints;
    float *floats;          /* FLOATS */
    size_t n_floats;
    onnx_tensor *t;         /* TENSOR (e.g. Constant's "value") */
} onnx_attr;

typedef struct onnx_node {
    const char *name;
    const char *op_type;
    const char *domain;
    const char **inputs;    /* "" for an omitted optional input */
    size_t n_inputs;
    const char **outputs;
    size_t n_outputs;
    onnx_attr *attrs;
    size_t n_attrs;
} onnx_node;

typedef struct onnx_value_info {
    const char *name;
    int elem_type;          /* 0 if absent */
    int ndims;              /* -1 if the shape is absent */
    int64_t dims[ONNX_MAX_DIMS]; /* -1 for a symbolic or unknown dimension */
} onnx_value_info;

typedef struct onnx_model {
    int64_t ir_version;
    int64_t opset;          /* version of the default ("" or "ai.onnx") domain; 0 if absent */
    const char *producer_name;
    onnx_node *nodes;       /* in file order (ONNX requires topological order) */
    size_t n_nodes;
    onnx_tensor *initializers;
    size_t n_initializers;
    onnx_value_info *inputs; /* graph inputs that are not initializers */
    size_t n_inputs;
    onnx_value_info *outputs;
    size_t n_outputs;
} onnx_model;

/* Parses an in-memory ONNX file. On success *out owns all its memory (the
 * buffer may be freed afterwards). On failure returns a negative
 * cutout_status (CUTOUT_E_FORMAT for malformed data, CUTOUT_E_UNSUPPORTED for
 * valid-but-unsupported content such as external data, CUTOUT_E_NOMEM) and
 * writes a message naming what is wrong and the byte offset. */
int cut_onnx_parse(const uint8_t *buf, size_t len, onnx_model **out, char *err, size_t errlen);
void cut_onnx_free(onnx_model *model);

/* An initializer or the "value" tensor of a Constant node producing `name`. */
const onnx_tensor *cut_onnx_find_tensor(const onnx_model *model, const char *name);
const onnx_attr *cut_onnx_node_attr(const onnx_node *node, const char *name);
/* The node that produces tensor `name`, or NULL (graph input / initializer). */
const onnx_node *cut_onnx_producer(const onnx_model *model, const char *name);

#endif
