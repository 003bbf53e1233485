/* Time for the harness: one monotonic clock, and one way to print a duration. */
#ifndef JB_CLOCK_H
#define JB_CLOCK_H

#include <stddef.h>

/* Seconds of CLOCK_MONOTONIC. */
double jb_now(void);

/* ns as "850 ns", "12.35 us", "3.142 ms" or "1.500 s" ("-" for NaN): the
 * form every table of the program uses. */
void jb_fmt_time(double ns, char *buf, size_t len);

#endif
