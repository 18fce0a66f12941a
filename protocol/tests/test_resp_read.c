/*
 * test_resp_read.c - the request reader against a table of valid requests
 * (every truncated prefix must be INCOMPLETE with an honest need), a table of
 * malformed ones (each with its status and Redis's text), pipelines, the
 * argv-growth protocol and the limits.
 */
#include "resp.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t n;
} blob;

/* A string literal with its exact length (it may hold NUL bytes). */
#define B(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

#define MAX_TEST_ARGS 8

typedef struct {
    blob wire; /* exactly one request */
    size_t argc;
    blob argv[MAX_TEST_ARGS];
} valid_case;

static const valid_case valid[] = {
    /* multibulk */
    {B("*1\r\n$4\r\nPING\r\n"), 1, {B("PING")}},
    {B("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"), 3, {B("SET"), B("key"), B("value")}},
    {B("*2\r\n$4\r\nECHO\r\n$6\r\na\0b\r\nc\r\n"), 2, {B("ECHO"), B("a\0b\r\nc")}},
    {B("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"), 2, {B("ECHO"), B("")}},
    {B("*3\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n"), 3, {B(""), B(""), B("")}},
    {B("*1\r\n$12\r\nhello world!\r\n"), 1, {B("hello world!")}},
    {B("*2\r\n$3\r\nGET\r\n$16\r\nkey:000000012345\r\n"), 2, {B("GET"), B("key:000000012345")}},
    {B("*1\r\n$2\r\n\r\n\r\n"), 1, {B("\r\n")}},
    {B("*1\r\n$3\r\n$1\n\r\n"), 1, {B("$1\n")}},
    {B("*1\r\n$1\r\n*\r\n"), 1, {B("*")}},
    {B("*0\r\n"), 0, {{NULL, 0}}},
    {B("*-1\r\n"), 0, {{NULL, 0}}},
    {B("*-42\r\n"), 0, {{NULL, 0}}},
    /* inline */
    {B("PING\r\n"), 1, {B("PING")}},
    {B("PING\n"), 1, {B("PING")}},
    {B("SET k v\r\n"), 3, {B("SET"), B("k"), B("v")}},
    {B("  GET \t  k   \r\n"), 2, {B("GET"), B("k")}},
    {B("\r\n"), 0, {{NULL, 0}}},
    {B("\n"), 0, {{NULL, 0}}},
    {B("  \t \r\n"), 0, {{NULL, 0}}},
    {B("\v\fPING\r\n"), 1, {B("PING")}},
    {B("a\vb\fc\r\n"), 1, {B("a\vb\fc")}},
    {B("a\rb\r\n"), 2, {B("a"), B("b")}},
    {B("x\r\r\n"), 1, {B("x")}},
    {B("SET \"a b\" 'c d'\r\n"), 3, {B("SET"), B("a b"), B("c d")}},
    {B("SET \"\" ''\r\n"), 3, {B("SET"), B(""), B("")}},
    {B("ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\x41\\x7a\\q\"\r\n"),
     2,
     {B("ECHO"), B("\n\r\t\b\a\\\"Azq")}},
    {B("ECHO \"\\x00\\xfF\\x4\\xZZ\"\n"),
     2,
     {B("ECHO"), B("\0\xff"
                   "x4xZZ")}},
    {B("ECHO 'it\\'s' 'a\\nb' '\"' 'x\\\\y'\r\n"),
     5,
     {B("ECHO"), B("it's"), B("a\\nb"), B("\""), B("x\\\\y")}},
    {B("ECHO \"a'b\" 'c\"d'\r\n"), 3, {B("ECHO"), B("a'b"), B("c\"d")}},
    {B("a\"b c\" d\r\n"), 2, {B("ab c"), B("d")}},
    {B("a'b c'\r\n"), 1, {B("ab c")}},
    {B("\"x\"\t'y'\v\"z\"\r\n"), 3, {B("x"), B("y"), B("z")}},
    {B("\"x\"\r\r\n"), 1, {B("x")}},
    {B("\"a\rb\"\r\n"), 1, {B("a\rb")}},
    /* NUL is an ordinary byte: it neither ends the line nor an argument. */
    {B("GET 1\0 2\r\n"), 3, {B("GET"), B("1\0"), B("2")}},
    {B("GET 1\0\r\n"), 2, {B("GET"), B("1\0")}},
    {B("\0\r\n"), 1, {B("\0")}},
    {B("ECHO \"a\0b\" '\0'\r\n"), 3, {B("ECHO"), B("a\0b"), B("\0")}},
    {B("$3 +x :1\r\n"), 3, {B("$3"), B("+x"), B(":1")}},
};

#define NVALID (sizeof valid / sizeof valid[0])

/* A reader with argv and scratch from the heap, sized exactly, so the
 * sanitizer build catches any write past them. */
typedef struct {
    resp_request req;
} reader;

static void reader_init(reader *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->req.argv = cap ? calloc(cap, sizeof(resp_view)) : NULL;
    r->req.argv_cap = cap;
    r->req.scratch = malloc(RESP_INLINE_MAX);
    cr_assert(r->req.scratch != NULL);
}

static void reader_deinit(reader *r)
{
    free(r->req.argv);
    free(r->req.scratch);
}

/* Copy buf into an exact-size heap block so over-reads are caught. */
static char *exact_copy(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    cr_assert(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

static void check_views(const valid_case *vc, const resp_request *req, const char *buf, size_t len,
                        const char *what)
{
    cr_assert_eq(req->argc, vc->argc, "%s: argc %zu, want %zu", what, req->argc, vc->argc);
    for (size_t i = 0; i < vc->argc; i++) {
        const resp_view *v = &req->argv[i];
        cr_assert_eq(v->len, vc->argv[i].n, "%s: arg %zu len %zu want %zu", what, i, v->len,
                     vc->argv[i].n);
        cr_assert(v->len == 0 || memcmp(v->ptr, vc->argv[i].p, v->len) == 0,
                  "%s: arg %zu bytes differ", what, i);
        bool in_buf = v->ptr >= buf && v->ptr + v->len <= buf + len;
        bool in_scratch =
            v->ptr >= req->scratch && v->ptr + v->len <= req->scratch + RESP_INLINE_MAX;
        cr_assert(in_buf || in_scratch, "%s: arg %zu view outside buf and scratch", what, i);
        if (vc->wire.p[0] == '*')
            cr_assert(in_buf, "%s: multibulk view must point into buf", what);
        else
            cr_assert(in_scratch, "%s: inline view must point into scratch", what);
    }
}

Test(resp_read, valid_requests_parse_exactly)
{
    reader r;
    reader_init(&r, MAX_TEST_ARGS);
    for (size_t k = 0; k < NVALID; k++) {
        const valid_case *vc = &valid[k];
        char *buf = exact_copy(vc->wire.p, vc->wire.n);
        resp_status st = resp_read(buf, vc->wire.n, &r.req);
        cr_assert_eq(st, RESP_OK, "case %zu: status %d", k, st);
        cr_assert_eq(r.req.consumed, vc->wire.n, "case %zu: consumed %zu want %zu", k,
                     r.req.consumed, vc->wire.n);
        char what[32];
        snprintf(what, sizeof what, "case %zu", k);
        check_views(vc, &r.req, buf, vc->wire.n, what);
        free(buf);
    }
    reader_deinit(&r);
}

Test(resp_read, every_prefix_is_incomplete_with_honest_need)
{
    reader r;
    reader_init(&r, MAX_TEST_ARGS);
    for (size_t k = 0; k < NVALID; k++) {
        const valid_case *vc = &valid[k];
        /* "PING\0junk" is complete at its '\n' only; all prefixes lack it. */
        for (size_t l = 0; l < vc->wire.n; l++) {
            char *buf = exact_copy(vc->wire.p, l);
            r.req.consumed = 12345;
            resp_status st = resp_read(buf, l, &r.req);
            cr_assert_eq(st, RESP_INCOMPLETE, "case %zu prefix %zu: status %d", k, l, st);
            cr_assert_eq(r.req.consumed, 0, "case %zu prefix %zu consumed", k, l);
            cr_assert(r.req.need > l && r.req.need <= vc->wire.n,
                      "case %zu prefix %zu: need %zu not in (%zu, %zu]", k, l, r.req.need, l,
                      vc->wire.n);
            free(buf);
        }
    }
    reader_deinit(&r);
}

/* All valid requests back to back, parsed in order, and then the same
 * stream cut at every length (a connection that received only part). */
Test(resp_read, pipeline_of_all_valid_requests)
{
    size_t total = 0;
    for (size_t k = 0; k < NVALID; k++)
        total += valid[k].wire.n;
    char *all = malloc(total);
    size_t *starts = malloc((NVALID + 1) * sizeof *starts);
    size_t off = 0;
    for (size_t k = 0; k < NVALID; k++) {
        starts[k] = off;
        memcpy(all + off, valid[k].wire.p, valid[k].wire.n);
        off += valid[k].wire.n;
    }
    starts[NVALID] = total;

    reader r;
    reader_init(&r, MAX_TEST_ARGS);
    for (size_t cut = 0; cut <= total; cut++) {
        char *buf = exact_copy(all, cut);
        size_t pos = 0;
        size_t k = 0;
        for (;;) {
            resp_status st = resp_read(buf + pos, cut - pos, &r.req);
            if (k < NVALID && starts[k + 1] <= cut) {
                cr_assert_eq(st, RESP_OK, "cut %zu req %zu: status %d", cut, k, st);
                cr_assert_eq(pos + r.req.consumed, starts[k + 1], "cut %zu req %zu", cut, k);
                char what[48];
                snprintf(what, sizeof what, "cut %zu req %zu", cut, k);
                check_views(&valid[k], &r.req, buf + pos, cut - pos, what);
                pos += r.req.consumed;
                k++;
                continue;
            }
            cr_assert_eq(st, RESP_INCOMPLETE, "cut %zu req %zu: status %d", cut, k, st);
            cr_assert_eq(r.req.consumed, 0);
            size_t have = cut - pos;
            size_t full = k < NVALID ? valid[k].wire.n : SIZE_MAX;
            cr_assert(r.req.need > have && r.req.need <= full,
                      "cut %zu req %zu: need %zu not in (%zu, %zu]", cut, k, r.req.need, have,
                      full);
            break;
        }
        cr_assert_eq(pos, starts[k]);
        free(buf);
    }
    reader_deinit(&r);
    free(starts);
    free(all);
}

/* Deterministic random binary multibulk commands: full parse and every
 * prefix, exercising multi-digit lengths and arbitrary payload bytes. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

Test(resp_read, random_binary_multibulk_and_prefixes)
{
    reader r;
    reader_init(&r, MAX_TEST_ARGS);
    char wire[8192];
    char payload[MAX_TEST_ARGS][1200];
    size_t plen[MAX_TEST_ARGS];
    for (int iter = 0; iter < 300; iter++) {
        size_t argc = 1 + rnd() % MAX_TEST_ARGS;
        size_t n = (size_t)snprintf(wire, sizeof wire, "*%zu\r\n", argc);
        for (size_t i = 0; i < argc; i++) {
            uint32_t sh = rnd() % 4;
            plen[i] = sh == 0 ? 0 : sh == 1 ? rnd() % 10 : sh == 2 ? rnd() % 150 : rnd() % 1200;
            for (size_t j = 0; j < plen[i]; j++)
                payload[i][j] = (char)(rnd() & 0xff);
            n += (size_t)snprintf(wire + n, sizeof wire - n, "$%zu\r\n", plen[i]);
            memcpy(wire + n, payload[i], plen[i]);
            n += plen[i];
            memcpy(wire + n, "\r\n", 2);
            n += 2;
        }
        char *buf = exact_copy(wire, n);
        cr_assert_eq(resp_read(buf, n, &r.req), RESP_OK);
        cr_assert_eq(r.req.consumed, n);
        cr_assert_eq(r.req.argc, argc);
        for (size_t i = 0; i < argc; i++) {
            cr_assert_eq(r.req.argv[i].len, plen[i]);
            cr_assert(plen[i] == 0 || memcmp(r.req.argv[i].ptr, payload[i], plen[i]) == 0);
        }
        free(buf);
        for (size_t l = 0; l < n; l++) {
            buf = exact_copy(wire, l);
            cr_assert_eq(resp_read(buf, l, &r.req), RESP_INCOMPLETE, "iter %d prefix %zu", iter, l);
            cr_assert(r.req.need > l && r.req.need <= n, "iter %d prefix %zu need %zu full %zu",
                      iter, l, r.req.need, n);
            free(buf);
        }
    }
    reader_deinit(&r);
}

/* ---- Malformed input ------------------------------------------------------ */

typedef struct {
    blob wire;
    resp_status st;
    const char *text;
} bad_case;

static const bad_case bad[] = {
    {B("*abc\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1x\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*+1\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("* 1\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1 \r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*01\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*-0\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*-\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*0x10\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1048577\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1048577\r"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*9223372036854775807\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*99999999999999999999\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*-99999999999999999999\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1\n$4\r\nPING\r\n"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1\rX"), RESP_ERR_MBULK_LEN, "invalid multibulk length"},
    {B("*1\r\n$-1\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$-1\r"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$abc\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$4 \r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$+4\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$04\r\nPING\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$1048577\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$99999999999999999999\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$4\nPING\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$4\rPING\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*2\r\n$4\r\nECHO\r\n$x\r\n"), RESP_ERR_BULK_LEN, "invalid bulk length"},
    {B("*1\r\n$4\r\nPINGXX"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n$4\r\nPINGX"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n$4\r\nPING\rX"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n$4\r\nPING\n\r"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n$3\r\nPING\r\n"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n$5\r\nPING\r\n"), RESP_ERR_BULK_CRLF, "invalid bulk format: no CRLF after bulk data"},
    {B("*1\r\n:1\r\n"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got ':'"},
    {B("*1\r\n:"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got ':'"},
    {B("*2\r\n$4\r\nECHO\r\n+x\r\n"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got '+'"},
    {B("*2\r\n$4\r\nECHO\r\n*1\r\n"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got '*'"},
    {B("*1\r\nPING\r\n"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got 'P'"},
    {B("*1\r\n\r\n"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got ' '"},
    {B("*1\r\n\0"), RESP_ERR_EXPECTED_DOLLAR, "expected '$', got ' '"},
    {B("SET \"a\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("SET 'a\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("SET \"a\"b\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("SET 'a'b\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("SET \"a\"\"b\"\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("ECHO \"abc\\\"\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("ECHO \"abc\\\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("ECHO 'abc\\'\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("PING\0junk \"\r\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
    {B("\"\n"), RESP_ERR_QUOTES, "unbalanced quotes in request"},
};

#define NBAD (sizeof bad / sizeof bad[0])

Test(resp_read, malformed_requests_give_their_error)
{
    reader r;
    reader_init(&r, MAX_TEST_ARGS);
    for (size_t k = 0; k < NBAD; k++) {
        char *buf = exact_copy(bad[k].wire.p, bad[k].wire.n);
        resp_status st = resp_read(buf, bad[k].wire.n, &r.req);
        cr_assert_eq(st, bad[k].st, "case %zu: status %d want %d", k, st, bad[k].st);
        cr_assert_eq(r.req.consumed, 0, "case %zu consumed", k);
        char text[128];
        resp_strerror(st, &r.req, text, sizeof text);
        cr_assert_str_eq(text, bad[k].text, "case %zu", k);
        free(buf);
    }
    reader_deinit(&r);
}

Test(resp_read, expected_dollar_keeps_the_byte)
{
    reader r;
    reader_init(&r, 4);
    cr_assert_eq(resp_read("*1\r\n\r\n", 6, &r.req), RESP_ERR_EXPECTED_DOLLAR);
    cr_assert_eq(r.req.bad_byte, '\r');
    cr_assert_eq(resp_read("*1\r\n\xff", 5, &r.req), RESP_ERR_EXPECTED_DOLLAR);
    cr_assert_eq(r.req.bad_byte, '\xff');
    reader_deinit(&r);
}

/* A long run of `c` (no line end) of n bytes after an optional prefix. */
static char *filled(const char *prefix, char c, size_t n)
{
    size_t pl = strlen(prefix);
    char *b = malloc(n);
    cr_assert(b != NULL && n >= pl);
    memcpy(b, prefix, pl);
    memset(b + pl, c, n - pl);
    return b;
}

Test(resp_read, too_big_inline_request)
{
    reader r;
    reader_init(&r, 4);
    char *b = filled("", 'a', RESP_INLINE_MAX);
    cr_assert_eq(resp_read(b, RESP_INLINE_MAX - 1, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, RESP_INLINE_MAX);
    cr_assert_eq(resp_read(b, RESP_INLINE_MAX, &r.req), RESP_ERR_INLINE_TOO_BIG);
    char text[64];
    cr_assert_str_eq(resp_strerror(RESP_ERR_INLINE_TOO_BIG, &r.req, text, sizeof text),
                     "too big inline request");
    /* The longest line that fits: RESP_INLINE_MAX - 1 bytes then '\n'. */
    b[RESP_INLINE_MAX - 1] = '\n';
    cr_assert_eq(resp_read(b, RESP_INLINE_MAX, &r.req), RESP_OK);
    cr_assert_eq(r.req.argc, 1);
    cr_assert_eq(r.req.argv[0].len, RESP_INLINE_MAX - 1);
    cr_assert_eq(r.req.consumed, RESP_INLINE_MAX);
    free(b);
    reader_deinit(&r);
}

Test(resp_read, too_big_count_strings)
{
    reader r;
    reader_init(&r, 4);
    char *b = filled("*", '1', RESP_INLINE_MAX);
    cr_assert_eq(resp_read(b, RESP_INLINE_MAX - 1, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(resp_read(b, RESP_INLINE_MAX, &r.req), RESP_ERR_MBULK_TOO_BIG);
    char text[64];
    cr_assert_str_eq(resp_strerror(RESP_ERR_MBULK_TOO_BIG, &r.req, text, sizeof text),
                     "too big mbulk count string");
    free(b);

    size_t n = 4 + RESP_INLINE_MAX;
    b = filled("*1\r\n$", '7', n);
    cr_assert_eq(resp_read(b, n - 1, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(resp_read(b, n, &r.req), RESP_ERR_BULK_TOO_BIG);
    cr_assert_str_eq(resp_strerror(RESP_ERR_BULK_TOO_BIG, &r.req, text, sizeof text),
                     "too big bulk count string");
    free(b);
    reader_deinit(&r);
}

Test(resp_read, limits_are_inclusive)
{
    reader r;
    reader_init(&r, 4);
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "*%u\r\n", RESP_MAX_ARGS);
    cr_assert_eq(resp_read(hdr, (size_t)n, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, (size_t)n + 1);
    n = snprintf(hdr, sizeof hdr, "*1\r\n$%u\r\n", RESP_MAX_BULK);
    cr_assert_eq(resp_read(hdr, (size_t)n, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, (size_t)n + RESP_MAX_BULK + 1);

    size_t total = (size_t)n + RESP_MAX_BULK + 2;
    char *b = malloc(total);
    memcpy(b, hdr, (size_t)n);
    memset(b + n, 'v', RESP_MAX_BULK);
    memcpy(b + n + RESP_MAX_BULK, "\r\n", 2);
    cr_assert_eq(resp_read(b, total, &r.req), RESP_OK);
    cr_assert_eq(r.req.argv[0].len, RESP_MAX_BULK);
    cr_assert_eq(r.req.consumed, total);
    free(b);
    reader_deinit(&r);
}

Test(resp_read, need_skips_payload_but_not_possible_errors)
{
    reader r;
    reader_init(&r, 4);
    /* A parsed $len promises the payload: the next verdict is at its CR. */
    cr_assert_eq(resp_read("*1\r\n$1000\r\n", 11, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 11 + 1000 + 1);
    cr_assert_eq(resp_read("*1\r\n$1000\r\nabc", 14, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 11 + 1000 + 1);
    /* Anywhere else the very next byte may already be an error. */
    cr_assert_eq(resp_read("*3\r\n", 4, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 5);
    cr_assert_eq(resp_read("*2\r\n$1\r\na\r\n", 11, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 12);
    /* A header line is judged at its CRLF. */
    cr_assert_eq(resp_read("*1\r\n$", 5, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 7);
    cr_assert_eq(resp_read("*1\r\n$5\r", 7, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 8);
    cr_assert_eq(resp_read("", 0, &r.req), RESP_INCOMPLETE);
    cr_assert_eq(r.req.need, 1);
    reader_deinit(&r);
}

Test(resp_read, need_never_passes_the_byte_that_shows_an_error)
{
    /* Every prefix of a malformed frame must ask for no more bytes than the
     * whole frame, or a client sending exactly that frame would wait forever
     * for its error. */
    static const char *const frames[] = {
        "*1\r\n$-5\r\n", "*1\r\n$abc\r\n", "*2\r\n$1\r\na\r\n:",      "*1\r\n$3\r\nabcXY",
        "*abc\r\n",      "*1\r\n:1\r\n",   "*3\r\n$1\r\na\r\n$x\r\n",
    };
    reader r;
    reader_init(&r, 4);
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++) {
        size_t n = strlen(frames[k]);
        resp_status full = resp_read(frames[k], n, &r.req);
        cr_assert(full != RESP_OK && full != RESP_INCOMPLETE, "case %zu is an error", k);
        for (size_t l = 0; l < n; l++) {
            resp_status st = resp_read(frames[k], l, &r.req);
            if (st != RESP_INCOMPLETE)
                continue; /* already detected earlier: fine */
            cr_assert(r.req.need > l && r.req.need <= n, "case %zu prefix %zu: need %zu > %zu", k,
                      l, r.req.need, n);
        }
    }
    reader_deinit(&r);
}

/* ---- argv growth ---------------------------------------------------------- */

#define GUARD_PTR ((const char *)0x5a5a)

Test(resp_read, argv_small_only_for_complete_requests)
{
    /* cap 2, with guard views after it that must stay untouched. */
    resp_view views[2 + 4];
    for (size_t i = 0; i < 6; i++)
        views[i] = (resp_view){GUARD_PTR, 77};
    char *scratch = malloc(RESP_INLINE_MAX);
    resp_request req = {.argv = views, .argv_cap = 2, .scratch = scratch};

    const char *three = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    size_t n = strlen(three);
    for (size_t l = 0; l < n; l++) {
        cr_assert_eq(resp_read(three, l, &req), RESP_INCOMPLETE, "prefix %zu", l);
        cr_assert(req.need > l && req.need <= n);
    }
    cr_assert_eq(resp_read(three, n, &req), RESP_ARGV_SMALL);
    cr_assert_eq(req.argc, 3);
    cr_assert_eq(req.consumed, 0);
    for (size_t i = 2; i < 6; i++)
        cr_assert(views[i].ptr == GUARD_PTR && views[i].len == 77, "view %zu written", i);

    /* A huge header alone never asks for memory. */
    cr_assert_eq(resp_read("*1000000\r\n$1\r\na\r\n", 17, &req), RESP_INCOMPLETE);
    cr_assert_eq(req.argc, 0);

    /* An error later in the frame wins over the small argv. */
    cr_assert_eq(resp_read("*3\r\n$1\r\na\r\n$1\r\nb\r\n$x\r\n", 23, &req), RESP_ERR_BULK_LEN);

    /* Inline too. */
    cr_assert_eq(resp_read("a b c d\r\n", 9, &req), RESP_ARGV_SMALL);
    cr_assert_eq(req.argc, 4);
    cr_assert_eq(req.consumed, 0);
    for (size_t i = 2; i < 6; i++)
        cr_assert(views[i].ptr == GUARD_PTR && views[i].len == 77, "view %zu written", i);

    /* After growing, the same bytes parse. */
    resp_view *big = calloc(4, sizeof *big);
    req.argv = big;
    req.argv_cap = 4;
    cr_assert_eq(resp_read(three, n, &req), RESP_OK);
    cr_assert_eq(req.argc, 3);
    cr_assert_eq(req.consumed, n);
    cr_assert(big[2].len == 1 && big[2].ptr[0] == 'v');
    cr_assert_eq(resp_read("a b c d\r\n", 9, &req), RESP_OK);
    cr_assert_eq(req.argc, 4);
    cr_assert(big[3].len == 1 && big[3].ptr[0] == 'd');
    free(big);
    free(scratch);
}

Test(resp_read, zero_capacity_argv)
{
    char *scratch = malloc(RESP_INLINE_MAX);
    resp_request req = {.argv = NULL, .argv_cap = 0, .scratch = scratch};
    cr_assert_eq(resp_read("*1\r\n$1\r\na\r\n", 11, &req), RESP_ARGV_SMALL);
    cr_assert_eq(req.argc, 1);
    cr_assert_eq(resp_read("*0\r\n", 4, &req), RESP_OK);
    cr_assert_eq(req.argc, 0);
    cr_assert_eq(req.consumed, 4);
    cr_assert_eq(resp_read("   \r\nPING\r\n", 11, &req), RESP_OK);
    cr_assert_eq(req.argc, 0);
    cr_assert_eq(req.consumed, 5);
    free(scratch);
}

Test(resp_read, strerror_truncates_and_terminates)
{
    char small[5];
    memset(small, 'x', sizeof small);
    resp_strerror(RESP_ERR_BULK_LEN, NULL, small, sizeof small);
    cr_assert_str_eq(small, "inva");
    char one[1] = {'x'};
    resp_strerror(RESP_ERR_QUOTES, NULL, one, 1);
    cr_assert_eq(one[0], '\0');
}

/* ---- resuming ------------------------------------------------------------- */

/* Feed `wire` in chunks of `step` bytes, resuming each time as a connection
 * does; the result must equal a one-shot parse. */
static void resume_in_steps(const char *wire, size_t n, size_t step, size_t cap)
{
    resp_view *argv = calloc(cap, sizeof *argv);
    char *scratch = malloc(RESP_INLINE_MAX);
    /* Two buffers, used in turn: the bytes move at every step, as a
     * realloc may move them, without a malloc per step (thousands of
     * big ones are slow under the sanitizers). */
    char *bufs[2] = {malloc(n), malloc(n)};
    char *buf = bufs[0];
    cr_assert(argv != NULL && scratch != NULL && bufs[0] != NULL && bufs[1] != NULL);
    resp_request req = {.argv = argv, .argv_cap = cap, .scratch = scratch, .resumable = true};
    size_t have = 0;
    resp_status st = RESP_INCOMPLETE;
    unsigned calls = 0;
    while (have < n) {
        /* Move the buffer each time, as a realloc may: views must follow. */
        size_t add = n - have < step ? n - have : step;
        char *moved = buf == bufs[0] ? bufs[1] : bufs[0];
        memcpy(moved, buf, have);
        memset(buf, 0xee, have); /* a view left behind reads garbage */
        memcpy(moved + have, wire + have, add);
        for (size_t i = 0; i < req.resume_argc && i < cap; i++)
            argv[i].ptr = moved + (argv[i].ptr - buf);
        buf = moved;
        have += add;
        st = resp_read(buf, have, &req);
        calls++;
        if (st != RESP_INCOMPLETE)
            break;
    }
    cr_assert_eq(st, RESP_OK, "status %d after %u calls", st, calls);
    cr_assert_eq(req.consumed, n);
    resp_view *one = calloc(cap, sizeof *one);
    resp_request ref = {.argv = one, .argv_cap = cap, .scratch = scratch};
    cr_assert_eq(resp_read(wire, n, &ref), RESP_OK);
    cr_assert_eq(req.argc, ref.argc);
    for (size_t i = 0; i < ref.argc; i++) {
        cr_assert_eq(argv[i].len, one[i].len, "arg %zu", i);
        cr_assert(memcmp(argv[i].ptr, one[i].ptr, one[i].len) == 0, "arg %zu", i);
        cr_assert(argv[i].ptr >= buf && argv[i].ptr + argv[i].len <= buf + n, "view in buf");
    }
    free(one);
    free(argv);
    free(scratch);
    free(bufs[0]);
    free(bufs[1]);
}

Test(resp_read, resumed_parse_equals_one_shot)
{
    /* 5000 arguments of varied sizes, binary, fed in many step sizes. */
    size_t cap = 5001, n = 0, room = 4u << 20;
    char *wire = malloc(room);
    cr_assert(wire != NULL);
    n += (size_t)sprintf(wire + n, "*5000\r\n");
    for (unsigned i = 0; i < 5000; i++) {
        unsigned len = (i * 7919u) % 300u;
        n += (size_t)sprintf(wire + n, "$%u\r\n", len);
        for (unsigned k = 0; k < len; k++)
            wire[n++] = (char)(i + k);
        wire[n++] = '\r';
        wire[n++] = '\n';
    }
    /* Small steps copy the buffer each time: keep them to a prefix-sized
     * request so the test stays fast. */
    size_t steps[] = {97, 1000, 4096, 65536};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
        resume_in_steps(wire, n, steps[k], cap);
    free(wire);
}

Test(resp_read, resumed_parse_still_finds_errors)
{
    /* An error in an argument after the resume point is still reported. */
    const char *wire = "*3\r\n$1\r\na\r\n$1\r\nb\r\n$x\r\n";
    size_t n = strlen(wire);
    resp_view argv[4];
    char *scratch = malloc(RESP_INLINE_MAX);
    resp_request req = {.argv = argv, .argv_cap = 4, .scratch = scratch, .resumable = true};
    cr_assert_eq(resp_read(wire, 18, &req), RESP_INCOMPLETE);
    cr_assert_eq(req.resume_argc, 2);
    cr_assert_eq(req.resume_off, 18);
    cr_assert_eq(resp_read(wire, n, &req), RESP_ERR_BULK_LEN);
    cr_assert_eq(req.resume_argc, 0, "reset after the verdict");
    free(scratch);
}
