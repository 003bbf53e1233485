/*
 * The runner (runner.h): the group loop, verification, and the timed body
 * that Google Benchmark calls, with its energy window. Device specifics come
 * from the backend table (jb_backend_get): how a run is timed, how caches
 * are flushed, whether runs are batched.
 */
#include "harness/runner.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/batch.h"
#include "harness/gbench.h"
#include "harness/results.h"

static volatile sig_atomic_t stop_flag;

void jb_runner_stop(void)
{
    stop_flag = 1;
}

int jb_runner_stopped(void)
{
    return stop_flag != 0;
}

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
} row_ctx;

/* One row of a group: its buffers and kernel state, what Google Benchmark
 * reported for it, and what it came to. */
typedef struct member {
    row_ctx rc;
    jb_buffers b;
    jb_exec e;
    int timed;                /* verified and handed to Google Benchmark */
    int dropped;              /* interrupted inside it: its reports are not kept */
    jb_row_result res;
} member;

/* Rows with interleaving on are grouped by problem, at most this many at once
 * (all of a group's buffers are alive while it runs). */
#define MAX_GROUP 16

static int same_problem(const jb_row *a, const jb_row *b)
{
    char sa[128], sb[128];
    if (a->p.op != b->p.op)
        return 0;
    jb_problem_format(&a->p, sa, sizeof sa);
    jb_problem_format(&b->p, sb, sizeof sb);
    return !strcmp(sa, sb);
}

/* One run, or one batch of runs on a batching backend, per Google Benchmark
 * iteration, inside one energy window. Google Benchmark sees each batch's
 * time; the results module turns it back into time per run. */
static void body(jb_gb_state *st, void *arg)
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
    if (metered && jb_meter_start(rc->meter)) {
        jb_gb_skip_with_error(st, "energy meter failed to start");
        return;
    }
    while (jb_gb_keep_running(st)) {
        if (stop_flag) {
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
    }
    if (metered && jb_meter_stop(rc->meter, &r)) {
        jb_gb_skip_with_error(st, "energy meter failed to read");
        return;
    }
    have_gpu_state = have_gpu_state && jb_meter_gpu_state(rc->meter, &g1) == JB_OK;
    if (!tally.runs)
        return;
    double t = jb_batch_run_seconds(&tally), flops = jb_problem_flops(p), bytes = jb_problem_min_bytes(p);
    jb_gb_set_counter(st, "flop_per_s", flops / t);
    jb_gb_set_counter(st, "bytes_per_s", bytes / t);
    jb_gb_set_counter(st, "intensity", flops / bytes);
    /* The measured peaks are the CPU's: GPU rows get no fraction rather than a wrong one. */
    if (!gpu && p->op != JB_OP_SOFTMAX)
        jb_gb_set_counter(st, "pct_peak_flops", 100.0 * flops / t / rc->peaks->flop_per_s);
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

/* Google Benchmark's report callback: each run and aggregate becomes a
 * results entry; the median (or the only run) and cv feed the row's result. */
static void on_report(const jb_gb_run *r, void *arg)
{
    member *m = arg;
    jb_row_result *res = &m->res;
    if (m->dropped)
        return;
    if (r->error_occurred && !strcmp(r->error_message, "interrupted")) {
        m->dropped = 1;
        return;
    }
    cJSON *o = jb_results_add_run(res->entries, m->rc.row, res->index, r, m->rc.batch);
    if (r->error_occurred) {
        res->status = JB_ROW_FAILED;
        snprintf(res->message, sizeof res->message, "error: %s", r->error_message);
    }
    int is_median = r->is_aggregate && !strcmp(r->aggregate_name, "median");
    if (o && (is_median || (r->repetitions <= 1 && !r->is_aggregate))) {
        res->median_ns = cJSON_GetObjectItem(o, "real_time")->valuedouble;
        res->ncounters = 0;
        for (int i = 0; i < r->ncounters && i < JB_ROW_MAX_COUNTERS; i++) {
            snprintf(res->counter_names[i], sizeof res->counter_names[i], "%s", r->counter_names[i]);
            res->counter_values[i] = r->counter_values[i];
            res->ncounters++;
        }
        double em = jb_row_result_counter(res, "energy_measured");
        res->energy = isnan(em) ? "time-only" : em > 0.5 ? "measured" : "estimated";
    }
    if (r->is_aggregate && !strcmp(r->aggregate_name, "cv"))
        res->cv = r->real_time_ns; /* a cv aggregate's "time" is the ratio itself */
}

/* A row that will not be timed: skipped or failed, with why. */
static void not_timed(member *m, jb_row_status status, const char *msg, double max_err)
{
    m->res.status = status;
    snprintf(m->res.message, sizeof m->res.message, "%.500s", msg);
    jb_results_add_error(m->res.entries, m->rc.row, m->res.index, msg, max_err);
}

/* Checks, sets up and verifies one row; 1 when it is ready to be timed. */
static int prepare(member *m, const jb_runner_config *cfg)
{
    const jb_row *row = m->rc.row;
    char why[256], msg[600];
    if (jb_kernel_available(row->k, why, sizeof why)) {
        snprintf(msg, sizeof msg, "skipped: %s", why);
        not_timed(m, JB_ROW_UNAVAILABLE, msg, NAN);
        return 0;
    }
    if (jb_kernel_supports(row->k, &row->p, why, sizeof why)) {
        snprintf(msg, sizeof msg, "skipped: %s", why);
        not_timed(m, JB_ROW_SKIPPED, msg, NAN);
        return 0;
    }
    if (jb_buffers_init(&m->b, row->k, &row->p, cfg->seed)) {
        not_timed(m, JB_ROW_FAILED, "error: cannot allocate the buffers", NAN);
        return 0;
    }
    jb_verify_result vr;
    int rc = jb_verify_sampled(row->k, &m->b, &m->e, JB_RUNNER_VERIFY_BUDGET, cfg->seed, &vr);
    if (rc) { /* JB_EUNSUPPORTED: only the device could tell, a skip as supports() would give */
        snprintf(msg, sizeof msg, rc == JB_EUNSUPPORTED ? "skipped: %s" : "verification failed: %s", vr.msg);
        not_timed(m, rc == JB_EUNSUPPORTED ? JB_ROW_SKIPPED : JB_ROW_FAILED, msg,
                  rc == JB_EUNSUPPORTED ? NAN : vr.max_err);
        jb_buffers_free(&m->b);
        return 0;
    }
    const jb_backend be = row->k->backend;
    m->rc.be = jb_backend_get(be);
    m->rc.e = &m->e;
    m->rc.meter = cfg->meters[be];
    m->rc.idle_watts = isnan(cfg->idle_watts[be]) ? 0 : cfg->idle_watts[be];
    m->rc.peaks = cfg->peaks;
    m->rc.cold_cache = cfg->cold_cache;
    m->rc.max_err = vr.max_err;
    m->rc.peak_bytes = m->b.ws_size + jb_problem_output_elems(&row->p) * sizeof(float);
    for (int j = 0; j < jb_problem_num_inputs(&row->p); j++)
        m->rc.peak_bytes += jb_problem_input_elems(&row->p, j) * sizeof(float);
    m->rc.batch = 1;
    if (m->rc.be->batched && !cfg->cold_cache) {
        /* Size the batch from one untimed run (the verification warmed it up). */
        double t1 = 0;
        int held;
        if ((rc = m->rc.be->time_runs(row->k, &m->e, 1, &t1, &held))) {
            snprintf(msg, sizeof msg, "error: run failed: %s", jb_strerror(rc));
            not_timed(m, JB_ROW_FAILED, msg, NAN);
            jb_exec_teardown(row->k, &m->e);
            jb_buffers_free(&m->b);
            return 0;
        }
        m->rc.batch = jb_batch_size(t1, JB_BATCH_TARGET_SECONDS, JB_BATCH_MAX_RUNS);
    }
    return 1;
}

static void warnf(const jb_runner_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(const jb_runner_config *cfg, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cfg->warn)
        cfg->warn(cfg->arg, msg);
}

int jb_runner_run(const jb_suite *s, const jb_runner_config *cfg, jb_reporter *const reps[], size_t nreps,
                  jb_runner_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    member *grp = calloc(MAX_GROUP, sizeof *grp);
    if (!grp)
        return JB_ENOMEM;
    int status = JB_OK;
    for (size_t i = 0; i < s->nrows && !stop_flag;) {
        /* A group: this row alone, or with interleaving the rows after it of
         * the same op and shape, all set up and verified before any is timed. */
        size_t gn = 1;
        if (cfg->interleave)
            while (i + gn < s->nrows && gn < MAX_GROUP && same_problem(&s->rows[i], &s->rows[i + gn]))
                gn++;
        const char *names[MAX_GROUP];
        void *args[MAX_GROUP], *ctxs[MAX_GROUP];
        size_t nt = 0;
        double min_time = 0; /* the longest window any of the group's meters needs */
        for (size_t g = 0; g < gn; g++) {
            member *m = &grp[g];
            memset(m, 0, sizeof *m);
            m->rc.row = &s->rows[i + g];
            m->res = (jb_row_result){.row = m->rc.row, .index = (int64_t)(i + g), .status = JB_ROW_TIMED,
                                     .cv = NAN, .energy = "-", .entries = cJSON_CreateArray()};
            if (!m->res.entries) {
                status = JB_ENOMEM;
                break;
            }
            if (cfg->progress)
                cfg->progress(cfg->arg, i + g, s->nrows, m->rc.row->name);
            if (!prepare(m, cfg))
                continue;
            m->timed = 1;
            min_time = fmax(min_time, cfg->min_time[m->rc.row->k->backend]);
            names[nt] = m->rc.row->name;
            args[nt] = &m->rc;
            ctxs[nt] = m;
            nt++;
        }
        jb_gb_options gopt = {.repetitions = cfg->repetitions, .min_time = min_time, .min_warmup_time = min_time / 2};
        if (status == JB_OK && nt && jb_gb_run_group(nt, names, body, args, &gopt, cfg->interleave, on_report, ctxs)) {
            status = JB_EBACKEND;
            for (size_t g = 0; g < gn; g++)
                if (grp[g].timed)
                    not_timed(&grp[g], JB_ROW_FAILED, "error: Google Benchmark raised an exception", NAN);
        }
        int dropped = 0;
        for (size_t g = 0; g < gn && grp[g].res.entries; g++) {
            member *m = &grp[g];
            if (m->timed) {
                jb_exec_teardown(m->rc.row->k, &m->e);
                jb_buffers_free(&m->b);
            }
            if (m->dropped) { /* interrupted inside this row: its partial reports are not kept */
                dropped = 1;
            } else {
                /* The group's rows are reported whole and in suite order. */
                if (m->res.status == JB_ROW_FAILED)
                    stats->failures++;
                if (cfg->progress)
                    cfg->progress(cfg->arg, 0, 0, NULL);
                for (size_t r = 0; r < nreps; r++)
                    reps[r]->row(reps[r], &m->res);
                stats->rows_done++;
                if (m->timed && m->res.status == JB_ROW_TIMED && !isnan(m->res.cv) && m->res.cv > JB_RUNNER_CV_WARN) {
                    stats->noisy++;
                    warnf(cfg, "%s: cv %.1f%% over %d repetitions (above %.0f%%): timings too noisy to trust",
                          m->rc.row->name, 100 * m->res.cv, cfg->repetitions, 100 * JB_RUNNER_CV_WARN);
                }
            }
            cJSON_Delete(m->res.entries);
        }
        if (dropped || status != JB_OK)
            break;
        i += gn;
    }
    free(grp);
    for (int b = 0; b < JB_BACKEND_COUNT; b++) {
        const jb_backend_ops *be = jb_backend_get((jb_backend)b);
        if (be->release)
            be->release();
    }
    return status;
}
