/*
 * `joulebench run`: the measurement harness. For each row of the suite:
 * verify against the oracle, then time it through Google Benchmark (manual
 * time around each run call), with an energy window around the same
 * iterations; every figure becomes a counter in Google Benchmark JSON.
 * Peaks and idle power are measured once per run, settings recorded in the
 * context, and the file written atomically (Ctrl-C keeps the finished rows).
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli/cli.h"
#include "util/files.h"
#include "cpu/cpu.h"
#include "cuda/cuda_backend.h"
#include "harness/batch.h"
#include "harness/gbench.h"
#include "meters/meter.h"
#include "util/pattern.h"
#include "harness/peaks.h"
#include "harness/results.h"
#include "harness/settings.h"
#include "harness/suite.h"

/* fp64 operations the oracle may spend checking one row before it samples rows. */
#define VERIFY_BUDGET 4e8
#define CV_WARN 0.05

typedef enum { FMT_CONSOLE, FMT_JSON, FMT_CSV } out_format;

typedef struct run_opts {
    const char *suite, *filter, *out, *meter;
    int threads, repetitions, cold_cache;
    int interleave;           /* -1 unset (the suite decides), 0 off, 1 on */
    double min_time, tdp, idle_watts;
    uint64_t seed;
    out_format format;
} run_opts;

/* The meter of one device's rows, and its idle power. */
typedef struct device_meter {
    jb_meter *meter;          /* NULL: that device's rows are time only */
    double idle_watts;        /* NaN when unknown */
    char notes[512];          /* why a better meter was passed over, or why there is none */
} device_meter;

/* Everything one row's benchmark body needs. */
typedef struct row_ctx {
    const jb_row *row;
    jb_exec *e;
    jb_meter *meter;          /* its device's meter; NULL: time only */
    const jb_peaks *peaks;
    double idle_watts;
    double max_err;
    size_t peak_bytes;
    int cold_cache;
    char *flush;              /* cold cache: a buffer larger than the LLC */
    size_t flush_bytes;
    int batch;                /* runs per timed batch: 1 on the CPU (batch.h) */
} row_ctx;

/* Collects what Google Benchmark reports for one row. */
typedef struct collect {
    cJSON *benchmarks;
    int64_t index;            /* family_index of this row */
    const jb_row *row;
    int have_median;
    double median_ns, cv;
    double counters[24];
    char names[24][24];
    int ncounters;
    int error;
    char error_msg[512];
    const char *energy_kind;
    int drop;                 /* interrupted: the row's reports are not kept */
    int runs;                 /* runs per Google Benchmark iteration (a GPU batch; 1 on the CPU) */
} collect;

/* One row of a group being run together: its buffers, kernel state,
 * benchmark context and what it reported. */
typedef struct member {
    collect col;
    jb_buffers b;
    jb_exec e;
    row_ctx rc;
    int timed;                /* verified and handed to Google Benchmark */
    int failed;               /* could not be set up or failed verification */
    int quiet;                /* unavailable kernel: summed up in one line at the end */
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

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL); /* a second one ends the run at once, leaving the old file as it was */
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void help(void)
{
    printf(
        "usage: joulebench run [--suite FILE|NAME] [--filter REGEX] [--out FILE]\n"
        "                      [--meter auto|rapl|nvml|model] [--threads N] [--repetitions N]\n"
        "                      [--min-time S] [--cold-cache] [--interleave|--no-interleave]\n"
        "                      [--format console|json|csv] [--tdp W] [--idle-watts W] [--seed S]\n\n"
        "Runs every row of a suite (op/backend/variant/dtype x shape): verifies it against\n"
        "the fp64 oracle, then times it with Google Benchmark (median of N repetitions, each\n"
        "at least S seconds after a warm-up) inside an energy window, and writes Google\n"
        "Benchmark JSON with joulebench's figures as counters.\n\n"
        "  --suite       a file, or a name in configs/suites/ (default: default)\n"
        "  --filter      POSIX extended regex over row names, e.g. 'attention/.*/n:2048'\n"
        "  --out         results file (default results/<host>-<date>-<time>.json)\n"
        "  --meter       energy source: auto (default) meters CPU rows with rapl, else the\n"
        "                model, and GPU rows with nvml only; a meter that cannot measure a\n"
        "                device some row runs on (rapl or model for GPU rows, nvml for CPU\n"
        "                rows) is refused\n"
        "  --threads     OpenMP threads (default: all logical CPUs)\n"
        "  --repetitions default 5 (or the suite's); --min-time default 0.1 s (or the suite's),\n"
        "                lengthened to 10 meter update periods when needed\n"
        "  --cold-cache  flush the caches before each iteration, outside the timed region;\n"
        "                those rows report time only (no energy)\n"
        "  --interleave  run the repetitions of the rows that share a shape in one random\n"
        "                order (Google Benchmark's random interleaving), so a machine that\n"
        "                drifts during the run slows every variant alike and their ratios\n"
        "                hold; default: the suite's \"interleave\" (off when absent), which\n"
        "                --no-interleave overrides\n"
        "  --format      what goes to stdout: console table (default), json or csv\n"
        "  --tdp, --idle-watts  override the model meter's hardware profile\n\n"
        "Counters per row: flop_per_s, bytes_per_s, intensity, joules (per run), watts,\n"
        "dynamic_watts (watts - idle), flop_per_j, pct_peak_flops, pct_peak_bw, max_err,\n"
        "energy_measured (1 measured, 0 estimated), device_busy, workspace_bytes, peak_bytes;\n"
        "GPU rows also runs_per_batch (they are timed in batches of back-to-back runs between\n"
        "two device events), unheld_batches, sm_clock_mhz, sm_clock_pct_max, gpu_temp_c,\n"
        "throttled and throttle_pct.\n"
        "exit: 0 ok, 1 a row failed verification or errored, 2 bad input, 130 interrupted\n");
}

static const char *suite_path(const char *s, char *buf, size_t len)
{
    struct stat st;
    if (!s)
        s = "default";
    if (stat(s, &st) == 0 || strchr(s, '/') || strstr(s, ".json"))
        return s;
    snprintf(buf, len, "configs/suites/%s.json", s);
    if (stat(buf, &st) == 0)
        return buf;
    snprintf(buf, len, "%s/configs/suites/%s.json", JB_SOURCE_DIR, s);
    return buf;
}

static void parse_args(int argc, char **argv, run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->interleave = -1;
    o->format = FMT_CONSOLE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            exit(JB_EXIT_OK);
        }
        if (!strcmp(a, "--cold-cache")) {
            o->cold_cache = 1;
            continue;
        }
        if (!strcmp(a, "--interleave") || !strcmp(a, "--no-interleave")) {
            o->interleave = !strcmp(a, "--interleave");
            continue;
        }
        static const char *const with_value[] = {"--suite", "--filter", "--out", "--meter", "--threads",
                                                 "--repetitions", "--min-time", "--format", "--tdp",
                                                 "--idle-watts", "--seed"};
        size_t j;
        for (j = 0; j < sizeof with_value / sizeof with_value[0]; j++)
            if (!strcmp(a, with_value[j]))
                break;
        if (j == sizeof with_value / sizeof with_value[0])
            jb_cli_usage_error("run: unknown option '%s' (try --help)", a);
        if (i + 1 >= argc)
            jb_cli_usage_error("run: %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--suite")) o->suite = v;
        else if (!strcmp(a, "--filter")) o->filter = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--meter")) o->meter = v;
        else if (!strcmp(a, "--threads")) o->threads = (int)jb_cli_int(a, v, 1, 4096);
        else if (!strcmp(a, "--repetitions")) o->repetitions = (int)jb_cli_int(a, v, 1, 1000);
        else if (!strcmp(a, "--min-time")) o->min_time = jb_cli_double(a, v, 1e-4, 600);
        else if (!strcmp(a, "--tdp")) o->tdp = jb_cli_double(a, v, 1e-3, 1e5);
        else if (!strcmp(a, "--idle-watts")) o->idle_watts = jb_cli_double(a, v, 0, 1e5);
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)jb_cli_int(a, v, 0, INT64_MAX);
        else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "console")) o->format = FMT_CONSOLE;
            else if (!strcmp(v, "json")) o->format = FMT_JSON;
            else if (!strcmp(v, "csv")) o->format = FMT_CSV;
            else jb_cli_usage_error("run: --format must be console, json or csv (got '%s')", v);
        }
    }
    if (o->meter && strcmp(o->meter, "auto") && jb_meter_kind_from_name(o->meter) < 0)
        jb_cli_usage_error("run: unknown meter '%s' (auto, rapl, nvml or model)", o->meter);
    if (o->idle_watts > 0 && o->tdp > 0 && o->idle_watts >= o->tdp)
        jb_cli_usage_error("run: --idle-watts (%g) must be below --tdp (%g)", o->idle_watts, o->tdp);
}

/* OpenMP reads OMP_* when the runtime starts, so pinning is set by re-executing
 * once with them in the environment (only where the user has not set them). */
static void pin_threads_and_reexec(const run_opts *o, char **argv)
{
    if (getenv("JB_REEXECED"))
        return;
    int changed = 0;
    if (!getenv("OMP_PROC_BIND")) {
        setenv("OMP_PROC_BIND", "close", 1);
        changed = 1;
    }
    if (!getenv("OMP_PLACES")) {
        setenv("OMP_PLACES", "cores", 1);
        changed = 1;
    }
    if (o->threads) {
        char n[16];
        snprintf(n, sizeof n, "%d", o->threads);
        setenv("OMP_NUM_THREADS", n, 1);
        changed = 1;
    }
    if (!changed)
        return;
    setenv("JB_REEXECED", "1", 1);
    execv("/proc/self/exe", argv);
    /* If re-executing fails, run unpinned: the context records OMP_* as they are. */
}

static size_t llc_bytes(void)
{
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return l3 > 0 ? (size_t)l3 : (size_t)32 << 20;
}

static void flush_caches(row_ctx *rc)
{
    /* Writing a buffer twice the LLC evicts the kernel's data from every level. */
    volatile char *f = rc->flush;
    for (size_t i = 0; i < rc->flush_bytes; i += 64)
        f[i] = (char)(f[i] + 1);
}

/* One run (CPU) or one batch of runs (GPU, batch.h) per Google Benchmark
 * iteration, inside one energy window. Google Benchmark sees each batch's time;
 * on_report turns it back into time per run. */
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
    int have_gpu_state = gpu && rc->meter && jb_meter_gpu_state(rc->meter, &g0) == JB_OK;
    if (metered && jb_meter_start(rc->meter)) {
        jb_gb_skip_with_error(st, "energy meter failed to start");
        return;
    }
    while (jb_gb_keep_running(st)) {
        if (interrupted) {
            jb_gb_skip_with_error(st, "interrupted");
            break;
        }
        if (rc->cold_cache) {
            if (gpu)
                jb_cuda_flush_l2();
            else
                flush_caches(rc);
        }
        double t = 0;
        int status, held = 1;
        if (gpu) { /* device time of a batch held back until it is all enqueued */
            status = jb_cuda_time_batch(k, rc->e, rc->batch, &t, &held);
        } else {
            double t0 = now();
            status = k->run(rc->e);
            t = now() - t0;
        }
        if (status) {
            char msg[128];
            snprintf(msg, sizeof msg, "run failed: %s", jb_strerror(status));
            jb_gb_skip_with_error(st, msg);
            break;
        }
        jb_gb_set_iteration_time(st, t);
        jb_batch_add(&tally, gpu ? rc->batch : 1, t, held);
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
    if (gpu) {
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
        /* The share of the window the kernel ran: the rest is the harness between batches. */
        jb_gb_set_counter(st, "device_busy", jb_batch_busy(&tally, r.seconds));
        jb_gb_set_label(st, r.measured ? "energy: measured" : "energy: estimated");
    } else {
        jb_gb_set_label(st, rc->cold_cache ? "cold cache: time only" : "time only");
    }
}

static void add_counters(cJSON *o, const jb_gb_run *r)
{
    for (int i = 0; i < r->ncounters; i++)
        cJSON_AddNumberToObject(o, r->counter_names[i], r->counter_values[i]);
}

static double counter(const collect *c, const char *name)
{
    for (int i = 0; i < c->ncounters; i++)
        if (!strcmp(c->names[i], name))
            return c->counters[i];
    return NAN;
}

static void print_header(out_format f)
{
    if (f == FMT_CONSOLE)
        printf("%-30s %-28s %10s %9s %6s %8s %6s %7s %9s %-9s %5s\n", "kernel", "shape", "time", "GFLOP/s", "%peak",
               "GB/s", "%bw", "W", "GFLOP/J", "energy", "cv%");
    else if (f == FMT_CSV)
        printf("name,kernel,shape,status,time_ns,cv,flop_per_s,bytes_per_s,pct_peak_flops,pct_peak_bw,watts,"
               "flop_per_j,energy,max_err,message\n");
}

static void fmt_time(double ns, char *buf, size_t len)
{
    if (ns < 1e3) snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6) snprintf(buf, len, "%.1f us", ns / 1e3);
    else if (ns < 1e9) snprintf(buf, len, "%.2f ms", ns / 1e6);
    else snprintf(buf, len, "%.2f s", ns / 1e9);
}

static void print_row(const collect *c, out_format f)
{
    char shape[128];
    jb_problem_format(&c->row->p, shape, sizeof shape);
    if (f == FMT_CSV) {
        if (c->error) {
            printf("%s,%s,%s,error,,,,,,,,,,,\"%s\"\n", c->row->name, c->row->k->name, shape, c->error_msg);
            return;
        }
        /* Figures a row does not have (no energy, softmax has no FLOP peak) are empty fields. */
        static const char *const cols[] = {"flop_per_s", "bytes_per_s", "pct_peak_flops", "pct_peak_bw", "watts",
                                           "flop_per_j"};
        printf("%s,%s,%s,ok,%.1f,", c->row->name, c->row->k->name, shape, c->median_ns);
        if (!isnan(c->cv))
            printf("%.4f", c->cv);
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
            double v = counter(c, cols[i]);
            if (isnan(v))
                printf(",");
            else
                printf(",%.6g", v);
        }
        printf(",%s,%.3g,\n", c->energy_kind, counter(c, "max_err"));
        return;
    }
    if (f != FMT_CONSOLE)
        return;
    if (c->error) {
        printf("%-30s %-28s %s\n", c->row->k->name, shape, c->error_msg);
        return;
    }
    char t[32], peak[16], w[16], fpj[16], cv[16];
    fmt_time(c->median_ns, t, sizeof t);
    double pf = counter(c, "pct_peak_flops"), watts = counter(c, "watts"), j = counter(c, "flop_per_j");
    snprintf(peak, sizeof peak, isnan(pf) ? "-" : "%.1f", pf);
    snprintf(w, sizeof w, isnan(watts) ? "-" : "%.1f", watts);
    snprintf(fpj, sizeof fpj, isnan(j) ? "-" : "%.3f", j / 1e9);
    snprintf(cv, sizeof cv, isnan(c->cv) ? "-" : "%.1f", 100 * c->cv);
    printf("%-30s %-28s %10s %9.2f %6s %8.2f %6.1f %7s %9s %-9s %5s\n", c->row->k->name, shape, t,
           counter(c, "flop_per_s") / 1e9, peak, counter(c, "bytes_per_s") / 1e9, counter(c, "pct_peak_bw"), w, fpj,
           c->energy_kind, cv);
    fflush(stdout);
}

/* Google Benchmark's report callback: keeps each run as a JSON row. */
static void on_report(const jb_gb_run *r, void *arg)
{
    collect *c = arg;
    if (c->drop)
        return;
    if (r->error_occurred && !strcmp(r->error_message, "interrupted")) {
        c->drop = 1;
        return;
    }
    cJSON *o = cJSON_CreateObject();
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", c->row->name, r->is_aggregate ? "_" : "", r->is_aggregate ? r->aggregate_name : "");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "family_index", (double)c->index);
    cJSON_AddNumberToObject(o, "per_family_instance_index", 0);
    cJSON_AddStringToObject(o, "run_name", c->row->name);
    cJSON_AddStringToObject(o, "run_type", r->is_aggregate ? "aggregate" : "iteration");
    cJSON_AddNumberToObject(o, "repetitions", (double)r->repetitions);
    if (!r->is_aggregate)
        cJSON_AddNumberToObject(o, "repetition_index", (double)r->repetition_index);
    cJSON_AddNumberToObject(o, "threads", (double)r->threads);
    if (r->is_aggregate) {
        cJSON_AddStringToObject(o, "aggregate_name", r->aggregate_name);
        cJSON_AddStringToObject(o, "aggregate_unit", r->aggregate_is_percentage ? "percentage" : "time");
    }
    if (r->error_occurred) {
        cJSON_AddBoolToObject(o, "error_occurred", 1);
        cJSON_AddStringToObject(o, "error_message", r->error_message);
        c->error = 1;
        snprintf(c->error_msg, sizeof c->error_msg, "error: %s", r->error_message);
    }
    /* Google Benchmark timed batches: the file says runs and time per run. */
    const int runs = c->runs > 1 ? c->runs : 1, pct = r->is_aggregate && r->aggregate_is_percentage;
    const double real_ns = jb_batch_per_run(r->real_time_ns, runs, pct);
    cJSON_AddNumberToObject(o, "iterations", (double)r->iterations * runs);
    cJSON_AddNumberToObject(o, "real_time", real_ns);
    cJSON_AddNumberToObject(o, "cpu_time", jb_batch_per_run(r->cpu_time_ns, runs, pct));
    cJSON_AddStringToObject(o, "time_unit", "ns");
    add_counters(o, r);
    if (r->label && *r->label)
        cJSON_AddStringToObject(o, "label", r->label);
    cJSON_AddItemToArray(c->benchmarks, o);

    /* The console line comes from the median (or the single run). */
    int is_median = r->is_aggregate && !strcmp(r->aggregate_name, "median");
    if (is_median || (r->repetitions <= 1 && !r->is_aggregate)) {
        c->have_median = 1;
        c->median_ns = real_ns;
        c->ncounters = 0;
        for (int i = 0; i < r->ncounters && i < 24; i++) {
            snprintf(c->names[i], sizeof c->names[i], "%s", r->counter_names[i]);
            c->counters[i] = r->counter_values[i];
            c->ncounters++;
        }
        double m = counter(c, "energy_measured");
        c->energy_kind = isnan(m) ? "time-only" : m > 0.5 ? "measured" : "estimated";
    }
    if (r->is_aggregate && !strcmp(r->aggregate_name, "cv"))
        c->cv = r->real_time_ns; /* a cv aggregate's "time" is the ratio itself */
}

/* A row that was not timed: skipped (unavailable, unsupported) or failed verification. */
static void error_row(cJSON *benchmarks, int64_t index, const jb_row *row, const char *msg, double max_err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", row->name);
    cJSON_AddNumberToObject(o, "family_index", (double)index);
    cJSON_AddNumberToObject(o, "per_family_instance_index", 0);
    cJSON_AddStringToObject(o, "run_name", row->name);
    cJSON_AddStringToObject(o, "run_type", "iteration");
    cJSON_AddNumberToObject(o, "repetitions", 0);
    cJSON_AddNumberToObject(o, "repetition_index", 0);
    cJSON_AddNumberToObject(o, "threads", 1);
    cJSON_AddNumberToObject(o, "iterations", 0);
    cJSON_AddNumberToObject(o, "real_time", 0);
    cJSON_AddNumberToObject(o, "cpu_time", 0);
    cJSON_AddStringToObject(o, "time_unit", "ns");
    cJSON_AddBoolToObject(o, "error_occurred", 1);
    cJSON_AddStringToObject(o, "error_message", msg);
    if (!isnan(max_err))
        cJSON_AddNumberToObject(o, "max_err", max_err);
    cJSON_AddItemToArray(benchmarks, o);
}

static void progress(size_t k, size_t n, const char *name, double t0)
{
    if (!isatty(2))
        return;
    double el = now() - t0, eta = k ? el / (double)k * (double)(n - k) : 0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s  elapsed %.0fs  remaining ~%.0fs", k + 1, n, name, el, eta);
    fflush(stderr);
}

static void progress_clear(void)
{
    if (isatty(2))
        fprintf(stderr, "\r\033[K");
}

static void default_out(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    mkdir("results", 0777);
    snprintf(buf, len, "results/%s-%s.json", jb_settings_host(), stamp);
}

static void warn(cJSON *warnings, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(cJSON *warnings, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    progress_clear();
    fprintf(stderr, "joulebench: warning: %s\n", msg);
    cJSON_AddItemToArray(warnings, cJSON_CreateString(msg));
}

/* The GPU's settings through NVML, found by the CUDA device's PCI bus id, into
 * ctx.gpu_settings: once before the run ("before": everything) and once after
 * ("after": the temperature). Also the environment that selects the GPU and
 * its fp32 math. */
static void add_gpu_settings(cJSON *ctx, const char *pci_bus_id, const char *when)
{
    jb_nvml_target t = {.pci_bus_id = pci_bus_id && *pci_bus_id ? pci_bus_id : NULL};
    jb_gpu_info gi;
    char why[256];
    int ok = jb_nvml_query(&t, &gi, why, sizeof why) == JB_OK;
    if (!strcmp(when, "after")) {
        cJSON *g = cJSON_GetObjectItem(ctx, "gpu_settings");
        if (ok && cJSON_IsObject(g))
            cJSON_AddNumberToObject(g, "temperature_c_after", gi.temperature_c);
        return;
    }
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES"), *tf32 = getenv("NVIDIA_TF32_OVERRIDE");
    cJSON_AddStringToObject(ctx, "cuda_visible_devices", cvd ? cvd : "(unset)");
    cJSON_AddStringToObject(ctx, "nvidia_tf32_override", tf32 ? tf32 : "(unset)");
    if (!ok) {
        cJSON_AddStringToObject(ctx, "gpu_settings", why);
        return;
    }
    cJSON *g = cJSON_AddObjectToObject(ctx, "gpu_settings");
    cJSON_AddStringToObject(g, "name", gi.name);
    cJSON_AddStringToObject(g, "uuid", gi.uuid);
    cJSON_AddStringToObject(g, "pci_bus_id", t.pci_bus_id ? t.pci_bus_id : "(unknown: NVML index 0)");
    cJSON_AddNumberToObject(g, "nvml_index", gi.nvml_index);
    cJSON_AddStringToObject(g, "mig_mode", gi.mig_mode == 1 ? "enabled" : gi.mig_mode == 0 ? "disabled" : "unknown");
    cJSON_AddStringToObject(g, "driver_version", gi.driver_version);
    cJSON_AddNumberToObject(g, "sm_clock_mhz", gi.sm_clock_mhz);
    cJSON_AddNumberToObject(g, "mem_clock_mhz", gi.mem_clock_mhz);
    cJSON_AddNumberToObject(g, "sm_clock_max_mhz", gi.sm_clock_max_mhz);
    cJSON_AddNumberToObject(g, "power_limit_watts", gi.power_limit_watts);
    cJSON_AddNumberToObject(g, "temperature_c_before", gi.temperature_c);
}

int jb_cmd_run(int argc, char **argv)
{
    run_opts o;
    parse_args(argc, argv, &o);

    /* Everything that can be wrong with the input is checked before any work. */
    char pathbuf[4096], msg[512];
    const char *spath = suite_path(o.suite, pathbuf, sizeof pathbuf);
    jb_suite suite;
    int rc = jb_suite_load(spath, &suite, msg, sizeof msg);
    if (rc)
        jb_cli_usage_error("run: %s", msg);
    regex_t re;
    if (o.filter && jb_pattern_compile(&re, o.filter, 0, msg, sizeof msg))
        jb_cli_usage_error("run: --filter %s", msg);
    size_t n = 0;
    for (size_t i = 0; i < suite.nrows; i++)
        if (!o.filter || regexec(&re, suite.rows[i].name, 0, NULL, 0) == 0)
            suite.rows[n++] = suite.rows[i];
    if (o.filter)
        regfree(&re);
    if (n == 0)
        jb_cli_usage_error("run: --filter '%s' matches none of the %zu rows of suite %s", o.filter ? o.filter : "",
                           suite.nrows, spath);
    suite.nrows = n;
    char outbuf[4096];
    const char *out = o.out;
    if (!out) {
        default_out(outbuf, sizeof outbuf);
        out = outbuf;
    }
    /* Can we write there at all? Find out now, not after the run. */
    char omsg[4600];
    if (jb_file_check_output(out, omsg, sizeof omsg))
        jb_cli_usage_error("run: cannot write results: %s", omsg);
    jb_meter_config mcfg = {.tdp_watts = o.tdp, .idle_watts = o.idle_watts, .threads = o.threads};

    pin_threads_and_reexec(&o, argv - 1);

    int threads = jb_cpu_threads();
    mcfg.threads = threads;
    int repetitions = o.repetitions ? o.repetitions : suite.repetitions ? suite.repetitions : 5;
    double min_time = o.min_time > 0 ? o.min_time : suite.min_time > 0 ? suite.min_time : 0.1;
    const int interleave = o.interleave >= 0 ? o.interleave : suite.interleave;

    /* Each device's rows get that device's meter (jb_meter_open_for): CPU rows
     * rapl or the model, GPU rows nvml. A meter named with --meter that cannot
     * measure a device some row runs on is refused here, before any work. */
    int dev_rows[JB_BACKEND_COUNT] = {0};
    for (size_t i = 0; i < suite.nrows; i++)
        dev_rows[suite.rows[i].k->backend] += jb_kernel_available(suite.rows[i].k, NULL, 0) == 0;
    char pci_bus_id[64] = "";
    if (dev_rows[JB_BACKEND_CUDA] && jb_cuda_device_pci_bus_id(pci_bus_id, sizeof pci_bus_id))
        pci_bus_id[0] = '\0';
    mcfg.nvml_pci_bus_id = pci_bus_id[0] ? pci_bus_id : NULL;
    device_meter meters[JB_BACKEND_COUNT];
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        meters[d] = (device_meter){.idle_watts = NAN};
        if (!dev_rows[d])
            continue;
        rc = jb_meter_open_for((jb_backend)d, o.meter, &mcfg, &meters[d].meter, meters[d].notes, sizeof meters[d].notes);
        if (rc == JB_EINVAL)
            jb_cli_usage_error("run: --meter %s for the %s rows: %s", o.meter ? o.meter : "auto",
                               jb_backend_name((jb_backend)d), meters[d].notes);
        if (rc && o.meter && strcmp(o.meter, "auto"))
            jb_cli_usage_error("run: meter %s is not available: %s", o.meter, meters[d].notes);
    }

    /* From here on Ctrl-C (or a TERM from a batch system) stops the run cleanly:
     * the file keeps the rows that finished. */
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    jb_gb_init(argv[-1]);
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "context");
    jb_settings_capture(ctx, "joulebench", threads);
    cJSON *warnings = cJSON_CreateArray();
    double load0 = jb_settings_load1();
    if (load0 > 0.5 * threads + 0.25)
        warn(warnings, "load average %.2f before the run on %d threads: other work competes for the cores", load0,
             threads);

    fprintf(stderr, "joulebench: suite %s, %zu rows, %d threads, %d repetitions, min time %.3g s%s\n", suite.name,
            suite.nrows, threads, repetitions, min_time,
            interleave ? ", repetitions of rows sharing a shape interleaved" : "");
    fprintf(stderr, "joulebench: measuring peaks (FMA loop, copy bandwidth)...\n");
    jb_peaks peaks;
    if (jb_peaks_measure(&peaks)) {
        fprintf(stderr, "joulebench: cannot allocate the bandwidth buffers\n");
        return JB_EXIT_FAIL;
    }
    fprintf(stderr, "joulebench: peak %.1f GFLOP/s fp32 (%s FMA loop), copy %.1f GB/s\n", peaks.flop_per_s / 1e9,
            peaks.isa, peaks.bytes_per_s / 1e9);
    /* Idle power and the shortest energy window, per meter. */
    double min_time_dev[JB_BACKEND_COUNT];
    char kinds[64] = "";
    int any_meter = 0, all_measured = 1;
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        device_meter *dm = &meters[d];
        min_time_dev[d] = min_time;
        if (!dev_rows[d])
            continue;
        if (!dm->meter) {
            warn(warnings, "no energy meter for the %s rows: time only (%s)", jb_backend_name((jb_backend)d),
                 dm->notes);
            continue;
        }
        jb_meter *mt = dm->meter;
        if (jb_meter_idle_watts(mt, 0.5, &dm->idle_watts))
            dm->idle_watts = NAN;
        fprintf(stderr, "joulebench: %s rows: meter %s (%s); idle %.1f W %s\n", jb_backend_name((jb_backend)d),
                jb_meter_kind_name(jb_meter_kind_of(mt)), jb_meter_provenance(mt), dm->idle_watts,
                jb_meter_is_measured(mt) ? "measured" : "estimated");
        if (dm->notes[0])
            fprintf(stderr, "joulebench: %s\n", dm->notes);
        double floor_time = 10 * jb_meter_update_period(mt);
        if (min_time < floor_time) {
            fprintf(stderr, "joulebench: %s rows: min time raised to %.3g s (10 update periods of the %s meter)\n",
                    jb_backend_name((jb_backend)d), floor_time, jb_meter_kind_name(jb_meter_kind_of(mt)));
            min_time_dev[d] = floor_time;
        }
        snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", any_meter ? "+" : "",
                 jb_meter_kind_name(jb_meter_kind_of(mt)));
        any_meter = 1;
        all_measured &= jb_meter_is_measured(mt);
    }

    cJSON_AddStringToObject(ctx, "suite", suite.name);
    cJSON_AddStringToObject(ctx, "suite_file", spath);
    cJSON_AddNumberToObject(ctx, "repetitions", repetitions);
    cJSON_AddNumberToObject(ctx, "min_time", min_time);
    cJSON_AddBoolToObject(ctx, "cold_cache", o.cold_cache);
    cJSON_AddBoolToObject(ctx, "interleave", interleave);
    cJSON_AddNumberToObject(ctx, "seed", (double)o.seed);
    /* "meter" names every meter in use ("rapl", "nvml", "model+nvml"); "meters"
     * says, per device, which meter its rows had and where the numbers come from. */
    const device_meter *first = meters[JB_BACKEND_CPU].meter ? &meters[JB_BACKEND_CPU] : &meters[JB_BACKEND_CUDA];
    cJSON_AddStringToObject(ctx, "meter", any_meter ? kinds : "none");
    cJSON_AddStringToObject(ctx, "meter_provenance", first->meter ? jb_meter_provenance(first->meter) : first->notes);
    cJSON_AddStringToObject(ctx, "energy", !any_meter || o.cold_cache ? "none" : all_measured ? "measured" : "estimated");
    if (first->notes[0])
        cJSON_AddStringToObject(ctx, "meter_notes", first->notes);
    if (!isnan(first->idle_watts))
        cJSON_AddNumberToObject(ctx, "idle_watts", first->idle_watts);
    cJSON *jm = cJSON_AddObjectToObject(ctx, "meters");
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        if (!dev_rows[d])
            continue;
        cJSON *x = cJSON_AddObjectToObject(jm, jb_backend_name((jb_backend)d));
        jb_meter *mt = meters[d].meter;
        cJSON_AddStringToObject(x, "meter", mt ? jb_meter_kind_name(jb_meter_kind_of(mt)) : "none");
        cJSON_AddStringToObject(x, "provenance", mt ? jb_meter_provenance(mt) : meters[d].notes);
        cJSON_AddStringToObject(x, "energy", !mt || o.cold_cache ? "none" : jb_meter_is_measured(mt) ? "measured" : "estimated");
        if (!isnan(meters[d].idle_watts))
            cJSON_AddNumberToObject(x, "idle_watts", meters[d].idle_watts);
        if (meters[d].notes[0] && mt)
            cJSON_AddStringToObject(x, "notes", meters[d].notes);
        cJSON_AddNumberToObject(x, "min_time", min_time_dev[d]);
    }
    cJSON_AddNumberToObject(ctx, "peak_flop_per_s", peaks.flop_per_s);
    cJSON_AddNumberToObject(ctx, "peak_bytes_per_s", peaks.bytes_per_s);
    cJSON_AddStringToObject(ctx, "peak_isa", peaks.isa);
    cJSON_AddNumberToObject(ctx, "peak_copy_buffer_bytes", (double)peaks.copy_bytes);
    cJSON_AddStringToObject(ctx, "cuda_version", jb_cuda_version());
    if (dev_rows[JB_BACKEND_CUDA]) {
        char dev[256];
        if (jb_cuda_device_describe(dev, sizeof dev) == 0)
            cJSON_AddStringToObject(ctx, "gpu", dev);
        add_gpu_settings(ctx, pci_bus_id, "before");
        cJSON_AddStringToObject(ctx, "gpu_timing",
                                o.cold_cache ? "CUDA events around each run, L2 flushed before it (batches of 1)"
                                             : "CUDA events around batches of back-to-back runs, enqueued behind a hold "
                                               "kernel and released together; time per run = batch time / "
                                               "runs_per_batch, batches sized to about 2 ms (at most 128 runs)");
    }
    cJSON *benchmarks = cJSON_AddArrayToObject(doc, "benchmarks");

    row_ctx rcx = {.peaks = &peaks, .cold_cache = o.cold_cache, .batch = 1};
    if (o.cold_cache) {
        rcx.flush_bytes = 2 * llc_bytes();
        rcx.flush = calloc(1, rcx.flush_bytes);
        if (!rcx.flush)
            jb_cli_usage_error("run: cannot allocate the cache-flush buffer");
    }
    print_header(o.format);
    int failures = 0, noisy = 0, n_unavailable = 0;
    char unavailable_kernels[2048] = "", unavailable_why[256] = "";
    double t_start = now();
    jb_gb_options gopt = {.repetitions = repetitions, .min_time = min_time, .min_warmup_time = min_time / 2};
    member *grp = calloc(MAX_GROUP, sizeof *grp);
    if (!grp) {
        fprintf(stderr, "joulebench: out of memory\n");
        return JB_EXIT_FAIL;
    }
    for (size_t i = 0; i < suite.nrows && !interrupted;) {
        /* A group: this row alone, or with interleaving the rows after it of
         * the same op and shape, all set up and verified before any is timed. */
        size_t gn = 1;
        if (interleave)
            while (i + gn < suite.nrows && gn < MAX_GROUP && same_problem(&suite.rows[i], &suite.rows[i + gn]))
                gn++;
        const char *names[MAX_GROUP];
        void *args[MAX_GROUP], *ctxs[MAX_GROUP];
        size_t nt = 0;
        double group_min_time = min_time; /* the longest energy window any of its rows' meters needs */
        for (size_t g = 0; g < gn; g++) {
            member *m = &grp[g];
            const jb_row *row = &suite.rows[i + g];
            memset(m, 0, sizeof *m);
            m->col = (collect){.benchmarks = cJSON_CreateArray(), .index = (int64_t)(i + g), .row = row, .cv = NAN,
                               .energy_kind = "-"};
            progress(i + g, suite.nrows, row->name, t_start);
            char why[256];
            int unavailable = jb_kernel_available(row->k, why, sizeof why) != 0;
            if (unavailable || jb_kernel_supports(row->k, &row->p, why, sizeof why)) {
                char msg2[300];
                snprintf(msg2, sizeof msg2, "skipped: %s", why);
                error_row(m->col.benchmarks, (int64_t)(i + g), row, msg2, NAN);
                m->col.error = 1;
                snprintf(m->col.error_msg, sizeof m->col.error_msg, "%s", msg2);
                /* A kernel that cannot run here is one line at the end of the table, not one per shape. */
                if (unavailable && o.format == FMT_CONSOLE) {
                    n_unavailable++;
                    if (!strstr(unavailable_kernels, row->k->name) &&
                        strlen(unavailable_kernels) + strlen(row->k->name) + 3 < sizeof unavailable_kernels) {
                        strcat(unavailable_kernels, unavailable_kernels[0] ? ", " : "");
                        strcat(unavailable_kernels, row->k->name);
                        snprintf(unavailable_why, sizeof unavailable_why, "%s", why);
                    }
                    m->quiet = 1;
                }
                continue;
            }
            jb_verify_result vr;
            if (jb_buffers_init(&m->b, row->k, &row->p, o.seed)) {
                error_row(m->col.benchmarks, (int64_t)(i + g), row, "error: cannot allocate the buffers", NAN);
                m->col.error = 1;
                snprintf(m->col.error_msg, sizeof m->col.error_msg, "error: cannot allocate the buffers");
                m->failed = 1;
                continue;
            }
            rc = jb_verify_sampled(row->k, &m->b, &m->e, VERIFY_BUDGET, o.seed, &vr);
            if (rc == JB_EUNSUPPORTED) { /* only the device could tell: a skip, as supports() would give */
                char msg2[300];
                snprintf(msg2, sizeof msg2, "skipped: %s", vr.msg);
                error_row(m->col.benchmarks, (int64_t)(i + g), row, msg2, NAN);
                m->col.error = 1;
                snprintf(m->col.error_msg, sizeof m->col.error_msg, "%s", msg2);
                jb_buffers_free(&m->b);
                continue;
            }
            if (rc) {
                char msg2[400];
                snprintf(msg2, sizeof msg2, "verification failed: %s", vr.msg);
                error_row(m->col.benchmarks, (int64_t)(i + g), row, msg2, vr.max_err);
                m->col.error = 1;
                snprintf(m->col.error_msg, sizeof m->col.error_msg, "%s", msg2);
                m->failed = 1;
                jb_buffers_free(&m->b);
                continue;
            }
            m->rc = rcx;
            m->rc.row = row;
            m->rc.e = &m->e;
            m->rc.max_err = vr.max_err;
            const device_meter *dm = &meters[row->k->backend];
            m->rc.meter = dm->meter;
            m->rc.idle_watts = isnan(dm->idle_watts) ? 0 : dm->idle_watts;
            group_min_time = fmax(group_min_time, min_time_dev[row->k->backend]);
            if (row->k->backend == JB_BACKEND_CUDA && !o.cold_cache) {
                /* Size the batch from one untimed run (the verification warmed it up). */
                double t1 = 0;
                int held;
                if ((rc = jb_cuda_time_batch(row->k, &m->e, 1, &t1, &held))) {
                    char msg2[300];
                    snprintf(msg2, sizeof msg2, "error: run failed: %s", jb_strerror(rc));
                    error_row(m->col.benchmarks, (int64_t)(i + g), row, msg2, NAN);
                    m->col.error = 1;
                    snprintf(m->col.error_msg, sizeof m->col.error_msg, "%s", msg2);
                    m->failed = 1;
                    jb_exec_teardown(row->k, &m->e);
                    jb_buffers_free(&m->b);
                    continue;
                }
                m->rc.batch = jb_batch_size(t1, JB_BATCH_TARGET_SECONDS, JB_BATCH_MAX_RUNS);
            }
            m->col.runs = m->rc.batch;
            m->rc.peak_bytes = m->b.ws_size + jb_problem_output_elems(&row->p) * sizeof(float);
            for (int j = 0; j < jb_problem_num_inputs(&row->p); j++)
                m->rc.peak_bytes += jb_problem_input_elems(&row->p, j) * sizeof(float);
            m->timed = 1;
            names[nt] = row->name;
            args[nt] = &m->rc;
            ctxs[nt] = &m->col;
            nt++;
        }
        gopt.min_time = group_min_time;
        gopt.min_warmup_time = group_min_time / 2;
        if (nt && jb_gb_run_group(nt, names, body, args, &gopt, interleave, on_report, ctxs))
            for (size_t g = 0; g < gn; g++)
                if (grp[g].timed) {
                    error_row(grp[g].col.benchmarks, grp[g].col.index, grp[g].col.row,
                              "error: Google Benchmark raised an exception", NAN);
                    grp[g].col.error = 1;
                }
        int dropped = 0;
        for (size_t g = 0; g < gn; g++) {
            member *m = &grp[g];
            if (m->timed) {
                jb_exec_teardown(m->col.row->k, &m->e);
                jb_buffers_free(&m->b);
            }
            if (m->col.drop) { /* interrupted inside this row: its partial reports are not kept */
                dropped = 1;
                cJSON_Delete(m->col.benchmarks);
                continue;
            }
            /* The group's rows go to the file and the table in suite order. */
            cJSON *it;
            while ((it = cJSON_DetachItemFromArray(m->col.benchmarks, 0)))
                cJSON_AddItemToArray(benchmarks, it);
            cJSON_Delete(m->col.benchmarks);
            if (m->quiet)
                continue;
            progress_clear();
            print_row(&m->col, o.format);
            if (m->failed || (m->timed && m->col.error))
                failures++;
            if (m->timed && !isnan(m->col.cv) && m->col.cv > CV_WARN) {
                noisy++;
                warn(warnings, "%s: cv %.1f%% over %d repetitions (above %.0f%%): timings too noisy to trust",
                     m->col.row->name, 100 * m->col.cv, repetitions, 100 * CV_WARN);
            }
        }
        if (dropped)
            break;
        i += gn;
    }
    free(grp);
    progress_clear();
    if (n_unavailable)
        printf("(%d rows of kernels unavailable here skipped: %s; last reason: %s)\n", n_unavailable,
               unavailable_kernels, unavailable_why);
    double load1 = jb_settings_load1();
    cJSON *la = cJSON_AddArrayToObject(ctx, "load_avg_after");
    cJSON_AddItemToArray(la, cJSON_CreateNumber(load1));
    if (load1 > 0.5 * threads + 1.25)
        warn(warnings, "load average %.2f after the run: other work may have competed", load1);
    cJSON_AddBoolToObject(ctx, "high_load", load0 > 0.5 * threads + 0.25);
    cJSON_AddNumberToObject(ctx, "noisy_rows", noisy);
    cJSON_AddBoolToObject(ctx, "interrupted", interrupted != 0);
    if (dev_rows[JB_BACKEND_CUDA])
        add_gpu_settings(ctx, pci_bus_id, "after");
    jb_cuda_release();
    cJSON_AddItemToObject(ctx, "warnings", warnings);
    if (o.format == FMT_JSON)
        jb_json_print(stdout, doc);
    if (interrupted && cJSON_GetArraySize(benchmarks) == 0) {
        /* Nothing finished: an existing file is worth more than an empty one. */
        fprintf(stderr, "joulebench: interrupted before any row finished: %s not written\n", out);
        cJSON_Delete(doc);
        jb_suite_free(&suite);
        for (int d = 0; d < JB_BACKEND_COUNT; d++)
            jb_meter_free(meters[d].meter);
        free(rcx.flush);
        return 130;
    }
    rc = jb_results_write_atomic(out, doc, msg, sizeof msg);
    cJSON_Delete(doc);
    jb_suite_free(&suite);
    for (int d = 0; d < JB_BACKEND_COUNT; d++)
        jb_meter_free(meters[d].meter);
    free(rcx.flush);
    if (rc) {
        jb_cli_error("%s", msg);
        return JB_EXIT_FAIL;
    }
    fprintf(stderr, "joulebench: wrote %s%s\n", out, interrupted ? " (interrupted: the rows that finished)" : "");
    if (interrupted)
        return 130;
    return failures ? JB_EXIT_FAIL : JB_EXIT_OK;
}
