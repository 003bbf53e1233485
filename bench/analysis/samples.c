/* Per-row samples of results files: one sample per repetition and metric. */
#include "analysis/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "harness/results.h"
#include "jb_kernels.h"

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

typedef struct add_ctx {
    jb_bench_set *s;
} add_ctx;

static int add_result(const jb_result_row *rr, void *arg)
{
    jb_bench_set *s = ((add_ctx *)arg)->s;
    if (rr->aggregate) /* aggregates are not samples */
        return JB_OK;
    jb_bench_row *r = jb_bench_set_row(s, rr->run_name);
    if (!r)
        return JB_ENOMEM;
    if (rr->error)
        return jb_bench_row_set_error(r, rr->error);
    if (jb_samples_add(&r->s[JB_METRIC_TIME], rr->time_ns))
        return JB_ENOMEM;
    double fpj = jb_result_counter(rr, "flop_per_j"), em = jb_result_counter(rr, "energy_measured");
    if (fpj > 0 && jb_samples_add(&r->s[JB_METRIC_FLOP_PER_J], fpj))
        return JB_ENOMEM;
    if (!isnan(em))
        r->energy_measured = em > 0.5;
    return JB_OK;
}

int jb_bench_set_from_json(const cJSON *doc, jb_bench_set *s, char *msg, size_t len)
{
    add_ctx c = {s};
    int rc = jb_results_each(doc, add_result, &c, msg, len);
    if (rc == JB_ENOMEM)
        snprintf(msg, len, "out of memory");
    return rc;
}

/* The row called name in s, created when absent, with msg as its error when non-NULL. */
static jb_bench_row *pair_row(jb_bench_set *s, const char *name, const char *error)
{
    jb_bench_row *r = jb_bench_set_row(s, name);
    if (r && error && jb_bench_row_set_error(r, error))
        return NULL;
    return r;
}

int jb_bench_set_add_pair(jb_bench_set *base, jb_bench_set *cur, const jb_bench_set *a, const jb_bench_set *b)
{
    for (int side = 0; side < 2; side++) {
        const jb_bench_set *x = side ? b : a, *y = side ? a : b;
        for (size_t i = 0; i < x->n; i++) {
            const jb_bench_row *rx = &x->rows[i], *ry = jb_bench_set_find(y, rx->name);
            const jb_bench_row *ra = side ? ry : rx, *rb = side ? rx : ry;
            if (side && ry)
                continue; /* done from a's side */
            if (!ry) { /* in one run only */
                if (!pair_row(side ? cur : base, rx->name, rx->error))
                    return JB_ENOMEM;
                continue;
            }
            jb_bench_row *pb = pair_row(base, ra->name, ra->error), *pc = pair_row(cur, rb->name, rb->error);
            if (!pb || !pc)
                return JB_ENOMEM;
            if (ra->error || rb->error)
                continue;
            for (int m = 0; m < JB_METRIC_COUNT; m++) {
                if (!ra->s[m].n || !rb->s[m].n)
                    continue;
                if (jb_samples_add(&pb->s[m], jb_median(ra->s[m].v, ra->s[m].n)) ||
                    jb_samples_add(&pc->s[m], jb_median(rb->s[m].v, rb->s[m].n)))
                    return JB_ENOMEM;
            }
            if (ra->energy_measured >= 0)
                pb->energy_measured = ra->energy_measured;
            if (rb->energy_measured >= 0)
                pc->energy_measured = rb->energy_measured;
        }
    }
    return JB_OK;
}
