/*
 * `joulebench report RESULTS.json... --out report.html`: checks its input,
 * then runs scripts/report.py with /usr/bin/python3 (matplotlib, Agg), which
 * writes one self-contained HTML page. The projection section comes from this
 * same binary's `project` command when it has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/files.h"
#include "util/paths.h"
#include "harness/results.h"

#define PYTHON "/usr/bin/python3"

static void help(void)
{
    printf(
        "usage: joulebench report RESULTS.json... --out report.html [--model NAME]\n\n"
        "Writes one self-contained HTML page (charts embedded as PNG) from results files:\n"
        "  - per op, GFLOP/s and GFLOP/J of every variant (estimated energy hatched);\n"
        "  - a roofline: each matmul and attention row at its arithmetic intensity against\n"
        "    the peak FLOP/s and copy bandwidth measured in that run;\n"
        "  - with --model, the projected training energy (MWh) and tCO2e of that model for each\n"
        "    attention and matmul variant, from joulebench project (its --help lists models);\n"
        "  - with files from several machines, a side-by-side table per op;\n"
        "  - the rows that were not timed, and why.\n\n"
        "  --out    the HTML file to write (replaced atomically)\n"
        "  --model  a model name or spec file for the projection (e.g. gpt3-175b, llama-7b)\n\n"
        "Needs " PYTHON " with matplotlib (scripts/setup.sh installs python3-matplotlib).\n"
        "The script is scripts/report.py of the source tree (JB_REPORT_SCRIPT overrides it).\n"
        "exit: 0 written, 1 the script failed, 2 bad input\n");
}

static const char *script_path(char *buf, size_t len)
{
    const char *env = getenv("JB_REPORT_SCRIPT");
    if (env && *env)
        return env;
    return jb_data_path("scripts/report.py", buf, len);
}

/* Whether this binary has a working `project` command (it was written after report). */
static int have_project(const char *self)
{
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(self, self, "project", "--help", (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int jb_cmd_report(int argc, char **argv)
{
    const char *out = NULL, *model = NULL;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files)
        jb_cli_usage_error("report: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            free(files);
            return JB_EXIT_OK;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "--model")) {
            if (i + 1 >= argc || !argv[i + 1][0])
                jb_cli_usage_error("report: %s needs a value", a);
            if (!strcmp(a, "--out"))
                out = argv[++i];
            else
                model = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1])
            jb_cli_usage_error("report: unknown option '%s' (try --help)", a);
        files[nfiles++] = argv[i];
    }
    if (!nfiles)
        jb_cli_usage_error("report: needs one or more results files (try --help)");
    if (!out)
        jb_cli_usage_error("report: needs --out FILE.html");
    char msg[512];
    for (int i = 0; i < nfiles; i++) {
        cJSON *doc = jb_results_read(files[i], msg, sizeof msg);
        if (!doc)
            jb_cli_usage_error("report: %s", msg);
        cJSON_Delete(doc);
    }
    /* Can we write there? Find out before the charts are drawn. */
    char omsg[4600];
    if (jb_file_check_output(out, omsg, sizeof omsg))
        jb_cli_usage_error("report: cannot write the page: %s", omsg);
    char sbuf[4096];
    const char *script = script_path(sbuf, sizeof sbuf);
    if (access(script, R_OK) != 0)
        jb_cli_usage_error("report: cannot find the report script %s (set JB_REPORT_SCRIPT)", script);
    if (access(PYTHON, X_OK) != 0) {
        fprintf(stderr, "joulebench: report: %s is missing (scripts/setup.sh installs python3 and python3-matplotlib)\n",
                PYTHON);
        free(files);
        return JB_EXIT_FAIL;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    int project = n > 0 && have_project(self);

    const char *args[16 + 1024];
    int k = 0;
    args[k++] = PYTHON;
    args[k++] = script;
    args[k++] = "--out";
    args[k++] = out;
    if (model) {
        args[k++] = "--model";
        args[k++] = model;
    }
    if (project) {
        args[k++] = "--joulebench";
        args[k++] = self;
    }
    if (nfiles > 1024)
        jb_cli_usage_error("report: at most 1024 results files");
    args[k++] = "--";
    for (int i = 0; i < nfiles; i++)
        args[k++] = files[i];
    args[k] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "joulebench: report: cannot start %s: %s\n", PYTHON, strerror(errno));
        free(files);
        return JB_EXIT_FAIL;
    }
    if (pid == 0) {
        setenv("MPLBACKEND", "Agg", 1);
        execv(PYTHON, (char *const *)args);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    free(files);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 0) {
        fprintf(stderr, "joulebench: wrote %s%s\n", out,
                project ? "" : " (projection section: not available: joulebench project missing)");
        return JB_EXIT_OK;
    }
    if (rc == 2)
        return JB_EXIT_USAGE; /* the script printed the one line */
    if (rc == 3) /* the script could not import matplotlib, and said so */
        return JB_EXIT_FAIL;
    jb_cli_error("report: %s %s failed (%s %d)", PYTHON, script, WIFEXITED(st) ? "exit" : "signal",
                 WIFEXITED(st) ? rc : WTERMSIG(st));
    return JB_EXIT_FAIL;
}
