/*
 * A fake libnvidia-ml for test_meters: the NVML functions joulebench loads,
 * answering from values a test sets. Built as a shared library; the test
 * dlopens the same file as the meter does (so both see one copy of this
 * state) and steers it through fake_nvml_set / fake_nvml_get:
 *   init_rc    what nvmlInit_v2 returns (also $FAKE_NVML_INIT_RC)
 *   devices    how many GPUs exist (default 1)
 *   energy_rc  what nvmlDeviceGetTotalEnergyConsumption returns (3: NOT_SUPPORTED)
 *   energy_mj  the energy counter
 *   power_rc   what nvmlDeviceGetPowerUsage returns
 *   power_mw   the power reading
 *   inits      get only: nvmlInit_v2 calls not yet matched by nvmlShutdown
 *   power_calls get only: nvmlDeviceGetPowerUsage calls so far
 *   mig_mode   what nvmlDeviceGetMigMode says (1 enabled)
 *   power_violation_ns, thermal_violation_ns  nvmlDeviceGetViolationStatus (-1: NOT_SUPPORTED)
 *   reasons    nvmlDeviceGetCurrentClocksEventReasons (-1: NOT_SUPPORTED)
 * Device i is "Fake GPU i" at PCI bus id 0000:(0x10 + i):00.0, with UUID
 * GPU-fake-000i; its energy counter reads energy_mj + i * 1000000, so a test
 * can tell which board a meter reads.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st {
    int index;
} *nvmlDevice_t;

enum { OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7 };

static atomic_llong init_rc, devices = 1, energy_rc, energy_mj = 1000, power_rc, power_mw = 100000;
static atomic_llong inits, power_calls, mig_mode, power_violation_ns = -1, thermal_violation_ns = -1, reasons = -1;
static struct nvmlDevice_st gpus[4] = {{0}, {1}, {2}, {3}};

static atomic_llong *slot(const char *key)
{
    static const struct {
        const char *key;
        atomic_llong *v;
    } keys[] = {{"init_rc", &init_rc},     {"devices", &devices},   {"energy_rc", &energy_rc},
                {"energy_mj", &energy_mj}, {"power_rc", &power_rc}, {"power_mw", &power_mw},
                {"inits", &inits},         {"power_calls", &power_calls},
                {"mig_mode", &mig_mode},   {"power_violation_ns", &power_violation_ns},
                {"thermal_violation_ns", &thermal_violation_ns}, {"reasons", &reasons}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i].key))
            return keys[i].v;
    return NULL;
}

/* Sets a control value; returns 0, or -1 for an unknown key. */
int fake_nvml_set(const char *key, long long value)
{
    atomic_llong *v = slot(key);
    if (!v)
        return -1;
    atomic_store(v, value);
    return 0;
}

/* Reads a control value or counter; -1 for an unknown key. */
long long fake_nvml_get(const char *key)
{
    atomic_llong *v = slot(key);
    return v ? atomic_load(v) : -1;
}

nvmlReturn_t nvmlInit_v2(void)
{
    const char *env = getenv("FAKE_NVML_INIT_RC");
    nvmlReturn_t rc = env ? atoi(env) : (nvmlReturn_t)atomic_load(&init_rc);
    if (rc == OK)
        atomic_fetch_add(&inits, 1);
    return rc;
}

nvmlReturn_t nvmlShutdown(void)
{
    if (atomic_load(&inits) <= 0)
        return UNINITIALIZED;
    atomic_fetch_sub(&inits, 1);
    return OK;
}

const char *nvmlErrorString(nvmlReturn_t rc)
{
    switch (rc) {
    case OK: return "Success";
    case UNINITIALIZED: return "Uninitialized";
    case INVALID_ARGUMENT: return "Invalid Argument";
    case NOT_SUPPORTED: return "Not Supported";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (atomic_load(&inits) <= 0)
        return UNINITIALIZED;
    if (!device || index >= (unsigned)atomic_load(&devices) || index >= sizeof gpus / sizeof gpus[0])
        return INVALID_ARGUMENT;
    *device = &gpus[index];
    return OK;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    nvmlReturn_t rc = (nvmlReturn_t)atomic_load(&energy_rc);
    if (!device || !energy)
        return INVALID_ARGUMENT;
    if (rc == OK)
        *energy = (unsigned long long)(atomic_load(&energy_mj) + device->index * 1000000LL);
    return rc;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    nvmlReturn_t rc = (nvmlReturn_t)atomic_load(&power_rc);
    if (!device || !power)
        return INVALID_ARGUMENT;
    atomic_fetch_add(&power_calls, 1);
    if (rc == OK)
        *power = (unsigned int)atomic_load(&power_mw);
    return rc;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    if (!device || !name)
        return INVALID_ARGUMENT;
    if (snprintf(name, length, "Fake GPU %d", device->index) >= (int)length)
        return INSUFFICIENT_SIZE;
    return OK;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!version || snprintf(version, length, "999.99.1") >= (int)length)
        return INSUFFICIENT_SIZE;
    return OK;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
    if (!device || !clock)
        return INVALID_ARGUMENT;
    if (type == 1) /* SM */
        *clock = 1755;
    else if (type == 2) /* memory */
        *clock = 2619;
    else
        return NOT_SUPPORTED;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
    (void)device;
    (void)type;
    (void)clock;
    return NOT_SUPPORTED;   /* lets the test see an unreadable field reported as -1 */
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    if (!device || !limit)
        return INVALID_ARGUMENT;
    *limit = 700000;
    return OK;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp)
{
    if (!device || !temp || sensor != 0)
        return INVALID_ARGUMENT;
    *temp = 41;
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, nvmlDevice_t *device)
{
    unsigned dom, bus, dev, fn;
    if (atomic_load(&inits) <= 0)
        return UNINITIALIZED;
    if (!bus_id || !device || sscanf(bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
        return INVALID_ARGUMENT;
    for (int i = 0; i < atomic_load(&devices) && i < (int)(sizeof gpus / sizeof gpus[0]); i++)
        if (dom == 0 && bus == 0x10u + (unsigned)i && dev == 0 && fn == 0) {
            *device = &gpus[i];
            return OK;
        }
    return 6; /* NVML_ERROR_NOT_FOUND */
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    if (!device || !index)
        return INVALID_ARGUMENT;
    *index = (unsigned)device->index;
    return OK;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    if (!device || !uuid || snprintf(uuid, length, "GPU-fake-000%d", device->index) >= (int)length)
        return INVALID_ARGUMENT;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending)
{
    if (!device || !current || !pending)
        return INVALID_ARGUMENT;
    *current = *pending = (unsigned)atomic_load(&mig_mode);
    return OK;
}

typedef struct {
    unsigned long long referenceTime, violationTime;
} fake_violation;

nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t device, int policy, fake_violation *v)
{
    long long ns = policy == 0 ? atomic_load(&power_violation_ns) : policy == 1 ? atomic_load(&thermal_violation_ns) : -1;
    if (!device || !v)
        return INVALID_ARGUMENT;
    if (ns < 0)
        return NOT_SUPPORTED;
    v->referenceTime = 0;
    v->violationTime = (unsigned long long)ns;
    return OK;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *r)
{
    long long v = atomic_load(&reasons);
    if (!device || !r)
        return INVALID_ARGUMENT;
    if (v < 0)
        return NOT_SUPPORTED;
    *r = (unsigned long long)v;
    return OK;
}
