/*
 * matmul/cpu/onednn/f32: the vendor baseline for C = A*B in fp32, one oneDNN
 * matmul primitive on the caller's row-major A[m][k], B[k][n], C[m][n].
 * With packed=0 B stays in the plain layout the other kernels get, and
 * whatever conversion oneDNN wants happens inside execute, timed, as the
 * blocked kernels pack B in their run. With packed=1 the primitive is made
 * with weights of format_tag any and B is reordered into the layout it
 * chose, in setup (benchdnn's --wtag=any), as the blocked kernels then
 * pre-pack B. Primitive creation happens in setup; run binds the pointers
 * and executes.
 */
#include "onednn_common.h"

#include <stdlib.h>

#ifdef JB_HAVE_ONEDNN

typedef struct mm_state {
    jb_onednn_plan plan;
    jb_onednn_matmul mm;
} mm_state;

static void teardown(jb_exec *e)
{
    mm_state *st = e->state;
    if (st)
        jb_onednn_plan_free(&st->plan);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    /* A and B bound in the run, as the caller holds them; with packed=1 B
     * is reordered now into the plan's own buffer. */
    return jb_onednn_matmul_plan(&st->plan, e->p, dnnl_f32, dnnl_f32, NULL, e->p->packed ? e->in[1] : NULL, NULL,
                                 "matmul primitive (f32)", &st->mm, e->why, sizeof e->why);
}

static int run(jb_exec *e)
{
    mm_state *st = e->state;
    /* Pre-packed B (packed=1) is the plan's own buffer, bound since setup. */
    return jb_onednn_matmul_run(&st->plan, &st->mm, e->in[0], e->p->packed ? NULL : e->in[1], e->out);
}

#endif /* JB_HAVE_ONEDNN */

const jb_kernel jb_k_matmul_cpu_onednn_f32 = {
    .name = "matmul/cpu/onednn/f32",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "oneDNN matmul primitive, plain row-major A and B (packed=1: B reordered to oneDNN's choice in setup)",
    .available = jb_onednn_available,
    .setup = JB_ONEDNN_ONLY(setup),
    .run = JB_ONEDNN_RUN(run),
    .teardown = JB_ONEDNN_ONLY(teardown),
};
