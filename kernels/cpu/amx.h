/*
 * Internal to the CPU backend: Intel AMX (Sapphire Rapids and later). Eight
 * tile registers of up to 16 rows x 64 bytes; tdpbf16ps multiplies a 16x32
 * bf16 A tile by a 32x16 B tile (stored VNNI-interleaved: 16 rows of 16
 * column-pairs, k values 2r and 2r+1 of column j at row r, bytes 4j..4j+3)
 * into a 16x16 fp32 C tile; tdpbusd does the same for u8 x s8 with 64 k values
 * (B rows of 16 columns x 4 k) into int32.
 *
 * Only the files named in CMakeLists.txt (JB_AMX_SOURCES) are built with the
 * AMX flags; everything else calls into them only after jb_cpu_has_amx_*()
 * (cpu.h) said yes, which also asked the kernel for tile permission.
 */
#ifndef JB_AMX_H
#define JB_AMX_H

#include <stdint.h>
#include <string.h>

#include "../jb_kernels.h"

/* The 64-byte operand of ldtilecfg (palette 1). */
typedef struct jb_amx_tilecfg {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16]; /* bytes per row of each tile */
    uint8_t rows[16];
} jb_amx_tilecfg;
_Static_assert(sizeof(jb_amx_tilecfg) == 64, "ldtilecfg reads 64 bytes");

/* All eight tiles at their largest, 16 rows x 64 bytes, as a constant object:
 * gcc's _tile_loadconfig names only the first 8 bytes as its memory operand,
 * so a configuration built in a local variable could lose its stores. */
static const jb_amx_tilecfg jb_amx_cfg_full = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

/* One thread's ops in iters passes of the AMX bf16 or int8 tile loop (peak_amx.c);
 * 0 in a build without the AMX flags. */
double jb_amx_peak_ops(jb_family f, int64_t iters);

/* ---- The AMX matmuls (amx_gemm.c, matmul_amx.c, ukernel_amx*.c) ---------- */

/*
 * Packed panels, the one layout both dtypes use: a panel is 32 rows of A or
 * 32 columns of B, cut along k into blocks of JB_AMX_KB_BYTES bytes of k
 * (32 bf16 or 64 int8 values), each block 2048 bytes = two tiles of 16 rows x
 * 64 bytes, loaded with a 64-byte stride:
 *   A block: rows 0-15 then rows 16-31, each row the block's k values;
 *   B block: columns 0-15 then 16-31, each tile VNNI-interleaved (row r holds
 *            k values [r*w, r*w + w) of its 16 columns, w = 4 / element size,
 *            column c at bytes [c*4, c*4 + 4)).
 * Rows, columns and k values past the matrix are zero. Panel p, block q
 * starts at byte (p * kb + q) * 2048, kb = ceil(k / values per block).
 */
#define JB_AMX_KB_BYTES 64
#define JB_AMX_BLOCK_BYTES 2048
#define JB_AMX_PANEL 32

/* Panels of rows (or columns), and k blocks of k values of es bytes. */
static inline int64_t jb_amx_panels(int64_t rows) { return (rows + JB_AMX_PANEL - 1) / JB_AMX_PANEL; }
int64_t jb_amx_kblocks(int64_t k, int es);
/* Bytes of the panels of `rows` rows (or columns), kb k blocks each. */
size_t jb_amx_panels_bytes(int64_t rows, int64_t kb);

/* Largest k for int8: 127 * 127 * k stays below 2^31 in the int32 sums. */
#define JB_AMX_INT8_K_MAX ((int64_t)1 << 17)

/* The tile operations the AMX kernels are built on, one table per build of
 * ukernel_amx_body.h: on the CPU's tiles (ukernel_amx.c) or, for the tests
 * only, on a plain-C emulation of Intel's pseudo-code (tests/amx_emu.c).
 * Tiles 0-3 accumulate C (C00, C01, C10, C11), 4-5 hold A, 6-7 hold B. */
typedef struct jb_amx_ops {
    const char *name; /* the path a run reports: "amx" or "amx_emulated" */
    /* Loads the full configuration (jb_amx_cfg_full) on the calling
     * thread; every thread that runs the kernels below calls it first. */
    void (*configure)(void);
    /* Returns the calling thread's tiles to their initial state. */
    void (*release)(void);
    /* C[mt*16][32] (row stride ldc floats) = (acc ? C : 0) + A * B over kb
     * k blocks of one A panel and one B panel (bf16); mt is 1 (rows 0-15 of
     * the A panel) or 2. */
    void (*bf16_block)(int mt, int64_t kb, const void *a, const void *b, float *c, int64_t ldc, int acc);
    /* The same for int8 (tdpbssd, s8 x s8): the int32 sums in C, read when acc. */
    void (*s8_block)(int mt, int64_t kb, const void *a, const void *b, int32_t *c, int64_t ldc, int acc);
} jb_amx_ops;

/* The CPU's tiles, or NULL in a build without the AMX flags. Only after
 * jb_cpu_has_amx_*() said yes (cpu.h). */
const jb_amx_ops *jb_amx_hw_ops(void);

/*
 * FOR TESTS ONLY, never called by the program: makes the AMX kernels
 * (matmul/cpu/amx/bf16, matmul/cpu/amx/int8, jb_amx_bf16_gemm_st) available and run on ops,
 * whatever the CPU, so a machine without AMX checks their packing, blocking
 * and edges on an emulation of the tiles; NULL restores the CPU's tiles.
 * Rows timed under it would report the path ops->name.
 */
void jb_amx_set_test_ops(const jb_amx_ops *ops);

/* The ops the AMX kernels run on now: the test's, else the CPU's when
 * jb_cpu_has_amx_bf16 (int8: jb_cpu_has_amx_int8) says yes, else NULL with
 * the reason in why. */
const jb_amx_ops *jb_amx_ops_for(int int8, char *why, size_t len);

/* ---- The engine (amx_gemm.c) --------------------------------------------- */

/* Blocks [q0, q0 + nq) of one A panel: rows [0, h) of a (row stride lda
 * bytes, k values of es bytes), zero past h rows and k values. */
void jb_amx_pack_a_panel(int es, int64_t h, int64_t k, const unsigned char *a, int64_t lda, int64_t q0, int64_t nq,
                         unsigned char *dst);
/* One int8 B panel: columns [0, nw) of b (row-major, ldb), kb blocks. */
void jb_amx_pack_b_panel_s8(int64_t k, int64_t nw, const int8_t *b, int64_t ldb, int64_t kb, int8_t *dst);

/* A threaded C = A * B over packed panels (kb k blocks each): */
typedef struct jb_amx_job {
    const jb_amx_ops *ops;
    int int8;
    int64_t m, n, k, kb;
    const void *a_src; /* non-NULL: pack A (row-major, lda elements) into pa in the run */
    int64_t lda;
    unsigned char *pa;
    const void *b_src; /* non-NULL: pack B (row-major, ldb elements) into pb in the run */
    int64_t ldb;
    unsigned char *pb;
    float *c;
    const float *sa, *sb; /* int8: scales per row of A and column of B */
} jb_amx_job;

/* Runs a job on every thread: packs what has a source, one barrier, then each
 * thread its part of C on the tiles (int8: scaled at the end). */
void jb_amx_run(const jb_amx_job *j);

/*
 * Single-threaded bf16 GEMM on the tiles, for use inside a parallel region
 * (flash attention's Q*K^T and P*V):
 *   C[m][n] = (acc ? C : 0) + A[m][k] * B
 * A is bf16 (uint16_t), row-major with row stride lda; B is pre-packed by
 * jb_amx_bf16_pack_b into jb_amx_bf16_packb_bytes(k, n) bytes (64-byte
 * aligned). Loads the tile configuration on the calling thread at every call
 * (so a caller's own tile use in between is harmless) and leaves it loaded.
 * Packs A through 16 KiB of stack. Only when jb_amx_ops_for(0, ...) is not
 * NULL; does nothing otherwise.
 */
size_t jb_amx_bf16_packb_bytes(int64_t k, int64_t n);
/* B(l, j) = b[l*ldb + j] (B is k x n), or b[j*ldb + l] when trans (b is
 * n x k: C = A * b^T). */
void jb_amx_bf16_pack_b(int64_t k, int64_t n, const uint16_t *b, int64_t ldb, int trans, uint16_t *dst);
void jb_amx_bf16_gemm_st(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *packed_b,
                         float *c, int64_t ldc, int acc);

#endif
