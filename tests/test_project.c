/*
 * `joulebench project`: the published method against every row of the
 * published table (tests/data/published_training_energy.csv, copied from the
 * project's shared data with its sources), FLOP totals of the model specs,
 * method 1 on a crafted results file with hand-computed figures, and bad input.
 * Serving (--inference): the work per request against its formulas, the rows
 * chosen per phase and their J/B or FLOP/J readings by hand, the lifecycle,
 * the published serving table, the --json fields, and bad input.
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
#include "analysis/project_infer.h"
#include "analysis/report_data.h"

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

/* ---- Serving ------------------------------------------------------------- */

static void test_kv_and_specs(void **state)
{
    (void)state;
    jb_model m;
    char msg[512];
    /* Llama 2 70B: grouped-query attention with 8 K,V heads for 64 query heads. */
    assert_int_equal(jb_model_load("llama2-70b", &m, msg, sizeof msg), JB_OK);
    assert_true(m.kv_heads == 8 && m.heads == 64 && !m.tied_embeddings);
    assert_true(jb_kv_cache_bytes_per_token(&m, 2) == 2.0 * 80 * 8 * 128 * 2); /* 327,680 B: 320 KiB */
    assert_int_equal(jb_model_load("llama-7b", &m, msg, sizeof msg), JB_OK);
    assert_true(m.kv_heads == 32);
    assert_true(jb_kv_cache_bytes_per_token(&m, 2) == 524288.0);
    assert_true(jb_model_matmul_params(&m) == 6.7e9 - 32000.0 * 4096);
    assert_int_equal(jb_model_load("gpt2-124m", &m, msg, sizeof msg), JB_OK);
    assert_true(m.tied_embeddings && jb_model_matmul_params(&m) == m.params);
    /* Every shipped spec says kv_heads, and it divides heads. */
    static const char *const all[] = {"gpt2-124m", "bert-large", "gpt3-175b", "llama-7b",
                                      "llama-13b", "llama-33b",  "llama-65b", "llama2-70b"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_int_equal(jb_model_load(all[i], &m, msg, sizeof msg), JB_OK);
        assert_true(m.kv_heads >= 1 && fmod(m.heads, m.kv_heads) == 0);
    }
    /* Absent: kv_heads = heads; a value that does not divide heads, or not a number, is refused. */
    const char *base = "{\"params\": 1e9, \"layers\": 10, \"d_model\": 512, \"heads\": 8, \"head_dim\": 64, "
                       "\"d_ff\": 2048, \"vocab\": 1000, \"seq_len\": 2048, \"tokens\": 1e10, \"causal\": true%s}";
    char text[512];
    snprintf(text, sizeof text, base, "");
    assert_int_equal(jb_model_parse(text, "t.json", &m, msg, sizeof msg), JB_OK);
    assert_true(m.kv_heads == 8 && !m.tied_embeddings);
    snprintf(text, sizeof text, base, ", \"kv_heads\": 3");
    assert_int_equal(jb_model_parse(text, "t.json", &m, msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "kv_heads"));
    snprintf(text, sizeof text, base, ", \"kv_heads\": \"8\"");
    assert_int_equal(jb_model_parse(text, "t.json", &m, msg, sizeof msg), JB_EPARSE);
    snprintf(text, sizeof text, base, ", \"tied_embeddings\": 1");
    assert_int_equal(jb_model_parse(text, "t.json", &m, msg, sizeof msg), JB_EPARSE);
    snprintf(text, sizeof text, base, ", \"kv_heads\": 2, \"tied_embeddings\": true");
    assert_int_equal(jb_model_parse(text, "t.json", &m, msg, sizeof msg), JB_OK);
    assert_true(m.kv_heads == 2 && m.tied_embeddings);
}

static void test_serving_work(void **state)
{
    (void)state;
    jb_model m;
    char msg[512];
    assert_int_equal(jb_model_load("llama-7b", &m, msg, sizeof msg), JB_OK);
    const double L = 32, d = 4096, N = 6.7e9 - 32000.0 * 4096;
    jb_serving s = JB_SERVING_DEFAULTS;
    assert_true(s.prompt == 512 && s.output == 256 && s.batch == 1 && s.kv_bytes == 2);
    jb_infer_work w, w2;
    jb_infer_work_of(&m, &s, &w);
    assert_true(w.prefill_matmul_flops == 2 * N * 512);
    assert_true(w.prefill_attention_flops == 4 * L * d * 512.0 * 512 / 2); /* causal: halved, as training's term */
    assert_true(w.decode_matmul_flops == 2 * N * 256);
    /* sum over c = 513 .. 768 of c = 256*512 + 256*257/2 */
    assert_true(w.decode_attention_flops == 4 * L * d * (256.0 * 512 + 256.0 * 257 / 2));
    expect_near(w.flop_per_request, w.prefill_matmul_flops + w.prefill_attention_flops + w.decode_matmul_flops +
                                        w.decode_attention_flops, 1e-15, "FLOPs per request");
    expect_near(w.flop_per_output_token, (w.decode_matmul_flops + w.decode_attention_flops) / 256, 1e-15,
                "FLOPs per output token");
    /* One more token of prompt: every decode step attends over one more cached token, so each
     * output token costs exactly 4*layers*d_model more. */
    jb_serving s2 = s;
    s2.prompt += 1;
    jb_infer_work_of(&m, &s2, &w2);
    assert_true(w2.flop_per_output_token - w.flop_per_output_token == 4 * L * d);
    assert_true(w2.decode_matmul_flops == w.decode_matmul_flops);
    /* One more output token: one more step at context P+O+1. */
    s2 = s;
    s2.output += 1;
    jb_infer_work_of(&m, &s2, &w2);
    const double before = w.decode_matmul_flops + w.decode_attention_flops;
    assert_true(w2.decode_matmul_flops + w2.decode_attention_flops - before == 2 * N + 4 * L * d * (512 + 257));
    /* The KV cache read by decode: the context at every step, at kv_bytes. */
    expect_near(w.decode_attention_bytes,
                524288.0 * (256.0 * 512 + 256.0 * 257 / 2) + 256 * L * 2 * d * 4, 1e-15, "decode attention bytes");
    /* Weights are read once per decode step for the B requests it serves. */
    s2 = s;
    s2.batch = 2;
    const double b1 = jb_matmul_bytes_per_request(&m, &s, 256, 256, 4, 4);
    expect_near(b1 - jb_matmul_bytes_per_request(&m, &s2, 256, 256, 4, 4), 256 * N * 4 / 2, 1e-9,
                "weights shared by the batch");
    /* w4: half a byte per weight and an fp32 scale per 32. */
    double wb, ab;
    jb_dtype_bytes("matmul/cpu/blocked/w4", &wb, &ab);
    assert_true(wb == 0.625 && ab == 4);
    jb_dtype_bytes("matmul/cpu/blocked/f32", &wb, &ab);
    assert_true(wb == 4 && ab == 4);
    /* Prefill only (an encoder): no decode work, no FLOPs per output token. */
    s2 = s;
    s2.output = 0;
    jb_infer_work_of(&m, &s2, &w2);
    assert_true(w2.decode_matmul_flops == 0 && w2.decode_attention_flops == 0 && isnan(w2.flop_per_output_token));
}

/* A crafted results file with decode rows: matmul at m 1 and 1024, attention
 * with one query row over 1024 keys and over the whole 1024 (q = n). */
static const char *crafted_serving =
    "{\"context\": {\"meter\": \"rapl\"}, \"benchmarks\": [\n"
    " {\"name\": \"matmul/cpu/blocked/f32/m:1024/n:2048/k:512_median\", \"run_name\": \"matmul/cpu/blocked/f32/m:1024/n:2048/k:512\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 4e9, \"flop_per_s\": 1e11, \"energy_measured\": 1},\n"
    " {\"name\": \"matmul/cpu/blocked/f32/m:1/n:2048/k:512_median\", \"run_name\": \"matmul/cpu/blocked/f32/m:1/n:2048/k:512\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 1e8, \"flop_per_s\": 1e9, \"energy_measured\": 1},\n"
    " {\"name\": \"matmul/cpu/blocked/w4/m:1/n:2048/k:512_median\", \"run_name\": \"matmul/cpu/blocked/w4/m:1/n:2048/k:512\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 3e8, \"flop_per_s\": 3e9, \"energy_measured\": 1},\n"
    " {\"name\": \"attention/cpu/flash/f32/b:1/h:8/n:1024/d:64/causal:1_median\", \"run_name\": \"attention/cpu/flash/f32/b:1/h:8/n:1024/d:64/causal:1\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 2e9, \"flop_per_s\": 5e10, \"energy_measured\": 1},\n"
    " {\"name\": \"attention/cpu/naive/f32/b:1/h:8/q:1/n:1024/d:64/causal:1_median\", \"run_name\": \"attention/cpu/naive/f32/b:1/h:8/q:1/n:1024/d:64/causal:1\","
    "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"flop_per_j\": 5e7, \"flop_per_s\": 1e9, \"energy_measured\": 1}\n"
    "]}\n";

static jb_model serving_model(void)
{
    jb_model m = {.name = "test", .params = 1e9, .layers = 10, .d_model = 512, .heads = 8, .head_dim = 64,
                  .d_ff = 2048, .vocab = 1000, .seq_len = 2048, .tokens = 1e10, .causal = 1, .kv_heads = 8};
    return m;
}

static void test_serving_method1(void **state)
{
    (void)state;
    cJSON *res = cJSON_Parse(crafted_serving);
    assert_non_null(res);
    jb_model m = serving_model();
    jb_serving s = {.prompt = 1000, .output = 24, .batch = 1, .kv_bytes = 2};
    static jb_infer_result r;
    char msg[512];
    assert_int_equal(jb_infer_run(res, &m, &s, NULL, NULL, 1.0, 1.1, &r, msg, sizeof msg), JB_OK);
    /* Rows: prefill at m = 1024 (FLOP/J) and q = n; decode at m = 1 and q = 1 (J/B), the best there. */
    assert_string_equal(r.pick[JB_PREFILL_MATMUL].row.row, "matmul/cpu/blocked/f32/m:1024/n:2048/k:512");
    assert_false(r.pick[JB_PREFILL_MATMUL].per_byte);
    assert_string_equal(r.pick[JB_PREFILL_ATTENTION].row.kernel, "attention/cpu/flash/f32");
    assert_string_equal(r.pick[JB_DECODE_MATMUL].row.row, "matmul/cpu/blocked/w4/m:1/n:2048/k:512");
    assert_true(r.pick[JB_DECODE_MATMUL].per_byte);
    assert_string_equal(r.pick[JB_DECODE_ATTENTION].row.row,
                        "attention/cpu/naive/f32/b:1/h:8/q:1/n:1024/d:64/causal:1");
    assert_true(r.pick[JB_DECODE_ATTENTION].per_byte);
    assert_int_equal(r.nnotes, 0);
    assert_true(r.all_measured);

    const double N = 1e9 - 1000.0 * 512, P = 1000, O = 24;
    const double e_pm = 2 * N * P / 4e9, e_pa = 4.0 * 10 * 512 * P * P / 2 / 2e9;
    /* w4 row: 2*1*2048*512 FLOP at 3e8 FLOP/J over A 1x512 fp32 + B 512x2048 at 0.625 B + C 1x2048 fp32. */
    const double row_b = 512 * 4.0 + 512 * 2048 * 0.625 + 2048 * 4.0, jb_mm = 2.0 * 2048 * 512 / 3e8 / row_b;
    expect_near(r.pick[JB_DECODE_MATMUL].joules_per_byte, jb_mm, 1e-12, "w4 row J/B");
    const double e_dm = jb_matmul_bytes_per_request(&m, &s, O, O, 0.625, 4) * jb_mm;
    /* q = 1 over 1024 keys, causal: 4*1*8*64*1024 FLOP at 5e7 FLOP/J over Q,O 8x64 and K,V 8x1024x64 in fp32. */
    const double row_a = 4.0 * 8 * 64 * (2 + 2 * 1024), jb_at = 4.0 * 8 * 64 * 1024 / 5e7 / row_a;
    expect_near(r.pick[JB_DECODE_ATTENTION].joules_per_byte, jb_at, 1e-12, "q = 1 row J/B");
    /* The decode steps read K and V (8 heads x 64 x fp16, 10 layers) of 1001 .. 1024 tokens, and Q, O in fp32. */
    const double kv = 2.0 * 10 * 8 * 64 * 2, e_da = (kv * (O * P + O * (O + 1) / 2) + O * 10 * 2 * 512 * 4.0) * jb_at;
    expect_near(r.joules[JB_PREFILL_MATMUL], e_pm, 1e-12, "prefill matmul J");
    expect_near(r.joules[JB_PREFILL_ATTENTION], e_pa, 1e-12, "prefill attention J");
    expect_near(r.joules[JB_DECODE_MATMUL], e_dm, 1e-12, "decode matmul J");
    expect_near(r.joules[JB_DECODE_ATTENTION], e_da, 1e-12, "decode attention J");
    expect_near(r.facility_joules_per_request, 1.1 * (e_pm + e_pa + e_dm + e_da), 1e-12, "J per request");
    expect_near(r.facility_joules_per_output_token, r.facility_joules_per_request / O, 1e-15, "J per output token");

    /* --matmul f32: the decode matmul reads the f32 m:1 row; w4 is never chosen for training. */
    static jb_infer_result f;
    assert_int_equal(jb_infer_run(res, &m, &s, "f32", NULL, 1.0, 1.1, &f, msg, sizeof msg), JB_OK);
    assert_string_equal(f.pick[JB_DECODE_MATMUL].row.kernel, "matmul/cpu/blocked/f32");
    assert_true(f.facility_joules_per_request > r.facility_joules_per_request);
    jb_class_pick tp;
    assert_int_equal(jb_project_pick(res, &m, "matmul", NULL, &tp, msg, sizeof msg), JB_OK);
    assert_string_equal(tp.kernel, "matmul/cpu/blocked/f32");
    /* --attention flash has no q < n row: the naive one stands in for decode, and a note says so. */
    assert_int_equal(jb_infer_run(res, &m, &s, NULL, "flash", 1.0, 1.1, &f, msg, sizeof msg), JB_OK);
    assert_int_equal(f.nnotes, 1);
    assert_non_null(strstr(f.notes[0], "decode attention: no verified row of variant 'flash'"));
    /* A variant with no row at all is bad input. */
    assert_int_equal(jb_infer_run(res, &m, &s, NULL, "onednn", 1.0, 1.1, &f, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "no verified attention row of variant 'onednn'"));
    /* What-ifs: each kernel of a class, once, in name order. */
    char ks[8][96];
    assert_int_equal(jb_infer_kernels(res, &m, &s, 0, ks, 8), 2);
    assert_string_equal(ks[0], "matmul/cpu/blocked/f32");
    assert_string_equal(ks[1], "matmul/cpu/blocked/w4");
    cJSON_Delete(res);

    /* Without decode rows (the training file): rows of the other kind stand in, each named in a note. */
    res = cJSON_Parse(crafted);
    assert_non_null(res);
    assert_int_equal(jb_infer_run(res, &m, &s, NULL, NULL, 1.0, 1.1, &f, msg, sizeof msg), JB_OK);
    assert_false(f.pick[JB_DECODE_ATTENTION].per_byte);
    assert_true(f.pick[JB_DECODE_ATTENTION].stands_in);
    int seen_at = 0;
    for (int i = 0; i < f.nnotes; i++)
        seen_at |= strstr(f.notes[i], "decode attention: no KV-cache row (q < n) was measured") != NULL;
    assert_true(seen_at);
    /* The 64x64 matmul row is memory-bound-sized: it is read in J/B for decode (m = 1 is nearest). */
    assert_string_equal(f.pick[JB_DECODE_MATMUL].row.row, "matmul/cpu/blocked/f32/m:64/n:64/k:64");
    assert_true(f.pick[JB_DECODE_MATMUL].per_byte && !f.pick[JB_DECODE_MATMUL].stands_in);
    cJSON_Delete(res);
}

static void test_lifecycle(void **state)
{
    (void)state;
    jb_lifecycle l;
    jb_lifecycle_of(2000.0, 1e6, 365, 36.0, 0.385, &l);
    expect_near(l.kwh_per_day, 1e6 * 2000 / 3.6e6, 1e-15, "kWh per day");
    expect_near(l.tco2e_per_year, l.kwh_per_day * 365 / 1000 * 0.385, 1e-15, "tCO2e per year");
    expect_near(l.inference_mwh, l.kwh_per_day * 365 / 1000, 1e-15, "inference MWh");
    assert_true(l.total_mwh == l.training_mwh + l.inference_mwh);
    expect_near(l.total_tco2e, l.total_mwh * 0.385, 1e-15, "total tCO2e");
    /* After breakeven_requests, serving has used what training did. */
    expect_near(l.breakeven_requests * 2000.0, 36.0 * 3.6e9, 1e-15, "breakeven");
    jb_lifecycle_of(2000.0, 1e6, l.breakeven_requests / 1e6, 36.0, 0.385, &l);
    expect_near(l.inference_mwh, l.training_mwh, 1e-12, "serving = training at breakeven");
}

static void test_published_serving(void **state)
{
    (void)state;
    static jb_published_serving p[32];
    char msg[512];
    int n = jb_published_serving_load(p, 32, msg, sizeof msg);
    if (n < 0)
        fail_msg("%s", msg);
    assert_true(n >= 4);
    const jb_published_serving *ml = NULL, *gem = NULL;
    for (int i = 0; i < n; i++) {
        assert_true(p[i].joules_per_request > 0 && p[i].source[0]);
        if (!strcmp(p[i].id, "mlenergy-llama-7b-a100"))
            ml = &p[i];
        if (!strcmp(p[i].id, "google-gemini-apps-2025"))
            gem = &p[i];
    }
    assert_non_null(ml);
    assert_non_null(gem);
    /* ML.ENERGY, LLaMA 7B on an A100 at batch 1: 345.37 J over 65.85 tokens (GPU only). */
    assert_true(ml->joules_per_request == 345.37 && ml->output_tokens == 65.85 && !ml->facility);
    jb_serving s = JB_SERVING_DEFAULTS;
    expect_near(jb_published_serving_joules(ml, &s, 1.0, 1.1), 345.37 / 65.85 * 256 * 1.1, 1e-12, "per token x O");
    /* Gemini Apps: 0.24 Wh for the median prompt, a facility figure, no token count. */
    assert_true(gem->joules_per_request == 0.24 * 3600 && gem->facility && isnan(gem->output_tokens));
    assert_true(jb_published_serving_joules(gem, &s, 1.0, 1.1) == 864);
    /* Bad tables. */
    assert_int_equal(jb_published_serving_parse("id,model\n", p, 32, msg, sizeof msg), JB_EPARSE);
    const char *head = "id,model,hardware,batch,joules_per_request,output_tokens,boundary,facility,source\n";
    char t[1024];
    snprintf(t, sizeof t, "%sa,m,h,1,-3,10,b,no,s\n", head);
    assert_int_equal(jb_published_serving_parse(t, p, 32, msg, sizeof msg), JB_EPARSE);
    snprintf(t, sizeof t, "%sa,m,h,1,3,10,b,maybe,s\n", head);
    assert_int_equal(jb_published_serving_parse(t, p, 32, msg, sizeof msg), JB_EPARSE);
    snprintf(t, sizeof t, "%sa,m,h,1,3,10,b,no,s\na,m,h,1,3,10,b,no,s\n", head);
    assert_int_equal(jb_published_serving_parse(t, p, 32, msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "twice"));
    snprintf(t, sizeof t, "%sa,\"m, with a comma\",h,,3,,b,yes,s\n", head);
    assert_int_equal(jb_published_serving_parse(t, p, 32, msg, sizeof msg), 1);
    assert_string_equal(p[0].model, "m, with a comma");
    assert_true(isnan(p[0].batch) && isnan(p[0].output_tokens) && p[0].facility);
}

static void test_cli_serving(void **state)
{
    (void)state;
    char dir[] = "/tmp/jb_serve_XXXXXX", path[256], args[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.json", dir);
    FILE *f = fopen(path, "w");
    fputs(crafted_serving, f);
    fclose(f);

    snprintf(args, sizeof args, "project --model gpt2-124m --inference --prompt 500 --output 24 --results %s "
                                "--requests 1000 --per hour --days 30 --region FRA --json", path);
    assert_int_equal(jb("%s", args), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *in = cJSON_GetObjectItem(j, "inference"), *lc = cJSON_GetObjectItem(j, "lifecycle");
    static const char *const ikeys[] = {"flop_per_request", "flop_per_output_token", "kv_cache_bytes_per_token",
                                        "joules_per_request", "joules_per_output_token", "kwh_per_day",
                                        "tco2e_per_year"};
    for (size_t i = 0; i < sizeof ikeys / sizeof ikeys[0]; i++) {
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(in, ikeys[i])));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(in, "formulas"), ikeys[i])));
    }
    static const char *const lkeys[] = {"training_mwh", "inference_mwh", "total_mwh", "total_tco2e",
                                        "breakeven_requests"};
    for (size_t i = 0; i < sizeof lkeys / sizeof lkeys[0]; i++) {
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(lc, lkeys[i])));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(lc, "formulas"), lkeys[i])));
    }
#define NUM(o, k) cJSON_GetObjectItem(o, k)->valuedouble
    /* GPT-2: 12 heads of 64, fp16 cache. */
    assert_true(NUM(in, "kv_cache_bytes_per_token") == 2.0 * 12 * 12 * 64 * 2);
    /* 1000 an hour is 24,000 a day. */
    expect_near(NUM(in, "kwh_per_day"), 24000 * NUM(in, "joules_per_request") / 3.6e6, 1e-12, "kWh per day");
    expect_near(NUM(lc, "inference_mwh"), NUM(in, "kwh_per_day") * 30 / 1000, 1e-12, "inference MWh");
    expect_near(NUM(lc, "total_mwh"), NUM(lc, "training_mwh") + NUM(lc, "inference_mwh"), 1e-12, "total MWh");
    expect_near(NUM(lc, "total_tco2e"), NUM(lc, "total_mwh") * 0.056, 1e-9, "total tCO2e");
    expect_near(NUM(lc, "breakeven_requests") * NUM(in, "joules_per_request"), NUM(lc, "training_mwh") * 3.6e9, 1e-12,
                "breakeven");
    /* Each phase names its row and how it was read. */
    cJSON *ph = cJSON_GetObjectItem(in, "phases");
    assert_int_equal(cJSON_GetArraySize(ph), 4);
    cJSON *dm = cJSON_GetArrayItem(ph, JB_DECODE_MATMUL);
    assert_string_equal(cJSON_GetObjectItem(dm, "phase")->valuestring, "decode matmul");
    assert_string_equal(cJSON_GetObjectItem(dm, "reading")->valuestring, "joules_per_byte");
    assert_string_equal(cJSON_GetObjectItem(dm, "row")->valuestring, "matmul/cpu/blocked/w4/m:1/n:2048/k:512");
#undef NUM
    cJSON_Delete(j);
    /* Text: every output named, a published figure next to the kernels'. */
    snprintf(args, sizeof args, "project --model llama-7b --inference --results %s --requests 1e6 "
                                "--published mlenergy-llama-7b-a100", path);
    assert_int_equal(jb("%s", args), 0);
    static const char *const words[] = {"joules_per_request", "joules_per_output_token", "kwh_per_day",
                                        "tco2e_per_year", "breakeven_requests", "total_tco2e",
                                        "the kernel estimate is", "what if", "saves"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strstr(out, words[i]))
            fail_msg("no '%s' in: %s", words[i], out);
    assert_int_equal(jb("project --model llama-7b --inference --published list"), 0);
    assert_non_null(strstr(out, "google-gemini-apps-2025"));
    assert_int_equal(jb("project --model llama-7b --inference --published list --json"), 0);
    j = cJSON_Parse(out);
    assert_true(cJSON_IsArray(j) && cJSON_GetArraySize(j) >= 4);
    cJSON_Delete(j);
    /* The published method alone. */
    assert_int_equal(jb("project --model llama-7b --inference --published google-gemini-apps-2025 --requests 1e6 "
                        "--intensity 0.1 --json"), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "method")->valuestring, "published");
    in = cJSON_GetObjectItem(j, "inference");
    assert_true(cJSON_GetObjectItem(in, "joules_per_request")->valuedouble == 864);
    expect_near(cJSON_GetObjectItem(in, "kwh_per_day")->valuedouble, 240, 1e-12, "Gemini kWh per day");
    cJSON_Delete(j);

    /* Bad input: exit 2, one line. */
    expect_usage_error("project --inference", "--model");
    expect_usage_error("project --model llama-7b --inference --prompt -5", "--prompt");
    expect_usage_error("project --model llama-7b --inference --output -1", "--output");
    expect_usage_error("project --model llama-7b --inference --batch 0", "--batch");
    expect_usage_error("project --model llama-7b --inference --requests 10 --per week", "--per takes day or hour");
    expect_usage_error("project --model llama-7b --inference --per day", "--per needs --requests");
    expect_usage_error("project --model llama-7b --inference --requests -3", "--requests");
    expect_usage_error("project --model llama-7b --prompt 100", "--prompt needs --inference");
    expect_usage_error("project --model llama-7b --inference --prompt 2000 --output 100", "context of 2048");
    expect_usage_error("project --model bert-large --inference", "--output 0");
    assert_int_equal(jb("project --model bert-large --inference --output 0 --prompt 128"), 0);
    expect_usage_error("project --model llama-7b --inference --chips 8", "--chips");
    expect_usage_error("project --model llama-7b --inference --published nosuch", "unknown published figure");
    expect_usage_error("project --model llama-7b --inference --matmul w4", "--results");
    snprintf(args, sizeof args, "project --model llama-7b --inference --results %s --attention onednn", path);
    expect_usage_error(args, "no verified attention row of variant 'onednn'");
    snprintf(args, sizeof args, "rm -rf %s", dir);
    assert_int_equal(system(args), 0);
}

/* The report's serving section: the best kernels, then each one, w4 included; training's list has no w4. */
static void test_report_serving(void **state)
{
    (void)state;
    cJSON *res = cJSON_Parse(crafted_serving);
    assert_non_null(res);
    jb_model m;
    char msg[512];
    assert_int_equal(jb_model_load("gpt2-124m", &m, msg, sizeof msg), JB_OK);
    const char *paths[] = {"r.json"};
    const cJSON *docs[] = {res};
    cJSON *page = jb_report_data(paths, docs, 1, &m, msg, sizeof msg);
    if (!page)
        fail_msg("%s", msg);
    cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(page, "files"), 0);
    cJSON *in = cJSON_GetObjectItem(f, "inference"), *d = cJSON_GetObjectItem(in, "default");
    assert_true(cJSON_IsObject(d));
    jb_serving s = JB_SERVING_DEFAULTS;
    static jb_infer_result r;
    assert_int_equal(jb_infer_run(res, &m, &s, NULL, NULL, 1.0, 1.1, &r, msg, sizeof msg), JB_OK);
    expect_near(cJSON_GetObjectItem(d, "joules_per_request")->valuedouble, r.facility_joules_per_request, 1e-12,
                "report J per request");
    expect_near(cJSON_GetObjectItem(d, "kwh_per_year")->valuedouble,
                r.facility_joules_per_request * JB_REPORT_REQUESTS_PER_DAY * 365 / 3.6e6, 1e-12, "report kWh per year");
    int w4_serving = 0, w4_training = 0;
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(in, "variants"))
        w4_serving |= !strcmp(cJSON_GetObjectItem(v, "kernel")->valuestring, "matmul/cpu/blocked/w4");
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(cJSON_GetObjectItem(f, "projection"), "variants"))
        w4_training |= !strcmp(cJSON_GetObjectItem(v, "kernel")->valuestring, "matmul/cpu/blocked/w4");
    assert_true(w4_serving && !w4_training);
    cJSON_Delete(page);
    cJSON_Delete(res);
}

/* The bytes a row's J/B is taken over match how the model's bytes are counted:
 * a weight-only matmul at its stored size, an attention row per element of
 * the cache (fp32-equivalent) whatever the kernel stores, since the model's
 * cache is counted at --kv-bytes for every kernel. */
static void test_row_bytes(void **state)
{
    (void)state;
    jb_class_pick mm = {.kernel = "matmul/cpu/blocked/w4", .problem = {.op = JB_OP_MATMUL, .m = 1, .n = 4096, .k = 4096}};
    assert_true(jb_row_min_bytes(&mm) == jb_kernel_min_bytes(jb_registry_find(mm.kernel), &mm.problem));
    assert_true(jb_row_min_bytes(&mm) < jb_problem_min_bytes(&mm.problem) / 5);
    jb_class_pick at = {.kernel = "attention/cpu/splitkv/int8",
                        .problem = {.op = JB_OP_ATTENTION, .b = 1, .h = 32, .q = 1, .seq = 512, .d = 128, .causal = 1}};
    assert_true(jb_row_min_bytes(&at) == jb_problem_min_bytes(&at.problem));
    snprintf(at.kernel, sizeof at.kernel, "attention/cpu/splitkv/f32");
    assert_true(jb_row_min_bytes(&at) == jb_problem_min_bytes(&at.problem));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_table), cmocka_unit_test(test_flop_totals),
        cmocka_unit_test(test_method1), cmocka_unit_test(test_cli),
        cmocka_unit_test(test_kv_and_specs), cmocka_unit_test(test_serving_work),
        cmocka_unit_test(test_serving_method1), cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_published_serving), cmocka_unit_test(test_cli_serving),
        cmocka_unit_test(test_report_serving),     cmocka_unit_test(test_row_bytes),
    };
    return cmocka_run_group_tests_name("project", tests, NULL, NULL);
}
