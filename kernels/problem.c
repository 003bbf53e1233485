/*
 * Problems: names of ops and dtypes, validation, shape parsing and
 * formatting, the per-op work (FLOPs, elements, minimum bytes) and the
 * reproducible input generator.
 */
#include "jb_kernels.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const status_names[] = {
    "ok", "invalid argument", "out of memory or problem too large", "not supported by this kernel",
    "not available here", "backend library error", "output differs from the oracle",
    "input/output error", "parse error",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == 1 - JB_STATUS_MIN,
               "one name per jb_status");

const char *jb_strerror(int status)
{
    if (status > 0 || status < JB_STATUS_MIN)
        return "unknown status";
    return status_names[-status];
}

static const char *const op_names[] = {"matmul", "softmax", "attention"};
_Static_assert(sizeof op_names / sizeof op_names[0] == JB_OP_COUNT, "one name per op");
static const char *const dtype_names[] = {"f32", "tf32", "bf16", "int8", "w8", "w4"};
_Static_assert(sizeof dtype_names / sizeof dtype_names[0] == JB_DT_COUNT, "one name per dtype");
static const char *const backend_names[] = {"cpu", "cuda"};
_Static_assert(sizeof backend_names / sizeof backend_names[0] == JB_BACKEND_COUNT,
               "one name per backend");

static const char *const family_names[] = {"fp32_fma", "bf16_dot", "int8_dot", "amx_bf16", "amx_int8"};
_Static_assert(sizeof family_names / sizeof family_names[0] == JB_FAM_COUNT, "one name per family");

const char *jb_family_name(jb_family f)
{
    return (unsigned)f < JB_FAM_COUNT ? family_names[f] : "?";
}

const char *jb_op_name(jb_op op)
{
    return (unsigned)op < JB_OP_COUNT ? op_names[op] : "?";
}
const char *jb_dtype_name(jb_dtype dt)
{
    return (unsigned)dt < JB_DT_COUNT ? dtype_names[dt] : "?";
}
const char *jb_backend_name(jb_backend be)
{
    return (unsigned)be < JB_BACKEND_COUNT ? backend_names[be] : "?";
}
int jb_op_from_name(const char *name)
{
    for (int i = 0; i < JB_OP_COUNT; i++)
        if (name && strcmp(name, op_names[i]) == 0)
            return i;
    return -1;
}

static void say(char *msg, size_t len, const char *fmt, ...)
{
    if (!msg || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

/* Element counts with overflow detection: 0 on overflow. */
static size_t mul3(int64_t a, int64_t b, int64_t c)
{
    size_t r;
    if (a < 0 || b < 0 || c < 0)
        return 0;
    if (__builtin_mul_overflow((size_t)a, (size_t)b, &r) || __builtin_mul_overflow(r, (size_t)c, &r))
        return 0;
    return r;
}

static size_t checked_elems4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    size_t r = mul3(a, b, c);
    if (!r || __builtin_mul_overflow(r, (size_t)d, &r))
        return 0;
    return r;
}

int jb_problem_num_inputs(const jb_problem *p)
{
    switch (p->op) {
    case JB_OP_MATMUL: return 2;
    case JB_OP_SOFTMAX: return 1;
    case JB_OP_ATTENTION: return 3;
    default: return 0;
    }
}

size_t jb_problem_input_elems(const jb_problem *p, int i)
{
    switch (p->op) {
    case JB_OP_MATMUL: return i == 0 ? mul3(p->m, p->k, 1) : i == 1 ? mul3(p->k, p->n, 1) : 0;
    case JB_OP_SOFTMAX: return i == 0 ? mul3(p->rows, p->cols, 1) : 0;
    case JB_OP_ATTENTION:
        return i == 0 ? checked_elems4(p->b, p->h, jb_attention_q(p), p->d)
               : i < 3 ? checked_elems4(p->b, p->h, p->seq, p->d)
                       : 0;
    default: return 0;
    }
}

size_t jb_problem_output_elems(const jb_problem *p)
{
    switch (p->op) {
    case JB_OP_MATMUL: return mul3(p->m, p->n, 1);
    case JB_OP_SOFTMAX: return mul3(p->rows, p->cols, 1);
    case JB_OP_ATTENTION: return checked_elems4(p->b, p->h, jb_attention_q(p), p->d);
    default: return 0;
    }
}

int64_t jb_attention_q(const jb_problem *p)
{
    return p->q > 0 ? p->q : p->seq;
}

const char *jb_problem_input_name(const jb_problem *p, int i)
{
    static const char *const names[JB_OP_COUNT][3] = {{"a", "b", NULL}, {"x", NULL, NULL}, {"q", "k", "v"}};
    if ((unsigned)p->op >= JB_OP_COUNT || i < 0 || i >= 3)
        return NULL;
    return names[p->op][i];
}

const char *jb_problem_output_name(const jb_problem *p)
{
    static const char *const names[JB_OP_COUNT] = {"c", "y", "o"};
    return (unsigned)p->op < JB_OP_COUNT ? names[p->op] : NULL;
}

static int check_dim(const char *key, int64_t v, char *msg, size_t len)
{
    if (v <= 0) {
        say(msg, len, "%s must be a positive integer (got %" PRId64 ")", key, v);
        return JB_EINVAL;
    }
    if (v > JB_DIM_MAX) {
        say(msg, len, "%s=%" PRId64 " is larger than the limit %" PRId64, key, v, (int64_t)JB_DIM_MAX);
        return JB_ENOMEM;
    }
    return JB_OK;
}

static int check_unused(const char *key, int64_t v, const char *op, char *msg, size_t len)
{
    if (v != 0) {
        say(msg, len, "%s is not a shape key of %s", key, op);
        return JB_EINVAL;
    }
    return JB_OK;
}

int jb_problem_validate(const jb_problem *p, char *msg, size_t len)
{
    int rc;
    if (!p) {
        say(msg, len, "no problem given");
        return JB_EINVAL;
    }
    if ((unsigned)p->op >= JB_OP_COUNT) {
        say(msg, len, "unknown op %d", (int)p->op);
        return JB_EINVAL;
    }
    const char *op = jb_op_name(p->op);
#define DIM(f, key) if ((rc = check_dim(key, p->f, msg, len))) return rc
#define UNUSED(f, key) if ((rc = check_unused(key, p->f, op, msg, len))) return rc
    switch (p->op) {
    case JB_OP_MATMUL:
        DIM(m, "m"); DIM(n, "n"); DIM(k, "k");
        UNUSED(rows, "rows"); UNUSED(cols, "cols"); UNUSED(b, "b"); UNUSED(h, "h");
        UNUSED(seq, "n (sequence)"); UNUSED(d, "d"); UNUSED(causal, "causal"); UNUSED(q, "q");
        if (p->scale != 0) {
            say(msg, len, "scale is not a shape key of matmul");
            return JB_EINVAL;
        }
        if (p->packed != 0 && p->packed != 1) {
            say(msg, len, "packed must be 0 or 1 (got %d)", p->packed);
            return JB_EINVAL;
        }
        break;
    case JB_OP_SOFTMAX:
        DIM(rows, "rows"); DIM(cols, "cols");
        UNUSED(m, "m"); UNUSED(n, "n"); UNUSED(k, "k"); UNUSED(b, "b"); UNUSED(h, "h");
        UNUSED(seq, "n (sequence)"); UNUSED(d, "d"); UNUSED(q, "q"); UNUSED(packed, "packed");
        if (!isfinite(p->scale) || p->scale < 0) {
            say(msg, len, "scale must be a finite positive number (0 means 1)");
            return JB_EINVAL;
        }
        break;
    case JB_OP_ATTENTION:
        DIM(b, "b"); DIM(h, "h"); DIM(seq, "n"); DIM(d, "d");
        UNUSED(m, "m"); UNUSED(n, "n (matmul)"); UNUSED(k, "k"); UNUSED(rows, "rows");
        UNUSED(cols, "cols"); UNUSED(packed, "packed");
        if (p->scale != 0) {
            say(msg, len, "scale is not a shape key of attention (it is 1/sqrt(d))");
            return JB_EINVAL;
        }
        if (p->q < 0 || p->q > p->seq) {
            say(msg, len, "q (query rows) must be from 1 to n = %lld (got %lld)", (long long)p->seq,
                (long long)p->q);
            return JB_EINVAL;
        }
        break;
    default:
        break;
    }
#undef DIM
#undef UNUSED
    if (p->causal != 0 && p->causal != 1) {
        say(msg, len, "causal must be 0 or 1 (got %d)", p->causal);
        return JB_EINVAL;
    }
    /* Every buffer a run needs: fp32 inputs and output, and the fp64 oracle output. */
    size_t total = 0, e;
    for (int i = 0; i < jb_problem_num_inputs(p); i++) {
        e = jb_problem_input_elems(p, i);
        if (!e || __builtin_mul_overflow(e, sizeof(float), &e) || __builtin_add_overflow(total, e, &total))
            goto too_big;
    }
    e = jb_problem_output_elems(p);
    if (!e || __builtin_mul_overflow(e, sizeof(float) + sizeof(double), &e) ||
        __builtin_add_overflow(total, e, &total))
        goto too_big;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (double)total > (double)pages * (double)page) {
        say(msg, len, "problem needs %.1f GiB of buffers, more than this machine's %.1f GiB of memory",
            (double)total / (1 << 30), (double)pages * (double)page / (1 << 30));
        return JB_ENOMEM;
    }
    return JB_OK;
too_big:
    say(msg, len, "problem buffers overflow the address space (SIZE_MAX)");
    return JB_ENOMEM;
}

/* Shape keys per op, in row-name order. A flag is an int field that is 0
 * or 1 (causal, packed); the rest are int64_t. */
typedef struct shape_key {
    const char *key;
    size_t offset;
    int required;
    int flag;
} shape_key;

#define KEY(name, field, req) {name, offsetof(jb_problem, field), req, 0}
#define FLAG(name, field) {name, offsetof(jb_problem, field), 0, 1}
static const shape_key matmul_keys[] = {KEY("m", m, 1), KEY("n", n, 1), KEY("k", k, 1), FLAG("packed", packed),
                                        {NULL, 0, 0, 0}};
static const shape_key softmax_keys[] = {KEY("rows", rows, 1), KEY("cols", cols, 1), FLAG("causal", causal),
                                         {NULL, 0, 0, 0}};
static const shape_key attention_keys[] = {KEY("b", b, 1),      KEY("h", h, 1), KEY("q", q, 0),
                                           KEY("n", seq, 1),    KEY("d", d, 1), FLAG("causal", causal),
                                           {NULL, 0, 0, 0}};
#undef KEY
#undef FLAG
static const shape_key *const op_keys[JB_OP_COUNT] = {matmul_keys, softmax_keys, attention_keys};

static int parse_int(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || end == buf)
        return -1;
    *out = v;
    return 0;
}

int jb_problem_parse(jb_op op, const char *shape, jb_problem *p, char *msg, size_t len)
{
    if ((unsigned)op >= JB_OP_COUNT || !shape || !p) {
        say(msg, len, "bad arguments to shape parser");
        return JB_EINVAL;
    }
    memset(p, 0, sizeof *p);
    p->op = op;
    const shape_key *keys = op_keys[op];
    unsigned seen = 0;
    const char *s = shape;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t item = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', item);
        if (!eq) {
            say(msg, len, "shape item '%.*s' is not key=value", (int)item, s);
            return JB_EPARSE;
        }
        size_t klen = (size_t)(eq - s);
        const char *val = eq + 1;
        size_t vlen = item - klen - 1;
        if (op == JB_OP_SOFTMAX && klen == 5 && strncmp(s, "scale", 5) == 0) {
            char buf[64];
            char *end;
            if (vlen == 0 || vlen >= sizeof buf) {
                say(msg, len, "bad number for scale: '%.*s'", (int)vlen, val);
                return JB_EPARSE;
            }
            memcpy(buf, val, vlen);
            buf[vlen] = 0;
            p->scale = strtod(buf, &end);
            if (*end || !isfinite(p->scale) || p->scale <= 0) {
                say(msg, len, "bad number for scale: '%s' (a positive number)", buf);
                return JB_EPARSE;
            }
        } else {
            int i;
            for (i = 0; keys[i].key; i++)
                if (strlen(keys[i].key) == klen && strncmp(keys[i].key, s, klen) == 0)
                    break;
            if (!keys[i].key && op != JB_OP_MATMUL && klen == 6 && strncmp(s, "packed", 6) == 0) {
                say(msg, len, "packed is a shape key of matmul only (it says where B's layout conversion is timed)");
                return JB_EPARSE;
            }
            if (!keys[i].key) {
                char known[64] = "";
                for (int j = 0; keys[j].key; j++) {
                    strncat(known, j ? "," : "", sizeof known - strlen(known) - 1);
                    strncat(known, keys[j].key, sizeof known - strlen(known) - 1);
                }
                say(msg, len, "unknown shape key '%.*s' for %s (keys: %s%s)", (int)klen, s, jb_op_name(op),
                    known, op == JB_OP_SOFTMAX ? ",scale" : "");
                return JB_EPARSE;
            }
            if (seen & (1u << i)) {
                say(msg, len, "shape key '%s' given twice", keys[i].key);
                return JB_EPARSE;
            }
            int64_t v;
            if (parse_int(val, vlen, &v)) {
                say(msg, len, "bad number for %s: '%.*s' (an integer)", keys[i].key, (int)vlen, val);
                return JB_EPARSE;
            }
            seen |= 1u << i;
            char *field = (char *)p + keys[i].offset;
            if (keys[i].flag) {
                if (v != 0 && v != 1) {
                    say(msg, len, "%s must be 0 or 1 (got %.*s)", keys[i].key, (int)vlen, val);
                    return JB_EPARSE;
                }
                *(int *)field = (int)v;
            } else {
                if (keys[i].offset == offsetof(jb_problem, q) && v <= 0) {
                    say(msg, len, "q must be a positive integer (got %.*s)", (int)vlen, val);
                    return JB_EPARSE;
                }
                *(int64_t *)field = v;
            }
        }
        s += item;
        if (*s == ',')
            s++;
    }
    for (int i = 0; keys[i].key; i++)
        if (keys[i].required && !(seen & (1u << i))) {
            say(msg, len, "missing shape key '%s' for %s", keys[i].key, jb_op_name(op));
            return JB_EPARSE;
        }
    if (p->q == p->seq) /* q = n is self-attention: one name for it */
        p->q = 0;
    return jb_problem_validate(p, msg, len);
}

int jb_problem_format(const jb_problem *p, char *buf, size_t len)
{
    if (!p || (unsigned)p->op >= JB_OP_COUNT || !buf || !len)
        return JB_EINVAL;
    size_t used = 0;
    buf[0] = 0;
    for (const shape_key *k = op_keys[p->op]; k->key; k++) {
        if (k->offset == offsetof(jb_problem, q) && (p->q == 0 || p->q == p->seq))
            continue; /* "q:" only when q < n */
        if (k->offset == offsetof(jb_problem, packed) && !p->packed)
            continue; /* "packed:" only when 1, so the names from before it are unchanged */
        const char *field = (const char *)p + k->offset;
        long long v = k->flag ? *(const int *)field : *(const int64_t *)field;
        int w = snprintf(buf + used, len - used, "%s%s:%lld", used ? "/" : "", k->key, v);
        if (w < 0 || (size_t)w >= len - used)
            return JB_EINVAL;
        used += (size_t)w;
    }
    if (p->op == JB_OP_SOFTMAX && p->scale != 0 && p->scale != 1) {
        int w = snprintf(buf + used, len - used, "/scale:%g", p->scale);
        if (w < 0 || (size_t)w >= len - used)
            return JB_EINVAL;
    }
    return JB_OK;
}

int jb_problem_parse_format(jb_op op, const char *s, jb_problem *p, char *msg, size_t len)
{
    char buf[256];
    size_t n = s ? strlen(s) : 0;
    if (!s || n >= sizeof buf || strpbrk(s, ",=")) {
        say(msg, len, "'%.60s' is not a shape of the form key:value/key:value", s ? s : "");
        return JB_EPARSE;
    }
    /* "m:1024/n:1024/k:1024" is the --shape form with other separators. */
    for (size_t i = 0; i <= n; i++)
        buf[i] = s[i] == '/' ? ',' : s[i] == ':' ? '=' : s[i];
    return jb_problem_parse(op, buf, p, msg, len);
}

int jb_row_name_parse(const char *name, char *kernel, size_t klen, jb_problem *p, char *msg, size_t len)
{
    const char *q = name;
    for (int i = 0; q && i < 4; i++) {
        q = strchr(q, '/');
        q = q ? q + 1 : NULL;
    }
    if (!name || !q) {
        say(msg, len, "row name '%.80s' is not op/backend/variant/dtype/shape", name ? name : "");
        return JB_EPARSE;
    }
    size_t kl = (size_t)(q - name - 1), ol = strcspn(name, "/");
    char op[16];
    if (kl >= klen || ol >= sizeof op) {
        say(msg, len, "row name '%.80s': kernel name too long", name);
        return JB_EPARSE;
    }
    memcpy(kernel, name, kl);
    kernel[kl] = 0;
    memcpy(op, name, ol);
    op[ol] = 0;
    int o = jb_op_from_name(op);
    if (o < 0) {
        say(msg, len, "row name '%.80s': unknown op '%s'", name, op);
        return JB_EPARSE;
    }
    return jb_problem_parse_format((jb_op)o, q, p, msg, len);
}

double jb_problem_flops(const jb_problem *p)
{
    switch (p->op) {
    case JB_OP_MATMUL: return 2.0 * (double)p->m * (double)p->n * (double)p->k;
    case JB_OP_SOFTMAX: return (double)p->rows * (double)p->cols;
    case JB_OP_ATTENTION: {
        const double bhd = 4.0 * (double)p->b * (double)p->h * (double)p->d, n = (double)p->seq;
        const double q = (double)jb_attention_q(p);
        if (q == n) /* self-attention: DESIGN.md's 4*b*h*n^2*d, halved when causal */
            return p->causal ? bhd * n * n / 2 : bhd * n * n;
        /* decode: the keys each query row sees, summed exactly */
        return p->causal ? bhd * (q * (n - q) + q * (q + 1) / 2) : bhd * q * n;
    }
    default: return 0;
    }
}

double jb_problem_elements(const jb_problem *p)
{
    return (double)jb_problem_output_elems(p);
}

double jb_problem_min_bytes(const jb_problem *p)
{
    double e = (double)jb_problem_output_elems(p);
    for (int i = 0; i < jb_problem_num_inputs(p); i++)
        e += (double)jb_problem_input_elems(p, i);
    return e * sizeof(float);
}

/* splitmix64: small, fast and reproducible across platforms. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void jb_problem_fill_inputs(const jb_problem *p, uint64_t seed, float *const in[])
{
    /* Ranges: matmul [-1,1]; softmax [-8,8] so rows are far from uniform;
     * attention q,k [-2,2] so scores spread, v [-1,1]. */
    for (int i = 0; i < jb_problem_num_inputs(p); i++) {
        float range = p->op == JB_OP_SOFTMAX ? 8.0f : (p->op == JB_OP_ATTENTION && i < 2) ? 2.0f : 1.0f;
        uint64_t s = seed * 0x100000001b3ull + (uint64_t)i * 0x9e3779b97f4a7c15ull;
        size_t n = jb_problem_input_elems(p, i);
        for (size_t j = 0; j < n; j++) {
            double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53; /* [0,1) */
            in[i][j] = (float)((2.0 * u - 1.0) * range);
        }
    }
}
