/*
 * test_pipeline.c - bytes on the wire: binary-safe values, a 100,000-command
 * pipeline in one write, pipelines split at every byte boundary, and inline
 * commands with Redis's quoting rules.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

TestSuite(pipeline, .init = h_setup, .fini = h_teardown, .timeout = 240);

/* A growable byte buffer for building requests and expected replies. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void badd(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        cr_assert(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof tmp);
    badd(b, tmp, (size_t)n);
}

/* Append a multibulk command; argv entries with explicit lengths. */
static void bcmd(buf *b, int argc, const char *const *argv, const size_t *lens)
{
    bprintf(b, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(argv[i]);
        bprintf(b, "$%zu\r\n", n);
        badd(b, argv[i], n);
        badd(b, "\r\n", 2);
    }
}

static void bbulk(buf *b, const void *p, size_t n)
{
    bprintf(b, "$%zu\r\n", n);
    badd(b, p, n);
    badd(b, "\r\n", 2);
}

/* Send all of `req` and read exactly `want.len` bytes back at the same time
 * (so neither side can block the other), then compare byte for byte. */
static void exchange(h_raw *r, const buf *req, const buf *want)
{
    size_t sent = 0;
    double end = h_now() + 120.0 * h_slow();
    while (sent < req->len || r->len < want->len) {
        cr_assert(h_now() < end, "pipeline timed out: sent %zu/%zu, received %zu/%zu", sent,
                  req->len, r->len, want->len);
        struct pollfd pf = {.fd = r->fd, .events = POLLIN | (sent < req->len ? POLLOUT : 0)};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if ((pf.revents & POLLOUT) && sent < req->len) {
            ssize_t k = send(r->fd, req->p + sent, req->len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                sent += (size_t)k;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t before = r->len;
            h_raw_fill(r, r->len + 1, 0.01);
            cr_assert(r->len > before || !(pf.revents & POLLHUP),
                      "connection closed after %zu of %zu reply bytes", r->len, want->len);
        }
    }
    if (memcmp(r->buf, want->p, want->len) != 0) {
        size_t i = 0;
        while (r->buf[i] == want->p[i])
            i++;
        size_t from = i > 40 ? i - 40 : 0;
        cr_assert_fail("replies differ at byte %zu: expected \"%s\", got \"%s\"", i,
                       h_esc(want->p + from, 120), h_esc(r->buf + from, 120));
    }
    /* Nothing beyond what was asked for. */
    cr_assert_eq(r->len, want->len, "extra reply bytes: \"%s\"",
                 h_esc(r->buf + want->len, r->len - want->len));
    r->len = 0;
}

/* ---- binary values ------------------------------------------------------------ */

ITEST(pipeline, binary_values_round_trip)
{
    const char v1[] = "a\0b\r\nc\n\r\0";
    size_t l1 = sizeof v1 - 1;
    EXPECT_OK(C, "SET %s %b", K("1"), v1, l1);
    EXPECT_BULKN(C, v1, l1, "GET %s", K("1"));
    EXPECT_INT(C, (long long)l1, "STRLEN %s", K("1"));
    /* Every byte value, in two 128-byte values. */
    char lo[128], hi[128];
    for (int i = 0; i < 128; i++) {
        lo[i] = (char)i;
        hi[i] = (char)(128 + i);
    }
    EXPECT_OK(C, "SET %s %b", K("2"), lo, (size_t)128);
    EXPECT_OK(C, "SET %s %b", K("3"), hi, (size_t)128);
    EXPECT_BULKN(C, lo, 128, "GET %s", K("2"));
    EXPECT_BULKN(C, hi, 128, "GET %s", K("3"));
    /* Zero bytes. */
    EXPECT_OK(C, "SET %s %b", K("4"), "", (size_t)0);
    EXPECT_BULKN(C, "", 0, "GET %s", K("4"));
    EXPECT_INT(C, 0, "STRLEN %s", K("4"));
    /* Binary through every command that moves values. */
    EXPECT_INT(C, 4, "APPEND %s %b", K("5"), "\r\n\0\r", (size_t)4);
    EXPECT_INT(C, 8, "APPEND %s %b", K("5"), "\0\0\n\n", (size_t)4);
    EXPECT_BULKN(C, "\r\n\0\r\0\0\n\n", 8, "GET %s", K("5"));
    EXPECT_BULKN(C, "\0\r\0", 3, "GETRANGE %s 2 4", K("5"));
    EXPECT_INT(C, 8, "SETRANGE %s 1 %b", K("5"), "\0", (size_t)1);
    EXPECT_BULKN(C, "\r\0\0\r\0\0\n\n", 8, "GETSET %s %b", K("5"), "\n", (size_t)1);
    EXPECT_BULKN(C, "\n", 1, "GETDEL %s", K("5"));
    EXPECT_OK(C, "MSET %s %b %s %b", K("6"), "\0", (size_t)1, K("7"), "\r\n", (size_t)2);
    redisReply *r = CMD(C, "MGET %s %s", K("6"), K("7"));
    cr_assert(r->element[0]->len == 1 && r->element[0]->str[0] == '\0');
    cr_assert(r->element[1]->len == 2 && memcmp(r->element[1]->str, "\r\n", 2) == 0);
    freeReplyObject(r);
    /* And the exact wire bytes. */
    h_raw *raw = h_raw_open();
    buf req = {0}, want = {0};
    const char *argv[] = {"GET", K("2")};
    bcmd(&req, 2, argv, NULL);
    bbulk(&want, lo, 128);
    argv[1] = K("4");
    bcmd(&req, 2, argv, NULL);
    badd(&want, "$0\r\n\r\n", 6);
    exchange(raw, &req, &want);
    free(req.p);
    free(want.p);
    h_raw_close(raw);
}

/* ---- 100,000 commands in one write ------------------------------------------------ */

ITEST(pipeline, hundred_thousand_commands_in_one_write)
{
    const int n = 100000;
    buf req = {0}, want = {0};
    char key[64], val[160];
    long long counter = 0;
    for (int i = 0; i < n; i++) {
        int kid = (i / 5) % 5000;
        if (H.ns[0] == '\0')
            snprintf(key, sizeof key, "%d", kid);
        else
            snprintf(key, sizeof key, "%s:%d", H.ns, kid);
        switch (i % 5) {
        case 0: {
            /* A value of 0..128 bytes, some with CR LF and NUL inside. */
            size_t vl = (size_t)(i % 129);
            for (size_t j = 0; j < vl; j++) {
                int x = i + (int)j;
                val[j] = (char)(x % 7 == 0 ? '\n' : x % 11 == 0 ? '\0' : 'a' + x % 26);
            }
            const char *argv[] = {"SET", key, val};
            size_t lens[] = {3, strlen(key), vl};
            bcmd(&req, 3, argv, lens);
            badd(&want, "+OK\r\n", 5);
            break;
        }
        case 1: {
            /* GET of the key set just before: same value. */
            const char *argv[] = {"GET", key};
            bcmd(&req, 2, argv, NULL);
            size_t vl = (size_t)((i - 1) % 129);
            bbulk(&want, val, vl);
            break;
        }
        case 2: {
            const char *argv[] = {"INCR", K("999999")};
            bcmd(&req, 2, argv, NULL);
            bprintf(&want, ":%lld\r\n", ++counter);
            break;
        }
        case 3:
            /* An inline command among the multibulk ones. */
            bprintf(&req, "PING\r\n");
            bprintf(&want, "+PONG\r\n");
            break;
        case 4: {
            const char *argv[] = {"ECHO", key};
            bcmd(&req, 2, argv, NULL);
            bbulk(&want, key, strlen(key));
            break;
        }
        }
    }
    h_raw *r = h_raw_open();
    exchange(r, &req, &want);
    h_raw_close(r);
    free(req.p);
    free(want.p);
    EXPECT_BULK(C, "20000", "GET %s", K("999999"));
}

/* ---- byte splits ------------------------------------------------------------------ */

/* A pipeline of varied commands and, for each command, the reply it gets;
 * ends[i] is the request offset where command i ends. */
typedef struct {
    buf req, want;
    size_t req_end[16], want_end[16];
    int n;
} script;

static void script_add(script *s, const char *req, size_t rl, const char *want, size_t wl)
{
    badd(&s->req, req, rl);
    badd(&s->want, want, wl);
    s->req_end[s->n] = s->req.len;
    s->want_end[s->n] = s->want.len;
    s->n++;
}

static void build_script(script *s)
{
    memset(s, 0, sizeof *s);
    buf b = {0};
    const char *k = K("42");
    const char *setv[] = {"SET", k, "v\r\n\0x"};
    size_t setl[] = {3, strlen(k), 5};
    bcmd(&b, 3, setv, setl);
    script_add(s, b.p, b.len, "+OK\r\n", 5);
    b.len = 0;
    const char *getv[] = {"GET", k};
    bcmd(&b, 2, getv, NULL);
    script_add(s, b.p, b.len, "$5\r\nv\r\n\0x\r\n", 11);
    b.len = 0;
    script_add(s, "PING\r\n", 6, "+PONG\r\n", 7);
    bprintf(&b, "ECHO \"a b\\r\\n\" \r\n");
    script_add(s, b.p, b.len, "$5\r\na b\r\n\r\n", 11);
    b.len = 0;
    const char *incrv[] = {"incrby", K("43"), "-12"};
    bcmd(&b, 3, incrv, NULL);
    char w[32];
    int wl = snprintf(w, sizeof w, ":%d\r\n", -12);
    script_add(s, b.p, b.len, w, (size_t)wl);
    b.len = 0;
    const char *delv[] = {"DEL", K("43")};
    bcmd(&b, 2, delv, NULL);
    script_add(s, b.p, b.len, ":1\r\n", 4);
    free(b.p);
}

/* Replies due once the first `sent` request bytes have arrived. */
static size_t want_upto(const script *s, size_t sent)
{
    size_t w = 0;
    for (int i = 0; i < s->n; i++)
        if (s->req_end[i] <= sent)
            w = s->want_end[i];
    return w;
}

ITEST(pipeline, split_at_every_byte_boundary)
{
    script s;
    build_script(&s);
    h_raw *r = h_raw_open();
    for (size_t cut = 1; cut < s.req.len; cut++) {
        h_raw_send(r, s.req.p, cut);
        /* Replies to the commands complete in the first part come back before
         * the rest is sent: the server answered what it could and kept the
         * partial command. */
        size_t w = want_upto(&s, cut);
        if (w > 0)
            RAW_EXPECTN(r, s.want.p, w);
        h_raw_send(r, s.req.p + cut, s.req.len - cut);
        RAW_EXPECTN(r, s.want.p + w, s.want.len - w);
    }
    h_raw_close(r);
    free(s.req.p);
    free(s.want.p);
}

ITEST(pipeline, one_byte_at_a_time)
{
    script s;
    build_script(&s);
    h_raw *r = h_raw_open();
    size_t got = 0;
    for (size_t i = 0; i < s.req.len; i++) {
        h_raw_send(r, s.req.p + i, 1);
        size_t w = want_upto(&s, i + 1);
        if (w > got) {
            RAW_EXPECTN(r, s.want.p + got, w - got);
            got = w;
        }
    }
    cr_assert_eq(got, s.want.len);
    /* Nothing else arrives. */
    h_raw_sends(r, "PING\r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    h_raw_close(r);
    free(s.req.p);
    free(s.want.p);
}

/* ---- inline commands -------------------------------------------------------------- */

ITEST(pipeline, inline_commands_and_quotes)
{
    h_raw *r = h_raw_open();
    char line[256];
    snprintf(line, sizeof line, "SET %s \"hello world\"\r\n", K("1"));
    h_raw_sends(r, line);
    RAW_EXPECT(r, "+OK\r\n");
    snprintf(line, sizeof line, "GET %s\r\n", K("1"));
    h_raw_sends(r, line);
    RAW_EXPECT(r, "$11\r\nhello world\r\n");
    h_raw_sends(r, "ECHO \"a\\x41\\n\\t\\\\\\\"\"\r\n");
    RAW_EXPECT(r, "$6\r\naA\n\t\\\"\r\n");
    h_raw_sends(r, "ECHO 'it\\'s'\r\n");
    RAW_EXPECT(r, "$4\r\nit's\r\n");
    h_raw_sends(r, "ECHO 'no \\n escape'\r\n");
    RAW_EXPECT(r, "$12\r\nno \\n escape\r\n");
    h_raw_sends(r, "ECHO \"\"\r\n");
    RAW_EXPECT(r, "$0\r\n\r\n");
    /* Blanks around and between words; a bare LF ends a line too. */
    h_raw_sends(r, "   ping    \r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    h_raw_sends(r, "PING x\n");
    RAW_EXPECT(r, "$1\r\nx\r\n");
    /* Empty lines run nothing and answer nothing. */
    h_raw_sends(r, "\r\n\r\n\nPING\r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    /* Several inline commands in one write, with a multibulk in between. */
    h_raw_sends(r, "PING a\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\nPING c\r\n");
    RAW_EXPECT(r, "$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    /* Inline errors are the ordinary command errors. */
    h_raw_sends(r, "GET\r\n");
    RAW_EXPECT(r, "-ERR wrong number of arguments for 'get' command\r\n");
    h_raw_sends(r, "FOO \"a b\" c\r\n");
    RAW_EXPECT(r, "-ERR unknown command 'FOO', with args beginning with: 'a b' 'c' \r\n");
    h_raw_close(r);
}

/* A NUL in an inline line is a byte of its argument, as in a multibulk
 * one: it neither ends the line nor an argument, so no request names other
 * bytes than the client sent. Error replies that quote client bytes show a
 * NUL as \0 (cutting there would name another key) and CR or LF as a
 * space (an error line cannot hold them), and quote at most 128 bytes. */
/* Send a string literal with its exact length (it may hold NUL bytes). */
#define SEND_LIT(r, lit) h_raw_send((r), (lit), sizeof(lit) - 1)

ITEST(pipeline, inline_nul_is_an_ordinary_byte)
{
    h_raw *r = h_raw_open();
    char line[256];
    int n = snprintf(line, sizeof line, "SET %s v\r\n", K("1"));
    h_raw_send(r, line, (size_t)n);
    RAW_EXPECT(r, "+OK\r\n");
    /* GET 1\0 2: three arguments. */
    n = snprintf(line, sizeof line, "GET %s", K("1"));
    memcpy(line + n, "\0 2\r\n", 5);
    h_raw_send(r, line, (size_t)n + 5);
    RAW_EXPECT(r, "-ERR wrong number of arguments for 'get' command\r\n");
    /* GET 1\0: the key 1\0, which is not key 1. */
    SEND_LIT(r, "GET 1\0\r\n");
    RAW_EXPECT(r, "-ERR invalid key '1\\0': expected an integer or namespace:integer\r\n");
    SEND_LIT(r, "ECHO a\0b\r\n");
    RAW_EXPECT(r, "$3\r\na\0b\r\n");
    /* The same quoting in multibulk requests, and the connection stays. */
    SEND_LIT(r, "*2\r\n$3\r\nGET\r\n$4\r\n\0\r\n7\r\n");
    RAW_EXPECT(r, "-ERR invalid key '\\0  7': expected an integer or namespace:integer\r\n");
    SEND_LIT(r, "*2\r\n$5\r\nF\0O\nO\r\n$3\r\na\rb\r\n");
    RAW_EXPECT(r, "-ERR unknown command 'F\\0O O', with args beginning with: 'a b' \r\n");
    /* At most 128 bytes of a command name are quoted. */
    char big[400];
    memset(big, 'x', 300);
    memcpy(big + 300, "\r\n", 2);
    h_raw_send(r, big, 302);
    char want[200];
    n = snprintf(want, sizeof want, "-ERR unknown command '%.128s', with args beginning with: \r\n",
                 big);
    RAW_EXPECTN(r, want, (size_t)n);
    h_raw_sends(r, "PING\r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    h_raw_close(r);
}

ITEST(pipeline, large_inline_line_within_limit)
{
    /* A 60 KiB inline line is legal (the limit is 64 KiB). */
    size_t n = 60 * 1024;
    char *line = malloc(n + 16);
    memcpy(line, "ECHO ", 5);
    memset(line + 5, 'z', n - 5);
    memcpy(line + n, "\r\n", 2);
    h_raw *r = h_raw_open();
    h_raw_send(r, line, n + 2);
    char head[32];
    int hl = snprintf(head, sizeof head, "$%zu\r\n", n - 5);
    RAW_EXPECTN(r, head, (size_t)hl);
    RAW_EXPECTN(r, line + 5, n - 5);
    RAW_EXPECT(r, "\r\n");
    h_raw_close(r);
    free(line);
}

ITEST(pipeline, big_bulk_argument_within_limit)
{
    /* Bulk arguments up to the protocol's 1 MiB limit are accepted; ECHO
     * returns them whole. */
    size_t n = 1024 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 31);
    redisReply *rep = CMD(C, "ECHO %b", big, n);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    cr_assert_eq(rep->len, n);
    cr_assert(memcmp(rep->str, big, n) == 0);
    freeReplyObject(rep);
    /* A too-long value is the command error, not a protocol error. */
    EXPECT_ERR(C, "ERR value is 1048576 bytes; the maximum is 128", "SET %s %b", K("1"), big, n);
    EXPECT_STATUS(C, "PONG", "PING");
    free(big);
}

/* ---- batches: requests parsed ahead of running them -------------------------------- */

/* The server parses all the complete requests of one read (up to a batch)
 * before running them, to prefetch their keys. These tests send one write
 * whose requests change what the next ones may do, and check that every
 * request is still answered as if run one at a time. */

static void bcmdv(buf *b, const char *first, ...)
{
    const char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    bcmd(b, argc, argv, NULL);
}

ITEST(pipeline, batch_stops_at_quit_and_at_a_protocol_error)
{
    /* 40 SETs, QUIT, 40 more SETs in one write: the last 40 never run. */
    buf req = {0}, want = {0};
    for (int i = 0; i < 81; i++) {
        if (i == 40) {
            bcmdv(&req, "QUIT", NULL);
        } else {
            char id[16];
            snprintf(id, sizeof id, "%d", i);
            bcmdv(&req, "SET", K(id), "v", NULL);
        }
        if (i <= 40)
            badd(&want, "+OK\r\n", 5);
    }
    h_raw *r = h_raw_open();
    h_raw_send(r, req.p, req.len);
    RAW_EXPECTN(r, want.p, want.len);
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
    EXPECT_INT(C, 1, "EXISTS %s", K("39"));
    EXPECT_INT(C, 0, "EXISTS %s", K("41"));
    EXPECT_INT(C, 0, "EXISTS %s", K("80"));

    /* 50 good requests then a bad frame in one write: 50 replies, then the
     * protocol error, then the connection closes. */
    req.len = want.len = 0;
    for (int i = 0; i < 50; i++) {
        bcmdv(&req, "ECHO", "x", NULL);
        badd(&want, "$1\r\nx\r\n", 7);
    }
    badd(&req, "*1\r\nX\r\n", 7);
    bcmdv(&req, "SET", K("99"), "v", NULL);
    const char pe[] = "-ERR Protocol error: expected '$', got 'X'\r\n";
    badd(&want, pe, sizeof pe - 1);
    r = h_raw_open();
    h_raw_send(r, req.p, req.len);
    RAW_EXPECTN(r, want.p, want.len);
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
    EXPECT_INT(C, 0, "EXISTS %s", K("99"));
    free(req.p);
    free(want.p);
}

ITEST(pipeline, batch_cut_by_big_requests_inline_lines_and_empty_frames)
{
    /* Rounds of: GET, an MSET of 150 keys (301 views, more than a batch
     * holds), MGET of them, an inline PING, `*0` and an empty line (run
     * nothing), a GET again; all in one write, replies in order. */
    buf req = {0}, want = {0};
    for (int round = 0; round < 20; round++) {
        /* key <round> was set to "<round - 1>" by the round before. */
        char k0[64], v0[16];
        snprintf(k0, sizeof k0, "%s%d", K(""), round);
        bcmdv(&req, "GET", k0, NULL);
        if (round == 0) {
            badd(&want, "$-1\r\n", 5);
        } else {
            snprintf(v0, sizeof v0, "%d", round - 1);
            bbulk(&want, v0, strlen(v0));
        }
        bprintf(&req, "*%d\r\n$4\r\nMSET\r\n", 1 + 2 * 150);
        for (int i = 0; i < 150; i++) {
            char k[64], v[16];
            snprintf(k, sizeof k, "%s%d", K(""), 1000 + i);
            snprintf(v, sizeof v, "%d.%d", round, i);
            bbulk(&req, k, strlen(k));
            bbulk(&req, v, strlen(v));
        }
        badd(&want, "+OK\r\n", 5);
        bprintf(&req, "*%d\r\n$4\r\nMGET\r\n", 1 + 150);
        bprintf(&want, "*150\r\n");
        for (int i = 0; i < 150; i++) {
            char k[64], v[16];
            snprintf(k, sizeof k, "%s%d", K(""), 1000 + i);
            snprintf(v, sizeof v, "%d.%d", round, i);
            bbulk(&req, k, strlen(k));
            bbulk(&want, v, strlen(v));
        }
        badd(&req, "PING\r\n*0\r\n\r\n", 12);
        badd(&want, "+PONG\r\n", 7);
        char next[64], val[16];
        snprintf(next, sizeof next, "%s%d", K(""), round + 1);
        snprintf(val, sizeof val, "%d", round);
        bcmdv(&req, "SET", next, val, NULL);
        badd(&want, "+OK\r\n", 5);
    }
    h_raw *r = h_raw_open();
    exchange(r, &req, &want);
    h_raw_close(r);
    free(req.p);
    free(want.p);
}

ITESTX(pipeline, auth_then_requests_past_the_unauthenticated_limits, .init = h_setup_own)
{
    /* Before AUTH, requests are limited to 10 arguments and 16 KiB bulks;
     * AUTH in the same write lifts the limits for what follows it. */
    EXPECT_OK(C, "CONFIG SET requirepass %s", "batch-pw");
    buf req = {0}, want = {0};
    bcmdv(&req, "AUTH", "batch-pw", NULL);
    badd(&want, "+OK\r\n", 5);
    bcmdv(&req, "MSET", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f", NULL);
    badd(&want, "+OK\r\n", 5);
    size_t big = 20000;
    char *text = malloc(big);
    memset(text, 'q', big);
    bprintf(&req, "*2\r\n$4\r\nECHO\r\n");
    bbulk(&req, text, big);
    bbulk(&want, text, big);
    bcmdv(&req, "GET", "6", NULL);
    badd(&want, "$1\r\nf\r\n", 7);
    h_raw *r = h_raw_open();
    exchange(r, &req, &want);
    /* A client that has not logged in still gets the tight limits. */
    h_raw *stranger = h_raw_open();
    req.len = want.len = 0;
    bcmdv(&req, "PING", NULL);
    badd(&req, "*11\r\n", 5);
    const char noauth[] = "-NOAUTH Authentication required.\r\n"
                          "-ERR Protocol error: unauthenticated multibulk length\r\n";
    badd(&want, noauth, sizeof noauth - 1);
    h_raw_send(stranger, req.p, req.len);
    RAW_EXPECTN(stranger, want.p, want.len);
    RAW_EXPECT_CLOSED(stranger);
    h_raw_close(stranger);
    h_raw_close(r);
    free(text);
    free(req.p);
    free(want.p);
}

ITEST(pipeline, sync_shrink_in_a_batch_holds_back_what_follows)
{
    /* SHRINK blocks its client until done; what came after it in the same
     * write runs afterwards, in order. */
    buf req = {0};
    bcmdv(&req, "SET", K("7"), "v", NULL);
    bcmdv(&req, "SHRINK", NULL);
    bcmdv(&req, "GET", K("7"), NULL);
    bcmdv(&req, "PING", NULL);
    h_raw *r = h_raw_open();
    h_raw_send(r, req.p, req.len);
    RAW_EXPECT(r, "+OK\r\n");
    size_t len;
    char *shrink = RAW_REPLY(r, &len);
    cr_assert(shrink[0] == '*' || shrink[0] == '%', "SHRINK replied %s", h_esc(shrink, len));
    free(shrink);
    RAW_EXPECT(r, "$1\r\nv\r\n+PONG\r\n");
    h_raw_close(r);
    free(req.p);
}
