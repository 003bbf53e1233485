/*
 * matmul/cpu/blocked/f32: GotoBLAS/BLIS-style GEMM. jb_gemm_run (the blocked
 * driver, gemm_driver.c) loops nc (B block in L3) -> kc (rank-kc update) ->
 * mc (A block in L2) -> micro-tiles, packing A and B into the micro-kernel's
 * panel layout in the timed run; the f32 descriptor (ukernel_f32.c) is
 * picked at run time for the CPU (AVX-512, AVX2, portable). Threads share
 * one packed B block, which they pack together, and split the C block
 * between them, each packing its own rows of A into its part of the
 * workspace.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

static size_t workspace_size(const jb_problem *p)
{
    return jb_gemm_workspace_size(jb_sgemm_kernel_get(), p->m, p->n, p->k, jb_cpu_threads());
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const jb_gemm_args g = {
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .a = e->in[0],
        .lda = p->k,
        .b = e->in[1],
        .ldb = p->n,
        .c = e->out,
        .ldc = p->n,
    };
    return jb_gemm_run(jb_sgemm_kernel_get(), &g, e->ws, e->ws_size);
}

const jb_kernel jb_k_matmul_cpu_blocked_f32 = {
    .name = "matmul/cpu/blocked/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "packed A/B panels, cache-blocked, register-tile micro-kernel (AVX-512/AVX2/C), OpenMP",
    .workspace_size = workspace_size,
    .run = run,
};
