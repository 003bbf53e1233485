/*
 * The runner (runner.h): groups of rows that share a shape, each verified,
 * then timed in rounds. A round is one repetition of every row of the group,
 * in a random order (with interleaving); rounds go on until every row's 95%
 * interval is as narrow as asked or its budget is spent (or, with a fixed
 * count, for that many rounds). The groups of a chunk (as many as memory
 * allows) take their rounds in passes, one each, so a row's repetitions are
 * spread over the whole chunk. Each round is followed by a short probe of
 * the machine's speed. Device specifics come from the backend table.
 */
#include "harness/runner.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "harness/batch.h"
#include "harness/results.h"
#include "harness/runner_impl.h"

static volatile sig_atomic_t stop_flag;

void jb_runner_stop(void)
{
    stop_flag = 1;
}

int jb_runner_stopped(void)
{
    return stop_flag != 0;
}

/* Rows with interleaving on are grouped by problem, at most this many in a group. */
#define MAX_GROUP 16
/* Groups set up at once (a chunk, timed together): at most this many groups
 * and rows, and, beyond the first group, this many bytes of buffers. */
#define MAX_CHUNK_GROUPS 128
#define MAX_CHUNK_ROWS 512
#define MAX_CHUNK_BYTES ((size_t)2 << 30)
/* Rounds at most, whatever the budget says. */
#define MAX_ROUNDS 1000

static int same_problem(const jb_row *a, const jb_row *b)
{
    char sa[128], sb[128];
    if (a->p.op != b->p.op)
        return 0;
    jb_problem_format(&a->p, sa, sizeof sa);
    jb_problem_format(&b->p, sb, sizeof sb);
    return !strcmp(sa, sb);
}

double jb_rep_counter(const rep_rec *r, const char *name)
{
    for (int i = 0; i < r->ncounters; i++)
        if (!strcmp(r->names[i], name))
            return r->values[i];
    return NAN;
}

double jb_member_halfwidth(const member *m)
{
    double *t = malloc((m->nreps ? m->nreps : 1) * sizeof *t), lo, hi;
    if (!t)
        return NAN;
    for (size_t i = 0; i < m->nreps; i++)
        t[i] = m->reps[i].time_ns;
    double med = jb_median(t, m->nreps);
    int rc = jb_median_ci(t, m->nreps, 0.95, &lo, &hi, NULL);
    free(t);
    return rc == JB_OK && med > 0 ? (hi - lo) / 2 / med : NAN;
}

/* Google Benchmark's report callback: each repetition is kept, as a record. */
static void on_report(const jb_gb_run *r, void *arg)
{
    member *m = arg;
    if (m->dropped || r->is_aggregate)
        return;
    if (r->error_occurred) {
        if (!strcmp(r->error_message, "interrupted")) {
            m->dropped = 1;
            return;
        }
        m->failed_run = 1;
        m->res.status = JB_ROW_FAILED;
        snprintf(m->res.message, sizeof m->res.message, "error: %.480s", r->error_message);
        return;
    }
    if (m->warming) { /* the warm-up round only finds the iteration count */
        m->iterations = r->iterations;
        return;
    }
    if (m->nreps == m->capreps) {
        size_t cap = m->capreps ? 2 * m->capreps : 16;
        rep_rec *n = realloc(m->reps, cap * sizeof *n);
        if (!n) {
            m->failed_run = 1;
            m->res.status = JB_ROW_FAILED;
            snprintf(m->res.message, sizeof m->res.message, "error: out of memory");
            return;
        }
        m->reps = n;
        m->capreps = cap;
    }
    rep_rec *rep = &m->reps[m->nreps];
    memset(rep, 0, sizeof *rep);
    const int runs = m->rc.batch > 1 ? m->rc.batch : 1;
    rep->mean_ns = jb_batch_per_run(r->real_time_ns, runs, 0);
    rep->cpu_ns = jb_batch_per_run(r->cpu_time_ns, runs, 0);
    rep->iterations = r->iterations;
    rep->probe_flop_per_s = NAN;
    for (int i = 0; i < r->ncounters && i < REP_MAX_COUNTERS; i++) {
        snprintf(rep->names[i], sizeof rep->names[i], "%s", r->counter_names[i]);
        rep->values[i] = r->counter_values[i];
        rep->ncounters++;
    }
    snprintf(rep->label, sizeof rep->label, "%s", r->label ? r->label : "");
    rep->time_ns = jb_rep_counter(rep, "time_p50_ns");
    if (isnan(rep->time_ns))
        rep->time_ns = rep->mean_ns;
    m->nreps++;
    m->timed_s += 1e-9 * rep->mean_ns * (double)r->iterations * runs;
    /* A warm-up whose last trial was slowed by the machine (the process off its
     * core for a while) finds too few iterations, and every repetition after it
     * is short and noisy: the next rounds get as many as the min time needs. */
    const double per_iter_s = 1e-9 * r->real_time_ns;
    if (per_iter_s > 0 && per_iter_s * (double)r->iterations < 0.5 * m->min_time) {
        const double want = ceil(m->min_time / per_iter_s);
        if (want > (double)m->iterations)
            m->iterations = want < 1e9 ? (int64_t)want : (int64_t)1e9;
    }
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

/* Counts and says which rows are not known as well as asked. */
static void warn_width(const member *m, const jb_runner_config *cfg, jb_runner_stats *stats)
{
    const jb_row_result *r = &m->res;
    double hw = 100 * (r->ci_hi_ns - r->ci_lo_ns) / 2 / r->median_ns;
    if (cfg->repetitions <= 0 && !r->converged) {
        stats->unconverged++;
        warnf(cfg, "%s: 95%% interval +-%.1f%% after %d rounds (target +-%.3g%%): stopped on the %.3g s budget",
              m->rc.row->name, hw, r->rounds, 100 * cfg->target_ci, cfg->max_time);
    }
    if (isnan(hw) || hw > 100 * JB_RUNNER_WIDE_CI) {
        stats->noisy++;
        if (cfg->repetitions > 0 && isnan(hw))
            warnf(cfg, "%s: %d repetitions give no 95%% interval (6 are needed)", m->rc.row->name, r->rounds);
        else if (cfg->repetitions > 0)
            warnf(cfg, "%s: 95%% interval +-%.1f%% over %d repetitions: timings too noisy to trust",
                  m->rc.row->name, hw, r->rounds);
    }
}

/* Whether the group needs another round, and the members' convergence. */
static int more_rounds(member *grp, size_t gn, int rounds, const jb_runner_config *cfg)
{
    size_t live = 0;
    for (size_t g = 0; g < gn; g++)
        live += grp[g].timed && !grp[g].dropped && !grp[g].failed_run;
    if (!live || rounds >= MAX_ROUNDS) /* nothing left to time: every row skipped or failed */
        return 0;
    if (cfg->repetitions > 0) /* a fixed count */
        return rounds < cfg->repetitions;
    int need = 0;
    for (size_t g = 0; g < gn; g++) {
        member *m = &grp[g];
        if (!m->timed || m->dropped || m->failed_run)
            continue;
        double hw = jb_member_halfwidth(m);
        m->converged = !isnan(hw) && hw <= cfg->target_ci;
        if (!m->converged && m->timed_s < cfg->max_time)
            need = 1;
    }
    /* Not before every row has the repetitions an interval needs. */
    return need || rounds < (int)jb_median_ci_min_n(0.95);
}

/* A group of a chunk: its members and how far its sampling got. */
typedef struct group {
    member *m;
    size_t n;
    int rounds;               /* rounds kept so far */
    size_t first;             /* its first row's index in the suite */
} group;

/* One round of a group: one repetition of each of its timed members, in a
 * random order with interleaving, then the machine probe. The warm-up round
 * finds each row's iteration count (Google Benchmark's search for min_time)
 * and is not kept; the others reuse the count, so a round is nothing but
 * timed repetitions. JB_OK or JB_EBACKEND. */
static int run_round(group *gp, int warmup, const jb_runner_config *cfg, jb_runner_stats *stats)
{
    const char *names[MAX_GROUP];
    void *args[MAX_GROUP], *ctxs[MAX_GROUP];
    int64_t iters[MAX_GROUP];
    double min_time = 0; /* the longest window any of the group's meters needs */
    size_t nt = 0;
    for (size_t g = 0; g < gp->n; g++) {
        member *m = &gp->m[g];
        if (!m->timed || m->dropped || m->failed_run)
            continue;
        min_time = fmax(min_time, cfg->min_time[m->rc.row->k->backend]);
        names[nt] = m->rc.row->name;
        args[nt] = &m->rc;
        ctxs[nt] = m;
        iters[nt] = m->iterations; /* 0 in the warm-up round: Google Benchmark finds it */
        m->warming = warmup;
        nt++;
    }
    for (size_t g = 0; g < gp->n; g++)
        gp->m[g].min_time = min_time;
    if (!nt)
        return JB_OK;
    jb_gb_options gopt = {.repetitions = 1, .min_time = min_time, .min_warmup_time = warmup ? min_time / 2 : 0,
                          .iterations = iters};
    if (jb_gb_run_group(nt, names, jb_runner_body, args, &gopt, cfg->interleave, on_report, ctxs))
        return JB_EBACKEND;
    if (warmup)
        return JB_OK;
    gp->rounds++;
    jb_probe pr;
    if (cfg->probe && jb_machine_probe(&pr) == JB_OK) {
        for (size_t g = 0; g < gp->n; g++) {
            member *m = &gp->m[g];
            if (m->nreps && isnan(m->reps[m->nreps - 1].probe_flop_per_s))
                m->reps[m->nreps - 1].probe_flop_per_s = pr.flop_per_s;
        }
        if (stats->nprobes < JB_RUNNER_MAX_PROBES)
            stats->probes[stats->nprobes++] = pr;
        if (cfg->peaks && pr.flop_per_s > cfg->peaks->flop_per_s) /* the same loop: a better reading */
            cfg->peaks->flop_per_s = pr.flop_per_s;
    }
    return JB_OK;
}

/* A small generator for the order of the groups in each pass. */
static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Sets up, verifies and warms up the rows from i on into mem[], group by
 * group, until the chunk is full; returns the number of groups (0 when
 * stopped before one). *next gets the index of the first row left over. */
static size_t fill_chunk(const jb_suite *s, size_t i, member *mem, group *groups, const jb_runner_config *cfg,
                         jb_runner_stats *stats, size_t *next, int *status)
{
    size_t nm = 0, ng = 0, bytes = 0;
    while (i < s->nrows && ng < MAX_CHUNK_GROUPS && !stop_flag && *status == JB_OK) {
        /* A group: this row alone, or with interleaving the rows after it of
         * the same op and shape, all set up and verified before any is timed. */
        size_t gn = 1;
        if (cfg->interleave)
            while (i + gn < s->nrows && gn < MAX_GROUP && same_problem(&s->rows[i], &s->rows[i + gn]))
                gn++;
        if (nm + gn > MAX_CHUNK_ROWS || (ng && bytes >= MAX_CHUNK_BYTES))
            break;
        group *gp = &groups[ng++];
        *gp = (group){.m = mem + nm, .n = gn, .first = i};
        for (size_t g = 0; g < gn; g++) {
            member *m = &gp->m[g];
            memset(m, 0, sizeof *m);
            m->rc.row = &s->rows[i + g];
            m->res = (jb_row_result){.row = m->rc.row, .index = (int64_t)(i + g), .status = JB_ROW_TIMED,
                                     .cv = NAN, .energy = "-", .entries = cJSON_CreateArray()};
            if (!m->res.entries) {
                gp->n = g;
                *status = JB_ENOMEM;
                break;
            }
            if (cfg->progress)
                cfg->progress(cfg->arg, i + g, s->nrows, m->rc.row->name);
            m->timed = prepare(m, cfg);
            bytes += m->timed ? m->rc.peak_bytes : 0;
        }
        nm += gp->n;
        i += gn;
        if (*status == JB_OK && !stop_flag)
            *status = run_round(gp, 1, cfg, stats);
    }
    *next = i;
    return ng;
}

/* Reports a chunk's groups in suite order and frees them. After a failure
 * none is kept; after Ctrl-C, only the groups that had the rounds an interval
 * needs (a fixed count: all of them) and were not interrupted inside one. */
static void finish_chunk(group *groups, size_t ng, int failed, const jb_runner_config *cfg, jb_reporter *const reps[],
                         size_t nreps, jb_runner_stats *stats)
{
    const int need = cfg->repetitions > 0 ? cfg->repetitions : (int)jb_median_ci_min_n(0.95);
    /* A second reading of the copy bandwidth, and of every other instruction
     * family a timed row ran on, now the chunk has run: the CPU rows' % of each
     * is taken against the better reading (peaks.h; a busy start read the int8
     * dot loop at 290 GOP/s against 373, and oneDNN's int8 came out at 91%). */
    int cpu_rows = 0, used[JB_FAM_COUNT] = {0};
    for (size_t k = 0; k < ng; k++)
        for (size_t g = 0; g < groups[k].n; g++) {
            const member *m = &groups[k].m[g];
            jb_family fam;
            if (!m->timed || m->rc.row->k->backend != JB_BACKEND_CPU)
                continue;
            cpu_rows = 1;
            if (jb_peaks_row_family(m->rc.row->k, &m->rc.row->p, &fam, NULL))
                used[fam] = 1;
        }
    if (cpu_rows && cfg->peaks && !failed && !stop_flag) {
        jb_peaks_recheck_copy(cfg->peaks);
        for (int f = 0; f < JB_FAM_COUNT; f++)
            if (used[f])
                jb_peaks_recheck_family(cfg->peaks, (jb_family)f);
    }
    for (size_t k = 0; k < ng; k++) {
        group *gp = &groups[k];
        int dropped = failed || (stop_flag && gp->rounds < need);
        for (size_t g = 0; g < gp->n; g++)
            dropped |= gp->m[g].dropped;
        if (!dropped)
            jb_runner_finish_group(gp->m, gp->n, cfg);
        for (size_t g = 0; g < gp->n; g++) {
            member *m = &gp->m[g];
            if (m->timed) {
                jb_exec_teardown(m->rc.row->k, &m->e);
                jb_buffers_free(&m->b);
            }
            if (!dropped) {
                /* The rows are reported whole and in suite order. */
                if (m->res.status == JB_ROW_FAILED)
                    stats->failures++;
                if (cfg->progress)
                    cfg->progress(cfg->arg, 0, 0, NULL);
                for (size_t r = 0; r < nreps; r++)
                    reps[r]->row(reps[r], &m->res);
                stats->rows_done++;
                if (m->timed && m->res.status == JB_ROW_TIMED)
                    warn_width(m, cfg, stats);
            }
            cJSON_Delete(m->res.entries);
            free(m->reps);
            free(m->rc.iter_s);
        }
    }
}

int jb_runner_run(const jb_suite *s, const jb_runner_config *cfg, jb_reporter *const reps[], size_t nreps,
                  jb_runner_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    member *mem = calloc(MAX_CHUNK_ROWS, sizeof *mem);
    group *groups = calloc(MAX_CHUNK_GROUPS, sizeof *groups);
    if (!mem || !groups) {
        free(mem);
        free(groups);
        return JB_ENOMEM;
    }
    int status = JB_OK;
    uint64_t rng = cfg->seed * 0x9E3779B97F4A7C15ull + 1;
    size_t order[MAX_CHUNK_GROUPS];
    for (size_t i = 0; i < s->nrows && !stop_flag && status == JB_OK;) {
        /* A chunk of groups, all set up at once; their rounds are spread over
         * the chunk's whole time, one round per group in each pass, so each
         * row's repetitions sample the machine over minutes, not seconds. */
        size_t next, ng = fill_chunk(s, i, mem, groups, cfg, stats, &next, &status);
        for (int pass = 0; status == JB_OK && !stop_flag; pass++) {
            size_t nmore = 0;
            for (size_t k = 0; k < ng; k++)
                if (more_rounds(groups[k].m, groups[k].n, groups[k].rounds, cfg))
                    order[nmore++] = k;
            if (!nmore)
                break;
            for (size_t k = nmore; k > 1; k--) { /* a new order each pass */
                size_t j = (size_t)(next_random(&rng) % k), t = order[k - 1];
                order[k - 1] = order[j];
                order[j] = t;
            }
            for (size_t k = 0; k < nmore && status == JB_OK && !stop_flag; k++) {
                group *gp = &groups[order[k]];
                if (cfg->progress)
                    cfg->progress(cfg->arg, gp->first, s->nrows, gp->m[0].rc.row->name);
                status = run_round(gp, 0, cfg, stats);
            }
        }
        if (status == JB_EBACKEND)
            for (size_t k = 0; k < ng; k++)
                for (size_t g = 0; g < groups[k].n; g++)
                    if (groups[k].m[g].timed)
                        not_timed(&groups[k].m[g], JB_ROW_FAILED, "error: Google Benchmark raised an exception", NAN);
        finish_chunk(groups, ng, status != JB_OK, cfg, reps, nreps, stats);
        i = next;
    }
    free(mem);
    free(groups);
    for (int b = 0; b < JB_BACKEND_COUNT; b++) {
        const jb_backend_ops *be = jb_backend_get((jb_backend)b);
        if (be->release)
            be->release();
    }
    return status;
}
