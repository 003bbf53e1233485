/*
 * Energy meters: one interface over the sources of joules joulebench knows.
 *   rapl  - Linux powercap sysfs (intel-rapl:* package and dram zones; AMD too),
 *           summed per domain, wraparound-safe with max_energy_range_uj. Measured.
 *   nvml  - the GPU total-energy counter of libnvidia-ml.so.1, loaded at run
 *           time (no build dependency); power sampling on pre-Volta. Measured.
 *   model - an estimate from a hardware profile (TDP, idle fraction, the share
 *           of the socket in use) scaled by measured CPU utilization. Estimated.
 * Every reading carries whether it was measured or estimated.
 */
#ifndef JB_METER_H
#define JB_METER_H

#include <stddef.h>

typedef enum jb_meter_kind { JB_METER_RAPL, JB_METER_NVML, JB_METER_MODEL, JB_METER_KIND_COUNT } jb_meter_kind;

const char *jb_meter_kind_name(jb_meter_kind kind);
/* -1 for an unknown name ("auto" is not a kind: see jb_meter_open_auto). */
int jb_meter_kind_from_name(const char *name);

typedef struct jb_meter_config {
    const char *powercap_root;  /* NULL: $JB_POWERCAP_ROOT or /sys/class/powercap */
    const char *nvml_library;   /* NULL: $JB_NVML_LIB or "libnvidia-ml.so.1" */
    int nvml_device;            /* GPU index for nvml */
    double tdp_watts;           /* model: > 0 overrides the table (--tdp) */
    double idle_watts;          /* model: > 0 overrides TDP * idle fraction (--idle-watts) */
    const char *tdp_table;      /* model: NULL: configs/hardware/cpu_tdp.csv under the source dir */
    const char *cpu_model;      /* model: NULL: read from /proc/cpuinfo */
    int threads;                /* model: threads this run uses (share of the socket) */
} jb_meter_config;

typedef struct jb_meter jb_meter;

typedef struct jb_meter_reading {
    double joules;      /* energy over the window */
    double seconds;     /* wall time of the window */
    double watts;       /* joules / seconds */
    int measured;       /* 1 measured by hardware counters, 0 estimated */
} jb_meter_reading;

/* Opens one kind. JB_OK, or JB_EUNAVAILABLE with why (no powercap tree, energy_uj
 * unreadable without root and what to do, no libnvidia-ml, no device, ...). */
int jb_meter_open(jb_meter_kind kind, const jb_meter_config *cfg, jb_meter **out, char *why, size_t len);
/* Best available: rapl, else nvml (only when the run uses the GPU: want_gpu), else model.
 * notes receives why the better meters were not used. */
int jb_meter_open_auto(const jb_meter_config *cfg, int want_gpu, jb_meter **out, char *notes, size_t len);
void jb_meter_free(jb_meter *m);   /* NULL is fine */

jb_meter_kind jb_meter_kind_of(const jb_meter *m);
int jb_meter_is_measured(const jb_meter *m);
/* Seconds between counter updates (rapl ~1 ms, nvml ~100 ms, model: its sampling tick);
 * the harness keeps energy windows at least 10 of these long. */
double jb_meter_update_period(const jb_meter *m);
/* One line on where the numbers come from, e.g. "rapl: package-0 + dram (2 domains)"
 * or "model: TDP 170 W (cpu_tdp.csv: AMD EPYC 9654), idle 30%, 2/96 threads". */
const char *jb_meter_provenance(const jb_meter *m);

/* A window: start, then stop to get the energy since start. Windows may repeat. */
int jb_meter_start(jb_meter *m);
int jb_meter_stop(jb_meter *m, jb_meter_reading *r);

/* Average power over `seconds` of sleeping: the idle baseline recorded once per run. */
int jb_meter_idle_watts(jb_meter *m, double seconds, double *watts);

#endif
