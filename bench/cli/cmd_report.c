/*
 * `joulebench report RESULTS.json... --out report.html`: reads and checks the
 * files (the results module), loads the model and computes its projections
 * (analysis/report_data.c), hands that page data to scripts/report.py run by
 * /usr/bin/python3 (matplotlib, Agg), which writes one self-contained HTML page.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/machines.h"
#include "analysis/machine_prices.h"
#include "analysis/report_data.h"
#include "cli/cli.h"
#include "harness/results.h"
#include "util/files.h"
#include "util/paths.h"

#define PYTHON "/usr/bin/python3"

static void help(void)
{
    printf(
        "usage: joulebench report RESULTS.json... --out report.html [--model NAME]\n"
        "                         [--compare-machines] [--devices N] [--region ISO3]\n"
        "                         [--price-kwh P] [--machine-prices CSV]\n\n"
        "Writes one self-contained HTML page (charts embedded as PNG) from results files:\n"
        "  - per op, GFLOP/s and GFLOP/J of every variant (estimated energy hatched);\n"
        "  - a roofline: each matmul and attention row at its arithmetic intensity against\n"
        "    the peak FLOP/s and copy bandwidth measured in that run;\n"
        "  - with --model, the projected training energy (MWh) and tCO2e of that model for each\n"
        "    attention and matmul variant, from joulebench project (its --help lists models);\n"
        "  - with files from several machines, a side-by-side table per op;\n"
        "  - with --compare-machines, or files from more than one machine (host and CPU,\n"
        "    Slurm node, threads, requested CPU frequency), the machines compared: each\n"
        "    variant's GFLOP/s and GFLOP/J per machine with their 95%% intervals, a ranking\n"
        "    per op, time against energy per run with the Pareto front, and with --model\n"
        "    the training run's energy, time, CO2 (and cost) on each machine;\n"
        "  - the rows that were not timed, and why.\n\n"
        "  --out    the HTML file to write (replaced atomically)\n"
        "  --model  a model name or spec file for the projection (e.g. gpt3-175b, llama-7b)\n"
        "  --compare-machines  add the machine comparison even for files of one machine\n"
        "  --devices N         devices (machines) the projected training runs on (default 1):\n"
        "                      days = one machine's time / N, machine-hours unchanged\n"
        "  --region ISO3       grid intensity of the projection (configs/grid; default the\n"
        "                      world average 0.475 kg/kWh)\n"
        "  --price-kwh P       electricity price: the energy cost of the training run\n"
        "  --machine-prices CSV  price per machine-hour, by machine: the machine cost\n"
        "                      (configs/hardware/machine_prices.csv shows the format)\n"
        "These four shape the training run of the machines compared (which they turn on);\n"
        "the per-file projection above keeps joulebench project's defaults.\n"
        "Measured and estimated energy are never ranked against each other: every\n"
        "estimated figure carries \"energy: estimated\".\n\n"
        "joulebench reads and checks the files and computes the projections; " PYTHON "\n"
        "with matplotlib draws the page (scripts/report.py, found in the working directory,\n"
        "else the source tree; JB_REPORT_SCRIPT overrides it; setup.sh installs matplotlib).\n"
        "exit: 0 written, 1 the script failed, 2 bad input\n");
}

static const char *script_path(char *buf, size_t len)
{
    const char *env = getenv("JB_REPORT_SCRIPT");
    if (env && *env)
        return env;
    return jb_data_path("scripts/report.py", buf, len);
}

/* Runs the script on the page data; its exit status (-1: it did not start or died). */
static int draw(const char *script, const char *data, const char *out)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setenv("MPLBACKEND", "Agg", 1);
        execl(PYTHON, PYTHON, script, "--data", data, "--out", out, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int jb_cmd_report(int argc, char **argv)
{
    const char *out = NULL, *model_name = NULL, *region = NULL, *prices_path = NULL;
    int compare_machines = 0;
    double devices = 0, price_kwh = NAN;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files)
        jb_cli_oom("report");
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
                model_name = argv[++i];
            continue;
        }
        if (!strcmp(a, "--compare-machines")) {
            compare_machines = 1;
            continue;
        }
        if (!strcmp(a, "--devices") || !strcmp(a, "--region") || !strcmp(a, "--price-kwh") ||
            !strcmp(a, "--machine-prices")) {
            if (i + 1 >= argc || !argv[i + 1][0])
                jb_cli_usage_error("report: %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--devices")) devices = (double)jb_cli_int(a, v, 1, 100000000);
            else if (!strcmp(a, "--region")) region = v;
            else if (!strcmp(a, "--price-kwh")) price_kwh = jb_cli_double(a, v, 0, 1e6);
            else prices_path = v;
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
    char msg[4600];
    /* Can we write there? Find out before anything is read or drawn. */
    if (jb_file_check_output(out, msg, sizeof msg))
        jb_cli_usage_error("report: cannot write the page: %s", msg);
    jb_model model;
    if (model_name && jb_model_load(model_name, &model, msg, sizeof msg))
        jb_cli_usage_error("report: %s", msg);
    if (!model_name && (devices > 0 || region || !isnan(price_kwh) || prices_path))
        jb_cli_usage_error("report: --devices, --region, --price-kwh and --machine-prices are for the projection: "
                           "give --model too");
    jb_machines_opts mo = {.model = model_name ? &model : NULL, .devices = devices > 0 ? devices : 1,
                           .kg_per_kwh = JB_WORLD_KG_PER_KWH, .pue = 1.1, .price_kwh = price_kwh};
    char grid[160], *prices = NULL;
    snprintf(grid, sizeof grid, "%.3f kg/kWh (world average, IEA 2019: no --region given)", mo.kg_per_kwh);
    if (region) {
        int year;
        char country[96];
        if (jb_grid_intensity(region, &mo.kg_per_kwh, &year, country, sizeof country, msg, sizeof msg))
            jb_cli_usage_error("report: %s", msg);
        snprintf(grid, sizeof grid, "%.3f kg/kWh (%s, %d)", mo.kg_per_kwh, country, year);
    }
    mo.grid = grid;
    if (prices_path) {
        if (jb_file_read(prices_path, (size_t)1 << 20, JB_FILE_TEXT, &prices, NULL, msg, sizeof msg) ||
            jb_machine_prices_check(prices, prices_path, msg, sizeof msg))
            jb_cli_usage_error("report: --machine-prices %s", msg);
        mo.prices_csv = prices;
        mo.prices_path = prices_path;
    }
    const cJSON **docs = calloc((size_t)nfiles, sizeof *docs);
    if (!docs)
        jb_cli_oom("report");
    for (int i = 0; i < nfiles; i++)
        if (!(docs[i] = jb_results_read(files[i], msg, sizeof msg)))
            jb_cli_usage_error("report: %s", msg);
    cJSON *page = jb_report_data(files, docs, (size_t)nfiles, model_name ? &model : NULL, msg, sizeof msg);
    /* The machines compared: asked for, or files from more than one machine. */
    size_t nmach = page ? jb_machines_count(docs, (size_t)nfiles) : 0;
    if (page && (compare_machines || nmach > 1 || devices > 0 || region || prices_path || !isnan(price_kwh))) {
        char why[96];
        snprintf(why, sizeof why, nmach > 1 ? "the files come from %zu machines" : "it was asked for: %zu machine%s",
                 nmach, nmach > 1 ? "s" : "");
        mo.why = why;
        cJSON *mach = jb_machines_data(cJSON_GetObjectItemCaseSensitive(page, "files"), docs, (size_t)nfiles, &mo,
                                       msg, sizeof msg);
        if (!mach)
            jb_cli_oom("report"); /* the price table was checked above */
        cJSON_AddItemToObject(page, "machines", mach);
    }
    free(prices);
    for (int i = 0; i < nfiles; i++)
        cJSON_Delete((cJSON *)docs[i]);
    free(docs);
    free(files);
    if (!page)
        jb_cli_usage_error("report: %s", msg);
    if (model_name) /* the page names the model as the user did, as `project --model` takes it */
        cJSON_ReplaceItemInObject(page, "model", cJSON_CreateString(model_name));

    char sbuf[4096];
    const char *script = script_path(sbuf, sizeof sbuf);
    if (access(script, R_OK) != 0)
        jb_cli_usage_error("report: cannot find the report script %s (set JB_REPORT_SCRIPT)", script);
    if (access(PYTHON, X_OK) != 0) {
        jb_cli_error("report: %s is missing (scripts/setup.sh installs python3 and python3-matplotlib)", PYTHON);
        cJSON_Delete(page);
        return JB_EXIT_FAIL;
    }
    const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char data[4200];
    snprintf(data, sizeof data, "%s/joulebench-report-XXXXXX", tmpdir);
    int fd = mkstemp(data);
    char *text = jb_json_text(page, 0);
    cJSON_Delete(page);
    if (fd < 0 || !text) {
        jb_cli_error("report: cannot write the page data to %s: %s", data, fd < 0 ? strerror(errno) : "out of memory");
        free(text);
        return JB_EXIT_FAIL;
    }
    FILE *f = fdopen(fd, "w");
    int ok = f && fputs(text, f) >= 0;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    int rc = ok ? draw(script, data, out) : -1;
    unlink(data);
    if (rc == 0) {
        fprintf(stderr, "joulebench: wrote %s\n", out);
        return JB_EXIT_OK;
    }
    if (rc == 3) /* the script could not import matplotlib, and said so */
        return JB_EXIT_FAIL;
    jb_cli_error("report: %s %s failed (%s)", PYTHON, script, rc < 0 ? "did not run" : "see above");
    return JB_EXIT_FAIL;
}
