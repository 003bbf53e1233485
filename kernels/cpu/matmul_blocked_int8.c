/*
 * matmul/cpu/blocked/int8: the quantized GEMM. Setup (untimed) quantizes A
 * per row and B per column to symmetric int8 (q = round(x / s), s = max|x| /
 * 127) and stores A directly in the micro-kernel's panel layout (it is the
 * kernel's own quantized copy; oneDNN's int8 matmul likewise reads its s8 A
 * in place, without a copy). B is kept row-major, like the plain s8 weights
 * oneDNN gets, and packed in the timed run. The run multiplies the panels
 * with 32-bit integer accumulation, then writes C[i][j] = acc * sa[i] * sb[j]
 * in fp32.
 *
 * Dot products, picked at run time:
 *   AVX-512 VNNI  vpdpbusd multiplies u8 by s8, so A is packed as q + 128 and
 *                 the accumulators start from -128 * the column sums of B,
 *                 which pack_b_vnni computes while it packs;
 *   AVX2          vpmaddubsw on |a| and sign(b, a), which cannot saturate for
 *                 |q| <= 127, then vpmaddwd to 32 bits;
 *   portable      plain C on int32.
 * All three read the same packed layout, in which 4 consecutive k values of
 * one row of A or one column of B form a 32-bit lane:
 *   A: micro-panels of mr rows (the last one as many rows as are left
 *      when the kernel has row-remainder kernels), each k4/4 steps of
 *      rows x 4 bytes, made once in setup;
 *   B block: micro-panels of nr columns, each kc/4 steps of nr x 4 bytes.
 * Blocking and threading follow matmul/cpu/blocked/f32 (matmul_blocked.c),
 * except for B's packing: when the threads split only the columns, each one
 * packs the panels it alone reads, two at a time just before their first
 * use, with no barrier; otherwise they pack the block together first.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define VNNI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define AVX2_FN __attribute__((target("avx2,fma")))
#endif

#define MR_MAX 16
#define NR_MAX 64

/* C[mr][nr] = (acc ? C : 0) + (A_panel * B_panel - comp) * sa[i] * sb[j], over ks 4-byte steps. */
typedef void (*ukr_s8_fn)(int64_t ks, const int8_t *a, const int8_t *b, const int32_t *comp, const float *sa,
                          const float *sb, float *c, int64_t ldc, int acc);

typedef struct s8_kernel {
    const char *name;
    int mr, nr;
    int64_t mc, kc, nc; /* kc counts k values and is a multiple of 4 */
    int u8_offset;      /* A packed as q + 128, comp = 128 * column sums of B */
    ukr_s8_fn ukr;
    const ukr_s8_fn *rows; /* rows[h]: h-row kernels for an h-row last panel, or NULL (zero-padded panel) */
} s8_kernel;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int32_t load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- Micro-kernels ------------------------------------------------------ */

#ifdef JB_X86
/* MR rows x 2 zmm of int32; MR = 14 gives 28 accumulators, like the fp32
 * 14x32 kernel, but each vpdpbusd does 64 multiply-adds. The A panel is MR
 * rows wide, so the last panel of a matrix whose row count is not a multiple
 * of 14 gets a kernel of its own height and computes no idle rows. */
static inline __attribute__((always_inline)) VNNI_FN void
ukr_vnni_body(const int MR, int64_t ks, const int8_t *restrict a, const int8_t *restrict b, const int32_t *comp,
              const float *sa, const float *sb, float *restrict c, int64_t ldc, int acc)
{
    enum { NV = 2 };
    /* Starting from -comp saves the subtraction in the epilogue. */
    __m512i cr[14][NV], c0[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        c0[v] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512((const void *)(comp + 16 * v)));
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            cr[i][v] = c0[v];
    /* C is read back only when accumulating over a second kc block; a tile
     * that is only written is left to the store buffer (prefetching it
     * measured slower). */
    if (acc)
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 16 * NV - 1), _MM_HINT_T0);
        }
#pragma GCC unroll 2
    for (int64_t s = 0; s < ks; s++) {
        __m512i bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_load_si512((const void *)(b + 64 * v));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512i ai = _mm512_set1_epi32(load32(a + 4 * i));
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                cr[i][v] = _mm512_dpbusd_epi32(cr[i][v], ai, bv[v]);
        }
        a += 4 * MR;
        b += 64 * NV;
    }
    /* Epilogue in place, one asm statement per accumulator (convert, scale
     * by sb and by sa[i], add C when accumulating, store): in C, gcc 12
     * spilled the accumulators inside the k loop once the epilogue's operands
     * were in play. */
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *cp = c + i * ldc + 16 * v;
            if (acc)
                __asm__ volatile("vcvtdq2ps %[x], %[x]\n\t"
                        "vmulps %[sb], %[x], %[x]\n\t"
                        "vmulps %[sa]%{1to16%}, %[x], %[x]\n\t"
                        "vaddps %[c], %[x], %[x]\n\t"
                        "vmovups %[x], %[c]"
                        : [x] "+v"(cr[i][v]), [c] "+m"(*(__m512 *)cp)
                        : [sb] "m"(*(const __m512 *)(sb + 16 * v)), [sa] "m"(sa[i]));
            else
                __asm__ volatile("vcvtdq2ps %[x], %[x]\n\t"
                        "vmulps %[sb], %[x], %[x]\n\t"
                        "vmulps %[sa]%{1to16%}, %[x], %[x]\n\t"
                        "vmovups %[x], %[c]"
                        : [x] "+v"(cr[i][v]), [c] "=m"(*(__m512 *)cp)
                        : [sb] "m"(*(const __m512 *)(sb + 16 * v)), [sa] "m"(sa[i]));
        }
}

#define UKR_VNNI(R)                                                                                              \
    static VNNI_FN void ukr_vnni_##R##x32(int64_t ks, const int8_t *restrict a, const int8_t *restrict b,        \
                                          const int32_t *comp, const float *sa, const float *sb,                 \
                                          float *restrict c, int64_t ldc, int acc)                               \
    {                                                                                                            \
        ukr_vnni_body(R, ks, a, b, comp, sa, sb, c, ldc, acc);                                                   \
    }
UKR_VNNI(1)
UKR_VNNI(2)
UKR_VNNI(3)
UKR_VNNI(4)
UKR_VNNI(5)
UKR_VNNI(6)
UKR_VNNI(7)
UKR_VNNI(8)
UKR_VNNI(9)
UKR_VNNI(10)
UKR_VNNI(11)
UKR_VNNI(12)
UKR_VNNI(13)
UKR_VNNI(14)
#undef UKR_VNNI

/* By height: vnni_rows[h] computes h rows from an h-row-wide A panel. */
static const ukr_s8_fn vnni_rows[15] = {
    NULL,             ukr_vnni_1x32,  ukr_vnni_2x32,  ukr_vnni_3x32,  ukr_vnni_4x32,
    ukr_vnni_5x32,    ukr_vnni_6x32,  ukr_vnni_7x32,  ukr_vnni_8x32,  ukr_vnni_9x32,
    ukr_vnni_10x32,   ukr_vnni_11x32, ukr_vnni_12x32, ukr_vnni_13x32, ukr_vnni_14x32,
};

/* 4 rows x 2 ymm of int32: 8 accumulators, 2 for B, and per row the
 * broadcast, its absolute value and two temporaries. */
static AVX2_FN void ukr_avx2_4x16(int64_t ks, const int8_t *restrict a, const int8_t *restrict b,
                                  const int32_t *comp, const float *sa, const float *sb, float *restrict c,
                                  int64_t ldc, int acc)
{
    (void)comp;
    __m256i cr[4][2];
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        cr[i][0] = cr[i][1] = _mm256_setzero_si256();
    for (int64_t s = 0; s < ks; s++) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)b), b1 = _mm256_load_si256((const __m256i *)(b + 32));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m256i ai = _mm256_set1_epi32(load32(a + 4 * i)), aa = _mm256_abs_epi8(ai);
            cr[i][0] = _mm256_add_epi32(
                cr[i][0], _mm256_madd_epi16(_mm256_maddubs_epi16(aa, _mm256_sign_epi8(b0, ai)), ones));
            cr[i][1] = _mm256_add_epi32(
                cr[i][1], _mm256_madd_epi16(_mm256_maddubs_epi16(aa, _mm256_sign_epi8(b1, ai)), ones));
        }
        a += 16;
        b += 64;
    }
    /* Through memory before the epilogue, as in ukr_vnni_14x32. */
    _Alignas(32) int32_t t[4 * 16];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        _mm256_store_si256((__m256i *)(t + 16 * i), cr[i][0]);
        _mm256_store_si256((__m256i *)(t + 16 * i + 8), cr[i][1]);
    }
    const __m256 s0 = _mm256_loadu_ps(sb), s1 = _mm256_loadu_ps(sb + 8);
    for (int i = 0; i < 4; i++) {
        const __m256 si = _mm256_set1_ps(sa[i]);
        float *cp = c + i * ldc;
        __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256((const __m256i *)(t + 16 * i))),
                                  _mm256_mul_ps(si, s0));
        __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256((const __m256i *)(t + 16 * i + 8))),
                                  _mm256_mul_ps(si, s1));
        if (acc) {
            f0 = _mm256_add_ps(_mm256_loadu_ps(cp), f0);
            f1 = _mm256_add_ps(_mm256_loadu_ps(cp + 8), f1);
        }
        _mm256_storeu_ps(cp, f0);
        _mm256_storeu_ps(cp + 8, f1);
    }
}
#endif

static void ukr_c_4x16(int64_t ks, const int8_t *restrict a, const int8_t *restrict b, const int32_t *comp,
                       const float *sa, const float *sb, float *restrict c, int64_t ldc, int acc)
{
    (void)comp;
    int32_t cr[4][16] = {{0}};
    for (int64_t s = 0; s < ks; s++) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 16; j++)
                for (int q = 0; q < 4; q++)
                    cr[i][j] += (int32_t)a[4 * i + q] * (int32_t)b[4 * j + q];
        a += 16;
        b += 64;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++) {
            float f = (float)cr[i][j] * (sa[i] * sb[j]);
            c[i * ldc + j] = acc ? c[i * ldc + j] + f : f;
        }
}

/* The u8_offset kernels need column sums; the others never read comp.
 * Each kc block is summed exactly in s32 and then scaled into C in fp32, so
 * kc bounds the accumulator: 2048 * 255 * 127 is far below 2^31, for any k.
 * kc = 1024 keeps the 32 KiB B micro-panel within L1; the VNNI kernel takes
 * kc = 2048 (a 64 KiB micro-panel, from L2) to make one pass over C for k up
 * to 2048, which measured a few % faster at 2048^3. */
static const s8_kernel kernels[] = {
#ifdef JB_X86
    {"vnni_14x32", 14, 32, 14 * 12, 2048, 4096, 1, ukr_vnni_14x32, vnni_rows},
    {"avx2_4x16", 4, 16, 4 * 36, 1024, 4096, 0, ukr_avx2_4x16, NULL},
#endif
    {"c_4x16", 4, 16, 4 * 32, 1024, 4096, 0, ukr_c_4x16, NULL},
};

static const s8_kernel *kernel_get(void)
{
    size_t last = sizeof kernels / sizeof kernels[0] - 1;
#ifdef JB_X86
    if (jb_cpu_has_avx512_vnni())
        return &kernels[0];
    if (jb_cpu_isa() >= JB_ISA_AVX2)
        return &kernels[1];
#endif
    return &kernels[last];
}

/* ---- Packing ------------------------------------------------------------ */

/* Height of the A panel that starts at row r0 of an m-row matrix: mr, or
 * for the last panel its rows when the kernel has row-remainder kernels. */
static int panel_rows(const s8_kernel *kr, int64_t m, int64_t r0)
{
    return kr->rows && m - r0 < kr->mr ? (int)(m - r0) : kr->mr;
}

/* All of A (m rows, k4 bytes each, a multiple of 4) in micro-panels, done
 * once in setup: the panel at row r0 (a multiple of mr) starts at r0 * k4 and
 * holds k4/4 steps of panel_rows x 4 bytes, so the kc block at pc of it
 * starts pc * panel_rows further on. Rows past m in a zero-padded panel are
 * zero; each byte is xor 0x80 (q + 128 as u8) when the kernel wants that. */
static void pack_a_all(const s8_kernel *kr, int64_t m, int64_t k4, const int8_t *a, int8_t *dst)
{
    const int64_t ks = k4 / 4;
    const uint32_t flip = kr->u8_offset ? 0x80808080u : 0;
    for (int64_t r0 = 0; r0 < m; r0 += kr->mr) {
        const int w = panel_rows(kr, m, r0);
        const int64_t h = min64(m - r0, w);
        uint32_t *d = (uint32_t *)(void *)(dst + r0 * k4);
        for (int64_t s = 0; s < ks; s++)
            for (int64_t r = 0; r < w; r++)
                d[s * w + r] = (r < h ? (uint32_t)load32(a + (r0 + r) * k4 + 4 * s) : 0) ^ flip;
    }
}

/* B rows [0, kc) (a multiple of 4), columns [0, nc) of b (row stride ldb):
 * each step interleaves 4 rows so a column's 4 bytes are adjacent; columns
 * past nc are zero. */
static void pack_b(const s8_kernel *kr, int64_t kc, int64_t nc, const int8_t *b, int64_t ldb, int8_t *dst)
{
    const int nr = kr->nr;
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        const int64_t w = min64(nc - j0, nr);
        for (int64_t l = 0; l < kc; l += 4) {
            const int8_t *r0 = b + l * ldb + j0, *r1 = r0 + ldb, *r2 = r1 + ldb, *r3 = r2 + ldb;
            int64_t j = 0;
#ifdef JB_X86
            /* SSE2 is baseline on x86-64: 16 columns at a time. */
            for (; j + 16 <= w; j += 16) {
                __m128i a0 = _mm_loadu_si128((const __m128i *)(r0 + j)), a1 = _mm_loadu_si128((const __m128i *)(r1 + j));
                __m128i a2 = _mm_loadu_si128((const __m128i *)(r2 + j)), a3 = _mm_loadu_si128((const __m128i *)(r3 + j));
                __m128i t0 = _mm_unpacklo_epi8(a0, a1), t1 = _mm_unpackhi_epi8(a0, a1);
                __m128i t2 = _mm_unpacklo_epi8(a2, a3), t3 = _mm_unpackhi_epi8(a2, a3);
                __m128i *d = (__m128i *)(void *)(dst + 4 * j);
                _mm_storeu_si128(d, _mm_unpacklo_epi16(t0, t2));
                _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(t0, t2));
                _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(t1, t3));
                _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(t1, t3));
            }
#endif
            for (; j < w; j++) {
                dst[4 * j] = r0[j];
                dst[4 * j + 1] = r1[j];
                dst[4 * j + 2] = r2[j];
                dst[4 * j + 3] = r3[j];
            }
            if (w < nr)
                memset(dst + 4 * w, 0, (size_t)(nr - w) * 4);
            dst += 4 * nr;
        }
    }
}

#ifdef JB_X86
/* Interleaves rows a0..a3 (one 128-bit lane per 16 columns) into 4-byte
 * column groups: per lane, u0 holds columns 0-3 of it, u1 4-7, u2 8-11 and
 * u3 12-15. Works on ymm or zmm through the macro's type suffix. */
#define JB_INTERLEAVE4(W, a0, a1, a2, a3, u0, u1, u2, u3)                                                      \
    do {                                                                                                       \
        const __m##W##i t0_ = _mm##W##_unpacklo_epi8(a0, a1), t1_ = _mm##W##_unpackhi_epi8(a0, a1);           \
        const __m##W##i t2_ = _mm##W##_unpacklo_epi8(a2, a3), t3_ = _mm##W##_unpackhi_epi8(a2, a3);           \
        u0 = _mm##W##_unpacklo_epi16(t0_, t2_);                                                                \
        u1 = _mm##W##_unpackhi_epi16(t0_, t2_);                                                                \
        u2 = _mm##W##_unpacklo_epi16(t1_, t3_);                                                                \
        u3 = _mm##W##_unpackhi_epi16(t1_, t3_);                                                                \
    } while (0)

/* pack_b for the 32-column VNNI kernel, which also needs comp[j] = 128 *
 * (sum of column j over the block), summed with vpdpbusd against ones while
 * packing. Pairs of panels take one 64-byte line of each of 4 rows at a
 * time (zmm: interleave, then a 4x4 transpose of 128-bit lanes); a lone last
 * full panel takes 32 bytes (ymm); columns past the last full panel go
 * through pack_b. The accumulators are named, not an array, so they stay in
 * registers. */
static VNNI_FN void pack_b_vnni(const s8_kernel *kr, int64_t kc, int64_t nc, const int8_t *b, int64_t ldb,
                                int8_t *dst, int32_t *comp)
{
    const int64_t full = nc / 32;
    int64_t p0 = 0;
    const __m512i ones = _mm512_set1_epi8(1);
    for (; p0 + 2 <= full; p0 += 2) {
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
        int8_t *d0 = dst + p0 * 32 * kc, *d1 = d0 + 32 * kc;
        const int8_t *r = b + p0 * 32;
        for (int64_t l = 0; l < kc; l += 4, r += 4 * ldb) {
            const __m512i a0 = _mm512_loadu_si512((const void *)r);
            const __m512i a1 = _mm512_loadu_si512((const void *)(r + ldb));
            const __m512i a2 = _mm512_loadu_si512((const void *)(r + 2 * ldb));
            const __m512i a3 = _mm512_loadu_si512((const void *)(r + 3 * ldb));
            __m512i u0, u1, u2, u3;
            JB_INTERLEAVE4(512, a0, a1, a2, a3, u0, u1, u2, u3);
            /* Lane L of u0..u3 is columns 16L..16L+15: gather lane L of each. */
            const __m512i x0 = _mm512_shuffle_i32x4(u0, u1, 0x44), x1 = _mm512_shuffle_i32x4(u0, u1, 0xEE);
            const __m512i x2 = _mm512_shuffle_i32x4(u2, u3, 0x44), x3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
            const __m512i c0 = _mm512_shuffle_i32x4(x0, x2, 0x88); /* columns 0-15 */
            const __m512i c1 = _mm512_shuffle_i32x4(x0, x2, 0xDD); /* 16-31 */
            const __m512i c2 = _mm512_shuffle_i32x4(x1, x3, 0x88); /* 32-47 */
            const __m512i c3 = _mm512_shuffle_i32x4(x1, x3, 0xDD); /* 48-63 */
            _mm512_store_si512((void *)(d0 + 32 * l), c0);
            _mm512_store_si512((void *)(d0 + 32 * l + 64), c1);
            _mm512_store_si512((void *)(d1 + 32 * l), c2);
            _mm512_store_si512((void *)(d1 + 32 * l + 64), c3);
            s0 = _mm512_dpbusd_epi32(s0, ones, c0);
            s1 = _mm512_dpbusd_epi32(s1, ones, c1);
            s2 = _mm512_dpbusd_epi32(s2, ones, c2);
            s3 = _mm512_dpbusd_epi32(s3, ones, c3);
        }
        int32_t *cp = comp + p0 * 32;
        _mm512_storeu_si512((void *)cp, _mm512_slli_epi32(s0, 7));
        _mm512_storeu_si512((void *)(cp + 16), _mm512_slli_epi32(s1, 7));
        _mm512_storeu_si512((void *)(cp + 32), _mm512_slli_epi32(s2, 7));
        _mm512_storeu_si512((void *)(cp + 48), _mm512_slli_epi32(s3, 7));
    }
    if (p0 < full) {
        const __m256i ones8 = _mm256_set1_epi8(1);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        int8_t *d = dst + p0 * 32 * kc;
        const int8_t *r = b + p0 * 32;
        for (int64_t l = 0; l < kc; l += 4, r += 4 * ldb) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)r);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(r + ldb));
            const __m256i a2 = _mm256_loadu_si256((const __m256i *)(r + 2 * ldb));
            const __m256i a3 = _mm256_loadu_si256((const __m256i *)(r + 3 * ldb));
            __m256i u0, u1, u2, u3;
            JB_INTERLEAVE4(256, a0, a1, a2, a3, u0, u1, u2, u3);
            const __m256i c0 = _mm256_permute2x128_si256(u0, u1, 0x20); /* columns 0-7 */
            const __m256i c1 = _mm256_permute2x128_si256(u2, u3, 0x20); /* 8-15 */
            const __m256i c2 = _mm256_permute2x128_si256(u0, u1, 0x31); /* 16-23 */
            const __m256i c3 = _mm256_permute2x128_si256(u2, u3, 0x31); /* 24-31 */
            __m256i *dv = (__m256i *)(void *)(d + 32 * l);
            _mm256_store_si256(dv, c0);
            _mm256_store_si256(dv + 1, c1);
            _mm256_store_si256(dv + 2, c2);
            _mm256_store_si256(dv + 3, c3);
            s0 = _mm256_dpbusd_epi32(s0, ones8, c0);
            s1 = _mm256_dpbusd_epi32(s1, ones8, c1);
            s2 = _mm256_dpbusd_epi32(s2, ones8, c2);
            s3 = _mm256_dpbusd_epi32(s3, ones8, c3);
        }
        int32_t *cp = comp + p0 * 32;
        _mm256_storeu_si256((__m256i *)cp, _mm256_slli_epi32(s0, 7));
        _mm256_storeu_si256((__m256i *)(cp + 8), _mm256_slli_epi32(s1, 7));
        _mm256_storeu_si256((__m256i *)(cp + 16), _mm256_slli_epi32(s2, 7));
        _mm256_storeu_si256((__m256i *)(cp + 24), _mm256_slli_epi32(s3, 7));
    }
    if (nc > full * 32) {
        int8_t *pd = dst + full * 32 * kc;
        int32_t *cp = comp + full * 32;
        pack_b(kr, kc, nc - full * 32, b + full * 32, ldb, pd);
        for (int j = 0; j < 32; j++)
            cp[j] = 0;
        for (int64_t st = 0; st < kc / 4; st++)
            for (int j = 0; j < 32; j++)
                cp[j] += pd[st * 128 + 4 * j] + pd[st * 128 + 4 * j + 1] + pd[st * 128 + 4 * j + 2] +
                         pd[st * 128 + 4 * j + 3];
        for (int j = 0; j < 32; j++)
            cp[j] *= 128;
    }
}
#undef JB_INTERLEAVE4
#endif

/* Packs columns [0, w) of rows [0, kc) of b into dst (and comp, for the
 * u8_offset kernels): the panels of those columns. */
static void pack_cols(const s8_kernel *kr, int64_t kc, int64_t w, const int8_t *b, int64_t ldb, int8_t *dst,
                      int32_t *comp)
{
#ifdef JB_X86
    if (kr->u8_offset) {
        pack_b_vnni(kr, kc, w, b, ldb, dst, comp);
        return;
    }
#endif
    (void)comp;
    pack_b(kr, kc, w, b, ldb, dst);
}

/* ---- Macro-kernel ------------------------------------------------------- */

/* pa: the packed A from row 0 of this block (a panel boundary) of an m-row
 * matrix, row `row0` of it; the block's kc bytes start at pc. */
static void macro(const s8_kernel *kr, int64_t mc, int64_t nc, int64_t kc, int64_t m, int64_t row0, int64_t k4,
                  int64_t pc, const int8_t *pa, int8_t *pb, int32_t *comp, const int8_t *bsrc, int64_t ldb,
                  const float *sa, const float *sb, float *c, int64_t ldc, int acc)
{
    const int mr = kr->mr, nr = kr->nr;
    _Alignas(64) float tile[MR_MAX * NR_MAX];
    for (int64_t j = 0; j < nc; j += nr) {
        const int8_t *bp = pb + j * kc;
        const int64_t nw = min64(nc - j, nr);
        /* Packing on first use: two panels at a time, just before the first of them is needed. */
        if (bsrc && j % (2 * nr) == 0)
            pack_cols(kr, kc, min64(nc - j, 2 * nr), bsrc + j, ldb, pb + j * kc, comp + j);
        for (int64_t i = 0; i < mc; i += mr) {
            const int w = panel_rows(kr, m, row0 + i);
            const int8_t *ap = pa + i * k4 + pc * w;
            const int64_t mh = min64(mc - i, mr);
            const ukr_s8_fn ukr = w < mr ? kr->rows[w] : kr->ukr;
            float *cij = c + i * ldc + j;
            if ((mh == mr || w < mr) && nw == nr) {
                ukr(kc / 4, ap, bp, comp + j, sa + i, sb + j, cij, ldc, acc);
                continue;
            }
            ukr(kc / 4, ap, bp, comp + j, sa + i, sb + j, tile, nr, 0);
            for (int64_t r = 0; r < mh; r++)
                for (int64_t q = 0; q < nw; q++)
                    cij[r * ldc + q] = acc ? cij[r * ldc + q] + tile[r * nr + q] : tile[r * nr + q];
        }
    }
}

/* ---- The kernel --------------------------------------------------------- */

/* What setup makes: int8 A already in the micro-kernel's panels (pack_a_all;
 * A is quantized here, so it is stored in the layout its one reader wants)
 * and B [k4][n] row-major, with k4 = k rounded up to 4 (the padding is zero),
 * and the scales, padded with zeros past m and n so edge tiles read defined
 * values. B stays row-major and is packed in the timed run, as oneDNN's
 * matmul, given plain s8 weights, copies them into its blocks in its run. */
typedef struct state {
    const s8_kernel *kr;
    int64_t k4;
    int8_t *pa, *qb;
    float *sa, *sb;
} state;

static size_t bytes_b(const s8_kernel *kr, int64_t kc, int64_t nc)
{
    return (size_t)jb_round_up(jb_round_up(nc, kr->nr) * kc, 64);
}
static size_t bytes_comp(const s8_kernel *kr, int64_t nc)
{
    return (size_t)jb_round_up(jb_round_up(nc, kr->nr) * 4, 64);
}

static size_t workspace_size(const jb_problem *p)
{
    const s8_kernel *kr = kernel_get();
    const int64_t kc = min64(jb_round_up(p->k, 4), kr->kc), nc = min64(p->n, kr->nc);
    return bytes_b(kr, kc, nc) + bytes_comp(kr, nc);
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->pa);
    free(st->qb);
    free(st->sa);
    free(st->sb);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k, k4 = jb_round_up(k, 4);
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kr = kernel_get();
    st->k4 = k4;
    int8_t *qa = calloc((size_t)(m * k4), 1);
    st->pa = malloc((size_t)(jb_round_up(m, st->kr->mr) * k4) + 1);
    st->qb = calloc((size_t)(k4 * n), 1);
    st->sa = calloc((size_t)(m + MR_MAX), sizeof(float));
    st->sb = calloc((size_t)(n + NR_MAX), sizeof(float));
    float *bmax = calloc((size_t)n, sizeof(float));
    if (!qa || !st->pa || !st->qb || !st->sa || !st->sb || !bmax) {
        free(qa);
        free(bmax);
        teardown(e);
        return JB_ENOMEM;
    }
    jb_quantize_rows_s8(e->in[0], m, k, k, qa, k4, st->sa);
    pack_a_all(st->kr, m, k4, qa, st->pa);
    free(qa);
    /* B per column: the same rule as jb_quantize_rows_s8, walking rows so the
     * reads stay contiguous. */
    const float *b = e->in[1];
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            bmax[j] = fmaxf(bmax[j], fabsf(b[l * n + j]));
    for (int64_t j = 0; j < n; j++) {
        st->sb[j] = bmax[j] > 0 ? bmax[j] / 127.0f : 1.0f;
        bmax[j] = 1.0f / st->sb[j];
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++) {
            float v = nearbyintf(b[l * n + j] * bmax[j]);
            st->qb[l * n + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    free(bmax);
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    /* A read back from its panels: byte l of row i is in step l / 4, lane i - r0. */
    const int8_t flip = st->kr->u8_offset ? (int8_t)0x80 : 0;
    for (int64_t i = 0; i < m; i++) {
        const int64_t r0 = i / st->kr->mr * st->kr->mr;
        const int w = panel_rows(st->kr, m, r0);
        const int8_t *panel = st->pa + r0 * st->k4;
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = (float)(int8_t)(panel[(l / 4 * w + (i - r0)) * 4 + l % 4] ^ flip) * st->sa[i];
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = (float)st->qb[l * n + j] * st->sb[j];
    return JB_OK;
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const state *st = e->state;
    if (!st)
        return JB_EINVAL;
    const s8_kernel *kr = st->kr;
    const int64_t m = p->m, n = p->n, k4 = st->k4;
    float *c = e->out;
    const int64_t kcmax = min64(k4, kr->kc);
    const size_t bb = bytes_b(kr, kcmax, min64(n, kr->nc)), bc = bytes_comp(kr, min64(n, kr->nc));

    const int threads = jb_cpu_threads();
    (void)threads; /* used only by the pragma, absent without OpenMP */
    if (!e->ws || e->ws_size < bb + bc)
        return JB_EINVAL;
    int8_t *bpack = e->ws;
    int32_t *comp = (int32_t *)(void *)(bpack + bb);

#pragma omp parallel num_threads(threads)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        for (int64_t jc = 0; jc < n; jc += kr->nc) {
            const int64_t nc = min64(n - jc, kr->nc);
            const int64_t ntiles = (nc + kr->nr - 1) / kr->nr;
            int64_t i0, i1, j0, j1;
            int tm, tn;
            jb_gemm_grid(nt, (m + kr->mr - 1) / kr->mr, ntiles, &tm, &tn);
            jb_gemm_thread_tile(nt, t, m, nc, kr->mr, kr->nr, &i0, &i1, &j0, &j1);
            /* With one row of threads each thread packs the panels it alone
             * reads, in its first row block, with no barrier; otherwise the
             * threads pack the block together first. */
            const int own = tm == 1;
            for (int64_t pc = 0; pc < k4; pc += kr->kc) {
                const int64_t kc = min64(k4 - pc, kr->kc);
                const int8_t *bsrc = st->qb + pc * n + jc;
                if (!own) {
                    int64_t p0, p1;
                    jb_gemm_split(ntiles, nt, t, &p0, &p1);
                    if (p1 > p0) {
                        const int64_t q0 = p0 * kr->nr;
                        pack_cols(kr, kc, min64(p1 * kr->nr, nc) - q0, bsrc + q0, n, bpack + q0 * kc, comp + q0);
                    }
#pragma omp barrier
                }
                if (j1 > j0)
                    for (int64_t ic = i0; ic < i1; ic += kr->mc) {
                        const int64_t mc = min64(i1 - ic, kr->mc);
                        macro(kr, mc, j1 - j0, kc, m, ic, k4, pc, st->pa + ic * k4, bpack + j0 * kc, comp + j0,
                              own && ic == i0 ? bsrc + j0 : NULL, n, st->sa + ic, st->sb + jc + j0,
                              c + ic * n + jc + j0, n, pc > 0);
                    }
                if (!own) {
#pragma omp barrier
                }
            }
        }
    }
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_blocked_int8 = {
    .name = "matmul/cpu/blocked/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "int8 A per row (stored pre-packed in setup), B per column (packed in run); s32 accumulation "
               "(AVX-512 VNNI/AVX2/C), OpenMP",
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
