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

/* All eight tiles at their largest, 16 rows x 64 bytes. */
static inline void jb_amx_config_full(jb_amx_tilecfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg->rows[t] = 16;
        cfg->colsb[t] = 64;
    }
}

/* One thread's ops in iters passes of the AMX bf16 or int8 tile loop (peak_amx.c);
 * 0 in a build without the AMX flags. */
double jb_amx_peak_ops(jb_family f, int64_t iters);

#endif
