/* The Slurm job a run is part of, from its environment (slurm_env.h). */
#include "harness/slurm_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/settings.h"
#include "jb_kernels.h"

/* Environment values are kept to this many bytes: a node list can be long. */
#define MAX_VALUE 1024

typedef enum { AS_STRING, AS_NUMBER } kind;

/* Which variable becomes which key. */
static const struct {
    const char *var, *key;
    kind as;
} vars[] = {
    {"SLURM_JOB_ID", "job_id", AS_NUMBER},
    {"SLURM_ARRAY_JOB_ID", "array_job_id", AS_NUMBER},
    {"SLURM_ARRAY_TASK_ID", "array_task_id", AS_NUMBER},
    {"SLURM_ARRAY_TASK_COUNT", "array_task_count", AS_NUMBER},
    {"SLURM_STEP_ID", "step_id", AS_NUMBER},
    {"SLURM_CLUSTER_NAME", "cluster", AS_STRING},
    {"SLURM_JOB_PARTITION", "partition", AS_STRING},
    {"SLURMD_NODENAME", "node", AS_STRING},
    {"SLURM_JOB_NODELIST", "nodelist", AS_STRING},
    {"SLURM_JOB_ACCOUNT", "account", AS_STRING},
    {"SLURM_JOB_QOS", "qos", AS_STRING},
    {"SLURM_CPUS_ON_NODE", "cpus_on_node", AS_NUMBER},
    {"SLURM_CPUS_PER_TASK", "cpus_per_task", AS_NUMBER},
    {"SLURM_JOB_CPUS_PER_NODE", "job_cpus_per_node", AS_STRING},
    {"SLURM_GPUS_ON_NODE", "gpus_on_node", AS_NUMBER},
    {"SLURM_JOB_GPUS", "job_gpus", AS_STRING},
    {"SLURM_MEM_PER_NODE", "mem_per_node_mb", AS_STRING},
    {"SLURM_CPU_FREQ_REQ", "cpu_freq_req", AS_STRING},
    {"JB_FLEET_TARGET", "target", AS_STRING},
};

/* A whole non-negative decimal number, as Slurm writes ids and counts. */
static int whole_number(const char *s, double *v)
{
    if (!*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
        return 0;
    *v = strtod(s, NULL);
    return 1;
}

/* "slurm-wlm 22.05.8" -> "22.05.8": the version of the Slurm commands on this node. */
static void slurm_version(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *p = popen("sinfo --version 2>/dev/null", "r");
    if (!p)
        return;
    char line[128];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        const char *v = strrchr(line, ' ');
        v = v ? v + 1 : line;
        if (*v)
            snprintf(buf, len, "%s", v);
    }
    pclose(p);
}

int jb_slurm_capture(cJSON *ctx)
{
    const char *job = getenv("SLURM_JOB_ID");
    if (!job || !*job)
        return 0;
    cJSON *s = cJSON_AddObjectToObject(ctx, "slurm");
    if (!s)
        return JB_ENOMEM;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].var);
        if (!v || !*v)
            continue;
        char value[MAX_VALUE + 1];
        snprintf(value, sizeof value, "%s", v);
        double x;
        cJSON *item = vars[i].as == AS_NUMBER && whole_number(value, &x) ? cJSON_CreateNumber(x)
                                                                          : cJSON_CreateString(value);
        if (!item || !cJSON_AddItemToObject(s, vars[i].key, item))
            return JB_ENOMEM;
    }
    char buf[128];
    slurm_version(buf, sizeof buf);
    cJSON_AddStringToObject(s, "version", buf);
    /* What the node runs at, beside what was asked: without a cpufreq driver
     * (many VMs) --cpu-freq has no effect and there is nothing to read here. */
    if (!jb_read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", buf, sizeof buf) &&
        whole_number(buf, &(double){0}))
        cJSON_AddNumberToObject(s, "cpu_freq_khz", strtod(buf, NULL));
    return 1;
}
