/* The procurement view: machines side by side, ranked, on a time-energy
 * plane, and the training run projected on each (machines.h). */
#include "analysis/machines.h"
#include "analysis/machines_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/machine_prices.h"
#include "harness/results.h"
#include "jb_kernels.h"

/* ---- Which machine a file comes from ------------------------------------------ */

typedef struct machine {
    char host[256], cpu[256], gpu[256], node[128], partition[128], cluster[128], freq[64];
    int threads;              /* 0: unknown */
    int doc;                  /* the last document of this machine: its projection */
    cJSON *files;
    char label[1024];
} machine;

static const char *ctx_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void identify(const cJSON *doc, machine *m)
{
    const cJSON *ctx = jb_results_context(doc);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ctx, "slurm");
    memset(m, 0, sizeof *m);
    snprintf(m->host, sizeof m->host, "%s", *ctx_str(ctx, "host_name") ? ctx_str(ctx, "host_name") : "unknown host");
    snprintf(m->cpu, sizeof m->cpu, "%s", *ctx_str(ctx, "cpu_model") ? ctx_str(ctx, "cpu_model") : "unknown cpu");
    if (strcmp(ctx_str(ctx, "gpu"), "none"))
        snprintf(m->gpu, sizeof m->gpu, "%s", ctx_str(ctx, "gpu"));
    /* The node as Slurm names it, when that is not the host name already. */
    if (cJSON_IsObject(s) && strcmp(ctx_str(s, "node"), m->host))
        snprintf(m->node, sizeof m->node, "%s", ctx_str(s, "node"));
    if (cJSON_IsObject(s)) {
        snprintf(m->partition, sizeof m->partition, "%s", ctx_str(s, "partition"));
        snprintf(m->cluster, sizeof m->cluster, "%s", ctx_str(s, "cluster"));
        snprintf(m->freq, sizeof m->freq, "%s", ctx_str(s, "cpu_freq_req"));
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ctx, "threads");
    m->threads = cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble < 1e6 ? (int)t->valuedouble : 0;
}

static int same_machine(const machine *a, const machine *b)
{
    return !strcmp(a->host, b->host) && !strcmp(a->cpu, b->cpu) && !strcmp(a->gpu, b->gpu) &&
           !strcmp(a->node, b->node) && a->threads == b->threads && !strcmp(a->freq, b->freq);
}

/* The machines of the documents, and each document's machine (of[i]). */
static machine *machines_of(const cJSON *const docs[], size_t n, size_t *nm, size_t *of)
{
    machine *ms = calloc(n ? n : 1, sizeof *ms);
    *nm = 0;
    if (!ms)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        machine m;
        identify(docs[i], &m);
        size_t k;
        for (k = 0; k < *nm && !same_machine(&ms[k], &m); k++)
            ;
        if (k == *nm)
            ms[(*nm)++] = m;
        ms[k].doc = (int)i;
        if (of)
            of[i] = k;
    }
    return ms;
}

size_t jb_machines_count(const cJSON *const docs[], size_t n)
{
    size_t nm = 0;
    free(machines_of(docs, n, &nm, NULL));
    return nm;
}

/* Labels name what tells the machines apart: host and CPU (and GPU) always;
 * the Slurm node, threads and requested frequency when they differ. */
static void label_machines(machine *ms, size_t nm)
{
    int threads_differ = 0, freq_differ = 0;
    for (size_t k = 1; k < nm; k++) {
        threads_differ |= ms[k].threads != ms[0].threads;
        freq_differ |= strcmp(ms[k].freq, ms[0].freq) != 0;
    }
    for (size_t k = 0; k < nm; k++) {
        machine *m = &ms[k];
        int w = snprintf(m->label, sizeof m->label, "%s (%s%s%s)", m->host, m->cpu, m->gpu[0] ? ", " : "", m->gpu);
        size_t at = w < 0 ? 0 : (size_t)w < sizeof m->label ? (size_t)w : sizeof m->label - 1;
        if (m->node[0])
            at += (size_t)snprintf(m->label + at, sizeof m->label - at, " node %s", m->node);
        at = at < sizeof m->label ? at : sizeof m->label - 1;
        if (threads_differ)
            at += (size_t)snprintf(m->label + at, sizeof m->label - at, " threads=%d", m->threads);
        at = at < sizeof m->label ? at : sizeof m->label - 1;
        if (freq_differ)
            snprintf(m->label + at, sizeof m->label - at, " cpu-freq=%s", m->freq[0] ? m->freq : "default");
    }
}

/* ---- Rows side by side ------------------------------------------------------------ */

static int op_order(const char *op)
{
    return !strcmp(op, "matmul") ? 0 : !strcmp(op, "attention") ? 1 : !strcmp(op, "softmax") ? 2 : 3;
}

static int klass_cmp(const void *a, const void *b)
{
    const klass *x = a, *y = b;
    int d = op_order(x->op) - op_order(y->op);
    if (d)
        return d;
    if ((d = strcmp(x->op, y->op)))
        return d;
    if ((d = strcmp(x->variant, y->variant)))
        return d;
    return x->first < y->first ? -1 : x->first > y->first;
}

static cJSON *cell_json(const cJSON *r)
{
    static const char *const keys[] = {"flop_per_s", "flop_per_s_ci95_low", "flop_per_s_ci95_high", "flop_per_j",
                                       "flop_per_j_ci95_low", "flop_per_j_ci95_high", "time_ns"};
    cJSON *c = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        add_num(c, keys[i], num(r, keys[i]));
    add_num(c, "joules", joules_of(r));
    int m = measured_of(r);
    if (m < 0)
        cJSON_AddNullToObject(c, "energy_measured");
    else
        cJSON_AddNumberToObject(c, "energy_measured", m);
    cJSON_AddStringToObject(c, "label", m == 0 ? "energy: estimated" : m > 0 ? "energy: measured" : "energy: none");
    return c;
}

/* ---- The training run on each machine ------------------------------------------- */

static cJSON *projection_of(const cJSON *const docs[], const machine *ms, size_t nm, const jb_machines_opts *o)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "model", o->model->name);
    cJSON_AddNumberToObject(p, "devices", o->devices);
    cJSON_AddStringToObject(p, "grid", o->grid ? o->grid : "");
    cJSON_AddNumberToObject(p, "kg_per_kwh", o->kg_per_kwh);
    cJSON_AddNumberToObject(p, "pue", o->pue);
    add_num(p, "price_kwh", o->price_kwh);
    cJSON_AddBoolToObject(p, "prices", o->prices_csv != NULL);
    cJSON *rows = cJSON_AddArrayToObject(p, "rows");
    double *x = calloc(nm ? nm : 1, sizeof *x), *y = calloc(nm ? nm : 1, sizeof *y);
    int *kind = calloc(nm ? nm : 1, sizeof *kind), *front = calloc(nm ? nm : 1, sizeof *front);
    if (!x || !y || !kind || !front) {
        free(x), free(y), free(kind), free(front);
        cJSON_Delete(p);
        return NULL;
    }
    for (size_t m = 0; m < nm; m++) {
        jb_project_result q;
        char why[512];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "machine", (double)m);
        kind[m] = -1;
        x[m] = y[m] = NAN;
        if (jb_project_run(docs[ms[m].doc], o->model, NULL, NULL, 1.0, o->pue, o->kg_per_kwh, &q, why, sizeof why)) {
            static const char *const none[] = {"facility_mwh", "tco2e", "days", "machine_hours", "energy_cost",
                                               "machine_cost", "total_cost", "energy_measured"};
            for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
                cJSON_AddNullToObject(r, none[i]);
            cJSON_AddStringToObject(r, "label", "");
            cJSON_AddStringToObject(r, "error", why);
            cJSON_AddItemToArray(rows, r);
            continue;
        }
        double days = q.pr.seconds / o->devices / 86400, hours = q.pr.seconds / 3600;
        add_num(r, "facility_mwh", q.pr.mwh_facility);
        add_num(r, "tco2e", q.pr.tco2e);
        add_num(r, "days", days);
        add_num(r, "machine_hours", hours);
        double ecost = isnan(o->price_kwh) ? NAN : q.pr.mwh_facility * 1000 * o->price_kwh;
        double hourly = NAN;
        char row[256] = "";
        if (o->prices_csv) {
            const char *hay[] = {ms[m].label, ms[m].host, ms[m].node, ms[m].partition, ms[m].cpu, ms[m].gpu, NULL};
            if (!jb_machine_price_find(o->prices_csv, hay, &hourly, row, sizeof row))
                hourly = NAN;
        }
        double mcost = hours * hourly;
        add_num(r, "energy_cost", ecost);
        add_num(r, "machine_cost", mcost);
        add_num(r, "total_cost", isnan(ecost) ? mcost : isnan(mcost) ? ecost : ecost + mcost);
        cJSON_AddNumberToObject(r, "energy_measured", q.all_measured);
        cJSON_AddStringToObject(r, "label", q.all_measured ? "energy: measured" : "energy: estimated");
        cJSON_AddStringToObject(r, "matmul", q.mm.kernel);
        cJSON_AddStringToObject(r, "attention", q.at.kernel);
        cJSON_AddNullToObject(r, "error");
        cJSON_AddItemToArray(rows, r);
        kind[m] = q.all_measured;
        x[m] = days;
        y[m] = q.pr.mwh_facility;
    }
    jb_machines_pareto(x, y, kind, nm, front);
    cJSON *r;
    size_t m = 0;
    cJSON_ArrayForEach(r, rows) cJSON_AddBoolToObject(r, "pareto", front[m++]);
    free(x), free(y), free(kind), free(front);
    return p;
}

/* ---- The section ------------------------------------------------------------------ */

cJSON *jb_machines_data(const cJSON *page_files, const cJSON *const docs[], size_t n, const jb_machines_opts *o,
                        char *msg, size_t len)
{
    if (o->prices_csv && jb_machine_prices_check(o->prices_csv, o->prices_path, msg, len))
        return NULL;
    size_t nm = 0, *of = calloc(n ? n : 1, sizeof *of);
    machine *ms = of ? machines_of(docs, n, &nm, of) : NULL;
    klass *ks = NULL;
    size_t nk = 0, cap = 0;
    cJSON *sec = NULL;
    if (!ms)
        goto oom;
    label_machines(ms, nm);
    for (size_t k = 0; k < nm; k++)
        if (!(ms[k].files = cJSON_CreateArray()))
            goto oom;
    /* Every timed row of every file, keyed on op, variant and shape; a later
     * file of the same machine overrides an earlier one. */
    size_t i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, page_files)
    {
        if (i >= n)
            break;
        size_t m = of[i++];
        cJSON_AddItemToArray(ms[m].files, cJSON_CreateString(str(f, "path")));
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rows"))
        {
            if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "error")) || !(num(r, "flop_per_s") > 0))
                continue;
            const char *op = str(r, "op"), *variant = str(r, "variant"), *shape = str(r, "shape");
            size_t j;
            for (j = 0; j < nk; j++)
                if (!strcmp(ks[j].op, op) && !strcmp(ks[j].variant, variant) && !strcmp(ks[j].shape, shape))
                    break;
            if (j == nk) {
                if (nk == cap) {
                    cap = cap ? 2 * cap : 32;
                    klass *p = realloc(ks, cap * sizeof *p);
                    if (!p)
                        goto oom;
                    ks = p;
                }
                ks[nk] = (klass){op, variant, shape, nk, calloc(nm, sizeof(cJSON *))};
                if (!ks[nk++].cells)
                    goto oom;
            }
            ks[j].cells[m] = r;
        }
    }
    qsort(ks, nk, sizeof *ks, klass_cmp);

    sec = cJSON_CreateObject();
    if (!sec)
        goto oom;
    cJSON_AddStringToObject(sec, "why", o->why ? o->why : "");
    cJSON *jm = cJSON_AddArrayToObject(sec, "machines");
    for (size_t k = 0; k < nm; k++) {
        machine *m = &ms[k];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "label", m->label);
        cJSON_AddStringToObject(x, "host", m->host);
        cJSON_AddStringToObject(x, "cpu_model", m->cpu);
        cJSON_AddStringToObject(x, "gpu", m->gpu);
        cJSON_AddStringToObject(x, "node", m->node);
        cJSON_AddStringToObject(x, "partition", m->partition);
        cJSON_AddStringToObject(x, "cluster", m->cluster);
        if (m->threads)
            cJSON_AddNumberToObject(x, "threads", m->threads);
        else
            cJSON_AddNullToObject(x, "threads");
        cJSON_AddStringToObject(x, "cpu_freq", m->freq);
        cJSON_AddStringToObject(x, "energy", ctx_str(jb_results_context(docs[m->doc]), "energy"));
        cJSON_AddItemToObject(x, "files", m->files);
        m->files = NULL;
        double price = NAN;
        char row[256] = "";
        const char *hay[] = {m->label, m->host, m->node, m->partition, m->cpu, m->gpu, NULL};
        if (o->prices_csv && jb_machine_price_find(o->prices_csv, hay, &price, row, sizeof row))
            cJSON_AddStringToObject(x, "price_row", row);
        else
            cJSON_AddNullToObject(x, "price_row");
        add_num(x, "price_per_hour", price);
        cJSON_AddItemToArray(jm, x);
    }
    cJSON *jc = cJSON_AddArrayToObject(sec, "classes");
    for (size_t k = 0; k < nk; k++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "op", ks[k].op);
        cJSON_AddStringToObject(c, "variant", ks[k].variant);
        cJSON_AddStringToObject(c, "shape", ks[k].shape);
        cJSON *cells = cJSON_AddArrayToObject(c, "cells");
        for (size_t m = 0; m < nm; m++)
            cJSON_AddItemToArray(cells, ks[k].cells[m] ? cell_json(ks[k].cells[m]) : cJSON_CreateNull());
        cJSON_AddItemToArray(jc, c);
    }
    cJSON *jr = cJSON_AddArrayToObject(sec, "ranking"), *js = cJSON_AddArrayToObject(sec, "scatter");
    static const char *const ops[] = {"matmul", "attention", "softmax"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        const char *shape = jb_machines_common_shape(ks, nk, ops[k], nm);
        if (!shape)
            continue;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "op", ops[k]);
        cJSON_AddStringToObject(r, "shape", shape);
        cJSON_AddItemToObject(r, "rows", jb_machines_ranking(ks, nk, ops[k], shape, nm));
        cJSON_AddItemToArray(jr, r);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "op", ops[k]);
        cJSON_AddStringToObject(s, "shape", shape);
        cJSON_AddItemToObject(s, "points", jb_machines_scatter(ks, nk, ops[k], shape, nm));
        cJSON_AddItemToArray(js, s);
    }
    if (o->model)
        cJSON_AddItemToObject(sec, "projection", projection_of(docs, ms, nm, o));
    else
        cJSON_AddNullToObject(sec, "projection");
    for (size_t k = 0; k < nk; k++)
        free(ks[k].cells);
    free(ks);
    free(ms);
    free(of);
    return sec;
oom:
    for (size_t k = 0; k < nk; k++)
        free(ks[k].cells);
    free(ks);
    for (size_t k = 0; ms && k < nm; k++)
        cJSON_Delete(ms[k].files);
    free(ms);
    free(of);
    cJSON_Delete(sec);
    snprintf(msg, len, "out of memory");
    return NULL;
}
