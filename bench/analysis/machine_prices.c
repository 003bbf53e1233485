/* The machine-price table (machine_prices.h): parsed as CSV, checked whole. */
#include "analysis/machine_prices.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jb_kernels.h"

/* One CSV field at *p (quotes with "" inside allowed), into out; *p moves past it and its comma. */
static int csv_field(const char **p, const char *end, char *out, size_t len)
{
    const char *s = *p;
    size_t n = 0;
    if (s < end && *s == '"') {
        for (s++; s < end; s++) {
            if (*s == '"' && s + 1 < end && s[1] == '"')
                s++;
            else if (*s == '"')
                break;
            if (n + 1 < len)
                out[n++] = *s;
        }
        if (s >= end)
            return -1; /* an unclosed quote */
        s++;
    } else {
        for (; s < end && *s != ','; s++)
            if (n + 1 < len)
                out[n++] = *s;
    }
    out[n] = 0;
    while (n && isspace((unsigned char)out[n - 1]))
        out[--n] = 0;
    size_t lead = strspn(out, " \t");
    memmove(out, out + lead, strlen(out + lead) + 1);
    if (s < end && *s == ',')
        s++;
    else if (s < end)
        return -1; /* text after a closing quote */
    *p = s;
    return 0;
}

/* Calls fn on every data row (match, price, line number); stops at its non-zero return. */
static int each_price(const char *csv, const char *path, char *msg, size_t len,
                      int (*fn)(const char *match, double price, void *arg), void *arg)
{
    int line = 0, header = 0;
    for (const char *p = csv; p && *p;) {
        const char *eol = strchr(p, '\n'), *end = eol ? eol : p + strlen(p);
        line++;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        const char *q = p + strspn(p, " \t");
        p = eol ? eol + 1 : NULL;
        if (q >= end || *q == '#')
            continue;
        char match[256], price[64];
        const char *f = q;
        if (csv_field(&f, end, match, sizeof match) || csv_field(&f, end, price, sizeof price)) {
            snprintf(msg, len, "%s: line %d: malformed CSV (an unclosed quote, or text after one)", path, line);
            return JB_EPARSE;
        }
        if (!header) {
            if (strcasecmp(match, "match") || strcasecmp(price, "price_per_hour")) {
                snprintf(msg, len, "%s: line %d: the header must start with match,price_per_hour", path, line);
                return JB_EPARSE;
            }
            header = 1;
            continue;
        }
        char *e;
        double v = strtod(price, &e);
        if (!match[0] || !price[0] || *e || !isfinite(v) || v < 0 || v > 1e9) {
            snprintf(msg, len, "%s: line %d: wants a non-empty match and a price per hour from 0 to 1e9 (got '%.40s', '%.40s')",
                     path, line, match, price);
            return JB_EPARSE;
        }
        int rc = fn ? fn(match, v, arg) : 0;
        if (rc)
            return rc;
    }
    if (!header) {
        snprintf(msg, len, "%s: no header line match,price_per_hour", path);
        return JB_EPARSE;
    }
    return JB_OK;
}

int jb_machine_prices_check(const char *csv, const char *path, char *msg, size_t len)
{
    return each_price(csv, path ? path : "machine prices", msg, len, NULL, NULL);
}

typedef struct price_find {
    const char *const *hay;
    double price;
    char *row;
    size_t rlen;
} price_find;

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++)
        if (!strncasecmp(h, needle, n))
            return 1;
    return 0;
}

static int find_one(const char *match, double price, void *arg)
{
    price_find *pf = arg;
    for (size_t i = 0; pf->hay[i]; i++)
        if (pf->hay[i][0] && contains_nocase(pf->hay[i], match)) {
            pf->price = price;
            snprintf(pf->row, pf->rlen, "%s", match);
            return 1;
        }
    return 0;
}

int jb_machine_price_find(const char *csv, const char *const hay[], double *price, char *row, size_t rlen)
{
    char msg[256];
    price_find pf = {hay, NAN, row, rlen};
    if (each_price(csv, "", msg, sizeof msg, find_one, &pf) != 1)
        return 0;
    *price = pf.price;
    return 1;
}

