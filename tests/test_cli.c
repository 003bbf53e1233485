/*
 * The joulebench program from the outside: exit codes, one-line errors on
 * bad input, list and verify output, .npy dumps that numpy reads back to
 * the printed error, and env's ceiling per instruction family.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_test.h"

#include <cjson/cJSON.h>

#include "jb_kernels.h"

static void test_bad_input(void **state)
{
    (void)state;
    assert_int_equal(jb(" "), 2); /* no command: the whole usage, on stderr */
    assert_non_null(strstr(out, "usage: joulebench COMMAND"));
    expect_usage_error("frobnicate", "unknown command");
    expect_usage_error("list --bogus", "unknown option");
    expect_usage_error("verify", "which kernel");
    expect_usage_error("verify matmul/cpu/nope/f32 --shape m=1,n=1,k=1", "unknown kernel");
    expect_usage_error("verify matmul/cpu/naive/f32", "--shape is required");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape m=1,n=1", "missing shape key 'k'");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape m=1,n=1,k=1,z=2", "unknown shape key 'z'");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape m=1,n=x,k=1", "bad number for n");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape m=0,n=1,k=1", "positive");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape m=1,n=1,k=1 --seed -4", "--seed");
    expect_usage_error("verify matmul/cpu/naive/f32 --shape", "needs a value");
    expect_usage_error("verify attention/cpu/naive/f32 --shape b=1,h=1,n=99999999,d=99999", "memory");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(jb("--help"), 0);
    assert_non_null(strstr(out, "verify"));
    assert_int_equal(jb("verify --help"), 0);
    assert_non_null(strstr(out, "--dump"));
    assert_int_equal(jb("list --help"), 0);
}

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(jb("list"), 0);
    assert_non_null(strstr(out, "matmul/cpu/naive/f32"));
    assert_non_null(strstr(out, "attention/cpu/naive/f32"));
    assert_int_equal(jb("list --json"), 0);
    assert_non_null(strstr(out, "\"name\":\t\"softmax/cpu/naive/f32\""));
    assert_non_null(strstr(out, "\"available\":"));
}

static void test_verify_pass(void **state)
{
    (void)state;
    assert_int_equal(jb("verify attention/cpu/naive/f32 --shape b=2,h=3,n=57,d=80,causal=1"), 0);
    assert_non_null(strstr(out, "PASS"));
    assert_non_null(strstr(out, "b:2/h:3/n:57/d:80/causal:1"));
}

/* The dumped arrays reproduce the printed error. */
static void test_dump_numpy(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        print_message("[  SKIP    ] numpy not installed for /usr/bin/python3\n");
        skip();
    }
    char dir[] = "/tmp/jb_dump_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512];
    snprintf(args, sizeof args, "verify attention/cpu/naive/f32 --shape b=2,h=3,n=33,d=16,causal=1 --dump %s", dir);
    assert_int_equal(jb(args), 0);
    const char *p = strstr(out, "max_err ");
    assert_non_null(p);
    double printed = strtod(p + 8, NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; d='%s'; o=np.load(d+'/o.npy'); r=np.load(d+'/ref.npy');"
             "q=np.load(d+'/q.npy'); assert q.shape==(2,3,33,16) and q.dtype==np.float32 and r.dtype==np.float64;"
             "print('%%.6e' %% (np.abs(o-r).max()/np.abs(r).max()))\"",
             dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(pclose(f), 0);
    double numpy_err = strtod(line, NULL);
    if (!(numpy_err > 0 && fabs(numpy_err - printed) <= 0.01 * printed))
        fail_msg("numpy computes %g from the dump, joulebench printed %g", numpy_err, printed);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The ceiling of family name in env --json's peaks.families (0: absent), and its instruction. */
static double env_family(const cJSON *peaks, const char *name, const char **what)
{
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(peaks, "families"), name);
    const cJSON *ops = cJSON_GetObjectItem(f, "ops_per_s"), *ins = cJSON_GetObjectItem(f, "instruction");
    *what = cJSON_IsString(ins) ? ins->valuestring : NULL;
    return cJSON_IsNumber(ops) ? ops->valuedouble : 0;
}

/* env measures one ceiling per instruction family the CPU has, and only those. */
static void test_env_families(void **state)
{
    (void)state;
    int has[JB_FAM_COUNT];
    for (int f = 0; f < JB_FAM_COUNT; f++)
        has[f] = jb_cpu_has_family((jb_family)f, NULL, 0);
    assert_int_equal(jb("env --json 2>/dev/null"), 0);
    cJSON *doc = cJSON_Parse(out);
    assert_non_null(doc);
    const cJSON *pk = cJSON_GetObjectItem(doc, "peaks");
    /* The keys from before the families stay, fp32's the same figure as its family's. */
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(pk, "bytes_per_s")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(pk, "isa")));
    const char *what;
    double fp32 = env_family(pk, "fp32_fma", &what);
    assert_true(fp32 > 0 && fp32 == cJSON_GetObjectItem(pk, "flop_per_s")->valuedouble);
    for (int f = 0; f < JB_FAM_COUNT; f++) {
        double ops = env_family(pk, jb_family_name((jb_family)f), &what);
        if ((ops > 0) != has[f] || (has[f] && !(what && what[0])))
            fail_msg("env: families.%s is %g (%s), but the CPU has it: %d", jb_family_name((jb_family)f), ops,
                     what ? what : "no instruction", has[f]);
    }
    cJSON_Delete(doc);
    /* The text names each family with its unit, and why one is absent. */
    assert_int_equal(jb("env"), 0);
    assert_non_null(strstr(out, "fp32_fma"));
    assert_non_null(strstr(out, "GFLOP/s"));
    assert_true((strstr(out, "GOP/s") != NULL) == has[JB_FAM_INT8_DOT]);
    if (!has[JB_FAM_BF16_DOT])
        assert_non_null(strstr(out, "CPU lacks AVX-512 BF16"));
    /* Capped to plain C, the CPU has no int8 dot product: no such ceiling. */
    const char *isa = getenv("JB_ISA");
    char saved[64];
    snprintf(saved, sizeof saved, "%s", isa ? isa : "");
    setenv("JB_ISA", "portable", 1);
    int rc = jb("env --json 2>/dev/null");
    isa ? setenv("JB_ISA", saved, 1) : unsetenv("JB_ISA");
    assert_int_equal(rc, 0);
    doc = cJSON_Parse(out);
    assert_non_null(doc);
    pk = cJSON_GetObjectItem(doc, "peaks");
    assert_string_equal(cJSON_GetObjectItem(pk, "isa")->valuestring, "portable");
    assert_true(env_family(pk, "fp32_fma", &what) > 0);
    assert_true(env_family(pk, "int8_dot", &what) == 0);
    cJSON_Delete(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_help), cmocka_unit_test(test_list),
        cmocka_unit_test(test_verify_pass), cmocka_unit_test(test_dump_numpy),
        cmocka_unit_test(test_env_families),
    };
    return cmocka_run_group_tests_name("joulebench command line", tests, NULL, NULL);
}
