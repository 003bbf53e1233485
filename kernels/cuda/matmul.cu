// Device code of the CUDA matmul kernels: the naive one-thread-per-element
// GEMM, the shared-memory tiled GEMM, and the int32 -> fp32 dequantization
// that follows the cuBLASLt int8 GEMM. Row-major, fp32, FMA accumulation.
#include "cuda_kernels.h"

#define GRID_Y_MAX 65535

// ---- naive -----------------------------------------------------------------

// threadIdx.x runs along a row of C, so the B loads of a warp are coalesced and
// the A loads are one broadcast.
__global__ void mm_naive(int m, int n, int k, const float *__restrict__ a, const float *__restrict__ b,
                         float *__restrict__ c)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= m || j >= n)
        return;
    const float *ai = a + (size_t)i * k;
    float acc = 0.0f;
    for (int l = 0; l < k; l++)
        acc = fmaf(ai[l], b[(size_t)l * n + j], acc);
    c[(size_t)i * n + j] = acc;
}

extern "C" cudaError_t jb_cu_matmul_naive(int m, int n, int k, const float *a, const float *b, float *c)
{
    const dim3 block(16, 16), grid((n + 15) / 16, (m + 15) / 16);
    mm_naive<<<grid, block>>>(m, n, k, a, b, c);
    return cudaGetLastError();
}

// ---- tiled -----------------------------------------------------------------

// A 128x128 tile of C per block of 256 threads, each thread an 8x8 sub-tile
// held in registers; K advances 8 at a time through shared memory. Each
// shared value loaded then feeds 8 FMAs, which is what moves the kernel from
// memory-bound (naive) towards compute-bound.
#define TBM 128
#define TBN 128
#define TBK 8
#define TT 8

__global__ void __launch_bounds__(256) mm_tiled(int m, int n, int k, const float *__restrict__ a,
                                                const float *__restrict__ b, float *__restrict__ c)
{
    // A is stored transposed (As[kk][row]) so a thread's 8 rows are contiguous: two float4 loads.
    __shared__ __align__(16) float as[TBK][TBM];
    __shared__ __align__(16) float bs[TBK][TBN];
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const int row0 = blockIdx.y * TBM, col0 = blockIdx.x * TBN;
    // Loader roles: A tile 128x8 is one float4 per thread (row tid/2, cols (tid%2)*4),
    // B tile 8x128 likewise (row tid/32, cols (tid%32)*4).
    const int ar = tid >> 1, ac = (tid & 1) * 4, br = tid >> 5, bc = (tid & 31) * 4;
    // float4 global loads need 16-byte aligned rows: k (for A) and n (for B) multiples of 4.
    const bool avec = (k & 3) == 0, bvec = (n & 3) == 0;
    float acc[TT][TT];
#pragma unroll
    for (int i = 0; i < TT; i++)
#pragma unroll
        for (int j = 0; j < TT; j++)
            acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < k; k0 += TBK) {
        {
            const int gr = row0 + ar, gc = k0 + ac;
            const float *src = a + (size_t)gr * k + gc;
            float4 v;
            if (avec && gr < m && gc < k) { // gc % 4 == 0 and k % 4 == 0: all four are in bounds
                v = *reinterpret_cast<const float4 *>(src);
            } else {
                const bool r = gr < m;
                v.x = r && gc < k ? src[0] : 0.0f;
                v.y = r && gc + 1 < k ? src[1] : 0.0f;
                v.z = r && gc + 2 < k ? src[2] : 0.0f;
                v.w = r && gc + 3 < k ? src[3] : 0.0f;
            }
            as[ac][ar] = v.x;
            as[ac + 1][ar] = v.y;
            as[ac + 2][ar] = v.z;
            as[ac + 3][ar] = v.w;
        }
        {
            const int gr = k0 + br, gc = col0 + bc;
            const float *src = b + (size_t)gr * n + gc;
            float4 v;
            if (bvec && gr < k && gc < n) {
                v = *reinterpret_cast<const float4 *>(src);
            } else {
                const bool r = gr < k;
                v.x = r && gc < n ? src[0] : 0.0f;
                v.y = r && gc + 1 < n ? src[1] : 0.0f;
                v.z = r && gc + 2 < n ? src[2] : 0.0f;
                v.w = r && gc + 3 < n ? src[3] : 0.0f;
            }
            *reinterpret_cast<float4 *>(&bs[br][bc]) = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TBK; kk++) {
            const float4 a0 = *reinterpret_cast<const float4 *>(&as[kk][ty * TT]);
            const float4 a1 = *reinterpret_cast<const float4 *>(&as[kk][ty * TT + 4]);
            const float4 b0 = *reinterpret_cast<const float4 *>(&bs[kk][tx * TT]);
            const float4 b1 = *reinterpret_cast<const float4 *>(&bs[kk][tx * TT + 4]);
            const float ra[TT] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float rb[TT] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < TT; i++)
#pragma unroll
                for (int j = 0; j < TT; j++)
                    acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
        }
        __syncthreads(); // the next tile overwrites as/bs
    }

#pragma unroll
    for (int i = 0; i < TT; i++) {
        const int r = row0 + ty * TT + i;
        if (r >= m)
            break;
#pragma unroll
        for (int j = 0; j < TT; j += 4) {
            const int col = col0 + tx * TT + j;
            float *dst = c + (size_t)r * n + col;
            if (bvec && col < n) { // col % 4 == 0, n % 4 == 0: aligned and in bounds
                *reinterpret_cast<float4 *>(dst) = make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
            } else {
#pragma unroll
                for (int x = 0; x < 4; x++)
                    if (col + x < n)
                        dst[x] = acc[i][j + x];
            }
        }
    }
}

extern "C" cudaError_t jb_cu_matmul_tiled(int m, int n, int k, const float *a, const float *b, float *c)
{
    const dim3 grid((n + TBN - 1) / TBN, (m + TBM - 1) / TBM);
    mm_tiled<<<grid, 256>>>(m, n, k, a, b, c);
    return cudaGetLastError();
}

// ---- int8 dequantization ---------------------------------------------------

__global__ void dequant_i32(int m, int n, int ldacc, const int32_t *__restrict__ acc, const float *__restrict__ sa,
                            const float *__restrict__ sb, float *__restrict__ out)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n)
        return;
    // Rows stride over the grid so any m fits the grid's y limit.
    for (int i = blockIdx.y * blockDim.y + threadIdx.y; i < m; i += gridDim.y * blockDim.y)
        out[(size_t)i * n + j] = (float)acc[(size_t)i * ldacc + j] * sa[i] * sb[j];
}

extern "C" cudaError_t jb_cu_dequant_i32(int m, int n, int ldacc, const int32_t *acc, const float *sa,
                                         const float *sb, float *out)
{
    // 32 x 8 threads: a warp covers 32 consecutive columns of one row.
    const int gy = (m + 7) / 8;
    const dim3 block(32, 8), grid((n + 31) / 32, gy < GRID_Y_MAX ? gy : GRID_Y_MAX);
    dequant_i32<<<grid, block>>>(m, n, ldacc, acc, sa, sb, out);
    return cudaGetLastError();
}
