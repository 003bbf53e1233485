/*
 * The CPU's ceilings, one per instruction family (jb_family): loops with
 * enough independent accumulators to cover each instruction's latency on
 * every pipe (so they run at the issue rate), on every thread, at the best
 * instruction set; the best of several trials, since the question is what the
 * machine can do. fp32 FMA, bf16 dot product (vdpbf16ps), int8 dot product
 * (vpdpbusd, or vpmaddubsw + vpmaddwd + vpaddd on AVX2) here; the AMX tile
 * loops in peak_amx.c, the one file built with the AMX flags. The harness
 * reports every CPU row as a fraction of its kernel's family.
 */
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "amx.h"
#include "cpu.h"

/* 12 accumulators: FMA latency 4 cycles x 2 pipes needs at least 8 in flight. */
#define ACC 12

/* The loops' results go here so the compiler cannot drop the work (one per thread: no race). */
static _Thread_local volatile float peaks_sink;

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double fma_avx512(int64_t iters)
{
    __m512 acc[ACC], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    __m512 s = acc[0];
    for (int i = 1; i < ACC; i++)
        s = _mm512_add_ps(s, acc[i]);
    peaks_sink = _mm512_reduce_add_ps(s);
    return (double)iters * ACC * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(int64_t iters)
{
    __m256 acc[ACC], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++)
        acc[i] = _mm256_set1_ps((float)i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    __m256 s = acc[0];
    for (int i = 1; i < ACC; i++)
        s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    peaks_sink = out[0];
    return (double)iters * ACC * 8 * 2;
}
#endif

static double fma_portable(int64_t iters)
{
    float acc[ACC][8];
    for (int i = 0; i < ACC; i++)
        for (int j = 0; j < 8; j++)
            acc[i][j] = (float)(i + j);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++)
            for (int j = 0; j < 8; j++)
                acc[i][j] = acc[i][j] * 0.999999f + 1e-7f;
    peaks_sink = acc[0][0];
    return (double)iters * ACC * 8 * 2;
}

static double fma_flops(jb_isa isa, int64_t iters)
{
#if defined(__x86_64__)
    if (isa == JB_ISA_AVX512)
        return fma_avx512(iters);
    if (isa == JB_ISA_AVX2)
        return fma_avx2(iters);
#endif
    return fma_portable(iters);
}

static double measure_flops(jb_isa isa)
{
    int64_t iters = 1 << 22;
    double best = 0;
    for (int trial = 0; trial < 3; trial++) {
        double total = 0, t0 = jb_cpu_seconds();
#pragma omp parallel reduction(+ : total)
        total += fma_flops(isa, iters);
        double t = jb_cpu_seconds() - t0;
        if (t < 0.05) { /* too short to trust: lengthen and retry */
            iters *= 4;
            trial--;
            continue;
        }
        best = total / t > best ? total / t : best;
    }
    return best;
}

double jb_cpu_fma_peak(const char **isa_name)
{
    jb_isa isa = jb_cpu_isa();
    if (isa_name)
        *isa_name = jb_isa_name(isa);
    return measure_flops(isa);
}

/* ---- The other families -------------------------------------------------- */

#if defined(__x86_64__)
/* vdpbf16ps: 16 lanes x 2 bf16 products, each a multiply and an add. */
__attribute__((target("avx512f,avx512bf16"))) static double bf16_dot_avx512(int64_t iters)
{
    __m512 acc[ACC];
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (int i = 0; i < ACC; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    __m512 s = acc[0];
    for (int i = 1; i < ACC; i++)
        s = _mm512_add_ps(s, acc[i]);
    peaks_sink = _mm512_reduce_add_ps(s);
    return (double)iters * ACC * 16 * 2 * 2;
}

/* vpdpbusd: 16 lanes x 4 u8*s8 products, each a multiply and an add. */
__attribute__((target("avx512f,avx512vnni"))) static double int8_dot_vnni(int64_t iters)
{
    __m512i acc[ACC];
    const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    for (int i = 0; i < ACC; i++)
        acc[i] = _mm512_set1_epi32(i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++)
            acc[i] = _mm512_dpbusd_epi32(acc[i], x, y);
    __m512i s = acc[0];
    for (int i = 1; i < ACC; i++)
        s = _mm512_add_epi32(s, acc[i]);
    peaks_sink = (float)_mm512_reduce_add_epi32(s);
    return (double)iters * ACC * 16 * 4 * 2;
}

/* AVX2's int8 dot product, as the blocked int8 kernel runs it: vpmaddubsw
 * (32 u8*s8 products, summed in pairs to s16), vpmaddwd by ones (to s32 in
 * pairs), vpaddd; 64 ops per three instructions. */
__attribute__((target("avx2"))) static double int8_dot_avx2(int64_t iters)
{
    /* Eight named accumulators (an array of them gcc kept on the stack). The
     * products do not depend on the loop: without the empty asm, which the
     * compiler must assume changes x, gcc -O2 hoists both multiplies out of it
     * and the loop measures vpaddd alone. */
    const __m256i y = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    __m256i x = _mm256_set1_epi8(3);
    __m256i c0 = _mm256_set1_epi32(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
#define DOT(c)                                                                                                   \
    __asm__ volatile("" : "+x"(x));                                                                             \
    c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones))
    for (int64_t it = 0; it < iters; it++) {
        DOT(c0);
        DOT(c1);
        DOT(c2);
        DOT(c3);
        DOT(c4);
        DOT(c5);
        DOT(c6);
        DOT(c7);
    }
#undef DOT
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    peaks_sink = (float)_mm256_extract_epi32(s, 0);
    return (double)iters * 8 * 32 * 2;
}
#endif

/* One thread's ops in iters passes of family f's loop; 0 when this build or CPU lacks it. */
static double family_ops(jb_family f, int64_t iters)
{
    switch (f) {
    case JB_FAM_FP32_FMA: return fma_flops(jb_cpu_isa(), iters);
#if defined(__x86_64__)
    case JB_FAM_BF16_DOT: return bf16_dot_avx512(iters);
    case JB_FAM_INT8_DOT: return jb_cpu_has_avx512_vnni() ? int8_dot_vnni(iters) : int8_dot_avx2(iters);
    case JB_FAM_AMX_BF16:
    case JB_FAM_AMX_INT8: return jb_amx_peak_ops(f, iters);
#endif
    default: return 0;
    }
}

static const char *family_what(jb_family f)
{
    switch (f) {
    case JB_FAM_FP32_FMA: return jb_isa_name(jb_cpu_isa());
    case JB_FAM_BF16_DOT: return "avx512_bf16 vdpbf16ps";
    case JB_FAM_INT8_DOT: return jb_cpu_has_avx512_vnni() ? "avx512_vnni vpdpbusd" : "avx2 vpmaddubsw";
    case JB_FAM_AMX_BF16: return "amx tdpbf16ps";
    case JB_FAM_AMX_INT8: return "amx tdpbusd";
    default: return "?";
    }
}

double jb_cpu_family_peak(jb_family f, const char **what)
{
    if (what)
        *what = family_what(f);
    if (!jb_cpu_has_family(f, NULL, 0))
        return 0;
    /* The AMX loops do 512x more per pass than the vector ones: fewer passes. */
    int64_t iters = f == JB_FAM_AMX_BF16 || f == JB_FAM_AMX_INT8 ? 1 << 12 : 1 << 20;
    double best = 0;
    for (int trial = 0; trial < 3; trial++) {
        double total = 0, t0 = jb_cpu_seconds();
#pragma omp parallel reduction(+ : total)
        total += family_ops(f, iters);
        double t = jb_cpu_seconds() - t0;
        if (t < 0.02 && iters < ((int64_t)1 << 40)) { /* too short to trust: lengthen and retry */
            iters *= 4;
            trial--;
            continue;
        }
        best = total / t > best ? total / t : best;
    }
    return best;
}

double jb_cpu_family_peak_cached(jb_family f)
{
    static double peak[JB_FAM_COUNT];
    static int done[JB_FAM_COUNT];
    if ((unsigned)f >= JB_FAM_COUNT)
        return 0;
    if (!done[f]) { /* kernels ask from their setup, one thread at a time */
        peak[f] = f == JB_FAM_FP32_FMA ? jb_cpu_fma_peak(NULL) : jb_cpu_family_peak(f, NULL);
        done[f] = 1;
    }
    return peak[f];
}

double jb_cpu_fma_rate(double seconds)
{
    /* Iterations per thread for about `seconds`, learned once from a first call. */
    static int64_t iters;
    jb_isa isa = jb_cpu_isa();
    if (!iters)
        iters = 1 << 12;
    for (;;) {
        double total = 0, t0 = jb_cpu_seconds();
#pragma omp parallel reduction(+ : total)
        total += fma_flops(isa, iters);
        double t = jb_cpu_seconds() - t0;
        if (t < 0.5 * seconds && iters < ((int64_t)1 << 30)) { /* too short to mean anything: longer */
            iters *= 4;
            continue;
        }
        return total / t;
    }
}
