/*
 * softmax/cuda/naive/f32 and softmax/cuda/fused/f32 (device code in
 * softmax.cu). naive runs three kernels -- row max, row sum of exp, normalize
 * -- through two rows-long device arrays, reading the input three times;
 * fused is one kernel, one block per row, with an online max and sum and the
 * scale and causal mask applied in the same pass. Causal follows the oracle:
 * row r keeps columns j <= r % cols, and masked outputs are 0.
 */
#include "cuda_common.h"

#include <limits.h>
#include <stdlib.h>

static int supports(const jb_problem *p, char *why, size_t len)
{
    int rc;
    if ((rc = jb_cuda_limit("rows", p->rows, INT_MAX, "one block per row, the grid's x dimension", why, len)) ||
        (rc = jb_cuda_limit("cols", p->cols, INT_MAX, "32-bit column index", why, len)))
        return rc;
    return JB_OK;
}

#ifdef JB_HAVE_CUDA

static float scale_of(const jb_problem *p)
{
    return p->scale != 0 ? (float)p->scale : 1.0f;
}

typedef struct naive_state {
    jb_cuda_io io; /* first: jb_cuda_sync_output reads it */
    float *rowmax, *rowsum;
} naive_state;

static void teardown_naive(jb_exec *e)
{
    naive_state *st = e->state;
    if (st) {
        cudaFree(st->rowmax);
        cudaFree(st->rowsum);
        jb_cuda_io_free(&st->io);
    }
    free(st);
    e->state = NULL;
}

static int setup_naive(jb_exec *e)
{
    int rc;
    naive_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    const size_t bytes = (size_t)e->p->rows * sizeof(float);
    if ((rc = jb_cuda_io_init(&st->io, e, 1)) ||
        (rc = jb_cuda_alloc((void **)&st->rowmax, bytes, "cudaMalloc (row max)")) ||
        (rc = jb_cuda_alloc((void **)&st->rowsum, bytes, "cudaMalloc (row sum)")))
        return rc;
    return JB_OK;
}

static int run_naive(jb_exec *e)
{
    naive_state *st = e->state;
    const jb_problem *p = e->p;
    return jb_cuda_finish(jb_cu_softmax_naive(p->rows, (int)p->cols, scale_of(p), p->causal, st->io.din[0],
                                              st->io.dout, st->rowmax, st->rowsum),
                          "softmax/cuda/naive kernels");
}

static int run_fused(jb_exec *e)
{
    const jb_cuda_io *io = e->state;
    const jb_problem *p = e->p;
    return jb_cuda_finish(jb_cu_softmax_fused(p->rows, (int)p->cols, scale_of(p), p->causal, io->din[0], io->dout),
                          "softmax/cuda/fused kernel");
}

#endif /* JB_HAVE_CUDA */

const jb_kernel jb_k_softmax_cuda_naive_f32 = {
    .name = "softmax/cuda/naive/f32",
    .op = JB_OP_SOFTMAX,
    .backend = JB_BACKEND_CUDA,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "three kernels: row max, row sum of exp, normalize (input read three times)",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(setup_naive),
    .run = JB_CUDA_RUN(run_naive),
    .teardown = JB_CUDA_ONLY(teardown_naive),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};

const jb_kernel jb_k_softmax_cuda_fused_f32 = {
    .name = "softmax/cuda/fused/f32",
    .op = JB_OP_SOFTMAX,
    .backend = JB_BACKEND_CUDA,
    .variant = "fused",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "one block per row, online max and sum, scale and causal mask fused",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(jb_cuda_setup_io),
    .run = JB_CUDA_RUN(run_fused),
    .teardown = JB_CUDA_ONLY(jb_cuda_teardown_io),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};
