/* Unit tests for the connection-state commands: the CLIENT PAUSE predicate
 * the daemon asks (which requests a pause holds), keys kept during a pause,
 * CLIENT REPLY's dropped replies, RESET, and RENAME/COPY's TTLs at a clock
 * moved by hand. In-memory clients, exact reply bytes. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"

#define T0 1700000000000LL

static cmd_server psrv;
static cmd_client pa;

static void psetup(void)
{
    cr_assert(cmd_server_init(&psrv));
    psrv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&psrv));
    psrv.clock_fixed = true;
    psrv.now_ms = T0;
    cmd_client_init(&psrv, &pa);
}

static void pteardown(void)
{
    cmd_client_deinit(&psrv, &pa);
    cmd_server_deinit(&psrv);
}

TestSuite(pause, .init = psetup, .fini = pteardown);

static size_t split(const char *first, va_list ap, resp_view *argv)
{
    size_t argc = 0;
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = (resp_view){a, strlen(a)};
    return argc;
}

/* Run one command (each C string one argument); the reply bytes. */
static const char *run(const char *first, ...)
{
    static char reply[1 << 16];
    resp_view argv[16];
    va_list ap;
    va_start(ap, first);
    size_t argc = split(first, ap, argv);
    va_end(ap);
    resp_out_reset(&pa.out);
    cmd_execute(&psrv, &pa, argv, argc);
    cr_assert(pa.out.len < sizeof reply);
    if (pa.out.len > 0) /* an empty out may have no buffer yet */
        memcpy(reply, pa.out.buf, pa.out.len);
    reply[pa.out.len] = '\0';
    return reply;
}

/* Would the pause hold this request? */
static bool held(const char *first, ...)
{
    resp_view argv[16];
    va_list ap;
    va_start(ap, first);
    size_t argc = split(first, ap, argv);
    va_end(ap);
    cmd_request r = {.argv = argv, .argc = argc};
    return cmd_pause_holds(&psrv, &pa, &r);
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)
#define HELD(...) cr_assert(held(__VA_ARGS__, NULL))
#define RUNS(...) cr_assert(!held(__VA_ARGS__, NULL))

Test(pause, write_pause_holds_writes_only)
{
    RUNS("SET", "1", "a");
    R("+OK\r\n", "CLIENT", "PAUSE", "100000", "WRITE");
    cr_assert(cmd_pause_on(&psrv));
    HELD("SET", "1", "a");
    HELD("del", "1");
    HELD("RENAME", "1", "2");
    HELD("FLUSHALL");
    RUNS("GET", "1");
    RUNS("CLIENT", "UNPAUSE");
    /* Refused before they would run: answered at once. */
    RUNS("NOSUCH");
    RUNS("SET", "1");
    RUNS("CLIENT", "NOSUCH");
    /* EXEC is held when its queue writes. */
    R("+OK\r\n", "MULTI");
    R("+QUEUED\r\n", "GET", "1");
    RUNS("EXEC");
    R("+OK\r\n", "DISCARD");
    R("+OK\r\n", "MULTI");
    HELD("SET", "1", "a");
    pa.tx_state = CMD_TX_NONE; /* as if it had queued the SET meanwhile */
    R("+OK\r\n", "CLIENT", "UNPAUSE");
    cr_assert(!cmd_pause_on(&psrv));
    cr_assert(cmd_pause_refresh(&psrv), "unpause loosened the pause");
    cr_assert(!cmd_pause_refresh(&psrv), "said once");
    RUNS("SET", "1", "a");
}

Test(pause, all_pause_holds_everything_and_merges)
{
    R("+OK\r\n", "CLIENT", "PAUSE", "100000", "WRITE");
    int64_t end = cmd_pause_deadline_ms(&psrv);
    R("+OK\r\n", "CLIENT", "PAUSE", "10", "ALL");
    /* The stricter kind, the later end. */
    HELD("GET", "1");
    HELD("CLIENT", "UNPAUSE");
    HELD("PING");
    cr_assert_eq(cmd_pause_deadline_ms(&psrv), end);
    R("+OK\r\n", "CLIENT", "PAUSE", "0");
    cr_assert_eq(psrv.pause_type, CMD_PAUSE_ALL);
}

Test(pause, zero_timeout_pauses_nothing)
{
    R("+OK\r\n", "CLIENT", "PAUSE", "0", "ALL");
    cr_assert(!cmd_pause_on(&psrv));
    R("-ERR timeout is negative\r\n", "CLIENT", "PAUSE", "-5");
    R("-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n", "CLIENT", "PAUSE", "5", "some");
}

Test(pause, keys_stay_during_a_pause)
{
    R("+OK\r\n", "SET", "1", "v", "PX", "10");
    R("+OK\r\n", "CLIENT", "PAUSE", "100000", "WRITE");
    psrv.now_ms = T0 + 20;
    R("$-1\r\n", "GET", "1");
    R(":-2\r\n", "PTTL", "1");
    R(":1\r\n", "DBSIZE"); /* left in place */
    cr_assert_eq(psrv.st.expired_keys, 0);
    R("+OK\r\n", "CLIENT", "UNPAUSE");
    R("$-1\r\n", "GET", "1");
    R(":0\r\n", "DBSIZE"); /* reclaimed by the lookup now */
    cr_assert_eq(psrv.st.expired_keys, 1);
}

Test(pause, client_reply_drops_replies)
{
    R("", "CLIENT", "REPLY", "OFF");
    R("", "SET", "1", "a");
    R("", "NOSUCH");
    R("", "CLIENT", "REPLY", "SKIP"); /* no effect under OFF */
    R("+OK\r\n", "CLIENT", "REPLY", "ON");
    R("$1\r\na\r\n", "GET", "1");
    R("", "CLIENT", "REPLY", "SKIP");
    R("", "GET", "1");
    R("$1\r\na\r\n", "GET", "1");
    /* A skipped RESET still resets; the reply after it is back. */
    R("", "CLIENT", "REPLY", "SKIP");
    R("", "RESET");
    R("+PONG\r\n", "PING");
}

Test(pause, reset_clears_the_state)
{
    R("+OK\r\n", "CLIENT", "SETNAME", "me");
    R("+OK\r\n", "CLIENT", "NO-EVICT", "ON");
    R("+OK\r\n", "WATCH", "1");
    R("+OK\r\n", "MULTI");
    R("+QUEUED\r\n", "SET", "1", "a");
    pa.out.proto = 3;
    R("+RESET\r\n", "RESET");
    cr_assert_eq(pa.out.proto, 2);
    cr_assert_eq(pa.tx_state, CMD_TX_NONE);
    cr_assert_eq(psrv.watched_keys, 0);
    cr_assert_null(pa.name);
    cr_assert(pa.no_evict, "NO-EVICT outlives RESET, as in Redis 7.0");
    R("$-1\r\n", "GET", "1");
}

Test(pause, rename_and_copy_keep_the_ttl)
{
    R("+OK\r\n", "SET", "a:1", "v", "PX", "5000");
    R("+OK\r\n", "RENAME", "a:1", "b:1");
    R(":5000\r\n", "PTTL", "b:1");
    R(":0\r\n", "EXISTS", "a:1");
    R(":1\r\n", "COPY", "b:1", "2");
    R(":5000\r\n", "PTTL", "2");
    R("+OK\r\n", "SET", "3", "w");
    R(":0\r\n", "RENAMENX", "2", "3");
    R("+OK\r\n", "RENAME", "3", "2"); /* the TTL-less value replaces */
    R(":-1\r\n", "PTTL", "2");
    R("$1\r\nw\r\n", "GET", "2");
    R("-ERR no such key\r\n", "RENAME", "9", "10");
    R("-ERR DB index is out of range\r\n", "COPY", "2", "4", "DB", "3");
}
