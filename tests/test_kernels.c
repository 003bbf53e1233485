/*
 * Every registered kernel on every shape against the fp64 oracle: outputs
 * poisoned beforehand and checked written, guard bytes checked, NaN/Inf
 * rejected, normalized error under the kernel's tolerance. Registering a
 * kernel adds its tests here with no other change. Also checks that the
 * checker itself catches the faults it claims to catch.
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
#include "cpu/bf16.h"        /* the bf16 path rule, checked directly below */
#include "cpu/gemm_ukernel.h" /* the block-size rule, and the blocks pre-packed B is laid out in */
#include "cpu/wq.h"
#include "cpu/splitkv.h" /* the split-KV plan and merge, checked directly below */
#ifdef _OPENMP
#include <omp.h>
#endif

/* Odd sizes (1, 7, 33, 127, 130, 257) so every tile remainder path runs. */
static const jb_problem shapes[] = {
    {.op = JB_OP_MATMUL, .m = 1, .n = 1, .k = 1},
    {.op = JB_OP_MATMUL, .m = 7, .n = 13, .k = 5},
    {.op = JB_OP_MATMUL, .m = 33, .n = 127, .k = 130},
    {.op = JB_OP_MATMUL, .m = 127, .n = 257, .k = 33},
    {.op = JB_OP_MATMUL, .m = 130, .n = 7, .k = 257},
    {.op = JB_OP_MATMUL, .m = 257, .n = 130, .k = 127},
    {.op = JB_OP_MATMUL, .m = 1, .n = 257, .k = 1000},
    {.op = JB_OP_MATMUL, .m = 256, .n = 256, .k = 256},
    {.op = JB_OP_MATMUL, .m = 300, .n = 520, .k = 600},
    /* k past one k block (2048 for int8 VNNI): the first with one row of
     * threads (each packs its own B panels), the second with the threads
     * packing B together. */
    {.op = JB_OP_MATMUL, .m = 14, .n = 200, .k = 2100},
    {.op = JB_OP_MATMUL, .m = 45, .n = 100, .k = 4200},
    /* Decode batches (m 1 to 17) with k past whole groups of 32 (w8, w4: the
     * last group partial) and n past whole 16-column panels. */
    {.op = JB_OP_MATMUL, .m = 1, .n = 40, .k = 32},
    {.op = JB_OP_MATMUL, .m = 3, .n = 17, .k = 33},
    {.op = JB_OP_MATMUL, .m = 16, .n = 50, .k = 100},
    {.op = JB_OP_MATMUL, .m = 17, .n = 33, .k = 4100},
    {.op = JB_OP_MATMUL, .m = 1, .n = 300, .k = 4097},
    /* B converted in setup (packed=1): odd sizes, k past one k block with one
     * row of threads and with several, and n past one n block (3072 for f32
     * AVX2, 4096 for int8), so that several pre-packed blocks are read.
     * test_packed_same_result sizes its shapes from the descriptors. */
    {.op = JB_OP_MATMUL, .m = 1, .n = 1, .k = 1, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 7, .n = 13, .k = 5, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 33, .n = 127, .k = 130, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 257, .n = 130, .k = 127, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 14, .n = 200, .k = 2100, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 45, .n = 3100, .k = 600, .packed = 1},
    {.op = JB_OP_MATMUL, .m = 5, .n = 4200, .k = 2100, .packed = 1},
    {.op = JB_OP_SOFTMAX, .rows = 1, .cols = 1},
    {.op = JB_OP_SOFTMAX, .rows = 7, .cols = 33},
    {.op = JB_OP_SOFTMAX, .rows = 33, .cols = 127, .causal = 1},
    {.op = JB_OP_SOFTMAX, .rows = 127, .cols = 130},
    {.op = JB_OP_SOFTMAX, .rows = 130, .cols = 257, .causal = 1, .scale = 0.125},
    {.op = JB_OP_SOFTMAX, .rows = 257, .cols = 1, .causal = 1},
    {.op = JB_OP_SOFTMAX, .rows = 300, .cols = 100, .causal = 1},
    {.op = JB_OP_SOFTMAX, .rows = 5, .cols = 4099, .scale = 3.0},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 1, .d = 16},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 7, .d = 16, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .seq = 33, .d = 64},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .seq = 127, .d = 80, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 130, .d = 128},
    {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .seq = 257, .d = 80, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 257, .d = 256},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .seq = 200, .d = 24, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 33, .d = 8},   /* below the usual head dims */
    /* Decode over a KV cache (q < n): one token, speculative q = 5, odd n. */
    {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 1, .seq = 7, .d = 16, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .q = 1, .seq = 257, .d = 64},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 4, .q = 5, .seq = 130, .d = 128, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 5, .seq = 33, .d = 80},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 3, .seq = 1000, .d = 64, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 8, .q = 1, .seq = 4099, .d = 128, .causal = 1},
    /* Split-KV at 2 threads: 8 chunks, the last shorter; 5 chunks, the last
     * (3 keys) after the first of 4 causal queries; n under one chunk; a
     * head dim that is no multiple of 8, 2 chunks. */
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 1, .seq = 1500, .d = 80, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 4, .seq = 643, .d = 128, .causal = 1},
    {.op = JB_OP_ATTENTION, .b = 2, .h = 1, .q = 1, .seq = 100, .d = 64},
    {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 7, .seq = 300, .d = 20, .causal = 1},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

typedef struct kcase {
    const jb_kernel *k;
    const jb_problem *p;
} kcase;

static void test_kernel_shape(void **state)
{
    const kcase *c = *state;
    char why[256], shape[128];
    jb_problem_format(c->p, shape, sizeof shape);
    if (jb_kernel_available(c->k, why, sizeof why)) {
        print_message("[  SKIP    ] %s %s: unavailable: %s\n", c->k->name, shape, why);
        skip();
    }
    if (jb_kernel_supports(c->k, c->p, why, sizeof why)) {
        print_message("[  SKIP    ] %s %s: unsupported: %s\n", c->k->name, shape, why);
        skip();
    }
    for (uint64_t seed = 1; seed <= 2; seed++) {
        jb_verify_result r;
        int rc = jb_verify_once(c->k, c->p, seed, &r);
        if (rc == JB_EUNSUPPORTED) { /* the library, asked on the device, has no way to do it */
            print_message("[  SKIP    ] %s %s: unsupported: %s\n", c->k->name, shape, r.msg);
            skip();
        }
        if (rc != JB_OK)
            fail_msg("%s %s seed %llu: %s (%s)", c->k->name, shape, (unsigned long long)seed, r.msg,
                     jb_strerror(rc));
        assert_int_equal(r.unwritten, 0);
        assert_int_equal(r.nonfinite, 0);
        assert_true(r.guard_ok);
        assert_true(r.max_err <= c->k->tolerance);
    }
}

/* ---- Faulty kernels: the checker must catch each fault ---------------- */

static int run_wrong(jb_exec *e)
{
    size_t n = jb_problem_output_elems(e->p);
    for (size_t i = 0; i < n; i++)
        e->out[i] = 0.5f;
    return JB_OK;
}
static int run_skip_last(jb_exec *e)
{
    const jb_kernel *naive = jb_registry_find("matmul/cpu/naive/f32");
    int rc = naive->run(e);
    /* Put the poison back into the last element, as if it were never written. */
    memcpy(&e->out[jb_problem_output_elems(e->p) - 1], &(uint32_t){0x7fa5a5a5u}, 4);
    return rc;
}
static int run_overflow(jb_exec *e)
{
    const jb_kernel *naive = jb_registry_find("matmul/cpu/naive/f32");
    int rc = naive->run(e);
    e->out[jb_problem_output_elems(e->p)] = 1.0f; /* one past the end: lands in the guard */
    return rc;
}
static int run_nan(jb_exec *e)
{
    const jb_kernel *naive = jb_registry_find("matmul/cpu/naive/f32");
    int rc = naive->run(e);
    e->out[0] = 0.0f / 0.0f;
    return rc;
}
static int run_slightly_off(jb_exec *e)
{
    const jb_kernel *naive = jb_registry_find("matmul/cpu/naive/f32");
    int rc = naive->run(e);
    e->out[3] *= 1.001f;
    return rc;
}

static void check_fault(int (*run)(jb_exec *), const char *expect)
{
    jb_kernel bad = {.name = "matmul/cpu/faulty/f32", .op = JB_OP_MATMUL, .variant = "faulty",
                     .tolerance = 1e-5, .run = run};
    jb_problem p = {.op = JB_OP_MATMUL, .m = 9, .n = 10, .k = 11};
    jb_verify_result r;
    assert_int_equal(jb_verify_once(&bad, &p, 1, &r), JB_EVERIFY);
    if (!strstr(r.msg, expect))
        fail_msg("expected '%s' in '%s'", expect, r.msg);
}

static void test_checker_catches_faults(void **state)
{
    (void)state;
    check_fault(run_wrong, "exceeds tolerance");
    check_fault(run_skip_last, "never written");
    check_fault(run_overflow, "guard bytes");
    check_fault(run_nan, "NaN");
    check_fault(run_slightly_off, "exceeds tolerance");
}

/* A kernel that does not say it takes q < n is asked self-attention only. */
static void test_decode_needs_the_flag(void **state)
{
    (void)state;
    jb_problem p = {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 1, .seq = 8, .d = 16};
    char why[256];
    for (size_t i = 0; i < jb_registry_count(); i++) {
        const jb_kernel *k = jb_registry_get(i);
        if (k->op != JB_OP_ATTENTION)
            continue;
        int rc = jb_kernel_supports(k, &p, why, sizeof why);
        if (!k->decode) {
            assert_int_equal(rc, JB_EUNSUPPORTED);
            assert_non_null(strstr(why, "q < n"));
        }
    }
    assert_int_equal(jb_registry_find("attention/cpu/naive/f32")->decode, 1);
}

static void test_unsupported_is_skip_not_failure(void **state)
{
    (void)state;
    const jb_kernel *k = jb_registry_find("attention/cpu/naive/f32");
    jb_problem p = {.op = JB_OP_MATMUL, .m = 2, .n = 2, .k = 2};
    jb_verify_result r;
    char why[128];
    assert_int_equal(jb_kernel_supports(k, &p, why, sizeof why), JB_EUNSUPPORTED);
    assert_int_equal(jb_verify_once(k, &p, 1, &r), JB_EUNSUPPORTED);
}

/* A library that, asked in setup, has no algorithm for the shape (cuBLASLt
 * int8 on some device): its reason comes back, as a skip, never a failure. */
static int setup_no_algorithm(jb_exec *e)
{
    snprintf(e->why, sizeof e->why, "the library has no algorithm for m=%lld", (long long)e->p->m);
    return JB_EUNSUPPORTED;
}

static void test_setup_unsupported_is_skip(void **state)
{
    (void)state;
    jb_kernel k = {.name = "matmul/cpu/picky/f32", .op = JB_OP_MATMUL, .variant = "picky", .tolerance = 1e-5,
                   .setup = setup_no_algorithm, .run = run_wrong};
    jb_problem p = {.op = JB_OP_MATMUL, .m = 7, .n = 2, .k = 2};
    jb_verify_result r;
    assert_int_equal(jb_verify_once(&k, &p, 1, &r), JB_EUNSUPPORTED);
    assert_string_equal(r.msg, "the library has no algorithm for m=7");
}

/* A race the shared-shape tests hit about once in fifty: with B packed on
 * first use without barriers, a thread could repack panels another still read
 * when the next k block had another depth. k = 2100 gives two blocks of
 * different depth; 3 threads split the columns unevenly. Many tries, so a
 * reintroduced race fails this test almost surely (HEAD before the fix: 15
 * of 720 tries failed). */
static void test_int8_block_change_race(void **state)
{
    (void)state;
    const jb_kernel *k = jb_registry_find("matmul/cpu/blocked/int8");
    jb_problem p = {.op = JB_OP_MATMUL, .m = 14, .n = 200, .k = 2100};
#ifdef _OPENMP
    int before = omp_get_max_threads();
    omp_set_num_threads(3);
#endif
    int failed = 0;
    for (int i = 0; i < 150 && !failed; i++) {
        jb_verify_result r;
        if (jb_verify_once(k, &p, 1 + (uint64_t)(i % 3), &r) != JB_OK) {
            print_message("try %d: %s\n", i, r.msg);
            failed = 1;
        }
    }
#ifdef _OPENMP
    omp_set_num_threads(before);
#endif
    assert_false(failed);
}

/* packed=1 moves B's layout conversion to setup and must not change the
 * result: every matmul kernel gives the same output on the same inputs with
 * packed=0 and 1, bit for bit except the vendor library's (the same panels
 * meet the same micro-kernel calls; oneDNN may pick another implementation
 * for the layout it chose), which must agree within its tolerance. The first
 * shape spans more than one k and one n block of both blocked descriptors
 * this CPU uses, whatever block sizes they have, so several pre-packed
 * blocks are read. */
static void test_packed_same_result(void **state)
{
    (void)state;
    const jb_gemm_driver *f = jb_sgemm_kernel_get(), *q = jb_s8gemm_kernel_get();
    const int64_t nc = f->nc > q->nc ? f->nc : q->nc, kc = f->kc > q->kc ? f->kc : q->kc;
    const jb_problem probs[] = {
        {.op = JB_OP_MATMUL, .m = 9, .n = nc + 37, .k = kc + 5},
        {.op = JB_OP_MATMUL, .m = 33, .n = 130, .k = 257},
    };
    for (size_t i = 0; i < jb_registry_count(); i++) {
        const jb_kernel *k = jb_registry_get(i);
        char why[256];
        if (k->op != JB_OP_MATMUL || jb_kernel_available(k, why, sizeof why))
            continue;
        for (size_t pi = 0; pi < sizeof probs / sizeof probs[0]; pi++) {
            float *out[2] = {NULL, NULL};
            size_t n = jb_problem_output_elems(&probs[pi]);
            int skipped = 0;
            for (int packed = 0; packed < 2; packed++) {
                jb_problem p = probs[pi];
                p.packed = packed;
                if (jb_kernel_supports(k, &p, why, sizeof why)) {
                    skipped = 1;
                    break;
                }
                jb_buffers b;
                jb_exec e;
                jb_verify_result r;
                assert_int_equal(jb_buffers_init(&b, k, &p, 5), JB_OK);
                int rc = jb_verify(k, &b, &e, &r);
                if (rc == JB_OK) {
                    out[packed] = malloc(n * sizeof(float));
                    assert_non_null(out[packed]);
                    memcpy(out[packed], b.out, n * sizeof(float));
                    jb_exec_teardown(k, &e);
                }
                jb_buffers_free(&b);
                if (rc == JB_EUNSUPPORTED) {
                    skipped = 1;
                    break;
                }
                if (rc != JB_OK)
                    fail_msg("%s m=%lld n=%lld k=%lld packed=%d: %s", k->name, (long long)p.m, (long long)p.n,
                             (long long)p.k, packed, r.msg);
            }
            if (!skipped) {
                const int exact = strcmp(k->variant, "onednn") != 0;
                double big = 0, diff = 0;
                for (size_t j = 0; j < n; j++) {
                    big = fmax(big, fabs(out[0][j]));
                    diff = fmax(diff, fabs(out[0][j] - out[1][j]));
                }
                if (exact ? memcmp(out[0], out[1], n * sizeof(float)) != 0 : diff > k->tolerance * big)
                    fail_msg("%s m=%lld n=%lld k=%lld: packed=1 differs from packed=0 by up to %g (max |C| %g)",
                             k->name, (long long)probs[pi].m, (long long)probs[pi].n, (long long)probs[pi].k, diff,
                             big);
            }
            free(out[0]);
            free(out[1]);
        }
    }
}

/* ---- Weight-only quantization (w8, w4) ----------------------------------- */

/* Q4_0 and Q8_0 of known groups give the codes and scales of ggml's rule. */
static void test_wq_quantize_known_groups(void **state)
{
    (void)state;
    float x[32], d;
    uint8_t q4[32];
    int8_t q8[32];
    /* d = the value of largest magnitude (-4) / -8 = 0.5, so 0.5 * (i - 8)
     * has code i; the second half is 0.2 off, which rounds back. */
    for (int i = 0; i < 32; i++)
        x[i] = 0.5f * (float)(i % 16 - 8) + (i >= 16 ? 0.2f : 0.0f);
    jb_wq_quantize_q4_0(x, 1, 32, q4, &d);
    assert_true(d == 0.5f);
    for (int i = 0; i < 32; i++)
        assert_int_equal(q4[i], i % 16);
    /* A positive extreme: d = 4 / -8 = -0.5, 4 -> 0, 1 -> 6, and -4, one
     * step past the codes, is clamped to 15 (-3.5). Strided input. */
    const float y[6] = {4.0f, 9.0f, -4.0f, 9.0f, 1.0f, 9.0f};
    jb_wq_quantize_q4_0(y, 2, 3, q4, &d);
    assert_true(d == -0.5f);
    assert_int_equal(q4[0], 0);
    assert_int_equal(q4[1], 15);
    assert_int_equal(q4[2], 6);
    /* An all-zero group: scale 0, codes that decode to 0. */
    const float z[3] = {0};
    jb_wq_quantize_q4_0(z, 1, 3, q4, &d);
    assert_true(d == 0.0f);
    assert_int_equal(q4[0], 8);
    jb_wq_quantize_q8_0(z, 1, 3, q8, &d);
    assert_true(d == 0.0f);
    assert_int_equal(q8[0], 0);
    /* Q8_0: s = max|x| / 127 = 2^-7 exactly; i * 2^-7 has code i, and
     * 2.5 * 2^-7 rounds away from zero. */
    for (int i = 0; i < 32; i++)
        x[i] = ldexpf((float)(i - 16), -7);
    x[0] = ldexpf(-127.0f, -7);
    x[1] = ldexpf(2.5f, -7);
    x[2] = ldexpf(-2.5f, -7);
    jb_wq_quantize_q8_0(x, 1, 32, q8, &d);
    assert_true(d == ldexpf(1.0f, -7));
    assert_int_equal(q8[0], -127);
    assert_int_equal(q8[1], 3);
    assert_int_equal(q8[2], -3);
    for (int i = 3; i < 32; i++)
        assert_int_equal(q8[i], i - 16);
}

/* A packed block decodes to each column's own codes times its own scale,
 * and to 0 in the padding (steps past k, columns past n). */
static void test_wq_pack_roundtrip(void **state)
{
    (void)state;
    float b[32 * JB_WQ_NR];
    _Alignas(64) uint8_t blk[1024];
    uint64_t s = 12345;
    for (int i = 0; i < 32 * JB_WQ_NR; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = ldexpf((float)(int)(s >> 40) / (float)(1 << 23) - 1.0f, i % JB_WQ_NR % 5 - 2);
    }
    static const int sizes[][2] = {{32, JB_WQ_NR}, {5, 3}, {31, 9}, {1, 1}};
    for (int f = 0; f < JB_WQ_FORMAT_COUNT; f++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            const int steps = sizes[z][0], cols = sizes[z][1];
            assert_true(jb_wq_block_bytes((jb_wq_format)f) <= sizeof blk);
            jb_wq_pack_block((jb_wq_format)f, b, JB_WQ_NR, steps, cols, blk);
            for (int j = 0; j < JB_WQ_NR; j++) {
                int8_t q8[32];
                uint8_t q4[32];
                float d = 0;
                if (j < cols && f == JB_WQ_Q8_0)
                    jb_wq_quantize_q8_0(b + j, JB_WQ_NR, steps, q8, &d);
                else if (j < cols)
                    jb_wq_quantize_q4_0(b + j, JB_WQ_NR, steps, q4, &d);
                for (int t = 0; t < 32; t++) {
                    float want = 0;
                    if (j < cols && t < steps)
                        want = (float)(f == JB_WQ_Q8_0 ? q8[t] : q4[t] - 8) * d;
                    float got = jb_wq_block_value((jb_wq_format)f, blk, t, j);
                    if (got != want)
                        fail_msg("format %d, %dx%d block: step %d column %d decodes to %g, not %g", f, steps, cols,
                                 t, j, got, want);
                }
            }
        }
}

/* The kernels against the oracle on a B whose scales differ by powers of two
 * from group to group and column to column, so that a kernel that applied a
 * neighbour's scale, or mixed up steps, would be off by far more than the
 * tolerance; and the dequantized B they report holds the codes of ggml's
 * rule: column 0 starts with the Q4_0 group of test_wq_quantize_known_groups,
 * which round-trips exactly through w4. */
static void test_wq_structured_scales(void **state)
{
    (void)state;
    const char *isa = getenv("JB_ISA");
    if (isa && !strcmp(isa, "portable"))
        assert_string_equal(jb_wq_ukr_get()->name, "c");
    print_message("w8/w4 micro-kernels: %s\n", jb_wq_ukr_get()->name);
    static const jb_problem probs[] = {
        {.op = JB_OP_MATMUL, .m = 1, .n = 37, .k = 100},
        {.op = JB_OP_MATMUL, .m = 3, .n = 17, .k = 4100},
        {.op = JB_OP_MATMUL, .m = 7, .n = 40, .k = 64},
        {.op = JB_OP_MATMUL, .m = 17, .n = 33, .k = 290},
        {.op = JB_OP_MATMUL, .m = 100, .n = 20, .k = 300},
    };
    static const char *const names[] = {"matmul/cpu/blocked/w8", "matmul/cpu/blocked/w4"};
    for (size_t ki = 0; ki < 2; ki++) {
        const jb_kernel *k = jb_registry_find(names[ki]);
        assert_non_null(k);
        for (size_t pi = 0; pi < sizeof probs / sizeof probs[0]; pi++) {
            const jb_problem *p = &probs[pi];
            jb_buffers b;
            jb_exec e;
            jb_verify_result r;
            assert_int_equal(jb_buffers_init(&b, k, p, 7 + pi), JB_OK);
            for (int64_t l = 0; l < p->k; l++)
                for (int64_t j = 0; j < p->n; j++)
                    b.in[1][l * p->n + j] *= ldexpf(1.0f, (int)((l / 32 + 3 * j) % 5) - 2);
            for (int64_t l = 0; l < 32 && l < p->k; l++)
                b.in[1][l * p->n] = 0.5f * (float)(l % 16 - 8) + (l >= 16 ? 0.2f : 0.0f);
            int rc = jb_verify(k, &b, &e, &r);
            if (rc != JB_OK)
                fail_msg("%s m=%lld n=%lld k=%lld: %s", k->name, (long long)p->m, (long long)p->n, (long long)p->k,
                         r.msg);
            assert_true(r.max_err <= k->tolerance);
            for (int64_t l = 0; l < 32 && l < p->k; l++) {
                /* w4 decodes 0.5 * (code - 8) exactly; w8 (scale 4/127) within half a step. */
                const float want = 0.5f * (float)(l % 16 - 8), got = b.deq[1][l * p->n];
                if (ki == 1 ? got != want : fabsf(got - b.in[1][l * p->n]) > 0.5f * 4.0f / 127.0f)
                    fail_msg("%s: dequantized B[%lld][0] = %g (input %g)", k->name, (long long)l, got,
                             b.in[1][l * p->n]);
            }
            jb_exec_teardown(k, &e);
            jb_buffers_free(&b);
        }
    }
}

/* ---- Split-KV: the merge of the chunks ---------------------------------- */

/* Three chunks of one row, d = 3: the merge weighs each by e^(m_c - M),
 * and leaves out a chunk no key of which the row sees (l = 0), whatever its
 * accumulator holds. */
static void test_splitkv_merge_row(void **state)
{
    (void)state;
    enum { DP = 8, ST = JB_SPLITKV_PSTRIDE(8) };
    float part[4 * ST] = {0};
    const float m[4] = {2.0f, -5.0f, 7.0f, 0.0f}, l[4] = {3.0f, 1.5f, 2.0f, 0.0f};
    const float acc[4][3] = {{1, 2, 3}, {-4, 5, 6}, {0.5f, -1, 2}, {NAN, NAN, NAN}};
    for (int c = 0; c < 4; c++) {
        for (int x = 0; x < 3; x++)
            part[c * ST + x] = acc[c][x];
        part[c * ST + DP] = m[c];
        part[c * ST + DP + 1] = l[c];
    }
    const float vs[3] = {1.0f, 2.0f, 0.5f};
    float out[3];
    jb_splitkv_merge_row(part, 4, DP, 3, vs, out);
    double den = 0, num[3] = {0};
    for (int c = 0; c < 3; c++) {
        double w = exp((double)m[c] - 7.0);
        den += w * l[c];
        for (int x = 0; x < 3; x++)
            num[x] += w * acc[c][x];
    }
    for (int x = 0; x < 3; x++)
        assert_true(fabs(out[x] - vs[x] * num[x] / den) <= 1e-6 * fabs(vs[x] * num[x] / den) + 1e-7);
}

/* The split-KV kernels on inputs whose chunks have far apart maxima: key
 * channel 0 carries a score offset per chunk (query channel 0 is 1), from
 * -30 to +30, so a chunk whose partial result the merge forgets to rescale,
 * or rescales by the wrong max, weighs e^5 to e^60 times too much. Each
 * problem is checked to split into several chunks at the thread count used;
 * one has a chunk that a causal query sees nothing of, one is q = n. */
static void test_splitkv_chunks_far_apart(void **state)
{
    (void)state;
    static const float offset[] = {4.0f, -30.0f, 25.0f, 0.0f, 12.0f, -8.0f, 30.0f, 18.0f};
    const int noff = (int)(sizeof offset / sizeof offset[0]);
    jb_problem probs[3] = {
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 1, .seq = 2000, .d = 64},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 4, .d = 40, .causal = 1}, /* seq found below */
        {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 300, .d = 32, .causal = 1},
    };
    const int threads[3] = {2, 2, 16};
    /* An n whose last chunk lies wholly after the first causal query. */
    for (int64_t n = 256; n < 4096 && !probs[1].seq; n++) {
        jb_problem t = probs[1];
        t.seq = n;
        jb_splitkv_plan pl;
        jb_splitkv_make_plan(&t, threads[1], &pl);
        if (pl.nchunks > 1 && (pl.nchunks - 1) * pl.chunk > n - t.q)
            probs[1].seq = n;
    }
    assert_true(probs[1].seq > 0);
    const char *const names[] = {"attention/cpu/splitkv/f32", "attention/cpu/splitkv/int8"};
#ifdef _OPENMP
    const int before = omp_get_max_threads();
#endif
    for (int ki = 0; ki < 2; ki++) {
        const jb_kernel *k = jb_registry_find(names[ki]);
        assert_non_null(k);
        for (int pi = 0; pi < 3; pi++) {
            const jb_problem *p = &probs[pi];
            jb_splitkv_plan pl;
            jb_splitkv_make_plan(p, threads[pi], &pl);
            assert_true(pl.nchunks >= 2);
#ifdef _OPENMP
            omp_set_num_threads(threads[pi]);
#endif
            jb_buffers b;
            jb_exec e;
            jb_verify_result r;
            assert_int_equal(jb_buffers_init(&b, k, p, 7), JB_OK);
            const int64_t nq = jb_attention_q(p), heads = p->b * p->h, d = p->d;
            for (int64_t row = 0; row < heads * nq; row++)
                b.in[0][row * d] = 1.0f;
            for (int64_t bh = 0; bh < heads; bh++)
                for (int64_t j = 0; j < p->seq; j++)
                    b.in[1][(bh * p->seq + j) * d] = offset[(j / pl.chunk) % noff] * sqrtf((float)d);
            int rc = jb_verify(k, &b, &e, &r);
            if (rc == JB_OK)
                jb_exec_teardown(k, &e);
            jb_buffers_free(&b);
            char shape[128];
            jb_problem_format(p, shape, sizeof shape);
            if (rc != JB_OK)
                fail_msg("%s %s (%lld chunks of %lld keys): %s", k->name, shape, (long long)pl.nchunks,
                         (long long)pl.chunk, r.msg);
        }
    }
#ifdef _OPENMP
    omp_set_num_threads(before);
#endif
}

/* The harness sizes the workspace once; if the thread count grows before
 * the run, the split-KV kernels plan for as many threads as it has room for
 * rather than overrun it (the guard bytes would tell). */
static void test_splitkv_more_threads_than_sized(void **state)
{
    (void)state;
#ifdef _OPENMP
    const int before = omp_get_max_threads();
    const jb_problem p = {.op = JB_OP_ATTENTION, .b = 1, .h = 1, .q = 1, .seq = 2000, .d = 64};
    const char *const names[] = {"attention/cpu/splitkv/f32", "attention/cpu/splitkv/int8"};
    for (int ki = 0; ki < 2; ki++) {
        const jb_kernel *k = jb_registry_find(names[ki]);
        jb_buffers b;
        jb_exec e;
        jb_verify_result r;
        omp_set_num_threads(2);
        assert_int_equal(jb_buffers_init(&b, k, &p, 3), JB_OK);
        omp_set_num_threads(8);
        assert_true(jb_kernel_workspace(k, &p) > b.ws_size);
        int rc = jb_verify(k, &b, &e, &r);
        if (rc == JB_OK)
            jb_exec_teardown(k, &e);
        jb_buffers_free(&b);
        omp_set_num_threads(before);
        if (rc != JB_OK)
            fail_msg("%s: %s", k->name, r.msg);
    }
#else
    skip();
#endif
}

/* ---- Tuned for the machine: block sizes and the bf16 path ---------------- */

/* The block-size rule on made-up machines: the invariants it promises, and
 * the sizes it gives a Zen 3 core (32 KiB L1d, 512 KiB L2, 32 MiB L3). */
static void test_gemm_block_sizes(void **state)
{
    (void)state;
    static const struct {
        size_t l1, l2, l3;
    } caches[] = {
        {32 << 10, 512 << 10, 32 << 20},  /* Zen 3 */
        {48 << 10, 1 << 20, 32 << 20},    /* Zen 5 */
        {48 << 10, 2 << 20, 105 << 20},   /* Sapphire Rapids */
        {64 << 10, 4 << 20, 0},           /* no L3 reported */
        {0, 0, 0},                        /* nothing known */
        {16 << 10, 128 << 10, 1 << 20},   /* small */
    };
    static const struct {
        int mr, nr, esize, kstep;
    } tiles[] = {{6, 16, 4, 1}, {14, 32, 4, 1}, {6, 8, 4, 1}, {4, 16, 1, 4}, {14, 32, 1, 4}, {14, 32, 2, 2}};
    for (size_t c = 0; c < sizeof caches / sizeof caches[0]; c++)
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
            for (int threads = 1; threads <= 64; threads *= 8) {
                const int mr = tiles[t].mr, nr = tiles[t].nr, es = tiles[t].esize;
                int64_t mc, kc, nc;
                jb_gemm_block_sizes(caches[c].l1, caches[c].l2, caches[c].l3, mr, nr, es, tiles[t].kstep, threads,
                                    &mc, &kc, &nc);
                const int64_t l1 = caches[c].l1 ? (int64_t)caches[c].l1 : 32 << 10;
                const int64_t l2 = caches[c].l2 ? (int64_t)caches[c].l2 : 512 << 10;
                const int64_t l3 = caches[c].l3 ? (int64_t)caches[c].l3 : 8 << 20;
                assert_int_equal(kc % 16, 0);
                assert_int_equal(kc % tiles[t].kstep, 0);
                assert_in_range(kc, 64, 2048);
                assert_int_equal(mc % mr, 0);
                assert_int_equal(nc % nr, 0);
                assert_true(mc >= mr && nc >= nr && nc <= 4096);
                /* The B micro-panel within L1, and as large as that allows. */
                if (kc > 64)
                    assert_true(kc * nr * es <= l1);
                if (kc < 2048)
                    assert_true((kc + 16 * tiles[t].kstep) * nr * es > l1);
                /* The A block within half of L2, unless one panel is already more. */
                if (mc > mr)
                    assert_true(mc * kc * es <= l2 / 2);
                /* The B block within half of L3, unless that holds less than one panel. */
                if (nc > nr)
                    assert_true(kc * nc * es <= l3 / 2);
            }
    /* Zen 3's caches, the AVX2 f32 kernel: a 32 KiB B panel, the A block in 256 KiB. */
    int64_t mc, kc, nc;
    jb_gemm_block_sizes(32 << 10, 512 << 10, 32 << 20, 6, 16, 4, 1, 2, &mc, &kc, &nc);
    assert_int_equal(kc, 512);
    assert_int_equal(mc, 126);
    assert_int_equal(nc, 4096);
    /* Zen 5's, the AVX-512 f32 kernel: kc = 384, the value hand-tuned there. */
    jb_gemm_block_sizes(48 << 10, 1 << 20, 32 << 20, 14, 32, 4, 1, 2, &mc, &kc, &nc);
    assert_int_equal(kc, 384);
    /* A bigger L1 never gives a smaller kc. */
    int64_t mc2, kc2, nc2;
    jb_gemm_block_sizes(48 << 10, 512 << 10, 32 << 20, 6, 16, 4, 1, 2, &mc2, &kc2, &nc2);
    assert_true(kc2 >= kc);
}

/* The bf16 path rule: the dot product only where it is present and faster. */
static void test_bf16_path_rule(void **state)
{
    (void)state;
    assert_int_equal(jb_bf16_path_rule(0, 200e9), JB_BF16_PATH_FP32);          /* absent */
    assert_int_equal(jb_bf16_path_rule(131e9, 196e9), JB_BF16_PATH_FP32);      /* Emerald Rapids */
    assert_int_equal(jb_bf16_path_rule(196e9, 196e9), JB_BF16_PATH_FP32);      /* a tie: fp32 */
    assert_int_equal(jb_bf16_path_rule(400e9, 196e9), JB_BF16_PATH_DOT);
    assert_int_equal(jb_bf16_path_rule(400e9, 0), JB_BF16_PATH_DOT);
}

/* Every bf16 path this CPU has, forced with JB_BF16_PATH, against the
 * oracle; a path it lacks is unavailable with the reason, never run, and so
 * is amx for matmul/cpu/blocked/bf16, which has none (matmul/cpu/amx/bf16 is
 * the AMX matmul); a bad value is refused by name. */
static void test_bf16_paths_forced(void **state)
{
    (void)state;
    static const jb_problem probs[] = {
        {.op = JB_OP_MATMUL, .m = 33, .n = 127, .k = 130},
        {.op = JB_OP_MATMUL, .m = 1, .n = 300, .k = 1001},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .seq = 127, .d = 80, .causal = 1},
        {.op = JB_OP_ATTENTION, .b = 1, .h = 2, .q = 3, .seq = 300, .d = 7, .causal = 1},
    };
    /* names[amx]: the kernel without an amx path, then the one with it */
    const char *const names[] = {"matmul/cpu/blocked/bf16", "attention/cpu/flash/bf16"};
    const char *const paths[] = {"fp32", "dot", "amx"};
    const jb_bf16_path want[] = {JB_BF16_PATH_FP32, JB_BF16_PATH_DOT, JB_BF16_PATH_AMX};
    const jb_family fams[] = {JB_FAM_FP32_FMA, JB_FAM_BF16_DOT, JB_FAM_AMX_BF16};
    const char *old = getenv("JB_BF16_PATH");
    char *saved = old ? strdup(old) : NULL;
    char why[256];
    for (size_t pi = 0; pi < 3; pi++) {
        setenv("JB_BF16_PATH", paths[pi], 1);
        for (int amx = 0; amx <= 1; amx++) {
            const jb_kernel *k = jb_registry_find(names[amx]);
            jb_bf16_path path;
            const int rc = jb_bf16_path_get(&path, amx, why, sizeof why);
            if (pi == 2 && !amx)
                assert_int_equal(rc, JB_EUNAVAILABLE);
            if (rc) {
                assert_int_equal(rc, JB_EUNAVAILABLE);
                assert_non_null(strstr(why, pi < 2 ? "AVX-512 BF16" : amx ? "AMX" : "no AMX path"));
                assert_int_equal(jb_kernel_available(k, why, sizeof why), JB_EUNAVAILABLE);
                print_message("[  SKIP    ] %s with JB_BF16_PATH=%s: %s\n", k->name, paths[pi], why);
                continue;
            }
            assert_int_equal(path, want[pi]);
            for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
                if ((probs[i].op == JB_OP_ATTENTION) != amx)
                    continue;
                jb_family fam;
                const char *name = jb_kernel_path(k, &probs[i], &fam);
                assert_int_equal(fam, fams[pi]);
                assert_string_equal(name, jb_bf16_path_name(path));
                jb_verify_result r;
                if (jb_verify_once(k, &probs[i], 1, &r) != JB_OK)
                    fail_msg("%s with JB_BF16_PATH=%s: %s", k->name, paths[pi], r.msg);
            }
        }
    }
    setenv("JB_BF16_PATH", "avx", 1);
    assert_int_equal(jb_kernel_available(jb_registry_find(names[0]), why, sizeof why), JB_EUNAVAILABLE);
    assert_non_null(strstr(why, "JB_BF16_PATH='avx' is not one of auto, amx, dot, fp32"));
    if (saved)
        setenv("JB_BF16_PATH", saved, 1);
    else
        unsetenv("JB_BF16_PATH");
    free(saved);
}

int main(void)
{
    size_t nk = jb_registry_count();
    size_t cap = nk * NSHAPES + 32, n = 0; /* the shapes, and room for the named tests below */
    struct CMUnitTest *tests = calloc(cap, sizeof *tests);
    kcase *cases = calloc(cap, sizeof *cases);
    char (*names)[200] = calloc(cap, sizeof *names);
    if (!tests || !cases || !names)
        return 1;
    tests[n++] = (struct CMUnitTest){"checker catches faults", test_checker_catches_faults, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"unsupported is skip", test_unsupported_is_skip_not_failure, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"decode needs the flag", test_decode_needs_the_flag, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"unsupported in setup is skip", test_setup_unsupported_is_skip, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"int8 blocks of another depth, 3 threads", test_int8_block_change_race, NULL, NULL,
                                     NULL};
    tests[n++] = (struct CMUnitTest){"packed=1 gives the result of packed=0", test_packed_same_result, NULL, NULL,
                                     NULL};
    tests[n++] = (struct CMUnitTest){"w8/w4 quantization of known groups", test_wq_quantize_known_groups, NULL, NULL,
                                     NULL};
    tests[n++] = (struct CMUnitTest){"w8/w4 packed blocks round-trip", test_wq_pack_roundtrip, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"w8/w4 scales per group and column", test_wq_structured_scales, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"split-KV merge of one row", test_splitkv_merge_row, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"split-KV chunks with far apart maxima", test_splitkv_chunks_far_apart, NULL, NULL,
                                     NULL};
    tests[n++] = (struct CMUnitTest){"split-KV with more threads than sized for", test_splitkv_more_threads_than_sized,
                                     NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"GEMM block sizes from the caches", test_gemm_block_sizes, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"bf16 path rule", test_bf16_path_rule, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"bf16 paths forced (JB_BF16_PATH)", test_bf16_paths_forced, NULL, NULL, NULL};
    for (size_t i = 0; i < nk; i++) {
        const jb_kernel *k = jb_registry_get(i);
        for (size_t s = 0; s < NSHAPES; s++) {
            if (shapes[s].op != k->op)
                continue;
            char shape[128];
            jb_problem_format(&shapes[s], shape, sizeof shape);
            snprintf(names[n], sizeof names[n], "%s/%s", k->name, shape);
            cases[n] = (kcase){k, &shapes[s]};
            tests[n] = (struct CMUnitTest){names[n], test_kernel_shape, NULL, NULL, &cases[n]};
            n++;
        }
    }
    const char *isa = getenv("JB_ISA");
    char group[64];
    snprintf(group, sizeof group, "kernels vs oracle (JB_ISA=%s)", isa ? isa : "best");
    int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    free(cases);
    free(names);
    return failed;
}
