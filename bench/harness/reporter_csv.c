/* The CSV reporter: one line per row, RFC 4180 quoting; pct_peak_flops is
 * followed by peak_family, the instruction family whose ceiling it is of. */
#include "harness/reporter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/peaks.h"

typedef struct csv {
    FILE *f;
} csv;

/* A field in double quotes, quotes inside doubled. */
static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A number, or nothing but the separator the format ends with when it is NaN. */
static void num(FILE *f, const char *fmt, double v)
{
    if (!isnan(v)) {
        fprintf(f, fmt, v);
        return;
    }
    size_t n = strlen(fmt);
    if (n && fmt[n - 1] == ',')
        fputc(',', f);
}

static void csv_begin(jb_reporter *self)
{
    csv *c = self->state;
    fprintf(c->f, "name,kernel,shape,status,time_ns,time_ci95_low_ns,time_ci95_high_ns,rounds,converged,cv,"
                  "flop_per_s,bytes_per_s,pct_peak_flops,peak_family,pct_peak_bw,watts,flop_per_j,energy,max_err,"
                  "speedup,"
                  "speedup_ci95_low,speedup_ci95_high,reference,message\n");
}

static void csv_row(jb_reporter *self, const jb_row_result *r)
{
    csv *c = self->state;
    char shape[128];
    jb_problem_format(&r->row->p, shape, sizeof shape);
    if (r->status != JB_ROW_TIMED) {
        fprintf(c->f, "%s,%s,%s,error,,,,,,,,,,,,,,,,,,,,", r->row->name, r->row->k->name, shape);
        quoted(c->f, r->message);
        fputc('\n', c->f);
        return;
    }
    /* Figures a row does not have (no energy, softmax has no FLOP peak) are empty fields. */
    static const char *const cols[] = {"flop_per_s", "bytes_per_s", "pct_peak_flops", "pct_peak_bw", "watts",
                                       "flop_per_j"};
    fprintf(c->f, "%s,%s,%s,ok,%.1f,", r->row->name, r->row->k->name, shape, r->median_ns);
    num(c->f, "%.1f,", r->ci_lo_ns);
    num(c->f, "%.1f,", r->ci_hi_ns);
    fprintf(c->f, "%d,%d,", r->rounds, r->converged);
    num(c->f, "%.4f", r->cv);
    /* pct_peak_flops is of the ceiling of the row's instruction family, named beside it. */
    jb_family fam;
    const int of_family = jb_peaks_row_family(r->row->k, &r->row->p, &fam, NULL);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        double v = jb_row_result_counter(r, cols[i]);
        if (isnan(v))
            fprintf(c->f, ",");
        else
            fprintf(c->f, ",%.6g", v);
        if (!strcmp(cols[i], "pct_peak_flops"))
            fprintf(c->f, ",%s", of_family ? jb_family_name(fam) : "");
    }
    fprintf(c->f, ",%s,%.3g,", r->energy, jb_row_result_counter(r, "max_err"));
    num(c->f, "%.4f,", r->speedup);
    num(c->f, "%.4f,", r->speedup_lo);
    num(c->f, "%.4f,", r->speedup_hi);
    fprintf(c->f, "%s,\n", r->reference);
    fflush(c->f);
}

static void free_state(jb_reporter *self)
{
    free(self->state);
}

jb_reporter jb_reporter_csv(FILE *f)
{
    csv *c = calloc(1, sizeof *c);
    if (c)
        c->f = f;
    return (jb_reporter){.begin = csv_begin, .row = csv_row, .destroy = free_state, .state = c};
}
