/*
 * The AMX tile ceilings (the one part of the peaks built with -mamx-tile
 * -mamx-bf16 -mamx-int8, see CMakeLists.txt): four 16x16 fp32/int32 C tiles
 * updated from two A and two B tiles that stay loaded, so the loop is nothing
 * but tile products. tdpbf16ps: 16x16 outputs x 32 bf16 products x 2 ops =
 * 16,384 FLOP; tdpbusd: 16x16 x 64 u8*s8 products x 2 = 32,768 ops. Called
 * only when jb_cpu_has_amx_*() said yes (tile permission granted); every
 * thread loads its own tile configuration.
 */
#include <stdint.h>
#include <string.h>

#include "amx.h"
#include "cpu.h"

#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AMX_INT8__)
#include <immintrin.h>

static _Thread_local volatile int32_t amx_sink;

double jb_amx_peak_ops(jb_family f, int64_t iters)
{
    _Alignas(64) static const unsigned char src[16 * 64]; /* zeros: the products' values do not matter */
    _Alignas(64) int32_t out[16 * 16];
    _tile_loadconfig(&jb_amx_cfg_full);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, src, 64);
    _tile_loadd(5, src, 64);
    _tile_loadd(6, src, 64);
    _tile_loadd(7, src, 64);
    if (f == JB_FAM_AMX_BF16) {
        for (int64_t it = 0; it < iters; it++) {
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int64_t it = 0; it < iters; it++) {
            _tile_dpbusd(0, 4, 6);
            _tile_dpbusd(1, 4, 7);
            _tile_dpbusd(2, 5, 6);
            _tile_dpbusd(3, 5, 7);
        }
    }
    _tile_stored(0, out, 64);
    _tile_release();
    amx_sink = out[0];
    return (double)iters * 4 * 16 * 16 * (f == JB_FAM_AMX_BF16 ? 32 : 64) * 2;
}
#else
double jb_amx_peak_ops(jb_family f, int64_t iters)
{
    (void)f;
    (void)iters;
    return 0;
}
#endif
