/*
 * Ceilings: the CPU's peak of each instruction family it has (jb_cpu_fma_peak
 * and jb_cpu_family_peak, in the CPU backend) and a parallel memcpy over
 * buffers much larger than the last-level cache, the best of several trials,
 * since the question is what the machine can do; and which of them a row is
 * a fraction of.
 */
#include "harness/peaks.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "jb_kernels.h"
#include "util/clock.h"

/* This thread's share of bytes, inside a parallel region: [*off, *off + return). */
static size_t my_chunk(size_t bytes, size_t *off)
{
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    size_t chunk = bytes / (size_t)nt;
    *off = chunk * (size_t)t;
    return t == nt - 1 ? bytes - *off : chunk;
}

static double measure_copy(size_t *bytes_out)
{
    /* 4x the LLC, at least 64 MiB per buffer: the copy must come from DRAM. */
    size_t bytes = 4 * jb_cpu_llc_bytes();
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
        size_t off, chunk = my_chunk(bytes, &off);
        memset(src + off, 1, chunk);
        memset(dst + off, 0, chunk);
    }
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = jb_now();
#pragma omp parallel
        {
            size_t off, chunk = my_chunk(bytes, &off);
            memcpy(dst + off, src + off, chunk);
        }
        double t = jb_now() - t0;
        double bw = 2.0 * (double)bytes / t;
        best = bw > best ? bw : best;
    }
    free(src);
    free(dst);
    *bytes_out = bytes;
    return best;
}

/* The instruction of the fp32 loop at isa (the backend names only the ISA). */
static const char *fma_what(const char *isa)
{
    if (!strcmp(isa, "avx512"))
        return "avx512 vfmadd*ps";
    if (!strcmp(isa, "avx2"))
        return "avx2 vfmadd*ps";
    return "portable C multiply-add";
}

int jb_peaks_measure(jb_peaks *out)
{
    memset(out, 0, sizeof *out);
    out->threads = jb_cpu_threads();
    out->flop_per_s = out->flop_per_s_start = jb_cpu_fma_peak(&out->isa);
    out->family[JB_FAM_FP32_FMA] = (jb_peak_family){out->flop_per_s_start, fma_what(out->isa)};
    /* Only the families the CPU has: each loop is a quarter second that an absent one need not spend. */
    for (int f = 0; f < JB_FAM_COUNT; f++)
        if (f != JB_FAM_FP32_FMA && jb_cpu_has_family((jb_family)f, NULL, 0))
            out->family[f].ops_per_s = jb_cpu_family_peak((jb_family)f, &out->family[f].what);
    out->bytes_per_s = out->bytes_per_s_start = measure_copy(&out->copy_bytes);
    return out->bytes_per_s > 0 ? JB_OK : JB_ENOMEM;
}

int jb_peaks_recheck_copy(jb_peaks *p)
{
    size_t bytes;
    double bw = measure_copy(&bytes);
    if (bw <= 0)
        return JB_ENOMEM;
    if (bw > p->bytes_per_s)
        p->bytes_per_s = bw;
    return JB_OK;
}

void jb_peaks_recheck_family(jb_peaks *p, jb_family f)
{
    if (f == JB_FAM_FP32_FMA || (unsigned)f >= JB_FAM_COUNT || p->family[f].ops_per_s <= 0)
        return;
    const double ops = jb_cpu_family_peak(f, NULL);
    if (ops > p->family[f].ops_per_s)
        p->family[f].ops_per_s = ops;
}

double jb_peaks_family(const jb_peaks *p, jb_family f)
{
    if (!p || (unsigned)f >= JB_FAM_COUNT)
        return 0;
    return f == JB_FAM_FP32_FMA ? p->flop_per_s : p->family[f].ops_per_s;
}

int jb_peaks_row_family(const jb_kernel *k, const jb_problem *p, jb_family *family, const char **path)
{
    jb_family f;
    const char *name = jb_kernel_path(k, p, &f);
    if (family)
        *family = f;
    if (path)
        *path = name;
    return k->backend == JB_BACKEND_CPU && p->op != JB_OP_SOFTMAX;
}
