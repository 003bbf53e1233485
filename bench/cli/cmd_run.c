/*
 * `joulebench run`: options and wiring. The suite is loaded and filtered,
 * the output path checked and each device's meter chosen before any work;
 * then the peaks and idle power are measured, the settings captured, the
 * runner (harness/runner.c) verifies and times every row, the reporters
 * print the table (or CSV) and collect the rows, and the results file is
 * written atomically. Ctrl-C (or TERM) keeps the rows that finished.
 */
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

#include "analysis/stats.h"
#include "cli/cli.h"
#include "harness/gbench.h"
#include "harness/observed.h"
#include "harness/peaks.h"
#include "harness/reporter.h"
#include "harness/results.h"
#include "harness/runner.h"
#include "harness/settings.h"
#include "harness/slurm_env.h"
#include "harness/suite.h"
#include "meters/meter.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/paths.h"
#include "util/pattern.h"

typedef enum { FMT_CONSOLE, FMT_JSON, FMT_CSV } out_format;

typedef struct run_opts {
    const char *suite, *filter, *out, *meter;
    int threads, repetitions, cold_cache;
    int interleave;           /* -1 unset (the suite decides), 0 off, 1 on */
    double min_time, target_ci, max_time, tdp, idle_watts;
    uint64_t seed;
    out_format format;
} run_opts;

/* The meter of one device's rows, and its idle power. */
typedef struct device_meter {
    jb_meter *meter;          /* NULL: that device's rows are time only */
    double idle_watts;        /* NaN when unknown */
    double min_time;          /* the shortest energy window it needs */
    char notes[512];          /* why a better meter was passed over, or why there is none */
} device_meter;

static void on_signal(int sig)
{
    jb_runner_stop();
    signal(sig, SIG_DFL); /* a second one ends the run at once, leaving the old file as it was */
}

static void help(void)
{
    printf(
        "usage: joulebench run [--suite FILE|NAME] [--filter REGEX] [--out FILE]\n"
        "                      [--meter auto|rapl|nvml|model] [--threads N] [--target-ci PCT]\n"
        "                      [--max-time S] [--repetitions N] [--min-time S] [--cold-cache]\n"
        "                      [--interleave|--no-interleave] [--format console|json|csv]\n"
        "                      [--tdp W] [--idle-watts W] [--seed S]\n\n"
        "Runs every row of a suite (op/backend/variant/dtype x shape): verifies it against\n"
        "the fp64 oracle, then times it with Google Benchmark inside an energy window, and\n"
        "writes Google Benchmark JSON with joulebench's figures as counters.\n\n"
        "The rows that share a shape are timed in rounds: one repetition of each (at least\n"
        "--min-time) per round, in a random order. Rounds go on until the 95%% confidence\n"
        "interval of every row's median time is within --target-ci of it, or the row has\n"
        "run --max-time seconds (then it is marked '~' and its converged counter is 0).\n"
        "Each row's speed-up over its group's reference (the vendor library's variant, else\n"
        "naive; a suite group's \"reference\" overrides) comes from the ratios within rounds.\n\n"
        "  --suite       a file, or a name in configs/suites/ (default: default)\n"
        "  --filter      POSIX extended regex over row names, e.g. 'attention/.*/n:2048'\n"
        "  --out         results file (default results/<host>-<date>-<time>.json)\n"
        "  --meter       energy source: auto (default) meters CPU rows with rapl, else the\n"
        "                model, and GPU rows with nvml only; a meter that cannot measure a\n"
        "                device some row runs on (rapl or model for GPU rows, nvml for CPU\n"
        "                rows) is refused\n"
        "  --threads     OpenMP threads (default: all logical CPUs)\n"
        "  --target-ci   half-width of the interval to reach, %% of the median (default 2, or\n"
        "                the suite's)\n"
        "  --max-time    timed seconds per row at most (default 1, or the suite's)\n"
        "  --repetitions exactly N rounds instead (at least 6 for an interval)\n"
        "  --min-time    seconds per repetition (default 0.05, or the suite's), lengthened to\n"
        "                5 meter update periods when needed (0.05 s for the model meter)\n"
        "  --cold-cache  flush the caches before each iteration, outside the timed region;\n"
        "                those rows report time only (no energy)\n"
        "  --interleave  time the rows that share a shape together, in rounds of random\n"
        "                order (the default; a suite's \"interleave\": false turns it off), so\n"
        "                a machine that drifts slows every variant alike and their ratios\n"
        "                hold; --no-interleave times each row alone (no speed-ups)\n"
        "  --format      what goes to stdout: console table (default), json or csv\n"
        "  --tdp, --idle-watts  override the model meter's hardware profile\n\n"
        "Aggregates per row: mean, median, stddev, cv, min (the fastest repetition) and\n"
        "ci95_low, ci95_high (the 95%% interval of the median: order statistics of the\n"
        "repetitions, distribution-free). The median row also has flop_per_s_ci95_low/high\n"
        "(likewise bytes_per_s, flop_per_j, pct_peak_flops, pct_peak_bw), ci_halfwidth_pct,\n"
        "converged, disturbed_reps, speedup, speedup_ci95_low/high and \"reference\".\n"
        "Counters per row: flop_per_s, bytes_per_s, intensity, joules (per run), watts,\n"
        "dynamic_watts (watts - idle), flop_per_j, pct_peak_flops, pct_peak_bw, max_err,\n"
        "energy_measured (1 measured, 0 estimated), device_busy, workspace_bytes, peak_bytes;\n"
        "pct_peak_flops is of the measured peak of the row's instruction family (CPU rows say it\n"
        "in \"peak_family\": fp32_fma, bf16_dot, int8_dot, amx_bf16, amx_int8; and in \"path\"\n"
        "the instructions they ran on; the context's \"peak_families\" holds each ceiling);\n"
        "none where the CPU lacks the family.\n"
        "GPU rows also runs_per_batch (they are timed in batches of back-to-back runs between\n"
        "two device events), unheld_batches, sm_clock_mhz, sm_clock_pct_max, gpu_temp_c,\n"
        "throttled and throttle_pct.\n"
        "exit: 0 ok, 1 a row failed verification or errored, 2 bad input, 130 interrupted\n");
}

/* A suite given by name is configs/suites/NAME.json. */
static const char *suite_path(const char *s, char *buf, size_t len)
{
    struct stat st;
    if (!s)
        s = "default";
    if (stat(s, &st) == 0 || strchr(s, '/') || strstr(s, ".json"))
        return s;
    char rel[512];
    snprintf(rel, sizeof rel, "configs/suites/%.400s.json", s);
    return jb_data_path(rel, buf, len);
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
                                                 "--repetitions", "--min-time", "--target-ci", "--max-time", "--format", "--tdp",
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
        else if (!strcmp(a, "--target-ci")) o->target_ci = jb_cli_double(a, v, 0.01, 100);
        else if (!strcmp(a, "--max-time")) o->max_time = jb_cli_double(a, v, 1e-3, 3600);
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

typedef struct console_ui {
    double t0;
    cJSON *warnings;
} console_ui;

static void progress(void *arg, size_t k, size_t n, const char *name)
{
    const console_ui *ui = arg;
    if (!isatty(2))
        return;
    if (!name) {
        fprintf(stderr, "\r\033[K");
        return;
    }
    double el = jb_now() - ui->t0, eta = k ? el / (double)k * (double)(n - k) : 0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s  elapsed %.0fs  remaining ~%.0fs", k + 1, n, name, el, eta);
    fflush(stderr);
}

/* A warning: on stderr now, and in the context's "warnings". */
static void warn_line(void *arg, const char *msg)
{
    const console_ui *ui = arg;
    if (isatty(2))
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "joulebench: warning: %s\n", msg);
    cJSON_AddItemToArray(ui->warnings, cJSON_CreateString(msg));
}

static void warn(console_ui *ui, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(console_ui *ui, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warn_line(ui, msg);
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

/* Opens each device's meter for the devices some available row runs on; a
 * meter named with --meter that cannot measure one of them is bad input. */
static void open_meters(const run_opts *o, const jb_suite *suite, const int dev_rows[], jb_meter_config *mcfg,
                        device_meter meters[])
{
    (void)suite;
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        meters[d] = (device_meter){.idle_watts = NAN};
        if (!dev_rows[d])
            continue;
        int rc = jb_meter_open_for((jb_backend)d, o->meter, mcfg, &meters[d].meter, meters[d].notes,
                                   sizeof meters[d].notes);
        if (rc == JB_EINVAL)
            jb_cli_usage_error("run: --meter %s for the %s rows: %s", o->meter ? o->meter : "auto",
                               jb_backend_name((jb_backend)d), meters[d].notes);
        if (rc && o->meter && strcmp(o->meter, "auto"))
            jb_cli_usage_error("run: meter %s is not available: %s", o->meter, meters[d].notes);
    }
}

/* Idle power and the shortest energy window of each meter, said on stderr. */
static void settle_meters(console_ui *ui, const int dev_rows[], device_meter meters[], double min_time)
{
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        device_meter *dm = &meters[d];
        dm->min_time = min_time;
        if (!dev_rows[d])
            continue;
        const char *dev = jb_backend_name((jb_backend)d);
        if (!dm->meter) {
            warn(ui, "no energy meter for the %s rows: time only (%s)", dev, dm->notes);
            continue;
        }
        jb_meter *mt = dm->meter;
        if (jb_meter_idle_watts(mt, 0.5, &dm->idle_watts))
            dm->idle_watts = NAN;
        fprintf(stderr, "joulebench: %s rows: meter %s (%s); idle %.1f W %s\n", dev,
                jb_meter_kind_name(jb_meter_kind_of(mt)), jb_meter_provenance(mt), dm->idle_watts,
                jb_meter_is_measured(mt) ? "measured" : "estimated");
        if (dm->notes[0])
            fprintf(stderr, "joulebench: %s\n", dm->notes);
        /* Each repetition is one energy window; a row's energy is the median of many. */
        double floor_time = 5 * jb_meter_update_period(mt);
        if (min_time < floor_time) {
            fprintf(stderr, "joulebench: %s rows: min time raised to %.3g s (5 update periods of the %s meter)\n",
                    dev, floor_time, jb_meter_kind_name(jb_meter_kind_of(mt)));
            dm->min_time = floor_time;
        }
    }
}

/* The run's own context keys: suite, settings of the run, meters, peaks. */
static void add_run_context(cJSON *ctx, const jb_suite *suite, const char *spath, const run_opts *o,
                            const jb_runner_config *rcfg, double min_time, const int dev_rows[],
                            const device_meter meters[], const jb_peaks *peaks)
{
    const int interleave = rcfg->interleave;
    cJSON_AddStringToObject(ctx, "suite", suite->name);
    cJSON_AddStringToObject(ctx, "suite_file", spath);
    /* How long each row was sampled: a fixed number of rounds, or until its
     * interval was known (target_ci, as a fraction) within max_time. */
    cJSON_AddStringToObject(ctx, "sampling", rcfg->repetitions > 0 ? "fixed" : "adaptive");
    cJSON_AddNumberToObject(ctx, "repetitions", rcfg->repetitions);
    if (rcfg->repetitions <= 0) {
        cJSON_AddNumberToObject(ctx, "target_ci", rcfg->target_ci);
        cJSON_AddNumberToObject(ctx, "max_time", rcfg->max_time);
    }
    cJSON_AddNumberToObject(ctx, "min_time", min_time);
    cJSON_AddBoolToObject(ctx, "cold_cache", o->cold_cache);
    cJSON_AddBoolToObject(ctx, "interleave", interleave);
    cJSON_AddNumberToObject(ctx, "seed", (double)o->seed);
    /* "meter" names every meter in use ("rapl", "nvml", "model+nvml"); "meters"
     * says, per device, which meter its rows had and where the numbers come from. */
    char kinds[64] = "";
    int any = 0, all_measured = 1;
    for (int d = 0; d < JB_BACKEND_COUNT; d++)
        if (dev_rows[d] && meters[d].meter) {
            snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", any ? "+" : "",
                     jb_meter_kind_name(jb_meter_kind_of(meters[d].meter)));
            any = 1;
            all_measured &= jb_meter_is_measured(meters[d].meter);
        }
    const device_meter *first = meters[JB_BACKEND_CPU].meter ? &meters[JB_BACKEND_CPU] : &meters[JB_BACKEND_CUDA];
    cJSON_AddStringToObject(ctx, "meter", any ? kinds : "none");
    cJSON_AddStringToObject(ctx, "meter_provenance", first->meter ? jb_meter_provenance(first->meter) : first->notes);
    cJSON_AddStringToObject(ctx, "energy", !any || o->cold_cache ? "none" : all_measured ? "measured" : "estimated");
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
        cJSON_AddStringToObject(x, "energy", !mt || o->cold_cache ? "none"
                                             : jb_meter_is_measured(mt) ? "measured" : "estimated");
        if (!isnan(meters[d].idle_watts))
            cJSON_AddNumberToObject(x, "idle_watts", meters[d].idle_watts);
        if (meters[d].notes[0] && mt)
            cJSON_AddStringToObject(x, "notes", meters[d].notes);
        cJSON_AddNumberToObject(x, "min_time", meters[d].min_time);
    }
    cJSON_AddNumberToObject(ctx, "peak_flop_per_s", peaks->flop_per_s);
    cJSON_AddNumberToObject(ctx, "peak_bytes_per_s", peaks->bytes_per_s);
    cJSON_AddStringToObject(ctx, "peak_isa", peaks->isa);
    cJSON_AddNumberToObject(ctx, "peak_copy_buffer_bytes", (double)peaks->copy_bytes);
    if (dev_rows[JB_BACKEND_CUDA])
        cJSON_AddStringToObject(ctx, "gpu_timing",
                                o->cold_cache ? "CUDA events around each run, L2 flushed before it (batches of 1)"
                                              : "CUDA events around batches of back-to-back runs, enqueued behind a "
                                                "hold kernel and released together; time per run = batch time / "
                                                "runs_per_batch, batches sized to about 2 ms (at most 128 runs)");
}

int jb_cmd_run(int argc, char **argv)
{
    run_opts o;
    parse_args(argc, argv, &o);

    /* Everything that can be wrong with the input is checked before any work. */
    char pathbuf[4096], msg[512];
    const char *spath = suite_path(o.suite, pathbuf, sizeof pathbuf);
    jb_suite suite;
    if (jb_suite_load(spath, &suite, msg, sizeof msg))
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
    char omsg[4600];
    if (jb_file_check_output(out, omsg, sizeof omsg))
        jb_cli_usage_error("run: cannot write results: %s", omsg);

    pin_threads_and_reexec(&o, argv - 1);

    int threads = jb_cpu_threads();
    int repetitions = o.repetitions ? o.repetitions : suite.repetitions; /* 0: until the interval is known */
    double min_time = o.min_time > 0 ? o.min_time : suite.min_time > 0 ? suite.min_time : 0.05;
    double target_ci = o.target_ci > 0 ? o.target_ci : suite.target_ci > 0 ? suite.target_ci : 2;
    double max_time = o.max_time > 0 ? o.max_time : suite.max_time > 0 ? suite.max_time : 1;
    const int interleave = o.interleave >= 0 ? o.interleave : suite.interleave;

    /* Each device's rows get that device's meter (jb_meter_open_for): CPU rows
     * rapl or the model, GPU rows nvml, which finds the board by the CUDA
     * device's PCI bus id. */
    int dev_rows[JB_BACKEND_COUNT] = {0};
    for (size_t i = 0; i < suite.nrows; i++)
        dev_rows[suite.rows[i].k->backend] += jb_kernel_available(suite.rows[i].k, NULL, 0) == 0;
    cJSON *ctx, *benchmarks, *doc = jb_results_new(&ctx, &benchmarks);
    if (!doc)
        jb_cli_oom("run");
    jb_settings_capture(ctx, "joulebench", threads);
    if (jb_slurm_capture(ctx) == JB_ENOMEM)
        jb_cli_oom("run");
    char pci_bus_id[64] = "";
    if (dev_rows[JB_BACKEND_CUDA])
        jb_settings_capture_gpu(ctx, pci_bus_id, sizeof pci_bus_id);
    jb_meter_config mcfg = {.tdp_watts = o.tdp, .idle_watts = o.idle_watts, .threads = threads,
                            .nvml_pci_bus_id = pci_bus_id[0] ? pci_bus_id : NULL};
    device_meter meters[JB_BACKEND_COUNT];
    open_meters(&o, &suite, dev_rows, &mcfg, meters);
    jb_meter *rows_meters[JB_BACKEND_COUNT], *span[JB_BACKEND_COUNT];
    for (int d = 0; d < JB_BACKEND_COUNT; d++)
        rows_meters[d] = meters[d].meter;
    jb_observed_span_open(rows_meters, &mcfg, span);

    /* From here on Ctrl-C (or a TERM from a batch system) stops the run cleanly:
     * the file keeps the rows that finished. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    jb_gb_init(argv[-1]);
    console_ui ui = {.t0 = jb_now(), .warnings = cJSON_CreateArray()};
    double load0 = jb_settings_load1();
    if (load0 > 0.5 * threads + 0.25)
        warn(&ui, "load average %.2f before the run on %d threads: other work competes for the cores", load0, threads);
    char sampling[160];
    if (repetitions > 0)
        snprintf(sampling, sizeof sampling, "%d rounds", repetitions);
    else
        snprintf(sampling, sizeof sampling, "rounds until the 95%% interval is within %.3g%% (at most %.3g s a row)",
                 target_ci, max_time);
    fprintf(stderr, "joulebench: suite %s, %zu rows, %d threads, %s, min time %.3g s%s\n", suite.name, suite.nrows,
            threads, sampling, min_time, interleave ? ", rows sharing a shape interleaved" : "");
    fprintf(stderr, "joulebench: measuring peaks (FMA loop, copy bandwidth, each instruction family)...\n");
    jb_peaks peaks;
    if (jb_peaks_measure(&peaks)) {
        jb_cli_error("run: cannot allocate the bandwidth buffers");
        return JB_EXIT_FAIL;
    }
    char fams[256] = "";
    for (int f = 0; f < JB_FAM_COUNT; f++)
        if (f != JB_FAM_FP32_FMA && peaks.family[f].ops_per_s > 0)
            snprintf(fams + strlen(fams), sizeof fams - strlen(fams), ", %s %.1f %s", jb_family_name((jb_family)f),
                     peaks.family[f].ops_per_s / 1e9, f == JB_FAM_INT8_DOT || f == JB_FAM_AMX_INT8 ? "GOP/s" : "GFLOP/s");
    fprintf(stderr, "joulebench: peak %.1f GFLOP/s fp32 (%s FMA loop)%s, copy %.1f GB/s\n", peaks.flop_per_s / 1e9,
            peaks.isa, fams, peaks.bytes_per_s / 1e9);
    settle_meters(&ui, dev_rows, meters, min_time);

    jb_runner_config rcfg = {.repetitions = repetitions, .target_ci = target_ci / 100, .max_time = max_time,
                             .probe = 1, .interleave = interleave, .cold_cache = o.cold_cache, .seed = o.seed,
                             .peaks = &peaks, .progress = progress, .warn = warn_line, .arg = &ui};
    add_run_context(ctx, &suite, spath, &o, &rcfg, min_time, dev_rows, meters, &peaks);
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        rcfg.meters[d] = meters[d].meter;
        rcfg.idle_watts[d] = meters[d].idle_watts;
        rcfg.min_time[d] = meters[d].min_time;
    }
    jb_reporter json = jb_reporter_json(benchmarks), text = o.format == FMT_CSV ? jb_reporter_csv(stdout)
                                                                                : jb_reporter_console(stdout);
    jb_reporter *reps[2] = {&json, &text};
    size_t nreps = o.format == FMT_JSON ? 1 : 2;
    if (nreps == 2 && !text.state)
        jb_cli_oom("run");
    for (size_t r = 0; r < nreps; r++)
        if (reps[r]->begin)
            reps[r]->begin(reps[r]);
    jb_runner_stats *st = calloc(1, sizeof *st);
    if (!st)
        jb_cli_oom("run");
    int rc = jb_runner_run(&suite, &rcfg, reps, nreps, st);
    progress(&ui, 0, 0, NULL);
    for (size_t r = 0; r < nreps; r++)
        if (reps[r]->end)
            reps[r]->end(reps[r]);
    jb_reporter_free(&text);
    if (rc == JB_ENOMEM)
        jb_cli_oom("run");
    const int interrupted = jb_runner_stopped();

    double load1 = jb_settings_load1();
    cJSON *la = cJSON_AddArrayToObject(ctx, "load_avg_after");
    cJSON_AddItemToArray(la, cJSON_CreateNumber(load1));
    if (load1 > 0.5 * threads + 1.25)
        warn(&ui, "load average %.2f after the run: other work may have competed", load1);
    cJSON_AddBoolToObject(ctx, "high_load", load0 > 0.5 * threads + 0.25);
    cJSON_AddNumberToObject(ctx, "noisy_rows", st->noisy);
    if (repetitions <= 0)
        cJSON_AddNumberToObject(ctx, "unconverged_rows", st->unconverged);
    if (jb_observed_probe(ctx, st) || jb_observed_run_energy(ctx, span) || jb_observed_peaks(ctx, &peaks))
        jb_cli_oom("run");
    if (peaks.bytes_per_s > 1.05 * peaks.bytes_per_s_start)
        warn(&ui, "the copy bandwidth read %.1f GB/s at the start and %.1f GB/s after the rows: the start was "
                  "disturbed, and %%bw uses the higher reading",
             peaks.bytes_per_s_start / 1e9, peaks.bytes_per_s / 1e9);
    if (peaks.flop_per_s > 1.05 * peaks.flop_per_s_start)
        warn(&ui, "the FMA peak read %.1f GFLOP/s at the start, %.1f GFLOP/s in the run's probes: the start was "
                  "disturbed, and %%peak uses the higher reading",
             peaks.flop_per_s_start / 1e9, peaks.flop_per_s / 1e9);
    if (st->unconverged)
        fprintf(stderr, "joulebench: %d rows (marked ~) stopped on the --max-time budget before their interval was "
                        "within %.3g%%\n", st->unconverged, target_ci);
    const int failures = st->failures;
    free(st);
    cJSON_AddBoolToObject(ctx, "interrupted", interrupted);
    if (dev_rows[JB_BACKEND_CUDA])
        jb_settings_gpu_after(ctx, pci_bus_id);
    cJSON_AddItemToObject(ctx, "warnings", ui.warnings);
    if (o.format == FMT_JSON)
        jb_json_print(stdout, doc);
    for (int d = 0; d < JB_BACKEND_COUNT; d++)
        jb_meter_free(meters[d].meter);
    jb_suite_free(&suite);
    if (interrupted && cJSON_GetArraySize(benchmarks) == 0) {
        /* Nothing finished: an existing file is worth more than an empty one. */
        fprintf(stderr, "joulebench: interrupted before any row finished: %s not written\n", out);
        cJSON_Delete(doc);
        return 130;
    }
    rc = jb_results_write_atomic(out, doc, msg, sizeof msg);
    cJSON_Delete(doc);
    if (rc) {
        jb_cli_error("%s", msg);
        return JB_EXIT_FAIL;
    }
    fprintf(stderr, "joulebench: wrote %s%s\n", out, interrupted ? " (interrupted: the rows that finished)" : "");
    if (interrupted)
        return 130;
    return failures ? JB_EXIT_FAIL : JB_EXIT_OK;
}
