/*
 * The fp32 half of a FlashAttention-2 query tile, shared by
 * attention/cpu/flash/f32 and attention/cpu/flash/int8, which differ only in
 * how a tile of scores is computed: the causal mask and tile maximum (as an
 * epilogue the score micro-kernels call), the online softmax, P*V into the
 * output accumulator, the final normalization, and the loop over key/value
 * tiles that ties them together. Internal to kernels/cpu.
 *
 * Everything per tile is stored transposed, query index contiguous, so the
 * per-query softmax statistics of a whole tile are vertical vector ops, the
 * probabilities of one key are JB_FLASH_BR/16 vectors, and both products are
 * broadcast-FMA micro-kernels with nothing transposed inside their loops:
 *   s[j][i]     score of key j0+j against query i0+i in log2 units (the
 *               score kernel folds log2(e)/sqrt(d) in), then 2^(s - m)
 *   ot[l][i]    unnormalized output: O[i0+i][l] times l[i]
 *   m[i], l[i]  running max (log2 units) and running sum of 2^(s - m)
 * Per thread this is JB_FLASH_BR * (JB_FLASH_BC + d + 4) floats, whatever n is.
 */
#ifndef JB_FLASH_TILE_H
#define JB_FLASH_TILE_H

#include "cpu.h"
#include "vexp.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* Query rows per tile (3 AVX-512 vectors: with 8 keys or 8 head-dim columns
 * per micro-kernel step that is 24 accumulators + 3 loads in 32 registers),
 * and keys per tile (the scores, K and V tiles then fit L1 at d = 64). */
#define JB_FLASH_BR 48
#define JB_FLASH_BC 64

#define JB_FLASH_INLINE static inline __attribute__((always_inline))

typedef struct jb_flash_tile {
    int64_t i0, rows, d;   /* query tile at positions [i0, i0 + rows), rows <= BR; head dim */
    float *s, *ot, *m, *l, *alpha, *tmax;
} jb_flash_tile;

static inline size_t jb_flash_tile_floats(int64_t d)
{
    return (size_t)JB_FLASH_BR * ((size_t)JB_FLASH_BC + (size_t)d + 4);
}

/* mem: jb_flash_tile_floats(d) floats, 64-byte aligned (every array in it
 * starts on a multiple of BR floats = 192 bytes, so stays aligned). */
static inline void jb_flash_tile_init(jb_flash_tile *t, float *mem, int64_t d)
{
    t->d = d;
    t->s = mem;
    t->ot = t->s + JB_FLASH_BC * JB_FLASH_BR;
    t->m = t->ot + d * JB_FLASH_BR;
    t->l = t->m + JB_FLASH_BR;
    t->alpha = t->l + JB_FLASH_BR;
    t->tmax = t->alpha + JB_FLASH_BR;
}

/* Starting m at -FLT_MAX rather than -inf keeps 2^(m_old - m_new) finite
 * (0) on the first tile even for a query that tile masks out entirely. */
static inline void jb_flash_tile_start(jb_flash_tile *t, int64_t i0, int64_t rows)
{
    t->i0 = i0;
    t->rows = rows;
    for (int i = 0; i < JB_FLASH_BR; i++) {
        t->m[i] = -FLT_MAX;
        t->l[i] = 0;
        t->tmax[i] = -INFINITY;
    }
}

/* ---- portable ----------------------------------------------------------- */

/* After a portable score kernel filled s[0..kc): mask keys after the query
 * (key j0+j > query i0+i becomes -inf) and take the tile maximum. */
static inline void jb_flash_mask_max_portable(jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    for (int64_t j = 0; j < kc; j++) {
        float *sj = t->s + j * JB_FLASH_BR;
        const int64_t rel = j0 + j - t->i0; /* queries i < rel are before key j */
        for (int64_t i = 0; i < JB_FLASH_BR; i++) {
            if (mask && i < rel)
                sj[i] = -INFINITY;
            t->tmax[i] = sj[i] > t->tmax[i] ? sj[i] : t->tmax[i];
        }
    }
}

static inline void jb_flash_softmax_portable(jb_flash_tile *t, int64_t kc)
{
    for (int i = 0; i < JB_FLASH_BR; i++) {
        float mn = t->tmax[i] > t->m[i] ? t->tmax[i] : t->m[i];
        t->alpha[i] = jb_exp2f_scalar(t->m[i] - mn);
        t->m[i] = mn;
        t->tmax[i] = -INFINITY;
    }
    float ls[JB_FLASH_BR] = {0};
    for (int64_t j = 0; j < kc; j++) {
        float *sj = t->s + j * JB_FLASH_BR;
        for (int i = 0; i < JB_FLASH_BR; i++) {
            sj[i] = jb_exp2f_scalar(sj[i] - t->m[i]);
            ls[i] += sj[i];
        }
    }
    /* The tile's sum joins the running one only now (see the P*V kernels). */
    for (int i = 0; i < JB_FLASH_BR; i++)
        t->l[i] = t->l[i] * t->alpha[i] + ls[i];
}

/* ot = alpha * ot + P^T V, with v the first of the tile's kc value rows. */
static inline void jb_flash_pv_portable(jb_flash_tile *t, const float *v, int64_t kc, int first)
{
    const int64_t d = t->d;
    for (int64_t l = 0; l < d; l++) {
        float acc[JB_FLASH_BR] = {0};
        for (int64_t j = 0; j < kc; j++) {
            const float *pj = t->s + j * JB_FLASH_BR;
            const float vjl = v[j * d + l];
            for (int i = 0; i < JB_FLASH_BR; i++)
                acc[i] += vjl * pj[i];
        }
        float *o = t->ot + l * JB_FLASH_BR;
        for (int i = 0; i < JB_FLASH_BR; i++)
            o[i] = first ? acc[i] : o[i] * t->alpha[i] + acc[i];
    }
}

/* o: the output rows of this tile, its first row's O[.][0]. */
static inline void jb_flash_finalize(const jb_flash_tile *t, float *o)
{
    const int64_t d = t->d;
    for (int64_t i = 0; i < t->rows; i++) {
        const float inv = 1.0f / t->l[i];
        for (int64_t l = 0; l < d; l++)
            o[i * d + l] = t->ot[l * JB_FLASH_BR + i] * inv;
    }
}

#ifdef JB_VEXP_X86

/* ---- AVX-512: three vectors of 16 queries ------------------------------- */

/* Epilogue of a score micro-kernel, in three parts so that the caller's
 * accumulators can be plain named variables: BEGIN (in the caller's block),
 * ROW for each key row r of the block (v0..v2: its scores against queries
 * 0-15, 16-31, 32-47), END. Row r is tile key jrow + r; rel = j0 + jrow - i0.
 * Masks keys after each query to -inf, raises tmax, stores the rows of s.
 * Macros rather than functions, and the accumulators only read: otherwise
 * GCC 12 keeps the 24 of them in a stack array (zeroed, stored and reloaded
 * around the loop: 72 extra memory operations per call, in the assembly). */
#define JB_FLASH_EPI_BEGIN_AVX512(t)                                                                         \
    const __m512 ep_ninf = _mm512_set1_ps(-INFINITY);                                                       \
    const __m512i ep_i0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);          \
    const __m512i ep_i1 = _mm512_add_epi32(ep_i0, _mm512_set1_epi32(16));                                   \
    const __m512i ep_i2 = _mm512_add_epi32(ep_i0, _mm512_set1_epi32(32));                                   \
    __m512 ep_m0 = _mm512_load_ps((t)->tmax), ep_m1 = _mm512_load_ps((t)->tmax + 16);                       \
    __m512 ep_m2 = _mm512_load_ps((t)->tmax + 32)

#define JB_FLASH_EPI_ROW_AVX512(t, v0_, v1_, v2_, r, jrow, rel, mask)                                        \
    do {                                                                                                    \
        __m512 v0 = (v0_), v1 = (v1_), v2 = (v2_);                                                          \
        if (mask) {                                                                                         \
            const __m512i lim = _mm512_set1_epi32((int32_t)((rel) + (r)));                                  \
            v0 = _mm512_mask_mov_ps(v0, _mm512_cmplt_epi32_mask(ep_i0, lim), ep_ninf);                      \
            v1 = _mm512_mask_mov_ps(v1, _mm512_cmplt_epi32_mask(ep_i1, lim), ep_ninf);                      \
            v2 = _mm512_mask_mov_ps(v2, _mm512_cmplt_epi32_mask(ep_i2, lim), ep_ninf);                      \
        }                                                                                                   \
        float *ep_s = (t)->s + ((jrow) + (r)) * JB_FLASH_BR;                                                \
        ep_m0 = _mm512_max_ps(ep_m0, v0);                                                                   \
        ep_m1 = _mm512_max_ps(ep_m1, v1);                                                                   \
        ep_m2 = _mm512_max_ps(ep_m2, v2);                                                                   \
        _mm512_store_ps(ep_s, v0);                                                                          \
        _mm512_store_ps(ep_s + 16, v1);                                                                     \
        _mm512_store_ps(ep_s + 32, v2);                                                                     \
    } while (0)

#define JB_FLASH_EPI_END_AVX512(t)                                                                           \
    do {                                                                                                    \
        _mm512_store_ps((t)->tmax, ep_m0);                                                                  \
        _mm512_store_ps((t)->tmax + 16, ep_m1);                                                             \
        _mm512_store_ps((t)->tmax + 32, ep_m2);                                                             \
    } while (0)

/* 2^x for the x <= 0 of the online softmax (a score minus the running max),
 * cheaper than jb_exp2_avx512 in FMA-pipe work: x is rounded to a multiple
 * of 1/32 by adding 1.5 * 2^18 (whose low 5 mantissa bits are then the
 * 32nds, indexing a table of 2^(k/32) with one vpermt2ps), the remaining
 * |f| <= 1/64 takes a degree-2 polynomial (relative error 8.5e-8, a
 * least-squares fit of 2^f / 2^f on [-1/64, 1/64]), and scalef applies
 * 2^floor(n). Inputs below -100, masked keys' -inf included, give at most
 * 2^-100 rather than 0: a weight no float output can show, and unlike 2^-127
 * not a denormal to slow the P*V FMAs down. */
JB_VEXP_AVX512 static inline __m512 jb_flash_exp2_avx512(__m512 x)
{
    const __m512 lo = _mm512_setr_ps(1.000000000e+00f, 1.021897197e+00f, 1.044273734e+00f, 1.067140460e+00f,
                                     1.090507746e+00f, 1.114386797e+00f, 1.138788581e+00f, 1.163724899e+00f,
                                     1.189207077e+00f, 1.215247393e+00f, 1.241857767e+00f, 1.269050956e+00f,
                                     1.296839595e+00f, 1.325236678e+00f, 1.354255557e+00f, 1.383909941e+00f);
    const __m512 hi = _mm512_setr_ps(1.414213538e+00f, 1.445180774e+00f, 1.476826191e+00f, 1.509164453e+00f,
                                     1.542210817e+00f, 1.575980902e+00f, 1.610490322e+00f, 1.645755529e+00f,
                                     1.681792855e+00f, 1.718619347e+00f, 1.756252170e+00f, 1.794709086e+00f,
                                     1.834008098e+00f, 1.874167681e+00f, 1.915206552e+00f, 1.957144141e+00f);
    const __m512 shift = _mm512_set1_ps(393216.0f); /* 1.5 * 2^18: one ulp is 1/32 */
    x = _mm512_max_ps(_mm512_set1_ps(-100.0f), x);
    const __m512 y = _mm512_add_ps(x, shift);
    const __m512 n = _mm512_sub_ps(y, shift); /* x to the nearest 1/32 */
    const __m512 f = _mm512_sub_ps(x, n);
    const __m512 tb = _mm512_permutex2var_ps(lo, _mm512_castps_si512(y), hi); /* 2^(n - floor(n)) */
    const __m512 q = _mm512_mul_ps(_mm512_fmadd_ps(_mm512_set1_ps(2.402260303e-01f), f,
                                                   _mm512_set1_ps(6.931552887e-01f)), f);
    return _mm512_scalef_ps(_mm512_fmadd_ps(tb, q, tb), n);
}

JB_VEXP_AVX512 static inline void jb_flash_softmax_avx512(jb_flash_tile *t, int64_t kc)
{
    __m512 mn[3], ls[3];
    for (int c = 0; c < 3; c++) {
        __m512 mo = _mm512_load_ps(t->m + 16 * c);
        mn[c] = _mm512_max_ps(mo, _mm512_load_ps(t->tmax + 16 * c));
        __m512 a = jb_exp2_avx512(_mm512_sub_ps(mo, mn[c]));
        _mm512_store_ps(t->alpha + 16 * c, a);
        _mm512_store_ps(t->m + 16 * c, mn[c]);
        _mm512_store_ps(t->tmax + 16 * c, _mm512_set1_ps(-INFINITY));
        ls[c] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < kc; j++) {
        float *sj = t->s + j * JB_FLASH_BR;
        for (int c = 0; c < 3; c++) {
            __m512 p = jb_flash_exp2_avx512(_mm512_sub_ps(_mm512_load_ps(sj + 16 * c), mn[c]));
            _mm512_store_ps(sj + 16 * c, p);
            ls[c] = _mm512_add_ps(ls[c], p);
        }
    }
    for (int c = 0; c < 3; c++)
        _mm512_store_ps(t->l + 16 * c,
                        _mm512_fmadd_ps(_mm512_load_ps(t->l + 16 * c), _mm512_load_ps(t->alpha + 16 * c), ls[c]));
}

/* R head-dim columns l0..l0+R-1 of ot, over the tile's kc keys. Keys from
 * k1 on are masked for queries 0-15 and keys from k2 on for 0-31 too (a
 * diagonal tile): their weights there are at most 2^-100 of the row's
 * largest, so those products are skipped. */
#define JB_FLASH_PV_ACC(r) __m512 pa##r##0 = _mm512_setzero_ps(), pa##r##1 = pa##r##0, pa##r##2 = pa##r##0
#define JB_FLASH_PV_STEP(r, C0)                                                                              \
    if (R > (r)) {                                                                                           \
        const __m512 b = _mm512_set1_ps(vp[r]);                                                              \
        if ((C0) <= 0)                                                                                       \
            pa##r##0 = _mm512_fmadd_ps(b, p0, pa##r##0);                                                     \
        if ((C0) <= 1)                                                                                       \
            pa##r##1 = _mm512_fmadd_ps(b, p1, pa##r##1);                                                     \
        pa##r##2 = _mm512_fmadd_ps(b, p2, pa##r##2);                                                         \
    }
#define JB_FLASH_PV_KEYS(jlo, jhi, C0)                                                                       \
    for (int64_t j = (jlo); j < (jhi); j++, vp += d, pj += JB_FLASH_BR) {                                     \
        const __m512 p0 = _mm512_load_ps(pj), p1 = _mm512_load_ps(pj + 16), p2 = _mm512_load_ps(pj + 32);      \
        JB_FLASH_PV_STEP(0, C0) JB_FLASH_PV_STEP(1, C0) JB_FLASH_PV_STEP(2, C0) JB_FLASH_PV_STEP(3, C0)      \
        JB_FLASH_PV_STEP(4, C0) JB_FLASH_PV_STEP(5, C0) JB_FLASH_PV_STEP(6, C0) JB_FLASH_PV_STEP(7, C0)      \
    }
/* The tile's sum is added to the rescaled accumulator only now, so the
 * rounding error grows with sqrt(BC) + sqrt(n/BC) rather than sqrt(n). */
#define JB_FLASH_PV_OUT(r)                                                                                   \
    if (R > (r)) {                                                                                           \
        float *o = t->ot + (l0 + (r)) * JB_FLASH_BR;                                                         \
        if (first) {                                                                                         \
            _mm512_store_ps(o, pa##r##0);                                                                    \
            _mm512_store_ps(o + 16, pa##r##1);                                                               \
            _mm512_store_ps(o + 32, pa##r##2);                                                               \
        } else {                                                                                             \
            _mm512_store_ps(o, _mm512_fmadd_ps(_mm512_load_ps(o), a0, pa##r##0));                            \
            _mm512_store_ps(o + 16, _mm512_fmadd_ps(_mm512_load_ps(o + 16), a1, pa##r##1));                  \
            _mm512_store_ps(o + 32, _mm512_fmadd_ps(_mm512_load_ps(o + 32), a2, pa##r##2));                  \
        }                                                                                                    \
    }

JB_VEXP_AVX512 JB_FLASH_INLINE void jb_flash_pv_rows_avx512(jb_flash_tile *t, const float *v, int64_t kc,
                                                           int64_t k1, int64_t k2, int64_t l0, int R, int first)
{
    const int64_t d = t->d;
    JB_FLASH_PV_ACC(0); JB_FLASH_PV_ACC(1); JB_FLASH_PV_ACC(2); JB_FLASH_PV_ACC(3);
    JB_FLASH_PV_ACC(4); JB_FLASH_PV_ACC(5); JB_FLASH_PV_ACC(6); JB_FLASH_PV_ACC(7);
    const float *vp = v + l0, *pj = t->s;
    JB_FLASH_PV_KEYS(0, k1, 0)
    if (k1 < kc) {
        JB_FLASH_PV_KEYS(k1, k2, 1)
        JB_FLASH_PV_KEYS(k2, kc, 2)
    }
    const __m512 a0 = _mm512_load_ps(t->alpha), a1 = _mm512_load_ps(t->alpha + 16);
    const __m512 a2 = _mm512_load_ps(t->alpha + 32);
    JB_FLASH_PV_OUT(0) JB_FLASH_PV_OUT(1) JB_FLASH_PV_OUT(2) JB_FLASH_PV_OUT(3)
    JB_FLASH_PV_OUT(4) JB_FLASH_PV_OUT(5) JB_FLASH_PV_OUT(6) JB_FLASH_PV_OUT(7)
}

/* rel: the tile's first key minus its first query, when masked. */
JB_VEXP_AVX512 static inline void jb_flash_pv_avx512(jb_flash_tile *t, const float *v, int64_t kc, int mask,
                                                     int64_t rel, int first)
{
    int64_t k1 = kc, k2 = kc;
    if (mask) {
        k1 = 16 - rel < 0 ? 0 : 16 - rel < kc ? 16 - rel : kc;
        k2 = 32 - rel < 0 ? 0 : 32 - rel < kc ? 32 - rel : kc;
    }
    int64_t l0 = 0;
    for (; l0 + 8 <= t->d; l0 += 8)
        jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 8, first);
    switch (t->d - l0) {
    case 7: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 7, first); break;
    case 6: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 6, first); break;
    case 5: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 5, first); break;
    case 4: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 4, first); break;
    case 3: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 3, first); break;
    case 2: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 2, first); break;
    case 1: jb_flash_pv_rows_avx512(t, v, kc, k1, k2, l0, 1, first); break;
    default: break;
    }
}

/* ---- AVX2: the 48 queries as three strips of 16 (two vectors) ------------ */

/* acc[r][c] holds key row jrow + r against queries 16*strip + 8c.. +7. */
JB_VEXP_AVX2 JB_FLASH_INLINE void jb_flash_epilogue_avx2(jb_flash_tile *t, __m256 acc[][2], int R, int strip,
                                                        int64_t jrow, int64_t rel, int mask)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    float *tmax = t->tmax + 16 * strip;
    __m256 tm[2] = {_mm256_load_ps(tmax), _mm256_load_ps(tmax + 8)};
    for (int r = 0; r < R; r++) {
        if (mask) {
            const __m256i lim = _mm256_set1_epi32((int32_t)(rel + r));
            for (int c = 0; c < 2; c++) {
                __m256i q = _mm256_add_epi32(iota, _mm256_set1_epi32(16 * strip + 8 * c));
                acc[r][c] = _mm256_blendv_ps(acc[r][c], ninf, _mm256_castsi256_ps(_mm256_cmpgt_epi32(lim, q)));
            }
        }
        for (int c = 0; c < 2; c++) {
            tm[c] = _mm256_max_ps(tm[c], acc[r][c]);
            _mm256_store_ps(t->s + (jrow + r) * JB_FLASH_BR + 16 * strip + 8 * c, acc[r][c]);
        }
    }
    _mm256_store_ps(tmax, tm[0]);
    _mm256_store_ps(tmax + 8, tm[1]);
}

JB_VEXP_AVX2 static inline void jb_flash_softmax_avx2(jb_flash_tile *t, int64_t kc)
{
    __m256 mn[6], ls[6];
    for (int c = 0; c < 6; c++) {
        __m256 mo = _mm256_load_ps(t->m + 8 * c);
        mn[c] = _mm256_max_ps(mo, _mm256_load_ps(t->tmax + 8 * c));
        __m256 a = jb_exp2_avx2(_mm256_sub_ps(mo, mn[c]));
        _mm256_store_ps(t->alpha + 8 * c, a);
        _mm256_store_ps(t->m + 8 * c, mn[c]);
        _mm256_store_ps(t->tmax + 8 * c, _mm256_set1_ps(-INFINITY));
        ls[c] = _mm256_setzero_ps();
    }
    for (int64_t j = 0; j < kc; j++) {
        float *sj = t->s + j * JB_FLASH_BR;
        for (int c = 0; c < 6; c++) {
            __m256 p = jb_exp2_avx2(_mm256_sub_ps(_mm256_load_ps(sj + 8 * c), mn[c]));
            _mm256_store_ps(sj + 8 * c, p);
            ls[c] = _mm256_add_ps(ls[c], p);
        }
    }
    for (int c = 0; c < 6; c++)
        _mm256_store_ps(t->l + 8 * c,
                        _mm256_fmadd_ps(_mm256_load_ps(t->l + 8 * c), _mm256_load_ps(t->alpha + 8 * c), ls[c]));
}

JB_VEXP_AVX2 JB_FLASH_INLINE void jb_flash_pv_rows_avx2(jb_flash_tile *t, const float *v, int64_t kc, int64_t l0,
                                                       int R, int first)
{
    const int64_t d = t->d;
    for (int strip = 0; strip < 3; strip++) {
        const int q0 = 16 * strip;
        __m256 acc[6][2];
        for (int r = 0; r < R; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        const float *vp = v + l0, *pj = t->s + q0;
        for (int64_t j = 0; j < kc; j++, vp += d, pj += JB_FLASH_BR) {
            const __m256 p0 = _mm256_load_ps(pj), p1 = _mm256_load_ps(pj + 8);
            for (int r = 0; r < R; r++) {
                const __m256 b = _mm256_broadcast_ss(vp + r);
                acc[r][0] = _mm256_fmadd_ps(b, p0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(b, p1, acc[r][1]);
            }
        }
        const __m256 a0 = _mm256_load_ps(t->alpha + q0), a1 = _mm256_load_ps(t->alpha + q0 + 8);
        for (int r = 0; r < R; r++) {
            float *o = t->ot + (l0 + r) * JB_FLASH_BR + q0;
            _mm256_store_ps(o, first ? acc[r][0] : _mm256_fmadd_ps(_mm256_load_ps(o), a0, acc[r][0]));
            _mm256_store_ps(o + 8, first ? acc[r][1] : _mm256_fmadd_ps(_mm256_load_ps(o + 8), a1, acc[r][1]));
        }
    }
}

JB_VEXP_AVX2 static inline void jb_flash_pv_avx2(jb_flash_tile *t, const float *v, int64_t kc, int first)
{
    int64_t l0 = 0;
    for (; l0 + 6 <= t->d; l0 += 6)
        jb_flash_pv_rows_avx2(t, v, kc, l0, 6, first);
    switch (t->d - l0) {
    case 5: jb_flash_pv_rows_avx2(t, v, kc, l0, 5, first); break;
    case 4: jb_flash_pv_rows_avx2(t, v, kc, l0, 4, first); break;
    case 3: jb_flash_pv_rows_avx2(t, v, kc, l0, 3, first); break;
    case 2: jb_flash_pv_rows_avx2(t, v, kc, l0, 2, first); break;
    case 1: jb_flash_pv_rows_avx2(t, v, kc, l0, 1, first); break;
    default: break;
    }
}

#endif /* JB_VEXP_X86 */

/* ---- One query tile ------------------------------------------------------- */

/* Fills t->s[0..kc) with the scores of keys j0..j0+kc-1 (log2 units), masked
 * when mask is set, and raises t->tmax to their maximum. */
typedef void (*jb_flash_scores_fn)(const void *ctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask);
/* The values of keys j0..j0+kc-1 as fp32 rows of d, for a kernel that holds V
 * in another type (bf16: widened into a scratch tile); NULL in
 * jb_flash_query_tile: V is fp32 and read in place. */
typedef const float *(*jb_flash_values_fn)(const void *ctx, int64_t j0, int64_t kc);

/* After the scores of a tile: the online softmax (s becomes P, alpha and l
 * are updated, tmax is reset). */
static inline void jb_flash_softmax(jb_isa isa, jb_flash_tile *t, int64_t kc)
{
#ifdef JB_VEXP_X86
    if (isa == JB_ISA_AVX512) {
        jb_flash_softmax_avx512(t, kc);
        return;
    }
    if (isa == JB_ISA_AVX2) {
        jb_flash_softmax_avx2(t, kc);
        return;
    }
#endif
    (void)isa;
    jb_flash_softmax_portable(t, kc);
}

/* After the scores of a tile: the online softmax, then ot = alpha * ot + P^T
 * vt, with vt the tile's first value row (kc rows of d floats); rel is the
 * tile's first key minus its first query, first whether it is the first tile. */
static inline void jb_flash_softmax_pv(jb_isa isa, jb_flash_tile *t, const float *vt, int64_t kc, int mask,
                                       int64_t rel, int first)
{
    jb_flash_softmax(isa, t, kc);
#ifdef JB_VEXP_X86
    if (isa == JB_ISA_AVX512) {
        jb_flash_pv_avx512(t, vt, kc, mask, rel, first);
        return;
    }
    if (isa == JB_ISA_AVX2) {
        jb_flash_pv_avx2(t, vt, kc, first);
        return;
    }
#endif
    (void)mask;
    (void)rel;
    jb_flash_pv_portable(t, vt, kc, first);
}

/*
 * Runs the query tile at positions [i0, i0 + rows) of one head to completion:
 * for each key/value tile, scores, online softmax, P*V; keys after the tile's
 * last query are never visited when causal. Positions are in the sequence of
 * n keys, so a decode tile (q < n query rows, the last q positions) passes
 * i0 = n - q + its first row. v is the head's V in fp32, or, when values is
 * not NULL, unused: values gives each tile's (both callbacks get ctx); o the
 * tile's first output row (O is q x d, so its rows are not the positions).
 */
static inline void jb_flash_query_tile(jb_isa isa, jb_flash_tile *t, int64_t i0, int64_t rows, int64_t n,
                                       int causal, jb_flash_scores_fn scores, jb_flash_values_fn values,
                                       const void *ctx, const float *v, float *o)
{
    jb_flash_tile_start(t, i0, rows);
    const int64_t jend = causal && i0 + rows < n ? i0 + rows : n;
    for (int64_t j0 = 0; j0 < jend; j0 += JB_FLASH_BC) {
        const int64_t kc = jend - j0 < JB_FLASH_BC ? jend - j0 : JB_FLASH_BC;
        /* Only tiles reaching past the first query need the mask; the rest
         * of the causal triangle is entirely visible. */
        const int mask = causal && j0 + kc - 1 > i0;
        scores(ctx, t, j0, kc, mask);
        jb_flash_softmax_pv(isa, t, values ? values(ctx, j0, kc) : v + j0 * t->d, kc, mask, j0 - i0, j0 == 0);
    }
    jb_flash_finalize(t, o);
}

#endif
