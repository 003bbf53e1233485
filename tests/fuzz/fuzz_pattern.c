/* Fuzz target: name filters (--filter, a suite's "kernels"): whatever the
 * pattern, compiling it takes bounded time and memory (libFuzzer's -timeout
 * and -rss_limit_mb catch a pattern that does not), and a compiled one matches
 * row names without trouble. */
#include "fuzz_common.h"

#include "util/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), msg[512];
    if (!text)
        return 0;
    for (int anchored = 0; anchored < 2; anchored++) {
        regex_t re;
        if (jb_pattern_compile(&re, text, anchored, msg, sizeof msg) == 0) {
            regexec(&re, "attention/cpu/flash/f32/b:1/h:8/n:1024/d:64/causal:1", 0, NULL, 0);
            regexec(&re, "matmul/cpu/blocked/int8/m:1024/n:1024/k:1024", 0, NULL, 0);
            regfree(&re);
        }
    }
    free(text);
    return 0;
}
