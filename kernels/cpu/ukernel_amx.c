/*
 * The AMX micro-kernels on the CPU's tiles: ukernel_amx_body.h with the
 * tile operations mapped to gcc's intrinsics. Built with -mamx-tile
 * -mamx-bf16 -mamx-int8 (JB_AMX_SOURCES in CMakeLists.txt), so nothing here
 * may run before jb_cpu_has_amx_*() said yes; matmul_amx.c asks.
 */
#include <stddef.h>

#include "amx.h"

#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AMX_INT8__)
#include <immintrin.h>

#define AMX_LOADCONFIG(cfg) _tile_loadconfig(cfg)
#define AMX_RELEASE() _tile_release()
#define AMX_LOADD(t, p, s) _tile_loadd(t, p, s)
#define AMX_STORED(t, p, s) _tile_stored(t, p, s)
#define AMX_ZERO(t) _tile_zero(t)
#define AMX_DPBF16PS(c, a, b) _tile_dpbf16ps(c, a, b)
#define AMX_DPBSSD(c, a, b) _tile_dpbssd(c, a, b)
#define AMX_OPS_NAME jb_amx_ops_tiles
#define AMX_OPS_LABEL "amx"
extern const jb_amx_ops jb_amx_ops_tiles;
#include "ukernel_amx_body.h"

const jb_amx_ops *jb_amx_hw_ops(void) { return &jb_amx_ops_tiles; }
#else
const jb_amx_ops *jb_amx_hw_ops(void) { return NULL; }
#endif
