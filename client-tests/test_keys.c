/*
 * test_keys.c - ebb's key model: signed 64-bit integers, optionally in a
 * namespace; leading zeros ignored; invalid keys refused with one error, and
 * multi-key commands failing as a whole; the namespace cap.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(keys, .init = h_setup, .fini = h_teardown, .timeout = 120);

static void expect_bad_key(const char *file, int line, const char *key)
{
    char want[512];
    snprintf(want, sizeof want, "ERR invalid key '%s': expected an integer or namespace:integer",
             key);
    const char *argv[3] = {"GET", key};
    h_check(file, line, CMDV(C, 2, argv, NULL), REDIS_REPLY_ERROR, want, (size_t)-1, 0);
    argv[0] = "SET";
    argv[2] = "v";
    h_check(file, line, CMDV(C, 3, argv, NULL), REDIS_REPLY_ERROR, want, (size_t)-1, 0);
}
#define EXPECT_BAD_KEY(k) expect_bad_key(__FILE__, __LINE__, (k))

ITEST(keys, leading_zeros_name_the_same_key)
{
    EXPECT_OK(C, "SET %s a", K("007"));
    EXPECT_BULK(C, "a", "GET %s", K("7"));
    EXPECT_BULK(C, "a", "GET %s", K("0000000000000000000000007"));
    EXPECT_INT(C, 2, "EXISTS %s %s", K("7"), K("07"));
    EXPECT_OK(C, "SET %s b", K("7"));
    EXPECT_BULK(C, "b", "GET %s", K("007"));
    EXPECT_INT(C, 1, "DEL %s %s", K("0007"), K("7"));
    EXPECT_NIL(C, "GET %s", K("7"));
    /* Negative numbers and zero, in all spellings. */
    EXPECT_OK(C, "SET %s neg", K("-05"));
    EXPECT_BULK(C, "neg", "GET %s", K("-5"));
    EXPECT_OK(C, "SET %s zero", K("000"));
    EXPECT_BULK(C, "zero", "GET %s", K("0"));
    EXPECT_BULK(C, "zero", "GET %s", K("-0"));
}

ITEST(keys, int64_range_edges)
{
    EXPECT_OK(C, "SET %s max", K("9223372036854775807"));
    EXPECT_BULK(C, "max", "GET %s", K("09223372036854775807"));
    EXPECT_OK(C, "SET %s min", K("-9223372036854775808"));
    EXPECT_BULK(C, "min", "GET %s", K("-009223372036854775808"));
    EXPECT_BAD_KEY(K("9223372036854775808"));
    EXPECT_BAD_KEY(K("-9223372036854775809"));
    EXPECT_BAD_KEY(K("99999999999999999999999"));
}

ITEST(keys, namespaces_are_separate_keyspaces)
{
    const char *a = NS("a"), *b = NS("b");
    char ka[64], kb[64];
    snprintf(ka, sizeof ka, "%s:1", a);
    snprintf(kb, sizeof kb, "%s:1", b);
    EXPECT_OK(C, "SET %s in-a", ka);
    EXPECT_OK(C, "SET %s in-b", kb);
    EXPECT_OK(C, "SET %s bare", K("1"));
    EXPECT_BULK(C, "in-a", "GET %s", ka);
    EXPECT_BULK(C, "in-b", "GET %s", kb);
    EXPECT_BULK(C, "bare", "GET %s", K("1"));
    EXPECT_INT(C, 1, "DEL %s", ka);
    EXPECT_NIL(C, "GET %s", ka);
    EXPECT_BULK(C, "in-b", "GET %s", kb);
    EXPECT_BULK(C, "bare", "GET %s", K("1"));
    /* Leading zeros inside a namespace too. */
    char k007[64];
    snprintf(k007, sizeof k007, "%s:007", b);
    EXPECT_OK(C, "SET %s seven", k007);
    char k7[64];
    snprintf(k7, sizeof k7, "%s:7", b);
    EXPECT_BULK(C, "seven", "GET %s", k7);
}

ITEST(keys, namespace_name_rules)
{
    /* 1-32 characters of [A-Za-z0-9_.-]. */
    const char *good[] = {"a:1", "Z:1", "0:1",         "_:1",
                          ".:1", "-:1", "a.b-c_D9:-3", "abcdefghijklmnopqrstuvwxyz012345:1"};
    const char *bad[] = {"abcdefghijklmnopqrstuvwxyz0123456:1", /* 33 chars */
                         ":1",
                         "a:",
                         "a:b",
                         "a b:1",
                         "a/b:1",
                         "a:b:1",
                         "é:1",
                         "a*:1",
                         "a:1.5",
                         "a: 1",
                         "a:+1",
                         "a:1 ",
                         "a:0x10"};
    if (H.owned) {
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            EXPECT_OK(C, "SET %s ok", good[i]);
            EXPECT_BULK(C, "ok", "GET %s", good[i]);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_BAD_KEY(bad[i]);
}

ITEST(keys, invalid_bare_keys)
{
    const char *bad[] = {"", "abc", "1.5", " 1", "1 ", "+1", "0x10", "1e3", "--1", "-", "1-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_BAD_KEY(bad[i]);
    const char bin[] = {'1', '\0', '2'};
    const char *argv[] = {"GET", bin};
    size_t lens[] = {3, 3};
    redisReply *r = CMDV(C, 2, argv, lens);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "ERR invalid key '", 17) == 0, "got %s", r->str);
    freeReplyObject(r);
}

ITEST(keys, every_key_command_checks_keys)
{
    const char *want = "ERR invalid key 'k': expected an integer or namespace:integer";
    EXPECT_ERR(C, want, "GET k");
    EXPECT_ERR(C, want, "SET k v");
    EXPECT_ERR(C, want, "SET k v NX GET");
    EXPECT_ERR(C, want, "SETNX k v");
    EXPECT_ERR(C, want, "GETSET k v");
    EXPECT_ERR(C, want, "GETDEL k");
    EXPECT_ERR(C, want, "TYPE k");
    EXPECT_ERR(C, want, "STRLEN k");
    EXPECT_ERR(C, want, "APPEND k v");
    EXPECT_ERR(C, want, "SETRANGE k 0 v");
    EXPECT_ERR(C, want, "GETRANGE k 0 1");
    EXPECT_ERR(C, want, "INCR k");
    EXPECT_ERR(C, want, "DECR k");
    EXPECT_ERR(C, want, "INCRBY k 1");
    EXPECT_ERR(C, want, "DECRBY k 1");
    EXPECT_ERR(C, want, "TOUCH k");
    EXPECT_ERR(C, want, "UNLINK k");
}

ITEST(keys, multi_key_commands_fail_as_a_whole)
{
    const char *want = "ERR invalid key 'bad': expected an integer or namespace:integer";
    EXPECT_OK(C, "MSET %s one %s two", K("1"), K("2"));
    EXPECT_ERR(C, want, "MSET %s new1 bad x %s new3", K("1"), K("3"));
    EXPECT_BULK(C, "one", "GET %s", K("1"));
    EXPECT_NIL(C, "GET %s", K("3"));
    EXPECT_ERR(C, want, "MSETNX %s x bad y", K("4"));
    EXPECT_NIL(C, "GET %s", K("4"));
    EXPECT_ERR(C, want, "DEL %s bad %s", K("1"), K("2"));
    EXPECT_ERR(C, want, "UNLINK %s bad", K("1"));
    EXPECT_INT(C, 2, "EXISTS %s %s", K("1"), K("2"));
    EXPECT_ERR(C, want, "EXISTS %s bad", K("1"));
    EXPECT_ERR(C, want, "MGET %s bad", K("1"));
    EXPECT_ERR(C, want, "TOUCH %s bad", K("1"));
    /* The first invalid key is the one named. */
    EXPECT_ERR(C, "ERR invalid key 'x:y': expected an integer or namespace:integer",
               "DEL %s x:y bad", K("1"));
    EXPECT_BULK(C, "one", "GET %s", K("1"));
    EXPECT_BULK(C, "two", "GET %s", K("2"));
}

ITEST(keys, reads_of_unknown_namespaces)
{
    const char *n = NS("neverwritten");
    char k[64];
    snprintf(k, sizeof k, "%s:5", n);
    EXPECT_NIL(C, "GET %s", k);
    EXPECT_INT(C, 0, "EXISTS %s", k);
    EXPECT_INT(C, 0, "DEL %s", k);
    EXPECT_INT(C, 0, "STRLEN %s", k);
    EXPECT_STATUS(C, "none", "TYPE %s", k);
    EXPECT_BULK(C, "", "GETRANGE %s 0 -1", k);
    EXPECT_NIL(C, "GETDEL %s", k);
    redisReply *r = CMD(C, "MGET %s %s", k, k);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* None of these created the namespace. */
    char *info = h_info(C, "namespaces");
    char line[80];
    snprintf(line, sizeof line, "ns_%s:", n);
    cr_assert(strstr(info, line) == NULL, "reads created namespace %s:\n%s", n, info);
    free(info);
}

ITESTX(keys, namespace_cap, .init = h_setup_own)
{
    EXPECT_OK(C, "CONFIG SET max-namespaces 2");
    EXPECT_OK(C, "SET a:1 x");
    EXPECT_OK(C, "SET b:1 y");
    EXPECT_ERR(C, "ERR too many namespaces: creating 'c' would pass max-namespaces (2)",
               "SET c:1 z");
    redisReply *r = CMD(C, "SETNX c:1 z");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "SETNX made a third namespace");
    freeReplyObject(r);
    r = CMD(C, "INCR c:1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "INCR made a third namespace");
    freeReplyObject(r);
    /* A multi-key write touching a new namespace changes nothing at all. */
    r = CMD(C, "MSET a:2 new c:1 z");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    EXPECT_NIL(C, "GET a:2");
    /* Reads of the unknown namespace are simply misses. */
    EXPECT_NIL(C, "GET c:1");
    EXPECT_INT(C, 0, "EXISTS c:1");
    EXPECT_INT(C, 0, "DEL c:1");
    /* Existing namespaces and the default one keep working. */
    EXPECT_OK(C, "SET a:3 more");
    EXPECT_OK(C, "SET 42 bare");
    EXPECT_INT(C, 4, "DBSIZE");
    char *info = h_info(C, "namespaces");
    cr_assert_eq(h_info_num(info, "namespaces"), 2, "%s", info);
    free(info);
    /* FLUSHALL releases the namespaces, so new ones fit again. */
    EXPECT_OK(C, "FLUSHALL");
    info = h_info(C, "namespaces");
    cr_assert_eq(h_info_num(info, "namespaces"), 0, "%s", info);
    free(info);
    EXPECT_OK(C, "SET c:1 z");
    EXPECT_OK(C, "SET d:1 z");
    r = CMD(C, "SET e:1 z");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    /* Raising the cap lets the third in. */
    EXPECT_OK(C, "CONFIG SET max-namespaces 3");
    EXPECT_OK(C, "SET e:1 z");
}

ITESTX(keys, default_namespace_is_not_capped, .init = h_setup_own)
{
    EXPECT_OK(C, "CONFIG SET max-namespaces 1");
    EXPECT_OK(C, "SET only:1 x");
    for (int i = 0; i < 50; i++)
        EXPECT_OK(C, "SET %d v", i);
    EXPECT_INT(C, 51, "DBSIZE");
}

ITESTX(keys, many_keys_in_many_namespaces, .init = h_setup_own)
{
    /* Enough keys to make the tables grow several times. */
    int n = 20000 / h_slow();
    for (int i = 0; i < n; i++) {
        redisAppendCommand(C, "SET ns%d:%d v%d", i % 4, i, i);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    EXPECT_INT(C, n, "DBSIZE");
    for (int i = 0; i < n; i++)
        redisAppendCommand(C, "GET ns%d:%d", i % 4, i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0, "key ns%d:%d", i % 4,
                  i);
        freeReplyObject(r);
        /* The key in the wrong namespace is absent. */
    }
    EXPECT_NIL(C, "GET ns1:0");
    for (int i = 0; i < n; i += 2)
        redisAppendCommand(C, "DEL ns%d:%d", i % 4, i);
    for (int i = 0; i < n; i += 2) {
        redisReply *r;
        cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
        freeReplyObject(r);
    }
    EXPECT_INT(C, n / 2, "DBSIZE");
    EXPECT_BULK(C, "v1", "GET ns1:1");
    EXPECT_NIL(C, "GET ns0:0");
}

ITESTX(keys, failed_writes_create_no_namespace, .init = h_setup_own)
{
    /* A command that fails changes nothing, not even the namespace list
     * (which is capped, so a leaked empty namespace costs a slot). */
    char big[201];
    memset(big, 'a', 200);
    big[200] = '\0';
    EXPECT_ERR(C, "ERR value is 200 bytes; the maximum is 128", "SET n1:1 %s", big);
    EXPECT_ERR(C, "ERR value is 200 bytes; the maximum is 128", "MSET n2:1 a n3:1 %s", big);
    EXPECT_ERR(C, "ERR value is 200 bytes; the maximum is 128", "SETRANGE n4:1 0 %s", big);
    EXPECT_ERR(C, "ERR value is 200 bytes; the maximum is 128", "APPEND n5:1 %s", big);
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETBIT n6:1 1024 1");
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "BITFIELD n7:1 SET u8 1017 1");
    EXPECT_ERR(C, "ERR value is 201 bytes; the maximum is 128", "INCRBYFLOAT n8:1 1e200");
    char *info = h_info(C, "namespaces");
    cr_assert_eq(h_info_num(info, "namespaces"), 0, "%s", info);
    free(info);
}

/* A bitmap holds 1024 bits (128 bytes): a write past bit 1023 gets the
 * value-size error and changes nothing, the TTL included. */
ITEST(keys, bitmap_writes_past_bit_1023_are_refused)
{
    EXPECT_INT(C, 0, "SETBIT %s 1023 1", K("1"));
    EXPECT_INT(C, 128, "STRLEN %s", K("1"));
    EXPECT_INT(C, 1, "EXPIRE %s 1000", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETBIT %s 1024 1", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETBIT %s 1031 0", K("1"));
    EXPECT_ERR(C, "ERR value is 130 bytes; the maximum is 128", "SETBIT %s 1032 1", K("1"));
    EXPECT_ERR(C, "ERR value is 536870912 bytes; the maximum is 128", "SETBIT %s 4294967295 1",
               K("1"));
    /* Past what Redis takes: Redis's own error. */
    EXPECT_ERR(C, "ERR bit offset is not an integer or out of range", "SETBIT %s 4294967296 1",
               K("1"));
    /* Every BITFIELD operation is checked before any is done. */
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128",
               "BITFIELD %s SET u8 0 255 INCRBY i2 1023 1", K("1"));
    EXPECT_ERR(C, "ERR value is 136 bytes; the maximum is 128", /* bits 1024..1087 */
               "BITFIELD %s OVERFLOW FAIL SET u8 0 255 SET i64 #16 1", K("1"));
    EXPECT_INT(C, 128, "STRLEN %s", K("1"));
    EXPECT_INT(C, 1, "BITCOUNT %s", K("1"));
    EXPECT_INT(C, 0, "GETBIT %s 0", K("1"));
    EXPECT_INT(C, 1, "GETBIT %s 1023", K("1"));
    redisReply *r = CMD(C, "TTL %s", K("1"));
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 990, "TTL kept");
    freeReplyObject(r);
    /* A missing key stays missing. */
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETBIT %s 1024 0", K("2"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "BITFIELD %s INCRBY u1 1024 1",
               K("2"));
    EXPECT_INT(C, 0, "EXISTS %s", K("2"));
    /* The last field that fits, and reads past the end (zeros). */
    r = CMD(C, "BITFIELD %s SET i64 #15 -1 GET u8 1024 GET i64 100000", K("2"));
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cr_assert(r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0);
    cr_assert(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 0);
    cr_assert(r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 0);
    freeReplyObject(r);
    EXPECT_INT(C, 128, "STRLEN %s", K("2"));
    EXPECT_INT(C, 0, "GETBIT %s 5000", K("2"));
}

/* BITOP's result is as long as its longest source, and no source passes
 * 128 bytes, so no result does: 128-byte sources give a 128-byte result,
 * and a destination that held a TTL loses it, as with SET. */
ITEST(keys, bitop_result_is_at_most_128_bytes)
{
    char v[H_VALUE_LEN + 1];
    memset(v, 0x0F, H_VALUE_LEN);
    v[H_VALUE_LEN] = '\0';
    EXPECT_OK(C, "SET %s %s", K("1"), v);
    EXPECT_OK(C, "SET %s ab", K("2"));
    EXPECT_OK(C, "SET %s x EX 1000", K("3"));
    EXPECT_INT(C, 128, "BITOP OR %s %s %s", K("3"), K("1"), K("2"));
    EXPECT_INT(C, -1, "TTL %s", K("3"));
    EXPECT_INT(C, 128, "STRLEN %s", K("3"));
    EXPECT_INT(C, 128, "BITOP NOT %s %s", K("3"), K("1"));
    EXPECT_INT(C, 128 * 4, "BITCOUNT %s", K("3"));
    /* Only missing sources: the destination goes. */
    EXPECT_INT(C, 0, "BITOP AND %s %s %s", K("3"), K("8"), K("9"));
    EXPECT_INT(C, 0, "EXISTS %s", K("3"));
}
