/*
 * Internal to the CPU backend: the one blocked GEMM driver (BLIS's framework
 * layer) that matmul/cpu/blocked/{f32,int8,bf16} and jb_sgemm_st run on. A
 * jb_gemm_driver describes a micro-kernel, how to pack for it and its block
 * sizes; jb_gemm_run owns the loops (nc -> kc -> mc -> micro-tiles), the
 * split of C between threads and the barriers around the shared packed B
 * block. The descriptors, micro-kernels and packing routines live per dtype
 * in ukernel_f32.c, ukernel_int8.c and ukernel_bf16.c (see gemm_ukernel.h).
 *
 * Packed layouts, in 32-bit lanes that each hold kstep consecutive k values
 * of one row of A or one column of B (f32: 1, bf16: 2, int8: 4), zero-padded
 * to whole tiles so the micro-kernel never needs an edge case:
 *   A block mc x kc: ceil(mc/mr) micro-panels, each kc/kstep steps of mr lanes;
 *   B block kc x nc: ceil(nc/nr) micro-panels, each kc/kstep steps of nr lanes.
 * A panel of w rows (columns) of a kc block thus holds w*kc elements.
 *
 * Pre-packed B (jb_gemm_prepack_b, for packed=1 problems: weights converted
 * once, untimed): every kc x nc block of B in the B block layout, each
 * followed by its comp values when d->comp, in the order jb_gemm_run reads
 * them (jc outer, pc inner); each block is as wide and deep as jb_gemm_run
 * makes it (the last ones shorter), so its size comes from the descriptor.
 */
#ifndef JB_GEMM_DRIVER_H
#define JB_GEMM_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

/* Largest register tile of any micro-kernel, for edge scratch and padding. */
#define JB_GEMM_MR_MAX 16
#define JB_GEMM_NR_MAX 64

static inline int64_t jb_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* The operands of one micro-tile's epilogue, for micro-kernels whose sums are
 * not yet C (int8: C = (sum - comp[j]) * sa[i] * sb[j]). Indexed from the
 * tile's first row and column. */
typedef struct jb_gemm_epi {
    const int32_t *comp; /* NULL unless the driver has comp */
    const float *sa;     /* per row */
    const float *sb;     /* per column */
} jb_gemm_epi;

/* C[mr][nr] (row stride ldc) = (acc ? C : 0) + A_panel * B_panel over ks
 * steps of one lane, through the epilogue when epi is non-NULL. The f32 and
 * bf16 kernels take no epilogue (NULL). */
typedef void (*jb_gemm_ukr_fn)(int64_t ks, const void *a, const void *b, float *c, int64_t ldc, int acc,
                               const jb_gemm_epi *epi);

typedef struct jb_gemm_driver jb_gemm_driver;

/* Packs rows [0, mc) and k values [0, kc) of a (row-major, row stride lda
 * elements) into the A block layout at dst. */
typedef void (*jb_gemm_pack_a_fn)(const jb_gemm_driver *d, int64_t mc, int64_t kc, const void *a, int64_t lda,
                                  void *dst);
/* Packs k values [0, kc) and columns [0, nc) of b (row-major, row stride ldb
 * elements) into the B block layout at dst; with d->comp also comp[0, nc). */
typedef void (*jb_gemm_pack_b_fn)(const jb_gemm_driver *d, int64_t kc, int64_t nc, const void *b, int64_t ldb,
                                  void *dst, int32_t *comp);

struct jb_gemm_driver {
    const char *name;   /* ISA and tile, e.g. "vnni_14x32" */
    jb_isa isa;         /* what the packing routines may use */
    int mr, nr;         /* register tile */
    int kstep;          /* k values per lane: 1, 2 or 4; k and kc are multiples of it */
    int64_t mc, kc, nc; /* cache blocks; mc a multiple of mr, nc of nr */
    jb_gemm_ukr_fn ukr;
    /* Optional (NULL: the last A panel is zero-padded to mr rows). rows[h]
     * for h < mr: the kernel for a last A panel of h rows, packed h rows
     * wide, so no idle rows are computed. Only with pre-packed A. */
    const jb_gemm_ukr_fn *rows;
    /* Optional (NULL: A comes pre-packed, whole; see jb_gemm_args). */
    jb_gemm_pack_a_fn pack_a;
    jb_gemm_pack_b_fn pack_b;
    /* B packing also writes one int32 per column for the epilogue (int8
     * VNNI: 128 * the block's column sums); the workspace holds them. */
    int comp;
    /* When the threads split only the columns of C, each packs the B panels
     * it alone reads, two at a time just before their first use, with no
     * barrier. Otherwise (and always without this) they pack the whole B
     * block together first, between two barriers. */
    int b_first_use;
    /* Optional (0: the panels' element size, jb_gemm_esize). Bytes of an
     * element of A and B as the caller holds them when the packing routines
     * convert while they pack (the fp32 path of bf16: 2-byte sources into
     * 4-byte panels); lda and ldb count such elements. */
    int src_esize;
};

/* Bytes of one element of A or B in the panels (a lane holds kstep of them),
 * and in A and B as the caller holds them. */
static inline int64_t jb_gemm_esize(const jb_gemm_driver *d) { return 4 / d->kstep; }
static inline int64_t jb_gemm_src_esize(const jb_gemm_driver *d)
{
    return d->src_esize ? d->src_esize : jb_gemm_esize(d);
}

/* Height of the A panel at row r of an A with m rows: mr, or what is left
 * for the last panel when the driver has row-remainder kernels. */
static inline int jb_gemm_panel_rows(const jb_gemm_driver *d, int64_t m, int64_t r)
{
    return d->rows && m - r < d->mr ? (int)(m - r) : d->mr;
}

/* Bytes of a packed A block of up to mc rows and of a packed B block of up
 * to nc columns, kc k values each, and of nc comp values; each rounded up to
 * 64 so the next buffer stays aligned. */
static inline size_t jb_gemm_apack_bytes(const jb_gemm_driver *d, int64_t mc, int64_t kc)
{
    return (size_t)jb_round_up(jb_round_up(mc, d->mr) * kc * jb_gemm_esize(d), 64);
}
static inline size_t jb_gemm_bpack_bytes(const jb_gemm_driver *d, int64_t kc, int64_t nc)
{
    return (size_t)jb_round_up(jb_round_up(nc, d->nr) * kc * jb_gemm_esize(d), 64);
}
static inline size_t jb_gemm_comp_bytes(const jb_gemm_driver *d, int64_t nc)
{
    return d->comp ? (size_t)jb_round_up(jb_round_up(nc, d->nr) * 4, 64) : 0;
}

/*
 * The operands of C[m][n] = A[m][k] * B[k][n], k a multiple of kstep (the
 * caller pads A and B with zeros). B is row-major. A is row-major when the
 * driver has pack_a; otherwise it is pre-packed whole: the panel at row r0
 * (a multiple of mr) starts at element r0*k and holds k/kstep steps of
 * jb_gemm_panel_rows(d, m, r0) lanes. The scales, when given, must cover
 * whole tiles past m and n (JB_GEMM_MR_MAX and JB_GEMM_NR_MAX more).
 * With b_packed, B comes from there, as jb_gemm_prepack_b wrote it for this
 * d, k and n, and b and ldb are unused.
 */
typedef struct jb_gemm_args {
    int64_t m, n, k;
    const void *a;
    int64_t lda; /* elements; unused for pre-packed A */
    const void *b;
    int64_t ldb;
    const void *b_packed; /* NULL: pack B from b in the run; else all of B pre-packed, 64-byte aligned */
    float *c;
    int64_t ldc;
    const float *sa, *sb; /* per row of A and column of B, or NULL: no epilogue */
} jb_gemm_args;

/* Workspace bytes jb_gemm_run needs with `threads` threads: the shared B
 * block (and comp), and one A block per thread when A is packed in the run. */
size_t jb_gemm_workspace_size(const jb_gemm_driver *d, int64_t m, int64_t n, int64_t k, int threads);
/* The same with B pre-packed (jb_gemm_args.b_packed): no B block, only the A
 * blocks, so 0 for a driver without pack_a. */
size_t jb_gemm_workspace_size_prepacked(const jb_gemm_driver *d, int64_t m, int64_t k, int threads);

/* Bytes of all of B (k x n, k a multiple of d->kstep) pre-packed for d: a
 * multiple of 64. */
size_t jb_gemm_prepack_b_bytes(const jb_gemm_driver *d, int64_t k, int64_t n);
/* Packs all of b (row-major, row stride ldb elements) into dst (64-byte
 * aligned, jb_gemm_prepack_b_bytes(d, k, n) bytes) in the layout
 * jb_gemm_run reads through jb_gemm_args.b_packed; padding is zero. One
 * thread; meant for setup. */
void jb_gemm_prepack_b(const jb_gemm_driver *d, int64_t k, int64_t n, const void *b, int64_t ldb, void *dst);

/* How the blocked matmuls split C between threads: t threads as a tm x tn
 * grid over mtiles x ntiles tiles, the largest share smallest, ties to more
 * row splits (which share the packed B block and duplicate no A packing);
 * and part i of n units in `parts` near-equal ranges, [*lo, *hi). */
void jb_gemm_grid(int t, int64_t mtiles, int64_t ntiles, int *tm, int *tn);
void jb_gemm_split(int64_t n, int parts, int i, int64_t *lo, int64_t *hi);

/* C = A * B on jb_cpu_threads() threads, or as many as ws has A blocks for.
 * ws: 64-byte aligned; may be NULL when the size it needs is 0 (B
 * pre-packed, A pre-packed). Returns JB_OK, or JB_EINVAL when ws is too
 * small for one thread. With B pre-packed the threads share no buffer they
 * write, so the run has no barriers. */
int jb_gemm_run(const jb_gemm_driver *d, const jb_gemm_args *g, void *ws, size_t ws_size);

/* One macro-kernel call: C[mc][nc] = (acc ? C : 0) + an A block times a
 * packed B block, micro-tile by micro-tile. */
typedef struct jb_gemm_block {
    int64_t mc, nc, kc;
    /* A: the panel of rows [i, i+h) starts a_rs*i + a_ko*h elements past a
     * (packed block: a_rs = kc, a_ko = 0; pre-packed A: a_rs = k, a_ko = the
     * block's first k value). m_left: rows of A from the block's first on. */
    const void *a;
    int64_t a_rs, a_ko, m_left;
    void *b;
    const void *b_src; /* non-NULL: pack b from here (row stride ldb) on first use */
    int64_t ldb;
    int32_t *comp;        /* the block's first column's, with d->comp */
    const float *sa, *sb; /* the block's first row's and column's, or NULL */
    float *c;
    int64_t ldc;
    int acc;
} jb_gemm_block;

void jb_gemm_macro(const jb_gemm_driver *d, const jb_gemm_block *x);

#endif
