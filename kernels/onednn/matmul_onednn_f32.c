/* matmul/cpu/onednn/f32: not written yet; reported unavailable until it is. */
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

const jb_kernel jb_k_matmul_cpu_onednn_f32 = {
    .name = "matmul/cpu/onednn/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .available = unavailable,
    .run = run,
};
