/*
 * GPU rows are timed in batches of back-to-back runs (bench/batch.h): the
 * batch size, the figures per run that Google Benchmark's per-batch figures
 * become, and the energy per run and busy fraction of a window. Host-side
 * arithmetic, so it is tested here, without a device.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness/batch.h"

static void test_size(void **state)
{
    (void)state;
    /* A 5 us GEMM: 400 runs would make 2 ms; the launch queue caps it at 128. */
    assert_int_equal(jb_batch_size(5e-6, 2e-3, 128), 128);
    /* 100 us: 20 runs make 2 ms. */
    assert_int_equal(jb_batch_size(100e-6, 2e-3, 128), 20);
    /* 30 us: 66.7 rounds up, so the batch is never shorter than the target. */
    assert_int_equal(jb_batch_size(30e-6, 2e-3, 128), 67);
    /* A run longer than the target is a batch of one. */
    assert_int_equal(jb_batch_size(0.5, 2e-3, 128), 1);
    /* No usable estimate: the largest batch (short kernels are the ones that need it). */
    assert_int_equal(jb_batch_size(0, 2e-3, 128), 128);
    assert_int_equal(jb_batch_size(NAN, 2e-3, 128), 128);
    assert_int_equal(jb_batch_size(-1, 2e-3, 128), 128);
    assert_int_equal(jb_batch_size(1e-6, 2e-3, 0), 1);
}

static void test_per_run(void **state)
{
    (void)state;
    /* Google Benchmark saw 64 runs per iteration: 3.2 ms a batch is 50 us a run. */
    assert_true(fabs(jb_batch_per_run(3.2e6, 64, 0) - 5e4) < 1e-6);
    /* A cv is a ratio of the same times: it stays. */
    assert_true(jb_batch_per_run(0.031, 64, 1) == 0.031);
    /* CPU rows (one run an iteration) are unchanged. */
    assert_true(jb_batch_per_run(1234.5, 1, 0) == 1234.5);
}

static void test_tally(void **state)
{
    (void)state;
    jb_batch_tally t = {0};
    assert_true(isnan(jb_batch_joules_per_run(&t, 10)));
    /* Three batches of 100 runs, 2 ms each; one was not held (enqueueing outran the hold). */
    jb_batch_add(&t, 100, 2e-3, 1);
    jb_batch_add(&t, 100, 2e-3, 0);
    jb_batch_add(&t, 100, 2e-3, 1);
    assert_int_equal(t.batches, 3);
    assert_int_equal(t.runs, 300);
    assert_int_equal(t.unheld, 1);
    /* A window of 7.5 ms and 3 J: 10 mJ a run, whatever the gaps between batches
     * held, and the kernel ran 6 of the 7.5 ms. */
    assert_true(fabs(jb_batch_joules_per_run(&t, 3.0) - 0.01) < 1e-12);
    assert_true(fabs(jb_batch_busy(&t, 7.5e-3) - 0.8) < 1e-12);
    /* A window shorter than the device time (clocks of two sources) is clipped to 1. */
    assert_true(jb_batch_busy(&t, 5e-3) == 1.0);
    assert_true(isnan(jb_batch_busy(&t, 0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_per_run),
        cmocka_unit_test(test_tally),
    };
    return cmocka_run_group_tests_name("GPU batch timing", tests, NULL, NULL);
}
