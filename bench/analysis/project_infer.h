/*
 * Projected serving energy and CO2 (training: project.h).
 *
 * A request is a prompt of P tokens and O generated tokens; B requests are
 * served together. Prefill runs the weight matmuls at m = P*B and causal
 * attention over P, like training's forward pass; each of the O decode steps
 * runs the weight matmuls at m = B (matrix-vector-like) and attention with
 * one query row over the context so far (the KV cache). Each phase's work is
 * divided by the efficiency of a measured row: FLOP per joule for
 * compute-bound rows, joules per byte for memory-bound ones (matmul m <= 64,
 * attention q < n), so a decode step costs its bytes x J/B. Facility energy =
 * device x host overhead x PUE; CO2 = energy x grid intensity; lifecycle =
 * training + serving over the deployment.
 *
 * Method 2 (published): energy per request or per output token measured by
 * others on real systems (configs/published_inference_energy.csv).
 */
#ifndef JB_PROJECT_INFER_H
#define JB_PROJECT_INFER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "analysis/project.h"

/* How a model is served. */
typedef struct jb_serving {
    double prompt;   /* P: prompt tokens per request, >= 1 */
    double output;   /* O: generated tokens per request, >= 0 (0: prefill only, e.g. an encoder) */
    double batch;    /* B: requests decoded together, >= 1 */
    double kv_bytes; /* bytes per cached K or V element: 2 (fp16) unless told */
} jb_serving;

/* `joulebench project --inference` defaults: P 512, O 256, B 1, fp16 cache. */
#define JB_SERVING_DEFAULTS {512, 256, 1, 2}

/* Weights that take part in matmuls: params - vocab*d_model (the input
 * embedding is a lookup), or params when the output layer reuses it. */
double jb_model_matmul_params(const jb_model *m);
/* K and V of one token in every layer: 2 * layers * kv_heads * head_dim * kv_bytes. */
double jb_kv_cache_bytes_per_token(const jb_model *m, double kv_bytes);

/* Work per request. d_attn = heads * head_dim (= d_model in every shipped spec). */
typedef struct jb_infer_work {
    double matmul_params;
    double prefill_matmul_flops;    /* 2 * matmul_params * P */
    double prefill_attention_flops; /* 4 * layers * d_attn * P^2, halved when causal: training's
                                     * attention term, forward only (a third of 12*...*seq per token) */
    double decode_matmul_flops;     /* 2 * matmul_params * O */
    double decode_attention_flops;  /* sum over c = P+1 .. P+O of 4 * layers * d_attn * c */
    double flop_per_request;
    double flop_per_output_token;   /* decode FLOPs / O (NaN when O = 0) */
    double kv_cache_bytes_per_token;
    double decode_attention_bytes;  /* sum over the steps of the K,V cache read (c tokens) plus Q and O in fp32 */
    double prefill_attention_bytes; /* Q and O in fp32, K and V at kv_bytes, of the P tokens in every layer */
} jb_infer_work;

void jb_infer_work_of(const jb_model *m, const jb_serving *s, jb_infer_work *w);

/* Bytes one request moves through the weight matmuls with weights of
 * weight_bytes and activations of act_bytes each: every step reads the
 * weights once for the B requests it serves, and each request's
 * activations in and out of every weight matrix. steps = O (decode) or 1
 * with tokens = P (prefill). */
double jb_matmul_bytes_per_request(const jb_model *m, const jb_serving *s, double steps, double tokens,
                                   double weight_bytes, double act_bytes);
/* Bytes per element of the weight and activation operands of a kernel's
 * dtype (the last part of its name): f32/tf32 4,4; bf16 2,2; int8 1,1;
 * w8 1 + 4/32 (an fp32 scale per group of 32), 4; w4 0.5 + 4/32, 4. */
void jb_dtype_bytes(const char *kernel, double *weight_bytes, double *act_bytes);
/* The minimum bytes of a row's problem in that convention (matmul: A, B, C
 * once; attention: Q, K, V, O once in fp32, with q query rows). */
double jb_row_min_bytes(const jb_class_pick *p);

enum jb_phase { JB_PREFILL_MATMUL, JB_PREFILL_ATTENTION, JB_DECODE_MATMUL, JB_DECODE_ATTENTION, JB_PHASES };
/* "prefill matmul", ... */
const char *jb_phase_name(int phase);

/* The row used for one phase and how it is read. */
typedef struct jb_infer_pick {
    jb_class_pick row;
    int used;               /* 0: the phase has no work (O = 0) and no row */
    int per_byte;           /* 1: memory-bound row, read in J/B; 0: FLOP/J */
    double row_bytes;       /* jb_row_min_bytes of the row */
    double joules_per_byte; /* the row's energy per run / row_bytes */
    int stands_in;          /* the row is not of the phase's kind (memory- vs compute-bound) */
    int other_variant;      /* no row of the variant asked for: the best of another stands in */
} jb_infer_pick;

typedef struct jb_infer_result {
    jb_infer_work w;
    jb_infer_pick pick[JB_PHASES];
    double work[JB_PHASES];   /* what each phase's reading divides or multiplies: FLOPs, or bytes */
    double joules[JB_PHASES]; /* device joules per request */
    double device_joules_per_request, facility_joules_per_request;
    double facility_joules_per_output_token; /* NaN when O = 0 */
    int all_measured;                        /* every row used has measured energy */
    char notes[8][480];                      /* which row stands in for which phase, and why */
    int nnotes;
} jb_infer_result;

/*
 * The kernel method on a results document. matmul/attention: the variant for
 * serving (NULL: the best verified at each phase's nearest shape); a phase
 * without a row of that variant gets the best other, with a note. JB_OK, or
 * JB_EINVAL with why (no usable row of a class, a variant with no row at all,
 * a figure out of range).
 */
int jb_infer_run(const cJSON *results, const jb_model *m, const jb_serving *s, const char *matmul,
                 const char *attention, double host_overhead, double pue, jb_infer_result *out, char *msg, size_t len);

/* The kernels of a class (0: matmul, 1: attention) measured at the shape
 * nearest its prefill or decode phase, each once, in name order; how many
 * (at most max). Each is a what-if for jb_infer_run's matmul or attention. */
int jb_infer_kernels(const cJSON *results, const jb_model *m, const jb_serving *s, int cls, char kernels[][96],
                     int max);

/* Traffic over a deployment, next to training. */
typedef struct jb_lifecycle {
    double requests_per_day, days;
    double kwh_per_day;        /* requests_per_day * facility J per request / 3.6e6 */
    double tco2e_per_year;     /* kwh_per_day * 365 / 1000 * kg/kWh */
    double training_mwh;       /* facility */
    double inference_mwh;      /* kwh_per_day * days / 1000 */
    double total_mwh, total_tco2e;
    double breakeven_requests; /* training facility J / facility J per request */
} jb_lifecycle;

void jb_lifecycle_of(double facility_joules_per_request, double requests_per_day, double days, double training_mwh,
                     double kg_per_kwh, jb_lifecycle *out);

/* ---- Method 2: published serving energy ------------------------------------ */

typedef struct jb_published_serving {
    char id[64], model[96], hardware[128], boundary[200], source[512];
    double batch;              /* NaN: not published */
    double joules_per_request; /* as published */
    double output_tokens;      /* mean generated tokens per request; NaN: not published */
    int facility;              /* the figure already includes host, idle machines and PUE */
} jb_published_serving;

/* Parses the CSV's text: id,model,hardware,batch,joules_per_request,
 * output_tokens,boundary,facility (yes|no),source (fields may be quoted).
 * Rows into out[max]; the count, or JB_EPARSE with why. */
int jb_published_serving_parse(const char *csv, jb_published_serving *out, int max, char *msg, size_t len);
/* configs/published_inference_energy.csv; the count, or JB_EIO/JB_EPARSE with why. */
int jb_published_serving_load(jb_published_serving *out, int max, char *msg, size_t len);

/* A published figure for the request served here: J per output token times
 * O when the tokens were published (the published energy per response, its
 * prefill included, spread over its output tokens), else the figure per
 * request as published; times host overhead and PUE unless it is a facility
 * figure already. */
double jb_published_serving_joules(const jb_published_serving *p, const jb_serving *s, double host_overhead,
                                   double pue);

#endif
