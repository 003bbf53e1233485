/* `joulebench list`: every registered kernel, and why any cannot run here. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/files.h"

int jb_cmd_list(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: joulebench list [--json]\n\n"
                   "Lists every kernel (op/backend/variant/dtype) with its tolerance against the fp64\n"
                   "oracle and whether it can run here; when not, why (built without the library,\n"
                   "no CUDA device, CPU lacks a flag). --json prints the same as a JSON array.\n");
            return JB_EXIT_OK;
        } else
            jb_cli_usage_error("list: unknown option '%s' (try --help)", argv[i]);
    }
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-28s %-9s %-9s %-5s %-8s %s\n", "kernel", "op", "variant", "dtype", "tol", "status");
    size_t n_avail = 0;
    for (size_t i = 0; i < jb_registry_count(); i++) {
        const jb_kernel *k = jb_registry_get(i);
        char why[256];
        int ok = jb_kernel_available(k, why, sizeof why) == JB_OK;
        n_avail += ok;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", k->name);
            cJSON_AddStringToObject(o, "op", jb_op_name(k->op));
            cJSON_AddStringToObject(o, "backend", jb_backend_name(k->backend));
            cJSON_AddStringToObject(o, "variant", k->variant);
            cJSON_AddStringToObject(o, "dtype", jb_dtype_name(k->dtype));
            cJSON_AddNumberToObject(o, "tolerance", k->tolerance);
            cJSON_AddStringToObject(o, "summary", k->summary ? k->summary : "");
            cJSON_AddBoolToObject(o, "available", ok);
            if (!ok)
                cJSON_AddStringToObject(o, "reason", why);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-28s %-9s %-9s %-5s %-8.0e %s%s%s\n", k->name, jb_op_name(k->op), k->variant,
                   jb_dtype_name(k->dtype), k->tolerance, ok ? "available" : "unavailable: ", ok ? "" : why,
                   "");
        }
    }
    if (json) {
        jb_json_print(stdout, arr);
        cJSON_Delete(arr);
    } else {
        printf("\n%zu kernels, %zu available here\n", jb_registry_count(), n_avail);
    }
    return JB_EXIT_OK;
}
