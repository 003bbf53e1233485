/*
 * matmul/cpu/blocked/bf16: C = A*B with bf16 inputs and fp32 accumulation, on
 * every CPU. Setup (untimed) rounds A and B to bf16, to nearest even, and
 * picks the path (bf16.h): the AVX-512 BF16 dot product where the CPU has it
 * and its measured peak beats fp32 FMA's (jb_gemm_run over the bf16
 * descriptor, ukernel_bf16.c: bf16 panels, a 14x32 vdpbf16ps micro-kernel),
 * else the fp32 path (jb_gemm_run over jb_bf16gemm_wide_get(): the bf16
 * operands widened to fp32 while packed into the f32 micro-kernel's panels,
 * with the blocking and threading of matmul/cpu/blocked/f32). With packed=0
 * the timed run reads bf16 A and B and packs both; with packed=1 setup packs
 * all of B once (jb_gemm_prepack_b, into the path's panels) and the run packs
 * only A. The oracle sees the bf16-rounded values through dequantized_inputs. AMX is not used
 * here: matmul/cpu/amx/bf16 is its own kernel.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "bf16.h"
#include "gemm_ukernel.h"

#include <stdlib.h>
#include <string.h>

static int available(char *why, size_t len)
{
    jb_bf16_path path;
    return jb_bf16_path_get(&path, 0, why, len) ? JB_EUNAVAILABLE : JB_OK;
}

/* What setup makes: A [m][k2] and B [k2][n] in bf16, k2 = k rounded up to 2
 * (the padding is zero). */
typedef struct state {
    jb_bf16_path path;
    int64_t k2;
    uint16_t *a, *b;
    const jb_gemm_driver *d; /* the path's descriptor */
    void *pb;                /* packed=1: all of B in its layout */
} state;

static size_t driver_workspace(const jb_gemm_driver *d, const jb_problem *p)
{
    const int64_t k2 = jb_round_up(p->k, 2);
    if (!d)
        return 0;
    return p->packed ? jb_gemm_workspace_size_prepacked(d, p->m, k2, jb_cpu_threads())
                     : jb_gemm_workspace_size(d, p->m, p->n, k2, jb_cpu_threads());
}

/* Enough for either path, so a path forced between sizing and setup fits. */
static size_t workspace_size(const jb_problem *p)
{
    const size_t wide = driver_workspace(jb_bf16gemm_wide_get(), p), dot = driver_workspace(jb_bf16gemm_kernel_get(), p);
    return wide > dot ? wide : dot;
}

static const char *path(const jb_problem *p, jb_family *family)
{
    jb_bf16_path bp;
    (void)p;
    if (jb_bf16_path_get(&bp, 0, NULL, 0))
        bp = JB_BF16_PATH_FP32;
    *family = bp == JB_BF16_PATH_DOT ? JB_FAM_BF16_DOT : JB_FAM_FP32_FMA;
    return jb_bf16_path_name(bp);
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->a);
    free(st->b);
    free(st->pb);
    free(st);
    e->state = NULL;
}

/* packed=1: all of B, once, in the layout the path's driver reads. */
static int prepack_b(state *st, int64_t n)
{
    if (!(st->pb = aligned_alloc(64, jb_gemm_prepack_b_bytes(st->d, st->k2, n))))
        return JB_ENOMEM;
    jb_gemm_prepack_b(st->d, st->k2, n, st->b, n, st->pb);
    return JB_OK;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k, k2 = jb_round_up(k, 2);
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    int rc = jb_bf16_path_get(&st->path, 0, e->why, sizeof e->why);
    if (rc)
        return rc;
    st->d = st->path == JB_BF16_PATH_DOT ? jb_bf16gemm_kernel_get() : jb_bf16gemm_wide_get();
    st->k2 = k2;
    st->a = calloc((size_t)(m * k2), sizeof(uint16_t));
    st->b = calloc((size_t)(k2 * n), sizeof(uint16_t));
    if (!st->a || !st->b) {
        teardown(e);
        return JB_ENOMEM;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            st->a[i * k2 + l] = jb_bf16_round(e->in[0][i * k + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            st->b[l * n + j] = jb_bf16_round(e->in[1][l * n + j]);
    return p->packed ? prepack_b(st, n) : JB_OK;
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = jb_bf16_float(st->a[i * st->k2 + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = jb_bf16_float(st->b[l * n + j]);
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
        .k = st->k2,
        .a = st->a,
        .lda = st->k2,
        .b = st->b,
        .ldb = e->p->n,
        .b_packed = st->pb,
        .c = e->out,
        .ldc = e->p->n,
    };
    return jb_gemm_run(st->d, &g, e->ws, e->ws_size);
}

const jb_kernel jb_k_matmul_cpu_blocked_bf16 = {
    .name = "matmul/cpu/blocked/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "bf16 A and B (rounded in setup), fp32 accumulation: AVX-512 BF16 vdpbf16ps 14x32 where it beats fp32 "
               "FMA, else widened to fp32 while packing (AVX-512/AVX2/C f32 micro-kernels), OpenMP; packed=1 packs B in "
               "setup",
    .available = available,
    .path = path,
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
