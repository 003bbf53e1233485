/*
 * Internal to the runner (runner.c: groups and rounds; runner_body.c: the
 * timed body; runner_finish.c: the figures of a finished group).
 */
#ifndef JB_RUNNER_IMPL_H
#define JB_RUNNER_IMPL_H

#include "harness/gbench.h"
#include "harness/machine.h"
#include "harness/runner.h"

/* Everything one row's benchmark body needs. */
typedef struct row_ctx {
    const jb_row *row;
    const jb_backend_ops *be;
    jb_exec *e;
    jb_meter *meter;          /* its device's meter; NULL: time only */
    const jb_peaks *peaks;
    double idle_watts;
    double max_err;
    size_t peak_bytes;
    int cold_cache;
    int batch;                /* runs per timed batch: 1 unless the backend batches (batch.h) */
    double *iter_s;           /* scratch for one repetition's per-iteration times (seconds per run) */
    size_t iter_cap;
} row_ctx;

#define REP_MAX_COUNTERS 32

/* One repetition (one round) of one row, as Google Benchmark reported it. */
typedef struct rep_rec {
    double time_ns;           /* the repetition's time per run: the median of its runs */
    double mean_ns, cpu_ns;   /* Google Benchmark's mean per run, and CPU time per run */
    int disturbed;            /* taken while the machine was visibly disturbed (runner_finish.c) */
    int64_t iterations;       /* Google Benchmark iterations (batches on a batching backend) */
    int ncounters;
    char names[REP_MAX_COUNTERS][32];
    double values[REP_MAX_COUNTERS];
    char label[40];
    double probe_flop_per_s;  /* the machine probe of the round (NaN: none) */
} rep_rec;

/* One row of a group: its buffers and kernel state, its repetitions, and
 * what it came to. */
typedef struct member {
    row_ctx rc;
    jb_buffers b;
    jb_exec e;
    int timed;                /* verified and handed to Google Benchmark */
    int dropped;              /* interrupted inside it: its reports are not kept */
    int failed_run;           /* an error during timing */
    rep_rec *reps;            /* one per round */
    size_t nreps, capreps;
    int warming;              /* in the warm-up round: its repetition is not kept */
    int64_t iterations;       /* learned in the warm-up round; raised when a repetition came out
                               * shorter than half the min time (runner.c: on_report) */
    double min_time;          /* the group's seconds per repetition in its last round */
    double timed_s;           /* seconds of timed runs so far (the budget) */
    int converged;            /* its interval is as narrow as asked */
    jb_row_result res;
} member;

/* The timed body Google Benchmark calls (runner_body.c). */
void jb_runner_body(jb_gb_state *st, void *arg);

/* The counter of a repetition; NaN when it has none. */
double jb_rep_counter(const rep_rec *r, const char *name);

/* The relative half-width of the 95% interval of a member's median time (NaN
 * with fewer than the interval needs), for the stopping rule. */
double jb_member_halfwidth(const member *m);

/* Writes the finished group's rows (repetitions, then aggregates with the
 * intervals and speed-ups) into each member's entries and result
 * (runner_finish.c). reference: the suite's reference pattern, or NULL. */
void jb_runner_finish_group(member *grp, size_t gn, const jb_runner_config *cfg);

#endif
