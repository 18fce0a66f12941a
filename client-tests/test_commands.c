/*
 * test_commands.c - every data and connection command over hiredis: success
 * and error cases, Redis 7 reply shapes and error wording.
 *
 * Runs against an external server too (EBB_ADDR): every key goes through K().
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

TestSuite(commands, .init = h_setup, .fini = h_teardown, .timeout = 120);

#define WRONG_ARGS(name) "ERR wrong number of arguments for '" name "' command"
#define NOT_INT "ERR value is not an integer or out of range"
#define SYNTAX "ERR syntax error"

/* ---- dispatcher ------------------------------------------------------------ */

ITEST(commands, unknown_command_wording)
{
    EXPECT_ERR(C, "ERR unknown command 'foo', with args beginning with: 'a' ", "foo a");
    EXPECT_ERR(C, "ERR unknown command 'FOO', with args beginning with: 'a' 'b c' ", "FOO a %s",
               "b c");
    EXPECT_ERR(C, "ERR unknown command 'nosuch', with args beginning with: ", "nosuch");
}

ITEST(commands, names_are_case_insensitive)
{
    EXPECT_OK(C, "sEt %s v", K("1"));
    EXPECT_BULK(C, "v", "gEt %s", K("1"));
    EXPECT_STATUS(C, "PONG", "pInG");
}

ITEST(commands, arity_errors_name_the_command)
{
    EXPECT_ERR(C, WRONG_ARGS("get"), "GET");
    EXPECT_ERR(C, WRONG_ARGS("get"), "GET %s %s", K("1"), K("2"));
    EXPECT_ERR(C, WRONG_ARGS("set"), "SET %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("setnx"), "SETNX %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("getset"), "GETSET %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("getdel"), "GETDEL");
    EXPECT_ERR(C, WRONG_ARGS("mget"), "MGET");
    EXPECT_ERR(C, WRONG_ARGS("mset"), "MSET %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("mset"), "MSET %s v %s", K("1"), K("2"));
    EXPECT_ERR(C, WRONG_ARGS("msetnx"), "MSETNX %s v %s", K("1"), K("2"));
    EXPECT_ERR(C, WRONG_ARGS("del"), "DEL");
    EXPECT_ERR(C, WRONG_ARGS("unlink"), "UNLINK");
    EXPECT_ERR(C, WRONG_ARGS("exists"), "EXISTS");
    EXPECT_ERR(C, WRONG_ARGS("touch"), "TOUCH");
    EXPECT_ERR(C, WRONG_ARGS("type"), "TYPE");
    EXPECT_ERR(C, WRONG_ARGS("strlen"), "STRLEN");
    EXPECT_ERR(C, WRONG_ARGS("append"), "APPEND %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("setrange"), "SETRANGE %s 0", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("getrange"), "GETRANGE %s 0", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("incr"), "INCR");
    EXPECT_ERR(C, WRONG_ARGS("decr"), "DECR %s %s", K("1"), K("2"));
    EXPECT_ERR(C, WRONG_ARGS("incrby"), "INCRBY %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("decrby"), "DECRBY %s", K("1"));
    EXPECT_ERR(C, WRONG_ARGS("echo"), "ECHO");
    EXPECT_ERR(C, WRONG_ARGS("ping"), "PING a b");
    EXPECT_ERR(C, WRONG_ARGS("select"), "SELECT");
    EXPECT_ERR(C, WRONG_ARGS("dbsize"), "DBSIZE x");
    EXPECT_ERR(C, WRONG_ARGS("time"), "TIME x");
    /* Nothing was created by any of the above. */
    EXPECT_INT(C, 0, "EXISTS %s %s", K("1"), K("2"));
}

/* ---- connection commands ----------------------------------------------------- */

ITEST(commands, ping_and_echo)
{
    EXPECT_STATUS(C, "PONG", "PING");
    EXPECT_BULK(C, "hello world", "PING %s", "hello world");
    EXPECT_BULKN(C, "", 0, "PING %s", "");
    EXPECT_BULK(C, "x y", "ECHO %s", "x y");
    EXPECT_BULKN(C, "a\0b\r\n", 5, "ECHO %b", "a\0b\r\n", (size_t)5);
}

ITEST(commands, select)
{
    EXPECT_OK(C, "SELECT 0");
    EXPECT_ERR(C, "ERR DB index is out of range", "SELECT 1");
    EXPECT_ERR(C, "ERR DB index is out of range", "SELECT -1");
    EXPECT_ERR(C, NOT_INT, "SELECT abc");
}

ITEST(commands, quit_replies_ok_then_closes)
{
    h_raw *r = h_raw_open();
    /* What follows QUIT in the same write is not executed. */
    h_raw_sends(r, "*1\r\n$4\r\nQUIT\r\nPING\r\n");
    RAW_EXPECT(r, "+OK\r\n");
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
    r = h_raw_open();
    h_raw_sends(r, "quit\r\n");
    RAW_EXPECT(r, "+OK\r\n");
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
}

ITEST(commands, auth_without_password)
{
    EXPECT_ERR(C,
               "ERR AUTH <password> called without any password configured for the default "
               "user. Are you sure your configuration is correct?",
               "AUTH pw");
}

/* ---- GET / SET -------------------------------------------------------------- */

ITEST(commands, get_set_basic)
{
    EXPECT_NIL(C, "GET %s", K("10"));
    EXPECT_OK(C, "SET %s hello", K("10"));
    EXPECT_BULK(C, "hello", "GET %s", K("10"));
    EXPECT_OK(C, "SET %s world", K("10"));
    EXPECT_BULK(C, "world", "GET %s", K("10"));
}

ITEST(commands, set_nx_xx)
{
    EXPECT_NIL(C, "SET %s v1 XX", K("1"));
    EXPECT_NIL(C, "GET %s", K("1"));
    EXPECT_OK(C, "SET %s v1 NX", K("1"));
    EXPECT_NIL(C, "SET %s v2 NX", K("1"));
    EXPECT_BULK(C, "v1", "GET %s", K("1"));
    EXPECT_OK(C, "SET %s v3 xx", K("1"));
    EXPECT_BULK(C, "v3", "GET %s", K("1"));
    EXPECT_ERR(C, SYNTAX, "SET %s v4 NX XX", K("1"));
    EXPECT_ERR(C, SYNTAX, "SET %s v4 XX NX", K("1"));
    EXPECT_ERR(C, SYNTAX, "SET %s v4 BOGUS", K("1"));
    EXPECT_BULK(C, "v3", "GET %s", K("1"));
}

ITEST(commands, set_get_option)
{
    EXPECT_NIL(C, "SET %s a GET", K("2"));
    EXPECT_BULK(C, "a", "GET %s", K("2"));
    EXPECT_BULK(C, "a", "SET %s b GET", K("2"));
    EXPECT_BULK(C, "b", "GET %s", K("2"));
    /* NX GET (Redis 7): the old value, and no write when the key exists. */
    EXPECT_BULK(C, "b", "SET %s c NX GET", K("2"));
    EXPECT_BULK(C, "b", "GET %s", K("2"));
    EXPECT_NIL(C, "SET %s c NX GET", K("3"));
    EXPECT_BULK(C, "c", "GET %s", K("3"));
    /* XX GET on a missing key: nil and nothing stored. */
    EXPECT_NIL(C, "SET %s d XX GET", K("4"));
    EXPECT_NIL(C, "GET %s", K("4"));
    EXPECT_BULK(C, "c", "SET %s e XX GET", K("3"));
    EXPECT_BULK(C, "e", "GET %s", K("3"));
    EXPECT_ERR(C, SYNTAX, "SET %s f NX XX GET", K("3"));
}

ITEST(commands, set_expiry_argument_errors)
{
    EXPECT_ERR(C, NOT_INT, "SET %s v EX abc", K("1"));
    EXPECT_ERR(C, "ERR invalid expire time in 'set' command", "SET %s v EX 0", K("1"));
    EXPECT_ERR(C, "ERR invalid expire time in 'set' command", "SET %s v PX -5", K("1"));
    EXPECT_ERR(C, SYNTAX, "SET %s v EX", K("1"));
    EXPECT_ERR(C, SYNTAX, "SET %s v EX 10 PX 10", K("1"));
    EXPECT_NIL(C, "GET %s", K("1"));
}

ITEST(commands, value_size_limit)
{
    char v128[129], v129[130];
    memset(v128, 'x', 128);
    v128[128] = '\0';
    memset(v129, 'y', 129);
    v129[129] = '\0';
    EXPECT_OK(C, "SET %s %s", K("1"), v128);
    EXPECT_BULK(C, v128, "GET %s", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SET %s %s", K("1"), v129);
    EXPECT_BULK(C, v128, "GET %s", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SET %s %s", K("2"), v129);
    EXPECT_NIL(C, "GET %s", K("2"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETNX %s %s", K("2"), v129);
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "GETSET %s %s", K("1"), v129);
    EXPECT_BULK(C, v128, "GET %s", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "MSET %s a %s %s", K("3"), K("4"),
               v129);
    EXPECT_INT(C, 0, "EXISTS %s %s %s", K("2"), K("3"), K("4"));
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    EXPECT_ERR(C, "ERR value is 1000 bytes; the maximum is 128", "SET %s %s", K("5"), big);
    EXPECT_OK(C, "SET %s %b", K("6"), "", (size_t)0);
    EXPECT_BULKN(C, "", 0, "GET %s", K("6"));
    EXPECT_INT(C, 1, "EXISTS %s", K("6"));
}

ITEST(commands, setnx_getset_getdel)
{
    EXPECT_INT(C, 1, "SETNX %s a", K("1"));
    EXPECT_INT(C, 0, "SETNX %s b", K("1"));
    EXPECT_BULK(C, "a", "GET %s", K("1"));
    EXPECT_BULK(C, "a", "GETSET %s c", K("1"));
    EXPECT_BULK(C, "c", "GET %s", K("1"));
    EXPECT_NIL(C, "GETSET %s d", K("2"));
    EXPECT_BULK(C, "d", "GET %s", K("2"));
    EXPECT_BULK(C, "c", "GETDEL %s", K("1"));
    EXPECT_NIL(C, "GET %s", K("1"));
    EXPECT_NIL(C, "GETDEL %s", K("1"));
    EXPECT_INT(C, 0, "EXISTS %s", K("1"));
}

/* ---- multi-key --------------------------------------------------------------- */

ITEST(commands, mset_mget)
{
    EXPECT_OK(C, "MSET %s a %s b %s c", K("1"), K("2"), K("3"));
    redisReply *r = CMD(C, "MGET %s %s %s %s", K("1"), K("9"), K("3"), K("1"));
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 4);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(r->element[0]->str, "a");
    cr_assert_eq(r->element[1]->type, REDIS_REPLY_NIL);
    cr_assert_str_eq(r->element[2]->str, "c");
    cr_assert_str_eq(r->element[3]->str, "a");
    freeReplyObject(r);
    /* The last value of a repeated key wins. */
    EXPECT_OK(C, "MSET %s x %s y", K("5"), K("5"));
    EXPECT_BULK(C, "y", "GET %s", K("5"));
}

ITEST(commands, msetnx_all_or_nothing)
{
    EXPECT_INT(C, 1, "MSETNX %s a %s b", K("1"), K("2"));
    EXPECT_INT(C, 0, "MSETNX %s x %s y", K("3"), K("2"));
    EXPECT_NIL(C, "GET %s", K("3"));
    EXPECT_BULK(C, "b", "GET %s", K("2"));
    EXPECT_INT(C, 1, "MSETNX %s x %s y", K("3"), K("4"));
    EXPECT_BULK(C, "y", "GET %s", K("4"));
}

ITEST(commands, del_unlink_exists_touch)
{
    EXPECT_OK(C, "MSET %s a %s b %s c", K("1"), K("2"), K("3"));
    EXPECT_INT(C, 3, "EXISTS %s %s %s %s", K("1"), K("2"), K("3"), K("4"));
    /* EXISTS counts a repeated key each time, as Redis does. */
    EXPECT_INT(C, 2, "EXISTS %s %s", K("1"), K("1"));
    EXPECT_INT(C, 2, "TOUCH %s %s %s", K("1"), K("2"), K("77"));
    EXPECT_INT(C, 1, "DEL %s %s %s", K("1"), K("1"), K("77"));
    EXPECT_INT(C, 0, "EXISTS %s", K("1"));
    EXPECT_INT(C, 2, "UNLINK %s %s", K("2"), K("3"));
    EXPECT_INT(C, 0, "EXISTS %s %s %s", K("1"), K("2"), K("3"));
    EXPECT_INT(C, 0, "DEL %s", K("1"));
}

ITEST(commands, type_and_strlen)
{
    EXPECT_STATUS(C, "none", "TYPE %s", K("1"));
    EXPECT_INT(C, 0, "STRLEN %s", K("1"));
    EXPECT_OK(C, "SET %s %b", K("1"), "ab\0c", (size_t)4);
    EXPECT_STATUS(C, "string", "TYPE %s", K("1"));
    EXPECT_INT(C, 4, "STRLEN %s", K("1"));
}

/* ---- APPEND / SETRANGE / GETRANGE ---------------------------------------------- */

ITEST(commands, append)
{
    EXPECT_INT(C, 3, "APPEND %s abc", K("1"));
    EXPECT_INT(C, 6, "APPEND %s def", K("1"));
    EXPECT_BULK(C, "abcdef", "GET %s", K("1"));
    EXPECT_INT(C, 6, "APPEND %s %b", K("1"), "", (size_t)0);
    char v[123];
    memset(v, 'q', 122);
    v[122] = '\0';
    EXPECT_INT(C, 128, "APPEND %s %s", K("1"), v);
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "APPEND %s z", K("1"));
    EXPECT_INT(C, 128, "STRLEN %s", K("1"));
    redisReply *r = CMD(C, "GET %s", K("1"));
    cr_assert_eq(r->len, 128);
    cr_assert(memcmp(r->str, "abcdef", 6) == 0 && r->str[127] == 'q');
    freeReplyObject(r);
    char big[200];
    memset(big, 'b', 199);
    big[199] = '\0';
    EXPECT_ERR(C, "ERR value is 199 bytes; the maximum is 128", "APPEND %s %s", K("2"), big);
    EXPECT_INT(C, 0, "EXISTS %s", K("2"));
}

ITEST(commands, setrange_rules)
{
    EXPECT_OK(C, "SET %s %s", K("1"), "Hello World");
    EXPECT_INT(C, 11, "SETRANGE %s 6 Redis", K("1"));
    EXPECT_BULK(C, "Hello Redis", "GET %s", K("1"));
    /* Past the end: zero padding. */
    EXPECT_INT(C, 6, "SETRANGE %s 3 xyz", K("2"));
    EXPECT_BULKN(C, "\0\0\0xyz", 6, "GET %s", K("2"));
    /* Empty value: the length, and a missing key stays missing. */
    EXPECT_INT(C, 11, "SETRANGE %s 100 %b", K("1"), "", (size_t)0);
    EXPECT_INT(C, 0, "SETRANGE %s 5 %b", K("3"), "", (size_t)0);
    EXPECT_INT(C, 0, "EXISTS %s", K("3"));
    EXPECT_ERR(C, "ERR offset is out of range", "SETRANGE %s -1 x", K("1"));
    EXPECT_ERR(C, NOT_INT, "SETRANGE %s abc x", K("1"));
    /* Exactly 128 is fine; 129 is the value error and nothing changes. */
    EXPECT_INT(C, 128, "SETRANGE %s 127 e", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETRANGE %s 128 e", K("1"));
    EXPECT_ERR(C, "ERR value is 131 bytes; the maximum is 128", "SETRANGE %s 126 abcde", K("1"));
    EXPECT_INT(C, 128, "STRLEN %s", K("1"));
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETRANGE %s 128 e", K("4"));
    EXPECT_INT(C, 0, "EXISTS %s", K("4"));
    redisReply *r = CMD(C, "GETRANGE %s 0 10", K("1"));
    cr_assert_eq(r->len, 11);
    cr_assert(memcmp(r->str, "Hello Redis", 11) == 0);
    freeReplyObject(r);
}

ITEST(commands, getrange_index_rules)
{
    EXPECT_OK(C, "SET %s %s", K("1"), "This is a string");
    EXPECT_BULK(C, "This", "GETRANGE %s 0 3", K("1"));
    EXPECT_BULK(C, "ing", "GETRANGE %s -3 -1", K("1"));
    EXPECT_BULK(C, "This is a string", "GETRANGE %s 0 -1", K("1"));
    EXPECT_BULK(C, "string", "GETRANGE %s 10 100", K("1"));
    EXPECT_BULK(C, "", "GETRANGE %s 5 3", K("1"));
    EXPECT_BULK(C, "", "GETRANGE %s -1 -5", K("1"));
    EXPECT_BULK(C, "", "GETRANGE %s 100 200", K("1"));
    EXPECT_BULK(C, "This is a string", "GETRANGE %s -100 100", K("1"));
    EXPECT_BULK(C, "T", "GETRANGE %s 0 0", K("1"));
    EXPECT_BULK(C, "g", "GETRANGE %s -1 -1", K("1"));
    EXPECT_BULK(C, "", "GETRANGE %s 0 -1", K("9"));
    EXPECT_ERR(C, NOT_INT, "GETRANGE %s a 1", K("1"));
    EXPECT_ERR(C, NOT_INT, "GETRANGE %s 0 1.5", K("1"));
}

/* ---- counters ------------------------------------------------------------------ */

ITEST(commands, incr_decr)
{
    EXPECT_INT(C, 1, "INCR %s", K("1"));
    EXPECT_INT(C, 2, "INCR %s", K("1"));
    EXPECT_INT(C, 1, "DECR %s", K("1"));
    EXPECT_INT(C, 11, "INCRBY %s 10", K("1"));
    EXPECT_INT(C, -4, "DECRBY %s 15", K("1"));
    EXPECT_BULK(C, "-4", "GET %s", K("1"));
    EXPECT_INT(C, -1, "DECR %s", K("2"));
    EXPECT_INT(C, -10, "INCRBY %s -10", K("3"));
    EXPECT_OK(C, "SET %s 100", K("4"));
    EXPECT_INT(C, 101, "INCR %s", K("4"));
}

ITEST(commands, incr_errors)
{
    EXPECT_OK(C, "SET %s abc", K("1"));
    EXPECT_ERR(C, NOT_INT, "INCR %s", K("1"));
    EXPECT_OK(C, "SET %s 01", K("2"));
    EXPECT_ERR(C, NOT_INT, "INCR %s", K("2"));
    EXPECT_OK(C, "SET %s %s", K("3"), " 1");
    EXPECT_ERR(C, NOT_INT, "INCR %s", K("3"));
    EXPECT_OK(C, "SET %s %b", K("4"), "", (size_t)0);
    EXPECT_ERR(C, NOT_INT, "INCR %s", K("4"));
    EXPECT_ERR(C, NOT_INT, "INCRBY %s x", K("5"));
    EXPECT_ERR(C, NOT_INT, "DECRBY %s 1.5", K("5"));
    EXPECT_ERR(C, NOT_INT, "INCRBY %s 99999999999999999999", K("5"));
    EXPECT_INT(C, 0, "EXISTS %s", K("5"));
    EXPECT_BULK(C, "abc", "GET %s", K("1"));
}

ITEST(commands, incr_overflow)
{
    EXPECT_OK(C, "SET %s 9223372036854775807", K("1"));
    EXPECT_ERR(C, "ERR increment or decrement would overflow", "INCR %s", K("1"));
    EXPECT_ERR(C, "ERR increment or decrement would overflow", "INCRBY %s 1", K("1"));
    EXPECT_BULK(C, "9223372036854775807", "GET %s", K("1"));
    EXPECT_OK(C, "SET %s -9223372036854775808", K("2"));
    EXPECT_ERR(C, "ERR increment or decrement would overflow", "DECR %s", K("2"));
    EXPECT_ERR(C, "ERR increment or decrement would overflow", "DECRBY %s 1", K("2"));
    EXPECT_INT(C, -9223372036854775807LL, "INCR %s", K("2"));
    EXPECT_ERR(C, "ERR decrement would overflow", "DECRBY %s -9223372036854775808", K("3"));
    EXPECT_OK(C, "SET %s 9223372036854775808", K("4"));
    EXPECT_ERR(C, NOT_INT, "INCR %s", K("4"));
}

/* ---- keyspace-wide counts on a server of our own --------------------------------- */

ITESTX(commands, dbsize_counts_keys, .init = h_setup_own)
{
    EXPECT_INT(C, 0, "DBSIZE");
    EXPECT_OK(C, "MSET 1 a 2 b ns:1 c");
    EXPECT_INT(C, 3, "DBSIZE");
    EXPECT_INT(C, 1, "DEL 2");
    EXPECT_INT(C, 2, "DBSIZE");
    EXPECT_OK(C, "SET 1 again");
    EXPECT_INT(C, 2, "DBSIZE");
}

ITESTX(commands, flushall_and_flushdb, .init = h_setup_own)
{
    const char *forms[] = {"FLUSHALL", "FLUSHALL ASYNC", "FLUSHALL sync",
                           "FLUSHDB",  "FLUSHDB ASYNC",  "flushdb SYNC"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        EXPECT_OK(C, "MSET 1 a 2 b x:3 c y:4 d");
        EXPECT_INT(C, 4, "DBSIZE");
        EXPECT_OK(C, forms[i]);
        EXPECT_INT(C, 0, "DBSIZE");
        EXPECT_NIL(C, "GET x:3");
        EXPECT_NIL(C, "GET 1");
    }
    EXPECT_OK(C, "SET 1 a");
    EXPECT_ERR(C, SYNTAX, "FLUSHALL LATER");
    EXPECT_ERR(C, SYNTAX, "FLUSHALL ASYNC SYNC");
    EXPECT_ERR(C, SYNTAX, "FLUSHDB x");
    EXPECT_INT(C, 1, "DBSIZE");
}

ITEST(commands, time_shape)
{
    redisReply *r = CMD(C, "TIME");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(r->element[i]->type, REDIS_REPLY_STRING);
        cr_assert(r->element[i]->len > 0);
        for (size_t j = 0; j < r->element[i]->len; j++)
            cr_assert(r->element[i]->str[j] >= '0' && r->element[i]->str[j] <= '9');
    }
    long long sec = atoll(r->element[0]->str), usec = atoll(r->element[1]->str);
    long long now = (long long)time(NULL);
    cr_assert(sec >= now - 5 && sec <= now + 5, "TIME seconds %lld vs now %lld", sec, now);
    cr_assert(usec >= 0 && usec < 1000000);
    freeReplyObject(r);
}
