/*
 * The fp64 oracle: the plainest correct implementation of every op, with
 * all arithmetic in double. Every kernel is checked against it.
 */
#include "jb_kernels.h"

#include <math.h>
#include <stdlib.h>

static void oracle_matmul(const jb_problem *p, const float *a, const float *b, double *c)
{
    for (int64_t i = 0; i < p->m; i++) {
        double *ci = c + i * p->n;
        for (int64_t j = 0; j < p->n; j++)
            ci[j] = 0;
        for (int64_t l = 0; l < p->k; l++) {
            double ail = a[i * p->k + l];
            const float *bl = b + l * p->n;
            for (int64_t j = 0; j < p->n; j++)
                ci[j] += ail * (double)bl[j];
        }
    }
}

/* Softmax of one row of n scores, the first `valid` of which are unmasked. */
static void softmax_row(const double *s, int64_t n, int64_t valid, double *y)
{
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < valid; j++)
        mx = s[j] > mx ? s[j] : mx;
    for (int64_t j = 0; j < valid; j++)
        sum += (y[j] = exp(s[j] - mx));
    for (int64_t j = 0; j < valid; j++)
        y[j] /= sum;
    for (int64_t j = valid; j < n; j++)
        y[j] = 0;
}

static int oracle_softmax(const jb_problem *p, const float *x, double *y)
{
    double scale = p->scale != 0 ? p->scale : 1.0;
    double *s = malloc((size_t)p->cols * sizeof *s);
    if (!s)
        return JB_ENOMEM;
    for (int64_t r = 0; r < p->rows; r++) {
        for (int64_t j = 0; j < p->cols; j++)
            s[j] = scale * (double)x[r * p->cols + j];
        /* Causal: rows are stacked cols x cols score matrices, so row r is
         * query position r mod cols and sees columns 0..r mod cols. */
        int64_t valid = p->causal ? r % p->cols + 1 : p->cols;
        softmax_row(s, p->cols, valid, y + r * p->cols);
    }
    free(s);
    return JB_OK;
}

static int oracle_attention(const jb_problem *p, const float *q, const float *k, const float *v, double *o)
{
    const int64_t n = p->seq, d = p->d;
    const double scale = 1.0 / sqrt((double)d);
    double *s = malloc((size_t)n * sizeof *s), *pr = malloc((size_t)n * sizeof *pr);
    if (!s || !pr) {
        free(s);
        free(pr);
        return JB_ENOMEM;
    }
    for (int64_t bh = 0; bh < p->b * p->h; bh++) {
        const float *qh = q + bh * n * d, *kh = k + bh * n * d, *vh = v + bh * n * d;
        double *oh = o + bh * n * d;
        for (int64_t i = 0; i < n; i++) {
            int64_t valid = p->causal ? i + 1 : n;
            for (int64_t j = 0; j < valid; j++) {
                double acc = 0;
                for (int64_t l = 0; l < d; l++)
                    acc += (double)qh[i * d + l] * (double)kh[j * d + l];
                s[j] = acc * scale;
            }
            softmax_row(s, n, valid, pr);
            for (int64_t l = 0; l < d; l++)
                oh[i * d + l] = 0;
            for (int64_t j = 0; j < valid; j++)
                for (int64_t l = 0; l < d; l++)
                    oh[i * d + l] += pr[j] * (double)vh[j * d + l];
        }
    }
    free(s);
    free(pr);
    return JB_OK;
}

int jb_oracle_run(const jb_problem *p, const float *const in[], double *ref)
{
    int rc = jb_problem_validate(p, NULL, 0);
    if (rc)
        return rc;
    switch (p->op) {
    case JB_OP_MATMUL: oracle_matmul(p, in[0], in[1], ref); return JB_OK;
    case JB_OP_SOFTMAX: return oracle_softmax(p, in[0], ref);
    case JB_OP_ATTENTION: return oracle_attention(p, in[0], in[1], in[2], ref);
    default: return JB_EINVAL;
    }
}
