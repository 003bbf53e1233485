/*
 * Statistics of regression checks: medians and the two-sided Mann-Whitney U
 * test. samples.h gathers the samples, compare.h compares two sets of them.
 */
#ifndef JB_STATS_H
#define JB_STATS_H

#include <stddef.h>

/* ---- Statistics ---------------------------------------------------------- */

/* Median of x[0..n-1] (NaN when n is 0); x is left as it was. */
double jb_median(const double *x, size_t n);

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
