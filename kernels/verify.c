/*
 * Verification against the oracle, shared by the tests, `joulebench verify`
 * and every `joulebench run` row: buffers with guard bytes, a poisoned output,
 * one run, and an element-wise comparison with the fp64 reference.
 */
#include "jb_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define GUARD_BYTE 0xA5
/* A signalling NaN no kernel computes: an element still holding it was never written. */
#define POISON 0x7fa5a5a5u

static void *guarded(jb_buffers *b, size_t bytes)
{
    size_t body = (bytes + GUARD - 1) / GUARD * GUARD;
    if (b->nblocks >= (int)(sizeof b->blocks / sizeof b->blocks[0]))
        return NULL;
    unsigned char *raw = aligned_alloc(GUARD, body + 2 * GUARD);
    if (!raw)
        return NULL;
    memset(raw, GUARD_BYTE, GUARD);
    memset(raw + GUARD + bytes, GUARD_BYTE, body - bytes + GUARD);
    b->blocks[b->nblocks] = raw;
    b->block_bytes[b->nblocks] = bytes;
    b->nblocks++;
    return raw + GUARD;
}

int jb_buffers_guards_ok(const jb_buffers *b)
{
    for (int i = 0; i < b->nblocks; i++) {
        const unsigned char *raw = b->blocks[i];
        size_t bytes = b->block_bytes[i], body = (bytes + GUARD - 1) / GUARD * GUARD;
        for (size_t j = 0; j < GUARD; j++)
            if (raw[j] != GUARD_BYTE)
                return 0;
        for (size_t j = GUARD + bytes; j < 2 * GUARD + body; j++)
            if (raw[j] != GUARD_BYTE)
                return 0;
    }
    return 1;
}

void jb_buffers_free(jb_buffers *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->nblocks; i++)
        free(b->blocks[i]);
    memset(b, 0, sizeof *b);
}

int jb_buffers_init(jb_buffers *b, const jb_kernel *k, const jb_problem *p, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->p = p;
    int rc = jb_problem_validate(p, NULL, 0);
    if (rc)
        return rc;
    int nin = jb_problem_num_inputs(p);
    for (int i = 0; i < nin; i++) {
        if (!(b->in[i] = guarded(b, jb_problem_input_elems(p, i) * sizeof(float))))
            goto oom;
        b->deq[i] = b->in[i];
    }
    size_t out = jb_problem_output_elems(p);
    if (!(b->out = guarded(b, out * sizeof(float))) || !(b->ref = guarded(b, out * sizeof(double))))
        goto oom;
    b->ws_size = jb_kernel_workspace(k, p);
    if (b->ws_size && !(b->ws = guarded(b, b->ws_size)))
        goto oom;
    if (k && k->dequantized_inputs)
        for (int i = 0; i < nin; i++)
            if (!(b->deq[i] = guarded(b, jb_problem_input_elems(p, i) * sizeof(float))))
                goto oom;
    jb_problem_fill_inputs(p, seed, b->in);
    return JB_OK;
oom:
    jb_buffers_free(b);
    return JB_ENOMEM;
}

void jb_buffers_poison_output(jb_buffers *b)
{
    uint32_t *o = (uint32_t *)b->out;
    size_t n = jb_problem_output_elems(b->p);
    for (size_t i = 0; i < n; i++)
        o[i] = POISON;
}

void jb_exec_teardown(const jb_kernel *k, jb_exec *e)
{
    if (k && e && k->teardown)
        k->teardown(e);
    if (e)
        e->state = NULL;
}

static int fail(jb_verify_result *r, int status, const char *what)
{
    r->status = status;
    snprintf(r->msg, sizeof r->msg, "%s", what);
    return status;
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* rows/nrows: the output rows to compare (NULL: all). */
static int verify_rows(const jb_kernel *k, jb_buffers *b, jb_exec *e, const int64_t *rows, size_t nrows,
                       jb_verify_result *r)
{
    char why[200];
    memset(r, 0, sizeof *r);
    r->tolerance = k->tolerance;
    r->guard_ok = 1;
    const jb_problem *p = b->p;
    memset(e, 0, sizeof *e);
    e->p = p;
    for (int i = 0; i < jb_problem_num_inputs(p); i++)
        e->in[i] = b->in[i];
    e->out = b->out;
    e->ws = b->ws;
    e->ws_size = b->ws_size;

    int rc = jb_kernel_available(k, why, sizeof why);
    if (rc)
        return fail(r, rc, why);
    if ((rc = jb_kernel_supports(k, p, why, sizeof why)))
        return fail(r, rc, why);
    if (k->setup && (rc = k->setup(e))) {
        if (rc == JB_EUNSUPPORTED)
            snprintf(why, sizeof why, "%s", e->why[0] ? e->why : "the kernel's setup does not support this problem");
        else
            snprintf(why, sizeof why, "setup failed: %s", jb_strerror(rc));
        jb_exec_teardown(k, e);
        return fail(r, rc, why);
    }
    if (k->dequantized_inputs && (rc = k->dequantized_inputs(e, b->deq))) {
        jb_exec_teardown(k, e);
        return fail(r, rc, "could not read back the kernel's dequantized inputs");
    }
    jb_buffers_poison_output(b);
    if ((rc = k->run(e))) {
        jb_exec_teardown(k, e);
        snprintf(why, sizeof why, "run failed: %s", jb_strerror(rc));
        return fail(r, rc, why);
    }
    if (k->sync_output && (rc = k->sync_output(e))) {
        jb_exec_teardown(k, e);
        snprintf(why, sizeof why, "copying the output back failed: %s", jb_strerror(rc));
        return fail(r, rc, why);
    }
    r->guard_ok = jb_buffers_guards_ok(b);
    if ((rc = jb_oracle_rows(p, (const float *const *)b->deq, rows, nrows, b->ref))) {
        jb_exec_teardown(k, e);
        return fail(r, rc, "oracle failed");
    }
    size_t n = jb_problem_output_elems(p);
    const uint32_t *bits = (const uint32_t *)b->out;
    /* Every element must be written and finite, whether or not its row is compared. */
    for (size_t i = 0; i < n; i++) {
        if (bits[i] == POISON)
            r->unwritten++;
        else if (!isfinite(b->out[i]))
            r->nonfinite++;
    }
    r->rows_total = jb_oracle_num_rows(p);
    r->rows_checked = rows ? (int64_t)nrows : r->rows_total;
    const size_t width = n / (size_t)r->rows_total;
    double refmax = 0, errmax = 0;
    size_t worst = 0;
    for (int64_t ri = 0; ri < r->rows_checked; ri++) {
        size_t row = rows ? (size_t)rows[ri] : (size_t)ri;
        for (size_t i = row * width; i < (row + 1) * width; i++) {
            double ref = b->ref[i], y = b->out[i];
            refmax = fabs(ref) > refmax ? fabs(ref) : refmax;
            if (bits[i] == POISON || !isfinite(y))
                continue;
            double err = fabs(y - ref);
            if (err > errmax) {
                errmax = err;
                worst = i;
            }
        }
    }
    r->max_abs_err = errmax;
    r->max_err = errmax / (refmax > 1e-30 ? refmax : 1e-30);
    r->bad_index = worst;
    if (r->unwritten) {
        r->status = JB_EVERIFY;
        snprintf(r->msg, sizeof r->msg, "%zu of %zu output elements never written", r->unwritten, n);
    } else if (r->nonfinite) {
        r->status = JB_EVERIFY;
        snprintf(r->msg, sizeof r->msg, "%zu output elements are NaN or Inf", r->nonfinite);
    } else if (!r->guard_ok) {
        r->status = JB_EVERIFY;
        snprintf(r->msg, sizeof r->msg, "wrote outside its buffers (guard bytes changed)");
    } else if (!(r->max_err <= k->tolerance)) {
        r->status = JB_EVERIFY;
        snprintf(r->msg, sizeof r->msg, "max error %.3g exceeds tolerance %.3g at element %zu (got %.9g, want %.9g)",
                 r->max_err, k->tolerance, worst, (double)b->out[worst], b->ref[worst]);
    } else {
        r->status = JB_OK;
        snprintf(r->msg, sizeof r->msg, "max error %.3g within tolerance %.3g", r->max_err, k->tolerance);
    }
    if (r->status)
        jb_exec_teardown(k, e);
    return r->status;
}

int jb_verify(const jb_kernel *k, jb_buffers *b, jb_exec *e, jb_verify_result *r)
{
    return verify_rows(k, b, e, NULL, 0, r);
}

int jb_verify_sampled(const jb_kernel *k, jb_buffers *b, jb_exec *e, double max_work, uint64_t seed,
                      jb_verify_result *r)
{
    int64_t total = jb_oracle_num_rows(b->p);
    double per_row = jb_oracle_row_work(b->p);
    if (max_work <= 0 || per_row * (double)total <= max_work || total <= 2)
        return verify_rows(k, b, e, NULL, 0, r);
    size_t want = (size_t)(max_work / per_row);
    if (want < 2)
        want = 2;
    int64_t *rows = malloc(want * sizeof *rows);
    if (!rows) {
        memset(r, 0, sizeof *r);
        return fail(r, JB_ENOMEM, "could not allocate the row sample");
    }
    /* First and last rows hold the edge tiles; the rest are random, sorted and
     * deduplicated so each is compared once. */
    uint64_t s = seed ^ 0x5eed;
    rows[0] = 0;
    rows[1] = total - 1;
    for (size_t i = 2; i < want; i++)
        rows[i] = (int64_t)(mix(&s) % (uint64_t)total);
    qsort(rows, want, sizeof *rows, cmp_i64);
    size_t n = 0;
    for (size_t i = 0; i < want; i++)
        if (n == 0 || rows[i] != rows[n - 1])
            rows[n++] = rows[i];
    int rc = verify_rows(k, b, e, rows, n, r);
    free(rows);
    return rc;
}

int jb_verify_once(const jb_kernel *k, const jb_problem *p, uint64_t seed, jb_verify_result *r)
{
    jb_buffers b;
    jb_exec e;
    int rc = jb_buffers_init(&b, k, p, seed);
    if (rc) {
        memset(r, 0, sizeof *r);
        return fail(r, rc, "could not allocate the buffers");
    }
    if (jb_verify(k, &b, &e, r) == JB_OK)
        jb_exec_teardown(k, &e);
    jb_buffers_free(&b);
    return r->status;
}
