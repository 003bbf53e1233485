/*
 * Reporters: what the runner tells about each row once it is done, and the
 * three ways it is told (Google Benchmark's split): the results file
 * (reporter_json.c: the row's Google Benchmark JSON entries), the console
 * table (reporter_console.c) and CSV (reporter_csv.c). A reporter only
 * formats; the runner decides what a row came to.
 */
#ifndef JB_REPORTER_H
#define JB_REPORTER_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/suite.h"

typedef enum {
    JB_ROW_TIMED,       /* verified and timed (an error during timing is JB_ROW_FAILED) */
    JB_ROW_UNAVAILABLE, /* the kernel cannot run here (no device, no CPU flag, built without) */
    JB_ROW_SKIPPED,     /* the kernel does not support the shape */
    JB_ROW_FAILED,      /* verification failed, or an error stopped it */
} jb_row_status;

#define JB_ROW_MAX_COUNTERS 64

/* What one row of the suite came to. */
typedef struct jb_row_result {
    const jb_row *row;
    int64_t index;            /* its family_index */
    jb_row_status status;
    char message[512];        /* not timed: "skipped: why", "verification failed: ...", "error: ..." */
    /* Timed rows: the median over the repetitions, and how well it is known. */
    double median_ns;         /* time per run */
    double ci_lo_ns, ci_hi_ns; /* its 95% interval (NaN with fewer than 6 repetitions) */
    double cv;                /* NaN with one repetition */
    int rounds;               /* repetitions */
    int converged;            /* 1: the interval reached the target before the budget ran out */
    double speedup, speedup_lo, speedup_hi; /* over the reference, from paired rounds (NaN: none) */
    char reference[96];       /* the reference kernel ("" when none) */
    const char *energy;       /* "measured", "estimated" or "time-only" */
    int ncounters;
    char counter_names[JB_ROW_MAX_COUNTERS][32];
    double counter_values[JB_ROW_MAX_COUNTERS];
    cJSON *entries;           /* the row's results entries (an array), in order; the JSON reporter takes them */
} jb_row_result;

/* The median's counter called name; NaN when it has none. */
double jb_row_result_counter(const jb_row_result *r, const char *name);

typedef struct jb_reporter jb_reporter;
struct jb_reporter {
    void (*begin)(jb_reporter *self);
    void (*row)(jb_reporter *self, const jb_row_result *r);
    void (*end)(jb_reporter *self);
    void (*destroy)(jb_reporter *self); /* optional: frees state */
    void *state;
};

/* The results file's rows, appended to benchmarks (moved out of r->entries). */
jb_reporter jb_reporter_json(cJSON *benchmarks);
/* The console table on f; rows of unavailable kernels are summed up in one
 * line at the end instead of one line each. */
jb_reporter jb_reporter_console(FILE *f);
/* CSV on f, one line per row, RFC 4180 quoting. */
jb_reporter jb_reporter_csv(FILE *f);
/* Frees what a reporter keeps (through its destroy slot, when it has one). */
void jb_reporter_free(jb_reporter *r);

#endif
