/*
 * attention/cpu/splitkv/int8: split-KV decode attention (splitkv.h) over an
 * int8 KV cache, a quarter of the fp32 cache's bytes, which is what decode
 * time is made of. K and V are quantized in setup (untimed, as a serving
 * system quantizes each token once as it enters the cache), symmetric, with
 * one scale per head and channel: k8[j][x] = round(K[j][x] / sk[x]),
 * sk[x] = max_j |K[j][x]| / 127, likewise V. Per channel rather than per
 * token because keys have outlier channels, and because both scales then
 * leave the inner loops: sk folds into the query (qs[x] = Q[x] sk[x] /
 * sqrt(d)), sv into the output (O[x] = sv[x] sum_j p_j v8[j][x] / l).
 * Q, the scores, the softmax and the accumulation stay fp32; int8 values
 * are widened to fp32 in registers as they are read. Rows are padded with
 * zeros to a multiple of 8 bytes, so no loop has a head-dim tail.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "splitkv.h"
#include "vexp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct kv8_state {
    int64_t dp;        /* d rounded up to 8 */
    int8_t *k8, *v8;   /* [b*h][n][dp], zero from d on */
    float *sk, *sv;    /* [b*h][dp] per-channel scales (1 from d on) */
} kv8_state;

typedef struct int8_ctx {
    const kv8_state *st;
    const float *q; /* Q[b*h*q][d], fp32 */
    int64_t n, d;
    float scale; /* 1/sqrt(d) */
} int8_ctx;

static void teardown(jb_exec *e)
{
    kv8_state *st = e->state;
    if (!st)
        return;
    free(st->k8);
    free(st->v8);
    free(st->sk);
    free(st->sv);
    free(st);
    e->state = NULL;
}

/* One head's x[n][d] into q[n][dp] and its per-channel scales s[dp]. */
static void quantize_head(const float *x, int64_t n, int64_t d, int64_t dp, int8_t *q, float *s)
{
    for (int64_t c = 0; c < dp; c++)
        s[c] = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < d; c++)
            s[c] = fmaxf(s[c], fabsf(x[j * d + c]));
    for (int64_t c = 0; c < dp; c++)
        s[c] = s[c] > 0 ? s[c] / 127.0f : 1.0f;
    for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < dp; c++) {
            float r = c < d ? nearbyintf(x[j * d + c] / s[c]) : 0.0f;
            r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
            q[j * dp + c] = (int8_t)r;
        }
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t heads = p->b * p->h, n = p->seq, d = p->d, dp = (d + 7) / 8 * 8;
    kv8_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->dp = dp;
    st->k8 = malloc((size_t)(heads * n) * (size_t)dp);
    st->v8 = malloc((size_t)(heads * n) * (size_t)dp);
    st->sk = malloc((size_t)(heads * dp) * sizeof(float));
    st->sv = malloc((size_t)(heads * dp) * sizeof(float));
    if (!st->k8 || !st->v8 || !st->sk || !st->sv)
        return JB_ENOMEM; /* the caller's teardown frees what was made */
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < heads; bh++) {
        const size_t in = (size_t)(bh * n) * (size_t)d, out = (size_t)(bh * n) * (size_t)dp;
        quantize_head(e->in[1] + in, n, d, dp, st->k8 + out, st->sk + bh * dp);
        quantize_head(e->in[2] + in, n, d, dp, st->v8 + out, st->sv + bh * dp);
    }
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const kv8_state *st = e->state;
    const jb_problem *p = e->p;
    if (!st)
        return JB_EINVAL;
    const int64_t heads = p->b * p->h, n = p->seq, d = p->d, dp = st->dp;
    memcpy(deq[0], e->in[0], jb_problem_input_elems(p, 0) * sizeof(float));
    for (int64_t bh = 0; bh < heads; bh++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t c = 0; c < d; c++) {
                const int64_t r = bh * n + j;
                deq[1][r * d + c] = (float)st->k8[r * dp + c] * st->sk[bh * dp + c];
                deq[2][r * d + c] = (float)st->v8[r * dp + c] * st->sv[bh * dp + c];
            }
    return JB_OK;
}

static void prep_q(const void *vctx, int64_t bh, int64_t qrow, int64_t rows, float *qs)
{
    const int8_ctx *c = vctx;
    const int64_t d = c->d, dp = c->st->dp;
    const float *sk = c->st->sk + bh * dp;
    for (int64_t i = 0; i < rows; i++) {
        const float *qi = c->q + (qrow + i) * d;
        float *o = qs + i * dp;
        for (int64_t x = 0; x < dp; x++)
            o[x] = x < d ? qi[x] * c->scale * sk[x] : 0.0f;
    }
}

static const float *vscale(const void *vctx, int64_t bh)
{
    const int8_ctx *c = vctx;
    return c->st->sv + bh * c->st->dp;
}

/* ---- portable ----------------------------------------------------------- */

static void step_portable(const void *vctx, int64_t bh, int64_t rows, const float *qs, int64_t jk, int64_t nk,
                          float *s, int64_t jv, int64_t nv, const float *p, float *acc)
{
    const int8_ctx *c = vctx;
    const int64_t dp = c->st->dp, nmax = nk > nv ? nk : nv;
    const int8_t *k = c->st->k8 + (bh * c->n + jk) * dp, *v = c->st->v8 + (bh * c->n + jv) * dp;
    for (int64_t r = 0; r < nmax; r++) {
        for (int64_t i = 0; i < rows && r < nk; i++) {
            const float *qi = qs + i * dp;
            const int8_t *kr = k + r * dp;
            float a[8] = {0};
            for (int64_t x = 0; x < dp; x += 8)
                for (int u = 0; u < 8; u++)
                    a[u] += qi[x + u] * (float)kr[x + u];
            s[i * JB_SPLITKV_BLOCK + r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
        for (int64_t i = 0; i < rows && r < nv; i++) {
            const float pr = p[i * JB_SPLITKV_BLOCK + r];
            const int8_t *vr = v + r * dp;
            float *ai = acc + i * dp;
            for (int64_t x = 0; x < dp; x++)
                ai[x] += pr * (float)vr[x];
        }
    }
}

#ifdef JB_VEXP_X86

/* Eight int8 values at p, widened to fp32. */
JB_VEXP_AVX2 static inline __m256 load8_s8(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Unlike the fp32 kernel (whose rows are 4x longer), two rows per pass:
 * they are adjacent (2 dp bytes), and sharing the loads of qs and of acc
 * between them measured 20% faster, this kernel being nearer its
 * instruction limit than its memory limit. */
JB_VEXP_AVX2 static inline void dot2_avx2(const float *q, const int8_t *k, int64_t dp, float *s0, float *s1)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
    int64_t x = 0;
    for (; x + 16 <= dp; x += 16) {
        const __m256 q0 = _mm256_load_ps(q + x), q1 = _mm256_load_ps(q + x + 8);
        a0 = _mm256_fmadd_ps(load8_s8(k + x), q0, a0);
        a1 = _mm256_fmadd_ps(load8_s8(k + x + 8), q1, a1);
        b0 = _mm256_fmadd_ps(load8_s8(k + dp + x), q0, b0);
        b1 = _mm256_fmadd_ps(load8_s8(k + dp + x + 8), q1, b1);
    }
    if (x < dp) {
        const __m256 q0 = _mm256_load_ps(q + x);
        a0 = _mm256_fmadd_ps(load8_s8(k + x), q0, a0);
        b0 = _mm256_fmadd_ps(load8_s8(k + dp + x), q0, b0);
    }
    *s0 = jb_hsum_avx2(_mm256_add_ps(a0, a1));
    *s1 = jb_hsum_avx2(_mm256_add_ps(b0, b1));
}

JB_VEXP_AVX2 static inline float dot_avx2(const float *q, const int8_t *k, int64_t dp)
{
    __m256 a = _mm256_setzero_ps();
    for (int64_t x = 0; x < dp; x += 8)
        a = _mm256_fmadd_ps(load8_s8(k + x), _mm256_load_ps(q + x), a);
    return jb_hsum_avx2(a);
}

/* acc += p0 v[0] + p1 v[1] (rows dp apart); p1 = 0 for one row. */
JB_VEXP_AVX2 static inline void axpy2_avx2(float *acc, float p0, float p1, const int8_t *v, int64_t dp, int two)
{
    const __m256 b0 = _mm256_set1_ps(p0), b1 = _mm256_set1_ps(p1);
    for (int64_t x = 0; x < dp; x += 8) {
        __m256 a = _mm256_fmadd_ps(b0, load8_s8(v + x), _mm256_load_ps(acc + x));
        if (two)
            a = _mm256_fmadd_ps(b1, load8_s8(v + dp + x), a);
        _mm256_store_ps(acc + x, a);
    }
}

JB_VEXP_AVX2 static void step_avx2(const void *vctx, int64_t bh, int64_t rows, const float *qs, int64_t jk,
                                   int64_t nk, float *s, int64_t jv, int64_t nv, const float *p, float *acc)
{
    const int8_ctx *c = vctx;
    const int64_t dp = c->st->dp, B = JB_SPLITKV_BLOCK;
    const int8_t *k = c->st->k8 + (bh * c->n + jk) * dp, *v = c->st->v8 + (bh * c->n + jv) * dp;
    int64_t rk = 0, rv = 0;
    /* Two key rows, then two value rows, while both last. */
    while (rk < nk || rv < nv) {
        if (rk + 2 <= nk) {
            for (int64_t i = 0; i < rows; i++)
                dot2_avx2(qs + i * dp, k + rk * dp, dp, &s[i * B + rk], &s[i * B + rk + 1]);
            rk += 2;
        } else if (rk < nk) {
            for (int64_t i = 0; i < rows; i++)
                s[i * B + rk] = dot_avx2(qs + i * dp, k + rk * dp, dp);
            rk++;
        }
        if (rv + 2 <= nv) {
            for (int64_t i = 0; i < rows; i++)
                axpy2_avx2(acc + i * dp, p[i * B + rv], p[i * B + rv + 1], v + rv * dp, dp, 1);
            rv += 2;
        } else if (rv < nv) {
            for (int64_t i = 0; i < rows; i++)
                axpy2_avx2(acc + i * dp, p[i * B + rv], 0.0f, v + rv * dp, dp, 0);
            rv++;
        }
    }
}

#endif /* JB_VEXP_X86 */

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const kv8_state *st = e->state;
    if (!st)
        return JB_EINVAL;
    const int8_ctx ctx = {.st = st, .q = e->in[0], .n = p->seq, .d = p->d,
                          .scale = (float)(1.0 / sqrt((double)p->d))};
    jb_splitkv_ops ops = {.ctx = &ctx, .prep_q = prep_q, .step = step_portable, .vscale = vscale};
#ifdef JB_VEXP_X86
    /* AVX-512 machines take the AVX2 path: no AVX-512 code here until it can be tested. */
    if (jb_cpu_isa() >= JB_ISA_AVX2)
        ops.step = step_avx2;
#endif
    return jb_splitkv_run(e, &ops);
}

/* Q and O at fp32, the cached K and V at one byte, and their per-head,
 * per-channel scales. */
static double bytes_int8_cache(const jb_problem *p)
{
    const double bhd = (double)p->b * (double)p->h * (double)p->d;
    return 4.0 * bhd * 2.0 * (double)jb_attention_q(p) + 2.0 * bhd * (double)p->seq + 2.0 * 4.0 * bhd;
}

const jb_kernel jb_k_attention_cpu_splitkv_int8 = {
    .name = "attention/cpu/splitkv/int8",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "splitkv",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "split-KV decode over an int8 KV cache (per-head, per-channel scales), fp32 Q, softmax and accumulation",
    .decode = 1,
    .min_bytes = bytes_int8_cache,
    .workspace_size = jb_splitkv_workspace,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
