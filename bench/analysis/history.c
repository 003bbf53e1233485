/* The history database (history.h): opening it safely, and storing results
 * files as runs and samples through the results module. Reading them back is
 * history_read.c. */
#include "analysis/history_impl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/results.h"
#include "jb_kernels.h"

/* "JBHS" (joulebench history) in PRAGMA application_id, and the schema version. */
#define APP_ID 0x4A424853
#define SCHEMA 1

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


static int say(int rc, char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(int rc, char *msg, size_t len, const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

const char *jb_history_error(const jb_history *h)
{
    return h && h->db ? sqlite3_errmsg(h->db) : "no database";
}

/* A statement that returns at most one integer; -1 when it fails (rc_out says how). */
static int64_t query_int(sqlite3 *db, const char *sql, int *rc_out)
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

/* Why the file is refused, with the promise that it was not touched. */
static int not_ours(jb_history *h, char *msg, size_t len, const char *why)
{
    say(JB_EINVAL, msg, len, "%s %s; it was left as it is (choose another file with --db)", h->path, why);
    return JB_EINVAL;
}

/* The checks of an existing database: ours, our schema, intact. */
static int check_ours(jb_history *h, int create, char *msg, size_t len)
{
    char why[600];
    int rc;
    int64_t app = query_int(h->db, "PRAGMA application_id", &rc);
    if (rc == SQLITE_NOTADB)
        return not_ours(h, msg, len, "is not an SQLite database");
    if (rc == SQLITE_CORRUPT)
        return not_ours(h, msg, len, "is a corrupt SQLite database (restore it from a copy)");
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof why, "cannot be read (%s)", sqlite3_errmsg(h->db));
        return not_ours(h, msg, len, why);
    }
    if (app == 0) {
        int64_t objects = query_int(h->db, "SELECT count(*) FROM sqlite_master", &rc);
        if (rc != SQLITE_OK)
            return not_ours(h, msg, len, "is not an SQLite database, or is corrupt");
        if (objects > 0)
            return not_ours(h, msg, len,
                            "is an SQLite database of another program (it has tables but no joulebench history marker)");
        if (!create)
            return say(JB_EINVAL, msg, len, "%s holds no runs yet (joulebench history add FILE... adds them)", h->path);
        /* A new (or empty) file: lay the schema down in one transaction. */
        char sql[2048];
        snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT;",
                 schema_sql, APP_ID, SCHEMA);
        char *err = NULL;
        if (sqlite3_exec(h->db, sql, NULL, NULL, &err) != SQLITE_OK) {
            say(JB_EIO, msg, len, "%s: cannot create the schema: %s", h->path, err ? err : "");
            sqlite3_free(err);
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            return JB_EIO;
        }
        return JB_OK;
    }
    if (app != APP_ID) {
        snprintf(why, sizeof why, "is an SQLite database of another program (application_id 0x%llx)",
                 (unsigned long long)app);
        return not_ours(h, msg, len, why);
    }
    int64_t ver = query_int(h->db, "PRAGMA user_version", NULL);
    if (ver != SCHEMA) {
        snprintf(why, sizeof why, "has schema version %lld; this joulebench reads version %d", (long long)ver, SCHEMA);
        return not_ours(h, msg, len, why);
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK)
        return not_ours(h, msg, len, "is corrupt (its integrity check cannot run)");
    rc = sqlite3_step(q);
    const unsigned char *res = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    if (!res || strcmp((const char *)res, "ok")) {
        snprintf(why, sizeof why, "is corrupt (integrity check: %.400s); restore it from a copy",
                 res ? (const char *)res : sqlite3_errmsg(h->db));
        sqlite3_finalize(q);
        return not_ours(h, msg, len, why);
    }
    sqlite3_finalize(q);
    return JB_OK;
}

int jb_history_open(const char *path, int create, jb_history **out, char *msg, size_t len)
{
    *out = NULL;
    jb_history *h = calloc(1, sizeof *h);
    if (!h)
        return say(JB_ENOMEM, msg, len, "out of memory");
    snprintf(h->path, sizeof h->path, "%s", path);
    struct stat st;
    int exists = stat(path, &st) == 0;
    int rc = JB_OK;
    if (!exists && !create)
        rc = say(JB_EINVAL, msg, len, "no history database at %s (joulebench history add FILE... creates it)", path);
    else if (exists && !S_ISREG(st.st_mode))
        rc = say(JB_EINVAL, msg, len, "%s: not a regular file", path);
    if (rc) {
        free(h);
        return rc;
    }
    int flags = create ? SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &h->db, flags, NULL) != SQLITE_OK) {
        char why[512];
        snprintf(why, sizeof why, "cannot be opened (%s)", h->db ? sqlite3_errmsg(h->db) : "out of memory");
        rc = not_ours(h, msg, len, why);
    } else {
        sqlite3_busy_timeout(h->db, 10000);
        rc = check_ours(h, create, msg, len);
    }
    if (rc) {
        jb_history_close(h);
        return rc;
    }
    *out = h;
    return JB_OK;
}

void jb_history_close(jb_history *h)
{
    if (!h)
        return;
    sqlite3_close(h->db);
    free(h);
}

/* ---- add --------------------------------------------------------------------- */

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

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_num(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

/* Repetitions are numbered per row as they come, which also covers files
 * without repetition_index. */
typedef struct store_ctx {
    sqlite3_stmt *ins;
    int64_t run_id;
    jb_bench_set reps;   /* per row name, one (unused) sample per repetition stored: the counter */
    int samples;
    int failed;          /* 1 out of memory, 2 the database refused */
} store_ctx;

static int store_sample(const jb_result_row *r, void *arg)
{
    store_ctx *c = arg;
    if (r->aggregate)
        return JB_OK;
    jb_bench_row *counter = jb_bench_set_row(&c->reps, r->run_name);
    if (!counter || jb_samples_add(&counter->s[0], 0)) {
        c->failed = 1;
        return JB_ENOMEM;
    }
    sqlite3_stmt *st = c->ins;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, c->run_id);
    bind_text(st, 2, r->run_name);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)counter->s[0].n - 1);
    if (r->error) {
        bind_text(st, 8, r->error);
    } else {
        bind_num(st, 4, r->time_ns);
        bind_num(st, 5, jb_result_counter(r, "flop_per_s"));
        bind_num(st, 6, jb_result_counter(r, "flop_per_j"));
        bind_num(st, 7, jb_result_counter(r, "energy_measured"));
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        c->failed = 2;
        return JB_EIO;
    }
    c->samples++;
    return JB_OK;
}

/* Stores one document as a run; JB_OK, JB_EPARSE, JB_EIO or JB_ENOMEM. */
static int store_run(jb_history *h, const char *source, const cJSON *doc, const char *key, sqlite3_stmt *ins_run,
                     sqlite3_stmt *ins_sample, jb_history_added *out, char *msg, size_t len)
{
    const cJSON *ctx = jb_results_context(doc);
    char *ctext = cJSON_PrintUnformatted(ctx);
    time_t now = time(NULL);
    char added[32];
    strftime(added, sizeof added, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    double ts = parse_date(ctx_str(ctx, "date"));
    sqlite3_reset(ins_run);
    bind_text(ins_run, 1, key);
    sqlite3_bind_double(ins_run, 2, isnan(ts) ? (double)now : ts);
    bind_text(ins_run, 3, ctx_str(ctx, "date"));
    bind_text(ins_run, 4, ctx_str(ctx, "host_name"));
    bind_text(ins_run, 5, ctx_str(ctx, "git_commit"));
    bind_text(ins_run, 6, ctx_str(ctx, "cpu_model"));
    bind_text(ins_run, 7, source);
    bind_text(ins_run, 8, added);
    bind_text(ins_run, 9, ctext ? ctext : "{}");
    cJSON_free(ctext);
    if (sqlite3_step(ins_run) != SQLITE_DONE)
        return say(JB_EIO, msg, len, "%s: cannot store %s: %s", h->path, source, sqlite3_errmsg(h->db));
    store_ctx c = {.ins = ins_sample, .run_id = sqlite3_last_insert_rowid(h->db)};
    jb_bench_set_init(&c.reps);
    char why[512];
    int rc = jb_results_each(doc, store_sample, &c, why, sizeof why);
    jb_bench_set_free(&c.reps);
    if (rc == JB_EPARSE && !c.failed)
        return say(JB_EPARSE, msg, len, "%s: %s", source, why);
    if (c.failed == 1 || rc == JB_ENOMEM)
        return say(JB_ENOMEM, msg, len, "out of memory");
    if (rc)
        return say(JB_EIO, msg, len, "%s: cannot store %s: %s", h->path, source, sqlite3_errmsg(h->db));
    out->run_id = c.run_id;
    out->samples = c.samples;
    return JB_OK;
}

int jb_history_add(jb_history *h, const char *const sources[], const cJSON *const docs[], size_t n,
                   jb_history_added out[], char *msg, size_t len)
{
    char (*keys)[33] = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return say(JB_ENOMEM, msg, len, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const cJSON *ctx = jb_results_context(docs[i]);
        char *btext = cJSON_PrintUnformatted(jb_results_rows(docs[i]));
        if (!btext) {
            free(keys);
            return say(JB_ENOMEM, msg, len, "out of memory");
        }
        const char *parts[] = {ctx_str(ctx, "date"), ctx_str(ctx, "host_name"), ctx_str(ctx, "git_commit"), btext};
        hash_hex(parts, 4, keys[i]);
        cJSON_free(btext);
        memset(&out[i], 0, sizeof out[i]);
    }
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        free(keys);
        return say(JB_EIO, msg, len, "%s: cannot start a transaction: %s", h->path, sqlite3_errmsg(h->db));
    }
    sqlite3_stmt *find = NULL, *ins_run = NULL, *ins_sample = NULL;
    int rc = JB_OK;
    if (sqlite3_prepare_v2(h->db, "SELECT id FROM runs WHERE key = ?", -1, &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO runs(key, ts, date, host, git_commit, cpu_model, source, added, context)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &ins_run, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO samples(run_id, name, rep, time_ns, flop_per_s, flop_per_j, energy_measured,"
                           " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &ins_sample, NULL) != SQLITE_OK)
        rc = say(JB_EIO, msg, len, "%s: cannot prepare a query: %s", h->path, sqlite3_errmsg(h->db));
    for (size_t i = 0; i < n && rc == JB_OK; i++) {
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, keys[i], -1, SQLITE_STATIC);
        if (sqlite3_step(find) == SQLITE_ROW) {
            out[i].run_id = sqlite3_column_int64(find, 0);
            out[i].already = 1;
            continue;
        }
        rc = store_run(h, sources[i], docs[i], keys[i], ins_run, ins_sample, &out[i], msg, len);
    }
    sqlite3_finalize(find);
    sqlite3_finalize(ins_run);
    sqlite3_finalize(ins_sample);
    free(keys);
    if (rc == JB_OK && sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = say(JB_EIO, msg, len, "%s: cannot commit (nothing was added): %s", h->path, sqlite3_errmsg(h->db));
    if (rc)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
