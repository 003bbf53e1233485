/* Fuzz target: suite files (bench/suite.c), the JSON a user writes to choose rows. */
#include "fuzz_common.h"

#include "harness/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), msg[512];
    if (!text)
        return 0;
    jb_suite s;
    if (jb_suite_parse(text, "fuzz.json", &s, msg, sizeof msg) == 0) {
        /* Every row of a suite that parses is a valid problem with a name. */
        for (size_t i = 0; i < s.nrows; i++)
            if (jb_problem_validate(&s.rows[i].p, msg, sizeof msg) != 0 || !s.rows[i].name[0])
                abort();
        jb_suite_free(&s);
    }
    free(text);
    return 0;
}
