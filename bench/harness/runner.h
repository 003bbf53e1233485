/*
 * The runner: for each row of a suite, checks that its kernel can run here
 * and supports the shape, verifies it against the oracle, and times it
 * through Google Benchmark inside an energy window of its device's meter.
 * With interleaving, the rows that share a shape form a group, verified
 * together and then timed in rounds: one repetition of each row per round,
 * in a random order, until every row's 95% interval of its median time is
 * within the target (or its budget is spent, or a fixed number of rounds is
 * done). The repetitions of one round are paired, so each row's speed-up
 * over the group's reference comes with its own interval. The groups of a
 * chunk take their rounds in passes, so each row's repetitions are spread
 * over the chunk's time. What each row came to goes to the reporters. The
 * runner owns the stop flag (Ctrl-C), prints nothing itself but warnings
 * through a callback, and returns status codes.
 */
#ifndef JB_RUNNER_H
#define JB_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "harness/machine.h"
#include "harness/peaks.h"
#include "harness/reporter.h"
#include "harness/suite.h"
#include "meters/meter.h"

/* fp64 operations the oracle may spend checking one row before it samples rows. */
#define JB_RUNNER_VERIFY_BUDGET 4e8
/* A row whose 95% interval is wider than this (half-width over the median) is reported as noisy. */
#define JB_RUNNER_WIDE_CI 0.05

typedef struct jb_runner_config {
    int repetitions;                       /* > 0: exactly this many rounds; 0: until the interval is known */
    double target_ci;                      /* stop a row once its interval's half-width is this share of its median */
    double max_time;                       /* ... or once it has run this many timed seconds */
    int probe;                             /* probe the machine's speed after each round */
    const char *reference;                 /* the reference kernel of every group (an anchored regex), or NULL */
    double min_time[JB_BACKEND_COUNT];     /* per device: seconds a repetition lasts at least */
    int interleave;                        /* 1: interleave the repetitions of rows sharing a shape */
    int cold_cache;                        /* flush the device's caches before each timed run (time only) */
    uint64_t seed;                         /* of the inputs */
    jb_meter *meters[JB_BACKEND_COUNT];    /* each device's meter; NULL: its rows are time only */
    double idle_watts[JB_BACKEND_COUNT];   /* for dynamic_watts; NaN when unknown */
    jb_peaks *peaks;                       /* the CPU rows' ceilings; a round's probe that beats the
                                            * FMA peak raises it (a busy moment at the start would
                                            * otherwise give fractions over 100%) */
    /* Optional: told before each row starts (a progress line; row NULL: clear
     * it, rows are about to be reported), and of each warning. */
    void (*progress)(void *arg, size_t k, size_t n, const char *row);
    void (*warn)(void *arg, const char *msg);
    void *arg;
} jb_runner_config;

#define JB_RUNNER_MAX_PROBES 4096

typedef struct jb_runner_stats {
    int failures;     /* rows that failed verification or errored */
    int noisy;        /* timed rows with no interval or one wider than JB_RUNNER_WIDE_CI */
    int unconverged;  /* timed rows whose interval was still wider than the target when the budget ran out */
    int rows_done;    /* rows reported */
    jb_probe probes[JB_RUNNER_MAX_PROBES]; /* the machine probe after each round */
    int nprobes;
} jb_runner_stats;

/* Runs every row of s and reports each one to every reporter in suite order.
 * JB_OK (also when rows failed: see stats), JB_ENOMEM, or JB_EBACKEND when
 * Google Benchmark raised an exception. Stops early, keeping only whole rows,
 * once jb_runner_stop() is called. */
int jb_runner_run(const jb_suite *s, const jb_runner_config *cfg, jb_reporter *const reps[], size_t nreps,
                  jb_runner_stats *stats);

/* Asks a running jb_runner_run to stop: the groups that have the rounds an
 * interval needs are reported, the others (and any cut off inside a round)
 * dropped. Async-signal-safe. */
void jb_runner_stop(void);
/* 1 once jb_runner_stop was called. */
int jb_runner_stopped(void);

#endif
