/*
 * attention/cuda/naive/f32 and attention/cuda/flash/f32: O = softmax(Q K^T /
 * sqrt(d)) V per head, causal optionally (query i sees keys j <= i).
 *
 * naive materializes the scores: S = Q K^T / sqrt(d) for all b*h heads with
 * one cublasSgemmStridedBatched, the fused softmax kernel in place on S (its
 * causal rule, row r keeps j <= r % n, is query i's rule since row r of S is
 * query r % n of its head), then O = P V with a second strided-batched GEMM.
 * S is b*h*n*n floats of device memory, allocated in setup; causal problems
 * still compute the full products, as a library-composed attention does.
 *
 * In cuBLAS's column-major terms, per head (row-major Q, K, V [n][d]):
 *   S^T[n x n] = K Q^T  = gemm(T, N, n, n, d, K (ld d), Q (ld d)) -> S row-major, ld n
 *   O^T[d x n] = V^T P^T = gemm(N, N, d, n, n, V (ld d), P (ld n)) -> O row-major, ld d
 *
 * flash never writes S: see attention.cu. Head dims up to 256.
 */
#include "cuda_common.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int supports_common(const jb_problem *p, char *why, size_t len)
{
    int rc;
    if ((rc = jb_cuda_limit("n", p->seq, INT_MAX, "32-bit index", why, len)) ||
        (rc = jb_cuda_limit("d", p->d, INT_MAX, "32-bit index", why, len)))
        return rc;
    return JB_OK;
}

static int supports_naive(const jb_problem *p, char *why, size_t len)
{
    int rc = supports_common(p, why, len);
    if (rc)
        return rc;
    /* Divide before multiplying: b*h*n*n itself may overflow. */
    if (p->seq > JB_DIM_MAX / p->seq || p->b * p->h > JB_DIM_MAX / (p->seq * p->seq)) {
        snprintf(why, len, "the b*h*n*n score matrix would exceed %lld elements", (long long)JB_DIM_MAX);
        return JB_EUNSUPPORTED;
    }
    /* The softmax runs one block per row of S: b*h*n rows. */
    return jb_cuda_limit("b*h*n", p->b * p->h * p->seq, INT_MAX, "rows of the score matrix, one block each", why,
                         len);
}

static int supports_flash(const jb_problem *p, char *why, size_t len)
{
    int rc;
    if ((rc = supports_common(p, why, len)) ||
        (rc = jb_cuda_limit("d", p->d, JB_CU_FLASH_MAX_D,
                            "the flash kernel keeps d/16 output columns per thread in registers; "
                            "it is built for head dims up to 256",
                            why, len)) ||
        (rc = jb_cuda_limit("b*h", p->b * p->h, JB_CU_GRID_Y_MAX, "one grid row per head", why, len)))
        return rc;
#ifdef JB_HAVE_CUDA
    /* Only reached when a device is available (verify and run check that first). */
    const size_t need = jb_cu_flash_smem_bytes((int)p->d), have = jb_cuda_smem_optin();
    if (have && need > have) {
        snprintf(why, len, "head dim %lld needs %zu bytes of shared memory per block; this device allows %zu",
                 (long long)p->d, need, have);
        return JB_EUNSUPPORTED;
    }
#endif
    return JB_OK;
}

#ifdef JB_HAVE_CUDA

typedef struct naive_state {
    jb_cuda_io io; /* first: jb_cuda_sync_output reads it */
    jb_cuda_blas blas;
    float *scores; /* [b*h][n][n] */
} naive_state;

static void teardown_naive(jb_exec *e)
{
    naive_state *st = e->state;
    if (st) {
        cudaFree(st->scores);
        jb_cuda_blas_free(&st->blas);
        jb_cuda_io_free(&st->io);
    }
    free(st);
    e->state = NULL;
}

static int setup_naive(jb_exec *e)
{
    const jb_problem *p = e->p;
    int rc;
    naive_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    const size_t bytes = (size_t)(p->b * p->h) * (size_t)p->seq * (size_t)p->seq * sizeof(float);
    if ((rc = jb_cuda_io_init(&st->io, e, 1)) || (rc = jb_cuda_blas_init(&st->blas, 0)) ||
        (rc = jb_cuda_alloc((void **)&st->scores, bytes, "cudaMalloc (b*h*n*n scores)")))
        return rc;
    return JB_OK;
}

static int run_naive(jb_exec *e)
{
    naive_state *st = e->state;
    const jb_problem *p = e->p;
    const int n = (int)p->seq, d = (int)p->d, bh = (int)(p->b * p->h);
    const long long nd = (long long)n * d, nn = (long long)n * n;
    const float scale = 1.0f / sqrtf((float)d), one = 1.0f, zero = 0.0f;
    const float *q = st->io.din[0], *k = st->io.din[1], *v = st->io.din[2];
    int rc;
    if ((rc = jb_cublas_check(cublasSgemmStridedBatched(st->blas.h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, d, &scale, k, d,
                                                        nd, q, d, nd, &zero, st->scores, n, nn, bh),
                              "cublasSgemmStridedBatched (Q K^T)")))
        return rc;
    if ((rc = jb_cuda_check(jb_cu_softmax_fused((int64_t)bh * n, n, 1.0f, p->causal, st->scores, st->scores),
                            "attention/cuda/naive softmax kernel")))
        return rc;
    if ((rc = jb_cublas_check(cublasSgemmStridedBatched(st->blas.h, CUBLAS_OP_N, CUBLAS_OP_N, d, n, n, &one, v, d, nd,
                                                        st->scores, n, nn, &zero, st->io.dout, d, nd, bh),
                              "cublasSgemmStridedBatched (P V)")))
        return rc;
    return jb_cuda_finish(cudaSuccess, "attention/cuda/naive");
}

static int setup_flash(jb_exec *e)
{
    int rc = jb_cuda_setup_io(e);
    if (rc)
        return rc;
    return jb_cuda_check(jb_cu_flash_prepare((int)e->p->d), "cudaFuncSetAttribute (flash shared memory)");
}

static int run_flash(jb_exec *e)
{
    const jb_cuda_io *io = e->state;
    const jb_problem *p = e->p;
    return jb_cuda_finish(jb_cu_flash((int)(p->b * p->h), (int)p->seq, (int)p->d, p->causal, io->din[0], io->din[1],
                                      io->din[2], io->dout),
                          "attention/cuda/flash kernel");
}

#endif /* JB_HAVE_CUDA */

const jb_kernel jb_k_attention_cuda_naive_f32 = {
    .name = "attention/cuda/naive/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CUDA,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "cublasSgemmStridedBatched (Q K^T) + softmax kernel + cublasSgemmStridedBatched (P V), n x n scores",
    .available = jb_cuda_available,
    .supports = supports_naive,
    .setup = JB_CUDA_ONLY(setup_naive),
    .run = JB_CUDA_RUN(run_naive),
    .teardown = JB_CUDA_ONLY(teardown_naive),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};

const jb_kernel jb_k_attention_cuda_flash_f32 = {
    .name = "attention/cuda/flash/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CUDA,
    .variant = "flash",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "one block per query tile, K/V tiles in shared memory, online softmax, causal tiles skipped",
    .available = jb_cuda_available,
    .supports = supports_flash,
    .setup = JB_CUDA_ONLY(setup_flash),
    .run = JB_CUDA_RUN(run_flash),
    .teardown = JB_CUDA_ONLY(jb_cuda_teardown_io),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};
