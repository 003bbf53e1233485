/*
 * The timed body Google Benchmark calls for each repetition of a row: one run,
 * or one batch of runs on a batching backend, per iteration, inside one
 * energy window; every figure of the repetition becomes a counter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "harness/batch.h"
#include "harness/runner_impl.h"

/* Per-run times kept of one repetition (beyond that, an evenly spread sample). */
#define ITER_CAP ((size_t)1 << 18)

/* One run, or one batch of runs on a batching backend, per Google Benchmark
 * iteration, inside one energy window. Google Benchmark sees each batch's
 * time; the results module turns it back into time per run. */
void jb_runner_body(jb_gb_state *st, void *arg)
{
    row_ctx *rc = arg;
    const jb_kernel *k = rc->row->k;
    const jb_problem *p = &rc->row->p;
    const int gpu = k->backend == JB_BACKEND_CUDA;
    jb_batch_tally tally = {0};
    jb_meter_reading r = {0};
    int metered = rc->meter && !rc->cold_cache;
    jb_gpu_state g0, g1;
    int have_gpu_state = rc->meter && jb_meter_gpu_state(rc->meter, &g0) == JB_OK;
    /* Room for this repetition's per-run times (allocated here, outside the timed
     * loop); beyond ITER_CAP iterations every stride-th is kept. */
    int64_t max_it = jb_gb_max_iterations(st);
    size_t want = max_it > 0 && max_it < (int64_t)ITER_CAP ? (size_t)max_it : ITER_CAP;
    if (want > rc->iter_cap) {
        double *t = realloc(rc->iter_s, want * sizeof *t);
        if (!t) {
            jb_gb_skip_with_error(st, "out of memory");
            return;
        }
        rc->iter_s = t;
        rc->iter_cap = want;
    }
    const int64_t stride = max_it > (int64_t)ITER_CAP ? (max_it + ITER_CAP - 1) / ITER_CAP : 1;
    size_t kept = 0;
    int64_t it = 0;
    jb_machine_snap m0, m1;
    jb_machine_snap_take(&m0);
    if (metered && jb_meter_start(rc->meter)) {
        jb_gb_skip_with_error(st, "energy meter failed to start");
        return;
    }
    while (jb_gb_keep_running(st)) {
        if (jb_runner_stopped()) {
            jb_gb_skip_with_error(st, "interrupted");
            break;
        }
        if (rc->cold_cache)
            rc->be->flush_caches();
        double t = 0;
        int held = 1, status = rc->be->time_runs(k, rc->e, rc->batch, &t, &held);
        if (status) {
            char msg[128];
            snprintf(msg, sizeof msg, "run failed: %s", jb_strerror(status));
            jb_gb_skip_with_error(st, msg);
            break;
        }
        jb_gb_set_iteration_time(st, t);
        jb_batch_add(&tally, rc->batch, t, held);
        if (it++ % stride == 0 && kept < rc->iter_cap)
            rc->iter_s[kept++] = t / rc->batch;
    }
    if (metered && jb_meter_stop(rc->meter, &r)) {
        jb_gb_skip_with_error(st, "energy meter failed to read");
        return;
    }
    jb_machine_snap_take(&m1);
    have_gpu_state = have_gpu_state && jb_meter_gpu_state(rc->meter, &g1) == JB_OK;
    if (!tally.runs)
        return;
    /* The repetition's time: the median of its runs, which a burst of interference
     * inside the repetition moves far less than the mean. The rates come from it;
     * the energy per run is the window's energy over its runs. */
    const double t = jb_median(rc->iter_s, kept);
    jb_gb_set_counter(st, "time_p50_ns", 1e9 * t);
    double steal, switches;
    jb_machine_delta(&m0, &m1, &steal, &switches);
    if (!isnan(steal))
        jb_gb_set_counter(st, "steal_pct", steal);
    jb_gb_set_counter(st, "ctx_switches", switches);
    double flops = jb_problem_flops(p), bytes = jb_kernel_min_bytes(k, p);
    jb_gb_set_counter(st, "flop_per_s", flops / t);
    jb_gb_set_counter(st, "bytes_per_s", bytes / t);
    jb_gb_set_counter(st, "intensity", flops / bytes);
    /* Against the ceiling of the instructions the kernel runs on (its family's);
     * the measured peaks are the CPU's: GPU rows, and rows on a family this CPU
     * lacks, get no fraction rather than a wrong one. */
    jb_family fam;
    const double ceiling = jb_peaks_row_family(k, p, &fam, NULL) ? jb_peaks_family(rc->peaks, fam) : 0;
    if (ceiling > 0)
        jb_gb_set_counter(st, "pct_peak_flops", 100.0 * flops / t / ceiling);
    if (!gpu)
        jb_gb_set_counter(st, "pct_peak_bw", 100.0 * bytes / t / rc->peaks->bytes_per_s);
    jb_gb_set_counter(st, "max_err", rc->max_err);
    jb_gb_set_counter(st, "workspace_bytes", (double)rc->e->ws_size);
    if (rc->be->batched) {
        jb_gb_set_counter(st, "runs_per_batch", rc->batch);
        if (tally.unheld)
            jb_gb_set_counter(st, "unheld_batches", (double)tally.unheld);
    }
    if (have_gpu_state) {
        double pct;
        int thr = jb_gpu_throttled(&g0, &g1, &pct);
        if (g1.sm_clock_mhz > 0)
            jb_gb_set_counter(st, "sm_clock_mhz", g1.sm_clock_mhz);
        if (g1.sm_clock_mhz > 0 && g1.sm_clock_max_mhz > 0)
            jb_gb_set_counter(st, "sm_clock_pct_max", 100.0 * g1.sm_clock_mhz / g1.sm_clock_max_mhz);
        if (g1.temperature_c >= 0)
            jb_gb_set_counter(st, "gpu_temp_c", g1.temperature_c);
        if (thr >= 0)
            jb_gb_set_counter(st, "throttled", thr);
        if (!isnan(pct))
            jb_gb_set_counter(st, "throttle_pct", pct);
    }
    jb_gb_set_counter(st, "peak_bytes", (double)rc->peak_bytes);
    if (metered && r.seconds > 0) {
        double joules = jb_batch_joules_per_run(&tally, r.joules);
        jb_gb_set_counter(st, "joules", joules);
        jb_gb_set_counter(st, "watts", r.watts);
        jb_gb_set_counter(st, "dynamic_watts", r.watts - rc->idle_watts);
        jb_gb_set_counter(st, "flop_per_j", flops / joules);
        jb_gb_set_counter(st, "energy_measured", r.measured ? 1 : 0);
        /* The share of the window the kernel ran: the rest is the harness between runs. */
        jb_gb_set_counter(st, "device_busy", jb_batch_busy(&tally, r.seconds));
        jb_gb_set_label(st, r.measured ? "energy: measured" : "energy: estimated");
    } else {
        jb_gb_set_label(st, rc->cold_cache ? "cold cache: time only" : "time only");
    }
}
