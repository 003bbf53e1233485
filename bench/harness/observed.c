/*
 * What a run saw of the machine, for its results context (observed.h): the
 * probe's spread, the peaks' readings, and the whole run's energy.
 */
#include "harness/observed.h"

#include <math.h>
#include <stdlib.h>

#include "analysis/stats.h"
#include "harness/results.h"
#include "jb_kernels.h"

/* The energy of the whole run, by a second meter of each device's kind opened
 * beside the rows' own: the figure a batch system's accounting (Slurm's
 * ConsumedEnergy for the job step) gives for the same process, so the two can
 * be put side by side. A device whose meter cannot be opened twice has none. */
void jb_observed_span_open(jb_meter *const rows[], const jb_meter_config *mcfg, jb_meter *span[])
{
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        char why[256];
        span[d] = NULL;
        if (rows[d] && jb_meter_open(jb_meter_kind_of(rows[d]), mcfg, &span[d], why, sizeof why) == 0 &&
            jb_meter_start(span[d]) != 0) {
            jb_meter_free(span[d]);
            span[d] = NULL;
        }
    }
}

/* context.run_energy: per device, joules and seconds from the meters' start
 * (before the peaks) to the last row. */
int jb_observed_run_energy(cJSON *ctx, jb_meter *span[])
{
    cJSON *re = NULL;
    int rc = JB_OK;
    for (int d = 0; d < JB_BACKEND_COUNT; d++) {
        jb_meter_reading r;
        if (span[d] && jb_meter_stop(span[d], &r) == 0) {
            if (!re)
                re = cJSON_AddObjectToObject(ctx, "run_energy");
            cJSON *x = cJSON_AddObjectToObject(re, jb_backend_name((jb_backend)d));
            cJSON_AddNumberToObject(x, "joules", r.joules);
            cJSON_AddNumberToObject(x, "seconds", r.seconds);
            cJSON_AddStringToObject(x, "meter", jb_meter_kind_name(jb_meter_kind_of(span[d])));
            if (!cJSON_AddStringToObject(x, "energy", r.measured ? "measured" : "estimated"))
                rc = JB_ENOMEM;
        }
        jb_meter_free(span[d]);
        span[d] = NULL;
    }
    return rc;
}

/* The spread of one probe figure over the run: min, median, max and cv. */
static void add_spread(cJSON *o, const char *key, const double *x, size_t n)
{
    double mn = INFINITY, mx = 0, sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
        sum += x[i];
    }
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    cJSON *s = cJSON_AddObjectToObject(o, key);
    cJSON_AddNumberToObject(s, "min", mn);
    cJSON_AddNumberToObject(s, "median", jb_median(x, n));
    cJSON_AddNumberToObject(s, "max", mx);
    cJSON_AddNumberToObject(s, "cv", n > 1 && mean > 0 ? sqrt(sq / (double)(n - 1)) / mean : 0);
}

/* context.probe: how fast the machine itself was between rounds (harness/machine.h). */
int jb_observed_probe(cJSON *ctx, const jb_runner_stats *st)
{
    if (!st->nprobes)
        return JB_OK;
    double *f = malloc(2 * (size_t)st->nprobes * sizeof *f), *b = f ? f + st->nprobes : NULL;
    if (!f)
        return JB_ENOMEM;
    for (int i = 0; i < st->nprobes; i++) {
        f[i] = st->probes[i].flop_per_s;
        b[i] = st->probes[i].bytes_per_s;
    }
    cJSON *p = cJSON_AddObjectToObject(ctx, "probe");
    cJSON_AddStringToObject(p, "what", "after each round: 5 ms of the FMA loop on every thread, 4 copies of 16 MiB");
    cJSON_AddNumberToObject(p, "rounds", st->nprobes);
    add_spread(p, "flop_per_s", f, (size_t)st->nprobes);
    add_spread(p, "bytes_per_s", b, (size_t)st->nprobes);
    free(f);
    return p ? JB_OK : JB_ENOMEM;
}

int jb_observed_peaks(cJSON *ctx, const jb_peaks *peaks)
{
    int ok = cJSON_ReplaceItemInObject(ctx, "peak_flop_per_s", cJSON_CreateNumber(peaks->flop_per_s)) &&
             cJSON_AddNumberToObject(ctx, "peak_flop_per_s_start", peaks->flop_per_s_start) &&
             cJSON_ReplaceItemInObject(ctx, "peak_bytes_per_s", cJSON_CreateNumber(peaks->bytes_per_s)) &&
             cJSON_AddNumberToObject(ctx, "peak_bytes_per_s_start", peaks->bytes_per_s_start);
    /* Each family's ceiling, fp32's at its best reading: the ones the rows' pct_peak_flops are of. */
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "peak_families");
    return ok && jb_results_add_peak_families(ctx, "peak_families", peaks) == JB_OK ? JB_OK : JB_ENOMEM;
}
