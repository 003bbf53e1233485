/* matmul/cpu/naive/f32: the plain triple loop (i, l, j order so the inner
 * loop streams B and C), one row of C per OpenMP iteration. The floor every
 * optimized variant is measured against. */
#include "../jb_kernels.h"

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const float *a = e->in[0], *b = e->in[1];
    float *c = e->out;
    const int64_t m = p->m, n = p->n, k = p->k;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * n;
        for (int64_t j = 0; j < n; j++)
            ci[j] = 0;
        for (int64_t l = 0; l < k; l++) {
            const float ail = a[i * k + l];
            const float *bl = b + l * n;
            for (int64_t j = 0; j < n; j++)
                ci[j] += ail * bl[j];
        }
    }
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_naive_f32 = {
    .name = "matmul/cpu/naive/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "triple loop, rows in parallel",
    .run = run,
};
