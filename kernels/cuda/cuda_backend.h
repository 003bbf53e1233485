/*
 * What the harness may ask of the CUDA backend without including any CUDA
 * header: whether a device is there, versions for the settings a result
 * records, device-event timing of a batch of runs of a CUDA kernel, and an L2
 * flush for --cold-cache. Every function compiles and answers in every build; in a
 * build without CUDA they report JB_EUNAVAILABLE (or "none").
 *
 * All CUDA kernels run on device 0 (pick another with CUDA_VISIBLE_DEVICES)
 * and on the legacy default stream, so events recorded there bracket exactly
 * the work of one run. These functions are for the harness's one timing
 * thread; they are not meant to be called concurrently.
 */
#ifndef JB_CUDA_BACKEND_H
#define JB_CUDA_BACKEND_H

#include <stddef.h>

#include "../jb_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "runtime 13.0, driver 12.8, cuBLAS 13.0.2" (asked of the loaded libraries;
 * "driver none" when no driver is installed), or "none" in a build without
 * CUDA. Static storage. */
const char *jb_cuda_version(void);

/* Number of usable CUDA devices (>= 1), or 0 with the reason in why: built
 * without CUDA, "no CUDA device: <CUDA error text>", or a device older than
 * the sm_80 this build targets. Probed once per process and cached. */
int jb_cuda_device_count(char *why, size_t len);

/* One line about device 0 ("NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB,
 * L2 50 MiB"). JB_OK, or JB_EUNAVAILABLE with the reason in buf. */
int jb_cuda_device_describe(char *buf, size_t len);

/* The PCI bus id of device 0 ("0000:3b:00.0"), by which NVML finds the same
 * board whatever CUDA_VISIBLE_DEVICES selects. JB_OK or JB_EUNAVAILABLE. */
int jb_cuda_device_pci_bus_id(char *buf, size_t len);

/*
 * Times a batch of nruns back-to-back runs of a CUDA kernel (k->backend ==
 * JB_BACKEND_CUDA) that is set up on e, between one pair of events:
 *   1. a hold kernel starts spinning on a flag in mapped host memory;
 *   2. the start event, nruns calls of k->run (which then only enqueue their
 *      work: their usual final synchronize is skipped while timing), and the
 *      stop event are enqueued behind it;
 *   3. the flag is released and the stop event waited for.
 * So the device runs the batch back to back, and neither the host's call and
 * launch overhead nor an idle gap between runs is inside the interval.
 * *seconds is the device time of the whole batch; the caller divides by
 * nruns. *held is 1 when the hold kernel was still holding at release, 0 when
 * enqueueing outlasted its timeout (JB_CUDA_HOLD_TIMEOUT_NS) and the batch may
 * hold host gaps. Returns JB_OK, the kernel's own error, JB_EINVAL (not a CUDA
 * kernel, nruns < 1), JB_EUNAVAILABLE without a device, or JB_EBACKEND.
 */
#define JB_CUDA_HOLD_TIMEOUT_NS 500000000ULL
int jb_cuda_time_batch(const jb_kernel *k, jb_exec *e, int nruns, double *seconds, int *held);

/* Evicts every kernel's data from the device L2 cache by writing a buffer of
 * twice its size (allocated on first use), then waits, so the flush is never
 * inside a timed region. JB_OK, JB_EUNAVAILABLE, or JB_EBACKEND. */
int jb_cuda_flush_l2(void);

/* Frees what jb_cuda_time_batch and jb_cuda_flush_l2 keep between calls (the
 * events, the hold flags and the flush buffer). Safe to call at any time, and more than once. */
void jb_cuda_release(void);

#ifdef __cplusplus
}
#endif
#endif
