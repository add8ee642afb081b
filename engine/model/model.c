/* Architecture recognition: reads the Conv sequence of an ONNX graph, derives
 * the RSU stage widths from the weight shapes and checks every convolution
 * against what the U²-Net / ISNet topology requires. */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include "model.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.h"
#include "registry_table.h"
#include "util.h"

/* Both architectures have 11 RSU stages (112 convs) and 6 side convs; U²-Net
 * adds the fusion conv, ISNet the stem conv. */
#define EXPECTED_CONVS 119
#define EXPECTED_RELUS 112
#define EXPECTED_RESIDUALS 11

static const int enc_height[NET_ENC_STAGES] = {7, 6, 5, 4, 4, 4};
static const int enc_fused[NET_ENC_STAGES] = {0, 0, 0, 0, 1, 1};
static const int dec_height[NET_DEC_STAGES] = {4, 4, 5, 6, 7};
static const int dec_fused[NET_DEC_STAGES] = {1, 0, 0, 0, 0};

typedef struct {
    const onnx_node *node;
    const onnx_tensor *w, *b;
    int cin, cout, k, stride, pad, dil;
} conv_info;

static int attr_pair(const onnx_node *n, const char *name, int dflt, int *out, char *err,
                     size_t errlen, int idx)
{
    const onnx_attr *a = cut_onnx_node_attr(n, name);
    *out = dflt;
    if (!a) return 0;
    if (a->type != ONNX_ATTR_INTS || a->n_ints == 0)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: Conv #%d attribute %s is not a list of ints", idx, name);
    for (size_t i = 1; i < a->n_ints; i++)
        if (a->ints[i] != a->ints[0])
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "model: Conv #%d has asymmetric %s; expected equal values", idx, name);
    if (a->ints[0] < 0 || a->ints[0] > 64)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "model: Conv #%d has %s %lld", idx,
                        name, (long long)a->ints[0]);
    *out = (int)a->ints[0];
    return 0;
}

static int read_conv(const onnx_model *om, const onnx_node *n, int idx, conv_info *ci, char *err,
                     size_t errlen)
{
    memset(ci, 0, sizeof *ci);
    ci->node = n;
    if (n->n_inputs < 2 || !n->inputs[1][0])
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED, "model: Conv #%d has no weight input",
                        idx);
    ci->w = cut_onnx_find_tensor(om, n->inputs[1]);
    if (!ci->w || !ci->w->f32)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: Conv #%d weight '%s' is not a constant float tensor", idx,
                        n->inputs[1]);
    if (ci->w->ndims != 4 || ci->w->dims[2] != ci->w->dims[3] || ci->w->dims[0] < 1 ||
        ci->w->dims[1] < 1 || ci->w->dims[0] > 65536 || ci->w->dims[1] > 65536 ||
        (ci->w->dims[2] != 1 && ci->w->dims[2] != 3))
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: Conv #%d weight '%s' must be O×I×3×3 or O×I×1×1", idx,
                        n->inputs[1]);
    ci->cout = (int)ci->w->dims[0];
    ci->cin = (int)ci->w->dims[1];
    ci->k = (int)ci->w->dims[2];
    if (n->n_inputs >= 3 && n->inputs[2][0]) {
        ci->b = cut_onnx_find_tensor(om, n->inputs[2]);
        if (!ci->b || !ci->b->f32 || ci->b->count != (size_t)ci->cout)
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "model: Conv #%d bias '%s' must be %d floats", idx, n->inputs[2],
                            ci->cout);
    }
    int group, pad_k;
    int rc;
    if ((rc = attr_pair(n, "strides", 1, &ci->stride, err, errlen, idx)) ||
        (rc = attr_pair(n, "dilations", 1, &ci->dil, err, errlen, idx)) ||
        (rc = attr_pair(n, "pads", 0, &ci->pad, err, errlen, idx)) ||
        (rc = attr_pair(n, "kernel_shape", ci->k, &pad_k, err, errlen, idx)))
        return rc;
    const onnx_attr *g = cut_onnx_node_attr(n, "group");
    group = g ? (int)g->i : 1;
    const onnx_attr *ap = cut_onnx_node_attr(n, "auto_pad");
    if (group != 1 || pad_k != ci->k || ci->stride < 1 || ci->dil < 1 ||
        (ap && ap->s && strcmp(ap->s, "NOTSET") != 0))
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: Conv #%d uses group/auto_pad/kernel_shape settings that U²-Net "
                        "does not have",
                        idx);
    return 0;
}

/* Checks that conv i is a k×k "same" conv cin→cout with the given dilation. */
static int expect_conv(const conv_info *c, int i, const char *what, int cin, int cout, int k,
                       int stride, int dil, char *err, size_t errlen)
{
    int pad = k == 1 ? 0 : dil;
    if (c[i].cin != cin || c[i].cout != cout || c[i].k != k || c[i].stride != stride ||
        c[i].dil != dil || c[i].pad != pad)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: not a U²-Net-family network: conv #%d (%s) is %d→%d %dx%d "
                        "stride %d dilation %d pad %d; expected %d→%d %dx%d stride %d dilation "
                        "%d pad %d",
                        i, what, c[i].cin, c[i].cout, c[i].k, c[i].k, c[i].stride, c[i].dil,
                        c[i].pad, cin, cout, k, k, stride, dil, pad);
    return 0;
}

/* Reads an RSU stage's widths at conv0 and checks its 2*height convs. */
static int read_stage(const conv_info *c, int conv0, int height, int fused, int cin,
                      const char *label, net_stage *st, char *err, size_t errlen)
{
    st->height = height;
    st->fused = fused;
    st->conv0 = conv0;
    st->cin = cin;
    st->cout = c[conv0].cout;
    st->mid = c[conv0 + 1].cout;
    char what[64];
    int rc;
    snprintf(what, sizeof what, "%s in", label);
    if ((rc = expect_conv(c, conv0, what, cin, st->cout, 3, 1, 1, err, errlen))) return rc;
    for (int j = 1; j <= height; j++) {
        int dil = fused ? 1 << (j - 1) : (j == height ? 2 : 1);
        snprintf(what, sizeof what, "%s enc %d", label, j);
        if ((rc = expect_conv(c, conv0 + j, what, j == 1 ? st->cout : st->mid, st->mid, 3, 1,
                              dil, err, errlen)))
            return rc;
    }
    for (int j = height - 1; j >= 1; j--) {
        int dil = fused ? 1 << (j - 1) : 1;
        snprintf(what, sizeof what, "%s dec %d", label, j);
        if ((rc = expect_conv(c, conv0 + 2 * height - j, what, 2 * st->mid,
                              j == 1 ? st->cout : st->mid, 3, 1, dil, err, errlen)))
            return rc;
    }
    return 0;
}

static int count_ops(const onnx_model *om, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < om->n_nodes; i++)
        if (strcmp(om->nodes[i].op_type, op) == 0) n++;
    return n;
}

/* Ops the exported graphs contain besides the network itself: the shape
 * arithmetic feeding Resize, and casts in fp16 exports. */
static int op_allowed(const char *op)
{
    static const char *const ok[] = {"Conv",    "Relu",      "MaxPool", "Resize",   "Upsample",
                                     "Concat",  "Add",       "Sigmoid", "Shape",    "Gather",
                                     "Unsqueeze", "Slice",   "Cast",    "Constant", "Mul",
                                     "Div",     "Floor",     "Identity", "ConstantOfShape",
                                     "Squeeze", "Reshape"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(op, ok[i]) == 0) return 1;
    return 0;
}

/* Attention and layer norm: the transformer networks rembg also ships
 * (BiRefNet's Swin encoder, BRIA RMBG-2.0, BEN, SAM's ViT). */
static int op_transformer(const char *op)
{
    static const char *const tf[] = {"MatMul", "Softmax", "LayerNormalization", "Einsum",
                                     "Attention", "MultiHeadAttention", "Erf", "Gelu"};
    for (size_t i = 0; i < sizeof tf / sizeof tf[0]; i++)
        if (strcmp(op, tf[i]) == 0) return 1;
    return 0;
}

static int recognise(const onnx_model *om, const conv_info *c, int n, cutout_model *m, char *err,
                     size_t errlen)
{
    char runs[256];
    cut_registry_runnable(runs, sizeof runs);
    for (size_t i = 0; i < om->n_nodes; i++)
        if (op_transformer(om->nodes[i].op_type))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "model: a transformer network (it uses the %s operator, as "
                            "BiRefNet, BRIA RMBG-2.0, BEN and SAM do), not a U²-Net-family "
                            "network; cutout runs: %s",
                            om->nodes[i].op_type, runs);
    for (size_t i = 0; i < om->n_nodes; i++)
        if (!op_allowed(om->nodes[i].op_type))
            return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                            "model: not a U²-Net-family network: it uses the %s operator; "
                            "cutout runs: %s",
                            om->nodes[i].op_type, runs);
    if (n != EXPECTED_CONVS)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: not a U²-Net-family network (U²-Net, U²-NetP, ISNet): expected "
                        "%d convolutions, found %d",
                        EXPECTED_CONVS, n);
    int relus = count_ops(om, "Relu"), adds = count_ops(om, "Add");
    if (relus != EXPECTED_RELUS || adds != EXPECTED_RESIDUALS)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: not a U²-Net-family network: expected %d Relu and %d Add nodes, "
                        "found %d and %d",
                        EXPECTED_RELUS, EXPECTED_RESIDUALS, relus, adds);

    int isnet = c[0].stride == 2;
    int rc, next = 0, cin = 3;
    m->arch = isnet ? CUTOUT_ARCH_ISNET : CUTOUT_ARCH_U2NET;
    m->conv_in = -1;
    m->outconv = -1;
    if (isnet) {
        if ((rc = expect_conv(c, 0, "stem", 3, c[0].cout, 3, 2, 1, err, errlen))) return rc;
        m->conv_in = 0;
        cin = c[0].cout;
        next = 1;
        /* DIS's released ISNet feeds the stem straight into stage 1; accept
         * the variant that pools first, recognised from the graph. */
        const onnx_node *p = cut_onnx_producer(om, c[1].node->inputs[0]);
        m->pool_in = p && strcmp(p->op_type, "MaxPool") == 0;
    }
    int pools_expected = 33 + m->pool_in;
    if (count_ops(om, "MaxPool") != pools_expected)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: not a U²-Net-family network: expected %d MaxPool nodes, found %d",
                        pools_expected, count_ops(om, "MaxPool"));
    for (int s = 0; s < NET_ENC_STAGES; s++) {
        char label[24];
        snprintf(label, sizeof label, "stage%d", s + 1);
        if ((rc = read_stage(c, next, enc_height[s], enc_fused[s], cin, label, &m->enc[s], err,
                             errlen)))
            return rc;
        cin = m->enc[s].cout;
        next += 2 * enc_height[s];
    }
    for (int s = 0; s < NET_DEC_STAGES; s++) {
        char label[24];
        snprintf(label, sizeof label, "stage%dd", 5 - s);
        int skip = m->enc[4 - s].cout;
        if ((rc = read_stage(c, next, dec_height[s], dec_fused[s], cin + skip, label, &m->dec[s],
                             err, errlen)))
            return rc;
        cin = m->dec[s].cout;
        next += 2 * dec_height[s];
    }
    /* Every side conv has the output's channel count: 1 for a saliency map,
     * 4 for u2net_cloth_seg's class scores (background, upper, lower, full). */
    m->out_ch = c[next].cout;
    if (m->out_ch < 1 || m->out_ch > NET_MAX_OUT_CH)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: side convs with %d output channels; cutout runs 1 to %d",
                        m->out_ch, NET_MAX_OUT_CH);
    for (int k = 0; k < NET_SIDES; k++) {
        /* side1..5 read the decoder outputs stage1d..stage5d, side6 stage6 */
        int src = k == 5 ? m->enc[5].cout : m->dec[4 - k].cout;
        char what[24];
        snprintf(what, sizeof what, "side%d", k + 1);
        if ((rc = expect_conv(c, next, what, src, m->out_ch, 3, 1, 1, err, errlen))) return rc;
        m->side[k] = next++;
    }
    if (!isnet) {
        if ((rc = expect_conv(c, next, "outconv", NET_SIDES * m->out_ch, m->out_ch, 1, 1, 1,
                                err, errlen))) return rc;
        m->outconv = next++;
    }
    if (next != n)
        return cut_fail(err, errlen, CUTOUT_E_UNSUPPORTED,
                        "model: %d convolutions left over after the U²-Net topology", n - next);

    int small = 1;
    for (int s = 0; s < NET_ENC_STAGES; s++) small &= m->enc[s].mid == 16;
    snprintf(m->name, sizeof m->name, "%s", isnet ? "isnet" : small ? "u2netp" : "u2net");
    m->input_size = isnet ? 1024 : 320;
    if (om->n_inputs >= 1 && om->inputs[0].ndims == 4 && om->inputs[0].dims[2] >= 8 &&
        om->inputs[0].dims[2] <= 16384)
        m->input_size = (int)om->inputs[0].dims[2];
    return 0;
}

/* An unknown file gets its architecture's normalisation as rembg uses it
 * (rembg/sessions/u2net*.py; dis_general_use.py since rembg PR #730,
 * 2025-03-01): ImageNet mean and std for U²-Net; mean 0.5, std 1 for ISNet,
 * as the DIS authors normalise. A registry name overrides it (registry.c). */
static void default_mean_std(cutout_model *m)
{
    static const float in_mean[3] = {0.485f, 0.456f, 0.406f}, in_std[3] = {0.229f, 0.224f, 0.225f};
    for (int i = 0; i < 3; i++) {
        m->mean[i] = m->arch == CUTOUT_ARCH_ISNET ? 0.5f : in_mean[i];
        m->std[i] = m->arch == CUTOUT_ARCH_ISNET ? 1.0f : in_std[i];
    }
}

/* The convs' descriptors point into the parsed ONNX model's tensors, which
 * the model keeps (m->onnx): copying them would fault in and write the
 * whole weight set a second time (176 MB for ISNet). m->weights holds only
 * the zero biases of convs without one. */
static int attach_weights(const conv_info *c, int n, cutout_model *m, char *err, size_t errlen)
{
    size_t total = 0, zero_bias = 0;
    for (int i = 0; i < n; i++) {
        total += c[i].w->count + (size_t)c[i].cout;
        if (!c[i].b) zero_bias += (size_t)c[i].cout;
    }
    m->convs = calloc((size_t)n, sizeof *m->convs);
    m->weights = calloc(zero_bias ? zero_bias : 1, sizeof(float));
    if (!m->convs || !m->weights)
        return cut_fail(err, errlen, CUTOUT_E_NOMEM, "model: out of memory for %d convs", n);
    float *zeros = m->weights;
    for (int i = 0; i < n; i++) {
        bk_conv_desc *d = &m->convs[i];
        d->cin = c[i].cin;
        d->cout = c[i].cout;
        d->k = c[i].k;
        d->stride = c[i].stride;
        d->pad = c[i].pad;
        d->dil = c[i].dil;
        d->weight = c[i].w->f32;
        if (c[i].b) {
            d->bias = c[i].b->f32;
        } else {
            d->bias = zeros;
            zeros += c[i].cout;
        }
    }
    m->n_convs = n;
    m->n_params = total;
    return 0;
}

int cutout_model_load_memory(const void *data, size_t size, cutout_model **out, char *err,
                             size_t errlen)
{
    if (!data || !out) return cut_fail(err, errlen, CUTOUT_E_ARG, "model: no data");
    *out = NULL;
    onnx_model *om = NULL;
    int rc = cut_onnx_parse(data, size, &om, err, errlen);
    if (rc) return rc;

    conv_info *convs = NULL;
    cutout_model *m = calloc(1, sizeof *m);
    int n = 0;
    size_t cap = 0;
    for (size_t i = 0; i < om->n_nodes; i++)
        if (strcmp(om->nodes[i].op_type, "Conv") == 0) cap++;
    convs = calloc(cap ? cap : 1, sizeof *convs);
    if (!m || !convs) {
        rc = cut_fail(err, errlen, CUTOUT_E_NOMEM, "model: out of memory");
        goto done;
    }
    for (size_t i = 0; i < om->n_nodes; i++)
        if (strcmp(om->nodes[i].op_type, "Conv") == 0) {
            if ((rc = read_conv(om, &om->nodes[i], n, &convs[n], err, errlen))) goto done;
            n++;
        }
    if ((rc = recognise(om, convs, n, m, err, errlen))) goto done;
    default_mean_std(m);
    if ((rc = attach_weights(convs, n, m, err, errlen))) goto done;
    m->onnx = om; /* owns the weights now */
    om = NULL;
done:
    free(convs);
    cut_onnx_free(om);
    if (rc) {
        cutout_model_free(m);
        return rc;
    }
    *out = m;
    return CUTOUT_OK;
}

/* 2 GiB: larger than any U²-Net-family file (the full U²-Net is 176 MB). */
#define MODEL_MAX_BYTES ((size_t)2 << 30)

/* A regular file mapped read-only (its pages come from the page cache: no
 * copy, no fresh pages; ISNet fp16's 88 MB took ~40 ms of CPU to read), or
 * NULL where mapping does not apply (pipes, empty or oversized files), and
 * the caller reads it. The parser keeps no pointer into it: it is unmapped
 * as soon as the model is built. */
static void *map_model(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *p = NULL;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= MODEL_MAX_BYTES) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) p = NULL;
        *len = (size_t)st.st_size;
    }
    close(fd);
    return p;
}

int cutout_model_load_file(const char *path, cutout_model **out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len = 0;
    int rc;
    void *map = map_model(path, &len);
    if (map) {
        rc = cutout_model_load_memory(map, len, out, err, errlen);
        munmap(map, len);
    } else {
        rc = cutout_read_file(path, MODEL_MAX_BYTES, &buf, &len, err, errlen);
        if (rc) return rc;
        rc = cutout_model_load_memory(buf, len, out, err, errlen);
        free(buf);
    }
    if (rc && err && errlen) {
        /* prefix the file name so the caller's message says which model */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s: %s", path, err);
        snprintf(err, errlen, "%s", tmp);
    }
    return rc;
}

void cutout_model_free(cutout_model *m)
{
    if (!m) return;
    free(m->convs);
    free(m->weights);
    cut_onnx_free(m->onnx);
    free(m);
}

cutout_arch cutout_model_arch(const cutout_model *m) { return m->arch; }
const char *cutout_model_arch_name(const cutout_model *m) { return m->name; }
int cutout_model_input_size(const cutout_model *m) { return m->input_size; }
size_t cutout_model_num_params(const cutout_model *m) { return m->n_params; }

int cutout_model_num_outputs(const cutout_model *m)
{
    return m->arch == CUTOUT_ARCH_ISNET ? NET_SIDES : NET_SIDES + 1;
}

int cutout_model_output_channels(const cutout_model *m) { return m->out_ch; }

void cutout_model_mean_std(const cutout_model *m, float mean[3], float std[3])
{
    memcpy(mean, m->mean, sizeof m->mean);
    memcpy(std, m->std, sizeof m->std);
}
