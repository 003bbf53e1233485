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
    dnnl_memory_t a, b, c;
    dnnl_primitive_t mm;
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
    const jb_problem *p = e->p;
    int rc;
    mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    if ((rc = jb_onednn_plan_init(&st->plan)))
        return rc;

    /* b_md: B as the caller holds it; w_md: what the primitive is asked to take. */
    dnnl_memory_desc_t a_md, b_md, c_md, w_md;
    dnnl_matmul_desc_t desc;
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&a_md, 2, (dnnl_dims_t){p->m, p->k}, dnnl_f32, dnnl_ab));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 2, (dnnl_dims_t){p->k, p->n}, dnnl_f32, dnnl_ab));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&c_md, 2, (dnnl_dims_t){p->m, p->n}, dnnl_f32, dnnl_ab));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_md, 2, (dnnl_dims_t){p->k, p->n}, dnnl_f32,
                                             p->packed ? dnnl_format_tag_any : dnnl_ab));
    JB_DNNL_TRY(dnnl_matmul_desc_init(&desc, &a_md, &w_md, NULL, &c_md));
    if ((rc = jb_onednn_plan_primitive(&st->plan, &desc, NULL, "matmul primitive (f32)", &st->mm)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &a_md, NULL, &st->a)) ||
        (rc = p->packed ? jb_onednn_plan_prepack(&st->plan, st->mm, &b_md, e->in[1], &st->b)
                        : jb_onednn_plan_memory(&st->plan, &b_md, NULL, &st->b)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &c_md, NULL, &st->c)) ||
        (rc = jb_onednn_plan_finish(&st->plan)))
        return rc;
    return JB_OK;
fail:
    return rc;
}

static int run(jb_exec *e)
{
    mm_state *st = e->state;
    int rc;
    /* Pre-packed B (packed=1) is the plan's own buffer, bound since setup. */
    if ((rc = jb_onednn_bind(st->a, e->in[0])) || (!e->p->packed && (rc = jb_onednn_bind(st->b, e->in[1]))) ||
        (rc = jb_onednn_bind(st->c, e->out)))
        return rc;
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, st->a},
        {DNNL_ARG_WEIGHTS, st->b},
        {DNNL_ARG_DST, st->c},
    };
    if ((rc = jb_onednn_plan_execute(&st->plan, st->mm, 3, args)))
        return rc;
    return jb_onednn_plan_wait(&st->plan);
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
