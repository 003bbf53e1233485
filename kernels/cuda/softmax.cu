// Device code of the CUDA softmax kernels: the naive three-kernel version
// (row max, row sum, normalize: three passes over the input through global
// memory) and the fused one (one block per row, online max and sum in one
// pass, then the normalized write). The attention/cuda/naive kernel reuses
// the fused one on its score matrix. expf, not __expf: the oracle compares
// to about 1e-5, and __expf's error grows with |x|.
#include "cuda_kernels.h"

#include <math.h>

#define FULL_MASK 0xffffffffu

// Threads per row block: a whole warp at least, 256 at most (a 4096-wide row
// is then 16 elements per thread).
static int row_threads(int cols)
{
    const int t = (cols + 31) / 32 * 32;
    return t < 256 ? t : 256;
}

// Valid (unmasked) columns of row r: the oracle's causal rule, row r is query r % cols.
__device__ __forceinline__ int valid_cols(int64_t r, int cols, int causal)
{
    return causal ? (int)(r % cols) + 1 : cols;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (row_threads()); every
// thread gets the result. The last barrier lets the next call reuse sh.
__device__ float block_max(float v)
{
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = warp_max(lane < nw ? sh[lane] : -INFINITY);
    __syncthreads();
    return v;
}

__device__ float block_sum(float v)
{
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = warp_sum(lane < nw ? sh[lane] : 0.0f);
    __syncthreads();
    return v;
}

// ---- naive -----------------------------------------------------------------

__global__ void sm_rowmax(int cols, float scale, int causal, const float *__restrict__ x, float *__restrict__ rowmax)
{
    const int64_t r = blockIdx.x;
    const float *xr = x + r * cols;
    const int valid = valid_cols(r, cols, causal);
    float m = -INFINITY;
    for (int j = threadIdx.x; j < valid; j += blockDim.x)
        m = fmaxf(m, xr[j] * scale);
    m = block_max(m);
    if (threadIdx.x == 0)
        rowmax[r] = m;
}

__global__ void sm_rowsum(int cols, float scale, int causal, const float *__restrict__ x,
                          const float *__restrict__ rowmax, float *__restrict__ rowsum)
{
    const int64_t r = blockIdx.x;
    const float *xr = x + r * cols;
    const int valid = valid_cols(r, cols, causal);
    const float m = rowmax[r];
    float s = 0.0f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x)
        s += expf(xr[j] * scale - m);
    s = block_sum(s);
    if (threadIdx.x == 0)
        rowsum[r] = s;
}

__global__ void sm_normalize(int cols, float scale, int causal, const float *__restrict__ x,
                             const float *__restrict__ rowmax, const float *__restrict__ rowsum, float *__restrict__ y)
{
    const int64_t r = blockIdx.x;
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    const int valid = valid_cols(r, cols, causal);
    const float m = rowmax[r], s = rowsum[r];
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        yr[j] = j < valid ? expf(xr[j] * scale - m) / s : 0.0f;
}

extern "C" cudaError_t jb_cu_softmax_naive(int64_t rows, int cols, float scale, int causal, const float *x, float *y,
                                           float *rowmax, float *rowsum)
{
    const int t = row_threads(cols);
    cudaError_t err;
    sm_rowmax<<<(unsigned)rows, t>>>(cols, scale, causal, x, rowmax);
    if ((err = cudaGetLastError()) != cudaSuccess)
        return err;
    sm_rowsum<<<(unsigned)rows, t>>>(cols, scale, causal, x, rowmax, rowsum);
    if ((err = cudaGetLastError()) != cudaSuccess)
        return err;
    sm_normalize<<<(unsigned)rows, t>>>(cols, scale, causal, x, rowmax, rowsum, y);
    return cudaGetLastError();
}

// ---- fused -----------------------------------------------------------------

// (m, s) is a running max and the sum of exp(x - m) over what was seen;
// merging two rescales both sums to the larger max. (-inf, 0) is "nothing
// seen" and must stay out of the exp, where -inf - -inf would give NaN.
__device__ __forceinline__ void ms_merge(float &m, float &s, float m2, float s2)
{
    const float mx = fmaxf(m, m2);
    if (mx == -INFINITY)
        return;
    s = s * expf(m - mx) + s2 * expf(m2 - mx);
    m = mx;
}

__global__ void sm_fused(int cols, float scale, int causal, const float *x, float *y)
{
    __shared__ float shm[32], shs[32];
    const int64_t r = blockIdx.x;
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    const int valid = valid_cols(r, cols, causal);
    float m = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) {
        const float v = xr[j] * scale;
        if (v > m) {
            s = s * expf(m - v) + 1.0f; // m = -inf on the first element: s stays 0 before the + 1
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(FULL_MASK, m, o), s2 = __shfl_xor_sync(FULL_MASK, s, o);
        ms_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) {
        shm[w] = m;
        shs[w] = s;
    }
    __syncthreads();
    m = lane < nw ? shm[lane] : -INFINITY;
    s = lane < nw ? shs[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(FULL_MASK, m, o), s2 = __shfl_xor_sync(FULL_MASK, s, o);
        ms_merge(m, s, m2, s2);
    }
    // Every row has at least one valid column, so m is finite and s >= 1.
    const float inv = 1.0f / s;
    // In place (y == x) is safe: each thread reads and then writes the same elements.
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        yr[j] = j < valid ? expf(xr[j] * scale - m) * inv : 0.0f;
}

extern "C" cudaError_t jb_cu_softmax_fused(int64_t rows, int cols, float scale, int causal, const float *x, float *y)
{
    sm_fused<<<(unsigned)rows, row_threads(cols)>>>(cols, scale, causal, x, y);
    return cudaGetLastError();
}
