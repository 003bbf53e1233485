/*
 * attention/cpu/flash/int8: FlashAttention-2 (as attention/cpu/flash/f32,
 * same tiles and the same fp32 online softmax and P*V from flash_tile.h)
 * with Q and K quantized to int8, symmetric, one scale per token (row):
 * q = round(Q / sq), sq = max|Q row| / 127, likewise K. Quantization happens
 * in setup (untimed); V and the probabilities stay fp32.
 *
 * A score is an exact int32 dot product, dequantized as
 * dot(q_i, k_j) * sk[j] * sq[i] * log2(e)/sqrt(d). With AVX-512 VNNI,
 * vpdpbusd multiplies unsigned by signed bytes, so the query tile is packed
 * as q + 128 (four consecutive head-dim bytes per 32-bit lane, 16 queries
 * per vector) and -128 * sum(k_j), added to each dot product, cancels the
 * offset exactly. With AVX2 (or AVX-512 without VNNI), vpmaddwd on
 * int16 copies does the same exactly, two head-dim values per lane; the
 * portable path is plain int32 loops. Decode (q < n) tiles the q query rows
 * as attention/cpu/flash/f32 does.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "flash_tile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define JB_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512vnni")))

typedef struct int8_state {
    int64_t dp;      /* row length of q8 and k8: d rounded up to 4, zero padded */
    int8_t *q8, *k8; /* [b*h*q][dp] and [b*h*n][dp] */
    int16_t *k16;    /* k8 widened, for vpmaddwd */
    float *sq, *sk;  /* per row scale */
    int32_t *kcorr;  /* -128 * sum of each row of k8 */
} int8_state;

typedef struct scores_ctx {
    const int8_state *st;
    int64_t head;        /* first row of this head in k8 */
    int64_t qrow;        /* first row of this tile in q8 */
    const uint8_t *qp;   /* VNNI-packed query tile: [dp/4][BR][4], q + 128 */
    const int16_t *qp16; /* vpmaddwd-packed query tile: [dp/2][BR][2] */
    const float *sqc;    /* [BR]: sq[i] * log2(e)/sqrt(d), 0 past the last query */
} scores_ctx;

static int64_t padded_d(int64_t d)
{
    return (d + 3) / 4 * 4;
}

/* Per thread: the fp32 tile and sqc, then the packed query tile (room for
 * the int16 packing, the larger of the two). */
static size_t float_bytes(int64_t d)
{
    return ((jb_flash_tile_floats(d) + JB_FLASH_BR) * sizeof(float) + 63) / 64 * 64;
}

static size_t thread_bytes(int64_t d)
{
    return float_bytes(d) + ((size_t)padded_d(d) * JB_FLASH_BR * sizeof(int16_t) + 63) / 64 * 64;
}

static size_t workspace(const jb_problem *p)
{
    return (size_t)jb_cpu_threads() * thread_bytes(p->d);
}

static void teardown(jb_exec *e)
{
    int8_state *st = e->state;
    if (!st)
        return;
    free(st->q8);
    free(st->k8);
    free(st->k16);
    free(st->sq);
    free(st->sk);
    free(st->kcorr);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t rows = p->b * p->h * p->seq, qrows = p->b * p->h * jb_attention_q(p), d = p->d;
    const int64_t dp = padded_d(d);
    int8_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->dp = dp;
    st->q8 = calloc((size_t)qrows, (size_t)dp);
    st->k8 = calloc((size_t)rows, (size_t)dp);
    st->k16 = malloc((size_t)rows * (size_t)dp * sizeof(int16_t));
    st->sq = malloc((size_t)qrows * sizeof(float));
    st->sk = malloc((size_t)rows * sizeof(float));
    st->kcorr = malloc((size_t)rows * sizeof(int32_t));
    if (!st->q8 || !st->k8 || !st->k16 || !st->sq || !st->sk || !st->kcorr)
        return JB_ENOMEM; /* the caller's teardown frees what was made */
    jb_quantize_rows_s8(e->in[0], qrows, d, d, st->q8, dp, st->sq);
    jb_quantize_rows_s8(e->in[1], rows, d, d, st->k8, dp, st->sk);
    for (int64_t r = 0; r < rows; r++) {
        int32_t s = 0;
        for (int64_t l = 0; l < d; l++)
            s += st->k8[r * dp + l];
        st->kcorr[r] = -128 * s;
    }
    for (int64_t i = 0; i < rows * dp; i++)
        st->k16[i] = st->k8[i];
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const int8_state *st = e->state;
    const jb_problem *p = e->p;
    const int64_t rows = p->b * p->h * p->seq, qrows = p->b * p->h * jb_attention_q(p), d = p->d;
    if (!st)
        return JB_EINVAL;
    for (int64_t r = 0; r < qrows; r++)
        for (int64_t l = 0; l < d; l++)
            deq[0][r * d + l] = (float)st->q8[r * st->dp + l] * st->sq[r];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < d; l++)
            deq[1][r * d + l] = (float)st->k8[r * st->dp + l] * st->sk[r];
    memcpy(deq[2], e->in[2], (size_t)rows * (size_t)d * sizeof(float));
    return JB_OK;
}

static void scores_portable(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    const int8_state *st = ctx->st;
    const int64_t d = t->d, dp = st->dp;
    for (int64_t j = 0; j < kc; j++) {
        const int64_t kr = ctx->head + j0 + j;
        const int8_t *kj = st->k8 + kr * dp;
        float *sj = t->s + j * JB_FLASH_BR;
        for (int64_t i = 0; i < JB_FLASH_BR; i++) {
            int32_t acc = 0;
            if (i < t->rows) {
                const int8_t *qi = st->q8 + (ctx->qrow + i) * dp;
                for (int64_t l = 0; l < d; l++)
                    acc += (int32_t)qi[l] * (int32_t)kj[l];
            }
            sj[i] = (float)acc * st->sk[kr] * ctx->sqc[i];
        }
    }
    jb_flash_mask_max_portable(t, j0, kc, mask);
}

#ifdef JB_VEXP_X86

/* acc += u8(a) . s8(b) per 32-bit lane. As inline assembly because GCC 12
 * compiles the intrinsic in an unrolled loop with a register copy and a
 * stack spill around nearly every vpdpbusd (seen in the assembly). */
JB_VNNI_TARGET JB_FLASH_INLINE __m512i dpbusd(__m512i acc, __m512i a, __m512i b)
{
    __asm__("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
    return acc;
}

/* Keys jrow..jrow+R-1 of the tile against the 48 packed queries. R is a
 * constant after inlining, so the steps past it vanish; the accumulators are
 * named variables because as an array GCC keeps them on the stack. */
#define VNNI_ACC(r) __m512i a##r##0 = _mm512_setzero_si512(), a##r##1 = a##r##0, a##r##2 = a##r##0
#define VNNI_STEP(r)                                                                                         \
    if (R > (r)) {                                                                                           \
        int32_t k4;                                                                                          \
        memcpy(&k4, kr + (r) * dp + l, 4);                                                                   \
        const __m512i b = _mm512_set1_epi32(k4);                                                             \
        a##r##0 = dpbusd(a##r##0, q0, b);                                                                    \
        a##r##1 = dpbusd(a##r##1, q1, b);                                                                    \
        a##r##2 = dpbusd(a##r##2, q2, b);                                                                    \
    }
/* Dequantized score in log2 units: (dot - 128 sum(k)) * sk[j] * sq[i] * c. */
#define VNNI_SCORE(a, r, c)                                                                                  \
    _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, _mm512_set1_epi32(kcorr[r]))),        \
                                _mm512_set1_ps(sk[r])),                                                      \
                  _mm512_load_ps(ctx->sqc + 16 * (c)))
#define VNNI_ROW(r)                                                                                          \
    if (R > (r))                                                                                             \
        JB_FLASH_EPI_ROW_AVX512(t, VNNI_SCORE(a##r##0, r, 0), VNNI_SCORE(a##r##1, r, 1),                     \
                                VNNI_SCORE(a##r##2, r, 2), r, jrow, rel, mask)

JB_VNNI_TARGET JB_FLASH_INLINE void score_rows_vnni(const scores_ctx *ctx, jb_flash_tile *t, int64_t j0,
                                                   int64_t jrow, int R, int mask)
{
    const int8_state *st = ctx->st;
    const int64_t dp = st->dp, kr0 = ctx->head + j0 + jrow, rel = j0 + jrow - t->i0;
    const int8_t *kr = st->k8 + kr0 * dp;
    const float *sk = st->sk + kr0;
    const int32_t *kcorr = st->kcorr + kr0;
    VNNI_ACC(0); VNNI_ACC(1); VNNI_ACC(2); VNNI_ACC(3); VNNI_ACC(4); VNNI_ACC(5); VNNI_ACC(6); VNNI_ACC(7);
    const uint8_t *qp = ctx->qp;
    for (int64_t l = 0; l < dp; l += 4, qp += 4 * JB_FLASH_BR) {
        const __m512i q0 = _mm512_load_si512(qp), q1 = _mm512_load_si512(qp + 64), q2 = _mm512_load_si512(qp + 128);
        VNNI_STEP(0) VNNI_STEP(1) VNNI_STEP(2) VNNI_STEP(3) VNNI_STEP(4) VNNI_STEP(5) VNNI_STEP(6) VNNI_STEP(7)
    }
    JB_FLASH_EPI_BEGIN_AVX512(t);
    VNNI_ROW(0); VNNI_ROW(1); VNNI_ROW(2); VNNI_ROW(3); VNNI_ROW(4); VNNI_ROW(5); VNNI_ROW(6); VNNI_ROW(7);
    JB_FLASH_EPI_END_AVX512(t);
}

JB_VNNI_TARGET static void scores_vnni(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    int64_t jr = 0;
    for (; jr + 8 <= kc; jr += 8)
        score_rows_vnni(ctx, t, j0, jr, 8, mask);
    switch (kc - jr) {
    case 7: score_rows_vnni(ctx, t, j0, jr, 7, mask); break;
    case 6: score_rows_vnni(ctx, t, j0, jr, 6, mask); break;
    case 5: score_rows_vnni(ctx, t, j0, jr, 5, mask); break;
    case 4: score_rows_vnni(ctx, t, j0, jr, 4, mask); break;
    case 3: score_rows_vnni(ctx, t, j0, jr, 3, mask); break;
    case 2: score_rows_vnni(ctx, t, j0, jr, 2, mask); break;
    case 1: score_rows_vnni(ctx, t, j0, jr, 1, mask); break;
    default: break;
    }
}

/* 16 queries (two vectors of 8 lanes, each lane a pair of int16 head-dim
 * values) against R keys: 8 accumulators, leaving registers for the madd
 * results within AVX2's 16. */
JB_VEXP_AVX2 JB_FLASH_INLINE void score_rows_avx2(const scores_ctx *ctx, jb_flash_tile *t, int64_t j0,
                                                 int64_t jrow, int R, int mask)
{
    const int8_state *st = ctx->st;
    const int64_t dp = st->dp, kr0 = ctx->head + j0 + jrow;
    const int16_t *kr = st->k16 + kr0 * dp;
    for (int strip = 0; strip < 3; strip++) {
        __m256i acc[4][2];
        for (int r = 0; r < R; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const int16_t *qp = ctx->qp16 + 2 * 16 * strip;
        for (int64_t l = 0; l < dp; l += 2, qp += 2 * JB_FLASH_BR) {
            const __m256i q0 = _mm256_load_si256((const __m256i *)qp);
            const __m256i q1 = _mm256_load_si256((const __m256i *)(qp + 16));
            for (int r = 0; r < R; r++) {
                int32_t k2;
                memcpy(&k2, kr + r * dp + l, 4);
                const __m256i b = _mm256_set1_epi32(k2);
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(q0, b));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(q1, b));
            }
        }
        const __m256 s0 = _mm256_load_ps(ctx->sqc + 16 * strip), s1 = _mm256_load_ps(ctx->sqc + 16 * strip + 8);
        __m256 f[4][2];
        for (int r = 0; r < R; r++) {
            const __m256 skr = _mm256_set1_ps(st->sk[kr0 + r]);
            f[r][0] = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][0]), skr), s0);
            f[r][1] = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][1]), skr), s1);
        }
        jb_flash_epilogue_avx2(t, f, R, strip, jrow, j0 + jrow - t->i0, mask);
    }
}

JB_VEXP_AVX2 static void scores_avx2(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    int64_t jr = 0;
    for (; jr + 4 <= kc; jr += 4)
        score_rows_avx2(ctx, t, j0, jr, 4, mask);
    switch (kc - jr) {
    case 3: score_rows_avx2(ctx, t, j0, jr, 3, mask); break;
    case 2: score_rows_avx2(ctx, t, j0, jr, 2, mask); break;
    case 1: score_rows_avx2(ctx, t, j0, jr, 1, mask); break;
    default: break;
    }
}

#endif /* JB_VEXP_X86 */

/* qp[l/2][i][l%2] = q8[i][l], widened, for the tile's queries (0 past the last). */
static void pack_q16(int16_t *qp, const int8_t *q8, int64_t rows, int64_t dp)
{
    for (int64_t i = 0; i < JB_FLASH_BR; i++)
        for (int64_t l = 0; l < dp; l++)
            qp[(l / 2) * 2 * JB_FLASH_BR + i * 2 + l % 2] = i < rows ? q8[i * dp + l] : 0;
}

/* qp[l/4][i][l%4] = q8[i][l] + 128 (as u8; 128 is a zero) for the tile's queries. */
static void pack_q(uint8_t *qp, const int8_t *q8, int64_t rows, int64_t dp)
{
    for (int64_t i = 0; i < JB_FLASH_BR; i++)
        for (int64_t l = 0; l < dp; l++)
            qp[(l / 4) * 4 * JB_FLASH_BR + i * 4 + l % 4] = (uint8_t)((i < rows ? q8[i * dp + l] : 0) ^ 0x80);
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int8_state *st = e->state;
    if (!st)
        return JB_EINVAL;
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, dp = st->dp, heads = p->b * p->h;
    const int64_t ntiles = (nq + JB_FLASH_BR - 1) / JB_FLASH_BR, ntasks = heads * ntiles;
    const float c = (float)(1.4426950408889634 / sqrt((double)d));
    const size_t per_thread = thread_bytes(d);
    int nthreads = jb_cpu_threads();
    if ((size_t)nthreads * per_thread > e->ws_size)
        nthreads = (int)(e->ws_size / per_thread);
    if (nthreads < 1)
        return JB_EINVAL;
    const jb_isa isa = jb_cpu_isa();
    jb_flash_scores_fn scores = scores_portable;
    int packing = 0; /* 4: VNNI bytes, 2: int16 pairs */
#ifdef JB_VEXP_X86
    if (jb_cpu_has_avx512_vnni()) {
        scores = scores_vnni;
        packing = 4;
    } else if (isa >= JB_ISA_AVX2) {
        scores = scores_avx2;
        packing = 2;
    }
#endif
    char *ws = e->ws;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t task = 0; task < ntasks; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        char *mine = ws + (size_t)tid * per_thread;
        jb_flash_tile t;
        jb_flash_tile_init(&t, (float *)mine, d);
        float *sqc = (float *)mine + jb_flash_tile_floats(d);
        uint8_t *qp = (uint8_t *)mine + float_bytes(d);
        const int64_t tile = ntiles - 1 - task / heads, bh = task % heads;
        const int64_t i0 = tile * JB_FLASH_BR, rows = nq - i0 < JB_FLASH_BR ? nq - i0 : JB_FLASH_BR;
        const int64_t head = bh * n, qrow = bh * nq + i0;
        for (int64_t i = 0; i < JB_FLASH_BR; i++)
            sqc[i] = i < rows ? st->sq[qrow + i] * c : 0.0f;
        if (packing == 4)
            pack_q(qp, st->q8 + qrow * dp, rows, dp);
        else if (packing == 2)
            pack_q16((int16_t *)qp, st->q8 + qrow * dp, rows, dp);
        const scores_ctx ctx = {.st = st, .head = head, .qrow = qrow, .qp = qp, .qp16 = (const int16_t *)qp,
                                .sqc = sqc};
        jb_flash_query_tile(isa, &t, n - nq + i0, rows, n, p->causal, scores, NULL, &ctx, e->in[2] + (size_t)head * (size_t)d,
                            e->out + (size_t)qrow * (size_t)d);
    }
    return JB_OK;
}

const jb_kernel jb_k_attention_cpu_flash_int8 = {
    .name = "attention/cpu/flash/int8",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "flash",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "FlashAttention-2 with per-token int8 Q and K (AVX-512 VNNI scores), fp32 softmax and P*V",
    .decode = 1,
    .workspace_size = workspace,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
