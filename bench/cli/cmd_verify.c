/* `joulebench verify`: one kernel against the fp64 oracle on one shape,
 * with an optional dump of every tensor as .npy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/files.h"
#include "util/npy.h"

static void help(void)
{
    printf("usage: joulebench verify KERNEL --shape K=V,... [--seed S] [--dump DIR]\n\n"
           "Runs KERNEL once on inputs generated from the seed (default 1), runs the fp64\n"
           "oracle on the same inputs (for quantized kernels: on the dequantized inputs the\n"
           "kernel saw) and prints the normalized max error, max|out-ref|/max|ref|, against\n"
           "the kernel's tolerance.\n\n"
           "shape keys: matmul m,n,k[,packed]   softmax rows,cols[,causal][,scale]   attention b,h,[q,]n,d[,causal]\n"
           "(packed=1: B is converted to the kernel's layout in setup, untimed; 0, the default: in the run)\n"
           "--dump DIR writes every input, the kernel's output and the oracle's output ('ref',\n"
           "float64) as .npy files; quantized kernels also write <input>_deq.npy.\n\n"
           "exit: 0 pass, 1 fail, 2 bad input, 3 kernel unavailable here or shape unsupported\n");
}

static int dump_tensor(const char *dir, const char *name, const char *descr, const void *data,
                       const jb_problem *p)
{
    int64_t shape[4];
    int nd;
    switch (p->op) {
    case JB_OP_MATMUL:
        shape[0] = !strcmp(name, "b") || !strcmp(name, "b_deq") ? p->k : p->m;
        shape[1] = !strcmp(name, "a") || !strcmp(name, "a_deq") ? p->k : p->n;
        nd = 2;
        break;
    case JB_OP_SOFTMAX:
        shape[0] = p->rows, shape[1] = p->cols, nd = 2;
        break;
    default:
        shape[0] = p->b, shape[1] = p->h, shape[3] = p->d, nd = 4;
        /* q's rows: the queries and the output; k and v hold all n */
        shape[2] = !strcmp(name, "k") || !strcmp(name, "v") || !strcmp(name, "k_deq") || !strcmp(name, "v_deq")
                       ? p->seq
                       : jb_attention_q(p);
        break;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (jb_npy_write(path, descr, data, shape, nd)) {
        jb_cli_error("verify: cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int jb_cmd_verify(int argc, char **argv)
{
    const char *kname = NULL, *shape = NULL, *dump = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return JB_EXIT_OK;
        } else if (!strcmp(a, "--shape") || !strcmp(a, "--seed") || !strcmp(a, "--dump")) {
            if (i + 1 >= argc)
                jb_cli_usage_error("verify: %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--shape"))
                shape = v;
            else if (!strcmp(a, "--dump"))
                dump = v;
            else
                seed = (uint64_t)jb_cli_int("--seed", v, 0, INT64_MAX);
        } else if (a[0] == '-') {
            jb_cli_usage_error("verify: unknown option '%s' (try --help)", a);
        } else if (!kname) {
            kname = a;
        } else {
            jb_cli_usage_error("verify: unexpected argument '%s'", a);
        }
    }
    if (!kname)
        jb_cli_usage_error("verify: which kernel? (joulebench verify KERNEL --shape ...; joulebench list)");
    const jb_kernel *k = jb_cli_kernel(kname);
    if (!shape)
        jb_cli_usage_error("verify: --shape is required (for %s: %s)", jb_op_name(k->op),
                           k->op == JB_OP_MATMUL ? "m=,n=,k=[,packed=]" : k->op == JB_OP_SOFTMAX ? "rows=,cols=[,causal=]" : "b=,h=,n=,d=[,causal=]");
    jb_problem p;
    char msg[256];
    if (jb_problem_parse(k->op, shape, &p, msg, sizeof msg))
        jb_cli_usage_error("verify: bad --shape '%s': %s", shape, msg);
    char shape_str[128];
    jb_problem_format(&p, shape_str, sizeof shape_str);

    char why[256];
    if (jb_kernel_available(k, why, sizeof why)) {
        printf("%s %s: SKIP (unavailable here: %s)\n", k->name, shape_str, why);
        return JB_EXIT_SKIP;
    }
    if (jb_kernel_supports(k, &p, why, sizeof why)) {
        printf("%s %s: SKIP (unsupported: %s)\n", k->name, shape_str, why);
        return JB_EXIT_SKIP;
    }
    char dmsg[4600];
    if (dump && jb_dir_prepare_output(dump, dmsg, sizeof dmsg))
        jb_cli_usage_error("verify: --dump %s", dmsg);

    jb_buffers b;
    jb_exec e;
    jb_verify_result r;
    if (jb_buffers_init(&b, k, &p, seed)) {
        fprintf(stderr, "joulebench: verify: cannot allocate the buffers for %s\n", shape_str);
        return JB_EXIT_FAIL;
    }
    int rc = jb_verify(k, &b, &e, &r);
    if (rc == JB_OK)
        jb_exec_teardown(k, &e);
    if (rc == JB_EUNSUPPORTED) {
        printf("%s %s: SKIP (unsupported: %s)\n", k->name, shape_str, r.msg);
        jb_buffers_free(&b);
        return JB_EXIT_SKIP;
    }
    printf("%s %s seed %llu: %s  max_err %.3e (tolerance %.1e)  max_abs_err %.3e\n", k->name, shape_str,
           (unsigned long long)seed, rc == JB_OK ? "PASS" : "FAIL", r.max_err, r.tolerance, r.max_abs_err);
    if (rc != JB_OK)
        printf("  %s\n", r.msg);
    int dump_failed = 0;
    if (dump && (rc == JB_OK || rc == JB_EVERIFY)) {
        for (int i = 0; i < jb_problem_num_inputs(&p); i++) {
            const char *name = jb_problem_input_name(&p, i);
            if ((dump_failed = dump_tensor(dump, name, "<f4", b.in[i], &p)))
                break;
            /* Only inputs the kernel actually changed get a _deq file. */
            if (b.deq[i] != b.in[i] &&
                memcmp(b.deq[i], b.in[i], jb_problem_input_elems(&p, i) * sizeof(float)) != 0) {
                char dn[32];
                snprintf(dn, sizeof dn, "%s_deq", name);
                if ((dump_failed = dump_tensor(dump, dn, "<f4", b.deq[i], &p)))
                    break;
            }
        }
        dump_failed = dump_failed || dump_tensor(dump, jb_problem_output_name(&p), "<f4", b.out, &p) ||
                      dump_tensor(dump, "ref", "<f8", b.ref, &p);
        if (!dump_failed)
            printf("  dumped to %s/\n", dump);
    }
    jb_buffers_free(&b);
    if (dump_failed)
        return JB_EXIT_FAIL;
    return rc == JB_OK ? JB_EXIT_OK : JB_EXIT_FAIL;
}
