/* The JSON reporter: each row's Google Benchmark entries, into the results document. */
#include "harness/reporter.h"

#include <math.h>
#include <string.h>

double jb_row_result_counter(const jb_row_result *r, const char *name)
{
    for (int i = 0; i < r->ncounters; i++)
        if (!strcmp(r->counter_names[i], name))
            return r->counter_values[i];
    return NAN;
}

static void json_row(jb_reporter *self, const jb_row_result *r)
{
    cJSON *benchmarks = self->state, *it;
    while (r->entries && (it = cJSON_DetachItemFromArray(r->entries, 0)))
        cJSON_AddItemToArray(benchmarks, it);
}

void jb_reporter_free(jb_reporter *r)
{
    if (r && r->destroy)
        r->destroy(r);
    if (r)
        r->state = NULL;
}

jb_reporter jb_reporter_json(cJSON *benchmarks)
{
    return (jb_reporter){.row = json_row, .state = benchmarks};
}
