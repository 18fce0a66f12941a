/*
 * resp_write.c - the reply writer: exact RESP2/RESP3 bytes into a growable
 * buffer.
 *
 * Every resp_add_* reserves the room for its whole element first and then
 * writes it, so an allocation failure never leaves half an element behind:
 * the buffer holds whole elements up to the failure, and out->oom says the
 * reply is truncated. Integers are formatted by hand (two digits per step
 * from a table) because :N and $N headers are on every reply's path;
 * snprintf is used only for doubles and resp_add_errorf.
 *
 * RESP2 fallbacks are the ones Redis 7.0 uses: null -> $-1, null array -> *-1,
 * map -> flat array of 2n, set -> array, double -> bulk string, bool -> :1/:0,
 * verbatim -> plain bulk string.
 */
#include "resp.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation: enough for a typical reply (a 128-byte value plus its
 * header) so small replies never realloc twice. Later growth doubles, so
 * appending n bytes costs O(n) amortised. */
#define OUT_MIN_CAP 256u

/* Longest decimal long long ("-9223372036854775808") */
#define LL_DIGITS_MAX 20u

/* Type byte + number + CRLF. */
#define HEADER_MAX (1u + LL_DIGITS_MAX + 2u)

/* Longest "%.17g" of a double: sign, 17 digits, '.', "e-308" ~ 25; 32 with
 * margin. */
#define DOUBLE_TEXT_MAX 32u

/* resp_add_errorf formats into the stack first; longer messages are
 * formatted a second time straight into the output buffer. */
#define ERRORF_STACK 256u

/* ---- Buffer --------------------------------------------------------------- */

void resp_out_init(resp_out *o)
{
    assert(o != NULL);
    o->buf = NULL;
    o->len = 0;
    o->cap = 0;
    o->proto = 2;
    o->oom = false;
}

void resp_out_deinit(resp_out *o)
{
    assert(o != NULL);
    free(o->buf);
    o->buf = NULL;
    o->len = 0;
    o->cap = 0;
    o->oom = false;
}

void resp_out_reset(resp_out *o)
{
    assert(o != NULL);
    o->len = 0;
    o->oom = false;
}

/* Make room for n more bytes; on failure set oom and return NULL. Returns
 * where the n bytes go (the caller advances o->len). */
static char *reserve(resp_out *o, size_t n)
{
    if (o->oom)
        return NULL;
    if (o->buf != NULL && n <= o->cap - o->len)
        return o->buf + o->len;
    if (n > SIZE_MAX - o->len) {
        o->oom = true;
        return NULL;
    }
    size_t want = o->len + n;
    size_t cap = o->cap < OUT_MIN_CAP ? OUT_MIN_CAP : o->cap;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) {
            cap = want;
            break;
        }
        cap *= 2;
    }
    char *nb = realloc(o->buf, cap);
    if (nb == NULL) {
        o->oom = true;
        return NULL;
    }
    o->buf = nb;
    o->cap = cap;
    return o->buf + o->len;
}

/* ---- Integers ------------------------------------------------------------- */

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

static inline unsigned count_digits(unsigned long long v)
{
    unsigned n = 1;
    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Write v in decimal at dst; returns the number of bytes written. */
static inline size_t put_ull(char *dst, unsigned long long v)
{
    unsigned n = count_digits(v);
    char *p = dst + n;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    }
    if (v >= 10) {
        unsigned i = (unsigned)v * 2;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    } else {
        *--p = (char)('0' + v);
    }
    assert(p == dst);
    return n;
}

static inline size_t put_ll(char *dst, long long v)
{
    if (v < 0) {
        *dst = '-';
        /* Negate in unsigned arithmetic so LLONG_MIN does not overflow. */
        return 1 + put_ull(dst + 1, 0ull - (unsigned long long)v);
    }
    return put_ull(dst, (unsigned long long)v);
}

/* <type><v>\r\n */
static void add_header(resp_out *o, char type, long long v)
{
    char *p = reserve(o, HEADER_MAX);
    if (p == NULL)
        return;
    char *s = p;
    *p++ = type;
    p += put_ll(p, v);
    *p++ = '\r';
    *p++ = '\n';
    o->len += (size_t)(p - s);
}

/* <type><n>\r\n for a count; counts above LLONG_MAX cannot exist. */
static void add_count(resp_out *o, char type, size_t n)
{
    char *p = reserve(o, HEADER_MAX);
    if (p == NULL)
        return;
    char *s = p;
    *p++ = type;
    p += put_ull(p, (unsigned long long)n);
    *p++ = '\r';
    *p++ = '\n';
    o->len += (size_t)(p - s);
}

/* ---- Elements ------------------------------------------------------------- */

void resp_add_raw(resp_out *o, const void *p, size_t n)
{
    char *d = reserve(o, n);
    if (d == NULL)
        return;
    if (n > 0)
        memcpy(d, p, n);
    o->len += n;
}

/* <type><bytes>\r\n */
static void add_line(resp_out *o, char type, const char *s, size_t n)
{
    if (n > SIZE_MAX - 3) {
        o->oom = true;
        return;
    }
    char *d = reserve(o, n + 3);
    if (d == NULL)
        return;
    d[0] = type;
    if (n > 0)
        memcpy(d + 1, s, n);
    d[n + 1] = '\r';
    d[n + 2] = '\n';
    o->len += n + 3;
}

void resp_add_simple(resp_out *o, const char *s)
{
    add_line(o, '+', s, strlen(s));
}

void resp_add_simplen(resp_out *o, const char *s, size_t n)
{
    add_line(o, '+', s, n);
}

void resp_add_ok(resp_out *o)
{
    resp_add_raw(o, "+OK\r\n", 5);
}

/* Append an error line and blank out CR/LF inside its text. */
static void add_error_len(resp_out *o, const char *msg, size_t n)
{
    size_t start = o->len;
    add_line(o, '-', msg, n);
    if (o->oom)
        return;
    char *t = o->buf + start + 1;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\r' || t[i] == '\n')
            t[i] = ' ';
    }
}

void resp_add_error(resp_out *o, const char *msg)
{
    add_error_len(o, msg, strlen(msg));
}

void resp_add_errorf(resp_out *o, const char *fmt, ...)
{
    if (o->oom)
        return;
    char small[ERRORF_STACK];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return; /* an encoding error: nothing sensible to send */
    if ((size_t)n < sizeof small) {
        add_error_len(o, small, (size_t)n);
        return;
    }
    /* Too long for the stack: format again straight into the buffer, whose
     * spare room then holds "-" + text + NUL; the NUL becomes the '\r'. */
    size_t start = o->len;
    char *d = reserve(o, (size_t)n + 3);
    if (d == NULL)
        return;
    va_start(ap, fmt);
    int m = vsnprintf(d + 1, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n) {
        o->oom = true; /* cannot happen for a well-behaved format */
        return;
    }
    d[0] = '-';
    for (size_t i = 1; i <= (size_t)n; i++) {
        if (d[i] == '\r' || d[i] == '\n')
            d[i] = ' ';
    }
    d[n + 1] = '\r';
    d[n + 2] = '\n';
    o->len = start + (size_t)n + 3;
}

void resp_add_int(resp_out *o, long long v)
{
    add_header(o, ':', v);
}

void resp_add_bulk(resp_out *o, const void *p, size_t n)
{
    if (n > SIZE_MAX - HEADER_MAX - 2) {
        o->oom = true;
        return;
    }
    char *d = reserve(o, HEADER_MAX + n + 2);
    if (d == NULL)
        return;
    char *s = d;
    *d++ = '$';
    d += put_ull(d, (unsigned long long)n);
    *d++ = '\r';
    *d++ = '\n';
    if (n > 0)
        memcpy(d, p, n);
    d += n;
    *d++ = '\r';
    *d++ = '\n';
    o->len += (size_t)(d - s);
}

void resp_add_bulkstr(resp_out *o, const char *s)
{
    resp_add_bulk(o, s, strlen(s));
}

void resp_add_bulk_ll(resp_out *o, long long v)
{
    char tmp[LL_DIGITS_MAX];
    size_t n = put_ll(tmp, v);
    resp_add_bulk(o, tmp, n);
}

void resp_add_null(resp_out *o)
{
    if (o->proto >= 3)
        resp_add_raw(o, "_\r\n", 3);
    else
        resp_add_raw(o, "$-1\r\n", 5);
}

void resp_add_null_array(resp_out *o)
{
    if (o->proto >= 3)
        resp_add_raw(o, "_\r\n", 3);
    else
        resp_add_raw(o, "*-1\r\n", 5);
}

void resp_add_array(resp_out *o, size_t n)
{
    add_count(o, '*', n);
}

void resp_add_map(resp_out *o, size_t n)
{
    if (o->proto >= 3) {
        add_count(o, '%', n);
    } else {
        assert(n <= SIZE_MAX / 2);
        add_count(o, '*', n * 2);
    }
}

void resp_add_set(resp_out *o, size_t n)
{
    add_count(o, o->proto >= 3 ? '~' : '*', n);
}

void resp_add_push(resp_out *o, size_t n)
{
    add_count(o, o->proto >= 3 ? '>' : '*', n);
}

void resp_add_double(resp_out *o, double d)
{
    /* Spelled out rather than left to printf, as Redis does: glibc would
     * print NaN as "-nan" for a negative NaN. */
    char text[DOUBLE_TEXT_MAX];
    size_t n;
    if (isinf(d)) {
        n = d > 0 ? 3 : 4;
        memcpy(text, d > 0 ? "inf" : "-inf", n);
    } else if (isnan(d)) {
        n = 3;
        memcpy(text, "nan", n);
    } else {
        int r = snprintf(text, sizeof text, "%.17g", d);
        assert(r > 0 && (size_t)r < sizeof text);
        n = (size_t)r;
    }
    if (o->proto >= 3)
        add_line(o, ',', text, n);
    else
        resp_add_bulk(o, text, n);
}

void resp_add_bool(resp_out *o, bool b)
{
    if (o->proto >= 3)
        resp_add_raw(o, b ? "#t\r\n" : "#f\r\n", 4);
    else
        resp_add_raw(o, b ? ":1\r\n" : ":0\r\n", 4);
}

void resp_add_verbatim(resp_out *o, const char *fmt, const char *p, size_t n)
{
    if (o->proto < 3) {
        resp_add_bulk(o, p, n);
        return;
    }
    assert(fmt != NULL && strlen(fmt) == 3);
    if (n > SIZE_MAX - HEADER_MAX - 6) {
        o->oom = true;
        return;
    }
    char *d = reserve(o, HEADER_MAX + 4 + n + 2);
    if (d == NULL)
        return;
    char *s = d;
    *d++ = '=';
    d += put_ull(d, (unsigned long long)n + 4);
    *d++ = '\r';
    *d++ = '\n';
    memcpy(d, fmt, 3);
    d[3] = ':';
    d += 4;
    if (n > 0)
        memcpy(d, p, n);
    d += n;
    *d++ = '\r';
    *d++ = '\n';
    o->len += (size_t)(d - s);
}
