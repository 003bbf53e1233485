/*
 * The procurement view of a report (`joulebench report --compare-machines`):
 * the same suite on several machines, or on one machine at several CPU
 * frequencies or thread counts, side by side. A "machine" is host and CPU
 * model (and GPU), plus the Slurm node, and the run's threads and requested
 * CPU frequency where the files differ in them. Built from the page data of
 * jb_report_data (its "files": rows with medians and intervals) and the
 * results documents (contexts; the projection), as one JSON object that
 * scripts/report_machines.py draws:
 *
 *   {"why": why the section is there,
 *    "machines": [{"label", "host", "cpu_model", "gpu", "node", "partition", "cluster",
 *                  "threads", "cpu_freq", "energy", "files": [paths],
 *                  "price_per_hour", "price_row"}],
 *    "classes": [{"op", "variant", "shape", "unit",
 *                 "cells": [null | {"flop_per_s", "flop_per_s_ci95_low", "flop_per_s_ci95_high",
 *                                   "flop_per_j", "flop_per_j_ci95_low", "flop_per_j_ci95_high",
 *                                   "time_ns", "joules", "energy_measured", "label"}] (one per machine)}],
 *    "ranking": [{"op", "shape", "rows": [{"machine", "variant", "flop_per_j", lo, hi, "flop_per_s",
 *                 lo, hi, "energy_measured", "label", "rank_energy", "rank_speed",
 *                 "tie_energy", "tie_speed"}]}],
 *    "scatter": [{"op", "shape", "points": [{"machine", "variant", "time_ns", "joules",
 *                 "energy_measured", "pareto"}]}],
 *    "projection": null | {"model", "devices", "grid", "kg_per_kwh", "pue", "price_kwh",
 *                 "rows": [{"machine", "facility_mwh", "tco2e", "days", "machine_hours",
 *                           "energy_cost", "machine_cost", "total_cost", "energy_measured",
 *                           "label", "pareto", "matmul", "attention", "error"}]}}
 *
 * Figures a row lacks are null. Energy is measured (1) or estimated (0) per
 * row, and every estimated row carries the label "energy: estimated"; ranks
 * and Pareto fronts are taken among rows of the same kind only, so an
 * estimate is never ranked against a measurement.
 */
#ifndef JB_MACHINES_H
#define JB_MACHINES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "analysis/project.h"

typedef struct jb_machines_opts {
    const jb_model *model;     /* NULL: no projection */
    double devices;            /* devices the training runs on (>= 1) */
    double kg_per_kwh;         /* grid intensity */
    const char *grid;          /* says where kg_per_kwh comes from */
    double pue;                /* facility overhead */
    double price_kwh;          /* NaN: no energy cost */
    const char *prices_csv;    /* text of a machine-price table (jb_machine_prices_parse); NULL: none */
    const char *prices_path;   /* its path, for messages */
    const char *why;           /* why the section is there */
} jb_machines_opts;

/* How many distinct machines the documents come from (by the identity above). */
size_t jb_machines_count(const cJSON *const docs[], size_t n);

/* The section's data (described above); NULL with why in msg when the price
 * table is malformed or out of memory. page_files is jb_report_data's "files"
 * array for the same documents, in the same order. */
cJSON *jb_machines_data(const cJSON *page_files, const cJSON *const docs[], size_t n, const jb_machines_opts *o,
                        char *msg, size_t len);


#endif
