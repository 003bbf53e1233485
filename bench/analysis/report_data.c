/* The data of a report page, from checked results files (report_data.h). */
#include "analysis/report_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                                       "peak_bytes_per_s", "suite", "warnings", "host_name", "cpu_model", "gpu"};
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
        if (!cJSON_IsNull(cJSON_GetObjectItem(r, "error")) || (strcmp(op, "attention") && strcmp(op, "matmul")))
            continue;
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
        if (model)
            cJSON_AddItemToObject(f, "projection", page_projection(docs[i], model, rows));
    }
    return page;
}
