/*
 * The f32 micro-kernel layer: register-tile micro-kernels (AVX-512, AVX2+FMA,
 * portable C), their block sizes as driver descriptors, and the packing they
 * read (see gemm_driver.h for the layouts). matmul/cpu/blocked/f32 runs them
 * through jb_gemm_run; jb_sgemm_st (cpu_gemm.c) through jb_sgemm_macro.
 */
#include "gemm_ukernel.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JB_X86 1
#define AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define AVX2_FN __attribute__((target("avx2,fma")))
#endif

/* ---- Micro-kernels ------------------------------------------------------ */

/*
 * Every micro-kernel keeps the whole mr x nr tile of C in registers, and per
 * step loads nr/width vectors of B and broadcasts mr values of A, so a step
 * is mr*nr/width independent FMAs: enough to cover the FMA latency on both
 * pipes. The loops have constant trip counts and are fully unrolled, so the
 * accumulator arrays live in registers.
 */

#ifdef JB_X86
#define UKR_AVX512(NAME, MR, NV)                                                                                   \
    static AVX512_FN void NAME(int64_t kc, const void *restrict ap, const void *restrict bp, float *restrict c, \
                               int64_t ldc, int acc, const jb_gemm_epi *epi)                                  \
    {                                                                                                         \
        const float *a = ap, *b = bp;                                                                         \
        (void)epi;                                                                                            \
        __m512 cr[MR][NV];                                                                                    \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) cr[i][v] = _mm512_setzero_ps();              \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                 \
        {                                                                                                     \
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                           \
            _mm_prefetch((const char *)(c + i * ldc + 16 * NV - 1), _MM_HINT_T0);                             \
        }                                                                                                     \
        _Pragma("GCC unroll 2") for (int64_t l = 0; l < kc; l++)                                              \
        {                                                                                                     \
            __m512 bv[NV];                                                                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);          \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                             \
            {                                                                                                 \
                __m512 ai = _mm512_set1_ps(a[i]);                                                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) cr[i][v] =                               \
                    _mm512_fmadd_ps(ai, bv[v], cr[i][v]);                                                     \
            }                                                                                                 \
            a += MR;                                                                                          \
            b += 16 * NV;                                                                                     \
        }                                                                                                     \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                              \
        {                                                                                                     \
            float *cp = c + i * ldc + 16 * v;                                                                 \
            _mm512_storeu_ps(cp, acc ? _mm512_add_ps(_mm512_loadu_ps(cp), cr[i][v]) : cr[i][v]);              \
        }                                                                                                     \
    }

/* 14 rows x 2 zmm = 28 accumulators, 2 for B, 1 broadcast: 31 of 32 registers,
 * 28 FMAs per 16 loads. On Zen 5, 12x32, 8x48 and 6x64 ran within noise of it. */
UKR_AVX512(ukr_avx512_14x32, 14, 2)

/* AVX2: 6 rows x 2 ymm = 12 accumulators, 2 for B, 1 broadcast: 15 of 16 registers. */
static AVX2_FN void ukr_avx2_6x16(int64_t kc, const void *restrict ap, const void *restrict bp, float *restrict c,
                                  int64_t ldc, int acc, const jb_gemm_epi *epi)
{
    const float *a = ap, *b = bp;
    (void)epi;
    __m256 cr[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        cr[i][0] = cr[i][1] = _mm256_setzero_ps();
        /* The C tile is read (or written) once, after the k loop: ask for its
         * lines now (3% on Zen 3 at m=n=k=1024, measured against oneDNN in one run). */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int64_t l = 0; l < kc; l++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            cr[i][0] = _mm256_fmadd_ps(ai, b0, cr[i][0]);
            cr[i][1] = _mm256_fmadd_ps(ai, b1, cr[i][1]);
        }
        a += 6;
        b += 16;
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        float *cp = c + i * ldc;
        if (acc) {
            cr[i][0] = _mm256_add_ps(_mm256_loadu_ps(cp), cr[i][0]);
            cr[i][1] = _mm256_add_ps(_mm256_loadu_ps(cp + 8), cr[i][1]);
        }
        _mm256_storeu_ps(cp, cr[i][0]);
        _mm256_storeu_ps(cp + 8, cr[i][1]);
    }
}
#endif

/* Portable: GNU C vector extensions (gcc and clang lower them to SSE2, NEON
 * or scalar code), 6 rows x 2 vectors of 4 = 12 accumulators, which with 2
 * for B and a broadcast fits the 16 registers of SSE2. */
typedef float jb_v4f __attribute__((vector_size(16)));

static void ukr_c_6x8(int64_t kc, const void *restrict ap, const void *restrict bp, float *restrict c, int64_t ldc,
                      int acc, const jb_gemm_epi *epi)
{
    const float *a = ap, *b = bp;
    (void)epi;
    jb_v4f cr[6][2];
    for (int i = 0; i < 6; i++)
        cr[i][0] = cr[i][1] = (jb_v4f){0, 0, 0, 0};
    for (int64_t l = 0; l < kc; l++) {
        jb_v4f b0, b1;
        memcpy(&b0, b, sizeof b0);
        memcpy(&b1, b + 4, sizeof b1);
        for (int i = 0; i < 6; i++) {
            const jb_v4f ai = {a[i], a[i], a[i], a[i]};
            cr[i][0] += ai * b0;
            cr[i][1] += ai * b1;
        }
        a += 6;
        b += 8;
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 8; j++)
            c[i * ldc + j] = acc ? c[i * ldc + j] + cr[i][j / 4][j % 4] : cr[i][j / 4][j % 4];
}

/* ---- Packing ------------------------------------------------------------ */

/* Panels of w rows of a row-major src (rows [0, rows), steps [0, kc)):
 * dst[p][l][r] = src[(p*w + r)*ld + l], zero rows past the end. Moves
 * 32-bit lanes as integers, so they arrive bit for bit whatever they hold. */
static void pack_transpose(int w, int64_t rows, int64_t kc, const void *srcv, int64_t ld, void *dstv)
{
    const uint32_t *src = srcv;
    uint32_t *dst = dstv;
    for (int64_t r0 = 0; r0 < rows; r0 += w) {
        int64_t h = rows - r0 < w ? rows - r0 : w;
        const uint32_t *s = src + r0 * ld;
        for (int64_t l = 0; l < kc; l++) {
            int64_t r = 0;
            for (; r < h; r++)
                dst[r] = s[r * ld + l];
            for (; r < w; r++)
                dst[r] = 0;
            dst += w;
        }
    }
}

/* Element i of src: a float, or, when wide, a bf16 widened to a float (a
 * bf16 is the high half of a float). */
static inline float load1(const void *src, int64_t i, int wide)
{
    if (!wide)
        return ((const float *)src)[i];
    const uint32_t u = (uint32_t)((const uint16_t *)src)[i] << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

#ifdef JB_X86
/* 8 floats from src, or, when wide, 8 bf16 widened to floats (a bf16 is the
 * high half of a float). */
static AVX2_FN inline __attribute__((always_inline)) __m256 load8(const void *src, int64_t i, int wide)
{
    if (!wide)
        return _mm256_loadu_ps((const float *)src + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)src + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* pack_transpose with 8x8 AVX transposes: each group of 8 rows of a panel is
 * read as 8 row vectors of 8 steps and written as 8 step vectors; masked
 * stores keep a group that straddles the panel's end inside it. src holds
 * floats, or bf16 when wide (a constant after inlining). */
static AVX2_FN inline __attribute__((always_inline)) void
transpose_avx2_body(int w, int64_t rows, int64_t kc, const void *src, int64_t ld, float *dst, int wide)
{
    static const int32_t ramp[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int64_t kc8 = kc / 8 * 8;
    for (int64_t r0 = 0; r0 < rows; r0 += w) {
        const int64_t h = rows - r0 < w ? rows - r0 : w;
        const int64_t s = r0 * ld; /* the panel's first element */
        for (int g = 0; g < w; g += 8) {
            const int gw = w - g < 8 ? w - g : 8, gh = (int)(h - g < 0 ? 0 : h - g < 8 ? h - g : 8);
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(gw), _mm256_loadu_si256((const __m256i *)ramp));
            float *d = dst + g;
            for (int64_t l = 0; l < kc8; l += 8) {
                __m256 r[8];
                for (int q = 0; q < 8; q++)
                    r[q] = q < gh ? load8(src, s + (g + q) * ld + l, wide) : _mm256_setzero_ps();
                __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
                __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
                __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
                __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
                __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
                r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
                r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
                r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
                r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
                r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
                r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
                r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
                for (int q = 0; q < 8; q++)
                    _mm256_maskstore_ps(d + (l + q) * w, mask, r[q]);
            }
            for (int64_t l = kc8; l < kc; l++)
                for (int q = 0; q < gw; q++)
                    d[l * w + q] = q < gh ? load1(src, s + (g + q) * ld + l, wide) : 0;
        }
        dst += w * kc;
    }
}

static AVX2_FN void pack_transpose_avx2(int w, int64_t rows, int64_t kc, const float *src, int64_t ld, float *dst)
{
    transpose_avx2_body(w, rows, kc, src, ld, dst, 0);
}

static AVX2_FN void pack_transpose_bf16_avx2(int w, int64_t rows, int64_t kc, const uint16_t *src, int64_t ld,
                                             float *dst)
{
    transpose_avx2_body(w, rows, kc, src, ld, dst, 1);
}

/* pack_copy from bf16, widening 8 columns at a time. */
static AVX2_FN void pack_copy_bf16_avx2(int w, int64_t cols, int64_t kc, const uint16_t *src, int64_t ld, float *dst)
{
    for (int64_t j0 = 0; j0 < cols; j0 += w) {
        const int64_t h = cols - j0 < w ? cols - j0 : w;
        const uint16_t *s = src + j0;
        for (int64_t l = 0; l < kc; l++, dst += w) {
            const uint16_t *sl = s + l * ld;
            int64_t j = 0;
            for (; j + 8 <= h; j += 8)
                _mm256_storeu_ps(dst + j, load8(sl, j, 1));
            for (; j < h; j++)
                dst[j] = load1(sl, j, 1);
            for (; j < w; j++)
                dst[j] = 0;
        }
    }
}
#endif

/* The portable pack_transpose and pack_copy from bf16. */
static void pack_transpose_bf16(int w, int64_t rows, int64_t kc, const uint16_t *src, int64_t ld, float *dst)
{
    for (int64_t r0 = 0; r0 < rows; r0 += w) {
        const int64_t h = rows - r0 < w ? rows - r0 : w;
        for (int64_t l = 0; l < kc; l++, dst += w)
            for (int64_t r = 0; r < w; r++)
                dst[r] = r < h ? load1(src, (r0 + r) * ld + l, 1) : 0;
    }
}

static void pack_copy_bf16(int w, int64_t cols, int64_t kc, const uint16_t *src, int64_t ld, float *dst)
{
    for (int64_t j0 = 0; j0 < cols; j0 += w) {
        const int64_t h = cols - j0 < w ? cols - j0 : w;
        for (int64_t l = 0; l < kc; l++, dst += w)
            for (int64_t j = 0; j < w; j++)
                dst[j] = j < h ? load1(src, l * ld + j0 + j, 1) : 0;
    }
}

/* pack_transpose on the widest ISA that isa allows. */
static void transpose(jb_isa isa, int w, int64_t rows, int64_t steps, const void *src, int64_t ld, void *dst)
{
#ifdef JB_X86
    if (isa >= JB_ISA_AVX2) {
        pack_transpose_avx2(w, rows, steps, src, ld, dst);
        return;
    }
#endif
    (void)isa;
    pack_transpose(w, rows, steps, src, ld, dst);
}

void jb_pack_lanes32(int w, int64_t rows, int64_t steps, const void *src, int64_t ld, void *dst)
{
    transpose(jb_cpu_isa(), w, rows, steps, src, ld, dst);
}

/* Panels of w columns of a row-major src (steps [0, kc) are rows):
 * dst[p][l][j] = src[l*ld + p*w + j], zero columns past the end. */
static void pack_copy(int w, int64_t cols, int64_t kc, const float *src, int64_t ld, float *dst)
{
    for (int64_t j0 = 0; j0 < cols; j0 += w) {
        int64_t h = cols - j0 < w ? cols - j0 : w;
        const float *s = src + j0;
        for (int64_t l = 0; l < kc; l++) {
            memcpy(dst, s + l * ld, (size_t)h * sizeof(float));
            if (h < w)
                memset(dst + h, 0, (size_t)(w - h) * sizeof(float));
            dst += w;
        }
    }
}

void jb_sgemm_pack_a(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc, const float *a, int64_t lda, float *dst)
{
    transpose(kr->isa, kr->mr, mc, kc, a, lda, dst);
}

void jb_sgemm_pack_a_bf16(const jb_sgemm_kernel *kr, int64_t mc, int64_t kc, const uint16_t *a, int64_t lda,
                          float *dst)
{
#ifdef JB_X86
    if (kr->isa >= JB_ISA_AVX2) {
        pack_transpose_bf16_avx2(kr->mr, mc, kc, a, lda, dst);
        return;
    }
#endif
    pack_transpose_bf16(kr->mr, mc, kc, a, lda, dst);
}

void jb_sgemm_pack_b_bf16(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc, const uint16_t *b, int64_t ldb,
                          float *dst)
{
#ifdef JB_X86
    if (kr->isa >= JB_ISA_AVX2) {
        pack_copy_bf16_avx2(kr->nr, nc, kc, b, ldb, dst);
        return;
    }
#endif
    pack_copy_bf16(kr->nr, nc, kc, b, ldb, dst);
}

void jb_sgemm_pack_b(const jb_sgemm_kernel *kr, int64_t kc, int64_t nc, const float *b, int64_t ldb, int trans,
                     float *dst)
{
    if (trans)
        transpose(kr->isa, kr->nr, nc, kc, b, ldb, dst);
    else
        pack_copy(kr->nr, nc, kc, b, ldb, dst);
}

/* The driver's packing signatures; B is row-major in a matmul. */
static void pack_a(const jb_gemm_driver *d, int64_t mc, int64_t kc, const void *a, int64_t lda, void *dst)
{
    jb_sgemm_pack_a(d, mc, kc, a, lda, dst);
}

static void pack_b(const jb_gemm_driver *d, int64_t kc, int64_t nc, const void *b, int64_t ldb, void *dst,
                   int32_t *comp)
{
    (void)comp;
    jb_sgemm_pack_b(d, kc, nc, b, ldb, 0, dst);
}

/* ---- Descriptors -------------------------------------------------------- */

/*
 * Block sizes come from this machine's caches at first use
 * (jb_gemm_block_sizes, gemm_blocking.c): kc so that a B micro-panel and an
 * A micro-panel share L1, mc so that the A block fills half of L2, nc so that
 * the B block fills half of L3. They used to be constants tuned on a Zen 5
 * (48 KiB L1d, 1 MiB L2 per core): AVX-512 mc = 168, kc = 384, nc = 3072;
 * AVX2 and C mc = 144, kc = 256, nc = 3072 and 2048. Where the rule and those
 * differ most is kc on AVX-512: with kc = 384 the 48 KiB B micro-panel does
 * not stay in L1, so both operands stream from L2, which has bandwidth to
 * spare for 28 FMAs per 184 bytes, and on Zen 5 that measured faster than a
 * kc small enough for L1 (the rule gives 224 there), which makes more passes
 * over C. The rule keeps to L1, as the paper does; docs/performance.md has
 * what it chose on the machines measured.
 */
#define F32(NAME, ISA, MR, NR, UKR)                                                                             \
    {.name = NAME, .isa = ISA, .mr = MR, .nr = NR, .kstep = 1, .ukr = UKR, .pack_a = pack_a, .pack_b = pack_b}
static jb_sgemm_kernel kernels[] = {
#ifdef JB_X86
    F32("avx512_14x32", JB_ISA_AVX512, 14, 32, ukr_avx512_14x32),
    F32("avx2_6x16", JB_ISA_AVX2, 6, 16, ukr_avx2_6x16),
#endif
    F32("c_6x8", JB_ISA_PORTABLE, 6, 8, ukr_c_6x8),
};
#undef F32

static pthread_once_t blocked = PTHREAD_ONCE_INIT;

static void block_all(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        jb_gemm_driver_block(&kernels[i]);
}

/* The first call may come from inside a parallel region (jb_sgemm_st in
 * fused attention), hence the once. */
const jb_sgemm_kernel *jb_sgemm_kernel_get(void)
{
    pthread_once(&blocked, block_all);
    const jb_isa isa = jb_cpu_isa();
    const size_t n = sizeof kernels / sizeof kernels[0];
    for (size_t i = 0; i < n; i++)
        if (kernels[i].isa == isa)
            return &kernels[i];
    return &kernels[n - 1];
}

void jb_sgemm_macro(const jb_sgemm_kernel *kr, int64_t mc, int64_t nc, int64_t kc, const float *pa,
                    const float *pb, float *c, int64_t ldc, int acc)
{
    /* Without b_src the macro-kernel only reads b. */
    const jb_gemm_block x = {
        .mc = mc, .nc = nc, .kc = kc, .a = pa, .a_rs = kc, .m_left = mc, .b = (float *)pb, .c = c, .ldc = ldc, .acc = acc};
    jb_gemm_macro(kr, &x);
}
