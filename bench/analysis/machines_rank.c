/* The procurement view's ranking: variants of an op ranked by FLOP/J across
 * machines, with ties where the intervals overlap, and the time-energy plane
 * with its Pareto front (machines_impl.h). */
#include "analysis/machines_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Ranking and the Pareto front ----------------------------------------------- */

typedef struct entry {
    size_t machine;
    const klass *k;
    const cJSON *r;
    double fj, fj_lo, fj_hi, fs, fs_lo, fs_hi, t, j;
    int measured;
} entry;

static void fill_entry(entry *e, size_t m, const klass *k, const cJSON *r)
{
    e->machine = m;
    e->k = k;
    e->r = r;
    e->fj = num(r, "flop_per_j");
    e->fj_lo = num(r, "flop_per_j_ci95_low");
    e->fj_hi = num(r, "flop_per_j_ci95_high");
    e->fs = num(r, "flop_per_s");
    e->fs_lo = num(r, "flop_per_s_ci95_low");
    e->fs_hi = num(r, "flop_per_s_ci95_high");
    e->t = num(r, "time_ns");
    e->j = joules_of(r);
    e->measured = measured_of(r);
}

/* Measured first, then estimated, then no energy; within each, more FLOP/J first. */
static int by_energy(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int kx = x->measured == 1 ? 0 : x->measured == 0 ? 1 : 2, ky = y->measured == 1 ? 0 : y->measured == 0 ? 1 : 2;
    if (kx != ky)
        return kx - ky;
    double vx = kx == 2 ? x->fs : x->fj, vy = ky == 2 ? y->fs : y->fj;
    return vx > vy ? -1 : vx < vy;
}

/* The shape of op that the most machines measured (the first such): the one they are ranked at. */
const char *jb_machines_common_shape(const klass *ks, size_t nk, const char *op, size_t nm)
{
    const char *best = NULL;
    size_t best_n = 0;
    char *seen = calloc(nm ? nm : 1, 1);
    if (!seen)
        return NULL;
    for (size_t i = 0; i < nk; i++) {
        if (strcmp(ks[i].op, op))
            continue;
        memset(seen, 0, nm);
        size_t cnt = 0;
        for (size_t j = 0; j < nk; j++)
            if (!strcmp(ks[j].op, op) && !strcmp(ks[j].shape, ks[i].shape))
                for (size_t m = 0; m < nm; m++)
                    if (ks[j].cells[m] && !seen[m]) {
                        seen[m] = 1;
                        cnt++;
                    }
        if (cnt > best_n) {
            best_n = cnt;
            best = ks[i].shape;
        }
    }
    free(seen);
    return best;
}

/* Whether two intervals overlap (an unknown interval: only equal values tie). */
static int overlap(double lo1, double hi1, double v1, double lo2, double hi2, double v2)
{
    if (isnan(lo1) || isnan(hi1) || isnan(lo2) || isnan(hi2))
        return v1 == v2;
    return lo1 <= hi2 && lo2 <= hi1;
}

cJSON *jb_machines_ranking(const klass *ks, size_t nk, const char *op, const char *shape, size_t nm)
{
    entry *best = calloc(nm ? nm : 1, sizeof *best);
    if (!best)
        return NULL;
    size_t ne = 0;
    /* Each machine's best variant at the shape: by FLOP/J, by FLOP/s where no row has energy. */
    for (size_t m = 0; m < nm; m++) {
        entry b = {.machine = SIZE_MAX};
        for (size_t i = 0; i < nk; i++) {
            if (strcmp(ks[i].op, op) || strcmp(ks[i].shape, shape) || !ks[i].cells[m])
                continue;
            entry e;
            fill_entry(&e, m, &ks[i], ks[i].cells[m]);
            if (b.machine == SIZE_MAX || by_energy(&e, &b) < 0)
                b = e;
        }
        if (b.machine != SIZE_MAX)
            best[ne++] = b;
    }
    qsort(best, ne, sizeof *best, by_energy);
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < ne; i++) {
        const entry *e = &best[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "machine", (double)e->machine);
        cJSON_AddStringToObject(r, "variant", e->k->variant);
        add_num(r, "flop_per_j", e->fj);
        add_num(r, "flop_per_j_ci95_low", e->fj_lo);
        add_num(r, "flop_per_j_ci95_high", e->fj_hi);
        add_num(r, "flop_per_s", e->fs);
        add_num(r, "flop_per_s_ci95_low", e->fs_lo);
        add_num(r, "flop_per_s_ci95_high", e->fs_hi);
        if (e->measured < 0)
            cJSON_AddNullToObject(r, "energy_measured");
        else
            cJSON_AddNumberToObject(r, "energy_measured", e->measured);
        cJSON_AddStringToObject(r, "label", e->measured == 0 ? "energy: estimated" : e->measured > 0 ? "energy: measured"
                                                                                                   : "energy: none");
        /* Rank by FLOP/J among rows of the same energy kind only; by FLOP/s among all. */
        int rank_e = 0, tie_e = 0, rank_s = 1, tie_s = 0;
        if (e->measured >= 0) {
            rank_e = 1;
            for (size_t j = 0; j < i; j++)
                if (best[j].measured == e->measured)
                    rank_e++;
            tie_e = i > 0 && best[i - 1].measured == e->measured &&
                    overlap(e->fj_lo, e->fj_hi, e->fj, best[i - 1].fj_lo, best[i - 1].fj_hi, best[i - 1].fj);
        }
        double closest = INFINITY;
        const entry *above = NULL;
        for (size_t j = 0; j < ne; j++)
            if (j != i && best[j].fs > e->fs) {
                rank_s++;
                if (best[j].fs - e->fs < closest) {
                    closest = best[j].fs - e->fs;
                    above = &best[j];
                }
            }
        tie_s = above && overlap(e->fs_lo, e->fs_hi, e->fs, above->fs_lo, above->fs_hi, above->fs);
        if (rank_e)
            cJSON_AddNumberToObject(r, "rank_energy", rank_e);
        else
            cJSON_AddNullToObject(r, "rank_energy");
        cJSON_AddNumberToObject(r, "rank_speed", rank_s);
        cJSON_AddBoolToObject(r, "tie_energy", tie_e);
        cJSON_AddBoolToObject(r, "tie_speed", tie_s);
        cJSON_AddItemToArray(rows, r);
    }
    free(best);
    return rows;
}

/* pareto[i] = 1 when no point of the same energy kind is as good on both axes and better on one. */
void jb_machines_pareto(const double *x, const double *y, const int *kind, size_t n, int *front)
{
    for (size_t i = 0; i < n; i++) {
        front[i] = kind[i] >= 0 && isfinite(x[i]) && isfinite(y[i]);
        for (size_t j = 0; j < n && front[i]; j++)
            if (j != i && kind[j] == kind[i] && x[j] <= x[i] && y[j] <= y[i] && (x[j] < x[i] || y[j] < y[i]))
                front[i] = 0;
    }
}

cJSON *jb_machines_scatter(const klass *ks, size_t nk, const char *op, const char *shape, size_t nm)
{
    size_t cap = 0;
    for (size_t i = 0; i < nk; i++)
        if (!strcmp(ks[i].op, op) && !strcmp(ks[i].shape, shape))
            cap += nm;
    entry *es = calloc(cap ? cap : 1, sizeof *es);
    double *x = calloc(cap ? cap : 1, sizeof *x), *y = calloc(cap ? cap : 1, sizeof *y);
    int *kind = calloc(cap ? cap : 1, sizeof *kind), *front = calloc(cap ? cap : 1, sizeof *front);
    cJSON *pts = NULL;
    if (!es || !x || !y || !kind || !front)
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < nk; i++)
        if (!strcmp(ks[i].op, op) && !strcmp(ks[i].shape, shape))
            for (size_t m = 0; m < nm; m++)
                if (ks[i].cells[m]) {
                    fill_entry(&es[n], m, &ks[i], ks[i].cells[m]);
                    x[n] = es[n].t;
                    y[n] = es[n].j;
                    kind[n] = es[n].measured;
                    n++;
                }
    jb_machines_pareto(x, y, kind, n, front);
    pts = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "machine", (double)es[i].machine);
        cJSON_AddStringToObject(p, "variant", es[i].k->variant);
        add_num(p, "time_ns", es[i].t);
        add_num(p, "joules", es[i].j);
        if (es[i].measured < 0)
            cJSON_AddNullToObject(p, "energy_measured");
        else
            cJSON_AddNumberToObject(p, "energy_measured", es[i].measured);
        cJSON_AddBoolToObject(p, "pareto", front[i]);
        cJSON_AddItemToArray(pts, p);
    }
out:
    free(es);
    free(x);
    free(y);
    free(kind);
    free(front);
    return pts;
}
