/* Bounded POSIX extended regular expressions for name filters. */
#include "util/pattern.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"
#include "jb_kernels.h"

#define MAX_DEPTH 32

/* Parses "{m}", "{m,}" or "{m,n}" at s; the factor by which it copies its
 * operand (n, or m + 1 when open), its length in *used. 0: not a bound
 * (glibc then reads the brace as it likes; regcomp decides), -1: too large. */
static long brace(const char *s, size_t *used)
{
    const char *p = s + 1;
    long m = 0, n = -1;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p) && m <= JB_PATTERN_MAX_BOUND)
        m = 10 * m + (*p++ - '0');
    if (*p == ',') {
        p++;
        if (isdigit((unsigned char)*p)) {
            n = 0;
            while (isdigit((unsigned char)*p) && n <= JB_PATTERN_MAX_BOUND)
                n = 10 * n + (*p++ - '0');
        } else {
            n = m + 1;
        }
    } else {
        n = m;
    }
    if (isdigit((unsigned char)*p))
        return -1;
    if (*p != '}')
        return 0;
    *used = (size_t)(p - s) + 1;
    if (m > JB_PATTERN_MAX_BOUND || n > JB_PATTERN_MAX_BOUND + 1)
        return -1;
    return n > m ? n : (m ? m : 1);
}

static int refuse(char *msg, size_t len, const char *pat, const char *why)
{
    char shown[96];
    jb_text_one_line(pat, shown, sizeof shown);
    snprintf(msg, len, "'%s' is not a usable pattern: %s", shown, why);
    return JB_EINVAL;
}

int jb_pattern_compile(regex_t *re, const char *pat, int anchored, char *msg, size_t len)
{
    char why[160];
    if (!pat)
        return refuse(msg, len, "", "no pattern");
    size_t plen = strlen(pat);
    if (plen > JB_PATTERN_MAX_LEN) {
        snprintf(why, sizeof why, "longer than %d bytes", JB_PATTERN_MAX_LEN);
        return refuse(msg, len, pat, why);
    }
    /* The analysis is of what regcomp will see, the anchoring group included. */
    char buf[JB_PATTERN_MAX_LEN + 8];
    size_t o = 0;
    if (anchored)
        memcpy(buf, "^(", 2), o = 2;
    memcpy(buf + o, pat, plen), o += plen;
    if (anchored)
        memcpy(buf + o, ")$", 2), o += 2;
    buf[o] = 0;
    const char *text = buf;
    const size_t tlen = o;
    /* The size of the compiled program, group by group: size of the sequence so
     * far, and of its last atom (what a repetition copies). */
    double size[MAX_DEPTH + 1] = {0}, last[MAX_DEPTH + 1] = {0};
    /* Per group: atoms in the current alternative, and whether it has a '|'. */
    int atoms[MAX_DEPTH + 1] = {0}, alt[MAX_DEPTH + 1] = {0};
    int depth = 0, after_rep = 0;
    for (size_t i = 0; i < tlen; i++) {
        char c = text[i];
        double factor = 0;
        size_t used = 1;
        if (c == '*' || c == '?') {
            factor = 1;
        } else if (c == '+') {
            factor = 2;
        } else if (c == '{') {
            long f = brace(text + i, &used);
            if (f < 0) {
                snprintf(why, sizeof why, "a repetition bound over %d", JB_PATTERN_MAX_BOUND);
                return refuse(msg, len, pat, why);
            }
            factor = (double)f;
            if (!f)
                used = 1;
        }
        if (factor > 0) {
            if (after_rep)
                return refuse(msg, len, pat, "a repetition of a repetition (such as '++' or '*{2}')");
            size[depth] += last[depth] * (factor - 1);
            last[depth] *= factor;
            after_rep = 1;
            i += used - 1;
        } else {
            after_rep = 0;
            if (c == '(') {
                if (depth == MAX_DEPTH) {
                    snprintf(why, sizeof why, "groups nested deeper than %d", MAX_DEPTH);
                    return refuse(msg, len, pat, why);
                }
                depth++;
                size[depth] = last[depth] = 0;
                atoms[depth] = alt[depth] = 0;
                continue;
            }
            if (c == ')') {
                /* An unmatched ')' would be a literal to glibc, and would let a
                 * pattern undo the anchoring group around it. */
                if (depth == 0)
                    return refuse(msg, len, pat, "an unmatched ')'");
                /* Empty alternatives, like empty groups, match nothing in a loop. */
                if (alt[depth] && !atoms[depth])
                    return refuse(msg, len, pat, "an empty alternative (such as 'a|' or 'a||b')");
                /* Empty groups repeated make glibc's epsilon closures explode. */
                if (size[depth] == 0)
                    return refuse(msg, len, pat, "an empty group '()'");
                double g = size[depth];
                depth--;
                last[depth] = g;
                size[depth] += g;
                atoms[depth]++;
            } else if (c == '|') {
                if (!atoms[depth])
                    return refuse(msg, len, pat, "an empty alternative (such as 'a|' or 'a||b')");
                alt[depth] = 1;
                atoms[depth] = 0;
                last[depth] = 0;
            } else if (c == '[') { /* a bracket expression is one atom: skip to its ']' */
                size_t j = i + 1;
                if (text[j] == '^')
                    j++;
                if (text[j] == ']')
                    j++;
                while (j < tlen && text[j] != ']') {
                    if (text[j] == '[' && (text[j + 1] == ':' || text[j + 1] == '.' || text[j + 1] == '=')) {
                        const char *close = strstr(text + j + 2, (char[]){text[j + 1], ']', 0});
                        j = close ? (size_t)(close - text) + 2 : tlen;
                        continue;
                    }
                    j++;
                }
                i = j < tlen ? j : tlen - 1;
                last[depth] = 1;
                size[depth] += 1;
                atoms[depth]++;
            } else if (c == '\\' && i + 1 < tlen) {
                if (text[i + 1] >= '1' && text[i + 1] <= '9')
                    return refuse(msg, len, pat, "back-references (\\1 to \\9) are not supported");
                i++;
                last[depth] = 1;
                size[depth] += 1;
                atoms[depth]++;
            } else {
                last[depth] = 1;
                size[depth] += 1;
                atoms[depth]++;
            }
        }
        double total = 0;
        for (int d = 0; d <= depth; d++)
            total += size[d];
        if (total > JB_PATTERN_MAX_SIZE) {
            snprintf(why, sizeof why, "its repetitions expand to more than %d atoms", JB_PATTERN_MAX_SIZE);
            return refuse(msg, len, pat, why);
        }
    }
    if (depth == 0 && alt[0] && !atoms[0])
        return refuse(msg, len, pat, "an empty alternative (such as 'a|' or 'a||b')");
    /* An unmatched '(' is left to regcomp, which refuses it in its own words. */

    int rc = regcomp(re, buf, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char err[128];
        regerror(rc, NULL, err, sizeof err);
        snprintf(why, sizeof why, "not a valid regular expression (%.100s)", err);
        return refuse(msg, len, pat, why);
    }
    return JB_OK;
}
