/*
 * matmul/cpu/blocked/bf16: C = A*B with bf16 inputs and fp32 accumulation on
 * AVX-512 BF16. Setup (untimed) rounds A and B to bf16, to nearest even; the
 * timed run is jb_gemm_run over the bf16 descriptor (ukernel_bf16.c), which
 * packs bf16 panels and runs a 14x32 micro-kernel, with the blocking and
 * threading of matmul/cpu/blocked/f32; the oracle sees the bf16-rounded
 * values through dequantized_inputs. There is no fallback: without AVX-512
 * BF16 the kernel is unavailable.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Round to nearest even; inputs are finite. */
static uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static int available(char *why, size_t len)
{
    if (jb_cpu_has_avx512_bf16())
        return JB_OK;
    snprintf(why, len, "CPU lacks AVX-512 BF16");
    return JB_EUNAVAILABLE;
}

/* What setup makes: A [m][k2] and B [k2][n] in bf16, k2 = k rounded up to 2
 * (the padding is zero). */
typedef struct state {
    int64_t k2;
    uint16_t *a, *b;
} state;

static size_t workspace_size(const jb_problem *p)
{
    const jb_gemm_driver *d = jb_bf16gemm_kernel_get();
    return d ? jb_gemm_workspace_size(d, p->m, p->n, jb_round_up(p->k, 2), jb_cpu_threads()) : 0;
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->a);
    free(st->b);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k, k2 = jb_round_up(k, 2);
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->k2 = k2;
    st->a = calloc((size_t)(m * k2), sizeof(uint16_t));
    st->b = calloc((size_t)(k2 * n), sizeof(uint16_t));
    if (!st->a || !st->b) {
        teardown(e);
        return JB_ENOMEM;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < k; l++)
            st->a[i * k2 + l] = to_bf16(e->in[0][i * k + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            st->b[l * n + j] = to_bf16(e->in[1][l * n + j]);
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
            deq[0][i * k + l] = from_bf16(st->a[i * st->k2 + l]);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = from_bf16(st->b[l * n + j]);
    return JB_OK;
}

static int run(jb_exec *e)
{
    const state *st = e->state;
    const jb_gemm_driver *d = jb_bf16gemm_kernel_get();
    if (!st)
        return JB_EINVAL;
    if (!d || !jb_cpu_has_avx512_bf16())
        return JB_EUNAVAILABLE;
    const jb_gemm_args g = {
        .m = e->p->m,
        .n = e->p->n,
        .k = st->k2,
        .a = st->a,
        .lda = st->k2,
        .b = st->b,
        .ldb = e->p->n,
        .c = e->out,
        .ldc = e->p->n,
    };
    return jb_gemm_run(d, &g, e->ws, e->ws_size);
}

const jb_kernel jb_k_matmul_cpu_blocked_bf16 = {
    .name = "matmul/cpu/blocked/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "bf16 A and B (rounded in setup), fp32 accumulation with AVX-512 BF16 vdpbf16ps, 14x32 tiles, OpenMP",
    .available = available,
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .dequantized_inputs = dequantized_inputs,
};
