/*
 * matmul/cuda/cublas/{f32,tf32,bf16}: the vendor baseline, one cuBLAS GEMM.
 *
 * cuBLAS is column-major; a row-major C[m][n] is the column-major C^T, and
 * C^T = B^T A^T, where the row-major B[k][n] and A[m][k] already are the
 * column-major B^T and A^T. So every call is gemm(N, N, n, m, k, B, A) with
 * leading dimensions n, k, n, and nothing is transposed or copied.
 *
 *   f32   cublasSgemm, default math mode: fp32 FMAs, no TF32.
 *   tf32  cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 on fp32 A and B: tensor
 *         cores multiply TF32 (10-bit mantissa) values, accumulate in fp32.
 *   bf16  A and B converted to bf16 in setup; cublasGemmEx with CUDA_R_16BF
 *         A and B, fp32 C and fp32 compute.
 *
 * Reduced precision, and what the oracle sees: setup rounds the inputs on the
 * host (to nearest even) to exactly the values the tensor cores multiply --
 * for tf32 the rounded values are uploaded as fp32, so cuBLAS's own
 * conversion has nothing left to round -- and dequantized_inputs hands the
 * oracle the same values. The check then measures the kernel: products of
 * such values are exact in fp32, and the remaining error is fp32
 * accumulation in the tensor cores' order, which is looser than an FMA chain
 * (their internal adds may truncate), hence 1e-4 rather than 1e-5.
 */
#include "cuda_common.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int supports(const jb_problem *p, char *why, size_t len)
{
    int rc;
    if ((rc = jb_cuda_limit("m", p->m, INT_MAX, "cuBLAS takes int dimensions", why, len)) ||
        (rc = jb_cuda_limit("n", p->n, INT_MAX, "cuBLAS takes int dimensions", why, len)) ||
        (rc = jb_cuda_limit("k", p->k, INT_MAX, "cuBLAS takes int dimensions", why, len)))
        return rc;
    return JB_OK;
}

/* Round to nearest even, keeping the top `keep` bits of the fp32 pattern
 * (19 for TF32: sign, 8 exponent, 10 mantissa; 16 for bf16). Inputs here
 * are finite and far from overflow. */
static uint32_t round_bits(float x, int keep)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const int drop = 32 - keep;
    u += ((uint32_t)1 << (drop - 1)) - 1 + ((u >> drop) & 1);
    return u & ~(((uint32_t)1 << drop) - 1);
}

static float round_to(float x, int keep)
{
    uint32_t u = round_bits(x, keep);
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

#define TF32_BITS 19
#define BF16_BITS 16

static int dequantized_tf32(const jb_exec *e, float *const deq[])
{
    for (int i = 0; i < 2; i++)
        for (size_t j = 0, n = jb_problem_input_elems(e->p, i); j < n; j++)
            deq[i][j] = round_to(e->in[i][j], TF32_BITS);
    return JB_OK;
}

static int dequantized_bf16(const jb_exec *e, float *const deq[])
{
    for (int i = 0; i < 2; i++)
        for (size_t j = 0, n = jb_problem_input_elems(e->p, i); j < n; j++)
            deq[i][j] = round_to(e->in[i][j], BF16_BITS);
    return JB_OK;
}

#ifdef JB_HAVE_CUDA

typedef struct blas_state {
    jb_cuda_io io; /* first: jb_cuda_sync_output reads it */
    jb_cuda_blas blas;
} blas_state;

static void teardown(jb_exec *e)
{
    blas_state *st = e->state;
    if (st) {
        jb_cuda_blas_free(&st->blas);
        jb_cuda_io_free(&st->io);
    }
    free(st);
    e->state = NULL;
}

/* Allocates the state; upload: the fp32 inputs as they are (f32). */
static int setup_common(jb_exec *e, int upload, blas_state **out)
{
    int rc;
    blas_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    *out = st;
    if ((rc = jb_cuda_io_init(&st->io, e, upload)) || (rc = jb_cuda_blas_init(&st->blas, 0)))
        return rc;
    return JB_OK;
}

static int setup_f32(jb_exec *e)
{
    blas_state *st;
    return setup_common(e, 1, &st);
}

/* Uploads each input converted: as fp32 rounded to TF32, or as bf16 bit patterns. */
static int setup_rounded(jb_exec *e, int bf16)
{
    blas_state *st;
    int rc = setup_common(e, 0, &st);
    for (int i = 0; rc == JB_OK && i < 2; i++) {
        const size_t n = jb_problem_input_elems(e->p, i);
        const size_t esz = bf16 ? sizeof(uint16_t) : sizeof(float);
        void *h = malloc(n * esz);
        if (!h)
            return JB_ENOMEM;
        for (size_t j = 0; j < n; j++) {
            if (bf16)
                ((uint16_t *)h)[j] = (uint16_t)(round_bits(e->in[i][j], BF16_BITS) >> 16);
            else
                ((float *)h)[j] = round_to(e->in[i][j], TF32_BITS);
        }
        rc = jb_cuda_upload(&st->io.din[i], h, n * esz, "cudaMemcpy (converted input)");
        free(h);
    }
    return rc;
}

static int setup_tf32(jb_exec *e)
{
    return setup_rounded(e, 0);
}

static int setup_bf16(jb_exec *e)
{
    return setup_rounded(e, 1);
}

static int run_f32(jb_exec *e)
{
    blas_state *st = e->state;
    const jb_problem *p = e->p;
    const int m = (int)p->m, n = (int)p->n, k = (int)p->k;
    const float one = 1.0f, zero = 0.0f;
    int rc = jb_cublas_check(cublasSgemm(st->blas.h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, st->io.din[1], n,
                                         st->io.din[0], k, &zero, st->io.dout, n),
                             "cublasSgemm");
    return rc ? rc : jb_cuda_finish(cudaSuccess, "cublasSgemm");
}

static int run_ex(jb_exec *e, cudaDataType_t ab, cublasComputeType_t compute, const char *what)
{
    blas_state *st = e->state;
    const jb_problem *p = e->p;
    const int m = (int)p->m, n = (int)p->n, k = (int)p->k;
    const float one = 1.0f, zero = 0.0f;
    int rc = jb_cublas_check(cublasGemmEx(st->blas.h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, st->io.din[1], ab, n,
                                          st->io.din[0], ab, k, &zero, st->io.dout, CUDA_R_32F, n, compute,
                                          CUBLAS_GEMM_DEFAULT),
                             what);
    return rc ? rc : jb_cuda_finish(cudaSuccess, what);
}

static int run_tf32(jb_exec *e)
{
    return run_ex(e, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, "cublasGemmEx (TF32)");
}

static int run_bf16(jb_exec *e)
{
    return run_ex(e, CUDA_R_16BF, CUBLAS_COMPUTE_32F, "cublasGemmEx (bf16)");
}

#endif /* JB_HAVE_CUDA */

const jb_kernel jb_k_matmul_cuda_cublas_f32 = {
    .name = "matmul/cuda/cublas/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "cublas",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "cublasSgemm, fp32 (no TF32), row-major as gemm(N, N, n, m, k, B, A)",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(setup_f32),
    .run = JB_CUDA_RUN(run_f32),
    .teardown = JB_CUDA_ONLY(teardown),
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};

const jb_kernel jb_k_matmul_cuda_cublas_tf32 = {
    .name = "matmul/cuda/cublas/tf32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "cublas",
    .dtype = JB_DT_TF32,
    .tolerance = 1e-4, /* see the top of the file */
    .summary = "cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32 in setup), fp32 accumulate",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(setup_tf32),
    .run = JB_CUDA_RUN(run_tf32),
    .teardown = JB_CUDA_ONLY(teardown),
    .dequantized_inputs = dequantized_tf32,
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};

const jb_kernel jb_k_matmul_cuda_cublas_bf16 = {
    .name = "matmul/cuda/cublas/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "cublas",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-4, /* see the top of the file */
    .summary = "cublasGemmEx, bf16 A and B (converted in setup), fp32 C and compute",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(setup_bf16),
    .run = JB_CUDA_RUN(run_bf16),
    .teardown = JB_CUDA_ONLY(teardown),
    .dequantized_inputs = dequantized_bf16,
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};
