/*
 * The kernel registry: one table of descriptors built from kernel_list.h,
 * lookup by name, and the availability and support checks every caller uses.
 */
#include "jb_kernels.h"

#include <stdio.h>
#include <string.h>

#define JB_KERNEL(id) extern const jb_kernel jb_k_##id;
#include "kernel_list.h"
#undef JB_KERNEL

static const jb_kernel *const table[] = {
#define JB_KERNEL(id) &jb_k_##id,
#include "kernel_list.h"
#undef JB_KERNEL
};

size_t jb_registry_count(void)
{
    return sizeof table / sizeof table[0];
}

const jb_kernel *jb_registry_get(size_t i)
{
    return i < jb_registry_count() ? table[i] : NULL;
}

const jb_kernel *jb_registry_find(const char *name)
{
    for (size_t i = 0; name && i < jb_registry_count(); i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

int jb_kernel_available(const jb_kernel *k, char *why, size_t len)
{
    if (why && len)
        why[0] = 0;
    if (!k)
        return JB_EINVAL;
    return k->available ? k->available(why, len) : JB_OK;
}

int jb_kernel_supports(const jb_kernel *k, const jb_problem *p, char *why, size_t len)
{
    if (why && len)
        why[0] = 0;
    if (!k || !p)
        return JB_EINVAL;
    int rc = jb_problem_validate(p, why, len);
    if (rc)
        return rc;
    if (p->op != k->op) {
        if (why && len)
            snprintf(why, len, "%s runs %s problems, not %s", k->name, jb_op_name(k->op), jb_op_name(p->op));
        return JB_EUNSUPPORTED;
    }
    if (p->op == JB_OP_ATTENTION && jb_attention_q(p) < p->seq && !k->decode) {
        if (why && len)
            snprintf(why, len, "%s computes self-attention only (q = n): no KV-cache decode (q < n)", k->name);
        return JB_EUNSUPPORTED;
    }
    return k->supports ? k->supports(p, why, len) : JB_OK;
}

size_t jb_kernel_workspace(const jb_kernel *k, const jb_problem *p)
{
    return k && k->workspace_size ? k->workspace_size(p) : 0;
}

double jb_kernel_min_bytes(const jb_kernel *k, const jb_problem *p)
{
    return k && k->min_bytes ? k->min_bytes(p) : jb_problem_min_bytes(p);
}

const char *jb_kernel_path(const jb_kernel *k, const jb_problem *p, jb_family *family)
{
    jb_family f = JB_FAM_FP32_FMA;
    const char *path = k && k->path ? k->path(p, &f) : NULL;
    if (family)
        *family = f;
    if (path)
        return path;
    return k && k->backend != JB_BACKEND_CPU ? jb_backend_name(k->backend) : jb_cpu_isa_name();
}
