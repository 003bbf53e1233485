/* matmul/cpu/blocked/int8: not written yet; reported unavailable until it is. */
#include "../jb_kernels.h"

#include <stdio.h>

static int unavailable(char *why, size_t len)
{
    snprintf(why, len, "not implemented yet");
    return JB_EUNAVAILABLE;
}

static int run(jb_exec *e)
{
    (void)e;
    return JB_EUNAVAILABLE;
}

const jb_kernel jb_k_matmul_cpu_blocked_int8 = {
    .name = "matmul/cpu/blocked/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "blocked",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .available = unavailable,
    .run = run,
};
