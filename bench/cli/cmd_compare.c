/*
 * `joulebench compare BASELINE.json CURRENT.json`: per row, medians, the
 * relative change and a two-sided Mann-Whitney U test over the repetitions;
 * exits 1 on a regression (worse by more than the threshold with p < alpha),
 * so a CI job can gate on it. The statistics live in stats.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/pattern.h"
#include "harness/results.h"
#include "analysis/compare.h"

static void help(void)
{
    printf(
        "usage: joulebench compare BASELINE.json CURRENT.json [--metric time|flop_per_j|both]\n"
        "                          [--threshold PCT] [--alpha A] [--format console|markdown|json]\n"
        "                          [--filter REGEX]\n\n"
        "Compares two results files (Google Benchmark JSON, e.g. from joulebench run) row by row,\n"
        "matching rows on run_name. The samples are the per-repetition rows (run_type iteration),\n"
        "so run with --repetitions 5 or more: with 3 and 3 the smallest p the test can give is 0.1.\n"
        "For each row and metric: the medians, the relative change, and the two-sided\n"
        "Mann-Whitney U test (exact distribution up to %d repetitions a side without ties,\n"
        "else the normal approximation with tie correction). Verdicts:\n"
        "  worse / better   the median moved by more than the threshold and p < alpha\n"
        "  noisy            it moved by more than the threshold but p >= alpha\n"
        "  same             it moved by less than the threshold\n"
        "Time: lower is better; flop_per_j: higher is better. Rows in one file only, error rows\n"
        "(skipped or failed) and rows with fewer than 2 repetitions are listed, not tested.\n"
        "A warning is printed when the two runs differ in a setting that moves results\n"
        "(cpu_model, threads, isa, build_type, meter, measured vs estimated energy, ...).\n\n"
        "  --metric     time (default), flop_per_j, or both\n"
        "  --threshold  relative change that matters, in percent (default 5)\n"
        "  --alpha      significance level (default 0.05)\n"
        "  --format     console (default), markdown (a GitHub-flavoured table for a CI summary), json\n"
        "  --filter     POSIX extended regex: compare only the rows whose names match\n\n"
        "exit: 0 no regression, 1 a regression on the chosen metric(s), 2 bad input\n",
        JB_MWU_EXACT_MAX);
}

int jb_cmd_compare(int argc, char **argv)
{
    jb_compare_opts o;
    jb_cmp_format fmt;
    jb_cli_compare_defaults(&o, &fmt);
    const char *files[2] = {NULL, NULL};
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return JB_EXIT_OK;
        }
        if (jb_cli_compare_option("compare", argc, argv, &i, &o, &fmt))
            continue;
        if (a[0] == '-' && a[1])
            jb_cli_usage_error("compare: unknown option '%s' (try --help)", a);
        if (nfiles == 2)
            jb_cli_usage_error("compare: takes two results files, BASELINE and CURRENT (got a third, '%s')", a);
        files[nfiles++] = a;
    }
    if (nfiles < 2)
        jb_cli_usage_error("compare: needs two results files, BASELINE.json CURRENT.json (try --help)");
    char msg[512];
    if (o.filter) {
        regex_t re;
        if (jb_pattern_compile(&re, o.filter, 0, msg, sizeof msg))
            jb_cli_usage_error("compare: --filter %s", msg);
        regfree(&re);
    }

    cJSON *doc[2];
    jb_bench_set set[2];
    for (int k = 0; k < 2; k++) {
        doc[k] = jb_results_read(files[k], msg, sizeof msg);
        if (!doc[k])
            jb_cli_usage_error("compare: %s", msg);
        jb_bench_set_init(&set[k]);
        int rc = jb_bench_set_from_json(doc[k], &set[k], msg, sizeof msg);
        if (rc)
            jb_cli_usage_error("compare: %s: %s", files[k], rc == JB_ENOMEM ? "out of memory" : msg);
    }
    jb_comparison c;
    int rc = jb_compare(&set[0], &set[1], &o, &c);
    if (rc == JB_EINVAL)
        jb_cli_usage_error("compare: --filter '%s' is not a valid regular expression", o.filter);
    if (rc)
        jb_cli_usage_error("compare: out of memory");
    if (c.n == 0)
        jb_cli_usage_error("compare: no rows to compare%s%s", o.filter ? " match --filter " : " in either file",
                           o.filter ? o.filter : "");
    const cJSON *ctx0 = jb_results_context(doc[0]);
    const cJSON *ctx1 = jb_results_context(doc[1]);
    jb_comparison_context_notes(&c, ctx0, ctx1);
    char d0[512], d1[512];
    jb_context_detail(ctx0, d0, sizeof d0);
    jb_context_detail(ctx1, d1, sizeof d1);
    jb_cmp_labels l = {.base = files[0], .cur = files[1], .base_detail = d0, .cur_detail = d1};
    jb_comparison_print(&c, &l, fmt, stdout);
    if (fmt != JB_CMP_CONSOLE)
        for (size_t i = 0; i < c.nnotes; i++)
            fprintf(stderr, "joulebench: warning: %s\n", c.notes[i]);
    int regressed = c.regressions > 0;
    jb_comparison_free(&c);
    for (int k = 0; k < 2; k++) {
        jb_bench_set_free(&set[k]);
        cJSON_Delete(doc[k]);
    }
    return regressed ? JB_EXIT_FAIL : JB_EXIT_OK;
}
