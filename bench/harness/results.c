/* Results files: atomic write of valid UTF-8 JSON, and a checked read. */
#include "harness/results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"
#include "jb_kernels.h"

int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len)
{
    char *text = jb_json_text(doc, 1);
    if (!text) {
        snprintf(msg, len, "out of memory formatting the results");
        return JB_ENOMEM;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL's place: a final newline, written by length */
    int rc = jb_file_write_atomic(path, text, n + 1, msg, len);
    free(text);
    return rc;
}

cJSON *jb_results_read(const char *path, char *msg, size_t len)
{
    char *text;
    if (jb_file_read(path, 0, JB_FILE_TEXT, &text, NULL, msg, len))
        return NULL;
    cJSON *doc = jb_results_parse(text, path, msg, len);
    free(text);
    return doc;
}

cJSON *jb_results_parse(const char *text, const char *path, char *msg, size_t len)
{
    cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
    if (!doc) {
        snprintf(msg, len, "%s: not a JSON file", path);
        return NULL;
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "context")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))) {
        snprintf(msg, len, "%s: not a Google Benchmark results file (no \"context\" and \"benchmarks\")", path);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}
