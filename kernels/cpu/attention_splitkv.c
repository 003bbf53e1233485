/*
 * attention/cpu/splitkv/f32: split-KV decode attention (Flash-Decoding, see
 * splitkv.h) reading the fp32 KV cache as it is. Built for q = 1 or a few
 * query rows over a long cache, where attention is a stream over K and V
 * and the goal is the memory bandwidth: each key row is read from memory
 * once per query group, by one dot product per query, and each value row
 * once, by broadcast FMAs into each query's accumulator, while the next key
 * row streams in (splitkv.h). q = n works (groups of 8 query rows) but is
 * no match for attention/cpu/flash/f32 there.
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

static void step_portable(const void *vctx, int64_t bh, int64_t rows, const float *qs, int64_t jk, int64_t nk,
                          float *s, int64_t jv, int64_t nv, const float *p, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, dp = c->dp, nmax = nk > nv ? nk : nv;
    const float *k = c->k + (bh * c->n + jk) * d, *v = c->v + (bh * c->n + jv) * d;
    for (int64_t r = 0; r < nmax; r++) {
        for (int64_t i = 0; i < rows && r < nk; i++) {
            const float *qi = qs + i * dp, *kr = k + r * d;
            /* Eight partial sums: a dependency chain the compiler can vectorize. */
            float a[8] = {0};
            int64_t x = 0;
            for (; x + 8 <= d; x += 8)
                for (int u = 0; u < 8; u++)
                    a[u] += qi[x + u] * kr[x + u];
            for (; x < d; x++)
                a[0] += qi[x] * kr[x];
            s[i * JB_SPLITKV_BLOCK + r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
        for (int64_t i = 0; i < rows && r < nv; i++) {
            const float pr = p[i * JB_SPLITKV_BLOCK + r], *vr = v + r * d;
            float *ai = acc + i * dp;
            for (int64_t x = 0; x < d; x++)
                ai[x] += pr * vr[x];
        }
    }
}

#ifdef JB_VEXP_X86

/* A row at a time, in memory order: reading 4 or 8 rows side by side (to
 * share loads of qs or acc across them) streamed 20-30% slower here. Rows
 * need not be 32-byte aligned (d is any size): unaligned loads, and the head
 * dim's last d % 8 values through a mask (qs is zero there). */
JB_VEXP_AVX2 static inline float dot_avx2(const float *q, const float *k, int64_t d8, int64_t d, __m256i tail)
{
    /* Two accumulators halve the FMA latency chain. */
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t x = 0;
    for (; x + 16 <= d8; x += 16) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(k + x), _mm256_load_ps(q + x), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(k + x + 8), _mm256_load_ps(q + x + 8), b);
    }
    if (x < d8)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(k + x), _mm256_load_ps(q + x), a);
    if (d8 < d)
        b = _mm256_fmadd_ps(_mm256_maskload_ps(k + d8, tail), _mm256_load_ps(q + d8), b);
    return jb_hsum_avx2(_mm256_add_ps(a, b));
}

JB_VEXP_AVX2 static inline void axpy_avx2(float *acc, float p, const float *v, int64_t d8, int64_t d, __m256i tail)
{
    const __m256 b = _mm256_set1_ps(p);
    for (int64_t x = 0; x < d8; x += 8)
        _mm256_store_ps(acc + x, _mm256_fmadd_ps(b, _mm256_loadu_ps(v + x), _mm256_load_ps(acc + x)));
    if (d8 < d)
        _mm256_store_ps(acc + d8, _mm256_fmadd_ps(b, _mm256_maskload_ps(v + d8, tail), _mm256_load_ps(acc + d8)));
}

JB_VEXP_AVX2 static void step_avx2(const void *vctx, int64_t bh, int64_t rows, const float *qs, int64_t jk,
                                   int64_t nk, float *s, int64_t jv, int64_t nv, const float *p, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, dp = c->dp, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *k = c->k + (bh * c->n + jk) * d, *v = c->v + (bh * c->n + jv) * d;
    int64_t r = 0;
    for (; r < nk && r < nv; r++, k += d, v += d) {
        for (int64_t i = 0; i < rows; i++)
            s[i * JB_SPLITKV_BLOCK + r] = dot_avx2(qs + i * dp, k, d8, d, tail);
        for (int64_t i = 0; i < rows; i++)
            axpy_avx2(acc + i * dp, p[i * JB_SPLITKV_BLOCK + r], v, d8, d, tail);
    }
    for (; r < nk; r++, k += d)
        for (int64_t i = 0; i < rows; i++)
            s[i * JB_SPLITKV_BLOCK + r] = dot_avx2(qs + i * dp, k, d8, d, tail);
    for (; r < nv; r++, v += d)
        for (int64_t i = 0; i < rows; i++)
            axpy_avx2(acc + i * dp, p[i * JB_SPLITKV_BLOCK + r], v, d8, d, tail);
}

#endif /* JB_VEXP_X86 */

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const f32_ctx ctx = {.q = e->in[0], .k = e->in[1], .v = e->in[2], .n = p->seq, .d = p->d,
                         .dp = (p->d + 7) / 8 * 8, .scale = (float)(1.0 / sqrt((double)p->d))};
    jb_splitkv_ops ops = {.ctx = &ctx, .prep_q = prep_q, .step = step_portable};
#ifdef JB_VEXP_X86
    /* AVX-512 machines take the AVX2 path: no AVX-512 code here until it can be tested. */
    if (jb_cpu_isa() >= JB_ISA_AVX2)
        ops.step = step_avx2;
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
