/*
 * attention/cpu/flash/bf16: FlashAttention-2 (the tiles, online softmax and
 * loop of attention/cpu/flash/f32, flash_tile.h) with Q, K and V in bf16,
 * rounded to nearest even in setup (untimed), and the softmax and every
 * accumulation in fp32. The oracle sees the rounded values through
 * dequantized_inputs. Causal, decode (q < n) and any n and d, as the f32
 * kernel. The products take the path bf16.h chooses for the machine:
 *   fp32  each key and value tile (64 rows) widened to fp32 into the
 *         thread's workspace as it is reached, the query tile widened as it
 *         is packed; then the f32 kernel's micro-kernels (flash_scores_f32.h
 *         for Q K^T, flash_tile.h for P V) on the instruction set JB_ISA
 *         allows. The memory traffic is bf16's, the arithmetic fp32 FMA.
 *   dot   Q K^T on AVX-512 BF16 vdpbf16ps: the query tile packed as pairs of
 *         head-dim values (d padded to even with zeros), 16 queries to a
 *         vector, against broadcast pairs of K, scaled by log2(e)/sqrt(d)
 *         after the sum; P V as on the fp32 path. P stays fp32: rounding the
 *         probabilities to bf16 for vdpbf16ps would put a relative error of up to
 *         2^-8 on every weight, a loss the oracle (which sees only the rounded
 *         inputs) cannot account for, so the check would no longer measure
 *         the kernel. The path's % of peak is against the bf16 dot product's
 *         ceiling, which this path is only chosen when it is the higher of
 *         the two.
 *   amx   both products on AMX tiles (tdpbf16ps, fp32 accumulation) through
 *         jb_amx_bf16_gemm_st (amx.h), oriented so that each writes the
 *         tile's transposed layout (flash_tile.h) with nothing transposed
 *         after it:
 *           scores  S^T = K Q^T: A = the tile's K rows as setup left them, B
 *                   = the query tile's Q^T, packed once per query tile; C =
 *                   s[j][i]; then the scale, mask and tile maximum in fp32;
 *           P V     O^T += V^T P: A = V^T, B = P packed as bf16, C = ot[l][i]
 *                   (scaled by alpha first).
 *         Every layout change is timed. V^T is made in the run, per head,
 *         by the threads, into the workspace: flash/f32 reads V as given, so
 *         the conversion is counted here too, n*d values per head against
 *         n^2*d FLOPs. Q^T and P are packed as they are reached, and the tile
 *         GEMM packs its A (the K and V^T rows) at every call.
 *         P keeps 16 bits, not bf16's 8: each weight p (in [0, 1], fp32,
 *         from the online softmax) goes to the tiles as two bf16 halves,
 *         hi = bf16(p) and lo = bf16(p - hi), and P V is V^T hi + V^T lo,
 *         two tile products into the same accumulator. One half alone puts
 *         a relative error of up to 2^-8 on every weight, an error the
 *         oracle (which sees only the bf16-rounded Q, K and V) cannot
 *         account for. Simulated with the verifier's inputs and norm (q, k
 *         in [-2, 2], v in [-1, 1], max |O - ref| / max |ref|), it is 0.8e-3
 *         to 1.4e-3 at every shape from n=37 d=24 to n=2048 d=64, causal or
 *         not: 80 to 140 times the 1e-5 tolerance (the emulated test,
 *         test_amx.c, fails at 0.93e-3 without lo). With both halves each
 *         weight is off by at most 2^-16 relative (1.5e-5). That bounds the
 *         error by 1.5e-5 * max|v| / max|ref| only if every rounding lined
 *         up with the sign of its value; simulated it is 1.6e-6 to 2.3e-6,
 *         and test_amx.c measures 1.0e-6 to 2.3e-6 with the fp32
 *         accumulation's own error included. So the tolerance stays 1e-5.
 *         The second product doubles the P V tile work. At the tiles' peak
 *         (an order of magnitude above fp32 FMA's) that should stay small
 *         next to the softmax. Not measured: no AMX machine was at hand.
 *         Chosen first wherever there are tile ops (bf16.h); its % of peak
 *         is against the AMX-BF16 ceiling.
 */
#include "../jb_kernels.h"
#include "amx.h"
#include "bf16.h"
#include "cpu.h"
#include "flash_scores_f32.h"
#include "flash_tile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/* What setup makes: Q [b*h*q][dp], K [b*h*n][dp] and V [b*h*n][d] in bf16,
 * dp = d rounded up to even, the padding zero. */
typedef struct bf16_state {
    jb_bf16_path path;
    int64_t dp;
    uint16_t *q, *k, *v;
} bf16_state;

static int64_t padded_d(int64_t d) { return (d + 1) / 2 * 2; }

static size_t round16(size_t f) { return (f + 15) / 16 * 16; }

/* Per thread, in floats, each part 64-byte aligned: the packed query tile
 * (fp32 qt[d][BR], or the dot path's bf16 pairs, which are no larger), the
 * fp32 tile, and the widened K and V tiles. */
static size_t qt_floats(int64_t d) { return round16((size_t)d * JB_FLASH_BR); }
static size_t kv_floats(int64_t d) { return round16((size_t)JB_FLASH_BC * (size_t)d); }
static size_t thread_floats(int64_t d)
{
    return qt_floats(d) + round16(jb_flash_tile_floats(d)) + 2 * kv_floats(d);
}

/* The amx path, in bytes: V^T of every head (bf16 [d][n] each), then per
 * thread, each part a multiple of 64 bytes: Q^T packed as the B of the
 * scores, the fp32 tile, and P's two bf16 halves packed as the B of P V. */
static size_t round64(size_t b) { return (b + 63) / 64 * 64; }
static size_t amx_vt_bytes(const jb_problem *p)
{
    return round64((size_t)(p->b * p->h * p->d * p->seq) * sizeof(uint16_t));
}
static size_t amx_qb_bytes(int64_t d) { return jb_amx_bf16_packb_bytes(d, JB_FLASH_BR); }
static size_t amx_tile_bytes(int64_t d) { return round16(jb_flash_tile_floats(d)) * sizeof(float); }
static size_t amx_pb_bytes(void) { return jb_amx_bf16_packb_bytes(JB_FLASH_BC, JB_FLASH_BR); }
static size_t amx_thread_bytes(int64_t d) { return amx_qb_bytes(d) + amx_tile_bytes(d) + 2 * amx_pb_bytes(); }

/* Enough for either layout, so a path forced between sizing and setup fits. */
static size_t workspace(const jb_problem *p)
{
    const size_t t = (size_t)jb_cpu_threads(), plain = t * thread_floats(p->d) * sizeof(float);
    const size_t amx = amx_vt_bytes(p) + t * amx_thread_bytes(p->d);
    return plain > amx ? plain : amx;
}

static int available(char *why, size_t len)
{
    jb_bf16_path path;
    return jb_bf16_path_get(&path, 1, why, len) ? JB_EUNAVAILABLE : JB_OK;
}

static const char *path(const jb_problem *p, jb_family *family)
{
    jb_bf16_path bp;
    (void)p;
    if (jb_bf16_path_get(&bp, 1, NULL, 0))
        bp = JB_BF16_PATH_FP32;
    *family = bp == JB_BF16_PATH_AMX ? JB_FAM_AMX_BF16 : bp == JB_BF16_PATH_DOT ? JB_FAM_BF16_DOT : JB_FAM_FP32_FMA;
    return jb_bf16_path_name(bp);
}

static void teardown(jb_exec *e)
{
    bf16_state *st = e->state;
    if (!st)
        return;
    free(st->q);
    free(st->k);
    free(st->v);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t rows = p->b * p->h * p->seq, qrows = p->b * p->h * jb_attention_q(p), d = p->d;
    const int64_t dp = padded_d(d);
    bf16_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    int rc = jb_bf16_path_get(&st->path, 1, e->why, sizeof e->why);
    if (rc)
        return rc;
    st->dp = dp;
    st->q = calloc((size_t)(qrows * dp), sizeof(uint16_t));
    st->k = calloc((size_t)(rows * dp), sizeof(uint16_t));
    st->v = malloc((size_t)(rows * d) * sizeof(uint16_t));
    if (!st->q || !st->k || !st->v)
        return JB_ENOMEM; /* the caller's teardown frees what was made */
    for (int64_t r = 0; r < qrows; r++)
        for (int64_t l = 0; l < d; l++)
            st->q[r * dp + l] = jb_bf16_round(e->in[0][r * d + l]);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < d; l++) {
            st->k[r * dp + l] = jb_bf16_round(e->in[1][r * d + l]);
            st->v[r * d + l] = jb_bf16_round(e->in[2][r * d + l]);
        }
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const bf16_state *st = e->state;
    const jb_problem *p = e->p;
    const int64_t rows = p->b * p->h * p->seq, qrows = p->b * p->h * jb_attention_q(p), d = p->d;
    if (!st)
        return JB_EINVAL;
    for (int64_t r = 0; r < qrows; r++)
        for (int64_t l = 0; l < d; l++)
            deq[0][r * d + l] = jb_bf16_float(st->q[r * st->dp + l]);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < d; l++) {
            deq[1][r * d + l] = jb_bf16_float(st->k[r * st->dp + l]);
            deq[2][r * d + l] = jb_bf16_float(st->v[r * d + l]);
        }
    return JB_OK;
}

/* ---- Widening ------------------------------------------------------------ */

/* dst[r][l] = src[r][l] as fp32 for rows [0, rows) and l in [0, d); src has
 * row stride ld, dst d. */
static void widen_rows_portable(float *dst, const uint16_t *src, int64_t rows, int64_t d, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < d; l++)
            dst[r * d + l] = jb_bf16_float(src[r * ld + l]);
}

#ifdef JB_VEXP_X86
JB_VEXP_AVX2 static void widen_rows_avx2(float *dst, const uint16_t *src, int64_t rows, int64_t d, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *s = src + r * ld;
        float *o = dst + r * d;
        int64_t l = 0;
        for (; l + 8 <= d; l += 8) {
            const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + l)));
            _mm256_storeu_ps(o + l, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
        for (; l < d; l++)
            o[l] = jb_bf16_float(s[l]);
    }
}
#endif

static void widen_rows(jb_isa isa, float *dst, const uint16_t *src, int64_t rows, int64_t d, int64_t ld)
{
#ifdef JB_VEXP_X86
    if (isa >= JB_ISA_AVX2) {
        widen_rows_avx2(dst, src, rows, d, ld);
        return;
    }
#endif
    (void)isa;
    widen_rows_portable(dst, src, rows, d, ld);
}

/* qt[l][i] = c * Q[i][l] widened, zero past the last query so padded lanes
 * stay finite. */
static void pack_q(float *qt, const uint16_t *q, int64_t rows, int64_t d, int64_t dp, float c)
{
    for (int64_t i = 0; i < JB_FLASH_BR; i++)
        for (int64_t l = 0; l < d; l++)
            qt[l * JB_FLASH_BR + i] = i < rows ? c * jb_bf16_float(q[i * dp + l]) : 0.0f;
}

/* ---- Scores ------------------------------------------------------------ */

typedef struct scores_ctx {
    jb_isa isa;
    const void *q;     /* fp32: qt[d][BR], pre-scaled; dot: pairs qp[dp/2][BR][2], unscaled */
    const uint16_t *k; /* the head's K[n][dp] */
    int64_t dp;
    float *kf;         /* fp32: the widened K tile */
    float c;           /* dot: log2(e)/sqrt(d) */
    const uint16_t *v; /* the head's V[n][d] */
    float *vf;         /* the widened V tile */
    int64_t d;
} scores_ctx;

/* Either path: the tile's values widened to fp32 for the f32 P V. */
static const float *values_fp32(const void *vctx, int64_t j0, int64_t kc)
{
    const scores_ctx *ctx = vctx;
    widen_rows(ctx->isa, ctx->vf, ctx->v + j0 * ctx->d, kc, ctx->d, ctx->d);
    return ctx->vf;
}

/* The fp32 path: widen the tile's keys, then the f32 micro-kernels. */
static void scores_fp32(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    widen_rows(ctx->isa, ctx->kf, ctx->k + j0 * ctx->dp, kc, t->d, ctx->dp);
#ifdef JB_VEXP_X86
    if (ctx->isa == JB_ISA_AVX512) {
        jb_flash_scores_f32_avx512(ctx->q, ctx->kf, t, j0, kc, mask);
        return;
    }
    if (ctx->isa == JB_ISA_AVX2) {
        jb_flash_scores_f32_avx2(ctx->q, ctx->kf, t, j0, kc, mask);
        return;
    }
#endif
    jb_flash_scores_f32_portable(ctx->q, ctx->kf, t, j0, kc, mask);
}

#ifdef JB_VEXP_X86
/* The dot path: keys jrow..jrow+R-1 of the tile against all 48 queries, one
 * vdpbf16ps per key and vector of 16 queries per pair of head-dim values.
 * Named accumulators, as in flash_scores_f32.h, so they stay in registers. */
#define DOT_ACC(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = a##r##0, a##r##2 = a##r##0
#define DOT_STEP(r)                                                                                          \
    if (R > (r)) {                                                                                           \
        int32_t pair;                                                                                        \
        memcpy(&pair, kr + (r) * dp + 2 * s, 4);                                                             \
        const __m512bh b = (__m512bh)_mm512_set1_epi32(pair);                                                \
        a##r##0 = _mm512_dpbf16_ps(a##r##0, b, q0);                                                          \
        a##r##1 = _mm512_dpbf16_ps(a##r##1, b, q1);                                                          \
        a##r##2 = _mm512_dpbf16_ps(a##r##2, b, q2);                                                          \
    }
#define DOT_ROW(r)                                                                                           \
    if (R > (r))                                                                                             \
    JB_FLASH_EPI_ROW_AVX512(t, _mm512_mul_ps(a##r##0, cv), _mm512_mul_ps(a##r##1, cv),                       \
                            _mm512_mul_ps(a##r##2, cv), r, jrow, rel, mask)

BF16_TARGET JB_FLASH_INLINE void score_rows_dot(jb_flash_tile *t, const uint16_t *qp, const uint16_t *kt,
                                                int64_t dp, float c, int64_t j0, int64_t jrow, int R, int mask)
{
    const int64_t rel = j0 + jrow - t->i0;
    const uint16_t *kr = kt + jrow * dp;
    const __m512 cv = _mm512_set1_ps(c);
    DOT_ACC(0); DOT_ACC(1); DOT_ACC(2); DOT_ACC(3); DOT_ACC(4); DOT_ACC(5); DOT_ACC(6); DOT_ACC(7);
    for (int64_t s = 0; s < dp / 2; s++, qp += 2 * JB_FLASH_BR) {
        const __m512bh q0 = (__m512bh)_mm512_load_si512((const void *)qp);
        const __m512bh q1 = (__m512bh)_mm512_load_si512((const void *)(qp + 32));
        const __m512bh q2 = (__m512bh)_mm512_load_si512((const void *)(qp + 64));
        DOT_STEP(0) DOT_STEP(1) DOT_STEP(2) DOT_STEP(3) DOT_STEP(4) DOT_STEP(5) DOT_STEP(6) DOT_STEP(7)
    }
    JB_FLASH_EPI_BEGIN_AVX512(t);
    DOT_ROW(0); DOT_ROW(1); DOT_ROW(2); DOT_ROW(3); DOT_ROW(4); DOT_ROW(5); DOT_ROW(6); DOT_ROW(7);
    JB_FLASH_EPI_END_AVX512(t);
}
#undef DOT_ACC
#undef DOT_STEP
#undef DOT_ROW

BF16_TARGET static void scores_dot(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    const uint16_t *qp = ctx->q, *kt = ctx->k + j0 * ctx->dp;
    const int64_t dp = ctx->dp;
    const float c = ctx->c;
    int64_t jr = 0;
    for (; jr + 8 <= kc; jr += 8)
        score_rows_dot(t, qp, kt, dp, c, j0, jr, 8, mask);
    switch (kc - jr) {
    case 7: score_rows_dot(t, qp, kt, dp, c, j0, jr, 7, mask); break;
    case 6: score_rows_dot(t, qp, kt, dp, c, j0, jr, 6, mask); break;
    case 5: score_rows_dot(t, qp, kt, dp, c, j0, jr, 5, mask); break;
    case 4: score_rows_dot(t, qp, kt, dp, c, j0, jr, 4, mask); break;
    case 3: score_rows_dot(t, qp, kt, dp, c, j0, jr, 3, mask); break;
    case 2: score_rows_dot(t, qp, kt, dp, c, j0, jr, 2, mask); break;
    case 1: score_rows_dot(t, qp, kt, dp, c, j0, jr, 1, mask); break;
    default: break;
    }
}
#endif /* JB_VEXP_X86 */

/* qp[s][i][2] = Q[i][2s], Q[i][2s+1] (bf16), zero past the last query: 16
 * queries' pairs to a 64-byte vector. */
static void pack_q_pairs(uint16_t *qp, const uint16_t *q, int64_t rows, int64_t dp)
{
    for (int64_t i = 0; i < JB_FLASH_BR; i++)
        for (int64_t l = 0; l < dp; l++)
            qp[(l / 2) * 2 * JB_FLASH_BR + 2 * i + l % 2] = i < rows ? q[i * dp + l] : 0;
}

/* ---- The amx path ---------------------------------------------------------- */

/* After the tile product wrote S^T into s: the scale into log2 units, the
 * causal mask and the tile maximum. */
static void amx_scores_epilogue(jb_flash_tile *t, float c, int64_t j0, int64_t kc, int mask)
{
    for (int64_t j = 0; j < kc; j++) {
        float *sj = t->s + j * JB_FLASH_BR;
        for (int i = 0; i < JB_FLASH_BR; i++)
            sj[i] *= c;
    }
    jb_flash_mask_max_portable(t, j0, kc, mask);
}

/* P (s[j][i], fp32, kc keys) as the B of P V, in the layout of
 * jb_amx_bf16_pack_b(kc, BR, P, BR, 0, .) (amx.h: panels of 32 queries, k
 * blocks of 32 keys, each two VNNI tiles of 16 queries), once as hi =
 * bf16(p) and once as lo = bf16(p - hi); zero past kc keys and BR queries.
 * p - hi is exact in fp32 (hi is p with its low 16 bits rounded away). */
static void amx_pack_p(const float *s, int64_t kc, uint16_t *hi, uint16_t *lo)
{
    const int64_t kb = (kc + 31) / 32;
    for (int64_t j = 0; j < kb * 32; j += 2) {
        const int64_t row = (j / 32) * 1024 + (j % 32) / 2 * 32; /* block j / 32, tile row */
        for (int64_t i = 0; i < 2 * JB_AMX_PANEL; i++) {
            const int64_t off = (i / 32) * kb * 1024 + row + (i % 32) / 16 * 512 + (i % 16) * 2;
            for (int64_t e = 0; e < 2; e++) {
                const float x = i < JB_FLASH_BR && j + e < kc ? s[(j + e) * JB_FLASH_BR + i] : 0.0f;
                const uint16_t h = jb_bf16_round(x);
                hi[off + e] = h;
                lo[off + e] = jb_bf16_round(x - jb_bf16_float(h));
            }
        }
    }
}

static int run_amx(jb_exec *e, const bf16_state *st)
{
    const jb_problem *p = e->p;
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    if (!ops)
        return JB_EUNAVAILABLE;
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, dp = st->dp, heads = p->b * p->h;
    const int64_t ntiles = (nq + JB_FLASH_BR - 1) / JB_FLASH_BR, ntasks = heads * ntiles;
    const float c = (float)(1.4426950408889634 / sqrt((double)d));
    const size_t vt_bytes = amx_vt_bytes(p), per_thread = amx_thread_bytes(d);
    if (!e->ws || e->ws_size < vt_bytes + per_thread)
        return JB_EINVAL;
    int nthreads = jb_cpu_threads();
    if ((size_t)nthreads * per_thread > e->ws_size - vt_bytes)
        nthreads = (int)((e->ws_size - vt_bytes) / per_thread);
    const jb_isa isa = jb_cpu_isa();
    uint16_t *vt = e->ws;
    unsigned char *tws = (unsigned char *)e->ws + vt_bytes;
#pragma omp parallel num_threads(nthreads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        unsigned char *mine = tws + (size_t)tid * per_thread;
        uint16_t *qb = (uint16_t *)(void *)mine;
        float *tmem = (float *)(void *)(mine + amx_qb_bytes(d));
        uint16_t *phi = (uint16_t *)(void *)(mine + amx_qb_bytes(d) + amx_tile_bytes(d));
        uint16_t *plo = phi + amx_pb_bytes() / sizeof(uint16_t);
        jb_flash_tile t;
        jb_flash_tile_init(&t, tmem, d);
        /* V^T of every head: vt[head][l][j] = V[head][j][l]. */
#pragma omp for schedule(static)
        for (int64_t bh = 0; bh < heads; bh++) {
            const uint16_t *v = st->v + bh * n * d;
            uint16_t *o = vt + bh * d * n;
            for (int64_t j = 0; j < n; j++)
                for (int64_t l = 0; l < d; l++)
                    o[l * n + j] = v[j * d + l];
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < ntasks; task++) {
            /* Last query tiles first: under a causal mask they are the longest. */
            const int64_t tile = ntiles - 1 - task / heads, bh = task % heads;
            const int64_t i0 = tile * JB_FLASH_BR, rows = nq - i0 < JB_FLASH_BR ? nq - i0 : JB_FLASH_BR;
            const int64_t qrow = bh * nq + i0;
            const uint16_t *k = st->k + bh * n * dp, *vth = vt + bh * d * n;
            /* Q^T (k = d, BR columns; the queries past rows stay zero). */
            memset(qb, 0, amx_qb_bytes(d));
            jb_amx_bf16_pack_b(d, rows, st->q + qrow * dp, dp, 1, qb);
            const int64_t pos = n - nq + i0, jend = p->causal && pos + rows < n ? pos + rows : n;
            jb_flash_tile_start(&t, pos, rows);
            for (int64_t j0 = 0; j0 < jend; j0 += JB_FLASH_BC) {
                const int64_t kc = jend - j0 < JB_FLASH_BC ? jend - j0 : JB_FLASH_BC;
                const int mask = p->causal && j0 + kc - 1 > pos;
                jb_amx_bf16_gemm_st(kc, JB_FLASH_BR, d, k + j0 * dp, dp, qb, t.s, JB_FLASH_BR, 0);
                amx_scores_epilogue(&t, c, j0, kc, mask);
                jb_flash_softmax(isa, &t, kc);
                amx_pack_p(t.s, kc, phi, plo);
                if (j0 > 0)
                    for (int64_t l = 0; l < d; l++)
                        for (int i = 0; i < JB_FLASH_BR; i++)
                            t.ot[l * JB_FLASH_BR + i] *= t.alpha[i];
                jb_amx_bf16_gemm_st(d, JB_FLASH_BR, kc, vth + j0, n, phi, t.ot, JB_FLASH_BR, j0 > 0);
                jb_amx_bf16_gemm_st(d, JB_FLASH_BR, kc, vth + j0, n, plo, t.ot, JB_FLASH_BR, 1);
            }
            jb_flash_finalize(&t, e->out + (size_t)qrow * (size_t)d);
        }
        ops->release();
    }
    return JB_OK;
}

/* ---- Run ----------------------------------------------------------------- */

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const bf16_state *st = e->state;
    if (!st)
        return JB_EINVAL;
    if (st->path == JB_BF16_PATH_AMX)
        return run_amx(e, st);
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, dp = st->dp, heads = p->b * p->h;
    const int64_t ntiles = (nq + JB_FLASH_BR - 1) / JB_FLASH_BR, ntasks = heads * ntiles;
    const float c = (float)(1.4426950408889634 / sqrt((double)d));
    const size_t per_thread = thread_floats(d);
    int nthreads = jb_cpu_threads();
    if ((size_t)nthreads * per_thread * sizeof(float) > e->ws_size)
        nthreads = (int)(e->ws_size / (per_thread * sizeof(float)));
    if (nthreads < 1)
        return JB_EINVAL;
    const jb_isa isa = jb_cpu_isa();
    jb_flash_scores_fn scores = scores_fp32;
#ifdef JB_VEXP_X86
    if (st->path == JB_BF16_PATH_DOT)
        scores = scores_dot;
#endif
    float *ws = e->ws;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t task = 0; task < ntasks; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *mine = ws + (size_t)tid * per_thread;
        float *tmem = mine + qt_floats(d), *kf = tmem + round16(jb_flash_tile_floats(d)), *vf = kf + kv_floats(d);
        jb_flash_tile t;
        jb_flash_tile_init(&t, tmem, d);
        /* Last query tiles first: under a causal mask they are the longest. */
        const int64_t tile = ntiles - 1 - task / heads, bh = task % heads;
        const int64_t i0 = tile * JB_FLASH_BR, rows = nq - i0 < JB_FLASH_BR ? nq - i0 : JB_FLASH_BR;
        const int64_t qrow = bh * nq + i0, head = bh * n;
        if (st->path == JB_BF16_PATH_DOT)
            pack_q_pairs((uint16_t *)mine, st->q + qrow * dp, rows, dp);
        else
            pack_q(mine, st->q + qrow * dp, rows, d, dp, c);
        const scores_ctx ctx = {
            .isa = isa, .q = mine, .k = st->k + head * dp, .dp = dp, .kf = kf, .c = c, .v = st->v + head * d, .vf = vf, .d = d};
        jb_flash_query_tile(isa, &t, n - nq + i0, rows, n, p->causal, scores, values_fp32, &ctx, NULL,
                            e->out + (size_t)qrow * (size_t)d);
    }
    return JB_OK;
}

const jb_kernel jb_k_attention_cpu_flash_bf16 = {
    .name = "attention/cpu/flash/bf16",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "flash",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "FlashAttention-2 with bf16 Q, K, V (rounded in setup), fp32 softmax and accumulation: Q K^T and P V "
               "on AMX tiles where present (P as two bf16 halves), else Q K^T on AVX-512 BF16 vdpbf16ps where it "
               "beats fp32 FMA, else tiles widened to fp32 (AVX-512/AVX2/C FMA)",
    .available = available,
    .path = path,
    .decode = 1,
    .workspace_size = workspace,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
