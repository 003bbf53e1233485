/* The comparison of two sets of samples: medians, change, U test and a verdict per row. */
#include "analysis/compare.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jb_kernels.h"
#include "util/pattern.h"

const char *jb_verdict_name(jb_verdict v)
{
    static const char *const names[] = {"same", "better", "worse", "inconclusive", "too few repetitions", "no data",
                                        "error", "skipped", "only in baseline", "only in current"};
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

/* Independent samples: the U test, and the change's interval from the two
 * medians' intervals (the slowest and fastest ratios they allow), JB_OK or
 * JB_EINVAL. */
static int unpaired_test(const jb_samples *sb, const jb_samples *sa, jb_cmp_metric *out)
{
    jb_mwu t;
    if (jb_mann_whitney(sb->v, sb->n, sa->v, sa->n, &t))
        return JB_EINVAL;
    out->p = t.p;
    out->method = t.method;
    double blo, bhi, alo, ahi;
    if (jb_median_ci(sb->v, sb->n, 0.95, &blo, &bhi, NULL) == JB_OK &&
        jb_median_ci(sa->v, sa->n, 0.95, &alo, &ahi, NULL) == JB_OK && blo > 0 && bhi > 0) {
        out->change_lo = alo / bhi - 1;
        out->change_hi = ahi / blo - 1;
    }
    return JB_OK;
}

/* Paired samples (sample i of each side taken together): the Wilcoxon
 * signed-rank test over log(cur_i / base_i), the median ratio and its
 * order-statistic interval. JB_OK or JB_EINVAL (unequal counts, a value not
 * positive). */
static int paired_test(const jb_samples *sb, const jb_samples *sa, jb_cmp_metric *out)
{
    if (sb->n != sa->n)
        return JB_EINVAL;
    double *r = malloc(2 * sb->n * sizeof *r), *d = r ? r + sb->n : NULL;
    if (!r)
        return JB_EINVAL;
    int rc = JB_OK;
    for (size_t i = 0; i < sb->n && rc == JB_OK; i++) {
        if (!(sb->v[i] > 0 && sa->v[i] > 0))
            rc = JB_EINVAL;
        else {
            r[i] = sa->v[i] / sb->v[i];
            d[i] = log(r[i]);
        }
    }
    if (rc == JB_OK) {
        out->change = jb_median(r, sb->n) - 1;
        double lo, hi;
        if (jb_median_ci(r, sb->n, 0.95, &lo, &hi, NULL) == JB_OK) {
            out->change_lo = lo - 1;
            out->change_hi = hi - 1;
        }
        if (jb_wilcoxon(d, sb->n, &out->p) != JB_OK)
            out->p = 1; /* every pair equal: no difference at all */
    }
    free(r);
    return rc;
}

static void compare_metric(const jb_bench_row *b, const jb_bench_row *a, jb_metric m, const jb_compare_opts *o,
                           jb_cmp_metric *out)
{
    const jb_samples *sb = &b->s[m], *sa = &a->s[m];
    out->n_base = sb->n;
    out->n_cur = sa->n;
    out->base_median = jb_median(sb->v, sb->n);
    out->cur_median = jb_median(sa->v, sa->n);
    out->change = out->change_lo = out->change_hi = NAN;
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
    int rc = o->paired ? paired_test(sb, sa, out) : unpaired_test(sb, sa, out);
    if (rc) {
        out->verdict = JB_V_NODATA;
        return;
    }
    /* A positive "gain" is an improvement: time falls, FLOP per joule rises. */
    double gain = m == JB_METRIC_TIME ? -out->change : out->change;
    const int have_ci = !isnan(out->change_lo);
    if (isnan(gain))
        out->verdict = JB_V_SAME;
    else if (out->p < o->alpha && (have_ci ? out->change_lo > o->threshold || out->change_hi < -o->threshold
                                            : fabs(out->change) > o->threshold))
        out->verdict = gain > 0 ? JB_V_BETTER : JB_V_WORSE;
    else if (have_ci ? out->change_lo >= -o->threshold && out->change_hi <= o->threshold : fabs(out->change) <= o->threshold)
        out->verdict = JB_V_SAME;
    else
        out->verdict = JB_V_INCONCLUSIVE;
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
        r->m[m].change_lo = r->m[m].change_hi = NAN;
        r->m[m].verdict = JB_V_NODATA;
    }
    return r;
}

/* The smallest two-sided p the test can give with these sample counts. */
static double min_p(const jb_compare_opts *o, size_t n1, size_t n2)
{
    if (o->paired) /* all n signs alike: 2 / 2^n */
        return fmin(1, ldexp(1.0, 1 - (int)fmin((double)n1, 60)));
    return jb_mwu_min_p(n1, n2);
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
                r->status = x->error && y->error && !strncmp(x->error, "skipped", 7) && !strncmp(y->error, "skipped", 7)
                                ? JB_V_SKIPPED
                                : JB_V_ERROR;
                r->error_side = x->error && y->error ? 2 : x->error ? 0 : 1;
                r->error = x->error ? x->error : y->error;
                r->error_cur = x->error && y->error ? y->error : NULL;
                c->count[r->status]++;
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
                    min_p(o, r->m[m].n_base, r->m[m].n_cur) >= o->alpha) {
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
        rc |= jb_comparison_note(c, "%zu row%s with fewer than 2 %s on a side: not tested", few_rows,
                                 few_rows > 1 ? "s" : "", o->paired ? "pairs" : "repetitions");
    if (weak_rows)
        rc |= jb_comparison_note(c, "%zu row%s with too few %s for the %s test to reach alpha %g "
                                    "(%zu vs %zu: the smallest possible p is %.3g), so no change can be significant",
                                 weak_rows, weak_rows > 1 ? "s" : "", o->paired ? "pairs" : "repetitions",
                                 o->paired ? "signed-rank" : "U", o->alpha, weak_n1, weak_n2, min_p(o, weak_n1, weak_n2));
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
