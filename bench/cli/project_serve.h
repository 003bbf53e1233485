/*
 * `joulebench project --inference`: what cmd_project.c hands the serving
 * projection (cmd_project_infer.c) once the options are parsed and checked.
 */
#ifndef JB_PROJECT_SERVE_H
#define JB_PROJECT_SERVE_H

#include <stddef.h>

#include "analysis/project_infer.h"

typedef struct jb_serve_opts {
    const char *model, *results, *matmul, *attention;
    const char *published;   /* an id of configs/published_inference_energy.csv, or NULL */
    jb_serving s;
    double requests_per_day; /* 0: no traffic given */
    double requests_given;   /* as given, with per */
    const char *per;         /* "day" or "hour" */
    double days;             /* deployment */
    double host, pue, kg;    /* kg CO2e per kWh */
    const char *grid;        /* where kg came from */
    int json;
} jb_serve_opts;

/* Reads a results file and checks it the way every reader of results does
 * (harness/results.c): the document, with *rc JB_OK, or with *rc the error
 * and the reason in msg. Exits 2 when the file cannot be read, and on
 * running out of memory as every command does. */
struct cJSON *jb_project_read_results(const char *path, int *rc, char *msg, size_t len);

/* Prints the serving projection; a usage error (exit 2) for bad input found
 * on the way (unknown model, no usable row, unknown published id). */
int jb_project_serve(const jb_serve_opts *o);

#endif
