/*
 * Internal to the oneDNN kernels: the process-wide CPU engine, status
 * checking, and a "plan" that owns everything one set-up kernel holds
 * (stream, primitives, memory objects, a user-managed scratchpad), so each
 * kernel's setup only describes its primitives and its teardown is one call.
 *
 * Without JB_HAVE_ONEDNN only jb_onednn_available() and the stubs below
 * exist, so the kernel files compile in every build and report why they
 * cannot run.
 */
#ifndef JB_ONEDNN_COMMON_H
#define JB_ONEDNN_COMMON_H

#include "../jb_kernels.h"
#include "onednn.h"

#include <stddef.h>

/* The reason every oneDNN kernel gives in a build without the library. */
#define JB_ONEDNN_MISSING "built without oneDNN (JB_WITH_ONEDNN=OFF or libdnnl-dev missing)"

/* JB_OK when oneDNN is built in and a CPU engine could be created; else
 * JB_EUNAVAILABLE with the reason in why. The `.available` of every oneDNN kernel. */
int jb_onednn_available(char *why, size_t len);

/* Kernel slots that exist only with oneDNN: JB_ONEDNN_ONLY(setup) is NULL
 * without it, and JB_ONEDNN_RUN(run) a stub returning JB_EUNAVAILABLE (never
 * reached: such a kernel is unavailable, but run must not be NULL). */
#ifdef JB_HAVE_ONEDNN
#define JB_ONEDNN_ONLY(f) f
#define JB_ONEDNN_RUN(f) f
#else
int jb_onednn_run_missing(jb_exec *e);
#define JB_ONEDNN_ONLY(f) NULL
#define JB_ONEDNN_RUN(f) jb_onednn_run_missing
#endif

#ifdef JB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>

/* The CPU engine, created once per process on first use; NULL if that failed. */
dnnl_engine_t jb_onednn_engine(void);

/* JB_OK for dnnl_success; otherwise prints "oneDNN: <what> failed: <status>"
 * to stderr (the harness only sees JB_EBACKEND) and returns JB_EBACKEND. */
int jb_onednn_check(dnnl_status_t st, const char *what);

/* In a function with `int rc` and a `fail:` label: check one dnnl call. */
#define JB_DNNL_TRY(call)                                                                          \
    do {                                                                                           \
        if ((rc = jb_onednn_check((call), #call)) != JB_OK)                                        \
            goto fail;                                                                             \
    } while (0)

#define JB_ONEDNN_MAX_PRIMS 4
#define JB_ONEDNN_MAX_MEMS 12
#define JB_ONEDNN_MAX_ARGS 8

/* Everything a set-up oneDNN kernel owns. Zero-initialized is a valid empty
 * plan, and jb_onednn_plan_free() accepts any partly built one. */
typedef struct jb_onednn_plan {
    dnnl_stream_t stream;
    dnnl_primitive_t prims[JB_ONEDNN_MAX_PRIMS];
    int nprims;
    dnnl_memory_t mems[JB_ONEDNN_MAX_MEMS];
    int nmems;
    /* One scratchpad shared by the plan's primitives: they run one after the
     * other, so the largest need is enough. User-managed so run allocates nothing. */
    size_t scratch_bytes;
    void *scratch_buf;
    dnnl_memory_t scratch;
} jb_onednn_plan;

/* Creates the plan's stream. JB_OK, JB_EUNAVAILABLE (no engine) or JB_EBACKEND. */
int jb_onednn_plan_init(jb_onednn_plan *pl);

/* A memory object for md with no buffer yet (bound in run with jb_onednn_bind),
 * or over handle when it is not NULL (buffers the plan itself keeps). */
int jb_onednn_plan_memory(jb_onednn_plan *pl, const dnnl_memory_desc_t *md, void *handle,
                          dnnl_memory_t *mem);

/* Creates the primitive of op_desc with attr (NULL: default attributes; the
 * plan sets the scratchpad mode to user on it either way) and records its
 * scratchpad need. what names it in error messages. */
int jb_onednn_plan_primitive(jb_onednn_plan *pl, const_dnnl_op_desc_t op_desc,
                             dnnl_primitive_attr_t attr, const char *what, dnnl_primitive_t *prim);

/* For packed=1 (weights converted once, untimed, as benchdnn's --wtag=any):
 * prim was created with weights of format_tag any; this asks it which layout
 * it chose, makes a memory object of that layout with its own buffer (the
 * plan frees it) and reorders src, plain weights described by plain_md, into
 * it now. *packed is what run passes as DNNL_ARG_WEIGHTS. */
int jb_onednn_plan_prepack(jb_onednn_plan *pl, dnnl_primitive_t prim, const dnnl_memory_desc_t *plain_md,
                           const void *src, dnnl_memory_t *packed);

/* After the last primitive: allocates the shared scratchpad. */
int jb_onednn_plan_finish(jb_onednn_plan *pl);

/* Points mem at a caller's buffer. oneDNN takes void *, but never writes a
 * primitive's source, so binding a const input is safe. */
int jb_onednn_bind(dnnl_memory_t mem, const void *ptr);

/* Executes prim on the plan's stream with args plus the scratchpad (at most
 * JB_ONEDNN_MAX_ARGS - 1 args). Does not wait; jb_onednn_plan_wait() does. */
int jb_onednn_plan_execute(jb_onednn_plan *pl, dnnl_primitive_t prim, int nargs,
                           const dnnl_exec_arg_t *args);
int jb_onednn_plan_wait(jb_onednn_plan *pl);

/* Destroys everything in the plan and zeroes it. NULL and empty plans are fine. */
void jb_onednn_plan_free(jb_onednn_plan *pl);

/* ---- One matmul primitive, as the three oneDNN matmul kernels use it ---- */

/* The descriptors of p's matmul: A[m][k] of type ta, B[k][n] of type tb as
 * the kernel holds it (b_md, plain) and as the primitive is asked to take it
 * (w_md: format_tag any when p->packed, else plain), fp32 C[m][n]. */
dnnl_status_t jb_onednn_matmul_desc(const jb_problem *p, dnnl_data_type_t ta, dnnl_data_type_t tb,
                                    dnnl_memory_desc_t *a_md, dnnl_memory_desc_t *b_md, dnnl_memory_desc_t *w_md,
                                    dnnl_memory_desc_t *c_md, dnnl_matmul_desc_t *desc);

typedef struct jb_onednn_matmul {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} jb_onednn_matmul;

/* Adds p's matmul to the plan (stream made, scratchpad allocated): the
 * primitive with attr (may be NULL), memories for A over a and B over b, or
 * left to bind in the run when NULL (with p->packed, b is required: it is
 * reordered now into the layout the primitive chose, which the plan keeps),
 * and C. JB_EUNSUPPORTED with oneDNN's word in why when it has no
 * implementation for this problem here; else JB_OK or the plan's error. */
int jb_onednn_matmul_plan(jb_onednn_plan *pl, const jb_problem *p, dnnl_data_type_t ta, dnnl_data_type_t tb,
                          const void *a, const void *b, dnnl_primitive_attr_t attr, const char *what,
                          jb_onednn_matmul *mm, char *why, size_t len);
/* Binds A and B when given (those the plan does not hold) and C, executes and waits. */
int jb_onednn_matmul_run(jb_onednn_plan *pl, const jb_onednn_matmul *mm, const void *a, const void *b, float *c);

#endif /* JB_HAVE_ONEDNN */
#endif
