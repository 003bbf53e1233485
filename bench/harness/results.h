/* Results files: Google Benchmark JSON written atomically, and read back. */
#ifndef JB_RESULTS_H
#define JB_RESULTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Writes doc to path as valid UTF-8 JSON through jb_file_write_atomic, so
 * readers see either the old file, no file, or the whole new one.
 * JB_OK, JB_ENOMEM or JB_EIO with a reason in msg. */
int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len);

/* Reads a results file; NULL with a reason in msg when it is missing, not a
 * regular file, not UTF-8, not JSON (trailing text included), or not Google
 * Benchmark JSON (no "context" object and "benchmarks" list). */
cJSON *jb_results_read(const char *path, char *msg, size_t len);
/* The same for text already read (path only names it in messages). */
cJSON *jb_results_parse(const char *text, const char *path, char *msg, size_t len);

#endif
