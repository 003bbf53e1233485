/* The problem validator, shape parser and formatter, per-op work, and the registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "jb_kernels.h"

static void expect_parse(jb_op op, const char *shape, int status, const char *msg_part)
{
    jb_problem p;
    char msg[256] = "";
    int rc = jb_problem_parse(op, shape, &p, msg, sizeof msg);
    if (rc != status)
        fail_msg("parse(%s, '%s') = %d (%s), want %d", jb_op_name(op), shape, rc, msg, status);
    if (msg_part && !strstr(msg, msg_part))
        fail_msg("parse(%s, '%s'): message '%s' lacks '%s'", jb_op_name(op), shape, msg, msg_part);
}

static void test_parse_good(void **state)
{
    (void)state;
    jb_problem p;
    char msg[128], buf[128];
    assert_int_equal(jb_problem_parse(JB_OP_ATTENTION, "b=2,h=3,n=257,d=80,causal=1", &p, msg, sizeof msg), JB_OK);
    assert_int_equal(p.b, 2);
    assert_int_equal(p.h, 3);
    assert_int_equal(p.seq, 257);
    assert_int_equal(p.d, 80);
    assert_int_equal(p.causal, 1);
    assert_int_equal(jb_problem_format(&p, buf, sizeof buf), JB_OK);
    assert_string_equal(buf, "b:2/h:3/n:257/d:80/causal:1");
    assert_int_equal(jb_problem_parse(JB_OP_MATMUL, "k=5,m=1024,n=7", &p, msg, sizeof msg), JB_OK);
    jb_problem_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "m:1024/n:7/k:5");
    assert_int_equal(jb_problem_parse(JB_OP_SOFTMAX, "rows=4,cols=9,scale=0.5", &p, msg, sizeof msg), JB_OK);
    assert_true(p.scale == 0.5);
    assert_int_equal(p.causal, 0);
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_parse(JB_OP_MATMUL, "m=0,n=1,k=1", JB_EINVAL, "positive");
    expect_parse(JB_OP_MATMUL, "m=-3,n=1,k=1", JB_EINVAL, "positive");
    expect_parse(JB_OP_MATMUL, "m=4,n=1", JB_EPARSE, "missing shape key 'k'");
    expect_parse(JB_OP_MATMUL, "m=4,n=1,k=x", JB_EPARSE, "bad number for k");
    expect_parse(JB_OP_MATMUL, "m=4,n=1,k=2,q=3", JB_EPARSE, "unknown shape key 'q'");
    expect_parse(JB_OP_MATMUL, "m=4,m=5,n=1,k=2", JB_EPARSE, "twice");
    expect_parse(JB_OP_MATMUL, "m4,n=1,k=2", JB_EPARSE, "not key=value");
    expect_parse(JB_OP_MATMUL, "m=99999999999999999999,n=1,k=1", JB_EPARSE, "bad number");
    expect_parse(JB_OP_MATMUL, "m=3000000000,n=1,k=1", JB_ENOMEM, "limit");
    expect_parse(JB_OP_MATMUL, "m=2000000000,n=2000000000,k=2000000000", JB_ENOMEM, NULL);
    expect_parse(JB_OP_ATTENTION, "b=1,h=1,n=4,d=4,causal=2", JB_EPARSE, "causal");
    expect_parse(JB_OP_ATTENTION, "b=1,h=1,d=4", JB_EPARSE, "missing shape key 'n'");
    expect_parse(JB_OP_SOFTMAX, "rows=1,cols=1,scale=-1", JB_EPARSE, "scale");
    expect_parse(JB_OP_SOFTMAX, "rows=1,cols=1,m=3", JB_EPARSE, "unknown shape key");
    expect_parse(JB_OP_SOFTMAX, "", JB_EPARSE, "missing");
}

static void test_validate(void **state)
{
    (void)state;
    char msg[256];
    jb_problem p = {.op = JB_OP_MATMUL, .m = 4, .n = 4, .k = 4};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_OK);
    p.causal = 1;
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    p = (jb_problem){.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 8, .d = 8, .m = 3};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    /* Fits in SIZE_MAX but not in any machine's memory. */
    p = (jb_problem){.op = JB_OP_ATTENTION, .b = 1 << 20, .h = 1 << 10, .seq = 1 << 10, .d = 1 << 10};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_ENOMEM);
    /* Overflows size_t. */
    p = (jb_problem){.op = JB_OP_ATTENTION, .b = 1 << 30, .h = 1 << 30, .seq = 1 << 30, .d = 1 << 30};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_ENOMEM);
    assert_non_null(strstr(msg, "overflow"));
    p = (jb_problem){.op = (jb_op)7};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    assert_int_equal(jb_problem_validate(NULL, msg, sizeof msg), JB_EINVAL);
}

static void test_work(void **state)
{
    (void)state;
    jb_problem mm = {.op = JB_OP_MATMUL, .m = 2, .n = 3, .k = 5};
    assert_true(jb_problem_flops(&mm) == 60);
    assert_true(jb_problem_min_bytes(&mm) == 4.0 * (10 + 15 + 6));
    jb_problem at = {.op = JB_OP_ATTENTION, .b = 2, .h = 3, .seq = 10, .d = 8};
    assert_true(jb_problem_flops(&at) == 4.0 * 2 * 3 * 100 * 8);
    at.causal = 1;
    assert_true(jb_problem_flops(&at) == 2.0 * 2 * 3 * 100 * 8);
    assert_true(jb_problem_min_bytes(&at) == 4.0 * 4 * 2 * 3 * 10 * 8);
    jb_problem sm = {.op = JB_OP_SOFTMAX, .rows = 7, .cols = 9};
    assert_true(jb_problem_flops(&sm) == 63);
    assert_true(jb_problem_min_bytes(&sm) == 4.0 * 2 * 63);
}

/* Decode over a KV cache: q query rows at the end of n positions. */
static void test_decode_shape(void **state)
{
    (void)state;
    jb_problem p;
    char msg[200], buf[128];
    assert_int_equal(jb_problem_parse(JB_OP_ATTENTION, "b=1,h=32,q=1,n=2048,d=128,causal=1", &p, msg, sizeof msg), JB_OK);
    assert_int_equal(p.q, 1);
    assert_int_equal(jb_attention_q(&p), 1);
    assert_int_equal(jb_problem_format(&p, buf, sizeof buf), JB_OK);
    assert_string_equal(buf, "b:1/h:32/q:1/n:2048/d:128/causal:1");
    /* The row-name form and back. */
    jb_problem r;
    assert_int_equal(jb_problem_parse_format(JB_OP_ATTENTION, buf, &r, msg, sizeof msg), JB_OK);
    assert_int_equal(r.q, 1);
    /* q = n is self-attention: the same problem and name as without q. */
    assert_int_equal(jb_problem_parse(JB_OP_ATTENTION, "b=1,h=2,q=16,n=16,d=8", &p, msg, sizeof msg), JB_OK);
    assert_int_equal(p.q, 0);
    assert_int_equal(jb_problem_format(&p, buf, sizeof buf), JB_OK);
    assert_string_equal(buf, "b:1/h:2/n:16/d:8/causal:0");
    expect_parse(JB_OP_ATTENTION, "b=1,h=1,q=9,n=8,d=4", JB_EINVAL, "q (query rows) must be from 1 to n");
    expect_parse(JB_OP_ATTENTION, "b=1,h=1,q=0,n=8,d=4", JB_EPARSE, "q must be a positive integer");
    expect_parse(JB_OP_MATMUL, "m=1,n=2,k=3,q=1", JB_EPARSE, "unknown shape key 'q'");
    /* Buffers: q rows of queries and output, n of keys and values. */
    p = (jb_problem){.op = JB_OP_ATTENTION, .b = 2, .h = 3, .q = 5, .seq = 40, .d = 8};
    assert_int_equal(jb_problem_input_elems(&p, 0), 2 * 3 * 5 * 8);
    assert_int_equal(jb_problem_input_elems(&p, 1), 2 * 3 * 40 * 8);
    assert_int_equal(jb_problem_input_elems(&p, 2), 2 * 3 * 40 * 8);
    assert_int_equal(jb_problem_output_elems(&p), 2 * 3 * 5 * 8);
    assert_true(jb_problem_min_bytes(&p) == 4.0 * 2 * 3 * 8 * (5 + 40 + 40 + 5));
    /* FLOPs, exactly: every query sees all 40 keys, or causally 36..40 of them. */
    assert_true(jb_problem_flops(&p) == 4.0 * 2 * 3 * 8 * 5 * 40);
    p.causal = 1;
    assert_true(jb_problem_flops(&p) == 4.0 * 2 * 3 * 8 * (36 + 37 + 38 + 39 + 40));
    /* One decode step: each extra token of context adds 4*h*d FLOPs per batch entry. */
    jb_problem a = {.op = JB_OP_ATTENTION, .b = 1, .h = 32, .q = 1, .seq = 100, .d = 128, .causal = 1}, b2 = a;
    b2.seq = 101;
    assert_true(jb_problem_flops(&b2) - jb_problem_flops(&a) == 4.0 * 32 * 128);
}

/* Bytes a run moves: every operand at fp32, unless the kernel holds one
 * quantized since setup (weight-only matmuls, an int8 KV cache). */
static void test_kernel_bytes(void **state)
{
    (void)state;
    const jb_problem mm = {.op = JB_OP_MATMUL, .m = 1, .n = 4096, .k = 4096};
    const double f32 = jb_problem_min_bytes(&mm);
    assert_true(jb_kernel_min_bytes(jb_registry_find("matmul/cpu/blocked/f32"), &mm) == f32);
    assert_true(jb_kernel_min_bytes(jb_registry_find("matmul/cpu/blocked/w8"), &mm) ==
                4.0 * 4096 + 1.125 * 4096 * 4096 + 4.0 * 4096);
    assert_true(jb_kernel_min_bytes(jb_registry_find("matmul/cpu/blocked/w4"), &mm) ==
                4.0 * 4096 + 0.625 * 4096 * 4096 + 4.0 * 4096);
    const jb_problem at = {.op = JB_OP_ATTENTION, .b = 1, .h = 32, .q = 1, .seq = 8192, .d = 128, .causal = 1};
    const double bhd = 32.0 * 128;
    assert_true(jb_kernel_min_bytes(jb_registry_find("attention/cpu/splitkv/f32"), &at) == jb_problem_min_bytes(&at));
    assert_true(jb_kernel_min_bytes(jb_registry_find("attention/cpu/splitkv/int8"), &at) ==
                4.0 * bhd * 2 + 2.0 * bhd * 8192 + 8.0 * bhd);
    assert_true(jb_kernel_min_bytes(NULL, &at) == jb_problem_min_bytes(&at));
}

/* packed: a matmul key, in the name only when 1, so the names of every
 * problem from before it stay as they were. */
static void test_packed(void **state)
{
    (void)state;
    jb_problem p, r;
    char msg[200], buf[128], kname[64];
    assert_int_equal(jb_problem_parse(JB_OP_MATMUL, "m=7,n=13,k=5,packed=1", &p, msg, sizeof msg), JB_OK);
    assert_int_equal(p.packed, 1);
    assert_int_equal(jb_problem_format(&p, buf, sizeof buf), JB_OK);
    assert_string_equal(buf, "m:7/n:13/k:5/packed:1");
    assert_int_equal(jb_problem_parse_format(JB_OP_MATMUL, buf, &r, msg, sizeof msg), JB_OK);
    assert_memory_equal(&p, &r, sizeof p);
    assert_int_equal(jb_problem_parse(JB_OP_MATMUL, "packed=0,m=7,n=13,k=5", &p, msg, sizeof msg), JB_OK);
    assert_int_equal(p.packed, 0);
    assert_int_equal(jb_problem_format(&p, buf, sizeof buf), JB_OK);
    assert_string_equal(buf, "m:7/n:13/k:5");
    assert_int_equal(jb_row_name_parse("matmul/cpu/blocked/int8/m:1/n:2/k:3/packed:1", kname, sizeof kname, &r, msg,
                                       sizeof msg),
                     JB_OK);
    assert_string_equal(kname, "matmul/cpu/blocked/int8");
    assert_int_equal(r.packed, 1);
    assert_int_equal(r.k, 3);
    assert_int_equal(jb_row_name_parse("matmul/cpu/blocked/int8/m:1/n:2/k:3", kname, sizeof kname, &r, msg, sizeof msg),
                     JB_OK);
    assert_int_equal(r.packed, 0);
    expect_parse(JB_OP_MATMUL, "m=7,n=13,k=5,packed=2", JB_EPARSE, "packed must be 0 or 1");
    expect_parse(JB_OP_MATMUL, "m=7,n=13,k=5,packed=-1", JB_EPARSE, "packed must be 0 or 1");
    expect_parse(JB_OP_MATMUL, "m=7,n=13,k=5,packed=yes", JB_EPARSE, "bad number for packed");
    expect_parse(JB_OP_MATMUL, "m=7,n=13,k=5,packed=1,packed=0", JB_EPARSE, "twice");
    expect_parse(JB_OP_SOFTMAX, "rows=4,cols=9,packed=1", JB_EPARSE, "packed is a shape key of matmul only");
    expect_parse(JB_OP_SOFTMAX, "rows=4,cols=9,packed=0", JB_EPARSE, "matmul only");
    expect_parse(JB_OP_ATTENTION, "b=1,h=1,n=8,d=4,packed=1", JB_EPARSE, "matmul only");
    /* A problem built by hand gets the same answers from the validator. */
    p = (jb_problem){.op = JB_OP_MATMUL, .m = 4, .n = 4, .k = 4, .packed = 2};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "packed must be 0 or 1"));
    p = (jb_problem){.op = JB_OP_SOFTMAX, .rows = 4, .cols = 4, .packed = 1};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "packed is not a shape key of softmax"));
    p = (jb_problem){.op = JB_OP_ATTENTION, .b = 1, .h = 1, .seq = 8, .d = 8, .packed = 1};
    assert_int_equal(jb_problem_validate(&p, msg, sizeof msg), JB_EINVAL);
    /* The same work either way: packed says where a conversion is timed. */
    jb_problem a = {.op = JB_OP_MATMUL, .m = 2, .n = 3, .k = 5}, b = a;
    b.packed = 1;
    assert_true(jb_problem_flops(&a) == jb_problem_flops(&b));
    assert_true(jb_problem_min_bytes(&a) == jb_problem_min_bytes(&b));
}

static void test_registry(void **state)
{
    (void)state;
    size_t n = jb_registry_count();
    assert_true(n >= 13);
    for (size_t i = 0; i < n; i++) {
        const jb_kernel *k = jb_registry_get(i);
        assert_non_null(k->run);
        assert_ptr_equal(jb_registry_find(k->name), k);
        /* The name is op/backend/variant/dtype, built from the descriptor's fields. */
        char want[128];
        snprintf(want, sizeof want, "%s/%s/%s/%s", jb_op_name(k->op), jb_backend_name(k->backend), k->variant,
                 jb_dtype_name(k->dtype));
        assert_string_equal(k->name, want);
        assert_true(k->tolerance > 0 && k->tolerance < 0.1);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(jb_registry_get(j)->name, k->name);
    }
    assert_null(jb_registry_get(n));
    assert_null(jb_registry_find("matmul/cpu/nonesuch/f32"));
    assert_null(jb_registry_find(NULL));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(jb_strerror(JB_EVERIFY), "output differs from the oracle");
    assert_string_equal(jb_strerror(5), "unknown status");
    assert_string_equal(jb_strerror(-100), "unknown status");
    assert_int_equal(jb_op_from_name("softmax"), JB_OP_SOFTMAX);
    assert_int_equal(jb_op_from_name("conv"), -1);
}

static void test_fill_reproducible(void **state)
{
    (void)state;
    jb_problem p = {.op = JB_OP_MATMUL, .m = 3, .n = 4, .k = 5};
    float a1[15], b1[20], a2[15], b2[20];
    jb_problem_fill_inputs(&p, 7, (float *const[]){a1, b1});
    jb_problem_fill_inputs(&p, 7, (float *const[]){a2, b2});
    assert_memory_equal(a1, a2, sizeof a1);
    assert_memory_equal(b1, b2, sizeof b1);
    jb_problem_fill_inputs(&p, 8, (float *const[]){a2, b2});
    assert_memory_not_equal(a1, a2, sizeof a1);
    for (int i = 0; i < 15; i++)
        assert_true(a1[i] >= -1 && a1[i] <= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good), cmocka_unit_test(test_parse_bad), cmocka_unit_test(test_validate),
        cmocka_unit_test(test_work),       cmocka_unit_test(test_registry),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_fill_reproducible), cmocka_unit_test(test_decode_shape),
        cmocka_unit_test(test_kernel_bytes), cmocka_unit_test(test_packed),
    };
    return cmocka_run_group_tests_name("problem and registry", tests, NULL, NULL);
}
