/* Unit tests for transactions (multi.c): MULTI, EXEC, DISCARD, WATCH and
 * UNWATCH against in-memory clients, exact reply bytes, with two clients
 * for the WATCH cases and the server's clock moved by hand for expiry. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"

#define T0 1700000000000LL

static cmd_server msrv;
static cmd_client ca, cb;

static void msetup(void)
{
    cr_assert(cmd_server_init(&msrv));
    msrv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&msrv));
    msrv.clock_fixed = true;
    msrv.now_ms = T0;
    cmd_client_init(&msrv, &ca);
    cmd_client_init(&msrv, &cb);
}

static void mteardown(void)
{
    cmd_client_deinit(&msrv, &ca);
    cmd_client_deinit(&msrv, &cb);
    cmd_server_deinit(&msrv);
}

TestSuite(multi, .init = msetup, .fini = mteardown);

/* Run one command on client c, given as NULL-terminated C strings (split
 * on nothing: each is one argument); return the reply bytes. */
static const char *on(cmd_client *c, const char *first, ...)
{
    static char reply[1 << 16];
    resp_view argv[32];
    size_t argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = (resp_view){a, strlen(a)};
    va_end(ap);
    resp_out_reset(&c->out);
    cmd_execute(&msrv, c, argv, argc);
    cr_assert(c->out.len < sizeof reply);
    memcpy(reply, c->out.buf, c->out.len);
    reply[c->out.len] = '\0';
    return reply;
}

#define A(expect, ...) cr_assert_str_eq(on(&ca, __VA_ARGS__, NULL), expect)
#define B(expect, ...) cr_assert_str_eq(on(&cb, __VA_ARGS__, NULL), expect)

static const char EXECABORT[] = "-EXECABORT Transaction discarded because of previous errors.\r\n";

Test(multi, queue_then_exec_runs_in_order)
{
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "set", "1", "5");
    A("+QUEUED\r\n", "incr", "1");
    A("+QUEUED\r\n", "get", "1");
    /* Nothing ran yet: another client sees no key. */
    B("$-1\r\n", "get", "1");
    A("*3\r\n+OK\r\n:6\r\n$1\r\n6\r\n", "exec");
    B("$1\r\n6\r\n", "get", "1");
    A("-ERR wrong number of arguments for 'multi' command\r\n", "multi", "exec");
}

Test(multi, errors_of_the_protocol_of_transactions)
{
    A("-ERR EXEC without MULTI\r\n", "exec");
    A("-ERR DISCARD without MULTI\r\n", "discard");
    A("+OK\r\n", "multi");
    A("-ERR MULTI calls can not be nested\r\n", "multi");
    A("-ERR WATCH inside MULTI is not allowed\r\n", "watch", "1");
    A("+QUEUED\r\n", "set", "1", "x");
    /* Neither error above fails the transaction. */
    A("*1\r\n+OK\r\n", "exec");
    A("+OK\r\n", "multi");
    A("+OK\r\n", "discard");
    A("-ERR EXEC without MULTI\r\n", "exec");
    B("$1\r\nx\r\n", "get", "1");
}

Test(multi, errors_while_queueing_abort_exec)
{
    /* Unknown command, wrong arity, unknown subcommand, invalid key. */
    const char *bad[][4] = {{"nosuch", NULL},
                            {"set", "1", NULL},
                            {"config", "nosuch", NULL},
                            {"get", "not-a-key", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        A("+OK\r\n", "multi");
        A("+QUEUED\r\n", "set", "1", "queued");
        const char *r = on(&ca, bad[i][0], bad[i][1], bad[i][2], NULL);
        cr_assert_eq(r[0], '-', "%s: %s", bad[i][0], r);
        A("+QUEUED\r\n", "get", "1");
        A(EXECABORT, "exec");
        B("$-1\r\n", "get", "1");
        cr_assert_eq(ca.tx_state, CMD_TX_NONE);
    }
}

Test(multi, runtime_errors_do_not_roll_back)
{
    A("+OK\r\n", "set", "1", "abc");
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "incr", "1");
    A("+QUEUED\r\n", "set", "2", "ok");
    A("*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n", "exec");
    B("$2\r\nok\r\n", "get", "2");
}

Test(multi, watch_aborts_on_a_write_by_anyone)
{
    /* Keys that exist, overwritten (even with the same value): only the
     * write itself tells. */
    A("+OK\r\n", "set", "1", "a");
    A("+OK\r\n", "set", "ns:2", "a");
    A("+OK\r\n", "watch", "1");
    B("+OK\r\n", "set", "1", "a");
    A("+OK\r\n", "multi");
    A("*-1\r\n", "exec");
    A("+OK\r\n", "watch", "1");
    B(":1\r\n", "expire", "1", "100");
    A("+OK\r\n", "multi");
    A("*-1\r\n", "exec");
    A("+OK\r\n", "watch", "1", "ns:2");
    B("+OK\r\n", "set", "ns:2", "b");
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "set", "3", "a");
    A("*-1\r\n", "exec");
    B("$-1\r\n", "get", "3");
    /* The watches went with EXEC: the next transaction runs. */
    B("+OK\r\n", "set", "ns:2", "c");
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "set", "3", "a");
    A("*1\r\n+OK\r\n", "exec");
    /* Its own write aborts it too; a write to another key does not. */
    A("+OK\r\n", "watch", "4");
    B("+OK\r\n", "set", "5", "x");
    A("+OK\r\n", "multi");
    A("*0\r\n", "exec");
    A("+OK\r\n", "watch", "4");
    A("+OK\r\n", "set", "4", "mine");
    A("+OK\r\n", "multi");
    A("*-1\r\n", "exec");
}

Test(multi, watch_of_a_missing_key_aborts_when_it_is_created)
{
    A("+OK\r\n", "watch", "7");
    B(":1\r\n", "incr", "7");
    A("+OK\r\n", "multi");
    A("*-1\r\n", "exec");
}

Test(multi, unwatch_and_discard_forget_the_watches)
{
    A("+OK\r\n", "watch", "1");
    A("+OK\r\n", "unwatch");
    B("+OK\r\n", "set", "1", "b");
    A("+OK\r\n", "multi");
    A("*0\r\n", "exec");
    A("+OK\r\n", "watch", "1");
    A("+OK\r\n", "multi");
    A("+OK\r\n", "discard");
    B("+OK\r\n", "set", "1", "c");
    A("+OK\r\n", "multi");
    A("*0\r\n", "exec");
}

Test(multi, watched_key_expiring_aborts)
{
    A("+OK\r\n", "set", "1", "v", "px", "100");
    A("+OK\r\n", "watch", "1");
    msrv.now_ms += 200;
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "get", "1");
    A("*-1\r\n", "exec");
    /* A missing key that stays missing does not. */
    A("+OK\r\n", "watch", "99");
    msrv.now_ms += 200;
    A("+OK\r\n", "multi");
    A("*0\r\n", "exec");
}

Test(multi, flushall_aborts_only_watchers_of_keys_it_removed)
{
    A("+OK\r\n", "set", "1", "v");
    A("+OK\r\n", "watch", "1");
    B("+OK\r\n", "watch", "2");
    B("+OK\r\n", "set", "3", "x"); /* not watched */
    B("+OK\r\n", "flushall");
    A("+OK\r\n", "multi");
    A("*-1\r\n", "exec");
    B("+OK\r\n", "multi");
    B("*0\r\n", "exec");
}

Test(multi, resp3_null_and_counting)
{
    on(&ca, "hello", "3", NULL);
    A("+OK\r\n", "watch", "1");
    B("+OK\r\n", "set", "1", "b");
    A("+OK\r\n", "multi");
    A("_\r\n", "exec");
    /* Queued commands count as calls when EXEC runs them. */
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "incr", "9");
    A("+QUEUED\r\n", "incr", "9");
    A("*2\r\n:1\r\n:2\r\n", "exec");
    const char *info = on(&ca, "info", "commandstats", NULL);
    cr_assert(strstr(info, "cmdstat_incr:calls=2,") != NULL, "%s", info);
    cr_assert(strstr(info, "cmdstat_exec:calls=2,") != NULL, "%s", info);
    cr_assert(strstr(info, "cmdstat_multi:calls=2,") != NULL, "%s", info);
}

Test(multi, queue_limit_fails_the_transaction)
{
    A("+OK\r\n", "config", "set", "multi-queue-limit", "2048");
    A("+OK\r\n", "multi");
    char big[120];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *r = "";
    int queued = 0;
    for (int i = 0; i < 100; i++) {
        r = on(&ca, "set", "1", big, NULL);
        if (strcmp(r, "+QUEUED\r\n") != 0)
            break;
        queued++;
    }
    cr_assert_str_eq(r, "-ERR transaction queue passes multi-queue-limit (2048 bytes): EXEC will "
                        "abort\r\n");
    cr_assert(queued > 0 && queued < 20, "%d queued under 2048 bytes", queued);
    A("+QUEUED\r\n", "get", "1");
    A(EXECABORT, "exec");
    B("$-1\r\n", "get", "1");
}

Test(multi, shrink_and_monitor_inside_exec_do_not_block)
{
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "shrink");
    A("+QUEUED\r\n", "monitor");
    A("*2\r\n+OK\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n", "exec");
    cr_assert(!ca.blocked && !ca.monitor);
    int guard = 0;
    while (cmd_server_urgent(&msrv, 1000))
        cr_assert(++guard < 100000);
}

Test(multi, a_client_leaving_mid_transaction_frees_it)
{
    A("+OK\r\n", "watch", "1", "2", "3");
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "set", "1", "x");
    cmd_client_deinit(&msrv, &ca);
    cmd_client_init(&msrv, &ca);
    /* The watches are gone with it: a write to a key it watched is fine. */
    B("+OK\r\n", "set", "1", "y");
    A("-ERR EXEC without MULTI\r\n", "exec");
}

Test(multi, maxmemory_is_checked_once_before_exec)
{
    A("+OK\r\n", "set", "2", "x"); /* some memory in use (no cron here counts the heap) */
    /* Queued under the limit, over it by EXEC: refused as a whole. */
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "set", "1", "x");
    B("+OK\r\n", "config", "set", "maxmemory", "1");
    A("-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > "
      "'maxmemory'.\r\n",
      "exec");
    /* Over the limit while queueing: the write is refused at once. */
    A("+OK\r\n", "multi");
    A("-OOM command not allowed when used memory > 'maxmemory'.\r\n", "set", "1", "x");
    A(EXECABORT, "exec");
    B("$-1\r\n", "get", "1");
    /* A transaction that only reads runs. */
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "get", "1");
    A("*1\r\n$-1\r\n", "exec");
    /* A refused EXEC ends the transaction too. */
    A("+OK\r\n", "multi");
    A("-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' "
      "command\r\n",
      "exec", "x");
    A("-ERR EXEC without MULTI\r\n", "exec");
}

Test(multi, slowlog_logs_the_commands_not_exec)
{
    A("+OK\r\n", "config", "set", "slowlog-log-slower-than", "0");
    A("+OK\r\n", "slowlog", "reset");
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "incr", "5");
    A("*1\r\n:1\r\n", "exec");
    const char *r = on(&ca, "slowlog", "get", NULL);
    cr_assert(strstr(r, "$4\r\nincr\r\n") != NULL, "%s", r);
    cr_assert(strstr(r, "$5\r\nmulti\r\n") != NULL, "%s", r);
    cr_assert(strstr(r, "$4\r\nexec\r\n") == NULL, "%s", r);
}

Test(multi, refused_and_deferred_errors_as_redis)
{
    A("+OK\r\n", "multi");
    A("-ERR Command not allowed inside a transaction\r\n", "shutdown");
    A(EXECABORT, "exec");
    /* MSET missing a value: queued, and its arity error comes from EXEC. */
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "mset", "1", "a", "2");
    A("*1\r\n-ERR wrong number of arguments for 'mset' command\r\n", "exec");
    B("$-1\r\n", "get", "1");
}

Test(multi, queued_commands_count_once)
{
    const char *info = on(&ca, "info", "stats", NULL);
    long long before = atoll(strstr(info, "total_commands_processed:") + 25);
    A("+OK\r\n", "multi");
    A("+QUEUED\r\n", "incr", "1");
    A("+QUEUED\r\n", "incr", "1");
    A("*2\r\n:1\r\n:2\r\n", "exec");
    info = on(&ca, "info", "stats", NULL);
    long long after = atoll(strstr(info, "total_commands_processed:") + 25);
    /* INFO (the first one), MULTI, the two INCRs, EXEC: 5, as Redis. */
    cr_assert_eq(after - before, 5, "%lld commands counted", after - before);
}
