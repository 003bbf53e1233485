/*
 * The price per machine-hour of each machine in a comparison, from a small
 * CSV table the user provides (configs/hardware/machine_prices.csv is the
 * documented example): read by report --compare-machines (machines.c).
 */
#ifndef JB_MACHINE_PRICES_H
#define JB_MACHINE_PRICES_H

#include <stddef.h>

/* A machine-price table: CSV with a header line "match,price_per_hour[,...]"
 * and '#' comment lines; a row's match (case-insensitive) is looked for in
 * the machine's label, host, node, partition, CPU model and GPU, and the
 * first row found gives the price per machine-hour. Checks the whole table:
 * JB_OK, or JB_EPARSE with "line N: why". */
int jb_machine_prices_check(const char *csv, const char *path, char *msg, size_t len);

/* The price of the first row whose match occurs in one of the strings in
 * hay (NULL-terminated). 1 found (price and the row's match in row), 0 not. */
int jb_machine_price_find(const char *csv, const char *const hay[], double *price, char *row, size_t rlen);

#endif
