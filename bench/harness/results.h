/*
 * Results files: Google Benchmark JSON ("context" + "benchmarks"), written
 * and read here and nowhere else. A row is one repetition (run_type
 * "iteration") or one aggregate of a benchmark row ("_mean", "_median", ...),
 * or a row that was not timed (error_occurred, with why). Besides Google
 * Benchmark's fields every row written carries "kernel"
 * (op/backend/variant/dtype), "op" and "shape" (the problem's keys as an
 * object), so no reader has to take names apart; files without them (older
 * ones) are read by parsing the row name (jb_row_name_parse). A CPU row also
 * says which instructions it ran on: "path", and, where its work is FLOPs,
 * "peak_family", the instruction family whose ceiling its pct_peak_flops is
 * a fraction of (the context's "peak_families" holds the ceilings).
 */
#ifndef JB_RESULTS_H
#define JB_RESULTS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/gbench.h"
#include "harness/peaks.h"
#include "harness/suite.h"

/* ---- Writing ----------------------------------------------------------------- */

/* A new results document: its "context" object and "benchmarks" array (both
 * owned by the document) in *ctx and *benchmarks. NULL when out of memory. */
cJSON *jb_results_new(cJSON **ctx, cJSON **benchmarks);

/* Appends to benchmarks the row Google Benchmark reported for one run or
 * aggregate of suite row `row` (family_index index). runs: runs per Google
 * Benchmark iteration (GPU batches, batch.h): times are written per run and
 * "iterations" counts runs. Returns the new object, NULL when out of memory. */
cJSON *jb_results_add_run(cJSON *benchmarks, const jb_row *row, int64_t index, const jb_gb_run *r, int runs);

/* A CPU row's "path" (the instructions its kernel ran on: jb_kernel_path)
 * and, unless NULL, its "peak_family" (jb_family_name). */
void jb_results_set_path(cJSON *row, const char *peak_family, const char *path);

/* Adds to o, under key, each measured family's ceiling as
 * {"<family>": {"ops_per_s": N, "instruction": "..."}}, families the CPU
 * lacks left out; fp32_fma's is the best reading (jb_peaks_family). The run's
 * context has it as "peak_families", `joulebench env --json` as
 * peaks.families. JB_OK or JB_ENOMEM. */
int jb_results_add_peak_families(cJSON *o, const char *key, const jb_peaks *pk);

/* Names the kernel a row's "speedup" counters are measured against. */
void jb_results_set_reference(cJSON *row, const char *kernel);

/* Appends a row that was not timed: skipped (unavailable, unsupported) or
 * failed, with msg; max_err when it failed verification (NaN: none). */
cJSON *jb_results_add_error(cJSON *benchmarks, const jb_row *row, int64_t index, const char *msg, double max_err);

/* Writes doc to path as valid UTF-8 JSON through jb_file_write_atomic, so
 * readers see either the old file, no file, or the whole new one.
 * JB_OK, JB_ENOMEM or JB_EIO with a reason in msg. */
int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len);

/* ---- Reading ----------------------------------------------------------------- */

/* Reads a results file; NULL with a reason in msg when it is missing, not a
 * regular file, not UTF-8, not JSON (trailing text included), or not Google
 * Benchmark JSON (no "context" object and "benchmarks" list). */
cJSON *jb_results_read(const char *path, char *msg, size_t len);
/* The same for text already read (path only names it in messages). */
cJSON *jb_results_parse(const char *text, const char *path, char *msg, size_t len);

/* One row as every reader sees it. Strings and json point into the document. */
typedef struct jb_result_row {
    int index;                  /* position in "benchmarks" */
    const char *name;           /* "name": the row name, plus "_median" etc. for an aggregate */
    const char *run_name;       /* the benchmark row: kernel/shape */
    char kernel[96];            /* op/backend/variant/dtype */
    jb_problem problem;         /* valid when have_problem */
    int have_problem;           /* 0: neither "shape" nor the name says (a foreign row) */
    int aggregate;              /* 0: one repetition */
    const char *aggregate_name; /* "" for a repetition */
    int percentage;             /* an aggregate that is a ratio (cv), not a time */
    int64_t repetitions, repetition_index, iterations;
    double time_ns;             /* real_time in ns per run; NaN for a row not timed */
    const char *error;          /* why the row was not timed; NULL when it was */
    const char *reference;      /* the kernel its speedup counters are against; NULL: none */
    const char *peak_family;    /* whose ceiling its pct_peak_flops is of; NULL: not said (GPU,
                                 * softmax, files before the families: there, fp32 FMA) */
    const char *path;           /* the instructions it ran on; NULL: not said */
    const cJSON *json;          /* the row itself, for jb_result_counter */
} jb_result_row;

/* A document's context object and its rows (the "benchmarks" array), NULL when absent. */
const cJSON *jb_results_context(const cJSON *doc);
const cJSON *jb_results_rows(const cJSON *doc);

/* The counter called name of a row (flop_per_j, watts, ...); NaN when the
 * row has none (or null: a counter Google Benchmark could not aggregate). */
double jb_result_counter(const jb_result_row *r, const char *name);

/*
 * Checks every row of doc and calls fn on each in order; stops when fn
 * returns non-zero and returns that. Every field a reader uses must have its
 * type: names strings, times and counters non-negative finite numbers (or
 * null), error_occurred a boolean, real_time in a known time_unit. JB_OK,
 * JB_EPARSE with "benchmarks[i] (name): why" in msg, or fn's code.
 */
int jb_results_each(const cJSON *doc, int (*fn)(const jb_result_row *r, void *arg), void *arg, char *msg, size_t len);

/* Checks the context keys readers use: the strings are strings, the numbers
 * numbers, "warnings" a list of strings, "peak_families" an object of
 * {"ops_per_s": number, "instruction": string}. JB_OK or JB_EPARSE with why. */
int jb_results_check_context(const cJSON *doc, char *msg, size_t len);

#endif
