/* `joulebench project --inference`: the energy and CO2 of serving a model,
 * from measured kernels (method 1) or published serving figures (method 2),
 * next to its training (lifecycle). cmd_project.c parses and checks the
 * options; everything that can be wrong with the files is found here before
 * anything is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "analysis/samples.h"
#include "cli/cli.h"
#include "cli/project_serve.h"
#include "harness/results.h"
#include "util/files.h"

#define MAX_PUBLISHED 64
#define MAX_WHATIF 32

static const char *const formulas[][2] = {
    {"flop_per_request", "2*Nmm*P + 4*layers*d_attn*P^2 (/2 causal) + 2*Nmm*O + 4*layers*d_attn*sum(c, c=P+1..P+O)"},
    {"flop_per_output_token", "(2*Nmm*O + 4*layers*d_attn*(O*P + O*(O+1)/2)) / O"},
    {"kv_cache_bytes_per_token", "2*layers*kv_heads*head_dim*kv_bytes"},
    {"joules_per_request", "sum over phases (FLOPs / (FLOP/J) of its row, or bytes * J/B of a memory-bound row) "
                           "* host_overhead * PUE"},
    {"joules_per_output_token", "joules_per_request / O"},
    {"kwh_per_day", "requests_per_day * joules_per_request / 3.6e6"},
    {"tco2e_per_year", "kwh_per_day * 365 / 1000 * kg_per_kwh"},
    {"training_mwh", "the training projection: facility MWh (joulebench project without --inference)"},
    {"inference_mwh", "kwh_per_day * days / 1000"},
    {"total_mwh", "training_mwh + inference_mwh"},
    {"total_tco2e", "total_mwh * kg_per_kwh"},
    {"breakeven_requests", "training_mwh * 3.6e9 / joules_per_request"},
};

/* A number, or null when it is not defined (NaN: no output tokens, no traffic). */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void print_published_list(const jb_published_serving *p, int n, int json)
{
    if (json) {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", p[i].id);
            cJSON_AddStringToObject(x, "model", p[i].model);
            cJSON_AddStringToObject(x, "hardware", p[i].hardware);
            add_num(x, "batch", p[i].batch);
            cJSON_AddNumberToObject(x, "joules_per_request", p[i].joules_per_request);
            add_num(x, "output_tokens", p[i].output_tokens);
            cJSON_AddStringToObject(x, "boundary", p[i].boundary);
            cJSON_AddBoolToObject(x, "facility", p[i].facility);
            cJSON_AddStringToObject(x, "source", p[i].source);
            cJSON_AddItemToArray(a, x);
        }
        jb_json_print(stdout, a);
        cJSON_Delete(a);
        return;
    }
    printf("published serving energy (configs/published_inference_energy.csv)\n");
    for (int i = 0; i < n; i++) {
        printf("  %-34s %-34s %10.4g J/request", p[i].id, p[i].model, p[i].joules_per_request);
        if (p[i].output_tokens > 0)
            printf(" over %.4g output tokens (%.4g J/token)", p[i].output_tokens,
                   p[i].joules_per_request / p[i].output_tokens);
        printf("\n      %s; %s\n      %s\n", p[i].hardware, p[i].boundary, p[i].source);
    }
}

/* One what-if line: serving with kernel k for its class. */
typedef struct whatif {
    int cls;
    char kernel[96];
    int ok;
    double jreq;
    char via[320];   /* phases served by another kernel (no row of this one there) */
    char error[512];
} whatif;

static const whatif *find_whatif(const whatif *w, int n, const char *kernel)
{
    for (int i = 0; i < n; i++)
        if (w[i].ok && !strcmp(w[i].kernel, kernel))
            return &w[i];
    return NULL;
}

/* The f32 kernel of the same op/backend/variant as a w8/w4 one: what quantizing its weights saves against. */
static void full_precision_of(const char *kernel, char *out, size_t len)
{
    const char *d = strrchr(kernel, '/');
    snprintf(out, len, "%.*s/f32", d ? (int)(d - kernel) : 0, kernel);
}

int jb_project_serve(const jb_serve_opts *o)
{
    char msg[1024];
    jb_model m;
    if (jb_model_load(o->model, &m, msg, sizeof msg))
        jb_cli_usage_error("project: %s", msg);
    const jb_serving *s = &o->s;
    if (!m.causal && s->output > 0)
        jb_cli_usage_error("project: %s is bidirectional (an encoder): it generates no tokens; give --output 0 to "
                           "project one forward pass per request", m.name);
    if (s->prompt + s->output > m.seq_len)
        jb_cli_usage_error("project: --prompt %.0f + --output %.0f = %.0f tokens is more than %s's context of %.0f",
                           s->prompt, s->output, s->prompt + s->output, m.name, m.seq_len);

    static jb_published_serving pubs[MAX_PUBLISHED];
    const jb_published_serving *pub = NULL;
    if (o->published) {
        int np = jb_published_serving_load(pubs, MAX_PUBLISHED, msg, sizeof msg);
        if (np < 0)
            jb_cli_usage_error("project: %s", msg);
        if (!strcmp(o->published, "list")) {
            print_published_list(pubs, np, o->json);
            return JB_EXIT_OK;
        }
        for (int i = 0; i < np && !pub; i++)
            if (!strcmp(pubs[i].id, o->published))
                pub = &pubs[i];
        if (!pub)
            jb_cli_usage_error("project: unknown published figure '%.60s' (--published list shows them)", o->published);
    }

    jb_infer_work w;
    jb_infer_work_of(&m, s, &w);
    cJSON *res = NULL;
    static jb_infer_result r, wr;
    jb_project_result train = {0};
    int have_train = 0;
    char train_why[512] = "";
    static whatif wi[MAX_WHATIF];
    int nwi = 0;
    if (o->results) {
        int rc;
        res = jb_project_read_results(o->results, &rc, msg, sizeof msg);
        if (!rc)
            rc = jb_infer_run(res, &m, s, o->matmul, o->attention, o->host, o->pue, &r, msg, sizeof msg);
        if (rc) {
            cJSON_Delete(res);
            jb_cli_usage_error("project: %s: %s", o->results, msg);
        }
        /* Training with the best verified kernels at its own shapes: --matmul/--attention choose serving's. */
        have_train = jb_project_run(res, &m, NULL, NULL, o->host, o->pue, o->kg, &train, train_why,
                                    sizeof train_why) == JB_OK;
        for (int cls = 0; cls < 2; cls++) {
            char ks[MAX_WHATIF][96];
            int nk = jb_infer_kernels(res, &m, s, cls, ks, MAX_WHATIF - nwi);
            for (int i = 0; i < nk; i++) {
                whatif *x = &wi[nwi++];
                x->cls = cls;
                memcpy(x->kernel, ks[i], sizeof x->kernel);
                x->ok = jb_infer_run(res, &m, s, cls ? o->matmul : ks[i], cls ? ks[i] : o->attention, o->host, o->pue,
                                     &wr, x->error, sizeof x->error) == JB_OK;
                x->jreq = x->ok ? wr.facility_joules_per_request : NAN;
                for (int p = 0; x->ok && p < JB_PHASES; p++)
                    if (wr.pick[p].used && wr.pick[p].other_variant) {
                        size_t used = strlen(x->via);
                        snprintf(x->via + used, sizeof x->via - used, "%s%s by %s", used ? ", " : "", jb_phase_name(p),
                                 wr.pick[p].row.kernel);
                    }
            }
        }
    }
    const double jpub = pub ? jb_published_serving_joules(pub, s, o->host, o->pue) : NAN;
    /* The figure the daily, yearly and lifecycle lines use: the kernels', else the published one. */
    const double jreq = res ? r.facility_joules_per_request : jpub;
    jb_lifecycle lc;
    jb_lifecycle_of(jreq, o->requests_per_day, o->days, have_train ? train.pr.mwh_facility : NAN, o->kg, &lc);
    const int traffic = o->requests_per_day > 0;

    /* ---- JSON ---- */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "method", res ? "kernels" : pub ? "published" : "work only");
    cJSON *jm = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(jm, "name", m.name);
    cJSON_AddNumberToObject(jm, "params", m.params);
    cJSON_AddNumberToObject(jm, "matmul_params", w.matmul_params);
    cJSON_AddNumberToObject(jm, "layers", m.layers);
    cJSON_AddNumberToObject(jm, "heads", m.heads);
    cJSON_AddNumberToObject(jm, "kv_heads", m.kv_heads > 0 ? m.kv_heads : m.heads);
    cJSON_AddNumberToObject(jm, "head_dim", m.head_dim);
    cJSON_AddBoolToObject(jm, "causal", m.causal);
    cJSON_AddBoolToObject(jm, "tied_embeddings", m.tied_embeddings);
    cJSON_AddStringToObject(jm, "source", m.source);
    cJSON *js = cJSON_AddObjectToObject(j, "serving");
    cJSON_AddNumberToObject(js, "prompt_tokens", s->prompt);
    cJSON_AddNumberToObject(js, "output_tokens", s->output);
    cJSON_AddNumberToObject(js, "batch", s->batch);
    cJSON_AddNumberToObject(js, "kv_bytes", s->kv_bytes);
    add_num(js, "requests_per_day", traffic ? o->requests_per_day : NAN);
    cJSON_AddNumberToObject(js, "days", o->days);
    cJSON_AddNumberToObject(js, "host_overhead", o->host);
    cJSON_AddNumberToObject(js, "pue", o->pue);
    cJSON_AddNumberToObject(js, "kg_per_kwh", o->kg);
    cJSON_AddStringToObject(js, "grid", o->grid);

    cJSON *ji = cJSON_AddObjectToObject(j, "inference");
    cJSON_AddNumberToObject(ji, "flop_per_request", w.flop_per_request);
    add_num(ji, "flop_per_output_token", w.flop_per_output_token);
    cJSON_AddNumberToObject(ji, "kv_cache_bytes_per_token", w.kv_cache_bytes_per_token);
    add_num(ji, "joules_per_request", jreq);
    add_num(ji, "joules_per_output_token", s->output > 0 ? jreq / s->output : NAN);
    add_num(ji, "kwh_per_day", traffic ? lc.kwh_per_day : NAN);
    add_num(ji, "tco2e_per_year", traffic ? lc.tco2e_per_year : NAN);
    if (res) {
        cJSON_AddStringToObject(ji, "energy", r.all_measured ? "measured" : "estimated");
        cJSON_AddNumberToObject(ji, "device_joules_per_request", r.device_joules_per_request);
    } else if (pub) {
        cJSON_AddStringToObject(ji, "energy", "published");
    }
    cJSON *jw = cJSON_AddObjectToObject(ji, "work");
    cJSON_AddNumberToObject(jw, "prefill_matmul_flops", w.prefill_matmul_flops);
    cJSON_AddNumberToObject(jw, "prefill_attention_flops", w.prefill_attention_flops);
    cJSON_AddNumberToObject(jw, "decode_matmul_flops", w.decode_matmul_flops);
    cJSON_AddNumberToObject(jw, "decode_attention_flops", w.decode_attention_flops);
    cJSON_AddNumberToObject(jw, "decode_attention_bytes", w.decode_attention_bytes);
    cJSON *jf = cJSON_AddObjectToObject(ji, "formulas");
    for (size_t i = 0; i < 7; i++)
        cJSON_AddStringToObject(jf, formulas[i][0], formulas[i][1]);
    if (res) {
        cJSON *ph = cJSON_AddArrayToObject(ji, "phases");
        for (int p = 0; p < JB_PHASES; p++) {
            const jb_infer_pick *k = &r.pick[p];
            if (!k->used)
                continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "phase", jb_phase_name(p));
            cJSON_AddStringToObject(x, "kernel", k->row.kernel);
            cJSON_AddStringToObject(x, "row", k->row.row);
            cJSON_AddStringToObject(x, "reading", k->per_byte ? "joules_per_byte" : "flop_per_j");
            cJSON_AddNumberToObject(x, "flop_per_j", k->row.flop_per_j);
            add_num(x, "joules_per_byte", k->joules_per_byte);
            cJSON_AddNumberToObject(x, k->per_byte ? "bytes" : "flops", r.work[p]);
            cJSON_AddNumberToObject(x, "device_joules", r.joules[p]);
            cJSON_AddStringToObject(x, "energy", k->row.measured ? "measured" : "estimated");
            cJSON_AddBoolToObject(x, "stands_in", k->stands_in || k->other_variant);
            cJSON_AddItemToArray(ph, x);
        }
        cJSON *nt = cJSON_AddArrayToObject(ji, "notes");
        for (int i = 0; i < r.nnotes; i++)
            cJSON_AddItemToArray(nt, cJSON_CreateString(r.notes[i]));
    }
    if (pub) {
        cJSON *jp = cJSON_AddObjectToObject(j, "published");
        cJSON_AddStringToObject(jp, "id", pub->id);
        cJSON_AddStringToObject(jp, "model", pub->model);
        cJSON_AddStringToObject(jp, "hardware", pub->hardware);
        cJSON_AddStringToObject(jp, "boundary", pub->boundary);
        cJSON_AddStringToObject(jp, "source", pub->source);
        cJSON_AddNumberToObject(jp, "joules_per_request_published", pub->joules_per_request);
        add_num(jp, "output_tokens_published", pub->output_tokens);
        cJSON_AddNumberToObject(jp, "joules_per_request", jpub);
        add_num(jp, "joules_per_output_token", pub->output_tokens > 0 && s->output > 0 ? jpub / s->output : NAN);
        add_num(jp, "kwh_per_day", traffic ? o->requests_per_day * jpub / 3.6e6 : NAN);
        add_num(jp, "tco2e_per_year", traffic ? o->requests_per_day * jpub / 3.6e6 * 365 / 1000 * o->kg : NAN);
        const char *pf = pub->output_tokens > 0 ? "published J / published output tokens * O"
                                                : "published J per request";
        char pfs[160];
        snprintf(pfs, sizeof pfs, "%s%s", pf, pub->facility ? "" : " * host_overhead * PUE");
        cJSON_AddStringToObject(jp, "joules_per_request_formula", pfs);
        if (res)
            add_num(jp, "kernels_over_published", r.facility_joules_per_request / jpub);
    }
    cJSON *jl = cJSON_AddObjectToObject(j, "lifecycle");
    const int have_lc = traffic && have_train && isfinite(jreq);
    add_num(jl, "training_mwh", have_train ? lc.training_mwh : NAN);
    add_num(jl, "inference_mwh", have_lc ? lc.inference_mwh : NAN);
    add_num(jl, "total_mwh", have_lc ? lc.total_mwh : NAN);
    add_num(jl, "total_tco2e", have_lc ? lc.total_tco2e : NAN);
    add_num(jl, "breakeven_requests", have_train && isfinite(jreq) ? lc.breakeven_requests : NAN);
    add_num(jl, "breakeven_days", have_train && isfinite(jreq) && traffic ? lc.breakeven_requests / o->requests_per_day
                                                                           : NAN);
    cJSON_AddNumberToObject(jl, "days", o->days);
    if (have_train)
        cJSON_AddStringToObject(jl, "training_energy", train.all_measured ? "measured" : "estimated");
    else
        cJSON_AddStringToObject(jl, "why_not", res ? train_why : "no --results: no training projection");
    cJSON *jlf = cJSON_AddObjectToObject(jl, "formulas");
    for (size_t i = 7; i < sizeof formulas / sizeof formulas[0]; i++)
        cJSON_AddStringToObject(jlf, formulas[i][0], formulas[i][1]);
    cJSON *jv = cJSON_AddArrayToObject(j, "what_if_serving");
    const whatif *naive[2] = {find_whatif(wi, nwi, "matmul/cpu/naive/f32"),
                              find_whatif(wi, nwi, "attention/cpu/naive/f32")};
    for (int i = 0; i < nwi; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "class", wi[i].cls ? "attention" : "matmul");
        cJSON_AddStringToObject(x, "kernel", wi[i].kernel);
        add_num(x, "joules_per_request", wi[i].jreq);
        add_num(x, "joules_per_1000_output_tokens", s->output > 0 ? wi[i].jreq / s->output * 1000 : NAN);
        add_num(x, "kwh_per_year", traffic ? wi[i].jreq * o->requests_per_day * 365 / 3.6e6 : NAN);
        add_num(x, "tco2e_per_year", traffic ? wi[i].jreq * o->requests_per_day * 365 / 3.6e9 * o->kg : NAN);
        if (wi[i].via[0])
            cJSON_AddStringToObject(x, "stands_in", wi[i].via);
        if (!wi[i].ok)
            cJSON_AddStringToObject(x, "error", wi[i].error);
        cJSON_AddItemToArray(jv, x);
    }

    if (o->json) {
        jb_json_print(stdout, j);
        cJSON_Delete(j);
        cJSON_Delete(res);
        return JB_EXIT_OK;
    }
    cJSON_Delete(j);

    /* ---- Text ---- */
    const char *half = m.causal ? "/2" : "  ";
    printf("model %s: %.4g parameters, %.4g in matmuls (%s), %s\n", m.name, m.params, w.matmul_params,
           m.tied_embeddings ? "params: the output layer reuses the embedding" : "params - vocab*d_model",
           m.causal ? "causal (decoder)" : "bidirectional (encoder)");
    printf("serving: prompt P = %.0f + output O = %.0f tokens per request, batch B = %.0f, KV cache at %g bytes per "
           "element%s\n", s->prompt, s->output, s->batch, s->kv_bytes, s->kv_bytes == 2 ? " (fp16, the default)" : "");
    printf("work per request (Nmm = %.4g weights in matmuls, d_attn = heads*head_dim = %.0f)\n", w.matmul_params,
           m.heads * m.head_dim);
    printf("  prefill matmuls    2*Nmm*P                                   %11.4g FLOP\n", w.prefill_matmul_flops);
    printf("  prefill attention  4*layers*d_attn*P^2%s                      %11.4g FLOP (training's term, forward)\n",
           half, w.prefill_attention_flops);
    printf("  decode matmuls     2*Nmm*O                                   %11.4g FLOP\n", w.decode_matmul_flops);
    printf("  decode attention   4*layers*d_attn*sum(c, c=P+1..P+O)        %11.4g FLOP (q = 1 over the cache)\n",
           w.decode_attention_flops);
    printf("  flop_per_request                                             %11.4g FLOP\n", w.flop_per_request);
    if (s->output > 0)
        printf("  flop_per_output_token  decode FLOPs / O                      %11.4g FLOP\n", w.flop_per_output_token);
    printf("  kv_cache_bytes_per_token  2*layers*kv_heads(%.0f)*head_dim*%g     %11.4g B (%.4g MiB at the full "
           "context of %.0f)\n", m.kv_heads > 0 ? m.kv_heads : m.heads, s->kv_bytes, w.kv_cache_bytes_per_token,
           w.kv_cache_bytes_per_token * (s->prompt + s->output) / 1048576.0, s->prompt + s->output);
    if (res) {
        printf("kernels from %s (each the median of its row; memory-bound rows read in joules per byte)\n", o->results);
        for (int p = 0; p < JB_PHASES; p++) {
            const jb_infer_pick *k = &r.pick[p];
            if (!k->used)
                continue;
            if (k->per_byte)
                printf("  %-17s %-26s %10.4g J/B     %-9s row %s\n", jb_phase_name(p), k->row.kernel,
                       k->joules_per_byte, k->row.measured ? "measured" : "estimated", k->row.row);
            else
                printf("  %-17s %-26s %10.4g GFLOP/J %-9s row %s\n", jb_phase_name(p), k->row.kernel,
                       k->row.flop_per_j / 1e9, k->row.measured ? "measured" : "estimated", k->row.row);
        }
        printf("energy per request (%s; host overhead %.3g, PUE %.3g)\n", r.all_measured ? "measured" : "ESTIMATED",
               o->host, o->pue);
        for (int p = 0; p < JB_PHASES; p++) {
            const jb_infer_pick *k = &r.pick[p];
            if (!k->used)
                continue;
            if (k->per_byte)
                printf("  %-17s %11.4g J = %.4g B x %.4g J/B\n", jb_phase_name(p), r.joules[p], r.work[p],
                       k->joules_per_byte);
            else
                printf("  %-17s %11.4g J = %.4g FLOP / %.4g FLOP/J\n", jb_phase_name(p), r.joules[p], r.work[p],
                       k->row.flop_per_j);
        }
        printf("  device            %11.4g J\n", r.device_joules_per_request);
        printf("  joules_per_request       %11.4g J   device x host overhead x PUE\n", r.facility_joules_per_request);
        if (s->output > 0)
            printf("  joules_per_output_token  %11.4g J   joules_per_request / O\n",
                   r.facility_joules_per_output_token);
    }
    if (pub) {
        printf("published: %s (%s): %.4g J per request", pub->id, pub->model, pub->joules_per_request);
        if (pub->output_tokens > 0)
            printf(" over %.4g output tokens = %.4g J per output token", pub->output_tokens,
                   pub->joules_per_request / pub->output_tokens);
        printf("\n  %s; %s\n  source: %s\n", pub->hardware, pub->boundary, pub->source);
        printf("  for this request: %.4g J%s%s\n", jpub,
               pub->output_tokens > 0 ? " (per output token x O" : " (as published",
               pub->facility ? ", already a facility figure)" : ", x host overhead x PUE)");
        if (res)
            printf("  the kernel estimate is %.3g x the published figure\n", r.facility_joules_per_request / jpub);
    }
    if (!res && !pub)
        printf("(give --results FILE from `joulebench run`, or --published ID (--published list), for energy)\n");
    if (isfinite(jreq)) {
        if (traffic) {
            printf("traffic: %.6g requests per %s = %.6g per day; grid %s\n", o->requests_given, o->per,
                   o->requests_per_day, o->grid);
            printf("  kwh_per_day     %12.4g kWh    requests_per_day x J/request / 3.6e6%s\n", lc.kwh_per_day,
                   res ? "" : " (published)");
            printf("  tco2e_per_year  %12.4g tCO2e  kWh/day x 365 / 1000 x kg/kWh\n", lc.tco2e_per_year);
        } else {
            printf("(give --requests N --per day|hour for daily and yearly energy and the lifecycle)\n");
        }
    }
    if (have_train) {
        printf("lifecycle (training: the best verified kernels at the training shapes, %s energy)\n",
               train.all_measured ? "measured" : "ESTIMATED");
        printf("  training_mwh        %12.4g MWh\n", lc.training_mwh);
        if (have_lc) {
            printf("  inference_mwh       %12.4g MWh    over %.6g days\n", lc.inference_mwh, o->days);
            printf("  total_mwh           %12.4g MWh\n", lc.total_mwh);
            printf("  total_tco2e         %12.4g tCO2e\n", lc.total_tco2e);
        }
        printf("  breakeven_requests  %12.4g        serving has used as much energy as training",
               lc.breakeven_requests);
        if (traffic)
            printf(" (after %.4g days)", lc.breakeven_requests / o->requests_per_day);
        printf("\n");
    } else if (res) {
        printf("lifecycle: no training projection: %s\n", train_why);
    }
    if (nwi) {
        printf("what if: serving with each kernel measured (the other class at its best)%s\n",
               traffic ? "; per year at this traffic" : "");
        for (int i = 0; i < nwi; i++) {
            const whatif *x = &wi[i];
            if (!x->ok) {
                printf("  %-28s not available: %s\n", x->kernel, x->error);
                continue;
            }
            printf("  %-28s %10.4g J/request", x->kernel, x->jreq);
            if (s->output > 0)
                printf(" %10.4g J/1000 output tokens", x->jreq / s->output * 1000);
            if (traffic) {
                double kwh = x->jreq * o->requests_per_day * 365 / 3.6e6;
                printf(" %10.4g kWh/year %9.4g tCO2e/year", kwh, kwh / 1000 * o->kg);
                char fp[128];
                full_precision_of(x->kernel, fp, sizeof fp);
                const whatif *ref = jb_kernel_weight_only(x->kernel) ? find_whatif(wi, nwi, fp) : naive[x->cls];
                if (ref && ref != x) {
                    double save = (ref->jreq - x->jreq) * o->requests_per_day * 365 / 3.6e6;
                    printf("  saves %.4g kWh, %.4g tCO2e per year vs %s", save, save / 1000 * o->kg, ref->kernel);
                }
            }
            printf("\n");
            if (x->via[0])
                printf("  %-28s (%s: no row of this kernel there)\n", "", x->via);
        }
    }
    for (int i = 0; res && i < r.nnotes; i++)
        printf("note: %s\n", r.notes[i]);
    if (res && (!r.all_measured || (have_train && !train.all_measured)))
        printf("note: energy is ESTIMATED (model meter) for at least one kernel: no RAPL or NVML counter was read.\n");
    if (pub && strcmp(pub->model, m.name))
        printf("note: the published figure is for %s, not %s\n", pub->model, m.name);
    cJSON_Delete(res);
    return JB_EXIT_OK;
}
