/* softmax/cpu/naive/f32: three passes over each row (max, sum of exp,
 * normalize) with libm expf, rows in parallel. Reads the row three times. */
#include "../jb_kernels.h"

#include <math.h>

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t rows = p->rows, cols = p->cols;
    const float scale = p->scale != 0 ? (float)p->scale : 1.0f;
    const int causal = p->causal;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = e->in[0] + r * cols;
        float *y = e->out + r * cols;
        int64_t valid = causal ? r % cols + 1 : cols;
        float mx = -INFINITY;
        for (int64_t j = 0; j < valid; j++)
            mx = fmaxf(mx, scale * x[j]);
        float sum = 0;
        for (int64_t j = 0; j < valid; j++)
            sum += expf(scale * x[j] - mx);
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < valid; j++)
            y[j] = expf(scale * x[j] - mx) * inv;
        for (int64_t j = valid; j < cols; j++)
            y[j] = 0;
    }
    return JB_OK;
}

const jb_kernel jb_k_softmax_cpu_naive_f32 = {
    .name = "softmax/cpu/naive/f32",
    .op = JB_OP_SOFTMAX,
    .backend = JB_BACKEND_CPU,
    .variant = "naive",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "three passes per row: max, sum of exp, normalize",
    .run = run,
};
