/*
 * Internal to the CPU backend: what the bf16 kernels (matmul/cpu/blocked/bf16,
 * attention/cpu/flash/bf16) share: rounding to bf16 and back, and which path
 * their products take on this machine.
 *
 * Two paths for every bf16 kernel, chosen per machine rather than per
 * instruction set, because having the bf16 dot product does not make it
 * faster: on an Intel Emerald Rapids vdpbf16ps ran a 512^3 GEMM at 131
 * GFLOP/s where fp32 FMA ran it at 196. So:
 *   dot   AVX-512 BF16 vdpbf16ps on bf16 pairs, only where the CPU has it and
 *         its measured peak (jb_cpu_family_peak_cached(JB_FAM_BF16_DOT))
 *         beats fp32 FMA's (JB_FAM_FP32_FMA), both in FLOP/s;
 *   fp32  elsewhere, on every CPU: the bf16 operands (rounded to bf16 in
 *         setup, so the memory traffic and the numerics are bf16's) widened
 *         to fp32 as they are packed or tiled (a 16-bit shift), then the fp32
 *         FMA micro-kernels of the instruction set JB_ISA allows.
 * And a third for the kernels that have one (attention/cpu/flash/bf16; the
 * caller says so): amx, the products on AMX tiles (tdpbf16ps), first
 * wherever jb_amx_ops_for(0, ...) (amx.h) has tile ops: the CPU's AMX-BF16
 * with tile permission and JB_ISA unset or amx, or a test's emulation. Its
 * peak is an order of magnitude above both others, so no rule weighs it.
 * matmul/cpu/blocked/bf16 has no amx path: matmul/cpu/amx/bf16 is the AMX
 * matmul, a kernel of its own.
 * The environment variable JB_BF16_PATH=amx|dot|fp32 forces one (auto, or
 * unset, chooses as above), so tests reach each path the CPU has.
 */
#ifndef JB_BF16_H
#define JB_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum jb_bf16_path { JB_BF16_PATH_FP32, JB_BF16_PATH_DOT, JB_BF16_PATH_AMX } jb_bf16_path;

/* Round to nearest even; x finite. */
static inline uint16_t jb_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float jb_bf16_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* The rule, pure: the dot path when its peak beats fp32 FMA's (FLOP/s each;
 * 0 when the CPU lacks the instructions), else fp32. */
jb_bf16_path jb_bf16_path_rule(double bf16_dot_peak, double fp32_fma_peak);

/* The path for this machine and the environment: JB_BF16_PATH forces it,
 * else amx where the caller has it (amx set) and there are tile ops, else the
 * rule on the measured peaks (measured once per process, the first time the
 * CPU has AVX-512 BF16: call it outside parallel regions). Returns JB_OK;
 * JB_EUNAVAILABLE when the forced path is one the CPU (under JB_ISA) or the
 * caller lacks (dot without AVX-512 BF16; amx without tile ops, or for a
 * caller without an amx path); JB_EINVAL when JB_BF16_PATH is none of auto,
 * amx, dot and fp32. why (may be NULL) says why in either case. Reads the
 * environment on every call, so a test may change it between runs. */
int jb_bf16_path_get(jb_bf16_path *path, int amx, char *why, size_t len);

/* The name a kernel's path member gives for path: the tile ops' name for amx
 * ("amx", or "amx_emulated" under a test's emulation), "avx512_bf16" for
 * dot, else the fp32 FMA it runs on ("avx512_fma", "avx2_fma", "portable"). */
const char *jb_bf16_path_name(jb_bf16_path path);

#endif
