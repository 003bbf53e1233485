/*
 * attention/cpu/flash/f32: FlashAttention-2 on the CPU. Each task is one
 * query tile (48 rows) of one head; it walks the key/value tiles (64 keys)
 * keeping a running max and sum per query and rescaling its output
 * accumulator as the max grows (flash_tile.h), so no more than one 64 x 48
 * tile of scores ever exists per thread and the workspace does not depend
 * on n. Causal: tiles wholly after the tile's last query are never visited,
 * the diagonal ones are masked. Decode (q < n) tiles the q query rows the
 * same way, at their positions n - q + i (one tile for q <= 48, mostly
 * padding when q is 1: this kernel is built for self-attention).
 *
 * Scores are computed transposed, S^T = K Q^T: the query tile is packed once,
 * transposed and pre-scaled by log2(e)/sqrt(d), into qt[l][i], and the
 * micro-kernels of flash_scores_f32.h (shared with attention/cpu/flash/bf16)
 * broadcast K[j][l] from K itself against it, the same shape as the P*V
 * micro-kernel, so both products run as register-blocked broadcast FMAs at
 * near the FMA peak.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "flash_scores_f32.h"
#include "flash_tile.h"

#include <math.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct scores_ctx {
    const float *qt; /* [d][BR], pre-scaled */
    const float *k;  /* the head's K[n][d] */
} scores_ctx;

static size_t thread_floats(int64_t d)
{
    size_t f = (size_t)d * JB_FLASH_BR + jb_flash_tile_floats(d);
    return (f + 15) / 16 * 16; /* keep every thread's slice 64-byte aligned */
}

static size_t workspace(const jb_problem *p)
{
    return (size_t)jb_cpu_threads() * thread_floats(p->d) * sizeof(float);
}

/* qt[l][i] = c * Q[i0+i][l], zero past the last query so padded lanes stay finite. */
static void pack_q(float *qt, const float *q, int64_t rows, int64_t d, float c)
{
    for (int64_t i = 0; i < JB_FLASH_BR; i++)
        for (int64_t l = 0; l < d; l++)
            qt[l * JB_FLASH_BR + i] = i < rows ? c * q[i * d + l] : 0.0f;
}

static void scores_portable(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    jb_flash_scores_f32_portable(ctx->qt, ctx->k + j0 * t->d, t, j0, kc, mask);
}

#ifdef JB_VEXP_X86
JB_VEXP_AVX512 static void scores_avx512(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    jb_flash_scores_f32_avx512(ctx->qt, ctx->k + j0 * t->d, t, j0, kc, mask);
}

JB_VEXP_AVX2 static void scores_avx2(const void *vctx, jb_flash_tile *t, int64_t j0, int64_t kc, int mask)
{
    const scores_ctx *ctx = vctx;
    jb_flash_scores_f32_avx2(ctx->qt, ctx->k + j0 * t->d, t, j0, kc, mask);
}
#endif

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, heads = p->b * p->h;
    const int64_t ntiles = (nq + JB_FLASH_BR - 1) / JB_FLASH_BR, ntasks = heads * ntiles;
    const float c = (float)(1.4426950408889634 / sqrt((double)d));
    const size_t per_thread = thread_floats(d);
    /* Never more threads than the workspace has slices for, whatever the
     * thread count was when it was sized. */
    int nthreads = jb_cpu_threads();
    if ((size_t)nthreads * per_thread * sizeof(float) > e->ws_size)
        nthreads = (int)(e->ws_size / (per_thread * sizeof(float)));
    if (nthreads < 1)
        return JB_EINVAL;
    const jb_isa isa = jb_cpu_isa();
    jb_flash_scores_fn scores = scores_portable;
#ifdef JB_VEXP_X86
    if (isa == JB_ISA_AVX512)
        scores = scores_avx512;
    else if (isa == JB_ISA_AVX2)
        scores = scores_avx2;
#endif
    float *ws = e->ws;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t task = 0; task < ntasks; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *qt = ws + (size_t)tid * per_thread;
        jb_flash_tile t;
        jb_flash_tile_init(&t, qt + d * JB_FLASH_BR, d);
        /* Last query tiles first: under a causal mask they are the longest,
         * and handing them out early balances the threads. */
        const int64_t tile = ntiles - 1 - task / heads, bh = task % heads;
        const int64_t i0 = tile * JB_FLASH_BR, rows = nq - i0 < JB_FLASH_BR ? nq - i0 : JB_FLASH_BR;
        const size_t head = (size_t)bh * (size_t)n * (size_t)d;
        const size_t qrow = ((size_t)bh * (size_t)nq + (size_t)i0) * (size_t)d; /* the tile's first Q and O row */
        pack_q(qt, e->in[0] + qrow, rows, d, c);
        const scores_ctx ctx = {.qt = qt, .k = e->in[1] + head};
        jb_flash_query_tile(isa, &t, n - nq + i0, rows, n, p->causal, scores, NULL, &ctx, e->in[2] + head,
                            e->out + qrow);
    }
    return JB_OK;
}

const jb_kernel jb_k_attention_cpu_flash_f32 = {
    .name = "attention/cpu/flash/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "flash",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "FlashAttention-2: 48x64 tiles, online softmax, broadcast-FMA micro-kernels, causal tiles skipped",
    .decode = 1,
    .workspace_size = workspace,
    .run = run,
};
