/*
 * `joulebench history`: results across commits (analysis/history.c keeps
 * them in SQLite). add stores results files, show lists each row's figures
 * run by run with a trend, and check compares the newest run with the ones
 * before it by the same rules as `compare`. This file parses options,
 * prints, and chooses the exit code.
 */
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/compare.h"
#include "analysis/history.h"
#include "analysis/stats.h"
#include "cli/cli.h"
#include "harness/results.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/pattern.h"

#define DEFAULT_DB "results/history.sqlite"

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

static const char *db_path = DEFAULT_DB;

/* Opens the database or ends the command: a file that is not a history is
 * bad input (exit 2), one that cannot be written a failure (exit 1). */
static jb_history *open_db(int create)
{
    struct stat st;
    if (create && stat(db_path, &st) != 0) {
        /* The default's directory is made as `run` makes results/; a path the user
         * gives must have its directory already, as every output path must. */
        if (!strcmp(db_path, DEFAULT_DB))
            mkdir("results", 0777);
        char msg[4600];
        if (jb_file_check_output(db_path, msg, sizeof msg))
            jb_cli_usage_error("history: %s", msg);
    }
    jb_history *h;
    char msg[4600];
    int rc = jb_history_open(db_path, create, &h, msg, sizeof msg);
    if (rc == JB_ENOMEM)
        jb_cli_oom("history");
    if (rc == JB_EIO) {
        jb_cli_error("history: %s", msg);
        exit(JB_EXIT_FAIL);
    }
    if (rc)
        jb_cli_usage_error("history: %s", msg);
    return h;
}

/* ---- add ------------------------------------------------------------------- */

static int cmd_add(int argc, char **argv)
{
    if (argc < 1)
        jb_cli_usage_error("history add: needs one or more results files");
    const cJSON **docs = calloc((size_t)argc, sizeof *docs);
    jb_history_added *added = calloc((size_t)argc, sizeof *added);
    if (!docs || !added)
        jb_cli_oom("history add");
    /* Every file is read and checked before the database is touched. */
    for (int i = 0; i < argc; i++) {
        char msg[4600];
        if (argv[i][0] == '-')
            jb_cli_usage_error("history add: unknown option '%s' (try joulebench history --help)", argv[i]);
        cJSON *doc = jb_results_read(argv[i], msg, sizeof msg);
        if (!doc)
            jb_cli_usage_error("history add: %s", msg);
        jb_bench_set check;
        jb_bench_set_init(&check);
        int rc = jb_bench_set_from_json(doc, &check, msg, sizeof msg);
        jb_bench_set_free(&check);
        if (rc == JB_ENOMEM)
            jb_cli_oom("history add");
        if (rc)
            jb_cli_usage_error("history add: %s: %s", argv[i], msg);
        docs[i] = doc;
    }
    jb_history *h = open_db(1);
    char msg[4600];
    int rc = jb_history_add(h, (const char *const *)argv, docs, (size_t)argc, added, msg, sizeof msg);
    if (rc == JB_ENOMEM)
        jb_cli_oom("history add");
    if (rc) {
        jb_cli_error("history: %s", msg);
        return rc == JB_EPARSE ? JB_EXIT_USAGE : JB_EXIT_FAIL;
    }
    int n_added = 0, known = 0;
    for (int i = 0; i < argc; i++) {
        const cJSON *ctx = jb_results_context(docs[i]);
        const cJSON *commit = cJSON_GetObjectItemCaseSensitive(ctx, "git_commit");
        const cJSON *date = cJSON_GetObjectItemCaseSensitive(ctx, "date");
        if (added[i].already) {
            printf("%s: already stored as run %lld (same date, host, commit and rows)\n", argv[i],
                   (long long)added[i].run_id);
            known++;
        } else {
            printf("%s: added as run %lld (commit %s, %s, %d samples)\n", argv[i], (long long)added[i].run_id,
                   cJSON_IsString(commit) && *commit->valuestring ? commit->valuestring : "unknown",
                   cJSON_IsString(date) && *date->valuestring ? date->valuestring : "undated", added[i].samples);
            n_added++;
        }
        cJSON_Delete((cJSON *)docs[i]);
    }
    jb_history_run *runs;
    size_t nruns = 0;
    if (jb_history_runs(h, &runs, &nruns) == JB_OK)
        jb_history_runs_free(runs, nruns);
    printf("%s: %d added, %d already stored; %zu runs in all\n", db_path, n_added, known, nruns);
    free(docs);
    free(added);
    jb_history_close(h);
    return JB_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------ */

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

/* One run's figures of a row. */
typedef struct run_fig {
    int64_t id;
    char date[40], commit[48];
    jb_samples t, fps, fpj;
    int measured; /* -1 unknown */
    char error[200];
} run_fig;

typedef struct figs {
    run_fig *runs;
    size_t n, cap;
} figs;

static int add_sample(const jb_history_sample *s, void *arg)
{
    figs *f = arg;
    if (!f->n || f->runs[f->n - 1].id != s->run_id) {
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 16;
            run_fig *r = realloc(f->runs, f->cap * sizeof *r);
            if (!r)
                return JB_ENOMEM;
            f->runs = r;
        }
        run_fig *r = &f->runs[f->n++];
        memset(r, 0, sizeof *r);
        r->id = s->run_id;
        r->measured = -1;
        snprintf(r->date, sizeof r->date, "%s", s->date);
        snprintf(r->commit, sizeof r->commit, "%s", s->commit);
    }
    run_fig *r = &f->runs[f->n - 1];
    if (s->error) {
        snprintf(r->error, sizeof r->error, "%s", s->error);
        return JB_OK;
    }
    if ((!isnan(s->time_ns) && jb_samples_add(&r->t, s->time_ns)) ||
        (!isnan(s->flop_per_s) && jb_samples_add(&r->fps, s->flop_per_s)) ||
        (!isnan(s->flop_per_j) && jb_samples_add(&r->fpj, s->flop_per_j)))
        return JB_ENOMEM;
    if (s->energy_measured >= 0)
        r->measured = s->energy_measured;
    return JB_OK;
}

static void show_row(jb_history *h, const char *name)
{
    figs f = {0};
    if (jb_history_row_samples(h, name, add_sample, &f) == JB_ENOMEM)
        jb_cli_oom("history show");
    size_t n = f.n;
    printf("\n%s\n", name);
    printf("  %5s  %-25s %-20s %12s %6s %10s %10s  %s\n", "run", "date", "commit", "time", "cv%", "GFLOP/s", "GFLOP/J",
           "energy");
    double *mt = calloc(n ? n : 1, sizeof *mt), *mj = calloc(n ? n : 1, sizeof *mj);
    if (!mt || !mj)
        jb_cli_oom("history show");
    for (size_t i = 0; i < n; i++) {
        run_fig *r = &f.runs[i];
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
            jb_fmt_time(mt[i], t, sizeof t);
            snprintf(cvs, sizeof cvs, isnan(cv) ? "-" : "%.1f", 100 * cv);
            double fv = jb_median(r->fps.v, r->fps.n);
            snprintf(fps, sizeof fps, isnan(fv) ? "-" : "%.3f", fv / 1e9);
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
    free(f.runs);
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
    jb_history *h = open_db(0);
    jb_history_run *runs;
    size_t nruns;
    char **names;
    size_t nnames;
    if (jb_history_runs(h, &runs, &nruns) || jb_history_row_names(h, &names, &nnames))
        jb_cli_oom("history show");
    printf("%s\n  %5s  %-25s %-20s %-16s %-24s %s\n", db_path, "run", "date", "commit", "host", "cpu", "rows");
    for (size_t i = 0; i < nruns; i++)
        printf("  %5lld  %-25s %-20s %-16s %-24s %d\n", (long long)runs[i].id, runs[i].date, runs[i].commit,
               runs[i].host, runs[i].cpu, runs[i].rows);
    int shown = 0;
    for (size_t i = 0; i < nnames; i++) {
        if (filter && regexec(&re, names[i], 0, NULL, 0))
            continue;
        show_row(h, names[i]);
        shown++;
    }
    jb_history_names_free(names, nnames);
    jb_history_runs_free(runs, nruns);
    jb_history_close(h);
    if (filter)
        regfree(&re);
    if (!shown && filter)
        jb_cli_usage_error("history show: --filter '%s' matches no row of the %zu runs", filter, nruns);
    return JB_EXIT_OK;
}

/* ---- check ----------------------------------------------------------------- */

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
    jb_history *h = open_db(0);
    jb_history_run *runs;
    size_t n, other_cpu;
    if (jb_history_recent(h, window, &runs, &n, &other_cpu))
        jb_cli_oom("history check");
    if (n < 2) {
        if (n)
            fprintf(stderr, "joulebench: history check: %s has one run on cpu '%s'%s: nothing to compare yet\n",
                    db_path, runs[0].cpu, other_cpu ? " (runs of other CPUs are not compared with it)" : "");
        else
            fprintf(stderr, "joulebench: history check: %s holds no runs: nothing to compare yet\n", db_path);
        jb_history_runs_free(runs, n);
        jb_history_close(h);
        return JB_EXIT_OK;
    }
    jb_bench_set base, cur;
    jb_bench_set_init(&base);
    jb_bench_set_init(&cur);
    if (jb_history_load(h, &runs[0], 1, &cur) || jb_history_load(h, &runs[1], n - 1, &base))
        jb_cli_oom("history check");
    jb_comparison c;
    if (jb_compare(&base, &cur, &o, &c))
        jb_cli_oom("history check");
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
    jb_history_runs_free(runs, n);
    jb_history_close(h);
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
        jb_cli_oom("history");
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
