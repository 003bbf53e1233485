/*
 * `joulebench project`: the published method against every row of the
 * published table (tests/data/published_training_energy.csv, copied from the
 * project's shared data with its sources), FLOP totals of the model specs,
 * method 1 on a crafted results file with hand-computed figures, and bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

#include <cjson/cJSON.h>

#include "jb_kernels.h"
#include "analysis/project.h"

static void expect_near(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: got %.6g, want %.6g (within %.2g%%)", what, got, want, 100 * rel);
}

/* CSV fields, with double-quoted fields that may hold commas. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max && *p && *p != '\n') {
        if (*p == '"') {
            f[n++] = ++p;
            p = strchr(p, '"');
            if (!p)
                return n;
            *p++ = 0;
        } else {
            f[n++] = p;
            p += strcspn(p, ",\n");
        }
        if (*p == ',')
            *p++ = 0;
        else if (*p == '\n')
            *p = 0;
    }
    return n;
}

static void test_published_table(void **state)
{
    (void)state;
    FILE *f = fopen(JB_TEST_DATA "/published_training_energy.csv", "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char *c[12];
        if (split_csv(line, c, 12) < 11)
            continue;
        double chips = atof(c[2]), days = atof(c[3]), gpuh = atof(c[4]), w = atof(c[5]), pue = atof(c[6]),
               kg = atof(c[7]), mwh_rep = atof(c[9]), t_rep = atof(c[10]);
        double mwh = gpuh > 0 ? jb_published_mwh_gpu_hours(gpuh, w, pue) : jb_published_mwh_chips(chips, days, w, pue);
        char what[128];
        snprintf(what, sizeof what, "%s MWh", c[0]);
        expect_near(mwh, mwh_rep, 0.01, what);
        snprintf(what, sizeof what, "%s tCO2e", c[0]);
        expect_near(mwh * kg, t_rep, 0.01, what);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 7);
}

static void test_flop_totals(void **state)
{
    (void)state;
    jb_model m;
    jb_train_work w;
    char msg[256];
    assert_int_equal(jb_model_load("gpt3-175b", &m, msg, sizeof msg), JB_OK);
    jb_train_work_of(&m, &w);
    expect_near(w.total_flops, 3.14e23, 0.02, "GPT-3 175B training FLOPs vs Brown et al. 3.14e23");
    expect_near(w.matmul_flops, 6 * 1.75e11 * 3e11, 1e-12, "GPT-3 6ND");
    expect_near(w.attention_flops, 12.0 * 96 * 96 * 128 * 2048 / 2 * 3e11, 1e-12, "GPT-3 attention (causal)");
    /* By display name too; BERT-large is bidirectional: no halving. */
    assert_int_equal(jb_model_load("BERT-large", &m, msg, sizeof msg), JB_OK);
    jb_train_work_of(&m, &w);
    expect_near(w.attention_flops, 12.0 * 24 * 16 * 64 * 512 * 1.31e11, 1e-12, "BERT-large attention");
    static const char *const all[] = {"gpt2-124m", "bert-large", "gpt3-175b", "llama-7b",
                                      "llama-13b", "llama-33b",  "llama-65b", "llama2-70b"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_int_equal(jb_model_load(all[i], &m, msg, sizeof msg), JB_OK);
        jb_train_work_of(&m, &w);
        /* Attention is a small part of the total for every one of these models. */
        assert_true(w.attention_flops > 0 && w.attention_flops < 0.2 * w.matmul_flops);
    }
    assert_int_equal(jb_model_load("llama-7b", &m, msg, sizeof msg), JB_OK);
    jb_train_work_of(&m, &w);
    expect_near(w.matmul_flops, 6 * 6.7e9 * 1e12, 1e-12, "LLaMA 7B 6ND");
    assert_int_equal(jb_model_load("gpt-5", &m, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "unknown model"));
}

/* A crafted results file: two matmul rows, two attention variants, a softmax row. */
static const char *crafted =
    "{\"context\": {\"meter\": \"model\"}, \"benchmarks\": [\n"
    " {\"name\": \"matmul/cpu/blocked/f32/m:1024/n:4096/k:1024_median\", \"run_name\": \"matmul/cpu/blocked/f32/m:1024/n:4096/k:1024\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 2e9, \"flop_per_s\": 1e11, \"energy_measured\": 1},\n"
    " {\"name\": \"matmul/cpu/naive/f32/m:1024/n:4096/k:1024_median\", \"run_name\": \"matmul/cpu/naive/f32/m:1024/n:4096/k:1024\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 1e8, \"flop_per_s\": 1e10, \"energy_measured\": 1},\n"
    " {\"name\": \"matmul/cpu/blocked/f32/m:64/n:64/k:64_median\", \"run_name\": \"matmul/cpu/blocked/f32/m:64/n:64/k:64\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 9e9, \"flop_per_s\": 1e11, \"energy_measured\": 1},\n"
    " {\"name\": \"attention/cpu/flash/f32/b:1/h:8/n:1024/d:64/causal:1_median\", \"run_name\": \"attention/cpu/flash/f32/b:1/h:8/n:1024/d:64/causal:1\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 1e9, \"flop_per_s\": 5e10, \"energy_measured\": 1},\n"
    " {\"name\": \"attention/cpu/naive/f32/b:1/h:8/n:1024/d:64/causal:1_median\", \"run_name\": \"attention/cpu/naive/f32/b:1/h:8/n:1024/d:64/causal:1\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 1e8, \"flop_per_s\": 5e9, \"energy_measured\": 1},\n"
    " {\"name\": \"attention/cpu/onednn/f32/b:1/h:8/n:1024/d:64/causal:1\", \"run_name\": \"attention/cpu/onednn/f32/b:1/h:8/n:1024/d:64/causal:1\","
    "  \"run_type\": \"iteration\", \"error_occurred\": true, \"error_message\": \"verification failed\"}\n"
    "]}\n";

static void test_method1(void **state)
{
    (void)state;
    cJSON *res = cJSON_Parse(crafted);
    assert_non_null(res);
    jb_model m = {.params = 1e9, .layers = 10, .d_model = 1024, .heads = 8, .head_dim = 64, .d_ff = 4096,
                  .vocab = 1000, .seq_len = 1024, .tokens = 1e10, .causal = 1};
    jb_train_work w;
    jb_train_work_of(&m, &w);
    assert_true(w.matmul_flops == 6e19);
    assert_true(w.attention_flops == 12.0 * 10 * 8 * 64 * 1024 / 2 * 1e10);
    jb_class_pick mm, at;
    char msg[256];
    /* Nearest shape to (seq 1024, d_ff 4096, d_model 1024) is the 1024x4096x1024 row, best there: blocked. */
    assert_int_equal(jb_project_pick(res, &m, "matmul", NULL, &mm, msg, sizeof msg), JB_OK);
    assert_string_equal(mm.kernel, "matmul/cpu/blocked/f32");
    assert_true(mm.flop_per_j == 2e9);
    assert_int_equal(jb_project_pick(res, &m, "attention", NULL, &at, msg, sizeof msg), JB_OK);
    assert_string_equal(at.kernel, "attention/cpu/flash/f32");
    jb_projection p;
    jb_project_energy(&w, &mm, &at, NULL, 1.0, 1.1, 0.5, &p);
    /* By hand: 6e19/2e9 = 3e10 J; 3.145728e17/1e9 = 3.145728e8 J; sum 3.03145728e10 J = 8.4207 MWh at the device. */
    expect_near(p.mwh_device, (3e10 + 3.145728e8) / 3.6e9, 1e-12, "device MWh");
    expect_near(p.mwh_facility, 1.1 * (3e10 + 3.145728e8) / 3.6e9, 1e-12, "facility MWh");
    expect_near(p.tco2e, 0.5 * 1.1 * (3e10 + 3.145728e8) / 3.6e9, 1e-12, "tCO2e");
    expect_near(p.seconds, 6e19 / 1e11 + 3.145728e17 / 5e10, 1e-12, "seconds on one device");
    /* Choosing a variant. */
    assert_int_equal(jb_project_pick(res, &m, "attention", "naive", &at, msg, sizeof msg), JB_OK);
    assert_string_equal(at.kernel, "attention/cpu/naive/f32");
    assert_int_equal(jb_project_pick(res, &m, "attention", "attention/cpu/flash/f32", &at, msg, sizeof msg), JB_OK);
    assert_string_equal(at.kernel, "attention/cpu/flash/f32");
    /* The onednn row failed verification: never used. */
    assert_int_equal(jb_project_pick(res, &m, "attention", "onednn", &at, msg, sizeof msg), JB_EINVAL);
    assert_int_equal(jb_project_pick(res, &m, "softmax", NULL, &at, msg, sizeof msg), JB_EINVAL);
    jb_class_pick v[8];
    assert_int_equal(jb_project_variants(res, &m, "attention", v, 8), 2);
    cJSON_Delete(res);
}

/* ---- From the outside ---------------------------------------------------- */

static void test_cli(void **state)
{
    (void)state;
    char dir[] = "/tmp/jb_project_XXXXXX", path[256], foreign[256], args[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.json", dir);
    FILE *f = fopen(path, "w");
    fputs(crafted, f);
    fclose(f);
    snprintf(foreign, sizeof foreign, "%s/gb.json", dir);
    f = fopen(foreign, "w");
    fputs("{\"context\": {}, \"benchmarks\": [{\"name\": \"BM_x\", \"run_name\": \"BM_x\", \"run_type\": \"iteration\","
          " \"real_time\": 5, \"time_unit\": \"ns\"}]}", f);
    fclose(f);

    snprintf(args, sizeof args, "project --model gpt2-124m --results %s --region FRA --json", path);
    assert_int_equal(jb("%s", args), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *p = cJSON_GetObjectItem(j, "projection");
    assert_string_equal(cJSON_GetObjectItem(p, "energy")->valuestring, "measured");
    assert_true(fabs(cJSON_GetObjectItem(p, "kg_per_kwh")->valuedouble - 0.056) < 1e-9);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(j, "what_if_attention")) == 2);
    cJSON_Delete(j);
    assert_int_equal(jb("project --chips 10000 --days 14.8 --watts 330 --pue 1.1 --intensity 0.429"), 0);
    assert_non_null(strstr(out, "1289.4 MWh"));
    assert_int_equal(jb("project --model gpt3-175b"), 0);
    assert_non_null(strstr(out, "3.193e+23"));

    expect_usage_error("project", "--model");
    expect_usage_error("project --model gpt-9", "unknown model");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s --region XYZ", path);
    expect_usage_error(args, "unknown region 'XYZ'");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s --pue 0", path);
    expect_usage_error(args, "--pue");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s --pue -2", path);
    expect_usage_error(args, "--pue");
    expect_usage_error("project --chips 0 --days 3 --watts 300", "--chips");
    expect_usage_error("project --gpu-hours 100", "--watts");
    expect_usage_error("project --gpu-hours 100 --watts -5", "--watts");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s --attention onednn", path);
    expect_usage_error(args, "no verified attention row of variant 'onednn'");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s", foreign);
    expect_usage_error(args, "no verified matmul row");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s/nothere.json", dir);
    expect_usage_error(args, "No such file");
    snprintf(args, sizeof args, "project --model gpt3-175b --results %s", JB_TEST_DATA "/published_training_energy.csv");
    expect_usage_error(args, "not a JSON file");
    snprintf(args, sizeof args, "rm -rf %s", dir);
    assert_int_equal(system(args), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_table), cmocka_unit_test(test_flop_totals),
        cmocka_unit_test(test_method1), cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("project", tests, NULL, NULL);
}
