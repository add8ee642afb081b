/* The U²-Net / ISNet forward pass as RSU blocks over the backend interface.
 * It knows nothing of the backend: it issues ops on arena offsets. With no
 * backend it only records allocations (planning) and counts MACs. */
#include "net.h"

#include <string.h>

#include "util.h"

typedef struct {
    const cutout_model *m;
    backend *bk;  /* NULL: dry run */
    plan *pl;
    int n;        /* batch */
    int rc;       /* first failure; later ops are skipped */
    double macs;
    char *err;
    size_t errlen;
} net_ctx;

/* A tensor plus the planner slot that owns its memory. */
typedef struct {
    bk_tensor t;
    int slot;
} net_buf;

static int failed(net_ctx *c) { return c->rc != 0; }

static void fail_from_backend(net_ctx *c, int rc)
{
    if (rc && !c->rc) {
        c->rc = rc;
        cut_fail(c->err, c->errlen, rc, "%s backend: %s", c->bk->name, c->bk->err);
    }
}

static net_buf buf_alloc(net_ctx *c, int ch, int h, int w)
{
    net_buf b = {.slot = -1};
    size_t floats = (size_t)c->n * (size_t)ch * (size_t)h * (size_t)w;
    b.t = (bk_tensor){.nstride = (size_t)ch * h * w, .n = c->n, .c = ch, .h = h, .w = w};
    if (failed(c)) return b;
    b.slot = c->pl->replaying ? cut_plan_replay_alloc(c->pl, floats)
                              : cut_plan_record_alloc(c->pl, floats);
    if (b.slot < 0) {
        c->rc = cut_fail(c->err, c->errlen, c->pl->replaying ? CUTOUT_E_ARG : CUTOUT_E_NOMEM,
                         "net: activation plan does not fit this input");
        return b;
    }
    if (c->pl->replaying) b.t.off = c->pl->slots[b.slot].offset;
    return b;
}

static void buf_release(net_ctx *c, net_buf *b)
{
    if (b->slot >= 0) cut_plan_record_release(c->pl, b->slot);
    b->slot = -1;
}

/* Channels j*ch .. j*ch+ch-1 of a multi-channel buffer, as a ch-channel view. */
static bk_tensor channel_view(bk_tensor t, int j, int ch)
{
    bk_tensor v = t;
    v.off += (size_t)j * ch * t.h * t.w;
    v.c = ch;
    return v;
}

static void conv_into(net_ctx *c, int ci, bk_tensor dst, bk_tensor a, const bk_tensor *b,
                      int relu, const bk_tensor *residual)
{
    const bk_conv_desc *d = &c->m->convs[ci];
    c->macs += (double)dst.n * d->cout * dst.h * dst.w * d->cin * d->k * d->k;
    if (failed(c) || !c->bk) return;
    bk_conv_fuse f = {.b = b, .residual = residual, .relu = relu};
    fail_from_backend(c, c->bk->ops->conv(c->bk, ci, dst, a, &f));
}

static net_buf conv(net_ctx *c, int ci, bk_tensor a, const bk_tensor *b, int relu,
                    const bk_tensor *residual)
{
    const bk_conv_desc *d = &c->m->convs[ci];
    int oh = cut_conv_out_size(a.h, d->k, d->stride, d->pad, d->dil);
    int ow = cut_conv_out_size(a.w, d->k, d->stride, d->pad, d->dil);
    net_buf out = buf_alloc(c, d->cout, oh, ow);
    conv_into(c, ci, out.t, a, b, relu, residual);
    return out;
}

static net_buf maxpool(net_ctx *c, bk_tensor src)
{
    net_buf out = buf_alloc(c, src.c, (src.h + 1) / 2, (src.w + 1) / 2);
    if (!failed(c) && c->bk) fail_from_backend(c, c->bk->ops->maxpool2(c->bk, out.t, src));
    return out;
}

static void resize_into(net_ctx *c, bk_tensor dst, bk_tensor src)
{
    if (!failed(c) && c->bk) fail_from_backend(c, c->bk->ops->resize(c->bk, dst, src));
}

static net_buf upsample_like(net_ctx *c, bk_tensor src, bk_tensor like)
{
    net_buf out = buf_alloc(c, src.c, like.h, like.w);
    resize_into(c, out.t, src);
    return out;
}

/* One residual U-block; input is a, or the concat of a and b. */
static net_buf rsu(net_ctx *c, const net_stage *s, bk_tensor a, const bk_tensor *b)
{
    int L = s->height, k = s->conv0;
    net_buf hxin = conv(c, k, a, b, 1, NULL);
    net_buf enc[8] = {{{0}, -1}};
    enc[1] = conv(c, k + 1, hxin.t, NULL, 1, NULL);
    for (int j = 2; j <= L; j++) {
        if (s->fused || j == L) {
            enc[j] = conv(c, k + j, enc[j - 1].t, NULL, 1, NULL);
        } else {
            net_buf p = maxpool(c, enc[j - 1].t);
            enc[j] = conv(c, k + j, p.t, NULL, 1, NULL);
            buf_release(c, &p);
        }
    }
    /* decoder: level j joins the (upsampled) level below with encoder level j */
    net_buf d = enc[L];
    for (int j = L - 1; j >= 1; j--) {
        net_buf up = d;
        if (!s->fused && j < L - 1) {
            up = upsample_like(c, d.t, enc[j].t);
            buf_release(c, &d);
        }
        net_buf nd = conv(c, k + 2 * L - j, up.t, &enc[j].t, 1, j == 1 ? &hxin.t : NULL);
        buf_release(c, &up);
        buf_release(c, &enc[j]);
        d = nd;
    }
    buf_release(c, &hxin);
    return d;
}

static void read_output(net_ctx *c, bk_tensor t, float *host)
{
    if (failed(c) || !c->bk || !host) return;
    fail_from_backend(c, c->bk->ops->read(c->bk, t, host));
}

static void sigmoid_inplace(net_ctx *c, bk_tensor t)
{
    if (!failed(c) && c->bk) fail_from_backend(c, c->bk->ops->sigmoid(c->bk, t, t));
}

/* A side head: conv on the stage output, upsampled to (oh, ow) into dst. */
static void side_into(net_ctx *c, int k, bk_tensor src, bk_tensor dst)
{
    const cutout_model *m = c->m;
    if (src.h == dst.h && src.w == dst.w) {
        conv_into(c, m->side[k], dst, src, NULL, 0, NULL);
        return;
    }
    net_buf s = conv(c, m->side[k], src, NULL, 0, NULL);
    resize_into(c, dst, s.t);
    buf_release(c, &s);
}

int cut_net_forward(const cutout_model *m, backend *bk, plan *pl, const float *input, int n, int h,
                int w, int side_outputs, float *const *outputs, double *macs, char *err,
                size_t errlen)
{
    net_ctx c = {.m = m, .bk = bk, .pl = pl, .n = n, .err = err, .errlen = errlen};
    int isnet = m->arch == CUTOUT_ARCH_ISNET, oc = m->out_ch;

    /* feed: the owned input of the next encoder stage */
    net_buf feed = buf_alloc(&c, 3, h, w);
    if (!failed(&c) && bk) fail_from_backend(&c, bk->ops->write(bk, feed.t, input));
    if (isnet) {
        net_buf stem = conv(&c, m->conv_in, feed.t, NULL, 0, NULL);
        buf_release(&c, &feed);
        feed = stem;
        if (m->pool_in) {
            net_buf p = maxpool(&c, stem.t);
            buf_release(&c, &feed);
            feed = p;
        }
    }

    /* Side k's full-size map (out_ch channels): for U²-Net channels
     * k*out_ch.. of the buffer that the 1×1 fusion conv reads; for ISNet a buffer of its own, and only side 1
     * unless side outputs are wanted. */
    net_buf fuse = {.slot = -1};
    net_buf side_out[NET_SIDES];
    bk_tensor side_dst[NET_SIDES];
    int need_side[NET_SIDES];
    for (int k = 0; k < NET_SIDES; k++) {
        side_out[k] = (net_buf){.slot = -1};
        need_side[k] = !isnet || side_outputs || k == 0;
    }
    if (!isnet) {
        fuse = buf_alloc(&c, NET_SIDES * oc, h, w);
        for (int k = 0; k < NET_SIDES; k++) side_dst[k] = channel_view(fuse.t, k, oc);
    }

    net_buf hx[NET_ENC_STAGES];
    for (int s = 0; s < NET_ENC_STAGES; s++) {
        hx[s] = rsu(&c, &m->enc[s], feed.t, NULL);
        buf_release(&c, &feed);
        if (s < NET_ENC_STAGES - 1) feed = maxpool(&c, hx[s].t);
    }
    if (isnet)
        for (int k = 0; k < NET_SIDES; k++)
            if (need_side[k]) {
                side_out[k] = buf_alloc(&c, oc, h, w);
                side_dst[k] = side_out[k].t;
            }
    if (need_side[5]) side_into(&c, 5, hx[5].t, side_dst[5]);

    net_buf d = hx[5];
    for (int s = 0; s < NET_DEC_STAGES; s++) {
        int level = 4 - s; /* encoder stage joined here; side `level` reads the result */
        net_buf up = upsample_like(&c, d.t, hx[level].t);
        buf_release(&c, &d);
        d = rsu(&c, &m->dec[s], up.t, &hx[level].t);
        buf_release(&c, &up);
        buf_release(&c, &hx[level]);
        if (need_side[level]) side_into(&c, level, d.t, side_dst[level]);
    }
    buf_release(&c, &d);

    if (!isnet) {
        net_buf d0 = buf_alloc(&c, oc, h, w);
        conv_into(&c, m->outconv, d0.t, fuse.t, NULL, 0, NULL);
        sigmoid_inplace(&c, d0.t);
        read_output(&c, d0.t, outputs ? outputs[0] : NULL);
        buf_release(&c, &d0);
        if (side_outputs)
            for (int k = 0; k < NET_SIDES; k++) {
                sigmoid_inplace(&c, side_dst[k]);
                read_output(&c, side_dst[k], outputs ? outputs[k + 1] : NULL);
            }
        buf_release(&c, &fuse);
    } else {
        for (int k = 0; k < NET_SIDES; k++) {
            if (k > 0 && !side_outputs) continue;
            sigmoid_inplace(&c, side_dst[k]);
            read_output(&c, side_dst[k], outputs ? outputs[k] : NULL);
            buf_release(&c, &side_out[k]);
        }
    }
    if (macs) *macs = c.macs;
    return c.rc;
}
