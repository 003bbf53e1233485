/*
 * Internal to the CPU backend: the micro-kernel layer under the blocked GEMM
 * driver (gemm_driver.h). One file per dtype holds its register-tile
 * micro-kernels, the packing routines for their panels and a table of
 * descriptors (tile, block sizes, packing, kernel) from which the one for
 * this CPU is picked at run time (JB_ISA caps it, so tests reach each):
 *   ukernel_f32.c   AVX-512 14x32, AVX2+FMA 6x16, portable C 6x8;
 *   ukernel_int8.c  AVX-512 VNNI 14x32 (with 1..13-row kernels), AVX2 4x16,
 *                   portable C 4x16;
 *   ukernel_bf16.c  AVX-512 BF16 14x32, and the fp32 path every CPU has:
 *                   bf16 widened to fp32 while packed into the f32 panels.
 * The f32 pieces are also what jb_sgemm_st (cpu_gemm.c) builds on. Block
 * sizes come from the caches at first use (gemm_blocking.c).
 */
#ifndef JB_GEMM_UKERNEL_H
#define JB_GEMM_UKERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "gemm_driver.h"

/* ---- Block sizes (gemm_blocking.c) -------------------------------------- */

/*
 * The analytic rule (Low et al., TOMS 2016) for a micro-kernel of mr x nr
 * whose packed panels hold esize-byte elements, kstep to a lane, on a
 * machine with caches of l1, l2 and l3 bytes per core (0: unknown, a
 * default is taken) and `threads` threads: kc, a multiple of 16 and kstep in
 * [64, 2048], the largest for which an A and a B micro-panel, each in whole
 * ways of L1 (size / 4 KiB ways), take all ways but one; mc, a multiple of
 * mr, the A block (mc x kc) in half of L2; nc, a multiple of nr up to 4096,
 * the B block (kc x nc) in half of L3 less the threads' A blocks, but at
 * least a quarter of L3. Pure: no state, no machine.
 */
void jb_gemm_block_sizes(size_t l1, size_t l2, size_t l3, int mr, int nr, int esize, int kstep, int threads,
                         int64_t *mc, int64_t *kc, int64_t *nc);

/* Sets d's mc, kc and nc by the rule for this machine's caches and threads. */
void jb_gemm_driver_block(jb_gemm_driver *d);

/* ---- f32 ---------------------------------------------------------------- */

typedef jb_gemm_driver jb_sgemm_kernel;

/* The f32 descriptor for jb_cpu_isa(); never NULL. Packs A and B in the run. */
const jb_sgemm_kernel *jb_sgemm_kernel_get(void);

/* Floats of a packed A block of up to mc rows and kc steps, and of a packed
 * B block of kc steps and up to nc columns, rounded up to 64 bytes. */
static inline size_t jb_sgemm_apack_floats(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc)
{
    return jb_gemm_apack_bytes(kr, mc, kc) / sizeof(float);
}
static inline size_t jb_sgemm_bpack_floats(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc)
{
    return jb_gemm_bpack_bytes(kr, kc, nc) / sizeof(float);
}

/* The A-panel layout of every micro-kernel here, on 32-bit lanes:
 * dst[p][l][r] = src[(p*w + r)*ld + l] for rows [0, rows) and lanes
 * [0, steps), zero rows past the end (ld counts lanes). Lanes are copied bit
 * for bit, so pairs of bf16 pack like floats. */
void jb_pack_lanes32(int w, int64_t rows, int64_t steps, const void *src, int64_t ld, void *dst);

/* Packs rows [0, mc) and steps [0, kc) of A (row stride lda) into dst. */
void jb_sgemm_pack_a(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc, const float *a, int64_t lda, float *dst);

/* Packs steps [0, kc) and columns [0, nc) of B into dst. B(l, j) is
 * b[l*ldb + j], or b[j*ldb + l] when trans is set. */
void jb_sgemm_pack_b(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc, const float *b, int64_t ldb, int trans,
                     float *dst);

/* C[mc][nc] = (acc ? C : 0) + packed A * packed B (kc steps). */
void jb_sgemm_macro(const jb_sgemm_kernel *kr, int64_t mc, int64_t nc, int64_t kc, const float *pa,
                    const float *pb, float *c, int64_t ldc, int acc);

/* ---- int8 --------------------------------------------------------------- */

/* The int8 descriptor for this CPU; never NULL. A comes pre-packed
 * (jb_s8gemm_pack_a), B row-major with k padded to 4; the epilogue scales
 * the s32 sums by sa[i] * sb[j]. With comp set, A is packed as q + 128 (the
 * VNNI kernel multiplies u8 by s8) and comp is 128 * the column sums of B. */
const jb_gemm_driver *jb_s8gemm_kernel_get(void);

/* Bytes to allocate for all of A (m rows, k4 bytes each) in d's panels. */
size_t jb_s8gemm_apack_bytes(const jb_gemm_driver *d, int64_t m, int64_t k4);

/* Packs a[m][k4] (k4 a multiple of 4) whole into d's pre-packed layout (see
 * jb_gemm_args) at dst. */
void jb_s8gemm_pack_a(const jb_gemm_driver *d, int64_t m, int64_t k4, const int8_t *a, int8_t *dst);

/* Element (i, l) of the A that jb_s8gemm_pack_a packed into pa. */
int8_t jb_s8gemm_a_at(const jb_gemm_driver *d, const int8_t *pa, int64_t m, int64_t k4, int64_t i, int64_t l);

/* ---- bf16 --------------------------------------------------------------- */

/* The bf16 dot-product descriptor (AVX-512 BF16 vdpbf16ps): A and B bf16
 * (uint16_t), row-major, k padded to 2; packs both in the run. NULL where the
 * build has no x86 intrinsics; the caller checks jb_cpu_has_avx512_bf16()
 * before running it. Not AMX: matmul/cpu/amx/bf16 is a kernel of its own. */
const jb_gemm_driver *jb_bf16gemm_kernel_get(void);

/* The f32 descriptor's A and B packing from bf16 sources (lda, ldb count
 * bf16): each value widened to fp32 on the way (a 16-bit shift), into the
 * same panels jb_sgemm_pack_a and jb_sgemm_pack_b write from floats. */
void jb_sgemm_pack_a_bf16(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc, const uint16_t *a, int64_t lda,
                          float *dst);
void jb_sgemm_pack_b_bf16(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc, const uint16_t *b, int64_t ldb,
                          float *dst);

/* The fp32 path of the bf16 GEMM, for any CPU: the f32 descriptor for this
 * CPU (tile, micro-kernel, block sizes) with packing routines that read bf16
 * A and B (src_esize 2; lda and ldb count bf16) and widen them into its fp32
 * panels. jb_gemm_run, jb_gemm_prepack_b and the workspace sizes take it like
 * any descriptor; k needs no padding. Never NULL. */
const jb_gemm_driver *jb_bf16gemm_wide_get(void);

#endif
