/*
 * `joulebench compare BASELINE.json CURRENT.json`: per row, medians, the
 * relative change with its 95% interval and a two-sided Mann-Whitney U test
 * over the repetitions (or, --paired, over pairs of A/B runs: the Wilcoxon
 * signed-rank test); exits 1 on a regression, so a CI job can gate on it.
 * The statistics live in analysis/.
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
        "                          [--filter REGEX]\n"
        "       joulebench compare --paired BASE1.json CUR1.json BASE2.json CUR2.json ... [options]\n\n"
        "Compares two results files (Google Benchmark JSON, e.g. from joulebench run) row by row,\n"
        "matching rows on run_name. The samples are the per-repetition rows (run_type iteration).\n"
        "For each row and metric: the medians, the relative change with its 95%% interval (from\n"
        "the two medians' order-statistic intervals; 6 repetitions a side at least), and the\n"
        "two-sided Mann-Whitney U test (exact distribution up to %d repetitions a side without\n"
        "ties, else the normal approximation with tie correction). Verdicts:\n"
        "  worse / better   p < alpha and the whole interval is past the threshold (as\n"
        "                   criterion does; without an interval: the change is)\n"
        "  same             the whole interval is within the threshold (without an interval:\n"
        "                   the change is)\n"
        "  inconclusive     neither: the data cannot tell (too noisy or too few repetitions)\n"
        "Time: lower is better; flop_per_j: higher is better. Rows in one file only, error rows,\n"
        "rows skipped on both sides (kernel unavailable) and rows with fewer than 2\n"
        "repetitions are listed, not tested.\n"
        "A warning is printed when the two runs differ in a setting that moves results\n"
        "(cpu_model, threads, isa, build_type, meter, measured vs estimated energy, ...).\n\n"
        "The intervals are about the runs compared: another day's machine can differ by more.\n"
        "--paired is the A/B mode (scripts/ci-regress.sh): the files come in pairs, baseline\n"
        "then current, each pair run back to back on the same machine. Each file gives one\n"
        "sample per row (the median of its repetitions); the change is the median of the\n"
        "per-pair ratios, its interval their order statistics, and the test the Wilcoxon\n"
        "signed-rank test over the log ratios. 6 pairs give an interval.\n\n"
        "  --metric     time (default), flop_per_j, or both\n"
        "  --threshold  relative change that matters, in percent (default 5)\n"
        "  --alpha      significance level (default 0.05)\n"
        "  --format     console (default), markdown (a GitHub-flavoured table for a CI summary), json\n"
        "  --filter     POSIX extended regex: compare only the rows whose names match\n"
        "  --paired     the A/B mode above\n\n"
        "exit: 0 no regression, 1 a regression on the chosen metric(s), 2 bad input\n",
        JB_MWU_EXACT_MAX);
}

/* Reads a results file into a set of samples, or ends with a usage error. */
static cJSON *read_set(const char *path, jb_bench_set *set)
{
    char msg[512];
    cJSON *doc = jb_results_read(path, msg, sizeof msg);
    if (!doc)
        jb_cli_usage_error("compare: %s", msg);
    jb_bench_set_init(set);
    int rc = jb_bench_set_from_json(doc, set, msg, sizeof msg);
    if (rc)
        jb_cli_usage_error("compare: %s: %s", path, rc == JB_ENOMEM ? "out of memory" : msg);
    return doc;
}

#define MAX_PAIRS 256

int jb_cmd_compare(int argc, char **argv)
{
    jb_compare_opts o;
    jb_cmp_format fmt;
    jb_cli_compare_defaults(&o, &fmt);
    static const char *files[2 * MAX_PAIRS];
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return JB_EXIT_OK;
        }
        if (!strcmp(a, "--paired")) {
            o.paired = 1;
            continue;
        }
        if (jb_cli_compare_option("compare", argc, argv, &i, &o, &fmt))
            continue;
        if (a[0] == '-' && a[1])
            jb_cli_usage_error("compare: unknown option '%s' (try --help)", a);
        if (nfiles == 2 * MAX_PAIRS)
            jb_cli_usage_error("compare: at most %d results files", 2 * MAX_PAIRS);
        files[nfiles++] = a;
    }
    if (!o.paired && nfiles > 2)
        jb_cli_usage_error("compare: takes two results files, BASELINE and CURRENT (got a third, '%s'; "
                           "--paired takes pairs)", files[2]);
    if (nfiles < 2)
        jb_cli_usage_error("compare: needs two results files, BASELINE.json CURRENT.json (try --help)");
    if (o.paired && nfiles % 2)
        jb_cli_usage_error("compare: --paired takes files in pairs, BASELINE then CURRENT (got %d files)", nfiles);
    char msg[512];
    if (o.filter) {
        regex_t re;
        if (jb_pattern_compile(&re, o.filter, 0, msg, sizeof msg))
            jb_cli_usage_error("compare: --filter %s", msg);
        regfree(&re);
    }

    /* set[0] and set[1]: the baseline's and the current samples. Paired, each
     * pair of files adds one sample a side per row. */
    cJSON *doc[2];
    jb_bench_set set[2];
    if (!o.paired) {
        for (int k = 0; k < 2; k++)
            doc[k] = read_set(files[k], &set[k]);
    } else {
        jb_bench_set_init(&set[0]);
        jb_bench_set_init(&set[1]);
        doc[0] = doc[1] = NULL;
        for (int k = 0; k < nfiles; k += 2) {
            jb_bench_set a, b;
            cJSON *da = read_set(files[k], &a), *db = read_set(files[k + 1], &b);
            if (jb_bench_set_add_pair(&set[0], &set[1], &a, &b))
                jb_cli_usage_error("compare: out of memory");
            jb_bench_set_free(&a);
            jb_bench_set_free(&b);
            /* The first pair's contexts stand for the runs in the notes and labels. */
            if (k == 0) {
                doc[0] = da;
                doc[1] = db;
            } else {
                cJSON_Delete(da);
                cJSON_Delete(db);
            }
        }
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
    char d0[512], d1[512], l0[512], l1[512];
    jb_context_detail(ctx0, d0, sizeof d0);
    jb_context_detail(ctx1, d1, sizeof d1);
    if (o.paired) {
        snprintf(l0, sizeof l0, "%s and %d more (paired)", files[0], nfiles / 2 - 1);
        snprintf(l1, sizeof l1, "%s and %d more (paired)", files[1], nfiles / 2 - 1);
    } else {
        snprintf(l0, sizeof l0, "%s", files[0]);
        snprintf(l1, sizeof l1, "%s", files[1]);
    }
    jb_cmp_labels l = {.base = l0, .cur = l1, .base_detail = d0, .cur_detail = d1};
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
