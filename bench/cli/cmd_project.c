/* `joulebench project`: projected training energy, CO2 and time of a named
 * model from measured kernel efficiency (method 1), or the published
 * chips x days x watts method (method 2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "util/files.h"
#include "analysis/project.h"
#include "harness/results.h"
#include "analysis/samples.h"
#include "cli/project_serve.h"

static void help(void)
{
    printf(
        "usage: joulebench project --model NAME|FILE [--results FILE] [--region ISO3 | --intensity KG]\n"
        "                          [--pue P] [--host-overhead H] [--attention VARIANT] [--matmul VARIANT]\n"
        "                          [--devices N] [--json]\n"
        "       joulebench project (--chips N --days D | --gpu-hours H) --watts W [--pue P]\n"
        "                          [--region ISO3 | --intensity KG] [--json]\n"
        "       joulebench project --model NAME|FILE --inference [--prompt P] [--output O] [--batch B]\n"
        "                          [--requests N [--per day|hour]] [--days D] [--kv-bytes K]\n"
        "                          [--results FILE [--matmul V] [--attention V]] [--published ID|list]\n"
        "                          [--region ISO3 | --intensity KG] [--pue P] [--host-overhead H] [--json]\n\n"
        "Method 1 (from kernels): training FLOPs of the model by kernel class (weight matmuls\n"
        "6*N*D; attention 12*layers*heads*head_dim*seq per token, halved when causal; softmax\n"
        "elements, which every attention kernel already includes), each divided by the FLOP/J\n"
        "of a row of a `joulebench run` results file: by default the best verified variant at\n"
        "the measured shape nearest the model's (--attention/--matmul choose one, e.g. flash,\n"
        "flash/f32 or attention/cpu/flash/f32). Facility energy = device energy x host\n"
        "overhead (default 1.0) x PUE (default 1.1); CO2 = energy x grid intensity.\n"
        "Method 2 (published): MWh = chips x days x 24 x W x PUE / 1e6 (Patterson et al. 2021)\n"
        "or GPU-hours x W x PUE / 1e6 (Touvron et al. 2023); tCO2e = MWh x kg/kWh.\n\n"
        "Serving (--inference, docs/inference.md): a request is P prompt tokens (default 512)\n"
        "and O generated ones (default 256), B requests at a time (default 1). Prefill: weight\n"
        "matmuls 2*Nmm*P and causal attention over P; decode: O steps of 2*Nmm matmul FLOPs and\n"
        "4*layers*d_attn*c attention FLOPs over the context c (Nmm: the weights in matmuls).\n"
        "Each phase uses the row nearest its shape (decode: matmul m = B, attention q < n\n"
        "first), read in FLOP/J, or in J per byte for memory-bound rows (m or q <= 64) times\n"
        "the bytes the phase moves (weights once per step, the KV cache at --kv-bytes, default\n"
        "2: fp16); a row that stands in for another kind is named in a note. --requests N\n"
        "--per day|hour gives kWh per day and tCO2e per year; with --results, the lifecycle:\n"
        "training + serving over --days (default 365) and the requests after which serving has\n"
        "used as much energy as training. --published ID uses a published serving figure\n"
        "(configs/published_inference_energy.csv; --published list shows them), alone or next\n"
        "to the kernel estimate.\n\n"
        "--region ISO3 uses configs/grid (gCO2e/kWh by country, with its year); --intensity\n"
        "takes kg/kWh; the default is the world average 0.475 kg/kWh (IEA 2019).\n"
        "Models: gpt2-124m bert-large gpt3-175b llama-7b llama-13b llama-33b llama-65b llama2-70b,\n"
        "or a .json of yours with the same fields (configs/models/README.md).\n"
        "exit: 0 ok, 2 bad input (unknown model or region, bad numbers, no usable row)\n");
}

typedef struct opts {
    const char *model, *results, *region, *attention, *matmul;
    double intensity, pue, host, devices, chips, days, gpu_hours, watts;
    int json;
    /* serving */
    int inference;
    const char *per, *published, *serving_opt; /* serving_opt: the first serving option given */
    double prompt, output, batch, requests, kv_bytes;
} opts;

static const char *const whatif_regions[] = {"SWE", "FRA", "USA", "DEU", "CHN", "IND", "POL"};

static void parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->pue = 1.1;
    o->host = 1.0;
    o->intensity = -1;
    o->prompt = o->output = o->batch = o->requests = o->kv_bytes = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            exit(JB_EXIT_OK);
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--inference")) {
            o->inference = 1;
            continue;
        }
        static const char *const with_value[] = {"--model",  "--results", "--region", "--intensity", "--pue",
                                                 "--host-overhead", "--attention", "--matmul", "--devices",
                                                 "--chips", "--days", "--gpu-hours", "--watts", "--prompt",
                                                 "--output", "--batch", "--requests", "--per", "--kv-bytes",
                                                 "--published"};
        size_t j;
        for (j = 0; j < sizeof with_value / sizeof with_value[0] && strcmp(a, with_value[j]); j++)
            ;
        if (j == sizeof with_value / sizeof with_value[0])
            jb_cli_usage_error("project: unknown option '%s' (try --help)", a);
        if (i + 1 >= argc)
            jb_cli_usage_error("project: %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--results")) o->results = v;
        else if (!strcmp(a, "--region")) o->region = v;
        else if (!strcmp(a, "--attention")) o->attention = v;
        else if (!strcmp(a, "--matmul")) o->matmul = v;
        else if (!strcmp(a, "--intensity")) o->intensity = jb_cli_double(a, v, 0, 10);
        else if (!strcmp(a, "--pue")) o->pue = jb_cli_double(a, v, 1.0, 10);
        else if (!strcmp(a, "--host-overhead")) o->host = jb_cli_double(a, v, 1.0, 100);
        else if (!strcmp(a, "--devices")) o->devices = (double)jb_cli_int(a, v, 1, 100000000);
        else if (!strcmp(a, "--chips")) o->chips = jb_cli_double(a, v, 1e-9, 1e9);
        else if (!strcmp(a, "--days")) o->days = jb_cli_double(a, v, 1e-9, 1e6);
        else if (!strcmp(a, "--gpu-hours")) o->gpu_hours = jb_cli_double(a, v, 1e-9, 1e12);
        else if (!strcmp(a, "--watts")) o->watts = jb_cli_double(a, v, 1e-9, 1e7);
        else {
            if (!o->serving_opt)
                o->serving_opt = a;
            if (!strcmp(a, "--prompt")) o->prompt = (double)jb_cli_int(a, v, 1, 10000000);
            else if (!strcmp(a, "--output")) o->output = (double)jb_cli_int(a, v, 0, 10000000);
            else if (!strcmp(a, "--batch")) o->batch = (double)jb_cli_int(a, v, 1, 1000000);
            else if (!strcmp(a, "--requests")) o->requests = jb_cli_double(a, v, 1e-6, 1e15);
            else if (!strcmp(a, "--kv-bytes")) o->kv_bytes = jb_cli_double(a, v, 0.125, 8);
            else if (!strcmp(a, "--published")) o->published = v;
            else if (strcmp(v, "day") && strcmp(v, "hour"))
                jb_cli_usage_error("project: --per takes day or hour, not '%.40s'", v);
            else
                o->per = v;
        }
    }
    if (o->region && o->intensity >= 0)
        jb_cli_usage_error("project: give --region or --intensity, not both");
}

/* Grid intensity in kg/kWh with a description of where it came from. */
static double intensity_of(const opts *o, char *desc, size_t len)
{
    if (o->intensity >= 0) {
        snprintf(desc, len, "%.3f kg/kWh (given)", o->intensity);
        return o->intensity;
    }
    if (!o->region) {
        snprintf(desc, len, "%.3f kg/kWh (world average, IEA 2019: no --region given)", JB_WORLD_KG_PER_KWH);
        return JB_WORLD_KG_PER_KWH;
    }
    double kg;
    int year;
    char country[128], msg[512];
    if (jb_grid_intensity(o->region, &kg, &year, country, sizeof country, msg, sizeof msg))
        jb_cli_usage_error("project: %s", msg);
    snprintf(desc, len, "%.3f kg/kWh (%s, %d)", kg, country, year);
    return kg;
}

static int published(const opts *o)
{
    if (o->watts <= 0)
        jb_cli_usage_error("project: the published method needs --watts W per chip");
    if (o->gpu_hours > 0 && (o->chips > 0 || o->days > 0))
        jb_cli_usage_error("project: give --gpu-hours, or --chips and --days, not both");
    if (!(o->gpu_hours > 0) && !(o->chips > 0 && o->days > 0))
        jb_cli_usage_error("project: the published method needs --chips N --days D, or --gpu-hours H");
    char idesc[256];
    double kg = intensity_of(o, idesc, sizeof idesc);
    double mwh = o->gpu_hours > 0 ? jb_published_mwh_gpu_hours(o->gpu_hours, o->watts, o->pue)
                                  : jb_published_mwh_chips(o->chips, o->days, o->watts, o->pue);
    double t = mwh * kg;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "method", "published");
        if (o->gpu_hours > 0)
            cJSON_AddNumberToObject(j, "gpu_hours", o->gpu_hours);
        else {
            cJSON_AddNumberToObject(j, "chips", o->chips);
            cJSON_AddNumberToObject(j, "days", o->days);
        }
        cJSON_AddNumberToObject(j, "watts_per_chip", o->watts);
        cJSON_AddNumberToObject(j, "pue", o->pue);
        cJSON_AddNumberToObject(j, "kg_per_kwh", kg);
        cJSON_AddNumberToObject(j, "mwh", mwh);
        cJSON_AddNumberToObject(j, "tco2e", t);
        jb_json_print(stdout, j);
        cJSON_Delete(j);
        return JB_EXIT_OK;
    }
    if (o->gpu_hours > 0)
        printf("published method: %.6g GPU-hours x %.4g W x PUE %.3g\n", o->gpu_hours, o->watts, o->pue);
    else
        printf("published method: %.6g chips x %.4g days x 24 h x %.4g W x PUE %.3g\n", o->chips, o->days, o->watts,
               o->pue);
    printf("  energy      %10.1f MWh\n  grid        %s\n  CO2         %10.1f tCO2e\n", mwh, idesc, t);
    return JB_EXIT_OK;
}

static cJSON *pick_json(const char *cls, const jb_class_pick *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "class", cls);
    cJSON_AddStringToObject(o, "kernel", p->kernel);
    cJSON_AddStringToObject(o, "row", p->row);
    cJSON_AddNumberToObject(o, "flop_per_j", p->flop_per_j);
    cJSON_AddNumberToObject(o, "flop_per_s", p->flop_per_s);
    cJSON_AddStringToObject(o, "energy", p->measured ? "measured" : "estimated");
    return o;
}

/* --inference: checks what only serving takes, then hands over to cmd_project_infer.c. */
static int serving(const opts *o)
{
    if (o->chips > 0 || o->gpu_hours > 0 || o->watts > 0)
        jb_cli_usage_error("project: --chips/--gpu-hours/--watts belong to the published training method, not to "
                           "--inference (--published ID takes a published serving figure)");
    if (o->devices > 0)
        jb_cli_usage_error("project: --devices belongs to the training projection, not to --inference");
    if (!o->model)
        jb_cli_usage_error("project: --inference needs --model NAME");
    if (o->per && !(o->requests > 0))
        jb_cli_usage_error("project: --per needs --requests N");
    if ((o->matmul || o->attention) && !o->results)
        jb_cli_usage_error("project: --attention/--matmul need --results FILE from joulebench run");
    jb_serve_opts so = {.model = o->model, .results = o->results, .matmul = o->matmul, .attention = o->attention,
                        .published = o->published, .s = JB_SERVING_DEFAULTS, .per = o->per ? o->per : "day",
                        .days = o->days > 0 ? o->days : 365, .host = o->host, .pue = o->pue, .json = o->json};
    if (o->prompt > 0) so.s.prompt = o->prompt;
    if (o->output >= 0) so.s.output = o->output;
    if (o->batch > 0) so.s.batch = o->batch;
    if (o->kv_bytes > 0) so.s.kv_bytes = o->kv_bytes;
    if (o->requests > 0) {
        so.requests_given = o->requests;
        so.requests_per_day = o->requests * (!strcmp(so.per, "hour") ? 24 : 1);
    }
    char idesc[256];
    so.kg = intensity_of(o, idesc, sizeof idesc);
    so.grid = idesc;
    return jb_project_serve(&so);
}

cJSON *jb_project_read_results(const char *path, int *rc, char *msg, size_t len)
{
    cJSON *res = jb_results_read(path, msg, len);
    if (!res)
        jb_cli_usage_error("project: %s", msg);
    jb_bench_set check;
    jb_bench_set_init(&check);
    *rc = jb_bench_set_from_json(res, &check, msg, len);
    jb_bench_set_free(&check);
    if (*rc == JB_ENOMEM)
        jb_cli_oom("project");
    return res;
}

int jb_cmd_project(int argc, char **argv)
{
    opts o;
    parse(argc, argv, &o);
    if (o.inference)
        return serving(&o);
    if (o.serving_opt)
        jb_cli_usage_error("project: %s needs --inference (the serving projection)", o.serving_opt);
    int published_method = o.chips > 0 || o.days > 0 || o.gpu_hours > 0 || o.watts > 0;
    if (published_method) {
        if (o.model || o.results || o.attention || o.matmul || o.devices > 0)
            jb_cli_usage_error("project: two methods at once: --model/--results/--attention/--matmul/--devices "
                               "belong to the kernel method, --chips/--days/--gpu-hours/--watts to the published "
                               "one (run them as two commands)");
        return published(&o);
    }
    if (!o.model)
        jb_cli_usage_error("project: --model NAME is required (or --chips/--days/--gpu-hours with --watts)");
    char msg[512];
    jb_model m;
    if (jb_model_load(o.model, &m, msg, sizeof msg))
        jb_cli_usage_error("project: %s", msg);
    char idesc[256];
    double kg = intensity_of(&o, idesc, sizeof idesc);
    jb_train_work w;
    jb_train_work_of(&m, &w);

    cJSON *res = NULL;
    jb_project_result pj = {0};
    jb_class_pick vars[32];
    int nv = 0;
    if (o.results) {
        /* Everything that can be wrong with the results is found before anything is printed. */
        int rc;
        res = jb_project_read_results(o.results, &rc, msg, sizeof msg);
        if (!rc)
            rc = jb_project_run(res, &m, o.matmul, o.attention, o.host, o.pue, kg, &pj, msg, sizeof msg);
        nv = rc ? 0 : jb_project_variants(res, &m, "attention", vars, 32);
        for (int i = 0; i < nv && !rc; i++) {
            jb_projection q;
            jb_project_energy(&w, &pj.mm, &vars[i], NULL, o.host, o.pue, kg, &q);
            if (!jb_projection_finite(&q)) {
                snprintf(msg, sizeof msg, "the projection of %s is out of range (over 1e30 MWh) with row %s (%.3g FLOP/J)",
                         m.name, vars[i].row, vars[i].flop_per_j);
                rc = JB_EINVAL;
            }
        }
        if (rc) {
            cJSON_Delete(res);
            jb_cli_usage_error("project: %s: %s", o.results, msg);
        }
    } else if (o.attention || o.matmul || o.devices > 0) {
        jb_cli_usage_error("project: --attention/--matmul/--devices need --results FILE from joulebench run");
    }
    const jb_class_pick mm = pj.mm, at = pj.at, sm = pj.sm;
    const int have_sm = pj.have_sm;
    const jb_projection pr = pj.pr;

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "method", "kernels");
    cJSON *jm = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(jm, "name", m.name);
    cJSON_AddNumberToObject(jm, "params", m.params);
    cJSON_AddNumberToObject(jm, "tokens", m.tokens);
    cJSON_AddBoolToObject(jm, "causal", m.causal);
    cJSON_AddStringToObject(jm, "source", m.source);
    cJSON *jw = cJSON_AddObjectToObject(j, "training_work");
    cJSON_AddNumberToObject(jw, "matmul_flops", w.matmul_flops);
    cJSON_AddNumberToObject(jw, "attention_flops", w.attention_flops);
    cJSON_AddNumberToObject(jw, "softmax_elements", w.softmax_elements);
    cJSON_AddNumberToObject(jw, "total_flops", w.total_flops);

    if (!o.json) {
        printf("model %s: %.4g parameters, %.4g training tokens, %s\n", m.name, m.params, m.tokens,
               m.causal ? "causal (decoder)" : "bidirectional (encoder)");
        printf("training work, forward + backward\n");
        printf("  weight matmuls  6*N*D                            %11.4g FLOP\n", w.matmul_flops);
        printf("  attention       12*layers*heads*head_dim*seq%s %11.4g FLOP\n", m.causal ? "/2" : "  ",
               w.attention_flops);
        printf("  softmax         3*layers*heads*seq%s per token   %11.4g elements (inside the attention kernels)\n",
               m.causal ? "/2" : "  ", w.softmax_elements);
        printf("  total                                            %11.4g FLOP\n", w.total_flops);
    }
    if (!res) {
        if (o.json) {
            jb_json_print(stdout, j);
        } else {
            printf("(give --results FILE from `joulebench run` for energy, CO2 and time)\n");
        }
        cJSON_Delete(j);
        return JB_EXIT_OK;
    }

    int all_measured = pj.all_measured;
    cJSON *picks = cJSON_AddArrayToObject(j, "kernels");
    cJSON_AddItemToArray(picks, pick_json("matmul", &mm));
    cJSON_AddItemToArray(picks, pick_json("attention", &at));
    if (have_sm)
        cJSON_AddItemToArray(picks, pick_json("softmax", &sm));
    cJSON *jp = cJSON_AddObjectToObject(j, "projection");
    cJSON_AddStringToObject(jp, "energy", all_measured ? "measured" : "estimated");
    cJSON_AddNumberToObject(jp, "host_overhead", o.host);
    cJSON_AddNumberToObject(jp, "pue", o.pue);
    cJSON_AddNumberToObject(jp, "kg_per_kwh", kg);
    cJSON_AddStringToObject(jp, "grid", idesc);
    cJSON_AddNumberToObject(jp, "device_mwh", pr.mwh_device);
    cJSON_AddNumberToObject(jp, "facility_mwh", pr.mwh_facility);
    cJSON_AddNumberToObject(jp, "tco2e", pr.tco2e);
    cJSON_AddNumberToObject(jp, "matmul_mwh", pr.matmul_joules / 3.6e9);
    cJSON_AddNumberToObject(jp, "attention_mwh", pr.attention_joules / 3.6e9);
    if (o.devices > 0 && isfinite(pr.seconds)) {
        cJSON_AddNumberToObject(jp, "devices", o.devices);
        cJSON_AddNumberToObject(jp, "days", pr.seconds / o.devices / 86400);
    }

    if (!o.json) {
        printf("kernels from %s (each the median of its row)\n", o.results);
        const jb_class_pick *ps[] = {&mm, &at, have_sm ? &sm : NULL};
        const char *cls[] = {"matmul", "attention", "softmax"};
        for (int i = 0; i < 3; i++)
            if (ps[i])
                printf("  %-9s %-26s %10.3f GFLOP/J %-9s  row %s\n", cls[i], ps[i]->kernel, ps[i]->flop_per_j / 1e9,
                       ps[i]->measured ? "measured" : "estimated", ps[i]->row);
        printf("projection (energy %s; host overhead %.3g, PUE %.3g)\n", all_measured ? "measured" : "ESTIMATED",
               o.host, o.pue);
        printf("  device energy    %12.4g MWh  (matmul %.4g + attention %.4g)\n", pr.mwh_device,
               pr.matmul_joules / 3.6e9, pr.attention_joules / 3.6e9);
        if (have_sm)
            printf("  softmax alone    %12.4g MWh  (already inside attention; not added)\n", pr.softmax_joules / 3.6e9);
        printf("  facility energy  %12.4g MWh\n", pr.mwh_facility);
        printf("  grid             %s\n", idesc);
        printf("  CO2              %12.4g tCO2e\n", pr.tco2e);
        if (o.devices > 0 && isfinite(pr.seconds))
            printf("  time             %12.4g days on %.0f devices like this one (from measured FLOP/s)\n",
                   pr.seconds / o.devices / 86400, o.devices);
    }

    /* What if: every attention variant measured at the same shape, and a few regions. */
    cJSON *wa = cJSON_AddArrayToObject(j, "what_if_attention");
    if (!o.json && nv)
        printf("what if: attention variant (matmul %s)\n", mm.kernel);
    double naive_mwh = NAN, naive_t = NAN;
    for (int i = 0; i < nv; i++)
        if (strstr(vars[i].kernel, "/naive/")) {
            jb_projection q;
            jb_project_energy(&w, &mm, &vars[i], NULL, o.host, o.pue, kg, &q);
            naive_mwh = q.mwh_facility;
            naive_t = q.tco2e;
        }
    for (int i = 0; i < nv; i++) {
        jb_projection q;
        jb_project_energy(&w, &mm, &vars[i], NULL, o.host, o.pue, kg, &q);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "kernel", vars[i].kernel);
        cJSON_AddNumberToObject(x, "facility_mwh", q.mwh_facility);
        cJSON_AddNumberToObject(x, "tco2e", q.tco2e);
        if (!isnan(naive_mwh)) {
            cJSON_AddNumberToObject(x, "saves_mwh_vs_naive", naive_mwh - q.mwh_facility);
            cJSON_AddNumberToObject(x, "saves_tco2e_vs_naive", naive_t - q.tco2e);
        }
        cJSON_AddItemToArray(wa, x);
        if (!o.json) {
            printf("  %-28s %12.4g MWh %12.4g tCO2e", vars[i].kernel, q.mwh_facility, q.tco2e);
            if (!isnan(naive_mwh) && !strstr(vars[i].kernel, "/naive/"))
                printf("   saves %.4g MWh, %.4g tCO2e vs naive", naive_mwh - q.mwh_facility, naive_t - q.tco2e);
            printf("\n");
        }
    }
    cJSON *wr = cJSON_AddArrayToObject(j, "what_if_region");
    if (!o.json)
        printf("what if: region (same energy)\n");
    for (size_t i = 0; i < sizeof whatif_regions / sizeof whatif_regions[0]; i++) {
        double rkg;
        int year;
        char country[128];
        if (jb_grid_intensity(whatif_regions[i], &rkg, &year, country, sizeof country, msg, sizeof msg))
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "region", whatif_regions[i]);
        cJSON_AddNumberToObject(x, "kg_per_kwh", rkg);
        cJSON_AddNumberToObject(x, "year", year);
        cJSON_AddNumberToObject(x, "tco2e", pr.mwh_facility * rkg);
        cJSON_AddItemToArray(wr, x);
        if (!o.json)
            printf("  %s %-16s %.3f kg/kWh (%d) %12.4g tCO2e\n", whatif_regions[i], country, rkg, year,
                   pr.mwh_facility * rkg);
    }
    if (!o.json && !all_measured)
        printf("note: energy is ESTIMATED (model meter) for at least one kernel: no RAPL or NVML counter was read.\n");
    if (o.json) {
        jb_json_print(stdout, j);
    }
    cJSON_Delete(j);
    cJSON_Delete(res);
    return JB_EXIT_OK;
}
