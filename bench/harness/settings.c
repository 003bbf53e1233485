/* Settings capture for the results' context: CPU, threads and affinity,
 * frequency policy, load, compiler, libraries and source revision. */
#include "harness/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/gbench.h"
#include "jb_kernels.h"
#include "meters/meter.h"

int jb_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(buf, (int)len, f);
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

const char *jb_settings_cpu_model(void)
{
    static char model[256];
    if (model[0])
        return model;
    snprintf(model, sizeof model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return model;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                v += strspn(v, " \t");
                v[strcspn(v, "\n")] = 0;
                snprintf(model, sizeof model, "%s", v);
            }
            break;
        }
    }
    fclose(f);
    return model;
}

const char *jb_settings_host(void)
{
    static char host[256];
    if (!host[0] && gethostname(host, sizeof host - 1))
        snprintf(host, sizeof host, "unknown-host");
    return host;
}

double jb_settings_load1(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static void git_commit(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git -C '%s' describe --always --dirty --abbrev=12 2>/dev/null", JB_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char line[128];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0])
            snprintf(buf, len, "%s", line);
    }
    pclose(p);
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

void jb_settings_capture(cJSON *ctx, const char *argv0, int threads)
{
    char buf[512];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
    cJSON_AddStringToObject(ctx, "date", buf);
    cJSON_AddStringToObject(ctx, "host_name", jb_settings_host());
    cJSON_AddStringToObject(ctx, "executable", argv0 ? argv0 : "joulebench");

    jb_gb_sysinfo si;
    jb_gb_sysinfo_get(&si);
    cJSON_AddNumberToObject(ctx, "num_cpus", si.num_cpus);
    cJSON_AddNumberToObject(ctx, "mhz_per_cpu", (int)si.mhz_per_cpu);
    cJSON_AddBoolToObject(ctx, "cpu_scaling_enabled", si.scaling == 1);
    cJSON *caches = cJSON_AddArrayToObject(ctx, "caches");
    for (int i = 0; i < si.ncaches; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", si.caches[i].type);
        cJSON_AddNumberToObject(c, "level", si.caches[i].level);
        cJSON_AddNumberToObject(c, "size", si.caches[i].size);
        cJSON_AddNumberToObject(c, "num_sharing", si.caches[i].num_sharing);
        cJSON_AddItemToArray(caches, c);
    }
    double load[3] = {0, 0, 0};
    int nl = getloadavg(load, 3);
    cJSON *la = cJSON_AddArrayToObject(ctx, "load_avg");
    for (int i = 0; i < nl; i++)
        cJSON_AddItemToArray(la, cJSON_CreateNumber(load[i]));
    cJSON_AddStringToObject(ctx, "library_build_type", !strcmp(JB_BUILD_TYPE, "Debug") ? "debug" : "release");

    cJSON_AddStringToObject(ctx, "jb_version", JB_VERSION);
    cJSON_AddStringToObject(ctx, "cpu_model", jb_settings_cpu_model());
    cJSON_AddStringToObject(ctx, "cpu_flags", jb_cpu_flags());
    cJSON_AddStringToObject(ctx, "isa", jb_cpu_isa_name());
    cJSON_AddStringToObject(ctx, "gemm_blocking", jb_gemm_blocking()); /* block sizes from the caches */
    cJSON_AddNumberToObject(ctx, "threads", threads);
    cJSON_AddStringToObject(ctx, "omp_proc_bind", env_or("OMP_PROC_BIND", "unset"));
    cJSON_AddStringToObject(ctx, "omp_places", env_or("OMP_PLACES", "unset"));
    cJSON_AddStringToObject(ctx, "governor",
                            jb_read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", buf, sizeof buf)
                                ? "unreadable"
                                : buf);
    /* Boost: acpi-cpufreq/amd-pstate expose cpufreq/boost (1 on); intel_pstate no_turbo (1 off). */
    if (!jb_read_line("/sys/devices/system/cpu/cpufreq/boost", buf, sizeof buf))
        cJSON_AddStringToObject(ctx, "boost", !strcmp(buf, "1") ? "on" : "off");
    else if (!jb_read_line("/sys/devices/system/cpu/intel_pstate/no_turbo", buf, sizeof buf))
        cJSON_AddStringToObject(ctx, "boost", !strcmp(buf, "1") ? "off" : "on");
    else
        cJSON_AddStringToObject(ctx, "boost", "unreadable");
    cJSON_AddStringToObject(ctx, "compiler", JB_COMPILER);
    cJSON_AddStringToObject(ctx, "cflags", JB_CFLAGS);
    cJSON_AddStringToObject(ctx, "build_type", JB_BUILD_TYPE);
    cJSON_AddStringToObject(ctx, "onednn_version", jb_onednn_version());
    cJSON_AddStringToObject(ctx, "cuda_version", jb_backend_get(JB_BACKEND_CUDA)->versions());
    char commit[128];
    git_commit(commit, sizeof commit);
    cJSON_AddStringToObject(ctx, "git_commit", commit);
}

int jb_settings_capture_gpu(cJSON *ctx, char *pci_bus_id, size_t len)
{
    const jb_backend_ops *cuda = jb_backend_get(JB_BACKEND_CUDA);
    char dev[256];
    if (cuda->describe(dev, sizeof dev) != JB_OK) {
        cJSON_AddStringToObject(ctx, "gpu", "none");
        cJSON_AddStringToObject(ctx, "gpu_unavailable", dev);
        if (pci_bus_id && len)
            pci_bus_id[0] = 0;
        return JB_EUNAVAILABLE;
    }
    cJSON_AddStringToObject(ctx, "gpu", dev);
    char bus[64] = "";
    if (cuda->pci_bus_id(bus, sizeof bus) != JB_OK)
        bus[0] = 0;
    if (pci_bus_id && len)
        snprintf(pci_bus_id, len, "%s", bus);
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES"), *tf32 = getenv("NVIDIA_TF32_OVERRIDE");
    cJSON_AddStringToObject(ctx, "cuda_visible_devices", cvd ? cvd : "(unset)");
    cJSON_AddStringToObject(ctx, "nvidia_tf32_override", tf32 ? tf32 : "(unset)");
    /* NVML, by the CUDA device's bus id: the board that runs the kernels. */
    jb_nvml_target t = {.pci_bus_id = bus[0] ? bus : NULL};
    jb_gpu_info gi;
    char why[256];
    if (jb_nvml_query(&t, &gi, why, sizeof why) != JB_OK) {
        cJSON_AddStringToObject(ctx, "gpu_settings", why);
        return JB_OK;
    }
    cJSON *g = cJSON_AddObjectToObject(ctx, "gpu_settings");
    cJSON_AddStringToObject(g, "name", gi.name);
    cJSON_AddStringToObject(g, "uuid", gi.uuid);
    cJSON_AddStringToObject(g, "pci_bus_id", bus[0] ? bus : "(unknown: NVML index 0)");
    cJSON_AddNumberToObject(g, "nvml_index", gi.nvml_index);
    cJSON_AddStringToObject(g, "mig_mode", gi.mig_mode == 1 ? "enabled" : gi.mig_mode == 0 ? "disabled" : "unknown");
    cJSON_AddStringToObject(g, "driver_version", gi.driver_version);
    cJSON_AddNumberToObject(g, "sm_clock_mhz", gi.sm_clock_mhz);
    cJSON_AddNumberToObject(g, "mem_clock_mhz", gi.mem_clock_mhz);
    cJSON_AddNumberToObject(g, "sm_clock_max_mhz", gi.sm_clock_max_mhz);
    cJSON_AddNumberToObject(g, "power_limit_watts", gi.power_limit_watts);
    cJSON_AddNumberToObject(g, "temperature_c_before", gi.temperature_c);
    return JB_OK;
}

void jb_settings_gpu_after(cJSON *ctx, const char *pci_bus_id)
{
    jb_nvml_target t = {.pci_bus_id = pci_bus_id && *pci_bus_id ? pci_bus_id : NULL};
    jb_gpu_info gi;
    char why[256];
    cJSON *g = cJSON_GetObjectItem(ctx, "gpu_settings");
    if (cJSON_IsObject(g) && jb_nvml_query(&t, &gi, why, sizeof why) == JB_OK)
        cJSON_AddNumberToObject(g, "temperature_c_after", gi.temperature_c);
}
