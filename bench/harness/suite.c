/*
 * Suite files: reading, the top level of the JSON (groups are suite_group.c),
 * and error messages that point at the line and column of the offending text.
 */
#include "harness/suite_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"

static void where(const jb_suite_ctx *c, const char *at, int *line, int *col)
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
int jb_suite_err_at(const jb_suite_ctx *c, const char *from, const char *needle, const char *fmt, ...)
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

int jb_suite_dup_field(const jb_suite_ctx *c, const cJSON *obj, const char *what)
{
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, obj)
    {
        for (b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return jb_suite_err_at(c, NULL, b->string, "%s: field '%s' is given twice", what, b->string);
    }
    return JB_OK;
}

int jb_suite_parse(const char *text, const char *path, jb_suite *s, char *msg, size_t len)
{
    memset(s, 0, sizeof *s);
    s->interleave = 1; /* the default: rows sharing a shape are timed together */
    jb_suite_ctx c = {text, path, msg, len};
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
        rc = jb_suite_err_at(&c, text, NULL, "a suite is a JSON object with \"groups\"");
        goto out;
    }
    if ((rc = jb_suite_dup_field(&c, root, "suite")))
        goto out;
    cJSON_ArrayForEach(f, root)
    {
        static const char *const allowed[] = {"name",       "description", "repetitions", "min_time", "target_ci",
                                              "max_time",   "groups",      "interleave",  "comment"};
        size_t i;
        for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            if (!strcmp(f->string, allowed[i]))
                break;
        if (i == sizeof allowed / sizeof allowed[0]) {
            rc = jb_suite_err_at(&c, NULL, f->string, "unknown field '%s' (name, description, repetitions, min_time, target_ci, max_time, interleave, groups)",
                        f->string);
            goto out;
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (name && (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof s->name)) {
        rc = jb_suite_err_at(&c, NULL, "name", "\"name\" must be a string of 1 to %zu bytes", sizeof s->name - 1);
        goto out;
    }
    if (desc && (!cJSON_IsString(desc) || strlen(desc->valuestring) >= sizeof s->description)) {
        rc = jb_suite_err_at(&c, NULL, "description", "\"description\" must be a string of at most %zu bytes",
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
            rc = jb_suite_err_at(&c, NULL, "repetitions", "\"repetitions\" must be an integer in [1, 1000]");
            goto out;
        }
        s->repetitions = reps->valueint;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "min_time");
    if (mt) {
        if (!cJSON_IsNumber(mt) || !(mt->valuedouble > 0 && mt->valuedouble <= 60)) {
            rc = jb_suite_err_at(&c, NULL, "min_time", "\"min_time\" must be seconds in (0, 60]");
            goto out;
        }
        s->min_time = mt->valuedouble;
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "target_ci");
    if (tc) {
        if (!cJSON_IsNumber(tc) || !(tc->valuedouble > 0 && tc->valuedouble <= 100)) {
            rc = jb_suite_err_at(&c, NULL, "target_ci", "\"target_ci\" must be a percentage in (0, 100]");
            goto out;
        }
        s->target_ci = tc->valuedouble;
    }
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(root, "max_time");
    if (mx) {
        if (!cJSON_IsNumber(mx) || !(mx->valuedouble > 0 && mx->valuedouble <= 3600)) {
            rc = jb_suite_err_at(&c, NULL, "max_time", "\"max_time\" must be seconds in (0, 3600]");
            goto out;
        }
        s->max_time = mx->valuedouble;
    }
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(root, "interleave");
    if (il) {
        if (!cJSON_IsBool(il)) {
            rc = jb_suite_err_at(&c, NULL, "interleave", "\"interleave\" must be true or false");
            goto out;
        }
        s->interleave = cJSON_IsTrue(il);
    }
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) == 0) {
        rc = jb_suite_err_at(&c, text, "groups", "a suite needs a non-empty \"groups\" list");
        goto out;
    }
    int gi = 0;
    cJSON_ArrayForEach(f, groups)
    {
        if ((rc = jb_suite_parse_group(&c, s, f, gi++)))
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
