/* Fuzz target: model specs (the JSON files of configs/models, or a user's) for project. */
#include "fuzz_common.h"

#include <math.h>

#include "analysis/project.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), msg[512];
    if (!text)
        return 0;
    jb_model m;
    if (jb_model_parse(text, "fuzz.json", &m, msg, sizeof msg) == 0) {
        /* A spec that parses gives finite training work. */
        jb_train_work w;
        jb_train_work_of(&m, &w);
        if (!isfinite(w.total_flops) || !isfinite(w.softmax_elements) || !(w.total_flops > 0))
            abort();
    }
    free(text);
    return 0;
}
