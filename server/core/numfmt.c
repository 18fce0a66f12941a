/*
 * numfmt.c - long double text for INCRBYFLOAT (see numfmt.h).
 */
#include "numfmt.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool numfmt_parse_ld(const char *p, size_t len, long double *out)
{
    char buf[NUMFMT_LD_MAX];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    /* A NUL inside the text ends strtold early: end falls short of len. */
    if (isspace((unsigned char)buf[0]) || end != buf + len || errno == EINVAL || isnan(v))
        return false;
    if (errno == ERANGE && (isinf(v) || v == 0))
        return false; /* too big, or so small it became zero */
    *out = v;
    return true;
}

size_t numfmt_format_ld(char *buf, size_t cap, long double v)
{
    assert(cap >= NUMFMT_LD_MAX);
    if (isinf(v)) {
        size_t n = v > 0 ? 3 : 4;
        memcpy(buf, v > 0 ? "inf" : "-inf", n + 1);
        return n;
    }
    /* Fixed notation, never an exponent: 17 digits after the point are
     * what Redis writes, and are enough for most short decimals to read
     * back as typed once the trailing zeros are gone. */
    int w = snprintf(buf, cap, "%.17Lf", v);
    assert(w > 0 && (size_t)w < cap);
    size_t n = (size_t)w;
    if (memchr(buf, '.', n) != NULL) {
        while (buf[n - 1] == '0')
            n--;
        if (buf[n - 1] == '.')
            n--;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        n = 1;
    }
    buf[n] = '\0';
    return n;
}
