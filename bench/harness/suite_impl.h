/* Internal to suite.c and suite_group.c: the parse context and its errors. */
#ifndef JB_SUITE_IMPL_H
#define JB_SUITE_IMPL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "harness/suite.h"

typedef struct jb_suite_ctx {
    const char *text, *path;
    char *msg;
    size_t len;
} jb_suite_ctx;

/* "FILE:LINE:COL: message" into c->msg, at the first occurrence of "needle"
 * (a quoted key or value) after from, else at from; returns JB_EPARSE. */
int jb_suite_err_at(const jb_suite_ctx *c, const char *from, const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* JB_EPARSE when obj names a field twice (cJSON would silently use the first). */
int jb_suite_dup_field(const jb_suite_ctx *c, const cJSON *obj, const char *what);
/* Parses groups[gi] and adds its rows to s. */
int jb_suite_parse_group(const jb_suite_ctx *c, jb_suite *s, const cJSON *g, int gi);

#endif
