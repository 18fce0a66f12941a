/* Unit tests for numfmt.c: INCRBYFLOAT's number text, read and written as
 * Redis 7.0 does (the expected texts are redis-server 7.0's replies). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "numfmt.h"

static const char *fmt(long double v)
{
    static char buf[NUMFMT_LD_MAX];
    size_t n = numfmt_format_ld(buf, sizeof buf, v);
    cr_assert_eq(strlen(buf), n);
    return buf;
}

static long double parse_ok(const char *s)
{
    long double v = -12345;
    cr_assert(numfmt_parse_ld(s, strlen(s), &v), "'%s' is a float", s);
    return v;
}

static void parse_bad(const char *s, size_t len)
{
    long double v;
    cr_assert(!numfmt_parse_ld(s, len, &v), "'%s' is not a float", s);
}

Test(numfmt, format_trims_zeros_and_never_uses_an_exponent)
{
    cr_assert_str_eq(fmt(0), "0");
    cr_assert_str_eq(fmt(-0.0L), "0");
    cr_assert_str_eq(fmt(1), "1");
    cr_assert_str_eq(fmt(-1.5L), "-1.5");
    cr_assert_str_eq(fmt(10.5L), "10.5");
    cr_assert_str_eq(fmt(parse_ok("3.0e3")), "3000");
    cr_assert_str_eq(fmt(parse_ok("5.0e3") + parse_ok("2.0e2")), "5200");
    cr_assert_str_eq(fmt(parse_ok("0.1") + parse_ok("0.2")), "0.3");
    cr_assert_str_eq(fmt(parse_ok("1e-20")), "0");
    cr_assert_str_eq(fmt(parse_ok("-1e-20")), "0");
    cr_assert_str_eq(fmt(parse_ok("1.23e-5")), "0.0000123");
    cr_assert_str_eq(fmt(parse_ok("1e20")), "100000000000000000000");
    cr_assert_str_eq(fmt(parse_ok("0x10")), "16");
    cr_assert_str_eq(fmt(INFINITY), "inf");
    cr_assert_str_eq(fmt(-INFINITY), "-inf");
    /* The biggest long double still fits the buffer. */
    cr_assert_gt(strlen(fmt(LDBL_MAX)), 4900);
}

Test(numfmt, parse_is_strict)
{
    cr_assert_eq(parse_ok("1"), 1.0L);
    cr_assert_eq(parse_ok("-2.5"), -2.5L);
    cr_assert_eq(parse_ok("+3"), 3.0L);
    cr_assert_eq(parse_ok(".5"), 0.5L);
    cr_assert_eq(parse_ok("5."), 5.0L);
    cr_assert(isinf(parse_ok("inf")));
    cr_assert(isinf(parse_ok("-Infinity")));
    parse_bad("", 0);
    parse_bad(" 1", 2);
    parse_bad("1 ", 2);
    parse_bad("abc", 3);
    parse_bad("nan", 3);
    parse_bad("1e5000", 6);  /* overflow */
    parse_bad("1e-5000", 7); /* underflow to zero */
    parse_bad("1\0002", 3);  /* a NUL inside */
    static char longer[NUMFMT_LD_MAX + 1];
    memset(longer, '1', sizeof longer - 1);
    parse_bad(longer, NUMFMT_LD_MAX);
}
