/*
 * Where a run ran when Slurm started it: the job's facts from the SLURM_*
 * environment, put into the results' context as one "slurm" object, so a
 * results file of a fleet run says on which node, in which job and partition,
 * with how many CPUs and GPUs and at which requested CPU frequency it ran.
 */
#ifndef JB_SLURM_ENV_H
#define JB_SLURM_ENV_H

#include <cjson/cJSON.h>

/*
 * Adds ctx.slurm when the process runs inside a Slurm job (SLURM_JOB_ID is
 * set) and returns 1; adds nothing and returns 0 otherwise. The object holds
 * what the environment says, each key only when its variable is set:
 *   job_id, array_job_id, array_task_id, array_task_count, step_id (numbers)
 *   cluster, partition, node (SLURMD_NODENAME), nodelist, account, qos
 *   cpus_on_node, cpus_per_task, gpus_on_node (numbers)
 *   job_cpus_per_node, job_gpus, mem_per_node_mb, cpu_freq_req (strings as Slurm writes them:
 *     cpu_freq_req is --cpu-freq's value, in kHz or low/medium/high or a governor)
 *   target (JB_FLEET_TARGET: the placement scripts/fleet.sh asked for)
 * and always "version" (sinfo --version, or "unknown") and, where cpufreq
 * is readable, cpu_freq_khz (cpu0's scaling_cur_freq at the start). JB_ENOMEM
 * when out of memory.
 */
int jb_slurm_capture(cJSON *ctx);

#endif
