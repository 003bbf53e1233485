/* The console reporter: one line per row, unavailable kernels summed up at the end. */
#include "harness/reporter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

typedef struct console {
    FILE *f;
    int unavailable;          /* rows of kernels that cannot run here */
    char kernels[2048];       /* their kernels, once each */
    char why[256];            /* the last reason */
} console;

static void console_begin(jb_reporter *self)
{
    console *c = self->state;
    fprintf(c->f, "%-30s %-28s %10s %9s %6s %8s %6s %7s %9s %-9s %5s\n", "kernel", "shape", "time", "GFLOP/s",
            "%peak", "GB/s", "%bw", "W", "GFLOP/J", "energy", "cv%");
}

static void console_row(jb_reporter *self, const jb_row_result *r)
{
    console *c = self->state;
    const char *kname = r->row->k->name;
    if (r->status == JB_ROW_UNAVAILABLE) {
        c->unavailable++;
        if (!strstr(c->kernels, kname) && strlen(c->kernels) + strlen(kname) + 3 < sizeof c->kernels) {
            strcat(c->kernels, c->kernels[0] ? ", " : "");
            strcat(c->kernels, kname);
        }
        const char *why = strncmp(r->message, "skipped: ", 9) ? r->message : r->message + 9;
        snprintf(c->why, sizeof c->why, "%.250s", why);
        return;
    }
    char shape[128];
    jb_problem_format(&r->row->p, shape, sizeof shape);
    if (r->status != JB_ROW_TIMED) {
        fprintf(c->f, "%-30s %-28s %s\n", kname, shape, r->message);
        return;
    }
    char t[32], peak[16], w[16], fpj[16], cv[16];
    jb_fmt_time(r->median_ns, t, sizeof t);
    double pf = jb_row_result_counter(r, "pct_peak_flops"), watts = jb_row_result_counter(r, "watts");
    double j = jb_row_result_counter(r, "flop_per_j");
    snprintf(peak, sizeof peak, isnan(pf) ? "-" : "%.1f", pf);
    snprintf(w, sizeof w, isnan(watts) ? "-" : "%.1f", watts);
    snprintf(fpj, sizeof fpj, isnan(j) ? "-" : "%.3f", j / 1e9);
    snprintf(cv, sizeof cv, isnan(r->cv) ? "-" : "%.1f", 100 * r->cv);
    fprintf(c->f, "%-30s %-28s %10s %9.2f %6s %8.2f %6.1f %7s %9s %-9s %5s\n", kname, shape, t,
            jb_row_result_counter(r, "flop_per_s") / 1e9, peak, jb_row_result_counter(r, "bytes_per_s") / 1e9,
            jb_row_result_counter(r, "pct_peak_bw"), w, fpj, r->energy, cv);
    fflush(c->f);
}

static void console_end(jb_reporter *self)
{
    console *c = self->state;
    if (c->unavailable)
        fprintf(c->f, "(%d rows of kernels unavailable here skipped: %s; last reason: %s)\n", c->unavailable,
                c->kernels, c->why);
}

static void free_state(jb_reporter *self)
{
    free(self->state);
}

jb_reporter jb_reporter_console(FILE *f)
{
    console *c = calloc(1, sizeof *c);
    if (c)
        c->f = f;
    return (jb_reporter){.begin = console_begin, .row = console_row, .end = console_end, .destroy = free_state,
                         .state = c};
}
