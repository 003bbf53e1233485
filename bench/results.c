/* Results files: atomic write (temporary file, fsync, rename) and a checked read. */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jb_kernels.h"

int jb_results_write_atomic(const char *path, const cJSON *doc, char *msg, size_t len)
{
    char *text = cJSON_Print(doc);
    if (!text) {
        snprintf(msg, len, "out of memory formatting the results");
        return JB_ENOMEM;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(msg, len, "cannot create %s: %s", tmp, strerror(errno));
        cJSON_free(text);
        return JB_EIO;
    }
    size_t n = strlen(text), off = 0;
    int ok = 1;
    while (ok && off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        off += w > 0 ? (size_t)w : 0;
    }
    ok = ok && write(fd, "\n", 1) == 1;
    ok = ok && fsync(fd) == 0;
    /* Readable like any file the user creates (mkstemp makes it 0600). */
    mode_t um = umask(0);
    umask(um);
    ok = ok && fchmod(fd, 0666 & ~um) == 0;
    ok = (close(fd) == 0) && ok;
    cJSON_free(text);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(msg, len, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return JB_EIO;
    }
    return JB_OK;
}

cJSON *jb_results_read(const char *path, char *msg, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        snprintf(msg, len, "%s: cannot read", path);
        free(text);
        fclose(f);
        return NULL;
    }
    fclose(f);
    text[n] = 0;
    cJSON *doc = cJSON_Parse(text);
    free(text);
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
