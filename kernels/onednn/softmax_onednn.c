/*
 * softmax/cpu/onednn/f32: the vendor baseline for row-wise softmax, one
 * oneDNN softmax primitive (axis 1) over X[rows][cols] -> Y[rows][cols].
 *
 * oneDNN's softmax has no input scale and no mask, so problems with
 * scale != 1 or causal = 1 are reported unsupported (a skip, not a failure)
 * rather than run as a separate scaling or masking pass: that extra pass
 * over memory would be joulebench's code timed under oneDNN's name, and for
 * a memory-bound op it would double the traffic being measured.
 */
#include "onednn_common.h"

#include <stdio.h>
#include <stdlib.h>

static int supports(const jb_problem *p, char *why, size_t len)
{
    const int scaled = p->scale != 0 && p->scale != 1;
    /* With one column the causal mask keeps everything, so it changes nothing. */
    const int masked = p->causal && p->cols > 1;
    if (scaled || masked) {
        snprintf(why, len, "oneDNN softmax has no scale or mask (this problem has %s)",
                 scaled && masked ? "scale != 1 and causal=1" : scaled ? "scale != 1" : "causal=1");
        return JB_EUNSUPPORTED;
    }
    return JB_OK;
}

#ifdef JB_HAVE_ONEDNN

typedef struct sm_state {
    jb_onednn_plan plan;
    dnnl_memory_t x, y;
    dnnl_primitive_t sm;
} sm_state;

static void teardown(jb_exec *e)
{
    sm_state *st = e->state;
    if (st)
        jb_onednn_plan_free(&st->plan);
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    int rc;
    sm_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    if ((rc = jb_onednn_plan_init(&st->plan)))
        return rc;
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t desc;
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&md, 2, (dnnl_dims_t){p->rows, p->cols}, dnnl_f32, dnnl_ab));
    JB_DNNL_TRY(dnnl_softmax_forward_desc_init(&desc, dnnl_forward_inference, &md, 1));
    if ((rc = jb_onednn_plan_primitive(&st->plan, &desc, NULL, "softmax primitive", &st->sm)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &md, NULL, &st->x)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &md, NULL, &st->y)) ||
        (rc = jb_onednn_plan_finish(&st->plan)))
        return rc;
    return JB_OK;
fail:
    return rc;
}

static int run(jb_exec *e)
{
    sm_state *st = e->state;
    int rc;
    if ((rc = jb_onednn_bind(st->x, e->in[0])) || (rc = jb_onednn_bind(st->y, e->out)))
        return rc;
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, st->x},
        {DNNL_ARG_DST, st->y},
    };
    if ((rc = jb_onednn_plan_execute(&st->plan, st->sm, 2, args)))
        return rc;
    return jb_onednn_plan_wait(&st->plan);
}

#endif /* JB_HAVE_ONEDNN */

const jb_kernel jb_k_softmax_cpu_onednn_f32 = {
    .name = "softmax/cpu/onednn/f32",
    .op = JB_OP_SOFTMAX,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "oneDNN softmax primitive, axis 1 (no scale, no causal mask)",
    .available = jb_onednn_available,
    .supports = supports,
    .setup = JB_ONEDNN_ONLY(setup),
    .run = JB_ONEDNN_RUN(run),
    .teardown = JB_ONEDNN_ONLY(teardown),
};
