/*
 * Suites: JSON files in configs/suites/ that name kernels and shape axes.
 * Each group picks one op, the kernels of that op (regexes over the full
 * names), and shapes either as axes whose cartesian product is taken
 * ("m=n=k" ties axes together) or as an explicit list; "skip" entries leave
 * out combinations; "reference" names the kernel the group's speed-ups are
 * measured against (default: the vendor library's, else naive). Errors name
 * the file, line and column.
 *
 *   {"name": "quick", "min_time": 0.01, "target_ci": 2, "max_time": 0.5, "interleave": true,
 *    "groups": [{"op": "matmul", "kernels": ["matmul/cpu/.*"],
 *                "axes": {"m=n=k": [128, 256]},
 *                "skip": [{"kernel": "matmul/cpu/naive/.*", "m": [256]}]}]}
 */
#ifndef JB_SUITE_H
#define JB_SUITE_H

#include <stddef.h>

#include "jb_kernels.h"

#define JB_SUITE_MAX_ROWS 20000          /* rows one suite may expand to */
#define JB_SUITE_MAX_BYTES ((size_t)4 << 20) /* size of a suite file */

typedef struct jb_row {
    const jb_kernel *k;
    jb_problem p;
    char name[192];     /* op/backend/variant/dtype/key:value/... */
    const jb_kernel *reference; /* the group's "reference" for speed-ups; NULL: the default */
} jb_row;

typedef struct jb_suite {
    char name[64];
    char description[256];
    int repetitions;    /* a fixed number of rounds; 0: not set by the suite (sample until known) */
    double min_time;    /* 0: not set by the suite */
    double target_ci;   /* percent; 0: not set by the suite */
    double max_time;    /* seconds per row; 0: not set by the suite */
    int interleave;     /* 1 (the default): time the rows sharing a shape together, in rounds */
    jb_row *rows;
    size_t nrows;
} jb_suite;

/* Loads and expands a suite file (a regular file of UTF-8 text). JB_OK, or
 * JB_EIO/JB_EPARSE with "FILE:LINE:COL: reason" in msg. A key given twice,
 * a number beyond JB_DIM_MAX, a name over 63 bytes or more than
 * JB_SUITE_MAX_ROWS rows is refused. */
int jb_suite_load(const char *path, jb_suite *s, char *msg, size_t len);
/* Parses suite text (path is only used in messages). */
int jb_suite_parse(const char *text, const char *path, jb_suite *s, char *msg, size_t len);
void jb_suite_free(jb_suite *s);

/* Writes the row name of k on p into buf. */
void jb_row_name(const jb_kernel *k, const jb_problem *p, char *buf, size_t len);

#endif
