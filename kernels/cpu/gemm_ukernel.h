/*
 * Internal to the CPU backend: the pieces of the BLIS-style fp32 GEMM that
 * matmul/cpu/blocked/f32 (multi-threaded) and jb_sgemm_st (single-threaded,
 * used by fused attention) share: one register-tile micro-kernel per ISA,
 * the cache block sizes that go with it, the packing routines and the
 * macro-kernel that sweeps a packed block.
 *
 * Packed layouts (zero-padded to whole tiles so the micro-kernel never
 * needs an edge case):
 *   A block mc x kc: ceil(mc/mr) micro-panels, each kc steps of mr floats.
 *   B block kc x nc: ceil(nc/nr) micro-panels, each kc steps of nr floats.
 */
#ifndef JB_GEMM_UKERNEL_H
#define JB_GEMM_UKERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

/* C[mr][nr] (row stride ldc) = (acc ? C : 0) + A_panel * B_panel over kc steps. */
typedef void (*jb_sgemm_ukr_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int acc);

typedef struct jb_sgemm_kernel {
    const char *name;   /* e.g. "avx512_14x32" */
    jb_isa isa;
    int mr, nr;         /* register tile */
    int64_t mc, kc, nc; /* cache blocks; mc a multiple of mr, nc of nr */
    jb_sgemm_ukr_fn ukr;
} jb_sgemm_kernel;

/* The kernel for jb_cpu_isa(); never NULL. */
const jb_sgemm_kernel *jb_sgemm_kernel_get(void);

static inline int64_t jb_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Splits t threads into a tm x tn grid over mtiles x ntiles micro-tiles so
 * the largest share is smallest; ties go to more row splits, which share the
 * packed B block and duplicate no A packing. */
static inline void jb_gemm_grid(int t, int64_t mtiles, int64_t ntiles, int *tm, int *tn)
{
    int64_t best = -1;
    *tm = t;
    *tn = 1;
    for (int d = t; d >= 1; d--) {
        if (t % d)
            continue;
        int64_t share = ((mtiles + d - 1) / d) * ((ntiles + t / d - 1) / (t / d));
        if (best < 0 || share < best) {
            best = share;
            *tm = d;
            *tn = t / d;
        }
    }
}

/* Part i of n units split into `parts` near-equal ranges: [*lo, *hi). */
static inline void jb_gemm_split(int64_t n, int parts, int i, int64_t *lo, int64_t *hi)
{
    *lo = n * i / parts;
    *hi = n * (i + 1) / parts;
}

/* The part of an m x nc block of C that thread t of nt computes, in whole
 * mr x nr tiles, on the grid jb_gemm_grid chooses: rows [*i0, *i1) and
 * columns [*j0, *j1) (clipped to m and nc). Shared by every blocked driver. */
static inline void jb_gemm_thread_tile(int nt, int t, int64_t m, int64_t nc, int64_t mr, int64_t nr, int64_t *i0,
                                       int64_t *i1, int64_t *j0, int64_t *j1)
{
    const int64_t mtiles = (m + mr - 1) / mr, ntiles = (nc + nr - 1) / nr;
    int tm = 1, tn = 1;
    jb_gemm_grid(nt, mtiles, ntiles, &tm, &tn);
    jb_gemm_split(mtiles, tm, t / tn, i0, i1);
    jb_gemm_split(ntiles, tn, t % tn, j0, j1);
    *i0 *= mr;
    *i1 = *i1 * mr < m ? *i1 * mr : m;
    *j0 *= nr;
    *j1 = *j1 * nr < nc ? *j1 * nr : nc;
}

/* Floats of a packed A block of up to mc rows and kc steps, and of a packed
 * B block of kc steps and up to nc columns, rounded up to 64 bytes. */
static inline size_t jb_sgemm_apack_floats(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc)
{
    return (size_t)jb_round_up(jb_round_up(mc, kr->mr) * kc, 16);
}
static inline size_t jb_sgemm_bpack_floats(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc)
{
    return (size_t)jb_round_up(jb_round_up(nc, kr->nr) * kc, 16);
}

/* The A-panel layout of every micro-kernel here, on 32-bit lanes:
 * dst[p][l][r] = src[(p*w + r)*ld + l] for rows [0, rows) and lanes
 * [0, steps), zero rows past the end (ld counts lanes). Lanes are copied bit
 * for bit, so pairs of bf16 or quadruples of int8 pack like floats. */
void jb_pack_lanes32(int w, int64_t rows, int64_t steps, const void *src, int64_t ld, void *dst);

/* Packs rows [0, mc) and steps [0, kc) of A (row stride lda) into dst. */
void jb_sgemm_pack_a(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc, const float *a, int64_t lda, float *dst);

/* Packs steps [0, kc) and columns [0, nc) of B into dst. B(l, j) is
 * b[l*ldb + j], or b[j*ldb + l] when trans is set. To pack a slice of a
 * block starting at column j0 (a multiple of nr), offset b by that column
 * and dst by j0*kc floats. */
void jb_sgemm_pack_b(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc, const float *b, int64_t ldb, int trans,
                     float *dst);

/* C[mc][nc] = (acc ? C : 0) + packed A * packed B (kc steps), walking
 * micro-panels; partial tiles at the edges go through a scratch tile. */
void jb_sgemm_macro(const jb_sgemm_kernel *kr, int64_t mc, int64_t nc, int64_t kc, const float *pa,
                    const float *pb, float *c, int64_t ldc, int acc);

#endif
