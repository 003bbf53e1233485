/* Steal time, context switches and the speed probe between rounds (machine.h). */
#include "harness/machine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jb_kernels.h"
#include "util/clock.h"

void jb_machine_snap_take(jb_machine_snap *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[10] = {0};
        /* cpu user nice system idle iowait irq softirq steal guest guest_nice */
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) == 8) {
            s->steal = v[7];
            for (int i = 0; i < 8; i++)
                s->total += v[i];
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        s->nivcsw = ru.ru_nivcsw;
}

void jb_machine_delta(const jb_machine_snap *a, const jb_machine_snap *b, double *steal_pct, double *ctx_switches)
{
    uint64_t dt = b->total > a->total ? b->total - a->total : 0;
    *steal_pct = dt && b->steal >= a->steal ? 100.0 * (double)(b->steal - a->steal) / (double)dt : NAN;
    if (!a->total || !b->total)
        *steal_pct = NAN;
    *ctx_switches = (double)(b->nivcsw - a->nivcsw);
}

#define PROBE_COPY_BYTES ((size_t)16 << 20)

int jb_machine_probe(jb_probe *p)
{
    static char *src, *dst;
    if (!src) {
        src = aligned_alloc(4096, PROBE_COPY_BYTES);
        dst = aligned_alloc(4096, PROBE_COPY_BYTES);
        if (!src || !dst) {
            free(src);
            free(dst);
            src = dst = NULL;
            return JB_ENOMEM;
        }
        memset(src, 1, PROBE_COPY_BYTES);
        memset(dst, 0, PROBE_COPY_BYTES);
    }
    p->flop_per_s = jb_cpu_fma_rate(0.005);
    double t0 = jb_now();
    for (int i = 0; i < 4; i++) {
        memcpy(dst, src, PROBE_COPY_BYTES);
        src[i] = dst[PROBE_COPY_BYTES - 1 - (size_t)i]; /* a dependency, so no copy is skipped */
    }
    double t = jb_now() - t0;
    p->bytes_per_s = t > 0 ? 8.0 * (double)PROBE_COPY_BYTES / t : NAN;
    return JB_OK;
}
