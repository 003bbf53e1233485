/* The backend table: what the harness may ask of each device, by jb_backend. */
#include "jb_kernels.h"

extern const jb_backend_ops jb_cpu_backend_ops;  /* kernels/cpu/cpu_backend.c */
extern const jb_backend_ops jb_cuda_backend_ops; /* kernels/cuda/cuda_common.c */

static const jb_backend_ops *const table[] = {
    [JB_BACKEND_CPU] = &jb_cpu_backend_ops,
    [JB_BACKEND_CUDA] = &jb_cuda_backend_ops,
};
_Static_assert(sizeof table / sizeof table[0] == JB_BACKEND_COUNT, "a backend without its entry in the table");

const jb_backend_ops *jb_backend_get(jb_backend be)
{
    return (unsigned)be < JB_BACKEND_COUNT ? table[be] : NULL;
}
