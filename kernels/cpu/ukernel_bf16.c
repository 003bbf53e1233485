/*
 * The bf16 micro-kernel layer: a 14x32 micro-kernel on AVX-512 BF16
 * (vdpbf16ps: per fp32 lane, two bf16 products added to the accumulator),
 * its block sizes as a driver descriptor, and its packing. vdpbf16ps pairs
 * consecutive k, so two bf16 share a 32-bit lane (gemm_driver.h):
 *   A block: micro-panels of 14 rows, each kc/2 steps of 14 lanes (one row's
 *            two k values each), packed by jb_pack_lanes32;
 *   B block: micro-panels of 32 columns, each kc/2 steps of 32 lanes (one
 *            column's two k values each).
 * There is no fallback: without AVX-512 BF16 nothing here may run.
 */
#include "gemm_ukernel.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define BF16_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#endif

#ifdef JB_X86

enum { MR = 14, NR = 32, NV = NR / 16 };


/* C[14][32] = (acc ? C : 0) + A_panel * B_panel over ks steps of 2 k values. */
static BF16_FN void ukr_bf16_14x32(int64_t ks, const void *restrict ap, const void *restrict bp, float *restrict c,
                                   int64_t ldc, int acc, const jb_gemm_epi *epi)
{
    const uint16_t *a = ap, *b = bp;
    (void)epi;
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
static BF16_FN void pack_b_bf16(int64_t kc, int64_t nc, const uint16_t *b, int64_t ldb, uint16_t *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int64_t w = jb_min64(nc - j0, NR);
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

/* The driver's packing signatures: A through the shared lane transpose
 * (lda and kc count bf16, two to a lane). */
static void pack_a(const jb_gemm_driver *d, int64_t mc, int64_t kc, const void *a, int64_t lda, void *dst)
{
    jb_pack_lanes32(d->mr, mc, kc / 2, a, lda / 2, dst);
}

static void pack_b(const jb_gemm_driver *d, int64_t kc, int64_t nc, const void *b, int64_t ldb, void *dst,
                   int32_t *comp)
{
    (void)d;
    (void)comp;
    pack_b_bf16(kc, nc, b, ldb, dst);
}

/* kc counts k values (even). The B micro-panel is kc*64 bytes, 32 KiB at
 * kc = 512, within L1; the 168 x 512 A block is 168 KiB of L2. */
static const jb_gemm_driver bf16_14x32 = {
    .name = "avx512bf16_14x32",
    .isa = JB_ISA_AVX512,
    .mr = MR,
    .nr = NR,
    .kstep = 2,
    .mc = MR * 12,
    .kc = 512,
    .nc = 4096,
    .ukr = ukr_bf16_14x32,
    .pack_a = pack_a,
    .pack_b = pack_b,
};

const jb_gemm_driver *jb_bf16gemm_kernel_get(void) { return &bf16_14x32; }

#else

const jb_gemm_driver *jb_bf16gemm_kernel_get(void) { return NULL; }

#endif /* JB_X86 */
