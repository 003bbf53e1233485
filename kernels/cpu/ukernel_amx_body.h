/*
 * The AMX micro-kernels, written once against seven tile operations so the
 * same source runs on the CPU's tiles (ukernel_amx.c, built with -mamx-*)
 * and on a plain-C emulation of them (tests/amx_emu.c, for machines without
 * AMX). The includer defines, before including this file:
 *   AMX_LOADCONFIG(cfg)  ldtilecfg      AMX_RELEASE()       tilerelease
 *   AMX_LOADD(t, p, s)   tileloadd      AMX_STORED(t, p, s) tilestored
 *   AMX_ZERO(t)          tilezero
 *   AMX_DPBF16PS(c,a,b)  tdpbf16ps      AMX_DPBSSD(c, a, b) tdpbssd
 *   AMX_OPS_NAME         the name of the jb_amx_ops table defined here
 *   AMX_OPS_LABEL        its path name ("amx", "amx_emulated")
 * Tile numbers are literals (the intrinsics paste them into the instruction).
 *
 * One step is a 2x2 arrangement of 16x16 C tiles (tiles 0-3) from two A
 * tiles (4, 5: rows 0-15 and 16-31 of an A panel's k block) and two B tiles
 * (6, 7: columns 0-15 and 16-31 of a B panel's k block), all loaded with a
 * 64-byte stride from the packed layout amx.h describes; the C tiles stay in
 * the tiles for the whole k loop. mt = 1 drops the second A tile for A
 * panels of at most 16 rows (decode batches).
 */
#include "amx.h"

static void amx_configure(void)
{
    __asm__ volatile("" ::: "memory");
    AMX_LOADCONFIG(&jb_amx_cfg_full); /* amx.h */
}

static void amx_release(void) { AMX_RELEASE(); }

/* The shared loop of both dtypes; DP is the tile product. The compiler sees
 * no memory operand in the tile loads, so the barrier makes every store
 * before the call visible to them. */
#define AMX_BLOCK_BODY(DP)                                                                                        \
    do {                                                                                                          \
        const unsigned char *pa = a, *pb = b;                                                                     \
        const int64_t cs = ldc * 4; /* bytes */                                                                    \
        __asm__ volatile("" ::: "memory");                                                                        \
        if (acc) {                                                                                                \
            AMX_LOADD(0, c, cs);                                                                                  \
            AMX_LOADD(1, c + 16, cs);                                                                             \
            if (mt == 2) {                                                                                        \
                AMX_LOADD(2, c + 16 * ldc, cs);                                                                   \
                AMX_LOADD(3, c + 16 * ldc + 16, cs);                                                              \
            }                                                                                                     \
        } else {                                                                                                  \
            AMX_ZERO(0);                                                                                          \
            AMX_ZERO(1);                                                                                          \
            AMX_ZERO(2);                                                                                          \
            AMX_ZERO(3);                                                                                          \
        }                                                                                                         \
        if (mt == 2) {                                                                                            \
            for (int64_t q = 0; q < kb; q++) {                                                                    \
                AMX_LOADD(4, pa, 64);                                                                             \
                AMX_LOADD(6, pb, 64);                                                                             \
                DP(0, 4, 6);                                                                                      \
                AMX_LOADD(7, pb + 1024, 64);                                                                      \
                DP(1, 4, 7);                                                                                      \
                AMX_LOADD(5, pa + 1024, 64);                                                                      \
                DP(2, 5, 6);                                                                                      \
                DP(3, 5, 7);                                                                                      \
                pa += JB_AMX_BLOCK_BYTES;                                                                         \
                pb += JB_AMX_BLOCK_BYTES;                                                                         \
            }                                                                                                     \
        } else {                                                                                                  \
            for (int64_t q = 0; q < kb; q++) {                                                                    \
                AMX_LOADD(4, pa, 64);                                                                             \
                AMX_LOADD(6, pb, 64);                                                                             \
                AMX_LOADD(7, pb + 1024, 64);                                                                      \
                DP(0, 4, 6);                                                                                      \
                DP(1, 4, 7);                                                                                      \
                pa += JB_AMX_BLOCK_BYTES;                                                                         \
                pb += JB_AMX_BLOCK_BYTES;                                                                         \
            }                                                                                                     \
        }                                                                                                         \
        AMX_STORED(0, c, cs);                                                                                     \
        AMX_STORED(1, c + 16, cs);                                                                                \
        if (mt == 2) {                                                                                            \
            AMX_STORED(2, c + 16 * ldc, cs);                                                                      \
            AMX_STORED(3, c + 16 * ldc + 16, cs);                                                                 \
        }                                                                                                         \
    } while (0)

static void amx_bf16_block(int mt, int64_t kb, const void *a, const void *b, float *c, int64_t ldc, int acc)
{
    AMX_BLOCK_BODY(AMX_DPBF16PS);
}

static void amx_s8_block(int mt, int64_t kb, const void *a, const void *b, int32_t *c, int64_t ldc, int acc)
{
    AMX_BLOCK_BODY(AMX_DPBSSD);
}

#undef AMX_BLOCK_BODY

const jb_amx_ops AMX_OPS_NAME = {
    .name = AMX_OPS_LABEL,
    .configure = amx_configure,
    .release = amx_release,
    .bf16_block = amx_bf16_block,
    .s8_block = amx_s8_block,
};
