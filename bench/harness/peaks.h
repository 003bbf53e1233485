/*
 * The machine's own ceilings, measured at the start of each run: peak fp32
 * FLOP/s from an FMA loop at the best ISA, and copy bandwidth over a buffer
 * several times the last-level cache. Every row is reported as a fraction.
 */
#ifndef JB_PEAKS_H
#define JB_PEAKS_H

#include <stddef.h>

typedef struct jb_peaks {
    double flop_per_s;      /* fp32, all threads: the best reading so far (the runner raises it
                             * when a round's probe of the same loop beats it) */
    double flop_per_s_start; /* the reading before the run */
    double bytes_per_s;     /* copy: bytes read + bytes written per second, all threads; the
                             * best reading so far (jb_peaks_recheck_copy) */
    double bytes_per_s_start; /* the reading before the run */
    const char *isa;        /* the ISA of the FMA loop */
    size_t copy_bytes;      /* size of each of the two copy buffers */
    int threads;
} jb_peaks;

/* Measures both (about a second in all). JB_OK or JB_ENOMEM. */
int jb_peaks_measure(jb_peaks *out);
/* Measures the copy bandwidth again (about half a second) and keeps the
 * better reading: a busy moment at the start would otherwise give fractions
 * of it far over 100%. JB_OK, or JB_ENOMEM (the reading is kept). */
int jb_peaks_recheck_copy(jb_peaks *p);

#endif
