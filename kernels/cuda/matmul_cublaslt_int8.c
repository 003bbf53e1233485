/*
 * matmul/cuda/cublas/int8: quantized C = A*B through cuBLASLt's int8 GEMM
 * (int8 A and B, int32 accumulation on the tensor cores), then a small kernel
 * that turns the int32 result into fp32 with the scales.
 *
 * Quantization is symmetric and happens in setup, on the host, untimed: a
 * scale sa[i] per row of A and sb[j] per column of B, q = round(x / s) in
 * [-127, 127], so C[i][j] = sa[i] * sb[j] * sum_l qa[i][l] qb[l][j] exactly up
 * to the final fp32 multiply. dequantized_inputs hands the oracle q*s, the
 * values the kernel multiplies, so verification measures the kernel and not
 * the quantization.
 *
 * Layout: cuBLASLt's int8 kernels with ordinary (non-COL32) layouts want
 * "TN" -- op(A) transposed, op(B) not -- leading dimensions that are
 * multiples of 4, and (for the column-major M dimension) m and k multiples
 * of 4. In column-major terms this kernel computes C^T[n][m] = Bt^T * A^T:
 * "A" is B stored transposed, Bt[n][k] (row j = column j of B, contiguous in
 * k), used with op T; "B" is the row-major A[m][k] itself, op N. m, n and k are
 * padded with zeros to multiples of 32 in setup, which changes no sum: the
 * int8 tensor-core (IMMA) kernels are reported NOT_SUPPORTED at small or
 * unaligned dimensions (m = 1, 7, 14 in the tests), and 32 is what other
 * projects pad to. The dequantization kernel reads the unpadded part of the
 * int32 result. Should cuBLASLt still have no algorithm, setup says so and
 * returns JB_EUNSUPPORTED: a skipped row with the reason, never a failure.
 */
#include "cuda_common.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Each product is at most 127*127 and the int32 accumulator must hold k of them. */
#define MAX_K ((int64_t)(INT32_MAX / (127 * 127)))

static int supports(const jb_problem *p, char *why, size_t len)
{
    int rc;
    if ((rc = jb_cuda_limit("k", p->k, MAX_K, "beyond it the int32 accumulator can overflow", why, len)) ||
        (rc = jb_cuda_limit("m", p->m, INT_MAX - 31, "cuBLASLt takes 32-bit dimensions", why, len)) ||
        (rc = jb_cuda_limit("n", p->n, INT_MAX - 31, "cuBLASLt takes 32-bit dimensions", why, len)))
        return rc;
    return JB_OK;
}

/* max |x[i*stride]| / 127 over count elements; 1 for an all-zero vector. */
static float scale_of(const float *x, int64_t count, int64_t stride)
{
    float mx = 0;
    for (int64_t i = 0; i < count; i++)
        mx = fmaxf(mx, fabsf(x[i * stride]));
    return mx > 0 ? mx / 127.0f : 1.0f;
}

static int8_t quantize(float x, float s)
{
    float q = nearbyintf(x / s);
    return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
}

/* Scales: sa[m] per row of A, sb[n] per column of B. */
static void scales(const jb_exec *e, float *sa, float *sb)
{
    const jb_problem *p = e->p;
    for (int64_t i = 0; i < p->m; i++)
        sa[i] = scale_of(e->in[0] + i * p->k, p->k, 1);
    for (int64_t j = 0; j < p->n; j++)
        sb[j] = scale_of(e->in[1] + j, p->k, p->n);
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const jb_problem *p = e->p;
    float *sa = malloc((size_t)p->m * sizeof *sa), *sb = malloc((size_t)p->n * sizeof *sb);
    if (!sa || !sb) {
        free(sa);
        free(sb);
        return JB_ENOMEM;
    }
    scales(e, sa, sb);
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t l = 0; l < p->k; l++)
            deq[0][i * p->k + l] = (float)quantize(e->in[0][i * p->k + l], sa[i]) * sa[i];
    for (int64_t l = 0; l < p->k; l++)
        for (int64_t j = 0; j < p->n; j++)
            deq[1][l * p->n + j] = (float)quantize(e->in[1][l * p->n + j], sb[j]) * sb[j];
    free(sa);
    free(sb);
    return JB_OK;
}

#ifdef JB_HAVE_CUDA

static int64_t pad32(int64_t x)
{
    return (x + 31) & ~(int64_t)31;
}

typedef struct i8_state {
    jb_cuda_io io;   /* first: jb_cuda_sync_output reads it. din: [0] A int8 [mp][kp], [1] Bt int8 [np][kp] */
    jb_cuda_blas blas;
    int32_t *acc;    /* [mp][np] */
    float *sa, *sb;  /* device scales */
    int64_t mp, kp, np; /* m, k and n padded to multiples of 32 */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} i8_state;

static void teardown(jb_exec *e)
{
    i8_state *st = e->state;
    if (st) {
        if (st->desc)
            cublasLtMatmulDescDestroy(st->desc);
        if (st->la)
            cublasLtMatrixLayoutDestroy(st->la);
        if (st->lb)
            cublasLtMatrixLayoutDestroy(st->lb);
        if (st->lc)
            cublasLtMatrixLayoutDestroy(st->lc);
        cudaFree(st->acc);
        cudaFree(st->sa);
        cudaFree(st->sb);
        jb_cuda_blas_free(&st->blas);
        jb_cuda_io_free(&st->io);
    }
    free(st);
    e->state = NULL;
}

/* Quantizes A into qa[m][kp] and B, transposed, into qbt[np][kp]; the padding stays 0. */
static void quantize_all(const jb_exec *e, const float *sa, const float *sb, int64_t kp, int8_t *qa, int8_t *qbt)
{
    const jb_problem *p = e->p;
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t l = 0; l < p->k; l++)
            qa[i * kp + l] = quantize(e->in[0][i * p->k + l], sa[i]);
    for (int64_t l = 0; l < p->k; l++)
        for (int64_t j = 0; j < p->n; j++)
            qbt[j * kp + l] = quantize(e->in[1][l * p->n + j], sb[j]);
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    int rc;
    float *sa = NULL, *sb = NULL;
    int8_t *qa = NULL, *qbt = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    i8_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->mp = pad32(p->m);
    st->kp = pad32(p->k);
    st->np = pad32(p->n);
    if ((rc = jb_cuda_io_init(&st->io, e, 0)) || (rc = jb_cuda_blas_init(&st->blas, 1)))
        goto fail;

    sa = malloc((size_t)p->m * sizeof *sa);
    sb = malloc((size_t)p->n * sizeof *sb);
    qa = calloc((size_t)(st->mp * st->kp), 1);
    qbt = calloc((size_t)(st->np * st->kp), 1);
    if (!sa || !sb || !qa || !qbt) {
        rc = JB_ENOMEM;
        goto fail;
    }
    scales(e, sa, sb);
    quantize_all(e, sa, sb, st->kp, qa, qbt);
    if ((rc = jb_cuda_upload(&st->io.din[0], qa, (size_t)(st->mp * st->kp), "cudaMemcpy (int8 A)")) ||
        (rc = jb_cuda_upload(&st->io.din[1], qbt, (size_t)(st->np * st->kp), "cudaMemcpy (int8 B^T)")) ||
        (rc = jb_cuda_upload((void **)&st->sa, sa, (size_t)p->m * sizeof *sa, "cudaMemcpy (row scales)")) ||
        (rc = jb_cuda_upload((void **)&st->sb, sb, (size_t)p->n * sizeof *sb, "cudaMemcpy (column scales)")) ||
        (rc = jb_cuda_alloc((void **)&st->acc, (size_t)(st->mp * st->np) * sizeof(int32_t), "cudaMalloc (int32 C)")))
        goto fail;

    /* C^T[np x mp] (column-major, ld np) = op(Bt)[np x kp] * A^T[kp x mp], op(Bt) = T. */
    const int32_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    const uint64_t m = (uint64_t)st->mp, kp = (uint64_t)st->kp, np = (uint64_t)st->np;
    JB_CUBLAS_TRY(cublasLtMatmulDescCreate(&st->desc, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    JB_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(st->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
    JB_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(st->desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
    /* Layouts describe matrices as stored: Bt is kp x np (column-major, ld kp), A is kp x mp. */
    JB_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&st->la, CUDA_R_8I, kp, np, (int64_t)kp));
    JB_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&st->lb, CUDA_R_8I, kp, m, (int64_t)kp));
    JB_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&st->lc, CUDA_R_32I, np, m, (int64_t)np));
    JB_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&pref));
    JB_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &st->blas.ws_bytes, sizeof st->blas.ws_bytes));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t hst = cublasLtMatmulAlgoGetHeuristic(st->blas.lt, st->desc, st->la, st->lb, st->lc, st->lc, pref,
                                                        1, &heur, &found);
    if (hst == CUBLAS_STATUS_NOT_SUPPORTED || (hst == CUBLAS_STATUS_SUCCESS && found < 1)) {
        snprintf(e->why, sizeof e->why, "cuBLASLt has no int8 algorithm for m=%lld n=%lld k=%lld (padded to %lld, "
                 "%lld, %lld) on this device", (long long)p->m, (long long)p->n, (long long)p->k, (long long)st->mp,
                 (long long)st->np, (long long)st->kp);
        rc = JB_EUNSUPPORTED;
        goto fail;
    }
    if ((rc = jb_cublas_check(hst, "cublasLtMatmulAlgoGetHeuristic")))
        goto fail;
    st->algo = heur.algo;
    rc = JB_OK;
fail: /* success falls through */
    if (pref)
        cublasLtMatmulPreferenceDestroy(pref);
    free(sa);
    free(sb);
    free(qa);
    free(qbt);
    return rc;
}

static int run(jb_exec *e)
{
    i8_state *st = e->state;
    const jb_problem *p = e->p;
    const int32_t one = 1, zero = 0;
    int rc = jb_cublas_check(cublasLtMatmul(st->blas.lt, st->desc, &one, st->io.din[1], st->la, st->io.din[0], st->lb,
                                            &zero, st->acc, st->lc, st->acc, st->lc, &st->algo, st->blas.ws,
                                            st->blas.ws_bytes, 0),
                             "cublasLtMatmul (int8)");
    if (rc)
        return rc;
    return jb_cuda_finish(jb_cu_dequant_i32((int)p->m, (int)p->n, (int)st->np, st->acc, st->sa, st->sb, st->io.dout),
                          "int8 dequantization kernel");
}

#endif /* JB_HAVE_CUDA */

const jb_kernel jb_k_matmul_cuda_cublas_int8 = {
    .name = "matmul/cuda/cublas/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CUDA,
    .variant = "cublas",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5, /* int32 sums are exact; only the final fp32 scaling rounds */
    .summary = "cuBLASLt int8 GEMM (TN, int32 accumulate), per-row/per-column scales, dequantization kernel",
    .available = jb_cuda_available,
    .supports = supports,
    .setup = JB_CUDA_ONLY(setup),
    .run = JB_CUDA_RUN(run),
    .teardown = JB_CUDA_ONLY(teardown),
    .dequantized_inputs = dequantized_inputs,
    .sync_output = JB_CUDA_ONLY(jb_cuda_sync_output),
};
