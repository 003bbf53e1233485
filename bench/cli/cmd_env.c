/* `joulebench env`: the settings a run records, which meters work here (and
 * why the others do not), and the machine's measured peaks. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "util/files.h"
#include "meters/meter.h"
#include "harness/peaks.h"
#include "harness/results.h"
#include "harness/settings.h"

/* The peaks as text: each family the CPU has with its instruction and unit
 * (GOP/s for int8: integer multiply-adds, not FLOPs), why each other is
 * absent, and the copy bandwidth. */
static void print_peaks(const cJSON *p)
{
    const cJSON *fams = cJSON_GetObjectItem(p, "families");
    printf("peaks (measured now, %d threads, one per instruction family)\n",
           cJSON_GetObjectItem(p, "threads")->valueint);
    for (int f = 0; f < JB_FAM_COUNT; f++) {
        const char *name = jb_family_name((jb_family)f);
        const cJSON *x = cJSON_GetObjectItem(fams, name);
        char why[160];
        if (!x) {
            jb_cpu_has_family((jb_family)f, why, sizeof why);
            printf("  %-9s %-28s -  (%s)\n", name, "", why);
            continue;
        }
        int ints = f == JB_FAM_INT8_DOT || f == JB_FAM_AMX_INT8;
        printf("  %-9s %-28s %8.1f %s\n", name, cJSON_GetObjectItem(x, "instruction")->valuestring,
               cJSON_GetObjectItem(x, "ops_per_s")->valuedouble / 1e9, ints ? "GOP/s" : "GFLOP/s");
    }
    printf("  %-38s %8.1f GB/s\n", "copy bandwidth", cJSON_GetObjectItem(p, "bytes_per_s")->valuedouble / 1e9);
}

int jb_cmd_env(int argc, char **argv)
{
    int json = 0, peaks_on = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--no-peaks"))
            peaks_on = 0;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: joulebench env [--json] [--no-peaks]\n\n"
                   "Prints the settings every run records (CPU, flags, threads and affinity, governor,\n"
                   "boost, load, compiler, library versions, git commit; the GPU and its NVML settings,\n"
                   "or why there is none), each energy meter and whether\n"
                   "it works here (and why not), and the measured peaks: one per instruction family the\n"
                   "CPU has (fp32_fma, bf16_dot, int8_dot, amx_bf16, amx_int8: a loop of that\n"
                   "instruction on every thread; float families in FLOP/s, int8 in ops/s, a\n"
                   "multiply-add counting 2), and copy bandwidth (about a second and a quarter second\n"
                   "a family; --no-peaks skips them). --json: peaks.families.<family> is\n"
                   "{\"ops_per_s\", \"instruction\"}, absent where the CPU lacks the family.\n");
            return JB_EXIT_OK;
        } else
            jb_cli_usage_error("env: unknown option '%s' (try --help)", argv[i]);
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "settings");
    jb_settings_capture(ctx, "joulebench", jb_cpu_threads());
    jb_settings_capture_gpu(ctx, NULL, 0);
    cJSON *meters = cJSON_AddArrayToObject(doc, "meters");
    jb_meter_config cfg = {0};
    for (int k = 0; k < JB_METER_KIND_COUNT; k++) {
        jb_meter *m = NULL;
        char why[512] = "";
        int rc = jb_meter_open((jb_meter_kind)k, &cfg, &m, why, sizeof why);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "meter", jb_meter_kind_name((jb_meter_kind)k));
        cJSON_AddBoolToObject(o, "available", rc == 0);
        if (rc == 0) {
            cJSON_AddStringToObject(o, "energy", jb_meter_is_measured(m) ? "measured" : "estimated");
            cJSON_AddStringToObject(o, "provenance", jb_meter_provenance(m));
            cJSON_AddNumberToObject(o, "update_period_s", jb_meter_update_period(m));
        } else {
            cJSON_AddStringToObject(o, "reason", why);
        }
        cJSON_AddItemToArray(meters, o);
        jb_meter_free(m);
    }
    if (peaks_on) {
        jb_peaks pk;
        if (jb_peaks_measure(&pk) == 0) {
            cJSON *p = cJSON_AddObjectToObject(doc, "peaks");
            cJSON_AddNumberToObject(p, "flop_per_s", pk.flop_per_s);
            cJSON_AddNumberToObject(p, "bytes_per_s", pk.bytes_per_s);
            cJSON_AddStringToObject(p, "isa", pk.isa);
            cJSON_AddNumberToObject(p, "threads", pk.threads);
            cJSON_AddNumberToObject(p, "copy_buffer_bytes", (double)pk.copy_bytes);
            if (jb_results_add_peak_families(p, "families", &pk))
                jb_cli_oom("env");
        }
    }
    if (json) {
        jb_json_print(stdout, doc);
        cJSON_Delete(doc);
        return JB_EXIT_OK;
    }
    printf("settings\n");
    const cJSON *it;
    cJSON_ArrayForEach(it, ctx)
    {
        if (cJSON_IsString(it))
            printf("  %-20s %s\n", it->string, it->valuestring);
        else if (cJSON_IsNumber(it))
            printf("  %-20s %g\n", it->string, it->valuedouble);
        else if (cJSON_IsBool(it))
            printf("  %-20s %s\n", it->string, cJSON_IsTrue(it) ? "true" : "false");
        else if (cJSON_IsObject(it)) { /* gpu_settings */
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                if (cJSON_IsString(x))
                    printf("  %-20s %s\n", x->string, x->valuestring);
                else if (cJSON_IsNumber(x))
                    printf("  %-20s %g\n", x->string, x->valuedouble);
            }
        }
        else if (!strcmp(it->string, "load_avg")) {
            printf("  %-20s", it->string);
            const cJSON *x;
            cJSON_ArrayForEach(x, it) printf(" %.2f", x->valuedouble);
            printf("\n");
        } else if (!strcmp(it->string, "caches")) {
            const cJSON *x;
            cJSON_ArrayForEach(x, it)
            {
                printf("  cache L%-13d %s %d KiB (shared by %d)\n",
                       cJSON_GetObjectItem(x, "level")->valueint, cJSON_GetObjectItem(x, "type")->valuestring,
                       cJSON_GetObjectItem(x, "size")->valueint / 1024,
                       cJSON_GetObjectItem(x, "num_sharing")->valueint);
            }
        }
    }
    printf("meters\n");
    cJSON_ArrayForEach(it, meters)
    {
        const char *name = cJSON_GetObjectItem(it, "meter")->valuestring;
        if (cJSON_IsTrue(cJSON_GetObjectItem(it, "available")))
            printf("  %-6s available, %s: %s\n", name, cJSON_GetObjectItem(it, "energy")->valuestring,
                   cJSON_GetObjectItem(it, "provenance")->valuestring);
        else
            printf("  %-6s unavailable: %s\n", name, cJSON_GetObjectItem(it, "reason")->valuestring);
    }
    const cJSON *p = cJSON_GetObjectItem(doc, "peaks");
    if (p)
        print_peaks(p);
    cJSON_Delete(doc);
    return JB_EXIT_OK;
}
