/*
 * attention/cpu/splitkv/f32: split-KV decode attention (Flash-Decoding, see
 * splitkv.h) reading the fp32 KV cache as it is. Built for q = 1 or a few
 * query rows over a long cache, where attention is a stream over K and V
 * and the goal is the memory bandwidth: each key row is read from memory
 * once per query group, by one dot product per query, and each value row
 * once, by broadcast FMAs into the query's accumulator (the other queries
 * of a group find the block in cache). q = n works (groups of 8 query rows)
 * but is no match for attention/cpu/flash/f32 there.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "splitkv.h"
#include "vexp.h"

#include <math.h>
#include <string.h>

typedef struct f32_ctx {
    const float *q, *k, *v; /* Q[b*h*q][d], K and V [b*h][n][d] */
    int64_t n, d, dp;
    float scale; /* 1/sqrt(d) */
} f32_ctx;

static void prep_q(const void *vctx, int64_t bh, int64_t qrow, int64_t rows, float *qs)
{
    const f32_ctx *c = vctx;
    (void)bh;
    for (int64_t i = 0; i < rows; i++) {
        const float *qi = c->q + (qrow + i) * c->d;
        float *o = qs + i * c->dp;
        for (int64_t x = 0; x < c->dp; x++)
            o[x] = x < c->d ? qi[x] * c->scale : 0.0f;
    }
}

/* ---- portable ----------------------------------------------------------- */

static void scores_portable(const void *vctx, int64_t bh, const float *qs, int64_t j0, int64_t kc, float *s)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d;
    const float *k = c->k + (bh * c->n + j0) * d;
    for (int64_t j = 0; j < kc; j++) {
        /* Eight partial sums: a dependency chain the compiler can vectorize. */
        float acc[8] = {0};
        int64_t x = 0;
        for (; x + 8 <= d; x += 8)
            for (int u = 0; u < 8; u++)
                acc[u] += qs[x + u] * k[j * d + x + u];
        for (; x < d; x++)
            acc[0] += qs[x] * k[j * d + x];
        s[j] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
}

static void pv_portable(const void *vctx, int64_t bh, const float *p, int64_t j0, int64_t kc, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d;
    const float *v = c->v + (bh * c->n + j0) * d;
    for (int64_t j = 0; j < kc; j++)
        for (int64_t x = 0; x < d; x++)
            acc[x] += p[j] * v[j * d + x];
}

#ifdef JB_VEXP_X86

/* Both products walk the rows in memory order, one key row after the other.
 * Reading 4 or 8 rows side by side (to share the loads of acc or qs across
 * them) measured 20-30% slower here: the cache is a stream, and the hardware
 * prefetchers keep up with one stream per array better than with a row
 * interleave. Rows need not be 32-byte aligned (d is any size): unaligned
 * loads, and the head dim's last d % 8 values through a mask. */
JB_VEXP_AVX2 static void scores_avx2(const void *vctx, int64_t bh, const float *qs, int64_t j0, int64_t kc,
                                     float *s)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *kj = c->k + (bh * c->n + j0) * d;
    for (int64_t j = 0; j < kc; j++, kj += d) {
        /* Two accumulators halve the FMA latency chain. qs is zero from d on. */
        __m256 a = _mm256_setzero_ps(), b = a;
        int64_t x = 0;
        for (; x + 16 <= d8; x += 16) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(kj + x), _mm256_load_ps(qs + x), a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(kj + x + 8), _mm256_load_ps(qs + x + 8), b);
        }
        if (x < d8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(kj + x), _mm256_load_ps(qs + x), a);
        if (d8 < d)
            b = _mm256_fmadd_ps(_mm256_maskload_ps(kj + d8, tail), _mm256_load_ps(qs + d8), b);
        s[j] = jb_hsum_avx2(_mm256_add_ps(a, b));
    }
}

JB_VEXP_AVX2 static void pv_avx2(const void *vctx, int64_t bh, const float *p, int64_t j0, int64_t kc, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *vj = c->v + (bh * c->n + j0) * d;
    for (int64_t j = 0; j < kc; j++, vj += d) {
        const __m256 b = _mm256_broadcast_ss(p + j);
        for (int64_t x = 0; x < d8; x += 8)
            _mm256_store_ps(acc + x, _mm256_fmadd_ps(b, _mm256_loadu_ps(vj + x), _mm256_load_ps(acc + x)));
        if (d8 < d)
            _mm256_store_ps(acc + d8, _mm256_fmadd_ps(b, _mm256_maskload_ps(vj + d8, tail), _mm256_load_ps(acc + d8)));
    }
}

#endif /* JB_VEXP_X86 */

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const f32_ctx ctx = {.q = e->in[0], .k = e->in[1], .v = e->in[2], .n = p->seq, .d = p->d,
                         .dp = (p->d + 7) / 8 * 8, .scale = (float)(1.0 / sqrt((double)p->d))};
    jb_splitkv_ops ops = {.ctx = &ctx, .prep_q = prep_q, .scores = scores_portable, .pv = pv_portable};
#ifdef JB_VEXP_X86
    /* AVX-512 machines take the AVX2 path: no AVX-512 code here until it can be tested. */
    if (jb_cpu_isa() >= JB_ISA_AVX2) {
        ops.scores = scores_avx2;
        ops.pv = pv_avx2;
    }
#endif
    return jb_splitkv_run(e, &ops);
}

const jb_kernel jb_k_attention_cpu_splitkv_f32 = {
    .name = "attention/cpu/splitkv/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "splitkv",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "split-KV decode (Flash-Decoding): KV chunks in parallel, online softmax per chunk, log-sum-exp merge",
    .decode = 1,
    .workspace_size = jb_splitkv_workspace,
    .run = run,
};
