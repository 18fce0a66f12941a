/*
 * test_protocol.c - protocol errors: the offending connection gets exactly
 * `-ERR Protocol error: ...\r\n` and is closed, while another client's
 * half-sent command and its data are untouched and it keeps working.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(protocol, .init = h_setup, .fini = h_teardown, .timeout = 120);

/* Send `bad` on a fresh connection while a bystander has a command half
 * sent; require exactly `reply` then a close, and the bystander intact. */
static void check_error(const char *file, int line, const void *bad, size_t badlen,
                        const char *reply, bool allow_reset)
{
    const char *k = K("1000");
    EXPECT_OK(C, "SET %s %b", k, "keep\0me", (size_t)7);
    h_raw *by = h_raw_open();
    char half[128];
    int hl = snprintf(half, sizeof half, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s", strlen(k), k);
    /* Everything but the final CRLF. */
    h_raw_send(by, half, (size_t)hl);

    h_raw *r = h_raw_open();
    h_raw_send(r, bad, badlen);
    h_raw_expect_(file, line, r, reply, strlen(reply));
    h_raw_expect_closed_(file, line, r, allow_reset);
    h_raw_close(r);

    h_raw_sends(by, "\r\n");
    h_raw_expect_(file, line, by, "$7\r\nkeep\0me\r\n", 13);
    h_raw_sends(by, "PING\r\n");
    h_raw_expect_(file, line, by, "+PONG\r\n", 7);
    h_raw_close(by);
    EXPECT_BULKN(C, "keep\0me", 7, "GET %s", k);
}
#define CHECK_ERROR(bad, reply) check_error(__FILE__, __LINE__, bad, sizeof(bad) - 1, reply, false)

#define PE "-ERR Protocol error: "

ITEST(protocol, invalid_multibulk_length)
{
    CHECK_ERROR("*abc\r\n", PE "invalid multibulk length\r\n");
    CHECK_ERROR("*1x\r\n", PE "invalid multibulk length\r\n");
    CHECK_ERROR("*2000000\r\n", PE "invalid multibulk length\r\n");
}

ITEST(protocol, invalid_bulk_length)
{
    CHECK_ERROR("*1\r\n$-5\r\n", PE "invalid bulk length\r\n");
    CHECK_ERROR("*1\r\n$abc\r\n", PE "invalid bulk length\r\n");
    CHECK_ERROR("*2\r\n$3\r\nGET\r\n$2000000000\r\n", PE "invalid bulk length\r\n");
}

ITEST(protocol, bulk_longer_than_the_limit)
{
    /* The limit is 1 MiB: one byte more is refused before any payload. */
    CHECK_ERROR("*2\r\n$4\r\nECHO\r\n$1048577\r\n", PE "invalid bulk length\r\n");
}

ITEST(protocol, expected_dollar)
{
    CHECK_ERROR("*1\r\n:1\r\n", PE "expected '$', got ':'\r\n");
    CHECK_ERROR("*2\r\n$4\r\nECHO\r\n+x\r\n", PE "expected '$', got '+'\r\n");
}

ITEST(protocol, unbalanced_quotes)
{
    CHECK_ERROR("\"foo\r\n", PE "unbalanced quotes in request\r\n");
    CHECK_ERROR("ECHO 'foo\r\n", PE "unbalanced quotes in request\r\n");
    CHECK_ERROR("ECHO \"foo\"bar\r\n", PE "unbalanced quotes in request\r\n");
}

ITEST(protocol, too_big_inline_request)
{
    size_t n = 70 * 1024;
    char *junk = malloc(n);
    memset(junk, 'a', n);
    /* The server may close with some of our bytes unread, which TCP reports
     * as a reset after the reply. */
    check_error(__FILE__, __LINE__, junk, n, PE "too big inline request\r\n", true);
    free(junk);
}

ITEST(protocol, too_big_count_line)
{
    size_t n = 70 * 1024;
    char *junk = malloc(n);
    memset(junk, '1', n);
    junk[0] = '*';
    check_error(__FILE__, __LINE__, junk, n, PE "too big mbulk count string\r\n", true);
    free(junk);
}

ITEST(protocol, earlier_commands_answered_later_ones_dropped)
{
    h_raw *r = h_raw_open();
    char buf[256];
    int n =
        snprintf(buf, sizeof buf, "PING\r\n*abc\r\n*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$1\r\nx\r\n",
                 strlen(K("5")), K("5"));
    h_raw_send(r, buf, (size_t)n);
    RAW_EXPECT(r, "+PONG\r\n" PE "invalid multibulk length\r\n");
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
    EXPECT_NIL(C, "GET %s", K("5"));
}

ITEST(protocol, error_split_across_writes)
{
    /* The bad byte arrives in a later packet than the good prefix. */
    const char *parts[][4] = {{"*1\r\n", "$", "-", "5\r\n"},
                              {"*1\r\n$", "-5\r\n", NULL, NULL},
                              {"*1\r\n$-", "1\r\n", NULL, NULL},
                              {"*2\r\n$3\r\nGET\r\n$", "x\r\n", NULL, NULL}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        h_raw *r = h_raw_open();
        for (size_t j = 0; j < 4 && parts[i][j] != NULL; j++) {
            h_raw_sends(r, parts[i][j]);
            /* A round trip on another connection lets the server read this
             * part on its own before the next arrives. */
            EXPECT_STATUS(C, "PONG", "PING");
        }
        RAW_EXPECT(r, PE "invalid bulk length\r\n");
        RAW_EXPECT_CLOSED(r);
        h_raw_close(r);
    }
}

ITEST(protocol, many_bad_clients_do_not_disturb)
{
    const char *bad[] = {"*abc\r\n", "*1\r\n$-5\r\n", "*1\r\n:1\r\n", "\"x\r\n"};
    for (int i = 0; i < 40; i++) {
        h_raw *r = h_raw_open();
        h_raw_sends(r, bad[i % 4]);
        char *rep = RAW_REPLY(r, NULL);
        cr_assert(strncmp(rep, PE, strlen(PE)) == 0, "%s", rep);
        free(rep);
        RAW_EXPECT_CLOSED(r);
        h_raw_close(r);
        EXPECT_OK(C, "SET %s v%d", K("7"), i);
    }
    EXPECT_BULK(C, "v39", "GET %s", K("7"));
    if (H.owned) {
        char *info = h_info(C, "stats");
        cr_assert_eq(h_info_num(info, "protocol_errors"), 40, "%s", info);
        free(info);
    }
}

ITEST(protocol, empty_multibulk_is_ignored)
{
    h_raw *r = h_raw_open();
    h_raw_sends(r, "*0\r\n*-1\r\nPING\r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    h_raw_close(r);
}
