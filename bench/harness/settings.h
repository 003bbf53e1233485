/*
 * Settings capture: everything that moves results, recorded in the results'
 * context so two runs can be told apart (and compare can warn when they differ).
 */
#ifndef JB_SETTINGS_H
#define JB_SETTINGS_H

#include <cjson/cJSON.h>

/* Adds Google Benchmark's standard context keys (date, host_name, executable,
 * num_cpus, mhz_per_cpu, cpu_scaling_enabled, caches, load_avg,
 * library_build_type) and joulebench's own (cpu_model, cpu_flags, isa,
 * threads, omp_proc_bind, omp_places, governor, boost, compiler, cflags,
 * build_type, onednn_version, cuda_version, git_commit, jb_version): the CPU
 * and the libraries; jb_settings_capture_gpu adds the GPU. */
void jb_settings_capture(cJSON *ctx, const char *argv0, int threads);

/*
 * The GPU (CUDA device 0, through the backend table) into ctx: "gpu" (one line,
 * or "none" with "gpu_unavailable": why), "cuda_visible_devices",
 * "nvidia_tf32_override", and "gpu_settings" from NVML, found by the device's
 * PCI bus id: name, UUID, bus id, NVML index, MIG mode, driver, clocks, power
 * limit, temperature (or why NVML could not say). The bus id goes to
 * pci_bus_id (empty when unknown), for the meter. JB_OK or JB_EUNAVAILABLE.
 */
int jb_settings_capture_gpu(cJSON *ctx, char *pci_bus_id, size_t len);
/* Adds the temperature after the run to ctx.gpu_settings. */
void jb_settings_gpu_after(cJSON *ctx, const char *pci_bus_id);

/* "model name" of /proc/cpuinfo (static storage; "unknown" when absent). */
const char *jb_settings_cpu_model(void);
/* Host name (static storage). */
const char *jb_settings_host(void);
/* 1-minute load average, or -1. */
double jb_settings_load1(void);
/* Reads the first line of a file into buf without the newline; 0 or -1. */
int jb_read_line(const char *path, char *buf, size_t len);

#endif
