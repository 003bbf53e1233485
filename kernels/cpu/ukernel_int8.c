/*
 * The int8 micro-kernel layer: s8 x s8 -> s32 register-tile micro-kernels
 * with a scaling epilogue, their block sizes as driver descriptors, and the
 * packing they read. Dot products, picked at run time:
 *   AVX-512 VNNI  vpdpbusd multiplies u8 by s8, so A is packed as q + 128 and
 *                 the accumulators start from -128 * the column sums of B
 *                 (comp), which pack_b_vnni computes while it packs;
 *   AVX2          vpmaddubsw on |a| and sign(b, a), which cannot saturate for
 *                 |q| <= 127, then vpmaddwd to 32 bits;
 *   portable      plain C on int32.
 * All three read the same layout, 4 consecutive k values of one row of A or
 * one column of B to a 32-bit lane (gemm_driver.h). A is packed whole, once,
 * by jb_s8gemm_pack_a: micro-panels of mr rows, the last one as many rows as
 * are left when the kernel has row-remainder kernels. B is packed per block
 * in the run, by each thread on first use when the grid allows.
 */
#include "gemm_ukernel.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define VNNI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define AVX2_FN __attribute__((target("avx2,fma")))
#endif


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
    static VNNI_FN void ukr_vnni_##R##x32(int64_t ks, const void *restrict a, const void *restrict b,            \
                                          float *restrict c, int64_t ldc, int acc, const jb_gemm_epi *epi)       \
    {                                                                                                            \
        ukr_vnni_body(R, ks, a, b, epi->comp, epi->sa, epi->sb, c, ldc, acc);                                    \
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
static const jb_gemm_ukr_fn vnni_rows[15] = {
    NULL,             ukr_vnni_1x32,  ukr_vnni_2x32,  ukr_vnni_3x32,  ukr_vnni_4x32,
    ukr_vnni_5x32,    ukr_vnni_6x32,  ukr_vnni_7x32,  ukr_vnni_8x32,  ukr_vnni_9x32,
    ukr_vnni_10x32,   ukr_vnni_11x32, ukr_vnni_12x32, ukr_vnni_13x32, ukr_vnni_14x32,
};

/* 4 rows x 2 ymm of int32: 8 accumulators, 2 for B, and per row the
 * broadcast, its absolute value and two temporaries. */
static AVX2_FN void ukr_avx2_4x16(int64_t ks, const void *restrict ap, const void *restrict bp, float *restrict c,
                                  int64_t ldc, int acc, const jb_gemm_epi *epi)
{
    const int8_t *a = ap, *b = bp;
    const float *sa = epi->sa, *sb = epi->sb;
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

static void ukr_c_4x16(int64_t ks, const void *restrict ap, const void *restrict bp, float *restrict c, int64_t ldc,
                       int acc, const jb_gemm_epi *epi)
{
    const int8_t *a = ap, *b = bp;
    const float *sa = epi->sa, *sb = epi->sb;
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

/* ---- Packing ------------------------------------------------------------ */

/* B rows [0, kc) (a multiple of 4), columns [0, nc) of b (row stride ldb):
 * each step interleaves 4 rows so a column's 4 bytes are adjacent; columns
 * past nc are zero. */
static void pack_b(const jb_gemm_driver *kr, int64_t kc, int64_t nc, const int8_t *b, int64_t ldb, int8_t *dst)
{
    const int nr = kr->nr;
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        const int64_t w = jb_min64(nc - j0, nr);
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
static VNNI_FN void pack_b_vnni(const jb_gemm_driver *kr, int64_t kc, int64_t nc, const int8_t *b, int64_t ldb,
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

/* The driver's B packing: columns [0, w) of rows [0, kc) of b into dst,
 * and comp for the kernels that have it. */
static void pack_cols(const jb_gemm_driver *kr, int64_t kc, int64_t w, const void *b, int64_t ldb, void *dst,
                      int32_t *comp)
{
#ifdef JB_X86
    if (kr->comp) {
        pack_b_vnni(kr, kc, w, b, ldb, dst, comp);
        return;
    }
#endif
    (void)comp;
    pack_b(kr, kc, w, b, ldb, dst);
}

/* ---- Pre-packed A ------------------------------------------------------- */

size_t jb_s8gemm_apack_bytes(const jb_gemm_driver *d, int64_t m, int64_t k4)
{
    return (size_t)(jb_round_up(m, d->mr) * k4) + 1;
}

/* Rows past m in a zero-padded panel are zero; each byte is xor 0x80
 * (q + 128 as u8) when the kernel wants that. */
void jb_s8gemm_pack_a(const jb_gemm_driver *d, int64_t m, int64_t k4, const int8_t *a, int8_t *dst)
{
    const int64_t ks = k4 / 4;
    const uint32_t flip = d->comp ? 0x80808080u : 0;
    for (int64_t r0 = 0; r0 < m; r0 += d->mr) {
        const int w = jb_gemm_panel_rows(d, m, r0);
        const int64_t h = jb_min64(m - r0, w);
        uint32_t *p = (uint32_t *)(void *)(dst + r0 * k4);
        for (int64_t s = 0; s < ks; s++)
            for (int64_t r = 0; r < w; r++)
                p[s * w + r] = (r < h ? (uint32_t)load32(a + (r0 + r) * k4 + 4 * s) : 0) ^ flip;
    }
}

/* Byte l of row i is in step l / 4, lane i - r0 of the panel at r0. */
int8_t jb_s8gemm_a_at(const jb_gemm_driver *d, const int8_t *pa, int64_t m, int64_t k4, int64_t i, int64_t l)
{
    const int64_t r0 = i / d->mr * d->mr;
    const int w = jb_gemm_panel_rows(d, m, r0);
    return (int8_t)(pa[r0 * k4 + (l / 4 * w + (i - r0)) * 4 + l % 4] ^ (d->comp ? 0x80 : 0));
}

/* ---- Descriptors -------------------------------------------------------- */

/* Block sizes come from the caches at first use (jb_gemm_block_sizes). Each
 * kc block is summed exactly in s32 and then scaled into C in fp32, so kc
 * bounds the accumulator: the rule's largest, 2048, times 255 * 127 is far
 * below 2^31, for any k. The constants tuned on a Zen 5 were kc = 1024 (a 32
 * KiB B micro-panel, within L1) and, for VNNI, kc = 2048 (a 64 KiB
 * micro-panel, from L2), which made one pass over C for k up to 2048 and
 * measured a few % faster at 2048^3; the rule keeps the micro-panels in L1
 * (VNNI on 48 KiB: kc = 896). */
#define S8(NAME, ISA, MR, NR, UKR, ROWS, COMP)                                                                    \
    {.name = NAME, .isa = ISA, .mr = MR, .nr = NR, .kstep = 4, .ukr = UKR, .rows = ROWS, .pack_b = pack_cols,     \
     .comp = COMP, .b_first_use = 1}
static jb_gemm_driver kernels[] = {
#ifdef JB_X86
    S8("vnni_14x32", JB_ISA_AVX512, 14, 32, ukr_vnni_14x32, vnni_rows, 1),
    S8("avx2_4x16", JB_ISA_AVX2, 4, 16, ukr_avx2_4x16, NULL, 0),
#endif
    S8("c_4x16", JB_ISA_PORTABLE, 4, 16, ukr_c_4x16, NULL, 0),
};
#undef S8

static pthread_once_t blocked = PTHREAD_ONCE_INIT;

static void block_all(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        jb_gemm_driver_block(&kernels[i]);
}

const jb_gemm_driver *jb_s8gemm_kernel_get(void)
{
    pthread_once(&blocked, block_all);
    size_t last = sizeof kernels / sizeof kernels[0] - 1;
#ifdef JB_X86
    if (jb_cpu_has_avx512_vnni())
        return &kernels[0];
    if (jb_cpu_isa() >= JB_ISA_AVX2)
        return &kernels[1];
#endif
    return &kernels[last];
}
