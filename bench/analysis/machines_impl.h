/* Internal to the procurement view (machines.c, machines_rank.c): the rows
 * side by side that both read, and small readers of a row's figures. */
#ifndef JB_MACHINES_IMPL_H
#define JB_MACHINES_IMPL_H

#include <math.h>
#include <stddef.h>
#include <cjson/cJSON.h>

/* One kernel and shape across the machines. */
typedef struct klass {
    const char *op, *variant, *shape; /* into the page data */
    size_t first;                     /* order of first appearance */
    const cJSON **cells;              /* one per machine, NULL where not timed */
} klass;

static inline double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static inline const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static inline void add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* Energy per run: the run's work over its efficiency (time x FLOP/s / FLOP/J). */
static inline double joules_of(const cJSON *r)
{
    double t = num(r, "time_ns"), fs = num(r, "flop_per_s"), fj = num(r, "flop_per_j");
    return t > 0 && fs > 0 && fj > 0 ? t * 1e-9 * fs / fj : NAN;
}

/* 1 measured, 0 estimated, -1 no energy. */
static inline int measured_of(const cJSON *r)
{
    double m = num(r, "energy_measured");
    return isnan(m) || isnan(num(r, "flop_per_j")) ? -1 : m > 0.5;
}

/* The ranking of op's variants at shape by FLOP/J (each with its interval,
 * ties where the intervals overlap), and the time-energy points with their
 * Pareto front, over the nm machines' cells (machines_rank.c). shape: the
 * shape every machine ran (common_shape), NULL: none. */
const char *jb_machines_common_shape(const klass *ks, size_t nk, const char *op, size_t nm);
cJSON *jb_machines_ranking(const klass *ks, size_t nk, const char *op, const char *shape, size_t nm);
cJSON *jb_machines_scatter(const klass *ks, size_t nk, const char *op, const char *shape, size_t nm);
/* front[i] = 1 when no point of the same energy kind (kind[i]) is as good on
 * both axes x and y (lower is better) and better on one. */
void jb_machines_pareto(const double *x, const double *y, const int *kind, size_t n, int *front);

#endif
