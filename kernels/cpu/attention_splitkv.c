/*
 * attention/cpu/splitkv/f32: split-KV decode attention (Flash-Decoding, see
 * splitkv.h) reading the fp32 KV cache as it is. Built for q = 1 or a few
 * query rows over a long cache, where attention is a stream over K and V
 * and the goal is the memory bandwidth: each key row is read from memory
 * once per query group, by a dot product per query (up to four sharing its
 * loads), and each value row once, by broadcast FMAs into each query's
 * accumulator, key and value rows in turn (splitkv.h). q = n works (groups
 * of 8 query rows) but is no match for attention/cpu/flash/f32 there.
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

/* A row at a time, in memory order: reading 2, 4 or 8 rows side by side (to
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

/* R query rows (R <= 4, a constant once inlined) against one key row, and
 * one value row into R accumulators: the row's loads are shared, which is
 * what keeps speculative decoding (q = 5: 1.2-1.3x the time of q = 1 here,
 * from 2x) near the speed of one query. */
JB_VEXP_AVX2 static inline __attribute__((always_inline)) void dots_avx2(const float *qs, int64_t dp, const float *k,
                                                                       int64_t d8, int64_t d, __m256i tail, int R,
                                                                       float *s)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define DOTS_STEP(kk, x)                                                                                     \
    do {                                                                                                    \
        a0 = _mm256_fmadd_ps(kk, _mm256_load_ps(qs + (x)), a0);                                             \
        if (R > 1)                                                                                          \
            a1 = _mm256_fmadd_ps(kk, _mm256_load_ps(qs + dp + (x)), a1);                                    \
        if (R > 2)                                                                                          \
            a2 = _mm256_fmadd_ps(kk, _mm256_load_ps(qs + 2 * dp + (x)), a2);                                \
        if (R > 3)                                                                                          \
            a3 = _mm256_fmadd_ps(kk, _mm256_load_ps(qs + 3 * dp + (x)), a3);                                \
    } while (0)
    for (int64_t x = 0; x < d8; x += 8)
        DOTS_STEP(_mm256_loadu_ps(k + x), x);
    if (d8 < d)
        DOTS_STEP(_mm256_maskload_ps(k + d8, tail), d8);
#undef DOTS_STEP
    s[0] = jb_hsum_avx2(a0);
    if (R > 1)
        s[JB_SPLITKV_BLOCK] = jb_hsum_avx2(a1);
    if (R > 2)
        s[2 * JB_SPLITKV_BLOCK] = jb_hsum_avx2(a2);
    if (R > 3)
        s[3 * JB_SPLITKV_BLOCK] = jb_hsum_avx2(a3);
}

JB_VEXP_AVX2 static inline __attribute__((always_inline)) void axpys_avx2(float *acc, int64_t dp, const float *p,
                                                                        const float *v, int64_t d8, int64_t d,
                                                                        __m256i tail, int R)
{
    const __m256 b0 = _mm256_set1_ps(p[0]), b1 = _mm256_set1_ps(R > 1 ? p[JB_SPLITKV_BLOCK] : 0.0f);
    const __m256 b2 = _mm256_set1_ps(R > 2 ? p[2 * JB_SPLITKV_BLOCK] : 0.0f);
    const __m256 b3 = _mm256_set1_ps(R > 3 ? p[3 * JB_SPLITKV_BLOCK] : 0.0f);
#define AXPYS_STEP(vv, x)                                                                                    \
    do {                                                                                                    \
        _mm256_store_ps(acc + (x), _mm256_fmadd_ps(b0, vv, _mm256_load_ps(acc + (x))));                     \
        if (R > 1)                                                                                          \
            _mm256_store_ps(acc + dp + (x), _mm256_fmadd_ps(b1, vv, _mm256_load_ps(acc + dp + (x))));       \
        if (R > 2)                                                                                          \
            _mm256_store_ps(acc + 2 * dp + (x), _mm256_fmadd_ps(b2, vv, _mm256_load_ps(acc + 2 * dp + (x)))); \
        if (R > 3)                                                                                          \
            _mm256_store_ps(acc + 3 * dp + (x), _mm256_fmadd_ps(b3, vv, _mm256_load_ps(acc + 3 * dp + (x)))); \
    } while (0)
    for (int64_t x = 0; x < d8; x += 8)
        AXPYS_STEP(_mm256_loadu_ps(v + x), x);
    if (d8 < d)
        AXPYS_STEP(_mm256_maskload_ps(v + d8, tail), d8);
#undef AXPYS_STEP
}

/* Key row r against every query row (s column r), four at a time. */
JB_VEXP_AVX2 static void key_row_avx2(const float *qs, int64_t dp, int64_t rows, const float *k, int64_t d8,
                                      int64_t d, __m256i tail, float *s)
{
    if (rows == 1) {
        *s = dot_avx2(qs, k, d8, d, tail);
        return;
    }
    for (int64_t i = 0; i < rows; i += 4, qs += 4 * dp, s += 4 * JB_SPLITKV_BLOCK) {
        switch (rows - i) {
        case 1: dots_avx2(qs, dp, k, d8, d, tail, 1, s); break;
        case 2: dots_avx2(qs, dp, k, d8, d, tail, 2, s); break;
        case 3: dots_avx2(qs, dp, k, d8, d, tail, 3, s); break;
        default: dots_avx2(qs, dp, k, d8, d, tail, 4, s); break;
        }
    }
}

/* Value row r into every query's accumulator (weights: p column r). */
JB_VEXP_AVX2 static void value_row_avx2(float *acc, int64_t dp, int64_t rows, const float *p, const float *v,
                                        int64_t d8, int64_t d, __m256i tail)
{
    for (int64_t i = 0; i < rows; i += 4, acc += 4 * dp, p += 4 * JB_SPLITKV_BLOCK) {
        switch (rows - i) {
        case 1: axpys_avx2(acc, dp, p, v, d8, d, tail, 1); break;
        case 2: axpys_avx2(acc, dp, p, v, d8, d, tail, 2); break;
        case 3: axpys_avx2(acc, dp, p, v, d8, d, tail, 3); break;
        default: axpys_avx2(acc, dp, p, v, d8, d, tail, 4); break;
        }
    }
}

JB_VEXP_AVX2 static void step_avx2(const void *vctx, int64_t bh, int64_t rows, const float *qs, int64_t jk,
                                   int64_t nk, float *s, int64_t jv, int64_t nv, const float *p, float *acc)
{
    const f32_ctx *c = vctx;
    const int64_t d = c->d, dp = c->dp, d8 = d & ~(int64_t)7;
    const __m256i tail = jb_tail_mask8(d - d8);
    const float *k = c->k + (bh * c->n + jk) * d, *v = c->v + (bh * c->n + jv) * d;
    for (int64_t r = 0; r < nk || r < nv; r++) {
        if (r < nk)
            key_row_avx2(qs, dp, rows, k + r * d, d8, d, tail, s + r);
        if (r < nv)
            value_row_avx2(acc, dp, rows, p + r, v + r * d, d8, d, tail);
    }
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
