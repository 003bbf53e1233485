/*
 * The device code of the CUDA backend as C functions: each one launches its
 * kernel(s) on the legacy default stream and returns cudaGetLastError(), so a
 * bad launch configuration is reported at once; errors during execution
 * surface at the caller's synchronize. Implemented in the .cu files of this
 * directory, called by the C descriptors (only in a build with JB_HAVE_CUDA).
 * Pointers are device memory; matrices are row-major and contiguous.
 */
#ifndef JB_CUDA_KERNELS_H
#define JB_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One thread spinning until *release (mapped host memory) is set, or until
 * timeout_ns have passed, then setting *timed_out: holds the stream while a
 * batch is enqueued behind it. */
cudaError_t jb_cu_hold(const volatile int *release, volatile int *timed_out, unsigned long long timeout_ns);

/* C[m][n] = A[m][k] B[k][n], one thread per element of C. */
cudaError_t jb_cu_matmul_naive(int m, int n, int k, const float *a, const float *b, float *c);
/* The same, 128x128 block tiles staged through shared memory, 8x8 per thread. */
cudaError_t jb_cu_matmul_tiled(int m, int n, int k, const float *a, const float *b, float *c);
/* out[i][j] = acc[i*ldacc + j] * sa[i] * sb[j] for i < m, j < n: the int32
 * result of an int8 GEMM back to fp32 with per-row and per-column scales. */
cudaError_t jb_cu_dequant_i32(int m, int n, int ldacc, const int32_t *acc, const float *sa, const float *sb,
                              float *out);

/* Row-wise softmax of rows x cols with inputs multiplied by scale; causal
 * keeps columns j <= r % cols of row r and writes 0 for the rest (the
 * oracle's rule). Naive: separate max, sum and normalize kernels through
 * rowmax/rowsum (rows floats each). Fused: one block per row, online max and
 * sum; y may equal x (in place). */
cudaError_t jb_cu_softmax_naive(int64_t rows, int cols, float scale, int causal, const float *x, float *y,
                                float *rowmax, float *rowsum);
cudaError_t jb_cu_softmax_fused(int64_t rows, int cols, float scale, int causal, const float *x, float *y);

/* Flash attention over bh heads of Q,K,V,O[bh][n][d], d <= 256, bh <= 65535.
 * jb_cu_flash_smem_bytes: the dynamic shared memory one block of head dim d
 * needs; jb_cu_flash_prepare: allows that much (above the default 48 KiB);
 * call it once before jb_cu_flash. */
size_t jb_cu_flash_smem_bytes(int d);
cudaError_t jb_cu_flash_prepare(int d);
cudaError_t jb_cu_flash(int bh, int n, int d, int causal, const float *q, const float *k, const float *v, float *o);

#ifdef __cplusplus
}
#endif
#endif
