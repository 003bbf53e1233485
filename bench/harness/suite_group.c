/*
 * Suite groups: an op, its kernels (anchored regexes over full names), and
 * shapes as axes whose cartesian product is taken ("m=n=k" ties keys) or as an
 * explicit list, less the "skip" entries; each combination becomes a row.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/suite_impl.h"
#include "util/pattern.h"

static int add_row(jb_suite *s, const jb_kernel *k, const jb_problem *p)
{
    if (s->nrows == JB_SUITE_MAX_ROWS)
        return JB_EINVAL;
    for (size_t i = 0; i < s->nrows; i++) /* the same row twice is run once */
        if (s->rows[i].k == k && !memcmp(&s->rows[i].p, p, sizeof *p))
            return JB_OK;
    if ((s->nrows & (s->nrows + 1)) == 0 || s->nrows == 0) {
        size_t cap = s->nrows ? 2 * (s->nrows + 1) : 16;
        jb_row *r = realloc(s->rows, cap * sizeof *r);
        if (!r)
            return JB_ENOMEM;
        s->rows = r;
    }
    jb_row *r = &s->rows[s->nrows++];
    memset(r, 0, sizeof *r);
    r->k = k;
    r->p = *p;
    jb_row_name(k, p, r->name, sizeof r->name);
    return JB_OK;
}

/* An axis: one or more tied keys ("m=n=k") and their values. */
typedef struct axis {
    const char *name;   /* as written: "m=n=k" */
    char keys[4][16];
    int nkeys;
    double values[256];
    int nvalues;
} axis;

/* Sets key of p to v: 0, or -1 unknown key, -2 not an integer, -3 out of range
 * (checked before any conversion to an integer type). */
static int set_key(jb_problem *p, const char *key, double v)
{
    if (!strcmp(key, "scale")) {
        if (p->op != JB_OP_SOFTMAX)
            return -1;
        p->scale = v;
        return 0;
    }
    if (!(fabs(v) <= (double)JB_DIM_MAX))
        return -3;
    if (v != floor(v))
        return -2;
    int64_t iv = (int64_t)v;
    switch (p->op) {
    case JB_OP_MATMUL:
        if (!strcmp(key, "m")) p->m = iv;
        else if (!strcmp(key, "n")) p->n = iv;
        else if (!strcmp(key, "k")) p->k = iv;
        else if (!strcmp(key, "packed")) p->packed = iv == 0 || iv == 1 ? (int)iv : 2; /* 2: refused by validate */
        else return -1;
        return 0;
    case JB_OP_SOFTMAX:
        if (!strcmp(key, "rows")) p->rows = iv;
        else if (!strcmp(key, "cols")) p->cols = iv;
        else if (!strcmp(key, "causal")) p->causal = iv == 0 || iv == 1 ? (int)iv : 2; /* 2: refused by validate */
        else return -1;
        return 0;
    case JB_OP_ATTENTION:
        if (!strcmp(key, "b")) p->b = iv;
        else if (!strcmp(key, "h")) p->h = iv;
        else if (!strcmp(key, "n")) p->seq = iv;
        else if (!strcmp(key, "q")) p->q = iv > 0 ? iv : -1; /* -1: refused by validate */
        else if (!strcmp(key, "d")) p->d = iv;
        else if (!strcmp(key, "causal")) p->causal = iv == 0 || iv == 1 ? (int)iv : 2;
        else return -1;
        return 0;
    default:
        return -1;
    }
}

static double get_key(const jb_problem *p, const char *key)
{
    static const char *const keys[] = {"m", "n", "k", "rows", "cols", "causal", "b", "h", "d", "scale", "q", "packed"};
    if (!strcmp(key, "n") && p->op == JB_OP_ATTENTION)
        return (double)p->seq;
    const double vals[] = {(double)p->m, (double)p->n, (double)p->k, (double)p->rows, (double)p->cols,
                           (double)p->causal, (double)p->b, (double)p->h, (double)p->d, p->scale,
                           p->op == JB_OP_ATTENTION ? (double)jb_attention_q(p) : 0, (double)p->packed};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i]))
            return vals[i];
    return NAN;
}

/* Does p for kernel k match a skip entry (every field given matches)? */
static int skipped(const jb_suite_ctx *c, const cJSON *skip, const jb_kernel *k, const jb_problem *p, int *rc)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, skip)
    {
        int match = 1;
        const cJSON *f;
        cJSON_ArrayForEach(f, e)
        {
            if (!strcmp(f->string, "kernel")) {
                regex_t re;
                char why[300];
                if (!cJSON_IsString(f)) {
                    *rc = jb_suite_err_at(c, NULL, "kernel", "skip: \"kernel\" must be a regular expression (a string)");
                    return 0;
                }
                if (jb_pattern_compile(&re, f->valuestring, 1, why, sizeof why)) {
                    *rc = jb_suite_err_at(c, NULL, "kernel", "skip: \"kernel\": %s", why);
                    return 0;
                }
                match &= regexec(&re, k->name, 0, NULL, 0) == 0;
                regfree(&re);
                continue;
            }
            double v = get_key(p, f->string);
            if (isnan(v)) {
                *rc = jb_suite_err_at(c, NULL, f->string, "skip: unknown shape key '%s'", f->string);
                return 0;
            }
            int any = 0;
            if (cJSON_IsNumber(f))
                any = f->valuedouble == v;
            const cJSON *x;
            if (cJSON_IsArray(f))
                cJSON_ArrayForEach(x, f) any |= cJSON_IsNumber(x) && x->valuedouble == v;
            match &= any;
        }
        if (match)
            return 1;
    }
    return 0;
}

static int expand(const jb_suite_ctx *c, jb_suite *s, jb_op op, const jb_kernel **ks, size_t nk,
                  axis *axes, int naxes, const cJSON *skip)
{
    int idx[16] = {0};
    double combos = 1;
    for (int a = 0; a < naxes; a++)
        combos *= axes[a].nvalues;
    if (combos * (double)(nk ? nk : 1) > JB_SUITE_MAX_ROWS)
        return jb_suite_err_at(c, NULL, "axes", "the axes give %.4g shapes x %zu kernels, more than the %d rows a suite may have",
                      combos, nk, JB_SUITE_MAX_ROWS);
    /* A key set by two axes would let the later silently win. */
    for (int a = 0; a < naxes; a++)
        for (int j = 0; j < axes[a].nkeys; j++)
            for (int b = a; b < naxes; b++)
                for (int i = b == a ? j + 1 : 0; i < axes[b].nkeys; i++)
                    if (!strcmp(axes[a].keys[j], axes[b].keys[i]))
                        return jb_suite_err_at(c, NULL, axes[b].name, "shape key '%s' is given twice (in '%s' and '%s')",
                                      axes[a].keys[j], axes[a].name, axes[b].name);
    for (;;) {
        jb_problem p = {.op = op};
        for (int a = 0; a < naxes; a++)
            for (int j = 0; j < axes[a].nkeys; j++)
                set_key(&p, axes[a].keys[j], axes[a].values[idx[a]]);
        if (p.op == JB_OP_ATTENTION && p.q == p.seq) /* q = n is self-attention: one name for it */
            p.q = 0;
        char why[200];
        if (jb_problem_validate(&p, why, sizeof why)) {
            char shape[128] = "";
            jb_problem_format(&p, shape, sizeof shape);
            return jb_suite_err_at(c, NULL, "axes", "shape %s is invalid: %s", shape, why);
        }
        for (size_t i = 0; i < nk; i++) {
            int rc = 0;
            if (skipped(c, skip, ks[i], &p, &rc))
                continue;
            if (rc)
                return rc;
            if ((rc = add_row(s, ks[i], &p)) == JB_EINVAL)
                return jb_suite_err_at(c, NULL, "axes", "the suite has more than %d rows", JB_SUITE_MAX_ROWS);
            if (rc)
                return rc;
        }
        int a = naxes - 1;
        while (a >= 0 && ++idx[a] == axes[a].nvalues)
            idx[a--] = 0;
        if (a < 0)
            return JB_OK;
    }
}

static int parse_axis(const jb_suite_ctx *c, const cJSON *f, jb_op op, axis *ax)
{
    memset(ax, 0, sizeof *ax);
    ax->name = f->string;
    char keys[64];
    if (strlen(f->string) >= sizeof keys)
        return jb_suite_err_at(c, NULL, f->string, "axis name '%.20s...' is too long", f->string);
    snprintf(keys, sizeof keys, "%s", f->string);
    for (char *t = keys, *next; t; t = next) {
        next = strchr(t, '=');
        if (next)
            *next++ = 0;
        if (!*t)
            return jb_suite_err_at(c, NULL, f->string, "axis '%s' has an empty key", f->string);
        if (ax->nkeys == 4)
            return jb_suite_err_at(c, NULL, f->string, "too many tied keys in '%s'", f->string);
        jb_problem probe = {.op = op};
        if (set_key(&probe, t, 1) == -1)
            return jb_suite_err_at(c, NULL, f->string, "unknown shape key '%s' for %s%s", t, jb_op_name(op),
                                   !strcmp(t, "packed") ? " (packed is matmul's only)" : "");
        snprintf(ax->keys[ax->nkeys++], sizeof ax->keys[0], "%.15s", t); /* known keys are short */
    }
    const cJSON *v;
    if (cJSON_IsNumber(f)) {
        ax->values[ax->nvalues++] = f->valuedouble;
    } else if (cJSON_IsArray(f) && cJSON_GetArraySize(f) > 0) {
        cJSON_ArrayForEach(v, f)
        {
            if (!cJSON_IsNumber(v))
                return jb_suite_err_at(c, NULL, f->string, "axis '%s' must list numbers", f->string);
            if (ax->nvalues == 256)
                return jb_suite_err_at(c, NULL, f->string, "axis '%s' has more than 256 values", f->string);
            ax->values[ax->nvalues++] = v->valuedouble;
        }
    } else {
        return jb_suite_err_at(c, NULL, f->string, "axis '%s' must be a number or a non-empty list of numbers", f->string);
    }
    for (int i = 0; i < ax->nvalues; i++) {
        double x = ax->values[i];
        jb_problem probe = {.op = op};
        int rc = set_key(&probe, ax->keys[0], x);
        if (rc == -3 && x > 0)
            return jb_suite_err_at(c, NULL, f->string, "axis '%s': %g is larger than the limit (%lld)", f->string, x,
                          (long long)JB_DIM_MAX);
        if (rc == -3)
            return jb_suite_err_at(c, NULL, f->string, "axis '%s': %g is out of range (sizes are 1 to %lld)", f->string, x,
                          (long long)JB_DIM_MAX);
        if (rc == -2)
            return jb_suite_err_at(c, NULL, f->string, "axis '%s': %g is not an integer", f->string, x);
        for (int j = 0; j < ax->nkeys; j++)
            if ((!strcmp(ax->keys[j], "causal") || !strcmp(ax->keys[j], "packed")) && x != 0 && x != 1)
                return jb_suite_err_at(c, NULL, f->string, "axis '%s': %s is 0 or 1 (got %g)", f->string, ax->keys[j],
                                       x);
    }
    return JB_OK;
}

/* A JSON object that names a field twice would have cJSON silently use the first. */
static int parse_group_rows(const jb_suite_ctx *c, jb_suite *s, const cJSON *g, int gi)
{
    char gname[32];
    snprintf(gname, sizeof gname, "groups[%d]", gi);
    if (!cJSON_IsObject(g))
        return jb_suite_err_at(c, NULL, "groups", "%s must be an object", gname);
    static const char *const allowed[] = {"op", "kernels", "axes", "shapes", "skip", "reference", "comment"};
    const cJSON *f;
    int rc;
    if ((rc = jb_suite_dup_field(c, g, gname)))
        return rc;
    cJSON_ArrayForEach(f, g)
    {
        size_t i;
        for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (!strcmp(f->string, allowed[i]))
                break;
        if (i == sizeof allowed / sizeof allowed[0])
            return jb_suite_err_at(c, NULL, f->string, "%s: unknown field '%s' (op, kernels, axes, shapes, skip, reference, comment)",
                          gname, f->string);
    }
    const cJSON *op_j = cJSON_GetObjectItemCaseSensitive(g, "op");
    int op = cJSON_IsString(op_j) ? jb_op_from_name(op_j->valuestring) : -1;
    if (op < 0)
        return jb_suite_err_at(c, NULL, cJSON_IsString(op_j) ? op_j->valuestring : "op",
                      "%s: \"op\" must be matmul, softmax or attention", gname);
    /* Kernels: regexes over full names, restricted to this op; default all of them. */
    const jb_kernel *ks[64];
    size_t nk = 0;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(g, "kernels");
    if (kj && !cJSON_IsArray(kj))
        return jb_suite_err_at(c, NULL, "kernels", "%s: \"kernels\" must be a list of regular expressions", gname);
    const cJSON *pat;
    if (kj) {
        cJSON_ArrayForEach(pat, kj)
        {
            regex_t re;
            char why[300];
            if (!cJSON_IsString(pat))
                return jb_suite_err_at(c, NULL, "kernels", "%s: \"kernels\" must list regular expressions (strings)", gname);
            if (jb_pattern_compile(&re, pat->valuestring, 1, why, sizeof why))
                return jb_suite_err_at(c, NULL, "kernels", "%s: \"kernels\": %s", gname, why);
            size_t before = nk;
            for (size_t i = 0; i < jb_registry_count() && nk < 64; i++) {
                const jb_kernel *k = jb_registry_get(i);
                if ((int)k->op != op || regexec(&re, k->name, 0, NULL, 0))
                    continue;
                size_t j;
                for (j = 0; j < nk && ks[j] != k; j++)
                    ;
                if (j == nk)
                    ks[nk++] = k;
            }
            regfree(&re);
            if (nk == before && !strstr(pat->valuestring, "*"))
                return jb_suite_err_at(c, NULL, pat->valuestring, "%s: no %s kernel matches '%s'", gname,
                              jb_op_name((jb_op)op), pat->valuestring);
        }
    } else {
        for (size_t i = 0; i < jb_registry_count() && nk < 64; i++)
            if ((int)jb_registry_get(i)->op == op)
                ks[nk++] = jb_registry_get(i);
    }
    const cJSON *skip = cJSON_GetObjectItemCaseSensitive(g, "skip");
    if (skip && !cJSON_IsArray(skip))
        return jb_suite_err_at(c, NULL, "skip", "%s: \"skip\" must be a list of objects", gname);
    cJSON_ArrayForEach(f, skip)
    {
        if (!cJSON_IsObject(f))
            return jb_suite_err_at(c, NULL, "skip", "%s: \"skip\" must be a list of objects", gname);
        if ((rc = jb_suite_dup_field(c, f, "skip")))
            return rc;
    }
    const cJSON *axes_j = cJSON_GetObjectItemCaseSensitive(g, "axes");
    const cJSON *shapes_j = cJSON_GetObjectItemCaseSensitive(g, "shapes");
    if (!axes_j == !shapes_j)
        return jb_suite_err_at(c, NULL, "op", "%s: give exactly one of \"axes\" or \"shapes\"", gname);
    if (axes_j) {
        if (!cJSON_IsObject(axes_j))
            return jb_suite_err_at(c, NULL, "axes", "%s: \"axes\" must be an object of key: [values]", gname);
        if ((rc = jb_suite_dup_field(c, axes_j, "axes")))
            return rc;
        static axis axes[16];
        int naxes = 0;
        cJSON_ArrayForEach(f, axes_j)
        {
            if (naxes == 16)
                return jb_suite_err_at(c, NULL, f->string, "%s: too many axes", gname);
            if ((rc = parse_axis(c, f, (jb_op)op, &axes[naxes++])))
                return rc;
        }
        return expand(c, s, (jb_op)op, ks, nk, axes, naxes, skip);
    }
    if (!cJSON_IsArray(shapes_j))
        return jb_suite_err_at(c, NULL, "shapes", "%s: \"shapes\" must be a list of objects", gname);
    const cJSON *sh;
    cJSON_ArrayForEach(sh, shapes_j)
    {
        if (!cJSON_IsObject(sh))
            return jb_suite_err_at(c, NULL, "shapes", "%s: each shape must be an object", gname);
        if ((rc = jb_suite_dup_field(c, sh, "shapes")))
            return rc;
        axis axes[8];
        int naxes = 0;
        cJSON_ArrayForEach(f, sh)
        {
            if (naxes == 8)
                return jb_suite_err_at(c, NULL, f->string, "%s: too many keys in a shape", gname);
            if ((rc = parse_axis(c, f, (jb_op)op, &axes[naxes])))
                return rc;
            if (axes[naxes].nvalues != 1)
                return jb_suite_err_at(c, NULL, f->string, "%s: a shape gives one value per key", gname);
            naxes++;
        }
        if ((rc = expand(c, s, (jb_op)op, ks, nk, axes, naxes, skip)))
            return rc;
    }
    return JB_OK;
}

int jb_suite_parse_group(const jb_suite_ctx *c, jb_suite *s, const cJSON *g, int gi)
{
    size_t first = s->nrows;
    int rc = parse_group_rows(c, s, g, gi);
    const cJSON *ref = rc == JB_OK ? cJSON_GetObjectItemCaseSensitive(g, "reference") : NULL;
    if (!ref)
        return rc;
    /* The reference of the group's speed-ups: one kernel of its op, by full name. */
    const jb_kernel *k = cJSON_IsString(ref) ? jb_registry_find(ref->valuestring) : NULL;
    const cJSON *op_j = cJSON_GetObjectItemCaseSensitive(g, "op");
    if (!k || strcmp(jb_op_name(k->op), op_j->valuestring))
        return jb_suite_err_at(c, NULL, cJSON_IsString(ref) ? ref->valuestring : "reference",
                               "groups[%d]: \"reference\" must name one %s kernel (joulebench list)", gi,
                               op_j->valuestring);
    for (size_t i = first; i < s->nrows; i++)
        s->rows[i].reference = k;
    return JB_OK;
}
