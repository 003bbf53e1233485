/*
 * matmul/cpu/amx/bf16 and matmul/cpu/amx/int8: C = A*B on the AMX tiles
 * (Sapphire Rapids and later), and the single-threaded bf16 tile GEMM that
 * flash attention builds on (amx.h).
 *
 * Both matmuls run one blocked loop nest over 32x32 C blocks, each a 2x2
 * arrangement of 16x16 C tiles computed by the micro-kernels of
 * ukernel_amx_body.h from packed panels (amx.h): A in 32-row panels whose
 * tiles load with a 64-byte stride, B in 32-column panels, VNNI-interleaved.
 *   bf16: setup rounds A and B to bf16 (nearest even), like
 *         matmul/cpu/blocked/bf16; the run packs all of A and B (the threads
 *         split the panels), one barrier, then computes; fp32 accumulation.
 *   int8: setup quantizes like matmul/cpu/blocked/int8 (A per row, B per
 *         column, symmetric, |q| <= 127) and stores A already packed (its own
 *         quantized copy, as that kernel does); the run packs B, then
 *         computes with tdpbssd (s8 x s8, so no +128 shift and no column-sum
 *         compensation), keeping the int32 sums in C itself until the whole
 *         of k is done, then scales them: C = sum * sb[j] * sa[i].
 * With packed=1, B is packed in setup instead (pre-packed weights).
 *
 * Threads split C as a grid of whole 32x32 blocks (the split of the other
 * blocked matmuls). Inside its part a thread walks k in chunks of KC_BLOCKS
 * k blocks (512 bf16 or 1024 int8 values: one A and one B panel chunk of
 * 32 KiB each, so the B chunk stays in L1 across an MC_ROWS-row run of A
 * panels that stays in L2). Every thread loads its tile configuration at
 * the start of its compute and releases it at the end.
 *
 * The kernels are unavailable unless jb_cpu_has_amx_*() says yes (CPU bit,
 * JB_ISA cap, the kernel's tile permission), or a test set emulated tile
 * ops (jb_amx_set_test_ops, never the program).
 */
#include "../jb_kernels.h"
#include "amx.h"
#include "cpu.h"
#include "gemm_driver.h" /* the split of C between threads */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

enum {
    KC_BLOCKS = 16, /* k blocks per chunk of the k loop */
    MC_ROWS = 256,  /* rows of A walked per B panel chunk */
    ST_KBLOCKS = 8, /* k blocks of A the single-threaded GEMM packs at a time (16 KiB) */
};
/* Largest k for int8: 127 * 127 * k stays below 2^31 in the int32 sums. */
#define INT8_K_MAX ((int64_t)1 << 17)

/* ---- Which tile operations ------------------------------------------------ */

static const jb_amx_ops *test_ops;

void jb_amx_set_test_ops(const jb_amx_ops *ops) { test_ops = ops; }

const jb_amx_ops *jb_amx_ops_for(int int8, char *why, size_t len)
{
    char no[160];
    if (test_ops)
        return test_ops;
    if (!(int8 ? jb_cpu_has_amx_int8(no, sizeof no) : jb_cpu_has_amx_bf16(no, sizeof no))) {
        if (why && len)
            snprintf(why, len, "%s", no);
        return NULL;
    }
    const jb_amx_ops *ops = jb_amx_hw_ops();
    if (!ops && why && len)
        snprintf(why, len, "built without the AMX tile code (the compiler has no -mamx-tile)");
    return ops;
}

/* ---- Packing (layouts in amx.h) -------------------------------------------- */

/* k blocks of k values of es bytes. */
static int64_t kblocks(int64_t k, int es) { return (k * es + JB_AMX_KB_BYTES - 1) / JB_AMX_KB_BYTES; }

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Blocks [q0, q0 + nq) of one A panel: rows [0, h) of a (row stride lda
 * bytes, k values of es bytes), zero past h rows and k values. */
static void pack_a_panel(int es, int64_t h, int64_t k, const unsigned char *a, int64_t lda, int64_t q0, int64_t nq,
                         unsigned char *dst)
{
    const int64_t kbytes = k * es;
    for (int64_t r = 0; r < JB_AMX_PANEL; r++) {
        const unsigned char *s = r < h ? a + r * lda : a;
        for (int64_t q = 0; q < nq; q++) {
            unsigned char *d = dst + q * JB_AMX_BLOCK_BYTES + r * JB_AMX_KB_BYTES;
            const int64_t off = (q0 + q) * JB_AMX_KB_BYTES;
            const int64_t w = r < h ? jb_min64(JB_AMX_KB_BYTES, kbytes - off) : 0;
            if (w == JB_AMX_KB_BYTES) {
                memcpy(d, s + off, JB_AMX_KB_BYTES);
            } else {
                if (w > 0)
                    memcpy(d, s + off, (size_t)w);
                memset(d + (w > 0 ? w : 0), 0, (size_t)(JB_AMX_KB_BYTES - (w > 0 ? w : 0)));
            }
        }
    }
}

/* One bf16 B panel: columns [0, nw) of b (B(l, j) = b[l*ldb + j], or
 * b[j*ldb + l] when trans), kb blocks. Word (pair of k values) (r, c) of
 * tile t of block q is at uint16 offset q*1024 + t*512 + r*32 + c*2. */
static void pack_b_panel_bf16(int64_t k, int64_t nw, const uint16_t *b, int64_t ldb, int trans, int64_t kb,
                              uint16_t *dst)
{
    for (int64_t q = 0; q < kb; q++)
        for (int64_t r = 0; r < 16; r++) {
            const int64_t l = q * 32 + 2 * r;
            uint16_t *d = dst + q * 1024 + r * 32;
            if (!trans && nw == 32 && l + 1 < k) {
                const uint16_t *s0 = b + l * ldb, *s1 = s0 + ldb;
                for (int t = 0; t < 2; t++)
                    for (int c = 0; c < 16; c++) {
                        d[t * 512 + 2 * c] = s0[16 * t + c];
                        d[t * 512 + 2 * c + 1] = s1[16 * t + c];
                    }
                continue;
            }
            for (int c = 0; c < 32; c++)
                for (int e = 0; e < 2; e++) {
                    const int64_t le = l + e;
                    d[(c >> 4) * 512 + (c & 15) * 2 + e] =
                        c < nw && le < k ? (trans ? b[c * ldb + le] : b[le * ldb + c]) : 0;
                }
        }
}

/* One int8 B panel: columns [0, nw) of b (row-major, row stride ldb), kb
 * blocks. Byte e of lane (r, c) of tile t of block q: k value q*64 + 4r + e,
 * at q*2048 + t*1024 + r*64 + c*4 + e. */
static void pack_b_panel_s8(int64_t k, int64_t nw, const int8_t *b, int64_t ldb, int64_t kb, int8_t *dst)
{
    for (int64_t q = 0; q < kb; q++)
        for (int64_t r = 0; r < 16; r++) {
            const int64_t l = q * 64 + 4 * r;
            int8_t *d = dst + q * 2048 + r * 64;
            if (nw == 32 && l + 3 < k) {
                const int8_t *s = b + l * ldb;
                for (int t = 0; t < 2; t++)
                    for (int c = 0; c < 16; c++)
                        for (int e = 0; e < 4; e++)
                            d[t * 1024 + 4 * c + e] = s[e * ldb + 16 * t + c];
                continue;
            }
            for (int c = 0; c < 32; c++)
                for (int e = 0; e < 4; e++)
                    d[(c >> 4) * 1024 + (c & 15) * 4 + e] = c < nw && l + e < k ? b[(l + e) * ldb + c] : 0;
        }
}

/* ---- One 32x32 block of C ----------------------------------------------- */

/* C block at c (mh x nw valid, row stride ldc, 4-byte elements: fp32, or
 * int32 sums for int8) from kq k blocks of the panels at a and b. Edge
 * blocks go through a scratch block so the tiles never touch memory outside
 * C. */
static void block(const jb_amx_ops *ops, int int8, int64_t mh, int64_t nw, int64_t kq, const void *a, const void *b,
                  float *c, int64_t ldc, int acc)
{
    const int mt = mh > 16 ? 2 : 1;
    if (mh == 16 * mt && nw == 32) {
        if (int8)
            ops->s8_block(mt, kq, a, b, (int32_t *)(void *)c, ldc, acc);
        else
            ops->bf16_block(mt, kq, a, b, c, ldc, acc);
        return;
    }
    _Alignas(64) float tmp[32 * 32];
    memset(tmp, 0, sizeof tmp);
    if (acc)
        for (int64_t r = 0; r < mh; r++)
            memcpy(tmp + r * 32, c + r * ldc, (size_t)nw * 4);
    if (int8)
        ops->s8_block(mt, kq, a, b, (int32_t *)(void *)tmp, 32, acc);
    else
        ops->bf16_block(mt, kq, a, b, tmp, 32, acc);
    for (int64_t r = 0; r < mh; r++)
        memcpy(c + r * ldc, tmp + r * 32, (size_t)nw * 4);
}

/* ---- The threaded loop nest ----------------------------------------------- */

typedef struct amx_job {
    const jb_amx_ops *ops;
    int int8;
    int64_t m, n, k, kb;
    const void *a_src; /* non-NULL: pack A (row-major, lda elements) into pa in the run */
    int64_t lda;
    unsigned char *pa;
    const void *b_src; /* non-NULL: pack B (row-major, ldb elements) into pb in the run */
    int64_t ldb;
    unsigned char *pb;
    float *c;
    const float *sa, *sb; /* int8: scales per row of A and column of B */
} amx_job;

static void pack_panel(const amx_job *j, int64_t u, int64_t mp)
{
    const int64_t pbytes = j->kb * JB_AMX_BLOCK_BYTES;
    const int es = j->int8 ? 1 : 2;
    if (j->a_src && u < mp) {
        const int64_t i = u * JB_AMX_PANEL;
        pack_a_panel(es, jb_min64(JB_AMX_PANEL, j->m - i), j->k, (const unsigned char *)j->a_src + i * j->lda * es,
                     j->lda * es, 0, j->kb, j->pa + u * pbytes);
        return;
    }
    const int64_t p = j->a_src ? u - mp : u, col = p * JB_AMX_PANEL, nw = jb_min64(JB_AMX_PANEL, j->n - col);
    if (j->int8)
        pack_b_panel_s8(j->k, nw, (const int8_t *)j->b_src + col, j->ldb, j->kb, (int8_t *)(j->pb + p * pbytes));
    else
        pack_b_panel_bf16(j->k, nw, (const uint16_t *)j->b_src + col, j->ldb, 0, j->kb,
                          (uint16_t *)(void *)(j->pb + p * pbytes));
}

static void amx_run(const amx_job *j)
{
    const int64_t m = j->m, n = j->n, kb = j->kb, mp = cdiv(m, JB_AMX_PANEL), np = cdiv(n, JB_AMX_PANEL);
    const int64_t pbytes = kb * JB_AMX_BLOCK_BYTES;
    const int64_t units = (j->a_src ? mp : 0) + (j->b_src ? np : 0);
#pragma omp parallel
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        if (units) {
            int64_t u0, u1;
            jb_gemm_split(units, nt, t, &u0, &u1);
            for (int64_t u = u0; u < u1; u++)
                pack_panel(j, u, mp);
#pragma omp barrier
        }
        int tm, tn;
        int64_t i0, i1, j0, j1;
        jb_gemm_grid(nt, mp, np, &tm, &tn);
        jb_gemm_split(mp, tm, t / tn, &i0, &i1);
        jb_gemm_split(np, tn, t % tn, &j0, &j1);
        if (i1 > i0 && j1 > j0) {
            j->ops->configure();
            for (int64_t q0 = 0; q0 < kb; q0 += KC_BLOCKS) {
                const int64_t kq = jb_min64(KC_BLOCKS, kb - q0);
                for (int64_t ic = i0; ic < i1; ic += MC_ROWS / JB_AMX_PANEL) {
                    const int64_t ie = jb_min64(i1, ic + MC_ROWS / JB_AMX_PANEL);
                    for (int64_t jp = j0; jp < j1; jp++) {
                        const unsigned char *bp = j->pb + jp * pbytes + q0 * JB_AMX_BLOCK_BYTES;
                        const int64_t nw = jb_min64(JB_AMX_PANEL, n - jp * JB_AMX_PANEL);
                        for (int64_t ip = ic; ip < ie; ip++)
                            block(j->ops, j->int8, jb_min64(JB_AMX_PANEL, m - ip * JB_AMX_PANEL), nw, kq,
                                  j->pa + ip * pbytes + q0 * JB_AMX_BLOCK_BYTES, bp,
                                  j->c + ip * JB_AMX_PANEL * n + jp * JB_AMX_PANEL, n, q0 > 0);
                    }
                }
            }
            j->ops->release();
            if (j->int8) {
                /* The whole of k is summed: scale this thread's part. */
                const int64_t r1 = jb_min64(m, i1 * JB_AMX_PANEL), c0 = j0 * JB_AMX_PANEL,
                              c1 = jb_min64(n, j1 * JB_AMX_PANEL);
                for (int64_t r = i0 * JB_AMX_PANEL; r < r1; r++) {
                    float *cr = j->c + r * n;
                    const float sa = j->sa[r];
                    for (int64_t q = c0; q < c1; q++) {
                        int32_t s;
                        memcpy(&s, cr + q, 4);
                        cr[q] = (float)s * j->sb[q] * sa;
                    }
                }
            }
        }
    }
}

/* ---- matmul/cpu/amx/bf16 -------------------------------------------------- */

static uint16_t to_bf16(float x) /* nearest even; inputs are finite */
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* What setup makes. bf16: a16 [m][k], b16 [k][n]; int8: pa (A quantized and
 * packed), qb [k][n], the scales. pb: B packed in setup (packed=1), else NULL. */
typedef struct state {
    int64_t kb;
    uint16_t *a16, *b16;
    unsigned char *pa;
    int8_t *qb;
    float *sa, *sb;
    unsigned char *pb;
} state;

static void teardown(jb_exec *e)
{
    state *st = e->state;
    if (!st)
        return;
    free(st->a16);
    free(st->b16);
    free(st->pa);
    free(st->qb);
    free(st->sa);
    free(st->sb);
    free(st->pb);
    free(st);
    e->state = NULL;
}

static size_t panels_bytes(int64_t rows, int64_t kb)
{
    return (size_t)(cdiv(rows, JB_AMX_PANEL) * kb * JB_AMX_BLOCK_BYTES);
}

static const char *path_bf16(const jb_problem *p, jb_family *family)
{
    (void)p;
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    *family = JB_FAM_AMX_BF16;
    return ops ? ops->name : "amx";
}

static int available_bf16(char *why, size_t len) { return jb_amx_ops_for(0, why, len) ? JB_OK : JB_EUNAVAILABLE; }

/* Packed A, then packed B unless setup packed it. */
static size_t workspace_bf16(const jb_problem *p)
{
    const int64_t kb = kblocks(p->k, 2);
    return panels_bytes(p->m, kb) + (p->packed ? 0 : panels_bytes(p->n, kb));
}

static int setup_bf16(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kb = kblocks(k, 2);
    st->a16 = malloc((size_t)(m * k) * sizeof(uint16_t));
    st->b16 = malloc((size_t)(k * n) * sizeof(uint16_t));
    if (!st->a16 || !st->b16) {
        teardown(e);
        return JB_ENOMEM;
    }
    for (int64_t i = 0; i < m * k; i++)
        st->a16[i] = to_bf16(e->in[0][i]);
    for (int64_t i = 0; i < k * n; i++)
        st->b16[i] = to_bf16(e->in[1][i]);
    if (p->packed) {
        st->pb = aligned_alloc(64, panels_bytes(n, st->kb));
        if (!st->pb) {
            teardown(e);
            return JB_ENOMEM;
        }
        jb_amx_bf16_pack_b(k, n, st->b16, n, 0, (uint16_t *)(void *)st->pb);
    }
    return JB_OK;
}

static int dequantized_bf16(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m * k; i++)
        deq[0][i] = from_bf16(st->a16[i]);
    for (int64_t i = 0; i < k * n; i++)
        deq[1][i] = from_bf16(st->b16[i]);
    return JB_OK;
}

static int run_bf16(jb_exec *e)
{
    const state *st = e->state;
    const jb_problem *p = e->p;
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    if (!st)
        return JB_EINVAL;
    if (!ops)
        return JB_EUNAVAILABLE;
    const size_t abytes = panels_bytes(p->m, st->kb);
    if (!e->ws || e->ws_size < workspace_bf16(p))
        return JB_EINVAL;
    const amx_job j = {
        .ops = ops,
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .kb = st->kb,
        .a_src = st->a16,
        .lda = p->k,
        .pa = e->ws,
        .b_src = st->pb ? NULL : st->b16,
        .ldb = p->n,
        .pb = st->pb ? st->pb : (unsigned char *)e->ws + abytes,
        .c = e->out,
    };
    amx_run(&j);
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_amx_bf16 = {
    .name = "matmul/cpu/amx/bf16",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "amx",
    .dtype = JB_DT_BF16,
    .tolerance = 1e-5,
    .summary = "bf16 A and B (rounded in setup, packed in run), fp32 accumulation on AMX tiles (tdpbf16ps), "
               "2x2 16x16 tiles per step, OpenMP",
    .available = available_bf16,
    .path = path_bf16,
    .workspace_size = workspace_bf16,
    .setup = setup_bf16,
    .run = run_bf16,
    .teardown = teardown,
    .dequantized_inputs = dequantized_bf16,
};

/* ---- matmul/cpu/amx/int8 -------------------------------------------------- */

static const char *path_int8(const jb_problem *p, jb_family *family)
{
    (void)p;
    const jb_amx_ops *ops = jb_amx_ops_for(1, NULL, 0);
    *family = JB_FAM_AMX_INT8;
    return ops ? ops->name : "amx";
}

static int available_int8(char *why, size_t len) { return jb_amx_ops_for(1, why, len) ? JB_OK : JB_EUNAVAILABLE; }

static int supports_int8(const jb_problem *p, char *why, size_t len)
{
    if (p->k <= INT8_K_MAX)
        return JB_OK;
    snprintf(why, len, "k = %lld: the int32 sums over k could overflow past k = %lld", (long long)p->k,
             (long long)INT8_K_MAX);
    return JB_EUNSUPPORTED;
}

static size_t workspace_int8(const jb_problem *p) { return p->packed ? 0 : panels_bytes(p->n, kblocks(p->k, 1)); }

static int setup_int8(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t m = p->m, n = p->n, k = p->k;
    state *st = calloc(1, sizeof *st);
    if (!st)
        return JB_ENOMEM;
    e->state = st;
    st->kb = kblocks(k, 1);
    int8_t *qa = malloc((size_t)(m * k));
    float *inv = calloc((size_t)n, sizeof(float));
    st->pa = aligned_alloc(64, panels_bytes(m, st->kb));
    st->qb = malloc((size_t)(k * n));
    st->sa = malloc((size_t)m * sizeof(float));
    st->sb = malloc((size_t)n * sizeof(float));
    if (p->packed)
        st->pb = aligned_alloc(64, panels_bytes(n, st->kb));
    if (!qa || !inv || !st->pa || !st->qb || !st->sa || !st->sb || (p->packed && !st->pb)) {
        free(qa);
        free(inv);
        teardown(e);
        return JB_ENOMEM;
    }
    /* A per row, B per column: the rule of matmul/cpu/blocked/int8. */
    jb_quantize_rows_s8(e->in[0], m, k, k, qa, k, st->sa);
    for (int64_t i = 0; i < cdiv(m, JB_AMX_PANEL); i++)
        pack_a_panel(1, jb_min64(JB_AMX_PANEL, m - i * JB_AMX_PANEL), k,
                     (const unsigned char *)qa + i * JB_AMX_PANEL * k, k, 0, st->kb,
                     st->pa + (size_t)(i * st->kb * JB_AMX_BLOCK_BYTES));
    free(qa);
    const float *b = e->in[1];
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            inv[j] = fmaxf(inv[j], fabsf(b[l * n + j]));
    for (int64_t j = 0; j < n; j++) {
        st->sb[j] = inv[j] > 0 ? inv[j] / 127.0f : 1.0f;
        inv[j] = 1.0f / st->sb[j];
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++) {
            const float v = nearbyintf(b[l * n + j] * inv[j]);
            st->qb[l * n + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    free(inv);
    if (st->pb)
        for (int64_t q = 0; q < cdiv(n, JB_AMX_PANEL); q++)
            pack_b_panel_s8(k, jb_min64(JB_AMX_PANEL, n - q * JB_AMX_PANEL), st->qb + q * JB_AMX_PANEL, n, st->kb,
                            (int8_t *)st->pb + q * st->kb * JB_AMX_BLOCK_BYTES);
    return JB_OK;
}

static int dequantized_int8(const jb_exec *e, float *const deq[])
{
    const state *st = e->state;
    const int64_t m = e->p->m, n = e->p->n, k = e->p->k;
    if (!st)
        return JB_EINVAL;
    for (int64_t i = 0; i < m; i++) {
        const int8_t *panel = (const int8_t *)st->pa + (i / JB_AMX_PANEL) * st->kb * JB_AMX_BLOCK_BYTES;
        const int64_t row = (i % JB_AMX_PANEL) * JB_AMX_KB_BYTES;
        for (int64_t l = 0; l < k; l++)
            deq[0][i * k + l] = (float)panel[(l / 64) * JB_AMX_BLOCK_BYTES + row + l % 64] * st->sa[i];
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++)
            deq[1][l * n + j] = (float)st->qb[l * n + j] * st->sb[j];
    return JB_OK;
}

static int run_int8(jb_exec *e)
{
    const state *st = e->state;
    const jb_problem *p = e->p;
    const jb_amx_ops *ops = jb_amx_ops_for(1, NULL, 0);
    if (!st)
        return JB_EINVAL;
    if (!ops)
        return JB_EUNAVAILABLE;
    if (!st->pb && (!e->ws || e->ws_size < workspace_int8(p)))
        return JB_EINVAL;
    const amx_job j = {
        .ops = ops,
        .int8 = 1,
        .m = p->m,
        .n = p->n,
        .k = p->k,
        .kb = st->kb,
        .pa = st->pa,
        .b_src = st->pb ? NULL : st->qb,
        .ldb = p->n,
        .pb = st->pb ? st->pb : e->ws,
        .c = e->out,
        .sa = st->sa,
        .sb = st->sb,
    };
    amx_run(&j);
    return JB_OK;
}

const jb_kernel jb_k_matmul_cpu_amx_int8 = {
    .name = "matmul/cpu/amx/int8",
    .op = JB_OP_MATMUL,
    .backend = JB_BACKEND_CPU,
    .variant = "amx",
    .dtype = JB_DT_INT8,
    .tolerance = 1e-5,
    .summary = "int8 A per row (stored pre-packed in setup), B per column (packed in run); s32 accumulation on "
               "AMX tiles (tdpbssd), 2x2 16x16 tiles per step, OpenMP",
    .available = available_int8,
    .supports = supports_int8,
    .path = path_int8,
    .workspace_size = workspace_int8,
    .setup = setup_int8,
    .run = run_int8,
    .teardown = teardown,
    .dequantized_inputs = dequantized_int8,
};

/* ---- The single-threaded bf16 GEMM (amx.h) ------------------------------- */

size_t jb_amx_bf16_packb_bytes(int64_t k, int64_t n) { return panels_bytes(n, kblocks(k, 2)); }

void jb_amx_bf16_pack_b(int64_t k, int64_t n, const uint16_t *b, int64_t ldb, int trans, uint16_t *dst)
{
    const int64_t kb = kblocks(k, 2);
    for (int64_t q = 0; q < cdiv(n, JB_AMX_PANEL); q++) {
        const int64_t col = q * JB_AMX_PANEL;
        pack_b_panel_bf16(k, jb_min64(JB_AMX_PANEL, n - col), trans ? b + col * ldb : b + col, ldb, trans, kb,
                          dst + q * kb * (JB_AMX_BLOCK_BYTES / 2));
    }
}

void jb_amx_bf16_gemm_st(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *packed_b,
                         float *c, int64_t ldc, int acc)
{
    const jb_amx_ops *ops = jb_amx_ops_for(0, NULL, 0);
    if (!ops || m <= 0 || n <= 0 || k <= 0)
        return;
    const int64_t kb = kblocks(k, 2);
    const unsigned char *pb = (const unsigned char *)packed_b;
    _Alignas(64) unsigned char ap[ST_KBLOCKS * JB_AMX_BLOCK_BYTES];
    ops->configure();
    for (int64_t i = 0; i < m; i += JB_AMX_PANEL) {
        const int64_t h = jb_min64(JB_AMX_PANEL, m - i);
        for (int64_t q0 = 0; q0 < kb; q0 += ST_KBLOCKS) {
            const int64_t nq = jb_min64(ST_KBLOCKS, kb - q0);
            pack_a_panel(2, h, k, (const unsigned char *)(a + i * lda), lda * 2, q0, nq, ap);
            for (int64_t jc = 0; jc < n; jc += JB_AMX_PANEL)
                block(ops, 0, h, jb_min64(JB_AMX_PANEL, n - jc), nq, ap,
                      pb + ((jc / JB_AMX_PANEL) * kb + q0) * JB_AMX_BLOCK_BYTES, c + i * ldc + jc, ldc,
                      acc || q0 > 0);
        }
    }
}
