/*
 * Shared pieces of the joulebench command line: the commands' entry points,
 * and the one way bad input is reported (one line on stderr, exit 2).
 */
#ifndef JB_CLI_H
#define JB_CLI_H

#include <stdint.h>

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

int jb_cmd_list(int argc, char **argv);
int jb_cmd_verify(int argc, char **argv);
int jb_cmd_run(int argc, char **argv);
int jb_cmd_env(int argc, char **argv);
int jb_cmd_project(int argc, char **argv);
int jb_cmd_compare(int argc, char **argv);
int jb_cmd_history(int argc, char **argv);
int jb_cmd_report(int argc, char **argv);

#endif
