/* The console reporter: one line per row, unavailable kernels summed up at
 * the end. %peak is of the fp32 FMA ceiling unless the value carries the tag
 * of another instruction family, which a line at the end names. */
#include "harness/reporter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/peaks.h"
#include "util/clock.h"

/* The tag after a %peak value, per family: none for fp32 FMA, the common case. */
static const char *const family_tag[] = {"", "b", "i", "tb", "ti"};
_Static_assert(sizeof family_tag / sizeof family_tag[0] == JB_FAM_COUNT, "one tag per family");

typedef struct console {
    FILE *f;
    int unavailable;          /* rows of kernels that cannot run here */
    char kernels[2048];       /* their kernels, once each */
    char why[256];            /* the last reason */
    unsigned tagged;          /* the families (bits) whose tag a %peak value carried */
} console;

static void console_begin(jb_reporter *self)
{
    console *c = self->state;
    fprintf(c->f, "%-30s %-28s %10s %6s %9s %7s %8s %6s %7s %9s %-9s %s\n", "kernel", "shape", "time", "+-%",
            "GFLOP/s", "%peak", "GB/s", "%bw", "W", "GFLOP/J", "energy", "speed-up [95% interval]");
}

/* "1.19x [1.12, 1.27] vs onednn/f32", "reference", or "" without one. */
static void speedup_text(const jb_row_result *r, char *buf, size_t len)
{
    buf[0] = 0;
    if (!r->reference[0])
        return;
    if (!strcmp(r->reference, r->row->k->name)) {
        snprintf(buf, len, "reference");
        return;
    }
    /* The reference by variant/dtype: op and backend are the row's own. */
    const char *ref = r->reference;
    for (int slash = 0; slash < 2 && strchr(ref, '/'); slash++)
        ref = strchr(ref, '/') + 1;
    if (isnan(r->speedup_lo))
        snprintf(buf, len, "%.2fx vs %s", r->speedup, ref);
    else
        snprintf(buf, len, "%.2fx [%.2f, %.2f] vs %s", r->speedup, r->speedup_lo, r->speedup_hi, ref);
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
    char t[32], peak[16], w[16], fpj[16], ci[16], sp[160];
    jb_fmt_time(r->median_ns, t, sizeof t);
    double pf = jb_row_result_counter(r, "pct_peak_flops"), watts = jb_row_result_counter(r, "watts");
    double j = jb_row_result_counter(r, "flop_per_j");
    jb_family fam;
    if (isnan(pf) || !jb_peaks_row_family(r->row->k, &r->row->p, &fam, NULL))
        snprintf(peak, sizeof peak, "-");
    else {
        snprintf(peak, sizeof peak, "%.1f%s", pf, family_tag[fam]);
        c->tagged |= fam != JB_FAM_FP32_FMA ? 1u << fam : 0;
    }
    snprintf(w, sizeof w, isnan(watts) ? "-" : "%.1f", watts);
    snprintf(fpj, sizeof fpj, isnan(j) ? "-" : "%.3f", j / 1e9);
    /* The half-width of the median's 95% interval, in % of it; "~": the row's
     * budget ran out before the interval was as narrow as asked. */
    double hw = 100 * (r->ci_hi_ns - r->ci_lo_ns) / 2 / r->median_ns;
    snprintf(ci, sizeof ci, isnan(hw) ? "-" : "%s%.1f", r->converged ? "" : "~", hw);
    speedup_text(r, sp, sizeof sp);
    fprintf(c->f, "%-30s %-28s %10s %6s %9.2f %7s %8.2f %6.1f %7s %9s %-9s %s\n", kname, shape, t, ci,
            jb_row_result_counter(r, "flop_per_s") / 1e9, peak, jb_row_result_counter(r, "bytes_per_s") / 1e9,
            jb_row_result_counter(r, "pct_peak_bw"), w, fpj, r->energy, sp);
    fflush(c->f);
}

static void console_end(jb_reporter *self)
{
    console *c = self->state;
    if (c->tagged) {
        fprintf(c->f, "(%%peak: of the measured peak of the instructions the row's kernel runs on: fp32_fma");
        for (int f = 0; f < JB_FAM_COUNT; f++)
            if (c->tagged >> f & 1u)
                fprintf(c->f, "; tagged %s: %s", family_tag[f], jb_family_name((jb_family)f));
        fprintf(c->f, ")\n");
    }
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
