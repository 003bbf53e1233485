/*
 * The fp32 FMA ceiling of the CPU: a loop with enough independent
 * accumulators to cover the FMA latency on every pipe (so it runs at the
 * issue rate), on every thread, at the best instruction set; the best of
 * several trials, since the question is what the machine can do. The
 * harness reports every CPU row as a fraction of it.
 */
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
