/*
 * CPU feature detection for run-time dispatch, with the JB_ISA cap that lets
 * tests force the AVX2 and portable paths on an AVX-512 machine.
 */
#include "cpu.h"
#include "../jb_kernels.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* "amx" is the best there is (the default): AVX-512 and, where the CPU has
 * them, the AMX tiles; "avx512" keeps AMX off, so tests reach both. */
#if defined(__x86_64__)
static unsigned amx_cpuid_edx(void);
#endif

static const char *const isa_values[] = {"portable", "avx2", "avx512", "amx"};

int jb_cpu_isa_env_check(char *msg, size_t len)
{
    const char *s = getenv("JB_ISA");
    if (!s || !*s)
        return JB_OK;
    for (size_t i = 0; i < sizeof isa_values / sizeof isa_values[0]; i++)
        if (!strcmp(s, isa_values[i]))
            return JB_OK;
    snprintf(msg, len, "JB_ISA='%.40s' is not one of portable, avx2, avx512, amx (it caps the instruction set; unset it "
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
    static char buf[200];
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
#if defined(__x86_64__)
    /* The AMX bits, as /proc/cpuinfo names them (whether the kernel allows the
     * tiles is asked separately: jb_cpu_has_amx_*). */
    static const char *const amx[] = {"amx_bf16", "amx_tile", "amx_int8"};
    for (int bit = 22; bit <= 24 + 1; bit++)
        if (bit != 23 && amx_cpuid_edx() >> bit & 1u) {
            strncat(buf, buf[0] ? " " : "", sizeof buf - strlen(buf) - 1);
            strncat(buf, amx[bit == 22 ? 0 : bit - 23], sizeof buf - strlen(buf) - 1);
        }
#endif
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
        size_t l3 = jb_cpu_cache_bytes(3), l2 = jb_cpu_cache_bytes(2);
        bytes = l3 ? l3 : l2 ? l2 : (size_t)32 << 20;
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

/* ---- AMX ------------------------------------------------------------------ */

#if defined(__x86_64__)
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* CPUID.(EAX=7,ECX=0):EDX bit 24 AMX-TILE, 22 AMX-BF16, 25 AMX-INT8. Asked
 * once: jb_amx_bf16_gemm_st asks jb_cpu_has_amx_bf16 at every call,
 * flash attention calls it three times per key tile, and in a virtual
 * machine every cpuid traps to the hypervisor. */
static unsigned amx_cpuid_edx(void)
{
    static _Atomic long long edx = -1;
    long long v = atomic_load_explicit(&edx, memory_order_relaxed);
    if (v < 0) {
        unsigned a, b, c, d;
        v = __get_cpuid_count(7, 0, &a, &b, &c, &d) ? (long long)d : 0;
        atomic_store_explicit(&edx, v, memory_order_relaxed);
    }
    return (unsigned)v;
}
#endif

/* 1 when AMX may be used: the JB_ISA cap allows it, the CPU has AMX-TILE and
 * the kernel granted this process the tile data state (Linux 5.16+: without
 * the request the first tile instruction faults). Asked once; *why says what
 * was missing. */
static int amx_ready(char *why, size_t len)
{
    /* Published last, after the reason: a thread that comes first while
     * another is still asking asks too (the request is idempotent), never
     * reads a half-made answer. */
    static _Atomic int ready_flag = -1;
    static char reason[160];
    int ready = atomic_load(&ready_flag);
    if (ready < 0) {
        ready = 0;
        const char *s = getenv("JB_ISA");
        if (s && *s && strcmp(s, "amx"))
            snprintf(reason, sizeof reason, "AMX is off under JB_ISA=%.40s", s);
#if defined(__x86_64__)
        else if (!(amx_cpuid_edx() >> 24 & 1u))
            snprintf(reason, sizeof reason, "CPU lacks AMX (no amx_tile)");
        else if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
            snprintf(reason, sizeof reason, "the kernel refused AMX tile permission (arch_prctl ARCH_REQ_XCOMP_PERM)");
        else
            ready = 1;
#else
        else
            snprintf(reason, sizeof reason, "not an x86-64 CPU: no AMX");
#endif
        atomic_store(&ready_flag, ready);
    }
    if (!ready && why && len)
        snprintf(why, len, "%s", reason);
    return ready;
}

int jb_cpu_has_amx_bf16(char *why, size_t len)
{
    if (!amx_ready(why, len))
        return 0;
#if defined(__x86_64__)
    if (amx_cpuid_edx() >> 22 & 1u)
        return 1;
#endif
    if (why && len)
        snprintf(why, len, "CPU lacks AMX-BF16");
    return 0;
}

int jb_cpu_has_amx_int8(char *why, size_t len)
{
    if (!amx_ready(why, len))
        return 0;
#if defined(__x86_64__)
    if (amx_cpuid_edx() >> 25 & 1u)
        return 1;
#endif
    if (why && len)
        snprintf(why, len, "CPU lacks AMX-INT8");
    return 0;
}

int jb_cpu_has_family(jb_family f, char *why, size_t len)
{
    int ok = 0;
    const char *no = "";
    switch (f) {
    case JB_FAM_FP32_FMA: /* the portable loop is the fp32 FMA of plain C */
        return 1;
    case JB_FAM_BF16_DOT:
        ok = jb_cpu_has_avx512_bf16();
        no = "CPU lacks AVX-512 BF16 (or JB_ISA is below avx512)";
        break;
    case JB_FAM_INT8_DOT:
        ok = jb_cpu_isa() >= JB_ISA_AVX2;
        no = "no int8 dot product below AVX2 (JB_ISA=portable or an older CPU)";
        break;
    case JB_FAM_AMX_BF16: return jb_cpu_has_amx_bf16(why, len);
    case JB_FAM_AMX_INT8: return jb_cpu_has_amx_int8(why, len);
    default: no = "unknown instruction family"; break;
    }
    if (!ok && why && len)
        snprintf(why, len, "%s", no);
    return ok;
}

/* ---- Caches ---------------------------------------------------------------- */

/* sysfs: /sys/devices/system/cpu/cpu0/cache/index<i>/{level,type,size}. */
static size_t sysfs_cache(int level)
{
    for (int i = 0; i < 8; i++) {
        char path[96], buf[64];
        int lv = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f)
            return 0;
        if (fscanf(f, "%d", &lv) != 1)
            lv = 0;
        fclose(f);
        if (lv != level)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!(f = fopen(path, "r")))
            continue;
        int data = fgets(buf, sizeof buf, f) && strncmp(buf, "Instruction", 11);
        fclose(f);
        if (!data)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!(f = fopen(path, "r")))
            continue;
        unsigned long v = 0;
        char unit = 0;
        int got = fscanf(f, "%lu%c", &v, &unit);
        fclose(f);
        if (got >= 1)
            return (size_t)v * (unit == 'K' ? 1024u : unit == 'M' ? 1024u * 1024u : 1u);
    }
    return 0;
}

size_t jb_cpu_cache_bytes(int level)
{
    static size_t bytes[4];
    static int asked[4];
    if (level < 1 || level > 3)
        return 0;
    if (!asked[level]) {
        const int names[] = {0, _SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE};
        /* sysfs first: it is the kernel's reading of CPUID leaf 4 / 0x8000001D per
         * cache; glibc's sysconf has said 256 MiB of L3 on an AMD EPYC VM whose
         * sysfs (and lscpu) say 32 MiB. */
        long v = sysconf(names[level]);
        bytes[level] = sysfs_cache(level);
        if (!bytes[level] && v > 0)
            bytes[level] = (size_t)v;
        asked[level] = 1;
    }
    return bytes[level];
}
