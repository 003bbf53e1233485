/* A comparison as a console table, a GitHub-flavoured markdown table, or JSON. */
#include "analysis/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/files.h"

static int nmetrics(const jb_comparison *c)
{
    int k = 0;
    for (int m = 0; m < JB_METRIC_COUNT; m++)
        k += c->opts.metrics[m] != 0;
    return k;
}

static void fmt_value(jb_metric m, double v, char *buf, size_t len)
{
    if (m == JB_METRIC_FLOP_PER_J && !isnan(v))
        snprintf(buf, len, "%.4g GFLOP/J", v / 1e9);
    else
        jb_fmt_time(v, buf, len);
}

static void fmt_change(double ch, char *buf, size_t len)
{
    if (isnan(ch))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%+.1f%%", 100 * ch);
}

/* "[-3.1%, +8.0%]", or "-" without an interval. */
static void fmt_interval(const jb_cmp_metric *m, char *buf, size_t len)
{
    if (isnan(m->change_lo))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "[%+.1f%%, %+.1f%%]", 100 * m->change_lo, 100 * m->change_hi);
}

/* What was tested, for the headers. */
static const char *test_desc(const jb_comparison *c)
{
    return c->opts.paired ? "two-sided Wilcoxon signed-rank test over the paired log ratios"
                          : "two-sided Mann-Whitney U over the repetitions";
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
    static const jb_verdict order[] = {JB_V_WORSE, JB_V_BETTER, JB_V_INCONCLUSIVE, JB_V_SAME, JB_V_FEW,
                                       JB_V_NODATA, JB_V_ERROR, JB_V_SKIPPED, JB_V_ONLY_BASE, JB_V_ONLY_CUR};
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

/* An error or skipped row: it carries messages instead of figures. */
static int has_error(const jb_cmp_row *r)
{
    return r->status == JB_V_ERROR || r->status == JB_V_SKIPPED;
}

/* "(current): msg", "(both): msg", or "(baseline): a; (current): b"; a
 * skipped row's messages without their "skipped: ". */
static void error_text(const jb_cmp_row *r, char *buf, size_t len)
{
    static const char pre[] = "skipped: ";
    const char *b = r->error, *c = r->error_cur;
    if (r->status == JB_V_SKIPPED && !strncmp(b, pre, sizeof pre - 1))
        b += sizeof pre - 1;
    if (r->status == JB_V_SKIPPED && c && !strncmp(c, pre, sizeof pre - 1))
        c += sizeof pre - 1;
    if (r->error_side == 2 && strcmp(b, c))
        snprintf(buf, len, "(baseline): %s; (current): %s", b, c);
    else
        snprintf(buf, len, "(%s): %s", r->error_side == 2 ? "both" : r->error_side ? "current" : "baseline", b);
}

static void print_console(const jb_comparison *c, const jb_cmp_labels *l, FILE *f)
{
    char desc[256];
    metrics_desc(c, desc, sizeof desc);
    fprintf(f, "baseline: %s%s%s%s\n", l->base, l->base_detail ? " (" : "", l->base_detail ? l->base_detail : "",
            l->base_detail ? ")" : "");
    fprintf(f, "current:  %s%s%s%s\n", l->cur, l->cur_detail ? " (" : "", l->cur_detail ? l->cur_detail : "",
            l->cur_detail ? ")" : "");
    fprintf(f, "metric %s; threshold %g%%, alpha %g; %s (p~: normal approximation); "
               "interval: 95%% for the change\n",
            desc, 100 * c->opts.threshold, c->opts.alpha, test_desc(c));
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(f, "warning: %s\n", c->notes[i]);
    size_t w = 9;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->rows[i].name) > w)
            w = strlen(c->rows[i].name);
    int both = nmetrics(c) > 1;
    fprintf(f, "\n%-*s %s%16s %16s %8s %18s %8s %7s  %s\n", (int)w, "benchmark", both ? "metric     " : "",
            "baseline", "current", "change", "interval", "p", c->opts.paired ? "pairs" : "reps", "verdict");
    for (size_t i = 0; i < c->n; i++) {
        const jb_cmp_row *r = &c->rows[i];
        if (r->status != JB_V_SAME) {
            if (has_error(r)) {
                char e[1200];
                error_text(r, e, sizeof e);
                fprintf(f, "%-*s %s%s %s\n", (int)w, r->name, both ? "           " : "", jb_verdict_name(r->status), e);
            } else
                fprintf(f, "%-*s %s%s\n", (int)w, r->name, both ? "           " : "", jb_verdict_name(r->status));
            continue;
        }
        for (int m = 0; m < JB_METRIC_COUNT; m++) {
            const jb_cmp_metric *x = &r->m[m];
            if (!c->opts.metrics[m])
                continue;
            char bv[32], cv[32], ch[32], iv[48], p[32], reps[48];
            fmt_value((jb_metric)m, x->base_median, bv, sizeof bv);
            fmt_value((jb_metric)m, x->cur_median, cv, sizeof cv);
            fmt_change(x->change, ch, sizeof ch);
            fmt_interval(x, iv, sizeof iv);
            fmt_p(x, p, sizeof p);
            if (c->opts.paired)
                snprintf(reps, sizeof reps, "%zu", x->n_base);
            else
                snprintf(reps, sizeof reps, "%zu/%zu", x->n_base, x->n_cur);
            char mname[16] = "";
            if (both)
                snprintf(mname, sizeof mname, "%-10s ", jb_metric_name((jb_metric)m));
            fprintf(f, "%-*s %s%16s %16s %8s %18s %8s %7s  %s\n", (int)w, r->name, mname, bv, cv, ch, iv, p, reps,
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
    case JB_V_INCONCLUSIVE: return "\xE2\x9A\xA0\xEF\xB8\x8F inconclusive"; /* warning sign */
    default: return jb_verdict_name(v);
    }
}

static void md_row(const jb_comparison *c, const jb_cmp_row *r, FILE *f)
{
    int both = nmetrics(c) > 1;
    if (r->status != JB_V_SAME) {
        if (has_error(r)) {
            char e[1200];
            error_text(r, e, sizeof e);
            fprintf(f, "| `%s` |%s - | - | - | - | - | - | %s ", r->name, both ? " - |" : "", jb_verdict_name(r->status));
            for (const char *p = e; *p; p++) { /* a '|' would end the cell, a newline the row */
                if (*p == '|')
                    fputc('\\', f);
                fputc(*p == '\n' ? ' ' : *p, f);
            }
            fputs(" |\n", f);
        } else
            fprintf(f, "| `%s` |%s - | - | - | - | - | - | %s |\n", r->name, both ? " - |" : "",
                    jb_verdict_name(r->status));
        return;
    }
    for (int m = 0; m < JB_METRIC_COUNT; m++) {
        const jb_cmp_metric *x = &r->m[m];
        if (!c->opts.metrics[m])
            continue;
        char bv[32], cv[32], ch[32], iv[48], p[32];
        fmt_value((jb_metric)m, x->base_median, bv, sizeof bv);
        fmt_value((jb_metric)m, x->cur_median, cv, sizeof cv);
        fmt_change(x->change, ch, sizeof ch);
        fmt_interval(x, iv, sizeof iv);
        fmt_p(x, p, sizeof p);
        fprintf(f, "| `%s` |%s%s%s %s | %s | %s | %s | %s | %zu/%zu | %s |\n", r->name, both ? " " : "",
                both ? jb_metric_name((jb_metric)m) : "", both ? " |" : "", bv, cv, ch, iv, p, x->n_base, x->n_cur,
                md_verdict(x->verdict));
    }
}

static int row_is_notable(const jb_comparison *c, const jb_cmp_row *r)
{
    /* A row skipped for the same reason on both sides (no GPU here, say) is no news. */
    if (r->status == JB_V_SKIPPED && !strcmp(r->error, r->error_cur))
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
    fprintf(f, "Metric %s; a row is worse or better when the %s gives p < %g (p~: normal approximation) "
               "and the whole 95%% interval of the change is past %g%%; same when the whole interval is within "
               "%g%%; inconclusive otherwise.\n\n",
            desc, test_desc(c), c->opts.alpha, 100 * c->opts.threshold, 100 * c->opts.threshold);
    fprintf(f, "**%s**\n\n", sum);
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(f, "> **Warning:** %s\n>\n", c->notes[i]);
    if (c->nnotes)
        fprintf(f, "\n");
    const char *head = nmetrics(c) > 1
                           ? "| benchmark | metric | baseline | current | change | 95% interval | p | reps | verdict |\n"
                             "|---|---|--:|--:|--:|--:|--:|--:|---|\n"
                           : "| benchmark | baseline | current | change | 95% interval | p | reps | verdict |\n"
                             "|---|--:|--:|--:|--:|--:|--:|---|\n";
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
    cJSON_AddStringToObject(doc, "test", test_desc(c));
    cJSON_AddBoolToObject(doc, "paired", c->opts.paired);
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
        if (has_error(r)) {
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
            json_num(mo, "change_ci95_low", x->change_lo);
            json_num(mo, "change_ci95_high", x->change_hi);
            json_num(mo, "p", x->p);
            if (!isnan(x->p) && !c->opts.paired)
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
