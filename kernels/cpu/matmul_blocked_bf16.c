/*
 * matmul/cpu/blocked/bf16: C = A*B with bf16 inputs and fp32 accumulation on
 * AVX-512 BF16 (vdpbf16ps: per fp32 lane, two bf16 products added to the
 * accumulator). Setup (untimed) rounds A and B to bf16, to nearest even;
 * the timed run packs bf16 panels and runs a 14x32 micro-kernel; the oracle
 * sees the bf16-rounded values through dequantized_inputs.
 *
 * vdpbf16ps pairs consecutive k, so the packed layout is the int8 kernel's
 * with 2 bf16 per 32-bit lane instead of 4 bytes:
 *   A block: micro-panels of 14 rows, each kc/2 steps of 14 lanes (one row's
 *            two k values each), packed by jb_pack_lanes32;
 *   B block: micro-panels of 32 columns, each kc/2 steps of 32 lanes (one
 *            column's two k values each).
 * Blocking and threading follow matmul/cpu/blocked/f32 (matmul_blocked.c).
 * There is no fallback: without AVX-512 BF16 the kernel is unavailable.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define BF16_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#endif

enum { MR = 14, NR = 32, NV = NR / 16 };
/* Cache blocks: kc counts k values (even). The B micro-panel is kc*64 bytes,
 * 32 KiB at kc = 512, within L1; the 168 x 512 A block is 168 KiB of L2. */
static const int64_t MC = MR * 12, KC = 512, NC = 4096;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Round to nearest even; inputs are finite. */
static uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static int available(char *why, size_t len)
{
    if (jb_cpu_has_avx512_bf16())
        return JB_OK;
    snprintf(why, len, "CPU lacks AVX-512 BF16");
    return JB_EUNAVAILABLE;
}

#ifdef JB_X86

/* C[14][32] = (acc ? C : 0) + A_panel * B_panel over ks steps of 2 k values. */
static BF16_FN void ukr_bf16_14x32(int64_t ks, const uint16_t *restrict a, const uint16_t *restrict b,
                                   float *restrict c, int64_t ldc, int acc)
{
    __m512 cr[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            cr[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int64_t s = 0; s < ks; s++) {
        __m512bh bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = (__m512bh)_mm512_load_si512((const void *)(b + 32 * v));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            int32_t pair;
            memcpy(&pair, a + 2 * i, 4);
            const __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                cr[i][v] = _mm512_dpbf16_ps(cr[i][v], ai, bv[v]);
        }
        a += 2 * MR;
        b += 2 * NR;
    }
    /* Through memory before the epilogue, as the int8 kernel does: with the
     * accumulators and the epilogue's operands live at once, gcc 12 can
     * spill inside the k loop. */
    _Alignas(64) float t[MR * NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_store_ps(t + i * NR + 16 * v, cr[i][v]);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            float *cp = c + i * ldc + 16 * v;
            const __m512 f = _mm512_load_ps(t + i * NR + 16 * v);
            _mm512_storeu_ps(cp, acc ? _mm512_add_ps(_mm512_loadu_ps(cp), f) : f);
        }
}

/* Steps [0, kc/2) and columns [0, nc) of b (bf16, row stride ldb): each
 * step interleaves two rows so a column's two k values share a lane;
 * columns past nc are zero. */
static BF16_FN void pack_b(int64_t kc, int64_t nc, const uint16_t *b, int64_t ldb, uint16_t *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int64_t w = min64(nc - j0, NR);
        for (int64_t l = 0; l < kc; l += 2) {
            const uint16_t *r0 = b + l * ldb + j0, *r1 = r0 + ldb;
            int64_t j = 0;
            for (; j + 16 <= w; j += 16) {
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)(r0 + j));
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)(r1 + j));
                /* Per 128-bit lane: columns 0-3 | 8-11 and 4-7 | 12-15. */
                const __m256i lo = _mm256_unpacklo_epi16(x0, x1), hi = _mm256_unpackhi_epi16(x0, x1);
                _mm256_store_si256((__m256i *)(dst + 2 * j), _mm256_permute2x128_si256(lo, hi, 0x20));
                _mm256_store_si256((__m256i *)(dst + 2 * j + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
            }
            for (; j < w; j++) {
                dst[2 * j] = r0[j];
                dst[2 * j + 1] = r1[j];
            }
            if (w < NR)
                memset(dst + 2 * w, 0, (size_t)(NR - w) * 4);
            dst += 2 * NR;
        }
    }
}

static void macro(int64_t mc, int64_t nc, int64_t kc, const uint16_t *pa, const uint16_t *pb, float *c, int64_t ldc,
                  int acc)
{
    _Alignas(64) float tile[MR * NR];
    for (int64_t j = 0; j < nc; j += NR) {
        const uint16_t *bp = pb + j * kc;
        const int64_t nw = min64(nc - j, NR);
        for (int64_t i = 0; i < mc; i += MR) {
            const uint16_t *ap = pa + i * kc;
            const int64_t mh = min64(mc - i, MR);
            float *cij = c + i * ldc + j;
            if (mh == MR && nw == NR) {
                ukr_bf16_14x32(kc / 2, ap, bp, cij, ldc, acc);
                continue;
            }
            ukr_bf16_14x32(kc / 2, ap, bp, tile, NR, 0);
            for (int64_t r = 0; r < mh; r++)
                for (int64_t q = 0; q < nw; q++)
                    cij[r * ldc + q] = acc ? cij[r * ldc + q] + tile[r * NR + q] : tile[r * NR + q];
        }
    }
}

#endif /* JB_X86 */

/* ---- The kernel --------------------------------------------------------- */

/* What setup makes: A [m][k2] and B [k2][n] in bf16, k2 = k rounded up to 2
 * (the padding is zero). */
typedef struct state {
    int64_t k2;
    uint16_t *a, *b;
} state;

/* Bytes of the packed blocks, rounded to 64 so each stays aligned. */
static size_t bytes_b(int64_t kc, int64_t nc) { return (size_t)jb_round_up(jb_round_up(nc, NR) * kc * 2, 64); }
static size_t bytes_a(int64_t mc, int64_t kc) { return (size_t)jb_round_up(jb_round_up(mc, MR) * kc * 2, 64); }

static size_t workspace_size(const jb_problem *p)
{
    const int64_t kc = min64(jb_round_up(p->k, 2), KC);
    return bytes_b(kc, min64(p->n, NC)) + (size_t)jb_cpu_threads() * bytes_a(min64(p->m, MC), kc);
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->a);
    free(st->b);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k, k2 = jb_round_up(k, 2);
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->k2 = k2;
    st->a = calloc((size_t)(m * k2), sizeof(uint16_t));
    st->b = calloc((size_t)(k2 * n), sizeof(uint16_t));
    if (!st->a || !st->b) {
        teardown(e);
        return JB_ENOMEM;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            st->a[i * k2 + l] = to_bf16(e->in[0][i * k + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            st->b[l * n + j] = to_bf16(e->in[1][l * n + j]);
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = from_bf16(st->a[i * st->k2 + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = from_bf16(st->b[l * n + j]);
    return JB_OK;
}

static int run(jb_exec *e)
{
#ifdef JB_X86
    const jb_problem *p = e->p;
    const state *st = e->state;
    if (!st || !jb_cpu_has_avx512_bf16())
        return st ? JB_EUNAVAILABLE : JB_EINVAL;
    const int64_t m = p->m, n = p->n, k2 = st->k2;
    float *c = e->out;
    const int64_t kcmax = min64(k2, KC);
    const size_t bb = bytes_b(kcmax, min64(n, NC)), ba = bytes_a(min64(m, MC), kcmax);

    int threads = jb_cpu_threads();
    if (!e->ws || e->ws_size < bb + ba)
        return JB_EINVAL;
    if ((size_t)threads > (e->ws_size - bb) / ba)
        threads = (int)((e->ws_size - bb) / ba);
    uint16_t *bpack = e->ws;
    unsigned char *apack0 = (unsigned char *)e->ws + bb;

#pragma omp parallel num_threads(threads)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        uint16_t *apack = (uint16_t *)(void *)(apack0 + (size_t)t * ba);
        for (int64_t jc = 0; jc < n; jc += NC) {
            const int64_t nc = min64(n - jc, NC);
            const int64_t ntiles = (nc + NR - 1) / NR;
            int64_t i0, i1, j0, j1;
            jb_gemm_thread_tile(nt, t, m, nc, MR, NR, &i0, &i1, &j0, &j1);
            for (int64_t pc = 0; pc < k2; pc += KC) {
                const int64_t kc = min64(k2 - pc, KC);
                int64_t p0, p1;
                jb_gemm_split(ntiles, nt, t, &p0, &p1);
                if (p1 > p0) {
                    const int64_t q0 = p0 * NR;
                    pack_b(kc, min64(p1 * NR, nc) - q0, st->b + pc * n + jc + q0, n, bpack + q0 * kc);
                }
#pragma omp barrier
                if (j1 > j0)
                    for (int64_t ic = i0; ic < i1; ic += MC) {
                        const int64_t mc = min64(i1 - ic, MC);
                        jb_pack_lanes32(MR, mc, kc / 2, st->a + ic * k2 + pc, k2 / 2, apack);
                        macro(mc, j1 - j0, kc, apack, bpack + j0 * kc, c + ic * n + jc + j0, n, pc > 0);
                    }
#pragma omp barrier
            }
        }
    }
    return JB_OK;
#else
    (void)e;
    return JB_EUNAVAILABLE;
#endif
}

const jb_kernel jb_k_matmul_cpu_blocked_bf16 = {
    .name = "matmul/cpu/blocked/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "bf16 A and B (rounded in setup), fp32 accumulation with AVX-512 BF16 vdpbf16ps, 14x32 tiles, OpenMP",
    .available = available,
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
