/*
 * Energy meters, the part every kind shares: names, opening one kind or the
 * best available one (jb_meter_open_auto), energy windows over a backend's
 * monotonic energy counter, and the idle baseline. The backends are
 * meter_rapl.c, meter_nvml.c and meter_model.c (see meter_impl.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jb_kernels.h"
#include "meters/meter_impl.h"
#include "util/clock.h"

static const char *const kind_names[] = {"rapl", "nvml", "model"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == JB_METER_KIND_COUNT, "a meter kind without a name");

const char *jb_meter_kind_name(jb_meter_kind kind)
{
    return (unsigned)kind < JB_METER_KIND_COUNT ? kind_names[kind] : "unknown";
}

int jb_meter_kind_from_name(const char *name)
{
    for (int i = 0; name && i < JB_METER_KIND_COUNT; i++)
        if (!strcmp(name, kind_names[i]))
            return i;
    return -1;
}

int jb_meter_fail(int status, char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *jb_meter_setting(const char *cfg_value, const char *env, const char *fallback)
{
    if (cfg_value && *cfg_value)
        return cfg_value;
    const char *e = env ? getenv(env) : NULL;
    return e && *e ? e : fallback;
}

jb_meter *jb_meter_new(const jb_meter_ops *ops, void *impl, int measured, double update_period)
{
    jb_meter *m = calloc(1, sizeof *m);
    if (!m) {
        ops->destroy(impl);
        return NULL;
    }
    m->ops = ops;
    m->impl = impl;
    m->measured = measured;
    m->update_period = update_period;
    return m;
}

int jb_meter_open(jb_meter_kind kind, const jb_meter_config *cfg, jb_meter **out, char *why, size_t len)
{
    static const jb_meter_config defaults;
    if (!out)
        return jb_meter_fail(JB_EINVAL, why, len, "meter: no place for the result");
    *out = NULL;
    if (!cfg)
        cfg = &defaults;
    if (why && len)
        why[0] = '\0';
    switch (kind) {
    case JB_METER_RAPL:
        return jb_meter_rapl_open(cfg, out, why, len);
    case JB_METER_NVML:
        return jb_meter_nvml_open(cfg, out, why, len);
    case JB_METER_MODEL:
        return jb_meter_model_open(cfg, out, why, len);
    default:
        return jb_meter_fail(JB_EINVAL, why, len, "meter: unknown kind %d", (int)kind);
    }
}

/* Appends "kind: why" to notes, "; "-separated. */
static void add_note(char *notes, size_t len, const char *kind, const char *why)
{
    if (!notes || !len)
        return;
    size_t used = strlen(notes);
    if (used + 1 >= len)
        return;
    snprintf(notes + used, len - used, "%s%s: %s", used ? "; " : "", kind, why);
}

int jb_meter_open_for(jb_backend device, const char *name, const jb_meter_config *cfg, jb_meter **out, char *notes,
                      size_t len)
{
    char why[512];
    if (notes && len)
        notes[0] = '\0';
    if (!out)
        return JB_EINVAL;
    *out = NULL;
    int autom = !name || !*name || !strcmp(name, "auto");
    int kind = autom ? -1 : jb_meter_kind_from_name(name);
    if (!autom && kind < 0)
        return jb_meter_fail(JB_EINVAL, notes, len, "unknown meter '%s' (auto, rapl, nvml or model)", name);
    if (device == JB_BACKEND_CUDA) {
        /* Only the GPU's own counter measures GPU work: a CPU meter would give
         * package energy (or a CPU estimate) for it. No fallback. */
        if (kind == JB_METER_RAPL || kind == JB_METER_MODEL)
            return jb_meter_fail(JB_EINVAL, notes, len,
                                 "%s %s the CPU, not the GPU: GPU rows are metered by nvml (--meter auto or nvml)",
                                 kind_names[kind], kind == JB_METER_RAPL ? "measures the package energy of"
                                                                         : "estimates the power of");
        int rc = jb_meter_open(JB_METER_NVML, cfg, out, why, sizeof why);
        if (rc != JB_OK)
            add_note(notes, len, "nvml", why);
        return rc == JB_OK ? JB_OK : JB_EUNAVAILABLE;
    }
    if (device != JB_BACKEND_CPU)
        return jb_meter_fail(JB_EINVAL, notes, len, "no meter for backend %d", (int)device);
    if (kind == JB_METER_NVML)
        return jb_meter_fail(JB_EINVAL, notes, len,
                             "nvml measures a GPU, not the CPU: CPU rows are metered by rapl or model (--meter auto)");
    if (kind >= 0) {
        int rc = jb_meter_open((jb_meter_kind)kind, cfg, out, why, sizeof why);
        if (rc != JB_OK)
            add_note(notes, len, kind_names[kind], why);
        return rc;
    }
    int rc = jb_meter_open(JB_METER_RAPL, cfg, out, why, sizeof why);
    if (rc == JB_OK)
        return JB_OK;
    add_note(notes, len, "rapl", why);
    rc = jb_meter_open(JB_METER_MODEL, cfg, out, why, sizeof why);
    if (rc != JB_OK)
        add_note(notes, len, "model", why);
    return rc;
}

void jb_meter_free(jb_meter *m)
{
    if (!m)
        return;
    if (m->in_window && m->ops->window)
        m->ops->window(m, 0);
    m->ops->destroy(m->impl);
    free(m);
}

jb_meter_kind jb_meter_kind_of(const jb_meter *m)
{
    return m->ops->kind;
}

int jb_meter_is_measured(const jb_meter *m)
{
    return m->measured;
}

double jb_meter_update_period(const jb_meter *m)
{
    return m->update_period;
}

const char *jb_meter_provenance(const jb_meter *m)
{
    return m->provenance;
}

int jb_meter_start(jb_meter *m)
{
    if (!m)
        return JB_EINVAL;
    if (m->ops->window)
        m->ops->window(m, 1);
    double e;
    int rc = m->ops->counter(m, &e);
    if (rc != JB_OK) {
        if (m->ops->window)
            m->ops->window(m, 0);
        m->in_window = 0;
        return rc;
    }
    m->t0 = jb_now();
    m->e0 = e;
    m->in_window = 1;
    return JB_OK;
}

int jb_meter_stop(jb_meter *m, jb_meter_reading *r)
{
    if (!m || !r || !m->in_window)
        return JB_EINVAL;
    double e;
    int rc = m->ops->counter(m, &e);
    double t = jb_now();
    if (m->ops->window)
        m->ops->window(m, 0);
    m->in_window = 0;
    if (rc != JB_OK)
        return rc;
    r->joules = e >= m->e0 ? e - m->e0 : 0.0;
    r->seconds = t - m->t0;
    r->watts = r->seconds > 0 ? r->joules / r->seconds : 0.0;
    r->measured = m->measured;
    return JB_OK;
}

static void sleep_seconds(double s)
{
    struct timespec req = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)}, rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

int jb_meter_idle_watts(jb_meter *m, double seconds, double *watts)
{
    if (!m || !watts || !(seconds > 0) || m->in_window)
        return JB_EINVAL;
    if (m->ops->idle_watts)
        return m->ops->idle_watts(m, seconds, watts);
    int rc = jb_meter_start(m);
    if (rc != JB_OK)
        return rc;
    sleep_seconds(seconds);
    jb_meter_reading r;
    rc = jb_meter_stop(m, &r);
    if (rc == JB_OK)
        *watts = r.watts;
    return rc;
}
