/* Where the program finds its data files (configs/, scripts/): one rule for all. */
#ifndef JB_PATHS_H
#define JB_PATHS_H

#include <stddef.h>

/* rel ("configs/suites/quick.json") as found from the working directory, else
 * under the source tree the program was built from (JB_SOURCE_DIR), whether
 * or not it exists there. Returns buf. */
const char *jb_data_path(const char *rel, char *buf, size_t len);

#endif
