/*
 * Projection arithmetic: model specs, training work per kernel class, the
 * choice of a results row per class, and the two energy methods.
 */
#include "analysis/project.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "harness/results.h"
#include "util/files.h"
#include "util/paths.h"
#include "jb_kernels.h"

/* The range each model field may take: wider than any model trained so far by
 * orders of magnitude, narrow enough that every figure derived from them stays finite. */
typedef struct field_range {
    const char *key;
    size_t offset;
    double max;
    int integer;
} field_range;

#define FIELD(k, max, integer) {#k, offsetof(jb_model, k), max, integer}
static const field_range model_fields[] = {
    FIELD(params, 1e15, 0),   FIELD(layers, 1e5, 1),  FIELD(d_model, 1e7, 1), FIELD(heads, 1e5, 1),
    FIELD(head_dim, 1e5, 1),  FIELD(d_ff, 1e8, 1),    FIELD(vocab, 1e9, 1),   FIELD(seq_len, 1e9, 1),
    FIELD(tokens, 1e16, 0),
};
#undef FIELD

int jb_model_parse(const char *text, const char *path, jb_model *m, char *msg, size_t len)
{
    memset(m, 0, sizeof *m);
    cJSON *j = cJSON_ParseWithOpts(text, NULL, 1);
    if (!cJSON_IsObject(j)) {
        snprintf(msg, len, "model file %s is not a JSON object", path);
        cJSON_Delete(j);
        return JB_EPARSE;
    }
    static const char *const known[] = {"name",   "params", "layers", "d_model", "heads",    "head_dim",
                                        "d_ff",   "vocab",  "seq_len", "tokens", "kv_heads", "causal",
                                        "tied_embeddings", "source", "comment"};
    const cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        size_t i;
        for (i = 0; i < sizeof known / sizeof known[0] && strcmp(f->string, known[i]); i++)
            ;
        int dup = 0;
        for (const cJSON *g = f->next; g; g = g->next)
            dup |= !strcmp(g->string, f->string);
        if (i == sizeof known / sizeof known[0] || dup) {
            snprintf(msg, len, "model file %s: field \"%.40s\" is %s", path, f->string,
                     dup ? "given twice" : "unknown (configs/models/README.md lists the fields)");
            cJSON_Delete(j);
            return JB_EPARSE;
        }
    }
    for (size_t i = 0; i < sizeof model_fields / sizeof model_fields[0]; i++) {
        const field_range *r = &model_fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, r->key);
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!v) {
            snprintf(msg, len, "model file %s: \"%s\" is missing (configs/models/README.md lists the fields)", path,
                     r->key);
            cJSON_Delete(j);
            return JB_EPARSE;
        }
        if (!(x > 0 && x <= r->max) || (r->integer && x != floor(x))) {
            snprintf(msg, len, "model file %s: \"%s\" must be a %s in (0, %g]", path, r->key,
                     r->integer ? "whole number" : "number", r->max);
            cJSON_Delete(j);
            return JB_EPARSE;
        }
        *(double *)((char *)m + r->offset) = x;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (name && (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof m->name)) {
        snprintf(msg, len, "model file %s: \"name\" must be a string of 1 to %zu bytes", path, sizeof m->name - 1);
        cJSON_Delete(j);
        return JB_EPARSE;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name->valuestring : path);
    const cJSON *causal = cJSON_GetObjectItemCaseSensitive(j, "causal");
    if (causal && !cJSON_IsBool(causal)) {
        snprintf(msg, len, "model file %s: \"causal\" must be true or false", path);
        cJSON_Delete(j);
        return JB_EPARSE;
    }
    m->causal = cJSON_IsTrue(causal);
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(j, "tied_embeddings");
    if (tied && !cJSON_IsBool(tied)) {
        snprintf(msg, len, "model file %s: \"tied_embeddings\" must be true or false", path);
        cJSON_Delete(j);
        return JB_EPARSE;
    }
    m->tied_embeddings = cJSON_IsTrue(tied);
    /* Grouped-query attention: each K,V head serves heads/kv_heads query heads. */
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(j, "kv_heads");
    m->kv_heads = m->heads;
    if (kv) {
        double x = cJSON_IsNumber(kv) ? kv->valuedouble : NAN;
        if (!(x >= 1 && x <= m->heads && x == floor(x) && fmod(m->heads, x) == 0)) {
            snprintf(msg, len, "model file %s: \"kv_heads\" must be a whole number that divides \"heads\" (%g)", path,
                     m->heads);
            cJSON_Delete(j);
            return JB_EPARSE;
        }
        m->kv_heads = x;
    }
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    if (src && !cJSON_IsString(src)) {
        snprintf(msg, len, "model file %s: \"source\" must be a string", path);
        cJSON_Delete(j);
        return JB_EPARSE;
    }
    if (src)
        snprintf(m->source, sizeof m->source, "%s", src->valuestring);
    cJSON_Delete(j);
    return JB_OK;
}

static int load_path(const char *path, jb_model *m, char *msg, size_t len)
{
    char *t, why[4200];
    int rc = jb_file_read(path, (size_t)1 << 20, JB_FILE_TEXT, &t, NULL, why, sizeof why);
    if (rc) {
        snprintf(msg, len, "cannot read model file %s", why);
        return rc == JB_ENOMEM ? rc : JB_EIO;
    }
    rc = jb_model_parse(t, path, m, msg, len);
    free(t);
    return rc;
}

static const char *models_dir(void)
{
    static char dir[4096];
    return jb_data_path("configs/models", dir, sizeof dir);
}

int jb_model_load(const char *name, jb_model *m, char *msg, size_t len)
{
    struct stat st;
    if (!name || !*name) {
        snprintf(msg, len, "no model given");
        return JB_EINVAL;
    }
    if (strchr(name, '/') || (strlen(name) > 5 && !strcmp(name + strlen(name) - 5, ".json")) ||
        stat(name, &st) == 0)
        return load_path(name, m, msg, len);
    const char *dir = models_dir();
    static const char *const known[] = {"gpt2-124m", "bert-large", "gpt3-175b", "llama-7b",
                                        "llama-13b", "llama-33b",  "llama-65b", "llama2-70b"};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (stat(path, &st) == 0)
        return load_path(path, m, msg, len);
    /* By display name ("GPT-3 175B"), case-insensitively. */
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.json", dir, known[i]);
        jb_model c;
        char ignore[4400];
        if (load_path(path, &c, ignore, sizeof ignore) == JB_OK && !strcasecmp(c.name, name)) {
            *m = c;
            return JB_OK;
        }
    }
    snprintf(msg, len, "unknown model '%s' (known: gpt2-124m, bert-large, gpt3-175b, llama-7b, llama-13b, "
                       "llama-33b, llama-65b, llama2-70b, or a path to a model .json)", name);
    return JB_EINVAL;
}

void jb_train_work_of(const jb_model *m, jb_train_work *w)
{
    double half = m->causal ? 0.5 : 1.0;
    w->matmul_flops = 6.0 * m->params * m->tokens;
    w->attention_flops = 12.0 * m->layers * m->heads * m->head_dim * m->seq_len * half * m->tokens;
    w->softmax_elements = 3.0 * m->layers * m->heads * m->seq_len * half * m->tokens;
    w->total_flops = w->matmul_flops + w->attention_flops;
}

double jb_published_mwh_chips(double chips, double days, double watts, double pue)
{
    return chips * days * 24.0 * watts * pue / 1e6;
}

double jb_published_mwh_gpu_hours(double gpu_hours, double watts, double pue)
{
    return gpu_hours * watts * pue / 1e6;
}

/* ---- Choosing rows -------------------------------------------------------- */

/* A median row of the results, as the choice of rows sees it. */
typedef struct parsed_row {
    const char *kernel, *row;
    jb_problem p;
} parsed_row;

static double logdist(double a, double b)
{
    return a > 0 && b > 0 ? fabs(log(a / b)) : 50;
}

int64_t jb_problem_query_rows(const jb_problem *p)
{
    return p->op == JB_OP_ATTENTION && p->q > 0 && p->q < p->seq ? p->q : 0;
}

int jb_kernel_weight_only(const char *kernel)
{
    const char *d = strrchr(kernel, '/');
    return d && (!strcmp(d, "/w8") || !strcmp(d, "/w4"));
}

void jb_train_target(const jb_model *m, int op, jb_shape_target *t)
{
    memset(t, 0, sizeof *t);
    t->op = op;
    /* matmul: the MLP up-projection of one sequence, seq x d_ff x d_model. */
    t->m = m->seq_len;
    t->n = m->d_ff;
    t->k = m->d_model;
    t->seq = m->seq_len;
    t->d = m->head_dim;
    t->h = m->heads;
    t->causal = m->causal;
    t->weight_only = 0; /* training never runs weight-only quantized matmuls */
}

/* How far a measured shape is from the shape wanted. */
static double distance(const parsed_row *r, const jb_shape_target *t)
{
    const jb_problem *p = &r->p;
    switch (p->op) {
    case JB_OP_MATMUL: {
        int small = p->m <= JB_MEMORY_BOUND_ROWS;
        return logdist((double)p->m, t->m) + logdist((double)p->n, t->n) + logdist((double)p->k, t->k) +
               ((t->matmul_regime == 1 && !small) || (t->matmul_regime == 2 && small)) * 10.0;
    }
    case JB_OP_ATTENTION: {
        double q = (double)jb_problem_query_rows(p), d;
        d = logdist((double)p->seq, t->seq) + logdist((double)p->d, t->d) + logdist((double)p->h, t->h) * 0.1;
        if (t->q > 0) /* decode: a row over a KV cache (q < n) first; the mask does not matter to q = 1 */
            return d + (q > 0 ? logdist(q, t->q) : 10.0);
        return d + (q > 0) * 10.0 + (p->causal != t->causal) * 10.0;
    }
    case JB_OP_SOFTMAX:
        return logdist((double)p->cols, t->seq) + (p->causal != t->causal) * 10.0;
    default:
        return 1e9;
    }
}

static int variant_matches(const char *kernel, const char *variant)
{
    if (!variant)
        return 1;
    if (!strcmp(kernel, variant))
        return 1;
    /* "flash", "w4" or "flash/f32": match the variant or dtype parts of op/backend/variant/dtype. */
    const char *p = strchr(kernel, '/');
    p = p ? strchr(p + 1, '/') : NULL;
    if (!p)
        return 0;
    p++;
    size_t vl = strlen(variant), kl = strlen(kernel);
    if (!strchr(variant, '/') && kl > vl && !strcmp(kernel + kl - vl, variant) && kernel[kl - vl - 1] == '/')
        return 1; /* the dtype */
    return !strcmp(p, variant) || (!strncmp(p, variant, vl) && p[vl] == '/') ||
           (kl > vl && !strcmp(kernel + kl - vl, variant) && kernel[kl - vl - 1] == '/' && strchr(variant, '/'));
}

/* Walks the median rows of op; calls fn for each usable one. */
typedef void (*row_fn)(const parsed_row *r, double fpj, double fps, int measured, double dist, void *arg);

typedef struct walk_ctx {
    const jb_shape_target *t;
    int op;
    row_fn fn;
    void *arg;
    int n;
} walk_ctx;

static int walk_row(const jb_result_row *r, void *arg)
{
    walk_ctx *w = arg;
    /* A single-repetition run has no aggregates: its one repetition stands for the median. */
    int median = r->aggregate ? !strcmp(r->aggregate_name, "median") : r->repetitions == 1;
    double fpj = jb_result_counter(r, "flop_per_j");
    if (!median || r->error || !r->have_problem || (int)r->problem.op != w->op || !(fpj > 0))
        return JB_OK;
    if (!w->t->weight_only && jb_kernel_weight_only(r->kernel))
        return JB_OK;
    parsed_row pr = {.kernel = r->kernel, .row = r->run_name, .p = r->problem};
    double em = jb_result_counter(r, "energy_measured");
    w->fn(&pr, fpj, jb_result_counter(r, "flop_per_s"), !isnan(em) && em > 0.5, distance(&pr, w->t), w->arg);
    w->n++;
    return JB_OK;
}

static int each_median(const cJSON *results, const jb_shape_target *t, row_fn fn, void *arg)
{
    walk_ctx w = {.t = t, .op = t->op, .fn = fn, .arg = arg};
    char msg[256];
    if (w.op < 0 || w.op >= JB_OP_COUNT || jb_results_each(results, walk_row, &w, msg, sizeof msg))
        return 0; /* readers check the file first: a bad one has no usable row */
    return w.n;
}

typedef struct best_ctx {
    const char *variant;
    double best_dist;
    jb_class_pick pick;
    int found;
} best_ctx;

static void find_nearest(const parsed_row *r, double fpj, double fps, int measured, double dist, void *arg)
{
    (void)fpj; (void)fps; (void)measured;
    best_ctx *c = arg;
    if (variant_matches(r->kernel, c->variant) && dist < c->best_dist)
        c->best_dist = dist;
}

static void set_pick(jb_class_pick *p, const parsed_row *r, double fpj, double fps, int measured, double dist)
{
    memset(p, 0, sizeof *p);
    snprintf(p->kernel, sizeof p->kernel, "%s", r->kernel);
    snprintf(p->row, sizeof p->row, "%s", r->row);
    p->flop_per_j = fpj;
    p->flop_per_s = fps;
    p->measured = measured;
    p->distance = dist;
    p->problem = r->p;
}

static void find_best(const parsed_row *r, double fpj, double fps, int measured, double dist, void *arg)
{
    best_ctx *c = arg;
    if (!variant_matches(r->kernel, c->variant) || dist > c->best_dist + 1e-12)
        return;
    if (!c->found || fpj > c->pick.flop_per_j) {
        set_pick(&c->pick, r, fpj, fps, measured, dist);
        c->found = 1;
    }
}

static const char *op_name_of(int op)
{
    return op >= 0 && op < JB_OP_COUNT ? jb_op_name((jb_op)op) : "?";
}

int jb_project_pick_target(const cJSON *results, const jb_shape_target *t, const char *variant, jb_class_pick *out,
                           char *msg, size_t len)
{
    best_ctx c = {.variant = variant, .best_dist = INFINITY};
    int n = each_median(results, t, find_nearest, &c);
    if (!n || isinf(c.best_dist)) {
        if (variant)
            snprintf(msg, len, "the results have no verified %s row of variant '%s' with energy (flop_per_j)",
                     op_name_of(t->op), variant);
        else
            snprintf(msg, len, "the results have no verified %s row with energy (flop_per_j)", op_name_of(t->op));
        return JB_EINVAL;
    }
    each_median(results, t, find_best, &c);
    *out = c.pick;
    return JB_OK;
}

int jb_project_pick(const cJSON *results, const jb_model *m, const char *op, const char *variant,
                    jb_class_pick *out, char *msg, size_t len)
{
    jb_shape_target t;
    jb_train_target(m, jb_op_from_name(op), &t);
    if (t.op < 0) {
        snprintf(msg, len, "unknown op '%s'", op);
        return JB_EINVAL;
    }
    return jb_project_pick_target(results, &t, variant, out, msg, len);
}

typedef struct variants_ctx {
    double dist;
    jb_class_pick *out;
    int max, n;
} variants_ctx;

static void collect_variant(const parsed_row *r, double fpj, double fps, int measured, double dist, void *arg)
{
    variants_ctx *c = arg;
    if (dist > c->dist + 1e-12)
        return;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->out[i].kernel, r->kernel)) {
            if (fpj > c->out[i].flop_per_j) {
                c->out[i].flop_per_j = fpj;
                c->out[i].flop_per_s = fps;
            }
            return;
        }
    if (c->n == c->max)
        return;
    set_pick(&c->out[c->n++], r, fpj, fps, measured, dist);
}

int jb_project_variants_target(const cJSON *results, const jb_shape_target *t, jb_class_pick *out, int max)
{
    best_ctx c = {.best_dist = INFINITY};
    if (!each_median(results, t, find_nearest, &c))
        return 0;
    variants_ctx v = {.dist = c.best_dist, .out = out, .max = max};
    each_median(results, t, collect_variant, &v);
    return v.n;
}

int jb_project_variants(const cJSON *results, const jb_model *m, const char *op, jb_class_pick *out, int max)
{
    jb_shape_target t;
    jb_train_target(m, jb_op_from_name(op), &t);
    return t.op < 0 ? 0 : jb_project_variants_target(results, &t, out, max);
}

void jb_project_energy(const jb_train_work *w, const jb_class_pick *mm, const jb_class_pick *at,
                       const jb_class_pick *sm, double host_overhead, double pue, double kg_per_kwh,
                       jb_projection *o)
{
    memset(o, 0, sizeof *o);
    o->matmul_joules = w->matmul_flops / mm->flop_per_j;
    o->attention_joules = w->attention_flops / at->flop_per_j;
    /* Every attention kernel computes its softmax inside, and its measured energy
     * includes it: the softmax class is shown, never added a second time. */
    o->softmax_joules = sm ? w->softmax_elements / sm->flop_per_j : NAN;
    o->device_joules = o->matmul_joules + o->attention_joules;
    o->facility_joules = o->device_joules * host_overhead * pue;
    o->mwh_device = o->device_joules / 3.6e9;
    o->mwh_facility = o->facility_joules / 3.6e9;
    o->tco2e = o->mwh_facility * kg_per_kwh; /* MWh x kg/kWh = t */
    o->seconds = w->matmul_flops / mm->flop_per_s + w->attention_flops / at->flop_per_s;
}

int jb_projection_finite(const jb_projection *p)
{
    const double j[] = {p->device_joules, p->facility_joules, p->matmul_joules, p->attention_joules};
    const double big[] = {p->mwh_device, p->mwh_facility, p->tco2e};
    for (size_t i = 0; i < sizeof j / sizeof j[0]; i++)
        if (!isfinite(j[i]))
            return 0;
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        if (!(big[i] < 1e30))
            return 0;
    return isnan(p->softmax_joules) || isfinite(p->softmax_joules);
}

int jb_project_run(const cJSON *results, const jb_model *m, const char *matmul, const char *attention,
                   double host_overhead, double pue, double kg_per_kwh, jb_project_result *out, char *msg, size_t len)
{
    memset(out, 0, sizeof *out);
    if (jb_project_pick(results, m, "matmul", matmul, &out->mm, msg, len) ||
        jb_project_pick(results, m, "attention", attention, &out->at, msg, len))
        return JB_EINVAL;
    char ignore[256];
    out->have_sm = jb_project_pick(results, m, "softmax", NULL, &out->sm, ignore, sizeof ignore) == JB_OK;
    jb_train_work w;
    jb_train_work_of(m, &w);
    jb_project_energy(&w, &out->mm, &out->at, out->have_sm ? &out->sm : NULL, host_overhead, pue, kg_per_kwh,
                      &out->pr);
    out->all_measured = out->mm.measured && out->at.measured;
    if (!jb_projection_finite(&out->pr)) {
        const jb_class_pick *bad = out->mm.flop_per_j < out->at.flop_per_j ? &out->mm : &out->at;
        if (out->have_sm && !isfinite(out->pr.softmax_joules))
            bad = &out->sm;
        snprintf(msg, len, "the projection of %s is out of range (over 1e30 MWh) with row %s (%.3g FLOP/J)", m->name,
                 bad->row, bad->flop_per_j);
        return JB_EINVAL;
    }
    return JB_OK;
}

static const char *grid_file(void)
{
    static char path[4096];
    return jb_data_path("configs/grid/grid_carbon_intensity.csv", path, sizeof path);
}

int jb_grid_lookup(const char *csv, const char *iso3, double *kg, int *year, char *country, size_t clen)
{
    if (!iso3 || strlen(iso3) != 3)
        return JB_EINVAL;
    char code[4];
    for (int i = 0; i < 3; i++)
        code[i] = (char)toupper((unsigned char)iso3[i]);
    code[3] = 0;
    /* iso3,country,year,gco2e_per_kwh (country names may be quoted, with commas) */
    for (const char *line = csv; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, code, 3) || line[3] != ',')
            continue;
        const char *p = line + 4, *eol = strchr(p, '\n');
        size_t rest = eol ? (size_t)(eol - p) : strlen(p);
        char buf[512], name[200] = "";
        if (rest >= sizeof buf)
            return JB_EINVAL;
        memcpy(buf, p, rest);
        buf[rest] = 0;
        char *q = buf;
        if (*q == '"') {
            char *close = strchr(q + 1, '"');
            if (!close || close[1] != ',')
                return JB_EINVAL;
            snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
            q = close + 2;
        } else {
            char *comma = strchr(q, ',');
            if (!comma)
                return JB_EINVAL;
            snprintf(name, sizeof name, "%.*s", (int)(comma - q), q);
            q = comma + 1;
        }
        int y;
        double g;
        if (sscanf(q, "%d,%lf", &y, &g) != 2 || !(g >= 0 && g <= 5000) || y < 1900 || y > 2200)
            return JB_EINVAL;
        *kg = g / 1000.0;
        *year = y;
        snprintf(country, clen, "%s", name);
        return JB_OK;
    }
    return JB_EINVAL;
}

int jb_grid_intensity(const char *iso3, double *kg, int *year, char *country, size_t clen, char *msg, size_t len)
{
    const char *path = grid_file();
    char *text;
    if (jb_file_read(path, (size_t)16 << 20, JB_FILE_TEXT, &text, NULL, msg, len))
        return JB_EIO;
    int rc = jb_grid_lookup(text, iso3, kg, year, country, clen);
    free(text);
    if (rc)
        snprintf(msg, len, "unknown region '%.40s' (an ISO 3166 alpha-3 code listed in %s, e.g. USA, FRA, DEU)",
                 iso3 ? iso3 : "", path);
    return rc;
}
