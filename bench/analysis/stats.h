/*
 * Statistics: medians, distribution-free confidence intervals of a median
 * (order statistics), the two-sided Mann-Whitney U test for two samples and
 * the Wilcoxon signed-rank test for paired ones. samples.h gathers the
 * samples, compare.h compares two sets of them.
 */
#ifndef JB_STATS_H
#define JB_STATS_H

#include <stddef.h>

/* ---- Statistics ---------------------------------------------------------- */

/* Median of x[0..n-1] (NaN when n is 0); x is left as it was. */
double jb_median(const double *x, size_t n);

/*
 * A distribution-free confidence interval of the median of x[0..n-1]: the
 * order statistics x(l) and x(n - l + 1) (1-based, sorted), with l the
 * largest index such that P(B < l) <= (1 - level) / 2 for B ~ Binomial(n,
 * 1/2), so that the interval holds the population median with probability
 * at least level whatever the distribution (samples independent). For
 * level 0.95 that needs n >= 6 (n = 6: x(1)..x(6), 96.9%; n = 10:
 * x(2)..x(9), 97.9%; n = 20: x(6)..x(15), 95.9%; as scipy.stats.binom gives).
 * *coverage gets the exact probability. JB_OK, or JB_EINVAL when n is too
 * small for the level (*lo, *hi are then the extremes and *coverage what
 * they reach: 1 - 2^(1-n)) or a value is NaN.
 */
int jb_median_ci(const double *x, size_t n, double level, double *lo, double *hi, double *coverage);

/* The fewest samples an interval of this level needs (6 for 0.95). */
size_t jb_median_ci_min_n(double level);

/* Lag-1 autocorrelation of a series in time order, by ranks (Spearman's rho
 * between x[0..n-2] and x[1..n-1], ties averaged, as scipy.stats.spearmanr);
 * NaN below 4 values or when a side is constant. */
double jb_lag1_autocorr(const double *x, size_t n);

/* The largest lag-1 autocorrelation jb_median_ci_dependent accounts for. */
#define JB_RHO_MAX 0.9

/*
 * jb_median_ci for a series whose neighbours are alike (repetitions taken
 * while the machine drifts): its effective size is n (1 - rho) / (1 + rho)
 * with rho the lag-1 autocorrelation (clamped to [0, JB_RHO_MAX]), as for an
 * AR(1) series; the interval is the order statistics an independent sample
 * of that size would use, at the same relative rank among the n values.
 * Independent data (rho <= 0) give jb_median_ci's interval. *n_eff gets the
 * effective size, *coverage the nominal coverage at it. JB_OK, or JB_EINVAL
 * when the effective size is below jb_median_ci_min_n (the extremes then).
 */
int jb_median_ci_dependent(const double *x, size_t n, double level, double *lo, double *hi, double *coverage,
                           double *n_eff);

/*
 * Two-sided Wilcoxon signed-rank test that the paired differences d[0..n-1]
 * are centred on zero (zeros dropped, as scipy's zero_method='wilcox'): up
 * to JB_MWU_EXACT_MAX non-zero differences, the exact null distribution
 * given the ranks (ties averaged: every sign pattern equally likely; without
 * ties scipy's method='exact'); beyond, the normal approximation with tie
 * and continuity corrections (scipy's method='approx'). *p gets the
 * two-sided p value. JB_OK, or JB_EINVAL when no difference is non-zero or
 * one is NaN.
 */
int jb_wilcoxon(const double *d, size_t n, double *p);

/* Largest sample sizes for which the exact null distribution is used. */
#define JB_MWU_EXACT_MAX 20

typedef enum { JB_MWU_EXACT, JB_MWU_NORMAL } jb_mwu_method;

typedef struct jb_mwu {
    double u1;            /* U of the first sample: pairs (a_i, b_j) with a_i > b_j, ties counting 1/2 */
    double p;             /* two-sided p value */
    jb_mwu_method method; /* exact: both n <= JB_MWU_EXACT_MAX and no ties */
} jb_mwu;

/*
 * Two-sided Mann-Whitney U test of a[0..n1-1] against b[0..n2-1]. Exact null
 * distribution when both samples have at most JB_MWU_EXACT_MAX values and no
 * value is tied; otherwise the normal approximation with tie and continuity
 * corrections. Both agree with scipy.stats.mannwhitneyu(a, b,
 * alternative='two-sided', method='exact' or 'asymptotic'). Returns JB_OK,
 * or JB_EINVAL when a sample is empty or holds a NaN.
 */
int jb_mann_whitney(const double *a, size_t n1, const double *b, size_t n2, jb_mwu *r);

/* The smallest two-sided p the exact test can reach with samples of n1 and
 * n2 values: 2 / C(n1 + n2, n1), at most 1. */
double jb_mwu_min_p(size_t n1, size_t n2);

#endif
