/* attention/cpu/naive/f32: materializes the whole q x n score matrix of a
 * head with plain loops, softmax, then P*V. Heads run in parallel, each with
 * its own q x n slice of the workspace (which is why it grows as n^2 for
 * self-attention). Decode (q < n) is the same loops over the last q rows. */
#include "../jb_kernels.h"
#include "cpu.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static size_t workspace(const jb_problem *p)
{
    return (size_t)jb_cpu_threads() * (size_t)jb_attention_q(p) * (size_t)p->seq * sizeof(float);
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, heads = p->b * p->h;
    const float scale = 1.0f / sqrtf((float)d);
    const int causal = p->causal;
    float *ws = e->ws;
    const int nthreads = jb_cpu_threads();
    (void)nthreads; /* used only by the pragma, absent without OpenMP */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t bh = 0; bh < heads; bh++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *s = ws + (size_t)tid * (size_t)nq * (size_t)n;
        const float *q = e->in[0] + bh * nq * d, *k = e->in[1] + bh * n * d, *v = e->in[2] + bh * n * d;
        float *o = e->out + bh * nq * d;
        for (int64_t i = 0; i < nq; i++) {
            int64_t valid = causal ? n - nq + i + 1 : n; /* query i sits at position n - nq + i */
            float *si = s + i * n;
            float mx = -INFINITY;
            for (int64_t j = 0; j < valid; j++) {
                float acc = 0;
                for (int64_t l = 0; l < d; l++)
                    acc += q[i * d + l] * k[j * d + l];
                si[j] = acc * scale;
                mx = fmaxf(mx, si[j]);
            }
            float sum = 0;
            for (int64_t j = 0; j < valid; j++)
                sum += (si[j] = expf(si[j] - mx));
            for (int64_t j = 0; j < valid; j++)
                si[j] /= sum;
        }
        for (int64_t i = 0; i < nq; i++) {
            int64_t valid = causal ? n - nq + i + 1 : n;
            for (int64_t l = 0; l < d; l++)
                o[i * d + l] = 0;
            for (int64_t j = 0; j < valid; j++) {
                const float pij = s[i * n + j];
                for (int64_t l = 0; l < d; l++)
                    o[i * d + l] += pij * v[j * d + l];
            }
        }
    }
    return JB_OK;
}

const jb_kernel jb_k_attention_cpu_naive_f32 = {
    .name = "attention/cpu/naive/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "full q x n scores per head, plain loops",
    .decode = 1,
    .workspace_size = workspace,
    .run = run,
};
