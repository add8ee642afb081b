/* Single-thread SGEMM on convolution-tile shapes: engine/cpu/gemm.c against
 * OpenBLAS cblas_sgemm, in the same run, same data.
 *
 *   make BUILD=build all   # or any build dir with libcutout.a
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Iengine/include -Iengine/base -Iengine/model
 * -Iengine/net -Iengine/cpu bench/gemm_bench.c \ build/libcutout.a -lopenblas -lm -o
 * build/gemm_bench OPENBLAS_CORETYPE=Haswell build/gemm_bench [u2netp|u2net|tiles|all|M K N]
 *      [--reps R] [--kc KC] [--ldc L] [--portable]
 *
 * Sets: u2netp and u2net are grids of M×K×N (N = 256..2048); tiles uses
 * the N that engine/cpu/cpu_conv.c picks for each K.
 *
 * Columns (GFLOP/s = 2·M·N·K / thread CPU time; best and median of R
 * measurements, each at least ~20 ms of back-to-back calls; "on CPU" is
 * CPU time / wall time over the row: below ~95% other processes were
 * competing for this core and even the CPU-time figures are suspect):
 *   packed   cut_gemm_run on a B already in panel layout (im2col writes it)
 *   +pack    cut_gemm_pack_b from a row-major K×N buffer, then cut_gemm_run
 *   openblas cblas_sgemm(RowMajor, NoTrans, NoTrans) from the row-major
 *            buffer, openblas_set_num_threads(1)
 * Also prints a measured FMA peak (12 independent FMA chains in registers). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gemm.h"

/* CPU time of this thread: on a shared machine the time slices that other
 * processes take do not count against the kernel being measured. */
static double cpu_s(void) { return cut_clock_s(CLOCK_THREAD_CPUTIME_ID); }

static void *alloc64(size_t floats)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (floats ? floats : 1) * sizeof(float))) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* FLOP/s of 12 independent FMA chains in registers (enough to cover the
 * FMA latency on two units) at one vector width: V the vector type, P the
 * intrinsic prefix, LANES its floats. The empty asm keeps each chain in a
 * register and live. */
#define FMA12(P, x, y)                                                                         \
    a0 = P##_fmadd_ps(a0, x, y), a1 = P##_fmadd_ps(a1, x, y), a2 = P##_fmadd_ps(a2, x, y);     \
    a3 = P##_fmadd_ps(a3, x, y), a4 = P##_fmadd_ps(a4, x, y), a5 = P##_fmadd_ps(a5, x, y);     \
    a6 = P##_fmadd_ps(a6, x, y), a7 = P##_fmadd_ps(a7, x, y), a8 = P##_fmadd_ps(a8, x, y);     \
    a9 = P##_fmadd_ps(a9, x, y), a10 = P##_fmadd_ps(a10, x, y), a11 = P##_fmadd_ps(a11, x, y)
#define DEFINE_FMA_PEAK(name, TGT, V, P, LANES, ITERS)                                             \
    __attribute__((target(TGT))) static double name(void)                                     \
    {                                                                                          \
        V x = P##_set1_ps(0.999999f), y = P##_set1_ps(1e-7f);                                  \
        V a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x,      \
          a10 = x, a11 = x;                                                                    \
        double t0 = cpu_s();                                                                   \
        for (long n = 0; n < (ITERS); n++) {                                                   \
            FMA12(P, x, y);                                                                    \
            FMA12(P, x, y);                                                                    \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),  \
                             "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));   \
        }                                                                                      \
        double t = cpu_s() - t0;                                                               \
        V sum = P##_add_ps(P##_add_ps(P##_add_ps(a0, a1), P##_add_ps(a2, a3)),                 \
                           P##_add_ps(P##_add_ps(a4, a5), P##_add_ps(a6, a7)));                \
        sum = P##_add_ps(sum, P##_add_ps(P##_add_ps(a8, a9), P##_add_ps(a10, a11)));           \
        float out[LANES];                                                                      \
        P##_storeu_ps(out, sum);                                                               \
        if (out[0] == 12345.f) printf(" ");                                                    \
        return (double)(ITERS) * 24 * (LANES) * 2 / t * 1e-9;                                  \
    }
DEFINE_FMA_PEAK(fma_peak_gflops, "avx2,fma", __m256, _mm256, 8, 20000000L)
/* The same with zmm: the AVX-512 kernel's ceiling (CPUs with one 512-bit
 * FMA unit show no more than with ymm). */
DEFINE_FMA_PEAK(fma_peak_avx512_gflops, "avx512f,fma", __m512, _mm512, 16, 10000000L)
#else
static double fma_peak_gflops(void) { return 0; }
static double fma_peak_avx512_gflops(void) { return 0; }
#endif

typedef struct {
    int M, K, N;
    const float *pa, *pb, *A, *B;
    float *C, *scratch;
    int kc; /* K block for cut_gemm_run_impl; 0: the library's default */
    gemm_impl impl;
    size_t ldc;
} shape;

enum { V_PACKED, V_PACK, V_BLAS, NV };

static void call(int v, const shape *s)
{
    switch (v) {
    case V_PACKED:
        cut_gemm_run_impl(s->impl, s->kc, s->pa, s->M, 0, s->M, s->pb, s->N, s->K, s->C, s->ldc,
                      NULL);
        break;
    case V_PACK:
        cut_gemm_pack_b(s->B, (size_t)s->N, s->K, s->N, s->scratch);
        cut_gemm_run_impl(s->impl, s->kc, s->pa, s->M, 0, s->M, s->scratch, s->N, s->K, s->C,
                      s->ldc, NULL);
        break;
    default:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, s->A, s->K,
                    s->B, s->N, 0.0f, s->C, (int)s->ldc);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static gemm_impl impl_choice = GEMM_IMPL_AUTO; /* --portable */
static size_t ldc_choice; /* --ldc: C rows this far apart (an NCHW plane); 0: N */

static void bench_shape(int M, int K, int N, int reps, int kc)
{
    shape s = {M, K, N, NULL, NULL, NULL, NULL, NULL, NULL, kc, impl_choice,
               ldc_choice > (size_t)N ? ldc_choice : (size_t)N};
    float *A = alloc64((size_t)M * K), *B = alloc64((size_t)K * N);
    float *pa = alloc64(cut_gemm_packed_a_floats(M, K)),
          *pb = alloc64(cut_gemm_packed_b_floats(K, N));
    s.scratch = alloc64(cut_gemm_packed_b_floats(K, N));
    s.C = alloc64((size_t)M * s.ldc);
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
    cut_gemm_pack_a(A, (size_t)K, M, K, pa);
    cut_gemm_pack_b(B, (size_t)N, K, N, pb);
    s.A = A, s.B = B, s.pa = pa, s.pb = pb;

    double flop = 2.0 * M * N * K, best[NV], med[NV];
    double *t = malloc(sizeof(double) * (size_t)reps * NV);
    if (!t) exit(2);
    /* Calls per measurement, from one timed call of the fastest guess. */
    call(V_PACKED, &s);
    double t0 = cut_now_s();
    call(V_PACKED, &s);
    double one = cut_now_s() - t0;
    long calls = one > 0.02 ? 1 : (long)(0.02 / (one > 1e-7 ? one : 1e-7)) + 1;
    for (int v = 0; v < NV; v++) call(v, &s); /* warm */
    /* Variants interleaved so that drift hits them alike. */
    double wall = 0, cpu = 0;
    for (int r = 0; r < reps; r++) {
        for (int v = 0; v < NV; v++) {
            double a = cut_now_s(), b = cpu_s();
            for (long c = 0; c < calls; c++) call(v, &s);
            double dc = cpu_s() - b;
            wall += cut_now_s() - a;
            cpu += dc;
            t[v * reps + r] = dc / (double)calls;
        }
    }
    for (int v = 0; v < NV; v++) {
        qsort(t + v * reps, (size_t)reps, sizeof(double), cmp_double);
        best[v] = flop / t[v * reps] * 1e-9;
        med[v] = flop / t[v * reps + reps / 2] * 1e-9;
    }
    printf(
        "| %4d | %5d | %5d | %6.1f / %6.1f | %6.1f / %6.1f | %6.1f / %6.1f | %5.2f | %3.0f%% |\n",
        M, K, N, best[0], med[0], best[1], med[1], best[2], med[2], med[0] / med[2],
        100.0 * cpu / wall);
    fflush(stdout);
    free(t), free(A), free(B), free(pa), free(pb), free(s.scratch), free(s.C);
}

static void grid(const int *Ms, int nm, const int *Ks, int nk, int reps, int kc)
{
    static const int Ns[] = {256, 512, 1024, 2048};
    for (int a = 0; a < nm; a++)
        for (int b = 0; b < nk; b++)
            for (int c = 0; c < 4; c++) bench_shape(Ms[a], Ks[b], Ns[c], reps, kc);
}

int main(int argc, char **argv)
{
    const char *set = "all";
    int reps = 5, kc = 0, custom[3] = {0, 0, 0}, ncustom = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kc") && i + 1 < argc)
            kc = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ldc") && i + 1 < argc)
            ldc_choice = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--portable"))
            impl_choice = GEMM_IMPL_PORTABLE;
        else if (argv[i][0] >= '0' && argv[i][0] <= '9' && ncustom < 3)
            custom[ncustom++] = atoi(argv[i]);
        else
            set = argv[i];
    }
    if (reps < 1) reps = 1;
    if (!getenv("OPENBLAS_CORETYPE"))
        fprintf(stderr, "warning: OPENBLAS_CORETYPE is not set; OpenBLAS may pick a slow kernel\n");
    openblas_set_num_threads(1);
    /* CUTOUT_ISA=avx2 (or portable) caps the kernel as in the library. */
    const char *kernel = impl_choice == GEMM_IMPL_PORTABLE ? "portable"
                         : cut_gemm_have_avx512()          ? "avx512"
                         : cut_gemm_have_avx2()            ? "avx2"
                                                           : "portable";
    printf("gemm_bench: single thread; OpenBLAS core %s; gemm kernel %s; measured FMA peak %.1f "
           "GFLOP/s (ymm)",
           openblas_get_corename(), kernel, fma_peak_gflops());
    if (cut_gemm_have_avx512()) printf(", %.1f GFLOP/s (zmm)", fma_peak_avx512_gflops());
    printf("\n");
    printf("GFLOP/s, best / median of %d; C rows %s apart\n\n", reps, ldc_choice ? "--ldc" : "N");
    printf("|    M |     K |     N | packed (best/med) | +pack_b (best/med) | OpenBLAS (best/med) | packed/OpenBLAS (med) | on CPU |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");

    if (ncustom == 3) {
        bench_shape(custom[0], custom[1], custom[2], reps, kc);
        return 0;
    }
    if (!strcmp(set, "u2netp") || !strcmp(set, "all")) {
        static const int Ms[] = {16, 64, 1}, Ks[] = {27, 144, 288, 576, 1152};
        grid(Ms, 3, Ks, 5, reps, kc);
    }
    if (!strcmp(set, "u2net") || !strcmp(set, "all")) {
        static const int Ms[] = {16, 32, 64, 128, 256, 512}, Ks[] = {576, 1152, 2304, 4608, 9216};
        grid(Ms, 6, Ks, 5, reps, kc);
    }
    if (!strcmp(set, "tiles") || !strcmp(set, "all")) {
        /* N as engine/cpu/cpu_conv.c picks it today: 128K floats of im2col per
         * tile, at most 1024 pixels, a multiple of 16, at least 64. */
        static const int Ms[] = {16, 64, 128, 256, 512};
        static const int Ks[] = {27, 144, 288, 576, 1152, 2304, 4608, 9216};
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 8; b++) {
                int n = 128 * 1024 / Ks[b];
                n = (n > 1024 ? 1024 : n) / 16 * 16;
                bench_shape(Ms[a], Ks[b], n < 64 ? 64 : n, reps, kc);
            }
    }
    return 0;
}
