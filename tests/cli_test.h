/*
 * Running the joulebench program from a cmocka test: jb() runs it with
 * printf-style arguments (stdout and stderr together in `out`, unless the
 * arguments redirect stderr themselves) and returns the exit code;
 * expect_usage_error() checks the bad-input contract: exit 2, one line,
 * naming the problem. Include after <cmocka.h>; JB_EXE names the binary.
 */
#ifndef JB_CLI_TEST_H
#define JB_CLI_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static char out[1 << 18];

static int jb(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int jb(const char *fmt, ...)
{
    char args[4096], cmd[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s%s", JB_EXE, args, strstr(args, "2>") ? "" : " 2>&1");
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_usage_error(const char *args, const char *part) __attribute__((unused));
static void expect_usage_error(const char *args, const char *part)
{
    int rc = jb("%s", args), lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    if (rc != 2 || lines != 1 || !strstr(out, part))
        fail_msg("joulebench %s: exit %d, output '%s' (want exit 2 and one line with '%s')", args, rc, out, part);
}

#endif
