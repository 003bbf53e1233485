/*
 * joulebench: the program's entry point. Dispatches to one command per
 * verb; every command prints its own --help.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cpu/cpu.h"
#include "util/files.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"list", jb_cmd_list, "kernels, and why any is unavailable here"},
    {"env", jb_cmd_env, "settings, meters (and why any is unavailable), measured peaks"},
    {"verify", jb_cmd_verify, "check one kernel against the fp64 oracle on one shape"},
    {"run", jb_cmd_run, "verify and benchmark a suite; Google Benchmark JSON with energy"},
    {"compare", jb_cmd_compare, "two results files row by row (Mann-Whitney U); exit 1 on a regression"},
    {"history", jb_cmd_history, "results across commits in SQLite: add, show, check for regressions"},
    {"project", jb_cmd_project, "projected training energy, CO2 and time of a model"},
    {"report", jb_cmd_report, "one self-contained HTML page: charts, roofline, projected CO2, machines"},
};

static void usage(FILE *f)
{
    fprintf(f, "joulebench %s: transformer kernels compared by throughput per watt\n\n"
               "usage: joulebench COMMAND [OPTIONS]   (joulebench COMMAND --help for its options)\n\n"
               "commands:\n", JB_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 ok, 1 failed (verification or regression), 2 bad input, 3 skipped\n");
}

static void vline(const char *fmt, va_list ap)
{
    char raw[2048], line[2048];
    vsnprintf(raw, sizeof raw, fmt, ap);
    /* Whatever the user typed or a file held, the message stays one line. */
    jb_text_one_line(raw, line, sizeof line);
    fprintf(stderr, "joulebench: %s\n", line);
}

void jb_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
}

_Noreturn void jb_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
    exit(JB_EXIT_USAGE);
}

int64_t jb_cli_int(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    char *end;
    if (!s || !*s)
        jb_cli_usage_error("%s needs a value", opt);
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        jb_cli_usage_error("%s: '%s' is not an integer in [%lld, %lld]", opt, s, (long long)lo, (long long)hi);
    return v;
}

double jb_cli_double(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    if (!s || !*s)
        jb_cli_usage_error("%s needs a value", opt);
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi))
        jb_cli_usage_error("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    return v;
}

const jb_kernel *jb_cli_kernel(const char *name)
{
    const jb_kernel *k = jb_registry_find(name);
    if (k)
        return k;
    /* Suggest kernels of the same op, which is the usual slip. */
    char hint[512] = "";
    const char *slash = name ? strchr(name, '/') : NULL;
    size_t oplen = slash ? (size_t)(slash - name) : 0;
    for (size_t i = 0; oplen && i < jb_registry_count(); i++) {
        const jb_kernel *c = jb_registry_get(i);
        if (strncmp(c->name, name, oplen) == 0 && c->name[oplen] == '/' && strlen(hint) + strlen(c->name) + 3 < sizeof hint) {
            strcat(hint, hint[0] ? ", " : "");
            strcat(hint, c->name);
        }
    }
    if (hint[0])
        jb_cli_usage_error("unknown kernel '%s' (did you mean one of: %s)", name ? name : "", hint);
    jb_cli_usage_error("unknown kernel '%s' (joulebench list shows them all)", name ? name : "");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return JB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return JB_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("joulebench %s\n", JB_VERSION);
        return JB_EXIT_OK;
    }
    char why[256];
    if (jb_cpu_isa_env_check(why, sizeof why))
        jb_cli_usage_error("%s", why);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    jb_cli_usage_error("unknown command '%s' (joulebench --help lists them)", argv[1]);
}
