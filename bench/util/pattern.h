/*
 * Name filters: POSIX extended regular expressions over row and kernel names
 * (run --filter, a suite's "kernels" and "skip", compare and history --filter),
 * compiled through one function that refuses what would make glibc's regcomp
 * take unbounded memory or time. glibc copies the operand of "+" and of
 * "{m,n}" once per repetition, so nested or stacked repetitions grow the
 * compiled program exponentially ("a++++++++++++++++++++++++" takes gigabytes),
 * and repeated groups that can match nothing make its epsilon closures grow
 * faster still ("((){182,}){88}" anchored: 1.5 GB; a run of empty
 * alternatives repeated: seconds; both found by fuzz_pattern).
 */
#ifndef JB_PATTERN_H
#define JB_PATTERN_H

#include <regex.h>
#include <stddef.h>

#define JB_PATTERN_MAX_LEN 256      /* bytes of pattern */
#define JB_PATTERN_MAX_BOUND 255    /* largest m or n in {m,n} */
#define JB_PATTERN_MAX_SIZE 2000    /* atoms after glibc's copies for "+" and "{m,n}" */

/*
 * Compiles pat (REG_EXTENDED | REG_NOSUB) into re; anchored: the whole name
 * must match (^(pat)$). Refuses patterns longer than JB_PATTERN_MAX_LEN, a
 * repetition applied to a repetition ("a++", "a*{2}"), bounds over
 * JB_PATTERN_MAX_BOUND, back-references, empty groups and alternatives, an unmatched ')',
 * and patterns whose expansion exceeds JB_PATTERN_MAX_SIZE atoms (counted on
 * the pattern regcomp sees, the anchoring included). JB_OK, or JB_EINVAL with
 * one line in msg saying why (re is then not to be freed).
 */
int jb_pattern_compile(regex_t *re, const char *pat, int anchored, char *msg, size_t len);

#endif
