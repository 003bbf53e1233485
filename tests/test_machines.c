/*
 * The procurement view (analysis/machines.c, `report --compare-machines`) and
 * the Slurm context of a run (harness/slurm_env.c): which files are one
 * machine, ranks and Pareto fronts that never mix measured and estimated
 * energy, the training run and its cost per machine, the machine-price table,
 * and the report's new options and their bad input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis/machine_prices.h"
#include "analysis/machines.h"
#include "analysis/report_data.h"
#include "cli_test.h"
#include "harness/results.h"
#include "harness/slurm_env.h"

static char tmpdir[] = "/tmp/jb-machines-XXXXXX";

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

typedef struct spec {
    const char *name;   /* kernel/shape */
    double time_ns, flop_per_s, flop_per_j;
} spec;

/* A results document as `joulebench run` writes it, median rows only, with
 * +-5% intervals on the rates. node/freq: a slurm context when node is given. */
static cJSON *make_doc(const char *host, const char *cpu, int threads, const char *node, const char *freq,
                       int measured, const spec *rows, int n)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "context");
    cJSON_AddStringToObject(ctx, "date", "2024-03-01T00:00:00+0000");
    cJSON_AddStringToObject(ctx, "host_name", host);
    cJSON_AddStringToObject(ctx, "cpu_model", cpu);
    cJSON_AddNumberToObject(ctx, "threads", threads);
    cJSON_AddStringToObject(ctx, "energy", measured ? "measured" : "estimated");
    cJSON_AddStringToObject(ctx, "meter", measured ? "rapl" : "model");
    cJSON_AddNumberToObject(ctx, "peak_flop_per_s", 1e12);
    cJSON_AddNumberToObject(ctx, "peak_bytes_per_s", 1e11);
    if (node) {
        cJSON *s = cJSON_AddObjectToObject(ctx, "slurm");
        cJSON_AddStringToObject(s, "node", node);
        cJSON_AddStringToObject(s, "partition", "cpu");
        if (freq)
            cJSON_AddStringToObject(s, "cpu_freq_req", freq);
    }
    cJSON *bm = cJSON_AddArrayToObject(doc, "benchmarks");
    for (int i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s_median", rows[i].name);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "run_name", rows[i].name);
        cJSON_AddStringToObject(o, "run_type", "aggregate");
        cJSON_AddStringToObject(o, "aggregate_name", "median");
        cJSON_AddNumberToObject(o, "real_time", rows[i].time_ns);
        cJSON_AddStringToObject(o, "time_unit", "ns");
        cJSON_AddNumberToObject(o, "flop_per_s", rows[i].flop_per_s);
        cJSON_AddNumberToObject(o, "flop_per_s_ci95_low", 0.95 * rows[i].flop_per_s);
        cJSON_AddNumberToObject(o, "flop_per_s_ci95_high", 1.05 * rows[i].flop_per_s);
        cJSON_AddNumberToObject(o, "flop_per_j", rows[i].flop_per_j);
        cJSON_AddNumberToObject(o, "flop_per_j_ci95_low", 0.95 * rows[i].flop_per_j);
        cJSON_AddNumberToObject(o, "flop_per_j_ci95_high", 1.05 * rows[i].flop_per_j);
        cJSON_AddNumberToObject(o, "energy_measured", measured);
        cJSON_AddItemToArray(bm, o);
    }
    return doc;
}

static void save(const char *path, const cJSON *doc)
{
    char *s = cJSON_Print(doc);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    cJSON_free(s);
}

/* matmul and attention at shapes near GPT-2's, two variants each, so project finds rows. */
static int fleet_rows(spec *r, double speed, double eff)
{
    const double mm = 2.0 * 768 * 768 * 768, at = 4.0 * 12 * 1024 * 1024 * 64 / 2;
    r[0] = (spec){"matmul/cpu/blocked/f32/m:768/n:768/k:768", mm / (100e9 * speed) * 1e9, 100e9 * speed, 2e9 * eff};
    r[1] = (spec){"matmul/cpu/naive/f32/m:768/n:768/k:768", mm / (10e9 * speed) * 1e9, 10e9 * speed, 0.3e9 * eff};
    r[2] = (spec){"attention/cpu/flash/f32/b:1/h:12/n:1024/d:64/causal:1", at / (50e9 * speed) * 1e9, 50e9 * speed,
                  1e9 * eff};
    r[3] = (spec){"attention/cpu/naive/f32/b:1/h:12/n:1024/d:64/causal:1", at / (5e9 * speed) * 1e9, 5e9 * speed,
                  0.1e9 * eff};
    return 4;
}

static const cJSON *item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        fail_msg("no key '%s'", key);
    return v;
}

static cJSON *section(cJSON **docs, size_t n, const jb_machines_opts *o, cJSON **page)
{
    const char *paths[8] = {"a.json", "b.json", "c.json", "d.json", "e.json", "f.json", "g.json", "h.json"};
    char msg[512];
    *page = jb_report_data(paths, (const cJSON *const *)docs, n, NULL, msg, sizeof msg);
    if (!*page)
        fail_msg("report data: %s", msg);
    cJSON *m = jb_machines_data(cJSON_GetObjectItem(*page, "files"), (const cJSON *const *)docs, n, o, msg, sizeof msg);
    if (!m)
        fail_msg("machines data: %s", msg);
    return m;
}

/* One host at two thread counts is two machines; the same again is the same one. */
static void test_identity(void **state)
{
    (void)state;
    spec r[4];
    int n = fleet_rows(r, 1, 1);
    cJSON *docs[4] = {make_doc("node1", "CPU X", 1, "node1", NULL, 0, r, n),
                      make_doc("node1", "CPU X", 2, "node1", NULL, 0, r, n),
                      make_doc("node1", "CPU X", 2, "node1", NULL, 0, r, n),
                      make_doc("node2", "CPU X", 2, "n2-slurm", "1200000", 0, r, n)};
    assert_int_equal(jb_machines_count((const cJSON *const *)docs, 1), 1);
    assert_int_equal(jb_machines_count((const cJSON *const *)docs, 3), 2);
    assert_int_equal(jb_machines_count((const cJSON *const *)docs, 4), 3);
    jb_machines_opts o = {.devices = 1, .kg_per_kwh = 0.5, .pue = 1.1, .price_kwh = NAN};
    cJSON *page, *m = section(docs, 4, &o, &page);
    const cJSON *ms = item(m, "machines");
    assert_int_equal(cJSON_GetArraySize(ms), 3);
    /* Threads and frequency differ among them: the labels say both; the Slurm
     * node only where it is not the host name. */
    assert_string_equal(item(cJSON_GetArrayItem(ms, 0), "label")->valuestring,
                        "node1 (CPU X) threads=1 cpu-freq=default");
    assert_string_equal(item(cJSON_GetArrayItem(ms, 2), "label")->valuestring,
                        "node2 (CPU X) node n2-slurm threads=2 cpu-freq=1200000");
    assert_int_equal(cJSON_GetArraySize(item(cJSON_GetArrayItem(ms, 1), "files")), 2);
    /* Every class has one cell per machine. */
    const cJSON *c;
    cJSON_ArrayForEach(c, item(m, "classes")) assert_int_equal(cJSON_GetArraySize(item(c, "cells")), 3);
    assert_true(cJSON_IsNull(item(m, "projection")));
    cJSON_Delete(m);
    cJSON_Delete(page);
    for (int i = 0; i < 4; i++)
        cJSON_Delete(docs[i]);
}

/* Measured and estimated energy are ranked apart and have their own fronts. */
static void test_ranking_and_pareto(void **state)
{
    (void)state;
    spec a[4], b[4], c[4];
    fleet_rows(a, 1, 1);      /* measured, slow, efficient */
    fleet_rows(b, 2, 0.5);    /* measured, fast, less efficient */
    fleet_rows(c, 4, 10);     /* estimated: far better on paper, and never ranked with the others */
    cJSON *docs[3] = {make_doc("a", "CPU A", 8, NULL, NULL, 1, a, 4), make_doc("b", "CPU B", 8, NULL, NULL, 1, b, 4),
                      make_doc("c", "CPU C", 8, NULL, NULL, 0, c, 4)};
    jb_machines_opts o = {.devices = 1, .kg_per_kwh = 0.5, .pue = 1.1, .price_kwh = NAN};
    cJSON *page, *m = section(docs, 3, &o, &page);
    const cJSON *rk = cJSON_GetArrayItem(item(m, "ranking"), 0);
    assert_string_equal(item(rk, "op")->valuestring, "matmul");
    const cJSON *rows = item(rk, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 3);
    const cJSON *r0 = cJSON_GetArrayItem(rows, 0), *r1 = cJSON_GetArrayItem(rows, 1), *r2 = cJSON_GetArrayItem(rows, 2);
    /* Measured first, by FLOP/J: a (2 GFLOP/J) then b (1); then c, estimated, rank 1 of its own kind. */
    assert_int_equal(item(r0, "machine")->valueint, 0);
    assert_int_equal(item(r0, "rank_energy")->valueint, 1);
    assert_int_equal(item(r1, "machine")->valueint, 1);
    assert_int_equal(item(r1, "rank_energy")->valueint, 2);
    assert_int_equal(item(r2, "machine")->valueint, 2);
    assert_int_equal(item(r2, "rank_energy")->valueint, 1);
    assert_string_equal(item(r2, "label")->valuestring, "energy: estimated");
    assert_int_equal(item(r2, "energy_measured")->valueint, 0);
    /* Speed is measured everywhere: one ranking, c (4x) first. */
    assert_int_equal(item(r2, "rank_speed")->valueint, 1);
    assert_int_equal(item(r0, "rank_speed")->valueint, 3);
    assert_string_equal(item(r0, "variant")->valuestring, "cpu/blocked/f32");
    assert_false(cJSON_IsTrue(item(r1, "tie_energy"))); /* 2 +-5% and 1 +-5% do not overlap */
    /* Time against energy: among the measured points, a (less energy) and b
     * (less time) are both on the front, the naive rows are not; c is on its own front. */
    const cJSON *pts = item(cJSON_GetArrayItem(item(m, "scatter"), 0), "points"), *p;
    int front_measured = 0, front_estimated = 0;
    cJSON_ArrayForEach(p, pts)
    {
        int pf = cJSON_IsTrue(item(p, "pareto"));
        if (strstr(item(p, "variant")->valuestring, "naive"))
            assert_false(pf);
        if (pf)
            *(item(p, "energy_measured")->valueint ? &front_measured : &front_estimated) += 1;
    }
    assert_int_equal(front_measured, 2);
    assert_int_equal(front_estimated, 1);
    cJSON_Delete(m);
    cJSON_Delete(page);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(docs[i]);
}

static void test_projection_and_cost(void **state)
{
    (void)state;
    spec a[4], b[4];
    fleet_rows(a, 1, 1);
    fleet_rows(b, 2, 1);
    cJSON *docs[2] = {make_doc("a", "Big CPU 9000", 8, NULL, NULL, 1, a, 4),
                      make_doc("b", "Small CPU 100", 8, NULL, NULL, 1, b, 4)};
    jb_model model;
    char msg[512];
    assert_int_equal(jb_model_load("gpt2-124m", &model, msg, sizeof msg), 0);
    const char *csv = "# price per machine-hour\nmatch,price_per_hour,note\n\"Big CPU\",3.5,\"a, quoted note\"\nsmall cpu,1,\n";
    jb_machines_opts o = {.model = &model, .devices = 4, .kg_per_kwh = 0.5, .grid = "test", .pue = 1.1,
                          .price_kwh = 0.2, .prices_csv = csv, .prices_path = "prices.csv"};
    cJSON *page, *m = section(docs, 2, &o, &page);
    const cJSON *pr = item(m, "projection"), *rows = item(pr, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    const cJSON *ra = cJSON_GetArrayItem(rows, 0), *rb = cJSON_GetArrayItem(rows, 1);
    assert_true(cJSON_IsNull(item(ra, "error")));
    double mwh = item(ra, "facility_mwh")->valuedouble, hours = item(ra, "machine_hours")->valuedouble;
    assert_true(mwh > 0 && hours > 0);
    /* Days on 4 devices: a quarter of one device's hours, in days. */
    assert_true(fabs(item(ra, "days")->valuedouble - hours / 4 / 24) < 1e-9 * hours);
    assert_true(fabs(item(ra, "energy_cost")->valuedouble - mwh * 1000 * 0.2) < 1e-9 * mwh * 1000);
    assert_true(fabs(item(ra, "machine_cost")->valuedouble - hours * 3.5) < 1e-9 * hours * 3.5);
    assert_true(fabs(item(rb, "machine_cost")->valuedouble - item(rb, "machine_hours")->valuedouble * 1) < 1e-6);
    /* b is twice as fast at the same FLOP/J: the same energy in half the days,
     * so b alone is on the front. */
    assert_true(fabs(item(rb, "facility_mwh")->valuedouble - mwh) < 1e-9 * mwh);
    assert_true(item(rb, "days")->valuedouble < item(ra, "days")->valuedouble);
    assert_true(cJSON_IsTrue(item(rb, "pareto")));
    assert_false(cJSON_IsTrue(item(ra, "pareto")));
    assert_string_equal(item(cJSON_GetArrayItem(item(m, "machines"), 0), "price_row")->valuestring, "Big CPU");
    assert_string_equal(item(ra, "label")->valuestring, "energy: measured");
    cJSON_Delete(m);
    cJSON_Delete(page);
    for (int i = 0; i < 2; i++)
        cJSON_Delete(docs[i]);
}

static void test_prices(void **state)
{
    (void)state;
    char msg[256];
    assert_int_equal(jb_machine_prices_check("match,price_per_hour\nx,1\n", "p", msg, sizeof msg), 0);
    assert_int_equal(jb_machine_prices_check("# only comments\n", "p", msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "no header"));
    assert_int_equal(jb_machine_prices_check("name,price\nx,1\n", "p", msg, sizeof msg), JB_EPARSE);
    assert_int_equal(jb_machine_prices_check("match,price_per_hour\nx,-1\n", "p", msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "line 2"));
    assert_int_equal(jb_machine_prices_check("match,price_per_hour\nx,abc\n", "p", msg, sizeof msg), JB_EPARSE);
    assert_int_equal(jb_machine_prices_check("match,price_per_hour\n\"x,1\n", "p", msg, sizeof msg), JB_EPARSE);
    assert_int_equal(jb_machine_prices_check("match,price_per_hour\n,1\n", "p", msg, sizeof msg), JB_EPARSE);
    const char *csv = "match,price_per_hour\r\nEPYC 9654,4.5\r\nepyc,2\r\n";
    const char *hay1[] = {"node7", "AMD EPYC 9654 96-Core Processor", NULL};
    const char *hay2[] = {"node8", "AMD EPYC 7763", NULL};
    const char *hay3[] = {"node9", "Intel Xeon", NULL};
    double p;
    char row[64];
    assert_int_equal(jb_machine_price_find(csv, hay1, &p, row, sizeof row), 1);
    assert_true(p == 4.5);
    assert_string_equal(row, "EPYC 9654");
    assert_int_equal(jb_machine_price_find(csv, hay2, &p, row, sizeof row), 1);
    assert_true(p == 2);
    assert_int_equal(jb_machine_price_find(csv, hay3, &p, row, sizeof row), 0);
}

static void test_slurm_env(void **state)
{
    (void)state;
    unsetenv("SLURM_JOB_ID");
    cJSON *ctx = cJSON_CreateObject();
    assert_int_equal(jb_slurm_capture(ctx), 0);
    assert_null(cJSON_GetObjectItem(ctx, "slurm"));
    setenv("SLURM_JOB_ID", "1234", 1);
    setenv("SLURM_ARRAY_JOB_ID", "1230", 1);
    setenv("SLURM_ARRAY_TASK_ID", "4", 1);
    setenv("SLURM_JOB_PARTITION", "cpu-icelake", 1);
    setenv("SLURMD_NODENAME", "node042", 1);
    setenv("SLURM_CPUS_ON_NODE", "64", 1);
    setenv("SLURM_JOB_CPUS_PER_NODE", "64(x2)", 1);
    setenv("SLURM_GPUS_ON_NODE", "1", 1);
    setenv("SLURM_CPU_FREQ_REQ", "2000000", 1);
    setenv("JB_FLEET_TARGET", "partition=cpu-icelake cpu-freq=2000000", 1);
    assert_int_equal(jb_slurm_capture(ctx), 1);
    const cJSON *s = cJSON_GetObjectItem(ctx, "slurm");
    assert_non_null(s);
    assert_true(item(s, "job_id")->valuedouble == 1234);
    assert_true(item(s, "array_job_id")->valuedouble == 1230);
    assert_true(item(s, "array_task_id")->valuedouble == 4);
    assert_string_equal(item(s, "partition")->valuestring, "cpu-icelake");
    assert_string_equal(item(s, "node")->valuestring, "node042");
    assert_true(item(s, "cpus_on_node")->valuedouble == 64);
    assert_string_equal(item(s, "job_cpus_per_node")->valuestring, "64(x2)");
    assert_true(item(s, "gpus_on_node")->valuedouble == 1);
    assert_string_equal(item(s, "cpu_freq_req")->valuestring, "2000000");
    assert_string_equal(item(s, "target")->valuestring, "partition=cpu-icelake cpu-freq=2000000");
    assert_true(cJSON_IsString(item(s, "version")));
    assert_null(cJSON_GetObjectItem(s, "qos"));
    cJSON_Delete(ctx);
    static const char *const vars[] = {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
                                       "SLURM_JOB_PARTITION", "SLURMD_NODENAME", "SLURM_CPUS_ON_NODE",
                                       "SLURM_JOB_CPUS_PER_NODE", "SLURM_GPUS_ON_NODE", "SLURM_CPU_FREQ_REQ",
                                       "JB_FLEET_TARGET"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static void slurp(const char *path, char **buf)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(*buf, 1, (size_t)n, f), (size_t)n);
    (*buf)[n] = 0;
    fclose(f);
}

/* The command: the section on the page, and its options' bad input. */
static void test_report_command(void **state)
{
    (void)state;
    spec a[4], b[4];
    fleet_rows(a, 1, 1);
    fleet_rows(b, 2, 0.8);
    cJSON *da = make_doc("n1", "CPU A", 1, "n1", NULL, 0, a, 4), *db = make_doc("n1", "CPU A", 2, "n1", NULL, 0, b, 4);
    save(tpath("t1.json"), da);
    save(tpath("t2.json"), db);
    cJSON_Delete(da);
    cJSON_Delete(db);
    FILE *f = fopen(tpath("prices.csv"), "w");
    fputs("match,price_per_hour\nCPU A,2.5\n", f);
    fclose(f);
    const char *page = tpath("m.html");
    if (jb("report %s %s --out %s --model gpt2-124m --devices 16 --price-kwh 0.25 --machine-prices %s --region FRA",
           tpath("t1.json"), tpath("t2.json"), page, tpath("prices.csv")) != 0)
        fail_msg("report failed: %s", out);
    char *html;
    slurp(page, &html);
    assert_non_null(strstr(html, "Machines compared"));
    assert_non_null(strstr(html, "threads=1"));
    assert_non_null(strstr(html, "threads=2"));
    assert_non_null(strstr(html, "energy: estimated"));
    assert_non_null(strstr(html, "Training GPT-2 124M on 16 devices"));
    assert_non_null(strstr(html, "machine cost"));
    assert_non_null(strstr(html, "France"));
    free(html);
    /* One machine: no section unless asked for. */
    assert_int_equal(jb("report %s --out %s", tpath("t1.json"), tpath("one.html")), 0);
    slurp(tpath("one.html"), &html);
    assert_null(strstr(html, "Machines compared"));
    free(html);
    assert_int_equal(jb("report %s --out %s --compare-machines", tpath("t1.json"), tpath("one.html")), 0);
    slurp(tpath("one.html"), &html);
    assert_non_null(strstr(html, "Machines compared"));
    assert_non_null(strstr(html, "no model chosen"));
    free(html);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "report %s --out %s --price-kwh 0.2", tpath("t1.json"), tpath("x.html"));
    expect_usage_error(cmd, "give --model too");
    snprintf(cmd, sizeof cmd, "report %s --out %s --model gpt2-124m --devices 0", tpath("t1.json"), tpath("x.html"));
    expect_usage_error(cmd, "--devices");
    snprintf(cmd, sizeof cmd, "report %s --out %s --model gpt2-124m --price-kwh -1", tpath("t1.json"), tpath("x.html"));
    expect_usage_error(cmd, "--price-kwh");
    snprintf(cmd, sizeof cmd, "report %s --out %s --model gpt2-124m --region XXX", tpath("t1.json"), tpath("x.html"));
    expect_usage_error(cmd, "unknown region");
    f = fopen(tpath("bad.csv"), "w");
    fputs("match,price_per_hour\nCPU A,cheap\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "report %s --out %s --model gpt2-124m --machine-prices %s", tpath("t1.json"),
             tpath("x.html"), tpath("bad.csv"));
    expect_usage_error(cmd, "line 2");
    snprintf(cmd, sizeof cmd, "report %s --out %s --model gpt2-124m --machine-prices %s", tpath("t1.json"),
             tpath("x.html"), tmpdir);
    expect_usage_error(cmd, "--machine-prices");
    assert_int_not_equal(access(tpath("x.html"), F_OK), 0);
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
        cmocka_unit_test(test_identity),       cmocka_unit_test(test_ranking_and_pareto),
        cmocka_unit_test(test_projection_and_cost), cmocka_unit_test(test_prices),
        cmocka_unit_test(test_slurm_env),      cmocka_unit_test(test_report_command),
    };
    return cmocka_run_group_tests_name("machines", tests, setup, teardown);
}
