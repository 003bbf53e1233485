/*
 * Regression statistics: the Mann-Whitney U test (exact null distribution
 * from the Gaussian binomial coefficient, normal approximation with tie
 * correction), per-row samples read from Google Benchmark JSON, and the
 * row-by-row comparison that `compare` and `history check` print.
 */
#include "analysis/stats.h"

#include "util/files.h"
#include "util/pattern.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jb_kernels.h"

/* ---- Statistics ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double jb_median(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    double small[64], *t = n <= 64 ? small : malloc(n * sizeof *t);
    if (!t)
        return NAN;
    memcpy(t, x, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    if (t != small)
        free(t);
    return m;
}

double jb_mwu_min_p(size_t n1, size_t n2)
{
    /* C(n1 + n2, n1) computed as a running product stays exact enough in doubles. */
    double c = 1;
    for (size_t i = 1; i <= n1; i++)
        c = c * (double)(n2 + i) / (double)i;
    double p = 2 / c;
    return p > 1 ? 1 : p;
}

/*
 * Under the null hypothesis every split of the n1 + n2 ranks is equally
 * likely, and the number of splits with U = u is the coefficient of q^u in
 * the Gaussian binomial [n1 + n2 choose n1]_q. It is built one factor at a
 * time, [n2 + k choose k] = [n2 + k - 1 choose k - 1] (1 - q^(n2+k)) / (1 - q^k);
 * each step is again a polynomial with integer coefficients, exact in
 * doubles for the sizes used here (C(40, 20) is about 1.4e11).
 * Returns P(U >= u) for an integer u, or NaN when out of memory.
 */
static double exact_upper_tail(size_t n1, size_t n2, double u)
{
    size_t deg = n1 * n2;
    double *c = calloc(deg + 1, sizeof *c);
    if (!c)
        return NAN;
    c[0] = 1;
    size_t cur = 0; /* degree so far: k * n2 */
    for (size_t k = 1; k <= n1; k++) {
        size_t shift = n2 + k;
        size_t nd = cur + n2;
        /* multiply by (1 - q^shift), from the top so c[] is read before it is overwritten */
        for (size_t i = cur + shift; i + 1 > shift; i--)
            if (i <= deg && i - shift <= cur)
                c[i] -= c[i - shift];
        /* divide by (1 - q^k): c[i] += c[i - k], upward */
        for (size_t i = k; i <= nd; i++)
            c[i] += c[i - k];
        /* coefficients above nd are zero after the division; clear what the product left there */
        for (size_t i = nd + 1; i <= deg && i <= cur + shift; i++)
            c[i] = 0;
        cur = nd;
    }
    double total = 0, tail = 0;
    for (size_t i = 0; i <= deg; i++) {
        total += c[i];
        if ((double)i >= u - 1e-9)
            tail += c[i];
    }
    free(c);
    return tail / total;
}

typedef struct ranked {
    double v;
    int from_a;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    return cmp_double(&((const ranked *)a)->v, &((const ranked *)b)->v);
}

int jb_mann_whitney(const double *a, size_t n1, const double *b, size_t n2, jb_mwu *r)
{
    if (!n1 || !n2)
        return JB_EINVAL;
    size_t n = n1 + n2;
    ranked *all = malloc(n * sizeof *all);
    if (!all)
        return JB_ENOMEM;
    for (size_t i = 0; i < n1; i++)
        all[i] = (ranked){a[i], 1};
    for (size_t i = 0; i < n2; i++)
        all[n1 + i] = (ranked){b[i], 0};
    for (size_t i = 0; i < n; i++)
        if (isnan(all[i].v)) {
            free(all);
            return JB_EINVAL;
        }
    qsort(all, n, sizeof *all, cmp_ranked);
    /* Average ranks over runs of ties; sum of t^3 - t over the runs for the variance. */
    double rank_sum_a = 0, tie_term = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v)
            j++;
        double rank = 0.5 * (double)(i + j) + 1, t = (double)(j - i + 1);
        for (size_t k = i; k <= j; k++)
            if (all[k].from_a)
                rank_sum_a += rank;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    free(all);
    double f1 = (double)n1, f2 = (double)n2, fn = (double)n;
    r->u1 = rank_sum_a - f1 * (f1 + 1) / 2;
    double u2 = f1 * f2 - r->u1, u = r->u1 > u2 ? r->u1 : u2;
    if (tie_term == 0 && n1 <= JB_MWU_EXACT_MAX && n2 <= JB_MWU_EXACT_MAX) {
        r->method = JB_MWU_EXACT;
        double tail = exact_upper_tail(n1, n2, u);
        if (isnan(tail))
            return JB_ENOMEM;
        r->p = 2 * tail;
    } else {
        r->method = JB_MWU_NORMAL;
        double mu = f1 * f2 / 2;
        double var = f1 * f2 / 12 * ((fn + 1) - tie_term / (fn * (fn - 1)));
        if (var <= 0) {
            r->p = 1; /* every value is the same: nothing to tell apart */
        } else {
            double z = (u - mu - 0.5) / sqrt(var);
            r->p = erfc(z / sqrt(2.0));
        }
    }
    if (r->p > 1)
        r->p = 1;
    return JB_OK;
}

/* ---- Per-row samples ------------------------------------------------------ */

const char *jb_metric_name(jb_metric m)
{
    static const char *const names[] = {"time", "flop_per_j"};
    _Static_assert(sizeof names / sizeof names[0] == JB_METRIC_COUNT, "a name per metric");
    return (unsigned)m < JB_METRIC_COUNT ? names[m] : "?";
}

void jb_bench_set_init(jb_bench_set *s)
{
    memset(s, 0, sizeof *s);
}

void jb_bench_set_free(jb_bench_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->rows[i].name);
        free(s->rows[i].error);
        for (int m = 0; m < JB_METRIC_COUNT; m++)
            free(s->rows[i].s[m].v);
    }
    free(s->rows);
    memset(s, 0, sizeof *s);
}

const jb_bench_row *jb_bench_set_find(const jb_bench_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->rows[i].name, name))
            return &s->rows[i];
    return NULL;
}

jb_bench_row *jb_bench_set_row(jb_bench_set *s, const char *name)
{
    /* Rows usually arrive grouped: the last one is the likely match. */
    if (s->n && !strcmp(s->rows[s->n - 1].name, name))
        return &s->rows[s->n - 1];
    jb_bench_row *found = (jb_bench_row *)jb_bench_set_find(s, name);
    if (found)
        return found;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        jb_bench_row *r = realloc(s->rows, cap * sizeof *r);
        if (!r)
            return NULL;
        s->rows = r;
        s->cap = cap;
    }
    jb_bench_row *r = &s->rows[s->n];
    memset(r, 0, sizeof *r);
    r->energy_measured = -1;
    r->name = strdup(name);
    if (!r->name)
        return NULL;
    s->n++;
    return r;
}

int jb_samples_add(jb_samples *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return JB_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return JB_OK;
}

int jb_bench_row_set_error(jb_bench_row *r, const char *msg)
{
    if (r->error)
        return JB_OK;
    r->error = strdup(msg && *msg ? msg : "error");
    return r->error ? JB_OK : JB_ENOMEM;
}

static double time_unit_ns(const char *unit)
{
    if (!unit || !strcmp(unit, "ns"))
        return 1;
    if (!strcmp(unit, "us"))
        return 1e3;
    if (!strcmp(unit, "ms"))
        return 1e6;
    if (!strcmp(unit, "s"))
        return 1e9;
    return NAN;
}

int jb_bench_set_from_json(const cJSON *doc, jb_bench_set *s, char *msg, size_t len)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"), *b;
    if (!cJSON_IsArray(list)) {
        snprintf(msg, len, "no \"benchmarks\" list");
        return JB_EPARSE;
    }
    int index = -1;
    cJSON_ArrayForEach(b, list)
    {
        index++;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "run_name");
        if (!cJSON_IsString(name))
            name = cJSON_GetObjectItemCaseSensitive(b, "name");
        if (!cJSON_IsObject(b) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "name")) ||
            !cJSON_IsString(name) || !name->valuestring[0]) {
            snprintf(msg, len, "benchmarks[%d] has no name", index);
            return JB_EPARSE;
        }
        /* The fields any reader uses have their types, or are absent (null: a
         * counter Google Benchmark could not aggregate). */
        static const char *const strings[] = {"run_type", "aggregate_name", "error_message", "time_unit", "label"};
        static const char *const numbers[] = {"real_time", "cpu_time", "iterations", "repetitions",
                                              "repetition_index", "flop_per_s", "flop_per_j", "bytes_per_s",
                                              "joules", "watts", "energy_measured", "intensity", "max_err"};
        for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, strings[i]);
            if (v && !cJSON_IsString(v)) {
                snprintf(msg, len, "benchmarks[%d] (%.200s): %s is not a string", index, name->valuestring, strings[i]);
                return JB_EPARSE;
            }
        }
        for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, numbers[i]);
            if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0)) {
                snprintf(msg, len, "benchmarks[%d] (%.200s): %s is not a non-negative number", index, name->valuestring,
                         numbers[i]);
                return JB_EPARSE;
            }
        }
        const cJSON *eo = cJSON_GetObjectItemCaseSensitive(b, "error_occurred");
        if (eo && !cJSON_IsBool(eo)) {
            snprintf(msg, len, "benchmarks[%d] (%.200s): error_occurred is not true or false", index, name->valuestring);
            return JB_EPARSE;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "run_type");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "aggregate"))
            continue;
        jb_bench_row *r = jb_bench_set_row(s, name->valuestring);
        if (!r)
            return JB_ENOMEM;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred"))) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "error_message");
            if (jb_bench_row_set_error(r, cJSON_IsString(m) ? m->valuestring : "error"))
                return JB_ENOMEM;
            continue;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "real_time");
        const cJSON *unit = cJSON_GetObjectItemCaseSensitive(b, "time_unit");
        double scale = time_unit_ns(cJSON_IsString(unit) ? unit->valuestring : NULL);
        if (!cJSON_IsNumber(t) || isnan(scale) || !isfinite(t->valuedouble * scale)) {
            snprintf(msg, len, "benchmarks[%d] (%.200s) has no real_time in a known time_unit (ns, us, ms, s)", index,
                     name->valuestring);
            return JB_EPARSE;
        }
        if (jb_samples_add(&r->s[JB_METRIC_TIME], t->valuedouble * scale))
            return JB_ENOMEM;
        const cJSON *fpj = cJSON_GetObjectItemCaseSensitive(b, "flop_per_j");
        if (cJSON_IsNumber(fpj) && fpj->valuedouble > 0 && jb_samples_add(&r->s[JB_METRIC_FLOP_PER_J], fpj->valuedouble))
            return JB_ENOMEM;
        const cJSON *em = cJSON_GetObjectItemCaseSensitive(b, "energy_measured");
        if (cJSON_IsNumber(em))
            r->energy_measured = em->valuedouble > 0.5;
    }
    return JB_OK;
}

/* ---- Comparison ------------------------------------------------------------ */

const char *jb_verdict_name(jb_verdict v)
{
    static const char *const names[] = {"same", "better", "worse", "noisy", "too few repetitions", "no data",
                                        "error", "only in baseline", "only in current"};
    _Static_assert(sizeof names / sizeof names[0] == JB_V_COUNT, "a name per verdict");
    return (unsigned)v < JB_V_COUNT ? names[v] : "?";
}

int jb_comparison_note(jb_comparison *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **n = realloc(c->notes, (c->nnotes + 1) * sizeof *n);
    if (!n)
        return JB_ENOMEM;
    c->notes = n;
    if (!(n[c->nnotes] = strdup(buf)))
        return JB_ENOMEM;
    c->nnotes++;
    return JB_OK;
}

static void compare_metric(const jb_bench_row *b, const jb_bench_row *a, jb_metric m, const jb_compare_opts *o,
                           jb_cmp_metric *out)
{
    const jb_samples *sb = &b->s[m], *sa = &a->s[m];
    out->n_base = sb->n;
    out->n_cur = sa->n;
    out->base_median = jb_median(sb->v, sb->n);
    out->cur_median = jb_median(sa->v, sa->n);
    out->change = NAN;
    out->p = NAN;
    if (!sb->n || !sa->n) {
        out->verdict = JB_V_NODATA;
        return;
    }
    out->change = out->base_median > 0 ? out->cur_median / out->base_median - 1 : NAN;
    if (sb->n < 2 || sa->n < 2) {
        out->verdict = JB_V_FEW;
        return;
    }
    jb_mwu t;
    if (jb_mann_whitney(sb->v, sb->n, sa->v, sa->n, &t)) {
        out->verdict = JB_V_NODATA;
        return;
    }
    out->p = t.p;
    out->method = t.method;
    /* A positive "gain" is an improvement: time falls, FLOP per joule rises. */
    double gain = m == JB_METRIC_TIME ? -out->change : out->change;
    if (isnan(gain) || fabs(out->change) <= o->threshold)
        out->verdict = JB_V_SAME;
    else if (t.p >= o->alpha)
        out->verdict = JB_V_NOISY;
    else
        out->verdict = gain > 0 ? JB_V_BETTER : JB_V_WORSE;
}

static jb_cmp_row *add_row(jb_comparison *c, size_t *cap)
{
    if (c->n == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        jb_cmp_row *r = realloc(c->rows, *cap * sizeof *r);
        if (!r)
            return NULL;
        c->rows = r;
    }
    jb_cmp_row *r = &c->rows[c->n++];
    memset(r, 0, sizeof *r);
    for (int m = 0; m < JB_METRIC_COUNT; m++) {
        r->m[m].change = r->m[m].p = r->m[m].base_median = r->m[m].cur_median = NAN;
        r->m[m].verdict = JB_V_NODATA;
    }
    return r;
}

int jb_compare(const jb_bench_set *base, const jb_bench_set *cur, const jb_compare_opts *o, jb_comparison *c)
{
    memset(c, 0, sizeof *c);
    c->opts = *o;
    regex_t re;
    char why[300];
    if (o->filter && jb_pattern_compile(&re, o->filter, 0, why, sizeof why))
        return JB_EINVAL;
    size_t cap = 0;
    int rc = JB_OK;
    size_t few_rows = 0, weak_rows = 0, weak_n1 = 0, weak_n2 = 0, mixed_energy = 0;
    for (int side = 0; side < 2 && rc == JB_OK; side++) {
        const jb_bench_set *s = side ? cur : base, *other = side ? base : cur;
        for (size_t i = 0; i < s->n; i++) {
            const jb_bench_row *x = &s->rows[i];
            if (o->filter && regexec(&re, x->name, 0, NULL, 0))
                continue;
            const jb_bench_row *y = jb_bench_set_find(other, x->name);
            if (side == 1 && y)
                continue; /* already compared from the baseline's side */
            jb_cmp_row *r = add_row(c, &cap);
            if (!r) {
                rc = JB_ENOMEM;
                break;
            }
            r->name = x->name;
            if (!y) {
                r->status = side ? JB_V_ONLY_CUR : JB_V_ONLY_BASE;
                c->count[r->status]++;
                continue;
            }
            if (x->error || y->error) {
                r->status = JB_V_ERROR;
                r->error_side = x->error && y->error ? 2 : x->error ? 0 : 1;
                r->error = x->error ? x->error : y->error;
                r->error_cur = x->error && y->error ? y->error : NULL;
                c->count[JB_V_ERROR]++;
                continue;
            }
            r->status = JB_V_SAME;
            int worse = 0, few = 0, weak = 0;
            for (int m = 0; m < JB_METRIC_COUNT; m++) {
                if (!o->metrics[m])
                    continue;
                compare_metric(x, y, (jb_metric)m, o, &r->m[m]);
                c->count[r->m[m].verdict]++;
                worse |= r->m[m].verdict == JB_V_WORSE;
                few |= r->m[m].verdict == JB_V_FEW;
                if (r->m[m].n_base >= 2 && r->m[m].n_cur >= 2 &&
                    jb_mwu_min_p(r->m[m].n_base, r->m[m].n_cur) >= o->alpha) {
                    weak = 1;
                    weak_n1 = r->m[m].n_base;
                    weak_n2 = r->m[m].n_cur;
                }
            }
            if (o->metrics[JB_METRIC_FLOP_PER_J] && x->energy_measured >= 0 && y->energy_measured >= 0 &&
                x->energy_measured != y->energy_measured)
                mixed_energy++;
            c->regressions += worse;
            few_rows += few;
            weak_rows += weak;
        }
    }
    if (o->filter)
        regfree(&re);
    if (rc)
        return rc;
    if (few_rows)
        rc |= jb_comparison_note(c, "%zu row%s with fewer than 2 repetitions on a side: not tested "
                                    "(run with --repetitions 5 or more)", few_rows, few_rows > 1 ? "s" : "");
    if (weak_rows)
        rc |= jb_comparison_note(c, "%zu row%s with too few repetitions for the U test to reach alpha %g "
                                    "(%zu vs %zu: the smallest possible p is %.3g), so no change can be significant: "
                                    "run with --repetitions 5 or more",
                                 weak_rows, weak_rows > 1 ? "s" : "", o->alpha, weak_n1, weak_n2,
                                 jb_mwu_min_p(weak_n1, weak_n2));
    if (mixed_energy)
        rc |= jb_comparison_note(c, "%zu row%s measured energy on one side and estimated it on the other: "
                                    "their flop_per_j are not comparable", mixed_energy, mixed_energy > 1 ? "s" : "");
    return rc ? JB_ENOMEM : JB_OK;
}

void jb_comparison_free(jb_comparison *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nnotes; i++)
        free(c->notes[i]);
    free(c->notes);
    free(c->rows);
    memset(c, 0, sizeof *c);
}

static void ctx_string(const cJSON *ctx, const char *key, char *buf, size_t len)
{
    const cJSON *v = ctx ? cJSON_GetObjectItemCaseSensitive(ctx, key) : NULL;
    if (cJSON_IsString(v))
        snprintf(buf, len, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, len, "%g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else
        buf[0] = 0;
}

void jb_comparison_context_notes(jb_comparison *c, const cJSON *base_ctx, const cJSON *cur_ctx)
{
    static const char *const keys[] = {"cpu_model", "num_cpus", "threads", "isa", "build_type",
                                       "meter", "energy", "cold_cache"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char a[256], b[256];
        ctx_string(base_ctx, keys[i], a, sizeof a);
        ctx_string(cur_ctx, keys[i], b, sizeof b);
        if (strcmp(a, b))
            jb_comparison_note(c, "%s differs: baseline '%s', current '%s'%s", keys[i], a[0] ? a : "(none)",
                               b[0] ? b : "(none)",
                               !strcmp(keys[i], "energy") ? ": measured and estimated energy are not comparable" : "");
    }
}

void jb_context_detail(const cJSON *ctx, char *buf, size_t len)
{
    char commit[128], date[64], host[128];
    ctx_string(ctx, "git_commit", commit, sizeof commit);
    ctx_string(ctx, "date", date, sizeof date);
    ctx_string(ctx, "host_name", host, sizeof host);
    snprintf(buf, len, "commit %s, %s, host %s", commit[0] ? commit : "unknown", date[0] ? date : "undated",
             host[0] ? host : "unknown");
}

int jb_cmp_format_from_name(const char *s)
{
    if (!strcmp(s, "console"))
        return JB_CMP_CONSOLE;
    if (!strcmp(s, "markdown"))
        return JB_CMP_MARKDOWN;
    if (!strcmp(s, "json"))
        return JB_CMP_JSON;
    return -1;
}

/* ---- Rendering ------------------------------------------------------------- */

static int nmetrics(const jb_comparison *c)
{
    int k = 0;
    for (int m = 0; m < JB_METRIC_COUNT; m++)
        k += c->opts.metrics[m] != 0;
    return k;
}

static void fmt_value(jb_metric m, double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else if (m == JB_METRIC_FLOP_PER_J)
        snprintf(buf, len, "%.4g GFLOP/J", v / 1e9);
    else if (v < 1e3)
        snprintf(buf, len, "%.0f ns", v);
    else if (v < 1e6)
        snprintf(buf, len, "%.2f us", v / 1e3);
    else if (v < 1e9)
        snprintf(buf, len, "%.3f ms", v / 1e6);
    else
        snprintf(buf, len, "%.3f s", v / 1e9);
}

static void fmt_change(double ch, char *buf, size_t len)
{
    if (isnan(ch))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%+.1f%%", 100 * ch);
}

static void fmt_p(const jb_cmp_metric *m, char *buf, size_t len)
{
    if (isnan(m->p))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.3g%s", m->p, m->method == JB_MWU_NORMAL ? "~" : "");
}

static void metrics_desc(const jb_comparison *c, char *buf, size_t len)
{
    buf[0] = 0;
    for (int m = 0; m < JB_METRIC_COUNT; m++)
        if (c->opts.metrics[m]) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s%s (%s is better)", l ? " and " : "", jb_metric_name((jb_metric)m),
                     m == JB_METRIC_TIME ? "lower" : "higher");
        }
}

static void summary_line(const jb_comparison *c, char *buf, size_t len)
{
    static const jb_verdict order[] = {JB_V_WORSE, JB_V_BETTER, JB_V_NOISY, JB_V_SAME,       JB_V_FEW,
                                       JB_V_NODATA, JB_V_ERROR, JB_V_ONLY_BASE, JB_V_ONLY_CUR};
    buf[0] = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        size_t k = c->count[order[i]];
        if (!k && order[i] != JB_V_WORSE)
            continue;
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%zu %s", l ? ", " : "", k, jb_verdict_name(order[i]));
    }
    if (nmetrics(c) > 1) {
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, " (rows x metrics)");
    }
}

/* "(current): msg", "(both): msg", or "(baseline): a; (current): b". */
static void error_text(const jb_cmp_row *r, char *buf, size_t len)
{
    if (r->error_side == 2 && strcmp(r->error, r->error_cur))
        snprintf(buf, len, "(baseline): %s; (current): %s", r->error, r->error_cur);
    else
        snprintf(buf, len, "(%s): %s", r->error_side == 2 ? "both" : r->error_side ? "current" : "baseline", r->error);
}

static void print_console(const jb_comparison *c, const jb_cmp_labels *l, FILE *f)
{
    char desc[256];
    metrics_desc(c, desc, sizeof desc);
    fprintf(f, "baseline: %s%s%s%s\n", l->base, l->base_detail ? " (" : "", l->base_detail ? l->base_detail : "",
            l->base_detail ? ")" : "");
    fprintf(f, "current:  %s%s%s%s\n", l->cur, l->cur_detail ? " (" : "", l->cur_detail ? l->cur_detail : "",
            l->cur_detail ? ")" : "");
    fprintf(f, "metric %s; threshold %g%%, alpha %g; two-sided Mann-Whitney U over the repetitions "
               "(p~: normal approximation)\n",
            desc, 100 * c->opts.threshold, c->opts.alpha);
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(f, "warning: %s\n", c->notes[i]);
    size_t w = 9;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->rows[i].name) > w)
            w = strlen(c->rows[i].name);
    int both = nmetrics(c) > 1;
    fprintf(f, "\n%-*s %s%16s %16s %8s %8s %5s  %s\n", (int)w, "benchmark", both ? "metric     " : "", "baseline",
            "current", "change", "p", "reps", "verdict");
    for (size_t i = 0; i < c->n; i++) {
        const jb_cmp_row *r = &c->rows[i];
        if (r->status != JB_V_SAME) {
            if (r->status == JB_V_ERROR) {
                char e[1200];
                error_text(r, e, sizeof e);
                fprintf(f, "%-*s %serror %s\n", (int)w, r->name, both ? "           " : "", e);
            } else
                fprintf(f, "%-*s %s%s\n", (int)w, r->name, both ? "           " : "", jb_verdict_name(r->status));
            continue;
        }
        for (int m = 0; m < JB_METRIC_COUNT; m++) {
            const jb_cmp_metric *x = &r->m[m];
            if (!c->opts.metrics[m])
                continue;
            char bv[32], cv[32], ch[32], p[32], reps[32];
            fmt_value((jb_metric)m, x->base_median, bv, sizeof bv);
            fmt_value((jb_metric)m, x->cur_median, cv, sizeof cv);
            fmt_change(x->change, ch, sizeof ch);
            fmt_p(x, p, sizeof p);
            snprintf(reps, sizeof reps, "%zu/%zu", x->n_base, x->n_cur);
            char mname[16] = "";
            if (both)
                snprintf(mname, sizeof mname, "%-10s ", jb_metric_name((jb_metric)m));
            fprintf(f, "%-*s %s%16s %16s %8s %8s %5s  %s\n", (int)w, r->name, mname, bv, cv, ch, p, reps,
                    jb_verdict_name(x->verdict));
        }
    }
    char sum[512];
    summary_line(c, sum, sizeof sum);
    fprintf(f, "\n%s: %s\n", c->regressions ? "REGRESSION" : "ok", sum);
}

static const char *md_verdict(jb_verdict v)
{
    switch (v) {
    case JB_V_WORSE: return "\xE2\x9D\x8C **worse**";          /* red cross */
    case JB_V_BETTER: return "\xE2\x9C\x85 better";            /* green check */
    case JB_V_NOISY: return "\xE2\x9A\xA0\xEF\xB8\x8F noisy";  /* warning sign */
    default: return jb_verdict_name(v);
    }
}

static void md_row(const jb_comparison *c, const jb_cmp_row *r, FILE *f)
{
    int both = nmetrics(c) > 1;
    if (r->status != JB_V_SAME) {
        if (r->status == JB_V_ERROR) {
            char e[1200];
            error_text(r, e, sizeof e);
            fprintf(f, "| `%s` |%s - | - | - | - | - | error ", r->name, both ? " - |" : "");
            for (const char *p = e; *p; p++) { /* a '|' would end the cell, a newline the row */
                if (*p == '|')
                    fputc('\\', f);
                fputc(*p == '\n' ? ' ' : *p, f);
            }
            fputs(" |\n", f);
        } else
            fprintf(f, "| `%s` |%s - | - | - | - | - | %s |\n", r->name, both ? " - |" : "", jb_verdict_name(r->status));
        return;
    }
    for (int m = 0; m < JB_METRIC_COUNT; m++) {
        const jb_cmp_metric *x = &r->m[m];
        if (!c->opts.metrics[m])
            continue;
        char bv[32], cv[32], ch[32], p[32];
        fmt_value((jb_metric)m, x->base_median, bv, sizeof bv);
        fmt_value((jb_metric)m, x->cur_median, cv, sizeof cv);
        fmt_change(x->change, ch, sizeof ch);
        fmt_p(x, p, sizeof p);
        fprintf(f, "| `%s` |%s%s%s %s | %s | %s | %s | %zu/%zu | %s |\n", r->name, both ? " " : "",
                both ? jb_metric_name((jb_metric)m) : "", both ? " |" : "", bv, cv, ch, p, x->n_base, x->n_cur,
                md_verdict(x->verdict));
    }
}

static int row_is_notable(const jb_comparison *c, const jb_cmp_row *r)
{
    /* A row skipped for the same reason on both sides (no GPU here, say) is no news. */
    if (r->status == JB_V_ERROR && r->error_side == 2 && !strcmp(r->error, r->error_cur) &&
        !strncmp(r->error, "skipped", 7))
        return 0;
    if (r->status != JB_V_SAME)
        return 1;
    for (int m = 0; m < JB_METRIC_COUNT; m++)
        if (c->opts.metrics[m] && r->m[m].verdict != JB_V_SAME)
            return 1;
    return 0;
}

static void print_markdown(const jb_comparison *c, const jb_cmp_labels *l, FILE *f)
{
    char desc[256], sum[512];
    metrics_desc(c, desc, sizeof desc);
    summary_line(c, sum, sizeof sum);
    if (c->regressions)
        fprintf(f, "### \xE2\x9D\x8C joulebench: %zu regression%s\n\n", c->regressions, c->regressions > 1 ? "s" : "");
    else
        fprintf(f, "### \xE2\x9C\x85 joulebench: no regression\n\n");
    fprintf(f, "Baseline `%s`%s%s%s; current `%s`%s%s%s.  \n", l->base, l->base_detail ? " (" : "",
            l->base_detail ? l->base_detail : "", l->base_detail ? ")" : "", l->cur, l->cur_detail ? " (" : "",
            l->cur_detail ? l->cur_detail : "", l->cur_detail ? ")" : "");
    fprintf(f, "Metric %s; a row is worse or better when its median moved by more than %g%% and the two-sided "
               "Mann-Whitney U test over the repetitions gives p < %g (p~: normal approximation).\n\n",
            desc, 100 * c->opts.threshold, c->opts.alpha);
    fprintf(f, "**%s**\n\n", sum);
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(f, "> **Warning:** %s\n>\n", c->notes[i]);
    if (c->nnotes)
        fprintf(f, "\n");
    const char *head = nmetrics(c) > 1 ? "| benchmark | metric | baseline | current | change | p | reps | verdict |\n"
                                         "|---|---|--:|--:|--:|--:|--:|---|\n"
                                       : "| benchmark | baseline | current | change | p | reps | verdict |\n"
                                         "|---|--:|--:|--:|--:|--:|---|\n";
    size_t notable = 0;
    for (size_t i = 0; i < c->n; i++)
        notable += row_is_notable(c, &c->rows[i]);
    if (notable) {
        fprintf(f, "%s", head);
        for (size_t i = 0; i < c->n; i++)
            if (row_is_notable(c, &c->rows[i]))
                md_row(c, &c->rows[i], f);
        fprintf(f, "\n");
    }
    if (c->n > notable) {
        fprintf(f, "<details><summary>%s%zu rows unchanged (within %g%%) or skipped alike on both sides</summary>\n\n",
                notable ? "" : "All ", c->n - notable, 100 * c->opts.threshold);
        fprintf(f, "%s", head);
        for (size_t i = 0; i < c->n; i++)
            if (!row_is_notable(c, &c->rows[i]))
                md_row(c, &c->rows[i], f);
        fprintf(f, "\n</details>\n");
    }
}

static void json_num(cJSON *o, const char *k, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static void print_json(const jb_comparison *c, const jb_cmp_labels *l, FILE *f)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "baseline", l->base);
    cJSON_AddStringToObject(doc, "current", l->cur);
    if (l->base_detail)
        cJSON_AddStringToObject(doc, "baseline_detail", l->base_detail);
    if (l->cur_detail)
        cJSON_AddStringToObject(doc, "current_detail", l->cur_detail);
    cJSON *ms = cJSON_AddArrayToObject(doc, "metrics");
    for (int m = 0; m < JB_METRIC_COUNT; m++)
        if (c->opts.metrics[m])
            cJSON_AddItemToArray(ms, cJSON_CreateString(jb_metric_name((jb_metric)m)));
    cJSON_AddNumberToObject(doc, "threshold", c->opts.threshold);
    cJSON_AddNumberToObject(doc, "alpha", c->opts.alpha);
    cJSON_AddStringToObject(doc, "test", "two-sided Mann-Whitney U over the repetitions");
    cJSON_AddBoolToObject(doc, "regression", c->regressions > 0);
    cJSON_AddNumberToObject(doc, "regressions", (double)c->regressions);
    cJSON *counts = cJSON_AddObjectToObject(doc, "counts");
    for (int v = 0; v < JB_V_COUNT; v++)
        cJSON_AddNumberToObject(counts, jb_verdict_name((jb_verdict)v), (double)c->count[v]);
    cJSON *warn = cJSON_AddArrayToObject(doc, "warnings");
    for (size_t i = 0; i < c->nnotes; i++)
        cJSON_AddItemToArray(warn, cJSON_CreateString(c->notes[i]));
    cJSON *rows = cJSON_AddArrayToObject(doc, "rows");
    for (size_t i = 0; i < c->n; i++) {
        const jb_cmp_row *r = &c->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "status", r->status == JB_V_SAME ? "compared" : jb_verdict_name(r->status));
        if (r->status == JB_V_ERROR) {
            static const char *const side[] = {"baseline", "current", "both"};
            cJSON_AddStringToObject(o, "error_in", side[r->error_side]);
            cJSON_AddStringToObject(o, "error_message", r->error);
            if (r->error_cur && strcmp(r->error, r->error_cur))
                cJSON_AddStringToObject(o, "current_error_message", r->error_cur);
        }
        for (int m = 0; r->status == JB_V_SAME && m < JB_METRIC_COUNT; m++) {
            if (!c->opts.metrics[m])
                continue;
            const jb_cmp_metric *x = &r->m[m];
            cJSON *mo = cJSON_AddObjectToObject(o, jb_metric_name((jb_metric)m));
            json_num(mo, "baseline_median", x->base_median);
            json_num(mo, "current_median", x->cur_median);
            json_num(mo, "change", x->change);
            json_num(mo, "p", x->p);
            if (!isnan(x->p))
                cJSON_AddStringToObject(mo, "p_method", x->method == JB_MWU_EXACT ? "exact" : "normal");
            cJSON_AddNumberToObject(mo, "baseline_repetitions", (double)x->n_base);
            cJSON_AddNumberToObject(mo, "current_repetitions", (double)x->n_cur);
            cJSON_AddStringToObject(mo, "verdict", jb_verdict_name(x->verdict));
        }
        cJSON_AddItemToArray(rows, o);
    }
    jb_json_print(f, doc);
    cJSON_Delete(doc);
}

void jb_comparison_print(const jb_comparison *c, const jb_cmp_labels *l, jb_cmp_format fmt, FILE *f)
{
    if (fmt == JB_CMP_MARKDOWN)
        print_markdown(c, l, f);
    else if (fmt == JB_CMP_JSON)
        print_json(c, l, f);
    else
        print_console(c, l, f);
}
