/*
 * Ceilings: an FMA loop with enough independent accumulators to cover the
 * FMA latency on every pipe (so it runs at the issue rate), and a parallel
 * memcpy over buffers much larger than the last-level cache. Each is the best
 * of several trials, since the question is what the machine can do.
 */
#include "harness/peaks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu/cpu.h"
#include "jb_kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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
        double total = 0, t0 = now();
#pragma omp parallel reduction(+ : total)
        total += fma_flops(isa, iters);
        double t = now() - t0;
        if (t < 0.05) { /* too short to trust: lengthen and retry */
            iters *= 4;
            trial--;
            continue;
        }
        best = total / t > best ? total / t : best;
    }
    return best;
}

static size_t llc_bytes(void)
{
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    long c = l3 > 0 ? l3 : l2 > 0 ? l2 : 32L << 20;
    return (size_t)c;
}

static double measure_copy(size_t *bytes_out)
{
    /* 4x the LLC, at least 64 MiB per buffer: the copy must come from DRAM. */
    size_t bytes = 4 * llc_bytes();
    if (bytes < (64u << 20))
        bytes = 64u << 20;
    bytes = (bytes + 4095) & ~(size_t)4095;
    char *src = aligned_alloc(4096, bytes), *dst = aligned_alloc(4096, bytes);
    if (!src || !dst) {
        free(src);
        free(dst);
        return -1;
    }
    /* First touch from the threads that will copy, so pages sit near them. */
#pragma omp parallel
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        size_t chunk = bytes / (size_t)nt, off = chunk * (size_t)t;
        if (t == nt - 1)
            chunk = bytes - off;
        memset(src + off, 1, chunk);
        memset(dst + off, 0, chunk);
    }
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
#pragma omp parallel
        {
            int t = 0, nt = 1;
#ifdef _OPENMP
            t = omp_get_thread_num();
            nt = omp_get_num_threads();
#endif
            size_t chunk = bytes / (size_t)nt, off = chunk * (size_t)t;
            if (t == nt - 1)
                chunk = bytes - off;
            memcpy(dst + off, src + off, chunk);
        }
        double t = now() - t0;
        double bw = 2.0 * (double)bytes / t;
        best = bw > best ? bw : best;
    }
    free(src);
    free(dst);
    *bytes_out = bytes;
    return best;
}

int jb_peaks_measure(jb_peaks *out)
{
    memset(out, 0, sizeof *out);
    jb_isa isa = jb_cpu_isa();
    out->isa = jb_isa_name(isa);
    out->threads = jb_cpu_threads();
    out->flop_per_s = measure_flops(isa);
    out->bytes_per_s = measure_copy(&out->copy_bytes);
    return out->bytes_per_s > 0 ? JB_OK : JB_ENOMEM;
}
