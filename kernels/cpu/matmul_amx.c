/*
 * matmul/cpu/amx/bf16 and matmul/cpu/amx/int8: C = A*B on the AMX tiles
 * (Sapphire Rapids and later), through the engine of amx_gemm.c (32x32 C
 * blocks, each a 2x2 arrangement of 16x16 C tiles, from packed panels: A in
 * 32-row panels whose tiles load with a 64-byte stride, B in 32-column
 * panels, VNNI-interleaved; see amx.h).
 *   bf16: setup rounds A and B to bf16 (nearest even), like
 *         matmul/cpu/blocked/bf16; the run packs all of A and B (the threads
 *         split the panels), one barrier, then computes; fp32 accumulation.
 *   int8: setup quantizes like matmul/cpu/blocked/int8 (A per row, B per
 *         column, symmetric, |q| <= 127) and stores A already packed (its own
 *         quantized copy, as that kernel does); the run packs B, then
 *         computes with tdpbssd (s8 x s8, so no +128 shift and no column-sum
 *         compensation), keeping the int32 sums in C itself until the whole
 *         of k is done, then scales them: C = sum * sb[j] * sa[i].
 * With packed=1, B is packed in setup instead (pre-packed weights).
 *
 * The kernels are unavailable unless jb_cpu_has_amx_*() says yes (CPU bit,
 * JB_ISA cap, the kernel's tile permission), or a test set emulated tile
 * ops (jb_amx_set_test_ops, never the program).
 */
#include "../jb_kernels.h"
#include "amx.h"
#include "bf16.h"
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul/cpu/amx/bf16 -------------------------------------------------- */

/* What setup makes. bf16: a16 [m][k], b16 [k][n]; int8: pa (A quantized and
 * packed), qb [k][n], the scales. pb: B packed in setup (packed=1), else NULL. */
typedef struct state {
    int64_t kb;
    uint16_t *a16, *b16;
    unsigned char *pa;
    int8_t *qb;
    float *sa, *sb;
    unsigned char *pb;
} state;

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->a16);
    free(st->b16);
    free(st->pa);
    free(st->qb);
    free(st->sa);
    free(st->sb);
    free(st->pb);
    free(st);
    e->state = NULL;
}

static const char *path_bf16(const jb_problem *p, jb_family *family)
{
    (void)p;
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    *family = JB_FAM_AMX_BF16;
    return ops ? ops->name : "amx";
}

static int available_bf16(char *why, size_t len) { return jb_amx_ops_for(0, why, len) ? JB_OK : JB_EUNAVAILABLE; }

/* Packed A, then packed B unless setup packed it. */
static size_t workspace_bf16(const jb_problem *p)
{
    const int64_t kb = jb_amx_kblocks(p->k, 2);
    return jb_amx_panels_bytes(p->m, kb) + (p->packed ? 0 : jb_amx_panels_bytes(p->n, kb));
}

static int setup_bf16(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kb = jb_amx_kblocks(k, 2);
    st->a16 = malloc((size_t)(m * k) * sizeof(uint16_t));
    st->b16 = malloc((size_t)(k * n) * sizeof(uint16_t));
    if (!st->a16 || !st->b16) {
        teardown(e);
        return JB_ENOMEM;
    }
    for (int64_t i = 0; i < m * k; i++)
        st->a16[i] = jb_bf16_round(e->in[0][i]);
    for (int64_t i = 0; i < k * n; i++)
        st->b16[i] = jb_bf16_round(e->in[1][i]);
    if (p->packed) {
        st->pb = aligned_alloc(64, jb_amx_panels_bytes(n, st->kb));
        if (!st->pb) {
            teardown(e);
            return JB_ENOMEM;
        }
        jb_amx_bf16_pack_b(k, n, st->b16, n, 0, (uint16_t *)(void *)st->pb);
    }
    return JB_OK;
}

static int dequantized_bf16(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m * k; i++)
        deq[0][i] = jb_bf16_float(st->a16[i]);
    for (int64_t i = 0; i < k * n; i++)
        deq[1][i] = jb_bf16_float(st->b16[i]);
    return JB_OK;
}

static int run_bf16(jb_exec *e)
{
    const state *st = e->state;
    const jb_problem *p = e->p;
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    if (!st)
        return JB_EINVAL;
    if (!ops)
        return JB_EUNAVAILABLE;
    const size_t abytes = jb_amx_panels_bytes(p->m, st->kb);
    if (!e->ws || e->ws_size < workspace_bf16(p))
        return JB_EINVAL;
    const jb_amx_job j = {
        .ops = ops,
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .kb = st->kb,
        .a_src = st->a16,
        .lda = p->k,
        .pa = e->ws,
        .b_src = st->pb ? NULL : st->b16,
        .ldb = p->n,
        .pb = st->pb ? st->pb : (unsigned char *)e->ws + abytes,
        .c = e->out,
    };
    jb_amx_run(&j);
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_amx_bf16 = {
    .name = "matmul/cpu/amx/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "amx",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "bf16 A and B (rounded in setup, packed in run), fp32 accumulation on AMX tiles (tdpbf16ps), "
               "2x2 16x16 tiles per step, OpenMP",
    .available = available_bf16,
    .path = path_bf16,
    .workspace_size = workspace_bf16,
    .setup = setup_bf16,
    .run = run_bf16,
    .teardown = teardown,
    .dequantized_inputs = dequantized_bf16,
};

/* ---- matmul/cpu/amx/int8 -------------------------------------------------- */

static const char *path_int8(const jb_problem *p, jb_family *family)
{
    (void)p;
    const jb_amx_ops *ops = jb_amx_ops_for(1, NULL, 0);
    *family = JB_FAM_AMX_INT8;
    return ops ? ops->name : "amx";
}

static int available_int8(char *why, size_t len) { return jb_amx_ops_for(1, why, len) ? JB_OK : JB_EUNAVAILABLE; }

static int supports_int8(const jb_problem *p, char *why, size_t len)
{
    if (p->k <= JB_AMX_INT8_K_MAX)
        return JB_OK;
    snprintf(why, len, "k = %lld: the int32 sums over k could overflow past k = %lld", (long long)p->k,
             (long long)JB_AMX_INT8_K_MAX);
    return JB_EUNSUPPORTED;
}

static size_t workspace_int8(const jb_problem *p) { return p->packed ? 0 : jb_amx_panels_bytes(p->n, jb_amx_kblocks(p->k, 1)); }

static int setup_int8(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kb = jb_amx_kblocks(k, 1);
    int8_t *qa = malloc((size_t)(m * k));
    st->pa = aligned_alloc(64, jb_amx_panels_bytes(m, st->kb));
    st->qb = malloc((size_t)(k * n));
    st->sa = malloc((size_t)m * sizeof(float));
    st->sb = malloc((size_t)n * sizeof(float));
    if (p->packed)
        st->pb = aligned_alloc(64, jb_amx_panels_bytes(n, st->kb));
    if (!qa || !st->pa || !st->qb || !st->sa || !st->sb || (p->packed && !st->pb)) {
        free(qa);
        teardown(e);
        return JB_ENOMEM;
    }
    /* A per row, B per column: the rule of matmul/cpu/blocked/int8. */
    jb_quantize_rows_s8(e->in[0], m, k, k, qa, k, st->sa);
    jb_quantize_cols_s8(e->in[1], k, n, n, st->qb, n, st->sb);
    for (int64_t i = 0; i < jb_amx_panels(m); i++)
        jb_amx_pack_a_panel(1, jb_min64(JB_AMX_PANEL, m - i * JB_AMX_PANEL), k,
                     (const unsigned char *)qa + i * JB_AMX_PANEL * k, k, 0, st->kb,
                     st->pa + (size_t)(i * st->kb * JB_AMX_BLOCK_BYTES));
    free(qa);
    if (st->pb)
        for (int64_t q = 0; q < jb_amx_panels(n); q++)
            jb_amx_pack_b_panel_s8(k, jb_min64(JB_AMX_PANEL, n - q * JB_AMX_PANEL), st->qb + q * JB_AMX_PANEL, n, st->kb,
                            (int8_t *)st->pb + q * st->kb * JB_AMX_BLOCK_BYTES);
    return JB_OK;
}

static int dequantized_int8(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m; i++) {
        const int8_t *panel = (const int8_t *)st->pa + (i / JB_AMX_PANEL) * st->kb * JB_AMX_BLOCK_BYTES;
        const int64_t row = (i % JB_AMX_PANEL) * JB_AMX_KB_BYTES;
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = (float)panel[(l / 64) * JB_AMX_BLOCK_BYTES + row + l % 64] * st->sa[i];
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = (float)st->qb[l * n + j] * st->sb[j];
    return JB_OK;
}

static int run_int8(jb_exec *e)
{
    const state *st = e->state;
    const jb_problem *p = e->p;
    const jb_amx_ops *ops = jb_amx_ops_for(1, NULL, 0);
    if (!st)
        return JB_EINVAL;
    if (!ops)
        return JB_EUNAVAILABLE;
    if (!st->pb && (!e->ws || e->ws_size < workspace_int8(p)))
        return JB_EINVAL;
    const jb_amx_job j = {
        .ops = ops,
        .int8 = 1,
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .kb = st->kb,
        .pa = st->pa,
        .b_src = st->pb ? NULL : st->qb,
        .ldb = p->n,
        .pb = st->pb ? st->pb : e->ws,
        .c = e->out,
        .sa = st->sa,
        .sb = st->sb,
    };
    jb_amx_run(&j);
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_amx_int8 = {
    .name = "matmul/cpu/amx/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "amx",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "int8 A per row (stored pre-packed in setup), B per column (packed in run); s32 accumulation on "
               "AMX tiles (tdpbssd), 2x2 16x16 tiles per step, OpenMP",
    .available = available_int8,
    .supports = supports_int8,
    .path = path_int8,
    .workspace_size = workspace_int8,
    .setup = setup_int8,
    .run = run_int8,
    .teardown = teardown,
    .dequantized_inputs = dequantized_int8,
};
