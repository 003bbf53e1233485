/*
 * Sampling until the answer is known (issue 14), from the outside: the
 * intervals `joulebench run` writes are the order statistics of the
 * repetitions it wrote, the rates carry the same relative interval, the
 * speed-up is the median of the per-round ratios against the reference the
 * rules (or the suite) pick, rounds stop on the target or on the budget and
 * say which, a fixed --repetitions is exactly that many, and Google
 * Benchmark's shim keeps a fixed iteration count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

#include <cjson/cJSON.h>

#include "analysis/stats.h"
#include "harness/gbench.h"
#include "harness/results.h"

static char tmpdir[] = "/tmp/jb_sampling_XXXXXX";
static char suite[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const cJSON *find_row(const cJSON *bm, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, bm)
    {
        const cJSON *n = cJSON_GetObjectItem(it, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return it;
    }
    return NULL;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The repetitions of run_name, by repetition_index; returns how many. */
static size_t reps_of(const cJSON *bm, const char *run_name, double *t, size_t max)
{
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, bm)
    {
        if (strcmp(cJSON_GetObjectItem(it, "run_name")->valuestring, run_name) ||
            strcmp(cJSON_GetObjectItem(it, "run_type")->valuestring, "iteration"))
            continue;
        int i = (int)num(it, "repetition_index");
        assert_true(i >= 0 && (size_t)i < max);
        t[i] = num(it, "real_time");
        n++;
    }
    return n;
}

static cJSON *run(const char *outname, const char *extra)
{
    char path[512], msg[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, outname);
    int rc = jb("run --suite %s --out %s --meter model --min-time 0.002 %s", suite, path, extra);
    if (rc != 0)
        fail_msg("run %s failed (%d): %s", extra, rc, out);
    cJSON *doc = jb_results_read(path, msg, sizeof msg);
    if (!doc)
        fail_msg("%s", msg);
    return doc;
}

#define NAIVE "matmul/cpu/naive/f32/m:24/n:24/k:24"
#define BLOCKED "matmul/cpu/blocked/f32/m:24/n:24/k:24"
#define ONEDNN "matmul/cpu/onednn/f32/m:24/n:24/k:24"

/* The intervals of a row are the order statistics of its own repetitions,
 * and its rates carry the same relative interval. */
static void check_row_intervals(const cJSON *bm, const char *run_name)
{
    double t[1024];
    size_t n = reps_of(bm, run_name, t, 1024);
    char name[256];
    snprintf(name, sizeof name, "%s_median", run_name);
    const cJSON *med = find_row(bm, name);
    assert_non_null(med);
    assert_int_equal((int)num(med, "repetitions"), (int)n);
    assert_true(n >= 6);
    double lo, hi, cov;
    assert_int_equal(jb_median_ci(t, n, 0.95, &lo, &hi, &cov), 0);
    assert_true(fabs(num(med, "real_time") / jb_median(t, n) - 1) < 1e-9);
    snprintf(name, sizeof name, "%s_ci95_low", run_name);
    const cJSON *clo = find_row(bm, name);
    snprintf(name, sizeof name, "%s_ci95_high", run_name);
    const cJSON *chi = find_row(bm, name);
    snprintf(name, sizeof name, "%s_min", run_name);
    const cJSON *mn = find_row(bm, name);
    assert_non_null(clo);
    assert_non_null(chi);
    assert_non_null(mn);
    assert_string_equal(cJSON_GetObjectItem(clo, "aggregate_name")->valuestring, "ci95_low");
    assert_true(fabs(num(clo, "real_time") / lo - 1) < 1e-9);
    assert_true(fabs(num(chi, "real_time") / hi - 1) < 1e-9);
    double tmin = INFINITY;
    for (size_t i = 0; i < n; i++)
        tmin = fmin(tmin, t[i]);
    assert_true(fabs(num(mn, "real_time") / tmin - 1) < 1e-9);
    assert_true(fabs(num(med, "ci_coverage") - cov) < 1e-12);
    assert_true(fabs(num(med, "ci_halfwidth_pct") - 100 * (hi - lo) / 2 / jb_median(t, n)) < 1e-6);
    /* FLOP/s over the same interval, inverted: the slow end of time is the low end of FLOP/s. */
    double f = num(med, "flop_per_s"), mt = num(med, "real_time");
    assert_true(fabs(num(med, "flop_per_s_ci95_low") / (f * mt / hi) - 1) < 1e-9);
    assert_true(fabs(num(med, "flop_per_s_ci95_high") / (f * mt / lo) - 1) < 1e-9);
    assert_true(num(med, "flop_per_j_ci95_low") <= num(med, "flop_per_j"));
    assert_true(num(med, "flop_per_j_ci95_high") >= num(med, "flop_per_j"));
}

/* The speed-up of row over ref: the median and interval of the per-round ratios (by repetition_index, the round). */
static void check_speedup(const cJSON *bm, const char *run_name, const char *ref_run, const char *ref_kernel)
{
    double a[1024], b[1024], r[1024];
    size_t n = reps_of(bm, run_name, a, 1024), m = reps_of(bm, ref_run, b, 1024);
    assert_int_equal(n, m); /* one repetition of each per round */
    for (size_t i = 0; i < n; i++)
        r[i] = b[i] / a[i];
    char name[256];
    snprintf(name, sizeof name, "%s_median", run_name);
    const cJSON *med = find_row(bm, name);
    assert_non_null(med);
    assert_string_equal(cJSON_GetObjectItem(med, "reference")->valuestring, ref_kernel);
    double lo, hi;
    assert_true(fabs(num(med, "speedup") / jb_median(r, n) - 1) < 1e-9);
    /* In round order, for the ratios' effective number (neighbouring rounds are alike on a drifting machine). */
    if (jb_median_ci_dependent(r, n, 0.95, &lo, &hi, NULL, NULL) != 0) {
        assert_null(cJSON_GetObjectItem(med, "speedup_ci95_low"));
        return;
    }
    assert_true(fabs(num(med, "speedup_ci95_low") / lo - 1) < 1e-9);
    assert_true(fabs(num(med, "speedup_ci95_high") / hi - 1) < 1e-9);
}

static void test_intervals_and_speedups(void **state)
{
    (void)state;
    cJSON *doc = run("adaptive.json", "--max-time 0.05");
    const cJSON *bm = cJSON_GetObjectItem(doc, "benchmarks"), *ctx = cJSON_GetObjectItem(doc, "context");
    assert_string_equal(cJSON_GetObjectItem(ctx, "sampling")->valuestring, "adaptive");
    assert_true(fabs(num(ctx, "target_ci") - 0.02) < 1e-12);
    const cJSON *probe = cJSON_GetObjectItem(ctx, "probe");
    assert_non_null(probe);
    assert_true(num(cJSON_GetObjectItem(probe, "flop_per_s"), "median") > 0);
    /* The probes run the peak's loop: the peak is the best reading, the start's or theirs,
     * and every row's fraction of it is taken against that one figure. */
    const double peak = num(ctx, "peak_flop_per_s");
    assert_true(peak >= num(ctx, "peak_flop_per_s_start"));
    assert_true(peak >= num(cJSON_GetObjectItem(probe, "flop_per_s"), "max"));
    const cJSON *nm = find_row(bm, NAIVE "_median");
    assert_true(fabs(num(nm, "pct_peak_flops") / (100 * num(nm, "flop_per_s") / peak) - 1) < 1e-9);
    /* The copy bandwidth is read again after the rows: the better reading is the one. */
    const double bw = num(ctx, "peak_bytes_per_s");
    assert_true(bw >= num(ctx, "peak_bytes_per_s_start"));
    assert_true(fabs(num(nm, "pct_peak_bw") / (100 * num(nm, "bytes_per_s") / bw) - 1) < 1e-9);
    check_row_intervals(bm, NAIVE);
    check_row_intervals(bm, BLOCKED);
    check_row_intervals(bm, ONEDNN);
    /* The vendor library's variant is the default reference, itself without a speed-up. */
    check_speedup(bm, NAIVE, ONEDNN, "matmul/cpu/onednn/f32");
    check_speedup(bm, BLOCKED, ONEDNN, "matmul/cpu/onednn/f32");
    const cJSON *ref = find_row(bm, ONEDNN "_median");
    assert_string_equal(cJSON_GetObjectItem(ref, "reference")->valuestring, "matmul/cpu/onednn/f32");
    assert_null(cJSON_GetObjectItem(ref, "speedup"));
    /* oneDNN's softmax has no causal mask: naive is the reference then. */
    check_speedup(bm, "softmax/cpu/fused/f32/rows:8/cols:64/causal:1", "softmax/cpu/naive/f32/rows:8/cols:64/causal:1",
                  "softmax/cpu/naive/f32");
    /* The console says it: "<x>x [<lo>, <hi>] vs onednn/f32" (without the interval when the
     * rounds were too few for one) and "reference". */
    assert_non_null(strstr(out, " vs onednn/f32"));
    assert_non_null(strstr(out, " vs naive/f32"));
    assert_non_null(strstr(out, "reference"));
    /* Every repetition carries what disturbed it. */
    const cJSON *it;
    int reps = 0;
    cJSON_ArrayForEach(it, bm)
    {
        if (strcmp(cJSON_GetObjectItem(it, "run_type")->valuestring, "iteration") ||
            cJSON_IsTrue(cJSON_GetObjectItem(it, "error_occurred")))
            continue;
        reps++;
        assert_true(num(it, "ctx_switches") >= 0);
        assert_true(num(it, "disturbed") == 0 || num(it, "disturbed") == 1);
        assert_true(num(it, "probe_flop_per_s") > 0);
    }
    assert_true(reps >= 5 * 6);
    cJSON_Delete(doc);
    /* scripts/interval-coverage.py (docs/measurement.md) reads these files: a run against
     * itself lies inside its own intervals, every row. */
    char cmd[1024], line[512] = "";
    snprintf(cmd, sizeof cmd, "python3 %s/scripts/interval-coverage.py %s/adaptive.json %s/adaptive.json 2>&1",
             JB_SOURCE_DIR_T, tmpdir, tmpdir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int time_line = 0, speed_line = 0;
    while (fgets(line, sizeof line, p)) {
        time_line |= !strncmp(line, "time:", 5) && strstr(line, "(100%)") != NULL;
        /* (a loaded machine can leave every speed-up without an interval: said so) */
        speed_line |= !strncmp(line, "speed-up:", 9) && (strstr(line, "(100%)") || strstr(line, "no interval"));
    }
    assert_int_equal(pclose(p), 0);
    assert_true(time_line && speed_line);
}

/* The rounds stop once the interval is as narrow as asked... */
static void test_stops_on_target(void **state)
{
    (void)state;
    cJSON *doc = run("wide.json", "--target-ci 100 --max-time 60");
    const cJSON *bm = cJSON_GetObjectItem(doc, "benchmarks");
    /* The group's rows are timed in rounds until every one of them has an interval within
     * +-100% of its median: six repetitions give one, and that target is met at once unless a
     * repetition ran three times the median (a loaded machine does that: then more rounds).
     * The run stopped at the first round that met it for all three, no later. */
    const char *rows[] = {NAIVE, BLOCKED, ONEDNN};
    double t[3][256];
    size_t n = reps_of(bm, BLOCKED, t[1], 256);
    assert_int_equal(reps_of(bm, NAIVE, t[0], 256), n);
    assert_int_equal(reps_of(bm, ONEDNN, t[2], 256), n);
    assert_true(n >= 6);
    size_t first = 0;
    for (size_t r = 6; r <= n && !first; r++) {
        int all = 1;
        for (int i = 0; i < 3; i++) {
            double lo, hi;
            assert_int_equal(jb_median_ci(t[i], r, 0.95, &lo, &hi, NULL), 0);
            all &= (hi - lo) / 2 / jb_median(t[i], r) <= 1.0;
        }
        if (all)
            first = r;
    }
    assert_int_equal(first, n);
    for (int i = 0; i < 3; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s_median", rows[i]);
        const cJSON *med = find_row(bm, name);
        assert_non_null(med);
        assert_int_equal((int)num(med, "repetitions"), (int)n);
        assert_true(num(med, "converged") == 1);
    }
    assert_null(strstr(out, "budget"));
    cJSON_Delete(doc);
}

/* ... or once the budget is spent, and say so. */
static void test_stops_on_budget(void **state)
{
    (void)state;
    cJSON *doc = run("budget.json", "--target-ci 0.01 --max-time 0.02");
    const cJSON *bm = cJSON_GetObjectItem(doc, "benchmarks");
    const cJSON *med = find_row(bm, BLOCKED "_median");
    assert_non_null(med);
    assert_true(num(med, "converged") == 0);
    assert_true(num(med, "ci_halfwidth_pct") > 0.01);
    /* Repetitions last 0.05 s at least (5 periods of the model meter): the 0.02 s
     * budget is spent at once, and the six an interval needs are all it gets. */
    assert_int_equal((int)num(med, "repetitions"), 6);
    assert_non_null(strstr(out, "stopped on the --max-time budget"));
    assert_non_null(strstr(out, " ~")); /* the console mark */
    assert_true(num(cJSON_GetObjectItem(doc, "context"), "unconverged_rows") >= 1);
    cJSON_Delete(doc);
}

/* A fixed count is exactly that many rounds. */
static void test_fixed_repetitions(void **state)
{
    (void)state;
    cJSON *doc = run("fixed.json", "--repetitions 8");
    const cJSON *bm = cJSON_GetObjectItem(doc, "benchmarks");
    double t[64];
    assert_int_equal(reps_of(bm, NAIVE, t, 64), 8);
    assert_int_equal(reps_of(bm, ONEDNN, t, 64), 8);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "context"), "sampling")->valuestring, "fixed");
    cJSON_Delete(doc);
    /* Too few for an interval: said, and the rows still have their median. */
    doc = run("three.json", "--repetitions 3");
    bm = cJSON_GetObjectItem(doc, "benchmarks");
    assert_non_null(find_row(bm, NAIVE "_median"));
    assert_null(find_row(bm, NAIVE "_ci95_low"));
    assert_non_null(strstr(out, "3 repetitions give no 95% interval"));
    cJSON_Delete(doc);
}

/* A suite group's "reference" overrides the default. */
static void test_suite_reference(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/ref.json", tmpdir);
    write_file(path, "{\"groups\": [{\"op\": \"matmul\", \"reference\": \"matmul/cpu/naive/f32\",\n"
                     "  \"kernels\": [\"matmul/cpu/(naive|onednn)/f32\"], \"axes\": {\"m=n=k\": [24]}}]}\n");
    char args[2048], res[512], msg[256];
    snprintf(res, sizeof res, "%s/ref-out.json", tmpdir);
    snprintf(args, sizeof args, "run --suite %s --out %s --meter model --min-time 0.002 --max-time 0.02", path, res);
    if (jb("%s", args) != 0)
        fail_msg("run failed: %s", out);
    cJSON *doc = jb_results_read(res, msg, sizeof msg);
    assert_non_null(doc);
    check_speedup(cJSON_GetObjectItem(doc, "benchmarks"), ONEDNN, NAIVE, "matmul/cpu/naive/f32");
    cJSON_Delete(doc);
}

/* The shim: a fixed iteration count is kept, with no search for min_time. */
static void fixed_body(jb_gb_state *st, void *arg)
{
    (void)arg;
    while (jb_gb_keep_running(st))
        jb_gb_set_iteration_time(st, 1e-3);
}

static void count_iterations(const jb_gb_run *r, void *arg)
{
    if (!r->is_aggregate)
        *(int64_t *)arg = r->iterations;
}

/* A group with nothing to time (its one row skipped: oneDNN's softmax has no
 * causal mask) is done at once, adaptive or fixed, not sampled forever. */
static void test_group_without_timed_rows(void **state)
{
    (void)state;
    static const char *const modes[] = {"--max-time 0.05", "--repetitions 3"};
    for (size_t i = 0; i < 2; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "timeout 120 %s run --suite %s --out %s/nointer.json --meter model --min-time 0.002 "
                 "--no-interleave --filter softmax %s >/dev/null 2>&1",
                 JB_EXE, suite, tmpdir, modes[i]);
        int st = system(cmd);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s: exit %d (124: it hung)", modes[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
}

static void test_shim_fixed_iterations(void **state)
{
    (void)state;
    int64_t iters[1] = {7}, seen = 0;
    const char *names[] = {"fixed/seven"};
    void *args[] = {NULL}, *ctxs[] = {&seen};
    jb_gb_options o = {.repetitions = 1, .min_time = 0.5, .iterations = iters};
    assert_int_equal(jb_gb_run_group(1, names, fixed_body, args, &o, 0, count_iterations, ctxs), 0);
    assert_int_equal(seen, 7);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    jb_gb_init("test_sampling");
    snprintf(suite, sizeof suite, "%s/s.json", tmpdir);
    write_file(suite, "{\"name\": \"sampling\", \"groups\": [\n"
                      " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/(naive|blocked|onednn)/f32\"],"
                      "  \"axes\": {\"m=n=k\": [24]}},\n"
                      " {\"op\": \"softmax\", \"kernels\": [\"softmax/cpu/(naive|fused|onednn)/f32\"],"
                      "  \"shapes\": [{\"rows\": 8, \"cols\": 64, \"causal\": 1}]}]}\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals_and_speedups),
        cmocka_unit_test(test_stops_on_target),
        cmocka_unit_test(test_stops_on_budget),
        cmocka_unit_test(test_fixed_repetitions),
        cmocka_unit_test(test_suite_reference),
        cmocka_unit_test(test_shim_fixed_iterations),
        cmocka_unit_test(test_group_without_timed_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
