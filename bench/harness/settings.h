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
 * build_type, onednn_version, cuda_version, git_commit, jb_version). */
void jb_settings_capture(cJSON *ctx, const char *argv0, int threads);

/* "model name" of /proc/cpuinfo (static storage; "unknown" when absent). */
const char *jb_settings_cpu_model(void);
/* Host name (static storage). */
const char *jb_settings_host(void);
/* 1-minute load average, or -1. */
double jb_settings_load1(void);
/* Reads the first line of a file into buf without the newline; 0 or -1. */
int jb_read_line(const char *path, char *buf, size_t len);

#endif
