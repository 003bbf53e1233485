/*
 * Private to the meter module (meter.c, meter_rapl.c, meter_nvml.c, meter_model.c):
 * the table of functions each kind of meter fills in, the shared meter object,
 * and the helpers the backends use. Nothing outside bench/meter*.c includes it.
 */
#ifndef JB_METER_IMPL_H
#define JB_METER_IMPL_H

#include <stddef.h>

#include "meters/meter.h"

typedef struct jb_meter_ops {
    jb_meter_kind kind;
    /* Energy since the meter was opened, in joules, never decreasing (wraps and
     * resets are the backend's business). Called at every window start and stop. */
    int (*counter)(jb_meter *m, double *joules);
    /* Optional (NULL: nothing to do): told when a window begins (1) and ends (0),
     * so work that only matters inside windows (nvml power sampling) can pause. */
    void (*window)(jb_meter *m, int active);
    /* Optional (NULL: sleep inside a window and measure): the idle baseline. */
    int (*idle_watts)(jb_meter *m, double seconds, double *watts);
    /* Frees the backend state (impl). */
    void (*destroy)(void *impl);
} jb_meter_ops;

struct jb_meter {
    const jb_meter_ops *ops;
    void *impl;               /* backend state, owned */
    int measured;             /* 1 hardware counter, 0 estimate */
    double update_period;     /* seconds */
    char provenance[1024];
    int in_window;
    double t0, e0;            /* monotonic seconds and counter at window start */
};

/* A meter around impl (owned from here on: freed by ops->destroy even when this
 * fails). NULL when out of memory. */
jb_meter *jb_meter_new(const jb_meter_ops *ops, void *impl, int measured, double update_period);


/* snprintf into why when why and len allow it; always returns status, so
 * backends can write `return jb_meter_fail(JB_EUNAVAILABLE, why, len, ...)`. */
int jb_meter_fail(int status, char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* cfg_value when set and non-empty, else $env when set and non-empty, else fallback. */
const char *jb_meter_setting(const char *cfg_value, const char *env, const char *fallback);

/* The backends. Same contract as jb_meter_open for their kind; cfg is never NULL. */
int jb_meter_rapl_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len);
int jb_meter_nvml_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len);
int jb_meter_model_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len);

#endif
