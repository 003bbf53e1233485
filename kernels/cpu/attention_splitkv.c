/*
 * attention/cpu/splitkv/f32: split-KV decode attention (Flash-Decoding, see
 * splitkv.h) reading the fp32 KV cache as it is. Built for q = 1 or a few
 * query rows over a long cache, where attention is a stream over K and V
 * and the goal is the memory bandwidth: each key row is read once per
 * query group, by one dot product per query (8 keys at a time, so 8
 * independent accumulators hide the FMA latency), and each value row once,
 * by broadcast FMAs into the query's accumulator. q = n works (groups of 8
 * query rows) but is no match for attention/cpu/flash/f32 there.
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

/* Eight dot products in eight vectors -> one vector of the eight sums. */
JB_VEXP_AVX2 static inline __m256 reduce8_avx2(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5,
                                               __m256 a6, __m256 a7)
{
    const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Key rows need not be 32-byte aligned (d is any size): unaligned loads,
 * and the head dim's last d % 8 values through a mask (qs is zero there). */
JB_VEXP_AVX2 static void scores_avx2(const void *vctx, int64_t bh, const float *qs, int64_t j0, int64_t kc,
                                     float *s)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *k = c->k + (bh * c->n + j0) * d;
    int64_t j = 0;
    for (; j + 8 <= kc; j += 8) {
        const float *k0 = k + j * d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int64_t x = 0; x < d8; x += 8) {
            const __m256 q = _mm256_load_ps(qs + x);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + x), q, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + d + x), q, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 2 * d + x), q, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 3 * d + x), q, a3);
            a4 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 4 * d + x), q, a4);
            a5 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 5 * d + x), q, a5);
            a6 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 6 * d + x), q, a6);
            a7 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + 7 * d + x), q, a7);
        }
        if (d8 < d) {
            const __m256 q = _mm256_load_ps(qs + d8);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + d8, tail), q, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + d + d8, tail), q, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 2 * d + d8, tail), q, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 3 * d + d8, tail), q, a3);
            a4 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 4 * d + d8, tail), q, a4);
            a5 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 5 * d + d8, tail), q, a5);
            a6 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 6 * d + d8, tail), q, a6);
            a7 = _mm256_fmadd_ps(_mm256_maskload_ps(k0 + 7 * d + d8, tail), q, a7);
        }
        _mm256_storeu_ps(s + j, reduce8_avx2(a0, a1, a2, a3, a4, a5, a6, a7));
    }
    for (; j < kc; j++) {
        const float *kj = k + j * d;
        __m256 a = _mm256_setzero_ps();
        for (int64_t x = 0; x < d8; x += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(kj + x), _mm256_load_ps(qs + x), a);
        if (d8 < d)
            a = _mm256_fmadd_ps(_mm256_maskload_ps(kj + d8, tail), _mm256_load_ps(qs + d8), a);
        s[j] = jb_hsum_avx2(a);
    }
}

/* Four value rows per pass over acc, so acc is loaded and stored once per
 * four keys and the rows stream in order. */
JB_VEXP_AVX2 static void pv_avx2(const void *vctx, int64_t bh, const float *p, int64_t j0, int64_t kc, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *v = c->v + (bh * c->n + j0) * d;
    int64_t j = 0;
    for (; j + 4 <= kc; j += 4) {
        const float *v0 = v + j * d;
        const __m256 b0 = _mm256_broadcast_ss(p + j), b1 = _mm256_broadcast_ss(p + j + 1);
        const __m256 b2 = _mm256_broadcast_ss(p + j + 2), b3 = _mm256_broadcast_ss(p + j + 3);
        for (int64_t x = 0; x < d8; x += 8) {
            __m256 a = _mm256_load_ps(acc + x);
            a = _mm256_fmadd_ps(b0, _mm256_loadu_ps(v0 + x), a);
            a = _mm256_fmadd_ps(b1, _mm256_loadu_ps(v0 + d + x), a);
            a = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v0 + 2 * d + x), a);
            a = _mm256_fmadd_ps(b3, _mm256_loadu_ps(v0 + 3 * d + x), a);
            _mm256_store_ps(acc + x, a);
        }
        if (d8 < d) {
            __m256 a = _mm256_load_ps(acc + d8);
            a = _mm256_fmadd_ps(b0, _mm256_maskload_ps(v0 + d8, tail), a);
            a = _mm256_fmadd_ps(b1, _mm256_maskload_ps(v0 + d + d8, tail), a);
            a = _mm256_fmadd_ps(b2, _mm256_maskload_ps(v0 + 2 * d + d8, tail), a);
            a = _mm256_fmadd_ps(b3, _mm256_maskload_ps(v0 + 3 * d + d8, tail), a);
            _mm256_store_ps(acc + d8, a);
        }
    }
    for (; j < kc; j++) {
        const float *vj = v + j * d;
        const __m256 b = _mm256_broadcast_ss(p + j);
        for (int64_t x = 0; x < d8; x += 8)
            _mm256_store_ps(acc + x, _mm256_fmadd_ps(b, _mm256_loadu_ps(vj + x), _mm256_load_ps(acc + x)));
        if (d8 < d)
            _mm256_store_ps(acc + d8,
                            _mm256_fmadd_ps(b, _mm256_maskload_ps(vj + d8, tail), _mm256_load_ps(acc + d8)));
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
