/* Medians and the two-sided Mann-Whitney U test (exact and normal). */
#include "analysis/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jb_kernels.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double jb_median(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    double small[64], *t = n <= 64 ? small : malloc(n * sizeof *t);
    if (!t)
        return NAN;
    memcpy(t, x, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    if (t != small)
        free(t);
    return m;
}

double jb_mwu_min_p(size_t n1, size_t n2)
{
    /* C(n1 + n2, n1) computed as a running product stays exact enough in doubles. */
    double c = 1;
    for (size_t i = 1; i <= n1; i++)
        c = c * (double)(n2 + i) / (double)i;
    double p = 2 / c;
    return p > 1 ? 1 : p;
}

/*
 * Under the null hypothesis every split of the n1 + n2 ranks is equally
 * likely, and the number of splits with U = u is the coefficient of q^u in
 * the Gaussian binomial [n1 + n2 choose n1]_q. It is built one factor at a
 * time, [n2 + k choose k] = [n2 + k - 1 choose k - 1] (1 - q^(n2+k)) / (1 - q^k);
 * each step is again a polynomial with integer coefficients, exact in
 * doubles for the sizes used here (C(40, 20) is about 1.4e11).
 * Returns P(U >= u) for an integer u, or NaN when out of memory.
 */
static double exact_upper_tail(size_t n1, size_t n2, double u)
{
    size_t deg = n1 * n2;
    double *c = calloc(deg + 1, sizeof *c);
    if (!c)
        return NAN;
    c[0] = 1;
    size_t cur = 0; /* degree so far: k * n2 */
    for (size_t k = 1; k <= n1; k++) {
        size_t shift = n2 + k;
        size_t nd = cur + n2;
        /* multiply by (1 - q^shift), from the top so c[] is read before it is overwritten */
        for (size_t i = cur + shift; i + 1 > shift; i--)
            if (i <= deg && i - shift <= cur)
                c[i] -= c[i - shift];
        /* divide by (1 - q^k): c[i] += c[i - k], upward */
        for (size_t i = k; i <= nd; i++)
            c[i] += c[i - k];
        /* coefficients above nd are zero after the division; clear what the product left there */
        for (size_t i = nd + 1; i <= deg && i <= cur + shift; i++)
            c[i] = 0;
        cur = nd;
    }
    double total = 0, tail = 0;
    for (size_t i = 0; i <= deg; i++) {
        total += c[i];
        if ((double)i >= u - 1e-9)
            tail += c[i];
    }
    free(c);
    return tail / total;
}

typedef struct ranked {
    double v;
    int from_a;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    return cmp_double(&((const ranked *)a)->v, &((const ranked *)b)->v);
}

int jb_mann_whitney(const double *a, size_t n1, const double *b, size_t n2, jb_mwu *r)
{
    if (!n1 || !n2)
        return JB_EINVAL;
    size_t n = n1 + n2;
    ranked *all = malloc(n * sizeof *all);
    if (!all)
        return JB_ENOMEM;
    for (size_t i = 0; i < n1; i++)
        all[i] = (ranked){a[i], 1};
    for (size_t i = 0; i < n2; i++)
        all[n1 + i] = (ranked){b[i], 0};
    for (size_t i = 0; i < n; i++)
        if (isnan(all[i].v)) {
            free(all);
            return JB_EINVAL;
        }
    qsort(all, n, sizeof *all, cmp_ranked);
    /* Average ranks over runs of ties; sum of t^3 - t over the runs for the variance. */
    double rank_sum_a = 0, tie_term = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v)
            j++;
        double rank = 0.5 * (double)(i + j) + 1, t = (double)(j - i + 1);
        for (size_t k = i; k <= j; k++)
            if (all[k].from_a)
                rank_sum_a += rank;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    free(all);
    double f1 = (double)n1, f2 = (double)n2, fn = (double)n;
    r->u1 = rank_sum_a - f1 * (f1 + 1) / 2;
    double u2 = f1 * f2 - r->u1, u = r->u1 > u2 ? r->u1 : u2;
    if (tie_term == 0 && n1 <= JB_MWU_EXACT_MAX && n2 <= JB_MWU_EXACT_MAX) {
        r->method = JB_MWU_EXACT;
        double tail = exact_upper_tail(n1, n2, u);
        if (isnan(tail))
            return JB_ENOMEM;
        r->p = 2 * tail;
    } else {
        r->method = JB_MWU_NORMAL;
        double mu = f1 * f2 / 2;
        double var = f1 * f2 / 12 * ((fn + 1) - tie_term / (fn * (fn - 1)));
        if (var <= 0) {
            r->p = 1; /* every value is the same: nothing to tell apart */
        } else {
            double z = (u - mu - 0.5) / sqrt(var);
            r->p = erfc(z / sqrt(2.0));
        }
    }
    if (r->p > 1)
        r->p = 1;
    return JB_OK;
}

/* ---- Confidence interval of a median ------------------------------------------ */

/* P(B <= k) for B ~ Binomial(n, 1/2), by summing exp(log C(n, i) - n log 2). */
static double binom_half_cdf(size_t n, size_t k)
{
    double sum = 0, lc = 0; /* log C(n, 0) */
    for (size_t i = 0; i <= k && i <= n; i++) {
        if (i > 0)
            lc += log((double)(n - i + 1)) - log((double)i);
        sum += exp(lc - (double)n * log(2.0));
    }
    return sum > 1 ? 1 : sum;
}

/* The 1-based lower order statistic l of an interval of this level (0: none). */
static size_t lower_index(size_t n, double level)
{
    double tail = (1 - level) / 2;
    size_t l = 0;
    while (l < n && binom_half_cdf(n, l) <= tail) /* P(B < l + 1) = P(B <= l) */
        l++;
    return l;
}

size_t jb_median_ci_min_n(double level)
{
    size_t n = 1;
    while (n < 1000 && lower_index(n, level) == 0)
        n++;
    return n;
}

/* The interval of the median that an independent sample of m values would
 * give, at the same relative ranks among the n values of x (m = n: the plain
 * order-statistic interval). */
static int order_ci(const double *x, size_t n, size_t m, double level, double *lo, double *hi, double *coverage)
{
    *lo = *hi = NAN;
    if (coverage)
        *coverage = NAN;
    if (n == 0)
        return JB_EINVAL;
    double small[64], *t = n <= 64 ? small : malloc(n * sizeof *t);
    if (!t)
        return JB_ENOMEM;
    memcpy(t, x, n * sizeof *t);
    for (size_t i = 0; i < n; i++)
        if (isnan(t[i])) {
            if (t != small)
                free(t);
            return JB_EINVAL;
        }
    qsort(t, n, sizeof *t, cmp_double);
    /* l = 0: too few samples, the extremes and what they cover. */
    size_t l = lower_index(m, level), i = l ? (size_t)floor((double)(l - 1) * (double)n / (double)m) : 0;
    *lo = t[i];
    *hi = t[n - 1 - i];
    if (coverage)
        *coverage = 1 - 2 * binom_half_cdf(m, l ? l - 1 : 0);
    if (t != small)
        free(t);
    return l ? JB_OK : JB_EINVAL;
}

int jb_median_ci(const double *x, size_t n, double level, double *lo, double *hi, double *coverage)
{
    return order_ci(x, n, n, level, lo, hi, coverage);
}

/* Average ranks (1-based, ties averaged) of x[0..n-1] into r. */
static int ranks(const double *x, size_t n, double *r)
{
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        return JB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* Insertion sort of the indices by value: n is a few hundred rounds at most. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && x[idx[j - 1]] > x[idx[j]]; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]])
            j++;
        for (size_t k = i; k <= j; k++)
            r[idx[k]] = 0.5 * (double)(i + j) + 1;
        i = j + 1;
    }
    free(idx);
    return JB_OK;
}

double jb_lag1_autocorr(const double *x, size_t n)
{
    if (n < 4)
        return NAN;
    const size_t m = n - 1;
    double *a = malloc(2 * m * sizeof *a), *b = a ? a + m : NULL;
    if (!a || ranks(x, m, a) || ranks(x + 1, m, b)) {
        free(a);
        return NAN;
    }
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < m; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)m;
    mb /= (double)m;
    for (size_t i = 0; i < m; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    free(a);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

int jb_median_ci_dependent(const double *x, size_t n, double level, double *lo, double *hi, double *coverage,
                           double *n_eff)
{
    double rho = jb_lag1_autocorr(x, n);
    rho = isnan(rho) || rho < 0 ? 0 : rho > JB_RHO_MAX ? JB_RHO_MAX : rho;
    double ne = (double)n * (1 - rho) / (1 + rho);
    size_t m = (size_t)floor(ne + 1e-9);
    if (m < 1)
        m = 1;
    if (n_eff)
        *n_eff = ne;
    return order_ci(x, n, m, level, lo, hi, coverage);
}

/* ---- Wilcoxon signed-rank ------------------------------------------------------ */

typedef struct signed_abs {
    double a;
    int pos;
} signed_abs;

static int cmp_abs(const void *x, const void *y)
{
    double a = ((const signed_abs *)x)->a, b = ((const signed_abs *)y)->a;
    return (a > b) - (a < b);
}

int jb_wilcoxon(const double *d, size_t n, double *p)
{
    *p = NAN;
    signed_abs *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return JB_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(d[i])) {
            free(v);
            return JB_EINVAL;
        }
        if (d[i] != 0)
            v[m++] = (signed_abs){fabs(d[i]), d[i] > 0};
    }
    if (!m) {
        free(v);
        return JB_EINVAL;
    }
    qsort(v, m, sizeof *v, cmp_abs);
    /* Ranks with ties averaged; W+ the sum of the positive differences' ranks.
     * Twice a rank is a whole number even when averaged: w2 = 2 W+. */
    double wplus = 0, tie_term = 0;
    size_t *rank2 = malloc(m * sizeof *rank2), w2 = 0;
    if (!rank2) {
        free(v);
        return JB_ENOMEM;
    }
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j + 1 < m && v[j + 1].a == v[i].a)
            j++;
        double t = (double)(j - i + 1);
        for (size_t k = i; k <= j; k++) {
            rank2[k] = i + j + 2;
            w2 += v[k].pos ? rank2[k] : 0;
        }
        if (t > 1)
            tie_term += t * t * t - t;
        i = j + 1;
    }
    wplus = 0.5 * (double)w2;
    const double mean = (double)m * (double)(m + 1) / 4;
    if (m <= JB_MWU_EXACT_MAX) {
        /* Exact, given the ranks (ties too): every sign pattern is equally
         * likely under the null, so count the subsets of the (doubled) ranks
         * by their sum, by dynamic programming, and take the smaller tail. */
        size_t max = m * (m + 1); /* the sum of the doubled ranks */
        double *c = calloc(max + 1, sizeof *c);
        if (!c) {
            free(rank2);
            free(v);
            return JB_ENOMEM;
        }
        c[0] = 1;
        for (size_t k = 0; k < m; k++)
            for (size_t s2 = max; s2 >= rank2[k]; s2--)
                c[s2] += c[s2 - rank2[k]];
        double total = ldexp(1.0, (int)m), lower = 0;
        size_t w = w2 < max - w2 ? w2 : max - w2;
        for (size_t s2 = 0; s2 <= w; s2++)
            lower += c[s2];
        free(c);
        double pv = 2 * lower / total;
        *p = pv > 1 ? 1 : pv;
    } else {
        double var = (double)m * (double)(m + 1) * (double)(2 * m + 1) / 24 - tie_term / 48;
        double z = var > 0 ? (fabs(wplus - mean) - 0.5) / sqrt(var) : 0; /* continuity-corrected */
        if (z < 0)
            z = 0;
        *p = erfc(z / sqrt(2.0));
    }
    free(rank2);
    free(v);
    return JB_OK;
}
