/*
 * Regression tracking: the Mann-Whitney U test against scipy, `joulebench
 * compare` on crafted Google Benchmark files (a slowdown fails, identical and
 * noisy samples pass, missing and error rows are listed, bad input is one
 * line and exit 2), `history` (idempotent add, check, corrupt or foreign
 * databases left intact) and `report` (rendered in headless Chromium).
 */
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

#include <cjson/cJSON.h>

#include "jb_kernels.h"
#include "analysis/compare.h"

static char tmpdir[] = "/tmp/jb_compare_XXXXXX";

/* ---- The U test and medians ------------------------------------------------ */

static void expect_mwu(const double *a, size_t n1, const double *b, size_t n2, double u1, double p,
                       jb_mwu_method method)
{
    jb_mwu r;
    assert_int_equal(jb_mann_whitney(a, n1, b, n2, &r), 0);
    if (fabs(r.u1 - u1) > 1e-12 || fabs(r.p - p) > 1e-12 * p || r.method != method)
        fail_msg("U test: got U %g p %.17g method %d, want U %g p %.17g method %d", r.u1, r.p, r.method, u1, p, method);
}

static void test_mwu(void **state)
{
    (void)state;
    /* Expected values from scipy 1.10: scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method=...). */
    const double sep5a[] = {1, 2, 3, 4, 5}, sep5b[] = {6, 7, 8, 9, 10};
    /* mannwhitneyu([1,2,3,4,5], [6,7,8,9,10], method='exact') -> U 0.0, p 0.007936507936507936 (= 2/252) */
    expect_mwu(sep5a, 5, sep5b, 5, 0, 0.007936507936507936, JB_MWU_EXACT);
    /* ... and the other way round: U 25 */
    expect_mwu(sep5b, 5, sep5a, 5, 25, 0.007936507936507936, JB_MWU_EXACT);
    const double mixa[] = {10.2, 10.5, 9.8, 10.1, 10.4, 10.0}, mixb[] = {10.3, 10.6, 10.9, 10.7, 11.0, 10.8};
    /* mannwhitneyu([10.2,10.5,9.8,10.1,10.4,10.0], [10.3,10.6,10.9,10.7,11.0,10.8], method='exact')
     * -> U 2.0, p 0.008658008658008658 */
    expect_mwu(mixa, 6, mixb, 6, 2, 0.008658008658008658, JB_MWU_EXACT);
    const double tiesa[] = {1, 2, 2, 3, 4}, tiesb[] = {2, 3, 3, 5, 6, 7};
    /* mannwhitneyu([1,2,2,3,4], [2,3,3,5,6,7], method='asymptotic') -> U 6.0, p 0.11390314458853068 */
    expect_mwu(tiesa, 5, tiesb, 6, 6, 0.11390314458853068, JB_MWU_NORMAL);
    const double sep3a[] = {1, 2, 3}, sep3b[] = {4, 5, 6};
    /* mannwhitneyu([1,2,3], [4,5,6], method='exact') -> U 0.0, p 0.1: 3 repetitions never reach 0.05 */
    expect_mwu(sep3a, 3, sep3b, 3, 0, 0.1, JB_MWU_EXACT);
    double big_a[25], big_b[25];
    for (int i = 0; i < 25; i++) {
        big_a[i] = i + 1;
        big_b[i] = i + 1 + 7.5;
    }
    /* mannwhitneyu(range(1,26), [i+7.5 for i in range(1,26)], method='asymptotic') -> U 153.0, p 0.002035157807278379 */
    expect_mwu(big_a, 25, big_b, 25, 153, 0.002035157807278379, JB_MWU_NORMAL);
    const double same[] = {1, 1, 1};
    expect_mwu(same, 3, same, 3, 4.5, 1, JB_MWU_NORMAL); /* every value tied: p 1 */
    jb_mwu r;
    const double nan_v[] = {1, NAN};
    assert_int_equal(jb_mann_whitney(nan_v, 2, sep3a, 3, &r), JB_EINVAL);
    assert_int_equal(jb_mann_whitney(sep3a, 0, sep3a, 3, &r), JB_EINVAL);
    assert_true(fabs(jb_mwu_min_p(3, 3) - 0.1) < 1e-15);
    assert_true(fabs(jb_mwu_min_p(5, 5) - 2.0 / 252) < 1e-15);
    const double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2};
    assert_true(jb_median(odd, 3) == 3);
    assert_true(jb_median(even, 4) == 2.5);
    assert_true(isnan(jb_median(odd, 0)));
}

/* ---- Crafted results files --------------------------------------------------- */

typedef struct row_spec {
    const char *name;
    const double *t_ns; /* one time per repetition */
    int n;
    const char *error;  /* an error row instead */
} row_spec;

/* Writes Google Benchmark JSON as joulebench run does: iteration rows per
 * repetition and a median aggregate; flop_per_j is 1e6 FLOPs over watts x time. */
static void write_results(const char *path, const char *cpu, const char *date, double watts, const row_spec *rows,
                          int nrows)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "context");
    cJSON_AddStringToObject(ctx, "date", date);
    cJSON_AddStringToObject(ctx, "host_name", "testhost");
    cJSON_AddStringToObject(ctx, "cpu_model", cpu);
    cJSON_AddNumberToObject(ctx, "threads", 2);
    cJSON_AddStringToObject(ctx, "meter", "model");
    cJSON_AddStringToObject(ctx, "energy", "estimated");
    cJSON_AddStringToObject(ctx, "build_type", "Release");
    cJSON_AddStringToObject(ctx, "git_commit", date);
    cJSON_AddNumberToObject(ctx, "peak_flop_per_s", 2e11);
    cJSON_AddNumberToObject(ctx, "peak_bytes_per_s", 4e10);
    cJSON *bm = cJSON_AddArrayToObject(doc, "benchmarks");
    for (int i = 0; i < nrows; i++) {
        const row_spec *r = &rows[i];
        for (int k = 0; k < (r->error ? 1 : r->n); k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", r->name);
            cJSON_AddStringToObject(o, "run_name", r->name);
            cJSON_AddStringToObject(o, "run_type", "iteration");
            cJSON_AddNumberToObject(o, "repetitions", r->n);
            cJSON_AddNumberToObject(o, "repetition_index", k);
            cJSON_AddStringToObject(o, "time_unit", "ns");
            if (r->error) {
                cJSON_AddBoolToObject(o, "error_occurred", 1);
                cJSON_AddStringToObject(o, "error_message", r->error);
                cJSON_AddNumberToObject(o, "real_time", 0);
            } else {
                cJSON_AddNumberToObject(o, "real_time", r->t_ns[k]);
                cJSON_AddNumberToObject(o, "flop_per_s", 1e6 / (r->t_ns[k] * 1e-9));
                cJSON_AddNumberToObject(o, "flop_per_j", 1e6 / (watts * r->t_ns[k] * 1e-9));
                cJSON_AddNumberToObject(o, "energy_measured", 0);
                cJSON_AddNumberToObject(o, "intensity", 4);
            }
            cJSON_AddItemToArray(bm, o);
        }
        if (!r->error) {
            char name[256];
            snprintf(name, sizeof name, "%s_median", r->name);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", name);
            cJSON_AddStringToObject(o, "run_name", r->name);
            cJSON_AddStringToObject(o, "run_type", "aggregate");
            cJSON_AddStringToObject(o, "aggregate_name", "median");
            double t = jb_median(r->t_ns, (size_t)r->n);
            cJSON_AddNumberToObject(o, "real_time", t);
            cJSON_AddStringToObject(o, "time_unit", "ns");
            cJSON_AddNumberToObject(o, "flop_per_s", 1e6 / (t * 1e-9));
            cJSON_AddNumberToObject(o, "flop_per_j", 1e6 / (watts * t * 1e-9));
            cJSON_AddNumberToObject(o, "energy_measured", 0);
            cJSON_AddNumberToObject(o, "intensity", 4);
            /* As joulebench run writes them: the rates' intervals (here +-10%), and for
             * flash rows a speed-up over naive. */
            cJSON_AddNumberToObject(o, "flop_per_s_ci95_low", 0.9e6 / (t * 1e-9));
            cJSON_AddNumberToObject(o, "flop_per_s_ci95_high", 1.1e6 / (t * 1e-9));
            cJSON_AddNumberToObject(o, "ci_halfwidth_pct", 3);
            cJSON_AddNumberToObject(o, "converged", 0);
            if (strstr(r->name, "/flash/")) {
                cJSON_AddNumberToObject(o, "speedup", 8);
                cJSON_AddNumberToObject(o, "speedup_ci95_low", 7.5);
                cJSON_AddNumberToObject(o, "speedup_ci95_high", 8.5);
                cJSON_AddStringToObject(o, "reference", "attention/cpu/naive/f32");
            }
            cJSON_AddItemToArray(bm, o);
        }
    }
    char *s = cJSON_Print(doc);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    cJSON_free(s);
    cJSON_Delete(doc);
}

static void expect(int rc, int want, const char *part)
{
    if (rc != want || (part && !strstr(out, part)))
        fail_msg("exit %d (want %d), output lacks '%s' or is wrong:\n%s", rc, want, part ? part : "", out);
}

/* The line of out that names row, to check that row's verdict. */
static const char *line_of(const char *row)
{
    static char line[1024];
    const char *p = strstr(out, row);
    if (!p)
        fail_msg("no line for %s in:\n%s", row, out);
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, p, n);
    line[n] = 0;
    return line;
}

static void expect_line(const char *row, const char *part)
{
    const char *l = line_of(row);
    if (!strstr(l, part))
        fail_msg("line '%s' lacks '%s'", l, part);
}

static char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

/* Ten repetitions around t with a small deterministic jitter (+-1%). */
static void reps(double t, double *v, int n)
{
    static const double jitter[] = {-0.010, 0.004, -0.003, 0.008, -0.006, 0.001, 0.009, -0.008, 0.002, -0.001};
    for (int i = 0; i < n; i++)
        v[i] = t * (1 + jitter[i % 10]);
}

static void test_compare_slowdown(void **state)
{
    (void)state;
    double a[10], b[10], c[10];
    reps(1e6, a, 10);
    reps(1.2e6, b, 10); /* 20% slower */
    reps(5e5, c, 10);
    row_spec base[] = {{"matmul/cpu/x/f32/m:8", a, 10, NULL}, {"softmax/cpu/y/f32/rows:8", c, 10, NULL}};
    row_spec cur[] = {{"matmul/cpu/x/f32/m:8", b, 10, NULL}, {"softmax/cpu/y/f32/rows:8", c, 10, NULL}};
    write_results(tpath("base.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, base, 2);
    write_results(tpath("slow.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, cur, 2);
    expect(jb("compare %s %s", tpath("base.json"), tpath("slow.json")), 1, "REGRESSION");
    expect_line("matmul/cpu/x/f32/m:8", "+20.0%");
    expect_line("matmul/cpu/x/f32/m:8", "worse");
    expect_line("softmax/cpu/y/f32/rows:8", "same");
    /* The other way round it is an improvement, and passes. */
    expect(jb("compare %s %s", tpath("slow.json"), tpath("base.json")), 0, "1 better");
    expect_line("matmul/cpu/x/f32/m:8", "better");
    /* A threshold above the change: same. */
    expect(jb("compare %s %s --threshold 25", tpath("base.json"), tpath("slow.json")), 0, "ok:");
    expect_line("matmul/cpu/x/f32/m:8", "same");
    /* --filter leaves the slow row out. */
    expect(jb("compare %s %s --filter softmax", tpath("base.json"), tpath("slow.json")), 0, "ok:");
    assert_null(strstr(out, "matmul/cpu/x"));
}

static void test_compare_identical_and_noisy(void **state)
{
    (void)state;
    double a[10];
    reps(1e6, a, 10);
    row_spec base[] = {{"attention/cpu/flash/f32/n:64", a, 10, NULL}};
    write_results(tpath("same1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, base, 1);
    write_results(tpath("same2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, base, 1);
    expect(jb("compare %s %s", tpath("same1.json"), tpath("same2.json")), 0, "0 worse, 1 same");
    expect_line("attention/cpu/flash/f32/n:64", "same");

    /* Medians 6.7% apart, but the samples overlap: scipy's exact p is 0.69 (see test_mwu's source). */
    const double nb[] = {100e3, 110e3, 120e3, 130e3, 140e3}, nc[] = {104e3, 118e3, 128e3, 137e3, 150e3};
    row_spec b[] = {{"softmax/cpu/naive/f32/rows:4", nb, 5, NULL}}, c[] = {{"softmax/cpu/naive/f32/rows:4", nc, 5, NULL}};
    write_results(tpath("noisy1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, b, 1);
    write_results(tpath("noisy2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, c, 1);
    expect(jb("compare %s %s", tpath("noisy1.json"), tpath("noisy2.json")), 0, "1 inconclusive");
    expect_line("softmax/cpu/naive/f32/rows:4", "+6.7%");
    expect_line("softmax/cpu/naive/f32/rows:4", "0.69");
    expect_line("softmax/cpu/naive/f32/rows:4", "inconclusive");
}

/* With 6 repetitions or more a side the change has an interval, and the verdicts use it. */
static void test_compare_intervals(void **state)
{
    (void)state;
    double a[10], b[10], wa[10], wb[10];
    reps(1e6, a, 10);
    reps(1.02e6, b, 10); /* 2% slower, +-1% jitter: the interval is within 5% */
    for (int i = 0; i < 10; i++) { /* +-10% spread, the same on both sides */
        wa[i] = 1e6 * (1 + 0.1 * ((i * 7) % 10 - 4.5) / 4.5);
        wb[i] = 1e6 * (1 + 0.1 * ((i * 3) % 10 - 4.5) / 4.5);
    }
    row_spec base[] = {{"matmul/cpu/x/f32/m:8", a, 10, NULL}, {"softmax/cpu/w/f32/rows:8", wa, 10, NULL}};
    row_spec cur[] = {{"matmul/cpu/x/f32/m:8", b, 10, NULL}, {"softmax/cpu/w/f32/rows:8", wb, 10, NULL}};
    write_results(tpath("ci1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, base, 2);
    write_results(tpath("ci2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, cur, 2);
    expect(jb("compare %s %s", tpath("ci1.json"), tpath("ci2.json")), 0, "1 inconclusive, 1 same");
    expect_line("matmul/cpu/x/f32/m:8", "same");
    /* Same medians, but the interval reaches past 5% either way: the data cannot say "same". */
    expect_line("softmax/cpu/w/f32/rows:8", "inconclusive");
    expect(jb("compare %s %s --format json", tpath("ci1.json"), tpath("ci2.json")), 0, NULL);
    cJSON *doc = cJSON_Parse(out);
    assert_non_null(doc);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 0), "time");
    /* The interval from the two medians' order-statistic intervals (x(2) and x(9) of 10). */
    double blo, bhi, alo, ahi;
    assert_int_equal(jb_median_ci(a, 10, 0.95, &blo, &bhi, NULL), 0);
    assert_int_equal(jb_median_ci(b, 10, 0.95, &alo, &ahi, NULL), 0);
    assert_true(fabs(cJSON_GetObjectItem(t, "change_ci95_low")->valuedouble - (alo / bhi - 1)) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(t, "change_ci95_high")->valuedouble - (ahi / blo - 1)) < 1e-12);
    cJSON_Delete(doc);
}

/* --paired: A/B files in pairs; the ratios within pairs, not the spread across them. */
static void test_compare_paired(void **state)
{
    (void)state;
    char files[4096] = "", same[4096] = "", edge[4096] = "";
    static const double edge_ratio[] = {1.09, 1.02, 1.12, 1.08, 1.10, 1.07}; /* median 8.5%, lowest 2% */
    for (int k = 0; k < 6; k++) {
        /* The machine drifts by 2x across the pairs; within a pair, current is 20% slower. */
        double t = 1e6 * (1 + 0.2 * k), a[3], b[3], c[3], e[3];
        for (int i = 0; i < 3; i++) {
            a[i] = t * (1 + 0.001 * i);
            b[i] = 1.2 * a[i];
            e[i] = edge_ratio[k] * a[i];
            c[i] = a[i] * (1 + 0.002 * (k % 3 - 1)); /* within +-0.2% */
        }
        row_spec ra[] = {{"matmul/cpu/x/f32/m:8", a, 3, NULL}}, rb[] = {{"matmul/cpu/x/f32/m:8", b, 3, NULL}};
        row_spec rc[] = {{"matmul/cpu/x/f32/m:8", c, 3, NULL}}, re[] = {{"matmul/cpu/x/f32/m:8", e, 3, NULL}};
        char pa[300], pb[300], pc[300], pe[300];
        snprintf(pa, sizeof pa, "%s", tpath("pa.json"));
        pa[strlen(pa) - 5] = 0;
        snprintf(pb, sizeof pb, "%s%d-b.json", pa, k);
        snprintf(pc, sizeof pc, "%s%d-c.json", pa, k);
        snprintf(pe, sizeof pe, "%s%d-e.json", pa, k);
        snprintf(pa + strlen(pa), sizeof pa - strlen(pa), "%d-a.json", k);
        write_results(pa, "CPU A", "2024-01-01T00:00:00+0000", 10, ra, 1);
        write_results(pb, "CPU A", "2024-01-01T00:00:00+0000", 10, rb, 1);
        write_results(pc, "CPU A", "2024-01-01T00:00:00+0000", 10, rc, 1);
        write_results(pe, "CPU A", "2024-01-01T00:00:00+0000", 10, re, 1);
        snprintf(files + strlen(files), sizeof files - strlen(files), " %s %s", pa, pb);
        snprintf(same + strlen(same), sizeof same - strlen(same), " %s %s", pa, pc);
        snprintf(edge + strlen(edge), sizeof edge - strlen(edge), " %s %s", pa, pe);
    }
    char first_a[300], first_b[300], args[8192];
    sscanf(files, " %299s %299s", first_a, first_b);
    /* Every pair says +20% though the pairs differ by 2x: the signed-rank test's smallest p with 6 pairs, 2/64. */
    expect(jb("compare --paired%s", files), 1, "REGRESSION");
    expect_line("matmul/cpu/x/f32/m:8", "+20.0%");
    expect_line("matmul/cpu/x/f32/m:8", "0.0312");
    expect_line("matmul/cpu/x/f32/m:8", "worse");
    assert_non_null(strstr(out, "Wilcoxon signed-rank"));
    expect(jb("compare --paired%s", same), 0, "0 worse, 1 same");
    /* Every pair slower (p = 2/64) and the median 8.5% past a 5% threshold, but one pair
     * only 2% slower: the interval reaches inside the threshold, so it is no regression. */
    expect(jb("compare --paired%s", edge), 0, "0 worse, 1 inconclusive");
    expect_line("matmul/cpu/x/f32/m:8", "+8.5%");
    expect(jb("compare --paired%s --threshold 1", edge), 1, "1 worse");
    /* Pairs or nothing. */
    snprintf(args, sizeof args, "compare --paired%s %s", files, first_a);
    expect_usage_error(args, "in pairs");
    snprintf(args, sizeof args, "compare %s %s %s", first_a, first_b, first_a);
    expect_usage_error(args, "--paired takes pairs");
}

static void test_compare_rows(void **state)
{
    (void)state;
    double a[6];
    reps(2e6, a, 6);
    row_spec base[] = {{"matmul/cpu/kept/f32", a, 6, NULL}, {"matmul/cpu/gone/f32", a, 6, NULL},
                       {"matmul/cpu/broke/f32", a, 6, NULL}, {"matmul/cuda/x/f32", NULL, 0, "skipped: no GPU | none"}};
    row_spec cur[] = {{"matmul/cpu/kept/f32", a, 6, NULL}, {"matmul/cpu/broke/f32", NULL, 0, "verification failed: max err 3"},
                      {"matmul/cpu/new/f32", a, 6, NULL}, {"matmul/cuda/x/f32", NULL, 0, "skipped: no GPU | none"}};
    write_results(tpath("rows1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, base, 4);
    write_results(tpath("rows2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, cur, 4);
    expect(jb("compare %s %s", tpath("rows1.json"), tpath("rows2.json")), 0, "1 only in baseline");
    expect_line("matmul/cpu/gone/f32", "only in baseline");
    expect_line("matmul/cpu/new/f32", "only in current");
    expect_line("matmul/cpu/broke/f32", "error (current): verification failed");
    expect_line("matmul/cpu/kept/f32", "same");
    expect_line("matmul/cuda/x/f32", "skipped (both): no GPU");
    assert_non_null(strstr(out, "1 only in current"));
    assert_non_null(strstr(out, "1 error, 1 skipped"));
    /* In markdown, a row skipped alike on both sides goes under the fold, its '|' escaped. */
    expect(jb("compare %s %s --format markdown", tpath("rows1.json"), tpath("rows2.json")), 0, "<details>");
    const char *fold = strstr(out, "<details>"), *skip = strstr(out, "`matmul/cuda/x/f32`");
    assert_true(skip && skip > fold);
    assert_non_null(strstr(skip, "skipped (both): no GPU \\| none"));
    const char *broke = strstr(out, "`matmul/cpu/broke/f32`");
    assert_true(broke && broke < fold);
}

static void test_compare_energy_metric(void **state)
{
    (void)state;
    double a[8];
    reps(1e6, a, 8);
    row_spec rows[] = {{"attention/cpu/fused/f32/n:32", a, 8, NULL}};
    /* Same time, 25% more power: flop_per_j 20% lower. */
    write_results(tpath("e1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, rows, 1);
    write_results(tpath("e2.json"), "CPU A", "2024-01-02T00:00:00+0000", 12.5, rows, 1);
    expect(jb("compare %s %s --metric time", tpath("e1.json"), tpath("e2.json")), 0, "ok:");
    expect(jb("compare %s %s --metric flop_per_j", tpath("e1.json"), tpath("e2.json")), 1, "-20.0%");
    expect_line("attention/cpu/fused/f32/n:32", "worse");
    expect(jb("compare %s %s --metric both", tpath("e1.json"), tpath("e2.json")), 1, "1 worse, 1 same");
    /* Higher FLOP per joule is better. */
    expect(jb("compare %s %s --metric flop_per_j", tpath("e2.json"), tpath("e1.json")), 0, "1 better");
}

static void test_compare_formats_and_context(void **state)
{
    (void)state;
    double a[10], b[10];
    reps(1e6, a, 10);
    reps(1.3e6, b, 10);
    row_spec base[] = {{"matmul/cpu/x/f32/m:8", a, 10, NULL}}, cur[] = {{"matmul/cpu/x/f32/m:8", b, 10, NULL}};
    write_results(tpath("f1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, base, 1);
    write_results(tpath("f2.json"), "CPU B", "2024-01-02T00:00:00+0000", 10, cur, 1);
    expect(jb("compare %s %s", tpath("f1.json"), tpath("f2.json")), 1, "warning: cpu_model differs: baseline 'CPU A', current 'CPU B'");
    expect(jb("compare %s %s --format markdown 2>/dev/null", tpath("f1.json"), tpath("f2.json")), 1,
           "| benchmark | baseline | current | change | 95% interval | p | reps | verdict |");
    assert_non_null(strstr(out, "|---|--:|"));
    assert_non_null(strstr(out, "| `matmul/cpu/x/f32/m:8` |"));
    assert_non_null(strstr(out, "**worse**"));
    assert_non_null(strstr(out, "> **Warning:** cpu_model differs"));
    expect(jb("compare %s %s --format json 2>/dev/null", tpath("f1.json"), tpath("f2.json")), 1, NULL);
    cJSON *doc = cJSON_Parse(out);
    if (!doc)
        fail_msg("--format json is not JSON:\n%s", out);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(doc, "regression")));
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 0);
    const cJSON *t = cJSON_GetObjectItem(row, "time");
    assert_string_equal(cJSON_GetObjectItem(t, "verdict")->valuestring, "worse");
    assert_true(fabs(cJSON_GetObjectItem(t, "change")->valuedouble - 0.3) < 1e-9);
    assert_string_equal(cJSON_GetObjectItem(t, "p_method")->valuestring, "exact");
    cJSON_Delete(doc);
}

static void test_compare_few_repetitions(void **state)
{
    (void)state;
    const double one[] = {1e6}, one_slow[] = {2e6};
    row_spec a[] = {{"matmul/cpu/x/f32", one, 1, NULL}}, b[] = {{"matmul/cpu/x/f32", one_slow, 1, NULL}};
    write_results(tpath("one1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, a, 1);
    write_results(tpath("one2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, b, 1);
    expect(jb("compare %s %s", tpath("one1.json"), tpath("one2.json")), 0, "too few repetitions");
    expect_line("matmul/cpu/x/f32", "+100.0%");
    /* Three against three can never reach p < 0.05: said so, and the change is "inconclusive". */
    const double t3[] = {1e6, 1.01e6, 0.99e6}, t3s[] = {2e6, 2.01e6, 1.99e6};
    row_spec c[] = {{"matmul/cpu/x/f32", t3, 3, NULL}}, d[] = {{"matmul/cpu/x/f32", t3s, 3, NULL}};
    write_results(tpath("three1.json"), "CPU A", "2024-01-01T00:00:00+0000", 10, c, 1);
    write_results(tpath("three2.json"), "CPU A", "2024-01-02T00:00:00+0000", 10, d, 1);
    expect(jb("compare %s %s", tpath("three1.json"), tpath("three2.json")), 0, "smallest possible p is 0.1");
    expect_line("matmul/cpu/x/f32", "inconclusive");
}

static void test_compare_bad_input(void **state)
{
    (void)state;
    char args[2048];
    FILE *f = fopen(tpath("notjson.json"), "w");
    fputs("this is not { json", f);
    fclose(f);
    f = fopen(tpath("notgb.json"), "w");
    fputs("{\"rows\": []}", f);
    fclose(f);
    const char *good = tpath("same1.json");
    snprintf(args, sizeof args, "compare %s /nonexistent/x.json", good);
    expect_usage_error(args, "No such file");
    snprintf(args, sizeof args, "compare %s %s", tpath("notjson.json"), good);
    expect_usage_error(args, "not a JSON file");
    snprintf(args, sizeof args, "compare %s %s", good, tpath("notgb.json"));
    expect_usage_error(args, "not a Google Benchmark results file");
    snprintf(args, sizeof args, "compare %s", good);
    expect_usage_error(args, "needs two results files");
    snprintf(args, sizeof args, "compare %s %s %s", good, good, good);
    expect_usage_error(args, "a third");
    snprintf(args, sizeof args, "compare %s %s --metric watts", good, good);
    expect_usage_error(args, "--metric must be");
    snprintf(args, sizeof args, "compare %s %s --threshold -3", good, good);
    expect_usage_error(args, "--threshold");
    snprintf(args, sizeof args, "compare %s %s --alpha 2", good, good);
    expect_usage_error(args, "--alpha");
    snprintf(args, sizeof args, "compare %s %s --format html", good, good);
    expect_usage_error(args, "--format must be");
    snprintf(args, sizeof args, "compare %s %s --filter '('", good, good);
    expect_usage_error(args, "not a valid regular expression");
    snprintf(args, sizeof args, "compare %s %s --bogus", good, good);
    expect_usage_error(args, "unknown option");
    expect(jb("compare --help"), 0, "Mann-Whitney");
}

/* ---- history ----------------------------------------------------------------- */

static int64_t db_count(const char *path, const char *table)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_history_add_twice(void **state)
{
    (void)state;
    const char *db = tpath("h1.sqlite");
    expect(jb("history --db %s add %s %s", db, tpath("base.json"), tpath("slow.json")), 0, "2 added");
    assert_int_equal(db_count(db, "runs"), 2);
    int64_t samples = db_count(db, "samples");
    assert_int_equal(samples, 2 * 10 + 2 * 10); /* two rows of ten repetitions, in each file */
    expect(jb("history --db %s add %s", db, tpath("base.json")), 0, "already stored as run 1");
    assert_non_null(strstr(out, "0 added, 1 already stored; 2 runs in all"));
    /* The same file twice in one call is stored once too. */
    expect(jb("history add --db %s %s %s", db, tpath("f1.json"), tpath("f1.json")), 0, "1 added, 1 already stored");
    assert_int_equal(db_count(db, "runs"), 3);
}

static void test_history_show_and_check(void **state)
{
    (void)state;
    const char *db = tpath("h2.sqlite");
    expect(jb("history --db %s check", db), 2, "no history database");
    /* Added newest first: order comes from the context dates, not the order of adding. */
    expect(jb("history --db %s add %s", db, tpath("slow.json")), 0, "1 added");
    expect(jb("history --db %s check", db), 0, "nothing to compare yet");
    expect(jb("history --db %s add %s", db, tpath("base.json")), 0, "1 added");
    expect(jb("history --db %s show --filter 'matmul'", db), 0, "trend over 2 runs: time +20.0% first to last");
    assert_null(strstr(out, "softmax/cpu/y"));
    expect(jb("history --db %s check", db), 1, "REGRESSION");
    expect_line("matmul/cpu/x/f32/m:8", "worse");
    expect(jb("history --db %s check --format markdown --filter softmax", db), 0, "no regression");
    /* A third run as fast as the first: better than the run before it. */
    double a[10];
    reps(1e6, a, 10);
    double c[10];
    reps(5e5, c, 10);
    row_spec rows[] = {{"matmul/cpu/x/f32/m:8", a, 10, NULL}, {"softmax/cpu/y/f32/rows:8", c, 10, NULL}};
    write_results(tpath("third.json"), "CPU A", "2024-01-03T00:00:00+0000", 10, rows, 2);
    expect(jb("history --db %s add %s", db, tpath("third.json")), 0, "1 added");
    expect(jb("history --db %s check", db), 0, "ok:");
    expect_line("matmul/cpu/x/f32/m:8", "better");
    expect(jb("history --db %s check --window 2", db), 0, "2 runs pooled");
    expect_line("matmul/cpu/x/f32/m:8", " 20/10 "); /* both earlier runs' repetitions */
    expect(jb("history --db %s show", db), 0, "fitted slope");
    expect_usage_error("history frobnicate", "unknown subcommand");
    char args[1024];
    snprintf(args, sizeof args, "history --db %s check --window 0", db);
    expect_usage_error(args, "--window");
    snprintf(args, sizeof args, "history --db %s add %s", db, tpath("notjson.json"));
    expect_usage_error(args, "not a JSON file");
    assert_int_equal(db_count(db, "runs"), 3); /* nothing added by the failed call */
}

static void slurp(const char *path, char **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*n + 1);
    assert_int_equal(fread(*buf, 1, *n, f), *n);
    (*buf)[*n] = 0;
    fclose(f);
}

static void expect_db_refused(const char *db, const char *part)
{
    char *before, *after;
    size_t nb, na;
    slurp(db, &before, &nb);
    char args[1024];
    snprintf(args, sizeof args, "history --db %s add %s", db, tpath("base.json"));
    expect_usage_error(args, part);
    snprintf(args, sizeof args, "history --db %s show", db);
    expect_usage_error(args, part);
    slurp(db, &after, &na);
    if (na != nb || memcmp(before, after, nb))
        fail_msg("%s was changed", db);
    free(before);
    free(after);
    char journal[600];
    snprintf(journal, sizeof journal, "%s-journal", db);
    assert_int_not_equal(access(journal, F_OK), 0);
}

static void test_history_corrupt(void **state)
{
    (void)state;
    /* Not a database at all. */
    const char *junk = tpath("junk.sqlite");
    FILE *f = fopen(junk, "wb");
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    expect_db_refused(junk, "is not an SQLite database");
    /* Another program's database. */
    const char *foreign = tpath("foreign.sqlite");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes(x); INSERT INTO notes VALUES ('keep me');", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    expect_db_refused(foreign, "another program");
    /* Ours, but damaged: the second half cut off. */
    const char *ours = tpath("h1.sqlite"), *cut = tpath("cut.sqlite");
    char *buf;
    size_t n;
    slurp(ours, &buf, &n);
    f = fopen(cut, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    free(buf);
    expect_db_refused(cut, "corrupt");
}

/* ---- report ------------------------------------------------------------------- */

static const char *find_chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    static char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *dirs[] = {"/usr/bin", "/usr/local/bin", "/snap/bin"};
        for (size_t j = 0; j < 3; j++) {
            snprintf(path, sizeof path, "%s/%s", dirs[j], names[i]);
            if (access(path, X_OK) == 0)
                return path;
        }
    }
    return NULL;
}

/* Results of two machines with real kernel names, so joulebench project finds its rows. */
static void write_machine(const char *path, const char *cpu, double speed)
{
    double mm[6], mb[6], an[6], af[6], sm[6];
    reps(2e6 / speed, mm, 6);
    reps(1e5 / speed, mb, 6);
    reps(8e6 / speed, an, 6);
    reps(1e6 / speed, af, 6);
    reps(3e5 / speed, sm, 6);
    row_spec rows[] = {
        {"matmul/cpu/naive/f32/m:128/n:128/k:128", mm, 6, NULL},
        {"matmul/cpu/blocked/f32/m:128/n:128/k:128", mb, 6, NULL},
        {"attention/cpu/naive/f32/b:1/h:4/n:256/d:64/causal:1", an, 6, NULL},
        {"attention/cpu/flash/f32/b:1/h:4/n:256/d:64/causal:1", af, 6, NULL},
        {"softmax/cpu/fused/f32/rows:256/cols:1024/causal:1", sm, 6, NULL},
        {"softmax/cpu/onednn/f32/rows:256/cols:1024/causal:1", NULL, 0, "skipped: no causal mask"},
    };
    write_results(path, cpu, "2024-02-01T00:00:00+0000", 10, rows, 6);
}

static void test_report(void **state)
{
    (void)state;
    const char *m1 = tpath("machine1.json"), *m2 = tpath("machine2.json"), *page = tpath("report.html");
    write_machine(m1, "CPU One", 1);
    write_machine(m2, "CPU Two", 2.5);
    expect(jb("report %s %s --out %s --model gpt2-124m", m1, m2, page), 0, "wrote");
    char *html;
    size_t n;
    slurp(page, &html, &n);
    assert_non_null(strstr(html, "Machines side by side"));
    assert_non_null(strstr(html, "Roofline"));
    assert_non_null(strstr(html, "skipped: no causal mask"));
    /* Two machines x (matmul, attention, softmax charts + a roofline), plus a projection chart each. */
    int min_images = 10;
    assert_non_null(strstr(html, "tCO2e"));
    assert_non_null(strstr(html, "attention/cpu/flash/f32"));
    /* The speed-up table: each variant's time +- its interval (~: budget ran out) and speed-up. */
    assert_non_null(strstr(html, "speed-up [95% interval]"));
    assert_non_null(strstr(html, "8x [7.5, 8.5]"));
    assert_non_null(strstr(html, "&plusmn; 3% ~"));
    free(html);
    /* Without --model the projection section says how to get one and shows no numbers. */
    char cmd[2048];
    expect(jb("report %s --out %s", m1, tpath("nomodel.html")), 0, "wrote");
    slurp(tpath("nomodel.html"), &html, &n);
    assert_non_null(strstr(html, "not available: no model chosen"));
    assert_null(strstr(html, "tCO2e</th>"));
    free(html);

    expect_usage_error("report --out /tmp/x.html", "needs one or more results files");
    snprintf(cmd, sizeof cmd, "report %s", m1);
    expect_usage_error(cmd, "needs --out");
    snprintf(cmd, sizeof cmd, "report %s --out %s", tpath("notjson.json"), page);
    expect_usage_error(cmd, "not a JSON file");
    snprintf(cmd, sizeof cmd, "report %s --out %s --model no-such-model", m1, tpath("bad.html"));
    expect_usage_error(cmd, "unknown model");

    /* The page in a real browser: a screenshot that is not blank, and every embedded image a real chart. */
    const char *chromium = find_chromium();
    if (!chromium) {
        print_message("[  SKIP    ] no chromium to render the report (apt-get install chromium; scripts/setup.sh does)\n");
        skip();
    }
    const char *shot = tpath("shot.png");
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --headless --no-sandbox --disable-gpu --user-data-dir=%s/chrome-profile "
             "--screenshot=%s --window-size=1200,2000 file://%s >/dev/null 2>&1",
             chromium, tmpdir, shot, page);
    int rc = system(cmd);
    if (access(shot, R_OK) != 0) {
        print_message("[  SKIP    ] %s could not take a screenshot here (exit %d)\n", chromium, rc);
        skip();
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/check_report.py %s %s %d 2>&1", JB_SOURCE_DIR_T, page, shot,
             min_images);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    print_message("%s", out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("the rendered report failed its checks:\n%s", out);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mwu),
        cmocka_unit_test(test_compare_slowdown),
        cmocka_unit_test(test_compare_identical_and_noisy),
        cmocka_unit_test(test_compare_intervals),
        cmocka_unit_test(test_compare_paired),
        cmocka_unit_test(test_compare_rows),
        cmocka_unit_test(test_compare_energy_metric),
        cmocka_unit_test(test_compare_formats_and_context),
        cmocka_unit_test(test_compare_few_repetitions),
        cmocka_unit_test(test_compare_bad_input),
        cmocka_unit_test(test_history_add_twice),
        cmocka_unit_test(test_history_show_and_check),
        cmocka_unit_test(test_history_corrupt),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests_name("compare", tests, setup, teardown);
}
