/*
 * The runner: for each row of a suite, checks that its kernel can run here
 * and supports the shape, verifies it against the oracle, and times it
 * through Google Benchmark inside an energy window of its device's meter;
 * with interleaving, the rows that share a shape are verified together and
 * their repetitions run in one random order. What each row came to goes to
 * the reporters. The runner owns the stop flag (Ctrl-C), prints nothing
 * itself but warnings through a callback, and returns status codes.
 */
#ifndef JB_RUNNER_H
#define JB_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "harness/peaks.h"
#include "harness/reporter.h"
#include "harness/suite.h"
#include "meters/meter.h"

/* fp64 operations the oracle may spend checking one row before it samples rows. */
#define JB_RUNNER_VERIFY_BUDGET 4e8
/* A row whose repetitions vary by more than this (cv) is reported as noisy. */
#define JB_RUNNER_CV_WARN 0.05

typedef struct jb_runner_config {
    int repetitions;                       /* >= 1 */
    double min_time[JB_BACKEND_COUNT];     /* per device: seconds a repetition lasts at least */
    int interleave;                        /* 1: interleave the repetitions of rows sharing a shape */
    int cold_cache;                        /* flush the device's caches before each timed run (time only) */
    uint64_t seed;                         /* of the inputs */
    jb_meter *meters[JB_BACKEND_COUNT];    /* each device's meter; NULL: its rows are time only */
    double idle_watts[JB_BACKEND_COUNT];   /* for dynamic_watts; NaN when unknown */
    const jb_peaks *peaks;                 /* the CPU rows' ceilings */
    /* Optional: told before each row starts (a progress line; row NULL: clear
     * it, rows are about to be reported), and of each warning. */
    void (*progress)(void *arg, size_t k, size_t n, const char *row);
    void (*warn)(void *arg, const char *msg);
    void *arg;
} jb_runner_config;

typedef struct jb_runner_stats {
    int failures;   /* rows that failed verification or errored */
    int noisy;      /* timed rows with cv above JB_RUNNER_CV_WARN */
    int rows_done;  /* rows reported */
} jb_runner_stats;

/* Runs every row of s and reports each one to every reporter in suite order.
 * JB_OK (also when rows failed: see stats), JB_ENOMEM, or JB_EBACKEND when
 * Google Benchmark raised an exception. Stops early, keeping only whole rows,
 * once jb_runner_stop() is called. */
int jb_runner_run(const jb_suite *s, const jb_runner_config *cfg, jb_reporter *const reps[], size_t nreps,
                  jb_runner_stats *stats);

/* Asks a running jb_runner_run to stop: the row in progress is dropped, the
 * finished ones stay. Async-signal-safe. */
void jb_runner_stop(void);
/* 1 once jb_runner_stop was called. */
int jb_runner_stopped(void);

#endif
