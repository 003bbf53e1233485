/*
 * The comparison of two sets of per-row samples (samples.h), row by row:
 * medians, relative change, the U test and a verdict per metric; notes on
 * settings that differ; and its rendering (compare_print.c) as a console
 * table, GitHub-flavoured markdown or JSON. Shared by `compare` and
 * `history check`.
 */
#ifndef JB_COMPARE_H
#define JB_COMPARE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "analysis/samples.h"
#include "analysis/stats.h"

/* ---- Comparison ------------------------------------------------------------ */

typedef enum {
    JB_V_SAME,       /* within the threshold */
    JB_V_BETTER,     /* better by more than the threshold (the whole interval), p < alpha */
    JB_V_WORSE,      /* worse by more than the threshold (the whole interval), p < alpha: a regression */
    JB_V_INCONCLUSIVE, /* the data cannot tell: moved beyond the threshold with p >= alpha, or
                        * its interval reaches both inside and beyond the threshold */
    JB_V_FEW,        /* fewer than 2 repetitions on a side: not tested */
    JB_V_NODATA,     /* the metric is missing on a side (a time-only row for flop_per_j) */
    JB_V_ERROR,      /* an error row on either side: not compared */
    JB_V_SKIPPED,    /* skipped on both sides (kernel unavailable there, e.g. no GPU): not compared */
    JB_V_ONLY_BASE,  /* the row is only in the baseline */
    JB_V_ONLY_CUR,   /* the row is only in the current results */
    JB_V_COUNT
} jb_verdict;

/* "same", "better", "worse", "inconclusive", "too few repetitions", ... */
const char *jb_verdict_name(jb_verdict v);

typedef struct jb_compare_opts {
    int metrics[JB_METRIC_COUNT]; /* which metrics to compare (non-zero: yes) */
    double threshold;             /* relative change that matters, e.g. 0.05 */
    double alpha;                 /* significance level, e.g. 0.05 */
    const char *filter;           /* POSIX extended regex over row names, or NULL */
    int paired;                   /* sample i of each side was taken beside the other's (A/B runs):
                                   * Wilcoxon signed-rank over the log ratios, not the U test */
} jb_compare_opts;

typedef struct jb_cmp_metric {
    size_t n_base, n_cur;
    double base_median, cur_median;
    double change;        /* cur_median / base_median - 1; paired: the median of cur_i / base_i, - 1
                           * (NaN when not computed) */
    double change_lo, change_hi; /* its 95% interval (NaN with fewer than 6 samples a side) */
    double p;             /* NaN when not tested */
    jb_mwu_method method; /* unpaired only */
    jb_verdict verdict;
} jb_cmp_metric;

typedef struct jb_cmp_row {
    const char *name;     /* borrowed from the sets compared */
    const char *error;    /* the error message of an error row (the baseline's when both), borrowed */
    const char *error_cur;/* the current side's message when both sides are error rows */
    int error_side;       /* 0 baseline, 1 current, 2 both */
    jb_verdict status;    /* JB_V_SAME when in both and timed; else ERROR, SKIPPED, ONLY_BASE, ONLY_CUR */
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
 * Rows present in both are compared per metric: medians, relative change and
 * its 95% interval, a test (the U test over the repetitions; paired: the
 * Wilcoxon signed-rank test over the log ratios), and a verdict (time: lower
 * is better; flop_per_j: higher is better). With an interval: worse or
 * better when p < alpha and the whole interval is beyond the threshold; same when the whole interval is within the threshold;
 * inconclusive otherwise. Without one (fewer than 6 samples): same within
 * the threshold, else worse or better with p < alpha, else inconclusive. Rows of the baseline come first in its
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

/* "k=v" details of a results context: "commit X, date Y, host Z" into buf. */
void jb_context_detail(const cJSON *ctx, char *buf, size_t len);

#endif
