/*
 * The joulebench program from the outside: exit codes, one-line errors on
 * bad input, list and verify output, and .npy dumps that numpy reads back to
 * the printed error.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_help), cmocka_unit_test(test_list),
        cmocka_unit_test(test_verify_pass), cmocka_unit_test(test_dump_numpy),
    };
    return cmocka_run_group_tests_name("joulebench command line", tests, NULL, NULL);
}
