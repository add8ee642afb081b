/* AVX-512 row kernels of the CPU backend's plane ops (maxpool, bilinear
 * resize), in cpu_planes_avx512.c; called only when cut_cpu_has reports
 * AVX-512. Each does the leading whole 16-float vectors of a row and returns
 * how far it got; the caller's 4-wide code finishes the row, so the results
 * are those of that code bit for bit (the same max and the same products
 * and sums, unfused). */
#ifndef CUTOUT_CPU_PLANES_H
#define CUTOUT_CPU_PLANES_H

/* o[x] = max of the 2×2 window at column 2x of rows r0, r1 (a > b ? a : b,
 * rows first), for x < n rounded down to 16; returns the x reached. */
int cut_maxpool_row_avx512(const float *r0, const float *r1, float *o, int n);

/* Exact 2× horizontal interpolation: out[2i] = ¾·in[i] + ¼·in[i-1],
 * out[2i+1] = ¾·in[i] + ¼·in[i+1] for i from 1 while i + 17 <= iw
 * (16 at a time); returns the first i not done. */
int cut_resize_twice_avx512(const float *in, float *out, int iw);

/* o[x] = l0·a[x] + l1·b[x] for x < n rounded down to 16; returns the x
 * reached. stream: non-temporal stores where o is 64-byte aligned (the
 * caller ends with cut_planes_fence before the pool's hand-off). */
int cut_resize_blend_avx512(const float *a, const float *b, float l0, float l1, float *o, int n,
                            int stream);
/* Orders the non-temporal stores made so far (sfence). */
void cut_planes_fence(void);

#endif
