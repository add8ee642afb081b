/* Bilinear resize (PyTorch align_corners=False) for the CPU backend,
 * separably: each source row that an output row needs is interpolated
 * horizontally once into a per-thread row buffer (upsampling by 2 reuses it
 * for two output rows), then output rows blend two buffered rows. The
 * horizontal pass has a vector path for exact 2× upsampling, which is what
 * U²-Net's decoders and side outputs mostly do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "cpu_features.h"
#include "cpu_planes.h"
#include "cpu_v4.h"
#include "util.h"




/* Half-pixel source index as PyTorch computes it in float. */
static resize_tap tap_at(int i, float scale, int in)
{
    float s = scale * ((float)i + 0.5f) - 0.5f;
    if (s < 0) s = 0;
    int x = (int)s;
    return (resize_tap){x, x < in - 1 ? 1 : 0, s - (float)x};
}

typedef struct {
    cpu_backend *cb;
    bk_tensor dst, src;
    const resize_tap *cols;
    int twice; /* dst.w == 2 · src.w: the taps follow the fixed 2× pattern */
    int avx512; /* cut_cpu_has(AVX-512), asked once per op */
    int stream; /* AVX-512 rows: output beyond CPU_STREAM_BYTES, non-temporal */
    float *rows;          /* cut_cpu_rows: two buffered rows per thread */
    size_t row_floats, thread_floats;
} resize_job;

/* One source row interpolated to the output width. */
static void hrow(const resize_job *j, const float *in, float *out)
{
    int iw = j->src.w, ow = j->dst.w;
    if (!j->twice) {
        for (int ox = 0; ox < ow; ox++) {
            const resize_tap *t = &j->cols[ox];
            out[ox] = (1 - t->l1) * in[t->i0] + t->l1 * in[t->i0 + t->step];
        }
        return;
    }
    /* 2×: s = ox/2 - 1/4 exactly, so out[2i] = ¾·in[i] + ¼·in[i-1] and
     * out[2i+1] = ¾·in[i] + ¼·in[i+1], clamped at the ends (the same
     * products as the generic formula, whose weights are exactly ¼, ¾). */
    out[0] = in[0];
    int i = j->avx512 ? cut_resize_twice_avx512(in, out, iw) : 1;
    const v4 q = {0.25f, 0.25f, 0.25f, 0.25f}, tq = {0.75f, 0.75f, 0.75f, 0.75f};
    for (; i + 5 <= iw; i += 4) { /* reads in[i-1 .. i+4] */
        v4 l = v4_load(in + i - 1), c = v4_load(in + i), r = v4_load(in + i + 1);
        v4 ev = tq * c + q * l, od = tq * c + q * r;
        /* outputs 2i .. 2i+7: even lanes from ev, odd from od */
        v4_store(out + 2 * i, V4_SHUFFLE(ev, od, 0, 4, 1, 5));
        v4_store(out + 2 * i + 4, V4_SHUFFLE(ev, od, 2, 6, 3, 7));
    }
    /* the vectors covered out[2] .. out[2i - 1] */
    for (int k = i; k < iw; k++) out[2 * k] = 0.75f * in[k] + 0.25f * in[k - 1];
    if (iw > 1) out[1] = 0.75f * in[0] + 0.25f * in[1];
    for (int k = i > 1 ? i : 1; k < iw - 1; k++) out[2 * k + 1] = 0.75f * in[k] + 0.25f * in[k + 1];
    out[2 * iw - 1] = (1 - 0.25f) * in[iw - 1] + 0.25f * in[iw - 1];
}

static void resize_task(void *p, int t, int thread)
{
    const resize_job *j = p;
    int img = t / j->src.c, ch = t % j->src.c;
    const float *in = cpu_plane(j->cb, j->src, img, ch);
    float *out = cpu_plane(j->cb, j->dst, img, ch);
    int ih = j->src.h, iw = j->src.w, oh = j->dst.h, ow = j->dst.w;
    float *rows = j->rows + (size_t)thread * j->thread_floats;
    float *ha = rows, *hb = rows + j->row_floats; /* source rows ya, yb, interpolated */
    int ya = -1, yb = -1;
    float sy = (float)ih / (float)oh;
    for (int oy = 0; oy < oh; oy++) {
        resize_tap ty = tap_at(oy, sy, ih);
        int y0 = ty.i0, y1 = ty.i0 + ty.step;
        if (y0 != ya) {
            if (y0 == yb) { /* moving down: the lower row becomes the upper */
                float *t = ha;
                ha = hb;
                hb = t;
                ya = yb;
                yb = -1;
            } else {
                hrow(j, in + (size_t)y0 * iw, ha);
                ya = y0;
            }
        }
        if (y1 != yb) {
            hrow(j, in + (size_t)y1 * iw, hb);
            yb = y1;
        }
        float l1 = ty.l1, l0 = 1 - l1;
        float *o = out + (size_t)oy * ow;
        int x = j->avx512 ? cut_resize_blend_avx512(ha, hb, l0, l1, o, ow, j->stream) : 0;
        v4 w0 = {l0, l0, l0, l0}, w1 = {l1, l1, l1, l1};
        for (; x + 4 <= ow; x += 4) v4_store(o + x, w0 * v4_load(ha + x) + w1 * v4_load(hb + x));
        for (; x < ow; x++) o[x] = l0 * ha[x] + l1 * hb[x];
    }
    if (j->stream) cut_planes_fence(); /* before the pool's hand-off */
}

int cut_cpu_resize(backend *bk, bk_tensor dst, bk_tensor src)
{
    cpu_backend *cb = (cpu_backend *)bk;
    if (dst.c != src.c || dst.n != src.n || src.h < 1 || src.w < 1) {
        snprintf(bk->err, sizeof bk->err, "resize: source and destination shapes differ");
        return CUTOUT_E_ARG;
    }
    /* Grow-only buffers, sized at prepare (backend_cpu.c): they
     * allocate here only for a width prepare was not told of. */
    if (cut_cpu_taps(cb, (size_t)dst.w)) goto nomem;
    size_t row_floats = cpu_resize_rows_floats(dst.w) / 2;
    float *rows = cut_cpu_rows(cb, 2 * row_floats);
    if (!rows) goto nomem;
    float sx = (float)src.w / (float)dst.w;
    for (int ox = 0; ox < dst.w; ox++) cb->taps[ox] = tap_at(ox, sx, src.w);
    int avx512 = cut_cpu_has(CUT_CPU_ISA_AVX512);
    size_t out_bytes = (size_t)dst.n * dst.c * dst.h * dst.w * sizeof(float);
    resize_job j = {cb,   dst,      src, cb->taps, dst.w == 2 * src.w, avx512, avx512 && out_bytes > CPU_STREAM_BYTES,
                    rows, row_floats, cb->rows_floats};
    cpu_run(cb, src.n * src.c, resize_task, &j, 4.0 * dst.n * dst.c * dst.h * dst.w);
    return 0;
nomem:
    snprintf(bk->err, sizeof bk->err, "resize: out of memory");
    return CUTOUT_E_NOMEM;
}
