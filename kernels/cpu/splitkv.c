/*
 * The split-KV driver (splitkv.h): the plan, the tasks' online softmax over
 * blocks of keys, and the log-sum-exp merge of the chunks. What is read per
 * key (fp32 or int8 rows) is the kernels' (jb_splitkv_ops); the softmax
 * statistics here are the same for both.
 */
#include "splitkv.h"
#include "vexp.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static size_t round64(size_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

void jb_splitkv_make_plan(const jb_problem *p, int threads, jb_splitkv_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->threads = threads < 1 ? 1 : threads;
    pl->heads = p->b * p->h;
    pl->nq = jb_attention_q(p);
    pl->n = p->seq;
    pl->d = p->d;
    pl->dp = ceil_div(p->d, 8) * 8;
    pl->ngroups = ceil_div(pl->nq, JB_SPLITKV_QB);
    const int64_t base = pl->heads * pl->ngroups, want = (int64_t)JB_SPLITKV_TASKS_PER_THREAD * pl->threads;
    int64_t nchunks = 1;
    if (base < want) {
        nchunks = jb_min64(ceil_div(want, base), pl->n / JB_SPLITKV_MIN_CHUNK);
        if (nchunks < 1)
            nchunks = 1;
    }
    pl->chunk = ceil_div(ceil_div(pl->n, nchunks), JB_SPLITKV_ALIGN) * JB_SPLITKV_ALIGN;
    pl->nchunks = ceil_div(pl->n, pl->chunk);
    pl->ntasks = base * pl->nchunks;
    /* qs, acc and a block's P*V, two score blocks (the pipeline's current and previous), m and l. */
    pl->thread_bytes = round64((size_t)(3 * JB_SPLITKV_QB * pl->dp + 2 * JB_SPLITKV_QB * JB_SPLITKV_BLOCK +
                                        2 * JB_SPLITKV_QB) *
                               sizeof(float));
    pl->partial_bytes = pl->nchunks > 1 ? (size_t)(pl->heads * pl->nq * pl->nchunks) *
                                              (size_t)JB_SPLITKV_PSTRIDE(pl->dp) * sizeof(float)
                                        : 0;
}

static size_t plan_bytes(const jb_splitkv_plan *pl)
{
    return (size_t)pl->threads * pl->thread_bytes + pl->partial_bytes;
}

size_t jb_splitkv_workspace(const jb_problem *p)
{
    jb_splitkv_plan pl;
    jb_splitkv_make_plan(p, jb_cpu_threads(), &pl);
    return plan_bytes(&pl);
}

void jb_splitkv_merge_row(const float *part, int64_t nchunks, int64_t dp, int64_t d, const float *vscale,
                          float *out)
{
    const int64_t stride = JB_SPLITKV_PSTRIDE(dp);
    float mx = -INFINITY, sum = 0;
    for (int64_t c = 0; c < nchunks; c++) {
        const float *pc = part + c * stride;
        if (pc[dp + 1] > 0 && pc[dp] > mx)
            mx = pc[dp];
    }
    for (int64_t x = 0; x < d; x++)
        out[x] = 0;
    for (int64_t c = 0; c < nchunks; c++) {
        const float *pc = part + c * stride;
        if (!(pc[dp + 1] > 0))
            continue; /* no key of this chunk is visible to the row: its acc was never written */
        const float w = expf(pc[dp] - mx);
        sum += w * pc[dp + 1];
        for (int64_t x = 0; x < d; x++)
            out[x] += w * pc[x];
    }
    const float inv = 1.0f / sum;
    if (vscale)
        for (int64_t x = 0; x < d; x++)
            out[x] *= inv * vscale[x];
    else
        for (int64_t x = 0; x < d; x++)
            out[x] *= inv;
}

static float row_max(jb_isa isa, const float *s, int64_t n)
{
#ifdef JB_VEXP_X86
    if (isa >= JB_ISA_AVX2)
        return jb_row_max_avx2(s, n);
#endif
    (void)isa;
    return jb_row_max_portable(s, n);
}

/* s = e^(s - m) over s[0..n); returns the sum. */
static float row_exp_sum(jb_isa isa, float *s, int64_t n, float m)
{
#ifdef JB_VEXP_X86
    if (isa >= JB_ISA_AVX2)
        return jb_row_exp_sum_avx2(s, n, 1.0f, -m);
#endif
    (void)isa;
    return jb_row_exp_sum_portable(s, n, 1.0f, -m);
}

/* One task: query group g of head bh against chunk c (see splitkv.h). */
static void run_task(const jb_splitkv_plan *pl, const jb_splitkv_ops *ops, int causal, jb_isa isa, int64_t task,
                     float *scratch, float *out, float *part)
{
    const int64_t dp = pl->dp, d = pl->d, nq = pl->nq, per_group = pl->heads * pl->nchunks;
    /* Last query groups first: under a causal mask they see the most keys. */
    const int64_t g = pl->ngroups - 1 - task / per_group, bh = task % per_group / pl->nchunks;
    const int64_t c = task % pl->nchunks;
    const int64_t i0 = g * JB_SPLITKV_QB, rows = jb_min64(JB_SPLITKV_QB, nq - i0);
    const int64_t pos0 = pl->n - nq + i0; /* position of the group's first query */
    const int64_t c0 = c * pl->chunk, c1 = jb_min64(pl->n, c0 + pl->chunk);
    const int64_t cend = causal ? jb_min64(c1, pos0 + rows) : c1;
    float *qs = scratch, *acc = qs + JB_SPLITKV_QB * dp, *pv = acc + JB_SPLITKV_QB * dp;
    float *sbuf = pv + JB_SPLITKV_QB * dp;
    float *m = sbuf + 2 * JB_SPLITKV_QB * JB_SPLITKV_BLOCK, *l = m + JB_SPLITKV_QB;
    for (int64_t i = 0; i < rows; i++) {
        m[i] = -INFINITY;
        l[i] = 0;
    }
    memset(acc, 0, (size_t)(rows * dp) * sizeof(float));
    const int64_t nblocks = cend > c0 ? (cend - c0 + JB_SPLITKV_BLOCK - 1) / JB_SPLITKV_BLOCK : 0;
    if (nblocks)
        ops->prep_q(ops->ctx, bh, bh * nq + i0, rows, qs);
    /* Step b scores block b and adds block b-1's P*V; one more step drains. */
    for (int64_t b = 0; b <= nblocks && nblocks; b++) {
        const int64_t jk = c0 + b * JB_SPLITKV_BLOCK, nk = b < nblocks ? jb_min64(JB_SPLITKV_BLOCK, cend - jk) : 0;
        const int64_t jv = jk - JB_SPLITKV_BLOCK, nv = b > 0 ? jb_min64(JB_SPLITKV_BLOCK, cend - jv) : 0;
        float *s = sbuf + (b & 1) * JB_SPLITKV_QB * JB_SPLITKV_BLOCK;
        const float *pp = sbuf + ((b & 1) ^ 1) * JB_SPLITKV_QB * JB_SPLITKV_BLOCK;
        /* A block's P*V is summed apart and then added to acc, so rounding
         * grows with sqrt(block) + sqrt(blocks), not sqrt(n) (n = 131072 in
         * 4 chunks: max error 4e-7, from 3.6e-6 when acc took each product). */
        if (nv)
            memset(pv, 0, (size_t)(rows * dp) * sizeof(float));
        ops->step(ops->ctx, bh, rows, qs, nk ? jk : c0, nk, s, nv ? jv : c0, nv, pp, pv);
        if (nv)
            for (int64_t x = 0; x < rows * dp; x++)
                acc[x] += pv[x];
        /* The online softmax of block b: acc already holds block b-1's P*V,
         * at the max the previous update set, so alpha rescales it all. */
        for (int64_t i = 0; i < rows && nk; i++) {
            float *si = s + i * JB_SPLITKV_BLOCK, *ai = acc + i * dp;
            const int64_t kv = causal ? jb_min64(nk, max64(0, pos0 + i + 1 - jk)) : nk;
            if (kv > 0) {
                const float mb = row_max(isa, si, kv), mn = mb > m[i] ? mb : m[i];
                const float sum = row_exp_sum(isa, si, kv, mn);
                const float alpha = m[i] == -INFINITY ? 0.0f : expf(m[i] - mn);
                if (alpha != 1.0f)
                    for (int64_t x = 0; x < dp; x++)
                        ai[x] *= alpha;
                l[i] = l[i] * alpha + sum;
                m[i] = mn;
            }
            /* Keys after the query weigh 0 in the next step's P*V. */
            for (int64_t j = kv; j < nk; j++)
                si[j] = 0;
        }
    }
    const float *vs = ops->vscale ? ops->vscale(ops->ctx, bh) : NULL;
    for (int64_t i = 0; i < rows; i++) {
        const int64_t row = bh * nq + i0 + i;
        const float *ai = acc + i * dp;
        if (pl->nchunks == 1) {
            /* Every query sees key 0, so l > 0 here. */
            float *o = out + row * d;
            const float inv = 1.0f / l[i];
            for (int64_t x = 0; x < d; x++)
                o[x] = ai[x] * inv * (vs ? vs[x] : 1.0f);
            continue;
        }
        float *pc = part + (row * pl->nchunks + c) * JB_SPLITKV_PSTRIDE(dp);
        if (l[i] > 0)
            memcpy(pc, ai, (size_t)dp * sizeof(float));
        pc[dp] = m[i];
        pc[dp + 1] = l[i];
    }
}

int jb_splitkv_run(const jb_exec *e, const jb_splitkv_ops *ops)
{
    const jb_problem *p = e->p;
    jb_splitkv_plan pl;
    /* Never more threads than the workspace was sized for, whatever the
     * thread count is now. */
    int threads = jb_cpu_threads();
    for (;; threads--) {
        if (threads < 1)
            return JB_EINVAL;
        jb_splitkv_make_plan(p, threads, &pl);
        if (plan_bytes(&pl) <= e->ws_size)
            break;
    }
    const jb_isa isa = jb_cpu_isa();
    const int causal = p->causal;
    char *ws = e->ws;
    float *part = (float *)(ws + (size_t)pl.threads * pl.thread_bytes), *out = e->out;
    const int64_t nrows = pl.heads * pl.nq;
#pragma omp parallel num_threads(pl.threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *scratch = (float *)(ws + (size_t)tid * pl.thread_bytes);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < pl.ntasks; t++)
            run_task(&pl, ops, causal, isa, t, scratch, out, part);
        if (pl.nchunks > 1) {
#pragma omp for schedule(static)
            for (int64_t r = 0; r < nrows; r++)
                jb_splitkv_merge_row(part + r * pl.nchunks * JB_SPLITKV_PSTRIDE(pl.dp), pl.nchunks, pl.dp, pl.d,
                                     ops->vscale ? ops->vscale(ops->ctx, r / pl.nq) : NULL, out + r * pl.d);
        }
    }
    return JB_OK;
}
