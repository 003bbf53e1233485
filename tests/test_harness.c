/*
 * The harness: the Google Benchmark shim, suite files, atomic results, and
 * `joulebench run` from the outside (bad input, the JSON it writes, that
 * Google Benchmark's compare.py reads it, and that Ctrl-C leaves either no
 * file or a complete one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

#include <cjson/cJSON.h>

#include "harness/gbench.h"
#include "harness/peaks.h"
#include "harness/results.h"
#include "harness/suite.h"
#include "jb_kernels.h"

static char tmpdir[] = "/tmp/jb_harness_XXXXXX";

/* ---- Google Benchmark shim -------------------------------------------- */

typedef struct seen {
    int iterations_runs, aggregates, errors;
    double median_ns, cv;
    double counter;
    char error[128];
} seen;

static void record(const jb_gb_run *r, void *arg)
{
    seen *s = arg;
    if (r->error_occurred) {
        s->errors++;
        snprintf(s->error, sizeof s->error, "%s", r->error_message);
        return;
    }
    if (r->is_aggregate) {
        s->aggregates++;
        if (!strcmp(r->aggregate_name, "median"))
            s->median_ns = r->real_time_ns;
        if (!strcmp(r->aggregate_name, "cv"))
            s->cv = r->real_time_ns;
    } else {
        s->iterations_runs++;
    }
    for (int i = 0; i < r->ncounters && !r->is_aggregate; i++)
        if (!strcmp(r->counter_names[i], "answer"))
            s->counter = r->counter_values[i];
}

static void fixed_time_body(jb_gb_state *st, void *arg)
{
    (void)arg;
    while (jb_gb_keep_running(st))
        jb_gb_set_iteration_time(st, 0.002); /* 2 ms, exactly, every iteration */
    jb_gb_set_counter(st, "answer", 42);
}

static void failing_body(jb_gb_state *st, void *arg)
{
    (void)arg;
    jb_gb_skip_with_error(st, "kernel said no");
    while (jb_gb_keep_running(st))
        ;
}

static void test_shim(void **state)
{
    (void)state;
    jb_gb_options o = {.repetitions = 3, .min_time = 0.01};
    seen s = {0};
    assert_int_equal(jb_gb_run_one("shim/fixed", fixed_time_body, NULL, &o, record, &s), 0);
    assert_int_equal(s.iterations_runs, 3);
    assert_int_equal(s.aggregates, 4); /* mean, median, stddev, cv */
    assert_true(fabs(s.median_ns - 2e6) < 1);
    assert_true(s.cv < 1e-9);          /* identical times: no spread */
    assert_true(s.counter == 42);
    seen e = {0};
    assert_int_equal(jb_gb_run_one("shim/fail", failing_body, NULL, &o, record, &e), 0);
    assert_true(e.errors >= 1);
    assert_string_equal(e.error, "kernel said no");
}

/* Each call of the body (Google Benchmark calls it once or more per
 * repetition) appends its benchmark's letter to a log. */
static char order_log[4096];
static size_t order_len;

static void logging_body(jb_gb_state *st, void *arg)
{
    if (order_len + 1 < sizeof order_log)
        order_log[order_len++] = *(const char *)arg;
    while (jb_gb_keep_running(st))
        jb_gb_set_iteration_time(st, 0.001);
}

static int switches(void)
{
    int n = 0;
    for (size_t i = 1; i < order_len; i++)
        n += order_log[i] != order_log[i - 1];
    return n;
}

typedef struct routed {
    char want[32];
    int runs, wrong;
} routed;

static void record_routed(const jb_gb_run *r, void *arg)
{
    routed *x = arg;
    x->runs += !r->is_aggregate;
    /* Google Benchmark names a manual-time run "<name>/manual_time". */
    x->wrong += strncmp(r->run_name, x->want, strlen(x->want)) != 0;
}

static void test_shim_group(void **state)
{
    (void)state;
    jb_gb_options o = {.repetitions = 10, .min_time = 0.001};
    const char *names[] = {"group/a", "group/b"};
    static char ids[] = "ab";
    void *args[] = {&ids[0], &ids[1]};
    routed ra = {"group/a", 0, 0}, rb = {"group/b", 0, 0};
    void *ctxs[] = {&ra, &rb};

    /* One after the other: all of a's calls, then all of b's. */
    order_len = 0;
    assert_int_equal(jb_gb_run_group(2, names, logging_body, args, &o, 0, record_routed, ctxs), 0);
    assert_int_equal(switches(), 1);
    assert_int_equal(ra.runs, 10);
    assert_int_equal(rb.runs, 10);
    assert_int_equal(ra.wrong + rb.wrong, 0);

    /* Interleaved: 20 repetitions in a random order. The log stays in two
     * blocks only if the shuffle left them in order, 2 chances in C(20,10). */
    order_len = 0;
    ra.runs = rb.runs = 0;
    assert_int_equal(jb_gb_run_group(2, names, logging_body, args, &o, 1, record_routed, ctxs), 0);
    assert_true(switches() > 1);
    assert_int_equal(ra.runs, 10);
    assert_int_equal(rb.runs, 10);
    assert_int_equal(ra.wrong + rb.wrong, 0);
}

/* ---- Suites ------------------------------------------------------------ */

static void test_suite_expand(void **state)
{
    (void)state;
    const char *text = "{\"name\": \"t\", \"repetitions\": 2, \"min_time\": 0.5, \"groups\": [\n"
                       " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\"], \"axes\": {\"m=n\": [4, 8], \"k\": [3, 5]},\n"
                       "  \"skip\": [{\"m\": [8], \"k\": 5}]},\n"
                       " {\"op\": \"attention\", \"kernels\": [\"attention/cpu/naive/.*\"], \"shapes\": [{\"b\": 1, \"h\": 2, \"n\": 9, \"d\": 16, \"causal\": 1}]}\n"
                       "]}";
    jb_suite s;
    char msg[256];
    assert_int_equal(jb_suite_parse(text, "t.json", &s, msg, sizeof msg), JB_OK);
    assert_string_equal(s.name, "t");
    assert_int_equal(s.repetitions, 2);
    assert_true(s.min_time == 0.5);
    assert_int_equal(s.nrows, 4); /* 2x2 product, minus one skipped, plus one */
    assert_string_equal(s.rows[0].name, "matmul/cpu/naive/f32/m:4/n:4/k:3");
    assert_string_equal(s.rows[1].name, "matmul/cpu/naive/f32/m:4/n:4/k:5");
    assert_string_equal(s.rows[2].name, "matmul/cpu/naive/f32/m:8/n:8/k:3");
    assert_string_equal(s.rows[3].name, "attention/cpu/naive/f32/b:1/h:2/n:9/d:16/causal:1");
    jb_suite_free(&s);
}

static void expect_suite_error(const char *text, const char *where, const char *what)
{
    jb_suite s;
    char msg[256] = "";
    int rc = jb_suite_parse(text, "bad.json", &s, msg, sizeof msg);
    if (rc == JB_OK)
        fail_msg("suite parsed but should not: %s", text);
    if (!strstr(msg, where) || !strstr(msg, what))
        fail_msg("message '%s' lacks '%s' or '%s'", msg, where, what);
}

/* packed as an axis, in a shape and in a skip entry; 0 keeps the old names. */
static void test_suite_packed(void **state)
{
    (void)state;
    const char *text = "{\"name\": \"t\", \"groups\": [\n"
                       " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\"], \"axes\": {\"m=n=k\": [4, 8], \"packed\": [0, 1]},\n"
                       "  \"skip\": [{\"m\": 8, \"packed\": 1}]},\n"
                       " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\"], \"shapes\": [{\"m\": 2, \"n\": 3, \"k\": 5, \"packed\": 1}]}\n"
                       "]}";
    jb_suite s;
    char msg[256];
    assert_int_equal(jb_suite_parse(text, "t.json", &s, msg, sizeof msg), JB_OK);
    assert_int_equal(s.nrows, 4);
    assert_string_equal(s.rows[0].name, "matmul/cpu/naive/f32/m:4/n:4/k:4");
    assert_string_equal(s.rows[1].name, "matmul/cpu/naive/f32/m:4/n:4/k:4/packed:1");
    assert_string_equal(s.rows[2].name, "matmul/cpu/naive/f32/m:8/n:8/k:8");
    assert_string_equal(s.rows[3].name, "matmul/cpu/naive/f32/m:2/n:3/k:5/packed:1");
    assert_int_equal(s.rows[1].p.packed, 1);
    assert_int_equal(s.rows[2].p.packed, 0);
    jb_suite_free(&s);
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\",\n   \"axes\": {\"m=n=k\": [4], \"packed\": [0, 2]}}]}",
                       "bad.json:2:", "packed is 0 or 1");
    expect_suite_error("{\"groups\": [{\"op\": \"softmax\",\n   \"axes\": {\"rows=cols\": [4], \"packed\": [1]}}]}",
                       "bad.json:2:", "packed is matmul's only");
}

static void test_suite_errors(void **state)
{
    (void)state;
    expect_suite_error("{\"groups\": [\n  {\"op\": \"matmul\",, }]}", "bad.json:2:", "malformed JSON");
    expect_suite_error("{\"groups\": [\n {\"op\": \"conv\", \"axes\": {}}]}", "bad.json:2:", "must be matmul");
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\",\n   \"axes\": {\"m\": [1], \"q\": [2]}}]}", "bad.json:2:",
                       "unknown shape key 'q'");
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [1.5]}}]}", "bad.json:1:", "not an integer");
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [0]}}]}", "bad.json:1:", "positive");
    expect_suite_error("{\"groups\": []}", "bad.json:1:", "non-empty");
    expect_suite_error("{\"grops\": []}", "bad.json:1:", "unknown field 'grops'");
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/zzz/f32\"], \"axes\": {\"m=n=k\": [2]}}]}",
                       "bad.json:1:", "no matmul kernel matches");
    expect_suite_error("{\"groups\": [{\"op\": \"matmul\"}]}", "bad.json:1:", "exactly one of");
    expect_suite_error("[1, 2]", "bad.json:1:", "JSON object");
    expect_suite_error("{\"interleave\": 1, \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [2]}}]}",
                       "bad.json:1:", "must be true or false");
}

/* ---- Results files ------------------------------------------------------ */

static void test_atomic_write(void **state)
{
    (void)state;
    char path[256], msg[256];
    snprintf(path, sizeof path, "%s/r.json", tmpdir);
    cJSON *doc = cJSON_Parse("{\"context\": {}, \"benchmarks\": [{\"name\": \"x\"}]}");
    assert_int_equal(jb_results_write_atomic(path, doc, msg, sizeof msg), JB_OK);
    cJSON *back = jb_results_read(path, msg, sizeof msg);
    assert_non_null(back);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(back, "benchmarks")), 1);
    cJSON_Delete(back);
    /* A directory that does not exist: an error, and nothing left behind. */
    assert_int_equal(jb_results_write_atomic("/nonexistent-dir/r.json", doc, msg, sizeof msg), JB_EIO);
    cJSON_Delete(doc);
    /* Only r.json in the directory: no temporary files left. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", tmpdir);
    assert_int_equal(system(cmd), 0);
    /* A foreign JSON file is refused with a reason. */
    snprintf(path, sizeof path, "%s/foreign.json", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{\"rows\": []}", f);
    fclose(f);
    assert_null(jb_results_read(path, msg, sizeof msg));
    assert_non_null(strstr(msg, "not a Google Benchmark results file"));
    unlink(path);
}

/* ---- joulebench run from the outside ------------------------------------ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *tiny_suite =
    "{\"name\": \"tiny\", \"groups\": [\n"
    " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\", \"matmul/cpu/onednn/f32\"], \"axes\": {\"m=n=k\": [32]}},\n"
    " {\"op\": \"softmax\", \"kernels\": [\"softmax/cpu/naive/f32\", \"softmax/cpu/onednn/f32\"], \"shapes\": [{\"rows\": 16, \"cols\": 64, \"causal\": 1}]}\n"
    "]}\n";

static void test_run_bad_input(void **state)
{
    (void)state;
    char suite[256], bad[256], args[1024];
    snprintf(suite, sizeof suite, "%s/tiny.json", tmpdir);
    write_file(suite, tiny_suite);
    snprintf(bad, sizeof bad, "%s/bad.json", tmpdir);
    write_file(bad, "{\"groups\": [\n  {\"op\": \"matmul\", \"axes\": {\"m\": [1], \"zz\": [2]}}]}\n");
    expect_usage_error("run --suite /nonexistent/suite.json", "cannot open suite");
    snprintf(args, sizeof args, "run --suite %s", bad);
    expect_usage_error(args, "bad.json:2:");
    snprintf(args, sizeof args, "run --suite %s --meter joules", suite);
    expect_usage_error(args, "unknown meter 'joules'");
    snprintf(args, sizeof args, "run --suite %s --filter 'nothing-matches-this'", suite);
    expect_usage_error(args, "matches none");
    snprintf(args, sizeof args, "run --suite %s --filter '('", suite);
    expect_usage_error(args, "not a valid regular expression");
    snprintf(args, sizeof args, "run --suite %s --repetitions 0", suite);
    expect_usage_error(args, "--repetitions");
    snprintf(args, sizeof args, "run --suite %s --threads many", suite);
    expect_usage_error(args, "--threads");
    snprintf(args, sizeof args, "run --suite %s --min-time -1", suite);
    expect_usage_error(args, "--min-time");
    snprintf(args, sizeof args, "run --suite %s --format xml", suite);
    expect_usage_error(args, "--format");
    snprintf(args, sizeof args, "run --suite %s --out /nonexistent-dir/x.json", suite);
    expect_usage_error(args, "cannot write results");
    snprintf(args, sizeof args, "run --suite %s --tdp 10 --idle-watts 20", suite);
    expect_usage_error(args, "--idle-watts");
    expect_usage_error("run --bogus", "unknown option");
}

static const cJSON *find_row(const cJSON *benchmarks, const char *name)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, benchmarks)
    {
        const cJSON *n = cJSON_GetObjectItem(b, "name");
        if (n && !strcmp(n->valuestring, name))
            return b;
    }
    return NULL;
}

static void run_tiny(const char *outfile)
{
    char args[1024];
    snprintf(args, sizeof args, "run --suite %s/tiny.json --out %s --repetitions 3 --min-time 0.01 --meter model", tmpdir,
             outfile);
    int rc = jb("%s", args);
    if (rc != 0)
        fail_msg("run failed (%d): %s", rc, out);
}

static void test_run_json(void **state)
{
    (void)state;
    char path[256], msg[256];
    snprintf(path, sizeof path, "%s/tiny.json", tmpdir);
    write_file(path, tiny_suite);
    snprintf(path, sizeof path, "%s/a.json", tmpdir);
    run_tiny(path);
    assert_non_null(strstr(out, "matmul/cpu/naive/f32"));
    assert_non_null(strstr(out, "estimated"));
    cJSON *doc = jb_results_read(path, msg, sizeof msg);
    if (!doc)
        fail_msg("%s", msg);
    const cJSON *ctx = cJSON_GetObjectItem(doc, "context");
    static const char *const keys[] = {"date", "host_name", "num_cpus", "caches", "load_avg", "cpu_model",
                                       "cpu_flags", "threads", "omp_proc_bind", "omp_places", "governor",
                                       "compiler", "onednn_version", "git_commit", "meter", "meter_provenance",
                                       "energy", "idle_watts", "peak_flop_per_s", "peak_bytes_per_s",
                                       "load_avg_after", "repetitions", "min_time"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!cJSON_GetObjectItem(ctx, keys[i]))
            fail_msg("context lacks %s", keys[i]);
    assert_string_equal(cJSON_GetObjectItem(ctx, "meter")->valuestring, "model");
    assert_string_equal(cJSON_GetObjectItem(ctx, "energy")->valuestring, "estimated");
    assert_string_equal(cJSON_GetObjectItem(ctx, "omp_proc_bind")->valuestring, "close");
    const cJSON *bm = cJSON_GetObjectItem(doc, "benchmarks");
    const cJSON *med = find_row(bm, "matmul/cpu/naive/f32/m:32/n:32/k:32_median");
    assert_non_null(med);
    assert_string_equal(cJSON_GetObjectItem(med, "run_type")->valuestring, "aggregate");
    assert_string_equal(cJSON_GetObjectItem(med, "time_unit")->valuestring, "ns");
    static const char *const counters[] = {"flop_per_s", "bytes_per_s", "intensity", "joules", "watts",
                                           "flop_per_j", "pct_peak_flops", "pct_peak_bw", "max_err",
                                           "energy_measured", "workspace_bytes", "peak_bytes"};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (!cJSON_IsNumber(cJSON_GetObjectItem(med, counters[i])))
            fail_msg("median row lacks counter %s", counters[i]);
    double t = cJSON_GetObjectItem(med, "real_time")->valuedouble * 1e-9;
    double fps = cJSON_GetObjectItem(med, "flop_per_s")->valuedouble;
    /* flop_per_s is 2mnk over the row's time (the median of per-repetition means). */
    assert_true(fps > 0 && fabs(fps * t / (2.0 * 32 * 32 * 32) - 1) < 0.5);
    assert_true(cJSON_GetObjectItem(med, "energy_measured")->valuedouble == 0);
    assert_string_equal(cJSON_GetObjectItem(med, "label")->valuestring, "energy: estimated");
    double j = cJSON_GetObjectItem(med, "joules")->valuedouble, fpj = cJSON_GetObjectItem(med, "flop_per_j")->valuedouble;
    assert_true(j > 0 && fabs(fpj * j / (2.0 * 32 * 32 * 32) - 1) < 1e-6);
    assert_non_null(find_row(bm, "matmul/cpu/naive/f32/m:32/n:32/k:32_cv"));
    /* oneDNN's softmax has no causal mask: a skipped row that says why, never a timing. */
    const cJSON *skip = find_row(bm, "softmax/cpu/onednn/f32/rows:16/cols:64/causal:1");
    assert_non_null(skip);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(skip, "error_occurred")));
    assert_non_null(strstr(cJSON_GetObjectItem(skip, "error_message")->valuestring, "skipped"));
    cJSON_Delete(doc);
}

/* ---- Ceilings per instruction family -------------------------------------- */

static const char *families_suite =
    "{\"name\": \"families\", \"groups\": [\n"
    " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/blocked/f32\", \"matmul/cpu/blocked/int8\"], \"axes\": {\"m=n=k\": [64]}},\n"
    " {\"op\": \"softmax\", \"kernels\": [\"softmax/cpu/naive/f32\"], \"shapes\": [{\"rows\": 16, \"cols\": 64, \"causal\": 0}]}\n"
    "]}\n";
#define F32_ROW "matmul/cpu/blocked/f32/m:64/n:64/k:64"
#define INT8_ROW "matmul/cpu/blocked/int8/m:64/n:64/k:64"
#define SOFTMAX_ROW "softmax/cpu/naive/f32/rows:16/cols:64/causal:0"

/* Runs the families suite (extra: more options) into file and reads it back. */
static cJSON *run_families(const char *file, const char *extra)
{
    char suite[256], path[256], msg[256];
    snprintf(suite, sizeof suite, "%s/families.json", tmpdir);
    write_file(suite, families_suite);
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    int rc = jb("run --suite %s --out %s --repetitions 3 --min-time 0.01 --meter model %s", suite, path, extra);
    if (rc != 0)
        fail_msg("run failed (%d): %s", rc, out);
    cJSON *doc = jb_results_read(path, msg, sizeof msg);
    if (!doc)
        fail_msg("%s", msg);
    if (jb_results_check_context(doc, msg, sizeof msg))
        fail_msg("%s", msg);
    return doc;
}

/* The ceiling context.peak_families gives family name; 0 when absent. */
static double family_peak(const cJSON *ctx, const char *name)
{
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(ctx, "peak_families"), name);
    const cJSON *ops = cJSON_GetObjectItem(f, "ops_per_s");
    if (f && !cJSON_IsString(cJSON_GetObjectItem(f, "instruction")))
        fail_msg("peak_families.%s names no instruction", name);
    return cJSON_IsNumber(ops) ? ops->valuedouble : 0;
}

/* Every row of run_name (its repetitions and aggregates) says family (NULL: none) and has
 * a path; its median's pct_peak_flops is 100 flop_per_s / peak (peak 0: it has none). */
static void check_family_rows(const cJSON *bm, const char *run_name, const char *family, double peak)
{
    const cJSON *b;
    int rows = 0;
    cJSON_ArrayForEach(b, bm)
    {
        if (strcmp(cJSON_GetObjectItem(b, "run_name")->valuestring, run_name))
            continue;
        rows++;
        const cJSON *f = cJSON_GetObjectItem(b, "peak_family"), *path = cJSON_GetObjectItem(b, "path");
        if (family ? !cJSON_IsString(f) || strcmp(f->valuestring, family) : f != NULL)
            fail_msg("%s: peak_family %s, want %s", cJSON_GetObjectItem(b, "name")->valuestring,
                     cJSON_IsString(f) ? f->valuestring : "none", family ? family : "none");
        assert_true(cJSON_IsString(path) && path->valuestring[0]);
    }
    assert_true(rows >= 4); /* 3 repetitions and the aggregates */
    char med[160];
    snprintf(med, sizeof med, "%s_median", run_name);
    const cJSON *m = find_row(bm, med);
    assert_non_null(m);
    const cJSON *pct = cJSON_GetObjectItem(m, "pct_peak_flops");
    if (peak <= 0) {
        assert_null(pct);
        assert_null(cJSON_GetObjectItem(m, "pct_peak_flops_ci95_low"));
        return;
    }
    assert_true(cJSON_IsNumber(pct));
    double fps = cJSON_GetObjectItem(m, "flop_per_s")->valuedouble;
    if (fabs(pct->valuedouble / (100 * fps / peak) - 1) > 1e-9)
        fail_msg("%s: pct_peak_flops %g, but 100 flop_per_s / its family's peak is %g", med, pct->valuedouble,
                 100 * fps / peak);
}

/* Each row's % of peak is of its own instruction family's ceiling, measured
 * at the start and written in the context; a row on a family the CPU lacks
 * (int8 under JB_ISA=portable) has none; the report draws a roof per family. */
static void test_run_families(void **state)
{
    (void)state;
    const int has_int8 = jb_cpu_has_family(JB_FAM_INT8_DOT, NULL, 0);
    cJSON *doc = run_families("fam.json", "");
    const cJSON *ctx = cJSON_GetObjectItem(doc, "context"), *bm = cJSON_GetObjectItem(doc, "benchmarks");
    /* fp32's ceiling is the peak as before (the best reading); the others only where the CPU has them. */
    const double fp32 = family_peak(ctx, "fp32_fma"), int8 = family_peak(ctx, "int8_dot");
    assert_true(fp32 > 0 && fp32 == cJSON_GetObjectItem(ctx, "peak_flop_per_s")->valuedouble);
    for (int f = 0; f < JB_FAM_COUNT; f++)
        if ((family_peak(ctx, jb_family_name((jb_family)f)) > 0) != jb_cpu_has_family((jb_family)f, NULL, 0))
            fail_msg("context.peak_families.%s present: %d, but the CPU has it: %d", jb_family_name((jb_family)f),
                     family_peak(ctx, jb_family_name((jb_family)f)) > 0, jb_cpu_has_family((jb_family)f, NULL, 0));
    check_family_rows(bm, F32_ROW, "fp32_fma", fp32);
    check_family_rows(bm, INT8_ROW, "int8_dot", int8);
    check_family_rows(bm, SOFTMAX_ROW, NULL, 0);
    /* The console says whose peak a tagged %peak value is of. */
    if (has_int8)
        assert_non_null(strstr(out, "tagged i: int8_dot"));
    /* The report draws each family's roof, named with its figure. */
    char page[256], cmd[1024];
    snprintf(page, sizeof page, "%s/fam.html", tmpdir);
    if (jb("report %s/fam.json --out %s", tmpdir, page) != 0) {
        print_message("[  SKIP    ] no report here (%s)\n", out);
    } else {
        /* check_report.py sits beside this file. */
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %.*scheck_report.py --roofs %s %s/fam.json 2>&1",
                 (int)(strrchr(__FILE__, '/') + 1 - __FILE__), __FILE__, page, tmpdir);
        if (system(cmd) != 0)
            fail_msg("the report's roofs do not match the run's families (%s)", cmd);
    }
    cJSON_Delete(doc);

    /* JB_ISA=portable: no int8 dot product, so the int8 row has no fraction (CSV: an empty field). */
    const char *isa = getenv("JB_ISA");
    char saved[64];
    snprintf(saved, sizeof saved, "%s", isa ? isa : "");
    setenv("JB_ISA", "portable", 1);
    doc = run_families("fam_portable.json", "--format csv");
    isa ? setenv("JB_ISA", saved, 1) : unsetenv("JB_ISA");
    ctx = cJSON_GetObjectItem(doc, "context");
    bm = cJSON_GetObjectItem(doc, "benchmarks");
    assert_true(family_peak(ctx, "int8_dot") == 0 && family_peak(ctx, "fp32_fma") > 0);
    check_family_rows(bm, INT8_ROW, "int8_dot", 0);
    check_family_rows(bm, F32_ROW, "fp32_fma", family_peak(ctx, "fp32_fma"));
    assert_non_null(strstr(out, "pct_peak_flops,peak_family,"));
    const char *line = strstr(out, "\n" INT8_ROW ",");
    assert_non_null(line);
    assert_non_null(strstr(line, ",,int8_dot,")); /* no pct_peak_flops, and whose it would be */
    cJSON_Delete(doc);
}

/* Google Benchmark's own compare.py reads two joulebench results files. */
/* The run_names of a results file's rows, in file order, each once. */
static size_t row_order(const cJSON *bm, char names[][128], size_t max)
{
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, bm)
    {
        const char *rn = cJSON_GetObjectItem(it, "run_name")->valuestring;
        if (n == 0 || strcmp(names[n - 1], rn)) {
            if (n == max)
                break;
            snprintf(names[n++], 128, "%s", rn);
        }
    }
    return n;
}

/* A family's ceiling read again keeps the better reading; fp32 FMA (the probes'
 * to raise) and families the CPU lacks are left alone. */
static void test_peaks_recheck_family(void **state)
{
    (void)state;
    jb_peaks pk;
    memset(&pk, 0, sizeof pk);
    for (int f = 0; f < JB_FAM_COUNT; f++) {
        if (f == JB_FAM_FP32_FMA)
            continue;
        pk.family[f].ops_per_s = jb_cpu_has_family((jb_family)f, NULL, 0) ? 1 : 0; /* a very busy start */
        jb_peaks_recheck_family(&pk, (jb_family)f);
        if (jb_cpu_has_family((jb_family)f, NULL, 0))
            assert_true(pk.family[f].ops_per_s > 1e9);
        else
            assert_true(pk.family[f].ops_per_s == 0);
        pk.family[f].ops_per_s = pk.family[f].ops_per_s > 0 ? 1e30 : 0; /* a better reading is kept */
        jb_peaks_recheck_family(&pk, (jb_family)f);
        assert_true(pk.family[f].ops_per_s == (jb_cpu_has_family((jb_family)f, NULL, 0) ? 1e30 : 0));
    }
    pk.flop_per_s = 1;
    jb_peaks_recheck_family(&pk, JB_FAM_FP32_FMA);
    assert_true(pk.flop_per_s == 1 && pk.family[JB_FAM_FP32_FMA].ops_per_s == 0);
}

static void test_run_interleaved(void **state)
{
    (void)state;
    char suite[256], a[256], b[256], msg[256], args[1024];
    snprintf(suite, sizeof suite, "%s/il.json", tmpdir);
    write_file(suite, "{\"name\": \"il\", \"interleave\": true, \"groups\": [\n"
                      " {\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/(naive|blocked)/f32\", \"matmul/cpu/onednn/f32\"],"
                      "  \"axes\": {\"m=n=k\": [32, 48]}},\n"
                      " {\"op\": \"softmax\", \"kernels\": [\"softmax/cpu/(naive|onednn)/f32\"],"
                      "  \"shapes\": [{\"rows\": 16, \"cols\": 64, \"causal\": 1}]}]}\n");
    snprintf(a, sizeof a, "%s/il-on.json", tmpdir);
    snprintf(b, sizeof b, "%s/il-off.json", tmpdir);
    snprintf(args, sizeof args, "run --suite %s --out %s --repetitions 3 --min-time 0.01 --meter model", suite, a);
    if (jb("%s", args) != 0)
        fail_msg("interleaved run failed: %s", out);
    assert_non_null(strstr(out, "interleaved"));
    snprintf(args, sizeof args, "run --suite %s --out %s --repetitions 3 --min-time 0.01 --meter model --no-interleave",
             suite, b);
    if (jb("%s", args) != 0)
        fail_msg("run failed: %s", out);
    cJSON *on = jb_results_read(a, msg, sizeof msg), *off = jb_results_read(b, msg, sizeof msg);
    assert_non_null(on);
    assert_non_null(off);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(on, "context"), "interleave")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(off, "context"), "interleave")));
    /* Interleaved or not, the file holds every row whole and in suite order. */
    char n_on[16][128], n_off[16][128];
    size_t k_on = row_order(cJSON_GetObjectItem(on, "benchmarks"), n_on, 16);
    size_t k_off = row_order(cJSON_GetObjectItem(off, "benchmarks"), n_off, 16);
    assert_int_equal(k_on, 8);
    assert_int_equal(k_off, k_on);
    for (size_t i = 0; i < k_on; i++)
        assert_string_equal(n_on[i], n_off[i]);
    for (size_t i = 0; i < k_on; i++) {
        if (strstr(n_on[i], "softmax/cpu/onednn")) /* no causal mask in oneDNN: skipped */
            continue;
        char med[160];
        snprintf(med, sizeof med, "%s_median", n_on[i]);
        const cJSON *row = find_row(cJSON_GetObjectItem(on, "benchmarks"), med);
        if (!row)
            fail_msg("interleaved run lacks %s", med);
        assert_true(cJSON_GetObjectItem(row, "real_time")->valuedouble > 0);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(row, "flop_per_j")));
    }
    cJSON_Delete(on);
    cJSON_Delete(off);
}

static void test_compare_py(void **state)
{
    (void)state;
    const char *cmp = "/usr/share/benchmark/compare.py";
    if (access(cmp, R_OK) != 0 || system("/usr/bin/python3 -c 'import scipy' 2>/dev/null") != 0) {
        print_message("[  SKIP    ] %s or python3-scipy missing (scripts/setup.sh installs libbenchmark-tools)\n", cmp);
        skip();
    }
    char a[256], b[256], cmd[1024];
    snprintf(a, sizeof a, "%s/a.json", tmpdir);
    snprintf(b, sizeof b, "%s/b.json", tmpdir);
    if (access(a, R_OK) != 0)
        run_tiny(a);
    run_tiny(b);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s benchmarks %s %s 2>&1", cmp, a, b);
    FILE *f = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "matmul/cpu/naive/f32/m:32/n:32/k:32_median"))
        fail_msg("compare.py failed: %s", out);
}

/* Ctrl-C: either no file, or a complete file holding only rows that finished. */
static void test_interrupt(void **state)
{
    (void)state;
    char suite[256], path[256], msg[256];
    snprintf(suite, sizeof suite, "%s/long.json", tmpdir);
    write_file(suite, "{\"name\": \"long\", \"groups\": [{\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\"],"
                      " \"axes\": {\"m=n\": [16, 24, 32, 40, 48, 56, 64, 72], \"k\": [16]}}]}");
    snprintf(path, sizeof path, "%s/int.json", tmpdir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(JB_EXE, JB_EXE, "run", "--suite", suite, "--out", path, "--repetitions", "3", "--min-time", "0.2",
              "--meter", "model", (char *)NULL);
        _exit(127);
    }
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL); /* peaks take about a second; then some rows finish */
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    if (access(path, F_OK) != 0) {
        print_message("interrupted before any file was written: acceptable\n");
        return;
    }
    assert_int_equal(WEXITSTATUS(st), 130);
    cJSON *doc = jb_results_read(path, msg, sizeof msg);
    if (!doc)
        fail_msg("interrupted run left an invalid file: %s", msg);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "context"), "interrupted")));
    /* Every row present is complete: it has its median. */
    const cJSON *b, *bm = cJSON_GetObjectItem(doc, "benchmarks");
    int rows = 0;
    cJSON_ArrayForEach(b, bm)
    {
        if (strcmp(cJSON_GetObjectItem(b, "run_type")->valuestring, "iteration"))
            continue;
        char med[300];
        snprintf(med, sizeof med, "%s_median", cJSON_GetObjectItem(b, "run_name")->valuestring);
        if (!find_row(bm, med))
            fail_msg("row %s has no median: a partial row was kept", med);
        rows++;
    }
    assert_true(rows < 8 * 3); /* it did stop early */
    cJSON_Delete(doc);
}

/* Ctrl-C before any row finished (here: during the peak measurement at the
 * start) must leave an existing results file as it was, not empty it, and
 * leave no temporary file. */
static void test_interrupt_keeps_old_file(void **state)
{
    (void)state;
    char suite[256], path[256];
    snprintf(suite, sizeof suite, "%s/long.json", tmpdir);
    write_file(suite, "{\"name\": \"long\", \"groups\": [{\"op\": \"matmul\", \"kernels\": [\"matmul/cpu/naive/f32\"],"
                      " \"axes\": {\"m=n\": [16, 24, 32, 40, 48, 56, 64, 72], \"k\": [16]}}]}");
    snprintf(path, sizeof path, "%s/old.json", tmpdir);
    write_file(path, "OLD RESULTS\n");
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl(JB_EXE, JB_EXE, "run", "--suite", suite, "--out", path, "--meter", "model", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    /* Interrupt when it says it measures the peaks: the handler is in place, no row has run. */
    FILE *err = fdopen(pfd[0], "r");
    assert_non_null(err);
    char line[1024];
    int seen = 0;
    while (!seen && fgets(line, sizeof line, err))
        seen = strstr(line, "measuring peaks") != NULL;
    assert_true(seen);
    kill(pid, SIGINT);
    while (fgets(line, sizeof line, err))
        ;
    fclose(err);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[64] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "OLD RESULTS\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'old.json.tmp'", tmpdir);
    assert_int_not_equal(system(cmd), 0); /* no temporary file left behind */
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

int main(int argc, char **argv)
{
    (void)argc;
    jb_gb_init(argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim),         cmocka_unit_test(test_shim_group),
        cmocka_unit_test(test_suite_expand), cmocka_unit_test(test_suite_packed),
        cmocka_unit_test(test_suite_errors), cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_run_bad_input), cmocka_unit_test(test_run_json),
        cmocka_unit_test(test_run_interleaved), cmocka_unit_test(test_run_families),
        cmocka_unit_test(test_peaks_recheck_family),
        cmocka_unit_test(test_compare_py),   cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_interrupt_keeps_old_file),
    };
    return cmocka_run_group_tests_name("harness", tests, setup, teardown);
}
