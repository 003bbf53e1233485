/* Data files: the working directory first (a checkout being worked on), then
 * the source tree of this build (an installed or out-of-tree binary). */
#include "util/paths.h"

#include <stdio.h>
#include <unistd.h>

#ifndef JB_SOURCE_DIR
#define JB_SOURCE_DIR "."
#endif

const char *jb_data_path(const char *rel, char *buf, size_t len)
{
    if (access(rel, F_OK) == 0)
        snprintf(buf, len, "%s", rel);
    else
        snprintf(buf, len, "%s/%s", JB_SOURCE_DIR, rel);
    return buf;
}
