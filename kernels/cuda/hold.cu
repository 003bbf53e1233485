// The hold kernel of batch timing (cuda_common.c, jb_cuda_time_batch): one
// thread that busy-waits on a flag in mapped host memory, so the stream stays
// behind it while the host enqueues a whole batch; nvbench's blocking kernel
// does the same. It gives up after timeout_ns of the device's global timer,
// so a host that cannot finish enqueueing (a full launch queue) never
// deadlocks the device, and says so in *timed_out.
#include "cuda_kernels.h"

static __device__ __forceinline__ unsigned long long global_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

static __global__ void hold_kernel(const volatile int *release, volatile int *timed_out, unsigned long long timeout_ns)
{
    const unsigned long long t0 = global_ns();
    while (!*release) {
        if (global_ns() - t0 > timeout_ns) {
            *timed_out = 1;
            return;
        }
    }
}

extern "C" cudaError_t jb_cu_hold(const volatile int *release, volatile int *timed_out, unsigned long long timeout_ns)
{
    hold_kernel<<<1, 1, 0, 0>>>(release, timed_out, timeout_ns);
    return cudaGetLastError();
}
