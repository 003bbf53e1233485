/*
 * The data of a report page (`joulebench report`): everything
 * scripts/report.py draws, built here from results files read and checked by
 * the results module, so the script never reads a results file itself:
 *
 *   {"model": NAME or null,
 *    "files": [{"path", "machine": "host (cpu, gpu)",
 *               "ctx": {the context keys the page shows},
 *               "rows": [{"name", "op", "kernel", "variant", "shape", "error",
 *                         "flop_per_s", "flop_per_j", "intensity", "bytes_per_s",
 *                         "watts", "energy_measured", "flop_per_s_ci95_low",
 *                         "flop_per_s_ci95_high", "flop_per_j_ci95_low",
 *                         "flop_per_j_ci95_high", "speedup", "speedup_ci95_low",
 *                         "speedup_ci95_high", "ci_halfwidth_pct", "converged",
 *                         and from a median row "time_ns" and "reference"}],
 *               "projection": {"default": {"model": {"name"}, "projection": {...}} or null,
 *                              "error": why or null,
 *                              "variants": [{"class", "kernel", "row", "facility_mwh",
 *                                            "tco2e", "energy", "error"}]}}]}
 *
 * A row's figures are its median's (or the median of its repetitions when the
 * file has no aggregates); figures it lacks are null. The projection (with a
 * model) is the kernel method at the defaults of `joulebench project`: the
 * best kernels, then each attention and matmul kernel in turn.
 */
#ifndef JB_REPORT_DATA_H
#define JB_REPORT_DATA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "analysis/project.h"

/* NULL with why in msg when a file's rows or context are not what the page
 * needs (msg starts with its path), or when out of memory. model may be NULL. */
cJSON *jb_report_data(const char *const paths[], const cJSON *const docs[], size_t n, const jb_model *model,
                      char *msg, size_t len);

#endif
