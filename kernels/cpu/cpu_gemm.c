/*
 * Shared CPU helpers: the single-threaded sgemm that fused attention calls
 * from inside its parallel region, built on the blocked matmul's packing and
 * micro-kernel (gemm_ukernel.c), and row-wise int8 quantization.
 */
#include "cpu.h"
#include "gemm_ukernel.h"

#include <math.h>


size_t jb_sgemm_pack_size(int64_t m, int64_t n, int64_t k)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return 0;
    const jb_sgemm_kernel *kr = jb_sgemm_kernel_get();
    const int64_t kc = jb_min64(k, kr->kc);
    return (jb_sgemm_apack_floats(kr, jb_min64(m, kr->mc), kc) + jb_sgemm_bpack_floats(kr, kc, jb_min64(n, kr->nc))) *
           sizeof(float);
}

/* The unpacked loop nest, for a caller that passes no scratch. */
static void sgemm_loops(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                        int trans_b, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (trans_b) {
            for (int64_t j = 0; j < n; j++) {
                float acc = 0;
                for (int64_t l = 0; l < k; l++)
                    acc += a[i * lda + l] * b[j * ldb + l];
                ci[j] += acc;
            }
        } else {
            for (int64_t l = 0; l < k; l++) {
                const float ail = a[i * lda + l];
                for (int64_t j = 0; j < n; j++)
                    ci[j] += ail * b[l * ldb + j];
            }
        }
    }
}

void jb_sgemm_st(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                 int trans_b, float *c, int64_t ldc, float beta, void *pack)
{
    if (m <= 0 || n <= 0)
        return;
    /* Any beta other than 0 and 1 is applied up front, leaving a pure accumulate. */
    int acc = beta != 0;
    if (beta != 0 && beta != 1)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] *= beta;
    if (k <= 0 || !pack) {
        if (!acc)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++)
                    c[i * ldc + j] = 0;
        if (k > 0)
            sgemm_loops(m, n, k, a, lda, b, ldb, trans_b, c, ldc);
        return;
    }
    const jb_sgemm_kernel *kr = jb_sgemm_kernel_get();
    float *apack = pack;
    float *bpack = apack + jb_sgemm_apack_floats(kr, jb_min64(m, kr->mc), jb_min64(k, kr->kc));
    for (int64_t jc = 0; jc < n; jc += kr->nc) {
        const int64_t nc = jb_min64(n - jc, kr->nc);
        for (int64_t pc = 0; pc < k; pc += kr->kc) {
            const int64_t kc = jb_min64(k - pc, kr->kc);
            jb_sgemm_pack_b(kr, kc, nc, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, trans_b, bpack);
            for (int64_t ic = 0; ic < m; ic += kr->mc) {
                const int64_t mc = jb_min64(m - ic, kr->mc);
                jb_sgemm_pack_a(kr, mc, kc, a + ic * lda + pc, lda, apack);
                jb_sgemm_macro(kr, mc, nc, kc, apack, bpack, c + ic * ldc + jc, ldc, acc || pc > 0);
            }
        }
    }
}

void jb_quantize_rows_s8(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q, int64_t ldq,
                         float *scale)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float amax = 0;
        for (int64_t j = 0; j < cols; j++)
            amax = fmaxf(amax, fabsf(xr[j]));
        float s = amax > 0 ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        for (int64_t j = 0; j < cols; j++) {
            float v = nearbyintf(xr[j] * inv);
            q[r * ldq + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        scale[r] = s;
    }
}

void jb_quantize_cols_s8(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q, int64_t ldq,
                         float *scale)
{
    /* Rows in turn, so the reads stay contiguous: scale[j] holds max |x| of
     * column j, then its scale. */
    for (int64_t j = 0; j < cols; j++)
        scale[j] = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            scale[j] = fmaxf(scale[j], fabsf(x[r * ld + j]));
    for (int64_t j = 0; j < cols; j++)
        scale[j] = scale[j] > 0 ? scale[j] / 127.0f : 1.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) {
            float v = nearbyintf(x[r * ld + j] * (1.0f / scale[j]));
            q[r * ldq + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
}
