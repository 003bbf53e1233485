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
 *   a block: JB_WQ_NR fp32 scales (64 bytes), then the codes in chunks of
 *   jb_wq_lane_steps() steps: a chunk is two 32-byte halves (columns 0-7,
 *   8-15) of eight 32-bit lanes, one per column, and step t of the chunk sits
 *   at bits [b*t, b*t + b) of its column's lane (b = 8 or 4 bits) as the
 *   unsigned code u = q + offset (Q8_0: q + 128; Q4_0: q itself, offset 8).
 *   So one AND isolates a step's codes in eight lanes, in place.
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

/* Bits per code, steps per 32-bit lane, and the offset of the unsigned code. */
static inline int jb_wq_code_bits(jb_wq_format f)
{
    return f == JB_WQ_Q8_0 ? 8 : 4;
}
static inline int jb_wq_lane_steps(jb_wq_format f)
{
    return 32 / jb_wq_code_bits(f);
}
static inline int jb_wq_offset(jb_wq_format f)
{
    return f == JB_WQ_Q8_0 ? 128 : 8;
}

/* Bytes of one packed block (scales and codes of one group of one panel). */
static inline size_t jb_wq_block_bytes(jb_wq_format f)
{
    return JB_WQ_NR * sizeof(float) + (size_t)JB_WQ_GROUP * JB_WQ_NR * jb_wq_code_bits(f) / 8;
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

/* The value of step s, column j of a packed block: (u - offset) as a float
 * times the column's scale, rounded once to fp32. What the oracle is given. */
float jb_wq_block_value(jb_wq_format f, const uint8_t *blk, int s, int j);

/*
 * The fused kernels read A prepared by jb_wq_prepare_a, once per run: each
 * row padded with zeros to whole groups and step t of each lane scaled by
 * 2^(b*(L-2) - b*t) (2^(b*(L-2)) for the top step, L = steps per lane), so
 * that a code isolated in place by an AND (u * 2^(b*t); the top step, shifted
 * down: u) times its A value is a * u * 2^E, E = b*(L-2), at every step; and
 * per row and group corr = -offset * 2^E * (the sum of the group's A), so the
 * group's sum plus corr is 2^E * sum(a * (u - offset)). The factors are
 * powers of two, so this is exact while a * u * 2^E stays finite, for |A|
 * below about 2^100.
 * ap: [rows][groups * 32] (row stride lda), corr: [rows][groups] (stride ldc).
 */
void jb_wq_prepare_a(jb_wq_format f, int64_t rows, int64_t k, const float *a, float *ap, int64_t lda, float *corr,
                     int64_t ldc);

/*
 * The micro-kernels for one instruction set. Panels are JB_WQ_NR columns
 * wide; only columns [0, nc) of C are read or written (nc <= JB_WQ_NR).
 */
typedef struct jb_wq_ukr {
    const char *name;
    /* C[rows][nc] = A[rows][0, 32*ng) * the panel's ng groups, from A as
     * jb_wq_prepare_a leaves it (ap, lda, corr, ldcorr); rows 1..JB_WQ_MR_DIRECT. */
    void (*direct[JB_WQ_FORMAT_COUNT])(int rows, int64_t ng, const float *ap, int64_t lda, const float *corr,
                                       int64_t ldcorr, const uint8_t *panel, float *c, int64_t ldc, int nc);
    /* Dequantizes ng whole blocks into dst[ng * 32][JB_WQ_NR] (64-byte
     * aligned), the values jb_wq_block_value gives. */
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
