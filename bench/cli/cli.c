/*
 * The command line's shared pieces, in the library so every command (and
 * the tests) use one copy: one-line errors and the exit codes they choose,
 * strict number options, kernel lookup with suggestions, and the options that
 * `compare` and `history check` share.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"

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

_Noreturn void jb_cli_oom(const char *cmd)
{
    jb_cli_error("%s: out of memory", cmd);
    exit(JB_EXIT_FAIL);
}

/* ---- Options shared by compare and history check --------------------------- */

void jb_cli_compare_defaults(jb_compare_opts *o, jb_cmp_format *fmt)
{
    memset(o, 0, sizeof *o);
    o->metrics[JB_METRIC_TIME] = 1;
    o->threshold = 0.05;
    o->alpha = 0.05;
    *fmt = JB_CMP_CONSOLE;
}

int jb_cli_compare_option(const char *cmd, int argc, char **argv, int *i, jb_compare_opts *o, jb_cmp_format *fmt)
{
    static const char *const opts[] = {"--metric", "--threshold", "--alpha", "--format", "--filter"};
    const char *a = argv[*i];
    size_t j;
    for (j = 0; j < sizeof opts / sizeof opts[0]; j++)
        if (!strcmp(a, opts[j]))
            break;
    if (j == sizeof opts / sizeof opts[0])
        return 0;
    if (*i + 1 >= argc)
        jb_cli_usage_error("%s: %s needs a value", cmd, a);
    const char *v = argv[++*i];
    if (!strcmp(a, "--metric")) {
        int t = !strcmp(v, "time") || !strcmp(v, "both"), e = !strcmp(v, "flop_per_j") || !strcmp(v, "both");
        if (!t && !e)
            jb_cli_usage_error("%s: --metric must be time, flop_per_j or both (got '%s')", cmd, v);
        o->metrics[JB_METRIC_TIME] = t;
        o->metrics[JB_METRIC_FLOP_PER_J] = e;
    } else if (!strcmp(a, "--threshold")) {
        o->threshold = jb_cli_double("--threshold", v, 0, 1000) / 100;
    } else if (!strcmp(a, "--alpha")) {
        o->alpha = jb_cli_double("--alpha", v, 1e-12, 1);
    } else if (!strcmp(a, "--format")) {
        int f = jb_cmp_format_from_name(v);
        if (f < 0)
            jb_cli_usage_error("%s: --format must be console, markdown or json (got '%s')", cmd, v);
        *fmt = (jb_cmp_format)f;
    } else {
        o->filter = v;
    }
    return 1;
}
