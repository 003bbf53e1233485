/*
 * The blocked GEMM driver (GotoBLAS/BLIS): loops nc (B block in L3) -> kc
 * (rank-kc update) -> mc (A block in L2) -> micro-tiles, over whatever
 * micro-kernel and packing a jb_gemm_driver names. See gemm_driver.h.
 *
 * Threads share one packed B block and split each C block between them as a
 * tm x tn grid of whole micro-tiles (mostly by rows, so each thread packs only
 * its own rows of A and none is packed twice).
 */
#include "gemm_driver.h"

#include "../jb_kernels.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif


/* Splits t threads into a tm x tn grid over mtiles x ntiles micro-tiles so
 * the largest share is smallest; ties go to more row splits, which share the
 * packed B block and duplicate no A packing. */
void jb_gemm_grid(int t, int64_t mtiles, int64_t ntiles, int *tm, int *tn)
{
    int64_t best = -1;
    *tm = t;
    *tn = 1;
    for (int d = t; d >= 1; d--) {
        if (t % d)
            continue;
        int64_t share = ((mtiles + d - 1) / d) * ((ntiles + t / d - 1) / (t / d));
        if (best < 0 || share < best) {
            best = share;
            *tm = d;
            *tn = t / d;
        }
    }
}

/* Part i of n units split into `parts` near-equal ranges: [*lo, *hi). */
void jb_gemm_split(int64_t n, int parts, int i, int64_t *lo, int64_t *hi)
{
    *lo = n * i / parts;
    *hi = n * (i + 1) / parts;
}

/* The part of an m x nc block of C that thread t of nt computes on a tm x
 * tn grid, in whole mr x nr tiles: rows [*i0, *i1) and columns [*j0, *j1),
 * clipped to m and nc. */
static void thread_tile(int t, int tm, int tn, int64_t m, int64_t nc, int64_t mr, int64_t nr, int64_t *i0,
                        int64_t *i1, int64_t *j0, int64_t *j1)
{
    jb_gemm_split((m + mr - 1) / mr, tm, t / tn, i0, i1);
    jb_gemm_split((nc + nr - 1) / nr, tn, t % tn, j0, j1);
    *i0 *= mr;
    *i1 = jb_min64(*i1 * mr, m);
    *j0 *= nr;
    *j1 = jb_min64(*j1 * nr, nc);
}

size_t jb_gemm_workspace_size_prepacked(const jb_gemm_driver *d, int64_t m, int64_t k, int threads)
{
    return d->pack_a ? (size_t)threads * jb_gemm_apack_bytes(d, jb_min64(m, d->mc), jb_min64(k, d->kc)) : 0;
}

size_t jb_gemm_workspace_size(const jb_gemm_driver *d, int64_t m, int64_t n, int64_t k, int threads)
{
    const int64_t kc = jb_min64(k, d->kc), nc = jb_min64(n, d->nc);
    return jb_gemm_bpack_bytes(d, kc, nc) + jb_gemm_comp_bytes(d, nc) + jb_gemm_workspace_size_prepacked(d, m, k, threads);
}

/* Bytes of the pre-packed block of kc steps and nc columns, comp included. */
static size_t prepacked_block_bytes(const jb_gemm_driver *d, int64_t kc, int64_t nc)
{
    return jb_gemm_bpack_bytes(d, kc, nc) + jb_gemm_comp_bytes(d, nc);
}

size_t jb_gemm_prepack_b_bytes(const jb_gemm_driver *d, int64_t k, int64_t n)
{
    size_t total = 0;
    for (int64_t jc = 0; jc < n; jc += d->nc)
        for (int64_t pc = 0; pc < k; pc += d->kc)
            total += prepacked_block_bytes(d, jb_min64(k - pc, d->kc), jb_min64(n - jc, d->nc));
    return total;
}

void jb_gemm_prepack_b(const jb_gemm_driver *d, int64_t k, int64_t n, const void *b, int64_t ldb, void *dst)
{
    const int64_t ses = jb_gemm_src_esize(d);
    unsigned char *out = dst;
    /* The packing routines leave the bytes that round a block up to 64 as
     * they were: zero them, so the buffer is the same from run to run. */
    memset(dst, 0, jb_gemm_prepack_b_bytes(d, k, n));
    for (int64_t jc = 0; jc < n; jc += d->nc) {
        const int64_t nc = jb_min64(n - jc, d->nc);
        for (int64_t pc = 0; pc < k; pc += d->kc) {
            const int64_t kc = jb_min64(k - pc, d->kc);
            const size_t bb = jb_gemm_bpack_bytes(d, kc, nc);
            d->pack_b(d, kc, nc, (const unsigned char *)b + (pc * ldb + jc) * ses, ldb, out,
                      d->comp ? (int32_t *)(void *)(out + bb) : NULL);
            out += prepacked_block_bytes(d, kc, nc);
        }
    }
}

void jb_gemm_macro(const jb_gemm_driver *d, const jb_gemm_block *x)
{
    /* Locals, so the opaque micro-kernel calls do not make them reloads. */
    const int mr = d->mr, nr = d->nr, acc = x->acc;
    const int64_t es = jb_gemm_esize(d), kc = x->kc, ks = kc / d->kstep, mc = x->mc, nc = x->nc, ldc = x->ldc;
    const int64_t a_rs = x->a_rs, a_ko = x->a_ko, m_left = x->m_left;
    const unsigned char *pa = x->a, *bsrc = x->b_src;
    unsigned char *pb = x->b;
    int32_t *comp = x->comp;
    const float *sa = x->sa, *sb = x->sb;
    float *c = x->c;
    const jb_gemm_ukr_fn full = d->ukr, *rows = d->rows;
    _Alignas(64) float tile[JB_GEMM_MR_MAX * JB_GEMM_NR_MAX];
    jb_gemm_epi epi = {0};
    for (int64_t j = 0; j < nc; j += nr) {
        const unsigned char *bp = pb + j * kc * es;
        const int64_t nw = jb_min64(nc - j, nr);
        if (bsrc && j % (2 * nr) == 0)
            d->pack_b(d, kc, jb_min64(nc - j, 2 * nr), bsrc + j * jb_gemm_src_esize(d), x->ldb, pb + j * kc * es,
                      comp ? comp + j : NULL);
        for (int64_t i = 0; i < mc; i += mr) {
            const int h = jb_gemm_panel_rows(d, m_left, i);
            const unsigned char *ap = pa + (a_rs * i + a_ko * h) * es;
            const int64_t mh = jb_min64(mc - i, mr);
            const jb_gemm_ukr_fn ukr = h < mr ? rows[h] : full;
            const jb_gemm_epi *e = NULL;
            if (sa) {
                epi.comp = comp ? comp + j : NULL;
                epi.sa = sa + i;
                epi.sb = sb + j;
                e = &epi;
            }
            float *cij = c + i * ldc + j;
            /* A short last panel is exactly the rows left. */
            if ((mh == mr || h < mr) && nw == nr) {
                ukr(ks, ap, bp, cij, ldc, acc, e);
                continue;
            }
            /* Edge tile: compute the whole tile aside, then merge the valid part. */
            ukr(ks, ap, bp, tile, nr, 0, e);
            for (int64_t r = 0; r < mh; r++)
                for (int64_t q = 0; q < nw; q++)
                    cij[r * ldc + q] = acc ? cij[r * ldc + q] + tile[r * nr + q] : tile[r * nr + q];
        }
    }
}

int jb_gemm_run(const jb_gemm_driver *d, const jb_gemm_args *g, void *ws, size_t ws_size)
{
    /* es: bytes of an element in the panels; ses: in A and B as the caller holds them. */
    const int64_t m = g->m, n = g->n, k = g->k, es = jb_gemm_esize(d), ses = jb_gemm_src_esize(d), mr = d->mr,
                  nr = d->nr;
    const int64_t kcmax = jb_min64(k, d->kc), ncmax = jb_min64(n, d->nc);
    const unsigned char *pre = g->b_packed;
    /* Pre-packed B needs no block of it in the workspace. */
    const size_t bb = pre ? 0 : jb_gemm_bpack_bytes(d, kcmax, ncmax), bc = pre ? 0 : jb_gemm_comp_bytes(d, ncmax);
    const size_t ba = d->pack_a ? jb_gemm_apack_bytes(d, jb_min64(m, d->mc), kcmax) : 0;
    if (bb + bc + ba && (!ws || ws_size < bb + bc + ba))
        return JB_EINVAL;
    /* Use as many threads as the workspace has A blocks for, at most. */
    int threads = jb_cpu_threads();
    if (ba && (size_t)threads > (ws_size - bb - bc) / ba)
        threads = (int)((ws_size - bb - bc) / ba);
    (void)threads; /* used only by the pragma, absent without OpenMP */
    /* ws may be NULL when nothing is needed: no arithmetic on it then. */
    unsigned char *bpack = pre ? NULL : ws, *apack0 = ba ? (unsigned char *)ws + bb + bc : NULL;
    int32_t *comp = d->comp && !pre ? (int32_t *)(void *)(bpack + bb) : NULL;
    const unsigned char *a = g->a, *b = g->b;

#pragma omp parallel num_threads(threads)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        unsigned char *apack = apack0 ? apack0 + (size_t)t * ba : NULL;
        /* kc and nc of the last B block when the threads packed it on
         * first use, without barriers; else 0. */
        int64_t own_kc = 0, own_nc = 0;
        /* With pre-packed B: where block (jc, pc) starts in it. */
        size_t pre_off = 0;
        for (int64_t jc = 0; jc < n; jc += d->nc) {
            const int64_t nc = jb_min64(n - jc, d->nc), ntiles = (nc + nr - 1) / nr;
            int tm, tn;
            int64_t i0, i1, j0, j1;
            jb_gemm_grid(nt, (m + mr - 1) / mr, ntiles, &tm, &tn);
            thread_tile(t, tm, tn, m, nc, mr, nr, &i0, &i1, &j0, &j1);
            const int own = !pre && d->b_first_use && tm == 1;
            for (int64_t pc = 0; pc < k; pc += d->kc) {
                const int64_t kc = jb_min64(k - pc, d->kc);
                const unsigned char *bsrc = pre ? NULL : b + (pc * g->ldb + jc) * ses;
                unsigned char *bblk = bpack;
                int32_t *bcomp = comp;
                if (pre) {
                    /* Read only, so no thread waits for another. The
                     * macro-kernel only writes b when given b_src. */
                    bblk = (unsigned char *)pre + pre_off;
                    bcomp = d->comp ? (int32_t *)(void *)(bblk + jb_gemm_bpack_bytes(d, kc, nc)) : NULL;
                    pre_off += prepacked_block_bytes(d, kc, nc);
                } else if (own) {
                    /* Thread t's panels lie at [j0*kc, j1*kc): with another
                     * kc or nc than the last block's they overlap panels
                     * some other thread may still be reading. */
                    if (own_kc && (kc != own_kc || nc != own_nc)) {
#pragma omp barrier
                    }
                    own_kc = kc;
                    own_nc = nc;
                } else {
                    /* Likewise, anything after such a block. */
                    if (own_kc) {
#pragma omp barrier
                    }
                    own_kc = 0;
                    int64_t p0, p1;
                    jb_gemm_split(ntiles, nt, t, &p0, &p1);
                    if (p1 > p0)
                        d->pack_b(d, kc, jb_min64(p1 * nr, nc) - p0 * nr, bsrc + p0 * nr * ses, g->ldb,
                                  bpack + p0 * nr * kc * es, comp ? comp + p0 * nr : NULL);
#pragma omp barrier
                }
                jb_gemm_block x = {
                    .nc = j1 - j0,
                    .kc = kc,
                    .b = bblk + j0 * kc * es,
                    .ldb = g->ldb,
                    .comp = bcomp ? bcomp + j0 : NULL,
                    .sb = g->sb ? g->sb + jc + j0 : NULL,
                    .ldc = g->ldc,
                    .acc = pc > 0,
                };
                if (j1 > j0)
                    for (int64_t ic = i0; ic < i1; ic += d->mc) {
                        x.mc = jb_min64(i1 - ic, d->mc);
                        x.m_left = m - ic;
                        if (d->pack_a) {
                            d->pack_a(d, x.mc, kc, a + (ic * g->lda + pc) * ses, g->lda, apack);
                            x.a = apack;
                            x.a_rs = kc;
                            x.a_ko = 0;
                        } else {
                            x.a = a + ic * k * es;
                            x.a_rs = k;
                            x.a_ko = pc;
                        }
                        x.b_src = own && ic == i0 ? bsrc + j0 * ses : NULL;
                        x.sa = g->sa ? g->sa + ic : NULL;
                        x.c = g->c + ic * g->ldc + jc + j0;
                        jb_gemm_macro(d, &x);
                    }
                /* Nobody repacks B while another thread still reads it. */
                if (!own && !pre) {
#pragma omp barrier
                }
            }
        }
    }
    return JB_OK;
}
