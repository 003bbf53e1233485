/*
 * matmul/cpu/onednn/int8: the vendor baseline for quantized C = A*B, oneDNN's
 * int8 matmul (s8 A x s8 B, s32 accumulation, fp32 C through output scales).
 *
 * Quantization is symmetric and happens in setup, untimed: one scale sa for
 * all of A, one scale sb[j] per column of B, q = round(x / s) in [-127, 127].
 * oneDNN 2.6's matmul takes a scale per output column (output scales, mask
 * on dim 1), which is exactly sa * sb[j]; a per-row scale for A has no
 * counterpart there, hence per-tensor. A is s8, not u8, so no zero point is
 * needed. dequantized_inputs hands the oracle q*s, the values the kernel
 * multiplies, so verification measures the kernel and not the quantization.
 *
 * Where oneDNN's effective ISA has no VNNI (AVX2 or AVX-512 without it, e.g.
 * AMD Zen 3, or ONEDNN_MAX_CPU_ISA set below it), its kernels multiply with
 * vpmaddubsw, whose int16 pair sums saturate for full-range s8 weights (A is
 * shifted to u8: 2 * 255 * 127 > 32767). oneDNN's documented remedy is 7-bit
 * weights, so there B is quantized to [-63, 63] (2 * 255 * 63 < 32767) and
 * the result is exact again.
 *
 * B is quantized in setup either way. packed=0 hands the primitive the s8 B
 * row-major, and whatever layout conversion oneDNN wants happens inside
 * execute, timed; packed=1 makes the primitive with weights of format_tag
 * any and reorders the s8 B into the layout it chose (with any compensation
 * that layout carries) in setup, as benchdnn's --wtag=any does.
 */
#include "onednn_common.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Each product is at most 127*127 and the s32 accumulator must hold k of them. */
#define MAX_K ((int64_t)(INT32_MAX / (127 * 127)))

static int supports(const jb_problem *p, char *why, size_t len)
{
    if (p->k > MAX_K) {
        snprintf(why, len, "k = %lld exceeds %lld, beyond which the s32 accumulator can overflow",
                 (long long)p->k, (long long)MAX_K);
        return JB_EUNSUPPORTED;
    }
    return JB_OK;
}

/* The best family this CPU has for int8: oneDNN picks its kernel inside the
 * library (and heeds ONEDNN_MAX_CPU_ISA, not JB_ISA), so this is what it can
 * use, not what it is known to have used. */
static const char *path(const jb_problem *p, jb_family *family)
{
    (void)p;
    *family = jb_cpu_has_family(JB_FAM_AMX_INT8, NULL, 0)   ? JB_FAM_AMX_INT8
              : jb_cpu_has_family(JB_FAM_INT8_DOT, NULL, 0) ? JB_FAM_INT8_DOT
                                                            : JB_FAM_FP32_FMA;
    return "onednn";
}

#ifdef JB_HAVE_ONEDNN

typedef struct mm8_state {
    jb_onednn_plan plan;
    jb_onednn_matmul mm;
    int8_t *qa, *qb;   /* A[m][k] and B[k][n] quantized */
    float sa;          /* scale of A */
    float *sb;         /* scale of each column of B */
    float *oscale;     /* sa * sb[j]: what oneDNN multiplies column j of the s32 result by */
} mm8_state;

static float scale_of(float maxabs, float qmax)
{
    return maxabs > 0 ? maxabs / qmax : 1.0f;
}

static int8_t quantize(float x, float s, float qmax)
{
    float q = nearbyintf(x / s);
    return (int8_t)(q > qmax ? qmax : q < -qmax ? -qmax : q);
}

/* Largest |q| of B: 127, or 63 where oneDNN's int8 path would saturate. */
static float b_qmax(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    int vnni = (isa & dnnl_cpu_isa_avx512_core_vnni & ~dnnl_cpu_isa_avx512_core) ||
               (isa & dnnl_cpu_isa_avx2_vnni & ~dnnl_cpu_isa_avx2);
    return vnni ? 127.0f : 63.0f;
}

static void quantize_a(mm8_state *st, const float *a, size_t count)
{
    float mx = 0;
    for (size_t i = 0; i < count; i++)
        mx = fmaxf(mx, fabsf(a[i]));
    st->sa = scale_of(mx, 127.0f);
    for (size_t i = 0; i < count; i++)
        st->qa[i] = quantize(a[i], st->sa, 127.0f);
}

static void quantize_b(mm8_state *st, const float *b, int64_t k, int64_t n, float qmax)
{
    for (int64_t j = 0; j < n; j++)
        st->sb[j] = 0;
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            st->sb[j] = fmaxf(st->sb[j], fabsf(b[l * n + j]));
    for (int64_t j = 0; j < n; j++)
        st->sb[j] = scale_of(st->sb[j], qmax);
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            st->qb[l * n + j] = quantize(b[l * n + j], st->sb[j], qmax);
}

static void teardown(jb_exec *e)
{
    mm8_state *st = e->state;
    if (st) {
        jb_onednn_plan_free(&st->plan);
        free(st->qa);
        free(st->qb);
        free(st->sb);
        free(st->oscale);
    }
    free(st);
    e->state = NULL;
}

static int setup(jb_exec *e)
{
    const jb_problem *p = e->p;
    dnnl_primitive_attr_t attr = NULL;
    int rc;
    mm8_state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->qa = malloc((size_t)p->m * (size_t)p->k);
    st->qb = malloc((size_t)p->k * (size_t)p->n);
    st->sb = malloc((size_t)p->n * sizeof *st->sb);
    st->oscale = malloc((size_t)p->n * sizeof *st->oscale);
    if (!st->qa || !st->qb || !st->sb || !st->oscale)
        return JB_ENOMEM;
    quantize_a(st, e->in[0], (size_t)p->m * (size_t)p->k);
    quantize_b(st, e->in[1], p->k, p->n, b_qmax());
    for (int64_t j = 0; j < p->n; j++)
        st->oscale[j] = st->sa * st->sb[j];

    JB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    /* Mask bit 1: one scale per index of C's dim 1, the columns. */
    JB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, p->n, 1 << 1, st->oscale));
    rc = jb_onednn_matmul_plan(&st->plan, p, dnnl_s8, dnnl_s8, st->qa, st->qb, attr,
                               "matmul primitive (s8 x s8 -> f32)", &st->mm, e->why, sizeof e->why);
fail: /* success falls through: the primitive keeps its own copy of attr */
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int run(jb_exec *e)
{
    mm8_state *st = e->state;
    return jb_onednn_matmul_run(&st->plan, &st->mm, NULL, NULL, e->out); /* A and B: the plan's, since setup */
}

static int dequantized_inputs(const jb_exec *e, float *const deq[])
{
    const mm8_state *st = e->state;
    const jb_problem *p = e->p;
    for (size_t i = 0; i < (size_t)p->m * (size_t)p->k; i++)
        deq[0][i] = (float)st->qa[i] * st->sa;
    for (int64_t l = 0; l < p->k; l++)
        for (int64_t j = 0; j < p->n; j++)
            deq[1][l * p->n + j] = (float)st->qb[l * p->n + j] * st->sb[j];
    return JB_OK;
}

#endif /* JB_HAVE_ONEDNN */

const jb_kernel jb_k_matmul_cpu_onednn_int8 = {
    .name = "matmul/cpu/onednn/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "onednn",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "oneDNN int8 matmul: s8 A (per-tensor scale) x s8 B (per-column scales; 7-bit without VNNI), s32 accumulate, f32 out",
    .available = jb_onednn_available,
    .supports = supports,
    .path = path,
    .setup = JB_ONEDNN_ONLY(setup),
    .run = JB_ONEDNN_RUN(run),
    .teardown = JB_ONEDNN_ONLY(teardown),
    .dequantized_inputs = JB_ONEDNN_ONLY(dequantized_inputs),
};
