/* Unit tests for the commands layer: handlers run against an in-memory
 * client and their exact reply bytes are checked. No sockets involved. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "cmdtab.h"
#include "docs.h"
#include "memory.h"
#include "commands.h"

static cmd_server srv;
static cmd_client cli;

static void setup(void)
{
    cr_assert(cmd_server_init(&srv));
    srv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&srv));
    cmd_client_init(&srv, &cli);
}

static void teardown(void)
{
    cmd_client_deinit(&srv, &cli);
    cmd_server_deinit(&srv);
}

TestSuite(cmd, .init = setup, .fini = teardown);

/* Run one command given as NULL-terminated C strings; return the reply bytes
 * (valid until the next run). */
static const char *run(const char *first, ...)
{
    static char reply[1 << 16];
    resp_view argv[64];
    size_t argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = (resp_view){a, strlen(a)};
    va_end(ap);
    resp_out_reset(&cli.out);
    cmd_execute(&srv, &cli, argv, argc);
    cr_assert(cli.out.len < sizeof reply);
    memcpy(reply, cli.out.buf, cli.out.len);
    reply[cli.out.len] = '\0';
    return reply;
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)

Test(cmd, ping_echo_and_case)
{
    R("+PONG\r\n", "PING");
    R("+PONG\r\n", "pInG");
    R("$2\r\nhi\r\n", "ping", "hi");
    R("-ERR wrong number of arguments for 'ping' command\r\n", "ping", "a", "b");
    R("$3\r\nabc\r\n", "echo", "abc");
    R("-ERR wrong number of arguments for 'echo' command\r\n", "echo");
}

Test(cmd, unknown_command_wording)
{
    R("-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n", "foo", "a", "b");
    R("-ERR unknown command 'foo', with args beginning with: \r\n", "foo");
}

Test(cmd, set_get_and_canonical_keys)
{
    R("+OK\r\n", "set", "007", "v");
    R("$1\r\nv\r\n", "get", "7");
    R("$-1\r\n", "get", "a:7");
    R("+OK\r\n", "set", "a:7", "x");
    R("$1\r\nx\r\n", "get", "a:0007");
    R(":2\r\n", "dbsize");
    R("-ERR invalid key 'abc': expected an integer or namespace:integer\r\n", "get", "abc");
    R("-ERR invalid key '9223372036854775808': expected an integer or namespace:integer\r\n", "set",
      "9223372036854775808", "v");
}

Test(cmd, value_size_limit)
{
    char v128[129], v129[130];
    memset(v128, 'a', 128);
    v128[128] = '\0';
    memset(v129, 'b', 129);
    v129[129] = '\0';
    R("+OK\r\n", "set", "1", v128);
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "set", "1", v129);
    R(":128\r\n", "strlen", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "append", "1", "x");
    R(":128\r\n", "strlen", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "setrange", "1", "128", "x");
}

Test(cmd, set_options)
{
    R("$-1\r\n", "set", "1", "a", "XX");
    R("+OK\r\n", "set", "1", "a", "NX");
    R("$-1\r\n", "set", "1", "b", "NX");
    R("$1\r\na\r\n", "set", "1", "b", "GET");
    R("$1\r\nb\r\n", "set", "1", "c", "XX", "GET");
    R("$1\r\nc\r\n", "set", "1", "d", "NX", "GET");
    R("$1\r\nc\r\n", "get", "1");
    R("-ERR syntax error\r\n", "set", "1", "a", "NX", "XX");
    R("-ERR syntax error\r\n", "set", "1", "a", "bogus");
    R("-ERR value is not an integer or out of range\r\n", "set", "1", "a", "EX", "x");
    R("-ERR invalid expire time in 'set' command\r\n", "set", "1", "a", "EX", "0");
}

Test(cmd, multi_key_all_or_nothing)
{
    R("+OK\r\n", "mset", "1", "a", "2", "b");
    R("-ERR invalid key 'x': expected an integer or namespace:integer\r\n", "mset", "3", "c", "x",
      "d");
    R(":0\r\n", "exists", "3");
    R("-ERR invalid key 'x': expected an integer or namespace:integer\r\n", "del", "1", "x");
    R(":2\r\n", "exists", "1", "2");
    R("*3\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n", "mget", "1", "9", "2");
    R("-ERR wrong number of arguments for 'mset' command\r\n", "mset", "1", "a", "2");
    R(":0\r\n", "msetnx", "2", "z", "3", "z");
    R(":0\r\n", "exists", "3");
    R(":1\r\n", "msetnx", "3", "z", "4", "z");
    R(":3\r\n", "exists", "1", "1", "3");
    R(":2\r\n", "del", "1", "2", "99");
    R(":1\r\n", "unlink", "3");
    R(":1\r\n", "touch", "4", "5");
}

/* Multi-key commands past the 16 keys parsed on the stack: the server's
 * kept key buffer grows to the biggest command up to 4096 keys and is
 * reused (stale keys from a bigger command must not leak into a smaller
 * one); bigger commands get their own buffer and leave the kept one alone. */
Test(cmd, multi_key_commands_of_every_size)
{
    enum { MAXN = 5000 };
    static char names[MAXN][16];
    static resp_view argv[2 * MAXN + 1];
    static char reply[1 << 16];
    const size_t sizes[] = {17, 100, 40, 4096, 5000, 33};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        long long base = (long long)si * 10000; /* fresh keys per size */
        /* MSET base+i -> "v<i % 10>" */
        argv[0] = (resp_view){"mset", 4};
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%lld", base + (long long)i);
            argv[1 + 2 * i] = (resp_view){names[i], strlen(names[i])};
            argv[2 + 2 * i] = (resp_view){&"v0v1v2v3v4v5v6v7v8v9"[2 * (i % 10)], 2};
        }
        resp_out_reset(&cli.out);
        cmd_execute(&srv, &cli, argv, 1 + 2 * n);
        cr_assert(cli.out.len == 5 && memcmp(cli.out.buf, "+OK\r\n", 5) == 0, "mset of %zu", n);
        /* MGET them plus one missing key at the end. */
        argv[0] = (resp_view){"mget", 4};
        for (size_t i = 0; i < n; i++)
            argv[1 + i] = (resp_view){names[i], strlen(names[i])};
        argv[1 + n] = (resp_view){"999999999", 9};
        resp_out_reset(&cli.out);
        cmd_execute(&srv, &cli, argv, n + 2);
        size_t at = (size_t)snprintf(reply, sizeof reply, "*%zu\r\n", n + 1);
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(reply + at, sizeof reply - at, "$2\r\nv%zu\r\n", i % 10);
        at += (size_t)snprintf(reply + at, sizeof reply - at, "$-1\r\n");
        cr_assert(at < sizeof reply);
        cr_assert(cli.out.len == at && memcmp(cli.out.buf, reply, at) == 0, "mget of %zu", n);
        /* EXISTS and DEL count them all. */
        argv[0] = (resp_view){"exists", 6};
        resp_out_reset(&cli.out);
        cmd_execute(&srv, &cli, argv, n + 2);
        snprintf(reply, sizeof reply, ":%zu\r\n", n);
        cr_assert(cli.out.len == strlen(reply) && memcmp(cli.out.buf, reply, cli.out.len) == 0,
                  "exists of %zu", n);
        argv[0] = (resp_view){"del", 3};
        resp_out_reset(&cli.out);
        cmd_execute(&srv, &cli, argv, n + 2);
        cr_assert(cli.out.len == strlen(reply) && memcmp(cli.out.buf, reply, cli.out.len) == 0,
                  "del of %zu", n);
        /* The kept buffer: the biggest command so far, never past 4096. */
        size_t biggest = 0;
        for (size_t j = 0; j <= si; j++)
            if (sizes[j] + 1 <= 4096 && sizes[j] + 1 > biggest)
                biggest = sizes[j] + 1;
        cr_assert(cmd_keybuf_cap(&srv) >= biggest && cmd_keybuf_cap(&srv) <= 4096,
                  "after %zu keys: kept %zu, biggest kept command %zu", n, cmd_keybuf_cap(&srv),
                  biggest);
    }
    R(":0\r\n", "dbsize");
}

Test(cmd, getset_getdel_type)
{
    R("$-1\r\n", "getset", "1", "a");
    R("$1\r\na\r\n", "getset", "1", "b");
    R("+string\r\n", "type", "1");
    R("$1\r\nb\r\n", "getdel", "1");
    R("$-1\r\n", "getdel", "1");
    R("+none\r\n", "type", "1");
    R(":1\r\n", "setnx", "1", "x");
    R(":0\r\n", "setnx", "1", "y");
}

Test(cmd, append_setrange_getrange)
{
    R(":5\r\n", "append", "1", "Hello");
    R(":11\r\n", "append", "1", " World");
    R("$5\r\nHello\r\n", "getrange", "1", "0", "4");
    R("$5\r\nWorld\r\n", "getrange", "1", "-5", "-1");
    R("$11\r\nHello World\r\n", "getrange", "1", "0", "100");
    R("$0\r\n\r\n", "getrange", "1", "5", "3");
    R("$0\r\n\r\n", "getrange", "1", "-1", "-5");
    R("$0\r\n\r\n", "getrange", "404", "0", "-1");
    R(":11\r\n", "setrange", "1", "6", "Redis");
    R("$11\r\nHello Redis\r\n", "get", "1");
    R(":8\r\n", "setrange", "2", "3", "abcde");
    run("get", "2", NULL);
    cr_assert_eq(cli.out.len, 14);
    cr_assert(memcmp(cli.out.buf, "$8\r\n\0\0\0abcde\r\n", 14) == 0);
    R(":0\r\n", "setrange", "3", "5", "");
    R(":0\r\n", "exists", "3");
    R("-ERR offset is out of range\r\n", "setrange", "1", "-1", "x");
}

Test(cmd, incr_family)
{
    R(":1\r\n", "incr", "1");
    R(":11\r\n", "incrby", "1", "10");
    R(":10\r\n", "decr", "1");
    R(":-90\r\n", "decrby", "1", "100");
    R("+OK\r\n", "set", "2", "01");
    R("-ERR value is not an integer or out of range\r\n", "incr", "2");
    R("+OK\r\n", "set", "2", "9223372036854775807");
    R("-ERR increment or decrement would overflow\r\n", "incr", "2");
    R("-ERR value is not an integer or out of range\r\n", "incrby", "1", "1.5");
    R("-ERR decrement would overflow\r\n", "decrby", "1", "-9223372036854775808");
}

Test(cmd, select_hello_quit)
{
    R("+OK\r\n", "select", "0");
    R("-ERR DB index is out of range\r\n", "select", "1");
    R("-NOPROTO unsupported protocol version\r\n", "hello", "4");
    const char *h = run("hello", "3", NULL);
    cr_assert(strncmp(h, "%7\r\n$6\r\nserver\r\n", 16) == 0, "%s", h);
    R("_\r\n", "get", "404");
    h = run("hello", "2", "setname", "me", NULL);
    cr_assert(strncmp(h, "*14\r\n", 5) == 0);
    R("$2\r\nme\r\n", "client", "getname");
    R("+OK\r\n", "quit");
    cr_assert(cli.close_after_reply);
}

Test(cmd, containers_and_subcommands)
{
    R("-ERR unknown subcommand 'nope'. Try CONFIG HELP.\r\n", "config", "nope");
    R("-ERR wrong number of arguments for 'config' command\r\n", "config");
    R("-ERR wrong number of arguments for 'config|get' command\r\n", "config", "get");
    R("*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n", "config", "get", "save",
      "appendonly");
    R("+OK\r\n", "config", "set", "maxclients", "77");
    R("*2\r\n$10\r\nmaxclients\r\n$2\r\n77\r\n", "config", "get", "maxclients");
    R("-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
      "config\r\n",
      "config", "set", "port", "1");
    R("-ERR Unknown option or number of arguments for CONFIG SET - 'nope'\r\n", "config", "set",
      "nope", "1");
    /* all or nothing */
    R("-ERR CONFIG SET failed (possibly related to argument 'max-namespaces') - argument "
      "couldn't be parsed into an integer\r\n",
      "config", "set", "maxclients", "88", "max-namespaces", "x");
    R("*2\r\n$10\r\nmaxclients\r\n$2\r\n77\r\n", "config", "get", "maxclients");
    R(":1\r\n", "client", "id");
}

Test(cmd, namespace_cap)
{
    R("+OK\r\n", "config", "set", "max-namespaces", "1");
    R("+OK\r\n", "set", "a:1", "x");
    R("-ERR too many namespaces: creating 'b' would pass max-namespaces (1)\r\n", "set", "b:1",
      "x");
    R("$-1\r\n", "get", "b:1");
    R("+OK\r\n", "set", "1", "default namespace does not count");
    R("-ERR too many namespaces: creating 'b' would pass max-namespaces (1)\r\n", "mset", "2", "x",
      "b:1", "y");
    R(":0\r\n", "exists", "2");
}

Test(cmd, info_sections)
{
    run("set", "a:1", "x", NULL);
    run("set", "2", "y", NULL);
    run("get", "2", NULL);
    run("get", "3", NULL);
    const char *info = run("info", NULL);
    cr_assert(strstr(info, "# Server\r\n") != NULL);
    cr_assert(strstr(info, "# Memory\r\nused_memory:") != NULL);
    cr_assert(strstr(info, "db0:keys=2,expires=0,avg_ttl=0\r\n") != NULL);
    cr_assert(strstr(info, "keyspace_hits:1\r\n") != NULL);
    cr_assert(strstr(info, "keyspace_misses:1\r\n") != NULL);
    cr_assert(strstr(info, "ns_a:keys=1,") != NULL);
    cr_assert(strstr(info, "ns_@default:keys=1,") != NULL);
    info = run("info", "keyspace", NULL);
    cr_assert(strstr(info, "# Server") == NULL);
    cr_assert(strstr(info, "# Keyspace") != NULL);
    R("+OK\r\n", "flushall");
    info = run("info", "keyspace", NULL);
    cr_assert(strstr(info, "db0:") == NULL);
    R("-ERR syntax error\r\n", "flushall", "now");
}

Test(cmd, errors_are_counted)
{
    run("get", "bad", NULL);
    run("nope", NULL);
    cr_assert_eq(srv.st.total_error_replies, 2);
    cr_assert_eq(srv.st.total_commands_processed, 2);
}

/* Run urgent work until none is left (what the event loop does between
 * rounds of I/O). */
static void run_urgent(void)
{
    int guard = 0;
    while (cmd_server_urgent(&srv, 1000))
        cr_assert(++guard < 100000, "SHRINK never finished");
}

Test(cmd, shrink_blocks_until_done_and_replies_fields)
{
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "a:%d", i);
        run("set", key, "0123456789", NULL);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "a:%d", i);
        run("del", key, NULL);
    }
    R("+OK\r\n", "config", "set", "auto-shrink", "no");
    run("set", "b:1", "v", NULL);
    cr_assert_str_eq(run("shrink", NULL), "", "no reply until the job is done");
    cr_assert(cli.blocked);
    run_urgent();
    cr_assert_not(cli.blocked);
    const char *r = cli.out.buf;
    cr_assert(strncmp(r, "*22\r\n$17\r\nnamespaces_shrunk\r\n:3\r\n", 33) == 0, "%.60s", r);
    cr_assert(strstr(r, "$19\r\nnamespaces_released\r\n:1\r\n") != NULL, "a was emptied");
    cr_assert(strstr(r, "$17\r\ntable_bytes_after\r\n") != NULL);
    cr_assert(strstr(r, "$11\r\nduration_us\r\n:") != NULL);
    R("$1\r\nv\r\n", "get", "b:1");
    const char *info = run("info", "namespaces", NULL);
    cr_assert(strstr(info, "namespaces:1\r\n") != NULL, "%s", info);
    cr_assert_eq(cmd_shrink_commands(&srv), 1);
}

Test(cmd, shrink_async_namespace_and_errors)
{
    R("+OK\r\n", "set", "a:1", "x");
    R("+OK\r\n", "shrink", "async");
    cr_assert_not(cli.blocked);
    run_urgent();
    R("-ERR no such namespace 'nope'\r\n", "shrink", "nope");
    R("-ERR syntax error\r\n", "shrink", "a", "b");
    R("+OK\r\n", "shrink", "a", "ASYNC");
    run_urgent();
    run("shrink", "a", NULL);
    cr_assert(cli.blocked);
    run_urgent();
    cr_assert(strncmp(cli.out.buf, "*22\r\n", 5) == 0);
    R("$1\r\nx\r\n", "get", "a:1");
}

Test(cmd, shrink_job_survives_its_client_leaving)
{
    run("set", "1", "x", NULL);
    run("shrink", NULL);
    cr_assert(cli.blocked);
    cmd_client_deinit(&srv, &cli); /* the connection closed meanwhile */
    run_urgent();
    cmd_client_init(&srv, &cli); /* for the suite's teardown */
    cr_assert_eq(cmd_shrink_commands(&srv), 1);
}

Test(cmd, memory_usage_and_stats)
{
    R("+OK\r\n", "set", "7", "v");
    const char *r = run("memory", "usage", "7", NULL);
    cr_assert_eq(r[0], ':');
    long long n = atoll(r + 1);
    cr_assert(n >= 136, "%lld", n);
    R("$-1\r\n", "memory", "usage", "8");
    R("-ERR invalid key 'x': expected an integer or namespace:integer\r\n", "memory", "usage", "x");
    R("-ERR syntax error\r\n", "memory", "usage", "7", "bogus");
    r = run("memory", "stats", NULL);
    cr_assert(strstr(r, "$10\r\nkeys.count\r\n:1\r\n") != NULL, "%s", r);
    R("+OK\r\n", "memory", "purge");
}

Test(cmd, flushall_async_detaches_then_gives_memory_back)
{
    char key[32], val[129];
    memset(val, 'v', 128);
    val[128] = '\0';
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof key, "%s%d", i % 2 ? "a:" : "", i);
        run("set", key, val, NULL);
    }
    uint64_t before = cmd_used_memory(&srv);
    R("+OK\r\n", "flushall", "async");
    R(":0\r\n", "dbsize");
    R("$-1\r\n", "get", "2");
    R("+OK\r\n", "set", "2", "new");
    const char *info = run("info", "namespaces", NULL);
    cr_assert(strstr(info, "namespaces:0\r\n") != NULL, "%s", info);
    /* Still mapped until the background work reaps it... */
    cr_assert_gt(cmd_used_memory(&srv), before / 2);
    int guard = 0;
    while (cmd_server_cron(&srv) || cmd_server_urgent(&srv, 1000))
        cr_assert(++guard < 100000, "reaping never finished");
    /* ...then given back. */
    cr_assert_lt(cmd_used_memory(&srv), before / 4);
    R("$3\r\nnew\r\n", "get", "2");
    info = run("info", "stats", NULL);
    cr_assert(strstr(info, "longest_stall_cause:") != NULL);
}

Test(cmd, command_docs_specs_parse_and_render)
{
    /* Every row's spec parses (the server registered the rows). */
    size_t specs = 0;
    for (size_t i = 0; i < cmdtab_count(); i++) {
        const cmd_def *d = cmdtab_at(i);
        if (d->args != NULL) {
            specs++;
            cr_assert(cmd_docs_spec_valid(d->args), "spec of '%s' does not parse", d->name);
        }
        for (size_t j = 0; d->subs != NULL && d->subs[j].name != NULL; j++) {
            if (d->subs[j].args != NULL) {
                specs++;
                cr_assert(cmd_docs_spec_valid(d->subs[j].args), "spec of '%s|%s' does not parse",
                          d->name, d->subs[j].name);
            }
        }
    }
    cr_assert_gt(specs, 60, "%zu rows have argument specs", specs);
    cr_assert(!cmd_docs_spec_valid("key [unclosed"), "a bad spec is refused");
    const char *r = run("command", "docs", "set", NULL);
    cr_assert(strstr(r, "$9\r\narguments\r\n") != NULL, "%s", r);
    cr_assert(strstr(r, "$4\r\ntype\r\n$3\r\nkey\r\n") != NULL, "key typed as key");
    cr_assert(strstr(r, "$5\r\ntoken\r\n$2\r\nEX\r\n") != NULL, "EX seconds has a token");
    cr_assert(strstr(r, "$5\r\noneof\r\n") != NULL, "NX|XX is a oneof");
    cr_assert(strstr(r, "+optional\r\n") != NULL);
    r = run("command", "docs", "shrink", NULL);
    cr_assert(strstr(r, "$9\r\nnamespace\r\n") != NULL, "%s", r);
    r = run("command", "docs", "mget", NULL);
    cr_assert(strstr(r, "+multiple\r\n") != NULL, "%s", r);
}

/* ---- introspection ------------------------------------------------------------- */

static cmd_client *killed_client;
static void record_kill(cmd_client *c)
{
    killed_client = c;
}

Test(cmd, commandstats_errorstats_and_latencystats)
{
    run("set", "1", "x", NULL);
    run("get", "1", NULL);
    run("get", "bad", NULL);
    run("get", NULL);
    run("config", "get", "port", NULL);
    const char *r = run("info", "commandstats", NULL);
    cr_assert(strstr(r, "cmdstat_get:calls=2,") != NULL, "%s", r);
    cr_assert(strstr(r, "rejected_calls=1,failed_calls=1") != NULL, "%s", r);
    cr_assert(strstr(r, "cmdstat_config|get:calls=1,") != NULL, "%s", r);
    r = run("info", "errorstats", NULL);
    cr_assert(strstr(r, "errorstat_ERR:count=2\r\n") != NULL, "%s", r);
    r = run("info", NULL);
    cr_assert(strstr(r, "# Commandstats") == NULL, "not in a bare INFO, as Redis");
    r = run("info", "latencystats", NULL);
    cr_assert(strstr(r, "latency_percentiles_usec_get:p50=") != NULL, "%s", r);
    r = run("latency", "histogram", "set", NULL);
    const char *want = "*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:1\r\n";
    cr_assert(strncmp(r, want, strlen(want)) == 0, "%s", r);
    R("+OK\r\n", "config", "resetstat");
    r = run("info", "commandstats", NULL);
    cr_assert(strstr(r, "cmdstat_get:") == NULL, "reset: %s", r);
}

Test(cmd, slowlog_records_redacts_and_resets)
{
    R("+OK\r\n", "config", "set", "slowlog-log-slower-than", "0");
    run("set", "1", "x", NULL);
    run("auth", "default", "secret", NULL);
    const char *r = run("slowlog", "get", "10", NULL);
    cr_assert(strstr(r, "$3\r\nset\r\n$1\r\n1\r\n$1\r\nx\r\n") != NULL, "%s", r);
    cr_assert(strstr(r, "secret") == NULL, "AUTH redacted: %s", r);
    cr_assert(strstr(r, "(redacted)") != NULL, "%s", r);
    r = run("slowlog", "len", NULL);
    cr_assert(r[0] == ':' && atoi(r + 1) >= 3, "%s", r);
    R("+OK\r\n", "config", "set", "slowlog-max-len", "2");
    run("ping", NULL);
    R(":2\r\n", "slowlog", "len");
    R("+OK\r\n", "slowlog", "reset");
    R(":1\r\n", "slowlog", "len"); /* the RESET itself was slow enough */
    R("-ERR count should be greater than or equal to -1\r\n", "slowlog", "get", "-2");
}

Test(cmd, monitor_feeds_other_clients)
{
    cmd_client mon;
    cmd_client_init(&srv, &mon);
    resp_view argv[1] = {{"monitor", 7}};
    cmd_execute(&srv, &mon, argv, 1);
    cr_assert_eq(mon.out.len, 5); /* +OK */
    resp_out_reset(&mon.out);
    run("set", "1", "a\nb", NULL);
    run("auth", "pw", NULL);
    cr_assert(mon.out.len > 0);
    char *text = strndup(mon.out.buf, mon.out.len);
    cr_assert(strstr(text, "\"set\" \"1\" \"a\\nb\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"auth\" \"(redacted)\"") != NULL, "%s", text);
    cr_assert(strstr(text, "pw") == NULL, "%s", text);
    free(text);
    cmd_client_deinit(&srv, &mon);
    cr_assert_eq(srv.clients.monitors, 0);
}

Test(cmd, client_kill_and_object)
{
    cmd_client other;
    cmd_client_init(&srv, &other);
    snprintf(other.addr, sizeof other.addr, "127.0.0.1:5555");
    srv.daemon.client_kill = record_kill;
    killed_client = NULL;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%llu", (unsigned long long)other.id);
    R(":1\r\n", "client", "kill", "id", cmd);
    cr_assert_eq(killed_client, &other);
    killed_client = NULL;
    R(":0\r\n", "client", "kill", "type", "pubsub", "id", cmd);
    cr_assert_null(killed_client, "TYPE pubsub matches nothing, whatever ID says");
    R("+OK\r\n", "client", "kill", "127.0.0.1:5555");
    R("-ERR No such client\r\n", "client", "kill", "127.0.0.1:1");
    R(":0\r\n", "client", "kill", "skipme", "yes", "id", "1");
    cmd_client_deinit(&srv, &other);
    srv.daemon.client_kill = NULL;

    R("+OK\r\n", "set", "1", "12345");
    R("$3\r\nint\r\n", "object", "encoding", "1");
    R("+OK\r\n", "set", "1", "hello");
    R("$6\r\nembstr\r\n", "object", "encoding", "1");
    R(":1\r\n", "object", "refcount", "1");
    R(":0\r\n", "object", "idletime", "1");
    R("$-1\r\n", "object", "encoding", "404");
    R("-ERR unknown subcommand 'nope'. Try OBJECT HELP.\r\n", "object", "nope");
    R("+OK\r\n", "client", "no-evict", "on");
}

/* ---- command lookup -------------------------------------------------------- */

/* The names COMMAND LIST replies, as C strings (freed by the caller). */
static char **command_names(size_t *n)
{
    const char *r = run("command", "list", NULL);
    cr_assert_eq(r[0], '*');
    char *end;
    size_t count = strtoul(r + 1, &end, 10);
    char **names = calloc(count, sizeof *names);
    const char *p = strchr(r, '\n') + 1;
    for (size_t i = 0; i < count; i++) {
        cr_assert_eq(*p, '$');
        size_t len = strtoul(p + 1, &end, 10);
        p = strchr(p, '\n') + 1;
        names[i] = strndup(p, len);
        p += len + 2;
    }
    *n = count;
    return names;
}

/* The canonical name of the command `name` names, or NULL. */
static const char *lookup_name(const char *name, size_t len)
{
    const cmd_def *d = cmdtab_lookup(name, len);
    return d != NULL ? d->name : NULL;
}

Test(cmd, lookup_finds_every_command_in_any_case_and_nothing_else)
{
    size_t n;
    char **names = command_names(&n);
    cr_assert_gt(n, 40);
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        size_t len = strlen(name);
        cr_assert_str_eq(lookup_name(name, len), name);
        /* Every byte value at every position: only the letter itself and
         * its uppercase (a '_' alone) still name the command. */
        char buf[32];
        memcpy(buf, name, len);
        for (size_t pos = 0; pos < len; pos++) {
            for (int b = 0; b < 256; b++) {
                buf[pos] = (char)b;
                const char *got = lookup_name(buf, len);
                bool same = b == name[pos] || (name[pos] != '_' && b == name[pos] - ('a' - 'A'));
                if (same)
                    cr_assert(got != NULL && strcmp(got, name) == 0, "%s at %zu byte %d", name, pos,
                              b);
                else
                    cr_assert(got == NULL || strcmp(got, name) != 0, "%s at %zu byte %d", name, pos,
                              b);
            }
            buf[pos] = name[pos];
        }
        /* All uppercase; one byte longer (whatever the byte); one shorter. */
        for (size_t k = 0; k < len; k++)
            buf[k] = name[k] == '_' ? '_' : (char)(name[k] - ('a' - 'A'));
        cr_assert_str_eq(lookup_name(buf, len), name);
        memcpy(buf, name, len);
        buf[len] = '\0';
        cr_assert_null(lookup_name(buf, len + 1), "%s plus NUL", name);
        buf[len] = ' ';
        cr_assert_null(lookup_name(buf, len + 1), "%s plus a space", name);
        const char *shorter = lookup_name(name, len - 1);
        cr_assert(shorter == NULL || strlen(shorter) == len - 1);
        free(names[i]);
    }
    free(names);
    cr_assert_null(lookup_name("", 0));
    cr_assert_null(lookup_name("getgetgetgetgetge", 17));
    cr_assert_null(lookup_name("pexpiretimepexpiretime", 22));
    cr_assert_str_eq(lookup_name("PExpireTime", 11), "pexpiretime");
}

/* ---- batches: cmd_prepare + cmd_run ------------------------------------------- */

/* A script of requests, one per line, arguments separated by spaces. */
static const char *const batch_script[] = {
    "set 1 a",
    "get 1",
    "get 2",
    "set k:1 x",
    "get k:1",
    "get k:1",
    "mget 1 2 k:1 z:9",
    "set k:2 y get",
    "get k:2",
    "del k:1 1",
    "get 1",
    "exists k:2 k:1",
    "incr n:5",
    "incr n:5",
    "get n:5",
    "flushall",
    "get k:2",
    "set k:2 z nx",
    "set k:2 w xx get",
    "getdel k:2",
    "get bad-key",
    "set bad key",
    "get",
    "nosuchcommand 1 2",
    "ping",
    "echo hi",
    "dbsize",
    "mset a:1 1 a:2 2 a:3 3",
    "mget a:1 a:2 a:3 a:4",
    "append a:1 xyz",
    "strlen a:1",
    "getrange a:1 0 1",
    "setrange a:2 1 q",
    "get a:2",
    "type a:3",
    "del a:1 a:2 a:3",
    "get a:1",
    "object encoding 1",
    "client getname",
    "config get maxclients",
    NULL,
};

/* Split a line into argv views over a private copy (freed with the batch). */
static size_t split(char *line, resp_view *argv, size_t cap)
{
    size_t argc = 0;
    for (char *tok = strtok(line, " "); tok != NULL && argc < cap; tok = strtok(NULL, " "))
        argv[argc++] = (resp_view){tok, strlen(tok)};
    return argc;
}

/* The counters a batch must leave exactly as one-at-a-time would (times
 * excluded). */
static void counters(cmd_server *s, char *dst, size_t cap)
{
    snprintf(dst, cap, "cmds=%llu hits=%llu misses=%llu errors=%llu keys=%llu",
             (unsigned long long)s->st.total_commands_processed,
             (unsigned long long)s->st.keyspace_hits, (unsigned long long)s->st.keyspace_misses,
             (unsigned long long)s->st.total_error_replies, (unsigned long long)db_size(s->db));
}

/* Run the script on a fresh server, `per` requests per batch (0: one at a
 * time with cmd_execute); return every reply byte and the counters. */
static char *run_script(size_t per, char *ctr, size_t ctrcap)
{
    cmd_server s;
    cmd_client c;
    cr_assert(cmd_server_init(&s));
    s.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&s));
    cmd_client_init(&s, &c);
    size_t nlines = 0;
    while (batch_script[nlines] != NULL)
        nlines++;
    char *lines[64];
    resp_view views[64][16];
    cmd_request reqs[64];
    for (size_t i = 0; i < nlines; i++) {
        lines[i] = strdup(batch_script[i]);
        reqs[i] = (cmd_request){.argv = views[i], .argc = split(lines[i], views[i], 16)};
    }
    for (size_t i = 0; i < nlines;) {
        size_t k = per == 0 ? 1 : (nlines - i < per ? nlines - i : per);
        if (per == 0) {
            if (reqs[i].argc > 0)
                cmd_execute(&s, &c, reqs[i].argv, reqs[i].argc);
        } else {
            cmd_prepare(&s, &reqs[i], k);
            int64_t clock = cmd_now_ns();
            for (size_t j = i; j < i + k; j++)
                cmd_run(&s, &c, &reqs[j], &clock);
        }
        i += k;
    }
    char *out = strndup(c.out.buf, c.out.len);
    counters(&s, ctr, ctrcap);
    for (size_t i = 0; i < nlines; i++)
        free(lines[i]);
    cmd_client_deinit(&s, &c);
    cmd_server_deinit(&s);
    return out;
}

Test(cmd, batches_reply_and_count_as_one_at_a_time)
{
    char want_ctr[256], got_ctr[256];
    char *want = run_script(0, want_ctr, sizeof want_ctr);
    /* The replies prove the script does something: hits, misses, errors. */
    cr_assert(strstr(want, "-ERR invalid key 'bad-key'") != NULL);
    cr_assert(strstr(want, "-ERR unknown command 'nosuchcommand'") != NULL);
    size_t sizes[] = {1, 2, 3, 7, 16, 64};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *got = run_script(sizes[i], got_ctr, sizeof got_ctr);
        cr_assert_str_eq(got, want, "batches of %zu", sizes[i]);
        cr_assert_str_eq(got_ctr, want_ctr, "batches of %zu", sizes[i]);
        free(got);
    }
    free(want);
}

Test(cmd, prepare_past_the_prefetch_limit_and_on_odd_requests)
{
    /* More keys than CMD_PREFETCH_KEYS in one batch, keys in namespaces
     * that do not exist yet, invalid keys, containers, a bare name. */
    static char keybuf[3 * CMD_PREFETCH_KEYS][24];
    resp_view argv[3 * CMD_PREFETCH_KEYS + 1];
    argv[0] = (resp_view){"mset", 4};
    size_t argc = 1;
    for (size_t i = 0; i < CMD_PREFETCH_KEYS + 10; i++) {
        snprintf(keybuf[i], sizeof keybuf[i], "%s:%zu", i % 3 ? "p" : "q", i);
        argv[argc++] = (resp_view){keybuf[i], strlen(keybuf[i])};
        argv[argc++] = (resp_view){"v", 1};
    }
    resp_view odd[][3] = {
        {{"get", 3}, {"x:y:z", 5}},
        {{"object", 6}, {"encoding", 8}, {"p:1", 3}},
        {{"get", 3}},
        {{"GeT", 3}, {"q:0", 3}},
        {{"", 0}},
    };
    cmd_request reqs[] = {
        {.argv = argv, .argc = argc}, {.argv = odd[0], .argc = 2}, {.argv = odd[1], .argc = 3},
        {.argv = odd[2], .argc = 1},  {.argv = odd[3], .argc = 2}, {.argv = argv, .argc = argc},
        {.argv = odd[4], .argc = 1},
    };
    size_t n = sizeof reqs / sizeof reqs[0];
    char before[256], after[256];
    counters(&srv, before, sizeof before);
    cmd_prepare(&srv, reqs, n);
    counters(&srv, after, sizeof after);
    cr_assert_str_eq(after, before, "preparing changed nothing");
    cr_assert_eq(cli.out.len, 0);
    resp_out_reset(&cli.out);
    int64_t clock = cmd_now_ns();
    for (size_t i = 0; i < n; i++)
        cmd_run(&srv, &cli, &reqs[i], &clock);
    char *got = strndup(cli.out.buf, cli.out.len);
    cr_assert_str_eq(got, "+OK\r\n"
                          "-ERR invalid key 'x:y:z': expected an integer or namespace:integer\r\n"
                          "$6\r\nembstr\r\n"
                          "-ERR wrong number of arguments for 'get' command\r\n"
                          "$1\r\nv\r\n"
                          "+OK\r\n"
                          "-ERR unknown command '', with args beginning with: \r\n");
    free(got);
}
