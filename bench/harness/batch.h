/*
 * Batches: how runs are grouped for timing. A CPU row times each run on its
 * own (a batch of 1). A GPU row times a batch of back-to-back runs between one
 * pair of device events (jb_cuda_time_batch), because a GEMM of a few
 * microseconds would otherwise be timed with the host's launch overhead in
 * it. Google Benchmark then sees one iteration per batch; this module sizes
 * the batch, turns per-batch figures into per-run ones, and keeps the tally
 * from which time, energy per run and the device's busy fraction of the
 * energy window are computed. Pure arithmetic: tested without a device.
 */
#ifndef JB_BATCH_H
#define JB_BATCH_H

#include <stdint.h>

#define JB_BATCH_TARGET_SECONDS 2e-3 /* device time a batch should take */
#define JB_BATCH_MAX_RUNS 128        /* runs per batch: well inside the device's launch queue */

/* Runs per batch for a run of about run_seconds: enough for target_seconds,
 * within [1, max_runs]; max_runs when the estimate is unusable (<= 0, NaN). */
int jb_batch_size(double run_seconds, double target_seconds, int max_runs);

/* A figure Google Benchmark computed per iteration (one batch of runs) as a
 * figure per run: times (iterations, mean, median, stddev) are divided by
 * runs; percentages (cv) are not. */
double jb_batch_per_run(double per_batch, int runs, int is_percentage);

/* What one energy window held. */
typedef struct jb_batch_tally {
    int64_t batches;        /* timed batches */
    int64_t runs;           /* runs over all of them */
    int64_t unheld;         /* GPU batches whose hold kernel timed out (gaps possible) */
    double device_seconds;  /* summed timed seconds */
} jb_batch_tally;

void jb_batch_add(jb_batch_tally *t, int runs, double seconds, int held);
/* Joules per run of a window that held exactly these batches (NaN before any run). */
double jb_batch_joules_per_run(const jb_batch_tally *t, double window_joules);
/* Fraction of the energy window the timed runs took, in [0, 1] (NaN for an empty
 * window): what part of the measured energy the kernel itself drew while running. */
double jb_batch_busy(const jb_batch_tally *t, double window_seconds);

#endif
