/*
 * numfmt.h - long double numbers as text, the way Redis reads and writes
 * them for INCRBYFLOAT (layer 2, the bottom: libc only, no server state).
 *
 * On x86-64 a long double is the 80-bit extended type, as in a Redis built
 * there, so sums and their text come out the same.
 */
#ifndef EBB_NUMFMT_H
#define EBB_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any finite long double written by numfmt_format_ld (and the
 * longest text numfmt_parse_ld reads, less one): Redis's
 * MAX_LONG_DOUBLE_CHARS. */
#define NUMFMT_LD_MAX 5120

/* p[0..len) as a long double, as Redis's string2ld reads it: what strtold
 * accepts (decimal, hex, "inf"), the whole text, no leading space, not NaN,
 * not out of range (overflow, or an underflow to zero). False otherwise. */
bool numfmt_parse_ld(const char *p, size_t len, long double *out);

/* v as text in buf[0..cap) (cap >= NUMFMT_LD_MAX): fixed notation with
 * 17 digits after the point, then trailing zeros and a trailing point
 * removed, and "-0" written "0"; infinities as "inf" and "-inf". Returns
 * the length (buf is NUL-terminated). */
size_t numfmt_format_ld(char *buf, size_t cap, long double v);

#endif
