/*
 * test_pubsub.c - unit tests of pub/sub (pubsub.c, and what dispatch.c and
 * connection.c do for subscribed clients) against an in-memory server with
 * three clients: replies, messages and errors byte for byte in RESP2 and
 * RESP3, the bound on subscriptions, the tables left empty after
 * unsubscribing, and client-output-buffer-limit's classes.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_testlib.h"
#include "pubsub.h"
#include "strbuf.h"

static cmd_server psrv;
static cmd_client pa, pb, pc;

static void psetup(void)
{
    tl_server_start(&psrv);
    cmd_client_init(&psrv, &pa);
    cmd_client_init(&psrv, &pb);
    cmd_client_init(&psrv, &pc);
}

static void pteardown(void)
{
    cmd_client_deinit(&psrv, &pa);
    cmd_client_deinit(&psrv, &pb);
    cmd_client_deinit(&psrv, &pc);
    cr_assert_eq(cmd_pubsub_channels(&psrv), 0);
    cr_assert_eq(cmd_pubsub_patterns(&psrv), 0);
    cr_assert_eq(psrv.clients.pubsub, 0);
    cmd_server_deinit(&psrv);
}

TestSuite(pubsub, .init = psetup, .fini = pteardown);

/* What c has been sent since the last call (its output, then emptied). */
static const char *sent(cmd_client *c)
{
    return tl_take(c);
}

/* Run a command for c; return what c was sent. */
static const char *run(cmd_client *c, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    tl_execv(&psrv, c, first, ap);
    va_end(ap);
    return sent(c);
}

#define R(c, expect, ...) cr_assert_str_eq(run(c, __VA_ARGS__, NULL), expect)
#define SENT(c, expect) cr_assert_str_eq(sent(c), expect)

#define SUB(ch, n) "*3\r\n$9\r\nsubscribe\r\n$" #n "\r\n" ch "\r\n"
#define CANT(cmd)                                                                                  \
    "-ERR Can't execute '" cmd "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "  \
    "are allowed in this context\r\n"

Test(pubsub, subscribe_publish_unsubscribe_resp2)
{
    R(&pa,
      "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
      "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n",
      "SUBSCRIBE", "a", "b", "a");
    cr_assert_eq(pa.nsub, 2);
    cr_assert_eq(cmd_pubsub_channels(&psrv), 2);
    R(&pb, ":1\r\n", "PUBLISH", "a", "hello");
    SENT(&pa, "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n");
    R(&pb, ":0\r\n", "PUBLISH", "nobody", "x");
    /* Messages in the order they were published. */
    R(&pb, ":1\r\n", "PUBLISH", "b", "1");
    R(&pb, ":1\r\n", "PUBLISH", "a", "2");
    SENT(&pa, "*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$1\r\n1\r\n"
              "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\n2\r\n");
    R(&pa,
      "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nz\r\n:1\r\n",
      "UNSUBSCRIBE", "b", "z");
    R(&pa, "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n", "UNSUBSCRIBE");
    R(&pa, "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n", "UNSUBSCRIBE");
    R(&pa, "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n", "PUNSUBSCRIBE");
    cr_assert_eq(cmd_pubsub_channels(&psrv), 0);
    cr_assert_null(pa.subs);
    R(&pb, ":0\r\n", "PUBLISH", "a", "gone");
    SENT(&pa, "");
    /* Out of subscribed mode: every command again. */
    R(&pa, "+PONG\r\n", "PING");
}

Test(pubsub, resp2_subscribed_mode_allows_only_redis_list)
{
    R(&pa, SUB("a", 1) ":1\r\n", "SUBSCRIBE", "a");
    R(&pa, "*2\r\n$4\r\npong\r\n$0\r\n\r\n", "PING");
    R(&pa, "*2\r\n$4\r\npong\r\n$1\r\nx\r\n", "PING", "x");
    R(&pa, CANT("get"), "GET", "1");
    R(&pa, CANT("client|info"), "CLIENT", "INFO");
    R(&pa, CANT("publish"), "PUBLISH", "a", "x");
    R(&pa, CANT("multi"), "MULTI");
    R(&pa, CANT("hello"), "HELLO", "3");
    /* Existence and arity come first, as in Redis. */
    R(&pa, "-ERR unknown command 'foo', with args beginning with: \r\n", "foo");
    R(&pa, "-ERR wrong number of arguments for 'get' command\r\n", "GET");
    R(&pa, "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n", "CLIENT", "foo");
    R(&pa, "*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:2\r\n", "PSUBSCRIBE", "x*");
    /* RESET unsubscribes from everything, silently. */
    R(&pa, "+RESET\r\n", "RESET");
    cr_assert_eq(pa.nsub + pa.npsub, 0);
    cr_assert_eq(cmd_pubsub_channels(&psrv) + cmd_pubsub_patterns(&psrv), 0);
    R(&pa, "$-1\r\n", "GET", "1");
}

Test(pubsub, resp3_pushes_and_any_command)
{
    cr_assert_str_neq(run(&pa, "HELLO", "3", NULL), "");
    R(&pa, ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", "SUBSCRIBE", "ch");
    R(&pa, ">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:2\r\n", "PSUBSCRIBE", "c*");
    R(&pa, "+PONG\r\n", "PING");
    R(&pa, "_\r\n", "GET", "1");
    R(&pb, ":2\r\n", "PUBLISH", "ch", "hi");
    SENT(&pa, ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
              ">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n");
    /* Publishing to itself: the pushes come before PUBLISH's reply. */
    R(&pa,
      ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"
      ">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$1\r\nx\r\n:2\r\n",
      "PUBLISH", "ch", "x");
    /* CLIENT REPLY OFF drops replies, not pushes (as Redis 7.0.15). */
    R(&pa, "", "CLIENT", "REPLY", "OFF");
    R(&pa,
      ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\ny\r\n"
      ">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$1\r\ny\r\n",
      "PUBLISH", "ch", "y");
    R(&pa, ">3\r\n$9\r\nsubscribe\r\n$1\r\nq\r\n:3\r\n", "SUBSCRIBE", "q");
    /* EXEC's reply goes as a whole, pushes of its commands included:
     * never a part of it. */
    R(&pa, "", "MULTI");
    R(&pa, "", "SUBSCRIBE", "q2");
    R(&pa, "", "EXEC");
    R(&pa, "+OK\r\n", "CLIENT", "REPLY", "ON");
    R(&pa, ">3\r\n$11\r\nunsubscribe\r\n$2\r\nq2\r\n:3\r\n", "UNSUBSCRIBE", "q2");
    R(&pa, ">3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:2\r\n", "PUNSUBSCRIBE");
    R(&pa, ">3\r\n$12\r\npunsubscribe\r\n_\r\n:2\r\n", "PUNSUBSCRIBE");
    /* A RESP2 subscriber of the same channel gets arrays. */
    R(&pb, SUB("ch", 2) ":1\r\n", "SUBSCRIBE", "ch");
    R(&pc, ":2\r\n", "PUBLISH", "ch", "z");
    SENT(&pa, ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nz\r\n");
    SENT(&pb, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nz\r\n");
}

Test(pubsub, patterns_and_binary_channels)
{
    R(&pa, "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n", "PSUBSCRIBE", "news.*");
    R(&pb, "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n", "PSUBSCRIBE", "news.*");
    R(&pb, "*3\r\n$10\r\npsubscribe\r\n$6\r\nn?ws.*\r\n:2\r\n", "PSUBSCRIBE", "n?ws.*");
    cr_assert_eq(cmd_pubsub_patterns(&psrv), 2);
    R(&pc, ":2\r\n", "PUBSUB", "NUMPAT");
    /* pb matches twice: each matching subscription is a receiver. */
    R(&pc, ":3\r\n", "PUBLISH", "news.it", "m");
    SENT(&pa, "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$7\r\nnews.it\r\n$1\r\nm\r\n");
    cr_assert_str_eq(sent(&pb),
                     "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$7\r\nnews.it\r\n$1\r\nm\r\n"
                     "*4\r\n$8\r\npmessage\r\n$6\r\nn?ws.*\r\n$7\r\nnews.it\r\n$1\r\nm\r\n");
    R(&pc, ":0\r\n", "PUBLISH", "sports", "m");
    R(&pa, "*3\r\n$12\r\npunsubscribe\r\n$6\r\nnews.*\r\n:0\r\n", "PUNSUBSCRIBE", "news.*");
    cr_assert_eq(cmd_pubsub_patterns(&psrv), 2); /* pb still holds it */
    /* Channel names are bytes, not keys: NUL, CR, LF, any length. */
    resp_view argv[3] = {{"SUBSCRIBE", 9}, {"a\0b\r\n", 5}, {"", 0}};
    cmd_execute(&psrv, &pc, argv, 3);
    static const char both[] = "*3\r\n$9\r\nsubscribe\r\n$5\r\na\0b\r\n\r\n:1\r\n"
                               "*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n:2\r\n";
    cr_assert_eq(pc.out.len, sizeof both - 1);
    cr_assert(memcmp(pc.out.buf, both, sizeof both - 1) == 0);
    resp_out_reset(&pc.out);
    resp_view pub[3] = {{"PUBLISH", 7}, {"a\0b\r\n", 5}, {"v", 1}};
    cmd_execute(&psrv, &pa, pub, 3);
    SENT(&pa, ":1\r\n");
    static const char msg[] = "*3\r\n$7\r\nmessage\r\n$5\r\na\0b\r\n\r\n$1\r\nv\r\n";
    cr_assert_eq(pc.out.len, sizeof msg - 1);
    cr_assert(memcmp(pc.out.buf, msg, sizeof msg - 1) == 0);
    resp_out_reset(&pc.out);
}

Test(pubsub, pubsub_introspection)
{
    R(&pa, SUB("b", 1) ":1\r\n" SUB("a", 1) ":2\r\n", "SUBSCRIBE", "b", "a");
    R(&pb, SUB("a", 1) ":1\r\n", "SUBSCRIBE", "a");
    R(&pc, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "PUBSUB", "CHANNELS");
    R(&pc, "*1\r\n$1\r\na\r\n", "PUBSUB", "CHANNELS", "[a]");
    R(&pc, "*0\r\n", "PUBSUB", "CHANNELS", "z*");
    R(&pc, "*6\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:1\r\n$1\r\nz\r\n:0\r\n", "PUBSUB", "NUMSUB", "a",
      "b", "z");
    R(&pc, "*0\r\n", "PUBSUB", "NUMSUB");
    R(&pc, ":0\r\n", "PUBSUB", "NUMPAT");
    R(&pc, "*0\r\n", "PUBSUB", "SHARDCHANNELS");
    R(&pc, "*2\r\n$1\r\na\r\n:0\r\n", "PUBSUB", "SHARDNUMSUB", "a");
    R(&pc,
      "-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.\r\n",
      "PUBSUB", "channels", "a", "b");
    R(&pc, "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n", "PUBSUB", "NUMPAT",
      "x");
    R(&pc, "-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n", "PUBSUB", "foo");
    R(&pc, "-ERR wrong number of arguments for 'pubsub' command\r\n", "PUBSUB");
    R(&pc, "-ERR wrong number of arguments for 'publish' command\r\n", "PUBLISH", "a");
    R(&pc, "-ERR wrong number of arguments for 'subscribe' command\r\n", "SUBSCRIBE");
    const char *help = run(&pc, "PUBSUB", "HELP", NULL);
    cr_assert(strncmp(help, "*14\r\n+PUBSUB <subcommand>", 25) == 0, "%s", help);
    /* CLIENT LIST: sub=, psub=, flag P; TYPE pubsub and normal. */
    char line[1024];
    cmd_client_line(&psrv, &pa, line, sizeof line);
    cr_assert(strstr(line, " flags=P db=0 sub=2 psub=0 ssub=0 ") != NULL, "%s", line);
    cmd_client_line(&psrv, &pc, line, sizeof line);
    cr_assert(strstr(line, " flags=N db=0 sub=0 psub=0 ssub=0 ") != NULL, "%s", line);
    const char *list = run(&pc, "CLIENT", "LIST", "TYPE", "pubsub", NULL);
    cr_assert(strstr(list, "flags=P") != NULL && strstr(list, "flags=N") == NULL, "%s", list);
    list = run(&pc, "CLIENT", "LIST", "TYPE", "normal", NULL);
    cr_assert(strstr(list, "flags=P") == NULL && strstr(list, "flags=N") != NULL, "%s", list);
    /* INFO: distinct channels and patterns. */
    size_t len;
    resp_view sec = {"stats", 5};
    char *info = cmd_info_text(&psrv, &sec, 1, &len);
    cr_assert(strstr(info, "\r\npubsub_channels:2\r\npubsub_patterns:0\r\n") != NULL, "%s", info);
    free(info);
    cr_assert_eq(psrv.clients.pubsub, 2);
    /* A client that leaves takes its subscriptions along. */
    cmd_client_deinit(&psrv, &pa);
    cmd_client_init(&psrv, &pa);
    R(&pc, "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n", "PUBSUB", "NUMSUB", "a", "b");
    cr_assert_eq(cmd_pubsub_channels(&psrv), 1);
}

Test(pubsub, subscription_bound_is_all_or_nothing)
{
    psrv.cfg.pubsub_max_subscriptions.num = 3;
    R(&pa, SUB("a", 1) ":1\r\n" SUB("b", 1) ":2\r\n", "SUBSCRIBE", "a", "b");
    const char *err = "-ERR too many subscriptions: a client may hold 3 channels and patterns "
                      "together (pubsub-max-subscriptions)\r\n";
    /* Two new ones past a room of one: neither, and no confirmation. */
    R(&pa, err, "SUBSCRIBE", "c", "a", "d");
    cr_assert_eq(pa.nsub, 2);
    R(&pc, "*0\r\n", "PUBSUB", "CHANNELS", "[cd]");
    R(&pa, err, "PSUBSCRIBE", "p1", "p2");
    cr_assert_eq(cmd_pubsub_patterns(&psrv), 0);
    /* Ones it holds already do not count again. */
    R(&pa, SUB("a", 1) ":2\r\n", "SUBSCRIBE", "a");
    R(&pa, "*3\r\n$10\r\npsubscribe\r\n$2\r\np1\r\n:3\r\n", "PSUBSCRIBE", "p1");
    R(&pa, err, "SUBSCRIBE", "e");
    R(&pa, SUB("b", 1) ":3\r\n", "SUBSCRIBE", "b");
    /* Each client has its own bound. */
    R(&pb, SUB("e", 1) ":1\r\n", "SUBSCRIBE", "e");
    /* INFO errorstats counts it as an ERR. */
    cr_assert_geq(psrv.st.total_error_replies, 3);
}

Test(pubsub, command_flags_and_no_keys)
{
    const char *info = run(&pc, "COMMAND", "INFO", "publish", "subscribe", NULL);
    cr_assert(strstr(info, "$7\r\npublish\r\n:3\r\n") != NULL, "%s", info);
    cr_assert(strstr(info, "+pubsub\r\n") != NULL, "%s", info);
    /* No key positions: channel names are never parsed as keys. */
    cr_assert(strstr(info, "$9\r\nsubscribe\r\n:-2\r\n") != NULL, "%s", info);
    R(&pa, SUB("notakey", 7) ":1\r\n", "SUBSCRIBE", "notakey");
}

Test(pubsub, output_limit_classes)
{
    /* The defaults are Redis's, rendered as Redis's CONFIG GET does. */
    char buf[256];
    cr_assert_str_eq(
        config_format(&psrv.cfg, config_find("client-output-buffer-limit", 26), buf, sizeof buf),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    cr_assert_eq(psrv.obl[CONFIG_OBL_PUBSUB].hard, 32ll << 20);
    /* CONFIG SET changes the classes it names and keeps the others. */
    R(&pc, "+OK\r\n", "CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 512kb 5");
    R(&pc, "+OK\r\n", "CONFIG", "SET", "client-output-buffer-limit", "normal 2mb 0 0");
    cr_assert_str_eq(
        config_format(&psrv.cfg, config_find("client-output-buffer-limit", 26), buf, sizeof buf),
        "normal 2097152 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 5");
    const char *bad = run(&pc, "CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb", NULL);
    cr_assert(strncmp(bad, "-ERR", 4) == 0, "%s", bad);
    /* The class follows the subscriptions. */
    cr_assert_eq(cmd_client_obl(&psrv, &pa)->hard, 2ll << 20);
    R(&pa, SUB("a", 1) ":1\r\n", "SUBSCRIBE", "a");
    cr_assert_eq(cmd_client_obl(&psrv, &pa)->hard, 1ll << 20);
    cr_assert_eq(cmd_client_obl(&psrv, &pa)->soft, 512ll << 10);
    cr_assert_eq(cmd_client_obl(&psrv, &pa)->secs, 5);
    R(&pa, "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n", "UNSUBSCRIBE");
    cr_assert_eq(cmd_client_obl(&psrv, &pa)->hard, 2ll << 20);
}

Test(pubsub, many_subscribers_and_channels_stay_consistent)
{
    /* Enough to make the tables grow and shrink several times. */
    char name[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "c%d", i);
        run(&pa, "SUBSCRIBE", name, NULL);
        if (i % 2 == 0)
            run(&pb, "SUBSCRIBE", name, NULL);
    }
    cr_assert_eq(cmd_pubsub_channels(&psrv), 3000);
    R(&pc, ":2\r\n", "PUBLISH", "c1000", "x");
    R(&pc, ":1\r\n", "PUBLISH", "c1001", "x");
    sent(&pa);
    sent(&pb);
    for (int i = 0; i < 3000; i += 3) {
        snprintf(name, sizeof name, "c%d", i);
        run(&pa, "UNSUBSCRIBE", name, NULL);
    }
    cr_assert_eq(pa.nsub, 2000);
    R(&pc, ":1\r\n", "PUBLISH", "c0", "x"); /* pb still */
    R(&pc, ":0\r\n", "PUBLISH", "c3", "x");
    run(&pb, "UNSUBSCRIBE", NULL);
    cr_assert_eq(cmd_pubsub_channels(&psrv), 2000);
    run(&pa, "UNSUBSCRIBE", NULL);
    cr_assert_eq(cmd_pubsub_channels(&psrv), 0);
    cr_assert_null(pa.subs);
    cr_assert_null(pb.subs);
}

/* A hostile pattern costs no more than a bounded multiple of a benign
 * one: the work of glob_match, counted, on long channels. */
Test(pubsub, hostile_pattern_work_is_bounded)
{
    const char *hostile = "a*a*a*a*a*a*a*a*a*b";
    size_t slen = 1 << 16;
    char *ch = malloc(slen);
    memset(ch, 'a', slen);
    size_t hw = 0, bw = 0;
    cr_assert_not(glob_match_steps(hostile, strlen(hostile), ch, slen, false, &hw));
    cr_assert_not(glob_match_steps("a*b", 3, ch, slen, false, &bw));
    /* Linear: within a small factor of the benign pattern's work. */
    cr_assert_leq(hw, 4 * bw + 64, "hostile %zu steps, benign %zu", hw, bw);
    /* This matcher's worst case is a long literal after a star: at most
     * (plen + 1) * (slen + 1) steps, never exponential. */
    char worst[66];
    worst[0] = '*';
    memset(worst + 1, 'a', 63);
    worst[64] = 'b';
    worst[65] = '\0';
    size_t ww = 0;
    cr_assert_not(glob_match_steps(worst, 65, ch, slen, false, &ww));
    cr_assert_leq(ww, (65 + 1) * (slen + 1));
    free(ch);
}
