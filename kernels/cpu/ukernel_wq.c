/*
 * The weight-only quantized micro-kernels (w8, w4) and the packed format they
 * read (wq.h): quantization of a group, packing of a block, and per
 * instruction set three kernels over one panel of JB_WQ_NR columns:
 *   direct   a few rows of A times the panel's whole k, turning each step's
 *            codes into floats in registers and using them for every row:
 *            for decode (m of 1 to a few), where B's bytes are the cost;
 *   dequant  a block of groups into fp32, once, for
 *   rows     an fp32 kernel of up to 6 rows over it: for larger m, where
 *            dequantizing once per row group would cost more than the FMAs.
 * AVX2+FMA (also what AVX-512 machines run) and portable C, picked at run
 * time by jb_cpu_isa(), so JB_ISA=portable reaches the C path.
 */
#include "wq.h"
#include "cpu.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define AVX2_FN __attribute__((target("avx2,fma")))
#endif
#define INLINE static inline __attribute__((always_inline))

/* ---- Quantization and the packed block ------------------------------------ */

void jb_wq_quantize_q8_0(const float *x, int64_t stride, int count, int8_t *q, float *scale)
{
    float amax = 0;
    for (int i = 0; i < count; i++)
        amax = fmaxf(amax, fabsf(x[i * stride]));
    const float s = amax / 127.0f;
    *scale = s;
    for (int i = 0; i < count; i++) {
        /* s underflows to 0 for a group of tiny subnormals: codes 0 then. */
        const float v = s > 0 ? roundf(x[i * stride] / s) : 0.0f;
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

void jb_wq_quantize_q4_0(const float *x, int64_t stride, int count, uint8_t *q, float *scale)
{
    float amax = 0, vmax = 0;
    for (int i = 0; i < count; i++) {
        const float v = x[i * stride];
        if (fabsf(v) > amax) {
            amax = fabsf(v);
            vmax = v;
        }
    }
    /* The value of largest magnitude maps to code 0 (-8 * d): the signed
     * range -8..7 is used in full on that side. */
    const float d = vmax / -8.0f;
    *scale = d;
    for (int i = 0; i < count; i++) {
        const float v = d != 0 ? roundf(x[i * stride] / d) + 8.0f : 8.0f;
        q[i] = (uint8_t)(v > 15 ? 15 : v < 0 ? 0 : v);
    }
}

/* Byte of step s, column j in a block's codes, and the shift of its code there. */
static size_t code_byte(jb_wq_format f, int s, int j)
{
    const int L = jb_wq_lane_steps(f);
    return (size_t)(s / L) * 64 + (size_t)(j / 8) * 32 + (size_t)(j % 8) * 4 + (size_t)(s % L * jb_wq_code_bits(f) / 8);
}
static int code_shift(jb_wq_format f, int s)
{
    return s % jb_wq_lane_steps(f) * jb_wq_code_bits(f) % 8;
}

/* The unsigned code u of step s, column j. */
static unsigned code_get(jb_wq_format f, const uint8_t *codes, int s, int j)
{
    return (unsigned)(codes[code_byte(f, s, j)] >> code_shift(f, s)) & ((1u << jb_wq_code_bits(f)) - 1);
}
static void code_set(jb_wq_format f, uint8_t *codes, int s, int j, unsigned u)
{
    const size_t at = code_byte(f, s, j);
    const unsigned mask = ((1u << jb_wq_code_bits(f)) - 1) << code_shift(f, s);
    codes[at] = (uint8_t)((codes[at] & ~mask) | (u << code_shift(f, s)));
}

void jb_wq_pack_block(jb_wq_format f, const float *b, int64_t ldb, int steps, int cols, uint8_t *dst)
{
    uint8_t *codes = dst + JB_WQ_NR * sizeof(float);
    const unsigned off = (unsigned)jb_wq_offset(f);
    memset(dst, 0, JB_WQ_NR * sizeof(float));
    /* The padding holds the offset: code 0. */
    for (int t = 0; t < JB_WQ_GROUP; t++)
        for (int j = 0; j < JB_WQ_NR; j++)
            code_set(f, codes, t, j, off);
    for (int j = 0; j < cols; j++) {
        float s;
        if (f == JB_WQ_Q8_0) {
            int8_t q[JB_WQ_GROUP];
            jb_wq_quantize_q8_0(b + j, ldb, steps, q, &s);
            for (int t = 0; t < steps; t++)
                code_set(f, codes, t, j, (unsigned)(q[t] + 128));
        } else {
            uint8_t q[JB_WQ_GROUP];
            jb_wq_quantize_q4_0(b + j, ldb, steps, q, &s);
            for (int t = 0; t < steps; t++)
                code_set(f, codes, t, j, q[t]);
        }
        memcpy(dst + j * sizeof(float), &s, sizeof s);
    }
}

float jb_wq_block_value(jb_wq_format f, const uint8_t *blk, int s, int j)
{
    float sc;
    memcpy(&sc, blk + j * sizeof(float), sizeof sc);
    return (float)((int)code_get(f, blk + JB_WQ_NR * sizeof(float), s, j) - jb_wq_offset(f)) * sc;
}

/* E of jb_wq_prepare_a: every in-place product is a * u * 2^E. */
static int prep_exp(jb_wq_format f)
{
    return jb_wq_code_bits(f) * (jb_wq_lane_steps(f) - 2);
}

void jb_wq_prepare_a(jb_wq_format f, int64_t rows, int64_t k, const float *a, float *ap, int64_t lda, float *corr,
                     int64_t ldc)
{
    const int L = jb_wq_lane_steps(f), b = jb_wq_code_bits(f), e = prep_exp(f);
    float fac[8];
    for (int t = 0; t < L; t++)
        fac[t] = ldexpf(1.0f, t == L - 1 ? e : e - b * t);
    const float cf = -(float)jb_wq_offset(f) * ldexpf(1.0f, e);
    const int64_t ng = (k + JB_WQ_GROUP - 1) / JB_WQ_GROUP;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t g = 0; g < ng; g++) {
            float sum = 0;
            for (int t = 0; t < JB_WQ_GROUP; t++) {
                const int64_t l = g * JB_WQ_GROUP + t;
                const float x = l < k ? a[i * k + l] : 0.0f;
                sum += x;
                ap[i * lda + l] = x * fac[t % L];
            }
            corr[i * ldc + g] = cf * sum;
        }
}

/* ---- Portable C ------------------------------------------------------------ */

/* One block into w[32][JB_WQ_NR]. */
static void dequant_block_c(jb_wq_format f, const uint8_t *blk, float *w)
{
    for (int s = 0; s < JB_WQ_GROUP; s++)
        for (int j = 0; j < JB_WQ_NR; j++)
            w[s * JB_WQ_NR + j] = jb_wq_block_value(f, blk, s, j);
}

static void dequant_c(jb_wq_format f, int64_t ng, const uint8_t *blocks, float *dst)
{
    for (int64_t g = 0; g < ng; g++)
        dequant_block_c(f, blocks + (size_t)g * jb_wq_block_bytes(f), dst + g * JB_WQ_GROUP * JB_WQ_NR);
}
static void dequant_q8_c(int64_t ng, const uint8_t *blocks, float *dst)
{
    dequant_c(JB_WQ_Q8_0, ng, blocks, dst);
}
static void dequant_q4_c(int64_t ng, const uint8_t *blocks, float *dst)
{
    dequant_c(JB_WQ_Q4_0, ng, blocks, dst);
}

static void rows_c(int rows, int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int acc,
                   int nc)
{
    for (int i = 0; i < rows; i++) {
        float t[JB_WQ_NR] = {0};
        for (int64_t l = 0; l < kc; l++) {
            const float av = a[i * lda + l];
            for (int j = 0; j < JB_WQ_NR; j++)
                t[j] += av * b[l * JB_WQ_NR + j];
        }
        for (int j = 0; j < nc; j++)
            c[i * ldc + j] = acc ? c[i * ldc + j] + t[j] : t[j];
    }
}

/* The arithmetic of the AVX2 kernel, in C: per group, the codes in place
 * (u * 2^(b*t), the top step u) times the prepared A, plus corr, times the
 * scale; 2^-E at the end. */
static void direct_c(jb_wq_format f, int rows, int64_t ng, const float *ap, int64_t lda, const float *corr,
                     int64_t ldcorr, const uint8_t *panel, float *c, int64_t ldc, int nc)
{
    const int L = jb_wq_lane_steps(f), b = jb_wq_code_bits(f);
    const size_t bb = jb_wq_block_bytes(f);
    float w[JB_WQ_GROUP * JB_WQ_NR], acc[JB_WQ_MR_DIRECT][JB_WQ_NR] = {{0}};
    for (int64_t g = 0; g < ng; g++, panel += bb) {
        const uint8_t *codes = panel + JB_WQ_NR * sizeof(float);
        float sc[JB_WQ_NR];
        memcpy(sc, panel, sizeof sc);
        for (int s = 0; s < JB_WQ_GROUP; s++)
            for (int j = 0; j < JB_WQ_NR; j++) {
                const uint32_t u = code_get(f, codes, s, j);
                w[s * JB_WQ_NR + j] = (float)(s % L == L - 1 ? u : u << (b * (s % L)));
            }
        for (int i = 0; i < rows; i++) {
            float sum[JB_WQ_NR] = {0};
            for (int s = 0; s < JB_WQ_GROUP; s++) {
                const float av = ap[i * lda + g * JB_WQ_GROUP + s];
                for (int j = 0; j < JB_WQ_NR; j++)
                    sum[j] += av * w[s * JB_WQ_NR + j];
            }
            for (int j = 0; j < JB_WQ_NR; j++)
                acc[i][j] += (sum[j] + corr[i * ldcorr + g]) * sc[j];
        }
    }
    const float inv = ldexpf(1.0f, -prep_exp(f));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < nc; j++)
            c[i * ldc + j] = acc[i][j] * inv;
}
static void direct_q8_c(int rows, int64_t ng, const float *ap, int64_t lda, const float *corr, int64_t ldcorr,
                        const uint8_t *panel, float *c, int64_t ldc, int nc)
{
    direct_c(JB_WQ_Q8_0, rows, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc);
}
static void direct_q4_c(int rows, int64_t ng, const float *ap, int64_t lda, const float *corr, int64_t ldcorr,
                        const uint8_t *panel, float *c, int64_t ldc, int nc)
{
    direct_c(JB_WQ_Q4_0, rows, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc);
}

static const jb_wq_ukr ukr_c = {
    .name = "c",
    .direct = {direct_q8_c, direct_q4_c},
    .dequant = {dequant_q8_c, dequant_q4_c},
    .rows = rows_c,
};

/* ---- AVX2 + FMA -------------------------------------------------------------- */

#ifdef JB_X86
/* Step t of a chunk's codes for 8 columns, in place: u * 2^(b*t) as a float
 * (exact: at most 8 significant bits), by one AND; the top step, whose code
 * holds the sign bit, shifted down to u instead. t is a constant. */
INLINE AVX2_FN __m256 code_in_place(const jb_wq_format f, __m256i w, int t)
{
    const int L = jb_wq_lane_steps(f), b = jb_wq_code_bits(f);
    if (t == L - 1)
        return _mm256_cvtepi32_ps(_mm256_srli_epi32(w, b * t));
    return _mm256_cvtepi32_ps(_mm256_and_si256(w, _mm256_set1_epi32(((1 << b) - 1) << (b * t))));
}
/* Step t as u (shifted down and masked). */
INLINE AVX2_FN __m256 code_u(const jb_wq_format f, __m256i w, int t)
{
    const int L = jb_wq_lane_steps(f), b = jb_wq_code_bits(f);
    const __m256i x = t == 0 ? w : _mm256_srli_epi32(w, b * t);
    return _mm256_cvtepi32_ps(t == L - 1 ? x : _mm256_and_si256(x, _mm256_set1_epi32((1 << b) - 1)));
}

/* Lanes [0, n) of 8 set, n clamped to 0..8. */
INLINE AVX2_FN __m256i lanes(int n)
{
    static const int32_t src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(const void *)(src + 8 - n));
}

/* Columns [0, nc) of one row of C: (acc ? C : 0) + (v0, v1). Masked, so a
 * panel's padding columns are never touched in C. */
INLINE AVX2_FN void store_row(float *c, __m256 v0, __m256 v1, int acc, int nc)
{
    if (nc == JB_WQ_NR) {
        if (acc) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        return;
    }
    const __m256i m0 = lanes(nc), m1 = lanes(nc - 8);
    if (acc) {
        v0 = _mm256_add_ps(_mm256_maskload_ps(c, m0), v0);
        v1 = _mm256_add_ps(_mm256_maskload_ps(c + 8, m1), v1);
    }
    _mm256_maskstore_ps(c, m0, v0);
    _mm256_maskstore_ps(c + 8, m1, v1);
}

/* One step for every row: X[i * P + par] += a[i][step] * (b0, b1). */
#define FMA_ROWS(X, MR, P, par, ap, lda, b0, b1)                                                                    \
    _Pragma("GCC unroll 8") for (int i_ = 0; i_ < (MR); i_++)                                                   \
    {                                                                                                           \
        const __m256 av_ = _mm256_broadcast_ss((ap) + i_ * (lda));                                              \
        X[i_ * (P) + (par)][0] = _mm256_fmadd_ps(av_, (b0), X[i_ * (P) + (par)][0]);                            \
        X[i_ * (P) + (par)][1] = _mm256_fmadd_ps(av_, (b1), X[i_ * (P) + (par)][1]);                            \
    }

/*
 * MR rows of C times one panel, from A prepared by jb_wq_prepare_a. Each
 * step's 16 codes become floats in place (one AND or shift, one convert) and
 * serve all MR rows; the offset and the scale wait for the end of the group:
 * C += d * (sum(a' * code) + corr), so a step costs two operations per 8
 * codes besides the MR FMAs. With one or two rows the sums are split over
 * P = 4 or 2 alternating steps, so that enough FMAs are in flight to hide
 * their latency. The group sums stay in registers; the running sums (acc),
 * touched once per group, may live in memory.
 */
INLINE AVX2_FN void direct_body(const int MR, const jb_wq_format f, int64_t ng, const float *ap, int64_t lda,
                                const float *corr, int64_t ldcorr, const uint8_t *p, float *c, int64_t ldc, int nc)
{
    const int P = MR == 1 ? 4 : MR == 2 ? 2 : 1, L = jb_wq_lane_steps(f);
    const size_t bb = jb_wq_block_bytes(f);
    __m256 acc[JB_WQ_MR_DIRECT][2];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t g = 0; g < ng; g++, p += bb, ap += JB_WQ_GROUP) {
        const uint8_t *q = p + JB_WQ_NR * sizeof(float);
        __m256 sum[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < MR * P; r++)
            sum[r][0] = sum[r][1] = _mm256_setzero_ps();
        for (int ch = 0; ch < JB_WQ_GROUP / L; ch++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * ch));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * ch + 32));
#pragma GCC unroll 8
            for (int t = 0; t < L; t++) {
                const __m256 b0 = code_in_place(f, w0, t), b1 = code_in_place(f, w1, t);
                FMA_ROWS(sum, MR, P, t % P, ap + ch * L + t, lda, b0, b1)
            }
        }
        const __m256 d0 = _mm256_load_ps((const float *)(const void *)p);
        const __m256 d1 = _mm256_load_ps((const float *)(const void *)p + 8);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            const __m256 cg = _mm256_broadcast_ss(corr + i * ldcorr + g);
            __m256 v0 = _mm256_add_ps(sum[i * P][0], cg), v1 = _mm256_add_ps(sum[i * P][1], cg);
#pragma GCC unroll 4
            for (int r = 1; r < P; r++) {
                v0 = _mm256_add_ps(v0, sum[i * P + r][0]);
                v1 = _mm256_add_ps(v1, sum[i * P + r][1]);
            }
            acc[i][0] = _mm256_fmadd_ps(v0, d0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(v1, d1, acc[i][1]);
        }
    }
    const __m256 inv = _mm256_set1_ps(ldexpf(1.0f, -prep_exp(f)));
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
        store_row(c + i * ldc, _mm256_mul_ps(acc[i][0], inv), _mm256_mul_ps(acc[i][1], inv), 0, nc);
}

#define DIRECT_AVX2(NAME, F)                                                                                    \
    static AVX2_FN void NAME(int rows, int64_t ng, const float *ap, int64_t lda, const float *corr,             \
                             int64_t ldcorr, const uint8_t *panel, float *c, int64_t ldc, int nc)               \
    {                                                                                                           \
        switch (rows) {                                                                                         \
        case 1: direct_body(1, F, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc); break;                         \
        case 2: direct_body(2, F, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc); break;                         \
        case 3: direct_body(3, F, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc); break;                         \
        default: direct_body(4, F, ng, ap, lda, corr, ldcorr, panel, c, ldc, nc); break;                        \
        }                                                                                                       \
    }
DIRECT_AVX2(direct_q8_avx2, JB_WQ_Q8_0)
DIRECT_AVX2(direct_q4_avx2, JB_WQ_Q4_0)
#undef DIRECT_AVX2

/* Blocks into fp32: (u - offset) * d as one FMA, u * d - offset * d, rounded
 * once, so the values are jb_wq_block_value's. */
INLINE AVX2_FN void dequant_body(const jb_wq_format f, int64_t ng, const uint8_t *p, float *dst)
{
    const int L = jb_wq_lane_steps(f);
    const size_t bb = jb_wq_block_bytes(f);
    const __m256 noff = _mm256_set1_ps(-(float)jb_wq_offset(f));
    for (int64_t g = 0; g < ng; g++, p += bb) {
        const __m256 d0 = _mm256_load_ps((const float *)(const void *)p);
        const __m256 d1 = _mm256_load_ps((const float *)(const void *)p + 8);
        const __m256 o0 = _mm256_mul_ps(noff, d0), o1 = _mm256_mul_ps(noff, d1);
        const uint8_t *q = p + JB_WQ_NR * sizeof(float);
        for (int ch = 0; ch < JB_WQ_GROUP / L; ch++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * ch));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * ch + 32));
#pragma GCC unroll 8
            for (int t = 0; t < L; t++, dst += JB_WQ_NR) {
                _mm256_store_ps(dst, _mm256_fmadd_ps(code_u(f, w0, t), d0, o0));
                _mm256_store_ps(dst + 8, _mm256_fmadd_ps(code_u(f, w1, t), d1, o1));
            }
        }
    }
}
static AVX2_FN void dequant_q8_avx2(int64_t ng, const uint8_t *p, float *dst)
{
    dequant_body(JB_WQ_Q8_0, ng, p, dst);
}
static AVX2_FN void dequant_q4_avx2(int64_t ng, const uint8_t *p, float *dst)
{
    dequant_body(JB_WQ_Q4_0, ng, p, dst);
}

/* MR rows x 16 columns of fp32: 2*MR accumulators, two B vectors, one broadcast. */
INLINE AVX2_FN void rows_body(const int MR, int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                              int64_t ldc, int accum, int nc)
{
    __m256 acc[JB_WQ_MR_ROWS][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t l = 0; l < kc; l++) {
        const __m256 b0 = _mm256_load_ps(b + l * JB_WQ_NR), b1 = _mm256_load_ps(b + l * JB_WQ_NR + 8);
        FMA_ROWS(acc, MR, 1, 0, a + l, lda, b0, b1)
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        store_row(c + i * ldc, acc[i][0], acc[i][1], accum, nc);
}

static AVX2_FN void rows_avx2(int rows, int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                              int acc, int nc)
{
    switch (rows) {
    case 1: rows_body(1, kc, a, lda, b, c, ldc, acc, nc); break;
    case 2: rows_body(2, kc, a, lda, b, c, ldc, acc, nc); break;
    case 3: rows_body(3, kc, a, lda, b, c, ldc, acc, nc); break;
    case 4: rows_body(4, kc, a, lda, b, c, ldc, acc, nc); break;
    case 5: rows_body(5, kc, a, lda, b, c, ldc, acc, nc); break;
    default: rows_body(6, kc, a, lda, b, c, ldc, acc, nc); break;
    }
}

static const jb_wq_ukr ukr_avx2 = {
    .name = "avx2",
    .direct = {direct_q8_avx2, direct_q4_avx2},
    .dequant = {dequant_q8_avx2, dequant_q4_avx2},
    .rows = rows_avx2,
};
#endif

const jb_wq_ukr *jb_wq_ukr_get(void)
{
#ifdef JB_X86
    if (jb_cpu_isa() >= JB_ISA_AVX2)
        return &ukr_avx2;
#endif
    return &ukr_c;
}
