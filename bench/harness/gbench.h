/*
 * A C interface to Google Benchmark (the only C++ in the program is its
 * implementation, gbench_shim.cc). Google Benchmark owns the keep-running
 * loop, repetitions and the statistics (mean, median, stddev, cv); joulebench
 * times each iteration itself (manual time) and adds its figures as counters.
 */
#ifndef JB_GBENCH_H
#define JB_GBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jb_gb_state jb_gb_state; /* a benchmark::State */
typedef void (*jb_gb_body)(jb_gb_state *st, void *arg);

typedef struct jb_gb_options {
    int repetitions;        /* >= 1 */
    double min_time;        /* seconds per repetition */
    double min_warmup_time; /* seconds of untimed warm-up before the first repetition */
    const int64_t *iterations; /* optional, per benchmark: > 0 fixes its iteration count (no
                                * search for min_time); NULL or 0: Google Benchmark decides */
} jb_gb_options;

/* One result as Google Benchmark reports it: an iteration run or an aggregate. */
typedef struct jb_gb_run {
    const char *name;            /* benchmark_name(): run name plus "_median" etc. */
    const char *run_name;        /* the row name */
    int is_aggregate;
    const char *aggregate_name;  /* "mean", "median", "stddev", "cv" or "" */
    int aggregate_is_percentage; /* cv is a ratio, not a time */
    int error_occurred;
    const char *error_message;
    const char *label;
    int64_t family_index, per_family_instance_index;
    int64_t iterations, threads, repetitions, repetition_index;
    double real_time_ns, cpu_time_ns; /* per iteration (for cv: the ratio itself) */
    int ncounters;
    const char *const *counter_names;
    const double *counter_values;
} jb_gb_run;

typedef void (*jb_gb_report_fn)(const jb_gb_run *run, void *ctx);

/* Once, before anything else. Google Benchmark's own flags are not parsed. */
void jb_gb_init(const char *argv0);

/* Registers one benchmark, runs it to completion (every repetition) and
 * passes each run and aggregate to report. Returns 0, or -1 on an exception. */
int jb_gb_run_one(const char *name, jb_gb_body body, void *arg, const jb_gb_options *opt,
                  jb_gb_report_fn report, void *ctx);

/* Registers n benchmarks (body called with args[i]) and runs them all: one
 * after the other, or, with interleave, every repetition of every one in a
 * random order (Google Benchmark's random interleaving), so that a machine
 * drifting during the group slows every benchmark alike. Each benchmark's
 * runs and aggregates go to report with ctxs[i] once its last repetition is
 * done. Returns 0, or -1 on an exception. */
int jb_gb_run_group(size_t n, const char *const names[], jb_gb_body body, void *const args[],
                    const jb_gb_options *opt, int interleave, jb_gb_report_fn report, void *const ctxs[]);

/* Inside a body: the keep-running loop, one call per iteration. */
int jb_gb_keep_running(jb_gb_state *st);
void jb_gb_set_iteration_time(jb_gb_state *st, double seconds);
void jb_gb_set_counter(jb_gb_state *st, const char *name, double value);
void jb_gb_set_label(jb_gb_state *st, const char *label);
/* Marks the run as an error row with msg; the body should return. */
void jb_gb_skip_with_error(jb_gb_state *st, const char *msg);
int64_t jb_gb_max_iterations(const jb_gb_state *st);

/* What Google Benchmark knows of the machine, for the results' context. */
typedef struct jb_gb_cache {
    char type[16];
    int level, size, num_sharing;
} jb_gb_cache;
typedef struct jb_gb_sysinfo {
    int num_cpus;
    double mhz_per_cpu;
    int scaling; /* -1 unknown, 0 disabled, 1 enabled */
    int ncaches;
    jb_gb_cache caches[8];
    double load_avg[3];
} jb_gb_sysinfo;
void jb_gb_sysinfo_get(jb_gb_sysinfo *out);

#ifdef __cplusplus
}
#endif
#endif
