/* Batch sizing and per-run figures for the timed body (see batch.h). */
#include "harness/batch.h"

#include <math.h>

int jb_batch_size(double run_seconds, double target_seconds, int max_runs)
{
    if (max_runs < 1)
        max_runs = 1;
    if (!(run_seconds > 0) || !(target_seconds > 0))
        return max_runs;
    double n = ceil(target_seconds / run_seconds);
    return n >= max_runs ? max_runs : n < 1 ? 1 : (int)n;
}

double jb_batch_per_run(double per_batch, int runs, int is_percentage)
{
    return is_percentage || runs <= 1 ? per_batch : per_batch / runs;
}

void jb_batch_add(jb_batch_tally *t, int runs, double seconds, int held)
{
    t->batches++;
    t->runs += runs;
    t->unheld += !held;
    t->device_seconds += seconds;
}

double jb_batch_joules_per_run(const jb_batch_tally *t, double window_joules)
{
    return t->runs > 0 ? window_joules / (double)t->runs : NAN;
}

double jb_batch_busy(const jb_batch_tally *t, double window_seconds)
{
    if (!(window_seconds > 0))
        return NAN;
    double b = t->device_seconds / window_seconds;
    return b > 1 ? 1 : b < 0 ? 0 : b;
}
