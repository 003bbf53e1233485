/*
 * `joulebench history`: results across commits in an SQLite database.
 * add stores results files (idempotently, in one transaction), show lists
 * each row's figures run by run with a trend, and check compares the newest
 * run with the ones before it by the same rules as `compare`.
 *
 * The database is marked as ours with PRAGMA application_id and carries its
 * schema version in user_version; a file that is not an SQLite database, is
 * corrupt, or belongs to something else is reported and never written to.
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "util/files.h"
#include "util/pattern.h"
#include "harness/results.h"
#include "analysis/compare.h"

/* "JBHS" (joulebench history) in PRAGMA application_id, and the schema version. */
#define JB_HISTORY_APP_ID 0x4A424853
#define JB_HISTORY_SCHEMA 1
#define DEFAULT_DB "results/history.sqlite"

static const char *const schema_sql =
    "CREATE TABLE runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  key TEXT NOT NULL UNIQUE,    -- hash of context date, host, git commit and the benchmarks\n"
    "  ts REAL NOT NULL,            -- the context's date as Unix seconds (the time it was added when absent)\n"
    "  date TEXT, host TEXT, git_commit TEXT, cpu_model TEXT,\n"
    "  source TEXT,                 -- the file it was added from\n"
    "  added TEXT NOT NULL,\n"
    "  context TEXT NOT NULL        -- the whole context object, JSON\n"
    ");\n"
    "CREATE TABLE samples(          -- one row per repetition of each benchmark row\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  name TEXT NOT NULL,\n"
    "  rep INTEGER NOT NULL,\n"
    "  time_ns REAL, flop_per_s REAL, flop_per_j REAL,\n"
    "  energy_measured INTEGER,     -- 1 measured, 0 estimated, NULL time only\n"
    "  error TEXT,                  -- why the row was not timed\n"
    "  PRIMARY KEY(run_id, name, rep)\n"
    ");\n"
    "CREATE INDEX samples_by_name ON samples(name);\n";

static void help(void)
{
    printf(
        "usage: joulebench history [--db PATH] add FILE...\n"
        "       joulebench history [--db PATH] show [--filter REGEX]\n"
        "       joulebench history [--db PATH] check [--window N] [--metric time|flop_per_j|both]\n"
        "                          [--threshold PCT] [--alpha A] [--format console|markdown|json]\n"
        "                          [--filter REGEX]\n\n"
        "Keeps results across commits in an SQLite database (default " DEFAULT_DB ").\n\n"
        "  add    stores results files (Google Benchmark JSON from joulebench run), all in one\n"
        "         transaction. A run is keyed on its context's date, host and git commit and its\n"
        "         benchmarks, so adding the same file twice stores it once.\n"
        "  show   per row: its median time, GFLOP/s and GFLOP/J in each run, oldest first, with\n"
        "         the commit and date, and the trend (change first to last, and a fitted slope).\n"
        "  check  compares the newest run with the one before it, or with the repetitions of the\n"
        "         last N runs before it pooled (--window N), among runs on the same cpu_model,\n"
        "         by the rules of joulebench compare (see its --help for the options).\n\n"
        "The database carries a joulebench marker (PRAGMA application_id) and schema version;\n"
        "a file that is not one (not SQLite, corrupt, or another program's) is an error and\n"
        "is left untouched. An empty (0-byte) file is taken as a new database, as SQLite\n"
        "takes it, so `touch` or `mktemp` can make one. The directory of --db must exist\n"
        "(only the default's, results/, is created).\n\n"
        "exit: 0 ok, 1 check found a regression (or the database could not be written),\n"
        "2 bad input (bad file, missing or foreign database, bad options)\n");
}

/* ---- Opening the database ------------------------------------------------ */

static sqlite3 *db;
static const char *db_path = DEFAULT_DB;

static _Noreturn void db_fail(const char *what)
{
    fprintf(stderr, "joulebench: history: %s: %s: %s\n", db_path, what, db ? sqlite3_errmsg(db) : "");
    sqlite3_close(db);
    exit(JB_EXIT_FAIL);
}

/* Runs a statement that returns at most one integer; -1 when it fails. */
static int64_t query_int(const char *sql, int *rc_out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    int64_t v = -1;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    if (rc_out)
        *rc_out = rc;
    return v;
}

static _Noreturn void not_ours(const char *why)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "history: %s %s; it was left as it is (choose another file with --db)", db_path, why);
    sqlite3_close(db);
    db = NULL;
    jb_cli_usage_error("%s", msg);
}

/*
 * Opens db_path. With create, a missing file (or an empty one) becomes a new
 * history; without, a missing file is a usage error. A file that is not an
 * SQLite database, is corrupt, carries another program's marker, or holds
 * tables without our marker is a usage error, and nothing is written to it.
 */
static void db_open(int create)
{
    struct stat st;
    int exists = stat(db_path, &st) == 0;
    if (!exists && !create)
        jb_cli_usage_error("history: no history database at %s (joulebench history add FILE... creates it)", db_path);
    if (exists && !S_ISREG(st.st_mode))
        jb_cli_usage_error("history: %s: not a regular file", db_path);
    if (!exists) {
        /* The default's directory is made as `run` makes results/; a path the user
         * gives must have its directory already, as every output path must. */
        if (!strcmp(db_path, DEFAULT_DB))
            mkdir("results", 0777);
        char msg[4600];
        if (jb_file_check_output(db_path, msg, sizeof msg))
            jb_cli_usage_error("history: %s", msg);
    }
    int flags = create ? SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(db_path, &db, flags, NULL) != SQLITE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot be opened (%s)", db ? sqlite3_errmsg(db) : "out of memory");
        not_ours(msg);
    }
    sqlite3_busy_timeout(db, 10000);
    int rc;
    int64_t app = query_int("PRAGMA application_id", &rc);
    if (rc == SQLITE_NOTADB)
        not_ours("is not an SQLite database");
    if (rc == SQLITE_CORRUPT)
        not_ours("is a corrupt SQLite database (restore it from a copy)");
    if (rc != SQLITE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot be read (%s)", sqlite3_errmsg(db));
        not_ours(msg);
    }
    if (app == 0) {
        int64_t objects = query_int("SELECT count(*) FROM sqlite_master", &rc);
        if (rc != SQLITE_OK)
            not_ours("is not an SQLite database, or is corrupt");
        if (objects > 0)
            not_ours("is an SQLite database of another program (it has tables but no joulebench history marker)");
        if (!create)
            jb_cli_usage_error("history: %s holds no runs yet (joulebench history add FILE... adds them)", db_path);
        /* A new (or empty) file: lay the schema down in one transaction. */
        char sql[2048];
        snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT;",
                 schema_sql, JB_HISTORY_APP_ID, JB_HISTORY_SCHEMA);
        char *err = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
            fprintf(stderr, "joulebench: history: %s: cannot create the schema: %s\n", db_path, err ? err : "");
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            sqlite3_close(db);
            exit(JB_EXIT_FAIL);
        }
        return;
    }
    if (app != JB_HISTORY_APP_ID) {
        char msg[256];
        snprintf(msg, sizeof msg, "is an SQLite database of another program (application_id 0x%llx)",
                 (unsigned long long)app);
        not_ours(msg);
    }
    int64_t ver = query_int("PRAGMA user_version", NULL);
    if (ver != JB_HISTORY_SCHEMA) {
        char msg[256];
        snprintf(msg, sizeof msg, "has schema version %lld; this joulebench reads version %d",
                 (long long)ver, JB_HISTORY_SCHEMA);
        not_ours(msg);
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK)
        not_ours("is corrupt (its integrity check cannot run)");
    rc = sqlite3_step(q);
    const unsigned char *res = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    if (!res || strcmp((const char *)res, "ok")) {
        char msg[512];
        snprintf(msg, sizeof msg, "is corrupt (integrity check: %s); restore it from a copy",
                 res ? (const char *)res : sqlite3_errmsg(db));
        sqlite3_finalize(q);
        not_ours(msg);
    }
    sqlite3_finalize(q);
}

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        db_fail("cannot prepare a query");
    return st;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static double col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* ---- add ------------------------------------------------------------------- */

/* FNV-1a, twice with different offsets: a 128-bit key, as hex. */
static void hash_hex(const char *parts[], size_t n, char out[33])
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n; i++) {
            for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
                h[k] ^= *p;
                h[k] *= 0x100000001b3ULL;
            }
            h[k] ^= 0xff; /* a separator no text holds, so ("ab","c") != ("a","bc") */
            h[k] *= 0x100000001b3ULL;
        }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

static const char *ctx_str(const cJSON *ctx, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double parse_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s && *s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        return NAN;
    long off = 0;
    if (*end == '.') /* fractional seconds */
        while (*++end >= '0' && *end <= '9')
            ;
    if (*end == '+' || *end == '-') {
        int hh = 0, mm = 0;
        if (sscanf(end + 1, "%2d:%2d", &hh, &mm) == 2 || sscanf(end + 1, "%2d%2d", &hh, &mm) == 2)
            off = (*end == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    }
    return (double)timegm(&tm) - (double)off;
}

typedef struct loaded {
    const char *path;
    cJSON *doc;
    char key[33];
} loaded;

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_num(sqlite3_stmt *st, int i, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v))
        sqlite3_bind_double(st, i, v->valuedouble);
    else
        sqlite3_bind_null(st, i);
}

/* Stores one results file as a run; the number of samples stored. */
static int store_run(const loaded *f, sqlite3_stmt *ins_run, sqlite3_stmt *ins_sample, int64_t *run_id)
{
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(f->doc, "context");
    char *ctext = cJSON_PrintUnformatted(ctx);
    time_t now = time(NULL);
    char added[32];
    strftime(added, sizeof added, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    double ts = parse_date(ctx_str(ctx, "date"));
    sqlite3_reset(ins_run);
    bind_text(ins_run, 1, f->key);
    sqlite3_bind_double(ins_run, 2, isnan(ts) ? (double)now : ts);
    bind_text(ins_run, 3, ctx_str(ctx, "date"));
    bind_text(ins_run, 4, ctx_str(ctx, "host_name"));
    bind_text(ins_run, 5, ctx_str(ctx, "git_commit"));
    bind_text(ins_run, 6, ctx_str(ctx, "cpu_model"));
    bind_text(ins_run, 7, f->path);
    bind_text(ins_run, 8, added);
    bind_text(ins_run, 9, ctext ? ctext : "{}");
    cJSON_free(ctext);
    if (sqlite3_step(ins_run) != SQLITE_DONE)
        return -1;
    *run_id = sqlite3_last_insert_rowid(db);

    /* Repetitions are numbered per row as they come, which also covers files without repetition_index. */
    jb_bench_set reps;
    jb_bench_set_init(&reps);
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(f->doc, "benchmarks"))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "run_type");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "aggregate"))
            continue;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "run_name");
        if (!cJSON_IsString(name))
            name = cJSON_GetObjectItemCaseSensitive(b, "name");
        jb_bench_row *counter = jb_bench_set_row(&reps, name->valuestring);
        if (!counter || jb_samples_add(&counter->s[0], 0)) {
            n = -1;
            break;
        }
        sqlite3_reset(ins_sample);
        sqlite3_clear_bindings(ins_sample);
        sqlite3_bind_int64(ins_sample, 1, *run_id);
        bind_text(ins_sample, 2, name->valuestring);
        sqlite3_bind_int64(ins_sample, 3, (sqlite3_int64)counter->s[0].n - 1);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred"))) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "error_message");
            bind_text(ins_sample, 8, cJSON_IsString(m) && *m->valuestring ? m->valuestring : "error");
        } else {
            const cJSON *unit = cJSON_GetObjectItemCaseSensitive(b, "time_unit");
            const char *u = cJSON_IsString(unit) ? unit->valuestring : "ns";
            double scale = !strcmp(u, "us") ? 1e3 : !strcmp(u, "ms") ? 1e6 : !strcmp(u, "s") ? 1e9 : 1;
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "real_time");
            sqlite3_bind_double(ins_sample, 4, t->valuedouble * scale);
            bind_num(ins_sample, 5, b, "flop_per_s");
            bind_num(ins_sample, 6, b, "flop_per_j");
            bind_num(ins_sample, 7, b, "energy_measured");
        }
        if (sqlite3_step(ins_sample) != SQLITE_DONE) {
            n = -1;
            break;
        }
        n++;
    }
    jb_bench_set_free(&reps);
    return n;
}

static int cmd_add(int argc, char **argv)
{
    if (argc < 1)
        jb_cli_usage_error("history add: needs one or more results files");
    loaded *files = calloc((size_t)argc, sizeof *files);
    if (!files)
        jb_cli_usage_error("history add: out of memory");
    /* Every file is read and checked before the database is touched. */
    for (int i = 0; i < argc; i++) {
        char msg[512];
        if (argv[i][0] == '-')
            jb_cli_usage_error("history add: unknown option '%s' (try joulebench history --help)", argv[i]);
        files[i].path = argv[i];
        files[i].doc = jb_results_read(argv[i], msg, sizeof msg);
        if (!files[i].doc)
            jb_cli_usage_error("history add: %s", msg);
        jb_bench_set check;
        jb_bench_set_init(&check);
        int rc = jb_bench_set_from_json(files[i].doc, &check, msg, sizeof msg);
        jb_bench_set_free(&check);
        if (rc)
            jb_cli_usage_error("history add: %s: %s", argv[i], msg);
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(files[i].doc, "context");
        char *btext = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(files[i].doc, "benchmarks"));
        if (!btext)
            jb_cli_usage_error("history add: out of memory");
        const char *parts[] = {ctx_str(ctx, "date"), ctx_str(ctx, "host_name"), ctx_str(ctx, "git_commit"), btext};
        hash_hex(parts, 4, files[i].key);
        cJSON_free(btext);
    }
    db_open(1);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        db_fail("cannot start a transaction");
    sqlite3_stmt *find = prepare("SELECT id FROM runs WHERE key = ?");
    sqlite3_stmt *ins_run = prepare("INSERT INTO runs(key, ts, date, host, git_commit, cpu_model, source, added, context)"
                                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *ins_sample = prepare("INSERT INTO samples(run_id, name, rep, time_ns, flop_per_s, flop_per_j,"
                                       " energy_measured, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    int added = 0, known = 0;
    for (int i = 0; i < argc; i++) {
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, files[i].key, -1, SQLITE_STATIC);
        if (sqlite3_step(find) == SQLITE_ROW) {
            printf("%s: already stored as run %lld (same date, host, commit and rows)\n", files[i].path,
                   (long long)sqlite3_column_int64(find, 0));
            known++;
            continue;
        }
        int64_t id = 0;
        int n = store_run(&files[i], ins_run, ins_sample, &id);
        if (n < 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "cannot store %s (nothing was added)", files[i].path);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            db_fail(msg);
        }
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(files[i].doc, "context");
        printf("%s: added as run %lld (commit %s, %s, %d samples)\n", files[i].path, (long long)id,
               *ctx_str(ctx, "git_commit") ? ctx_str(ctx, "git_commit") : "unknown",
               *ctx_str(ctx, "date") ? ctx_str(ctx, "date") : "undated", n);
        added++;
    }
    sqlite3_finalize(find);
    sqlite3_finalize(ins_run);
    sqlite3_finalize(ins_sample);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        db_fail("cannot commit (nothing was added)");
    }
    int64_t total = query_int("SELECT count(*) FROM runs", NULL);
    printf("%s: %d added, %d already stored; %lld runs in all\n", db_path, added, known, (long long)total);
    for (int i = 0; i < argc; i++)
        cJSON_Delete(files[i].doc);
    free(files);
    sqlite3_close(db);
    return JB_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------ */

static void fmt_time(double ns, char *buf, size_t len)
{
    if (isnan(ns)) snprintf(buf, len, "-");
    else if (ns < 1e3) snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6) snprintf(buf, len, "%.2f us", ns / 1e3);
    else if (ns < 1e9) snprintf(buf, len, "%.3f ms", ns / 1e6);
    else snprintf(buf, len, "%.3f s", ns / 1e9);
}

/* The least-squares slope of ln(y) over the run index, as a relative change per run. */
static double log_slope(const double *y, size_t n)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(y[i] > 0))
            continue;
        double x = (double)i, ly = log(y[i]);
        sx += x;
        sy += ly;
        sxx += x * x;
        sxy += x * ly;
        k++;
    }
    double d = (double)k * sxx - sx * sx;
    if (k < 2 || d == 0)
        return NAN;
    return exp(((double)k * sxy - sx * sy) / d) - 1;
}

static void trend(const char *what, const double *y, size_t n, char *buf, size_t len)
{
    double first = NAN, last = NAN;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] > 0) {
            if (isnan(first))
                first = y[i];
            last = y[i];
            k++;
        }
    size_t l = strlen(buf);
    if (k < 2) {
        snprintf(buf + l, len - l, "%s%s: one run", l ? "; " : "", what);
        return;
    }
    snprintf(buf + l, len - l, "%s%s %+.1f%% first to last", l ? "; " : "", what, 100 * (last / first - 1));
    if (k > 2) {
        l = strlen(buf);
        snprintf(buf + l, len - l, " (fitted slope %+.2f%%/run)", 100 * log_slope(y, n));
    }
}

typedef struct run_fig {
    int64_t id;
    char date[40], commit[48];
    jb_samples t, fps, fpj;
    int measured; /* -1 unknown */
    char error[200];
} run_fig;

static void show_row(const char *name, sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    run_fig *runs = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        if (!n || runs[n - 1].id != id) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                run_fig *r = realloc(runs, cap * sizeof *r);
                if (!r)
                    jb_cli_usage_error("history show: out of memory");
                runs = r;
            }
            run_fig *r = &runs[n++];
            memset(r, 0, sizeof *r);
            r->id = id;
            r->measured = -1;
            snprintf(r->date, sizeof r->date, "%s", col_text(q, 1));
            snprintf(r->commit, sizeof r->commit, "%s", col_text(q, 2));
        }
        run_fig *r = &runs[n - 1];
        if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
            snprintf(r->error, sizeof r->error, "%s", col_text(q, 7));
            continue;
        }
        double t = col_double(q, 3), fps = col_double(q, 4), fpj = col_double(q, 5);
        if (!isnan(t)) jb_samples_add(&r->t, t);
        if (!isnan(fps)) jb_samples_add(&r->fps, fps);
        if (!isnan(fpj)) jb_samples_add(&r->fpj, fpj);
        if (sqlite3_column_type(q, 6) != SQLITE_NULL)
            r->measured = sqlite3_column_int(q, 6);
    }
    printf("\n%s\n", name);
    printf("  %5s  %-25s %-20s %12s %6s %10s %10s  %s\n", "run", "date", "commit", "time", "cv%", "GFLOP/s", "GFLOP/J",
           "energy");
    double *mt = calloc(n ? n : 1, sizeof *mt), *mj = calloc(n ? n : 1, sizeof *mj);
    for (size_t i = 0; i < n; i++) {
        run_fig *r = &runs[i];
        mt[i] = mj[i] = NAN;
        if (!r->t.n) {
            printf("  %5lld  %-25s %-20s %s\n", (long long)r->id, r->date, r->commit,
                   r->error[0] ? r->error : "no samples");
        } else {
            mt[i] = jb_median(r->t.v, r->t.n);
            mj[i] = jb_median(r->fpj.v, r->fpj.n);
            double mean = 0, var = 0;
            for (size_t k = 0; k < r->t.n; k++)
                mean += r->t.v[k] / (double)r->t.n;
            for (size_t k = 0; k < r->t.n; k++)
                var += (r->t.v[k] - mean) * (r->t.v[k] - mean);
            double cv = r->t.n > 1 ? sqrt(var / (double)(r->t.n - 1)) / mean : NAN;
            char t[32], cvs[16], fps[16], fpj[16];
            fmt_time(mt[i], t, sizeof t);
            snprintf(cvs, sizeof cvs, isnan(cv) ? "-" : "%.1f", 100 * cv);
            double f = jb_median(r->fps.v, r->fps.n);
            snprintf(fps, sizeof fps, isnan(f) ? "-" : "%.3f", f / 1e9);
            snprintf(fpj, sizeof fpj, isnan(mj[i]) ? "-" : "%.4g", mj[i] / 1e9);
            printf("  %5lld  %-25s %-20s %12s %6s %10s %10s  %s\n", (long long)r->id, r->date, r->commit, t, cvs, fps,
                   fpj, r->measured < 0 ? "-" : r->measured ? "measured" : "estimated");
        }
        free(r->t.v);
        free(r->fps.v);
        free(r->fpj.v);
    }
    char tr[512] = "";
    trend("time", mt, n, tr, sizeof tr);
    int any_j = 0;
    for (size_t i = 0; i < n; i++)
        any_j |= mj[i] > 0;
    if (any_j)
        trend("GFLOP/J", mj, n, tr, sizeof tr);
    printf("  trend over %zu run%s: %s\n", n, n == 1 ? "" : "s", tr);
    free(mt);
    free(mj);
    free(runs);
}

static int cmd_show(int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--filter")) {
            if (i + 1 >= argc)
                jb_cli_usage_error("history show: --filter needs a value");
            filter = argv[++i];
        } else {
            jb_cli_usage_error("history show: unknown argument '%s' (try joulebench history --help)", argv[i]);
        }
    }
    regex_t re;
    char msg[512];
    if (filter && jb_pattern_compile(&re, filter, 0, msg, sizeof msg))
        jb_cli_usage_error("history show: --filter %s", msg);
    db_open(0);
    sqlite3_stmt *runs = prepare("SELECT r.id, r.date, r.git_commit, r.host, r.cpu_model,"
                                 " (SELECT count(DISTINCT name) FROM samples s WHERE s.run_id = r.id)"
                                 " FROM runs r ORDER BY r.ts, r.id");
    int nruns = 0;
    printf("%s\n  %5s  %-25s %-20s %-16s %-24s %s\n", db_path, "run", "date", "commit", "host", "cpu", "rows");
    while (sqlite3_step(runs) == SQLITE_ROW) {
        printf("  %5lld  %-25s %-20s %-16s %-24s %d\n", (long long)sqlite3_column_int64(runs, 0), col_text(runs, 1),
               col_text(runs, 2), col_text(runs, 3), col_text(runs, 4), sqlite3_column_int(runs, 5));
        nruns++;
    }
    sqlite3_finalize(runs);
    sqlite3_stmt *names = prepare("SELECT name FROM samples GROUP BY name ORDER BY min(rowid)");
    sqlite3_stmt *q = prepare("SELECT r.id, r.date, r.git_commit, s.time_ns, s.flop_per_s, s.flop_per_j,"
                              " s.energy_measured, s.error FROM samples s JOIN runs r ON r.id = s.run_id"
                              " WHERE s.name = ? ORDER BY r.ts, r.id, s.rep");
    int shown = 0;
    while (sqlite3_step(names) == SQLITE_ROW) {
        const char *name = col_text(names, 0);
        if (filter && regexec(&re, name, 0, NULL, 0))
            continue;
        show_row(name, q);
        shown++;
    }
    sqlite3_finalize(names);
    sqlite3_finalize(q);
    sqlite3_close(db);
    if (filter)
        regfree(&re);
    if (!shown && filter)
        jb_cli_usage_error("history show: --filter '%s' matches no row of the %d runs", filter, nruns);
    return JB_EXIT_OK;
}

/* ---- check ----------------------------------------------------------------- */

typedef struct run_info {
    int64_t id;
    char *cpu, *date, *commit, *context;
} run_info;

/* Loads the samples of the given runs into s; a row that errored in one run
 * but was timed in another keeps its samples. */
static void load_runs(const run_info *r, size_t n, jb_bench_set *s)
{
    sqlite3_stmt *q = prepare("SELECT name, time_ns, flop_per_j, energy_measured, error FROM samples"
                              " WHERE run_id = ? ORDER BY rowid");
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r[i].id);
        while (sqlite3_step(q) == SQLITE_ROW) {
            jb_bench_row *row = jb_bench_set_row(s, col_text(q, 0));
            if (!row)
                jb_cli_usage_error("history check: out of memory");
            if (sqlite3_column_type(q, 4) != SQLITE_NULL) {
                jb_bench_row_set_error(row, col_text(q, 4));
                continue;
            }
            double t = col_double(q, 1), j = col_double(q, 2);
            if (!isnan(t))
                jb_samples_add(&row->s[JB_METRIC_TIME], t);
            if (!isnan(j))
                jb_samples_add(&row->s[JB_METRIC_FLOP_PER_J], j);
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
}

static int cmd_check(int argc, char **argv)
{
    jb_compare_opts o;
    jb_cmp_format fmt;
    jb_cli_compare_defaults(&o, &fmt);
    int window = 1;
    for (int i = 0; i < argc; i++) {
        if (jb_cli_compare_option("history check", argc, argv, &i, &o, &fmt))
            continue;
        if (!strcmp(argv[i], "--window")) {
            if (i + 1 >= argc)
                jb_cli_usage_error("history check: --window needs a value");
            window = (int)jb_cli_int("--window", argv[++i], 1, 100000);
            continue;
        }
        jb_cli_usage_error("history check: unknown argument '%s' (try joulebench history --help)", argv[i]);
    }
    if (o.filter) {
        regex_t re;
        char msg[512];
        if (jb_pattern_compile(&re, o.filter, 0, msg, sizeof msg))
            jb_cli_usage_error("history check: --filter %s", msg);
        regfree(&re);
    }
    db_open(0);
    /* Newest first. */
    sqlite3_stmt *q = prepare("SELECT id, coalesce(cpu_model, ''), coalesce(date, ''), coalesce(git_commit, ''),"
                              " context FROM runs ORDER BY ts DESC, id DESC");
    run_info *runs = NULL;
    size_t n = 0, cap = 0, other_cpu = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        run_info r = {sqlite3_column_int64(q, 0), strdup(col_text(q, 1)), strdup(col_text(q, 2)),
                      strdup(col_text(q, 3)), strdup(col_text(q, 4))};
        if (n && strcmp(r.cpu, runs[0].cpu)) {
            other_cpu++;
            free(r.cpu), free(r.date), free(r.commit), free(r.context);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            run_info *nr = realloc(runs, cap * sizeof *nr);
            if (!nr)
                jb_cli_usage_error("history check: out of memory");
            runs = nr;
        }
        runs[n++] = r;
        if (n > (size_t)window)
            break;
    }
    sqlite3_finalize(q);
    if (n < 2) {
        if (n)
            fprintf(stderr, "joulebench: history check: %s has one run on cpu '%s'%s: nothing to compare yet\n",
                    db_path, runs[0].cpu, other_cpu ? " (runs of other CPUs are not compared with it)" : "");
        else
            fprintf(stderr, "joulebench: history check: %s holds no runs: nothing to compare yet\n", db_path);
        for (size_t i = 0; i < n; i++)
            free(runs[i].cpu), free(runs[i].date), free(runs[i].commit), free(runs[i].context);
        free(runs);
        sqlite3_close(db);
        return JB_EXIT_OK;
    }
    jb_bench_set base, cur;
    jb_bench_set_init(&base);
    jb_bench_set_init(&cur);
    load_runs(&runs[0], 1, &cur);
    load_runs(&runs[1], n - 1, &base);
    jb_comparison c;
    if (jb_compare(&base, &cur, &o, &c))
        jb_cli_usage_error("history check: out of memory");
    if (c.n == 0)
        jb_cli_usage_error("history check: --filter '%s' matches no row", o.filter ? o.filter : "");
    cJSON *ctx_cur = cJSON_Parse(runs[0].context), *ctx_base = cJSON_Parse(runs[1].context);
    jb_comparison_context_notes(&c, ctx_base, ctx_cur);
    cJSON_Delete(ctx_cur);
    cJSON_Delete(ctx_base);
    if (other_cpu)
        jb_comparison_note(&c, "%zu newer or older run%s from other CPUs skipped: only runs on '%s' are compared",
                           other_cpu, other_cpu > 1 ? "s" : "", runs[0].cpu);
    char bl[128], bd[256], cl[64], cd[256];
    if (n == 2)
        snprintf(bl, sizeof bl, "run %lld", (long long)runs[1].id);
    else
        snprintf(bl, sizeof bl, "runs %lld..%lld (%zu runs pooled)", (long long)runs[n - 1].id,
                 (long long)runs[1].id, n - 1);
    snprintf(bd, sizeof bd, "commit %s, %s%s", runs[1].commit[0] ? runs[1].commit : "unknown", runs[1].date,
             n > 2 ? ", the newest of them" : "");
    snprintf(cl, sizeof cl, "run %lld (newest)", (long long)runs[0].id);
    snprintf(cd, sizeof cd, "commit %s, %s", runs[0].commit[0] ? runs[0].commit : "unknown", runs[0].date);
    jb_cmp_labels l = {.base = bl, .cur = cl, .base_detail = bd, .cur_detail = cd};
    jb_comparison_print(&c, &l, fmt, stdout);
    if (fmt != JB_CMP_CONSOLE)
        for (size_t i = 0; i < c.nnotes; i++)
            fprintf(stderr, "joulebench: warning: %s\n", c.notes[i]);
    int regressed = c.regressions > 0;
    jb_comparison_free(&c);
    jb_bench_set_free(&base);
    jb_bench_set_free(&cur);
    for (size_t i = 0; i < n; i++)
        free(runs[i].cpu), free(runs[i].date), free(runs[i].commit), free(runs[i].context);
    free(runs);
    sqlite3_close(db);
    return regressed ? JB_EXIT_FAIL : JB_EXIT_OK;
}

int jb_cmd_history(int argc, char **argv)
{
    int i = 1;
    const char *sub = NULL;
    /* --db may come before or after the subcommand. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        jb_cli_usage_error("history: out of memory");
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            free(rest);
            return JB_EXIT_OK;
        }
        if (!strcmp(a, "--db")) {
            if (i + 1 >= argc || !argv[i + 1][0])
                jb_cli_usage_error("history: --db needs a path");
            db_path = argv[++i];
        } else if (!sub) {
            if (a[0] == '-')
                jb_cli_usage_error("history: unknown option '%s' before the subcommand (add, show or check)", a);
            sub = a;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (!sub)
        jb_cli_usage_error("history: needs a subcommand: add, show or check (try --help)");
    int rc;
    if (!strcmp(sub, "add"))
        rc = cmd_add(nrest, rest);
    else if (!strcmp(sub, "show"))
        rc = cmd_show(nrest, rest);
    else if (!strcmp(sub, "check"))
        rc = cmd_check(nrest, rest);
    else
        jb_cli_usage_error("history: unknown subcommand '%s' (add, show or check)", sub);
    free(rest);
    return rc;
}
