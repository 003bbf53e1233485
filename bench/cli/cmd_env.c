/* `joulebench env`: the settings a run records, which meters work here (and
 * why the others do not), and the machine's measured peaks. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "util/files.h"
#include "meters/meter.h"
#include "harness/peaks.h"
#include "harness/settings.h"

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
                   "it works here (and why not), and the measured peaks: fp32 FLOP/s of an FMA loop and\n"
                   "copy bandwidth (about a second; --no-peaks skips them).\n");
            return JB_EXIT_OK;
        } else
            jb_cli_usage_error("env: unknown option '%s' (try --help)", argv[i]);
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "settings");
    jb_settings_capture(ctx, "joulebench", jb_cpu_threads());
    jb_settings_capture_gpu(ctx, NULL, 0);
    cJSON_AddStringToObject(ctx, "gemm_blocking", jb_gemm_blocking()); /* block sizes from the caches */
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
        printf("peaks (measured now, %d threads)\n  fp32 FMA loop (%s)  %.1f GFLOP/s\n  copy bandwidth       %.1f GB/s\n",
               cJSON_GetObjectItem(p, "threads")->valueint, cJSON_GetObjectItem(p, "isa")->valuestring,
               cJSON_GetObjectItem(p, "flop_per_s")->valuedouble / 1e9,
               cJSON_GetObjectItem(p, "bytes_per_s")->valuedouble / 1e9);
    cJSON_Delete(doc);
    return JB_EXIT_OK;
}
