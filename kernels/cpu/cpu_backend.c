/*
 * The CPU's entry in the backend table (kernels/backend.c): runs timed one
 * at a time by the host's monotonic clock, caches flushed by writing a buffer
 * twice the last-level cache, the oneDNN version as its library.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cpu.h"

static int describe(char *buf, size_t len)
{
    snprintf(buf, len, "%d threads, %s kernels (flags: %s)", jb_cpu_threads(), jb_cpu_isa_name(), jb_cpu_flags());
    return JB_OK;
}

static const char *versions(void)
{
    static char v[64];
    if (!v[0])
        snprintf(v, sizeof v, "oneDNN %s", jb_onednn_version());
    return v;
}

static int pci_bus_id(char *buf, size_t len)
{
    snprintf(buf, len, "the CPU has no PCI bus id");
    return JB_EUNAVAILABLE;
}

static int time_runs(const jb_kernel *k, jb_exec *e, int nruns, double *seconds, int *held)
{
    *held = 1;
    double t0 = jb_cpu_seconds();
    for (int i = 0; i < nruns; i++) {
        int rc = k->run(e);
        if (rc) {
            *seconds = 0;
            return rc;
        }
    }
    *seconds = jb_cpu_seconds() - t0;
    return JB_OK;
}

static char *flush_buf;
static size_t flush_bytes;

/* Writing a buffer twice the LLC evicts the kernel's data from every level. */
static int flush_caches(void)
{
    if (!flush_buf) {
        flush_bytes = 2 * jb_cpu_llc_bytes();
        if (!(flush_buf = calloc(1, flush_bytes)))
            return JB_ENOMEM;
    }
    volatile char *f = flush_buf;
    for (size_t i = 0; i < flush_bytes; i += 64)
        f[i] = (char)(f[i] + 1);
    return JB_OK;
}

static void release(void)
{
    free(flush_buf);
    flush_buf = NULL;
}

const jb_backend_ops jb_cpu_backend_ops = {
    .name = "cpu",
    .describe = describe,
    .versions = versions,
    .pci_bus_id = pci_bus_id,
    .time_runs = time_runs,
    .flush_caches = flush_caches,
    .release = release,
    .batched = 0,
    .vendor_variant = "onednn",
};
