/*
 * Shared by the libFuzzer targets: each target hands the input, as a
 * NUL-terminated copy, to one parser of a file or string a user gives
 * joulebench. A target passes when nothing crashes, leaks, hangs or trips
 * AddressSanitizer or UndefinedBehaviorSanitizer, whatever the bytes.
 */
#ifndef JB_FUZZ_COMMON_H
#define JB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd, NUL-terminated copy of the input (parsers take C strings; an
 * embedded NUL just ends the text early, as it would for a file read). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (t) {
        memcpy(t, data, size);
        t[size] = 0;
    }
    return t;
}

#endif
