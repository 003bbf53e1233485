/*
 * Suite files: parsing with cJSON, expansion of axes into rows, and error
 * messages that point at the line and column of the offending text.
 */
#include "harness/suite.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"
#include "util/pattern.h"

typedef struct ctx {
    const char *text, *path;
    char *msg;
    size_t len;
} ctx;

static void where(const ctx *c, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = c->text; p && at && p < at && *p; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Error at the first occurrence of "needle" (a quoted key or value) after from. */
static int err_at(const ctx *c, const char *from, const char *needle, const char *fmt, ...)
{
    const char *at = NULL;
    if (needle) {
        char q[128];
        snprintf(q, sizeof q, "\"%s\"", needle);
        at = strstr(from ? from : c->text, q);
        if (!at)
            at = strstr(c->text, q);
    }
    int line = 1, col = 1;
    if (at)
        where(c, at, &line, &col);
    else if (from)
        where(c, from, &line, &col);
    int n = snprintf(c->msg, c->len, "%s:%d:%d: ", c->path, line, col);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < c->len)
        vsnprintf(c->msg + n, c->len - (size_t)n, fmt, ap);
    va_end(ap);
    return JB_EPARSE;
}

void jb_row_name(const jb_kernel *k, const jb_problem *p, char *buf, size_t len)
{
    char shape[128];
    jb_problem_format(p, shape, sizeof shape);
    snprintf(buf, len, "%s/%s", k->name, shape);
}

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
    static const char *const keys[] = {"m", "n", "k", "rows", "cols", "causal", "b", "h", "d", "scale"};
    if (!strcmp(key, "n") && p->op == JB_OP_ATTENTION)
        return (double)p->seq;
    const double vals[] = {(double)p->m, (double)p->n, (double)p->k, (double)p->rows, (double)p->cols,
                           (double)p->causal, (double)p->b, (double)p->h, (double)p->d, p->scale};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i]))
            return vals[i];
    return NAN;
}

/* Does p for kernel k match a skip entry (every field given matches)? */
static int skipped(const ctx *c, const cJSON *skip, const jb_kernel *k, const jb_problem *p, int *rc)
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
                    *rc = err_at(c, NULL, "kernel", "skip: \"kernel\" must be a regular expression (a string)");
                    return 0;
                }
                if (jb_pattern_compile(&re, f->valuestring, 1, why, sizeof why)) {
                    *rc = err_at(c, NULL, "kernel", "skip: \"kernel\": %s", why);
                    return 0;
                }
                match &= regexec(&re, k->name, 0, NULL, 0) == 0;
                regfree(&re);
                continue;
            }
            double v = get_key(p, f->string);
            if (isnan(v)) {
                *rc = err_at(c, NULL, f->string, "skip: unknown shape key '%s'", f->string);
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

static int expand(const ctx *c, jb_suite *s, jb_op op, const jb_kernel **ks, size_t nk,
                  axis *axes, int naxes, const cJSON *skip)
{
    int idx[16] = {0};
    double combos = 1;
    for (int a = 0; a < naxes; a++)
        combos *= axes[a].nvalues;
    if (combos * (double)(nk ? nk : 1) > JB_SUITE_MAX_ROWS)
        return err_at(c, NULL, "axes", "the axes give %.4g shapes x %zu kernels, more than the %d rows a suite may have",
                      combos, nk, JB_SUITE_MAX_ROWS);
    /* A key set by two axes would let the later silently win. */
    for (int a = 0; a < naxes; a++)
        for (int j = 0; j < axes[a].nkeys; j++)
            for (int b = a; b < naxes; b++)
                for (int i = b == a ? j + 1 : 0; i < axes[b].nkeys; i++)
                    if (!strcmp(axes[a].keys[j], axes[b].keys[i]))
                        return err_at(c, NULL, axes[b].name, "shape key '%s' is given twice (in '%s' and '%s')",
                                      axes[a].keys[j], axes[a].name, axes[b].name);
    for (;;) {
        jb_problem p = {.op = op};
        for (int a = 0; a < naxes; a++)
            for (int j = 0; j < axes[a].nkeys; j++)
                set_key(&p, axes[a].keys[j], axes[a].values[idx[a]]);
        char why[200];
        if (jb_problem_validate(&p, why, sizeof why)) {
            char shape[128] = "";
            jb_problem_format(&p, shape, sizeof shape);
            return err_at(c, NULL, "axes", "shape %s is invalid: %s", shape, why);
        }
        for (size_t i = 0; i < nk; i++) {
            int rc = 0;
            if (skipped(c, skip, ks[i], &p, &rc))
                continue;
            if (rc)
                return rc;
            if ((rc = add_row(s, ks[i], &p)) == JB_EINVAL)
                return err_at(c, NULL, "axes", "the suite has more than %d rows", JB_SUITE_MAX_ROWS);
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

static int parse_axis(const ctx *c, const cJSON *f, jb_op op, axis *ax)
{
    memset(ax, 0, sizeof *ax);
    ax->name = f->string;
    char keys[64];
    if (strlen(f->string) >= sizeof keys)
        return err_at(c, NULL, f->string, "axis name '%.20s...' is too long", f->string);
    snprintf(keys, sizeof keys, "%s", f->string);
    for (char *t = keys, *next; t; t = next) {
        next = strchr(t, '=');
        if (next)
            *next++ = 0;
        if (!*t)
            return err_at(c, NULL, f->string, "axis '%s' has an empty key", f->string);
        if (ax->nkeys == 4)
            return err_at(c, NULL, f->string, "too many tied keys in '%s'", f->string);
        jb_problem probe = {.op = op};
        if (set_key(&probe, t, 1) == -1)
            return err_at(c, NULL, f->string, "unknown shape key '%s' for %s", t, jb_op_name(op));
        snprintf(ax->keys[ax->nkeys++], sizeof ax->keys[0], "%.15s", t); /* known keys are short */
    }
    const cJSON *v;
    if (cJSON_IsNumber(f)) {
        ax->values[ax->nvalues++] = f->valuedouble;
    } else if (cJSON_IsArray(f) && cJSON_GetArraySize(f) > 0) {
        cJSON_ArrayForEach(v, f)
        {
            if (!cJSON_IsNumber(v))
                return err_at(c, NULL, f->string, "axis '%s' must list numbers", f->string);
            if (ax->nvalues == 256)
                return err_at(c, NULL, f->string, "axis '%s' has more than 256 values", f->string);
            ax->values[ax->nvalues++] = v->valuedouble;
        }
    } else {
        return err_at(c, NULL, f->string, "axis '%s' must be a number or a non-empty list of numbers", f->string);
    }
    for (int i = 0; i < ax->nvalues; i++) {
        double x = ax->values[i];
        jb_problem probe = {.op = op};
        int rc = set_key(&probe, ax->keys[0], x);
        if (rc == -3 && x > 0)
            return err_at(c, NULL, f->string, "axis '%s': %g is larger than the limit (%lld)", f->string, x,
                          (long long)JB_DIM_MAX);
        if (rc == -3)
            return err_at(c, NULL, f->string, "axis '%s': %g is out of range (sizes are 1 to %lld)", f->string, x,
                          (long long)JB_DIM_MAX);
        if (rc == -2)
            return err_at(c, NULL, f->string, "axis '%s': %g is not an integer", f->string, x);
        for (int j = 0; j < ax->nkeys; j++)
            if (!strcmp(ax->keys[j], "causal") && x != 0 && x != 1)
                return err_at(c, NULL, f->string, "axis '%s': causal is 0 or 1 (got %g)", f->string, x);
    }
    return JB_OK;
}

/* A JSON object that names a field twice would have cJSON silently use the first. */
static int dup_field(const ctx *c, const cJSON *obj, const char *what)
{
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, obj)
    {
        for (b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return err_at(c, NULL, b->string, "%s: field '%s' is given twice", what, b->string);
    }
    return JB_OK;
}

static int parse_group(const ctx *c, jb_suite *s, const cJSON *g, int gi)
{
    char gname[32];
    snprintf(gname, sizeof gname, "groups[%d]", gi);
    if (!cJSON_IsObject(g))
        return err_at(c, NULL, "groups", "%s must be an object", gname);
    static const char *const allowed[] = {"op", "kernels", "axes", "shapes", "skip", "comment"};
    const cJSON *f;
    int rc;
    if ((rc = dup_field(c, g, gname)))
        return rc;
    cJSON_ArrayForEach(f, g)
    {
        size_t i;
        for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (!strcmp(f->string, allowed[i]))
                break;
        if (i == sizeof allowed / sizeof allowed[0])
            return err_at(c, NULL, f->string, "%s: unknown field '%s' (op, kernels, axes, shapes, skip, comment)",
                          gname, f->string);
    }
    const cJSON *op_j = cJSON_GetObjectItemCaseSensitive(g, "op");
    int op = cJSON_IsString(op_j) ? jb_op_from_name(op_j->valuestring) : -1;
    if (op < 0)
        return err_at(c, NULL, cJSON_IsString(op_j) ? op_j->valuestring : "op",
                      "%s: \"op\" must be matmul, softmax or attention", gname);
    /* Kernels: regexes over full names, restricted to this op; default all of them. */
    const jb_kernel *ks[64];
    size_t nk = 0;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(g, "kernels");
    if (kj && !cJSON_IsArray(kj))
        return err_at(c, NULL, "kernels", "%s: \"kernels\" must be a list of regular expressions", gname);
    const cJSON *pat;
    if (kj) {
        cJSON_ArrayForEach(pat, kj)
        {
            regex_t re;
            char why[300];
            if (!cJSON_IsString(pat))
                return err_at(c, NULL, "kernels", "%s: \"kernels\" must list regular expressions (strings)", gname);
            if (jb_pattern_compile(&re, pat->valuestring, 1, why, sizeof why))
                return err_at(c, NULL, "kernels", "%s: \"kernels\": %s", gname, why);
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
                return err_at(c, NULL, pat->valuestring, "%s: no %s kernel matches '%s'", gname,
                              jb_op_name((jb_op)op), pat->valuestring);
        }
    } else {
        for (size_t i = 0; i < jb_registry_count() && nk < 64; i++)
            if ((int)jb_registry_get(i)->op == op)
                ks[nk++] = jb_registry_get(i);
    }
    const cJSON *skip = cJSON_GetObjectItemCaseSensitive(g, "skip");
    if (skip && !cJSON_IsArray(skip))
        return err_at(c, NULL, "skip", "%s: \"skip\" must be a list of objects", gname);
    cJSON_ArrayForEach(f, skip)
    {
        if (!cJSON_IsObject(f))
            return err_at(c, NULL, "skip", "%s: \"skip\" must be a list of objects", gname);
        if ((rc = dup_field(c, f, "skip")))
            return rc;
    }
    const cJSON *axes_j = cJSON_GetObjectItemCaseSensitive(g, "axes");
    const cJSON *shapes_j = cJSON_GetObjectItemCaseSensitive(g, "shapes");
    if (!axes_j == !shapes_j)
        return err_at(c, NULL, "op", "%s: give exactly one of \"axes\" or \"shapes\"", gname);
    if (axes_j) {
        if (!cJSON_IsObject(axes_j))
            return err_at(c, NULL, "axes", "%s: \"axes\" must be an object of key: [values]", gname);
        if ((rc = dup_field(c, axes_j, "axes")))
            return rc;
        static axis axes[16];
        int naxes = 0;
        cJSON_ArrayForEach(f, axes_j)
        {
            if (naxes == 16)
                return err_at(c, NULL, f->string, "%s: too many axes", gname);
            if ((rc = parse_axis(c, f, (jb_op)op, &axes[naxes++])))
                return rc;
        }
        return expand(c, s, (jb_op)op, ks, nk, axes, naxes, skip);
    }
    if (!cJSON_IsArray(shapes_j))
        return err_at(c, NULL, "shapes", "%s: \"shapes\" must be a list of objects", gname);
    const cJSON *sh;
    cJSON_ArrayForEach(sh, shapes_j)
    {
        if (!cJSON_IsObject(sh))
            return err_at(c, NULL, "shapes", "%s: each shape must be an object", gname);
        if ((rc = dup_field(c, sh, "shapes")))
            return rc;
        axis axes[8];
        int naxes = 0;
        cJSON_ArrayForEach(f, sh)
        {
            if (naxes == 8)
                return err_at(c, NULL, f->string, "%s: too many keys in a shape", gname);
            if ((rc = parse_axis(c, f, (jb_op)op, &axes[naxes])))
                return rc;
            if (axes[naxes].nvalues != 1)
                return err_at(c, NULL, f->string, "%s: a shape gives one value per key", gname);
            naxes++;
        }
        if ((rc = expand(c, s, (jb_op)op, ks, nk, axes, naxes, skip)))
            return rc;
    }
    return JB_OK;
}

int jb_suite_parse(const char *text, const char *path, jb_suite *s, char *msg, size_t len)
{
    memset(s, 0, sizeof *s);
    ctx c = {text, path, msg, len};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line, col;
        where(&c, at ? at : text, &line, &col);
        char near[24], shown[100];
        snprintf(near, sizeof near, "%.20s", at ? at : "");
        jb_text_one_line(near, shown, sizeof shown);
        snprintf(msg, len, "%s:%d:%d: malformed JSON near '%s'", path, line, col, shown);
        return JB_EPARSE;
    }
    int rc = JB_OK;
    const cJSON *f;
    if (!cJSON_IsObject(root)) {
        rc = err_at(&c, text, NULL, "a suite is a JSON object with \"groups\"");
        goto out;
    }
    if ((rc = dup_field(&c, root, "suite")))
        goto out;
    cJSON_ArrayForEach(f, root)
    {
        static const char *const allowed[] = {"name",   "description", "repetitions", "min_time",
                                              "groups", "interleave",  "comment"};
        size_t i;
        for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (!strcmp(f->string, allowed[i]))
                break;
        if (i == sizeof allowed / sizeof allowed[0]) {
            rc = err_at(&c, NULL, f->string, "unknown field '%s' (name, description, repetitions, min_time, interleave, groups)",
                        f->string);
            goto out;
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (name && (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof s->name)) {
        rc = err_at(&c, NULL, "name", "\"name\" must be a string of 1 to %zu bytes", sizeof s->name - 1);
        goto out;
    }
    if (desc && (!cJSON_IsString(desc) || strlen(desc->valuestring) >= sizeof s->description)) {
        rc = err_at(&c, NULL, "description", "\"description\" must be a string of at most %zu bytes",
                    sizeof s->description - 1);
        goto out;
    }
    /* Without a name, the file's base name without .json. */
    if (name) {
        snprintf(s->name, sizeof s->name, "%s", name->valuestring);
    } else {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".json"))
            bl -= 5;
        snprintf(s->name, sizeof s->name, "%.*s", (int)(bl < sizeof s->name ? bl : sizeof s->name - 1), base);
    }
    if (desc)
        snprintf(s->description, sizeof s->description, "%s", desc->valuestring);
    const cJSON *reps = cJSON_GetObjectItemCaseSensitive(root, "repetitions");
    if (reps) {
        if (!cJSON_IsNumber(reps) || reps->valuedouble < 1 || reps->valuedouble > 1000 ||
            reps->valuedouble != floor(reps->valuedouble)) {
            rc = err_at(&c, NULL, "repetitions", "\"repetitions\" must be an integer in [1, 1000]");
            goto out;
        }
        s->repetitions = reps->valueint;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "min_time");
    if (mt) {
        if (!cJSON_IsNumber(mt) || !(mt->valuedouble > 0 && mt->valuedouble <= 60)) {
            rc = err_at(&c, NULL, "min_time", "\"min_time\" must be seconds in (0, 60]");
            goto out;
        }
        s->min_time = mt->valuedouble;
    }
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(root, "interleave");
    if (il) {
        if (!cJSON_IsBool(il)) {
            rc = err_at(&c, NULL, "interleave", "\"interleave\" must be true or false");
            goto out;
        }
        s->interleave = cJSON_IsTrue(il);
    }
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) == 0) {
        rc = err_at(&c, text, "groups", "a suite needs a non-empty \"groups\" list");
        goto out;
    }
    int gi = 0;
    cJSON_ArrayForEach(f, groups)
    {
        if ((rc = parse_group(&c, s, f, gi++)))
            goto out;
    }
out:
    cJSON_Delete(root);
    if (rc)
        jb_suite_free(s);
    return rc;
}

int jb_suite_load(const char *path, jb_suite *s, char *msg, size_t len)
{
    memset(s, 0, sizeof *s);
    char *text, why[400];
    int rc = jb_file_read(path, JB_SUITE_MAX_BYTES, JB_FILE_TEXT, &text, NULL, why, sizeof why);
    if (rc) {
        snprintf(msg, len, "cannot open suite %s", why);
        return rc == JB_ENOMEM ? rc : JB_EIO;
    }
    rc = jb_suite_parse(text, path, s, msg, len);
    free(text);
    return rc;
}

void jb_suite_free(jb_suite *s)
{
    if (!s)
        return;
    free(s->rows);
    s->rows = NULL;
    s->nrows = 0;
}
