/*
 * test_expiry_commands.c - unit tests of the TTL commands, active expiry and
 * maxmemory eviction (expire.c, evict.c, strings.c) against an in-memory
 * client: exact reply bytes, Redis 7's semantics and error strings. The
 * server's clock is frozen (clock_fixed) and moved by hand through now_ms.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "expire.h"
#include "commands.h"

static cmd_server xsrv;
static cmd_client xcli;

/* A fixed instant: 2023-11-14 22:13:20 UTC, a whole second. */
#define T0 1700000000000LL

static void xsetup(void)
{
    cr_assert(cmd_server_init(&xsrv));
    xsrv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&xsrv));
    cmd_client_init(&xsrv, &xcli);
    xsrv.clock_fixed = true;
    xsrv.now_ms = T0;
}

static void xteardown(void)
{
    cmd_client_deinit(&xsrv, &xcli);
    cmd_server_deinit(&xsrv);
}

TestSuite(ttl, .init = xsetup, .fini = xteardown);

/* Run one command given as an argv array; return the reply (valid until the
 * next run). */
static const char *runv(const char **args, size_t argc)
{
    static char reply[1 << 17];
    resp_view argv[64];
    cr_assert(argc <= 64);
    for (size_t i = 0; i < argc; i++)
        argv[i] = (resp_view){args[i], strlen(args[i])};
    resp_out_reset(&xcli.out);
    cmd_execute(&xsrv, &xcli, argv, argc);
    cr_assert(xcli.out.len < sizeof reply);
    memcpy(reply, xcli.out.buf, xcli.out.len);
    reply[xcli.out.len] = '\0';
    return reply;
}

static const char *run(const char *first, ...)
{
    const char *args[64];
    size_t argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        cr_assert(argc < 64);
        args[argc++] = a;
    }
    va_end(ap);
    return runv(args, argc);
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)

/* Integer reply of a command. */
#define N(...) int_reply(run(__VA_ARGS__, NULL))

static long long int_reply(const char *r)
{
    cr_assert_eq(r[0], ':', "not an integer reply: %s", r);
    return atoll(r + 1);
}

/* A number as text, in a rotating static buffer (several per command). */
static const char *num(long long v)
{
    static char buf[8][32];
    static unsigned i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof buf[0], "%lld", v);
    return b;
}

/* The value of an INFO field (text after "name:" up to the line's end). */
static long long info_num(const char *section, const char *name)
{
    const char *info = run("info", section, NULL);
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = strstr(info, pat);
    cr_assert_not_null(p, "no %s in INFO %s", name, section);
    return atoll(p + strlen(pat));
}

static double info_double(const char *section, const char *name)
{
    const char *info = run("info", section, NULL);
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = strstr(info, pat);
    cr_assert_not_null(p, "no %s in INFO %s", name, section);
    return atof(p + strlen(pat));
}

static void advance(long long ms)
{
    xsrv.now_ms += ms;
}

/* Run urgent work until none is left (what the loop does between I/O). */
static void run_urgent(void)
{
    int guard = 0;
    while (cmd_server_urgent(&xsrv, 1000))
        cr_assert(++guard < 100000, "urgent work never finished");
}

/* The figure maxmemory is compared with, less the allocator's part (which
 * only the cron refreshes): what every table's keys account for. */
static uint64_t tables_memory(void)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < db_ns_count(xsrv.db); i++)
        sum += table_memory(db_ns_at(xsrv.db, i)->t);
    return sum;
}

static table_stats total_stats(void)
{
    table_stats st;
    db_total_stats(xsrv.db, &st);
    return st;
}

/* ---- SET and its expiry options ------------------------------------------------------ */

Test(ttl, set_ex_px_exat_pxat)
{
    R("+OK\r\n", "set", "1", "v", "EX", "100");
    R(":100\r\n", "ttl", "1");
    R(":100000\r\n", "pttl", "1");
    R(":1700000100\r\n", "expiretime", "1");
    R(":1700000100000\r\n", "pexpiretime", "1");
    R("$1\r\nv\r\n", "get", "1");

    R("+OK\r\n", "set", "2", "v", "px", "1500");
    R(":1500\r\n", "pttl", "2");
    R(":2\r\n", "ttl", "2");
    R(":1700000001500\r\n", "pexpiretime", "2");
    R(":1700000001\r\n", "expiretime", "2");

    R("+OK\r\n", "set", "3", "v", "exat", "1700000050");
    R(":50000\r\n", "pttl", "3");
    R("+OK\r\n", "set", "4", "v", "PXAT", "1700000000123");
    R(":123\r\n", "pttl", "4");

    /* A time already past: OK, and no key is left (as Redis). */
    R("+OK\r\n", "set", "5", "v", "exat", "1699999999");
    R("$-1\r\n", "get", "5");
    R(":0\r\n", "exists", "5");
    R("+OK\r\n", "set", "4", "v", "pxat", "1700000000000");
    /* note: replaced key removed */
    R(":0\r\n", "exists", "4");

    /* Without an option, SET clears the TTL. */
    R("+OK\r\n", "set", "1", "w");
    R(":-1\r\n", "ttl", "1");
    R(":-1\r\n", "pttl", "1");
    R(":-1\r\n", "expiretime", "1");
    R(":-1\r\n", "pexpiretime", "1");
    R(":-2\r\n", "ttl", "404");
    R(":-2\r\n", "pttl", "404");
    R(":-2\r\n", "expiretime", "404");
    R(":-2\r\n", "pexpiretime", "404");

    /* At the expire time the key is gone. */
    advance(1499);
    R(":1\r\n", "pttl", "2");
    advance(1);
    R("$-1\r\n", "get", "2");
    R(":-2\r\n", "pttl", "2");
}

Test(ttl, set_keepttl_and_combinations)
{
    R("+OK\r\n", "set", "1", "a", "EX", "100");
    advance(10000);
    R("+OK\r\n", "set", "1", "b", "KEEPTTL");
    R(":90000\r\n", "pttl", "1");
    R("$1\r\nb\r\n", "get", "1");
    R("+OK\r\n", "set", "1", "c", "keepttl", "xx");
    R(":90000\r\n", "pttl", "1");
    R("+OK\r\n", "set", "2", "a", "keepttl");
    /* KEEPTTL on a new key: no TTL */
    R(":-1\r\n", "ttl", "2");

    /* NX / XX with an expiry. */
    R("+OK\r\n", "set", "3", "a", "NX", "EX", "10");
    R(":10\r\n", "ttl", "3");
    R("$-1\r\n", "set", "3", "b", "NX", "EX", "99");
    /* refused write leaves the TTL */
    R(":10\r\n", "ttl", "3");
    R("+OK\r\n", "set", "3", "b", "XX", "PX", "5000");
    R(":5000\r\n", "pttl", "3");
    R("$-1\r\n", "set", "4", "b", "XX", "EX", "10");
    R(":-2\r\n", "ttl", "4");

    /* GET with an expiry: the old value, and the new TTL. */
    R("$1\r\nb\r\n", "set", "3", "c", "GET", "EX", "7");
    R(":7\r\n", "ttl", "3");
    R("$-1\r\n", "set", "5", "c", "GET", "PX", "700");
    R(":700\r\n", "pttl", "5");
    R("$1\r\nc\r\n", "set", "5", "d", "NX", "GET", "EX", "1");
    R(":700\r\n", "pttl", "5");
    R("$1\r\nc\r\n", "set", "5", "e", "GET", "KEEPTTL");
    R(":700\r\n", "pttl", "5");
    R("$1\r\ne\r\n", "set", "5", "f", "GET");
    R(":-1\r\n", "pttl", "5");

    /* KEEPTTL on a key whose time has come: it is gone, nothing to keep. */
    R("+OK\r\n", "set", "6", "a", "PX", "100");
    advance(100);
    R("+OK\r\n", "set", "6", "b", "KEEPTTL");
    R(":-1\r\n", "pttl", "6");
    R("$1\r\nb\r\n", "get", "6");
}

Test(ttl, set_expiry_errors)
{
    const char *bad_time = "-ERR invalid expire time in 'set' command\r\n";
    const char *not_int = "-ERR value is not an integer or out of range\r\n";
    const char *syntax = "-ERR syntax error\r\n";
    R(bad_time, "set", "1", "v", "EX", "0");
    R(bad_time, "set", "1", "v", "EX", "-1");
    R(bad_time, "set", "1", "v", "PX", "0");
    R(bad_time, "set", "1", "v", "PX", "-100");
    R(bad_time, "set", "1", "v", "EXAT", "0");
    R(bad_time, "set", "1", "v", "PXAT", "-5");
    R(bad_time, "set", "1", "v", "EX", "9223372036854775807");
    R(bad_time, "set", "1", "v", "PX", "9223372036854775807");
    R(not_int, "set", "1", "v", "EX", "abc");
    R(not_int, "set", "1", "v", "PX", "1.5");
    R(not_int, "set", "1", "v", "EX", "99999999999999999999");
    R(syntax, "set", "1", "v", "EX");
    R(syntax, "set", "1", "v", "EX", "10", "PX", "10");
    R(syntax, "set", "1", "v", "EX", "10", "KEEPTTL");
    R(syntax, "set", "1", "v", "KEEPTTL", "PX", "10");
    /* Redis's precedence: every option word is checked before the time is
     * converted, and the word after EX is its argument whatever it is. */
    R(syntax, "set", "1", "v", "NX", "EX", "EX", "1.5", "GET");
    R(syntax, "set", "1", "v", "PX", "GET", "3000");
    R(syntax, "set", "1", "v", "EX", "0", "FOO");
    R(syntax, "set", "1", "v", "EX", "abc", "PX", "10");
    R(syntax, "set", "1", "v", "PXAT", "-5", "KEEPTTL");
    R(not_int, "set", "1", "v", "EX", "EX", "GET");
    R(bad_time, "set", "1", "v", "EX", "abc", "EX", "0");
    /* no error wrote anything */
    R(":0\r\n", "exists", "1");
    cr_assert_eq(xsrv.st.total_error_replies, 22);
}

Test(ttl, setex_psetex)
{
    R("+OK\r\n", "setex", "1", "10", "v");
    R(":10\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "get", "1");
    R("+OK\r\n", "psetex", "2", "1500", "w");
    R(":1500\r\n", "pttl", "2");
    R("+OK\r\n", "setex", "2", "20", "x");
    R(":20000\r\n", "pttl", "2");
    R("$1\r\nx\r\n", "get", "2");
    R("-ERR invalid expire time in 'setex' command\r\n", "setex", "3", "0", "v");
    R("-ERR invalid expire time in 'setex' command\r\n", "setex", "3", "-10", "v");
    R("-ERR invalid expire time in 'psetex' command\r\n", "psetex", "3", "0", "v");
    R("-ERR invalid expire time in 'setex' command\r\n", "setex", "3", "9223372036854775807", "v");
    R("-ERR value is not an integer or out of range\r\n", "setex", "3", "ten", "v");
    R("-ERR value is not an integer or out of range\r\n", "psetex", "3", "", "v");
    R(":0\r\n", "exists", "3");
    R("-ERR wrong number of arguments for 'setex' command\r\n", "setex", "3", "10");
}

/* ---- GETEX ------------------------------------------------------------------------------- */

Test(ttl, getex_options)
{
    R("$-1\r\n", "getex", "1");
    R("$-1\r\n", "getex", "1", "EX", "10");
    R(":0\r\n", "exists", "1");
    R("+OK\r\n", "set", "1", "v");
    R("$1\r\nv\r\n", "getex", "1");
    R(":-1\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "EX", "100");
    R(":100\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1");
    /* plain GETEX keeps the TTL */
    R(":100\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "px", "2500");
    R(":2500\r\n", "pttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "exat", "1700000300");
    R(":300\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "PXAT", "1700000000777");
    R(":777\r\n", "pttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "PERSIST");
    R(":-1\r\n", "pttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "persist");
    R(":-1\r\n", "pttl", "1");

    /* A time in the past: the value is returned and the key goes. */
    R("$1\r\nv\r\n", "getex", "1", "EXAT", "1600000000");
    R(":0\r\n", "exists", "1");
    R("$-1\r\n", "getex", "1");

    R("+OK\r\n", "set", "2", "v", "EX", "50");
    const char *syntax = "-ERR syntax error\r\n";
    R(syntax, "getex", "2", "EX");
    R(syntax, "getex", "2", "bogus");
    R(syntax, "getex", "2", "PERSIST", "EX", "10");
    R(syntax, "getex", "2", "EX", "10", "PX", "10");
    R("-ERR invalid expire time in 'getex' command\r\n", "getex", "2", "EX", "0");
    R("-ERR invalid expire time in 'getex' command\r\n", "getex", "2", "PX", "-1");
    R("-ERR invalid expire time in 'getex' command\r\n", "getex", "2", "EX", "9223372036854775807");
    R("-ERR value is not an integer or out of range\r\n", "getex", "2", "PX", "x");
    /* errors change nothing */
    R(":50\r\n", "ttl", "2");
    R("-ERR wrong number of arguments for 'getex' command\r\n", "getex");

    /* Redis's precedence: syntax errors, then a missing key (nil), then the
     * time's errors; and the word after EX is its argument. */
    R("$-1\r\n", "getex", "3", "PX", "-1");
    R("$-1\r\n", "getex", "3", "EX", "abc");
    R("$-1\r\n", "getex", "3", "EXAT", "9223372036854775807");
    R(syntax, "getex", "3", "PX", "-1", "FOO");
    R(syntax, "getex", "2", "EXAT", "EXAT", "1800000000");
    R(syntax, "getex", "2", "PX", "0", "PERSIST");
    R(":50\r\n", "ttl", "2");
}

/* ---- EXPIRE family ------------------------------------------------------------------------ */

Test(ttl, expire_basic_units_and_missing)
{
    R(":0\r\n", "expire", "1", "100");
    R(":0\r\n", "pexpire", "1", "100");
    R(":0\r\n", "expireat", "1", "1800000000");
    R(":0\r\n", "pexpireat", "1", "1800000000000");
    R(":0\r\n", "exists", "1");
    R("+OK\r\n", "set", "1", "v");
    R(":1\r\n", "expire", "1", "100");
    R(":100\r\n", "ttl", "1");
    R(":1\r\n", "pexpire", "1", "1500");
    R(":1500\r\n", "pttl", "1");
    R(":1\r\n", "expireat", "1", "1700000200");
    R(":200\r\n", "ttl", "1");
    R(":1\r\n", "pexpireat", "1", "1700000000250");
    R(":250\r\n", "pttl", "1");
    R(":1700000000250\r\n", "pexpiretime", "1");
    /* seconds are floored */
    R(":1700000000\r\n", "expiretime", "1");

    /* Past or present times delete the key and reply 1. */
    R(":1\r\n", "expire", "1", "0");
    R(":0\r\n", "exists", "1");
    R("+OK\r\n", "set", "1", "v");
    R(":1\r\n", "expire", "1", "-10");
    R(":-2\r\n", "ttl", "1");
    R("+OK\r\n", "set", "1", "v");
    R(":1\r\n", "pexpireat", "1", "1700000000000");
    R(":0\r\n", "exists", "1");
    R("+OK\r\n", "set", "1", "v");
    R(":1\r\n", "expireat", "1", "1");
    R(":0\r\n", "exists", "1");

    R("+OK\r\n", "set", "2", "v");
    R("-ERR value is not an integer or out of range\r\n", "expire", "2", "x");
    R("-ERR value is not an integer or out of range\r\n", "pexpire", "2", "1.0");
    R("-ERR invalid expire time in 'expire' command\r\n", "expire", "2", "9223372036854775807");
    R("-ERR invalid expire time in 'expireat' command\r\n", "expireat", "2",
      "-9223372036854775807");
    R("-ERR invalid expire time in 'pexpire' command\r\n", "pexpire", "2", "9223372036854775807");
    /* errors change nothing */
    R(":-1\r\n", "ttl", "2");
    R("-ERR wrong number of arguments for 'expire' command\r\n", "expire", "2");
}

Test(ttl, expire_nx_xx_gt_lt)
{
    R("+OK\r\n", "set", "1", "v");
    /* No TTL: NX applies, XX does not; GT never (no TTL is infinite), LT does. */
    R(":0\r\n", "expire", "1", "100", "XX");
    R(":0\r\n", "expire", "1", "100", "GT");
    R(":-1\r\n", "ttl", "1");
    R(":1\r\n", "expire", "1", "100", "NX");
    R(":100\r\n", "ttl", "1");
    R(":0\r\n", "expire", "1", "200", "NX");
    R(":100\r\n", "ttl", "1");
    R(":1\r\n", "expire", "1", "200", "XX");
    R(":200\r\n", "ttl", "1");
    R(":0\r\n", "expire", "1", "150", "GT");
    /* equal is not greater */
    R(":0\r\n", "expire", "1", "200", "GT");
    R(":1\r\n", "expire", "1", "300", "gt");
    R(":300\r\n", "ttl", "1");
    R(":0\r\n", "expire", "1", "400", "LT");
    /* equal is not less */
    R(":0\r\n", "expire", "1", "300", "LT");
    R(":1\r\n", "expire", "1", "250", "lt");
    R(":250\r\n", "ttl", "1");
    R(":1\r\n", "pexpire", "1", "260000", "XX", "GT");
    R(":260000\r\n", "pttl", "1");
    R(":0\r\n", "pexpire", "1", "270000", "XX", "LT");
    R(":1\r\n", "persist", "1");
    /* no TTL: any time is less than infinity */
    R(":1\r\n", "expire", "1", "50", "LT");
    R(":50\r\n", "ttl", "1");
    R(":1\r\n", "persist", "1");
    R(":0\r\n", "expire", "1", "50", "XX", "LT");
    R(":-1\r\n", "ttl", "1");
    R(":0\r\n", "expireat", "1", "1700000100", "GT");
    R(":1\r\n", "pexpireat", "1", "1700000100000", "NX");
    R(":100\r\n", "ttl", "1");
    /* A past time passes the flags check first: GT refuses, LT deletes. */
    R(":0\r\n", "expire", "1", "-1", "GT");
    R(":0\r\n", "expire", "1", "-1", "NX");
    R(":1\r\n", "exists", "1");
    R(":1\r\n", "expire", "1", "-1", "LT");
    R(":0\r\n", "exists", "1");
    /* missing key */
    R(":0\r\n", "expire", "1", "10", "NX");

    R("+OK\r\n", "set", "2", "v");
    const char *nx = "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    const char *gtlt = "-ERR GT and LT options at the same time are not compatible\r\n";
    R(nx, "expire", "2", "10", "NX", "XX");
    R(nx, "expire", "2", "10", "NX", "GT");
    R(nx, "pexpire", "2", "10", "lt", "nx");
    R(gtlt, "expire", "2", "10", "GT", "LT");
    R(gtlt, "pexpireat", "2", "10", "XX", "GT", "LT");
    R("-ERR Unsupported option bogus\r\n", "expire", "2", "10", "bogus");
    /* errors change nothing */
    R(":-1\r\n", "ttl", "2");
    /* nothing wrong with repeats */
    R(":1\r\n", "expire", "2", "10", "nx", "nx");
    R(":10\r\n", "ttl", "2");
}

Test(ttl, ttl_rounding)
{
    const long long cases[][2] = {{499, 0}, {500, 1},      {1499, 1},    {1500, 2},
                                  {1, 0},   {100000, 100}, {99501, 100}, {99499, 99}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        R("+OK\r\n", "set", "1", "v", "PX", num(cases[i][0]));
        cr_assert_eq(N("ttl", "1"), cases[i][1], "PX %lld", cases[i][0]);
        cr_assert_eq(N("pttl", "1"), cases[i][0]);
    }
    /* As time passes. */
    R("+OK\r\n", "set", "1", "v", "EX", "10");
    advance(4400);
    R(":6\r\n", "ttl", "1");
    R(":5600\r\n", "pttl", "1");
    /* absolute: unchanged by time */
    R(":1700000010\r\n", "expiretime", "1");
    advance(5599);
    R(":0\r\n", "ttl", "1");
    R(":1\r\n", "pttl", "1");
    advance(1);
    R(":-2\r\n", "ttl", "1");
}

Test(ttl, persist)
{
    R(":0\r\n", "persist", "1");
    R("+OK\r\n", "set", "1", "v");
    R(":0\r\n", "persist", "1");
    R(":1\r\n", "expire", "1", "10");
    R(":1\r\n", "persist", "1");
    R(":-1\r\n", "ttl", "1");
    R(":0\r\n", "persist", "1");
    advance(20000);
    /* persisted key outlives its old time */
    R("$1\r\nv\r\n", "get", "1");
    R(":1\r\n", "pexpire", "1", "10");
    advance(10);
    /* expired: nothing to persist */
    R(":0\r\n", "persist", "1");
    R(":0\r\n", "exists", "1");
}

/* ---- which writes keep the TTL ------------------------------------------------------------ */

Test(ttl, append_setrange_incr_keep_set_getset_mset_clear)
{
    R("+OK\r\n", "set", "1", "ab", "EX", "100");
    R(":4\r\n", "append", "1", "cd");
    R(":100\r\n", "ttl", "1");
    R(":4\r\n", "setrange", "1", "1", "X");
    R(":100\r\n", "ttl", "1");
    R("$4\r\naXcd\r\n", "get", "1");

    R("+OK\r\n", "set", "2", "10", "EX", "100");
    R(":11\r\n", "incr", "2");
    R(":100\r\n", "ttl", "2");
    R(":6\r\n", "decrby", "2", "5");
    R(":5\r\n", "decr", "2");
    R(":105\r\n", "incrby", "2", "100");
    R(":100\r\n", "ttl", "2");

    R("+OK\r\n", "set", "2", "x");
    /* SET clears */
    R(":-1\r\n", "ttl", "2");
    R(":1\r\n", "expire", "1", "100");
    R("$4\r\naXcd\r\n", "getset", "1", "y");
    /* GETSET clears */
    R(":-1\r\n", "ttl", "1");
    R(":1\r\n", "expire", "1", "100");
    R(":1\r\n", "expire", "2", "100");
    R("+OK\r\n", "mset", "1", "a", "3", "b");
    /* MSET clears */
    R(":-1\r\n", "ttl", "1");
    /* keys MSET did not name keep theirs */
    R(":100\r\n", "ttl", "2");
    R(":1\r\n", "expire", "1", "100");
    R(":0\r\n", "setnx", "1", "z");
    /* a refused SETNX changes nothing */
    R(":100\r\n", "ttl", "1");
    R(":1\r\n", "msetnx", "4", "a", "5", "b");
    R(":-1\r\n", "ttl", "4");

    /* Writes to a key whose time has come start from nothing, TTL-less. */
    R("+OK\r\n", "set", "6", "abc", "PX", "10");
    R("+OK\r\n", "set", "7", "41", "PX", "10");
    R("+OK\r\n", "set", "8", "abc", "PX", "10");
    advance(10);
    R(":1\r\n", "append", "6", "x");
    R(":-1\r\n", "ttl", "6");
    R(":1\r\n", "incr", "7");
    R(":-1\r\n", "ttl", "7");
    R(":3\r\n", "setrange", "8", "2", "q");
    R(":-1\r\n", "ttl", "8");
    run("get", "8", NULL);
    cr_assert_eq(xcli.out.len, 9);
    cr_assert(memcmp(xcli.out.buf, "$3\r\n\0\0q\r\n", 9) == 0);
}

Test(ttl, expired_keys_are_never_returned)
{
    struct {
        const char *args[4];
        size_t argc;
        const char *want;
    } reads[] = {
        {{"get", "1"}, 2, "$-1\r\n"},
        {{"mget", "1", "2"}, 3, "*2\r\n$-1\r\n$1\r\nw\r\n"},
        {{"exists", "1", "2"}, 3, ":1\r\n"},
        {{"type", "1"}, 2, "+none\r\n"},
        {{"strlen", "1"}, 2, ":0\r\n"},
        {{"getrange", "1", "0", "-1"}, 4, "$0\r\n\r\n"},
        {{"touch", "1"}, 2, ":0\r\n"},
        {{"getdel", "1"}, 2, "$-1\r\n"},
        {{"getex", "1", "persist"}, 3, "$-1\r\n"},
        {{"ttl", "1"}, 2, ":-2\r\n"},
        {{"pexpiretime", "1"}, 2, ":-2\r\n"},
        {{"memory", "usage", "1"}, 3, "$-1\r\n"},
    };
    R("+OK\r\n", "set", "2", "w");
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        R("+OK\r\n", "set", "1", "value", "PX", "100");
        advance(99);
        R(":1\r\n", "pttl", "1");
        advance(1);
        cr_assert_str_eq(runv(reads[i].args, reads[i].argc), reads[i].want, "%s", reads[i].args[0]);
    }
    /* Counted as expired, each time (the key was reclaimed by the read). */
    cr_assert_eq(info_num("stats", "expired_keys"), (long long)(sizeof reads / sizeof reads[0]));
    R(":1\r\n", "dbsize");
}

Test(ttl, set_over_an_expired_key_counts_it_and_writes_anew)
{
    /* A plain SET does not look the key up first (table_put deals with an
     * expired one); every form must leave the same counters and key. */
    const char *forms[][6] = {
        {"set", "1", "new", NULL},
        {"set", "1", "new", "keepttl", NULL},
        {"set", "1", "new", "nx", NULL},
        {"set", "1", "new", "get", NULL},
    };
    const char *replies[] = {"+OK\r\n", "+OK\r\n", "+OK\r\n", "$-1\r\n"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        R("+OK\r\n", "set", "1", "old", "PX", "100");
        advance(100);
        long long hits = info_num("stats", "keyspace_hits");
        long long misses = info_num("stats", "keyspace_misses");
        const char **f = forms[i];
        size_t argc = 0;
        while (f[argc] != NULL)
            argc++;
        cr_assert_str_eq(runv(f, argc), replies[i], "%s %s", f[2], argc > 3 ? f[3] : "");
        cr_assert_eq(info_num("stats", "expired_keys"), (long long)i + 1, "form %zu", i);
        cr_assert_eq(info_num("stats", "keyspace_hits"), hits);
        cr_assert_eq(info_num("stats", "keyspace_misses"), misses + (i == 3), "form %zu", i);
        R("$3\r\nnew\r\n", "get", "1");
        R(":-1\r\n", "ttl", "1");
        R(":1\r\n", "dbsize");
    }
}

/* ---- INFO ----------------------------------------------------------------------------------- */

Test(ttl, info_keyspace_expires_and_avg_ttl)
{
    R("+OK\r\n", "set", "1", "a");
    R("+OK\r\n", "set", "2", "b", "EX", "100");
    R("+OK\r\n", "set", "3", "c", "EX", "200");
    cr_assert_not_null(
        strstr(run("info", "keyspace", NULL), "\r\ndb0:keys=3,expires=2,avg_ttl=150000\r\n"), "%s",
        run("info", "keyspace", NULL));
    advance(50000);
    cr_assert_not_null(
        strstr(run("info", "keyspace", NULL), "\r\ndb0:keys=3,expires=2,avg_ttl=100000\r\n"));
    R("+OK\r\n", "set", "ns:1", "d", "PX", "400000");
    const char *info = run("info", "everything", NULL);
    cr_assert_not_null(strstr(info, "\r\ndb0:keys=4,expires=3,avg_ttl=200000\r\n"), "%s", info);
    cr_assert_not_null(strstr(info, "\r\nns_ns:keys=1,expires=1,avg_ttl=400000,"), "%s", info);
    cr_assert_not_null(strstr(info, "\r\nns_@default:keys=3,expires=2,avg_ttl=100000,"));
    R(":1\r\n", "persist", "2");
    R(":1\r\n", "persist", "3");
    R(":1\r\n", "persist", "ns:1");
    cr_assert_not_null(
        strstr(run("info", "keyspace", NULL), "\r\ndb0:keys=4,expires=0,avg_ttl=0\r\n"));
}

Test(ttl, info_stats_fields_present)
{
    const char *info = run("info", "stats", NULL);
    cr_assert_not_null(strstr(info, "\r\nexpired_keys:0\r\n"), "%s", info);
    cr_assert_not_null(strstr(info, "\r\nexpired_stale_perc:0.00\r\n"));
    cr_assert_not_null(strstr(info, "\r\nexpired_time_cap_reached_count:0\r\n"));
    cr_assert_not_null(strstr(info, "\r\nevicted_keys:0\r\n"));
}

/* ---- active expiry ----------------------------------------------------------------------------
 */

/* Cron ticks (with the urgent slices between them) until DBSIZE is `want`. */
static int cron_until_dbsize(long long want, int max_ticks)
{
    for (int tick = 1; tick <= max_ticks; tick++) {
        cmd_server_cron(&xsrv);
        run_urgent();
        if (N("dbsize") == want)
            return tick;
    }
    cr_assert_fail("DBSIZE is %lld, want %lld after %d ticks", N("dbsize"), want, max_ticks);
    return -1;
}

Test(ttl, active_expiry_reclaims_untouched_keys)
{
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "%d", i);
        run("set", key, "v", "PX", i % 10 == 0 ? "1000000" : "100", NULL);
    }
    R("+OK\r\n", "set", "a:1", "v", "PX", "100");
    R("+OK\r\n", "set", "a:2", "v");
    R(":1002\r\n", "dbsize");
    /* Not due yet: the cron reclaims nothing. */
    cmd_server_cron(&xsrv);
    run_urgent();
    R(":1002\r\n", "dbsize");
    cr_assert_eq(info_num("stats", "expired_keys"), 0);

    advance(100);
    cron_until_dbsize(101, 50);
    cr_assert_eq(info_num("stats", "expired_keys"), 901);
    /* expired_stale_perc describes the last slice, which may have come
     * after the last key went; a slice with time to spare that finds
     * expired keys reports a share above 0. */
    R("+OK\r\n", "set", "a:3", "v", "PX", "100");
    advance(100);
    cmd_expire_cycle(&xsrv, 10 * 1000 * 1000);
    cr_assert_eq(info_num("stats", "expired_keys"), 902);
    cr_assert_gt(info_double("stats", "expired_stale_perc"), 0.0);
    R("$1\r\nv\r\n", "get", "a:2");
    R("$1\r\nv\r\n", "get", "0");
    R("$-1\r\n", "get", "a:1");
    cr_assert_not_null(strstr(run("info", "keyspace", NULL), "\r\ndb0:keys=101,expires=100,"));
}

Test(ttl, active_expiry_gives_the_memory_back)
{
    char key[32];
    table_stats empty = total_stats();
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "%d", i);
        run("set", key, "0123456789", "EX", "10", NULL);
    }
    table_stats full = total_stats();
    cr_assert_eq(full.count, 20000);
    cr_assert_gt(full.meta_bytes, 0);
    advance(10000);
    int ticks = cron_until_dbsize(0, 2000);
    cr_assert_lt(ticks, 2000);
    /* Migrations (the auto shrink) are finished by later ticks. */
    for (int i = 0; i < 200 && total_stats().migrating; i++)
        cmd_server_cron(&xsrv);
    table_stats after = total_stats();
    cr_assert_eq(after.count, 0);
    cr_assert_eq(after.expires, 0);
    cr_assert_eq(after.meta_bytes, 0);
    cr_assert_eq(after.expired, 20000);
    cr_assert_eq(info_num("stats", "expired_keys"), 20000);
    cr_assert_leq(after.payload_bytes, 2048u * 136u, "at most one spare chunk of records");
    cr_assert_lt(after.index_bytes, full.index_bytes / 8, "the index shrank: %llu -> %llu",
                 (unsigned long long)full.index_bytes, (unsigned long long)after.index_bytes);
    /* One spare chunk of records, the minimum array (a page) and, when a
     * chain overflowed during the last migration, its pool's page. */
    cr_assert_leq(after.index_bytes + after.payload_bytes,
                  empty.index_bytes + empty.payload_bytes + 2048u * 136u + 2u * 4096u);
    cr_assert_not_null(strstr(run("info", "keyspace", NULL), "# Keyspace\r\n"));
    cr_assert_null(strstr(run("info", "keyspace", NULL), "db0:"));
}

/* ---- maxmemory ----------------------------------------------------------------------------------
 */

#define OOM "-OOM command not allowed when used memory > 'maxmemory'.\r\n"

Test(ttl, maxmemory_config)
{
    R("+OK\r\n", "config", "set", "maxmemory", "100mb");
    R("*2\r\n$9\r\nmaxmemory\r\n$9\r\n104857600\r\n", "config", "get", "maxmemory");
    R("+OK\r\n", "config", "set", "maxmemory", "1gb");
    R("*2\r\n$9\r\nmaxmemory\r\n$10\r\n1073741824\r\n", "config", "get", "maxmemory");
    cr_assert_eq(info_num("memory", "maxmemory"), 1073741824LL);
    R("+OK\r\n", "config", "set", "maxmemory", "0");
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a "
      "memory value\r\n",
      "config", "set", "maxmemory", "lots");
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a "
      "memory value\r\n",
      "config", "set", "maxmemory", "-1");
    /* auto and a percentage of the cgroup's limit (memlimit.h). */
    R("+OK\r\n", "config", "set", "maxmemory", "AUTO");
    R("*2\r\n$9\r\nmaxmemory\r\n$4\r\nauto\r\n", "config", "get", "maxmemory");
    R("+OK\r\n", "config", "set", "maxmemory", "90%");
    R("*2\r\n$9\r\nmaxmemory\r\n$3\r\n90%\r\n", "config", "get", "maxmemory");
    const char *bad[] = {"0%", "101%", "%", "-5%", "1.5%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be "
          "a percentage from 1% to 100%\r\n",
          "config", "set", "maxmemory", bad[i]);
    R("+OK\r\n", "config", "set", "maxmemory", "0");

    R("*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n", "config", "get",
      "maxmemory-policy");
    const char *policies[] = {"allkeys-lru",  "allkeys-lfu",     "allkeys-random", "volatile-lru",
                              "volatile-lfu", "volatile-random", "volatile-ttl",   "noeviction"};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        R("+OK\r\n", "config", "set", "maxmemory-policy", policies[i]);
        char want[128];
        snprintf(want, sizeof want, "*2\r\n$16\r\nmaxmemory-policy\r\n$%zu\r\n%s\r\n",
                 strlen(policies[i]), policies[i]);
        R(want, "config", "get", "maxmemory-policy");
    }
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) "
      "must be one of the following: noeviction|allkeys-lru|allkeys-lfu|allkeys-random|"
      "volatile-lru|volatile-lfu|volatile-random|volatile-ttl\r\n",
      "config", "set", "maxmemory-policy", "lfu");

    R("*2\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n", "config", "get", "maxmemory-samples");
    R("+OK\r\n", "config", "set", "maxmemory-samples", "64");
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must "
      "be between 1 and 64 inclusive\r\n",
      "config", "set", "maxmemory-samples", "0");
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must "
      "be between 1 and 64 inclusive\r\n",
      "config", "set", "maxmemory-samples", "65");
    R("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument "
      "couldn't be parsed into an integer\r\n",
      "config", "set", "maxmemory-samples", "five");
    R("*2\r\n$17\r\nmaxmemory-samples\r\n$2\r\n64\r\n", "config", "get", "maxmemory-samples");
}

Test(ttl, noeviction_refuses_writes_reads_and_deletes_work)
{
    R("+OK\r\n", "set", "1", "a");
    R("+OK\r\n", "set", "2", "b", "EX", "100");
    R("+OK\r\n", "config", "set", "maxmemory", "1");
    R(OOM, "set", "3", "c");
    R(OOM, "set", "1", "z");
    R(OOM, "mset", "3", "c", "4", "d");
    R(OOM, "setex", "3", "10", "c");
    R(OOM, "append", "1", "x");
    R(OOM, "incr", "5");
    R(OOM, "setnx", "6", "x");
    R(OOM, "getset", "1", "x");
    R("$1\r\na\r\n", "get", "1");
    R(":2\r\n", "exists", "1", "2");
    R(":100\r\n", "ttl", "2");
    R(":2\r\n", "dbsize");
    R(":1\r\n", "expire", "1", "50");
    R(":1\r\n", "persist", "2");
    R(":1\r\n", "del", "1");
    R("$1\r\nb\r\n", "getdel", "2");
    R(":0\r\n", "dbsize");
    cr_assert_eq(info_num("stats", "evicted_keys"), 0, "noeviction evicts nothing");
    R("+OK\r\n", "config", "set", "maxmemory", "0");
    R("+OK\r\n", "set", "3", "c");
}

/* SET <prefix><i> v for i in [from, to), each answered +OK. */
static void set_keys(const char *prefix, int from, int to)
{
    char key[32];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof key, "%s%d", prefix, i);
        R("+OK\r\n", "set", key, "v");
    }
}

Test(ttl, allkeys_random_evicts_and_writes_succeed)
{
    char key[32];
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-random");
    set_keys("", 0, 200);
    xsrv.heap_used = 0; /* the table figure only, no cron ran */
    uint64_t used = tables_memory();
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)used));
    for (int i = 200; i < 600; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, "v");
        cr_assert_leq(tables_memory(), used + 136, "one record over at most");
    }
    long long evicted = info_num("stats", "evicted_keys");
    long long n = N("dbsize");
    cr_assert_geq(evicted, 390, "evicted %lld", evicted);
    cr_assert_eq(n + evicted, 600);
    /* the last write is there */
    R("$1\r\nv\r\n", "get", "599");
}

/* Keys in the namespace called name (0 if there is none). */
static uint64_t ns_keys(const char *name)
{
    for (size_t i = 0; i < db_ns_count(xsrv.db); i++)
        if (strcmp(db_ns_at(xsrv.db, i)->name, name) == 0)
            return table_count(db_ns_at(xsrv.db, i)->t);
    return 0;
}

Test(ttl, evictions_spread_over_namespaces_by_their_keys)
{
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-random");
    /* 1000 keys in a, none left in e (created, then emptied), 3000 in b, in
     * that order: a namespace is drawn with odds in proportion to its keys,
     * so evictions fall about 1:3 on a and b, and never on e. */
    set_keys("a:", 0, 1000);
    R("+OK\r\n", "set", "e:1", "v");
    R(":1\r\n", "del", "e:1");
    set_keys("b:", 0, 3000);
    xsrv.heap_used = 0; /* the table figure only, no cron ran */
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)tables_memory()));
    /* 800 writes to the default namespace, each evicting at least one key
     * (more when its bucket array grows). */
    set_keys("", 0, 800);
    uint64_t gone_a = 1000 - ns_keys("a"), gone_b = 3000 - ns_keys("b");
    long long evicted = info_num("stats", "evicted_keys");
    cr_assert_eq((long long)(gone_a + gone_b + 800 - ns_keys("")), evicted,
                 "every eviction is counted");
    cr_assert_geq(evicted, 780, "evicted %lld", evicted);
    /* a held a quarter of a and b's keys, and of the default namespace's
     * share the rest: a's share of a and b's losses is about 1/4. */
    double share = (double)gone_a / (double)(gone_a + gone_b);
    cr_assert(gone_a + gone_b >= 400, "a and b lost %" PRIu64, gone_a + gone_b);
    cr_assert(share >= 0.15 && share <= 0.35, "a lost %" PRIu64 ", b %" PRIu64, gone_a, gone_b);
    R("+OK\r\n", "config", "set", "maxmemory", "0");
}

/* Keys 1..n without TTL in the default namespace; k with TTL. */
static void volatile_case(const char *policy)
{
    char key[32];
    R("+OK\r\n", "flushall");
    R("+OK\r\n", "config", "set", "maxmemory", "0");
    R("+OK\r\n", "config", "set", "maxmemory-policy", policy);
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, "v", i % 6 == 0 ? "EX" : "KEEPTTL", i % 6 == 0 ? "100" : NULL,
          NULL);
    }
    long long before = info_num("stats", "evicted_keys");
    R("+OK\r\n", "config", "set", "maxmemory", "1");
    /* The first write evicts every key with a TTL (5) and goes through. */
    R("+OK\r\n", "set", "100", "v");
    cr_assert_eq(info_num("stats", "evicted_keys") - before, 5, "%s", policy);
    R(OOM, "set", "101", "v");
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "%d", i);
        R(i % 6 == 0 ? ":0\r\n" : ":1\r\n", "exists", key);
    }
    R(":26\r\n", "dbsize");
    R("+OK\r\n", "config", "set", "maxmemory", "0");
}

Test(ttl, volatile_policies_never_evict_keys_without_ttl)
{
    volatile_case("volatile-random");
    volatile_case("volatile-lru");
    volatile_case("volatile-lfu");
    volatile_case("volatile-ttl");
}

Test(ttl, volatile_ttl_evicts_soonest_first)
{
    char key[32];
    R("+OK\r\n", "config", "set", "maxmemory-policy", "volatile-ttl");
    R("+OK\r\n", "config", "set", "maxmemory-samples", "64");
    /* TTL keys alone in their namespace, so a sample is uniform over them;
     * keys without TTL elsewhere. TTLs in a scrambled order. */
    const int ttl_s[8] = {500, 100, 800, 300, 700, 200, 600, 400};
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "t:%d", i);
        R("+OK\r\n", "set", key, "v", "EX", num(ttl_s[i]));
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "p:%d", i);
        R("+OK\r\n", "set", key, "v");
    }
    xsrv.heap_used = 0;
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)tables_memory() - 1));
    /* Each write is one record over the limit for the next one: one eviction
     * per write, the soonest-expiring key each time. */
    for (int round = 0; round < 7; round++) {
        snprintf(key, sizeof key, "p:%d", 100 + round);
        R("+OK\r\n", "set", key, "v");
        int want_ttl = 100 * (round + 1);
        for (int i = 0; i < 8; i++) {
            snprintf(key, sizeof key, "t:%d", i);
            R(ttl_s[i] <= want_ttl ? ":0\r\n" : ":1\r\n", "exists", key);
        }
    }
    cr_assert_eq(info_num("stats", "evicted_keys"), 7);
}

Test(ttl, allkeys_lru_keeps_the_hot_set)
{
    char key[32], val[129], got[140];
    /* 128-byte values: a page the index maps on the way (an overflow
     * pool's first page, when a chain first fills) is worth 30 records. */
    memset(val, 'v', 128);
    val[128] = '\0';
    snprintf(got, sizeof got, "$128\r\n%s\r\n", val);
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lru");
    /* 300 keys written at T0; 100 of them (the hot set) read again later. */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, val);
    }
    for (int round = 0; round < 5; round++) {
        advance(1000);
        for (int i = 0; i < 300; i += 3) {
            snprintf(key, sizeof key, "%d", i);
            R(got, "get", key);
        }
    }
    xsrv.heap_used = 0;
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)tables_memory() - 1));
    /* 150 new keys push 150 out (and up to a page's worth more). */
    for (int i = 1000; i < 1150; i++) {
        advance(200);
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, val);
    }
    int hot = 0, cold = 0, fresh = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "%d", i);
        if (N("exists", key) == 1)
            *(i % 3 == 0 ? &hot : &cold) += 1;
    }
    for (int i = 1000; i < 1150; i++) {
        snprintf(key, sizeof key, "%d", i);
        fresh += (int)N("exists", key);
    }
    long long evicted = info_num("stats", "evicted_keys");
    cr_assert(evicted >= 150 && evicted <= 150 + 4096 / 137 + 1, "evicted %lld", evicted);
    cr_assert_eq(hot + cold + fresh, 450 - evicted);
    double hot_frac = hot / 100.0, cold_frac = cold / 200.0;
    cr_log_info("allkeys-lru: hot %d/100, cold %d/200, new %d/150", hot, cold, fresh);
    /* Sampled LRU, 5 samples: once most cold keys are gone, some samples
     * hold no cold key and a hot one goes (seen: hot 87 %, cold 31 %). With
     * no stamps (or random eviction) both fractions would be about equal. */
    cr_assert_geq(hot_frac, 0.75, "hot %d/100 cold %d/200 new %d/150", hot, cold, fresh);
    cr_assert_geq(hot_frac - cold_frac, 0.35, "hot %d/100 cold %d/200", hot, cold);
}

Test(ttl, allkeys_lru_stamps_only_while_lru_policy)
{
    table_stats st = total_stats();
    cr_assert_eq(st.meta_bytes, 0);
    R("+OK\r\n", "set", "1", "v");
    cr_assert_eq(total_stats().meta_bytes, 0, "noeviction: no stamps");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "volatile-lru");
    R("$1\r\nv\r\n", "get", "1");
    cr_assert_eq(total_stats().meta_bytes, 8192, "an LRU policy stamps accesses");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-random");
    cr_assert_eq(total_stats().meta_bytes, 0, "and its stamps go with it");
}

Test(ttl, lowering_maxmemory_evicts_in_the_background)
{
    char key[32];
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-random");
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, "v");
    }
    xsrv.heap_used = 0;
    uint64_t used = tables_memory();
    uint64_t limit = used - 1000 * 13; /* 1000 records of a 1-byte value */
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)limit));
    /* nothing evicted by CONFIG SET itself */
    R(":3000\r\n", "dbsize");
    /* The cron's slices (and the urgent ones between) bring it down. */
    for (int i = 0; i < 1000 && tables_memory() > limit; i++) {
        cmd_server_cron(&xsrv);
        run_urgent();
    }
    uint64_t tables = tables_memory();
    cr_assert_leq(tables, limit, "tables hold %llu > %llu", (unsigned long long)tables,
                  (unsigned long long)limit);
    cr_assert_geq(info_num("stats", "evicted_keys"), 1000);
}

/* Redis accepts a repeated expiry option (the last one wins) and a repeated
 * PERSIST: its parser only refuses combinations of different options. Checked
 * against redis-server 7.0.15. */
Test(ttl, repeated_expiry_options_as_redis)
{
    R("+OK\r\n", "set", "1", "v", "EX", "10", "EX", "20");
    R(":20\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "EX", "10", "EX", "30");
    R(":30\r\n", "ttl", "1");
    R("$1\r\nv\r\n", "getex", "1", "PERSIST", "PERSIST");
    R(":-1\r\n", "ttl", "1");
    R("+OK\r\n", "set", "1", "v", "KEEPTTL", "KEEPTTL");
}

/* ---- LFU ------------------------------------------------------------------------------- */

/* OBJECT FREQ and IDLETIME as Redis 7.0.15 answers them: FREQ only under an
 * LFU policy, the decayed counter, without touching the key; IDLETIME
 * refused under one. */
Test(ttl, object_freq_and_idletime_follow_the_policy)
{
    static const char no_lfu[] =
        "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
        "note that when switching between policies at runtime LRU and LFU data will take some "
        "time to adjust.\r\n";
    static const char lfu_idle[] =
        "-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
        "switching between policies at runtime LRU and LFU data will take some time to "
        "adjust.\r\n";
    R("+OK\r\n", "set", "1", "v");
    R(no_lfu, "object", "freq", "1");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lru");
    R(no_lfu, "object", "freq", "1");
    R("$1\r\nv\r\n", "get", "1");
    advance(3000);
    R(":3\r\n", "object", "idletime", "1"); /* OBJECT itself does not touch */
    R(":3\r\n", "object", "idletime", "1");

    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lfu");
    R("+OK\r\n", "config", "set", "lfu-log-factor", "0"); /* every access counts */
    R("$-1\r\n", "object", "freq", "404");
    R(lfu_idle, "object", "idletime", "1");
    R(":0\r\n", "object", "freq", "1"); /* unstamped since the switch */
    R("+OK\r\n", "set", "2", "v");
    R(":5\r\n", "object", "freq", "2");
    R(":5\r\n", "object", "freq", "2");
    for (int i = 0; i < 10; i++)
        R("$1\r\nv\r\n", "get", "2");
    R(":15\r\n", "object", "freq", "2");
    R("+OK\r\n", "set", "2", "w");
    R(":16\r\n", "object", "freq", "2");
    /* Decay: a step a minute, seen by FREQ without an access. */
    advance(3 * 60000);
    R(":13\r\n", "object", "freq", "2");
    R("+OK\r\n", "config", "set", "lfu-decay-time", "0");
    R(":16\r\n", "object", "freq", "2");
    R("+OK\r\n", "config", "set", "lfu-decay-time", "2");
    R(":15\r\n", "object", "freq", "2");
    R("$1\r\nw\r\n", "get", "2");
    R(":16\r\n", "object", "freq", "2");
    R("+OK\r\n", "config", "set", "lfu-log-factor", "10");
    R("*2\r\n$14\r\nlfu-log-factor\r\n$2\r\n10\r\n", "config", "get", "lfu-log-factor");
    R("*2\r\n$14\r\nlfu-decay-time\r\n$1\r\n2\r\n", "config", "get", "lfu-decay-time");
    R("-ERR CONFIG SET failed (possibly related to argument 'lfu-log-factor') - argument must "
      "be between 0 and 2147483647 inclusive\r\n",
      "config", "set", "lfu-log-factor", "-1");
    R("-ERR CONFIG SET failed (possibly related to argument 'lfu-decay-time') - argument "
      "couldn't be parsed into an integer\r\n",
      "config", "set", "lfu-decay-time", "abc");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "volatile-lfu");
    R(":16\r\n", "object", "freq", "2"); /* LFU to LFU: the stamps stay */
    R("+OK\r\n", "config", "set", "maxmemory-policy", "noeviction");
    R(no_lfu, "object", "freq", "2");
    R(":0\r\n", "object", "idletime", "2");
}

Test(ttl, lfu_stamps_only_while_lfu_policy)
{
    R("+OK\r\n", "set", "1", "v");
    R("$1\r\nv\r\n", "get", "1");
    cr_assert_eq(total_stats().meta_bytes, 0, "noeviction: no stamps");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lfu");
    cr_assert_eq(total_stats().meta_bytes, 0, "mapped on the first access");
    R("$1\r\nv\r\n", "get", "1");
    cr_assert_eq(total_stats().meta_bytes, 8192, "an LFU policy stamps accesses");
    R("+OK\r\n", "config", "set", "maxmemory-policy", "volatile-random");
    cr_assert_eq(total_stats().meta_bytes, 0, "and its stamps go with it");
}

/* Sampled LFU keeps the keys read often: 100 keys read 20 times each
 * survive 150 new keys written once, where sampled LRU would lose the hot
 * keys read longest ago just as well as the cold ones. */
Test(ttl, allkeys_lfu_keeps_the_frequent_set)
{
    char key[32], val[129], got[140];
    memset(val, 'v', 128);
    val[128] = '\0';
    snprintf(got, sizeof got, "$128\r\n%s\r\n", val);
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lfu");
    R("+OK\r\n", "config", "set", "lfu-log-factor", "1"); /* counters that part quickly */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, val);
    }
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 300; i += 3) {
            snprintf(key, sizeof key, "%d", i);
            R(got, "get", key);
        }
    /* The cold keys are read last: LRU would keep them, LFU must not. */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "%d", i);
        if (i % 3 != 0)
            R(got, "get", key);
    }
    xsrv.heap_used = 0;
    R("+OK\r\n", "config", "set", "maxmemory", num((long long)tables_memory() - 1));
    for (int i = 1000; i < 1150; i++) {
        snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, val);
    }
    int hot = 0, cold = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "%d", i);
        if (N("exists", key) == 1)
            *(i % 3 == 0 ? &hot : &cold) += 1;
    }
    long long evicted = info_num("stats", "evicted_keys");
    cr_log_info("allkeys-lfu: hot %d/100, cold %d/200, evicted %lld", hot, cold, evicted);
    cr_assert_geq(evicted, 150);
    /* With factor 1, 21 reads take a hot key to about 10, a cold key read
     * once is at 6, a new key at 5: a hot key goes only when all 5 samples
     * are hot (new keys go too, the coldest of all, as in Redis). Without
     * counters the two fractions would be about equal. */
    double hot_frac = hot / 100.0, cold_frac = cold / 200.0;
    cr_assert_geq(hot_frac, 0.95, "hot %d/100 cold %d/200", hot, cold);
    cr_assert_geq(hot_frac - cold_frac, 0.2, "hot %d/100 cold %d/200", hot, cold);
}
