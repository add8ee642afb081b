/* gemm (engine/cpu/gemm.c, gemm_avx2.c, gemm_avx512.c) against a naive triple
 * loop in double, on odd shapes, for the portable kernel and every SIMD
 * kernel the CPU has (AVX-512 pairs equal row blocks into 12-row tiles:
 * M = 12, 16, 17 ... run both paired and single blocks).
 *
 * Two kinds of data:
 *  - dyadic: A, B in {-1, -3/4, ..., 1}, bias and residual multiples of 1/16.
 *    Every product is a multiple of 1/16 and every partial sum has magnitude
 *    <= K+2 < 2^14, so it fits in 18 significant bits: any summation order,
 *    with or without FMA, is exact in float. Tolerance 0 — a dropped,
 *    doubled or misplaced term always shows.
 *  - real: uniform in [-1, 1). Tolerance gamma(K+2)·(S + |bias| + |res|) with
 *    S = sum_k |a_ik·b_kj| <= K·max|a|·max|b| and gamma(n) = n·u/(1 - n·u),
 *    u = 2^-24: the worst-case bound for a sum of K+2 terms added in any
 *    order, with or without FMA (Higham, Accuracy and Stability, (3.5));
 *    relu between the adds is 1-Lipschitz and adds no error. It is loose
 *    for large K, so the dyadic tests carry the logic checks; this one
 *    guards the precision. The worst observed error relative to the
 *    usual yardstick K·eps·max|a|·max|b| (+ eps·|bias| + eps·|res|),
 *    eps = 2u, is printed.
 * B is packed by cut_gemm_pack_b, cut_gemm_pack_b_row or through gemm_packed_b_index
 * in turn. Half the cases compute a row range (cut_gemm_run_rows) that cuts row
 * blocks.
 * Each case also checks that C outside the M×N tile (the ldc - N gap) is not
 * written and that C's old contents do not leak in (C starts as 1e30). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "gemm.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float rng_dyadic(int denom)
{
    return (float)((int)(rng_next() % (2u * denom + 1)) - denom) / denom;
}
static float rng_real(void) { return (float)((double)rng_next() / 4294967296.0 * 2.0 - 1.0); }

typedef struct {
    int dyadic, use_ep, kc;
    gemm_impl impl;
} test_mode;

static int failures, checks;
static double worst_ratio; /* real data: max error / (K·eps·max|a|·max|b|) */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Rows [row0, row0+rows) of one M×N×K product under one mode; 0 when it
 * passes. */
static int run_case(int M, int N, int K, int row0, int rows, test_mode mode, int pack_mode)
{
    size_t lda = (size_t)K + 1, ldb = (size_t)N + 2, ldc = (size_t)N + 5, ldr = (size_t)N + 3;
    float *A = xmalloc(sizeof(float) * (size_t)M * lda);
    float *B = xmalloc(sizeof(float) * (size_t)K * ldb);
    float *bias = xmalloc(sizeof(float) * (size_t)M);
    float *res = xmalloc(sizeof(float) * (size_t)rows * ldr);
    float *C = xmalloc(sizeof(float) * (size_t)rows * ldc);
    float *pa = xmalloc(sizeof(float) * cut_gemm_packed_a_floats(M, K));
    float *pb = xmalloc(sizeof(float) * cut_gemm_packed_b_floats(K, N));

    for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = mode.dyadic ? rng_dyadic(4) : rng_real();
    for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = mode.dyadic ? rng_dyadic(4) : rng_real();
    for (int i = 0; i < M; i++) bias[i] = mode.dyadic ? rng_dyadic(16) : rng_real();
    for (size_t i = 0; i < (size_t)rows * ldr; i++)
        res[i] = mode.dyadic ? rng_dyadic(16) : rng_real();
    for (size_t i = 0; i < (size_t)rows * ldc; i++) C[i] = 1e30f;

    cut_gemm_pack_a(A, lda, M, K, pa);
    /* The three ways a caller fills packed B. */
    for (size_t i = 0; i < cut_gemm_packed_b_floats(K, N); i++) pb[i] = 7.0f;
    if (pack_mode == 0) {
        cut_gemm_pack_b(B, ldb, K, N, pb);
    } else if (pack_mode == 1) {
        /* An im2col writing through the index leaves the padding as it
         * was: finite but not zero; the kernel must discard those lanes. */
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) pb[gemm_packed_b_index(K, k, j)] = B[(size_t)k * ldb + j];
    } else {
        for (int k = 0; k < K; k++) cut_gemm_pack_b_row(B + (size_t)k * ldb, K, k, N, pb);
    }

    gemm_epilogue ep = {bias + row0, res, ldr, 1};
    cut_gemm_run_impl(mode.impl, mode.kc, pa, M, row0, rows, pb, N, K, C, ldc,
                  mode.use_ep ? &ep : NULL);

    double amax = 0, bmax = 0;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) amax = fmax(amax, fabs(A[(size_t)i * lda + k]));
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) bmax = fmax(bmax, fabs(B[(size_t)k * ldb + j]));
    const double u = ldexp(1.0, -24), gamma = (K + 2) * u / (1 - (K + 2) * u);

    int bad = 0;
    for (int i = 0; i < rows && !bad; i++) {
        const float *ai = A + (size_t)(row0 + i) * lda;
        for (int j = 0; j < N; j++) {
            double ref = 0, sabs = 0, yardstick = K * 2 * u * amax * bmax;
            for (int k = 0; k < K; k++) {
                double p = (double)ai[k] * B[(size_t)k * ldb + j];
                ref += p;
                sabs += fabs(p);
            }
            if (mode.use_ep) {
                double bi = bias[row0 + i], r = res[(size_t)i * ldr + j];
                ref += bi;
                if (ref < 0) ref = 0;
                ref += r;
                sabs += fabs(bi) + fabs(r);
                yardstick += 2 * u * (fabs(bi) + fabs(r));
            }
            double tol = gamma * sabs;
            if (mode.dyadic) tol = 0;
            double got = C[(size_t)i * ldc + j], err = fabs(got - ref);
            if (!mode.dyadic) worst_ratio = fmax(worst_ratio, err / yardstick);
            if (!(err <= tol)) {
                printf("  C[%d][%d] = %.9g, expected %.9g (tolerance %.3g)\n", i, j, got, ref, tol);
                bad = 1;
                break;
            }
        }
        for (size_t j = (size_t)N; j < ldc && !bad; j++) {
            if (C[(size_t)i * ldc + j] != 1e30f) {
                printf("  C[%d][%zu] outside the tile was written\n", i, j);
                bad = 1;
            }
        }
    }
    free(A), free(B), free(bias), free(res), free(C), free(pa), free(pb);
    return bad;
}

static void check(const char *what, int bad)
{
    checks++;
    if (bad) failures++;
    printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
}

static void suite(gemm_impl impl, const char *name)
{
    static const int small[] = {1, 2, 3, 7, 16, 17, 31, 64, 65};
    const int ns = (int)(sizeof small / sizeof small[0]);
    char what[160];

    /* Every small shape, dyadic, with and without the epilogue; kc = 7
     * forces several (uneven) K blocks so the accumulate path runs too. */
    for (int dy = 1; dy >= 0; dy--) {
        for (int kcmode = 0; kcmode < 2; kcmode++) {
            int bad = 0, count = 0;
            for (int a = 0; a < ns; a++)
                for (int b = 0; b < ns; b++)
                    for (int c = 0; c < ns; c++) {
                        test_mode m = {dy, (a + b + c) % 2, kcmode ? 7 : 0, impl};
                        int M = small[a], N = small[b], K = small[c];
                        /* Every other case: a row range cutting row blocks. */
                        int row0 = (b % 2) ? M / 3 : 0, rows = (b % 2) ? M - row0 - M / 5 : M;
                        if (run_case(M, N, K, row0, rows, m, (a + c) % 3)) {
                            printf("  (M=%d N=%d K=%d rows %d..%d epilogue=%d)\n", M, N, K, row0,
                                   row0 + rows - 1, m.use_ep);
                            bad = 1;
                        }
                        count++;
                    }
            snprintf(what, sizeof what,
                     "%s: %d shapes M,N,K in {1..65} (half on a row range), %s data, kc=%s", name,
                     count, dy ? "dyadic (exact)" : "real", kcmode ? "7" : "default");
            check(what, bad);
        }
    }

    /* Layer-like shapes: several K blocks, more than one MC group of rows
     * (M=150 is 25 row blocks), N not a multiple of 16. */
    static const int big[][3] = {{16, 300, 27},  {64, 257, 576},  {1, 1000, 144},
                                 {150, 47, 600}, {33, 129, 1153}, {256, 64, 2305}};
    for (size_t s = 0; s < sizeof big / sizeof big[0]; s++) {
        for (int dy = 1; dy >= 0; dy--) {
            test_mode m = {dy, 1, 0, impl};
            int M = big[s][0], N = big[s][1], K = big[s][2];
            snprintf(what, sizeof what, "%s: M=%d N=%d K=%d with bias+relu+residual, %s data", name,
                     M, N, K, dy ? "dyadic (exact)" : "real");
            check(what, run_case(M, N, K, 0, M, m, (int)s % 3));
            if (M >= 16) {
                int row0 = M / 4 + 1, rows = M / 2;
                snprintf(what, sizeof what, "%s: rows %d..%d of M=%d N=%d K=%d, %s data", name,
                         row0, row0 + rows - 1, M, N, K, dy ? "dyadic (exact)" : "real");
                check(what, run_case(M, N, K, row0, rows, m, (int)(s + 1) % 3));
            }
        }
    }
}

/* The public entry points (cut_gemm_run, cut_gemm_run_rows, cut_gemm_run_rowmajor_b) on
 * dyadic data: exact, so compared with the double reference exactly. */
static int public_entry_points(void)
{
    enum { M = 17, N = 37, K = 300, R0 = 3, RN = 9 };
    static float A[M * K], B[K * N], bias[M], pa[M * K], pb[K * 48], C[3][M * N];
    for (int i = 0; i < M * K; i++) A[i] = rng_dyadic(4);
    for (int i = 0; i < K * N; i++) B[i] = rng_dyadic(4);
    for (int i = 0; i < M; i++) bias[i] = rng_dyadic(16);
    if (cut_gemm_packed_b_floats(K, N) > sizeof pb / sizeof pb[0]) return 1;
    cut_gemm_pack_a(A, K, M, K, pa);
    cut_gemm_pack_b(B, N, K, N, pb);
    gemm_epilogue ep = {bias, NULL, 0, 1}, ep_rows = {bias + R0, NULL, 0, 1};
    cut_gemm_run(pa, pb, M, N, K, C[0], N, &ep);
    cut_gemm_run_rows(pa, M, R0, RN, pb, N, K, C[1], N, &ep_rows);
    cut_gemm_run_rowmajor_b(pa, M, K, B, N, N, C[2], N, pb, &ep);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = bias[i];
            for (int k = 0; k < K; k++) ref += (double)A[i * K + k] * B[k * N + j];
            if (ref < 0) ref = 0;
            if (C[0][i * N + j] != ref || C[2][i * N + j] != ref) return 1;
            if (i >= R0 && i < R0 + RN && C[1][(i - R0) * N + j] != ref) return 1;
        }
    return 0;
}

int main(void)
{
    /* every kernel the CPU has, whatever CUTOUT_ISA says (as test_ops) */
    cut_cpu_set_isa((cut_isa)(CUT_ISA_COUNT - 1));
    suite(GEMM_IMPL_PORTABLE, "portable");
    if (cut_gemm_have_avx2())
        suite(GEMM_IMPL_AVX2, "avx2");
    else
        printf("skip avx2: this CPU has no AVX2+FMA\n");
    if (cut_gemm_have_avx512())
        suite(GEMM_IMPL_AVX512, "avx512");
    else
        printf("skip avx512: this CPU has no AVX-512 F/BW/VL/DQ\n");
    suite(GEMM_IMPL_AUTO, "auto");
    check(
        "cut_gemm_run, cut_gemm_run_rows, cut_gemm_run_rowmajor_b: M=17 N=37 K=300, dyadic (exact)",
        public_entry_points());
    printf("real data: worst error / (K*eps*max|a|*max|b|) = %.3g\n", worst_ratio);
    printf("%d/%d checks passed\n", checks - failures, checks);
    return failures ? 1 : 0;
}
