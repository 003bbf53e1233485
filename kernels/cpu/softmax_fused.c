/*
 * softmax/cpu/fused/f32: softmax in one read pass and one write pass per row.
 *
 * The read pass keeps a running maximum and a running sum of exponentials per
 * vector lane ("online" softmax); lanes are combined once at the end of the
 * row. Rescaling is lazy: a lane's reference maximum moves (and its sum is
 * multiplied by e^(old - new)) only when a value exceeds it by more than
 * LAZY, so terms stay below e^LAZY, far from overflow, while the rescale
 * happens about once per row instead of every time some lane's max creeps up.
 *
 * Short rows (up to 256 columns with AVX-512) are held in registers
 * instead: max, exponentials, sum and the scaled output straight from them.
 * For rows up to SCRATCH_MAX_COLS the read pass keeps each exponential
 * in a per-thread scratch row (L1/L2-resident) and records where a lane's
 * reference changed; the write pass is then one multiply per element by the
 * factor of its segment, e^(ref - max) / sum. Longer rows recompute the
 * exponential in the write pass instead (the row is re-read from cache).
 * Either way the input is read once from memory and the output written once,
 * with non-temporal stores when the problem is bigger than the last-level
 * cache. Scale and causal mask are applied on the fly: masked columns are
 * never read, only written as 0. Rows run in parallel.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "vexp.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LAZY 8.0f
#define SCRATCH_MAX_COLS 16384
/* Rows this short are held in registers (AVX-512: 16 vectors; AVX2: 8). */
#define SHORT_COLS_AVX512 256
#define SHORT_COLS_AVX2 64
/* Software prefetch distance for short rows, whose per-row latency chain
 * otherwise leaves too few loads in flight to cover DRAM latency. */
#define PF_FLOATS 1024

/* Scratch per thread: the exponentials (cols rounded up to 16), the reference
 * maxima at each change (at most one per vector of the row, plus one), and
 * where each change happened. */
static size_t round64(size_t b)
{
    return (b + 63) / 64 * 64;
}

static int64_t cols16(int64_t cols)
{
    return (cols + 15) / 16 * 16;
}

static size_t scratch_bytes(int64_t cols)
{
    return round64((size_t)cols16(cols) * sizeof(float)) + round64((size_t)(cols16(cols) + 16) * sizeof(float)) +
           round64((size_t)(cols / 8 + 2) * sizeof(int32_t));
}

static size_t workspace(const jb_problem *p)
{
    return p->cols <= SCRATCH_MAX_COLS ? (size_t)jb_cpu_threads() * scratch_bytes(p->cols) : 0;
}

static void row_portable(const float *x, float *y, int64_t cols, int64_t valid, float scale)
{
    /* A double sum: one scalar accumulator over thousands of columns would
     * otherwise carry most of this path's error. */
    float m = -FLT_MAX;
    double s = 0;
    for (int64_t j = 0; j < valid; j++) {
        float t = x[j] * scale;
        if (t > m) {
            s = s * jb_expf_scalar(m - t) + 1.0;
            m = t;
        } else {
            s += jb_expf_scalar(t - m);
        }
    }
    const float inv = (float)(1.0 / s);
    for (int64_t j = 0; j < valid; j++)
        y[j] = jb_expf_scalar(x[j] * scale - m) * inv;
    for (int64_t j = valid; j < cols; j++)
        y[j] = 0;
}

#ifdef JB_VEXP_X86

/* ---- AVX-512 ------------------------------------------------------------- */

/* Lanes start at -FLT_MAX rather than -inf so a lane that has seen only masked
 * (-inf) values rescales by e^0 instead of e^(-inf + inf) = NaN; its sum stays 0. */
JB_VEXP_AVX512 static inline void store16(float *y, __m512 v, int stream)
{
    if (stream)
        _mm512_stream_ps(y, v);
    else
        _mm512_storeu_ps(y, v);
}

JB_VEXP_AVX512 static inline void zero_tail16(float *y, int64_t j, int64_t cols, int stream)
{
    for (; j + 16 <= cols; j += 16)
        store16(y + j, _mm512_setzero_ps(), stream);
    if (j < cols)
        _mm512_mask_storeu_ps(y + j, jb_tail_mask16(cols - j), _mm512_setzero_ps());
}

/* The masked load of the last, partial vector of the visible columns: -inf
 * past `valid`, so its exponential is exactly 0. */
JB_VEXP_AVX512 static inline __m512 load_tail16(const float *x, int64_t j, int64_t valid, __m512 vs)
{
    __mmask16 k = jb_tail_mask16(valid - j);
    return _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), k, _mm512_maskz_loadu_ps(k, x + j), vs);
}

/* Rows of at most 16*NV columns fit in NV registers: max, exponentials and
 * sum straight from them, with none of the online bookkeeping, whose per-row
 * cost (lane reductions, rescale factors) would dominate such short rows. */
JB_VEXP_AVX512 static inline __attribute__((always_inline)) void
row_avx512_small(const float *x, float *y, int64_t cols, int64_t valid, float scale, int stream, int NV)
{
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 t[16], mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int v = 0; v < NV; v++) {
        _mm_prefetch((const char *)(x + 16 * v + PF_FLOATS), _MM_HINT_T0);
        t[v] = load_tail16(x, 16 * v, valid, vs);
        mx = _mm512_max_ps(mx, t[v]);
    }
    const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int v = 0; v < NV; v++) {
        t[v] = jb_exp_avx512(_mm512_sub_ps(t[v], vm));
        sum = _mm512_add_ps(sum, t[v]);
    }
    const __m512 vinv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int v = 0; v < NV; v++) {
        const __m512 r = _mm512_mul_ps(t[v], vinv);
        if (16 * v + 16 <= cols)
            store16(y + 16 * v, r, stream);
        else
            _mm512_mask_storeu_ps(y + 16 * v, jb_tail_mask16(cols - 16 * v), r);
    }
}

JB_VEXP_AVX512 static void row_avx512_short(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                            int stream)
{
    switch ((cols + 15) / 16) {
    case 1: row_avx512_small(x, y, cols, valid, scale, stream, 1); break;
    case 2: row_avx512_small(x, y, cols, valid, scale, stream, 2); break;
    case 3: row_avx512_small(x, y, cols, valid, scale, stream, 3); break;
    case 4: row_avx512_small(x, y, cols, valid, scale, stream, 4); break;
    case 5: row_avx512_small(x, y, cols, valid, scale, stream, 5); break;
    case 6: row_avx512_small(x, y, cols, valid, scale, stream, 6); break;
    case 7: row_avx512_small(x, y, cols, valid, scale, stream, 7); break;
    case 8: row_avx512_small(x, y, cols, valid, scale, stream, 8); break;
    case 9: row_avx512_small(x, y, cols, valid, scale, stream, 9); break;
    case 10: row_avx512_small(x, y, cols, valid, scale, stream, 10); break;
    case 11: row_avx512_small(x, y, cols, valid, scale, stream, 11); break;
    case 12: row_avx512_small(x, y, cols, valid, scale, stream, 12); break;
    case 13: row_avx512_small(x, y, cols, valid, scale, stream, 13); break;
    case 14: row_avx512_small(x, y, cols, valid, scale, stream, 14); break;
    case 15: row_avx512_small(x, y, cols, valid, scale, stream, 15); break;
    case 16: row_avx512_small(x, y, cols, valid, scale, stream, 16); break;
    default: break;
    }
}

JB_VEXP_AVX512 static void row_avx512_scratch(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                              int stream, float *scr, float *evm, int32_t *evpos)
{
    const __m512 vs = _mm512_set1_ps(scale), lazy = _mm512_set1_ps(LAZY);
    __m512 m = _mm512_set1_ps(-FLT_MAX), s = _mm512_setzero_ps();
    int nev = 0;
    int64_t j = 0;
    for (; j + 64 <= valid; j += 64) {
        __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(x + j), vs);
        __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 16), vs);
        __m512 t2 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 32), vs);
        __m512 t3 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 48), vs);
        __m512 bm = _mm512_max_ps(_mm512_max_ps(t0, t1), _mm512_max_ps(t2, t3));
        if (_mm512_cmp_ps_mask(bm, _mm512_add_ps(m, lazy), _CMP_GT_OQ)) {
            __m512 mn = _mm512_max_ps(m, bm);
            s = _mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, mn)));
            m = mn;
            evpos[nev] = (int32_t)j;
            _mm512_store_ps(evm + 16 * nev++, m);
        }
        __m512 e0 = jb_exp_avx512(_mm512_sub_ps(t0, m)), e1 = jb_exp_avx512(_mm512_sub_ps(t1, m));
        __m512 e2 = jb_exp_avx512(_mm512_sub_ps(t2, m)), e3 = jb_exp_avx512(_mm512_sub_ps(t3, m));
        _mm512_store_ps(scr + j, e0);
        _mm512_store_ps(scr + j + 16, e1);
        _mm512_store_ps(scr + j + 32, e2);
        _mm512_store_ps(scr + j + 48, e3);
        s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(e0, e1), _mm512_add_ps(e2, e3)));
    }
    for (; j < valid; j += 16) {
        __m512 t = load_tail16(x, j, valid, vs);
        if (_mm512_cmp_ps_mask(t, _mm512_add_ps(m, lazy), _CMP_GT_OQ)) {
            __m512 mn = _mm512_max_ps(m, t);
            s = _mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, mn)));
            m = mn;
            evpos[nev] = (int32_t)j;
            _mm512_store_ps(evm + 16 * nev++, m);
        }
        __m512 e = jb_exp_avx512(_mm512_sub_ps(t, m));
        _mm512_store_ps(scr + j, e);
        s = _mm512_add_ps(s, e);
    }
    evpos[nev] = (int32_t)j;
    const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    const float sum = _mm512_reduce_add_ps(_mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, vm))));
    const __m512 vinv = _mm512_set1_ps(1.0f / sum);
    /* evpos[0] is 0: the first vector always moves the reference off -FLT_MAX. */
    for (int ev = 0; ev < nev; ev++) {
        const __m512 f = _mm512_mul_ps(jb_exp_avx512(_mm512_sub_ps(_mm512_load_ps(evm + 16 * ev), vm)), vinv);
        const int64_t end = evpos[ev + 1] < cols ? evpos[ev + 1] : cols;
        int64_t w = evpos[ev];
        for (; w + 16 <= end; w += 16)
            store16(y + w, _mm512_mul_ps(_mm512_load_ps(scr + w), f), stream);
        if (w < end)
            _mm512_mask_storeu_ps(y + w, jb_tail_mask16(end - w), _mm512_mul_ps(_mm512_load_ps(scr + w), f));
    }
    zero_tail16(y, j, cols, stream);
}

JB_VEXP_AVX512 static void row_avx512_recompute(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                                int stream)
{
    const __m512 vs = _mm512_set1_ps(scale), lazy = _mm512_set1_ps(LAZY);
    __m512 m = _mm512_set1_ps(-FLT_MAX), s = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 64 <= valid; j += 64) {
        __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(x + j), vs);
        __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 16), vs);
        __m512 t2 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 32), vs);
        __m512 t3 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 48), vs);
        __m512 bm = _mm512_max_ps(_mm512_max_ps(t0, t1), _mm512_max_ps(t2, t3));
        if (_mm512_cmp_ps_mask(bm, _mm512_add_ps(m, lazy), _CMP_GT_OQ)) {
            __m512 mn = _mm512_max_ps(m, bm);
            s = _mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, mn)));
            m = mn;
        }
        __m512 e01 = _mm512_add_ps(jb_exp_avx512(_mm512_sub_ps(t0, m)), jb_exp_avx512(_mm512_sub_ps(t1, m)));
        __m512 e23 = _mm512_add_ps(jb_exp_avx512(_mm512_sub_ps(t2, m)), jb_exp_avx512(_mm512_sub_ps(t3, m)));
        s = _mm512_add_ps(s, _mm512_add_ps(e01, e23));
    }
    for (; j < valid; j += 16) {
        __m512 t = load_tail16(x, j, valid, vs);
        if (_mm512_cmp_ps_mask(t, _mm512_add_ps(m, lazy), _CMP_GT_OQ)) {
            __m512 mn = _mm512_max_ps(m, t);
            s = _mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, mn)));
            m = mn;
        }
        s = _mm512_add_ps(s, jb_exp_avx512(_mm512_sub_ps(t, m)));
    }
    const float mx = _mm512_reduce_max_ps(m);
    const __m512 vm = _mm512_set1_ps(mx);
    const float sum = _mm512_reduce_add_ps(_mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, vm))));
    const __m512 vinv = _mm512_set1_ps(1.0f / sum);
    j = 0;
    for (; j + 16 <= valid; j += 16) {
        __m512 t = _mm512_mul_ps(_mm512_loadu_ps(x + j), vs);
        store16(y + j, _mm512_mul_ps(jb_exp_avx512(_mm512_sub_ps(t, vm)), vinv), stream);
    }
    if (j < valid) {
        /* The vector straddling the mask boundary: its masked lanes come out 0. */
        __m512 v = _mm512_mul_ps(jb_exp_avx512(_mm512_sub_ps(load_tail16(x, j, valid, vs), vm)), vinv);
        _mm512_mask_storeu_ps(y + j, jb_tail_mask16(cols - j), v);
        j += 16;
    }
    zero_tail16(y, j, cols, stream);
}

/* ---- AVX2 ---------------------------------------------------------------- */

JB_VEXP_AVX2 static inline void store8(float *y, __m256 v, int stream)
{
    if (stream)
        _mm256_stream_ps(y, v);
    else
        _mm256_storeu_ps(y, v);
}

JB_VEXP_AVX2 static inline void zero_tail8(float *y, int64_t j, int64_t cols, int stream)
{
    for (; j + 8 <= cols; j += 8)
        store8(y + j, _mm256_setzero_ps(), stream);
    if (j < cols)
        _mm256_maskstore_ps(y + j, jb_tail_mask8(cols - j), _mm256_setzero_ps());
}

JB_VEXP_AVX2 static inline __m256 load_tail8(const float *x, int64_t j, int64_t valid, __m256 vs)
{
    __m256i k = jb_tail_mask8(valid - j);
    __m256 t = _mm256_mul_ps(_mm256_maskload_ps(x + j, k), vs);
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), t, _mm256_castsi256_ps(k));
}

JB_VEXP_AVX2 static inline int raises8(__m256 t, __m256 m)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(t, _mm256_add_ps(m, _mm256_set1_ps(LAZY)), _CMP_GT_OQ));
}

JB_VEXP_AVX2 static inline __attribute__((always_inline)) void
row_avx2_small(const float *x, float *y, int64_t cols, int64_t valid, float scale, int stream, int NV)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 t[8], mx = _mm256_set1_ps(-INFINITY), sum = _mm256_setzero_ps();
    for (int v = 0; v < NV; v++) {
        _mm_prefetch((const char *)(x + 8 * v + PF_FLOATS), _MM_HINT_T0);
        t[v] = 8 * v < valid ? load_tail8(x, 8 * v, valid, vs) : _mm256_set1_ps(-INFINITY);
        mx = _mm256_max_ps(mx, t[v]);
    }
    const __m256 vm = _mm256_set1_ps(jb_hmax_avx2(mx));
    for (int v = 0; v < NV; v++) {
        t[v] = jb_exp_avx2(_mm256_sub_ps(t[v], vm));
        sum = _mm256_add_ps(sum, t[v]);
    }
    const __m256 vinv = _mm256_set1_ps(1.0f / jb_hsum_avx2(sum));
    for (int v = 0; v < NV; v++) {
        const __m256 r = _mm256_mul_ps(t[v], vinv);
        if (8 * v + 8 <= cols)
            store8(y + 8 * v, r, stream);
        else
            _mm256_maskstore_ps(y + 8 * v, jb_tail_mask8(cols - 8 * v), r);
    }
}

JB_VEXP_AVX2 static void row_avx2_short(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                        int stream)
{
    switch ((cols + 7) / 8) {
    case 1: row_avx2_small(x, y, cols, valid, scale, stream, 1); break;
    case 2: row_avx2_small(x, y, cols, valid, scale, stream, 2); break;
    case 3: row_avx2_small(x, y, cols, valid, scale, stream, 3); break;
    case 4: row_avx2_small(x, y, cols, valid, scale, stream, 4); break;
    case 5: row_avx2_small(x, y, cols, valid, scale, stream, 5); break;
    case 6: row_avx2_small(x, y, cols, valid, scale, stream, 6); break;
    case 7: row_avx2_small(x, y, cols, valid, scale, stream, 7); break;
    case 8: row_avx2_small(x, y, cols, valid, scale, stream, 8); break;
    default: break;
    }
}

JB_VEXP_AVX2 static void row_avx2_scratch(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                          int stream, float *scr, float *evm, int32_t *evpos)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 m = _mm256_set1_ps(-FLT_MAX), s = _mm256_setzero_ps();
    int nev = 0;
    int64_t j = 0;
    for (; j + 32 <= valid; j += 32) {
        __m256 t0 = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs);
        __m256 t2 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs);
        __m256 t3 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs);
        __m256 bm = _mm256_max_ps(_mm256_max_ps(t0, t1), _mm256_max_ps(t2, t3));
        if (raises8(bm, m)) {
            __m256 mn = _mm256_max_ps(m, bm);
            s = _mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, mn)));
            m = mn;
            evpos[nev] = (int32_t)j;
            _mm256_store_ps(evm + 8 * nev++, m);
        }
        __m256 e0 = jb_exp_avx2(_mm256_sub_ps(t0, m)), e1 = jb_exp_avx2(_mm256_sub_ps(t1, m));
        __m256 e2 = jb_exp_avx2(_mm256_sub_ps(t2, m)), e3 = jb_exp_avx2(_mm256_sub_ps(t3, m));
        _mm256_store_ps(scr + j, e0);
        _mm256_store_ps(scr + j + 8, e1);
        _mm256_store_ps(scr + j + 16, e2);
        _mm256_store_ps(scr + j + 24, e3);
        s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(e0, e1), _mm256_add_ps(e2, e3)));
    }
    for (; j < valid; j += 8) {
        __m256 t = load_tail8(x, j, valid, vs);
        if (raises8(t, m)) {
            __m256 mn = _mm256_max_ps(m, t);
            s = _mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, mn)));
            m = mn;
            evpos[nev] = (int32_t)j;
            _mm256_store_ps(evm + 8 * nev++, m);
        }
        __m256 e = jb_exp_avx2(_mm256_sub_ps(t, m));
        _mm256_store_ps(scr + j, e);
        s = _mm256_add_ps(s, e);
    }
    evpos[nev] = (int32_t)j;
    const __m256 vm = _mm256_set1_ps(jb_hmax_avx2(m));
    const __m256 vinv = _mm256_set1_ps(1.0f / jb_hsum_avx2(_mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, vm)))));
    for (int ev = 0; ev < nev; ev++) {
        const __m256 f = _mm256_mul_ps(jb_exp_avx2(_mm256_sub_ps(_mm256_load_ps(evm + 8 * ev), vm)), vinv);
        const int64_t end = evpos[ev + 1] < cols ? evpos[ev + 1] : cols;
        int64_t w = evpos[ev];
        for (; w + 8 <= end; w += 8)
            store8(y + w, _mm256_mul_ps(_mm256_load_ps(scr + w), f), stream);
        if (w < end)
            _mm256_maskstore_ps(y + w, jb_tail_mask8(end - w), _mm256_mul_ps(_mm256_load_ps(scr + w), f));
    }
    zero_tail8(y, j, cols, stream);
}

JB_VEXP_AVX2 static void row_avx2_recompute(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                            int stream)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 m = _mm256_set1_ps(-FLT_MAX), s = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 32 <= valid; j += 32) {
        __m256 t0 = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs);
        __m256 t2 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs);
        __m256 t3 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs);
        __m256 bm = _mm256_max_ps(_mm256_max_ps(t0, t1), _mm256_max_ps(t2, t3));
        if (raises8(bm, m)) {
            __m256 mn = _mm256_max_ps(m, bm);
            s = _mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, mn)));
            m = mn;
        }
        __m256 e01 = _mm256_add_ps(jb_exp_avx2(_mm256_sub_ps(t0, m)), jb_exp_avx2(_mm256_sub_ps(t1, m)));
        __m256 e23 = _mm256_add_ps(jb_exp_avx2(_mm256_sub_ps(t2, m)), jb_exp_avx2(_mm256_sub_ps(t3, m)));
        s = _mm256_add_ps(s, _mm256_add_ps(e01, e23));
    }
    for (; j < valid; j += 8) {
        __m256 t = load_tail8(x, j, valid, vs);
        if (raises8(t, m)) {
            __m256 mn = _mm256_max_ps(m, t);
            s = _mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, mn)));
            m = mn;
        }
        s = _mm256_add_ps(s, jb_exp_avx2(_mm256_sub_ps(t, m)));
    }
    const __m256 vm = _mm256_set1_ps(jb_hmax_avx2(m));
    const __m256 vinv = _mm256_set1_ps(1.0f / jb_hsum_avx2(_mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, vm)))));
    j = 0;
    for (; j + 8 <= valid; j += 8) {
        __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        store8(y + j, _mm256_mul_ps(jb_exp_avx2(_mm256_sub_ps(t, vm)), vinv), stream);
    }
    if (j < valid) {
        __m256 v = _mm256_mul_ps(jb_exp_avx2(_mm256_sub_ps(load_tail8(x, j, valid, vs), vm)), vinv);
        _mm256_maskstore_ps(y + j, jb_tail_mask8(cols - j), v);
        j += 8;
    }
    zero_tail8(y, j, cols, stream);
}

#endif /* JB_VEXP_X86 */

static int run(jb_exec *e)
{
    const jb_problem *p = e->p;
    const int64_t rows = p->rows, cols = p->cols;
    const float scale = p->scale != 0 ? (float)p->scale : 1.0f;
    const int causal = p->causal;
    const float *x = e->in[0];
    float *y = e->out;
    const jb_isa isa = jb_cpu_isa();
    /* Streaming stores pay off only when the data could not stay cached anyway:
     * input plus output beyond the last-level cache; they also need every row
     * to start on a 64-byte line. */
    const int stream = 2 * (size_t)rows * (size_t)cols * sizeof(float) > jb_cpu_llc_bytes() && cols % 16 == 0 &&
                       ((uintptr_t)y & 63) == 0;
    const size_t per_thread = scratch_bytes(cols);
    int nthreads = jb_cpu_threads();
    int scratch = cols <= SCRATCH_MAX_COLS && e->ws && e->ws_size >= per_thread;
    if (scratch && (size_t)nthreads * per_thread > e->ws_size)
        nthreads = (int)(e->ws_size / per_thread);
    /* Each thread streams through one contiguous range of rows: interleaving
     * small chunks measured a third slower, the jumps defeating the hardware
     * prefetchers. Causal rows do work growing with r mod cols, so there 1 MiB
     * chunks alternate between threads to balance them. */
    const int64_t chunk = causal ? (cols >= 262144 ? 1 : 262144 / cols) : (rows + nthreads - 1) / nthreads;
    (void)chunk; /* unused without OpenMP */
#pragma omp parallel num_threads(nthreads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        char *mine = scratch ? (char *)e->ws + (size_t)tid * per_thread : NULL;
        float *scr = (float *)mine;
        float *evm = scratch ? (float *)(mine + round64((size_t)cols16(cols) * sizeof(float))) : NULL;
        int32_t *evpos = scratch ? (int32_t *)((char *)evm + round64((size_t)(cols16(cols) + 16) * sizeof(float)))
                                 : NULL;
#pragma omp for schedule(static, chunk) nowait
        for (int64_t r = 0; r < rows; r++) {
            const int64_t valid = causal ? r % cols + 1 : cols;
            const float *xr = x + r * cols;
            float *yr = y + r * cols;
#ifdef JB_VEXP_X86
            if (isa == JB_ISA_AVX512) {
                if (cols <= SHORT_COLS_AVX512)
                    row_avx512_short(xr, yr, cols, valid, scale, stream);
                else if (scratch)
                    row_avx512_scratch(xr, yr, cols, valid, scale, stream, scr, evm, evpos);
                else
                    row_avx512_recompute(xr, yr, cols, valid, scale, stream);
                continue;
            }
            if (isa == JB_ISA_AVX2) {
                if (cols <= SHORT_COLS_AVX2)
                    row_avx2_short(xr, yr, cols, valid, scale, stream);
                else if (scratch)
                    row_avx2_scratch(xr, yr, cols, valid, scale, stream, scr, evm, evpos);
                else
                    row_avx2_recompute(xr, yr, cols, valid, scale, stream);
                continue;
            }
#endif
            (void)scr;
            (void)evm;
            (void)evpos;
            row_portable(xr, yr, cols, valid, scale);
        }
#ifdef JB_VEXP_X86
        /* Each thread drains its own write-combining buffers before the
         * region's closing barrier publishes the output. */
        if (stream)
            _mm_sfence();
#endif
    }
    return JB_OK;
}

const jb_kernel jb_k_softmax_cpu_fused_f32 = {
    .name = "softmax/cpu/fused/f32",
    .op = JB_OP_SOFTMAX,
    .backend = JB_BACKEND_CPU,
    .variant = "fused",
    .dtype = JB_DT_F32,
    .tolerance = 1e-5,
    .summary = "online max and sum in one read pass, one write pass; AVX-512/AVX2 exp, scale and mask fused",
    .workspace_size = workspace,
    .run = run,
};
