/* The data of a report page, from checked results files (report_data.h). */
#include "analysis/report_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/project_infer.h"
#include "analysis/samples.h"
#include "analysis/stats.h"
#include "harness/results.h"
#include "jb_kernels.h"

/* The figures a page row shows, in its order. */
static const char *const figures[] = {"flop_per_s",         "flop_per_j",          "intensity",
                                      "bytes_per_s",        "watts",               "energy_measured",
                                      "flop_per_s_ci95_low", "flop_per_s_ci95_high", "flop_per_j_ci95_low",
                                      "flop_per_j_ci95_high", "speedup",             "speedup_ci95_low",
                                      "speedup_ci95_high",  "ci_halfwidth_pct",    "converged"};
#define NFIG (sizeof figures / sizeof figures[0])

/* One benchmark row being gathered. */
typedef struct page_row {
    cJSON *o;                  /* the page's row object */
    int have_median;
    jb_samples reps[NFIG];     /* per figure, the repetitions' values (used without a median) */
} page_row;

typedef struct gather {
    page_row *rows;
    size_t n, cap;
} gather;

static page_row *row_of(gather *g, const jb_result_row *r)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(cJSON_GetObjectItem(g->rows[i].o, "name")->valuestring, r->run_name))
            return &g->rows[i];
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 32;
        page_row *p = realloc(g->rows, g->cap * sizeof *p);
        if (!p)
            return NULL;
        g->rows = p;
    }
    page_row *p = &g->rows[g->n];
    memset(p, 0, sizeof *p);
    if (!(p->o = cJSON_CreateObject()))
        return NULL;
    g->n++;
    /* kernel = op/backend/variant/dtype; the page groups by variant (backend/variant/dtype) and shape. */
    const char *slash = strchr(r->kernel, '/');
    char shape[160] = "";
    if (r->have_problem)
        jb_problem_format(&r->problem, shape, sizeof shape);
    else if (strlen(r->run_name) > strlen(r->kernel) + 1)
        snprintf(shape, sizeof shape, "%s", r->run_name + strlen(r->kernel) + 1);
    char op[32];
    snprintf(op, sizeof op, "%.*s", slash ? (int)(slash - r->kernel) : (int)strlen(r->kernel), r->kernel);
    cJSON_AddStringToObject(p->o, "name", r->run_name);
    cJSON_AddStringToObject(p->o, "op", op);
    cJSON_AddStringToObject(p->o, "kernel", r->kernel);
    cJSON_AddStringToObject(p->o, "variant", slash ? slash + 1 : r->kernel);
    cJSON_AddStringToObject(p->o, "shape", shape);
    cJSON_AddNullToObject(p->o, "error");
    return p;
}

static int gather_row(const jb_result_row *r, void *arg)
{
    gather *g = arg;
    page_row *p = row_of(g, r);
    if (!p)
        return JB_ENOMEM;
    if (r->error) {
        if (cJSON_IsNull(cJSON_GetObjectItem(p->o, "error")))
            cJSON_ReplaceItemInObject(p->o, "error", cJSON_CreateString(r->error));
        return JB_OK;
    }
    /* Whose roof the row sits under (results.h: none said is fp32 FMA). */
    if (r->peak_family && !cJSON_GetObjectItem(p->o, "peak_family"))
        cJSON_AddStringToObject(p->o, "peak_family", r->peak_family);
    if (r->path && !cJSON_GetObjectItem(p->o, "path"))
        cJSON_AddStringToObject(p->o, "path", r->path);
    if (r->aggregate) {
        if (strcmp(r->aggregate_name, "median"))
            return JB_OK;
        p->have_median = 1;
        if (r->reference && !cJSON_GetObjectItem(p->o, "reference"))
            cJSON_AddStringToObject(p->o, "reference", r->reference);
        cJSON_DeleteItemFromObject(p->o, "time_ns");
        cJSON_AddNumberToObject(p->o, "time_ns", r->time_ns);
        for (size_t i = 0; i < NFIG; i++) {
            double v = jb_result_counter(r, figures[i]);
            cJSON_DeleteItemFromObject(p->o, figures[i]);
            if (isnan(v))
                cJSON_AddNullToObject(p->o, figures[i]);
            else
                cJSON_AddNumberToObject(p->o, figures[i], v);
        }
        return JB_OK;
    }
    for (size_t i = 0; i < NFIG; i++) {
        double v = jb_result_counter(r, figures[i]);
        if (!isnan(v) && jb_samples_add(&p->reps[i], v))
            return JB_ENOMEM;
    }
    return JB_OK;
}

/* Rows without a median aggregate get the median of their repetitions. */
static void finish_rows(gather *g, cJSON *rows)
{
    for (size_t k = 0; k < g->n; k++) {
        page_row *p = &g->rows[k];
        for (size_t i = 0; i < NFIG; i++) {
            if (!p->have_median) {
                double v = jb_median(p->reps[i].v, p->reps[i].n);
                if (isnan(v))
                    cJSON_AddNullToObject(p->o, figures[i]);
                else
                    cJSON_AddNumberToObject(p->o, figures[i], v);
            }
            free(p->reps[i].v);
        }
        cJSON_AddItemToArray(rows, p->o);
    }
    free(g->rows);
}

/* The context keys the page shows, copied as they are. */
static cJSON *page_context(const cJSON *ctx)
{
    static const char *const keys[] = {"date", "git_commit", "threads", "meter", "energy", "peak_flop_per_s",
                                       "peak_bytes_per_s", "peak_families", "suite", "warnings", "host_name",
                                       "cpu_model", "gpu"};
    cJSON *c = cJSON_CreateObject();
    for (size_t i = 0; c && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, keys[i]);
        if (v)
            cJSON_AddItemToObject(c, keys[i], cJSON_Duplicate(v, 1));
    }
    return c;
}

static const char *ctx_str(const cJSON *ctx, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : dflt;
}

/* With a model: the projection with the best kernels, then with each attention
 * and matmul kernel measured (the other class at its best). */
static cJSON *page_projection(const cJSON *doc, const jb_model *m, const cJSON *rows)
{
    const double host = 1.0, pue = 1.1, kg = JB_WORLD_KG_PER_KWH; /* joulebench project's defaults */
    cJSON *e = cJSON_CreateObject();
    jb_project_result pj;
    char msg[512];
    if (jb_project_run(doc, m, NULL, NULL, host, pue, kg, &pj, msg, sizeof msg)) {
        cJSON_AddNullToObject(e, "default");
        cJSON_AddStringToObject(e, "error", msg);
        cJSON_AddArrayToObject(e, "variants");
        return e;
    }
    cJSON *d = cJSON_AddObjectToObject(e, "default");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(d, "model"), "name", m->name);
    cJSON *p = cJSON_AddObjectToObject(d, "projection");
    cJSON_AddNumberToObject(p, "facility_mwh", pj.pr.mwh_facility);
    cJSON_AddNumberToObject(p, "tco2e", pj.pr.tco2e);
    cJSON_AddStringToObject(p, "energy", pj.all_measured ? "measured" : "estimated");
    cJSON_AddNumberToObject(p, "host_overhead", host);
    cJSON_AddNumberToObject(p, "pue", pue);
    char grid[96];
    snprintf(grid, sizeof grid, "%.3f kg/kWh (world average, IEA 2019: no --region given)", kg);
    cJSON_AddStringToObject(p, "grid", grid);
    cJSON_AddNullToObject(e, "error");
    cJSON *vs = cJSON_AddArrayToObject(e, "variants");
    /* Each attention and matmul kernel with a timed row, in name order. */
    const char *kernels[256];
    size_t nk = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *op = cJSON_GetObjectItem(r, "op")->valuestring, *k = cJSON_GetObjectItem(r, "kernel")->valuestring;
        if (!cJSON_IsNull(cJSON_GetObjectItem(r, "error")) || (strcmp(op, "attention") && strcmp(op, "matmul")) ||
            jb_kernel_weight_only(k))
            continue; /* w8/w4 serve, never train: the serving section shows them */
        size_t i;
        for (i = 0; i < nk && strcmp(kernels[i], k); i++)
            ;
        if (i == nk && nk < 256)
            kernels[nk++] = k;
    }
    for (size_t i = 1; i < nk; i++) /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && strcmp(kernels[j - 1], kernels[j]) > 0; j--) {
            const char *t = kernels[j];
            kernels[j] = kernels[j - 1];
            kernels[j - 1] = t;
        }
    for (size_t i = 0; i < nk; i++) {
        int attention = !strncmp(kernels[i], "attention/", 10);
        jb_project_result q;
        int rc = jb_project_run(doc, m, attention ? NULL : kernels[i], attention ? kernels[i] : NULL, host, pue, kg,
                                &q, msg, sizeof msg);
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "class", attention ? "attention" : "matmul");
        cJSON_AddStringToObject(v, "kernel", kernels[i]);
        if (rc) {
            cJSON_AddNullToObject(v, "row");
            cJSON_AddNullToObject(v, "facility_mwh");
            cJSON_AddNullToObject(v, "tco2e");
            cJSON_AddStringToObject(v, "energy", "?");
            cJSON_AddStringToObject(v, "error", msg);
        } else {
            cJSON_AddStringToObject(v, "row", attention ? q.at.row : q.mm.row);
            cJSON_AddNumberToObject(v, "facility_mwh", q.pr.mwh_facility);
            cJSON_AddNumberToObject(v, "tco2e", q.pr.tco2e);
            cJSON_AddStringToObject(v, "energy", q.all_measured ? "measured" : "estimated");
            cJSON_AddNullToObject(v, "error");
        }
        cJSON_AddItemToArray(vs, v);
    }
    return e;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* With a model: the serving projection with the best kernels, then with each
 * attention and matmul kernel measured at a serving shape. */
static cJSON *page_inference(const cJSON *doc, const jb_model *m)
{
    const double host = 1.0, pue = 1.1, kg = JB_WORLD_KG_PER_KWH, per_day = JB_REPORT_REQUESTS_PER_DAY;
    jb_serving s = JB_SERVING_DEFAULTS;
    if (!m->causal)
        s.output = 0; /* an encoder generates nothing: one forward pass per request */
    if (s.prompt + s.output > m->seq_len) {
        s.prompt = m->seq_len > s.output ? m->seq_len - s.output : m->seq_len;
        s.output = m->seq_len - s.prompt;
    }
    cJSON *e = cJSON_CreateObject();
    cJSON *sv = cJSON_AddObjectToObject(e, "serving");
    cJSON_AddNumberToObject(sv, "prompt", s.prompt);
    cJSON_AddNumberToObject(sv, "output", s.output);
    cJSON_AddNumberToObject(sv, "batch", s.batch);
    cJSON_AddNumberToObject(sv, "kv_bytes", s.kv_bytes);
    cJSON_AddNumberToObject(sv, "requests_per_day", per_day);
    cJSON_AddNumberToObject(sv, "host_overhead", host);
    cJSON_AddNumberToObject(sv, "pue", pue);
    char grid[96];
    snprintf(grid, sizeof grid, "%.3f kg/kWh (world average, IEA 2019: no --region given)", kg);
    cJSON_AddStringToObject(sv, "grid", grid);
    static jb_infer_result r;
    char msg[512];
    if (jb_infer_run(doc, m, &s, NULL, NULL, host, pue, &r, msg, sizeof msg)) {
        cJSON_AddNullToObject(e, "default");
        cJSON_AddStringToObject(e, "error", msg);
        cJSON_AddArrayToObject(e, "variants");
        return e;
    }
    const double year = per_day * 365 / 3.6e6; /* kWh per year per joule of a request */
    cJSON *d = cJSON_AddObjectToObject(e, "default");
    cJSON_AddNumberToObject(d, "joules_per_request", r.facility_joules_per_request);
    add_num(d, "joules_per_output_token", r.facility_joules_per_output_token);
    cJSON_AddNumberToObject(d, "kwh_per_year", r.facility_joules_per_request * year);
    cJSON_AddNumberToObject(d, "tco2e_per_year", r.facility_joules_per_request * year / 1000 * kg);
    cJSON_AddStringToObject(d, "energy", r.all_measured ? "measured" : "estimated");
    cJSON *ph = cJSON_AddArrayToObject(d, "phases");
    for (int p = 0; p < JB_PHASES; p++) {
        if (!r.pick[p].used)
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "phase", jb_phase_name(p));
        cJSON_AddStringToObject(x, "kernel", r.pick[p].row.kernel);
        cJSON_AddStringToObject(x, "row", r.pick[p].row.row);
        cJSON_AddStringToObject(x, "reading", r.pick[p].per_byte ? "J/B" : "FLOP/J");
        cJSON_AddItemToArray(ph, x);
    }
    cJSON *nt = cJSON_AddArrayToObject(d, "notes");
    for (int i = 0; i < r.nnotes; i++)
        cJSON_AddItemToArray(nt, cJSON_CreateString(r.notes[i]));
    cJSON_AddNullToObject(e, "error");
    cJSON *vs = cJSON_AddArrayToObject(e, "variants");
    for (int cls = 0; cls < 2; cls++) {
        char ks[32][96];
        int nk = jb_infer_kernels(doc, m, &s, cls, ks, 32);
        for (int i = 0; i < nk; i++) {
            static jb_infer_result q;
            int rc = jb_infer_run(doc, m, &s, cls ? NULL : ks[i], cls ? ks[i] : NULL, host, pue, &q, msg, sizeof msg);
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "class", cls ? "attention" : "matmul");
            cJSON_AddStringToObject(v, "kernel", ks[i]);
            double j = rc ? NAN : q.facility_joules_per_request;
            add_num(v, "joules_per_request", j);
            add_num(v, "joules_per_1000_output_tokens", s.output > 0 ? j / s.output * 1000 : NAN);
            add_num(v, "kwh_per_year", j * year);
            add_num(v, "tco2e_per_year", j * year / 1000 * kg);
            cJSON_AddStringToObject(v, "energy", rc ? "?" : q.all_measured ? "measured" : "estimated");
            char via[320] = "";
            for (int p = 0; !rc && p < JB_PHASES; p++)
                if (q.pick[p].used && q.pick[p].other_variant) {
                    size_t used = strlen(via);
                    snprintf(via + used, sizeof via - used, "%s%s by %s", used ? ", " : "", jb_phase_name(p),
                             q.pick[p].row.kernel);
                }
            if (via[0])
                cJSON_AddStringToObject(v, "stands_in", via);
            else
                cJSON_AddNullToObject(v, "stands_in");
            if (rc)
                cJSON_AddStringToObject(v, "error", msg);
            else
                cJSON_AddNullToObject(v, "error");
            cJSON_AddItemToArray(vs, v);
        }
    }
    return e;
}

cJSON *jb_report_data(const char *const paths[], const cJSON *const docs[], size_t n, const jb_model *model,
                      char *msg, size_t len)
{
    cJSON *page = cJSON_CreateObject();
    if (!page) {
        snprintf(msg, len, "out of memory");
        return NULL;
    }
    if (model)
        cJSON_AddStringToObject(page, "model", model->name);
    else
        cJSON_AddNullToObject(page, "model");
    cJSON *files = cJSON_AddArrayToObject(page, "files");
    for (size_t i = 0; i < n; i++) {
        char why[512];
        if (jb_results_check_context(docs[i], why, sizeof why)) {
            snprintf(msg, len, "%s: %s", paths[i], why);
            cJSON_Delete(page);
            return NULL;
        }
        gather g = {0};
        int rc = jb_results_each(docs[i], gather_row, &g, why, sizeof why);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddItemToArray(files, f);
        cJSON *rows = cJSON_AddArrayToObject(f, "rows");
        finish_rows(&g, rows);
        if (rc) {
            snprintf(msg, len, "%s: %s", paths[i], rc == JB_ENOMEM ? "out of memory" : why);
            cJSON_Delete(page);
            return NULL;
        }
        const cJSON *ctx = jb_results_context(docs[i]);
        const char *gpu = ctx_str(ctx, "gpu", NULL);
        char machine[512];
        snprintf(machine, sizeof machine, "%s (%s%s%s)", ctx_str(ctx, "host_name", "unknown host"),
                 ctx_str(ctx, "cpu_model", "unknown cpu"), gpu && strcmp(gpu, "none") ? ", " : "",
                 gpu && strcmp(gpu, "none") ? gpu : "");
        cJSON_AddStringToObject(f, "path", paths[i]);
        cJSON_AddStringToObject(f, "machine", machine);
        cJSON_AddItemToObject(f, "ctx", page_context(ctx));
        if (model) {
            cJSON_AddItemToObject(f, "projection", page_projection(docs[i], model, rows));
            cJSON_AddItemToObject(f, "inference", page_inference(docs[i], model));
        }
    }
    return page;
}
