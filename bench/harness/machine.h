/*
 * Seeing the machine move during a run: per repetition, the share of CPU
 * time stolen by the hypervisor (/proc/stat) and the involuntary context
 * switches of this process (getrusage); between rounds, a short speed probe
 * (a few milliseconds of FMA loop and of copy) whose spread says how much
 * the machine itself varied while the rows were timed.
 */
#ifndef JB_MACHINE_H
#define JB_MACHINE_H

#include <stdint.h>

typedef struct jb_machine_snap {
    uint64_t steal, total;  /* jiffies of all CPUs from /proc/stat (0, 0: unreadable) */
    int64_t nivcsw;         /* involuntary context switches of the process */
} jb_machine_snap;

void jb_machine_snap_take(jb_machine_snap *s);
/* Between two snapshots: stolen share of the CPUs' time in percent (NaN when
 * unreadable) and involuntary context switches. */
void jb_machine_delta(const jb_machine_snap *a, const jb_machine_snap *b, double *steal_pct, double *ctx_switches);

typedef struct jb_probe {
    double flop_per_s;   /* the FMA loop on every thread, for about 5 ms */
    double bytes_per_s;  /* copying a 16 MiB buffer four times (about 2 ms): read + written bytes */
} jb_probe;

/* One probe (about 10 ms). JB_OK or JB_ENOMEM. */
int jb_machine_probe(jb_probe *p);

#endif
