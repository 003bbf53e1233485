/*
 * matmul/cpu/blocked/w8 and matmul/cpu/blocked/w4: weight-only quantized
 * GEMM, the kernel that serves LLMs on CPUs. A and C stay fp32; setup
 * (untimed) quantizes B into Q8_0 or Q4_0 blocks (one fp32 scale per 32 k
 * values of a column) laid out in panels of 16 columns (wq.h), and the timed
 * run dequantizes them inside the micro-kernels (ukernel_wq.c). The threads
 * split the panels (OpenMP, static), so each streams its own contiguous part
 * of the packed B, once:
 *   m <= DIRECT_MAX_M (decode): A is prepared once (jb_wq_prepare_a, into
 *     the workspace), then per panel the fused kernel takes the rows four at
 *     a time;
 *   larger m: per panel and block of MC rows, JB_WQ_KC k values of the panel
 *     at a time are dequantized into the thread's part of the workspace and
 *     the rows multiplied by them with an fp32 kernel, so each code is
 *     dequantized once per block of MC rows.
 * The oracle sees the dequantized B (dequantized_inputs), so the check is of
 * the kernel, not of the quantization.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "wq.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Up to this many rows, converting a panel's codes again per four rows (in
 * registers) costs no more than dequantizing them once through memory
 * (measured at m = 8 to 32 on Zen 3: within the noise from 8 to 16). */
#define DIRECT_MAX_M 8
/* Rows of A that pass over one dequantized block (JB_WQ_KC x 16 floats,
 * 16 KiB, in L1) when m is larger: their JB_WQ_KC columns (96 KiB) stay in
 * L2 from one panel to the next. A multiple of JB_WQ_MR_ROWS. */
#define MC 96

typedef struct state {
    jb_wq_format fmt;
    int64_t panels;
    size_t panel_bytes;
    uint8_t *packed; /* panels * panel_bytes, 64-byte aligned */
} state;

static size_t thread_ws_bytes(void)
{
    return (size_t)JB_WQ_KC * JB_WQ_NR * sizeof(float);
}

/* The fused kernels' A, prepared once per run (jb_wq_prepare_a): rows of
 * whole groups, then one correction per row and group. */
static size_t prep_a_bytes(const jb_problem *p)
{
    const int64_t ng = (p->k + JB_WQ_GROUP - 1) / JB_WQ_GROUP;
    return ((size_t)(p->m * ng * JB_WQ_GROUP) * sizeof(float) + 63) / 64 * 64;
}

static size_t workspace_size(const jb_problem *p)
{
    const int64_t ng = (p->k + JB_WQ_GROUP - 1) / JB_WQ_GROUP;
    if (p->m <= DIRECT_MAX_M)
        return prep_a_bytes(p) + (size_t)(p->m * ng) * sizeof(float);
    return thread_ws_bytes() * (size_t)jb_cpu_threads();
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->packed);
    free(st);
    e->state = NULL;
}

static int setup_format(jb_exec *e, jb_wq_format f)
{
    const jb_problem *p = e->p;
    const int64_t n = p->n, k = p->k;
    const int64_t groups = (k + JB_WQ_GROUP - 1) / JB_WQ_GROUP, panels = (n + JB_WQ_NR - 1) / JB_WQ_NR;
    const size_t bb = jb_wq_block_bytes(f);
    size_t panel_bytes, total;
    if (__builtin_mul_overflow((size_t)groups, bb, &panel_bytes) ||
        __builtin_mul_overflow(panel_bytes, (size_t)panels, &total))
        return JB_ENOMEM;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->fmt = f;
    st->panels = panels;
    st->panel_bytes = panel_bytes;
    st->packed = aligned_alloc(64, total); /* blocks are multiples of 64 bytes */
    if (!st->packed) {
        teardown(e);
        return JB_ENOMEM;
    }
    const float *b = e->in[1];
    uint8_t *packed = st->packed;
#pragma omp parallel for schedule(static)
    for (int64_t pi = 0; pi < panels; pi++)
        for (int64_t g = 0; g < groups; g++)
            jb_wq_pack_block(f, b + g * JB_WQ_GROUP * n + pi * JB_WQ_NR, n,
                             (int)jb_min64(JB_WQ_GROUP, k - g * JB_WQ_GROUP), (int)jb_min64(JB_WQ_NR, n - pi * JB_WQ_NR),
                             packed + (size_t)pi * panel_bytes + (size_t)g * bb);
    return JB_OK;
}

static int setup_w8(jb_exec *e)
{
    return setup_format(e, JB_WQ_Q8_0);
}

static int setup_w4(jb_exec *e)
{
    return setup_format(e, JB_WQ_Q4_0);
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    memcpy(deq[0], e->in[0], (size_t)(m * k) * sizeof(float));
    const size_t bb = jb_wq_block_bytes(st->fmt);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++) {
            const uint8_t *blk = st->packed + (size_t)(j / JB_WQ_NR) * st->panel_bytes + (size_t)(l / JB_WQ_GROUP) * bb;
            deq[1][l * n + j] = jb_wq_block_value(st->fmt, blk, (int)(l % JB_WQ_GROUP), (int)(j % JB_WQ_NR));
        }
    return JB_OK;
}

static int run(jb_exec *e)
{
    const state *st = e->state;
    if (!st)
        return JB_EINVAL;
    const jb_wq_ukr *u = jb_wq_ukr_get();
    const jb_wq_format f = st->fmt;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k, np = st->panels;
    const float *a = e->in[0];
    float *c = e->out;
    const uint8_t *packed = st->packed;
    const size_t panel_bytes = st->panel_bytes;
    int threads = (int)jb_min64(jb_cpu_threads(), np);
    (void)threads; /* used only by the pragmas, absent without OpenMP */

    if (m <= DIRECT_MAX_M) {
        const int64_t ng = (k + JB_WQ_GROUP - 1) / JB_WQ_GROUP, lda = ng * JB_WQ_GROUP;
        const size_t abytes = prep_a_bytes(e->p);
        if (!e->ws || e->ws_size < abytes + (size_t)(m * ng) * sizeof(float))
            return JB_EINVAL;
        float *ap = e->ws, *corr = (float *)(void *)((unsigned char *)e->ws + abytes);
        jb_wq_prepare_a(f, m, k, a, ap, lda, corr, ng);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t pi = 0; pi < np; pi++) {
            const int nc = (int)jb_min64(JB_WQ_NR, n - pi * JB_WQ_NR);
            for (int64_t i = 0; i < m; i += JB_WQ_MR_DIRECT)
                u->direct[f]((int)jb_min64(JB_WQ_MR_DIRECT, m - i), ng, ap + i * lda, lda, corr + i * ng, ng,
                             packed + (size_t)pi * panel_bytes, c + i * n + pi * JB_WQ_NR, n, nc);
        }
        return JB_OK;
    }

    const size_t per = thread_ws_bytes();
    if (!e->ws || e->ws_size < per)
        return JB_EINVAL;
    /* Tasks: a panel times a block of MC rows, panel-major, so that a
     * thread's tasks walk the packed B front to back, and a B of few panels
     * still gives every thread work when m is large. */
    const int64_t nmb = (m + MC - 1) / MC, ntasks = np * nmb;
    threads = (int)jb_min64(jb_min64(jb_cpu_threads(), ntasks), (int64_t)(e->ws_size / per));
    const size_t bb = jb_wq_block_bytes(f);
    unsigned char *ws = e->ws;
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *w = (float *)(void *)(ws + (size_t)t * per);
#pragma omp for schedule(static)
        for (int64_t task = 0; task < ntasks; task++) {
            const int64_t pi = task / nmb, i0 = task % nmb * MC, i1 = jb_min64(m, i0 + MC);
            const int nc = (int)jb_min64(JB_WQ_NR, n - pi * JB_WQ_NR);
            const uint8_t *panel = packed + (size_t)pi * panel_bytes;
            for (int64_t k0 = 0; k0 < k; k0 += JB_WQ_KC) {
                const int64_t kc = jb_min64(JB_WQ_KC, k - k0);
                u->dequant[f]((kc + JB_WQ_GROUP - 1) / JB_WQ_GROUP, panel + (size_t)(k0 / JB_WQ_GROUP) * bb, w);
                for (int64_t i = i0; i < i1; i += JB_WQ_MR_ROWS)
                    u->rows((int)jb_min64(JB_WQ_MR_ROWS, i1 - i), kc, a + i * k + k0, k, w, c + i * n + pi * JB_WQ_NR,
                            n, k0 > 0, nc);
            }
        }
    }
    return JB_OK;
}

/* A and C at fp32, B at its stored size: the codes and an fp32 scale per 32. */
static double bytes_w8(const jb_problem *p)
{
    return 4.0 * (double)p->m * (double)p->k + (1.0 + 4.0 / 32) * (double)p->k * (double)p->n +
           4.0 * (double)p->m * (double)p->n;
}
static double bytes_w4(const jb_problem *p)
{
    return 4.0 * (double)p->m * (double)p->k + (0.5 + 4.0 / 32) * (double)p->k * (double)p->n +
           4.0 * (double)p->m * (double)p->n;
}

const jb_kernel jb_k_matmul_cpu_blocked_w8 = {
    .name = "matmul/cpu/blocked/w8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_W8,
    .tolerance = 1e-5,
    .summary = "fp32 A, B in Q8_0 blocks (int8, fp32 scale per 32 k; quantized in setup), dequantized in the "
               "micro-kernel (AVX2/C), OpenMP over 16-column panels",
    .workspace_size = workspace_size,
    .setup = setup_w8,
    .run = run,
    .teardown = teardown,
    .min_bytes = bytes_w8,
    .dequantized_inputs = dequantized_inputs,
};

const jb_kernel jb_k_matmul_cpu_blocked_w4 = {
    .name = "matmul/cpu/blocked/w4",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_W4,
    .tolerance = 1e-5,
    .summary = "fp32 A, B in Q4_0 blocks (4-bit, fp32 scale per 32 k; quantized in setup), dequantized in the "
               "micro-kernel (AVX2/C), OpenMP over 16-column panels",
    .workspace_size = workspace_size,
    .setup = setup_w4,
    .run = run,
    .teardown = teardown,
    .min_bytes = bytes_w4,
    .dequantized_inputs = dequantized_inputs,
};
