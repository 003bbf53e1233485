/*
 * The fp32 score micro-kernels of a FlashAttention-2 query tile, shared by
 * attention/cpu/flash/f32 (K as it is) and attention/cpu/flash/bf16 (K
 * widened to fp32 a tile at a time): S^T = K Q^T for the keys j0..j0+kc-1 of
 * one tile into t->s, masked and maxed by flash_tile.h's epilogues. qt is the
 * query tile packed transposed, qt[l][i] (BR floats per head-dim column),
 * pre-scaled by log2(e)/sqrt(d); kt is the tile's first key row (kc rows of
 * d floats). Internal to kernels/cpu.
 *
 * The query tile is packed once; a micro-kernel then broadcasts K[j][l]
 * from K itself against 3 vectors of qt[l] into 8 x 3 accumulators, the same
 * shape as the P*V micro-kernel, so both products run as register-blocked
 * broadcast FMAs at near the FMA peak.
 */
#ifndef JB_FLASH_SCORES_F32_H
#define JB_FLASH_SCORES_F32_H

#include "flash_tile.h"

static inline void jb_flash_scores_f32_portable(const float *qt, const float *kt, jb_flash_tile *t, int64_t j0,
                                                int64_t kc, int mask)
{
    const int64_t d = t->d;
    for (int64_t j = 0; j < kc; j++) {
        const float *kj = kt + j * d;
        float *sj = t->s + j * JB_FLASH_BR;
        for (int i = 0; i < JB_FLASH_BR; i++)
            sj[i] = 0;
        for (int64_t l = 0; l < d; l++) {
            const float *ql = qt + l * JB_FLASH_BR;
            for (int i = 0; i < JB_FLASH_BR; i++)
                sj[i] += kj[l] * ql[i];
        }
    }
    jb_flash_mask_max_portable(t, j0, kc, mask);
}

#ifdef JB_VEXP_X86

/* Keys jrow..jrow+R-1 of the tile against all 48 queries. R is a constant
 * after inlining, so the steps past it vanish; the accumulators are named
 * variables because as an array GCC keeps them on the stack. Query vectors
 * before V0 (a constant too) are wholly before every key of the block, so
 * masked: their products are skipped and the mask makes them -inf. */
#define F32_ACC(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = a##r##0, a##r##2 = a##r##0
#define F32_STEP(r)                                                                                          \
    if (R > (r)) {                                                                                           \
        const __m512 b = _mm512_set1_ps(kr[(r) * d + l]);                                                    \
        if (V0 <= 0)                                                                                         \
            a##r##0 = _mm512_fmadd_ps(b, q0, a##r##0);                                                       \
        if (V0 <= 1)                                                                                         \
            a##r##1 = _mm512_fmadd_ps(b, q1, a##r##1);                                                       \
        a##r##2 = _mm512_fmadd_ps(b, q2, a##r##2);                                                           \
    }
#define F32_ROW(r)                                                                                           \
    if (R > (r))                                                                                             \
    JB_FLASH_EPI_ROW_AVX512(t, a##r##0, a##r##1, a##r##2, r, jrow, rel, mask)

JB_VEXP_AVX512 JB_FLASH_INLINE void jb_flash_score_rows_avx512(jb_flash_tile *t, const float *qt, const float *kt,
                                                              int64_t j0, int64_t jrow, int R, int V0, int mask)
{
    const int64_t d = t->d, rel = j0 + jrow - t->i0;
    const float *kr = kt + jrow * d;
    F32_ACC(0); F32_ACC(1); F32_ACC(2); F32_ACC(3); F32_ACC(4); F32_ACC(5); F32_ACC(6); F32_ACC(7);
    for (int64_t l = 0; l < d; l++, qt += JB_FLASH_BR) {
        const __m512 q0 = _mm512_load_ps(qt), q1 = _mm512_load_ps(qt + 16), q2 = _mm512_load_ps(qt + 32);
        F32_STEP(0) F32_STEP(1) F32_STEP(2) F32_STEP(3) F32_STEP(4) F32_STEP(5) F32_STEP(6) F32_STEP(7)
    }
    JB_FLASH_EPI_BEGIN_AVX512(t);
    F32_ROW(0); F32_ROW(1); F32_ROW(2); F32_ROW(3); F32_ROW(4); F32_ROW(5); F32_ROW(6); F32_ROW(7);
    JB_FLASH_EPI_END_AVX512(t);
}

JB_VEXP_AVX512 static inline void jb_flash_scores_f32_avx512(const float *qt, const float *kt, jb_flash_tile *t,
                                                            int64_t j0, int64_t kc, int mask)
{
    int64_t jr = 0;
    for (; jr + 8 <= kc; jr += 8) {
        const int64_t rel = j0 + jr - t->i0;
        if (mask && rel >= 32)
            jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 8, 2, mask);
        else if (mask && rel >= 16)
            jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 8, 1, mask);
        else
            jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 8, 0, mask);
    }
    switch (kc - jr) {
    case 7: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 7, 0, mask); break;
    case 6: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 6, 0, mask); break;
    case 5: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 5, 0, mask); break;
    case 4: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 4, 0, mask); break;
    case 3: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 3, 0, mask); break;
    case 2: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 2, 0, mask); break;
    case 1: jb_flash_score_rows_avx512(t, qt, kt, j0, jr, 1, 0, mask); break;
    default: break;
    }
}

/* AVX2 has 16 registers: 6 keys x 16 queries (12 accumulators) per pass,
 * three passes for the 48 queries. */
JB_VEXP_AVX2 JB_FLASH_INLINE void jb_flash_score_rows_avx2(jb_flash_tile *t, const float *qt, const float *kt,
                                                          int64_t j0, int64_t jrow, int R, int mask)
{
    const int64_t d = t->d;
    const float *kr = kt + jrow * d;
    for (int strip = 0; strip < 3; strip++) {
        __m256 acc[6][2];
        for (int r = 0; r < R; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        const float *ql = qt + 16 * strip;
        for (int64_t l = 0; l < d; l++, ql += JB_FLASH_BR) {
            const __m256 q0 = _mm256_load_ps(ql), q1 = _mm256_load_ps(ql + 8);
            for (int r = 0; r < R; r++) {
                const __m256 b = _mm256_broadcast_ss(kr + r * d + l);
                acc[r][0] = _mm256_fmadd_ps(b, q0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(b, q1, acc[r][1]);
            }
        }
        jb_flash_epilogue_avx2(t, acc, R, strip, jrow, j0 + jrow - t->i0, mask);
    }
}

JB_VEXP_AVX2 static inline void jb_flash_scores_f32_avx2(const float *qt, const float *kt, jb_flash_tile *t, int64_t j0,
                                                        int64_t kc, int mask)
{
    int64_t jr = 0;
    for (; jr + 6 <= kc; jr += 6)
        jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 6, mask);
    switch (kc - jr) {
    case 5: jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 5, mask); break;
    case 4: jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 4, mask); break;
    case 3: jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 3, mask); break;
    case 2: jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 2, mask); break;
    case 1: jb_flash_score_rows_avx2(t, qt, kt, j0, jr, 1, mask); break;
    default: break;
    }
}

#endif /* JB_VEXP_X86 */

#endif
