/* Fuzz target: the CPU TDP table (configs/hardware/cpu_tdp.csv or $JB_TDP_TABLE) of the model meter. */
#include "fuzz_common.h"

#include "meters/meter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const cpus[] = {"AMD EPYC 9654 96-Core Processor", "Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz",
                                       "AMD EPYC", ""};
    for (size_t i = 0; i < sizeof cpus / sizeof cpus[0]; i++) {
        char *text = fuzz_text(data, size), row[256], why[512];
        if (!text)
            return 0;
        double w;
        if (jb_cpu_tdp_match(text, "fuzz.csv", cpus[i], &w, row, sizeof row, why, sizeof why) == 0 &&
            !(w > 0 && w <= 1e5))
            abort();
        free(text);
    }
    /* The input's first line as the CPU name, matched against a copy of itself. */
    char *name = fuzz_text(data, size), *text = fuzz_text(data, size), row[256], why[512];
    if (name && text) {
        name[strcspn(name, "\n")] = 0;
        double w;
        jb_cpu_tdp_match(text, "fuzz.csv", name, &w, row, sizeof row, why, sizeof why);
    }
    free(name);
    free(text);
    return 0;
}
