/*
 * Vectorized exp and exp2 for the CPU softmax and attention kernels, in
 * AVX-512, AVX2 and portable forms, plus the row reductions built on them.
 * Internal to kernels/cpu; every function is static inline so each kernel
 * file inlines the flavour its dispatch picked.
 *
 * Method: x = n + f with n an integer and |f| <= 1/2 (exp2), or x = n*ln2 + r
 * with |r| <= ln2/2 by two-step Cody-Waite reduction (exp); a polynomial for
 * 2^f or e^r (about 1 ulp on the reduced range); the result is that times
 * 2^n, built directly in the exponent bits. Inputs are clamped first, so -inf
 * and anything below about -87 (exp) or -126.5 (exp2) give exactly 0 (n = -127
 * makes the exponent field 0), large inputs saturate near FLT_MAX rather than
 * overflowing, and NaN stays NaN.
 */
#ifndef JB_VEXP_H
#define JB_VEXP_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define JB_VEXP_X86 1
#include <immintrin.h>
#define JB_VEXP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define JB_VEXP_AVX2 __attribute__((target("avx2,fma")))
#endif

/* Least-squares fit of 2^f on [-1/2, 1/2] in relative error (1.9e-9, far
 * below float rounding); c0 = 1. */
#define JB_EXP2_C1 6.931472056e-01f
#define JB_EXP2_C2 2.402264661e-01f
#define JB_EXP2_C3 5.550328998e-02f
#define JB_EXP2_C4 9.618519534e-03f
#define JB_EXP2_C5 1.339986036e-03f
#define JB_EXP2_C6 1.533757683e-04f
/* Cephes expf: e^r = 1 + r + r^2 P(r) on [-ln2/2, ln2/2]. */
#define JB_EXP_P0 1.9875691500e-4f
#define JB_EXP_P1 1.3981999507e-3f
#define JB_EXP_P2 8.3334519073e-3f
#define JB_EXP_P3 4.1665795894e-2f
#define JB_EXP_P4 1.6666665459e-1f
#define JB_EXP_P5 5.0000001201e-1f
/* ln2 split so that n * JB_LN2_HI is exact for |n| < 2^11. */
#define JB_LN2_HI 0.693145751953125f
#define JB_LN2_LO 1.428606765330187e-06f
#define JB_LOG2E 1.44269504088896341f
/* Clamp bounds: the low ones round n to -127, whose 2^n has exponent bits 0. */
#define JB_EXP_LO (-88.0f)
#define JB_EXP_HI 88.3f
#define JB_EXP2_LO (-127.0f)
#define JB_EXP2_HI 127.0f

/* ---- portable (scalar; the compiler may vectorize loops around them) ---- */

static inline float jb_pow2i(int32_t n)
{
    union { uint32_t u; float f; } v = {.u = (uint32_t)(n + 127) << 23};
    return v.f;
}

static inline float jb_exp2f_scalar(float x)
{
    if (x != x)
        return x;
    x = x < JB_EXP2_LO ? JB_EXP2_LO : x > JB_EXP2_HI ? JB_EXP2_HI : x;
    float n = nearbyintf(x), f = x - n;
    float p = fmaf(fmaf(fmaf(fmaf(fmaf(fmaf(JB_EXP2_C6, f, JB_EXP2_C5), f, JB_EXP2_C4), f, JB_EXP2_C3), f,
                            JB_EXP2_C2), f, JB_EXP2_C1), f, 1.0f);
    return p * jb_pow2i((int32_t)n);
}

static inline float jb_expf_scalar(float x)
{
    if (x != x)
        return x;
    x = x < JB_EXP_LO ? JB_EXP_LO : x > JB_EXP_HI ? JB_EXP_HI : x;
    float n = nearbyintf(x * JB_LOG2E);
    float r = fmaf(n, -JB_LN2_HI, x);
    r = fmaf(n, -JB_LN2_LO, r);
    float p = fmaf(fmaf(fmaf(fmaf(fmaf(JB_EXP_P0, r, JB_EXP_P1), r, JB_EXP_P2), r, JB_EXP_P3), r, JB_EXP_P4), r,
                   JB_EXP_P5);
    p = fmaf(p, r * r, r) + 1.0f;
    return p * jb_pow2i((int32_t)n);
}

#ifdef JB_VEXP_X86

/* ---- AVX-512 ----------------------------------------------------------- */

/* max(lo, x) and min(hi, x) in this operand order return x when x is NaN. */
JB_VEXP_AVX512 static inline __m512 jb_exp2_avx512(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(JB_EXP2_HI), _mm512_max_ps(_mm512_set1_ps(JB_EXP2_LO), x));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(JB_EXP2_C6), f, _mm512_set1_ps(JB_EXP2_C5));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(JB_EXP2_C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(JB_EXP2_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(JB_EXP2_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(JB_EXP2_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

JB_VEXP_AVX512 static inline __m512 jb_exp_avx512(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(JB_EXP_HI), _mm512_max_ps(_mm512_set1_ps(JB_EXP_LO), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(JB_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(JB_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(JB_LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(JB_EXP_P0), r, _mm512_set1_ps(JB_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(JB_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(JB_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(JB_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(JB_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* Mask of the first min(n, 16) lanes (none when n <= 0). */
JB_VEXP_AVX512 static inline __mmask16 jb_tail_mask16(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* ---- AVX2 ---------------------------------------------------------------- */

JB_VEXP_AVX2 static inline __m256 jb_exp2_avx2(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(JB_EXP2_HI), _mm256_max_ps(_mm256_set1_ps(JB_EXP2_LO), x));
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(JB_EXP2_C6), f, _mm256_set1_ps(JB_EXP2_C5));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(JB_EXP2_C4));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(JB_EXP2_C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(JB_EXP2_C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(JB_EXP2_C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

JB_VEXP_AVX2 static inline __m256 jb_exp_avx2(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(JB_EXP_HI), _mm256_max_ps(_mm256_set1_ps(JB_EXP_LO), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(JB_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(JB_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(JB_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(JB_EXP_P0), r, _mm256_set1_ps(JB_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(JB_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(JB_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(JB_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(JB_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Lane mask (all ones in the first min(n, 8) lanes) for maskload/maskstore. */
JB_VEXP_AVX2 static inline __m256i jb_tail_mask8(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n >= 8 ? 8 : (int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

JB_VEXP_AVX2 static inline float jb_hmax_avx2(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

JB_VEXP_AVX2 static inline float jb_hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif /* JB_VEXP_X86 */

/* ---- Row helpers for materialized score rows (fused attention) ----------- */

/* max of x[0..n), n >= 1. */
static inline float jb_row_max_portable(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t j = 1; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

/* x[j] = e^(a*x[j] + b) for j < n; returns the sum. */
static inline float jb_row_exp_sum_portable(float *x, int64_t n, float a, float b)
{
    float s = 0;
    for (int64_t j = 0; j < n; j++)
        s += (x[j] = jb_expf_scalar(fmaf(a, x[j], b)));
    return s;
}

#ifdef JB_VEXP_X86

JB_VEXP_AVX512 static inline float jb_row_max_avx512(const float *x, int64_t n)
{
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + j + 16));
    }
    for (; j < n; j += 16)
        m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), jb_tail_mask16(n - j), x + j));
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

JB_VEXP_AVX512 static inline float jb_row_exp_sum_avx512(float *x, int64_t n, float a, float b)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 e0 = jb_exp_avx512(_mm512_fmadd_ps(va, _mm512_loadu_ps(x + j), vb));
        __m512 e1 = jb_exp_avx512(_mm512_fmadd_ps(va, _mm512_loadu_ps(x + j + 16), vb));
        _mm512_storeu_ps(x + j, e0);
        _mm512_storeu_ps(x + j + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; j < n; j += 16) {
        __mmask16 k = jb_tail_mask16(n - j);
        __m512 e = jb_exp_avx512(_mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + j), vb));
        _mm512_mask_storeu_ps(x + j, k, e);
        s0 = _mm512_mask_add_ps(s0, k, s0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

JB_VEXP_AVX2 static inline float jb_row_max_avx2(const float *x, int64_t n)
{
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + j + 8));
    }
    float m = jb_hmax_avx2(_mm256_max_ps(m0, m1));
    for (; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

JB_VEXP_AVX2 static inline float jb_row_exp_sum_avx2(float *x, int64_t n, float a, float b)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 e0 = jb_exp_avx2(_mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), vb));
        __m256 e1 = jb_exp_avx2(_mm256_fmadd_ps(va, _mm256_loadu_ps(x + j + 8), vb));
        _mm256_storeu_ps(x + j, e0);
        _mm256_storeu_ps(x + j + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; j < n; j += 8) {
        __m256i k = jb_tail_mask8(n - j);
        __m256 e = jb_exp_avx2(_mm256_fmadd_ps(va, _mm256_maskload_ps(x + j, k), vb));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(k));
        _mm256_maskstore_ps(x + j, k, e);
        s0 = _mm256_add_ps(s0, e);
    }
    return jb_hsum_avx2(_mm256_add_ps(s0, s1));
}

#endif /* JB_VEXP_X86 */

#endif
