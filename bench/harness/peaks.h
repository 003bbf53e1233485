/*
 * The machine's own ceilings, measured at the start of each run: one per
 * instruction family the CPU has (fp32 FMA, bf16 and int8 dot products, AMX
 * tiles: jb_family), each from a loop of that family's instruction at the
 * best ISA, and copy bandwidth over a buffer several times the last-level
 * cache. Every CPU row is reported as a fraction of the ceiling of the
 * family its kernel's inner loop runs on (jb_peaks_row_family).
 */
#ifndef JB_PEAKS_H
#define JB_PEAKS_H

#include <stddef.h>

#include "jb_kernels.h"

/* One family's ceiling. */
typedef struct jb_peak_family {
    double ops_per_s;       /* all threads: FLOP/s for the float families, int8 multiply-adds x 2
                             * for the int8 ones; 0 when the CPU (or the JB_ISA cap) lacks it */
    const char *what;       /* the instruction of the loop ("avx2 vfmadd*ps", "avx2 vpmaddubsw") */
} jb_peak_family;

typedef struct jb_peaks {
    double flop_per_s;      /* fp32 FMA, all threads: the best reading so far (the runner raises it
                             * when a round's probe of the same loop beats it) */
    double flop_per_s_start; /* the reading before the run */
    double bytes_per_s;     /* copy: bytes read + bytes written per second, all threads; the
                             * best reading so far (jb_peaks_recheck_copy) */
    double bytes_per_s_start; /* the reading before the run */
    const char *isa;        /* the ISA of the FMA loop */
    size_t copy_bytes;      /* size of each of the two copy buffers */
    int threads;
    /* Every family's reading; fp32_fma's ops_per_s is flop_per_s_start (jb_peaks_family
     * gives the best reading, which the fractions use). */
    jb_peak_family family[JB_FAM_COUNT];
} jb_peaks;

/* Measures them all: the FMA loop and copy (about a second), then each other
 * family the CPU has (about a quarter second each). JB_OK or JB_ENOMEM. */
int jb_peaks_measure(jb_peaks *out);
/* Measures the copy bandwidth again (about half a second) and keeps the
 * better reading: a busy moment at the start would otherwise give fractions
 * of it far over 100%. JB_OK, or JB_ENOMEM (the reading is kept). */
int jb_peaks_recheck_copy(jb_peaks *p);
/* Likewise for a family other than fp32 FMA (which the run's probes raise):
 * its loop again (about a quarter second), the better reading kept. Nothing
 * for a family the CPU lacks. */
void jb_peaks_recheck_family(jb_peaks *p, jb_family f);

/* Family f's ceiling in operations per second: for fp32_fma the best reading
 * (flop_per_s), for the others the start's; 0 when the CPU lacks it. */
double jb_peaks_family(const jb_peaks *p, jb_family f);

/* Whether a row of kernel k on problem p is reported as a fraction of a
 * family's ceiling: a CPU row of an op whose work is FLOPs (not softmax's
 * elements; the GPU has no measured peaks). *family and *path (either may be
 * NULL) get jb_kernel_path's answer, for every row. The fraction itself
 * exists only where jb_peaks_family is > 0: a row on a family the CPU lacks
 * (int8 under JB_ISA=portable) has none rather than a wrong one. */
int jb_peaks_row_family(const jb_kernel *k, const jb_problem *p, jb_family *family, const char **path);

#endif
