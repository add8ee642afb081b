#include "cpu_features.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"

static unsigned features; /* detected */
static unsigned env_cap = ~0u; /* from CUTOUT_ISA */
static unsigned allowed = ~0u; /* the cap in force */
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static const struct {
    const char *name;
    unsigned mask;
} isas[CUT_ISA_COUNT] = {
    {"portable", 0},
    {"avx2", CUT_CPU_ISA_AVX2},
    {"avx512", CUT_CPU_ISA_AVX512},
};

/* The features a cap at isa leaves: none for portable; for AVX2 every
 * feature but AVX-512's (F16C stays for the PNG filters). */
static unsigned cap_mask(cut_isa isa)
{
    switch (isa) {
    case CUT_ISA_PORTABLE: return 0;
    case CUT_ISA_AVX2:
        return ~(unsigned)(CUT_CPU_AVX512F | CUT_CPU_AVX512BW | CUT_CPU_AVX512VL |
                           CUT_CPU_AVX512DQ | CUT_CPU_AVX512VNNI | CUT_CPU_AVX512BF16);
    default: return ~0u;
    }
}

static int valid(cut_isa isa) { return (int)isa >= 0 && (int)isa < CUT_ISA_COUNT; }

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
    CUT_DETECT("avx512dq", CUT_CPU_AVX512DQ);
    CUT_DETECT("avx512vnni", CUT_CPU_AVX512VNNI);
    CUT_DETECT("avx512bf16", CUT_CPU_AVX512BF16);
#undef CUT_DETECT
#endif
    const char *e = getenv("CUTOUT_ISA");
    for (int i = 0; e && i < CUT_ISA_COUNT; i++)
        if (!strcmp(e, isas[i].name)) env_cap = cap_mask((cut_isa)i);
    allowed = env_cap;
}

int cut_cpu_has(unsigned mask)
{
    pthread_once(&features_once, detect);
    return (features & allowed & mask) == mask;
}

int cut_cpu_isa_supported(cut_isa isa)
{
    pthread_once(&features_once, detect);
    return valid(isa) && (features & isas[isa].mask) == isas[isa].mask;
}

cut_isa cut_cpu_isa(void)
{
    cut_isa best = CUT_ISA_PORTABLE;
    for (int i = 1; i < CUT_ISA_COUNT; i++)
        if (cut_cpu_has(isas[i].mask)) best = (cut_isa)i;
    return best;
}

void cut_cpu_set_isa(cut_isa isa)
{
    pthread_once(&features_once, detect);
    allowed = valid(isa) ? cap_mask(isa) : env_cap;
}

const char *cut_isa_name(cut_isa isa)
{
    return valid(isa) ? isas[isa].name : "?";
}

const char *cutout_cpu_isa(void) { return cut_isa_name(cut_cpu_isa()); }
