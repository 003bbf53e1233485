/*
 * Shared pieces of the joulebench command line (cli.c): the commands' entry
 * points, the one way bad input is reported (one line on stderr, exit 2) and
 * out of memory (exit 1), strict option values, and the options `compare`
 * and `history check` share. Modules below the commands return status codes;
 * only the commands print errors and choose the exit code.
 */
#ifndef JB_CLI_H
#define JB_CLI_H

#include <stdint.h>

#include "analysis/compare.h"
#include "jb_kernels.h"

/* Exit codes of every command. */
enum { JB_EXIT_OK = 0, JB_EXIT_FAIL = 1, JB_EXIT_USAGE = 2, JB_EXIT_SKIP = 3 };

/* Prints "joulebench: <message>" as one line (control characters and bytes
 * that are not UTF-8 escaped) to stderr. */
void jb_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* jb_cli_error, then exit JB_EXIT_USAGE. */
_Noreturn void jb_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict number parsing for option values: the whole string must be a number
 * within [lo, hi]; otherwise a usage error naming the option. */
int64_t jb_cli_int(const char *opt, const char *s, int64_t lo, int64_t hi);
double jb_cli_double(const char *opt, const char *s, double lo, double hi);

/* Looks a kernel up by name; a usage error listing close names when unknown. */
const jb_kernel *jb_cli_kernel(const char *name);

/* "joulebench: <cmd>: out of memory", exit JB_EXIT_FAIL (not bad input). */
_Noreturn void jb_cli_oom(const char *cmd);

/*
 * Options shared by `compare` and `history check`: when argv[*i] is --metric,
 * --threshold, --alpha, --format or --filter, consumes it and its value
 * (advancing *i) and returns 1; a bad value is a usage error naming cmd.
 * Returns 0 for any other argument. jb_cli_compare_defaults sets time, 5%,
 * 0.05, console.
 */
void jb_cli_compare_defaults(jb_compare_opts *o, jb_cmp_format *fmt);
int jb_cli_compare_option(const char *cmd, int argc, char **argv, int *i, jb_compare_opts *o, jb_cmp_format *fmt);

int jb_cmd_list(int argc, char **argv);
int jb_cmd_verify(int argc, char **argv);
int jb_cmd_run(int argc, char **argv);
int jb_cmd_env(int argc, char **argv);
int jb_cmd_project(int argc, char **argv);
int jb_cmd_compare(int argc, char **argv);
int jb_cmd_history(int argc, char **argv);
int jb_cmd_report(int argc, char **argv);

#endif
