/*
 * test_rename.c - RENAME, RENAMENX and COPY: within and across namespaces,
 * TTLs moved or copied, values of every record size, Redis's errors, and
 * WATCH on either key.
 *
 * Runs against an external server too (EBB_ADDR): keys go through K() and
 * namespaces through NS().
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(rename, .init = h_setup, .fini = h_teardown, .timeout = 120);

/* "<ns>:<id>" in a per-test namespace. */
static const char *NK(const char *ns, const char *id)
{
    static char buf[8][96];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof buf[0], "%s:%s", NS(ns), id);
    return b;
}

static long long int_of(redisReply *r)
{
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

ITEST(rename, rename_moves_value_and_ttl_across_namespaces)
{
    char src[96], dst[96];
    snprintf(src, sizeof src, "%s", NK("a", "1"));
    snprintf(dst, sizeof dst, "%s", NK("b", "2"));
    EXPECT_OK(C, "SET %s hello EX 100", src);
    EXPECT_OK(C, "RENAME %s %s", src, dst);
    EXPECT_INT(C, 0, "EXISTS %s", src);
    EXPECT_BULK(C, "hello", "GET %s", dst);
    long long ttl = int_of(CMD(C, "TTL %s", dst));
    cr_assert(ttl > 0 && ttl <= 100, "ttl %lld", ttl);
    /* Onto an existing key with a value of another size: replaced, and
     * the TTL-less source leaves the destination without one. */
    char big[129];
    memset(big, 'v', 128);
    big[128] = '\0';
    EXPECT_OK(C, "SET %s %s", K("3"), big);
    EXPECT_OK(C, "RENAME %s %s", K("3"), dst);
    EXPECT_BULK(C, big, "GET %s", dst);
    EXPECT_INT(C, -1, "TTL %s", dst);
    /* Back into the default namespace. */
    EXPECT_OK(C, "RENAME %s %s", dst, K("4"));
    EXPECT_BULK(C, big, "GET %s", K("4"));
}

ITEST(rename, rename_errors_and_self)
{
    EXPECT_ERR(C, "ERR no such key", "RENAME %s %s", K("1"), K("2"));
    EXPECT_ERR(C, "ERR no such key", "RENAMENX %s %s", K("1"), K("2"));
    EXPECT_ERR(C, "ERR no such key", "RENAME %s %s", K("1"), K("1"));
    EXPECT_ERR(C, "ERR wrong number of arguments for 'rename' command", "RENAME %s", K("1"));
    EXPECT_OK(C, "SET %s v", K("1"));
    EXPECT_OK(C, "RENAME %s %s", K("1"), K("1"));
    EXPECT_INT(C, 0, "RENAMENX %s %s", K("1"), K("1"));
    EXPECT_BULK(C, "v", "GET %s", K("1"));
    EXPECT_OK(C, "SET %s w", K("2"));
    EXPECT_INT(C, 0, "RENAMENX %s %s", K("1"), K("2"));
    EXPECT_BULK(C, "w", "GET %s", K("2"));
    EXPECT_INT(C, 1, "RENAMENX %s %s", K("1"), K("3"));
    EXPECT_BULK(C, "v", "GET %s", K("3"));
    EXPECT_INT(C, 0, "EXISTS %s", K("1"));
}

ITEST(rename, copy_copies_value_and_ttl)
{
    char src[96];
    snprintf(src, sizeof src, "%s", NK("a", "1"));
    EXPECT_OK(C, "SET %s hello PX 100000", src);
    EXPECT_INT(C, 1, "COPY %s %s", src, NK("c", "1"));
    EXPECT_BULK(C, "hello", "GET %s", NK("c", "1"));
    long long pttl = int_of(CMD(C, "PTTL %s", NK("c", "1")));
    cr_assert(pttl > 0 && pttl <= 100000, "pttl %lld", pttl);
    EXPECT_BULK(C, "hello", "GET %s", src);
    EXPECT_OK(C, "SET %s other", K("9"));
    EXPECT_INT(C, 0, "COPY %s %s", src, K("9"));
    EXPECT_BULK(C, "other", "GET %s", K("9"));
    EXPECT_INT(C, 1, "COPY %s %s REPLACE", src, K("9"));
    EXPECT_BULK(C, "hello", "GET %s", K("9"));
    EXPECT_INT(C, 1, "COPY %s %s DB 0 REPLACE", src, K("9"));
    EXPECT_INT(C, 0, "COPY %s %s", K("8"), K("7"));
}

ITEST(rename, copy_errors)
{
    EXPECT_OK(C, "SET %s v", K("1"));
    EXPECT_ERR(C, "ERR source and destination objects are the same", "COPY %s %s", K("1"), K("1"));
    EXPECT_ERR(C, "ERR DB index is out of range", "COPY %s %s DB 1", K("1"), K("2"));
    EXPECT_ERR(C, "ERR value is not an integer or out of range", "COPY %s %s DB x", K("1"), K("2"));
    EXPECT_ERR(C, "ERR syntax error", "COPY %s %s DB", K("1"), K("2"));
    EXPECT_ERR(C, "ERR syntax error", "COPY %s %s foo", K("1"), K("2"));
    EXPECT_INT(C, 0, "EXISTS %s", K("2"));
}

/* A transaction watching either key of a RENAME is aborted by it. */
static void watch_then_rename(bool watch_source)
{
    redisContext *o = h_connect();
    EXPECT_OK(C, "SET %s v", K("1"));
    EXPECT_OK(C, "WATCH %s", watch_source ? K("1") : K("2"));
    EXPECT_OK(o, "RENAME %s %s", K("1"), K("2"));
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "SET %s x", K("5"));
    redisReply *r = CMD(C, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_NIL, "EXEC ran (type %d)", r->type);
    freeReplyObject(r);
    EXPECT_NIL(C, "GET %s", K("5"));
    redisFree(o);
}

ITEST(rename, watch_on_the_source_aborts_exec)
{
    watch_then_rename(true);
}

ITEST(rename, watch_on_the_destination_aborts_exec)
{
    watch_then_rename(false);
}

ITEST(rename, monitor_sees_rename)
{
    h_raw *m = h_raw_open();
    h_raw_sends(m, "MONITOR\r\n");
    RAW_EXPECT(m, "+OK\r\n");
    EXPECT_OK(C, "SET %s v", K("1"));
    EXPECT_OK(C, "RENAME %s %s", K("1"), K("2"));
    size_t len;
    char *line = RAW_REPLY(m, &len); /* the SET */
    free(line);
    line = RAW_REPLY(m, &len);
    cr_assert(strstr(line, "\"RENAME\"") != NULL, "%s", line);
    free(line);
    h_raw_close(m);
}
