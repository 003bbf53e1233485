/*
 * A plain-C emulation of the AMX tile instructions the AMX kernels use,
 * following the pseudo-code of Intel's SDM (vol. 2, LDTILECFG, TILELOADD,
 * TILESTORED, TILEZERO, TDPBF16PS, TDPBSSD), so the very micro-kernels of
 * kernels/cpu/ukernel_amx_body.h run on a CPU without AMX. Compiled only
 * into the tests (jb_amx_emu_ops, given to jb_amx_set_test_ops): the
 * joulebench program holds none of it, so no row is ever timed on it.
 *
 * Per thread, like the real tiles: a configuration (palette 1: rows and
 * bytes per row of each tile) and eight 16 x 64-byte tiles. A tile holds
 * only its configured rows x colsb bytes; loads and products write zeros
 * past them. What the CPU would fault on (#UD: no configuration, a tile
 * outside it, shapes that do not chain) aborts with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/amx.h"

static _Thread_local struct {
    int on; /* a valid palette-1 configuration is loaded */
    jb_amx_tilecfg cfg;
    unsigned char t[8][16][64];
} emu;

static void fault(const char *what)
{
    fprintf(stderr, "emulated AMX: %s (the CPU would fault)\n", what);
    abort();
}

static void emu_release(void) { memset(&emu, 0, sizeof emu); }

static void emu_loadconfig(const void *p)
{
    jb_amx_tilecfg c;
    memcpy(&c, p, sizeof c);
    if (c.palette == 0) { /* palette 0: the initial state */
        emu_release();
        return;
    }
    if (c.palette != 1)
        fault("ldtilecfg: palette other than 0 and 1");
    for (int i = 0; i < 14; i++)
        if (c.reserved[i])
            fault("ldtilecfg: reserved bytes not zero");
    for (int t = 0; t < 16; t++) {
        const int rows = c.rows[t], colsb = c.colsb[t];
        if (t >= 8 ? rows || colsb : rows > 16 || colsb > 64 || !rows != !colsb)
            fault("ldtilecfg: tile shape past palette 1's limits");
    }
    memset(&emu, 0, sizeof emu);
    emu.cfg = c;
    emu.on = 1;
}

static void check(int t)
{
    if (!emu.on)
        fault("tile instruction with no tile configuration");
    if (t < 0 || t > 7 || !emu.cfg.rows[t])
        fault("tile instruction on an unconfigured tile");
}

/* zero past colsb in rows [0, rows), and all rows past rows */
static void zero_upper(int t)
{
    const int rows = emu.cfg.rows[t], colsb = emu.cfg.colsb[t];
    for (int r = 0; r < 16; r++)
        memset(emu.t[t][r] + (r < rows ? colsb : 0), 0, (size_t)(64 - (r < rows ? colsb : 0)));
}

static void emu_loadd(int t, const void *base, int64_t stride)
{
    check(t);
    for (int r = 0; r < emu.cfg.rows[t]; r++)
        memcpy(emu.t[t][r], (const unsigned char *)base + r * stride, emu.cfg.colsb[t]);
    zero_upper(t);
}

static void emu_stored(int t, void *base, int64_t stride)
{
    check(t);
    for (int r = 0; r < emu.cfg.rows[t]; r++)
        memcpy((unsigned char *)base + r * stride, emu.t[t][r], emu.cfg.colsb[t]);
}

static void emu_zero(int t)
{
    check(t);
    memset(emu.t[t], 0, sizeof emu.t[t]);
}

/* The shape rules of the dot products: C is a.rows x b.colsb, a.colsb / 4 = b.rows. */
static void check_dp(int c, int a, int b)
{
    check(c);
    check(a);
    check(b);
    if (c == a || c == b || a == b)
        fault("tile product with a tile used twice");
    if (emu.cfg.rows[c] != emu.cfg.rows[a] || emu.cfg.colsb[c] != emu.cfg.colsb[b] ||
        emu.cfg.colsb[a] != 4 * emu.cfg.rows[b] || emu.cfg.colsb[c] % 4 || emu.cfg.colsb[a] % 4)
        fault("tile product with shapes that do not chain");
}

static float f32_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* A bf16 as fp32, denormals as zero (the instruction treats them so). */
static float bf16_daz(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    if (!(h & 0x7f80u))
        h &= 0x8000u;
    return f32_of((uint32_t)h << 16);
}

static float ftz(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u & 0x7f800000u ? x : f32_of(u & 0x80000000u);
}

/* TDPBF16PS: C.fp32[m][n] += A.bf16[m][2k] * B.bf16[k][2n] + A.bf16[m][2k+1] *
 * B.bf16[k][2n+1], for k over A's dwords, each product and sum in fp32 with
 * round to nearest even (the pseudo-code's two separate accumulations),
 * output denormals flushed to zero. */
static void emu_dpbf16ps(int c, int a, int b)
{
    check_dp(c, a, b);
    const int rows = emu.cfg.rows[c], nc = emu.cfg.colsb[c] / 4, kd = emu.cfg.colsb[a] / 4;
    for (int m = 0; m < rows; m++) {
        float tmp[16];
        memcpy(tmp, emu.t[c][m], sizeof tmp);
        for (int k = 0; k < kd; k++)
            for (int n = 0; n < nc; n++) {
                const float p0 = bf16_daz(emu.t[a][m] + 4 * k) * bf16_daz(emu.t[b][k] + 4 * n);
                const float p1 = bf16_daz(emu.t[a][m] + 4 * k + 2) * bf16_daz(emu.t[b][k] + 4 * n + 2);
                tmp[n] = ftz(tmp[n] + p0);
                tmp[n] = ftz(tmp[n] + p1);
            }
        memcpy(emu.t[c][m], tmp, (size_t)nc * 4);
    }
    zero_upper(c);
}

/* TDPBSSD: C.int32[m][n] += sum over the 4 bytes i of A.s8[m][4k+i] *
 * B.s8[k][4n+i], for k over A's dwords, wrapping like the CPU's adds. */
static void emu_dpbssd(int c, int a, int b)
{
    check_dp(c, a, b);
    const int rows = emu.cfg.rows[c], nc = emu.cfg.colsb[c] / 4, kd = emu.cfg.colsb[a] / 4;
    for (int m = 0; m < rows; m++) {
        uint32_t tmp[16];
        memcpy(tmp, emu.t[c][m], sizeof tmp);
        for (int k = 0; k < kd; k++)
            for (int n = 0; n < nc; n++) {
                int32_t dot = 0;
                for (int i = 0; i < 4; i++)
                    dot += (int32_t)(int8_t)emu.t[a][m][4 * k + i] * (int32_t)(int8_t)emu.t[b][k][4 * n + i];
                tmp[n] += (uint32_t)dot;
            }
        memcpy(emu.t[c][m], tmp, (size_t)nc * 4);
    }
    zero_upper(c);
}

#define AMX_LOADCONFIG(cfg) emu_loadconfig(cfg)
#define AMX_RELEASE() emu_release()
#define AMX_LOADD(t, p, s) emu_loadd(t, p, s)
#define AMX_STORED(t, p, s) emu_stored(t, p, s)
#define AMX_ZERO(t) emu_zero(t)
#define AMX_DPBF16PS(c, a, b) emu_dpbf16ps(c, a, b)
#define AMX_DPBSSD(c, a, b) emu_dpbssd(c, a, b)
#define AMX_OPS_NAME jb_amx_emu_ops
#define AMX_OPS_LABEL "amx_emulated"
extern const jb_amx_ops jb_amx_emu_ops;
#include "cpu/ukernel_amx_body.h"
