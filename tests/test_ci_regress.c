/*
 * scripts/ci-regress.sh, the A/B mode, end to end without building: the two
 * binaries are given with --base-exe and --exe. The same binary against
 * itself passes; a "current" binary whose results say one row got 3x
 * slower (a wrapper that rewrites that row's times in the file joulebench
 * wrote) fails, naming that row and no other; bad input exits 2. The real
 * thing, a commit that slows a kernel, is measured in docs/measurement.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

static char tmpdir[] = "/tmp/jb_ci_regress_XXXXXX";
static char out[1 << 18];
static char slow_exe[512];

/* A small, quick part of the quick suite: four rows. */
#define FILTER "'softmax/cpu/(naive|fused)/f32/rows:256/cols:1024'"
#define SLOWED "softmax/cpu/fused/f32/rows:256/cols:1024/causal:0"

static int script(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int script(const char *fmt, ...)
{
    char args[4096], cmd[4600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "bash %s/scripts/ci-regress.sh %s 2>&1", JB_SOURCE_DIR_T, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line of the compare table that names row. */
static const char *line_of(const char *row)
{
    static char line[1024];
    const char *p = out;
    while ((p = strstr(p, row))) {
        const char *b = p;
        while (b > out && b[-1] != '\n')
            b--;
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - b) : strlen(b);
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), b);
        if (!strncmp(b, row, strlen(row)) && line[strlen(row)] == ' ')
            return line;
        p += strlen(row);
    }
    return NULL;
}

static void test_self_passes(void **state)
{
    (void)state;
    int rc = script("--base-exe %s --exe %s --filter " FILTER " --threshold 10", JB_EXE, JB_EXE);
    if (rc != 0)
        fail_msg("the same binary twice: exit %d\n%s", rc, out);
    assert_non_null(strstr(out, "Wilcoxon signed-rank"));
    assert_non_null(strstr(out, "0 worse"));
    assert_non_null(strstr(out, "pair 6 of 6"));
}

static void test_slowdown_fails_and_names_the_row(void **state)
{
    (void)state;
    int rc = script("--base-exe %s --exe %s --filter " FILTER " --threshold 10", JB_EXE, slow_exe);
    if (rc != 1)
        fail_msg("a 3x slower row: exit %d, want 1\n%s", rc, out);
    const char *l = line_of(SLOWED);
    /* Its change: the columns after the two medians ("+197.3%"), about +200% give or take the machine's noise. */
    const char *pct = l ? strstr(l, "%") : NULL;
    while (pct && pct > l && pct[-1] != ' ')
        pct--;
    double change = pct ? strtod(pct, NULL) : 0;
    if (!l || !strstr(l, "worse") || change < 100 || change > 400)
        fail_msg("the slowed row is not named worse at about +200%%: '%s'", l ? l : "(missing)");
    assert_non_null(strstr(out, "1 worse"));
    /* No other row is flagged. */
    const char *others[] = {"softmax/cpu/naive/f32/rows:256/cols:1024/causal:0",
                            "softmax/cpu/naive/f32/rows:256/cols:1024/causal:1",
                            "softmax/cpu/fused/f32/rows:256/cols:1024/causal:1"};
    for (size_t i = 0; i < 3; i++) {
        const char *o = line_of(others[i]);
        if (!o || strstr(o, "worse"))
            fail_msg("%s flagged or missing:\n%s", others[i], out);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    assert_int_equal(script("--base no-such-ref-anywhere"), 2);
    assert_non_null(strstr(out, "not a commit"));
    assert_int_equal(script("--base-exe %s", JB_EXE), 2);
    assert_non_null(strstr(out, "go together"));
    assert_int_equal(script("--base-exe %s --exe %s --pairs 1", JB_EXE, JB_EXE), 2);
    assert_int_equal(script("--base HEAD --bogus"), 2);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    /* "current": joulebench, then the row SLOWED made 3x slower in the file it wrote (a
     * change a noisy machine cannot hide: every pair must show more than the 10% threshold). */
    snprintf(slow_exe, sizeof slow_exe, "%s/slow-joulebench", tmpdir);
    FILE *f = fopen(slow_exe, "w");
    if (!f)
        return -1;
    fprintf(f,
            "#!/bin/sh\n"
            "rc=0; \"%s\" \"$@\" || rc=$?\n"
            "prev=; for a in \"$@\"; do [ \"$prev\" = --out ] && outfile=$a; prev=$a; done\n"
            "[ -n \"$outfile\" ] && [ -f \"$outfile\" ] && /usr/bin/python3 - \"$outfile\" <<'EOF'\n"
            "import json, sys\n"
            "d = json.load(open(sys.argv[1]))\n"
            "for b in d['benchmarks']:\n"
            "    if b.get('run_name') == '%s' and b.get('run_type') == 'iteration':\n"
            "        b['real_time'] *= 3\n"
            "json.dump(d, open(sys.argv[1], 'w'))\n"
            "EOF\n"
            "exit $rc\n",
            JB_EXE, SLOWED);
    fclose(f);
    return chmod(slow_exe, 0755);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_self_passes),
        cmocka_unit_test(test_slowdown_fails_and_names_the_row),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
