/*
 * The AMX GEMM engine under matmul/cpu/amx/{bf16,int8} (matmul_amx.c) and
 * flash attention's bf16 tile products (attention_flash_bf16.c): which tile
 * operations to run on (the CPU's, or the tests' emulation), packing into the
 * panels of amx.h, one 32x32 block of C on the tiles, the threaded loop nest
 * over such blocks, and the single-threaded bf16 GEMM.
 *
 * The loop nest: threads split C as a grid of whole 32x32 blocks (the split
 * of the other blocked matmuls, jb_gemm_grid). Inside its part a thread walks
 * k in chunks of KC_BLOCKS k blocks (512 bf16 or 1024 int8 values: one A and
 * one B panel chunk of 32 KiB each, so the B chunk stays in L1 across an
 * MC_ROWS-row run of A panels that stays in L2). Every thread loads its tile
 * configuration at the start of its compute and releases it at the end. For
 * int8 the int32 sums stay in C until the whole of k is done, then each
 * thread scales its part: C = sum * sb[j] * sa[i].
 */
#include "amx.h"
#include "cpu.h"
#include "gemm_driver.h" /* the split of C between threads */

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
int64_t jb_amx_kblocks(int64_t k, int es) { return (k * es + JB_AMX_KB_BYTES - 1) / JB_AMX_KB_BYTES; }

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Blocks [q0, q0 + nq) of one A panel: rows [0, h) of a (row stride lda
 * bytes, k values of es bytes), zero past h rows and k values. */
void jb_amx_pack_a_panel(int es, int64_t h, int64_t k, const unsigned char *a, int64_t lda, int64_t q0, int64_t nq,
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
void jb_amx_pack_b_panel_s8(int64_t k, int64_t nw, const int8_t *b, int64_t ldb, int64_t kb, int8_t *dst)
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

size_t jb_amx_panels_bytes(int64_t rows, int64_t kb)
{
    return (size_t)(cdiv(rows, JB_AMX_PANEL) * kb * JB_AMX_BLOCK_BYTES);
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


static void pack_panel(const jb_amx_job *j, int64_t u, int64_t mp)
{
    const int64_t pbytes = j->kb * JB_AMX_BLOCK_BYTES;
    const int es = j->int8 ? 1 : 2;
    if (j->a_src && u < mp) {
        const int64_t i = u * JB_AMX_PANEL;
        jb_amx_pack_a_panel(es, jb_min64(JB_AMX_PANEL, j->m - i), j->k, (const unsigned char *)j->a_src + i * j->lda * es,
                     j->lda * es, 0, j->kb, j->pa + u * pbytes);
        return;
    }
    const int64_t p = j->a_src ? u - mp : u, col = p * JB_AMX_PANEL, nw = jb_min64(JB_AMX_PANEL, j->n - col);
    if (j->int8)
        jb_amx_pack_b_panel_s8(j->k, nw, (const int8_t *)j->b_src + col, j->ldb, j->kb, (int8_t *)(j->pb + p * pbytes));
    else
        pack_b_panel_bf16(j->k, nw, (const uint16_t *)j->b_src + col, j->ldb, 0, j->kb,
                          (uint16_t *)(void *)(j->pb + p * pbytes));
}

void jb_amx_run(const jb_amx_job *j)
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

/* ---- The single-threaded bf16 GEMM (amx.h) ------------------------------- */

size_t jb_amx_bf16_packb_bytes(int64_t k, int64_t n) { return jb_amx_panels_bytes(n, jb_amx_kblocks(k, 2)); }

void jb_amx_bf16_pack_b(int64_t k, int64_t n, const uint16_t *b, int64_t ldb, int trans, uint16_t *dst)
{
    const int64_t kb = jb_amx_kblocks(k, 2);
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
    const int64_t kb = jb_amx_kblocks(k, 2);
    const unsigned char *pb = (const unsigned char *)packed_b;
    _Alignas(64) unsigned char ap[ST_KBLOCKS * JB_AMX_BLOCK_BYTES];
    ops->configure();
    for (int64_t i = 0; i < m; i += JB_AMX_PANEL) {
        const int64_t h = jb_min64(JB_AMX_PANEL, m - i);
        for (int64_t q0 = 0; q0 < kb; q0 += ST_KBLOCKS) {
            const int64_t nq = jb_min64(ST_KBLOCKS, kb - q0);
            jb_amx_pack_a_panel(2, h, k, (const unsigned char *)(a + i * lda), lda * 2, q0, nq, ap);
            for (int64_t jc = 0; jc < n; jc += JB_AMX_PANEL)
                block(ops, 0, h, jb_min64(JB_AMX_PANEL, n - jc), nq, ap,
                      pb + ((jc / JB_AMX_PANEL) * kb + q0) * JB_AMX_BLOCK_BYTES, c + i * ldc + jc, ldc,
                      acc || q0 > 0);
        }
    }
}
