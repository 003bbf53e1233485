/*
 * The fp64 oracle: the plainest correct implementation of every op, with
 * all arithmetic in double. Every kernel is checked against it.
 */
#include "jb_kernels.h"

#include <math.h>
#include <stdlib.h>

static void oracle_matmul_row(const jb_problem *p, const float *a, const float *b, double *c, int64_t i)
{
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

static void oracle_softmax_row(const jb_problem *p, const float *x, double *y, double *s, int64_t r)
{
    double scale = p->scale != 0 ? p->scale : 1.0;
    for (int64_t j = 0; j < p->cols; j++)
        s[j] = scale * (double)x[r * p->cols + j];
    /* Causal: rows are stacked cols x cols score matrices, so row r is
     * query position r mod cols and sees columns 0..r mod cols. */
    int64_t valid = p->causal ? r % p->cols + 1 : p->cols;
    softmax_row(s, p->cols, valid, y + r * p->cols);
}

/* Output row `row` of attention: head row / q, query row i = row % q, at
 * position n - q + i of the sequence. */
static void oracle_attention_row(const jb_problem *p, const float *q, const float *k, const float *v, double *o,
                                 double *s, double *pr, int64_t row)
{
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, bh = row / nq, i = row % nq;
    const double scale = 1.0 / sqrt((double)d);
    const float *qi = q + (bh * nq + i) * d, *kh = k + bh * n * d, *vh = v + bh * n * d;
    double *oi = o + (bh * nq + i) * d;
    int64_t valid = p->causal ? n - nq + i + 1 : n;
    for (int64_t j = 0; j < valid; j++) {
        double acc = 0;
        for (int64_t l = 0; l < d; l++)
            acc += (double)qi[l] * (double)kh[j * d + l];
        s[j] = acc * scale;
    }
    softmax_row(s, n, valid, pr);
    for (int64_t l = 0; l < d; l++)
        oi[l] = 0;
    for (int64_t j = 0; j < valid; j++)
        for (int64_t l = 0; l < d; l++)
            oi[l] += pr[j] * (double)vh[j * d + l];
}

int64_t jb_oracle_num_rows(const jb_problem *p)
{
    switch (p->op) {
    case JB_OP_MATMUL: return p->m;
    case JB_OP_SOFTMAX: return p->rows;
    case JB_OP_ATTENTION: return p->b * p->h * jb_attention_q(p);
    default: return 0;
    }
}

double jb_oracle_row_work(const jb_problem *p)
{
    switch (p->op) {
    case JB_OP_MATMUL: return 2.0 * (double)p->n * (double)p->k;
    case JB_OP_SOFTMAX: return 4.0 * (double)p->cols;
    case JB_OP_ATTENTION: return 4.0 * (double)p->seq * (double)p->d;
    default: return 0;
    }
}

int jb_oracle_rows(const jb_problem *p, const float *const in[], const int64_t *rows, size_t nrows, double *ref)
{
    int rc = jb_problem_validate(p, NULL, 0);
    if (rc)
        return rc;
    int64_t total = jb_oracle_num_rows(p);
    size_t scratch = p->op == JB_OP_SOFTMAX ? (size_t)p->cols : p->op == JB_OP_ATTENTION ? 2 * (size_t)p->seq : 0;
    double *s = scratch ? malloc(scratch * sizeof *s) : NULL;
    if (scratch && !s)
        return JB_ENOMEM;
    for (size_t idx = 0; idx < (rows ? nrows : (size_t)total); idx++) {
        int64_t r = rows ? rows[idx] : (int64_t)idx;
        if (r < 0 || r >= total) {
            free(s);
            return JB_EINVAL;
        }
        switch (p->op) {
        case JB_OP_MATMUL: oracle_matmul_row(p, in[0], in[1], ref, r); break;
        case JB_OP_SOFTMAX: oracle_softmax_row(p, in[0], ref, s, r); break;
        case JB_OP_ATTENTION: oracle_attention_row(p, in[0], in[1], in[2], ref, s, s + p->seq, r); break;
        default: break;
        }
    }
    free(s);
    return JB_OK;
}

int jb_oracle_run(const jb_problem *p, const float *const in[], double *ref)
{
    return jb_oracle_rows(p, in, NULL, 0, ref);
}
