/*
 * matmul/cpu/blocked/int8: the quantized GEMM. Setup (untimed) quantizes A
 * per row and B per column to symmetric int8 (q = round(x / s), s = max|x| /
 * 127) and stores A directly in the micro-kernel's panel layout (it is the
 * kernel's own quantized copy; oneDNN's int8 matmul likewise reads its s8 A
 * in place, without a copy). B is kept row-major, like the plain s8 weights
 * oneDNN gets, and packed in the timed run; with packed=1 setup also packs
 * all of the quantized B (jb_gemm_prepack_b, comp included), as a server
 * holds its int8 weights, and the run reads it as it is. Either way B is
 * quantized in setup: packed moves only the layout conversion. The run
 * multiplies the panels with 32-bit integer accumulation, then writes
 * C[i][j] = acc * sa[i] * sb[j] in fp32: jb_gemm_run over the int8
 * descriptor for this CPU (AVX-512 VNNI, AVX2 or portable C;
 * ukernel_int8.c), whose threads, when they split only the columns, each
 * pack the B panels they alone read on first use, without barriers.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#include <math.h>
#include <stdlib.h>

/* What setup makes: int8 A already in the micro-kernel's panels (A is
 * quantized here, so it is stored in the layout its one reader wants) and B
 * [k4][n] row-major, with k4 = k rounded up to 4 (the padding is zero), and
 * the scales, padded with zeros past m and n so edge tiles read defined
 * values. B stays row-major and is packed in the timed run, as oneDNN's
 * matmul, given plain s8 weights, copies them into its blocks in its run. */
typedef struct state {
    const jb_gemm_driver *kr;
    int64_t k4;
    int8_t *pa, *qb;
    void *pb; /* packed=1: qb pre-packed (qb stays, for dequantized_inputs) */
    float *sa, *sb;
} state;

static size_t workspace_size(const jb_problem *p)
{
    const jb_gemm_driver *d = jb_s8gemm_kernel_get();
    const int64_t k4 = jb_round_up(p->k, 4);
    return p->packed ? jb_gemm_workspace_size_prepacked(d, p->m, k4, jb_cpu_threads())
                     : jb_gemm_workspace_size(d, p->m, p->n, k4, jb_cpu_threads());
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->pa);
    free(st->qb);
    free(st->pb);
    free(st->sa);
    free(st->sb);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k, k4 = jb_round_up(k, 4);
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kr = jb_s8gemm_kernel_get();
    st->k4 = k4;
    int8_t *qa = calloc((size_t)(m * k4), 1);
    st->pa = malloc(jb_s8gemm_apack_bytes(st->kr, m, k4));
    st->qb = calloc((size_t)(k4 * n), 1);
    st->sa = calloc((size_t)(m + JB_GEMM_MR_MAX), sizeof(float));
    st->sb = calloc((size_t)(n + JB_GEMM_NR_MAX), sizeof(float));
    if (!qa || !st->pa || !st->qb || !st->sa || !st->sb) {
        free(qa);
        teardown(e);
        return JB_ENOMEM;
    }
    jb_quantize_rows_s8(e->in[0], m, k, k, qa, k4, st->sa);
    jb_s8gemm_pack_a(st->kr, m, k4, qa, st->pa);
    free(qa);
    jb_quantize_cols_s8(e->in[1], k, n, n, st->qb, n, st->sb);
    if (p->packed) {
        if (!(st->pb = aligned_alloc(64, jb_gemm_prepack_b_bytes(st->kr, k4, n))))
            return JB_ENOMEM;
        jb_gemm_prepack_b(st->kr, k4, n, st->qb, n, st->pb);
    }
    return JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = (float)jb_s8gemm_a_at(st->kr, st->pa, m, st->k4, i, l) * st->sa[i];
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = (float)st->qb[l * n + j] * st->sb[j];
    return JB_OK;
}

static int run(jb_exec *e)
{
    const state *st = e->state;
    if (!st)
        return JB_EINVAL;
    const jb_gemm_args g = {
        .m = e->p->m,
        .n = e->p->n,
        .k = st->k4,
        .a = st->pa,
        .b = st->qb,
        .ldb = e->p->n,
        .b_packed = st->pb,
        .c = e->out,
        .ldc = e->p->n,
        .sa = st->sa,
        .sb = st->sb,
    };
    return jb_gemm_run(st->kr, &g, e->ws, e->ws_size);
}

/* The int8 dot product of the micro-kernel jb_s8gemm_kernel_get picks here
 * (portable C below AVX2, where the CPU has no int8 family: no % of peak). */
static const char *path(const jb_problem *p, jb_family *family)
{
    (void)p;
    *family = JB_FAM_INT8_DOT;
    if (jb_cpu_has_avx512_vnni())
        return "avx512_vnni";
    return jb_cpu_isa() >= JB_ISA_AVX2 ? "avx2_int8" : "portable";
}

const jb_kernel jb_k_matmul_cpu_blocked_int8 = {
    .name = "matmul/cpu/blocked/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "int8 A per row (stored pre-packed in setup), B per column (packed in run, or in setup with "
               "packed=1); s32 accumulation (AVX-512 VNNI/AVX2/C), OpenMP",
    .path = path,
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
