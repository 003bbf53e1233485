/*
 * Shared by the CUDA kernels and the harness: the once-per-process device
 * probe, versions, status checking, device buffers and cuBLAS handles (see
 * cuda_common.h), and the event timing and L2 flush of cuda_backend.h.
 * Without JB_HAVE_CUDA only the "unavailable" answers remain.
 */
#include "cuda_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jb_cuda_limit(const char *name, int64_t v, int64_t limit, const char *because, char *why, size_t len)
{
    if (v <= limit)
        return JB_OK;
    if (why && len)
        snprintf(why, len, "%s = %lld exceeds %lld (%s)", name, (long long)v, (long long)limit, because);
    return JB_EUNSUPPORTED;
}

#ifndef JB_HAVE_CUDA

const char *jb_cuda_version(void)
{
    return "none";
}

int jb_cuda_available(char *why, size_t len)
{
    if (why && len)
        snprintf(why, len, "%s", JB_CUDA_MISSING);
    return JB_EUNAVAILABLE;
}

int jb_cuda_device_count(char *why, size_t len)
{
    jb_cuda_available(why, len);
    return 0;
}

int jb_cuda_device_describe(char *buf, size_t len)
{
    return jb_cuda_available(buf, len);
}

size_t jb_cuda_smem_optin(void)
{
    return 0;
}

int jb_cuda_run_missing(jb_exec *e)
{
    (void)e;
    return JB_EUNAVAILABLE;
}

int jb_cuda_device_pci_bus_id(char *buf, size_t len)
{
    return jb_cuda_available(buf, len);
}

int jb_cuda_time_batch(const jb_kernel *k, jb_exec *e, int nruns, double *seconds, int *held)
{
    (void)k;
    (void)e;
    (void)nruns;
    if (seconds)
        *seconds = 0;
    if (held)
        *held = 0;
    return JB_EUNAVAILABLE;
}

int jb_cuda_flush_l2(void)
{
    return JB_EUNAVAILABLE;
}

void jb_cuda_release(void)
{
}

#else /* JB_HAVE_CUDA */

#include <library_types.h>
#include <pthread.h>

/* ---- Status ---------------------------------------------------------------- */

int jb_cuda_check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return JB_OK;
    fprintf(stderr, "joulebench: CUDA: %s failed: %s (%s)\n", what, cudaGetErrorString(err), cudaGetErrorName(err));
    /* Reset the runtime's last error, or the next launch check would report
     * this one again (errors that corrupt the context stay, as they should). */
    (void)cudaGetLastError();
    return err == cudaErrorMemoryAllocation ? JB_ENOMEM : JB_EBACKEND;
}

int jb_cublas_check(cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return JB_OK;
    fprintf(stderr, "joulebench: cuBLAS: %s failed: %s (%s)\n", what, cublasGetStatusString(st),
            cublasGetStatusName(st));
    return st == CUBLAS_STATUS_ALLOC_FAILED ? JB_ENOMEM : JB_EBACKEND;
}

/* ---- Probe and versions -------------------------------------------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_count;
static size_t probe_smem_optin;
static char probe_why[256];
static char probe_desc[256];

static void probe(void)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        /* Typical without a GPU: "CUDA driver version is insufficient for
         * CUDA runtime version" (no driver) or "no CUDA-capable device is detected". */
        snprintf(probe_why, sizeof probe_why, "no CUDA device: %s", cudaGetErrorString(err));
        (void)cudaGetLastError();
        return;
    }
    if (n == 0) {
        snprintf(probe_why, sizeof probe_why, "no CUDA device: cudaGetDeviceCount found none");
        return;
    }
    struct cudaDeviceProp prop;
    if ((err = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        snprintf(probe_why, sizeof probe_why, "no CUDA device: cudaGetDeviceProperties: %s", cudaGetErrorString(err));
        (void)cudaGetLastError();
        return;
    }
    /* The fat binary holds sm_80 and sm_90 code and compute_90 PTX: an older
     * device would fail every launch with "no kernel image". */
    if (prop.major < 8) {
        snprintf(probe_why, sizeof probe_why,
                 "CUDA device 0 (%.120s) is sm_%d%d; this build targets sm_80 and newer", prop.name, prop.major,
                 prop.minor);
        return;
    }
    snprintf(probe_desc, sizeof probe_desc, "%.120s, sm_%d%d, %d SMs, %.1f GiB, L2 %d MiB", prop.name, prop.major,
             prop.minor, prop.multiProcessorCount, (double)prop.totalGlobalMem / (1 << 30), prop.l2CacheSize >> 20);
    probe_smem_optin = prop.sharedMemPerBlockOptin;
    probe_count = n;
}

int jb_cuda_device_count(char *why, size_t len)
{
    pthread_once(&probe_once, probe);
    if (!probe_count && why && len)
        snprintf(why, len, "%s", probe_why);
    return probe_count;
}

int jb_cuda_available(char *why, size_t len)
{
    return jb_cuda_device_count(why, len) > 0 ? JB_OK : JB_EUNAVAILABLE;
}

int jb_cuda_device_describe(char *buf, size_t len)
{
    int rc = jb_cuda_available(buf, len);
    if (rc == JB_OK && buf && len)
        snprintf(buf, len, "%s", probe_desc);
    return rc;
}

size_t jb_cuda_smem_optin(void)
{
    pthread_once(&probe_once, probe);
    return probe_smem_optin;
}

static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version[96];

static void version_fill(void)
{
    /* Asked of the loaded libraries, not the headers: they are what ran. */
    int rt = 0, drv = 0, bmaj = 0, bmin = 0, bpatch = 0;
    char drvs[32] = "none";
    cudaRuntimeGetVersion(&rt);
    if (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0)
        snprintf(drvs, sizeof drvs, "%d.%d", drv / 1000, drv % 1000 / 10);
    cublasGetProperty(MAJOR_VERSION, &bmaj);
    cublasGetProperty(MINOR_VERSION, &bmin);
    cublasGetProperty(PATCH_LEVEL, &bpatch);
    snprintf(version, sizeof version, "runtime %d.%d, driver %s, cuBLAS %d.%d.%d", rt / 1000, rt % 1000 / 10, drvs,
             bmaj, bmin, bpatch);
    (void)cudaGetLastError();
}

const char *jb_cuda_version(void)
{
    pthread_once(&version_once, version_fill);
    return version;
}

/* ---- Running --------------------------------------------------------------- */

/* Set while jb_cuda_time_batch times a batch: a run then leaves its work queued. */
static _Thread_local int timing;

int jb_cuda_finish(cudaError_t launch, const char *what)
{
    int rc = jb_cuda_check(launch, what);
    if (rc || timing)
        return rc;
    /* Errors during execution (a bad address, say) surface here. */
    return jb_cuda_check(cudaStreamSynchronize(0), what);
}

static cudaEvent_t ev_start, ev_stop;
static int have_events;
static volatile int *hold_flags;      /* mapped host memory: [0] release, [1] timed out */
static int *hold_flags_dev;
static void *flush_buf;
static size_t flush_bytes;
static unsigned flush_count;

int jb_cuda_device_pci_bus_id(char *buf, size_t len)
{
    int rc = jb_cuda_available(buf, len);
    if (rc)
        return rc;
    if (cudaDeviceGetPCIBusId(buf, (int)len, 0) != cudaSuccess) {
        snprintf(buf, len, "cudaDeviceGetPCIBusId: %s", cudaGetErrorString(cudaGetLastError()));
        return JB_EUNAVAILABLE;
    }
    return JB_OK;
}

static int timing_init(void)
{
    int rc;
    if (have_events)
        return JB_OK;
    void *h = NULL, *d = NULL;
    if ((rc = jb_cuda_check(cudaHostAlloc(&h, 2 * sizeof(int), cudaHostAllocMapped), "cudaHostAlloc (hold flags)")))
        return rc;
    if ((rc = jb_cuda_check(cudaHostGetDevicePointer(&d, h, 0), "cudaHostGetDevicePointer"))) {
        cudaFreeHost(h);
        return rc;
    }
    if ((rc = jb_cuda_check(cudaEventCreate(&ev_start), "cudaEventCreate"))) {
        cudaFreeHost(h);
        return rc;
    }
    if ((rc = jb_cuda_check(cudaEventCreate(&ev_stop), "cudaEventCreate"))) {
        cudaEventDestroy(ev_start);
        cudaFreeHost(h);
        return rc;
    }
    hold_flags = h;
    hold_flags_dev = d;
    have_events = 1;
    return JB_OK;
}

int jb_cuda_time_batch(const jb_kernel *k, jb_exec *e, int nruns, double *seconds, int *held)
{
    int rc;
    if (seconds)
        *seconds = 0;
    if (held)
        *held = 0;
    if (!k || !e || !seconds || !held || nruns < 1 || k->backend != JB_BACKEND_CUDA)
        return JB_EINVAL;
    if ((rc = jb_cuda_available(NULL, 0)) || (rc = timing_init()))
        return rc;
    hold_flags[0] = 0;
    hold_flags[1] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if ((rc = jb_cuda_check(jb_cu_hold(hold_flags_dev, hold_flags_dev + 1, JB_CUDA_HOLD_TIMEOUT_NS), "hold kernel")) ||
        (rc = jb_cuda_check(cudaEventRecord(ev_start, 0), "cudaEventRecord"))) {
        hold_flags[0] = 1;
        (void)cudaStreamSynchronize(0);
        return rc;
    }
    timing = 1;
    for (int i = 0; i < nruns && rc == JB_OK; i++)
        rc = k->run(e);
    timing = 0;
    int rec = rc ? JB_OK : jb_cuda_check(cudaEventRecord(ev_stop, 0), "cudaEventRecord");
    /* Release the hold whatever happened, so the device is never left spinning. */
    __atomic_store_n(&hold_flags[0], 1, __ATOMIC_SEQ_CST);
    if (rc || rec) {
        (void)cudaStreamSynchronize(0); /* leave nothing of the failed batch in flight */
        return rc ? rc : rec;
    }
    if ((rc = jb_cuda_check(cudaEventSynchronize(ev_stop), k->name)))
        return rc;
    float ms = 0;
    if ((rc = jb_cuda_check(cudaEventElapsedTime(&ms, ev_start, ev_stop), "cudaEventElapsedTime")))
        return rc;
    *seconds = (double)ms * 1e-3;
    *held = !__atomic_load_n(&hold_flags[1], __ATOMIC_SEQ_CST);
    return JB_OK;
}

int jb_cuda_flush_l2(void)
{
    int rc;
    if ((rc = jb_cuda_available(NULL, 0)))
        return rc;
    if (!flush_buf) {
        int l2 = 0;
        if ((rc = jb_cuda_check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), "cudaDeviceGetAttribute")))
            return rc;
        /* Twice the L2, and never less than 8 MiB should the attribute read 0. */
        flush_bytes = l2 > (4 << 20) ? 2 * (size_t)l2 : (size_t)8 << 20;
        if ((rc = jb_cuda_alloc(&flush_buf, flush_bytes, "cudaMalloc (L2 flush buffer)")))
            return rc;
    }
    /* A different byte each time, so no part of the memory system can skip the write. */
    if ((rc = jb_cuda_check(cudaMemsetAsync(flush_buf, (int)(++flush_count & 0xff), flush_bytes, 0),
                            "cudaMemsetAsync (L2 flush)")))
        return rc;
    return jb_cuda_check(cudaStreamSynchronize(0), "L2 flush");
}

void jb_cuda_release(void)
{
    if (have_events) {
        cudaEventDestroy(ev_start);
        cudaEventDestroy(ev_stop);
        cudaFreeHost((void *)hold_flags);
        hold_flags = NULL;
        hold_flags_dev = NULL;
        have_events = 0;
    }
    if (flush_buf) {
        cudaFree(flush_buf);
        flush_buf = NULL;
    }
    (void)cudaGetLastError();
}

/* ---- Buffers and handles ------------------------------------------------- */

int jb_cuda_alloc(void **dst, size_t bytes, const char *what)
{
    *dst = NULL;
    /* Plain device memory, never managed: page migration would land in the timed region. */
    int rc = jb_cuda_check(cudaMalloc(dst, bytes ? bytes : 1), what);
    if (rc)
        *dst = NULL;
    return rc;
}

int jb_cuda_upload(void **dst, const void *src, size_t bytes, const char *what)
{
    int rc = jb_cuda_alloc(dst, bytes, what);
    if (rc)
        return rc;
    if ((rc = jb_cuda_check(cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice), what))) {
        cudaFree(*dst);
        *dst = NULL;
    }
    return rc;
}

int jb_cuda_io_init(jb_cuda_io *io, const jb_exec *e, int upload)
{
    int rc;
    memset(io, 0, sizeof *io);
    io->out_elems = jb_problem_output_elems(e->p);
    if ((rc = jb_cuda_alloc((void **)&io->dout, io->out_elems * sizeof(float), "cudaMalloc (output)")))
        return rc;
    /* 0xFF bytes are a NaN: an element the kernel never writes is then caught
     * by verification (as NaN), as the host poison would catch it. */
    if ((rc = jb_cuda_check(cudaMemset(io->dout, 0xFF, io->out_elems * sizeof(float)), "cudaMemset (output)")))
        return rc;
    for (int i = 0; upload && i < jb_problem_num_inputs(e->p); i++)
        if ((rc = jb_cuda_upload(&io->din[i], e->in[i], jb_problem_input_elems(e->p, i) * sizeof(float),
                                 "cudaMemcpy (input)")))
            return rc;
    return JB_OK;
}

void jb_cuda_io_free(jb_cuda_io *io)
{
    if (!io)
        return;
    for (int i = 0; i < 3; i++)
        cudaFree(io->din[i]);
    cudaFree(io->dout);
    memset(io, 0, sizeof *io);
}

int jb_cuda_sync_output(jb_exec *e)
{
    const jb_cuda_io *io = e->state;
    if (!io || !io->dout)
        return JB_EINVAL;
    return jb_cuda_check(cudaMemcpy(e->out, io->dout, io->out_elems * sizeof(float), cudaMemcpyDeviceToHost),
                         "cudaMemcpy (output to host)");
}

int jb_cuda_setup_io(jb_exec *e)
{
    jb_cuda_io *io = calloc(1, sizeof *io);
    if (!io)
        return JB_ENOMEM;
    e->state = io;
    return jb_cuda_io_init(io, e, 1);
}

void jb_cuda_teardown_io(jb_exec *e)
{
    jb_cuda_io_free(e->state);
    free(e->state);
    e->state = NULL;
}

/* cuBLAS's own recommendation for Hopper; more than enough for sm_80. */
#define BLAS_WORKSPACE ((size_t)32 << 20)

int jb_cuda_blas_init(jb_cuda_blas *b, int want_lt)
{
    int rc;
    memset(b, 0, sizeof *b);
    if ((rc = jb_cublas_check(cublasCreate(&b->h), "cublasCreate")))
        return rc;
    if ((rc = jb_cublas_check(cublasSetStream(b->h, 0), "cublasSetStream")) ||
        /* Default math: fp32 GEMMs stay fp32 (no TF32) unless a call asks for it by compute type. */
        (rc = jb_cublas_check(cublasSetMathMode(b->h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode")) ||
        (rc = jb_cuda_alloc(&b->ws, BLAS_WORKSPACE, "cudaMalloc (cuBLAS workspace)")))
        return rc;
    b->ws_bytes = BLAS_WORKSPACE;
    if ((rc = jb_cublas_check(cublasSetWorkspace(b->h, b->ws, b->ws_bytes), "cublasSetWorkspace")))
        return rc;
    if (want_lt && (rc = jb_cublas_check(cublasLtCreate(&b->lt), "cublasLtCreate")))
        return rc;
    return JB_OK;
}

void jb_cuda_blas_free(jb_cuda_blas *b)
{
    if (!b)
        return;
    if (b->lt)
        cublasLtDestroy(b->lt);
    if (b->h)
        cublasDestroy(b->h);
    cudaFree(b->ws);
    memset(b, 0, sizeof *b);
}

#endif /* JB_HAVE_CUDA */

/* ---- The CUDA entry of the backend table (kernels/backend.c) ----------------- */

static int cuda_describe(char *buf, size_t len)
{
    return jb_cuda_device_describe(buf, len);
}

static int cuda_flush(void)
{
    return jb_cuda_flush_l2();
}

const jb_backend_ops jb_cuda_backend_ops = {
    .name = "cuda",
    .describe = cuda_describe,
    .versions = jb_cuda_version,
    .pci_bus_id = jb_cuda_device_pci_bus_id,
    .time_runs = jb_cuda_time_batch,
    .flush_caches = cuda_flush,
    .release = jb_cuda_release,
    .batched = 1,
    .vendor_variant = "cublas",
};
