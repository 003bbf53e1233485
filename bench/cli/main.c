/*
 * joulebench: the program's entry point. Dispatches to one command per
 * verb; every command prints its own --help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

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
