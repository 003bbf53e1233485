/*
 * History: results across commits in an SQLite database, for `joulebench
 * history` (and, later, fleets gathering many machines' files). A run is
 * one results file; a sample is one repetition of one row. The database is
 * marked as ours (PRAGMA application_id) with its schema version
 * (user_version); a file that is not SQLite, is corrupt, or belongs to
 * another program is refused and never written to.
 *
 * Every function returns a jb_status; those that can fail for a reason the
 * user should see put one line in msg. Nothing here prints or exits.
 */
#ifndef JB_HISTORY_H
#define JB_HISTORY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/samples.h"

typedef struct jb_history jb_history;

/*
 * Opens the history at path. With create, a missing file, or an empty
 * (0-byte) one, becomes a new history (its directory must exist). Returns
 * JB_OK; JB_EINVAL when the file cannot serve as a history: missing (without
 * create), not a regular file, holding no runs yet (without create), or not
 * ours (not SQLite, corrupt, another program's, another schema version: then
 * left untouched), with why in msg; JB_EIO when a new schema cannot be
 * written; JB_ENOMEM.
 */
int jb_history_open(const char *path, int create, jb_history **out, char *msg, size_t len);
void jb_history_close(jb_history *h); /* NULL is fine */

/* What adding one results file did. */
typedef struct jb_history_added {
    int64_t run_id;   /* the new run, or the one already holding the same file */
    int samples;      /* samples stored (0 when already there) */
    int already;      /* 1: the same date, host, commit and rows were stored before */
} jb_history_added;

/*
 * Adds n results documents (read by jb_results_read; sources names them) in
 * one transaction: all of them or none. A document is keyed on its context's
 * date, host and commit and its rows, so adding the same file twice stores it
 * once. JB_OK, JB_EPARSE (a row the results module refuses; nothing added),
 * JB_EIO (the database could not be written; nothing added), JB_ENOMEM.
 */
int jb_history_add(jb_history *h, const char *const sources[], const cJSON *const docs[], size_t n,
                   jb_history_added out[], char *msg, size_t len);

/* One run as stored. */
typedef struct jb_history_run {
    int64_t id;
    char date[40], commit[48], host[64], cpu[128];
    int rows;            /* distinct rows */
    char *context;       /* the context object as JSON text (jb_history_runs_free frees it) */
} jb_history_run;

/* Every run, oldest first (by the context's date). *runs is malloc'd. */
int jb_history_runs(jb_history *h, jb_history_run **runs, size_t *n);
/* The newest run and up to window runs before it on the same cpu_model, newest
 * first; *other_cpu counts the runs of other CPUs passed over. */
int jb_history_recent(jb_history *h, int window, jb_history_run **runs, size_t *n, size_t *other_cpu);
void jb_history_runs_free(jb_history_run *runs, size_t n);

/* Row names in the order they were first stored. *names (and each name) malloc'd. */
int jb_history_row_names(jb_history *h, char ***names, size_t *n);
void jb_history_names_free(char **names, size_t n);

/* One stored sample of a row. */
typedef struct jb_history_sample {
    int64_t run_id;
    const char *date, *commit;
    double time_ns, flop_per_s, flop_per_j;   /* NaN when absent */
    int energy_measured;                       /* 1, 0, or -1: time only */
    const char *error;                         /* why the row was not timed in that run, or NULL */
} jb_history_sample;

/* Calls fn on every sample of row name, runs oldest first, repetitions in order;
 * stops at fn's non-zero return and returns it. */
int jb_history_row_samples(jb_history *h, const char *name, int (*fn)(const jb_history_sample *s, void *arg),
                           void *arg);

/* Adds the samples of the given runs to s, as jb_bench_set_from_json would
 * from their files; a row that errored in one run but was timed in another
 * keeps its samples. JB_OK or JB_ENOMEM. */
int jb_history_load(jb_history *h, const jb_history_run *runs, size_t n, jb_bench_set *s);

/* The database's last error, for messages after JB_EIO. */
const char *jb_history_error(const jb_history *h);

#endif
