/* Results files: Google Benchmark JSON written atomically, and read back. */
#ifndef JB_RESULTS_H
#define JB_RESULTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Writes doc to path through a temporary file in the same directory and a
 * rename, so readers see either the old file, no file, or the whole new one.
 * JB_OK or JB_EIO with a reason in msg. */
int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len);

/* Reads a results file; NULL with a reason in msg when it is missing, not
 * JSON, or not Google Benchmark JSON (no "context" object and "benchmarks" list). */
cJSON *jb_results_read(const char *path, char *msg, size_t len);

#endif
