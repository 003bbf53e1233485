/*
 * Projected training energy and CO2 (serving: project_infer.h).
 *   Method 1 (from kernels): training FLOPs per kernel class from a model spec,
 *     divided by the FLOP per joule measured (or estimated) for a kernel, times
 *     host overhead and PUE; CO2 = energy x grid intensity.
 *   Method 2 (published): chips x days x 24 h x watts x PUE (Patterson et al.
 *     2021), or GPU-hours x watts x PUE (Touvron et al. 2023); CO2 likewise.
 */
#ifndef JB_PROJECT_H
#define JB_PROJECT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "jb_kernels.h"

typedef struct jb_model {
    char name[96];
    double params, layers, d_model, heads, head_dim, d_ff, vocab, seq_len, tokens;
    double kv_heads;     /* heads of K and V (grouped-query attention); the spec may omit it: = heads */
    int causal;
    int tied_embeddings; /* the output projection reuses the token embedding (GPT-2, GPT-3, BERT) */
    char source[512];
} jb_model;

/* Loads NAME (a base name or "name" in configs/models/) or a path to a .json.
 * JB_OK, or JB_EIO / JB_EPARSE with a one-line reason. */
int jb_model_load(const char *name_or_path, jb_model *m, char *msg, size_t len);
/* Parses a model spec's text (path only names it in messages). Every number
 * must be positive and within a bound far above any real model (params 1e15,
 * tokens 1e16, ...; the counts whole numbers); unknown or repeated fields are
 * refused. Optional: kv_heads (a whole number dividing heads; absent: heads),
 * tied_embeddings (false when absent). JB_OK or JB_EPARSE. */
int jb_model_parse(const char *text, const char *path, jb_model *m, char *msg, size_t len);

/* Training work per kernel class (forward + backward). */
typedef struct jb_train_work {
    double matmul_flops;     /* 6 * params * tokens (Kaplan et al. 2020) */
    double attention_flops;  /* 12 * layers * heads * head_dim * seq_len * tokens (PaLM app. B), halved when causal */
    double softmax_elements; /* 3 * layers * heads * seq_len * tokens (forward row + 2x backward), halved when causal */
    double total_flops;      /* matmul + attention */
} jb_train_work;

void jb_train_work_of(const jb_model *m, jb_train_work *w);

/* Method 2. Returns MWh at the facility; tco2e gets MWh x kg/kWh. */
double jb_published_mwh_chips(double chips, double days, double watts, double pue);
double jb_published_mwh_gpu_hours(double gpu_hours, double watts, double pue);

/* The efficiency of one results row used for a class. */
typedef struct jb_class_pick {
    char kernel[96];       /* op/backend/variant/dtype */
    char row[192];         /* its row name */
    double flop_per_j;     /* median */
    double flop_per_s;     /* median */
    int measured;          /* energy measured (1) or estimated (0) */
    double distance;       /* log-distance of its shape from the one wanted */
    jb_problem problem;    /* its shape */
} jb_class_pick;

/* The shape a projection wants a row near. matmul: m, n, k. attention: q
 * (0: q = n, a prefill or training row; > 0: decode over a KV cache, and rows
 * with q < n come first), seq, d, h (weighed a tenth), causal (ignored when
 * q > 0). A row of the other regime (matmul_regime, q) counts as far as
 * 10 in log distance. softmax: seq (its cols), causal. weight_only: whether w8/w4
 * kernels (weight-only quantized, for serving) may be chosen. */
typedef struct jb_shape_target {
    int op;
    double m, n, k;
    int matmul_regime; /* 0: any m; 1: rows with m <= JB_MEMORY_BOUND_ROWS first; 2: rows above it first */
    double q, seq, d, h;
    int causal;
    int weight_only;
} jb_shape_target;

/* Rows with at most this many query rows (attention) or activation rows
 * (matmul) are memory-bound: an fp32 matmul at m rows does about m/2 FLOP per
 * byte, under the balance point of the CPUs and GPUs measured. */
#define JB_MEMORY_BOUND_ROWS 64

/* The shapes the model trains with: matmul seq x d_ff x d_model (the MLP
 * up-projection of one sequence), attention seq, head_dim, heads, causal. */
void jb_train_target(const jb_model *m, int op, jb_shape_target *t);

/* A row's query rows: the problem's q, 0 meaning q = n. */
int64_t jb_problem_query_rows(const jb_problem *p);
/* 1 for a w8/w4 kernel (weight-only quantized; activations stay fp32). */
int jb_kernel_weight_only(const char *kernel);

/* The row nearest t among op's verified median rows with energy, restricted
 * to kernels matching variant (NULL: any; the best flop_per_j there).
 * variant matches the whole kernel name, its variant ("flash"), its dtype
 * ("w4") or both ("flash/f32"). JB_OK, or JB_EINVAL with why. */
int jb_project_pick_target(const cJSON *results, const jb_shape_target *t, const char *variant, jb_class_pick *out,
                           char *msg, size_t len);
/* All distinct kernels measured at the shape nearest t; how many (at most max). */
int jb_project_variants_target(const cJSON *results, const jb_shape_target *t, jb_class_pick *out, int max);

/* Chooses, from a results document, the row for op ("matmul", "attention",
 * "softmax") at the measured shape nearest the model's, restricted to kernels
 * matching variant (NULL: the best flop_per_j there). JB_OK, or JB_EINVAL
 * with a reason when no usable row exists. */
int jb_project_pick(const cJSON *results, const jb_model *m, const char *op, const char *variant,
                    jb_class_pick *out, char *msg, size_t len);

/* All distinct kernels of op measured at the shape nearest the model's. */
int jb_project_variants(const cJSON *results, const jb_model *m, const char *op, jb_class_pick *out, int max);

typedef struct jb_projection {
    double device_joules, facility_joules;
    double matmul_joules, attention_joules, softmax_joules; /* softmax: inside attention, not added */
    double mwh_device, mwh_facility, tco2e;
    double seconds;        /* on one device, from measured FLOP/s */
} jb_projection;

void jb_project_energy(const jb_train_work *w, const jb_class_pick *mm, const jb_class_pick *at,
                       const jb_class_pick *sm, double host_overhead, double pue, double kg_per_kwh,
                       jb_projection *out);

/* The kernel method end to end on a results document: each class's row
 * (matmul and attention as given, NULL: the best at the nearest shape;
 * softmax, shown only), the projection, and whether every figure is finite
 * and under 1e30 MWh, a bound no real projection nears. */
typedef struct jb_project_result {
    jb_class_pick mm, at, sm;
    int have_sm;
    jb_projection pr;
    int all_measured;           /* matmul and attention energy both measured */
} jb_project_result;

/* JB_OK; JB_EINVAL with why when a class has no usable row, or when the
 * projection is out of range (why then names the least efficient row). */
int jb_project_run(const cJSON *results, const jb_model *m, const char *matmul, const char *attention,
                   double host_overhead, double pue, double kg_per_kwh, jb_project_result *out, char *msg, size_t len);

/* 1 when every figure of p is finite and under 1e30 MWh and tCO2e. */
int jb_projection_finite(const jb_projection *p);

/* Grid intensity of ISO3 from configs/grid/grid_carbon_intensity.csv, in kg/kWh, and its year.
 * JB_OK, JB_EINVAL (unknown code) or JB_EIO. country gets the country's name. */
/* The same lookup in the CSV's text: JB_OK, or JB_EINVAL when the code is not
 * there or its row is malformed (an intensity outside [0, 5000] g/kWh included). */
int jb_grid_lookup(const char *csv, const char *iso3, double *kg_per_kwh, int *year, char *country, size_t clen);
int jb_grid_intensity(const char *iso3, double *kg_per_kwh, int *year, char *country, size_t clen, char *msg,
                      size_t len);

#define JB_WORLD_KG_PER_KWH 0.475 /* IEA 2019 world average, CodeCarbon's fallback */

#endif
