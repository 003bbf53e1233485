/*
 * Internal to the CPU backend: weight-only quantized matmul (w8, w4). B is
 * quantized once, in setup, into ggml's block formats, one fp32 scale per
 * group of 32 consecutive k values of a column:
 *   Q8_0  s = max|x| / 127, q = round(x / s) in [-127, 127], x ~ q * s;
 *   Q4_0  d = (the value of largest magnitude, with its sign) / -8,
 *         q = clamp(round(x / d) + 8, 0, 15), x ~ (q - 8) * d.
 * The packed B is read once per run, front to back, so its layout follows the
 * loops of the kernels (ukernel_wq.c):
 *   panels of JB_WQ_NR columns (the last zero-padded), one after the other;
 *   in a panel, one block per group of 32 k values (the last group of a k that
 *   is not a multiple of 32 zero-padded), in k order;
 *   a block: JB_WQ_NR fp32 scales (64 bytes), then the codes:
 *     Q8_0  [32 steps][16 columns] int8;
 *     Q4_0  4 chunks of 8 steps; a chunk is two 32-byte halves (columns 0-7,
 *           8-15) of eight 32-bit lanes, one per column, whose nibble t (bits
 *           4t..4t+3) holds q - 8 of step t as a signed 4-bit number, so that
 *           a shift left and an arithmetic shift right yield q - 8 in a lane.
 * Blocks are multiples of 64 bytes, so every block is as aligned as B.
 */
#ifndef JB_WQ_H
#define JB_WQ_H

#include <stddef.h>
#include <stdint.h>

enum {
    JB_WQ_GROUP = 32,   /* k values per scale */
    JB_WQ_NR = 16,      /* columns per panel: two AVX2 vectors */
    JB_WQ_MR_DIRECT = 4,/* rows the fused kernels take at once */
    JB_WQ_MR_ROWS = 6,  /* rows the fp32 kernel over a dequantized block takes at once */
    JB_WQ_KC = 256,     /* k values per dequantized block (a multiple of JB_WQ_GROUP) */
};

typedef enum jb_wq_format { JB_WQ_Q8_0, JB_WQ_Q4_0, JB_WQ_FORMAT_COUNT } jb_wq_format;

/* Bytes of one packed block (scales and codes of one group of one panel). */
static inline size_t jb_wq_block_bytes(jb_wq_format f)
{
    return JB_WQ_NR * sizeof(float) + (f == JB_WQ_Q8_0 ? JB_WQ_GROUP * JB_WQ_NR : JB_WQ_GROUP * JB_WQ_NR / 2);
}

/* Quantizes count (1..32) values x[0], x[stride], ... as one group: codes into
 * q[0, count) (Q8_0: q; Q4_0: q in 0..15) and the scale into *scale. An
 * all-zero group gets scale 0 and codes that decode to 0. */
void jb_wq_quantize_q8_0(const float *x, int64_t stride, int count, int8_t *q, float *scale);
void jb_wq_quantize_q4_0(const float *x, int64_t stride, int count, uint8_t *q, float *scale);

/* Quantizes steps [0, steps) (<= 32) of columns [0, cols) (<= JB_WQ_NR) of
 * b (row stride ldb) into one packed block at dst; the rest of the block
 * decodes to 0. */
void jb_wq_pack_block(jb_wq_format f, const float *b, int64_t ldb, int steps, int cols, uint8_t *dst);

/* The value the kernels use for step s, column j of a packed block: the
 * code as a float times the column's scale, rounded once to fp32. */
float jb_wq_block_value(jb_wq_format f, const uint8_t *blk, int s, int j);

/*
 * The micro-kernels for one instruction set. Panels are JB_WQ_NR columns
 * wide; only columns [0, nc) of C are read or written (nc <= JB_WQ_NR).
 */
typedef struct jb_wq_ukr {
    const char *name;
    /* C[rows][nc] = A[rows][0, k) * the panel's whole k, A row stride lda,
     * dequantizing in registers; rows 1..JB_WQ_MR_DIRECT. */
    void (*direct[JB_WQ_FORMAT_COUNT])(int rows, int64_t k, const float *a, int64_t lda, const uint8_t *panel,
                                       float *c, int64_t ldc, int nc);
    /* Dequantizes ng whole blocks into dst[ng * 32][JB_WQ_NR] (64-byte aligned). */
    void (*dequant[JB_WQ_FORMAT_COUNT])(int64_t ng, const uint8_t *blocks, float *dst);
    /* C[rows][nc] = (acc ? C : 0) + A[rows][0, kc) * b[kc][JB_WQ_NR], b 64-byte
     * aligned; rows 1..JB_WQ_MR_ROWS. */
    void (*rows)(int rows, int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int acc,
                 int nc);
} jb_wq_ukr;

/* The kernels for jb_cpu_isa() (AVX2+FMA, also on AVX-512 machines, or
 * portable C); never NULL. */
const jb_wq_ukr *jb_wq_ukr_get(void);

#endif
