/*
 * test_pause.c - the client's connection state: CLIENT PAUSE and UNPAUSE
 * (held input, its order, disconnects, frozen expiry), CLIENT REPLY,
 * CLIENT NO-EVICT, RESET, and the flags CLIENT LIST shows for them.
 *
 * A pause is server-wide, so every test starts its own server. Waits are
 * polls (blocked_clients, connected_clients, PTTL); the only time bound is
 * "not before the pause's end", which cannot flake.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(pause, .init = h_setup_own, .fini = h_teardown, .timeout = 120);

/* Send a command on c without waiting for its reply. */
static void send_only(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_assert_eq(redisvAppendCommand(c, fmt, ap), REDIS_OK);
    va_end(ap);
    int done = 0;
    while (!done)
        cr_assert_eq(redisBufferWrite(c, &done), REDIS_OK);
}

static redisReply *next_reply(redisContext *c)
{
    void *r = NULL;
    cr_assert_eq(redisGetReply(c, &r), REDIS_OK, "no reply: %s", c->errstr);
    return r;
}

static void expect_next(redisContext *c, int type, const char *str)
{
    redisReply *r = next_reply(c);
    cr_assert_eq(r->type, type, "type %d, want %d (%s)", r->type, type,
                 r->str != NULL ? r->str : "");
    if (str != NULL)
        cr_assert_str_eq(r->str, str);
    freeReplyObject(r);
}

/* Poll until INFO clients' field reads want. */
static void wait_clients_field(const char *field, long long want)
{
    long long got = h_info_wait(C, "clients", field, want, 10.0);
    cr_assert_eq(got, want, "%s is %lld, want %lld", field, got, want);
}

ITEST(pause, write_pause_holds_a_set_and_serves_a_get)
{
    EXPECT_OK(C, "SET 1 a");
    redisContext *w = h_connect();
    EXPECT_OK(C, "CLIENT PAUSE 100000 WRITE");
    send_only(w, "SET 1 b");
    wait_clients_field("blocked_clients", 1);
    /* Reads are served meanwhile, and see the old value. */
    EXPECT_BULK(C, "a", "GET 1");
    redisReply *r = CMD(C, "CLIENT LIST");
    cr_assert(strstr(r->str, "flags=b") != NULL, "%s", r->str);
    freeReplyObject(r);
    EXPECT_OK(C, "CLIENT UNPAUSE");
    expect_next(w, REDIS_REPLY_STATUS, "OK");
    EXPECT_BULK(C, "b", "GET 1");
    wait_clients_field("blocked_clients", 0);
    redisFree(w);
}

ITEST(pause, all_pause_holds_reads_and_writes_until_its_time)
{
    EXPECT_OK(C, "SET 1 a");
    redisContext *rd = h_connect(), *wr = h_connect();
    double t0 = h_now();
    EXPECT_OK(C, "CLIENT PAUSE 300 ALL");
    send_only(rd, "GET 1");
    send_only(wr, "SET 2 x");
    /* Unknown commands and arity errors are answered at once. */
    EXPECT_ERR(C, "ERR unknown command 'nosuch', with args beginning with: ", "nosuch");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'get' command", "GET");
    expect_next(rd, REDIS_REPLY_STRING, "a");
    expect_next(wr, REDIS_REPLY_STATUS, "OK");
    /* The pause ended 300 ms after it began at the earliest. */
    double took = h_now() - t0;
    cr_assert(took >= 0.29, "served after %.3f s", took);
    EXPECT_BULK(C, "x", "GET 2");
    redisFree(rd);
    redisFree(wr);
}

ITEST(pause, held_input_runs_in_order)
{
    redisContext *a = h_connect(), *b = h_connect();
    EXPECT_OK(C, "CLIENT PAUSE 100000 WRITE");
    /* a's pipeline is held at its first write, reads after it included. */
    send_only(a, "SET 1 x");
    send_only(a, "GET 1");
    send_only(a, "INCR 3");
    send_only(a, "GET 3");
    wait_clients_field("blocked_clients", 1);
    send_only(b, "SET 1 y");
    send_only(b, "INCR 3");
    wait_clients_field("blocked_clients", 2);
    EXPECT_NIL(C, "GET 1");
    EXPECT_OK(C, "CLIENT UNPAUSE");
    expect_next(a, REDIS_REPLY_STATUS, "OK");
    expect_next(a, REDIS_REPLY_STRING, "x");
    redisReply *r = next_reply(a);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, 1);
    freeReplyObject(r);
    expect_next(a, REDIS_REPLY_STRING, "1");
    /* b was held after a, so it ran after a. */
    expect_next(b, REDIS_REPLY_STATUS, "OK");
    r = next_reply(b);
    cr_assert_eq(r->integer, 2);
    freeReplyObject(r);
    EXPECT_BULK(C, "y", "GET 1");
    redisFree(a);
    redisFree(b);
}

ITEST(pause, held_client_that_disconnects_is_freed)
{
    redisContext *w = h_connect();
    EXPECT_OK(C, "CLIENT PAUSE 100000 WRITE");
    send_only(w, "SET 1 gone");
    wait_clients_field("blocked_clients", 1);
    redisFree(w);
    wait_clients_field("connected_clients", 1);
    wait_clients_field("blocked_clients", 0);
    EXPECT_OK(C, "CLIENT UNPAUSE");
    /* What it sent went with it, as in Redis. */
    EXPECT_NIL(C, "GET 1");
}

ITEST(pause, keys_do_not_expire_during_a_pause)
{
    /* 1 s leaves room for a slow machine between the two commands. */
    EXPECT_OK(C, "SET 1 v PX 1000");
    EXPECT_OK(C, "CLIENT PAUSE 100000 WRITE");
    redisReply *r0 = CMD(C, "PTTL 1");
    cr_assert_gt(r0->integer, 0, "the key expired before the pause began");
    freeReplyObject(r0);
    /* The key reads as gone once its time has come, but stays. */
    double deadline = h_now() + 10.0 * h_slow();
    long long pttl = 0;
    do {
        redisReply *r = CMD(C, "PTTL 1");
        pttl = r->integer;
        freeReplyObject(r);
    } while (pttl != -2 && h_now() < deadline);
    cr_assert_eq(pttl, -2);
    EXPECT_NIL(C, "GET 1");
    EXPECT_INT(C, 1, "DBSIZE");
    char *info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "expired_keys"), 0);
    free(info);
    EXPECT_OK(C, "CLIENT UNPAUSE");
    /* Active expiry takes it once the pause is over. */
    deadline = h_now() + 10.0 * h_slow();
    long long n = 1;
    while (n != 0 && h_now() < deadline) {
        redisReply *r = CMD(C, "DBSIZE");
        n = r->integer;
        freeReplyObject(r);
    }
    cr_assert_eq(n, 0);
}

ITEST(pause, pause_errors)
{
    EXPECT_ERR(C, "ERR timeout is negative", "CLIENT PAUSE -1");
    EXPECT_ERR(C, "ERR timeout is not an integer or out of range", "CLIENT PAUSE x");
    EXPECT_ERR(C, "ERR CLIENT PAUSE mode must be WRITE or ALL", "CLIENT PAUSE 10 foo");
    EXPECT_ERR(C,
               "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT "
               "HELP.",
               "CLIENT PAUSE 10 WRITE x");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'client|pause' command", "CLIENT PAUSE");
    /* 0 pauses nothing. */
    EXPECT_OK(C, "CLIENT PAUSE 0");
    EXPECT_OK(C, "SET 1 a");
}

/* ---- CLIENT REPLY --------------------------------------------------------------- */

ITEST(pause, client_reply_off_skip_on)
{
    h_raw *r = h_raw_open();
    h_raw_sends(r, "CLIENT REPLY OFF\r\nSET 1 a\r\nGET 1\r\nNOSUCH\r\nCLIENT REPLY SKIP\r\n"
                   "CLIENT REPLY ON\r\nGET 1\r\n");
    RAW_EXPECT(r, "+OK\r\n$1\r\na\r\n");
    h_raw_sends(r, "CLIENT REPLY SKIP\r\nGET 1\r\nPING\r\n");
    RAW_EXPECT(r, "+PONG\r\n");
    h_raw_sends(r, "CLIENT REPLY foo\r\n");
    RAW_EXPECT(r, "-ERR syntax error\r\n");
    h_raw_close(r);
}

/* ---- RESET and CLIENT LIST flags -------------------------------------------------- */

static char *client_info(redisContext *c)
{
    redisReply *r = CMD(c, "CLIENT INFO");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    char *s = strdup(r->str);
    freeReplyObject(r);
    return s;
}

ITEST(pause, reset_in_multi_discards_it)
{
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "SET 1 a");
    EXPECT_STATUS(C, "QUEUED", "SET 2 a");
    EXPECT_STATUS(C, "RESET", "RESET");
    EXPECT_ERR(C, "ERR EXEC without MULTI", "EXEC");
    EXPECT_NIL(C, "GET 1");
}

ITEST(pause, client_list_shows_multi_and_no_evict)
{
    EXPECT_OK(C, "CLIENT NO-EVICT ON");
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "SET 1 a");
    redisContext *o = h_connect();
    redisReply *r = CMD(o, "CLIENT LIST");
    cr_assert(strstr(r->str, "flags=xe db=0 sub=0 psub=0 ssub=0 multi=1 ") != NULL, "%s", r->str);
    freeReplyObject(r);
    EXPECT_STATUS(C, "RESET", "RESET");
    /* NO-EVICT outlives RESET, as in Redis 7.0. */
    char *info = client_info(C);
    cr_assert(strstr(info, "flags=e db=0 sub=0 psub=0 ssub=0 multi=-1 ") != NULL, "%s", info);
    free(info);
    EXPECT_OK(C, "CLIENT NO-EVICT OFF");
    info = client_info(C);
    cr_assert(strstr(info, "flags=N ") != NULL, "%s", info);
    free(info);
    redisFree(o);
}

ITEST(pause, reset_forgets_watches)
{
    redisContext *o = h_connect();
    EXPECT_OK(C, "WATCH 1");
    EXPECT_OK(o, "SET 1 changed");
    char *info = client_info(C);
    cr_assert(strstr(info, "flags=d ") != NULL, "%s", info);
    free(info);
    EXPECT_STATUS(C, "RESET", "RESET");
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "SET 2 x");
    redisReply *r = CMD(C, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "EXEC aborted after RESET");
    freeReplyObject(r);
    redisFree(o);
}

ITEST(pause, reset_leaves_monitor_and_resp3)
{
    h_raw *m = h_raw_open();
    h_raw_sends(m, "HELLO 3\r\n");
    free(RAW_REPLY(m, NULL));
    h_raw_sends(m, "MONITOR\r\n");
    RAW_EXPECT(m, "+OK\r\n");
    h_raw_sends(m, "RESET\r\n");
    RAW_EXPECT(m, "+RESET\r\n");
    EXPECT_OK(C, "SET 1 a");
    /* No feed of that SET; RESP2 again (a null is $-1). */
    h_raw_sends(m, "GET 2\r\n");
    RAW_EXPECT(m, "$-1\r\n");
    h_raw_close(m);
}

ITEST(pause, reset_logs_out_when_a_password_is_set)
{
    /* C stays logged in: it connected before the password was set. */
    EXPECT_OK(C, "CONFIG SET requirepass pw");
    h_raw *r = h_raw_open();
    h_raw_sends(r, "AUTH pw\r\nCLIENT SETNAME me\r\nRESET\r\nGET 1\r\n");
    RAW_EXPECT(r, "+OK\r\n+OK\r\n+RESET\r\n-NOAUTH Authentication required.\r\n");
    h_raw_sends(r, "AUTH pw\r\nCLIENT GETNAME\r\n");
    RAW_EXPECT(r, "+OK\r\n$-1\r\n");
    h_raw_close(r);
    EXPECT_OK(C, "CONFIG SET requirepass %s", "");
}
