/*
 * Shared by the oneDNN kernels: one CPU engine per process, dnnl status to
 * jb_status, and the plan that owns a kernel's primitives and memory (see
 * onednn_common.h). Without JB_HAVE_ONEDNN only the "unavailable" answers remain.
 */
#include "onednn_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef JB_HAVE_ONEDNN

const char *jb_onednn_version(void)
{
    return "none";
}

int jb_onednn_available(char *why, size_t len)
{
    if (why && len)
        snprintf(why, len, "%s", JB_ONEDNN_MISSING);
    return JB_EUNAVAILABLE;
}

int jb_onednn_run_missing(jb_exec *e)
{
    (void)e;
    return JB_EUNAVAILABLE;
}

#else /* JB_HAVE_ONEDNN */

#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_runtime_error;

static void engine_create(void)
{
    if (dnnl_engine_get_count(dnnl_cpu) == 0) {
        engine_status = dnnl_invalid_arguments;
        return;
    }
    /* Never destroyed: it lives as long as the process, like the library's
     * primitive cache, which holds primitives made on it. */
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (engine_status != dnnl_success)
        engine = NULL;
}

dnnl_engine_t jb_onednn_engine(void)
{
    pthread_once(&engine_once, engine_create);
    return engine;
}

static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version[48];

static void version_fill(void)
{
    /* Asked of the loaded library, not the header: the shared object is what ran. */
    const dnnl_version_t *v = dnnl_version();
    if (v)
        snprintf(version, sizeof version, "%d.%d.%d", v->major, v->minor, v->patch);
    else
        snprintf(version, sizeof version, "unknown");
}

const char *jb_onednn_version(void)
{
    pthread_once(&version_once, version_fill);
    return version;
}

int jb_onednn_available(char *why, size_t len)
{
    if (jb_onednn_engine())
        return JB_OK;
    if (why && len)
        snprintf(why, len, "oneDNN %s has no usable CPU engine (%s)", jb_onednn_version(),
                 dnnl_status2str(engine_status));
    return JB_EUNAVAILABLE;
}

int jb_onednn_check(dnnl_status_t st, const char *what)
{
    if (st == dnnl_success)
        return JB_OK;
    /* The status code alone (JB_EBACKEND) would not say which call or why. */
    fprintf(stderr, "joulebench: oneDNN: %s failed: %s\n", what, dnnl_status2str(st));
    return JB_EBACKEND;
}

int jb_onednn_plan_init(jb_onednn_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    dnnl_engine_t eng = jb_onednn_engine();
    if (!eng)
        return JB_EUNAVAILABLE;
    return jb_onednn_check(dnnl_stream_create(&pl->stream, eng, dnnl_stream_default_flags),
                           "dnnl_stream_create");
}

int jb_onednn_plan_memory(jb_onednn_plan *pl, const dnnl_memory_desc_t *md, void *handle,
                          dnnl_memory_t *mem)
{
    *mem = NULL;
    if (pl->nmems >= JB_ONEDNN_MAX_MEMS)
        return JB_EINVAL;
    int rc = jb_onednn_check(dnnl_memory_create(mem, md, jb_onednn_engine(), handle ? handle : DNNL_MEMORY_NONE),
                             "dnnl_memory_create");
    if (rc)
        return rc;
    pl->mems[pl->nmems++] = *mem;
    return JB_OK;
}

int jb_onednn_plan_primitive(jb_onednn_plan *pl, const_dnnl_op_desc_t op_desc,
                             dnnl_primitive_attr_t attr, const char *what, dnnl_primitive_t *prim)
{
    dnnl_primitive_attr_t own = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc;
    *prim = NULL;
    if (pl->nprims >= JB_ONEDNN_MAX_PRIMS)
        return JB_EINVAL;
    if (!attr) {
        if ((rc = jb_onednn_check(dnnl_primitive_attr_create(&own), "dnnl_primitive_attr_create")))
            return rc;
        attr = own;
    }
    if ((rc = jb_onednn_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                              "dnnl_primitive_attr_set_scratchpad_mode")))
        goto done;
    if ((rc = jb_onednn_check(dnnl_primitive_desc_create(&pd, op_desc, attr, jb_onednn_engine(), NULL),
                              what)))
        goto done;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (need > pl->scratch_bytes)
        pl->scratch_bytes = need;
    if ((rc = jb_onednn_check(dnnl_primitive_create(prim, pd), "dnnl_primitive_create")))
        goto done;
    pl->prims[pl->nprims++] = *prim;
done:
    /* The primitive keeps its own copy of the descriptor and attributes. */
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (own)
        dnnl_primitive_attr_destroy(own);
    return rc;
}

int jb_onednn_plan_prepack(jb_onednn_plan *pl, dnnl_primitive_t prim, const dnnl_memory_desc_t *plain_md,
                           const void *src, dnnl_memory_t *packed)
{
    const_dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t from = NULL;
    dnnl_engine_t eng = jb_onednn_engine();
    int rc;
    *packed = NULL;
    if (pl->nmems >= JB_ONEDNN_MAX_MEMS)
        return JB_EINVAL;
    /* The primitive owns pd and the descriptor the query returns. */
    if ((rc = jb_onednn_check(dnnl_primitive_get_primitive_desc(prim, &pd), "dnnl_primitive_get_primitive_desc")))
        return rc;
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!wmd)
        return jb_onednn_check(dnnl_invalid_arguments, "dnnl_primitive_desc_query_md(weights)");
    if ((rc = jb_onednn_check(dnnl_memory_create(packed, wmd, eng, DNNL_MEMORY_ALLOCATE),
                              "dnnl_memory_create(packed weights)")))
        return rc;
    pl->mems[pl->nmems++] = *packed;
    /* oneDNN never writes a reorder's source. */
    if ((rc = jb_onednn_check(dnnl_memory_create(&from, plain_md, eng, (void *)src), "dnnl_memory_create(weights)")) ||
        (rc = jb_onednn_check(dnnl_reorder_primitive_desc_create(&rpd, plain_md, eng, wmd, eng, NULL),
                              "dnnl_reorder_primitive_desc_create(weights)")) ||
        (rc = jb_onednn_check(dnnl_primitive_create(&reorder, rpd), "dnnl_primitive_create(reorder)")))
        goto done;
    const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, *packed}};
    if ((rc = jb_onednn_check(dnnl_primitive_execute(reorder, pl->stream, 2, args), "dnnl_primitive_execute(reorder)")))
        goto done;
    rc = jb_onednn_plan_wait(pl);
done:
    if (reorder)
        dnnl_primitive_destroy(reorder);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (from)
        dnnl_memory_destroy(from);
    return rc;
}

int jb_onednn_plan_finish(jb_onednn_plan *pl)
{
    if (!pl->scratch_bytes)
        return JB_OK;
    size_t bytes = (pl->scratch_bytes + 63) / 64 * 64;
    if (!(pl->scratch_buf = aligned_alloc(64, bytes)))
        return JB_ENOMEM;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)bytes};
    int rc = jb_onednn_check(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a),
                             "dnnl_memory_desc_init_by_tag(scratchpad)");
    if (rc)
        return rc;
    /* Not in mems[]: plan_free releases it separately, after the buffer's user. */
    return jb_onednn_check(dnnl_memory_create(&pl->scratch, &md, jb_onednn_engine(), pl->scratch_buf),
                           "dnnl_memory_create(scratchpad)");
}

int jb_onednn_bind(dnnl_memory_t mem, const void *ptr)
{
    return jb_onednn_check(dnnl_memory_set_data_handle(mem, (void *)ptr), "dnnl_memory_set_data_handle");
}

int jb_onednn_plan_execute(jb_onednn_plan *pl, dnnl_primitive_t prim, int nargs,
                           const dnnl_exec_arg_t *args)
{
    dnnl_exec_arg_t all[JB_ONEDNN_MAX_ARGS];
    if (nargs < 0 || nargs >= JB_ONEDNN_MAX_ARGS)
        return JB_EINVAL;
    memcpy(all, args, (size_t)nargs * sizeof *args);
    if (pl->scratch)
        all[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, pl->scratch};
    return jb_onednn_check(dnnl_primitive_execute(prim, pl->stream, nargs, all), "dnnl_primitive_execute");
}

int jb_onednn_plan_wait(jb_onednn_plan *pl)
{
    return jb_onednn_check(dnnl_stream_wait(pl->stream), "dnnl_stream_wait");
}

void jb_onednn_plan_free(jb_onednn_plan *pl)
{
    if (!pl)
        return;
    for (int i = 0; i < pl->nprims; i++)
        dnnl_primitive_destroy(pl->prims[i]);
    for (int i = 0; i < pl->nmems; i++)
        dnnl_memory_destroy(pl->mems[i]);
    if (pl->scratch)
        dnnl_memory_destroy(pl->scratch);
    free(pl->scratch_buf);
    if (pl->stream)
        dnnl_stream_destroy(pl->stream);
    memset(pl, 0, sizeof *pl);
}

dnnl_status_t jb_onednn_matmul_desc(const jb_problem *p, dnnl_data_type_t ta, dnnl_data_type_t tb,
                                    dnnl_memory_desc_t *a_md, dnnl_memory_desc_t *b_md, dnnl_memory_desc_t *w_md,
                                    dnnl_memory_desc_t *c_md, dnnl_matmul_desc_t *desc)
{
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(a_md, 2, (dnnl_dims_t){p->m, p->k}, ta, dnnl_ab)) != dnnl_success ||
        (s = dnnl_memory_desc_init_by_tag(b_md, 2, (dnnl_dims_t){p->k, p->n}, tb, dnnl_ab)) != dnnl_success ||
        (s = dnnl_memory_desc_init_by_tag(w_md, 2, (dnnl_dims_t){p->k, p->n}, tb,
                                          p->packed ? dnnl_format_tag_any : dnnl_ab)) != dnnl_success ||
        (s = dnnl_memory_desc_init_by_tag(c_md, 2, (dnnl_dims_t){p->m, p->n}, dnnl_f32, dnnl_ab)) != dnnl_success)
        return s;
    return dnnl_matmul_desc_init(desc, a_md, w_md, NULL, c_md);
}

int jb_onednn_matmul_plan(jb_onednn_plan *pl, const jb_problem *p, dnnl_data_type_t ta, dnnl_data_type_t tb,
                          const void *a, const void *b, dnnl_primitive_attr_t attr, const char *what,
                          jb_onednn_matmul *mm, char *why, size_t len)
{
    int rc;
    dnnl_memory_desc_t a_md, b_md, w_md, c_md;
    dnnl_matmul_desc_t desc;
    if ((rc = jb_onednn_plan_init(pl)))
        return rc;
    JB_DNNL_TRY(jb_onednn_matmul_desc(p, ta, tb, &a_md, &b_md, &w_md, &c_md, &desc));
    /* Asked first, so that "no implementation" is a skip with oneDNN's word
     * for it rather than an error (the plan would print and fail). */
    dnnl_primitive_desc_t pd = NULL;
    const dnnl_status_t s = dnnl_primitive_desc_create(&pd, &desc, attr, jb_onednn_engine(), NULL);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (s == dnnl_unimplemented) {
        snprintf(why, len, "oneDNN %s has no %s for this shape here (%s)", jb_onednn_version(), what,
                 dnnl_status2str(s));
        return JB_EUNSUPPORTED;
    }
    if ((rc = jb_onednn_plan_primitive(pl, &desc, attr, what, &mm->prim)) ||
        (rc = jb_onednn_plan_memory(pl, &a_md, (void *)a, &mm->a)) ||
        (rc = p->packed ? jb_onednn_plan_prepack(pl, mm->prim, &b_md, b, &mm->b)
                        : jb_onednn_plan_memory(pl, &b_md, (void *)b, &mm->b)) ||
        (rc = jb_onednn_plan_memory(pl, &c_md, NULL, &mm->c)))
        return rc;
    return jb_onednn_plan_finish(pl);
fail:
    return rc;
}

int jb_onednn_matmul_run(jb_onednn_plan *pl, const jb_onednn_matmul *mm, const void *a, const void *b, float *c)
{
    int rc;
    if ((a && (rc = jb_onednn_bind(mm->a, a))) || (b && (rc = jb_onednn_bind(mm->b, b))) ||
        (rc = jb_onednn_bind(mm->c, c)))
        return rc;
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, mm->a},
        {DNNL_ARG_WEIGHTS, mm->b},
        {DNNL_ARG_DST, mm->c},
    };
    if ((rc = jb_onednn_plan_execute(pl, mm->prim, 3, args)))
        return rc;
    return jb_onednn_plan_wait(pl);
}

#endif /* JB_HAVE_ONEDNN */
