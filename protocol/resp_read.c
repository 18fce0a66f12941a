/*
 * resp_read.c - the request reader: multibulk frames and inline lines.
 *
 * One call parses at most one request from the front of the caller's buffer
 * and never reads outside buf[0..len). Every byte is looked at a bounded
 * number of times, so a call is O(len) even for adversarial input.
 *
 * Multibulk
 *
 *     *<N>\r\n  then N times  $<len>\r\n<len bytes>\r\n
 *
 *   A header line (`*N` or `$len`) ends at its first '\r', which must be
 *   followed by '\n'. Like Redis we look for '\r', so a bare '\n' is part of
 *   the number and makes it invalid. Numbers follow Redis's string2ll(): an
 *   optional '-', then "0" or a digit 1-9 followed by digits; no '+', no
 *   spaces, no leading zeros, no "-0", overflow is an error.
 *
 *   The type byte of an argument header is checked as soon as it arrives
 *   (Redis waits for the line first); the verdict is the same, only earlier.
 *
 *   Redis skips the two bytes after bulk data without looking at them; we
 *   insist they are "\r\n" (RESP_ERR_BULK_CRLF), because a client that gets
 *   this wrong is desynchronised and everything after would be garbage.
 *
 * Inline
 *
 *   A line up to '\n' (a '\r' right before it is dropped), split the way
 *   Redis's sdssplitargs() splits it: see split_inline(). All arguments are
 *   written to req->scratch (the unescaped form is never longer than the
 *   line, and the line is shorter than RESP_INLINE_MAX), so every inline view
 *   points into scratch.
 *
 * need (RESP_INCOMPLETE)
 *
 *   The shortest buffer length at which the verdict can change: where the
 *   request could complete OR an error could show. Header lines are judged at
 *   their CRLF (as Redis does), a type byte as soon as it arrives, and bulk
 *   data only at its trailing CRLF, so inside a bulk payload need jumps to the
 *   byte after the payload: a caller that waits for need skips re-parsing a
 *   large value read in pieces. It is never more than the real length of a
 *   valid request, nor past the byte that reveals an invalid one, so a caller
 *   that waits for it never waits for bytes that will not come.
 */
#include "resp.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The fast path for header numbers handles up to this many digits; that
 * many cannot overflow an unsigned long long (10^18 < 2^63), and real
 * lengths have at most 7. */
#define FAST_DIGITS_MAX 18u

/* need is computed in size_t without overflow checks: the largest term it
 * adds to a position, RESP_MAX_BULK + 1, is far below 2^32. */
_Static_assert(RESP_MAX_BULK < (1ull << 32), "need arithmetic could overflow");
_Static_assert(RESP_INLINE_MAX >= 64, "header lines must fit a 20-digit number");

/* The limits in force: the caller's tighter ones, or the defaults. */
static inline size_t max_args(const resp_request *req)
{
    return req->max_args != 0 && req->max_args < RESP_MAX_ARGS ? req->max_args : RESP_MAX_ARGS;
}

static inline size_t max_bulk(const resp_request *req)
{
    return req->max_bulk != 0 && req->max_bulk < RESP_MAX_BULK ? req->max_bulk : RESP_MAX_BULK;
}

/* Over a limit: say whether only the caller's tighter limit was passed. */
static resp_status over_args(resp_request *req, long long n)
{
    req->over_limit = n <= (long long)RESP_MAX_ARGS;
    return RESP_ERR_MBULK_LEN;
}

static resp_status bad_bulk(resp_request *req, long long bl)
{
    req->over_limit = bl >= 0 && bl <= (long long)RESP_MAX_BULK;
    return RESP_ERR_BULK_LEN;
}

static resp_status incomplete(resp_request *req, size_t need)
{
    req->need = need;
    return RESP_INCOMPLETE;
}

/* ---- Numbers -------------------------------------------------------------- */

/* Strict decimal like Redis's string2ll(): "0", or an optional '-' then a
 * digit 1-9 then digits; the value must fit a long long. */
static bool parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0)
        return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        s++;
        n--;
        if (n == 0)
            return false;
    }
    if (s[0] < '1' || s[0] > '9')
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9)
            return false;
        if (v > (~0ull - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1ull)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1ull ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

/* ---- Header lines (`*N\r\n`, `$len\r\n`) ----------------------------------- */

typedef enum {
    HDR_OK,      /* *val parsed, *next is just past the "\r\n" */
    HDR_NEED,    /* no '\r' yet: at least "\r\n" is still missing */
    HDR_NEED_LF, /* *val parsed, the line ends in a '\r' that is the last byte */
    HDR_TOO_BIG, /* no '\r' within RESP_INLINE_MAX bytes */
    HDR_BAD,     /* not a number, or '\r' not followed by '\n' */
} hdr_result;

/* The general case: find the line's '\r' within the limit, then parse. */
static hdr_result read_header_slow(const char *p, const char *end, long long *val,
                                   const char **next)
{
    size_t avail = (size_t)(end - p);
    size_t window = avail < RESP_INLINE_MAX ? avail : RESP_INLINE_MAX;
    const char *cr = memchr(p, '\r', window);
    if (cr == NULL)
        return avail >= RESP_INLINE_MAX ? HDR_TOO_BIG : HDR_NEED;
    if (!parse_ll(p + 1, (size_t)(cr - (p + 1)), val))
        return HDR_BAD;
    if (cr + 1 == end)
        return HDR_NEED_LF;
    if (cr[1] != '\n')
        return HDR_BAD;
    *next = cr + 2;
    return HDR_OK;
}

/* p points at the type byte ('*' or '$'), p < end. The fast path takes the
 * common shape (a short non-negative number then "\r\n") with no call; it
 * accepts exactly what the slow path would accept for that shape. */
static inline hdr_result read_header(const char *p, const char *end, long long *val,
                                     const char **next)
{
    const char *q = p + 1;
    size_t avail = (size_t)(end - q);
    if (avail >= 3 && q[0] >= '0' && q[0] <= '9') {
        unsigned long long v = (unsigned)(q[0] - '0');
        size_t i = 1;
        if (q[0] != '0') {
            size_t lim = avail < FAST_DIGITS_MAX ? avail : FAST_DIGITS_MAX;
            for (; i < lim; i++) {
                unsigned d = (unsigned char)q[i] - (unsigned)'0';
                if (d > 9)
                    break;
                v = v * 10 + d;
            }
        }
        if (i + 1 < avail && q[i] == '\r' && q[i + 1] == '\n') {
            *val = (long long)v;
            *next = q + i + 2;
            return HDR_OK;
        }
    }
    return read_header_slow(p, end, val, next);
}

/* ---- Multibulk ------------------------------------------------------------ */

static resp_status read_multibulk(const char *buf, size_t len, resp_request *req, size_t resume_off,
                                  size_t resume_argc)
{
    const char *end = buf + len;
    const char *p = NULL;
    long long n = 0;

    switch (read_header(buf, end, &n, &p)) {
    case HDR_OK:
        break;
    case HDR_NEED:
        return incomplete(req, len + 2);
    case HDR_NEED_LF:
        if (n > (long long)max_args(req))
            return over_args(req, n);
        return incomplete(req, len + 1);
    case HDR_TOO_BIG:
        return RESP_ERR_MBULK_TOO_BIG;
    case HDR_BAD:
        return RESP_ERR_MBULK_LEN;
    }
    if (n > (long long)max_args(req))
        return over_args(req, n);
    if (n <= 0) {
        /* `*0` and `*-1`: Redis drops them and runs nothing. */
        req->consumed = (size_t)(p - buf);
        return RESP_OK;
    }

    const size_t argc = (size_t)n;
    const size_t cap = req->argv_cap;
    resp_view *argv = req->argv;

    /* Resume where the caller's last call on this request stopped: the
     * arguments before resume_off were parsed then (and their views kept). */
    size_t i = 0;
    if (resume_argc > 0 && resume_argc < argc && resume_off > (size_t)(p - buf) &&
        resume_off <= len) {
        i = resume_argc;
        p = buf + resume_off;
    }
/* An INCOMPLETE inside the arguments: remember where argument i starts. */
#define INCOMPLETE_AT(need_)                                                                       \
    do {                                                                                           \
        req->resume_off = (size_t)(arg_start - buf);                                               \
        req->resume_argc = i;                                                                      \
        return incomplete(req, (need_));                                                           \
    } while (0)

    for (; i < argc; i++) {
        const char *arg_start = p;
        if (p == end)
            INCOMPLETE_AT(len + 1); /* the type byte can be wrong */
        if (*p != '$') {
            req->bad_byte = *p;
            return RESP_ERR_EXPECTED_DOLLAR;
        }
        long long bl = 0;
        const char *data = NULL;
        switch (read_header(p, end, &bl, &data)) {
        case HDR_OK:
            break;
        case HDR_NEED:
            INCOMPLETE_AT(len + 2); /* the header's CRLF is still to come */
        case HDR_NEED_LF:
            if (bl < 0 || bl > (long long)max_bulk(req))
                return bad_bulk(req, bl);
            INCOMPLETE_AT(len + 1);
        case HDR_TOO_BIG:
            return RESP_ERR_BULK_TOO_BIG;
        case HDR_BAD:
            return RESP_ERR_BULK_LEN;
        }
        if (bl < 0 || bl > (long long)max_bulk(req))
            return bad_bulk(req, bl);

        size_t blen = (size_t)bl;
        size_t avail = (size_t)(end - data);
        if (avail < blen + 2) {
            if (avail > blen && data[blen] != '\r')
                return RESP_ERR_BULK_CRLF;
            /* Payload bytes cannot be wrong: the next verdict is at its CR. */
            INCOMPLETE_AT(avail > blen ? len + 1 : (size_t)(data - buf) + blen + 1);
        }
        if (data[blen] != '\r' || data[blen + 1] != '\n')
            return RESP_ERR_BULK_CRLF;
        if (i < cap) {
            argv[i].ptr = data;
            argv[i].len = blen;
        }
        p = data + blen + 2;
    }
#undef INCOMPLETE_AT

    req->argc = argc;
    if (argc > cap)
        return RESP_ARGV_SMALL;
    req->consumed = (size_t)(p - buf);
    assert(req->consumed <= len);
    return RESP_OK;
}

/* ---- Inline --------------------------------------------------------------- */

/* isspace() in the C locale, which sdssplitargs() uses to skip blanks
 * between arguments and to check the byte after a closing quote. */
static inline bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* What ends an unquoted argument in sdssplitargs(): note that \v and \f do
 * not (they skip as leading blanks but are kept inside an argument). */
static inline bool ends_word(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Split line[0..n) into req->scratch following sdssplitargs(), except that
 * NUL is a byte like any other:
 *   - blanks (isspace) separate arguments;
 *   - "double quotes": \n \r \t \b \a and \xHH are escapes, any other \c is c;
 *   - 'single quotes': only \' is an escape, any other byte is itself;
 *   - quotes may start in the middle of a word (a"b c" is `ab c`), but a
 *     closing quote must be followed by a blank or the end of the line;
 *   - an unterminated quote is an error.
 * Returns the argument count, or -1 for unbalanced quotes. Views past
 * argv_cap are counted but not stored. */
static long split_inline(const char *line, size_t n, resp_request *req)
{
    const char *p = line;
    const char *end = line + n;
    char *out = req->scratch;
    size_t argc = 0;

    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            break;

        char *start = out;
        for (;;) {
            if (p == end)
                break;
            char c = *p;
            if (ends_word(c))
                break;
            if (c == '"') {
                p++;
                for (;;) {
                    if (p == end)
                        return -1;
                    if (*p == '\\' && end - p >= 4 && p[1] == 'x' && hex_value(p[2]) >= 0 &&
                        hex_value(p[3]) >= 0) {
                        *out++ = (char)(hex_value(p[2]) * 16 + hex_value(p[3]));
                        p += 4;
                    } else if (*p == '\\' && end - p >= 2) {
                        char e = p[1];
                        switch (e) {
                        case 'n':
                            e = '\n';
                            break;
                        case 'r':
                            e = '\r';
                            break;
                        case 't':
                            e = '\t';
                            break;
                        case 'b':
                            e = '\b';
                            break;
                        case 'a':
                            e = '\a';
                            break;
                        default:
                            break;
                        }
                        *out++ = e;
                        p += 2;
                    } else if (*p == '"') {
                        p++;
                        if (p < end && !is_blank(*p))
                            return -1;
                        goto word_done;
                    } else {
                        *out++ = *p++;
                    }
                }
            } else if (c == '\'') {
                p++;
                for (;;) {
                    if (p == end)
                        return -1;
                    if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
                        *out++ = '\'';
                        p += 2;
                    } else if (*p == '\'') {
                        p++;
                        if (p < end && !is_blank(*p))
                            return -1;
                        goto word_done;
                    } else {
                        *out++ = *p++;
                    }
                }
            } else {
                *out++ = c;
                p++;
            }
        }
    word_done:
        if (argc < req->argv_cap) {
            req->argv[argc].ptr = start;
            req->argv[argc].len = (size_t)(out - start);
        }
        argc++;
    }
    assert((size_t)(out - req->scratch) <= n);
    return (long)argc;
}

static resp_status read_inline(const char *buf, size_t len, resp_request *req)
{
    size_t window = len < RESP_INLINE_MAX ? len : RESP_INLINE_MAX;
    const char *nl = memchr(buf, '\n', window);
    if (nl == NULL) {
        if (len >= RESP_INLINE_MAX)
            return RESP_ERR_INLINE_TOO_BIG;
        return incomplete(req, len + 1);
    }
    const char *end = nl;
    if (end > buf && end[-1] == '\r')
        end--;
    /* A NUL is an ordinary byte of its argument. (sdssplitargs() works on a
     * C string and would stop at it: "GET 1\0 2" would read key 1, another
     * key than the client named.) */

    assert(req->scratch != NULL || end == buf);
    long argc = split_inline(buf, (size_t)(end - buf), req);
    if (argc < 0)
        return RESP_ERR_QUOTES;
    req->argc = (size_t)argc;
    if (req->argc > req->argv_cap)
        return RESP_ARGV_SMALL;
    req->consumed = (size_t)(nl - buf) + 1;
    return RESP_OK;
}

/* ---- Entry points --------------------------------------------------------- */

resp_status resp_read(const char *buf, size_t len, resp_request *req)
{
    assert(req != NULL);
    assert(buf != NULL || len == 0);
    assert(req->argv != NULL || req->argv_cap == 0);

    req->argc = 0;
    req->consumed = 0;
    req->need = 0;
    req->bad_byte = 0;
    req->over_limit = false;
    size_t resume_off = req->resumable ? req->resume_off : 0;
    size_t resume_argc = req->resumable ? req->resume_argc : 0;
    req->resume_off = req->resume_argc = 0;
    if (len == 0)
        return incomplete(req, 1);

    resp_status st = buf[0] == '*' ? read_multibulk(buf, len, req, resume_off, resume_argc)
                                   : read_inline(buf, len, req);

    assert(st == RESP_OK ? req->consumed > 0 && req->consumed <= len : req->consumed == 0);
    assert(st != RESP_OK || req->argc <= req->argv_cap);
    assert(st != RESP_INCOMPLETE || req->need > len);
    return st;
}

const char *resp_strerror(resp_status st, const resp_request *req, char *dst, size_t dstlen)
{
    const char *text = NULL;
    switch (st) {
    case RESP_OK:
        text = "no error";
        break;
    case RESP_INCOMPLETE:
        text = "incomplete request";
        break;
    case RESP_ARGV_SMALL:
        text = "argument vector too small";
        break;
    case RESP_ERR_MBULK_LEN:
        text = "invalid multibulk length";
        break;
    case RESP_ERR_BULK_LEN:
        text = "invalid bulk length";
        break;
    case RESP_ERR_INLINE_TOO_BIG:
        text = "too big inline request";
        break;
    case RESP_ERR_MBULK_TOO_BIG:
        text = "too big mbulk count string";
        break;
    case RESP_ERR_BULK_TOO_BIG:
        text = "too big bulk count string";
        break;
    case RESP_ERR_QUOTES:
        text = "unbalanced quotes in request";
        break;
    case RESP_ERR_BULK_CRLF:
        text = "invalid bulk format: no CRLF after bulk data";
        break;
    case RESP_ERR_EXPECTED_DOLLAR: {
        /* Redis prints the raw byte. NUL cannot live in a C string and CR/LF
         * would break the error line (Redis turns those into spaces too). */
        char c = req != NULL ? req->bad_byte : '?';
        if (c == '\0' || c == '\r' || c == '\n')
            c = ' ';
        if (dstlen > 0)
            snprintf(dst, dstlen, "expected '$', got '%c'", c);
        return dst;
    }
    }
    if (text == NULL)
        text = "unknown protocol error";
    if (dstlen > 0)
        snprintf(dst, dstlen, "%s", text);
    return dst;
}
