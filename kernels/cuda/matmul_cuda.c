/*
 * matmul/cuda/naive/f32 and matmul/cuda/tiled/f32: hand-written fp32 GEMMs
 * (device code in matmul.cu). naive is one thread per element of C reading A
 * and B from global memory; tiled stages 128x128x8 blocks of A and B through
 * shared memory and keeps an 8x8 sub-tile of C per thread in registers, with
 * float4 loads where rows are 16-byte aligned and bounds checks elsewhere.
 */
#include "cuda_common.h"

#include <limits.h>

static int supports_grid(const jb_problem *p, int64_t max_m, char *why, size_t len)
{
    int rc;
    if ((rc = jb_cuda_limit("n", p->n, INT_MAX, "32-bit index", why, len)) ||
        (rc = jb_cuda_limit("k", p->k, INT_MAX, "32-bit index", why, len)) ||
        (rc = jb_cuda_limit("m", p->m, max_m, "the grid's y dimension", why, len)))
        return rc;
    return JB_OK;
}

static int supports_naive(const jb_problem *p, char *why, size_t len)
{
    return supports_grid(p, JB_CU_MATMUL_NAIVE_MAX_M, why, len);
}

static int supports_tiled(const jb_problem *p, char *why, size_t len)
{
    return supports_grid(p, JB_CU_MATMUL_TILED_MAX_M, why, len);
}

#ifdef JB_HAVE_CUDA

static int run_naive(jb_exec *e)
{
    const jb_cuda_io *io = e->state;
    const jb_problem *p = e->p;
    return jb_cuda_finish(jb_cu_matmul_naive((int)p->m, (int)p->n, (int)p->k, io->din[0], io->din[1], io->dout),
                          "matmul/cuda/naive kernel");
}

static int run_tiled(jb_exec *e)
{
    const jb_cuda_io *io = e->state;
    const jb_problem *p = e->p;
    return jb_cuda_finish(jb_cu_matmul_tiled((int)p->m, (int)p->n, (int)p->k, io->din[0], io->din[1], io->dout),
                          "matmul/cuda/tiled kernel");
}

#endif /* JB_HAVE_CUDA */

const jb_kernel jb_k_matmul_cuda_naive_f32 = {
    .name = "matmul/cuda/naive/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "one thread per element of C, A and B from global memory",
    .available = jb_cuda_available,
    .supports = supports_naive,
    .setup = JB_CUDA_ONLY(jb_cuda_setup_io),
    .run = JB_CUDA_RUN(run_naive),
    .teardown = JB_CUDA_ONLY(jb_cuda_teardown_io),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};

const jb_kernel jb_k_matmul_cuda_tiled_f32 = {
    .name = "matmul/cuda/tiled/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "tiled",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "128x128x8 shared-memory tiles, 8x8 registers per thread, float4 loads",
    .available = jb_cuda_available,
    .supports = supports_tiled,
    .setup = JB_CUDA_ONLY(jb_cuda_setup_io),
    .run = JB_CUDA_RUN(run_tiled),
    .teardown = JB_CUDA_ONLY(jb_cuda_teardown_io),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};
