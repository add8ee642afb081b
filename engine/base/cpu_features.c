#include "cpu_features.h"

#include <pthread.h>

static unsigned features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports checks XGETBV too: no AVX on an OS that does not
     * save the YMM/ZMM registers. It takes string literals only. */
#define CUT_DETECT(name, flag) \
    if (__builtin_cpu_supports(name)) features |= flag
    __builtin_cpu_init();
    CUT_DETECT("avx2", CUT_CPU_AVX2);
    CUT_DETECT("fma", CUT_CPU_FMA);
    CUT_DETECT("f16c", CUT_CPU_F16C);
    CUT_DETECT("avx512f", CUT_CPU_AVX512F);
    CUT_DETECT("avx512bw", CUT_CPU_AVX512BW);
    CUT_DETECT("avx512vl", CUT_CPU_AVX512VL);
    CUT_DETECT("avx512vnni", CUT_CPU_AVX512VNNI);
    CUT_DETECT("avx512bf16", CUT_CPU_AVX512BF16);
#undef CUT_DETECT
#endif
}

int cut_cpu_has(unsigned mask)
{
    pthread_once(&features_once, detect);
    return (features & mask) == mask;
}
