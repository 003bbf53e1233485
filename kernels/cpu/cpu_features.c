/*
 * CPU feature detection for run-time dispatch, with the JB_ISA cap that lets
 * tests force the AVX2 and portable paths on an AVX-512 machine.
 */
#include "cpu.h"
#include "../jb_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const isa_values[] = {"portable", "avx2", "avx512"};

int jb_cpu_isa_env_check(char *msg, size_t len)
{
    const char *s = getenv("JB_ISA");
    if (!s || !*s)
        return JB_OK;
    for (size_t i = 0; i < sizeof isa_values / sizeof isa_values[0]; i++)
        if (!strcmp(s, isa_values[i]))
            return JB_OK;
    snprintf(msg, len, "JB_ISA='%.40s' is not one of portable, avx2, avx512 (it caps the instruction set; unset it "
                       "for the best this CPU has)", s);
    return JB_EINVAL;
}

static jb_isa cap_from_env(void)
{
    const char *s = getenv("JB_ISA");
    if (!s || !*s)
        return JB_ISA_AVX512;
    if (strcmp(s, "portable") == 0)
        return JB_ISA_PORTABLE;
    if (strcmp(s, "avx2") == 0)
        return JB_ISA_AVX2;
    return JB_ISA_AVX512;
}

static jb_isa detect(void)
{
    jb_isa best = JB_ISA_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = JB_ISA_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        best = JB_ISA_AVX512;
#endif
    jb_isa cap = cap_from_env();
    return best < cap ? best : cap;
}

jb_isa jb_cpu_isa(void)
{
    static int isa = -1;
    if (isa < 0)
        isa = (int)detect();
    return (jb_isa)isa;
}

const char *jb_isa_name(jb_isa isa)
{
    switch (isa) {
    case JB_ISA_AVX512: return "avx512";
    case JB_ISA_AVX2: return "avx2";
    default: return "portable";
    }
}

int jb_cpu_has_avx512_vnni(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return jb_cpu_isa() == JB_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int jb_cpu_has_avx512_bf16(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return jb_cpu_isa() == JB_ISA_AVX512 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

const char *jb_cpu_flags(void)
{
    static char buf[160];
    if (buf[0])
        return buf;
#if defined(__x86_64__) || defined(__i386__)
    static const char *const flags[] = {"sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                        "avx512dq", "avx512vnni", "avx512bf16"};
    __builtin_cpu_init();
    /* __builtin_cpu_supports needs a literal, hence the unrolled checks. */
    int have[] = {__builtin_cpu_supports("sse4.2"), __builtin_cpu_supports("avx"), __builtin_cpu_supports("avx2"),
                  __builtin_cpu_supports("fma"), __builtin_cpu_supports("avx512f"),
                  __builtin_cpu_supports("avx512bw"), __builtin_cpu_supports("avx512vl"),
                  __builtin_cpu_supports("avx512dq"), __builtin_cpu_supports("avx512vnni"),
                  __builtin_cpu_supports("avx512bf16")};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (have[i]) {
            strncat(buf, buf[0] ? " " : "", sizeof buf - strlen(buf) - 1);
            strncat(buf, flags[i], sizeof buf - strlen(buf) - 1);
        }
#endif
    if (!buf[0])
        snprintf(buf, sizeof buf, "none");
    return buf;
}

const char *jb_cpu_isa_name(void)
{
    return jb_isa_name(jb_cpu_isa());
}

size_t jb_cpu_llc_bytes(void)
{
    static size_t bytes; /* asked once: kernels call this inside timed runs */
    if (!bytes) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        bytes = l3 > 0 ? (size_t)l3 : l2 > 0 ? (size_t)l2 : (size_t)32 << 20;
    }
    return bytes;
}

int jb_cpu_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
