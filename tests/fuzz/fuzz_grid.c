/* Fuzz target: the grid carbon-intensity CSV (configs/grid) that --region reads. */
#include "fuzz_common.h"

#include <math.h>

#include "analysis/project.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    /* A code the input itself holds (its first three bytes), and a usual one. */
    char first[4] = {0};
    memcpy(first, text, size < 3 ? size : 3);
    const char *codes[] = {"USA", first, "usa"};
    for (int i = 0; i < 3; i++) {
        double kg;
        int year;
        char country[128];
        if (jb_grid_lookup(text, codes[i], &kg, &year, country, sizeof country) == 0 &&
            !(kg >= 0 && kg <= 5 && isfinite(kg)))
            abort();
    }
    free(text);
    return 0;
}
