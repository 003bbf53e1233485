/*
 * matmul/cpu/blocked/f32: GotoBLAS/BLIS-style GEMM. jb_gemm_run (the blocked
 * driver, gemm_driver.c) loops nc (B block in L3) -> kc (rank-kc update) ->
 * mc (A block in L2) -> micro-tiles, packing A and B into the micro-kernel's
 * panel layout in the timed run; the f32 descriptor (ukernel_f32.c) is
 * picked at run time for the CPU (AVX-512, AVX2, portable). Threads share
 * one packed B block, which they pack together, and split the C block
 * between them, each packing its own rows of A into its part of the
 * workspace. With packed=1 setup packs all of B once (jb_gemm_prepack_b),
 * as an inference server holds its weights, and the run packs only A.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#include <stdlib.h>

/* Only with packed=1: the descriptor B was packed for, and B in its layout. */
typedef struct state {
    const jb_gemm_driver *d;
    void *pb;
} state;

static size_t workspace_size(const jb_problem *p)
{
    const jb_gemm_driver *d = jb_sgemm_kernel_get();
    return p->packed ? jb_gemm_workspace_size_prepacked(d, p->m, p->k, jb_cpu_threads())
                     : jb_gemm_workspace_size(d, p->m, p->n, p->k, jb_cpu_threads());
}

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (st)
        free(st->pb);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    if (!p->packed)
        return JB_OK;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->d = jb_sgemm_kernel_get();
    if (!(st->pb = aligned_alloc(64, jb_gemm_prepack_b_bytes(st->d, p->k, p->n))))
        return JB_ENOMEM;
    jb_gemm_prepack_b(st->d, p->k, p->n, e->in[1], p->n, st->pb);
    return JB_OK;
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const state *st = e->state;
    const jb_gemm_args g = {
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .a = e->in[0],
        .lda = p->k,
        .b = e->in[1],
        .ldb = p->n,
        .b_packed = st ? st->pb : NULL,
        .c = e->out,
        .ldc = p->n,
    };
    return jb_gemm_run(st ? st->d : jb_sgemm_kernel_get(), &g, e->ws, e->ws_size);
}

const jb_kernel jb_k_matmul_cpu_blocked_f32 = {
    .name = "matmul/cpu/blocked/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "packed A/B panels, cache-blocked, register-tile micro-kernel (AVX-512/AVX2/C), OpenMP; "
               "packed=1 packs B in setup",
    .workspace_size = workspace_size,
    .setup = setup,
    .run = run,
    .teardown = teardown,
};
