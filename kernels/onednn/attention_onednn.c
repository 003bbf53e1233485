/*
 * attention/cpu/onednn/f32: the vendor baseline for O = softmax(Q K^T / sqrt(d)) V,
 * composed from oneDNN primitives the way a framework without a fused
 * attention op runs it on oneDNN 2.6 (which has none), each batched over b*h:
 *
 *   1. S = Q K^T / sqrt(d): a matmul; K^T is K itself seen through a
 *      transposed memory descriptor (strides), so nothing is copied, and
 *      1/sqrt(d) is the matmul's output scale.
 *   2. causal only: S += M, a binary add, in place, of a precomputed q x n
 *      mask (0 on and below the diagonal, -inf above) broadcast over b*h.
 *   3. P = softmax(S) along the last axis, in place.
 *   4. O = P V: a second matmul.
 *
 * Why the mask is its own pass rather than a binary post-op of step 1: 2.6's
 * brgemm matmul cannot broadcast a [1][n][n] post-op tensor over the batch
 * (it falls back to the reference matmul, about 100x slower), and the 4-D
 * [1][b*h][n][n] form it does accept measured slower than the separate pass.
 *
 * Decode (q < n) is the same with q query rows: S is q x n, and the causal
 * mask lets query i, at position n - q + i, see keys 0 .. n - q + i.
 *
 * S is materialized: b*h*q*n floats in the caller's workspace. Causal problems
 * still compute the full q x n products (oneDNN cannot skip the masked half)
 * while the op's FLOPs count only half, so the baseline's FLOP/s shows that
 * waste honestly.
 */
#include "onednn_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int supports(const jb_problem *p, char *why, size_t len)
{
    /* Divide before multiplying: b*h*q*n itself may overflow. */
    const int64_t nq = jb_attention_q(p);
    if (nq > JB_DIM_MAX / p->seq || p->b * p->h > JB_DIM_MAX / (nq * p->seq)) {
        snprintf(why, len, "the b*h*q*n score tensor would exceed %lld elements", (long long)JB_DIM_MAX);
        return JB_EUNSUPPORTED;
    }
    return JB_OK;
}

static size_t workspace(const jb_problem *p)
{
    return (size_t)(p->b * p->h) * (size_t)jb_attention_q(p) * (size_t)p->seq * sizeof(float);
}

#ifdef JB_HAVE_ONEDNN

typedef struct att_state {
    jb_onednn_plan plan;
    dnnl_memory_t q, kt, s, v, o, mask;
    dnnl_primitive_t qk, add_mask, sm, pv; /* add_mask: causal only */
    float *mask_buf;                       /* q x n, causal only */
} att_state;

static void teardown(jb_exec *e)
{
    att_state *st = e->state;
    if (st) {
        jb_onednn_plan_free(&st->plan);
        free(st->mask_buf);
    }
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const dnnl_dim_t bh = p->b * p->h, n = p->seq, nq = jb_attention_q(p), d = p->d;
    dnnl_primitive_attr_t attr = NULL;
    int rc;
    att_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    if ((rc = jb_onednn_plan_init(&st->plan)))
        return rc;

    dnnl_memory_desc_t q_md, kt_md, s_md, v_md, o_md, mask_md;
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&q_md, 3, (dnnl_dims_t){bh, nq, d}, dnnl_f32, dnnl_abc));
    /* K is [bh][n][d] row-major; read as the [bh][d][n] operand K^T its strides are (n*d, 1, d). */
    JB_DNNL_TRY(dnnl_memory_desc_init_by_strides(&kt_md, 3, (dnnl_dims_t){bh, d, n}, dnnl_f32,
                                                 (dnnl_dims_t){n * d, 1, d}));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&s_md, 3, (dnnl_dims_t){bh, nq, n}, dnnl_f32, dnnl_abc));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&v_md, 3, (dnnl_dims_t){bh, n, d}, dnnl_f32, dnnl_abc));
    JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&o_md, 3, (dnnl_dims_t){bh, nq, d}, dnnl_f32, dnnl_abc));

    /* 1. S = Q K^T / sqrt(d) */
    dnnl_matmul_desc_t qk_desc;
    const float scale = 1.0f / sqrtf((float)d);
    JB_DNNL_TRY(dnnl_matmul_desc_init(&qk_desc, &q_md, &kt_md, NULL, &s_md));
    JB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    JB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale));
    if ((rc = jb_onednn_plan_primitive(&st->plan, &qk_desc, attr, "matmul primitive (Q K^T)", &st->qk)))
        goto fail;

    /* 2. S += causal mask */
    if (p->causal) {
        if (!(st->mask_buf = malloc((size_t)nq * (size_t)n * sizeof *st->mask_buf))) {
            rc = JB_ENOMEM;
            goto fail;
        }
        /* -inf, not a large negative number: exp gives exactly 0, as the oracle's masked entries are. */
        for (dnnl_dim_t i = 0; i < nq; i++)
            for (dnnl_dim_t j = 0; j < n; j++)
                st->mask_buf[i * n + j] = j <= n - nq + i ? 0.0f : -INFINITY;
        dnnl_binary_desc_t add_desc;
        JB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&mask_md, 3, (dnnl_dims_t){1, nq, n}, dnnl_f32, dnnl_abc));
        JB_DNNL_TRY(dnnl_binary_desc_init(&add_desc, dnnl_binary_add, &s_md, &mask_md, &s_md));
        if ((rc = jb_onednn_plan_primitive(&st->plan, &add_desc, NULL, "binary primitive (causal mask)",
                                           &st->add_mask)) ||
            (rc = jb_onednn_plan_memory(&st->plan, &mask_md, st->mask_buf, &st->mask)))
            goto fail;
    }

    /* 3. P = softmax(S) */
    dnnl_softmax_desc_t sm_desc;
    JB_DNNL_TRY(dnnl_softmax_forward_desc_init(&sm_desc, dnnl_forward_inference, &s_md, 2));
    if ((rc = jb_onednn_plan_primitive(&st->plan, &sm_desc, NULL, "softmax primitive", &st->sm)))
        goto fail;

    /* 4. O = P V */
    dnnl_matmul_desc_t pv_desc;
    JB_DNNL_TRY(dnnl_matmul_desc_init(&pv_desc, &s_md, &v_md, NULL, &o_md));
    if ((rc = jb_onednn_plan_primitive(&st->plan, &pv_desc, NULL, "matmul primitive (P V)", &st->pv)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &q_md, NULL, &st->q)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &kt_md, NULL, &st->kt)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &s_md, NULL, &st->s)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &v_md, NULL, &st->v)) ||
        (rc = jb_onednn_plan_memory(&st->plan, &o_md, NULL, &st->o)) ||
        (rc = jb_onednn_plan_finish(&st->plan)))
        goto fail;
fail: /* success falls through: the primitive keeps its own copy of attr */
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int run(jb_exec *e)
{
    att_state *st = e->state;
    int rc;
    if ((rc = jb_onednn_bind(st->q, e->in[0])) || (rc = jb_onednn_bind(st->kt, e->in[1])) ||
        (rc = jb_onednn_bind(st->v, e->in[2])) || (rc = jb_onednn_bind(st->s, e->ws)) ||
        (rc = jb_onednn_bind(st->o, e->out)))
        return rc;
    const dnnl_exec_arg_t qk[] = {
        {DNNL_ARG_SRC, st->q},
        {DNNL_ARG_WEIGHTS, st->kt},
        {DNNL_ARG_DST, st->s},
    };
    const dnnl_exec_arg_t add_mask[] = {
        {DNNL_ARG_SRC_0, st->s},
        {DNNL_ARG_SRC_1, st->mask},
        {DNNL_ARG_DST, st->s},
    };
    const dnnl_exec_arg_t sm[] = {
        {DNNL_ARG_SRC, st->s},
        {DNNL_ARG_DST, st->s},
    };
    const dnnl_exec_arg_t pv[] = {
        {DNNL_ARG_SRC, st->s},
        {DNNL_ARG_WEIGHTS, st->v},
        {DNNL_ARG_DST, st->o},
    };
    /* The stream runs in order, so one wait at the end covers every step. */
    if ((rc = jb_onednn_plan_execute(&st->plan, st->qk, 3, qk)) ||
        (st->add_mask && (rc = jb_onednn_plan_execute(&st->plan, st->add_mask, 3, add_mask))) ||
        (rc = jb_onednn_plan_execute(&st->plan, st->sm, 2, sm)) ||
        (rc = jb_onednn_plan_execute(&st->plan, st->pv, 3, pv)))
        return rc;
    return jb_onednn_plan_wait(&st->plan);
}

#endif /* JB_HAVE_ONEDNN */

const jb_kernel jb_k_attention_cpu_onednn_f32 = {
    .name = "attention/cpu/onednn/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "oneDNN matmul (Q K^T) [+ binary mask] + softmax + matmul (P V), q x n scores in workspace",
    .decode = 1,
    .available = jb_onednn_available,
    .supports = supports,
    .workspace_size = workspace,
    .setup = JB_ONEDNN_ONLY(setup),
    .run = JB_ONEDNN_RUN(run),
    .teardown = JB_ONEDNN_ONLY(teardown),
};
