/*
 * softmax/cpu/fused/f32: softmax in one read pass and one write pass per row.
 *
 * The read pass keeps a running maximum and a running sum of exponentials per
 * vector lane ("online" softmax): when a block of 64 elements raises some
 * lane's maximum, that lane's sum is rescaled by e^(old max - new max). Lanes
 * are combined once at the end of the row. The write pass recomputes each
 * exponential and multiplies by 1/sum, so the input is read once from memory
 * (the second read of a row of up to a few thousand elements hits L1) and the
 * output written once. Scale and causal mask are applied on the fly: masked
 * columns are never read, only written as 0. Rows run in parallel.
 */
#include "../jb_kernels.h"
#include "cpu.h"
#include "vexp.h"

#include <float.h>
#include <math.h>

/* Output rows at least this many bytes long in total are written with
 * non-temporal stores: they cannot stay in cache anyway, and streaming them
 * saves the read-for-ownership of every output line. */
#define STREAM_MIN_BYTES ((size_t)64 << 20)

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

/* Lanes start at -FLT_MAX rather than -inf so a lane that never sees a valid
 * element rescales by e^0 = 1 instead of e^(-inf + inf) = NaN; its sum stays 0. */
JB_VEXP_AVX512 static inline void online_update16(__m512 *m, __m512 *s, __m512 t)
{
    if (_mm512_cmp_ps_mask(t, *m, _CMP_GT_OQ)) {
        __m512 mn = _mm512_max_ps(*m, t);
        *s = _mm512_mul_ps(*s, jb_exp_avx512(_mm512_sub_ps(*m, mn)));
        *m = mn;
    }
    *s = _mm512_add_ps(*s, jb_exp_avx512(_mm512_sub_ps(t, *m)));
}

JB_VEXP_AVX512 static inline void store16(float *y, __m512 v, int stream)
{
    if (stream)
        _mm512_stream_ps(y, v);
    else
        _mm512_storeu_ps(y, v);
}

JB_VEXP_AVX512 static void row_avx512(const float *x, float *y, int64_t cols, int64_t valid, float scale,
                                      int stream)
{
    const __m512 vs = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
    __m512 m = _mm512_set1_ps(-FLT_MAX), s = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 64 <= valid; j += 64) {
        __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(x + j), vs);
        __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 16), vs);
        __m512 t2 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 32), vs);
        __m512 t3 = _mm512_mul_ps(_mm512_loadu_ps(x + j + 48), vs);
        __m512 bm = _mm512_max_ps(_mm512_max_ps(t0, t1), _mm512_max_ps(t2, t3));
        /* Per lane the maximum rises about log(n) times per row, so the
         * rescale (one more exp) is usually skipped. */
        if (_mm512_cmp_ps_mask(bm, m, _CMP_GT_OQ)) {
            __m512 mn = _mm512_max_ps(m, bm);
            s = _mm512_mul_ps(s, jb_exp_avx512(_mm512_sub_ps(m, mn)));
            m = mn;
        }
        __m512 e01 = _mm512_add_ps(jb_exp_avx512(_mm512_sub_ps(t0, m)), jb_exp_avx512(_mm512_sub_ps(t1, m)));
        __m512 e23 = _mm512_add_ps(jb_exp_avx512(_mm512_sub_ps(t2, m)), jb_exp_avx512(_mm512_sub_ps(t3, m)));
        s = _mm512_add_ps(s, _mm512_add_ps(e01, e23));
    }
    for (; j + 16 <= valid; j += 16)
        online_update16(&m, &s, _mm512_mul_ps(_mm512_loadu_ps(x + j), vs));
    if (j < valid) {
        __mmask16 k = jb_tail_mask16(valid - j);
        online_update16(&m, &s, _mm512_mask_mul_ps(ninf, k, _mm512_maskz_loadu_ps(k, x + j), vs));
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
        /* The vector straddling the mask boundary: valid lanes get their
         * probability, the rest of it 0, and nothing past the row. */
        __mmask16 k = jb_tail_mask16(valid - j);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), vs);
        __m512 v = _mm512_maskz_mul_ps(k, jb_exp_avx512(_mm512_sub_ps(t, vm)), vinv);
        _mm512_mask_storeu_ps(y + j, jb_tail_mask16(cols - j), v);
        j += 16;
    }
    for (; j + 16 <= cols; j += 16)
        store16(y + j, _mm512_setzero_ps(), stream);
    if (j < cols)
        _mm512_mask_storeu_ps(y + j, jb_tail_mask16(cols - j), _mm512_setzero_ps());
}

JB_VEXP_AVX2 static inline void online_update8(__m256 *m, __m256 *s, __m256 t)
{
    if (_mm256_movemask_ps(_mm256_cmp_ps(t, *m, _CMP_GT_OQ))) {
        __m256 mn = _mm256_max_ps(*m, t);
        *s = _mm256_mul_ps(*s, jb_exp_avx2(_mm256_sub_ps(*m, mn)));
        *m = mn;
    }
    *s = _mm256_add_ps(*s, jb_exp_avx2(_mm256_sub_ps(t, *m)));
}

JB_VEXP_AVX2 static void row_avx2(const float *x, float *y, int64_t cols, int64_t valid, float scale, int stream)
{
    const __m256 vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    __m256 m = _mm256_set1_ps(-FLT_MAX), s = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 32 <= valid; j += 32) {
        __m256 t0 = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs);
        __m256 t2 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs);
        __m256 t3 = _mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs);
        __m256 bm = _mm256_max_ps(_mm256_max_ps(t0, t1), _mm256_max_ps(t2, t3));
        if (_mm256_movemask_ps(_mm256_cmp_ps(bm, m, _CMP_GT_OQ))) {
            __m256 mn = _mm256_max_ps(m, bm);
            s = _mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, mn)));
            m = mn;
        }
        __m256 e01 = _mm256_add_ps(jb_exp_avx2(_mm256_sub_ps(t0, m)), jb_exp_avx2(_mm256_sub_ps(t1, m)));
        __m256 e23 = _mm256_add_ps(jb_exp_avx2(_mm256_sub_ps(t2, m)), jb_exp_avx2(_mm256_sub_ps(t3, m)));
        s = _mm256_add_ps(s, _mm256_add_ps(e01, e23));
    }
    for (; j + 8 <= valid; j += 8)
        online_update8(&m, &s, _mm256_mul_ps(_mm256_loadu_ps(x + j), vs));
    if (j < valid) {
        __m256i k = jb_tail_mask8(valid - j);
        __m256 t = _mm256_mul_ps(_mm256_maskload_ps(x + j, k), vs);
        online_update8(&m, &s, _mm256_blendv_ps(ninf, t, _mm256_castsi256_ps(k)));
    }
    const float mx = jb_hmax_avx2(m);
    const __m256 vm = _mm256_set1_ps(mx);
    const float sum = jb_hsum_avx2(_mm256_mul_ps(s, jb_exp_avx2(_mm256_sub_ps(m, vm))));
    const __m256 vinv = _mm256_set1_ps(1.0f / sum);

    /* Streaming stores need 32-byte alignment; the caller only asks for them
     * when every row starts aligned. */
    j = 0;
    for (; j + 8 <= valid; j += 8) {
        __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + j), vs);
        __m256 v = _mm256_mul_ps(jb_exp_avx2(_mm256_sub_ps(t, vm)), vinv);
        if (stream)
            _mm256_stream_ps(y + j, v);
        else
            _mm256_storeu_ps(y + j, v);
    }
    if (j < valid) {
        __m256i k = jb_tail_mask8(valid - j);
        __m256 t = _mm256_mul_ps(_mm256_maskload_ps(x + j, k), vs);
        __m256 v = _mm256_mul_ps(jb_exp_avx2(_mm256_sub_ps(t, vm)), vinv);
        _mm256_maskstore_ps(y + j, jb_tail_mask8(cols - j), _mm256_and_ps(v, _mm256_castsi256_ps(k)));
        j += 8;
    }
    for (; j + 8 <= cols; j += 8) {
        if (stream)
            _mm256_stream_ps(y + j, _mm256_setzero_ps());
        else
            _mm256_storeu_ps(y + j, _mm256_setzero_ps());
    }
    if (j < cols)
        _mm256_maskstore_ps(y + j, jb_tail_mask8(cols - j), _mm256_setzero_ps());
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
    /* Streaming needs every row to start on a 64-byte line (the buffer itself is). */
    const int stream = (size_t)rows * (size_t)cols * sizeof(float) >= STREAM_MIN_BYTES && cols % 16 == 0 &&
                       ((uintptr_t)y & 63) == 0;
    /* Chunks of about 32 KiB of rows: big enough for the prefetchers, small
     * enough that causal rows (whose work grows with r mod cols) interleave
     * across threads and balance. */
    const int64_t chunk = cols >= 8192 ? 1 : 8192 / cols;
#pragma omp parallel for schedule(static, chunk) num_threads(jb_cpu_threads())
    for (int64_t r = 0; r < rows; r++) {
        const int64_t valid = causal ? r % cols + 1 : cols;
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
#ifdef JB_VEXP_X86
        if (isa == JB_ISA_AVX512)
            row_avx512(xr, yr, cols, valid, scale, stream);
        else if (isa == JB_ISA_AVX2)
            row_avx2(xr, yr, cols, valid, scale, stream);
        else
#endif
            row_portable(xr, yr, cols, valid, scale);
    }
#ifdef JB_VEXP_X86
    if (stream)
        _mm_sfence();
#endif
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
    .run = run,
};
