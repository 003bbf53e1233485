/* Internal to history.c and history_read.c: the handle, and column reading. */
#ifndef JB_HISTORY_IMPL_H
#define JB_HISTORY_IMPL_H

#include <math.h>
#include <sqlite3.h>

#include "analysis/history.h"

struct jb_history {
    sqlite3 *db;
    char path[4096];
};

static inline const char *jb_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static inline double jb_col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

#endif
