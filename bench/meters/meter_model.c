/*
 * The model meter: an estimate of CPU socket power when no counter can be read
 * (virtual machines, CI, kernels without RAPL). Every figure it produces is
 * marked estimated (measured = 0).
 *
 *   P = idle + (TDP - idle) * utilization * share
 *
 *   TDP          the socket's thermal design power: cfg->tdp_watts (--tdp), else
 *                the row of the TDP table (configs/hardware/cpu_tdp.csv, from
 *                CodeCarbon) matching the CPU model name, else
 *                JB_MODEL_WATTS_PER_CPU (4 W) x logical CPUs of the socket, the
 *                default CodeCarbon uses for CPUs it does not know.
 *   idle         cfg->idle_watts (--idle-watts), else JB_MODEL_IDLE_FRACTION
 *                (0.25) x TDP. Why 0.25: the idle/full-load power ratios of
 *                servers in the SPECpower results, as Cloud Carbon Footprint
 *                summarizes them per micro-architecture (min/max watts per vCPU:
 *                Skylake 0.64/4.05 = 0.16, Cascade Lake 0.17, Broadwell 0.20,
 *                EPYC Milan 0.24, Rome 0.29, Haswell and Naples 0.32), lie between
 *                0.16 and 0.32; 0.25 is the middle. It is an assumption for a
 *                package, not a measurement: give --idle-watts when known.
 *   share        threads / logical CPUs of the socket (capped at 1): the part of
 *                the socket this run can keep busy. threads is cfg->threads, or
 *                every logical CPU when it is not set.
 *   utilization  process CPU time / (wall time x threads), clipped to [0, 1]:
 *                how busy the run's threads were (CLOCK_PROCESS_CPUTIME_ID sums
 *                every thread of the process). utilization * share is then the
 *                busy fraction of the whole socket, so a single-threaded run on
 *                a 96-CPU socket adds 1/96 of the dynamic range, not all of it.
 *                Threads spinning in a barrier count as busy: they do burn power.
 *
 * P is the whole socket's power (idle included), the same quantity rapl's
 * package domain reports, so the two can be compared. Linear in utilization,
 * as Cloud Carbon Footprint and CodeCarbon assume; real curves are concave, so
 * mid-load power is underestimated. Inside a VM the table row is the whole
 * physical chip while "logical CPUs of the socket" are the guest's vCPUs:
 * pass --tdp with the guest's share then.
 *
 * Utilization is computed per counter read (window start and stop), so each
 * window is estimated from its own CPU time. CLOCK_PROCESS_CPUTIME_ID is exact
 * for the calling thread but other running threads are only brought up to date
 * at their scheduler tick (4 ms at HZ=250), hence an update period of 10 ms.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/files.h"
#include "util/paths.h"
#include "jb_kernels.h"
#include "meters/meter_impl.h"
#include "util/clock.h"

#define MODEL_DEFAULT_TABLE "configs/hardware/cpu_tdp.csv" /* found by jb_data_path */
#define MODEL_UPDATE_PERIOD 10e-3

/* ---- Normalizing and matching CPU names --------------------------------- */

/* Lower-cases s, drops trademarks, the clock ("@ 2.40GHz" and what follows),
 * the words "cpu" and "processor" and core counts ("96-core"), and folds
 * spaces: "AMD EPYC 9654 96-Core Processor" -> "amd epyc 9654". */
static void normalize(const char *s, char *out, size_t len)
{
    char buf[512];
    size_t n = 0;
    for (; *s && n + 1 < sizeof buf; s++) {
        if (*s == '@')
            break;
        buf[n++] = (char)tolower((unsigned char)*s);
    }
    buf[n] = '\0';
    static const char *const marks[] = {"(r)", "(tm)", "(c)"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        for (char *p; (p = strstr(buf, marks[i])) != NULL;)
            memset(p, ' ', strlen(marks[i]));
    size_t o = 0;
    if (len)
        out[0] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        size_t tl = strlen(tok);
        if (!strcmp(tok, "cpu") || !strcmp(tok, "processor"))
            continue;
        if (tl > 5 && !strcmp(tok + tl - 5, "-core") && strspn(tok, "0123456789") == tl - 5)
            continue;
        if (o + tl + 2 > len)
            break;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, tok, tl + 1);
        o += tl;
    }
}

/* 1 when word (a normalized name) occurs in s as whole words. */
static int has_words(const char *s, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word))
        if ((p == s || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
            return 1;
    return 0;
}

/* One CSV row: name (quotes removed) and TDP. 0 for a row, -1 for a line to skip. */
static int parse_row(char *line, char *name, size_t len, double *tdp)
{
    char *p = line;
    size_t n = 0;
    if (*p == '#' || *p == '\0' || *p == '\n' || *p == '\r')
        return -1;
    if (*p == '"') {
        for (p++; *p; p++) {
            if (*p == '"' && p[1] == '"')
                p++;
            else if (*p == '"')
                break;
            if (n + 1 < len)
                name[n++] = *p;
        }
        if (*p != '"')
            return -1;
        p++;
    } else {
        for (; *p && *p != ','; p++)
            if (n + 1 < len)
                name[n++] = *p;
    }
    name[n] = '\0';
    if (*p != ',')
        return -1;
    char *end;
    errno = 0;
    *tdp = strtod(p + 1, &end);
    if (end == p + 1 || errno || !(*tdp > 0 && *tdp <= 1e5))
        return -1;   /* the header line, or a row without a usable TDP */
    return 0;
}

int jb_cpu_tdp_match(char *csv, const char *path, const char *cpu_model, double *tdp_watts, char *row,
                     size_t row_len, char *why, size_t why_len)
{
    if (row && row_len)
        row[0] = '\0';
    if (!cpu_model || !tdp_watts)
        return jb_meter_fail(JB_EINVAL, why, why_len, "no CPU model to look up");
    char model[512], cand[512], name[512];
    normalize(cpu_model, model, sizeof model);
    int model_intel = has_words(model, "intel");
    int found = 0, exact = 0;
    size_t best_len = 0;
    double best_tdp = 0;
    char best[512] = "";
    for (char *line = csv, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        double tdp;
        if (parse_row(line, name, sizeof name, &tdp) != 0)
            continue;
        normalize(name, cand, sizeof cand);
        if (!cand[0])
            continue;
        if (!strcmp(cand, model)) {
            snprintf(best, sizeof best, "%s", name);
            best_tdp = tdp;
            found = exact = 1;
            break;
        }
        /* Whole words, and only rows with a model number: "AMD EPYC" must not
         * pick one EPYC. Rows naming no vendor are AMD (Opteron "6140", FX-8350)
         * or Apple/ARM parts, and must not match an Intel CPU ("Xeon Gold 6140"). */
        size_t cl = strlen(cand);
        if (cl <= best_len || !strpbrk(cand, "0123456789") || !has_words(model, cand))
            continue;
        if (model_intel && !has_words(cand, "intel") && !has_words(cand, "amd"))
            continue;
        snprintf(best, sizeof best, "%s", name);
        best_tdp = tdp;
        best_len = cl;
        found = 1;
    }
    if (!found)
        return jb_meter_fail(JB_EUNSUPPORTED, why, why_len, "'%s' matches no row of %s", cpu_model, path);
    *tdp_watts = best_tdp;
    if (row && row_len)
        snprintf(row, row_len, "%s", best);
    jb_meter_fail(JB_OK, why, why_len, "%s match in %s: %s, %g W", exact ? "exact" : "whole-word", path, best,
                  best_tdp);
    return JB_OK;
}

int jb_cpu_tdp_lookup(const char *table, const char *cpu_model, double *tdp_watts,
                      char *row, size_t row_len, char *why, size_t why_len)
{
    char dflt[4096];
    const char *path = jb_meter_setting(table, "JB_TDP_TABLE", jb_data_path(MODEL_DEFAULT_TABLE, dflt, sizeof dflt));
    if (row && row_len)
        row[0] = '\0';
    if (!cpu_model || !tdp_watts)
        return jb_meter_fail(JB_EINVAL, why, why_len, "no CPU model to look up");
    char *text, msg[4400];
    if (jb_file_read(path, (size_t)64 << 20, JB_FILE_TEXT, &text, NULL, msg, sizeof msg))
        return jb_meter_fail(JB_EIO, why, why_len, "cannot read the TDP table %s", msg);
    int rc = jb_cpu_tdp_match(text, path, cpu_model, tdp_watts, row, row_len, why, why_len);
    free(text);
    return rc;
}

/* ---- This machine's CPU ------------------------------------------------- */

/* The first "model name" and "siblings" (logical CPUs in that processor's
 * package) of /proc/cpuinfo. */
static void read_cpuinfo(char *model, size_t len, int *siblings)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    int have_model = 0, have_sib = 0;
    while ((!have_model || !have_sib) && getline(&line, &cap, f) > 0) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *v = colon + 1;
        v += strspn(v, " \t");
        v[strcspn(v, "\n")] = '\0';
        if (!have_model && !strncmp(line, "model name", 10)) {
            snprintf(model, len, "%s", v);
            have_model = 1;
        } else if (!have_sib && !strncmp(line, "siblings", 8)) {
            *siblings = atoi(v);
            have_sib = 1;
        }
    }
    free(line);
    fclose(f);
}

/* ---- The meter ------------------------------------------------------------ */

typedef struct model_state {
    double tdp, idle;
    int threads, logical;
    double last_wall, last_cpu;   /* at the previous counter read */
    double total_j;
} model_state;

static double process_cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int model_counter(jb_meter *m, double *joules)
{
    model_state *s = m->impl;
    double wall = jb_now(), cpu = process_cpu_seconds();
    double dt = wall - s->last_wall, dc = cpu - s->last_cpu;
    if (dt > 0) {
        double util = dc / (dt * s->threads);
        util = util < 0 ? 0 : util > 1 ? 1 : util;
        double share = (double)s->threads / s->logical;
        s->total_j += (s->idle + (s->tdp - s->idle) * util * share) * dt;
    }
    s->last_wall = wall;
    s->last_cpu = cpu;
    *joules = s->total_j;
    return JB_OK;
}

static int model_idle(jb_meter *m, double seconds, double *watts)
{
    (void)seconds;   /* nothing to measure: the profile says it */
    *watts = ((model_state *)m->impl)->idle;
    return JB_OK;
}

static void model_destroy(void *impl)
{
    free(impl);
}

static const jb_meter_ops model_ops = {
    .kind = JB_METER_MODEL,
    .counter = model_counter,
    .idle_watts = model_idle,
    .destroy = model_destroy,
};

int jb_meter_model_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len)
{
    char model[256] = "", tdp_src[640], row[256], lookup_why[512];
    int siblings = 0;
    read_cpuinfo(model, sizeof model, &siblings);
    if (cfg->cpu_model && *cfg->cpu_model)
        snprintf(model, sizeof model, "%s", cfg->cpu_model);
    if (!model[0])
        snprintf(model, sizeof model, "unknown");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int logical = siblings > 0 ? siblings : online > 0 ? (int)online : 1;
    int threads = cfg->threads > 0 ? cfg->threads : logical;
    if (threads > logical)
        threads = logical;   /* more threads than CPUs cannot draw more than the socket */

    double tdp;
    if (cfg->tdp_watts > 0) {
        tdp = cfg->tdp_watts;
        snprintf(tdp_src, sizeof tdp_src, "given (--tdp)");
    } else if (jb_cpu_tdp_lookup(cfg->tdp_table, model, &tdp, row, sizeof row, lookup_why, sizeof lookup_why) == JB_OK) {
        snprintf(tdp_src, sizeof tdp_src, "cpu_tdp.csv row '%s' for '%s'", row, model);
    } else {
        tdp = JB_MODEL_WATTS_PER_CPU * logical;
        snprintf(tdp_src, sizeof tdp_src, "assumed %g W x %d logical CPUs, CodeCarbon's default for unknown CPUs: %s",
                 JB_MODEL_WATTS_PER_CPU, logical, lookup_why);
    }
    double idle;
    char idle_src[64];
    if (cfg->idle_watts > 0) {
        idle = cfg->idle_watts;
        snprintf(idle_src, sizeof idle_src, "given (--idle-watts)");
    } else {
        idle = JB_MODEL_IDLE_FRACTION * tdp;
        snprintf(idle_src, sizeof idle_src, "%g%% of TDP, assumed", 100 * JB_MODEL_IDLE_FRACTION);
    }
    if (idle >= tdp)
        return jb_meter_fail(JB_EINVAL, why, len, "idle power %g W must be below TDP %g W", idle, tdp);

    model_state *s = calloc(1, sizeof *s);
    if (!s)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    s->tdp = tdp;
    s->idle = idle;
    s->threads = threads;
    s->logical = logical;
    s->last_wall = jb_now();
    s->last_cpu = process_cpu_seconds();
    jb_meter *m = jb_meter_new(&model_ops, s, 0, MODEL_UPDATE_PERIOD);
    if (!m)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    snprintf(m->provenance, sizeof m->provenance,
             "model: estimated as P = idle + (TDP - idle) * utilization * share; TDP %g W (%s); idle %g W (%s); "
             "share %d/%d (threads / logical CPUs of the socket); utilization = process CPU time / "
             "(wall time x %d threads)",
             tdp, tdp_src, idle, idle_src, threads, logical, threads);
    *out = m;
    return JB_OK;
}
