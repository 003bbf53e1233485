/*
 * Block sizes for the blocked GEMM, derived from the machine's caches after
 * the analytic model of Low, Igual, Smith and Quintana-Orti, "Analytical
 * modeling is enough for high-performance BLIS" (ACM TOMS 43(2), 2016), with
 * kc sized as measurements favoured (below), instead of constants tuned on
 * one CPU; and jb_gemm_blocking, which names
 * the sizes chosen so that `joulebench env` can say them.
 */
#include "gemm_ukernel.h"

#include <stdio.h>

/* What a cache level counts as when the machine does not say (0). */
enum { DEFAULT_L1 = 32 << 10, DEFAULT_L2 = 512 << 10, DEFAULT_L3 = 8 << 20 };

#define KC_MIN 64
#define KC_MAX 2048
#define KC_STEP 16 /* a multiple of every kstep, and of the AVX2 transpose's 8 */
#define MC_MAX 4096
#define NC_MAX 4096

void jb_gemm_block_sizes(size_t l1, size_t l2, size_t l3, int mr, int nr, int esize, int kstep, int threads,
                         int64_t *mc, int64_t *kc, int64_t *nc)
{
    const int64_t c1 = l1 ? (int64_t)l1 : DEFAULT_L1, c2 = l2 ? (int64_t)l2 : DEFAULT_L2;
    const int64_t c3 = l3 ? (int64_t)l3 : DEFAULT_L3, es = esize > 0 ? esize : 4;
    const int64_t step = KC_STEP % kstep ? (int64_t)KC_STEP * kstep : KC_STEP;
    if (threads < 1)
        threads = 1;

    /* kc: the kc x nr micro-panel of B fills L1, and the mr x kc micro-panels
     * of A stream through it from L2: the largest kc with kc * nr * es <= L1.
     * This departs from the paper, which keeps both micro-panels in L1 on
     * whole ways with one to spare (kc = 320 for the AVX2 6x16 kernel on a
     * 32 KiB L1): on both AMD cores measured, a B panel filling L1 (kc = 512
     * on Zen 3, kc = 384 for the AVX-512 14x32 kernel on Zen 5's 48 KiB, the
     * hand-tuned value there) ran 3% faster (docs/performance.md), since L2
     * streams A's few bytes per step easily and the larger kc makes fewer
     * passes over C. */
    int64_t k = c1 / (nr * es) / step * step;
    k = k < KC_MIN ? KC_MIN : k > KC_MAX ? KC_MAX : k;

    /* mc: the mc x kc block of A, which every micro-panel of B passes over,
     * in about half of L2 (the rest for the B micro-panels and C on their way
     * to L1). */
    int64_t m = c2 / 2 / (k * es) / mr * mr;
    m = m < mr ? mr : m > MC_MAX ? MC_MAX / mr * mr : m;

    /* nc: the kc x nc block of B, packed once and shared by every thread, in
     * half of L3 less the threads' A blocks (which a victim L3, as AMD's, also
     * holds); never under a quarter of it. */
    int64_t budget = c3 / 2 - (int64_t)threads * m * k * es;
    if (budget < c3 / 4)
        budget = c3 / 4;
    int64_t n = budget / (k * es) / nr * nr;
    n = n < nr ? nr : n > NC_MAX ? NC_MAX / nr * nr : n;

    *mc = m;
    *kc = k;
    *nc = n;
}

void jb_gemm_driver_block(jb_gemm_driver *d)
{
    jb_gemm_block_sizes(jb_cpu_cache_bytes(1), jb_cpu_cache_bytes(2), jb_cpu_cache_bytes(3), d->mr, d->nr,
                        (int)jb_gemm_esize(d), d->kstep, jb_cpu_threads(), &d->mc, &d->kc, &d->nc);
}

const char *jb_gemm_blocking(void)
{
    static char buf[320];
    const jb_gemm_driver *f = jb_sgemm_kernel_get(), *q = jb_s8gemm_kernel_get();
    const jb_gemm_driver *h = jb_cpu_has_avx512_bf16() ? jb_bf16gemm_kernel_get() : NULL;
    int len = snprintf(buf, sizeof buf, "f32 %s mc=%lld kc=%lld nc=%lld; int8 %s mc=%lld kc=%lld nc=%lld", f->name,
                       (long long)f->mc, (long long)f->kc, (long long)f->nc, q->name, (long long)q->mc,
                       (long long)q->kc, (long long)q->nc);
    if (len > 0 && (size_t)len < sizeof buf) {
        if (h)
            snprintf(buf + len, sizeof buf - (size_t)len, "; bf16 dot %s mc=%lld kc=%lld nc=%lld", h->name,
                     (long long)h->mc, (long long)h->kc, (long long)h->nc);
        else
            snprintf(buf + len, sizeof buf - (size_t)len, "; bf16 widened to f32 (f32 blocks)");
    }
    return buf;
}
