/*
 * Internal to the CUDA kernel descriptors: the availability probe every CUDA
 * kernel uses, CUDA and cuBLAS status to jb_status, and the device buffers and
 * library handles a set-up kernel owns.
 *
 * How a CUDA kernel moves data: jb_exec buffers are host memory, so setup
 * (untimed) allocates device buffers with cudaMalloc, copies the inputs in,
 * and creates any cuBLAS handle; run (timed) only launches work and waits for
 * it; sync_output (untimed) copies the device output back to e->out, where
 * verification finds it. Every set-up state begins with a jb_cuda_io, which
 * is what lets one jb_cuda_sync_output serve every kernel.
 *
 * Without JB_HAVE_CUDA only jb_cuda_available() and the stubs below exist, so
 * the descriptor files compile in every build and say why they cannot run.
 */
#ifndef JB_CUDA_COMMON_H
#define JB_CUDA_COMMON_H

#include "../jb_kernels.h"
#include "cuda_backend.h"

#include <stddef.h>
#include <stdint.h>

/* The reason every CUDA kernel gives in a build without CUDA. */
#define JB_CUDA_MISSING "built without CUDA (JB_WITH_CUDA=OFF or nvcc missing)"

/* JB_OK when built with CUDA and device 0 is usable; else JB_EUNAVAILABLE
 * with the reason. The `.available` of every CUDA kernel. */
int jb_cuda_available(char *why, size_t len);

/* supports() helper: JB_OK when v <= limit, else JB_EUNSUPPORTED with
 * "<name> = <v> exceeds <limit> (<because>)". */
int jb_cuda_limit(const char *name, int64_t v, int64_t limit, const char *because, char *why, size_t len);

/* Shared memory one block may opt in to on device 0, in bytes; 0 when there
 * is no usable device. */
size_t jb_cuda_smem_optin(void);

/* Limits of the launch configurations (grid y is at most 65535 blocks);
 * supports() checks them so a launch never fails on them. */
#define JB_CU_GRID_Y_MAX 65535
#define JB_CU_MATMUL_NAIVE_MAX_M ((int64_t)JB_CU_GRID_Y_MAX * 16)
#define JB_CU_MATMUL_TILED_MAX_M ((int64_t)JB_CU_GRID_Y_MAX * 128)
#define JB_CU_FLASH_MAX_D 256

/* Kernel slots that exist only with CUDA: JB_CUDA_ONLY(f) is NULL without
 * it, and JB_CUDA_RUN(run) a stub returning JB_EUNAVAILABLE (never reached:
 * such a kernel is unavailable, but run must not be NULL). */
#ifdef JB_HAVE_CUDA
#define JB_CUDA_ONLY(f) f
#define JB_CUDA_RUN(f) f
#else
int jb_cuda_run_missing(jb_exec *e);
#define JB_CUDA_ONLY(f) NULL
#define JB_CUDA_RUN(f) jb_cuda_run_missing
#endif

#ifdef JB_HAVE_CUDA
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda_kernels.h"

/* JB_OK for cudaSuccess; otherwise prints "CUDA: <what> failed: <error
 * text>" to stderr and returns JB_ENOMEM (allocation) or JB_EBACKEND. */
int jb_cuda_check(cudaError_t err, const char *what);
int jb_cublas_check(cublasStatus_t st, const char *what);

/* In a function with `int rc` and a `fail:` label. */
#define JB_CUDA_TRY(call)                                                                                              \
    do {                                                                                                               \
        if ((rc = jb_cuda_check((call), #call)) != JB_OK)                                                              \
            goto fail;                                                                                                 \
    } while (0)
#define JB_CUBLAS_TRY(call)                                                                                            \
    do {                                                                                                               \
        if ((rc = jb_cublas_check((call), #call)) != JB_OK)                                                            \
            goto fail;                                                                                                 \
    } while (0)

/* The end of every run: launch is what the launch wrapper returned (or
 * cudaSuccess after library calls). Checks it, then waits for the device,
 * except while jb_cuda_time_batch is timing, which waits on its own event. */
int jb_cuda_finish(cudaError_t launch, const char *what);

/* Device buffers of one set-up kernel. din[i] may hold converted inputs
 * (bf16, int8) of any type; all are freed with cudaFree. */
typedef struct jb_cuda_io {
    void *din[3];
    float *dout;       /* output_elems fp32 */
    size_t out_elems;
} jb_cuda_io;

/* Allocates the output (filled with NaN bytes, so an element the kernel never
 * writes fails verification) and, when upload is set, every input as fp32,
 * copied from e->in. */
int jb_cuda_io_init(jb_cuda_io *io, const jb_exec *e, int upload);
void jb_cuda_io_free(jb_cuda_io *io);
/* cudaMalloc, and cudaMalloc + copy from host. */
int jb_cuda_alloc(void **dst, size_t bytes, const char *what);
int jb_cuda_upload(void **dst, const void *src, size_t bytes, const char *what);

/* The `.sync_output` of every CUDA kernel: e->state begins with a jb_cuda_io. */
int jb_cuda_sync_output(jb_exec *e);

/* For kernels whose state is only a jb_cuda_io with the fp32 inputs uploaded. */
int jb_cuda_setup_io(jb_exec *e);
void jb_cuda_teardown_io(jb_exec *e);

/* A cuBLAS handle (and optionally a cuBLASLt one) on the default stream with
 * a workspace allocated here, so no library call allocates during run. */
typedef struct jb_cuda_blas {
    cublasHandle_t h;
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_bytes;
} jb_cuda_blas;

int jb_cuda_blas_init(jb_cuda_blas *b, int want_lt);
void jb_cuda_blas_free(jb_cuda_blas *b);

#endif /* JB_HAVE_CUDA */
#endif
