/*
 * matmul/cpu/blocked/f32: GotoBLAS/BLIS-style GEMM. Loops nc (B block in
 * L3) -> kc (rank-kc update) -> mc (A block in L2) -> micro-tiles, with A
 * and B packed into the micro-kernel's panel layout (gemm_ukernel.c). The
 * micro-kernel is picked at run time for the CPU (AVX-512, AVX2, portable).
 *
 * Threads share one packed B block, which they pack together, and split the
 * C block between them as a tm x tn grid (mostly by rows, so each thread
 * packs only its own rows of A). Packing buffers come from the workspace.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "gemm_ukernel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Shared B block, then one A block per thread. */
static size_t ws_floats(const jb_sgemm_kernel *kr, const jb_problem *p, int threads)
{
    int64_t kc = min64(p->k, kr->kc);
    return jb_sgemm_bpack_floats(kr, kc, min64(p->n, kr->nc)) +
           (size_t)threads * jb_sgemm_apack_floats(kr, min64(p->m, kr->mc), kc);
}

static size_t workspace_size(const jb_problem *p)
{
    return ws_floats(jb_sgemm_kernel_get(), p, jb_cpu_threads()) * sizeof(float);
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const jb_sgemm_kernel *kr = jb_sgemm_kernel_get();
    const int64_t m = p->m, n = p->n, k = p->k;
    const float *a = e->in[0], *b = e->in[1];
    float *c = e->out;
    const int64_t kcmax = min64(k, kr->kc);
    const size_t bfl = jb_sgemm_bpack_floats(kr, kcmax, min64(n, kr->nc));
    const size_t afl = jb_sgemm_apack_floats(kr, min64(m, kr->mc), kcmax);

    /* Use as many threads as the workspace was sized for, at most. */
    int threads = jb_cpu_threads();
    if (!e->ws || e->ws_size < (bfl + afl) * sizeof(float))
        return JB_EINVAL;
    if ((size_t)threads > (e->ws_size / sizeof(float) - bfl) / afl)
        threads = (int)((e->ws_size / sizeof(float) - bfl) / afl);
    float *bpack = e->ws;
    float *apack0 = bpack + bfl;

#pragma omp parallel num_threads(threads)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        float *apack = apack0 + (size_t)t * afl;
        for (int64_t jc = 0; jc < n; jc += kr->nc) {
            const int64_t nc = min64(n - jc, kr->nc);
            const int64_t ntiles = (nc + kr->nr - 1) / kr->nr;
            int64_t i0, i1, j0, j1;
            jb_gemm_thread_tile(nt, t, m, nc, kr->mr, kr->nr, &i0, &i1, &j0, &j1);
            for (int64_t pc = 0; pc < k; pc += kr->kc) {
                const int64_t kc = min64(k - pc, kr->kc);
                int64_t p0, p1;
                jb_gemm_split(ntiles, nt, t, &p0, &p1);
                if (p1 > p0)
                    jb_sgemm_pack_b(kr, kc, min64(p1 * kr->nr, nc) - p0 * kr->nr, b + pc * n + jc + p0 * kr->nr,
                                    n, 0, bpack + p0 * kr->nr * kc);
#pragma omp barrier
                if (j1 > j0)
                    for (int64_t ic = i0; ic < i1; ic += kr->mc) {
                        const int64_t mc = min64(i1 - ic, kr->mc);
                        jb_sgemm_pack_a(kr, mc, kc, a + ic * k + pc, k, apack);
                        jb_sgemm_macro(kr, mc, j1 - j0, kc, apack, bpack + j0 * kc, c + ic * n + jc + j0, n,
                                       pc > 0);
                    }
                /* Nobody repacks B while another thread still reads it. */
#pragma omp barrier
            }
        }
    }
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_blocked_f32 = {
    .name = "matmul/cpu/blocked/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "packed A/B panels, cache-blocked, register-tile micro-kernel (AVX-512/AVX2/C), OpenMP",
    .workspace_size = workspace_size,
    .run = run,
};
