/*
 * Serving arithmetic: work per request by phase (prefill, decode), the row
 * measured for each phase and how it is read (FLOP/J or J/B), traffic over a
 * deployment next to training, and published serving figures.
 */
#include "analysis/project_infer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"
#include "util/paths.h"
#include "jb_kernels.h"

static double kv_heads_of(const jb_model *m)
{
    return m->kv_heads > 0 ? m->kv_heads : m->heads; /* a spec built by hand may leave it 0 */
}

double jb_model_matmul_params(const jb_model *m)
{
    double p = m->tied_embeddings ? m->params : m->params - m->vocab * m->d_model;
    return p > 0 ? p : m->params; /* a spec whose params do not cover its embedding: count them all */
}

double jb_kv_cache_bytes_per_token(const jb_model *m, double kv_bytes)
{
    return 2.0 * m->layers * kv_heads_of(m) * m->head_dim * kv_bytes;
}

/* Elements in and out of every weight matrix for one token: each matrix
 * k x n reads k and writes n. Per layer: Q and O (d_model and d_attn), K and
 * V (d_model in, kv_heads*head_dim out), and the MLP's matrices of d_model and
 * d_ff, as many as its weights make (2, or 3 for a gated MLP: the spec does
 * not say, the parameter count does); then the output layer. */
static double act_elems_per_token(const jb_model *m)
{
    double d = m->d_model, da = m->heads * m->head_dim, dkv = kv_heads_of(m) * m->head_dim;
    double attn_w = 2 * d * da + 2 * d * dkv;
    double layer_w = (jb_model_matmul_params(m) - m->vocab * d) / m->layers;
    double mlp = m->d_ff > 0 ? (layer_w - attn_w) / (d * m->d_ff) : 0;
    mlp = mlp < 0 ? 0 : mlp > 4 ? 4 : mlp;
    return m->layers * (2 * (d + da) + 2 * (d + dkv) + mlp * (d + m->d_ff)) + d + m->vocab;
}

void jb_infer_work_of(const jb_model *m, const jb_serving *s, jb_infer_work *w)
{
    memset(w, 0, sizeof *w);
    const double P = s->prompt, O = s->output, da = m->heads * m->head_dim;
    w->matmul_params = jb_model_matmul_params(m);
    w->prefill_matmul_flops = 2.0 * w->matmul_params * P;
    w->prefill_attention_flops = 4.0 * m->layers * da * P * P * (m->causal ? 0.5 : 1.0);
    w->decode_matmul_flops = 2.0 * w->matmul_params * O;
    /* sum_{c=P+1}^{P+O} c = O*P + O(O+1)/2 */
    const double ctx_sum = O * P + O * (O + 1) / 2;
    w->decode_attention_flops = 4.0 * m->layers * da * ctx_sum;
    w->flop_per_request = w->prefill_matmul_flops + w->prefill_attention_flops + w->decode_matmul_flops +
                          w->decode_attention_flops;
    w->flop_per_output_token = O > 0 ? (w->decode_matmul_flops + w->decode_attention_flops) / O : NAN;
    w->kv_cache_bytes_per_token = jb_kv_cache_bytes_per_token(m, s->kv_bytes);
    w->decode_attention_bytes = w->kv_cache_bytes_per_token * ctx_sum + O * m->layers * 2 * da * 4.0;
    w->prefill_attention_bytes = P * (w->kv_cache_bytes_per_token + m->layers * 2 * da * 4.0);
}

double jb_matmul_bytes_per_request(const jb_model *m, const jb_serving *s, double steps, double tokens,
                                   double weight_bytes, double act_bytes)
{
    return steps * jb_model_matmul_params(m) * weight_bytes / s->batch + tokens * act_elems_per_token(m) * act_bytes;
}

void jb_dtype_bytes(const char *kernel, double *wb, double *ab)
{
    const char *d = strrchr(kernel, '/');
    d = d ? d + 1 : kernel;
    *wb = 4;
    *ab = 4;
    if (!strcmp(d, "bf16"))
        *wb = *ab = 2;
    else if (!strcmp(d, "int8"))
        *wb = *ab = 1;
    else if (!strcmp(d, "w8"))
        *wb = 1 + 4.0 / 32;
    else if (!strcmp(d, "w4"))
        *wb = 0.5 + 4.0 / 32;
}

double jb_row_min_bytes(const jb_class_pick *pk)
{
    const jb_problem *p = &pk->problem;
    /* A weight-only matmul's row counts B at its stored size (the kernel's own
     * count), as the model's weights are counted below at the kernel's dtype.
     * Attention rows stay at fp32-equivalent bytes (per element of the cache)
     * whatever the kernel stores, because the model's cache is counted at
     * --kv-bytes for every kernel: so an int8 cache's advantage shows as fewer
     * joules per element, not as a J/B applied to bytes it does not read. */
    const jb_kernel *k = jb_registry_find(pk->kernel);
    if (p->op == JB_OP_MATMUL && k && k->min_bytes)
        return jb_kernel_min_bytes(k, p);
    if (p->op == JB_OP_MATMUL) {
        double wb, ab;
        jb_dtype_bytes(pk->kernel, &wb, &ab);
        return (double)p->m * p->k * ab + (double)p->k * p->n * wb + (double)p->m * p->n * 4.0;
    }
    if (p->op == JB_OP_ATTENTION) {
        double q = (double)jb_problem_query_rows(p);
        q = q > 0 ? q : (double)p->seq;
        return 4.0 * p->b * p->h * p->d * (2 * q + 2 * (double)p->seq);
    }
    return jb_problem_min_bytes(p);
}

const char *jb_phase_name(int phase)
{
    static const char *const names[] = {"prefill matmul", "prefill attention", "decode matmul", "decode attention"};
    _Static_assert(sizeof names / sizeof names[0] == JB_PHASES, "a name per phase");
    return phase >= 0 && phase < JB_PHASES ? names[phase] : "?";
}

/* ---- The kernel method ------------------------------------------------------ */

static int row_memory_bound(const jb_class_pick *p)
{
    if (p->problem.op == JB_OP_MATMUL)
        return p->problem.m <= JB_MEMORY_BOUND_ROWS;
    int64_t q = jb_problem_query_rows(&p->problem);
    return q > 0 && q <= JB_MEMORY_BOUND_ROWS;
}

static void note(jb_infer_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(jb_infer_result *r, const char *fmt, ...)
{
    if (r->nnotes == (int)(sizeof r->notes / sizeof r->notes[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

/* Whether the phase itself is memory-bound. */
static int phase_memory_bound(const jb_serving *s, int phase)
{
    switch (phase) {
    case JB_PREFILL_MATMUL: return s->prompt * s->batch <= JB_MEMORY_BOUND_ROWS;
    case JB_DECODE_MATMUL: return s->batch <= JB_MEMORY_BOUND_ROWS;
    case JB_DECODE_ATTENTION: return 1; /* one query row per cached token read: about 1 FLOP per byte */
    default: return 0;
    }
}

/* The shape each phase wants: matmul m x d_ff x d_model (the MLP
 * up-projection); attention over P (prefill) or one query row over the mean
 * context P + (O+1)/2 (decode). */
static void phase_target(const jb_model *m, const jb_serving *s, int phase, jb_shape_target *t)
{
    memset(t, 0, sizeof *t);
    int mm = phase == JB_PREFILL_MATMUL || phase == JB_DECODE_MATMUL;
    t->op = mm ? JB_OP_MATMUL : JB_OP_ATTENTION;
    t->m = phase == JB_PREFILL_MATMUL ? s->prompt * s->batch : s->batch;
    t->n = m->d_ff;
    t->k = m->d_model;
    t->q = phase == JB_DECODE_ATTENTION ? 1 : 0;
    t->seq = phase == JB_DECODE_ATTENTION ? s->prompt + (s->output + 1) / 2 : s->prompt;
    t->d = m->head_dim;
    t->h = m->heads;
    t->causal = m->causal;
    t->weight_only = 1;
    if (mm)
        t->matmul_regime = phase_memory_bound(s, phase) ? 1 : 2;
}

static void explain(jb_infer_result *r, const jb_serving *s, int phase, const char *variant)
{
    const jb_infer_pick *k = &r->pick[phase];
    const char *name = jb_phase_name(phase);
    if (k->other_variant)
        note(r, "%s: no verified row of variant '%s' of this phase's kind; %s (the best at the nearest shape) "
                "stands in", name, variant, k->row.row);
    if (!k->stands_in)
        return;
    switch (phase) {
    case JB_DECODE_ATTENTION:
        note(r, "decode attention: no KV-cache row (q < n) was measured; %s (q = n, read in FLOP/J) stands in for "
                "q = 1 over the context; decode attention is memory-bound and runs at lower FLOP/J, so its energy "
                "is understated", k->row.row);
        break;
    case JB_DECODE_MATMUL:
        if (k->per_byte)
            note(r, "decode matmul: %s (m <= %d, read in J/B) stands in for m = %.0f, which is compute-bound; "
                    "its energy is overstated", k->row.row, JB_MEMORY_BOUND_ROWS, s->batch);
        else
            note(r, "decode matmul: no row with m <= %d was measured; %s (read in FLOP/J) stands in for m = %.0f; "
                    "decode matmuls are memory-bound and run at lower FLOP/J, so their energy is understated",
                 JB_MEMORY_BOUND_ROWS, k->row.row, s->batch);
        break;
    case JB_PREFILL_MATMUL:
        if (k->per_byte)
            note(r, "prefill matmul: only rows with m <= %d were measured; %s (read in J/B) stands in for "
                    "m = P*B = %.0f, which is compute-bound; its energy is overstated",
                 JB_MEMORY_BOUND_ROWS, k->row.row, s->prompt * s->batch);
        else
            note(r, "prefill matmul: %s (read in FLOP/J) stands in for m = P*B = %.0f, which is memory-bound; its "
                    "energy is understated", k->row.row, s->prompt * s->batch);
        break;
    default:
        note(r, "prefill attention: only KV-cache rows (q < n) were measured; %s (read in J/B) stands in for "
                "attention over the prompt", k->row.row);
        break;
    }
}

static int pick_phase(const cJSON *results, const jb_model *m, const jb_serving *s, int phase, const char *variant,
                      jb_infer_pick *k, char *msg, size_t len)
{
    jb_shape_target t;
    phase_target(m, s, phase, &t);
    memset(k, 0, sizeof *k);
    if (jb_project_pick_target(results, &t, variant, &k->row, msg, len)) {
        char ignore[256];
        if (!variant || jb_project_pick_target(results, &t, NULL, &k->row, ignore, sizeof ignore))
            return JB_EINVAL;
        k->other_variant = 1;
    }
    /* The variant's nearest row is of the other kind (a self-attention row for
     * decode, say) while another kernel has one of the phase's kind: that one. */
    jb_class_pick other;
    char ignore[256];
    if (variant && !k->other_variant && row_memory_bound(&k->row) != phase_memory_bound(s, phase) &&
        !jb_project_pick_target(results, &t, NULL, &other, ignore, sizeof ignore) &&
        row_memory_bound(&other) == phase_memory_bound(s, phase)) {
        k->row = other;
        k->other_variant = 1;
    }
    k->used = 1;
    k->per_byte = row_memory_bound(&k->row);
    k->stands_in = k->per_byte != phase_memory_bound(s, phase);
    k->row_bytes = jb_row_min_bytes(&k->row);
    double flops = jb_problem_flops(&k->row.problem);
    k->joules_per_byte = k->row_bytes > 0 ? flops / k->row.flop_per_j / k->row_bytes : NAN;
    return JB_OK;
}

int jb_infer_run(const cJSON *results, const jb_model *m, const jb_serving *s, const char *matmul,
                 const char *attention, double host, double pue, jb_infer_result *r, char *msg, size_t len)
{
    memset(r, 0, sizeof *r);
    jb_infer_work_of(m, s, &r->w);
    const char *variant[JB_PHASES] = {matmul, attention, matmul, attention};
    for (int ph = 0; ph < JB_PHASES; ph++) {
        if ((ph == JB_DECODE_MATMUL || ph == JB_DECODE_ATTENTION) && !(s->output > 0))
            continue; /* prefill only: no decode rows needed */
        if (pick_phase(results, m, s, ph, variant[ph], &r->pick[ph], msg, len))
            return JB_EINVAL;
    }
    /* A variant asked for must serve at least one phase of its class. */
    for (int c = 0; c < 2; c++) {
        const jb_infer_pick *a = &r->pick[c], *b = &r->pick[c + 2];
        if (variant[c] && a->other_variant && (!b->used || b->other_variant)) {
            snprintf(msg, len, "the results have no verified %s row of variant '%s' with energy (flop_per_j)",
                     c ? "attention" : "matmul", variant[c]);
            return JB_EINVAL;
        }
    }
    r->all_measured = 1;
    for (int ph = 0; ph < JB_PHASES; ph++) {
        jb_infer_pick *k = &r->pick[ph];
        if (!k->used)
            continue;
        double wb, ab;
        jb_dtype_bytes(k->row.kernel, &wb, &ab);
        double flops, bytes;
        switch (ph) {
        case JB_PREFILL_MATMUL:
            flops = r->w.prefill_matmul_flops;
            bytes = jb_matmul_bytes_per_request(m, s, 1, s->prompt, wb, ab);
            break;
        case JB_DECODE_MATMUL:
            flops = r->w.decode_matmul_flops;
            bytes = jb_matmul_bytes_per_request(m, s, s->output, s->output, wb, ab);
            break;
        case JB_PREFILL_ATTENTION:
            flops = r->w.prefill_attention_flops;
            bytes = r->w.prefill_attention_bytes;
            break;
        default:
            flops = r->w.decode_attention_flops;
            bytes = r->w.decode_attention_bytes;
            break;
        }
        r->work[ph] = k->per_byte ? bytes : flops;
        r->joules[ph] = k->per_byte ? bytes * k->joules_per_byte : flops / k->row.flop_per_j;
        r->device_joules_per_request += r->joules[ph];
        r->all_measured &= k->row.measured;
        explain(r, s, ph, variant[ph]);
    }
    r->facility_joules_per_request = r->device_joules_per_request * host * pue;
    r->facility_joules_per_output_token = s->output > 0 ? r->facility_joules_per_request / s->output : NAN;
    /* The same bound as training's: no real projection nears 1e30 MWh. */
    if (!isfinite(r->facility_joules_per_request) || !(r->facility_joules_per_request / 3.6e9 < 1e30)) {
        int worst = 0;
        for (int ph = 1; ph < JB_PHASES; ph++)
            if (r->pick[ph].used && !(r->joules[ph] <= r->joules[worst]))
                worst = ph;
        snprintf(msg, len, "the serving projection of %s is out of range with row %s (%.3g FLOP/J)", m->name,
                 r->pick[worst].row.row, r->pick[worst].row.flop_per_j);
        return JB_EINVAL;
    }
    return JB_OK;
}

int jb_infer_kernels(const cJSON *results, const jb_model *m, const jb_serving *s, int cls, char kernels[][96],
                     int max)
{
    int n = 0;
    for (int ph = cls ? JB_PREFILL_ATTENTION : JB_PREFILL_MATMUL; ph < JB_PHASES; ph += 2) {
        if (ph >= JB_DECODE_MATMUL && !(s->output > 0))
            break;
        jb_shape_target t;
        jb_class_pick v[32];
        phase_target(m, s, ph, &t);
        int nv = jb_project_variants_target(results, &t, v, 32);
        for (int i = 0; i < nv; i++) {
            int j;
            for (j = 0; j < n && strcmp(kernels[j], v[i].kernel); j++)
                ;
            if (j == n && n < max)
                memcpy(kernels[n++], v[i].kernel, sizeof v[i].kernel); /* both 96 bytes, NUL-terminated */
        }
    }
    for (int i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (int j = i; j > 0 && strcmp(kernels[j - 1], kernels[j]) > 0; j--) {
            char t[96];
            memcpy(t, kernels[j], 96);
            memcpy(kernels[j], kernels[j - 1], 96);
            memcpy(kernels[j - 1], t, 96);
        }
    return n;
}

void jb_lifecycle_of(double jreq, double per_day, double days, double training_mwh, double kg, jb_lifecycle *o)
{
    memset(o, 0, sizeof *o);
    o->requests_per_day = per_day;
    o->days = days;
    o->kwh_per_day = per_day * jreq / 3.6e6;
    o->tco2e_per_year = o->kwh_per_day * 365.0 / 1000.0 * kg;
    o->training_mwh = training_mwh;
    o->inference_mwh = o->kwh_per_day * days / 1000.0;
    o->total_mwh = o->training_mwh + o->inference_mwh;
    o->total_tco2e = o->total_mwh * kg; /* MWh x kg/kWh = t */
    o->breakeven_requests = jreq > 0 ? training_mwh * 3.6e9 / jreq : NAN;
}

/* ---- Method 2 ---------------------------------------------------------------- */

/* Splits one CSV line into fields (double-quoted ones may hold commas; "" is a quote). */
static int csv_fields(const char *line, size_t n, char f[][512], int max)
{
    int k = 0;
    size_t i = 0;
    while (k < max) {
        size_t o = 0;
        if (i < n && line[i] == '"') {
            for (i++; i < n; i++) {
                if (line[i] == '"' && i + 1 < n && line[i + 1] == '"')
                    i++;
                else if (line[i] == '"') {
                    i++;
                    break;
                }
                if (o < 511)
                    f[k][o++] = line[i];
            }
        } else {
            for (; i < n && line[i] != ','; i++)
                if (o < 511)
                    f[k][o++] = line[i];
        }
        f[k++][o] = 0;
        if (i >= n || line[i] != ',')
            break;
        i++;
    }
    return k;
}

/* A number field: empty is NaN (not published); anything else must be a positive number. */
static int num_field(const char *s, double *v, int may_be_empty)
{
    if (!*s) {
        *v = NAN;
        return may_be_empty;
    }
    char *end;
    *v = strtod(s, &end);
    return *end == 0 && isfinite(*v) && *v > 0;
}

static int copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return 0;
    memcpy(dst, src, n + 1);
    return 1;
}

int jb_published_serving_parse(const char *csv, jb_published_serving *out, int max, char *msg, size_t len)
{
    static const char header[] = "id,model,hardware,batch,joules_per_request,output_tokens,boundary,facility,source";
    int n = 0, lineno = 0;
    for (const char *line = csv; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll && line[ll - 1] == '\r')
            ll--;
        lineno++;
        if (lineno == 1) {
            if (ll != strlen(header) || strncmp(line, header, ll)) {
                snprintf(msg, len, "published serving table: the first line must be '%s'", header);
                return JB_EPARSE;
            }
        } else if (ll && line[0] != '#') {
            char f[9][512];
            if (n == max) {
                snprintf(msg, len, "published serving table: more than %d rows", max);
                return JB_EPARSE;
            }
            jb_published_serving *p = &out[n];
            memset(p, 0, sizeof *p);
            if (csv_fields(line, ll, f, 9) != 9 || !f[0][0] ||
                !num_field(f[3], &p->batch, 1) || !num_field(f[4], &p->joules_per_request, 0) ||
                !num_field(f[5], &p->output_tokens, 1) || (strcmp(f[7], "yes") && strcmp(f[7], "no")) || !f[8][0]) {
                snprintf(msg, len, "published serving table, line %d: want 9 fields: an id, positive numbers for "
                                   "joules_per_request (and batch, output_tokens when published), facility yes|no, "
                                   "a source", lineno);
                return JB_EPARSE;
            }
            if (!copy_field(p->id, sizeof p->id, f[0]) || !copy_field(p->model, sizeof p->model, f[1]) ||
                !copy_field(p->hardware, sizeof p->hardware, f[2]) ||
                !copy_field(p->boundary, sizeof p->boundary, f[6]) || !copy_field(p->source, sizeof p->source, f[8])) {
                snprintf(msg, len, "published serving table, line %d: a field is too long", lineno);
                return JB_EPARSE;
            }
            p->facility = !strcmp(f[7], "yes");
            for (int i = 0; i < n; i++)
                if (!strcmp(out[i].id, p->id)) {
                    snprintf(msg, len, "published serving table, line %d: id '%s' given twice", lineno, p->id);
                    return JB_EPARSE;
                }
            n++;
        }
        line = eol ? eol + 1 : NULL;
    }
    return n;
}

int jb_published_serving_load(jb_published_serving *out, int max, char *msg, size_t len)
{
    char path[4096], *text;
    jb_data_path("configs/published_inference_energy.csv", path, sizeof path);
    if (jb_file_read(path, (size_t)1 << 20, JB_FILE_TEXT, &text, NULL, msg, len))
        return JB_EIO;
    char why[400];
    int n = jb_published_serving_parse(text, out, max, why, sizeof why);
    free(text);
    if (n < 0)
        snprintf(msg, len, "%s: %s", path, why);
    return n;
}

double jb_published_serving_joules(const jb_published_serving *p, const jb_serving *s, double host, double pue)
{
    double j = p->output_tokens > 0 ? p->joules_per_request / p->output_tokens * s->output : p->joules_per_request;
    return p->facility ? j : j * host * pue;
}
