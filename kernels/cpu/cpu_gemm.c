/*
 * Shared CPU helpers: the single-threaded sgemm that fused attention calls
 * from inside its parallel region, and row-wise int8 quantization.
 * (A straightforward loop nest for now; the blocked matmul's micro-kernel
 * replaces it.)
 */
#include "cpu.h"

#include <math.h>

size_t jb_sgemm_pack_size(int64_t m, int64_t n, int64_t k)
{
    (void)m; (void)n; (void)k;
    return 0;
}

void jb_sgemm_st(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                 int trans_b, float *c, int64_t ldc, float beta, void *pack)
{
    (void)pack;
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0)
            for (int64_t j = 0; j < n; j++)
                ci[j] = 0;
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
