/*
 * joulebench kernel library: the public interface.
 *
 * Ops, dtypes and problems; the registry of kernel descriptors named
 * op/backend/variant/dtype; the fp64 oracle; and verification of a kernel
 * against the oracle. The harness (bench/) sees kernels only through this
 * header, so it never depends on one backend.
 *
 * Layouts are row-major and contiguous:
 *   matmul    A[m][k], B[k][n]               -> C[m][n]
 *   softmax   X[rows][cols]                  -> Y[rows][cols]
 *   attention Q[b][h][q][d], K,V[b][h][n][d] -> O[b][h][q][d]
 *             (q query rows, the last q positions of the n; q = n unless set)
 * Errors are negative jb_status codes; jb_strerror() names them.
 */
#ifndef JB_KERNELS_H
#define JB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum jb_status {
    JB_OK = 0,
    JB_EINVAL = -1,       /* bad argument or shape */
    JB_ENOMEM = -2,       /* allocation failed or problem too large */
    JB_EUNSUPPORTED = -3, /* kernel does not support this problem */
    JB_EUNAVAILABLE = -4, /* kernel cannot run on this machine or build */
    JB_EBACKEND = -5,     /* a vendor library or driver call failed */
    JB_EVERIFY = -6,      /* output differs from the oracle beyond tolerance */
    JB_EIO = -7,          /* file could not be read or written */
    JB_EPARSE = -8,       /* malformed input text */
    JB_STATUS_MIN = -8
} jb_status;

const char *jb_strerror(int status);

typedef enum jb_op { JB_OP_MATMUL, JB_OP_SOFTMAX, JB_OP_ATTENTION, JB_OP_COUNT } jb_op;
/* w8, w4: weight-only quantization: A stays fp32, B is stored as 8- or 4-bit codes
 * with one fp32 scale per group of 32 consecutive k values of a column
 * (ggml's Q8_0 and Q4_0 blocks), dequantized inside the kernel. */
typedef enum jb_dtype { JB_DT_F32, JB_DT_TF32, JB_DT_BF16, JB_DT_INT8, JB_DT_W8, JB_DT_W4, JB_DT_COUNT } jb_dtype;
typedef enum jb_backend { JB_BACKEND_CPU, JB_BACKEND_CUDA, JB_BACKEND_COUNT } jb_backend;
/* The instruction families whose ceilings the CPU's peaks measure, one each:
 * fp32 FMA (vfmadd*ps), bf16 dot product (AVX-512 BF16 vdpbf16ps), int8 dot
 * product (VNNI vpdpbusd, or AVX2 vpmaddubsw+vpmaddwd without it), and the AMX
 * tile products (tdpbf16ps, tdpbusd). A CPU kernel declares which family its
 * inner loop runs on (jb_kernel.path), and its % of peak is against that one. */
typedef enum jb_family {
    JB_FAM_FP32_FMA,
    JB_FAM_BF16_DOT,
    JB_FAM_INT8_DOT,
    JB_FAM_AMX_BF16,
    JB_FAM_AMX_INT8,
    JB_FAM_COUNT
} jb_family;

const char *jb_op_name(jb_op op);
const char *jb_dtype_name(jb_dtype dt);
const char *jb_backend_name(jb_backend be);
/* "fp32_fma", "bf16_dot", "int8_dot", "amx_bf16", "amx_int8". */
const char *jb_family_name(jb_family f);
/* Returns the enum value, or -1 when the name is unknown. */
int jb_op_from_name(const char *name);

/* One problem: an op and its shape. Fields an op does not use stay 0.
 * Attention's shape key "n" (sequence length) is the field seq; "q" (query
 * rows: decode over a KV cache of n keys when q < n) is the field q, 0 when
 * q = n, so self-attention's problems and row names are as before. Query i
 * sits at position n - q + i and, when causal, sees keys 0 .. n - q + i. */
typedef struct jb_problem {
    jb_op op;
    int64_t m, n, k;          /* matmul */
    int64_t rows, cols;       /* softmax */
    int64_t b, h, seq, d;     /* attention */
    int64_t q;                /* attention: query rows, 1..seq; 0 means seq (see jb_attention_q) */
    int causal;               /* softmax and attention: 0 or 1 */
    int packed;               /* matmul: 1 converts B to the kernel's preferred layout in
                               * setup (pre-packed weights, as inference holds them), 0
                               * (default) inside the timed run (as training re-packs each
                               * step); row names gain "packed:1" only when 1 */
    double scale;             /* softmax: inputs are multiplied by scale before exp; 0 means 1 */
} jb_problem;

/* Largest single dimension accepted, and largest buffer in elements. */
#define JB_DIM_MAX ((int64_t)1 << 31)

/*
 * Checks every field of p. Returns JB_OK, JB_EINVAL for zero, negative or
 * unused-but-set sizes and bad flags, or JB_ENOMEM when a buffer would exceed
 * SIZE_MAX or the machine's physical memory. When msg is not NULL it receives
 * a one-line reason.
 */
int jb_problem_validate(const jb_problem *p, char *msg, size_t msg_len);

/*
 * Parses "k=v,k=v" into *p for op. Keys: matmul m,n,k,packed; softmax
 * rows,cols,causal (and optional scale); attention b,h,[q,]n,d,causal. causal,
 * packed (0 or 1) and q default to 0, the rest are required. Returns JB_OK or JB_EPARSE/JB_EINVAL with a reason in msg.
 * The parsed problem is also validated.
 */
int jb_problem_parse(jb_op op, const char *shape, jb_problem *p, char *msg, size_t msg_len);

/* Writes the row-name form "m:1024/n:1024/k:1024" (no op prefix; "/packed:1"
 * follows only when packed is 1, "q:" only when q < n). */
int jb_problem_format(const jb_problem *p, char *buf, size_t len);
/* Its inverse: parses "m:1024/n:1024/k:1024" for op (and validates). JB_OK or
 * JB_EPARSE/JB_EINVAL with a reason in msg. */
int jb_problem_parse_format(jb_op op, const char *s, jb_problem *p, char *msg, size_t len);
/* Splits a row name "op/backend/variant/dtype/key:value/..." into the kernel
 * name (first four parts, into kernel[klen]) and the problem. JB_OK or JB_EPARSE. */
int jb_row_name_parse(const char *name, char *kernel, size_t klen, jb_problem *p, char *msg, size_t len);

/* Attention's query rows: q, or n when q is 0. */
int64_t jb_attention_q(const jb_problem *p);

/* Useful work as DESIGN.md defines it, the same for every variant:
 * matmul 2mnk; attention 4*b*h*n^2*d (halved when causal) for q = n, and for
 * q < n exactly 4*b*h*d*(the keys each query sees, summed): q*n, or causal
 * q*(n-q) + q*(q+1)/2; softmax: elements. */
double jb_problem_flops(const jb_problem *p);
/* Elements processed (softmax: rows*cols; others: output elements). */
double jb_problem_elements(const jb_problem *p);
/* Minimum bytes moved at fp32: each input read once, each output written once. */
double jb_problem_min_bytes(const jb_problem *p);

/* Number of input tensors (2 for matmul, 1 for softmax, 3 for attention), the
 * element count of input i, and of the output. Names are for --dump files. */
int jb_problem_num_inputs(const jb_problem *p);
size_t jb_problem_input_elems(const jb_problem *p, int i);
size_t jb_problem_output_elems(const jb_problem *p);
const char *jb_problem_input_name(const jb_problem *p, int i);
const char *jb_problem_output_name(const jb_problem *p);

/* Fills the inputs with reproducible values from seed (a per-op range that
 * keeps softmax and attention away from trivial outputs). */
void jb_problem_fill_inputs(const jb_problem *p, uint64_t seed, float *const in[]);

/* ---- Executing a kernel ------------------------------------------------ */

/* Everything a kernel's functions see. The caller allocates in, out and ws. */
typedef struct jb_exec {
    const jb_problem *p;
    const float *in[3];   /* fp32 inputs, as jb_problem_num_inputs() lists them */
    float *out;           /* fp32 output */
    void *ws;             /* workspace_size() bytes, 64-byte aligned, or NULL if 0 */
    size_t ws_size;
    void *state;          /* owned by the kernel: set in setup, freed in teardown */
    char why[200];        /* setup may say here why it returned JB_EUNSUPPORTED (a library
                           * that has no algorithm for this shape on this device) */
} jb_exec;

typedef struct jb_kernel {
    const char *name;     /* "op/backend/variant/dtype" */
    jb_op op;
    jb_backend backend;
    const char *variant;
    jb_dtype dtype;
    double tolerance;     /* largest accepted normalized error vs the oracle */
    const char *summary;  /* one line for `joulebench list` */

    /* Optional (NULL: always available). JB_OK, or JB_EUNAVAILABLE with why
     * (no CPU flag, built without the library, no device). */
    int (*available)(char *why, size_t len);
    /* Optional (NULL: every valid problem of op). JB_OK or JB_EUNSUPPORTED with why. */
    int (*supports)(const jb_problem *p, char *why, size_t len);
    /* Attention: 1 when the kernel takes q < n (decode over a KV cache). The
     * others are asked only self-attention (jb_kernel_supports says why). */
    int decode;
    /* Optional (NULL: jb_problem_min_bytes, every operand at fp32): the least
     * bytes a run moves when the kernel holds an operand quantized since setup
     * (weight-only matmuls, an int8 KV cache), so that its GB/s and % of the
     * copy bandwidth count the bytes it really reads. */
    double (*min_bytes)(const jb_problem *p);
    /* Optional (NULL: fp32 FMA, path jb_cpu_isa_name() on the CPU). The
     * instructions the kernel's inner loop runs on this machine for p, as
     * chosen at run time: *family, whose measured ceiling its % of peak is
     * against, and the return, a short name of the path ("amx", "avx512_bf16",
     * "avx2_fma", "avx512_vnni"), which the run writes beside the row. */
    const char *(*path)(const jb_problem *p, jb_family *family);
    /* Optional (NULL: 0). Workspace the caller provides in jb_exec.ws. */
    size_t (*workspace_size)(const jb_problem *p);
    /* Optional, untimed: per-problem preparation (primitive creation, packing or
     * quantization of inputs into state). May allocate; teardown frees. Returns
     * JB_EUNSUPPORTED, with the reason in e->why, when only the device or library
     * can tell that it cannot do this problem: the problem is then skipped. */
    int (*setup)(jb_exec *e);
    /* Timed. Computes out from in. Never allocates. */
    int (*run)(jb_exec *e);
    /* Optional: frees what setup made. Safe after a failed setup. */
    void (*teardown)(jb_exec *e);
    /* Optional, for quantized and reduced-precision kernels, after setup:
     * writes into deq[i] the values input i takes inside the kernel after
     * quantization and dequantization, so the oracle sees what the kernel saw.
     * Inputs the kernel uses at full precision are copied unchanged. */
    int (*dequantized_inputs)(const jb_exec *e, float *const deq[]);
    /* Optional: for device kernels, copies the output to e->out after run; untimed.
     * (Such a kernel's run leaves its result in device memory.) */
    int (*sync_output)(jb_exec *e);
} jb_kernel;

/* ---- Registry ------------------------------------------------------------ */

size_t jb_registry_count(void);
/* i in [0, count); NULL past the end. */
const jb_kernel *jb_registry_get(size_t i);
/* NULL when no kernel has that exact name. */
const jb_kernel *jb_registry_find(const char *name);
/* JB_OK, or the kernel's reason it cannot run here. */
int jb_kernel_available(const jb_kernel *k, char *why, size_t len);
/* Validates p, checks op, then the kernel's own supports(). */
int jb_kernel_supports(const jb_kernel *k, const jb_problem *p, char *why, size_t len);
size_t jb_kernel_workspace(const jb_kernel *k, const jb_problem *p);
/* The kernel's min_bytes, else jb_problem_min_bytes. */
double jb_kernel_min_bytes(const jb_kernel *k, const jb_problem *p);
/* The kernel's path, else fp32 FMA and jb_cpu_isa_name() (CPU) or the backend's
 * name (others). family may be NULL. Never NULL. */
const char *jb_kernel_path(const jb_kernel *k, const jb_problem *p, jb_family *family);

/* ---- The machine, as the harness may ask about it --------------------------- */

/* Name of the best instruction set the CPU kernels use here ("avx512", "avx2",
 * "portable"), after the JB_ISA cap; space-separated list of the CPU flags that
 * matter to them; OpenMP threads a parallel region uses (1 without OpenMP);
 * bytes of the last-level cache (32 MiB when unknown). */
const char *jb_cpu_isa_name(void);
const char *jb_cpu_flags(void);
int jb_cpu_threads(void);
size_t jb_cpu_llc_bytes(void);
/* JB_OK when JB_ISA is unset, empty or one of portable, avx2, avx512, amx;
 * otherwise JB_EINVAL with a line naming the allowed values (a bad value is
 * ignored by the kernels, so programs check it first). */
int jb_cpu_isa_env_check(char *msg, size_t len);
/* Peak fp32 FLOP/s of an FMA loop on every thread at the best instruction set
 * (best of a few trials, about half a second); *isa names the loop's ISA. */
double jb_cpu_fma_peak(const char **isa);
/* The same loop for about `seconds` (a few milliseconds): FLOP/s now, a probe
 * of how fast the machine is at this moment rather than at its best. */
double jb_cpu_fma_rate(double seconds);
/* Whether this CPU (and the JB_ISA cap) has family f's instructions, and for
 * AMX whether the kernel granted tile permission; when not, why (may be NULL). */
int jb_cpu_has_family(jb_family f, char *why, size_t len);
/* Peak operations per second of family f on every thread (a FLOP for the
 * float families, a multiply-add counted as 2 ops for int8), best of a few
 * trials of a loop of independent accumulators, about a quarter second; 0
 * when the CPU lacks it. *what (may be NULL) names the loop's instruction. */
double jb_cpu_family_peak(jb_family f, const char **what);
/* The same, measured once per process and kept (for kernels choosing a path). */
double jb_cpu_family_peak_cached(jb_family f);
/* Bytes of the data cache at level 1, 2 or 3 that one core sees (sysfs, then
 * sysconf; 0 when unknown). */
size_t jb_cpu_cache_bytes(int level);
/* The block sizes the blocked GEMMs derived from those caches (the analytic
 * rule of kernels/cpu/gemm_blocking.c), one line: "f32 avx2_6x16 mc=204
 * kc=320 nc=4096; int8 ...", and the bf16 dot kernel's where the CPU has it
 * (static storage; not for use from several threads at once). */
const char *jb_gemm_blocking(void);

/* "2.6.3", or "none" in a build without oneDNN (static storage). */
const char *jb_onednn_version(void);

/* ---- Backends -------------------------------------------------------------- */

/*
 * What the harness may ask of each backend, so that it never depends on one:
 * a table indexed by jb_backend (jb_backend_ops), every slot filled in every
 * build (a backend built out answers JB_EUNAVAILABLE).
 */
typedef struct jb_backend_ops {
    const char *name;                              /* "cpu", "cuda" */
    /* One line about the device ("NVIDIA H100 80GB HBM3, sm_90, 132 SMs, ...");
     * JB_OK, or JB_EUNAVAILABLE with the reason in buf. */
    int (*describe)(char *buf, size_t len);
    /* The libraries this backend runs on, with versions (static storage). */
    const char *(*versions)(void);
    /* The device's PCI bus id, by which NVML finds it; JB_EUNAVAILABLE when it
     * has none (the CPU) or no device is there. */
    int (*pci_bus_id)(char *buf, size_t len);
    /* Times nruns back-to-back runs of a kernel of this backend set up on e:
     * *seconds for all of them; *held 0 when host gaps may lie inside (see
     * jb_cuda_time_batch). JB_OK or the kernel's or device's error. */
    int (*time_runs)(const jb_kernel *k, jb_exec *e, int nruns, double *seconds, int *held);
    /* Evicts every kernel's data from the device's caches; returns once done. */
    int (*flush_caches)(void);
    /* Frees what time_runs and flush_caches keep between calls. */
    void (*release)(void);
    /* 1: the device queues work, so runs are timed in batches (bench/harness/batch.h);
     * 0: one run at a time, timed by the host clock. */
    int batched;
    /* The variant name of the vendor library's kernels ("onednn", "cublas"):
     * the reference a speed-up is given against by default. */
    const char *vendor_variant;
} jb_backend_ops;

/* The table's entry for be (never NULL for a valid be). */
const jb_backend_ops *jb_backend_get(jb_backend be);

/* ---- Oracle -------------------------------------------------------------- */

/* fp64 reference of p on fp32 inputs, into ref (fp64, output_elems long). */
int jb_oracle_run(const jb_problem *p, const float *const in[], double *ref);

/* The oracle by output rows, for problems too large to check whole: a row is
 * a row of C (matmul), of Y (softmax), or one query position of one head
 * (attention: row = (batch*h + head)*n + i). Fills only those rows of ref.
 * rows == NULL means every row. */
int64_t jb_oracle_num_rows(const jb_problem *p);
double jb_oracle_row_work(const jb_problem *p); /* fp64 operations per row */
int jb_oracle_rows(const jb_problem *p, const float *const in[], const int64_t *rows, size_t nrows, double *ref);

/* ---- Verification -------------------------------------------------------- */

typedef struct jb_verify_result {
    int status;          /* JB_OK, JB_EVERIFY, or the error that stopped the check */
    double max_err;      /* max |out - ref| / max(max |ref|, 1e-30) */
    double max_abs_err;  /* max |out - ref| */
    double tolerance;
    size_t bad_index;    /* index of the worst element */
    size_t unwritten;    /* output elements still holding the poison value */
    size_t nonfinite;    /* NaN or Inf in the output */
    int guard_ok;        /* 1 when the guard bytes around every buffer are intact */
    int64_t rows_checked;/* output rows compared with the oracle */
    int64_t rows_total;  /* all output rows (every element is still checked written and finite) */
    char msg[256];       /* one line: why it failed, or a summary */
} jb_verify_result;

/* Buffers of one kernel execution with guard bytes around each. */
typedef struct jb_buffers {
    const jb_problem *p;
    float *in[3];        /* kernel inputs (fp32, generated from seed) */
    float *out;
    void *ws;
    size_t ws_size;
    float *deq[3];       /* what the oracle sees: equals in[] unless the kernel quantizes */
    double *ref;
    void *blocks[12];    /* raw allocations, guard bytes around each */
    size_t block_bytes[12];
    int nblocks;
} jb_buffers;

/* Allocates and fills buffers for kernel k on p. JB_OK or JB_ENOMEM. */
int jb_buffers_init(jb_buffers *b, const jb_kernel *k, const jb_problem *p, uint64_t seed);
void jb_buffers_free(jb_buffers *b);
/* 1 when every guard region is intact. */
int jb_buffers_guards_ok(const jb_buffers *b);
/* Fills the output with the poison bit pattern (a signalling NaN). */
void jb_buffers_poison_output(jb_buffers *b);

/*
 * The check every kernel passes before it is timed: setup, poisoned output,
 * (a setup that answers JB_EUNSUPPORTED makes the status JB_EUNSUPPORTED, with
 * the kernel's reason in res->msg: a skip, not a failure),
 * one run, oracle on the inputs the kernel saw, element-wise comparison, guard
 * bytes. On success e is left set up (state kept) so the caller can time it and
 * then call the kernel's teardown through jb_exec_teardown; on failure it is torn down.
 * Returns res->status.
 */
int jb_verify(const jb_kernel *k, jb_buffers *b, jb_exec *e, jb_verify_result *res);

/* Like jb_verify, but when the whole oracle would cost more than max_oracle_work
 * fp64 operations, compares a reproducible sample of output rows (the first,
 * the last, and random ones from the seed) that fits in that budget.
 * 0 means no limit. */
int jb_verify_sampled(const jb_kernel *k, jb_buffers *b, jb_exec *e, double max_oracle_work, uint64_t seed,
                      jb_verify_result *res);
void jb_exec_teardown(const jb_kernel *k, jb_exec *e);

/* One-shot: allocate, verify, free. */
int jb_verify_once(const jb_kernel *k, const jb_problem *p, uint64_t seed, jb_verify_result *res);

#ifdef __cplusplus
}
#endif
#endif
