/*
 * Regression statistics, shared by `joulebench compare` and `history check`:
 * medians, the two-sided Mann-Whitney U test, per-row samples gathered from
 * Google Benchmark JSON (one sample per repetition), the comparison of two
 * such sets with a verdict per row, and its rendering as a console table,
 * GitHub-flavoured markdown or JSON.
 */
#ifndef JB_STATS_H
#define JB_STATS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

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

/* ---- Per-row samples ------------------------------------------------------ */

typedef enum { JB_METRIC_TIME, JB_METRIC_FLOP_PER_J, JB_METRIC_COUNT } jb_metric;

/* "time" or "flop_per_j". */
const char *jb_metric_name(jb_metric m);

typedef struct jb_samples {
    double *v;
    size_t n, cap;
} jb_samples;

/* One benchmark row: its name, the error that kept it from being timed (NULL
 * when it was timed), and one sample per repetition of each metric. */
typedef struct jb_bench_row {
    char *name;
    char *error;
    jb_samples s[JB_METRIC_COUNT];
    int energy_measured; /* 1 measured, 0 estimated, -1 unknown (time only) */
} jb_bench_row;

/* Rows in the order they were first seen. */
typedef struct jb_bench_set {
    jb_bench_row *rows;
    size_t n, cap;
} jb_bench_set;

/* Empties s; jb_bench_set_free releases everything (NULL is accepted). */
void jb_bench_set_init(jb_bench_set *s);
void jb_bench_set_free(jb_bench_set *s);

/* The row called name, created at the end when absent (NULL: out of memory). */
jb_bench_row *jb_bench_set_row(jb_bench_set *s, const char *name);
const jb_bench_row *jb_bench_set_find(const jb_bench_set *s, const char *name);

/* Appends one sample; JB_OK or JB_ENOMEM. */
int jb_samples_add(jb_samples *s, double v);

/* Records why a row was not timed (the first error is kept); JB_OK or JB_ENOMEM. */
int jb_bench_row_set_error(jb_bench_row *r, const char *msg);

/*
 * Adds the rows of a Google Benchmark JSON document to s: each "iteration"
 * row (each repetition) adds one sample per metric, keyed on run_name (name
 * when there is none); real_time is converted to ns from its time_unit;
 * flop_per_j is taken when the row has that counter. Aggregate rows are not
 * samples and are skipped. A row with error_occurred becomes an error row.
 * Returns JB_OK, JB_EPARSE with a reason in msg when "benchmarks" is not a
 * list of objects with names, or JB_ENOMEM.
 */
int jb_bench_set_from_json(const cJSON *doc, jb_bench_set *s, char *msg, size_t len);

/* ---- Comparison ------------------------------------------------------------ */

typedef enum {
    JB_V_SAME,       /* within the threshold */
    JB_V_BETTER,     /* better by more than the threshold, p < alpha */
    JB_V_WORSE,      /* worse by more than the threshold, p < alpha: a regression */
    JB_V_NOISY,      /* changed by more than the threshold, but p >= alpha */
    JB_V_FEW,        /* fewer than 2 repetitions on a side: not tested */
    JB_V_NODATA,     /* the metric is missing on a side (a time-only row for flop_per_j) */
    JB_V_ERROR,      /* an error row on either side: not compared */
    JB_V_ONLY_BASE,  /* the row is only in the baseline */
    JB_V_ONLY_CUR,   /* the row is only in the current results */
    JB_V_COUNT
} jb_verdict;

/* "same", "better", "worse", "noisy", "too few repetitions", ... */
const char *jb_verdict_name(jb_verdict v);

typedef struct jb_compare_opts {
    int metrics[JB_METRIC_COUNT]; /* which metrics to compare (non-zero: yes) */
    double threshold;             /* relative change that matters, e.g. 0.05 */
    double alpha;                 /* significance level, e.g. 0.05 */
    const char *filter;           /* POSIX extended regex over row names, or NULL */
} jb_compare_opts;

typedef struct jb_cmp_metric {
    size_t n_base, n_cur;
    double base_median, cur_median;
    double change;        /* cur_median / base_median - 1 (NaN when not computed) */
    double p;             /* NaN when not tested */
    jb_mwu_method method;
    jb_verdict verdict;
} jb_cmp_metric;

typedef struct jb_cmp_row {
    const char *name;     /* borrowed from the sets compared */
    const char *error;    /* the error message of an error row (the baseline's when both), borrowed */
    const char *error_cur;/* the current side's message when both sides are error rows */
    int error_side;       /* 0 baseline, 1 current, 2 both */
    jb_verdict status;    /* JB_V_SAME when in both and timed; else ERROR, ONLY_BASE, ONLY_CUR */
    jb_cmp_metric m[JB_METRIC_COUNT];
} jb_cmp_row;

typedef struct jb_comparison {
    jb_compare_opts opts;
    jb_cmp_row *rows;
    size_t n;
    char **notes;         /* warnings: context differences, too few repetitions, ... */
    size_t nnotes;
    size_t count[JB_V_COUNT];  /* rows (x metrics compared) per verdict */
    size_t regressions;        /* rows worse on any compared metric */
} jb_comparison;

/*
 * Compares cur with base row by row (both borrowed: they must outlive c).
 * Rows present in both are compared per metric: medians, relative change,
 * the U test over the repetitions, and a verdict (time: lower is better;
 * flop_per_j: higher is better). Rows of the baseline come first in its
 * order, then rows only in the current set. JB_OK, JB_EINVAL for a bad
 * filter regex, or JB_ENOMEM.
 */
int jb_compare(const jb_bench_set *base, const jb_bench_set *cur, const jb_compare_opts *o, jb_comparison *c);
void jb_comparison_free(jb_comparison *c);

/* Adds a warning to c (printed with the table); JB_OK or JB_ENOMEM. */
int jb_comparison_note(jb_comparison *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Adds a note for each setting that moves results and differs between the
 * two contexts: cpu_model, num_cpus, threads, isa, build_type, meter, energy
 * (measured or estimated), cold_cache. A key missing on one side counts as
 * "(none)"; a key missing on both is not a difference.
 */
void jb_comparison_context_notes(jb_comparison *c, const cJSON *base_ctx, const cJSON *cur_ctx);

typedef enum { JB_CMP_CONSOLE, JB_CMP_MARKDOWN, JB_CMP_JSON } jb_cmp_format;

/* Labels for the two sides in the output (file names, or run descriptions). */
typedef struct jb_cmp_labels {
    const char *base, *cur;
    const char *base_detail, *cur_detail; /* e.g. "commit abc, 2024-01-01"; may be NULL */
} jb_cmp_labels;

/* Writes the comparison to f in the chosen format. */
void jb_comparison_print(const jb_comparison *c, const jb_cmp_labels *l, jb_cmp_format fmt, FILE *f);

/* Parses "console", "markdown" or "json"; -1 when it is none of them. */
int jb_cmp_format_from_name(const char *s);

/*
 * Command-line options shared by `compare` and `history check` (defined in
 * cmd_compare.c): when argv[*i] is --metric, --threshold, --alpha, --format
 * or --filter, consumes it and its value (advancing *i) and returns 1; a bad
 * value is a usage error naming cmd. Returns 0 for any other argument.
 * jb_compare_defaults sets time, 5%, 0.05, console.
 */
void jb_compare_defaults(jb_compare_opts *o, jb_cmp_format *fmt);
int jb_compare_option(const char *cmd, int argc, char **argv, int *i, jb_compare_opts *o, jb_cmp_format *fmt);

/* "k=v" details of a results context: "commit X, date Y, host Z" into buf. */
void jb_context_detail(const cJSON *ctx, char *buf, size_t len);

#endif
