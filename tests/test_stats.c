/*
 * The interval and paired-test statistics against known results: the
 * order-statistic confidence interval of a median (indices and coverage from
 * scipy.stats.binom) and the Wilcoxon signed-rank test (p values from
 * scipy.stats.wilcoxon 1.10, zero_method='wilcox', correction=True).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "analysis/stats.h"
#include "jb_kernels.h"

/* 1..n in a scrambled order, so the test also checks the sorting. */
static void scrambled(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (double)((i * 11 + 3) % n + 1); /* 11 is prime to every n used */
}

static void test_median_ci_indices(void **state)
{
    (void)state;
    /* n, l, u (1-based order statistics) and coverage, from scipy.stats.binom(n, 0.5). */
    static const struct {
        size_t n, l, u;
        double coverage;
    } t[] = {
        {6, 1, 6, 0.96875},    {7, 1, 7, 0.984375},   {8, 1, 8, 0.992188},   {9, 2, 8, 0.960938},
        {10, 2, 9, 0.978516},  {12, 3, 10, 0.961426}, {15, 4, 12, 0.964844}, {20, 6, 15, 0.958611},
        {25, 8, 18, 0.956715}, {30, 10, 21, 0.957226}, {40, 14, 27, 0.961523}, {50, 18, 33, 0.967161},
        {100, 40, 61, 0.9648},
    };
    double x[100];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        scrambled(x, t[i].n);
        double lo, hi, cov;
        assert_int_equal(jb_median_ci(x, t[i].n, 0.95, &lo, &hi, &cov), JB_OK);
        if (lo != (double)t[i].l || hi != (double)t[i].u || fabs(cov - t[i].coverage) > 1e-6)
            fail_msg("n=%zu: [x(%g), x(%g)] coverage %.6f, want [x(%zu), x(%zu)] %.6f", t[i].n, lo, hi, cov, t[i].l,
                     t[i].u, t[i].coverage);
    }
    assert_int_equal(jb_median_ci_min_n(0.95), 6);
    /* Five samples cannot give 95% without assumptions: the extremes, and the 93.75% they cover. */
    double lo, hi, cov;
    scrambled(x, 5);
    assert_int_equal(jb_median_ci(x, 5, 0.95, &lo, &hi, &cov), JB_EINVAL);
    assert_true(lo == 1 && hi == 5 && fabs(cov - 0.9375) < 1e-12);
    x[2] = NAN;
    assert_int_equal(jb_median_ci(x, 5, 0.95, &lo, &hi, &cov), JB_EINVAL);
    assert_int_equal(jb_median_ci(x, 0, 0.95, &lo, &hi, &cov), JB_EINVAL);
}

/* Coverage, by simulation: the interval holds the true median about as often as it says. */
static void test_median_ci_coverage(void **state)
{
    (void)state;
    uint64_t s = 12345;
    int hits = 0, trials = 4000;
    for (int k = 0; k < trials; k++) {
        double x[10];
        for (int i = 0; i < 10; i++) { /* exponential(1): skewed, median ln 2 */
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
            x[i] = -log(u);
        }
        double lo, hi;
        jb_median_ci(x, 10, 0.95, &lo, &hi, NULL);
        hits += lo <= log(2.0) && log(2.0) <= hi;
    }
    double rate = (double)hits / trials;
    if (fabs(rate - 0.978516) > 0.015)
        fail_msg("covered %.3f of %d trials, want about 0.979", rate, trials);
}

/* Repetitions taken while the machine drifts: the effective size shrinks with
 * the lag-1 autocorrelation. Expected values from scipy.stats.spearmanr and
 * scipy.stats.binom, with the rule of stats.h. */
static void test_dependent_interval(void **state)
{
    (void)state;
    static const double blocks[] = {10,  10.2, 10.1, 11,   11.1, 10.9, 9.8,  9.9,  10.0, 10.5, 10.6, 10.4,
                                    9.5, 9.6,  9.7,  10.8, 10.7, 10.9, 10.3, 10.2, 10.1, 9.9,  10.0, 9.8};
    /* spearmanr(x[:-1], x[1:]) -> 0.47892916148891973: n_eff = 24 (1 - rho) / (1 + rho) = 8.4559 */
    assert_true(fabs(jb_lag1_autocorr(blocks, 24) - 0.47892916148891973) < 1e-12);
    double lo, hi, cov, ne;
    assert_int_equal(jb_median_ci_dependent(blocks, 24, 0.95, &lo, &hi, &cov, &ne), JB_OK);
    assert_true(fabs(ne - 8.455915570476511) < 1e-9);
    /* 8 independent values use x(1) and x(8) (99.2%): rank 1 of 8 is rank 1 of 24, the extremes. */
    assert_true(lo == 9.5 && hi == 11.1);
    assert_true(fabs(cov - 0.9921875) < 1e-12);
    /* As independent data it would be x(7)..x(18) of 24: 9.9 and 10.6. */
    assert_int_equal(jb_median_ci(blocks, 24, 0.95, &lo, &hi, NULL), JB_OK);
    assert_true(lo == 9.9 && hi == 10.6);
    /* Negative autocorrelation counts as none: the same interval as jb_median_ci. */
    static const double alt[] = {10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11};
    assert_true(fabs(jb_lag1_autocorr(alt, 12) + 1) < 1e-12);
    assert_int_equal(jb_median_ci_dependent(alt, 12, 0.95, &lo, &hi, &cov, &ne), JB_OK);
    assert_true(ne == 12 && lo == 10 && hi == 11);
    /* A steady drift: rho 0.97, clamped to 0.9, leaves about one effective value: no interval, the extremes. */
    double trend[20];
    for (int i = 0; i < 20; i++)
        trend[i] = 10 + 0.5 * i + (i % 3 == 0 ? 0.3 : -0.3);
    assert_true(fabs(jb_lag1_autocorr(trend, 20) - 0.9701754385964911) < 1e-12);
    assert_int_equal(jb_median_ci_dependent(trend, 20, 0.95, &lo, &hi, &cov, &ne), JB_EINVAL);
    assert_true(fabs(lo - 10.2) < 1e-12 && fabs(hi - 19.3) < 1e-12);
    assert_true(isnan(jb_lag1_autocorr(trend, 3)));
}

static void test_wilcoxon(void **state)
{
    (void)state;
    static const double d1[] = {1.5, -0.3, 2.1, 0.8, 1.1, -0.2, 0.9, 1.7};
    static const double d2[] = {0.01, 0.02, -0.03, 0.04, 0.05, 0.06};
    static const double d3[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, -22};
    static const double d4[] = {1, 1, 2, 2, -3, 3, 4, -4, 5, 6};
    static const double d5[] = {0.5, 0.5, 0.5, -0.5, 1.0, 1.0, 2.0, -2.0, 3.0, 0};
    double p;
    assert_int_equal(jb_wilcoxon(d1, 8, &p), JB_OK);
    assert_true(fabs(p - 0.0390625) < 1e-12); /* exact */
    assert_int_equal(jb_wilcoxon(d2, 6, &p), JB_OK);
    assert_true(fabs(p - 0.15625) < 1e-12);
    assert_int_equal(jb_wilcoxon(d3, 22, &p), JB_OK); /* over 20 pairs: normal approximation */
    assert_true(fabs(p - 0.0007343368913374178) < 1e-9);
    /* Ties: exact given the midranks, counted over all 2^n sign patterns in Python
     * (itertools.product, ranks from scipy.stats.rankdata). */
    assert_int_equal(jb_wilcoxon(d4, 10, &p), JB_OK);
    assert_true(fabs(p - 0.154296875) < 1e-12);
    assert_int_equal(jb_wilcoxon(d5, 10, &p), JB_OK); /* a zero is dropped, then ties */
    assert_true(fabs(p - 0.14453125) < 1e-12);
    /* Every difference alike (A/B pairs that all moved by the same ratio): 2 / 2^6. */
    static const double same6[] = {0.18, 0.18, 0.18, 0.18, 0.18, 0.18};
    assert_int_equal(jb_wilcoxon(same6, 6, &p), JB_OK);
    assert_true(fabs(p - 0.03125) < 1e-12);
    /* Over 20 with ties: scipy.stats.wilcoxon(d6, method='approx', correction=True). */
    static const double d6[] = {1, 1, 2, 2, -3, 3, 4, -4, 5, 6, 7, 7, 8, 9, -9, 10, 11, 12, 13, 14, 15, 15, -16, 17};
    assert_int_equal(jb_wilcoxon(d6, 24, &p), JB_OK);
    assert_true(fabs(p - 0.004660882906216393) < 1e-9);
    static const double zeros[] = {0, 0, 0};
    assert_int_equal(jb_wilcoxon(zeros, 3, &p), JB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_ci_indices),
        cmocka_unit_test(test_median_ci_coverage),
        cmocka_unit_test(test_wilcoxon),
        cmocka_unit_test(test_dependent_interval),
    };
    return cmocka_run_group_tests_name("interval statistics", tests, NULL, NULL);
}
