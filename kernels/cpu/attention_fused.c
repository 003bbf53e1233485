/*
 * attention/cpu/fused/f32: attention as two GEMMs around a row softmax, one
 * block of 64 query rows of one head at a time, so only a 64 x n block of
 * scores is ever materialized (per thread) instead of the n x n matrix:
 *   S = Q_blk K^T   (jb_sgemm_st, B transposed; causal: only the columns up
 *                    to the block's last query)
 *   P = exp(S/sqrt(d) - rowmax), unnormalized, masked entries set to 0
 *   O_blk = P V     (jb_sgemm_st), then each row scaled by 1/rowsum,
 * which spares a normalization pass over P. Blocks of all heads run in
 * parallel. Decode (q < n) is the same over the q query rows, which sit at
 * positions n - q .. n - 1: a causal block sees keys up to its last row's
 * position.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "vexp.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BM 64

static size_t round64(size_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

static size_t pack_bytes(const jb_problem *p)
{
    size_t a = jb_sgemm_pack_size(BM, p->seq, p->d), b = jb_sgemm_pack_size(BM, p->d, p->seq);
    return round64(a > b ? a : b);
}

/* Per thread: the score block, the 1/rowsum of each row, the sgemm's packing space. */
static size_t thread_bytes(const jb_problem *p)
{
    return round64((size_t)BM * (size_t)p->seq * sizeof(float)) + round64(BM * sizeof(float)) + pack_bytes(p);
}

static size_t workspace(const jb_problem *p)
{
    return (size_t)jb_cpu_threads() * thread_bytes(p);
}

/* Row i (query i0+i) of an s block with ncols columns, of which the first
 * `valid` are visible: s = e^(scale*s - scale*max), the rest 0; returns the sum. */
static float softmax_row(jb_isa isa, float *s, int64_t ncols, int64_t valid, float scale)
{
    float mx, sum;
#ifdef JB_VEXP_X86
    if (isa == JB_ISA_AVX512) {
        mx = jb_row_max_avx512(s, valid);
        sum = jb_row_exp_sum_avx512(s, valid, scale, -scale * mx);
    } else if (isa == JB_ISA_AVX2) {
        mx = jb_row_max_avx2(s, valid);
        sum = jb_row_exp_sum_avx2(s, valid, scale, -scale * mx);
    } else
#endif
    {
        (void)isa;
        mx = jb_row_max_portable(s, valid);
        sum = jb_row_exp_sum_portable(s, valid, scale, -scale * mx);
    }
    for (int64_t j = valid; j < ncols; j++)
        s[j] = 0;
    return sum;
}

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t n = p->seq, nq = jb_attention_q(p), d = p->d, heads = p->b * p->h;
    const int64_t nblk = (nq + BM - 1) / BM, ntasks = heads * nblk;
    const float scale = (float)(1.0 / sqrt((double)d));
    const int causal = p->causal;
    const size_t per_thread = thread_bytes(p), pack_off = per_thread - pack_bytes(p);
    int nthreads = jb_cpu_threads();
    if ((size_t)nthreads * per_thread > e->ws_size)
        nthreads = (int)(e->ws_size / per_thread);
    if (nthreads < 1)
        return JB_EINVAL;
    const jb_isa isa = jb_cpu_isa();
    char *ws = e->ws;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t task = 0; task < ntasks; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        char *mine = ws + (size_t)tid * per_thread;
        float *s = (float *)mine;
        float *rinv = (float *)(mine + round64((size_t)BM * (size_t)n * sizeof(float)));
        void *pack = mine + pack_off;
        /* Last blocks first: with a causal mask they are the widest. */
        const int64_t blk = nblk - 1 - task / heads, bh = task % heads;
        const int64_t i0 = blk * BM, rows = nq - i0 < BM ? nq - i0 : BM;
        const int64_t pos0 = n - nq + i0; /* position of the block's first query */
        const int64_t ncols = causal ? pos0 + rows : n;
        const size_t head = (size_t)bh * (size_t)n * (size_t)d, qhead = (size_t)bh * (size_t)nq * (size_t)d;
        const float *q = e->in[0] + qhead + (size_t)i0 * (size_t)d, *k = e->in[1] + head, *v = e->in[2] + head;
        float *o = e->out + qhead + (size_t)i0 * (size_t)d;

        jb_sgemm_st(rows, ncols, d, q, d, k, d, 1, s, ncols, 0.0f, pack);
        for (int64_t i = 0; i < rows; i++)
            rinv[i] = 1.0f / softmax_row(isa, s + i * ncols, ncols, causal ? pos0 + i + 1 : n, scale);
        jb_sgemm_st(rows, d, ncols, s, ncols, v, d, 0, o, d, 0.0f, pack);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t l = 0; l < d; l++)
                o[i * d + l] *= rinv[i];
    }
    return JB_OK;
}

const jb_kernel jb_k_attention_cpu_fused_f32 = {
    .name = "attention/cpu/fused/f32",
    .op = JB_OP_ATTENTION,
    .backend = JB_BACKEND_CPU,
    .variant = "fused",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "per 64-row block: sgemm Q K^T, masked row softmax, sgemm P V; only a 64 x n block of scores per thread",
    .decode = 1,
    .workspace_size = workspace,
    .run = run,
};
