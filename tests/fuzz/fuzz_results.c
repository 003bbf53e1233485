/* Fuzz target: results files as compare, history, project and report read them. */
#include "fuzz_common.h"

#include <math.h>

#include "analysis/project.h"
#include "analysis/machines.h"
#include "analysis/report_data.h"
#include "harness/results.h"
#include "analysis/compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), msg[512];
    if (!text)
        return 0;
    cJSON *doc = jb_results_parse(text, "fuzz.json", msg, sizeof msg);
    free(text);
    if (!doc)
        return 0;
    jb_bench_set set;
    jb_bench_set_init(&set);
    if (jb_bench_set_from_json(doc, &set, msg, sizeof msg) == 0) {
        jb_compare_opts o = {.threshold = 0.05, .alpha = 0.05};
        o.metrics[JB_METRIC_TIME] = o.metrics[JB_METRIC_FLOP_PER_J] = 1;
        jb_comparison c;
        if (jb_compare(&set, &set, &o, &c) == 0)
            jb_comparison_free(&c);
    }
    jb_bench_set_free(&set);
    /* project's reading of the same file: the row it picks has a positive efficiency. */
    jb_model m = {.params = 1.24e8, .layers = 12, .d_model = 768, .heads = 12, .head_dim = 64, .d_ff = 3072,
                  .vocab = 50257, .seq_len = 1024, .tokens = 1e10, .causal = 1};
    static const char *const ops[] = {"matmul", "attention", "softmax"};
    for (int i = 0; i < 3; i++) {
        jb_class_pick pick, vars[8];
        if (jb_project_pick(doc, &m, ops[i], NULL, &pick, msg, sizeof msg) == 0 && !(pick.flop_per_j > 0))
            abort();
        jb_project_pick(doc, &m, ops[i], "naive", &pick, msg, sizeof msg);
        jb_project_variants(doc, &m, ops[i], vars, 8);
    }
    /* The report's page data, from the same document. */
    const char *paths[] = {"fuzz.json"};
    const cJSON *docs[] = {doc};
    cJSON *page = jb_report_data(paths, docs, 1, &m, msg, sizeof msg);
    /* and the machines compared: the file twice, as two runs of one machine. */
    if (page) {
        const cJSON *two[] = {doc, doc};
        cJSON *files = cJSON_GetObjectItem(page, "files");
        cJSON_AddItemReferenceToArray(files, cJSON_GetArrayItem(files, 0));
        jb_machines_opts mo = {.model = &m, .devices = 8, .kg_per_kwh = 0.4, .pue = 1.1, .price_kwh = 0.2,
                               .prices_csv = "match,price_per_hour\nx,1\n", .prices_path = "p.csv"};
        if (jb_machines_count(two, 2) != 1)
            abort();
        cJSON_Delete(jb_machines_data(files, two, 2, &mo, msg, sizeof msg));
    }
    cJSON_Delete(page);
    cJSON_Delete(doc);
    return 0;
}
