/* libFuzzer entry point for the ONNX reader (engine/model/onnx.c, engine/model/protobuf.c).
 * Built and run by tests/fuzz/run-fuzz. Every input must give either a model
 * whose every string and value can be read (ASan checks the pointers and
 * counts) or an error code with a message that names a byte inside the
 * input; anything else aborts, and so does any sanitizer report or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"
#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void read_tensor(const onnx_tensor *t)
{
    size_t s = strlen(t->name);
    if (t->ndims < 0 || t->ndims > ONNX_MAX_DIMS) abort();
    size_t count = 1;
    for (int d = 0; d < t->ndims; d++) {
        if (t->dims[d] < 0) abort();
        count *= (size_t)t->dims[d];
    }
    if (count != t->count) abort();
    for (size_t i = 0; t->f32 && i < t->count; i++) s += t->f32[i] > 0;
    for (size_t i = 0; t->i64 && i < t->count; i++) s += (size_t)t->i64[i];
    sink += s;
}

static void read_model(const onnx_model *m)
{
    size_t s = strlen(m->producer_name);
    for (size_t i = 0; i < m->n_nodes; i++) {
        const onnx_node *n = &m->nodes[i];
        s += strlen(n->name) + strlen(n->op_type) + strlen(n->domain);
        for (size_t j = 0; j < n->n_inputs; j++) {
            s += strlen(n->inputs[j]);
            s += cut_onnx_find_tensor(m, n->inputs[j]) != NULL;
            s += cut_onnx_producer(m, n->inputs[j]) != NULL;
        }
        for (size_t j = 0; j < n->n_outputs; j++) s += strlen(n->outputs[j]);
        for (size_t j = 0; j < n->n_attrs; j++) {
            const onnx_attr *a = &n->attrs[j];
            if (cut_onnx_node_attr(n, a->name) == NULL) abort();
            s += strlen(a->name) + (a->s ? strlen(a->s) : 0);
            for (size_t k = 0; k < a->n_ints; k++) s += (size_t)a->ints[k];
            for (size_t k = 0; k < a->n_floats; k++) s += a->floats[k] > 0;
            if (a->t) read_tensor(a->t);
        }
    }
    for (size_t i = 0; i < m->n_initializers; i++) {
        read_tensor(&m->initializers[i]);
        if (!cut_onnx_find_tensor(m, m->initializers[i].name)) abort();
    }
    for (size_t i = 0; i < m->n_inputs + m->n_outputs; i++) {
        const onnx_value_info *v = i < m->n_inputs ? &m->inputs[i] : &m->outputs[i - m->n_inputs];
        if (v->ndims < -1 || v->ndims > ONNX_MAX_DIMS) abort();
        s += strlen(v->name);
        for (int d = 0; d < v->ndims; d++) s += (size_t)v->dims[d];
    }
    sink += s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onnx_model *m = NULL;
    char err[512] = "";
    int rc = cut_onnx_parse(data, size, &m, err, sizeof err);
    if (rc == CUTOUT_OK) {
        if (!m) abort();
        read_model(m);
        cut_onnx_free(m);
        return 0;
    }
    if (m || !err[0] || strncmp(err, "ONNX: ", 6)) abort();
    if (rc != CUTOUT_E_FORMAT && rc != CUTOUT_E_UNSUPPORTED && rc != CUTOUT_E_NOMEM) abort();
    const char *at = strstr(err, "(at byte ");
    if (at && strtoull(at + 9, NULL, 10) > size) abort();
    return 0;
}
