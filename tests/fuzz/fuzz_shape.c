/* Fuzz target: --shape strings (kernels/problem.c) for every op, the row
 * name each parsed problem formats to, and row names as results readers parse them. */
#include "fuzz_common.h"

#include "jb_kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), msg[256], name[256];
    if (!text)
        return 0;
    /* The same text as a row name, and as the name form of every op's shape. */
    char kernel[96];
    jb_problem q;
    if (jb_row_name_parse(text, kernel, sizeof kernel, &q, msg, sizeof msg) == 0 && jb_problem_validate(&q, msg, sizeof msg))
        abort();
    for (int op = 0; op < JB_OP_COUNT; op++)
        if (jb_problem_parse_format((jb_op)op, text, &q, msg, sizeof msg) == 0 && jb_problem_validate(&q, msg, sizeof msg))
            abort();
    for (int op = 0; op < JB_OP_COUNT; op++) {
        jb_problem p;
        if (jb_problem_parse((jb_op)op, text, &p, msg, sizeof msg) == 0) {
            if (jb_problem_validate(&p, msg, sizeof msg) != 0 || jb_problem_format(&p, name, sizeof name) != 0)
                abort();
            if (!(jb_problem_flops(&p) > 0) || !(jb_problem_min_bytes(&p) > 0))
                abort();
        }
    }
    free(text);
    return 0;
}
