/*
 * matmul/cpu/onednn/bf16: the vendor baseline for bf16 C = A*B, oneDNN's
 * matmul on bf16 A and B with fp32 C (fp32 accumulation), next to
 * matmul/cpu/blocked/bf16. Setup (untimed) rounds A and B to bf16 by the same
 * rule as that kernel (to nearest even), and dequantized_inputs hands the
 * oracle the rounded values, so the check measures the kernel and not the
 * rounding. packed=0 gives the primitive B row-major, and whatever layout
 * conversion oneDNN wants happens inside execute, timed; packed=1 makes the
 * primitive with weights of format_tag any and reorders B into the layout it
 * chose in setup (benchdnn's --wtag=any).
 *
 * oneDNN 2.6 has bf16 matmul only where its CPU dispatcher has a bf16 path
 * (AVX-512 and up; none on AVX2-only CPUs such as AMD Zen 3): where it has
 * none the kernel is unavailable, with the status oneDNN answered, and a
 * shape it turns down in setup is skipped with that status, never an error.
 */
#include "onednn_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The best family this CPU has for bf16: oneDNN picks its kernel inside the
 * library (and heeds ONEDNN_MAX_CPU_ISA, not JB_ISA), so this is what it can
 * use, not what it is known to have used. */
static const char *path(const jb_problem *p, jb_family *family)
{
    (void)p;
    *family = jb_cpu_has_family(JB_FAM_AMX_BF16, NULL, 0)   ? JB_FAM_AMX_BF16
              : jb_cpu_has_family(JB_FAM_BF16_DOT, NULL, 0) ? JB_FAM_BF16_DOT
                                                            : JB_FAM_FP32_FMA;
    return "onednn";
}

#ifdef JB_HAVE_ONEDNN

#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>

#include "../cpu/bf16.h" /* rounding to bf16 as matmul/cpu/blocked/bf16 does */

/* Whether oneDNN has a bf16 matmul implementation here at all: its answer
 * for a small problem, asked once. */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static dnnl_status_t probe_status = dnnl_runtime_error;

static void probe(void)
{
    const jb_problem small = {.op = JB_OP_MATMUL, .m = 64, .n = 64, .k = 64, .packed = 1};
    dnnl_memory_desc_t a_md, b_md, w_md, c_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    probe_status = jb_onednn_matmul_desc(&small, dnnl_bf16, dnnl_bf16, &a_md, &b_md, &w_md, &c_md, &desc);
    if (probe_status == dnnl_success)
        probe_status = dnnl_primitive_desc_create(&pd, &desc, NULL, jb_onednn_engine(), NULL);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
}

static int has_bf16_matmul(char *why, size_t len)
{
    pthread_once(&probe_once, probe);
    if (probe_status == dnnl_success)
        return JB_OK;
    snprintf(why, len, "oneDNN %s has no bf16 matmul on this CPU (primitive descriptor: %s)", jb_onednn_version(),
             dnnl_status2str(probe_status));
    return JB_EUNAVAILABLE;
}

typedef struct mmb_state {
    jb_onednn_plan plan;
    jb_onednn_matmul mm;
    uint16_t *a16, *b16; /* A[m][k] and B[k][n] rounded to bf16 */
} mmb_state;

static void teardown(jb_exec *e)
{
    mmb_state *st = e->state;
    if (st) {
        jb_onednn_plan_free(&st->plan);
        free(st->a16);
        free(st->b16);
    }
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    const size_t na = (size_t)p->m * (size_t)p->k, nb = (size_t)p->k * (size_t)p->n;
    mmb_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->a16 = malloc(na * sizeof *st->a16);
    st->b16 = malloc(nb * sizeof *st->b16);
    if (!st->a16 || !st->b16)
        return JB_ENOMEM;
    for (size_t i = 0; i < na; i++)
        st->a16[i] = jb_bf16_round(e->in[0][i]);
    for (size_t i = 0; i < nb; i++)
        st->b16[i] = jb_bf16_round(e->in[1][i]);
    return jb_onednn_matmul_plan(&st->plan, p, dnnl_bf16, dnnl_bf16, st->a16, st->b16, NULL,
                                 "bf16 matmul (bf16 x bf16 -> f32)", &st->mm, e->why, sizeof e->why);
}

static int run(jb_exec *e)
{
    mmb_state *st = e->state;
    return jb_onednn_matmul_run(&st->plan, &st->mm, NULL, NULL, e->out); /* A and B: the plan's, since setup */
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const mmb_state *st = e->state;
    const jb_problem *p = e->p;
    if (!st)
        return JB_EINVAL;
    for (size_t i = 0; i < (size_t)p->m * (size_t)p->k; i++)
        deq[0][i] = jb_bf16_float(st->a16[i]);
    for (size_t i = 0; i < (size_t)p->k * (size_t)p->n; i++)
        deq[1][i] = jb_bf16_float(st->b16[i]);
    return JB_OK;
}

#endif /* JB_HAVE_ONEDNN */

static int available(char *why, size_t len)
{
    int rc = jb_onednn_available(why, len);
#ifdef JB_HAVE_ONEDNN
    if (rc == JB_OK)
        rc = has_bf16_matmul(why, len);
#endif
    return rc;
}

const jb_kernel jb_k_matmul_cpu_onednn_bf16 = {
    .name = "matmul/cpu/onednn/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "oneDNN bf16 matmul: bf16 A and B (rounded in setup), fp32 accumulate and out "
               "(packed=1: B reordered to oneDNN's choice in setup)",
    .available = available,
    .path = path,
    .setup = JB_ONEDNN_ONLY(setup),
    .run = JB_ONEDNN_RUN(run),
    .teardown = JB_ONEDNN_ONLY(teardown),
    .dequantized_inputs = JB_ONEDNN_ONLY(dequantized_inputs),
};
