// Device code of attention/cuda/flash/f32: FlashAttention-style forward pass
// in fp32 on the CUDA cores. One block of 256 threads per (query tile, head);
// it loops over key/value tiles staged in shared memory, keeps the running
// row max m, row sum l and the unnormalized output in registers (online
// softmax), skips key tiles wholly above the diagonal when causal, and
// divides by l once at the end. The n x n scores never reach global memory.
//
// Thread layout: 16 x 16 threads, ty = tid / 16 owns RT = BR/16 query rows,
// tx = tid % 16 owns the key columns tx + 16c of a tile and the output
// columns tx + 16c of its rows. The 16 threads of a row group are one half of
// a warp, so row max and sum are warp shuffles and the probabilities they
// share through shared memory need only __syncwarp.
//
// Head-dim capacity DC (64, 128, 256) is a template parameter so the output
// accumulator is a register array of DC/16 per row; d <= DC is the runtime
// head dim, shared tiles are zero-padded from d to DC.
#include "cuda_kernels.h"

#include <math.h>

#define FULL_MASK 0xffffffffu

extern __shared__ __align__(16) float flash_smem[];

// Shared-memory layout of one block, in floats (see flash_fwd).
template <int DC, int BR> struct flash_cfg {
    static constexpr int BC = BR;            // keys per tile; == BR keeps each diagonal tile non-empty per row
    static constexpr int RT = BR / 16;       // query rows per thread
    static constexpr int CT = BC / 16;       // key columns per thread
    static constexpr int DT = DC / 16;       // output columns per thread
    static constexpr int PS = BC + 16 / RT;  // P row stride: a multiple of 4 (float4 reads) that puts
                                             // the two row groups of a warp on different banks
    static constexpr int KS = BC + 1;        // K^T row stride: odd, so the transposing store is conflict-free
    static constexpr int Q_OFF = 0, P_OFF = BR * DC, V_OFF = P_OFF + BR * PS, K_OFF = V_OFF + BC * DC;
    static constexpr int FLOATS = K_OFF + DC * KS;
};

template <int DC, int BR>
__global__ void __launch_bounds__(256) flash_fwd(int n, int d, float scale, int causal, const float *__restrict__ q,
                                                 const float *__restrict__ k, const float *__restrict__ v,
                                                 float *__restrict__ o)
{
    using C = flash_cfg<DC, BR>;
    constexpr int BC = C::BC, RT = C::RT, CT = C::CT, DT = C::DT, PS = C::PS, KS = C::KS;
    float *qs = flash_smem + C::Q_OFF; // [BR][DC]   query tile
    float *ps = flash_smem + C::P_OFF; // [BR][PS]   probabilities of the current key tile
    float *vs = flash_smem + C::V_OFF; // [BC][DC]   value tile
    float *ks = flash_smem + C::K_OFF; // [DC][KS]   key tile, transposed
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    // Reverse order: with a causal mask the last query tiles do the most work, so start them first.
    const int q0 = (gridDim.x - 1 - blockIdx.x) * BR;
    const size_t head = (size_t)blockIdx.y * n * d;
    q += head;
    k += head;
    v += head;
    o += head;

    for (int i = tid; i < BR * DC; i += 256) {
        const int r = i / DC, c = i % DC;
        qs[r * DC + c] = q0 + r < n && c < d ? q[(size_t)(q0 + r) * d + c] : 0.0f;
    }

    float m[RT], l[RT], acc[RT][DT];
#pragma unroll
    for (int r = 0; r < RT; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DT; c++)
            acc[r][c] = 0.0f;
    }

    const int ntiles = (n + BC - 1) / BC;
    // Causal: key tiles starting past the block's last query row are all masked.
    const int kend = causal ? min(ntiles, (q0 + BR - 1) / BC + 1) : ntiles;
    const int d4 = (d + 3) & ~3; // q and k are zero past d, so rounding up to 4 adds zeros
    for (int kt = 0; kt < kend; kt++) {
        const int k0 = kt * BC;
        __syncthreads(); // everyone is done with the previous tile's ks, vs (and, once, qs is written)
        for (int i = tid; i < BC * DC; i += 256) {
            const int r = i / DC, c = i % DC;
            const bool in = k0 + r < n && c < d;
            // Zeros, not garbage, past n and d: a masked p of 0 times a NaN would still be NaN.
            ks[c * KS + r] = in ? k[(size_t)(k0 + r) * d + c] : 0.0f;
            vs[r * DC + c] = in ? v[(size_t)(k0 + r) * d + c] : 0.0f;
        }
        __syncthreads();

        // S = Q K^T for this thread's RT rows x CT columns.
        float s[RT][CT];
#pragma unroll
        for (int r = 0; r < RT; r++)
#pragma unroll
            for (int c = 0; c < CT; c++)
                s[r][c] = 0.0f;
        for (int x = 0; x < d4; x += 4) {
            float4 qv[RT];
#pragma unroll
            for (int r = 0; r < RT; r++)
                qv[r] = *reinterpret_cast<const float4 *>(&qs[(ty * RT + r) * DC + x]);
#pragma unroll
            for (int c = 0; c < CT; c++) {
                const float *kc = ks + x * KS + tx + 16 * c;
                const float k0v = kc[0], k1v = kc[KS], k2v = kc[2 * KS], k3v = kc[3 * KS];
#pragma unroll
                for (int r = 0; r < RT; r++)
                    s[r][c] = fmaf(qv[r].x, k0v, fmaf(qv[r].y, k1v, fmaf(qv[r].z, k2v, fmaf(qv[r].w, k3v, s[r][c]))));
            }
        }

        // Online softmax: mask, new row max, rescale what came before, probabilities.
#pragma unroll
        for (int r = 0; r < RT; r++) {
            const int qi = q0 + ty * RT + r;
            float mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < CT; c++) {
                const int kj = k0 + tx + 16 * c;
                s[r][c] = kj < n && (!causal || kj <= qi) ? s[r][c] * scale : -INFINITY;
                mx = fmaxf(mx, s[r][c]);
            }
            for (int off = 8; off > 0; off >>= 1) // xor below 16 stays inside the 16-lane row group
                mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, off));
            const float mnew = fmaxf(m[r], mx);
            // mnew is -inf only for a row with nothing valid yet (rows past n): keep it all zero.
            const float alpha = mnew == -INFINITY ? 1.0f : expf(m[r] - mnew);
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < CT; c++) {
                s[r][c] = mnew == -INFINITY ? 0.0f : expf(s[r][c] - mnew);
                sum += s[r][c];
            }
            for (int off = 8; off > 0; off >>= 1)
                sum += __shfl_xor_sync(FULL_MASK, sum, off);
            l[r] = l[r] * alpha + sum;
            m[r] = mnew;
#pragma unroll
            for (int c = 0; c < DT; c++)
                acc[r][c] *= alpha;
#pragma unroll
            for (int c = 0; c < CT; c++)
                ps[(ty * RT + r) * PS + tx + 16 * c] = s[r][c];
        }
        __syncwarp(); // a row group's P was written by its own half-warp

        // O += P V
        for (int j = 0; j < BC; j += 4) {
            float4 pv[RT];
#pragma unroll
            for (int r = 0; r < RT; r++)
                pv[r] = *reinterpret_cast<const float4 *>(&ps[(ty * RT + r) * PS + j]);
#pragma unroll
            for (int c = 0; c < DT; c++) {
                const float *vc = vs + j * DC + tx + 16 * c;
                const float v0 = vc[0], v1 = vc[DC], v2 = vc[2 * DC], v3 = vc[3 * DC];
#pragma unroll
                for (int r = 0; r < RT; r++)
                    acc[r][c] = fmaf(pv[r].w, v3, fmaf(pv[r].z, v2, fmaf(pv[r].y, v1, fmaf(pv[r].x, v0, acc[r][c]))));
            }
        }
    }

#pragma unroll
    for (int r = 0; r < RT; r++) {
        const int qi = q0 + ty * RT + r;
        if (qi >= n)
            continue;
        const float inv = 1.0f / l[r]; // l >= 1: key 0 is valid for every query
#pragma unroll
        for (int c = 0; c < DT; c++) {
            const int col = tx + 16 * c;
            if (col < d)
                o[(size_t)qi * d + col] = acc[r][c] * inv;
        }
    }
}

// Tile shapes per head-dim capacity: 64 query rows and keys per tile up to
// d = 128 (66 KiB and 116 KiB of shared memory); 32 at d = 256 (103 KiB), so
// every variant fits the 163 KiB an sm_80 block may have.
#define FLASH_VARIANTS(X) X(64, 64) X(128, 64) X(256, 32)

template <int DC, int BR> static size_t smem_of()
{
    return sizeof(float) * flash_cfg<DC, BR>::FLOATS;
}

extern "C" size_t jb_cu_flash_smem_bytes(int d)
{
#define X(DC, BR)                                                                                                      \
    if (d <= DC)                                                                                                       \
        return smem_of<DC, BR>();
    FLASH_VARIANTS(X)
#undef X
    return 0;
}

extern "C" cudaError_t jb_cu_flash_prepare(int d)
{
#define X(DC, BR)                                                                                                      \
    if (d <= DC)                                                                                                       \
        return cudaFuncSetAttribute(flash_fwd<DC, BR>, cudaFuncAttributeMaxDynamicSharedMemorySize,                    \
                                    (int)smem_of<DC, BR>());
    FLASH_VARIANTS(X)
#undef X
    return cudaErrorInvalidValue;
}

extern "C" cudaError_t jb_cu_flash(int bh, int n, int d, int causal, const float *q, const float *k, const float *v,
                                   float *o)
{
    const float scale = 1.0f / sqrtf((float)d);
#define X(DC, BR)                                                                                                      \
    if (d <= DC) {                                                                                                     \
        const dim3 grid((n + BR - 1) / BR, bh);                                                                        \
        flash_fwd<DC, BR><<<grid, 256, smem_of<DC, BR>()>>>(n, d, scale, causal, q, k, v, o);                          \
        return cudaGetLastError();                                                                                     \
    }
    FLASH_VARIANTS(X)
#undef X
    return cudaErrorInvalidValue;
}
