/*
 * Per-row samples of results files, for `compare` and `history`: one sample
 * per repetition of each metric, keyed on the row name.
 */
#ifndef JB_SAMPLES_H
#define JB_SAMPLES_H

#include <cjson/cJSON.h>
#include <stddef.h>

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

/*
 * One pair of A/B runs taken back to back (a the baseline's, b the current
 * one's): adds to base and cur one sample per row and metric, the median of
 * that row's repetitions in a and in b, for each row timed in both, so that
 * sample i of a row is pair i on both sides. A row that errored in either
 * run becomes an error row; a row in one run only goes to that side only.
 * JB_OK or JB_ENOMEM.
 */
int jb_bench_set_add_pair(jb_bench_set *base, jb_bench_set *cur, const jb_bench_set *a, const jb_bench_set *b);

#endif
