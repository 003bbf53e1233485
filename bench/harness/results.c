/* Results files: rows written from Google Benchmark's reports, read and checked
 * for every reader, atomic write of valid UTF-8 JSON. */
#include "harness/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/batch.h"
#include "jb_kernels.h"
#include "util/files.h"

/* ---- Writing ----------------------------------------------------------------- */

cJSON *jb_results_new(cJSON **ctx, cJSON **benchmarks)
{
    cJSON *doc = cJSON_CreateObject();
    *ctx = doc ? cJSON_AddObjectToObject(doc, "context") : NULL;
    *benchmarks = doc ? cJSON_AddArrayToObject(doc, "benchmarks") : NULL;
    if (!*ctx || !*benchmarks) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* "kernel", "op" and "shape" {key: value}: what the row measured, so no reader parses its name. */
static void add_identity(cJSON *o, const jb_row *row)
{
    cJSON_AddStringToObject(o, "kernel", row->k->name);
    cJSON_AddStringToObject(o, "op", jb_op_name(row->p.op));
    cJSON *shape = cJSON_AddObjectToObject(o, "shape");
    char s[160];
    if (jb_problem_format(&row->p, s, sizeof s))
        return;
    for (char *item = s, *next; item && *item; item = next) {
        next = strchr(item, '/');
        if (next)
            *next++ = 0;
        char *colon = strchr(item, ':');
        if (colon) {
            *colon = 0;
            cJSON_AddNumberToObject(shape, item, strtod(colon + 1, NULL));
        }
    }
}

static cJSON *row_head(cJSON *benchmarks, const jb_row *row, int64_t index, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "family_index", (double)index);
    cJSON_AddNumberToObject(o, "per_family_instance_index", 0);
    cJSON_AddStringToObject(o, "run_name", row->name);
    add_identity(o, row);
    cJSON_AddItemToArray(benchmarks, o);
    return o;
}

cJSON *jb_results_add_run(cJSON *benchmarks, const jb_row *row, int64_t index, const jb_gb_run *r, int runs)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", row->name, r->is_aggregate ? "_" : "", r->is_aggregate ? r->aggregate_name : "");
    cJSON *o = row_head(benchmarks, row, index, name);
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "run_type", r->is_aggregate ? "aggregate" : "iteration");
    cJSON_AddNumberToObject(o, "repetitions", (double)r->repetitions);
    if (!r->is_aggregate)
        cJSON_AddNumberToObject(o, "repetition_index", (double)r->repetition_index);
    cJSON_AddNumberToObject(o, "threads", (double)r->threads);
    if (r->is_aggregate) {
        cJSON_AddStringToObject(o, "aggregate_name", r->aggregate_name);
        cJSON_AddStringToObject(o, "aggregate_unit", r->aggregate_is_percentage ? "percentage" : "time");
    }
    if (r->error_occurred) {
        cJSON_AddBoolToObject(o, "error_occurred", 1);
        cJSON_AddStringToObject(o, "error_message", r->error_message);
    }
    /* Google Benchmark timed iterations of `runs` runs each: the file says runs and time per run. */
    runs = runs > 1 ? runs : 1;
    const int pct = r->is_aggregate && r->aggregate_is_percentage;
    cJSON_AddNumberToObject(o, "iterations", (double)r->iterations * runs);
    cJSON_AddNumberToObject(o, "real_time", jb_batch_per_run(r->real_time_ns, runs, pct));
    cJSON_AddNumberToObject(o, "cpu_time", jb_batch_per_run(r->cpu_time_ns, runs, pct));
    cJSON_AddStringToObject(o, "time_unit", "ns");
    for (int i = 0; i < r->ncounters; i++)
        cJSON_AddNumberToObject(o, r->counter_names[i], r->counter_values[i]);
    if (r->label && *r->label)
        cJSON_AddStringToObject(o, "label", r->label);
    return o;
}

void jb_results_set_path(cJSON *row, const char *peak_family, const char *path)
{
    cJSON_DeleteItemFromObjectCaseSensitive(row, "peak_family");
    cJSON_DeleteItemFromObjectCaseSensitive(row, "path");
    if (peak_family)
        cJSON_AddStringToObject(row, "peak_family", peak_family);
    cJSON_AddStringToObject(row, "path", path);
}

int jb_results_add_peak_families(cJSON *o, const char *key, const jb_peaks *pk)
{
    cJSON *fams = cJSON_AddObjectToObject(o, key);
    if (!fams)
        return JB_ENOMEM;
    for (int f = 0; f < JB_FAM_COUNT; f++) {
        double ops = jb_peaks_family(pk, (jb_family)f);
        if (ops <= 0)
            continue;
        cJSON *x = cJSON_AddObjectToObject(fams, jb_family_name((jb_family)f));
        if (!x || !cJSON_AddNumberToObject(x, "ops_per_s", ops) ||
            !cJSON_AddStringToObject(x, "instruction", pk->family[f].what ? pk->family[f].what : "?"))
            return JB_ENOMEM;
    }
    return JB_OK;
}

void jb_results_set_reference(cJSON *row, const char *kernel)
{
    cJSON_DeleteItemFromObjectCaseSensitive(row, "reference");
    cJSON_AddStringToObject(row, "reference", kernel);
}

cJSON *jb_results_add_error(cJSON *benchmarks, const jb_row *row, int64_t index, const char *msg, double max_err)
{
    cJSON *o = row_head(benchmarks, row, index, row->name);
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "run_type", "iteration");
    cJSON_AddNumberToObject(o, "repetitions", 0);
    cJSON_AddNumberToObject(o, "repetition_index", 0);
    cJSON_AddNumberToObject(o, "threads", 1);
    cJSON_AddNumberToObject(o, "iterations", 0);
    cJSON_AddNumberToObject(o, "real_time", 0);
    cJSON_AddNumberToObject(o, "cpu_time", 0);
    cJSON_AddStringToObject(o, "time_unit", "ns");
    cJSON_AddBoolToObject(o, "error_occurred", 1);
    cJSON_AddStringToObject(o, "error_message", msg);
    if (!isnan(max_err))
        cJSON_AddNumberToObject(o, "max_err", max_err);
    return o;
}

int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len)
{
    char *text = jb_json_text(doc, 1);
    if (!text) {
        snprintf(msg, len, "out of memory formatting the results");
        return JB_ENOMEM;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL's place: a final newline, written by length */
    int rc = jb_file_write_atomic(path, text, n + 1, msg, len);
    free(text);
    return rc;
}

/* ---- Reading ----------------------------------------------------------------- */

cJSON *jb_results_read(const char *path, char *msg, size_t len)
{
    char *text;
    if (jb_file_read(path, 0, JB_FILE_TEXT, &text, NULL, msg, len))
        return NULL;
    cJSON *doc = jb_results_parse(text, path, msg, len);
    free(text);
    return doc;
}

cJSON *jb_results_parse(const char *text, const char *path, char *msg, size_t len)
{
    cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
    if (!doc) {
        snprintf(msg, len, "%s: not a JSON file", path);
        return NULL;
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "context")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))) {
        snprintf(msg, len, "%s: not a Google Benchmark results file (no \"context\" and \"benchmarks\")", path);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

const cJSON *jb_results_context(const cJSON *doc)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "context");
    return cJSON_IsObject(c) ? c : NULL;
}

const cJSON *jb_results_rows(const cJSON *doc)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    return cJSON_IsArray(b) ? b : NULL;
}

double jb_result_counter(const jb_result_row *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
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

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* The problem from the row's "shape" object, else from its name. */
static void identify(const cJSON *b, jb_result_row *r)
{
    char msg[160];
    const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(b, "kernel");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(b, "shape");
    int op = jb_op_from_name(str_or(b, "op", ""));
    if (cJSON_IsString(kernel) && cJSON_IsObject(shape) && op >= 0 && strlen(kernel->valuestring) < sizeof r->kernel) {
        char spec[256] = "";
        const cJSON *f;
        cJSON_ArrayForEach(f, shape)
        {
            size_t l = strlen(spec);
            if (cJSON_IsNumber(f))
                snprintf(spec + l, sizeof spec - l, "%s%s=%.17g", l ? "," : "", f->string, f->valuedouble);
        }
        snprintf(r->kernel, sizeof r->kernel, "%s", kernel->valuestring);
        r->have_problem = jb_problem_parse((jb_op)op, spec, &r->problem, msg, sizeof msg) == JB_OK;
        return;
    }
    r->have_problem = jb_row_name_parse(r->run_name, r->kernel, sizeof r->kernel, &r->problem, msg, sizeof msg) == JB_OK;
    if (!r->have_problem)
        snprintf(r->kernel, sizeof r->kernel, "%.95s", r->run_name);
}

int jb_results_each(const cJSON *doc, int (*fn)(const jb_result_row *r, void *arg), void *arg, char *msg, size_t len)
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
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        const cJSON *run_name = cJSON_GetObjectItemCaseSensitive(b, "run_name");
        if (!cJSON_IsObject(b) || !cJSON_IsString(name) || !name->valuestring[0] ||
            (run_name && (!cJSON_IsString(run_name) || !run_name->valuestring[0]))) {
            snprintf(msg, len, "benchmarks[%d] has no name", index);
            return JB_EPARSE;
        }
        const char *rn = run_name ? run_name->valuestring : name->valuestring;
        static const char *const strings[] = {"run_type", "aggregate_name", "aggregate_unit", "error_message",
                                              "time_unit", "label", "kernel", "op", "reference",
                                              "peak_family", "path"};
        static const char *const numbers[] = {"real_time", "cpu_time", "iterations", "repetitions",
                                              "repetition_index", "flop_per_s", "flop_per_j", "bytes_per_s",
                                              "joules", "watts", "energy_measured", "intensity", "max_err",
                                              "pct_peak_flops", "flop_per_s_ci95_low", "flop_per_s_ci95_high",
                                              "flop_per_j_ci95_low", "flop_per_j_ci95_high", "speedup",
                                              "speedup_ci95_low", "speedup_ci95_high", "ci_halfwidth_pct",
                                              "converged"};
        for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, strings[i]);
            if (v && !cJSON_IsString(v)) {
                snprintf(msg, len, "benchmarks[%d] (%.200s): %s is not a string", index, rn, strings[i]);
                return JB_EPARSE;
            }
        }
        /* null: a counter Google Benchmark could not aggregate (the cv of zeros). */
        for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, numbers[i]);
            if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0)) {
                snprintf(msg, len, "benchmarks[%d] (%.200s): %s is not a non-negative number", index, rn, numbers[i]);
                return JB_EPARSE;
            }
        }
        const cJSON *eo = cJSON_GetObjectItemCaseSensitive(b, "error_occurred");
        if (eo && !cJSON_IsBool(eo)) {
            snprintf(msg, len, "benchmarks[%d] (%.200s): error_occurred is not true or false", index, rn);
            return JB_EPARSE;
        }
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(b, "shape");
        if (shape && !cJSON_IsObject(shape)) {
            snprintf(msg, len, "benchmarks[%d] (%.200s): shape is not an object", index, rn);
            return JB_EPARSE;
        }
        jb_result_row r;
        memset(&r, 0, sizeof r);
        r.index = index;
        r.name = name->valuestring;
        r.run_name = rn;
        r.json = b;
        r.aggregate = !strcmp(str_or(b, "run_type", "iteration"), "aggregate");
        r.aggregate_name = str_or(b, "aggregate_name", "");
        r.reference = str_or(b, "reference", NULL);
        r.peak_family = str_or(b, "peak_family", NULL);
        r.path = str_or(b, "path", NULL);
        r.percentage = !strcmp(str_or(b, "aggregate_unit", "time"), "percentage") || !strcmp(r.aggregate_name, "cv");
        double x;
        r.repetitions = isnan(x = jb_result_counter(&r, "repetitions")) ? 0 : (int64_t)fmin(x, 1e15);
        r.repetition_index = isnan(x = jb_result_counter(&r, "repetition_index")) ? 0 : (int64_t)fmin(x, 1e15);
        r.iterations = isnan(x = jb_result_counter(&r, "iterations")) ? 0 : (int64_t)fmin(x, 1e15);
        if (cJSON_IsTrue(eo)) {
            r.error = str_or(b, "error_message", "error");
            if (!r.error[0])
                r.error = "error";
            r.time_ns = NAN;
        } else {
            double scale = time_unit_ns(str_or(b, "time_unit", NULL));
            double t = jb_result_counter(&r, "real_time");
            if (r.aggregate && isnan(t) && !isnan(scale)) { /* an aggregate read only for its counters */
                r.time_ns = NAN;
            } else if (isnan(scale) || isnan(t) || !isfinite(t * scale)) {
                snprintf(msg, len, "benchmarks[%d] (%.200s) has no real_time in a known time_unit (ns, us, ms, s)",
                         index, rn);
                return JB_EPARSE;
            } else {
                r.time_ns = r.percentage ? t : t * scale;
            }
        }
        identify(b, &r);
        int rc = fn(&r, arg);
        if (rc)
            return rc;
    }
    return JB_OK;
}

/* context.peak_families, when present: {"<family>": {"ops_per_s": N >= 0, "instruction": "..."}}. */
static int check_families(const cJSON *fams, char *msg, size_t len)
{
    const cJSON *f;
    if (fams && !cJSON_IsObject(fams)) {
        snprintf(msg, len, "context.peak_families is not an object");
        return JB_EPARSE;
    }
    cJSON_ArrayForEach(f, fams)
    {
        const cJSON *ops = cJSON_GetObjectItemCaseSensitive(f, "ops_per_s");
        const cJSON *what = cJSON_GetObjectItemCaseSensitive(f, "instruction");
        if (!cJSON_IsObject(f) || !cJSON_IsNumber(ops) || !isfinite(ops->valuedouble) || ops->valuedouble < 0 ||
            (what && !cJSON_IsString(what))) {
            snprintf(msg, len, "context.peak_families.%.60s is not {\"ops_per_s\": N, \"instruction\": \"...\"}",
                     f->string);
            return JB_EPARSE;
        }
    }
    return JB_OK;
}

int jb_results_check_context(const cJSON *doc, char *msg, size_t len)
{
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(doc, "context");
    static const char *const strings[] = {"host_name", "cpu_model", "gpu", "date", "git_commit", "meter",
                                          "energy", "suite"};
    static const char *const numbers[] = {"peak_flop_per_s", "peak_bytes_per_s", "threads"};
    if (!cJSON_IsObject(ctx)) {
        snprintf(msg, len, "no \"context\" object");
        return JB_EPARSE;
    }
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, strings[i]);
        if (v && !cJSON_IsString(v)) {
            snprintf(msg, len, "context.%s is not a string", strings[i]);
            return JB_EPARSE;
        }
    }
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, numbers[i]);
        if (v && !(cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0)) {
            snprintf(msg, len, "context.%s is not a non-negative number", numbers[i]);
            return JB_EPARSE;
        }
    }
    if (check_families(cJSON_GetObjectItemCaseSensitive(ctx, "peak_families"), msg, len))
        return JB_EPARSE;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(ctx, "warnings"), *x;
    if (w && !cJSON_IsArray(w)) {
        snprintf(msg, len, "context.warnings is not a list of strings");
        return JB_EPARSE;
    }
    cJSON_ArrayForEach(x, w)
    {
        if (!cJSON_IsString(x)) {
            snprintf(msg, len, "context.warnings is not a list of strings");
            return JB_EPARSE;
        }
    }
    return JB_OK;
}
