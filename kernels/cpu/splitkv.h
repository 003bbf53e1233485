/*
 * Split-KV attention (the Flash-Decoding scheme), shared by
 * attention/cpu/splitkv/f32 and attention/cpu/splitkv/int8, which differ
 * only in how the KV cache is stored and read. Internal to kernels/cpu (and
 * to the test that checks the merge).
 *
 * Decode has few query rows (q = 1, or a handful for speculative decoding)
 * over a long cache, so parallelizing over heads and query tiles alone may
 * leave cores idle. Here the keys of each head are cut into chunks, and a
 * task is one (head, group of up to JB_SPLITKV_QB query rows, chunk); every
 * task keeps, per query, its own running max m, running sum l of e^(s - m)
 * and unnormalized output acc over its chunk (an online softmax over blocks
 * of JB_SPLITKV_BLOCK keys). A second step merges the chunks of each query
 * row with log-sum-exp rescaling:
 *   M = max_c m_c,  w_c = e^(m_c - M),  O = (sum_c w_c acc_c) / (sum_c w_c l_c).
 * Chunks a causal query cannot see (l_c = 0) are left out. When one chunk
 * per head gives the threads enough tasks, there is no merge: tasks write O.
 *
 * Decode is a stream over K and V, so what matters is how fast one core
 * pulls them from memory. A task is a pipeline: while it computes the
 * scores of block b, it adds block b-1's P*V, key rows and value rows in
 * turn, so the K and the V stream are read at once (two streams per core
 * read about 20% faster here than one, or than blocks of K and V in turn).
 *
 * The plan (chunk size, task count, workspace) is a function of the problem
 * and the thread count only, so workspace_size and run agree on it.
 */
#ifndef JB_SPLITKV_H
#define JB_SPLITKV_H

#include "cpu.h"

#include <stddef.h>
#include <stdint.h>

/* Keys per block of the pipeline (its scores, softmax update, then P*V). */
#define JB_SPLITKV_BLOCK 128
#define JB_SPLITKV_QB 8          /* query rows per task */
#define JB_SPLITKV_MIN_CHUNK 128 /* keys per chunk at least, so a chunk's merge costs < 1% of it */
#define JB_SPLITKV_ALIGN 32      /* chunks start at multiples of this many keys */
#define JB_SPLITKV_TASKS_PER_THREAD 4

typedef struct jb_splitkv_plan {
    int64_t heads, nq, n, d, dp; /* dp: d rounded up to 8 (rows of scratch and partials) */
    int64_t ngroups;             /* query groups per head */
    int64_t chunk, nchunks;      /* keys per chunk (a multiple of JB_SPLITKV_ALIGN), chunks per head */
    int64_t ntasks;              /* heads * ngroups * nchunks */
    int threads;
    size_t thread_bytes;  /* scratch per thread, a multiple of 64 */
    size_t partial_bytes; /* the chunks' results, after the threads' scratch; 0 when nchunks is 1 */
} jb_splitkv_plan;

/* A chunk's result for one query row: acc[0..dp), then m at [dp], l at [dp + 1]. */
#define JB_SPLITKV_PSTRIDE(dp) ((dp) + 8)

/* The plan for p on `threads` threads: more chunks per head only while
 * heads x query groups give fewer than JB_SPLITKV_TASKS_PER_THREAD tasks per
 * thread, and none shorter than JB_SPLITKV_MIN_CHUNK keys. */
void jb_splitkv_make_plan(const jb_problem *p, int threads, jb_splitkv_plan *pl);
/* Workspace for the plan at jb_cpu_threads(). */
size_t jb_splitkv_workspace(const jb_problem *p);

/*
 * Merges the nchunks results of one query row (part: the first, each
 * JB_SPLITKV_PSTRIDE(dp) floats) into out[0..d), times vscale[x] when
 * vscale is not NULL (a per-channel factor the values were stored with).
 * At least one chunk must have l > 0.
 */
void jb_splitkv_merge_row(const float *part, int64_t nchunks, int64_t dp, int64_t d, const float *vscale,
                          float *out);

/* How a kernel reads its KV cache; ctx is the kernel's. */
typedef struct jb_splitkv_ops {
    const void *ctx;
    /* qs[i][0..dp), i < rows: query rows qrow.. (of Q[b*h*q][d]) of head bh
     * times 1/sqrt(d) and whatever per-channel key scale the storage folds
     * in; zero from d to dp. */
    void (*prep_q)(const void *ctx, int64_t bh, int64_t qrow, int64_t rows, float *qs);
    /*
     * One step of a task's pipeline, for its `rows` query rows (qs[i] and
     * acc[i] are dp floats apart, s[i] and p[i] JB_SPLITKV_BLOCK apart):
     *   s[i][j] = qs[i] . K[jk + j]           for j < nk
     *   acc[i] += sum over j < nv of p[i][j] V[jv + j]
     * keys and values of head bh, their rows read in turn so that both
     * stream at once. nk or nv may be 0. acc is 32-byte aligned; from d on
     * it may hold anything.
     */
    void (*step)(const void *ctx, int64_t bh, int64_t rows, const float *qs, int64_t jk, int64_t nk, float *s,
                 int64_t jv, int64_t nv, const float *p, float *acc);
    /* Per-channel factor of head bh's output, or NULL (the ops may leave it NULL). */
    const float *(*vscale)(const void *ctx, int64_t bh);
} jb_splitkv_ops;

/* The whole of a kernel's run: tasks, then the merge. JB_OK, or JB_EINVAL
 * when the workspace is too small for even one thread's plan. */
int jb_splitkv_run(const jb_exec *e, const jb_splitkv_ops *ops);

#endif
