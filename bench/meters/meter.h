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

#include "jb_kernels.h"

typedef enum jb_meter_kind { JB_METER_RAPL, JB_METER_NVML, JB_METER_MODEL, JB_METER_KIND_COUNT } jb_meter_kind;

const char *jb_meter_kind_name(jb_meter_kind kind);
/* -1 for an unknown name ("auto" is not a kind: see jb_meter_open_for). */
int jb_meter_kind_from_name(const char *name);

typedef struct jb_meter_config {
    const char *powercap_root;  /* NULL: $JB_POWERCAP_ROOT or /sys/class/powercap */
    const char *nvml_library;   /* NULL: $JB_NVML_LIB or "libnvidia-ml.so.1" */
    const char *nvml_pci_bus_id; /* GPU for nvml by PCI bus id (the CUDA device's: NVML
                                  * ignores CUDA_VISIBLE_DEVICES); NULL: nvml_device */
    int nvml_device;            /* GPU for nvml by NVML index, when no bus id is given */
    double tdp_watts;           /* model: > 0 overrides the table (--tdp) */
    double idle_watts;          /* model: > 0 overrides TDP * idle fraction (--idle-watts) */
    const char *tdp_table;      /* model: NULL: $JB_TDP_TABLE, else configs/hardware/cpu_tdp.csv under the source dir */
    const char *cpu_model;      /* model: NULL: read from /proc/cpuinfo */
    int threads;                /* model: threads this run uses (share of the socket); <= 0: all logical CPUs */
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
/*
 * The meter for the rows of one device, by name (NULL or "auto", or a kind):
 *   CPU rows   auto: rapl, else model; rapl or model as asked; nvml is refused.
 *   CUDA rows  auto or nvml: nvml, with no fallback (a CPU meter would report
 *              CPU energy for GPU work); rapl and model are refused.
 * JB_OK; JB_EINVAL when the named meter cannot measure that device (notes say
 * why: the command refuses it); JB_EUNAVAILABLE for GPU rows without NVML, or
 * the error of the meter asked for (notes say why: those rows are time only).
 * notes also receives why a better meter was passed over.
 */
int jb_meter_open_for(jb_backend device, const char *name, const jb_meter_config *cfg, jb_meter **out, char *notes,
                      size_t len);
void jb_meter_free(jb_meter *m);   /* NULL is fine */

jb_meter_kind jb_meter_kind_of(const jb_meter *m);
int jb_meter_is_measured(const jb_meter *m);
/* Seconds between counter updates (rapl ~1 ms, nvml ~100 ms, model: its sampling tick);
 * the harness keeps energy windows at least 5 of these long. */
double jb_meter_update_period(const jb_meter *m);
/* One line on where the numbers come from, e.g. "rapl: package-0 + dram (2 domains)"
 * or "model: TDP 170 W (cpu_tdp.csv: AMD EPYC 9654), idle 30%, 2/96 threads". */
const char *jb_meter_provenance(const jb_meter *m);

/* A window: start, then stop to get the energy since start. Windows may repeat. */
int jb_meter_start(jb_meter *m);
int jb_meter_stop(jb_meter *m, jb_meter_reading *r);

/* Average power over `seconds` of sleeping: the idle baseline recorded once per run.
 * JB_EINVAL for seconds <= 0 or inside an open window. The model returns its
 * profile's idle watts at once (an estimate, like everything it reports). */
int jb_meter_idle_watts(jb_meter *m, double seconds, double *watts);

/* ---- The model's constants and its TDP table ------------------------------ */

/* Idle power as a fraction of TDP when --idle-watts is not given (meter_model.c says why). */
#define JB_MODEL_IDLE_FRACTION 0.25
/* TDP assumed for a CPU the table does not know, per logical CPU of the socket
 * (CodeCarbon's DEFAULT_POWER_PER_CORE, applied the same way). */
#define JB_MODEL_WATTS_PER_CPU 4.0

/* Looks cpu_model (a /proc/cpuinfo "model name") up in a TDP table: CSV with a
 * header line, rows "Name,TDP", names optionally double-quoted. table NULL:
 * $JB_TDP_TABLE, else configs/hardware/cpu_tdp.csv under the source tree.
 * Both sides are normalized ("(R)", "(TM)", "CPU", "@ 2.40GHz", "96-Core Processor"
 * dropped, case and spaces folded); an exact match wins, else the longest row
 * name found in the model string as whole words, if it has a model number.
 * JB_OK with *tdp_watts and the table's spelling of the row in row; JB_EUNSUPPORTED
 * when no row matches; JB_EIO when the table cannot be read; why says which. */
int jb_cpu_tdp_lookup(const char *table, const char *cpu_model, double *tdp_watts,
                      char *row, size_t row_len, char *why, size_t why_len);
/* The matching itself, on the table's text (csv is cut into lines in place;
 * path only names it in messages). */
int jb_cpu_tdp_match(char *csv, const char *path, const char *cpu_model, double *tdp_watts, char *row,
                     size_t row_len, char *why, size_t why_len);

/* ---- GPU settings through NVML -------------------------------------------- */

/* Which GPU NVML is to read: the CUDA device's PCI bus id when known (NVML
 * numbers boards its own way and ignores CUDA_VISIBLE_DEVICES), else an index. */
typedef struct jb_nvml_target {
    const char *library;      /* NULL: $JB_NVML_LIB, else "libnvidia-ml.so.1" */
    const char *pci_bus_id;   /* "0000:3b:00.0" (any form NVML parses); NULL: by index */
    int index;
} jb_nvml_target;

typedef struct jb_gpu_info {
    char name[96];            /* "NVIDIA H100 80GB HBM3" */
    char driver_version[80];  /* "550.54.15" */
    char uuid[96];            /* "GPU-5f2c...": the board, whatever numbering is in use */
    int nvml_index;           /* NVML's index of the board; -1 when unreadable */
    int mig_mode;             /* 1 MIG enabled (energy is then the whole GPU's), 0 off, -1 unreadable */
    int sm_clock_mhz;         /* current SM clock; -1 when unreadable */
    int mem_clock_mhz;        /* current memory clock; -1 when unreadable */
    int sm_clock_max_mhz;     /* highest SM clock (boost); -1 when unreadable */
    int mem_clock_max_mhz;    /* -1 when unreadable */
    double power_limit_watts; /* enforced power limit; -1 when unreadable */
    int temperature_c;        /* GPU die; -1 when unreadable */
    int energy_counter;       /* 1 when the total-energy counter works (Volta and newer) */
} jb_gpu_info;

/* Reads the settings of the target GPU through libnvidia-ml, loaded and
 * released inside the call. JB_OK with *out filled (fields NVML cannot read
 * are -1 or empty), or JB_EUNAVAILABLE with why (no library, nvmlInit failed,
 * no such device). */
int jb_nvml_query(const jb_nvml_target *t, jb_gpu_info *out, char *why, size_t len);

/* ---- GPU state during a window, from an open nvml meter ------------------- */

/* Clock event reasons (nvml.h's nvmlClocksEventReason*) that mean the GPU ran
 * slower than it was asked to: power cap, hardware slowdown, thermal, power brake. */
#define JB_GPU_SLOWDOWN_REASONS 0xECULL

typedef struct jb_gpu_state {
    double t;                       /* when it was read (jb_now seconds) */
    int sm_clock_mhz, sm_clock_max_mhz, temperature_c;  /* -1 when unreadable */
    int have_violation;             /* the cumulative counters below could be read */
    unsigned long long power_violation_ns, thermal_violation_ns;
    int have_reasons;
    unsigned long long reasons;     /* clock event reasons now */
} jb_gpu_state;

/* Reads the state of an nvml meter's GPU: clocks, temperature, the cumulative
 * time NVML counts as throttled by power and by temperature
 * (nvmlDeviceGetViolationStatus), and the current clock event reasons.
 * JB_OK, or JB_EINVAL for a meter that is not nvml. */
int jb_meter_gpu_state(jb_meter *m, jb_gpu_state *s);

/*
 * Whether the GPU was throttled between two states: by the violation
 * counters, when both states have them (throttled when they grew by more than
 * 1% of the interval; *pct gets the share of the interval), else by the clock
 * event reasons of the later state (*pct is NaN). Returns 1 throttled, 0 not,
 * -1 unknown (neither could be read).
 */
int jb_gpu_throttled(const jb_gpu_state *before, const jb_gpu_state *after, double *pct);

#endif
