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
 *                                            "tco2e", "energy", "error"}]},
 *               "inference": {"serving": {"prompt", "output", "batch", "kv_bytes",
 *                                         "requests_per_day", "pue", "grid"},
 *                             "default": {"joules_per_request", "joules_per_output_token",
 *                                         "kwh_per_year", "tco2e_per_year", "energy",
 *                                         "phases": [{"phase", "kernel", "row", "reading"}],
 *                                         "notes": [...]} or null,
 *                             "error": why or null,
 *                             "variants": [{"class", "kernel", "joules_per_request",
 *                                           "joules_per_1000_output_tokens", "kwh_per_year",
 *                                           "tco2e_per_year", "energy", "stands_in", "error"}]}}]}
 *
 * A row's figures are its median's (or the median of its repetitions when the
 * file has no aggregates); figures it lacks are null. The projection (with a
 * model) is the kernel method at the defaults of `joulebench project`: the
 * best kernels, then each attention and matmul kernel in turn. The serving
 * projection likewise, at `project --inference`'s defaults (prompt 512,
 * output 256, batch 1, fp16 KV cache; output 0 for an encoder, and a prompt
 * cut to the model's context) and 1,000,000 requests a day
 * (JB_REPORT_REQUESTS_PER_DAY); weight-only quantized matmuls (w8, w4) appear
 * only here, never in training's list.
 */
#ifndef JB_REPORT_DATA_H
#define JB_REPORT_DATA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "analysis/project.h"

/* The traffic the report's serving section assumes. */
#define JB_REPORT_REQUESTS_PER_DAY 1e6

/* NULL with why in msg when a file's rows or context are not what the page
 * needs (msg starts with its path), or when out of memory. model may be NULL. */
cJSON *jb_report_data(const char *const paths[], const cJSON *const docs[], size_t n, const jb_model *model,
                      char *msg, size_t len);

#endif
