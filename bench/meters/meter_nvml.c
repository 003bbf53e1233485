/*
 * The nvml meter and GPU settings: libnvidia-ml loaded at run time with dlopen,
 * so joulebench builds and runs without the NVIDIA driver. The few NVML types
 * and constants used are declared here (values as in nvml.h).
 *
 * Energy. nvmlDeviceGetTotalEnergyConsumption (Volta and newer) is a board
 * energy counter in millijoules since the driver loaded; a window is the
 * difference of two reads. Where it answers NVML_ERROR_NOT_SUPPORTED (Kepler,
 * Maxwell, Pascal), a thread samples nvmlDeviceGetPowerUsage (milliwatts)
 * every 20 ms while a window is open and integrates it with the trapezoid
 * rule; window start and stop take a sample of their own, so the window's
 * edges are exact.
 *
 * Update period: 100 ms, a conservative reading of the one public study of
 * these sensors: Yang et al., "Part-time Power Measurements: nvidia-smi's Lack
 * of Attention" (arXiv 2312.02741, SC24), measured 70 boards and found that
 * on A100 and H100 only 25% of the runtime is sampled (25 ms in every 100 ms)
 * and that older boards average their reading over comparable or longer
 * periods. We assume the energy counter is no finer than that. The harness keeps
 * windows at least 10 periods (1 s) long, which also smooths the 20 ms
 * sampling of the fallback and the 75% of time the sensor does not see.
 *
 * The library is cfg->nvml_library, else $JB_NVML_LIB, else
 * "libnvidia-ml.so.1"; tests load a fake one. nvmlInit_v2 is reference
 * counted by NVML, so several meters and queries may coexist; each pairs its
 * init with nvmlShutdown when freed.
 */
#include <dlfcn.h>
#include <math.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jb_kernels.h"
#include "meters/meter_impl.h"
#include "util/clock.h"

/* ---- The slice of nvml.h we use ----------------------------------------- */

typedef int nvmlReturn_t;                 /* an enum in nvml.h: int-sized */
typedef struct nvmlDevice_st *nvmlDevice_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_NOT_SUPPORTED = 3,
};
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 };   /* nvmlClockType_t */
enum { NVML_TEMPERATURE_GPU = 0 };                /* nvmlTemperatureSensors_t */
enum { NVML_PERF_POLICY_POWER = 0, NVML_PERF_POLICY_THERMAL = 1 }; /* nvmlPerfPolicyType_t */
enum { NVML_DEVICE_MIG_ENABLE = 1 };
typedef struct nvmlViolationTime_st {
    unsigned long long referenceTime;             /* CPU timestamp, microseconds */
    unsigned long long violationTime;             /* throttled time, nanoseconds, since the driver loaded */
} nvmlViolationTime_t;
#define NVML_NAME_LEN 96                          /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_DRIVER_LEN 80                        /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define NVML_UUID_LEN 96                          /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */

#define NVML_UPDATE_PERIOD 0.1
#define NVML_SAMPLE_PERIOD 0.02

typedef struct nvml_api {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*handle_by_index)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*handle_by_pci)(const char *, nvmlDevice_t *);   /* optional */
    nvmlReturn_t (*total_energy)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned int *);
    /* Optional: settings for jb_nvml_query; NULL when the library lacks them. */
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*driver_version)(char *, unsigned int);
    nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*max_clock)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*index)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*violation)(nvmlDevice_t, int, nvmlViolationTime_t *);
    nvmlReturn_t (*reasons)(nvmlDevice_t, unsigned long long *);
} nvml_api;

static const char *nvml_err(const nvml_api *a, nvmlReturn_t rc)
{
    const char *s = a->error_string ? a->error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

/* dlsym into a function pointer without the object-to-function cast warning. */
static int load_sym(void *lib, const char *name, void *fn_ptr)
{
    void *p = dlsym(lib, name);
    memcpy(fn_ptr, &p, sizeof p);
    return p != NULL;
}

static void nvml_unload(nvml_api *a)
{
    if (a->lib) {
        if (a->shutdown)
            a->shutdown();
        dlclose(a->lib);
    }
    memset(a, 0, sizeof *a);
}

/* Loads the library, resolves the symbols, runs nvmlInit_v2 and finds the
 * device: by PCI bus id when given (the CUDA device's; NVML numbers boards its
 * own way and ignores CUDA_VISIBLE_DEVICES), else by index dev. JB_OK, or
 * JB_EUNAVAILABLE with why (and *a released). */
static int nvml_load(const char *lib, const char *pci_bus_id, int dev, nvml_api *a, nvmlDevice_t *device, char *why,
                     size_t len)
{
    memset(a, 0, sizeof *a);
    const char *path = jb_meter_setting(lib, "JB_NVML_LIB", "libnvidia-ml.so.1");
    dlerror();
    a->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!a->lib) {
        const char *e = dlerror();
        return jb_meter_fail(JB_EUNAVAILABLE, why, len, "cannot load %s: %s (no NVIDIA driver here?)", path,
                             e ? e : "unknown dlopen error");
    }
    static const char *const required[] = {"nvmlInit_v2", "nvmlShutdown", "nvmlErrorString",
                                           "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetPowerUsage"};
    void *const slots[] = {&a->init, &a->shutdown, &a->error_string, &a->handle_by_index, &a->power_usage};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!load_sym(a->lib, required[i], slots[i])) {
            dlclose(a->lib);
            memset(a, 0, sizeof *a);
            return jb_meter_fail(JB_EUNAVAILABLE, why, len, "%s lacks %s: not a usable libnvidia-ml", path,
                                 required[i]);
        }
    }
    load_sym(a->lib, "nvmlDeviceGetTotalEnergyConsumption", &a->total_energy);
    load_sym(a->lib, "nvmlDeviceGetName", &a->name);
    load_sym(a->lib, "nvmlSystemGetDriverVersion", &a->driver_version);
    load_sym(a->lib, "nvmlDeviceGetClockInfo", &a->clock);
    load_sym(a->lib, "nvmlDeviceGetMaxClockInfo", &a->max_clock);
    load_sym(a->lib, "nvmlDeviceGetEnforcedPowerLimit", &a->power_limit);
    load_sym(a->lib, "nvmlDeviceGetTemperature", &a->temperature);
    load_sym(a->lib, "nvmlDeviceGetHandleByPciBusId_v2", &a->handle_by_pci);
    load_sym(a->lib, "nvmlDeviceGetIndex", &a->index);
    load_sym(a->lib, "nvmlDeviceGetUUID", &a->uuid);
    load_sym(a->lib, "nvmlDeviceGetMigMode", &a->mig_mode);
    load_sym(a->lib, "nvmlDeviceGetViolationStatus", &a->violation);
    /* The name since CUDA 12.2; the older one on older drivers. */
    if (!load_sym(a->lib, "nvmlDeviceGetCurrentClocksEventReasons", &a->reasons))
        load_sym(a->lib, "nvmlDeviceGetCurrentClocksThrottleReasons", &a->reasons);

    nvmlReturn_t rc = a->init();
    if (rc != NVML_SUCCESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s", nvml_err(a, rc));
        a->shutdown = NULL;   /* init failed: nothing to shut down */
        nvml_unload(a);
        return jb_meter_fail(JB_EUNAVAILABLE, why, len, "nvmlInit_v2 failed: %s (%s)", msg, path);
    }
    if (pci_bus_id && *pci_bus_id) {
        if (!a->handle_by_pci || (rc = a->handle_by_pci(pci_bus_id, device)) != NVML_SUCCESS) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s", a->handle_by_pci ? nvml_err(a, rc) : "nvmlDeviceGetHandleByPciBusId_v2 missing");
            nvml_unload(a);
            return jb_meter_fail(JB_EUNAVAILABLE, why, len, "no GPU at PCI bus id %s: %s", pci_bus_id, msg);
        }
        return JB_OK;
    }
    if (dev < 0 || (rc = a->handle_by_index((unsigned)dev, device)) != NVML_SUCCESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s", dev < 0 ? "negative index" : nvml_err(a, rc));
        nvml_unload(a);
        return jb_meter_fail(JB_EUNAVAILABLE, why, len, "no GPU %d: %s", dev, msg);
    }
    return JB_OK;
}

/* ---- The meter ------------------------------------------------------------ */

typedef struct nvml_meter {
    nvml_api api;
    nvmlDevice_t dev;
    int sampling;                 /* 0: energy counter; 1: power sampling thread */
    unsigned long long base_mj;   /* counter at open */
    /* Sampling; every field below is guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started, active, quit;
    int have_sample;
    double t_last, p_last;        /* seconds, watts */
    double energy_j;              /* integral since the first sample */
    nvmlReturn_t err;             /* last failed power read, NVML_SUCCESS if none */
} nvml_meter;

/* Takes one power sample and integrates since the previous one. Holds mu. */
static void sample_locked(nvml_meter *s)
{
    unsigned int mw;
    nvmlReturn_t rc = s->api.power_usage(s->dev, &mw);
    double t = jb_now();
    if (rc != NVML_SUCCESS) {
        s->err = rc;
        return;
    }
    double p = 1e-3 * mw;
    if (s->have_sample && t > s->t_last)
        s->energy_j += 0.5 * (s->p_last + p) * (t - s->t_last);
    s->t_last = t;
    s->p_last = p;
    s->have_sample = 1;
}

static void *sampler(void *arg)
{
    nvml_meter *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        if (!s->active) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        sample_locked(s);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(NVML_SAMPLE_PERIOD * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->quit && s->active && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int nvml_counter(jb_meter *m, double *joules)
{
    nvml_meter *s = m->impl;
    if (!s->sampling) {
        unsigned long long mj;
        if (s->api.total_energy(s->dev, &mj) != NVML_SUCCESS)
            return JB_EBACKEND;
        *joules = mj >= s->base_mj ? 1e-3 * (double)(mj - s->base_mj) : 0.0;
        return JB_OK;
    }
    pthread_mutex_lock(&s->mu);
    s->err = NVML_SUCCESS;
    sample_locked(s);
    int rc = s->err == NVML_SUCCESS ? JB_OK : JB_EBACKEND;
    *joules = s->energy_j;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void nvml_window(jb_meter *m, int active)
{
    nvml_meter *s = m->impl;
    if (!s->sampling)
        return;
    pthread_mutex_lock(&s->mu);
    s->active = active;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void nvml_destroy(void *impl)
{
    nvml_meter *s = impl;
    if (!s)
        return;
    if (s->sampling) {
        if (s->thread_started) {
            pthread_mutex_lock(&s->mu);
            s->quit = 1;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            pthread_join(s->thread, NULL);
        }
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    nvml_unload(&s->api);
    free(s);
}

static const jb_meter_ops nvml_ops = {
    .kind = JB_METER_NVML,
    .counter = nvml_counter,
    .window = nvml_window,
    .destroy = nvml_destroy,
};

/* Initializes the sampling thread's mutex, monotonic condition and thread. */
static int start_sampler(nvml_meter *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&s->cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad)
        return -1;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        return -1;
    }
    s->sampling = 1;   /* from here nvml_destroy tears the sync objects down */
    if (pthread_create(&s->thread, NULL, sampler, s) != 0)
        return -1;
    s->thread_started = 1;
    return 0;
}

/* "GPU 2 NVIDIA H100 80GB HBM3 (PCI 0000:3b:00.0, GPU-5f2c...)": which board,
 * told by NVML index, bus id and UUID, whichever can be read. */
static void describe_device(const nvml_api *a, nvmlDevice_t d, const char *pci_bus_id, char *out, size_t len)
{
    char name[NVML_NAME_LEN] = "", uuid[NVML_UUID_LEN] = "", idx[24] = "";
    unsigned int i;
    if (!a->name || a->name(d, name, sizeof name) != NVML_SUCCESS)
        snprintf(name, sizeof name, "(name unreadable)");
    if (!a->uuid || a->uuid(d, uuid, sizeof uuid) != NVML_SUCCESS)
        uuid[0] = '\0';
    if (a->index && a->index(d, &i) == NVML_SUCCESS)
        snprintf(idx, sizeof idx, "GPU %u ", i);
    snprintf(out, len, "%s%s (%s%s%s%s)", idx, name, pci_bus_id && *pci_bus_id ? "PCI " : "",
             pci_bus_id && *pci_bus_id ? pci_bus_id : "", pci_bus_id && *pci_bus_id && uuid[0] ? ", " : "",
             uuid[0] ? uuid : (pci_bus_id && *pci_bus_id ? "" : "UUID unreadable"));
}

/* 1 when MIG is on: a MIG instance has no energy counter of its own, so the
 * board's is read, shared with every other instance. */
static int mig_on(const nvml_api *a, nvmlDevice_t d)
{
    unsigned int cur, pending;
    return a->mig_mode && a->mig_mode(d, &cur, &pending) == NVML_SUCCESS && cur == NVML_DEVICE_MIG_ENABLE;
}

int jb_meter_nvml_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len)
{
    nvml_meter *s = calloc(1, sizeof *s);
    if (!s)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    int rc = nvml_load(cfg->nvml_library, cfg->nvml_pci_bus_id, cfg->nvml_device, &s->api, &s->dev, why, len);
    if (rc != JB_OK) {
        free(s);
        return rc;
    }
    char device[320];
    describe_device(&s->api, s->dev, cfg->nvml_pci_bus_id, device, sizeof device);
    const char *mig = mig_on(&s->api, s->dev) ? "; MIG enabled: the energy is the whole GPU's, every instance's" : "";

    char energy_why[160] = "";
    nvmlReturn_t erc = s->api.total_energy ? s->api.total_energy(s->dev, &s->base_mj) : NVML_ERROR_NOT_SUPPORTED;
    if (erc != NVML_SUCCESS) {
        /* NOT_SUPPORTED on pre-Volta boards; any other failure of the counter
         * is also worth a try of the power reading, and the provenance says why. */
        snprintf(energy_why, sizeof energy_why, "%s",
                 s->api.total_energy ? nvml_err(&s->api, erc) : "nvmlDeviceGetTotalEnergyConsumption missing");
        unsigned int mw;
        nvmlReturn_t prc = s->api.power_usage(s->dev, &mw);
        if (prc != NVML_SUCCESS) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s", nvml_err(&s->api, prc));
            nvml_destroy(s);
            return jb_meter_fail(JB_EUNAVAILABLE, why, len, "%s reports neither energy (%s) nor power (%s)", device,
                                 energy_why, msg);
        }
        if (start_sampler(s) != 0) {
            nvml_destroy(s);
            return jb_meter_fail(JB_EUNAVAILABLE, why, len, "cannot start the power sampling thread");
        }
    }
    jb_meter *m = jb_meter_new(&nvml_ops, s, 1, NVML_UPDATE_PERIOD);
    if (!m)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    if (!s->sampling)
        snprintf(m->provenance, sizeof m->provenance,
                 "nvml: %s, total energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ)%s", device, mig);
    else
        snprintf(m->provenance, sizeof m->provenance,
                 "nvml: %s, power sampled every %g ms and integrated (trapezoid); energy counter: %s%s", device,
                 1e3 * NVML_SAMPLE_PERIOD, energy_why, mig);
    *out = m;
    return JB_OK;
}

/* ---- Settings and state ---------------------------------------------------- */

static int read_clock(nvmlReturn_t (*fn)(nvmlDevice_t, int, unsigned int *), nvmlDevice_t d, int type)
{
    unsigned int v;
    return fn && fn(d, type, &v) == NVML_SUCCESS ? (int)v : -1;
}

int jb_nvml_query(const jb_nvml_target *t, jb_gpu_info *out, char *why, size_t len)
{
    if (!out || !t)
        return jb_meter_fail(JB_EINVAL, why, len, "no place for the result");
    memset(out, 0, sizeof *out);
    nvml_api a;
    nvmlDevice_t d;
    int rc = nvml_load(t->library, t->pci_bus_id, t->index, &a, &d, why, len);
    if (rc != JB_OK)
        return rc;
    if (!a.name || a.name(d, out->name, sizeof out->name) != NVML_SUCCESS)
        out->name[0] = '\0';
    if (!a.driver_version || a.driver_version(out->driver_version, sizeof out->driver_version) != NVML_SUCCESS)
        out->driver_version[0] = '\0';
    if (!a.uuid || a.uuid(d, out->uuid, sizeof out->uuid) != NVML_SUCCESS)
        out->uuid[0] = '\0';
    unsigned int v, pending;
    out->nvml_index = a.index && a.index(d, &v) == NVML_SUCCESS ? (int)v : -1;
    out->mig_mode = a.mig_mode && a.mig_mode(d, &v, &pending) == NVML_SUCCESS ? v == NVML_DEVICE_MIG_ENABLE : -1;
    out->sm_clock_mhz = read_clock(a.clock, d, NVML_CLOCK_SM);
    out->mem_clock_mhz = read_clock(a.clock, d, NVML_CLOCK_MEM);
    out->sm_clock_max_mhz = read_clock(a.max_clock, d, NVML_CLOCK_SM);
    out->mem_clock_max_mhz = read_clock(a.max_clock, d, NVML_CLOCK_MEM);
    out->power_limit_watts = a.power_limit && a.power_limit(d, &v) == NVML_SUCCESS ? 1e-3 * v : -1;
    out->temperature_c = a.temperature && a.temperature(d, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS ? (int)v : -1;
    unsigned long long mj;
    out->energy_counter = a.total_energy && a.total_energy(d, &mj) == NVML_SUCCESS;
    nvml_unload(&a);
    return JB_OK;
}

int jb_meter_gpu_state(jb_meter *m, jb_gpu_state *st)
{
    if (!m || !st || m->ops != &nvml_ops)
        return JB_EINVAL;
    const nvml_meter *s = m->impl;
    const nvml_api *a = &s->api;
    memset(st, 0, sizeof *st);
    st->t = jb_now();
    st->sm_clock_mhz = read_clock(a->clock, s->dev, NVML_CLOCK_SM);
    st->sm_clock_max_mhz = read_clock(a->max_clock, s->dev, NVML_CLOCK_SM);
    unsigned int v;
    st->temperature_c = a->temperature && a->temperature(s->dev, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS ? (int)v : -1;
    nvmlViolationTime_t pw, th;
    st->have_violation = a->violation && a->violation(s->dev, NVML_PERF_POLICY_POWER, &pw) == NVML_SUCCESS &&
                         a->violation(s->dev, NVML_PERF_POLICY_THERMAL, &th) == NVML_SUCCESS;
    if (st->have_violation) {
        st->power_violation_ns = pw.violationTime;
        st->thermal_violation_ns = th.violationTime;
    }
    st->have_reasons = a->reasons && a->reasons(s->dev, &st->reasons) == NVML_SUCCESS;
    return JB_OK;
}

int jb_gpu_throttled(const jb_gpu_state *before, const jb_gpu_state *after, double *pct)
{
    if (pct)
        *pct = NAN;
    double dt = after->t - before->t;
    if (before->have_violation && after->have_violation && dt > 0) {
        /* Counters that went backwards (a driver reload) say nothing. */
        unsigned long long p = after->power_violation_ns >= before->power_violation_ns
                                   ? after->power_violation_ns - before->power_violation_ns : 0;
        unsigned long long h = after->thermal_violation_ns >= before->thermal_violation_ns
                                   ? after->thermal_violation_ns - before->thermal_violation_ns : 0;
        double share = 1e-9 * (double)(p > h ? p : h) / dt; /* the two often overlap: the larger, not the sum */
        if (share > 1)
            share = 1;
        if (pct)
            *pct = 100 * share;
        return share > 0.01;
    }
    if (after->have_reasons)
        return (after->reasons & JB_GPU_SLOWDOWN_REASONS) != 0;
    return -1;
}
