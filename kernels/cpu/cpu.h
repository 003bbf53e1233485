/*
 * Internal to the CPU backend: instruction-set dispatch and the shared
 * single-threaded sgemm that fused attention builds on. What the harness may
 * know of the CPU is in the public header (jb_kernels.h).
 */
#ifndef JB_CPU_H
#define JB_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "../jb_kernels.h" /* the public CPU facts: jb_cpu_threads, jb_cpu_flags, ... */

#include <time.h>

/* The smaller of two sizes; seconds of the monotonic clock (for the CPU
 * backend's own timing: peaks and runs). */
static inline int64_t jb_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline double jb_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef enum jb_isa { JB_ISA_PORTABLE, JB_ISA_AVX2, JB_ISA_AVX512 } jb_isa;

/* Best ISA this CPU has for fp32 (AVX-512F+BW+VL+DQ; AVX2+FMA; else portable),
 * capped by the environment variable JB_ISA=portable|avx2|avx512 so tests can
 * force every path. Read once. */
jb_isa jb_cpu_isa(void);
const char *jb_isa_name(jb_isa isa);
/* AVX-512 VNNI and AVX-512 BF16, also capped by JB_ISA (below avx512: no). */
int jb_cpu_has_avx512_vnni(void);
int jb_cpu_has_avx512_bf16(void);
/* AMX-BF16 and AMX-INT8, ready to use: the CPU has them, JB_ISA is unset or
 * "amx", and the kernel granted this process tile permission (asked once).
 * When not, why says what was missing (why may be NULL). Each thread that runs
 * tile instructions loads its own tile configuration. */
int jb_cpu_has_amx_bf16(char *why, size_t len);
int jb_cpu_has_amx_int8(char *why, size_t len);

/*
 * Single-threaded sgemm for use inside a parallel region:
 *   C[m][n] = beta*C + A[m][k] * op(B)
 * A has row stride lda; B is k x n with row stride ldb, or, when trans_b is
 * set, n x k with row stride ldb (so C = A * B^T); C has row stride ldc.
 * beta is 0 (C is not read) or 1. pack is scratch of jb_sgemm_pack_size() bytes,
 * 64-byte aligned. Does not allocate.
 */
size_t jb_sgemm_pack_size(int64_t m, int64_t n, int64_t k);
void jb_sgemm_st(int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda,
                 const float *b, int64_t ldb, int trans_b,
                 float *c, int64_t ldc, float beta, void *pack);

/* Symmetric int8 quantization of each row of x[rows][cols] (stride ld):
 * q = round(x / s), s = max|x| / 127 (1 for an all-zero row). */
void jb_quantize_rows_s8(const float *x, int64_t rows, int64_t cols, int64_t ld,
                         int8_t *q, int64_t ldq, float *scale);
/* The same rule per column of x[rows][cols]: scale[j] = max over the column / 127. */
void jb_quantize_cols_s8(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q, int64_t ldq,
                         float *scale);

#endif
