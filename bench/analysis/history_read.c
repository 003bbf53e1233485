/* The history database (history.h), read back: runs, row names, samples. */
#include "analysis/history_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jb_kernels.h"

static int collect_runs(jb_history *h, const char *sql, int window, jb_history_run **runs, size_t *n,
                        size_t *other_cpu)
{
    *runs = NULL;
    *n = 0;
    if (other_cpu)
        *other_cpu = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, sql, -1, &q, NULL) != SQLITE_OK)
        return JB_EIO;
    size_t cap = 0;
    int rc = JB_OK;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *cpu = jb_col_text(q, 4);
        if (window > 0 && *n && strcmp(cpu, (*runs)[0].cpu)) {
            ++*other_cpu;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            jb_history_run *r = realloc(*runs, cap * sizeof *r);
            if (!r) {
                rc = JB_ENOMEM;
                break;
            }
            *runs = r;
        }
        jb_history_run *r = &(*runs)[*n];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(q, 0);
        snprintf(r->date, sizeof r->date, "%s", jb_col_text(q, 1));
        snprintf(r->commit, sizeof r->commit, "%s", jb_col_text(q, 2));
        snprintf(r->host, sizeof r->host, "%s", jb_col_text(q, 3));
        snprintf(r->cpu, sizeof r->cpu, "%s", cpu);
        r->rows = sqlite3_column_int(q, 5);
        if (!(r->context = strdup(jb_col_text(q, 6)))) {
            rc = JB_ENOMEM;
            break;
        }
        ++*n;
        if (window > 0 && *n > (size_t)window)
            break;
    }
    sqlite3_finalize(q);
    if (rc) {
        jb_history_runs_free(*runs, *n);
        *runs = NULL;
        *n = 0;
    }
    return rc;
}

#define RUN_COLUMNS                                                                                                    \
    "SELECT r.id, coalesce(r.date, ''), coalesce(r.git_commit, ''), coalesce(r.host, ''), coalesce(r.cpu_model, ''),"  \
    " (SELECT count(DISTINCT name) FROM samples s WHERE s.run_id = r.id), r.context FROM runs r"

int jb_history_runs(jb_history *h, jb_history_run **runs, size_t *n)
{
    return collect_runs(h, RUN_COLUMNS " ORDER BY r.ts, r.id", 0, runs, n, NULL);
}

int jb_history_recent(jb_history *h, int window, jb_history_run **runs, size_t *n, size_t *other_cpu)
{
    return collect_runs(h, RUN_COLUMNS " ORDER BY r.ts DESC, r.id DESC", window < 1 ? 1 : window, runs, n, other_cpu);
}

void jb_history_runs_free(jb_history_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(runs[i].context);
    free(runs);
}

int jb_history_row_names(jb_history *h, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, "SELECT name FROM samples GROUP BY name ORDER BY min(rowid)", -1, &q, NULL) !=
        SQLITE_OK)
        return JB_EIO;
    size_t cap = 0;
    int rc = JB_OK;
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                rc = JB_ENOMEM;
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = strdup(jb_col_text(q, 0)))) {
            rc = JB_ENOMEM;
            break;
        }
        ++*n;
    }
    sqlite3_finalize(q);
    if (rc) {
        jb_history_names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

void jb_history_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int jb_history_row_samples(jb_history *h, const char *name, int (*fn)(const jb_history_sample *s, void *arg),
                           void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT r.id, r.date, r.git_commit, s.time_ns, s.flop_per_s, s.flop_per_j,"
                           " s.energy_measured, s.error FROM samples s JOIN runs r ON r.id = s.run_id"
                           " WHERE s.name = ? ORDER BY r.ts, r.id, s.rep",
                           -1, &q, NULL) != SQLITE_OK)
        return JB_EIO;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = JB_OK;
    while (rc == JB_OK && sqlite3_step(q) == SQLITE_ROW) {
        jb_history_sample s = {
            .run_id = sqlite3_column_int64(q, 0),
            .date = jb_col_text(q, 1),
            .commit = jb_col_text(q, 2),
            .time_ns = jb_col_double(q, 3),
            .flop_per_s = jb_col_double(q, 4),
            .flop_per_j = jb_col_double(q, 5),
            .energy_measured = sqlite3_column_type(q, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 6),
            .error = sqlite3_column_type(q, 7) == SQLITE_NULL ? NULL : jb_col_text(q, 7),
        };
        rc = fn(&s, arg);
    }
    sqlite3_finalize(q);
    return rc;
}

int jb_history_load(jb_history *h, const jb_history_run *runs, size_t n, jb_bench_set *s)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT name, time_ns, flop_per_j, energy_measured, error FROM samples"
                           " WHERE run_id = ? ORDER BY rowid",
                           -1, &q, NULL) != SQLITE_OK)
        return JB_EIO;
    int rc = JB_OK;
    for (size_t i = 0; i < n && rc == JB_OK; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, runs[i].id);
        while (rc == JB_OK && sqlite3_step(q) == SQLITE_ROW) {
            jb_bench_row *row = jb_bench_set_row(s, jb_col_text(q, 0));
            if (!row) {
                rc = JB_ENOMEM;
                break;
            }
            if (sqlite3_column_type(q, 4) != SQLITE_NULL) {
                rc = jb_bench_row_set_error(row, jb_col_text(q, 4));
                continue;
            }
            double t = jb_col_double(q, 1), j = jb_col_double(q, 2);
            if (!isnan(t) && jb_samples_add(&row->s[JB_METRIC_TIME], t))
                rc = JB_ENOMEM;
            if (!isnan(j) && jb_samples_add(&row->s[JB_METRIC_FLOP_PER_J], j))
                rc = JB_ENOMEM;
            if (sqlite3_column_type(q, 3) != SQLITE_NULL)
                row->energy_measured = sqlite3_column_int(q, 3);
        }
    }
    sqlite3_finalize(q);
    for (size_t i = 0; i < s->n; i++)
        if (s->rows[i].error && s->rows[i].s[JB_METRIC_TIME].n) {
            free(s->rows[i].error);
            s->rows[i].error = NULL;
        }
    return rc;
}
