/*
 * What a run saw of the machine, written into its results context after the
 * rows: `probe` (the spread of the machine probe taken after each round),
 * the peaks' best readings next to the start's (`peak_flop_per_s` and
 * `peak_flop_per_s_start`, `peak_bytes_per_s` and `peak_bytes_per_s_start`,
 * and `peak_families`, each instruction family's ceiling the rows are
 * fractions of),
 * and `run_energy` (the whole run's joules per device, to put beside a batch
 * system's accounting). Each returns JB_OK or JB_ENOMEM.
 */
#ifndef JB_OBSERVED_H
#define JB_OBSERVED_H

#include <cjson/cJSON.h>

#include "harness/peaks.h"
#include "harness/runner.h"
#include "meters/meter.h"

/* Opens and starts, for each device with a rows' meter, a second meter of the
 * same kind spanning the whole run (NULL where it cannot be opened twice). */
void jb_observed_span_open(jb_meter *const rows[], const jb_meter_config *mcfg, jb_meter *span[]);
/* Stops and frees the span meters, writing context.run_energy. */
int jb_observed_run_energy(cJSON *ctx, jb_meter *span[]);
/* context.probe, when the run took probes. */
int jb_observed_probe(cJSON *ctx, const jb_runner_stats *st);
/* The peaks' context keys after the run (peaks.h: the best readings). */
int jb_observed_peaks(cJSON *ctx, const jb_peaks *peaks);

#endif
