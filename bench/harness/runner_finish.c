/*
 * The figures of a finished group: for each row, its repetitions and then
 * the aggregates Google Benchmark writes (mean, median, stddev, cv) and ours
 * (min, ci95_low, ci95_high), the median's counters with their intervals,
 * and its speed-up over the group's reference from the paired rounds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "harness/results.h"
#include "harness/runner_impl.h"

/* A repetition is marked disturbed when the probe after its round ran this
 * much slower than the group's median probe, or the hypervisor stole more
 * than this share of the CPUs' time during it. */
#define DISTURBED_PROBE 0.85
#define DISTURBED_STEAL_PCT 2.0

/* Counters whose intervals the median row carries: a rate, so its interval
 * is the time interval's, inverted. */
static const char *const rate_counters[] = {"flop_per_s", "bytes_per_s", "flop_per_j", "pct_peak_flops",
                                            "pct_peak_bw"};

/* The counters of one row to write (a plain value: copies stay valid). */
typedef struct out_row {
    int n;
    char names[JB_ROW_MAX_COUNTERS][32];
    double values[JB_ROW_MAX_COUNTERS];
} out_row;

static void put(out_row *o, const char *name, double v)
{
    if (o->n == JB_ROW_MAX_COUNTERS || isnan(v))
        return;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->names[i], name)) {
            o->values[i] = v;
            return;
        }
    snprintf(o->names[o->n], sizeof o->names[o->n], "%s", name);
    o->values[o->n++] = v;
}

static double get(const out_row *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->names[i], name))
            return o->values[i];
    return NAN;
}

typedef enum { AGG_MEAN, AGG_MEDIAN, AGG_STDDEV, AGG_CV, AGG_MIN } agg_kind;

static double mean_of(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return n ? s / (double)n : NAN;
}

/* Sample standard deviation, as Google Benchmark's (n - 1); NaN below 2. */
static double stddev_of(const double *x, size_t n)
{
    if (n < 2)
        return NAN;
    double m = mean_of(x, n), s = 0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)(n - 1));
}

static double min_of(const double *x, size_t n)
{
    double m = INFINITY;
    for (size_t i = 0; i < n; i++)
        m = fmin(m, x[i]);
    return n ? m : NAN;
}

static double aggregate(agg_kind kind, const double *x, size_t n)
{
    switch (kind) {
    case AGG_MEAN: return mean_of(x, n);
    case AGG_MEDIAN: return jb_median(x, n);
    case AGG_STDDEV: return stddev_of(x, n);
    case AGG_CV: return n >= 2 && mean_of(x, n) != 0 ? stddev_of(x, n) / mean_of(x, n) : NAN;
    case AGG_MIN: return min_of(x, n);
    }
    return NAN;
}

static const char *const agg_names[] = {"mean", "median", "stddev", "cv", "min"};

/* One row to the member's entries through the results module (runs = 1: the
 * times given are per run). */
static cJSON *emit(member *m, const char *agg, int64_t rep_index, double real_ns, double cpu_ns, int64_t iterations,
                   const out_row *o, const char *label)
{
    const char *names[JB_ROW_MAX_COUNTERS];
    for (int i = 0; o && i < o->n; i++)
        names[i] = o->names[i];
    jb_gb_run r = {
        .name = m->rc.row->name,
        .run_name = m->rc.row->name,
        .is_aggregate = agg != NULL,
        .aggregate_name = agg ? agg : "",
        .aggregate_is_percentage = agg && !strcmp(agg, "cv"),
        .label = label,
        .family_index = m->res.index,
        .iterations = iterations,
        .threads = 1,
        .repetitions = (int64_t)m->nreps,
        .repetition_index = rep_index,
        .real_time_ns = real_ns,
        .cpu_time_ns = cpu_ns,
        .ncounters = o ? o->n : 0,
        .counter_names = o ? names : NULL,
        .counter_values = o ? o->values : NULL,
    };
    cJSON *row = jb_results_add_run(m->res.entries, m->rc.row, m->res.index, &r, 1);
    /* Which instructions the row ran on, and whose ceiling its pct_peak_flops is of. */
    jb_family fam;
    const char *path;
    int of_family = jb_peaks_row_family(m->rc.row->k, &m->rc.row->p, &fam, &path);
    if (row && m->rc.row->k->backend == JB_BACKEND_CPU)
        jb_results_set_path(row, of_family ? jb_family_name(fam) : NULL, path);
    return row;
}

/* The reference of m in its group: the suite's, else the vendor library's
 * variant of the same dtype, else its f32 one, else naive of the same dtype,
 * else naive f32; always on m's device, and timed (a reference that was
 * skipped passes to the next). NULL when the group has none. */
static const member *reference_of(const member *m, const member *grp, size_t gn)
{
    const jb_kernel *k = m->rc.row->k;
    const char *vendor = jb_backend_get(k->backend)->vendor_variant;
    struct {
        const char *variant;
        int same_dtype;
    } prefs[] = {{vendor, 1}, {vendor, 0}, {"naive", 1}, {"naive", 0}};
    const jb_kernel *want = m->rc.row->reference;
    for (size_t p = 0; p < (want ? 1 : sizeof prefs / sizeof prefs[0]); p++)
        for (size_t g = 0; g < gn; g++) {
            const jb_kernel *c = grp[g].rc.row->k;
            int match = want ? c == want
                             : c->backend == k->backend && prefs[p].variant && !strcmp(c->variant, prefs[p].variant) &&
                                   (prefs[p].same_dtype ? c->dtype == k->dtype : c->dtype == JB_DT_F32);
            if (match && grp[g].timed && !grp[g].failed_run && grp[g].nreps)
                return &grp[g];
        }
    return NULL;
}

/* The median and 95% interval of ref time / row time over the paired rounds,
 * in round order: rounds close in time are alike when the machine drifts, so
 * the interval is the one for their effective number (stats.h); *rho gets the
 * ratios' lag-1 autocorrelation. */
static void speedup(const member *m, const member *ref, double *s, double *lo, double *hi, double *rho)
{
    size_t n = m->nreps < ref->nreps ? m->nreps : ref->nreps;
    double *r = malloc((n ? n : 1) * sizeof *r);
    *s = *lo = *hi = *rho = NAN;
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        r[i] = ref->reps[i].time_ns / m->reps[i].time_ns;
    *s = jb_median(r, n);
    *rho = jb_lag1_autocorr(r, n);
    if (jb_median_ci_dependent(r, n, 0.95, lo, hi, NULL, NULL) != JB_OK)
        *lo = *hi = NAN;
    free(r);
}

/* Marks the repetitions taken while the machine was visibly disturbed. */
static void mark_disturbed(member *grp, size_t gn)
{
    double probes[4096];
    size_t np = 0;
    for (size_t g = 0; g < gn; g++)
        for (size_t i = 0; i < grp[g].nreps && np < sizeof probes / sizeof probes[0]; i++)
            if (!isnan(grp[g].reps[i].probe_flop_per_s))
                probes[np++] = grp[g].reps[i].probe_flop_per_s;
    double med = np ? jb_median(probes, np) : NAN;
    for (size_t g = 0; g < gn; g++)
        for (size_t i = 0; i < grp[g].nreps; i++) {
            rep_rec *r = &grp[g].reps[i];
            double steal = jb_rep_counter(r, "steal_pct");
            r->disturbed = (np && r->probe_flop_per_s < DISTURBED_PROBE * med) || steal > DISTURBED_STEAL_PCT;
        }
}

/* Writes one timed member: repetitions, then aggregates; fills its result. */
static void finish_member(member *m, const member *grp, size_t gn, const jb_runner_config *cfg)
{
    const size_t n = m->nreps;
    const int runs = m->rc.batch > 1 ? m->rc.batch : 1;
    double *t = malloc(n * sizeof *t), *cpu = malloc(n * sizeof *cpu), *v = malloc(n * sizeof *v);
    if (!t || !cpu || !v) {
        free(t), free(cpu), free(v);
        m->res.status = JB_ROW_FAILED;
        snprintf(m->res.message, sizeof m->res.message, "error: out of memory");
        return;
    }
    size_t disturbed = 0, fastest = 0;
    jb_family fam;
    jb_peaks_row_family(m->rc.row->k, &m->rc.row->p, &fam, NULL);
    const double ceiling = jb_peaks_family(m->rc.peaks, fam);
    for (size_t i = 0; i < n; i++) {
        rep_rec *r = &m->reps[i];
        /* The fractions of the peaks against their best readings by now, the same for
         * every repetition (runner.h: the probes can raise the FMA peak during the
         * run, and the copy bandwidth is read again before a chunk is reported);
         * pct_peak_flops is of the row's own family's ceiling (runner_body.c). */
        for (int c = 0; c < r->ncounters && m->rc.peaks; c++) {
            if (!strcmp(r->names[c], "pct_peak_flops") && ceiling > 0)
                r->values[c] = 100.0 * jb_rep_counter(r, "flop_per_s") / ceiling;
            else if (!strcmp(r->names[c], "pct_peak_bw") && m->rc.peaks->bytes_per_s > 0)
                r->values[c] = 100.0 * jb_rep_counter(r, "bytes_per_s") / m->rc.peaks->bytes_per_s;
        }
        t[i] = r->time_ns;
        cpu[i] = r->cpu_ns;
        disturbed += r->disturbed != 0;
        if (t[i] < t[fastest])
            fastest = i;
        out_row o = {0};
        for (int c = 0; c < r->ncounters; c++)
            if (strcmp(r->names[c], "time_p50_ns"))
                put(&o, r->names[c], r->values[c]);
        put(&o, "mean_time_ns", r->mean_ns);
        put(&o, "probe_flop_per_s", r->probe_flop_per_s);
        put(&o, "disturbed", r->disturbed);
        emit(m, NULL, (int64_t)i, r->time_ns, r->cpu_ns, r->iterations * runs, &o, r->label);
    }
    const rep_rec *first = &m->reps[0];
    /* Aggregates keep the repetitions' label when they all share it (as Google Benchmark does). */
    const char *label = first->label;
    for (size_t i = 1; i < n; i++)
        if (strcmp(m->reps[i].label, label))
            label = NULL;
    /* Google Benchmark's aggregates and the minimum: each counter aggregated
     * alike, except min, which is the fastest repetition with its counters. */
    out_row med = {0};
    for (int kind = AGG_MEAN; kind <= AGG_MIN; kind++) {
        out_row o = {0};
        for (int c = 0; c < first->ncounters; c++) {
            if (!strcmp(first->names[c], "time_p50_ns"))
                continue;
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                double x = kind == AGG_MIN ? (i == fastest ? jb_rep_counter(&m->reps[i], first->names[c]) : NAN)
                                           : jb_rep_counter(&m->reps[i], first->names[c]);
                if (!isnan(x))
                    v[k++] = x;
            }
            put(&o, first->names[c], kind == AGG_MIN ? (k ? v[0] : NAN) : aggregate(kind, v, k));
        }
        if (kind == AGG_MEDIAN) {
            med = o;
            continue; /* written below, with its intervals */
        }
        double rt = aggregate((agg_kind)kind, t, n), ct = kind == AGG_MIN ? cpu[fastest] : aggregate((agg_kind)kind, cpu, n);
        if (kind == AGG_CV)
            m->res.cv = rt;
        if (!(kind == AGG_STDDEV || kind == AGG_CV) || n >= 2)
            emit(m, agg_names[kind], 0, rt, ct, first->iterations * runs, &o, label);
    }
    /* The median, its interval, and the median row's figures. */
    double mt = jb_median(t, n), lo = NAN, hi = NAN, coverage = NAN;
    int have_ci = jb_median_ci(t, n, 0.95, &lo, &hi, &coverage) == JB_OK;
    m->res.median_ns = mt;
    m->res.ci_lo_ns = have_ci ? lo : NAN;
    m->res.ci_hi_ns = have_ci ? hi : NAN;
    m->res.rounds = (int)n;
    double hw = have_ci && mt > 0 ? (hi - lo) / 2 / mt : NAN;
    m->res.converged = !isnan(hw) && hw <= cfg->target_ci;
    if (have_ci)
        for (size_t c = 0; c < sizeof rate_counters / sizeof rate_counters[0]; c++) {
            double x = get(&med, rate_counters[c]);
            char name[32];
            if (isnan(x))
                continue;
            snprintf(name, sizeof name, "%s_ci95_low", rate_counters[c]);
            put(&med, name, x * mt / hi);
            snprintf(name, sizeof name, "%s_ci95_high", rate_counters[c]);
            put(&med, name, x * mt / lo);
        }
    put(&med, "ci_halfwidth_pct", 100 * hw);
    /* How alike neighbouring repetitions are (the time interval takes them as independent). */
    put(&med, "time_autocorr", jb_lag1_autocorr(t, n));
    put(&med, "ci_coverage", coverage);
    put(&med, "converged", m->res.converged);
    put(&med, "disturbed_reps", (double)disturbed);
    const member *ref = reference_of(m, grp, gn);
    m->res.speedup = m->res.speedup_lo = m->res.speedup_hi = NAN;
    m->res.reference[0] = 0;
    if (ref) {
        snprintf(m->res.reference, sizeof m->res.reference, "%s", ref->rc.row->k->name);
        if (ref != m) {
            double rho = NAN;
            speedup(m, ref, &m->res.speedup, &m->res.speedup_lo, &m->res.speedup_hi, &rho);
            put(&med, "speedup", m->res.speedup);
            put(&med, "speedup_ci95_low", m->res.speedup_lo);
            put(&med, "speedup_ci95_high", m->res.speedup_hi);
            put(&med, "speedup_autocorr", rho);
        }
    }
    cJSON *o = emit(m, "median", 0, mt, jb_median(cpu, n), first->iterations * runs, &med, label);
    if (o && ref)
        jb_results_set_reference(o, ref->rc.row->k->name);
    if (have_ci) {
        double clo, chi;
        if (jb_median_ci(cpu, n, 0.95, &clo, &chi, NULL) != JB_OK)
            clo = chi = jb_median(cpu, n);
        emit(m, "ci95_low", 0, lo, clo, first->iterations * runs, NULL, label);
        emit(m, "ci95_high", 0, hi, chi, first->iterations * runs, NULL, label);
    }
    /* The result the console and CSV show: the median row's counters. */
    m->res.ncounters = 0;
    for (int c = 0; c < med.n && c < JB_ROW_MAX_COUNTERS; c++) {
        snprintf(m->res.counter_names[c], sizeof m->res.counter_names[c], "%s", med.names[c]);
        m->res.counter_values[c] = med.values[c];
        m->res.ncounters++;
    }
    double em = get(&med, "energy_measured");
    m->res.energy = isnan(em) ? "time-only" : em > 0.5 ? "measured" : "estimated";
    free(t), free(cpu), free(v);
}

void jb_runner_finish_group(member *grp, size_t gn, const jb_runner_config *cfg)
{
    mark_disturbed(grp, gn);
    for (size_t g = 0; g < gn; g++) {
        member *m = &grp[g];
        if (m->timed && !m->dropped && !m->failed_run && m->nreps && m->res.status == JB_ROW_TIMED)
            finish_member(m, grp, gn, cfg);
        else if (m->timed && m->res.status == JB_ROW_FAILED && !cJSON_GetArraySize(m->res.entries))
            jb_results_add_error(m->res.entries, m->rc.row, m->res.index, m->res.message, NAN);
    }
}
