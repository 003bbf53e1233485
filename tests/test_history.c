/*
 * The history store (bench/analysis/history.c) through its API, without the
 * command: what it refuses to open, idempotent adds, reading runs, rows and
 * samples back, and the window of runs `history check` compares.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "analysis/history.h"
#include "harness/results.h"
#include "jb_kernels.h"

static char dir[64];

/* A results document of one row with three repetitions (times t0, t0+1, t0+2 us)
 * and one row that was not timed, on cpu and at date. */
static cJSON *doc_of(const char *cpu, const char *date, double t0)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"context\": {\"date\": \"%s\", \"host_name\": \"h\", \"git_commit\": \"c-%s\", \"cpu_model\": \"%s\"},"
             " \"benchmarks\": ["
             "{\"name\": \"matmul/cpu/naive/f32/m:8/n:8/k:8\", \"run_type\": \"iteration\", \"real_time\": %g,"
             "  \"time_unit\": \"us\", \"flop_per_j\": 1e9, \"energy_measured\": 0},"
             "{\"name\": \"matmul/cpu/naive/f32/m:8/n:8/k:8\", \"run_type\": \"iteration\", \"real_time\": %g,"
             "  \"time_unit\": \"us\", \"flop_per_j\": 1e9, \"energy_measured\": 0},"
             "{\"name\": \"matmul/cpu/naive/f32/m:8/n:8/k:8\", \"run_type\": \"iteration\", \"real_time\": %g,"
             "  \"time_unit\": \"us\", \"flop_per_j\": 1e9, \"energy_measured\": 0},"
             "{\"name\": \"matmul/cpu/naive/f32/m:8/n:8/k:8_median\", \"run_name\": \"matmul/cpu/naive/f32/m:8/n:8/k:8\","
             "  \"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"real_time\": %g, \"time_unit\": \"us\"},"
             "{\"name\": \"softmax/cpu/onednn/f32/rows:2/cols:2/causal:1\", \"run_type\": \"iteration\","
             "  \"real_time\": 0, \"time_unit\": \"ns\", \"error_occurred\": true, \"error_message\": \"skipped: no mask\"}"
             "]}",
             date, date, cpu, t0, t0 + 1, t0 + 2, t0 + 1);
    cJSON *d = cJSON_Parse(text);
    assert_non_null(d);
    return d;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void test_refuses(void **state)
{
    (void)state;
    char p[128], msg[4600];
    jb_history *h = (jb_history *)1;
    path_of(p, sizeof p, "missing.db");
    assert_int_equal(jb_history_open(p, 0, &h, msg, sizeof msg), JB_EINVAL);
    assert_null(h);
    assert_non_null(strstr(msg, "no history database"));
    assert_int_equal(jb_history_open(dir, 1, &h, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "not a regular file"));
    /* Not SQLite: refused and left byte for byte as it was. */
    path_of(p, sizeof p, "text.db");
    FILE *f = fopen(p, "w");
    fputs("not a database, but a long enough line of text to look like a header of one\n", f);
    fclose(f);
    assert_int_equal(jb_history_open(p, 1, &h, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "is not an SQLite database"));
    f = fopen(p, "r");
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "not a database"));
    /* Another program's SQLite database. */
    path_of(p, sizeof p, "foreign.db");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(jb_history_open(p, 1, &h, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "another program"));
}

static void test_add_and_read(void **state)
{
    (void)state;
    char p[128], msg[4600];
    path_of(p, sizeof p, "h.db");
    FILE *f = fopen(p, "w"); /* an empty file is taken as a new history */
    fclose(f);
    jb_history *h;
    assert_int_equal(jb_history_open(p, 1, &h, msg, sizeof msg), JB_OK);
    cJSON *a = doc_of("cpu A", "2026-01-01T00:00:00+0000", 10), *b = doc_of("cpu A", "2026-01-02T00:00:00+0000", 20);
    const char *src[] = {"a.json", "b.json", "a-again.json"};
    const cJSON *docs[] = {a, b, a};
    jb_history_added out[3];
    assert_int_equal(jb_history_add(h, src, docs, 3, out, msg, sizeof msg), JB_OK);
    assert_int_equal(out[0].already, 0);
    assert_int_equal(out[0].samples, 4); /* three repetitions and the row not timed; not the median */
    assert_int_equal(out[1].already, 0);
    assert_int_equal(out[2].already, 1); /* the same file again: stored once */
    assert_true(out[2].run_id == out[0].run_id);
    /* And once more in a later call. */
    assert_int_equal(jb_history_add(h, src, docs, 1, out, msg, sizeof msg), JB_OK);
    assert_int_equal(out[0].already, 1);

    jb_history_run *runs;
    size_t n;
    assert_int_equal(jb_history_runs(h, &runs, &n), JB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].commit, "c-2026-01-01T00:00:00+0000"); /* oldest first */
    assert_int_equal(runs[0].rows, 2);
    assert_non_null(strstr(runs[0].context, "\"cpu A\""));
    jb_history_runs_free(runs, n);

    char **names;
    assert_int_equal(jb_history_row_names(h, &names, &n), JB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "matmul/cpu/naive/f32/m:8/n:8/k:8");
    jb_history_names_free(names, n);

    /* Times come back in ns, from the file's microseconds. */
    jb_bench_set s;
    jb_bench_set_init(&s);
    assert_int_equal(jb_history_recent(h, 1, &runs, &n, NULL) == JB_OK ? 0 : 1, 0);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].commit, "c-2026-01-02T00:00:00+0000"); /* newest first */
    assert_int_equal(jb_history_load(h, &runs[0], 1, &s), JB_OK);
    const jb_bench_row *r = jb_bench_set_find(&s, "matmul/cpu/naive/f32/m:8/n:8/k:8");
    assert_non_null(r);
    assert_int_equal(r->s[JB_METRIC_TIME].n, 3);
    assert_true(fabs(r->s[JB_METRIC_TIME].v[0] - 20000) < 1e-9);
    assert_non_null(jb_bench_set_find(&s, "softmax/cpu/onednn/f32/rows:2/cols:2/causal:1")->error);
    jb_bench_set_free(&s);
    jb_history_runs_free(runs, n);
    jb_history_close(h);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_recent_same_cpu(void **state)
{
    (void)state;
    char p[128], msg[4600];
    path_of(p, sizeof p, "cpus.db");
    jb_history *h;
    assert_int_equal(jb_history_open(p, 1, &h, msg, sizeof msg), JB_OK);
    cJSON *d1 = doc_of("cpu A", "2026-01-01T00:00:00+0000", 10), *d2 = doc_of("cpu B", "2026-01-02T00:00:00+0000", 10),
          *d3 = doc_of("cpu A", "2026-01-03T00:00:00+0000", 10), *d4 = doc_of("cpu A", "2026-01-04T00:00:00+0000", 10);
    const char *src[] = {"1", "2", "3", "4"};
    const cJSON *docs[] = {d1, d2, d3, d4};
    jb_history_added out[4];
    assert_int_equal(jb_history_add(h, src, docs, 4, out, msg, sizeof msg), JB_OK);
    jb_history_run *runs;
    size_t n, other;
    /* The newest (cpu A) and up to 5 before it on cpu A: runs 4, 3, 1; cpu B passed over. */
    assert_int_equal(jb_history_recent(h, 5, &runs, &n, &other), JB_OK);
    assert_int_equal(n, 3);
    assert_int_equal(other, 1);
    assert_string_equal(runs[2].commit, "c-2026-01-01T00:00:00+0000");
    jb_history_runs_free(runs, n);
    /* Window 1: the newest and the one before it. */
    assert_int_equal(jb_history_recent(h, 1, &runs, &n, &other), JB_OK);
    assert_int_equal(n, 2);
    jb_history_runs_free(runs, n);
    /* A document with a bad row: nothing of the call is added. */
    cJSON *bad = cJSON_Parse("{\"context\": {\"date\": \"x\"}, \"benchmarks\": [{\"name\": \"a/b/c/d/m:1\","
                             " \"real_time\": \"slow\"}]}");
    const char *bsrc[] = {"ok", "bad"};
    cJSON *ok = doc_of("cpu A", "2026-02-01T00:00:00+0000", 10);
    const cJSON *bdocs[] = {ok, bad};
    assert_int_equal(jb_history_add(h, bsrc, bdocs, 2, out, msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "real_time is not a non-negative number"));
    assert_int_equal(jb_history_runs(h, &runs, &n), JB_OK);
    assert_int_equal(n, 4);
    jb_history_runs_free(runs, n);
    cJSON_Delete(bad);
    cJSON_Delete(ok);
    cJSON_Delete(d1);
    cJSON_Delete(d2);
    cJSON_Delete(d3);
    cJSON_Delete(d4);
    jb_history_close(h);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/jb_history_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_add_and_read),
        cmocka_unit_test(test_recent_same_cpu),
    };
    return cmocka_run_group_tests_name("history store", tests, setup, teardown);
}
