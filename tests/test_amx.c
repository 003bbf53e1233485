/*
 * The AMX kernels (matmul/cpu/amx/bf16, matmul/cpu/amx/int8,
 * jb_amx_bf16_gemm_st and the amx path of attention/cpu/flash/bf16) on every
 * machine: their micro-kernels, packing, blocking, threading and edges run
 * on the plain-C tile emulation of amx_emu.c (through jb_amx_set_test_ops)
 * against the fp64 oracle, with guard bytes, on odd shapes; the emulation
 * itself is checked on one tile product written out from Intel's
 * definition; and without AMX the registry's kernels say they are
 * unavailable, and why. On an AMX machine, test_kernels checks the same
 * kernels on the real tiles (kernels_amx).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jb_kernels.h"
#include "cpu/amx.h"
#include "cpu/cpu.h"
#ifdef _OPENMP
#include <omp.h>
#endif

extern const jb_amx_ops jb_amx_emu_ops;

static const char *const names[] = {"matmul/cpu/amx/bf16", "matmul/cpu/amx/int8"};

static uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static double from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) /* in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / (double)(1ull << 52) - 1.0;
}

/* Without AMX (or with JB_ISA below amx) the kernels are unavailable and say
 * why; with it they are available. Decided by the same detection the kernels
 * use, so this holds on either machine. */
static void test_unavailable_without_amx(void **state)
{
    (void)state;
    jb_amx_set_test_ops(NULL);
    for (int i = 0; i < 2; i++) {
        const jb_kernel *k = jb_registry_find(names[i]);
        assert_non_null(k);
        char want[200] = "", why[200] = "";
        const int has = i ? jb_cpu_has_amx_int8(want, sizeof want) : jb_cpu_has_amx_bf16(want, sizeof want);
        const int rc = jb_kernel_available(k, why, sizeof why);
        if (has) {
            assert_int_equal(rc, JB_OK);
            continue;
        }
        print_message("%s: unavailable: %s\n", k->name, why);
        assert_int_equal(rc, JB_EUNAVAILABLE);
        assert_non_null(strstr(why, "AMX"));
        jb_family f;
        jb_kernel_path(k, &(jb_problem){.op = JB_OP_MATMUL, .m = 1, .n = 1, .k = 1}, &f);
        assert_int_equal(f, i ? JB_FAM_AMX_INT8 : JB_FAM_AMX_BF16);
        /* The checker refuses it before any setup or run. */
        jb_verify_result r;
        assert_int_equal(jb_verify_once(k, &(jb_problem){.op = JB_OP_MATMUL, .m = 4, .n = 4, .k = 4}, 1, &r),
                         JB_EUNAVAILABLE);
    }
}

/* One 16x32 block of one k block per dtype, the operands laid out as the
 * SDM's pseudo-code reads the tiles (A row m: k values; B row r: pairs or
 * quads of k values of each column, VNNI), against the sums written out. */
static void test_emulation_follows_the_sdm(void **state)
{
    (void)state;
    _Alignas(64) unsigned char a[2048], b[2048];
    _Alignas(64) float c[16 * 32];
    const jb_amx_ops *ops = &jb_amx_emu_ops;
    /* bf16: A[m][l] and B[l][n] for l < 32 */
    uint16_t av[16][32], bv[32][32];
    for (int m = 0; m < 16; m++)
        for (int l = 0; l < 32; l++)
            av[m][l] = to_bf16((float)uniform());
    for (int l = 0; l < 32; l++)
        for (int n = 0; n < 32; n++)
            bv[l][n] = to_bf16((float)uniform());
    memset(a, 0, sizeof a);
    memcpy(a, av, sizeof av); /* rows 0-15, 64 bytes each */
    for (int l = 0; l < 32; l++)
        for (int n = 0; n < 32; n++)
            memcpy(b + (n / 16) * 1024 + (l / 2) * 64 + (n % 16) * 4 + (l % 2) * 2, &bv[l][n], 2);
    for (int i = 0; i < 16 * 32; i++)
        c[i] = 1.0f;
    ops->configure();
    ops->bf16_block(1, 1, a, b, c, 32, 1);
    ops->release();
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 32; n++) {
            double want = 1.0;
            for (int l = 0; l < 32; l++)
                want += from_bf16(av[m][l]) * from_bf16(bv[l][n]);
            assert_true(fabs(c[m * 32 + n] - want) < 1e-5);
        }
    /* int8: k values l < 64, extremes included; sums stay exact. */
    int8_t aq[16][64], bq[64][32];
    for (int m = 0; m < 16; m++)
        for (int l = 0; l < 64; l++)
            aq[m][l] = (int8_t)((m * 37 + l * 11) % 256 - 128);
    for (int l = 0; l < 64; l++)
        for (int n = 0; n < 32; n++)
            bq[l][n] = (int8_t)((l * 29 + n * 7 + 3) % 255 - 127);
    memset(a, 0, sizeof a);
    memcpy(a, aq, sizeof aq);
    for (int l = 0; l < 64; l++)
        for (int n = 0; n < 32; n++)
            b[(n / 16) * 1024 + (l / 4) * 64 + (n % 16) * 4 + l % 4] = (unsigned char)bq[l][n];
    int32_t ci[16 * 32];
    for (int i = 0; i < 16 * 32; i++)
        ci[i] = -5;
    ops->configure();
    ops->s8_block(1, 1, a, b, ci, 32, 1);
    ops->release();
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 32; n++) {
            int32_t want = -5;
            for (int l = 0; l < 64; l++)
                want += aq[m][l] * bq[l][n];
            assert_int_equal(ci[m * 32 + n], want);
        }
}

/* Odd shapes: 1, k = 1, n = 17, sizes off every multiple of 16/32/64, m
 * with a last panel of at most 16 rows, and one past several k chunks (512
 * bf16 / 1024 int8 values) and row runs (256 rows). */
static const jb_problem shapes[] = {
    {.op = JB_OP_MATMUL, .m = 1, .n = 1, .k = 1},
    {.op = JB_OP_MATMUL, .m = 1, .n = 17, .k = 100},
    {.op = JB_OP_MATMUL, .m = 7, .n = 13, .k = 5},
    {.op = JB_OP_MATMUL, .m = 16, .n = 32, .k = 64},
    {.op = JB_OP_MATMUL, .m = 17, .n = 17, .k = 1},
    {.op = JB_OP_MATMUL, .m = 33, .n = 127, .k = 130},
    {.op = JB_OP_MATMUL, .m = 64, .n = 64, .k = 64},
    {.op = JB_OP_MATMUL, .m = 50, .n = 45, .k = 31},
    {.op = JB_OP_MATMUL, .m = 300, .n = 70, .k = 1100},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static void verify_all(int threads)
{
#ifdef _OPENMP
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    jb_amx_set_test_ops(&jb_amx_emu_ops);
    for (int i = 0; i < 2; i++) {
        const jb_kernel *k = jb_registry_find(names[i]);
        char why[200];
        assert_int_equal(jb_kernel_available(k, why, sizeof why), JB_OK);
        jb_family f;
        assert_string_equal(jb_kernel_path(k, &shapes[0], &f), "amx_emulated");
        for (size_t s = 0; s < NSHAPES; s++)
            for (int packed = 0; packed <= 1; packed++) {
                jb_problem p = shapes[s];
                p.packed = packed;
                jb_verify_result r;
                const int rc = jb_verify_once(k, &p, 7 + s, &r);
                char shape[128];
                jb_problem_format(&p, shape, sizeof shape);
                if (rc != JB_OK)
                    fail_msg("%s %s packed %d, %d threads: %s (%s)", k->name, shape, packed, threads, r.msg,
                             jb_strerror(rc));
                assert_int_equal(r.unwritten, 0);
                assert_int_equal(r.nonfinite, 0);
                assert_true(r.guard_ok);
                assert_true(r.max_err <= k->tolerance);
            }
    }
    jb_amx_set_test_ops(NULL);
#ifdef _OPENMP
    omp_set_num_threads(before);
#endif
}

static void test_matmuls_emulated_2_threads(void **state)
{
    (void)state;
    verify_all(2);
}

/* 3 threads: a 3 x 1 or 1 x 3 grid, and parts with no block at all. */
static void test_matmuls_emulated_3_threads(void **state)
{
    (void)state;
    verify_all(3);
}

/* jb_amx_bf16_gemm_st with strides past the sizes, B plain and transposed,
 * acc 0 and 1; C outside its m x n keeps its guard value. */
static void check_st(int64_t m, int64_t n, int64_t k, int trans)
{
    const int64_t lda = k + 3, ldb = (trans ? k : n) + 5, ldc = n + 7, brows = trans ? n : k;
    uint16_t *a = malloc((size_t)(m * lda) * 2), *b = malloc((size_t)(brows * ldb) * 2);
    uint16_t *pb = aligned_alloc(64, jb_amx_bf16_packb_bytes(k, n) + 64);
    float *c = malloc((size_t)(m * ldc + 16) * 4);
    assert_true(a && b && pb && c);
    for (int64_t i = 0; i < m * lda; i++)
        a[i] = to_bf16((float)uniform());
    for (int64_t i = 0; i < brows * ldb; i++)
        b[i] = to_bf16((float)uniform());
    jb_amx_bf16_pack_b(k, n, b, ldb, trans, pb);
    for (int acc = 0; acc <= 1; acc++) {
        for (int64_t i = 0; i < m * ldc + 16; i++)
            c[i] = acc ? (float)uniform() : -7.0f;
        float *c0 = malloc((size_t)(m * ldc + 16) * 4);
        assert_non_null(c0);
        memcpy(c0, c, (size_t)(m * ldc + 16) * 4);
        jb_amx_bf16_gemm_st(m, n, k, a, lda, pb, c, ldc, acc);
        double maxref = 0, maxerr = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < ldc; j++) {
                if (j >= n) {
                    assert_true(c[i * ldc + j] == c0[i * ldc + j]);
                    continue;
                }
                double ref = acc ? c0[i * ldc + j] : 0;
                for (int64_t l = 0; l < k; l++)
                    ref += from_bf16(a[i * lda + l]) * from_bf16(trans ? b[j * ldb + l] : b[l * ldb + j]);
                maxref = fmax(maxref, fabs(ref));
                maxerr = fmax(maxerr, fabs(ref - c[i * ldc + j]));
            }
        for (int i = 0; i < 16; i++)
            assert_true(c[m * ldc + i] == c0[m * ldc + i]);
        if (maxerr > 1e-5 * fmax(maxref, 1e-30))
            fail_msg("gemm_st m=%lld n=%lld k=%lld trans=%d acc=%d: error %g of %g", (long long)m, (long long)n,
                     (long long)k, trans, acc, maxerr, maxref);
        free(c0);
    }
    free(a);
    free(b);
    free(pb);
    free(c);
}

static void test_gemm_st_emulated(void **state)
{
    (void)state;
    static const int64_t sh[][3] = {{1, 1, 1}, {5, 17, 3}, {33, 40, 70}, {64, 64, 128}, {70, 100, 300}};
    jb_amx_set_test_ops(&jb_amx_emu_ops);
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int trans = 0; trans <= 1; trans++)
            check_st(sh[s][0], sh[s][1], sh[s][2], trans);
    jb_amx_set_test_ops(NULL);
}

/* attention/cpu/flash/bf16 on its amx path (bf16.h: chosen first wherever
 * there are tile ops, here the emulation's): both products on the tiles,
 * against the oracle on the bf16-rounded inputs at the kernel's tolerance,
 * with guard bytes, on odd n and d, causal or not, decode (q < n), several
 * heads and batches, with 2 and 3 threads. matmul/cpu/blocked/bf16 keeps
 * off the tiles all the same. */
static void test_flash_bf16_emulated(void **state)
{
    (void)state;
    static const jb_problem probs[] = {
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 1, .d = 1},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 37, .d = 24},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 37, .d = 24, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .seq = 130, .d = 64},
        {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .seq = 130, .d = 64, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .q = 5, .seq = 130, .d = 64, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 1, .seq = 200, .d = 7},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 3, .seq = 300, .d = 7, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .seq = 127, .d = 80, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 97, .d = 130},
    };
    const char *old = getenv("JB_BF16_PATH");
    char *saved = old ? strdup(old) : NULL;
    const jb_kernel *k = jb_registry_find("attention/cpu/flash/bf16"), *mm = jb_registry_find("matmul/cpu/blocked/bf16");
    assert_non_null(k);
    assert_non_null(mm);
    jb_amx_set_test_ops(&jb_amx_emu_ops);
#ifdef _OPENMP
    const int before = omp_get_max_threads();
#endif
    for (int forced = 0; forced <= 1; forced++) {
        if (forced)
            setenv("JB_BF16_PATH", "amx", 1);
        else
            unsetenv("JB_BF16_PATH");
        char why[200];
        assert_int_equal(jb_kernel_available(k, why, sizeof why), JB_OK);
        jb_family f;
        assert_string_equal(jb_kernel_path(k, &probs[0], &f), "amx_emulated");
        assert_int_equal(f, JB_FAM_AMX_BF16);
        const jb_problem mp = {.op = JB_OP_MATMUL, .m = 4, .n = 4, .k = 4};
        if (forced) {
            assert_int_equal(jb_kernel_available(mm, why, sizeof why), JB_EUNAVAILABLE);
            assert_non_null(strstr(why, "no AMX path"));
        } else {
            assert_int_equal(jb_kernel_available(mm, why, sizeof why), JB_OK);
            jb_kernel_path(mm, &mp, &f);
            assert_int_not_equal(f, JB_FAM_AMX_BF16);
        }
        for (int threads = 2; threads <= 3; threads++) {
#ifdef _OPENMP
            omp_set_num_threads(threads);
#endif
            for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
                jb_verify_result r;
                char shape[128];
                jb_problem_format(&probs[i], shape, sizeof shape);
                if (jb_verify_once(k, &probs[i], 3 + i, &r) != JB_OK)
                    fail_msg("%s %s, %d threads: %s", k->name, shape, threads, r.msg);
                assert_int_equal(r.unwritten, 0);
                assert_int_equal(r.nonfinite, 0);
                assert_true(r.guard_ok);
                assert_true(r.max_err <= k->tolerance);
                if (!forced && threads == 2)
                    print_message("%s %s: max error %.3g\n", k->name, shape, r.max_err);
            }
        }
    }
#ifdef _OPENMP
    omp_set_num_threads(before);
#endif
    jb_amx_set_test_ops(NULL);
    if (saved)
        setenv("JB_BF16_PATH", saved, 1);
    else
        unsetenv("JB_BF16_PATH");
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unavailable_without_amx),
        cmocka_unit_test(test_emulation_follows_the_sdm),
        cmocka_unit_test(test_matmuls_emulated_2_threads),
        cmocka_unit_test(test_matmuls_emulated_3_threads),
        cmocka_unit_test(test_gemm_st_emulated),
        cmocka_unit_test(test_flash_bf16_emulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
