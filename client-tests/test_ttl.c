/*
 * test_ttl.c - TTLs over the wire: every expiry command with its options,
 * errors and Redis 7 reply shapes; expired keys never returned (lazy expiry);
 * the active expiry cycle reclaiming keys nobody touches; and the
 * expire-then-shrink scenario (a peak written with a TTL, then no client
 * activity at all, and RSS back to the empty server's).
 *
 * Times: TTLs here are short (a few hundred ms) so the suite stays fast, and
 * every "it happens by itself" check polls with a deadline (scaled by
 * h_slow()). Absolute times (EXAT, PXAT) come from CLOCK_REALTIME, which is
 * the clock the server uses for them; the server and the test run on the
 * same host.
 *
 * RSS (expire_then_shrink): read from /proc/<pid>/status (VmRSS, VmHWM) of
 * the server we started. As in test_memory.c, sanitizer builds keep freed
 * malloc blocks in a quarantine, so RSS is compared with the empty baseline
 * and the payload in normal builds only; both builds check that the expired
 * records' memory (mmap'd chunks) left RSS.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(ttl, .fini = h_teardown, .timeout = 300);

#define VLEN 128         /* values in the load tests: the largest a key may hold */
#define RECORD_BYTES 136 /* 8-byte key + 128-byte value, the payload per key */
#define BATCH 1000       /* commands per pipelined batch */
#define MIB (1024LL * 1024)

/* Wall-clock milliseconds since the epoch (the server's clock for EXAT/PXAT). */
static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Busy-wait (with short naps) until the wall clock has passed `ms`. Used
 * only to get past a known expiry instant, not to wait for the server. */
static void wait_wall_past(long long ms)
{
    while (wall_ms() <= ms)
        usleep(200);
}

/* An integer reply's value; fails the test on another type. */
static long long int_of(redisContext *c, const char *cmd, const char *key)
{
    redisReply *r = CMD(c, "%s %s", cmd, key);
    cr_assert(r->type == REDIS_REPLY_INTEGER, "%s %s: type %d %s", cmd, key, r->type,
              r->str != NULL ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* TTL key just after `cmd` (which sets its time to live): both in one
 * write, so that no round trip comes between them and the rounding checked
 * (to the nearest second) does not depend on how fast the machine is. */
static long long ttl_after(redisContext *c, const char *cmd, const char *key)
{
    cr_assert(redisAppendCommand(c, cmd) == REDIS_OK);
    cr_assert(redisAppendCommand(c, "TTL %s", key) == REDIS_OK);
    redisReply *r = NULL;
    cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL);
    cr_assert(r->type != REDIS_REPLY_ERROR && !(r->type == REDIS_REPLY_INTEGER && r->integer == 0),
              "%s: type %d %s", cmd, r->type, r->str != NULL ? r->str : "");
    freeReplyObject(r);
    cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL);
    cr_assert(r->type == REDIS_REPLY_INTEGER, "TTL %s: type %d", key, r->type);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Require lo <= v <= hi. */
#define EXPECT_RANGE(v, lo, hi, what)                                                              \
    do {                                                                                           \
        long long v_ = (v);                                                                        \
        cr_assert(v_ >= (lo) && v_ <= (hi), "%s = %lld, expected in [%lld, %lld]", (what), v_,     \
                  (long long)(lo), (long long)(hi));                                               \
    } while (0)

/* "db0:keys=N,expires=E,avg_ttl=T" of INFO keyspace; false (all 0) when the
 * line is absent, which is what an empty keyspace shows. */
static bool keyspace(redisContext *c, long long *keys, long long *expires, long long *avg)
{
    char *info = h_info(c, "keyspace");
    const char *p = strstr(info, "\r\ndb0:");
    *keys = *expires = *avg = 0;
    bool found = p != NULL;
    if (found)
        cr_assert_eq(sscanf(p + 6, "keys=%lld,expires=%lld,avg_ttl=%lld", keys, expires, avg), 3,
                     "bad db0 line:\n%s", info);
    free(info);
    return found;
}

static long long info_stat(redisContext *c, const char *section, const char *name)
{
    char *info = h_info(c, section);
    long long v = h_info_num(info, name);
    cr_assert(v >= 0, "INFO %s lacks %s:\n%s", section, name, info);
    free(info);
    return v;
}

/* Pipelined SETs of key prefix+i, i in [from, to), with `opts` appended
 * (e.g. "PX 200", "" for none); every reply must be +OK. */
static void load(redisContext *c, const char *prefix, long long from, long long to,
                 const char *opts)
{
    char v[VLEN];
    memset(v, 'v', sizeof v);
    char fmt[64];
    snprintf(fmt, sizeof fmt, "SET %%s%%lld %%b%s%s", opts[0] ? " " : "", opts);
    for (long long b = from; b < to; b += BATCH) {
        long long e = b + BATCH < to ? b + BATCH : to;
        for (long long i = b; i < e; i++) {
            memcpy(v, &i, sizeof i);
            cr_assert(redisAppendCommand(c, fmt, prefix, i, v, (size_t)VLEN) == REDIS_OK);
        }
        for (long long i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "SET", i);
            cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
                      "SET %s%lld %s: type %d %s", prefix, i, opts, r->type,
                      r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
    }
}

/* ---- /proc ------------------------------------------------------------------------- */

static double mib(long long bytes)
{
    return (double)bytes / (double)MIB;
}

/* ==== 1. The commands ================================================================ */

/* The error every command gives for an expire time out of range. */
#define BAD_TIME(cmd) "ERR invalid expire time in '" cmd "' command"
#define NOT_INT "ERR value is not an integer or out of range"
#define SYNTAX "ERR syntax error"

ITESTX(ttl, set_expiry_options, .init = h_setup)
{
    const char *k = K("1"), *k2 = K("2"), *k3 = K("3");

    /* EX / PX: relative; TTL rounds to the nearest second, as Redis. */
    EXPECT_OK(C, "SET %s a EX 100", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after EX 100");
    EXPECT_RANGE(int_of(C, "PTTL", k), 99000, 100000, "PTTL after EX 100");
    EXPECT_BULK(C, "a", "GET %s", k);
    EXPECT_OK(C, "set %s b px 5000", k); /* options are case-insensitive */
    EXPECT_RANGE(int_of(C, "PTTL", k), 4000, 5000, "PTTL after PX 5000 (replaces EX 100)");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "SET %s b Px 1900", k);
    cr_assert_eq(ttl_after(C, cmd, k), 2); /* 1.9 s rounds to 2 */
    snprintf(cmd, sizeof cmd, "SET %s b PX 1400", k);
    cr_assert_eq(ttl_after(C, cmd, k), 1); /* 1.4 s rounds to 1 */

    /* EXAT / PXAT: absolute, and EXPIRETIME / PEXPIRETIME give them back. */
    long long at_s = wall_ms() / 1000 + 1000;
    EXPECT_OK(C, "SET %s c EXAT %lld", k, at_s);
    EXPECT_INT(C, at_s, "EXPIRETIME %s", k);
    EXPECT_INT(C, at_s * 1000, "PEXPIRETIME %s", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 998, 1000, "TTL after EXAT now+1000");
    long long at_ms = wall_ms() + 123456;
    EXPECT_OK(C, "SET %s c PXAT %lld", k, at_ms);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);
    EXPECT_INT(C, at_ms / 1000, "EXPIRETIME %s", k); /* floor, as Redis */

    /* A plain SET clears the TTL; KEEPTTL keeps it. */
    EXPECT_OK(C, "SET %s d", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, -1, "PEXPIRETIME %s", k);
    EXPECT_OK(C, "SET %s d PXAT %lld", k, at_ms);
    EXPECT_OK(C, "SET %s e KEEPTTL", k);
    EXPECT_BULK(C, "e", "GET %s", k);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);
    /* KEEPTTL with XX and GET: the old value back, TTL kept. */
    EXPECT_BULK(C, "e", "SET %s f XX KEEPTTL GET", k);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);
    /* KEEPTTL on a key without TTL leaves it without. */
    EXPECT_INT(C, 0, "DEL %s", k2);
    EXPECT_OK(C, "SET %s g KEEPTTL", k2);
    EXPECT_INT(C, -1, "TTL %s", k2);

    /* NX / XX with a TTL: the TTL is set only when the write happens. */
    EXPECT_INT(C, 1, "DEL %s", k2);
    EXPECT_OK(C, "SET %s h NX PX 100000", k2);
    EXPECT_RANGE(int_of(C, "PTTL", k2), 99000, 100000, "PTTL after NX PX");
    EXPECT_NIL(C, "SET %s i NX EX 5", k2);
    EXPECT_BULK(C, "h", "GET %s", k2);
    EXPECT_RANGE(int_of(C, "PTTL", k2), 99000, 100000, "PTTL after a refused NX");
    EXPECT_NIL(C, "SET %s j XX EX 50", k3);
    EXPECT_INT(C, 0, "EXISTS %s", k3);
    EXPECT_INT(C, -2, "TTL %s", k3);
    EXPECT_OK(C, "SET %s j XX EX 50", k2);
    EXPECT_RANGE(int_of(C, "TTL", k2), 49, 50, "TTL after XX EX 50");
    /* GET with a TTL: nil for a missing key, which is then created. */
    EXPECT_NIL(C, "SET %s k GET EX 100", k3);
    EXPECT_BULK(C, "k", "GET %s", k3);
    EXPECT_RANGE(int_of(C, "TTL", k3), 99, 100, "TTL after SET GET EX");
    EXPECT_BULK(C, "k", "SET %s l EX 30 GET", k3);
    EXPECT_RANGE(int_of(C, "TTL", k3), 29, 30, "TTL after SET EX GET");
    /* NX with GET (Redis 7): the old value, no write. */
    EXPECT_BULK(C, "l", "SET %s m NX GET", k3);
    EXPECT_BULK(C, "l", "GET %s", k3);

    /* A time already past: the write succeeds and leaves no key. */
    EXPECT_OK(C, "SET %s n PXAT 1", k3);
    EXPECT_INT(C, 0, "EXISTS %s", k3);
    EXPECT_NIL(C, "GET %s", k3);
    EXPECT_OK(C, "SET %s n", k3);
    EXPECT_BULK(C, "n", "SET %s o EXAT %lld GET", k3, wall_ms() / 1000 - 10);
    EXPECT_INT(C, 0, "EXISTS %s", k3);

    /* Errors, and none of them touches the key. */
    EXPECT_OK(C, "SET %s keep PXAT %lld", k, at_ms);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x EX 0", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x EX -1", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x PX 0", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x PX -100", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x EXAT 0", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x PXAT -5", k);
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x EX 9223372036854775807", k); /* x 1000 overflows */
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x PX 9223372036854775807", k); /* + now overflows */
    EXPECT_ERR(C, BAD_TIME("set"), "SET %s x EXAT 9223372036854775807", k);
    EXPECT_ERR(C, NOT_INT, "SET %s x EX abc", k);
    EXPECT_ERR(C, NOT_INT, "SET %s x PX 1.5", k);
    EXPECT_ERR(C, NOT_INT, "SET %s x EX 99999999999999999999", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x EX", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x PXAT", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x EX 10 PX 10", k);
    /* The same option twice is accepted by Redis 7 (the last one wins). */
    char twice[128];
    snprintf(twice, sizeof twice, "SET %s x EX 10 EX 20", K("77"));
    cr_assert_eq(ttl_after(C, twice, K("77")), 20);
    EXPECT_ERR(C, SYNTAX, "SET %s x KEEPTTL EX 10", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x EX 10 KEEPTTL", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x NX XX EX 10", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x EX 10 FOO", k);
    /* Redis's precedence: all the option words first, then the time. */
    EXPECT_ERR(C, SYNTAX, "SET %s x NX EX EX 1.5 GET", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x PX GET 3000", k);
    EXPECT_ERR(C, SYNTAX, "SET %s x EX 0 FOO", k);
    EXPECT_ERR(C, "ERR invalid key 'abc': expected an integer or namespace:integer",
               "SET abc x EX 10");
    EXPECT_BULK(C, "keep", "GET %s", k);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);

    /* Other writes: GETSET and MSET clear the TTL (they are SETs); INCR,
     * APPEND and SETRANGE keep it, as in Redis. */
    EXPECT_OK(C, "SET %s 5 EX 100", k);
    EXPECT_INT(C, 6, "INCR %s", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after INCR");
    EXPECT_INT(C, 2, "APPEND %s x", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after APPEND");
    EXPECT_INT(C, 2, "SETRANGE %s 0 z", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after SETRANGE");
    EXPECT_BULK(C, "zx", "GETSET %s y", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_OK(C, "SET %s a EX 100", k);
    EXPECT_OK(C, "MSET %s b %s c", k, k2);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, -1, "TTL %s", k2);
    /* DEL then SET: no TTL left over from the deleted key. */
    EXPECT_OK(C, "SET %s a EX 100", k);
    EXPECT_INT(C, 1, "DEL %s", k);
    EXPECT_OK(C, "SET %s a", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, 2, "DEL %s %s %s", k, k2, k3); /* k3 went with EXAT in the past */
}

ITESTX(ttl, setex_psetex, .init = h_setup)
{
    const char *k = K("11");
    EXPECT_OK(C, "SETEX %s 100 v", k);
    EXPECT_BULK(C, "v", "GET %s", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after SETEX 100");
    EXPECT_OK(C, "PSETEX %s 1500 w", k);
    EXPECT_BULK(C, "w", "GET %s", k);
    EXPECT_RANGE(int_of(C, "PTTL", k), 1000, 1500, "PTTL after PSETEX 1500");
    EXPECT_OK(C, "setex %s 7 x", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 6, 7, "TTL after setex 7");

    EXPECT_ERR(C, BAD_TIME("setex"), "SETEX %s 0 v", k);
    EXPECT_ERR(C, BAD_TIME("setex"), "SETEX %s -1 v", k);
    EXPECT_ERR(C, BAD_TIME("setex"), "SETEX %s 9223372036854775807 v", k);
    EXPECT_ERR(C, BAD_TIME("psetex"), "PSETEX %s 0 v", k);
    EXPECT_ERR(C, BAD_TIME("psetex"), "PSETEX %s -5 v", k);
    EXPECT_ERR(C, BAD_TIME("psetex"), "PSETEX %s 9223372036854775807 v", k);
    EXPECT_ERR(C, NOT_INT, "SETEX %s abc v", k);
    EXPECT_ERR(C, NOT_INT, "PSETEX %s 10s v", k);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'setex' command", "SETEX %s 10", k);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'psetex' command", "PSETEX %s 10 v w", k);
    EXPECT_ERR(C, "ERR invalid key 'abc': expected an integer or namespace:integer",
               "SETEX abc 10 v");
    char big[VLEN + 2];
    memset(big, 'b', VLEN + 1);
    big[VLEN + 1] = '\0';
    EXPECT_ERR(C, "ERR value is 129 bytes; the maximum is 128", "SETEX %s 10 %s", k, big);
    /* None of them changed the key. */
    EXPECT_BULK(C, "x", "GET %s", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 6, 7, "TTL after refused SETEXes");
    EXPECT_INT(C, 1, "DEL %s", k);
}

ITESTX(ttl, getex, .init = h_setup)
{
    const char *k = K("21"), *missing = K("22");
    EXPECT_NIL(C, "GETEX %s", missing);
    EXPECT_NIL(C, "GETEX %s EX 100", missing);
    /* Redis's precedence: a missing key is nil before the time is checked. */
    EXPECT_NIL(C, "GETEX %s PX -1", missing);
    EXPECT_NIL(C, "GETEX %s EX abc", missing);
    EXPECT_ERR(C, SYNTAX, "GETEX %s PX -1 FOO", missing);
    EXPECT_INT(C, 0, "EXISTS %s", missing); /* not created */
    EXPECT_ERR(C, "ERR wrong number of arguments for 'getex' command", "GETEX");

    EXPECT_OK(C, "SET %s v", k);
    EXPECT_BULK(C, "v", "GETEX %s", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_BULK(C, "v", "GETEX %s EX 100", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after GETEX EX 100");
    EXPECT_BULK(C, "v", "GETEX %s", k); /* no option: the TTL stays */
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after a plain GETEX");
    EXPECT_BULK(C, "v", "getex %s px 5000", k);
    EXPECT_RANGE(int_of(C, "PTTL", k), 4000, 5000, "PTTL after GETEX PX 5000");
    long long at_s = wall_ms() / 1000 + 500;
    EXPECT_BULK(C, "v", "GETEX %s EXAT %lld", k, at_s);
    EXPECT_INT(C, at_s, "EXPIRETIME %s", k);
    long long at_ms = wall_ms() + 77777;
    EXPECT_BULK(C, "v", "GETEX %s PXAT %lld", k, at_ms);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);
    EXPECT_BULK(C, "v", "GETEX %s PERSIST", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_BULK(C, "v", "GETEX %s persist", k); /* no TTL: still fine */

    /* Errors, none of which touches the key. */
    EXPECT_OK(C, "SET %s w PXAT %lld", k, at_ms);
    EXPECT_ERR(C, BAD_TIME("getex"), "GETEX %s EX 0", k);
    EXPECT_ERR(C, BAD_TIME("getex"), "GETEX %s PX -1", k);
    EXPECT_ERR(C, BAD_TIME("getex"), "GETEX %s EX 9223372036854775807", k);
    EXPECT_ERR(C, NOT_INT, "GETEX %s EX abc", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s EX", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s PERSIST EX 10", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s EX 10 PX 10", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s EX 10 PERSIST", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s KEEPTTL", k);
    EXPECT_ERR(C, SYNTAX, "GETEX %s FOO", k);
    EXPECT_BULK(C, "w", "GET %s", k);
    EXPECT_INT(C, at_ms, "PEXPIRETIME %s", k);

    /* A time already past: the value is returned and the key is gone. */
    EXPECT_BULK(C, "w", "GETEX %s PXAT 1", k);
    EXPECT_INT(C, 0, "EXISTS %s", k);
    EXPECT_NIL(C, "GETEX %s", k);
}

ITESTX(ttl, expire_family, .init = h_setup)
{
    const char *k = K("31"), *missing = K("32");
    long long now_s = wall_ms() / 1000;

    /* A missing key: 0 for the setters, -2 for the getters. */
    EXPECT_INT(C, 0, "EXPIRE %s 100", missing);
    EXPECT_INT(C, 0, "PEXPIRE %s 100", missing);
    EXPECT_INT(C, 0, "EXPIREAT %s %lld", missing, now_s + 100);
    EXPECT_INT(C, 0, "PEXPIREAT %s %lld", missing, (now_s + 100) * 1000);
    EXPECT_INT(C, -2, "TTL %s", missing);
    EXPECT_INT(C, -2, "PTTL %s", missing);
    EXPECT_INT(C, -2, "EXPIRETIME %s", missing);
    EXPECT_INT(C, -2, "PEXPIRETIME %s", missing);
    EXPECT_INT(C, 0, "PERSIST %s", missing);
    EXPECT_INT(C, 0, "EXISTS %s", missing); /* none of them created it */

    /* A key without a TTL: -1. */
    EXPECT_OK(C, "SET %s v", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, -1, "PTTL %s", k);
    EXPECT_INT(C, -1, "EXPIRETIME %s", k);
    EXPECT_INT(C, -1, "PEXPIRETIME %s", k);
    EXPECT_INT(C, 0, "PERSIST %s", k);

    /* The four setters. */
    EXPECT_INT(C, 1, "EXPIRE %s 100", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after EXPIRE 100");
    EXPECT_RANGE(int_of(C, "EXPIRETIME", k), now_s + 99, now_s + 101, "EXPIRETIME");
    EXPECT_INT(C, 1, "PEXPIRE %s 50000", k);
    EXPECT_RANGE(int_of(C, "PTTL", k), 49000, 50000, "PTTL after PEXPIRE 50000");
    EXPECT_INT(C, 1, "EXPIREAT %s %lld", k, now_s + 200);
    EXPECT_INT(C, now_s + 200, "EXPIRETIME %s", k);
    EXPECT_INT(C, (now_s + 200) * 1000, "PEXPIRETIME %s", k);
    long long at = wall_ms() + 300500;
    EXPECT_INT(C, 1, "PEXPIREAT %s %lld", k, at);
    EXPECT_INT(C, at, "PEXPIRETIME %s", k);
    EXPECT_INT(C, at / 1000, "EXPIRETIME %s", k);
    EXPECT_BULK(C, "v", "GET %s", k);
    /* TTL rounds to the nearest second (Redis: (ms + 500) / 1000). */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "PEXPIRE %s 1900", k);
    cr_assert_eq(ttl_after(C, cmd, k), 2);
    snprintf(cmd, sizeof cmd, "PEXPIRE %s 1400", k);
    cr_assert_eq(ttl_after(C, cmd, k), 1);

    /* PERSIST. */
    EXPECT_INT(C, 1, "PERSIST %s", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, 0, "PERSIST %s", k);
    EXPECT_BULK(C, "v", "GET %s", k);

    /* NX: only without a TTL. XX: only with one. */
    long long t1 = now_s + 1000, t2 = now_s + 2000, t3 = now_s + 3000;
    EXPECT_INT(C, 0, "EXPIREAT %s %lld XX", k, t1);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld NX", k, t2);
    EXPECT_INT(C, t2, "EXPIRETIME %s", k);
    EXPECT_INT(C, 0, "EXPIREAT %s %lld NX", k, t1);
    EXPECT_INT(C, t2, "EXPIRETIME %s", k);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld xx", k, t1);
    EXPECT_INT(C, t1, "EXPIRETIME %s", k);
    /* GT / LT: only a later / an earlier time; equal is neither. */
    EXPECT_INT(C, 0, "EXPIREAT %s %lld GT", k, t1);
    EXPECT_INT(C, 0, "EXPIREAT %s %lld LT", k, t1);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld GT", k, t3);
    EXPECT_INT(C, t3, "EXPIRETIME %s", k);
    EXPECT_INT(C, 0, "EXPIREAT %s %lld GT", k, t2);
    EXPECT_INT(C, 0, "EXPIREAT %s %lld lt", k, t3 + 1);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld LT", k, t2);
    EXPECT_INT(C, t2, "EXPIRETIME %s", k);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld XX GT", k, t3);
    EXPECT_INT(C, 0, "PEXPIREAT %s %lld XX LT", k, t3 * 1000 + 1);
    EXPECT_INT(C, t3, "EXPIRETIME %s", k);
    /* Without a TTL (infinite): GT never applies, LT always does. */
    EXPECT_INT(C, 1, "PERSIST %s", k);
    EXPECT_INT(C, 0, "EXPIRE %s 100 GT", k);
    EXPECT_INT(C, -1, "TTL %s", k);
    EXPECT_INT(C, 0, "EXPIRE %s 100 XX LT", k);
    EXPECT_INT(C, 1, "EXPIRE %s 100 LT", k);
    EXPECT_RANGE(int_of(C, "TTL", k), 99, 100, "TTL after EXPIRE LT on no TTL");

    /* Errors: option combinations, bad options, bad numbers, overflows; the
     * key keeps its TTL through all of them. */
    long long keep = int_of(C, "PEXPIRETIME", k);
    EXPECT_ERR(C, "ERR NX and XX, GT or LT options at the same time are not compatible",
               "EXPIRE %s 10 NX XX", k);
    EXPECT_ERR(C, "ERR NX and XX, GT or LT options at the same time are not compatible",
               "PEXPIRE %s 10 NX GT", k);
    EXPECT_ERR(C, "ERR NX and XX, GT or LT options at the same time are not compatible",
               "EXPIREAT %s 10 LT NX", k);
    EXPECT_ERR(C, "ERR GT and LT options at the same time are not compatible",
               "PEXPIREAT %s 10 GT LT", k);
    EXPECT_ERR(C, "ERR Unsupported option FOO", "EXPIRE %s 10 FOO", k);
    EXPECT_ERR(C, "ERR Unsupported option PX", "EXPIRE %s 10 PX", k);
    EXPECT_ERR(C, NOT_INT, "EXPIRE %s abc", k);
    EXPECT_ERR(C, NOT_INT, "PEXPIRE %s 1e3", k);
    EXPECT_ERR(C, BAD_TIME("expire"), "EXPIRE %s 9223372036854775807", k);
    EXPECT_ERR(C, BAD_TIME("pexpire"), "PEXPIRE %s 9223372036854775807", k);
    EXPECT_ERR(C, BAD_TIME("expireat"), "EXPIREAT %s 9223372036854775807", k);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'expire' command", "EXPIRE %s", k);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'ttl' command", "TTL %s %s", k, k);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'persist' command", "PERSIST");
    EXPECT_ERR(C, "ERR invalid key 'abc': expected an integer or namespace:integer",
               "EXPIRE abc 10");
    EXPECT_ERR(C, "ERR invalid key 'abc': expected an integer or namespace:integer", "TTL abc");
    EXPECT_INT(C, keep, "PEXPIRETIME %s", k);

    /* A time not in the future deletes the key at once, replying 1. */
    EXPECT_INT(C, 1, "EXPIRE %s 0", k);
    EXPECT_INT(C, 0, "EXISTS %s", k);
    EXPECT_INT(C, -2, "TTL %s", k);
    EXPECT_OK(C, "SET %s v", k);
    EXPECT_INT(C, 1, "PEXPIRE %s -100", k);
    EXPECT_NIL(C, "GET %s", k);
    EXPECT_OK(C, "SET %s v", k);
    EXPECT_INT(C, 1, "EXPIREAT %s %lld", k, now_s - 10);
    EXPECT_INT(C, 0, "EXISTS %s", k);
    EXPECT_OK(C, "SET %s v", k);
    EXPECT_INT(C, 1, "PEXPIREAT %s 1", k);
    EXPECT_INT(C, 0, "EXISTS %s", k);
    /* ... but not when a flag refuses it. */
    EXPECT_OK(C, "SET %s v", k);
    EXPECT_INT(C, 0, "EXPIRE %s -1 XX", k);
    EXPECT_INT(C, 1, "EXISTS %s", k);
    EXPECT_INT(C, 1, "DEL %s", k);
}

/* A TTL in a namespace behaves the same, and INFO namespaces counts it. */
ITESTX(ttl, namespaces_and_info, .init = h_setup_own)
{
    EXPECT_OK(C, "SET user:1 a EX 100");
    EXPECT_OK(C, "SET user:2 b");
    EXPECT_OK(C, "SET 3 c PX 50000");
    EXPECT_RANGE(int_of(C, "TTL", "user:1"), 99, 100, "TTL user:1");
    EXPECT_RANGE(int_of(C, "TTL", "user:0001"), 99, 100, "TTL user:0001 (same key)");
    EXPECT_INT(C, -1, "TTL user:2");
    long long keys, expires, avg;
    cr_assert(keyspace(C, &keys, &expires, &avg));
    cr_assert_eq(keys, 3);
    cr_assert_eq(expires, 2);
    /* Mean of ~100000 and ~50000 ms left. */
    EXPECT_RANGE(avg, 70000, 75000, "avg_ttl");
    char *info = h_info(C, "namespaces");
    cr_assert(strstr(info, "ns_user:keys=2,expires=1,") != NULL, "%s", info);
    cr_assert(strstr(info, "ns_@default:keys=1,expires=1,") != NULL, "%s", info);
    free(info);
    info = h_info(C, "stats");
    cr_assert(h_info_num(info, "expired_keys") == 0, "%s", info);
    cr_assert(strstr(info, "\r\nexpired_stale_perc:") != NULL, "%s", info);
    cr_assert(h_info_num(info, "expired_time_cap_reached_count") >= 0, "%s", info);
    free(info);
    EXPECT_INT(C, 1, "PERSIST user:1");
    cr_assert(keyspace(C, &keys, &expires, &avg));
    cr_assert_eq(expires, 1);
    EXPECT_INT(C, 1, "DEL 3");
    cr_assert(keyspace(C, &keys, &expires, &avg));
    cr_assert(keys == 2 && expires == 0 && avg == 0, "keys=%lld expires=%lld avg_ttl=%lld", keys,
              expires, avg);
}

/* ==== 2. An expired key is never returned =========================================== */

/* Keys ids [0, NK) get one PXAT instant (SET ... PXAT); right after it, every way of
 * looking at a key must see nothing, whether or not the active cycle has
 * reached it yet. The whole check is one pipeline sent the moment the
 * instant has passed. */
ITESTX(ttl, expired_key_never_returned, .init = h_setup_own)
{
    enum { NK = 20000 };
    /* The load takes ~30 ms on a quiet host; a busy one (CI runs a 10M-key
     * suite beside this one) can take longer than the margin. Then the
     * keys are flushed and loaded again with four times the margin, so the
     * checks before the instant always run. */
    long long at = 0;
    for (long long margin_ms = 500;; margin_ms *= 4) {
        cr_assert(margin_ms <= 32000, "20k pipelined SETs overran a %lld ms margin", margin_ms / 4);
        at = wall_ms() + margin_ms;
        char opts[48];
        snprintf(opts, sizeof opts, "PXAT %lld", at);
        load(C, "", 0, NK, opts);
        EXPECT_OK(C, "SET 999999 alive");
        /* Still there just before (the replies count only if they came
         * back before the instant). */
        redisReply *r0 = CMD(C, "EXISTS 0 1 2");
        redisReply *r1 = CMD(C, "GET 7");
        bool before = wall_ms() < at - 20;
        if (before) {
            cr_assert(r0->type == REDIS_REPLY_INTEGER && r0->integer == 3, "EXISTS 0 1 2: %lld",
                      r0->integer);
            cr_assert(r1->type == REDIS_REPLY_STRING && r1->len == VLEN);
        }
        freeReplyObject(r0);
        freeReplyObject(r1);
        if (before)
            break;
        cr_log_info("the load overran a %lld ms margin; loading again", margin_ms);
        EXPECT_OK(C, "FLUSHALL");
    }
    redisReply *r;

    wait_wall_past(at);
    /* One pipeline: INFO first, to see how many the active cycle had taken. */
    redisAppendCommand(C, "INFO stats");
    for (long long i = 0; i < 100; i++)
        redisAppendCommand(C, "GET %lld", i);
    redisAppendCommand(C, "MGET 100 101 999999 102");
    redisAppendCommand(C, "EXISTS 103 104 999999 105");
    redisAppendCommand(C, "TYPE 106");
    redisAppendCommand(C, "STRLEN 107");
    redisAppendCommand(C, "GETRANGE 108 0 -1");
    redisAppendCommand(C, "TTL 109");
    redisAppendCommand(C, "PTTL 110");
    redisAppendCommand(C, "EXPIRETIME 111");
    redisAppendCommand(C, "PERSIST 112");
    redisAppendCommand(C, "EXPIRE 113 100");
    redisAppendCommand(C, "GETEX 114 PERSIST");
    redisAppendCommand(C, "GETDEL 115");
    redisAppendCommand(C, "TOUCH 116 117");
    redisAppendCommand(C, "DEL 118");
    redisAppendCommand(C, "SET 119 new XX");
    redisAppendCommand(C, "SETNX 120 new");
    redisAppendCommand(C, "GETSET 121 new");
    redisAppendCommand(C, "INCR 122");
    redisAppendCommand(C, "APPEND 123 ab");
    redisAppendCommand(C, "SET 124 new NX GET");
    redisAppendCommand(C, "MEMORY USAGE 125");

    r = h_next_reply(C, "INFO", 0);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    long long reclaimed = h_info_num(r->str, "expired_keys");
    freeReplyObject(r);
    for (long long i = 0; i < 100; i++) {
        r = h_next_reply(C, "GET", i);
        cr_assert(r->type == REDIS_REPLY_NIL, "GET %lld after its expiry: type %d (%zu bytes)", i,
                  r->type, r->len);
        freeReplyObject(r);
    }
    r = h_next_reply(C, "MGET", 0);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert(r->element[0]->type == REDIS_REPLY_NIL && r->element[1]->type == REDIS_REPLY_NIL &&
                  r->element[3]->type == REDIS_REPLY_NIL,
              "MGET returned an expired key");
    cr_assert(r->element[2]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[2]->str, "alive") == 0);
    freeReplyObject(r);
#define NEXT(type_, int_, str_, what)                                                              \
    h_check(__FILE__, __LINE__, h_next_reply(C, what, 0), (type_), (str_), (size_t)-1, (int_))
    NEXT(REDIS_REPLY_INTEGER, 1, NULL, "EXISTS");
    NEXT(REDIS_REPLY_STATUS, 0, "none", "TYPE");
    NEXT(REDIS_REPLY_INTEGER, 0, NULL, "STRLEN");
    NEXT(REDIS_REPLY_STRING, 0, "", "GETRANGE");
    NEXT(REDIS_REPLY_INTEGER, -2, NULL, "TTL");
    NEXT(REDIS_REPLY_INTEGER, -2, NULL, "PTTL");
    NEXT(REDIS_REPLY_INTEGER, -2, NULL, "EXPIRETIME");
    NEXT(REDIS_REPLY_INTEGER, 0, NULL, "PERSIST");
    NEXT(REDIS_REPLY_INTEGER, 0, NULL, "EXPIRE");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "GETEX");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "GETDEL");
    NEXT(REDIS_REPLY_INTEGER, 0, NULL, "TOUCH");
    NEXT(REDIS_REPLY_INTEGER, 0, NULL, "DEL");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "SET XX");
    NEXT(REDIS_REPLY_INTEGER, 1, NULL, "SETNX");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "GETSET");
    NEXT(REDIS_REPLY_INTEGER, 1, NULL, "INCR"); /* from 0, not from the old value */
    NEXT(REDIS_REPLY_INTEGER, 2, NULL, "APPEND");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "SET NX GET");
    NEXT(REDIS_REPLY_NIL, 0, NULL, "MEMORY USAGE");
#undef NEXT
    cr_log_info("expired_key_never_returned: %lld of %d keys reclaimed by the active cycle "
                "when the checks ran",
                reclaimed, NK);
    /* The writes made fresh keys without the old TTL. */
    EXPECT_INT(C, -1, "TTL 120");
    EXPECT_BULK(C, "1", "GET 122");
    EXPECT_INT(C, -1, "TTL 122");
    EXPECT_BULK(C, "ab", "GET 123");
    EXPECT_BULK(C, "new", "GET 124");
    EXPECT_BULK(C, "new", "GET 121");
    EXPECT_NIL(C, "GET 119");
    /* And the rest go by themselves: only the 5 new keys and 999999 remain. */
    double end = h_now() + 5.0 * h_slow();
    long long keys, expires, avg;
    while (keyspace(C, &keys, &expires, &avg), keys != 6 && h_now() < end)
        usleep(10000);
    cr_assert(keys == 6 && expires == 0, "keys=%lld expires=%lld", keys, expires);
    EXPECT_INT(C, 6, "DBSIZE");
}

/* ==== 3. Active expiry =============================================================== */

/* 20k keys with PX 200 and 1k without; nobody touches a key afterwards (only
 * INFO is polled): the active cycle must take all 20k. Half of the TTL keys
 * live in a namespace, so the cycle must visit both tables. */
ITESTX(ttl, active_expiry, .init = h_setup_own)
{
    enum { NT = 20000, NP = 1000 };
    double t0 = h_now();
    load(C, "", 0, NT / 2, "PX 200");
    load(C, "sess:", 0, NT / 2, "PX 200");
    load(C, "", 1000000, 1000000 + NP, "");
    double loaded = h_now();
    long long keys, expires, avg;
    cr_assert(keyspace(C, &keys, &expires, &avg));
    long long expired0 = info_stat(C, "stats", "expired_keys");
    /* Read before the first key's 200 ms were up, the figures are exact
     * (decided after the reads: a stall between them leaves it open). */
    if (h_now() - t0 < 0.15) {
        cr_assert_eq(keys, NT + NP);
        cr_assert_eq(expires, NT);
        EXPECT_RANGE(avg, 1, 200, "avg_ttl");
        cr_assert_eq(expired0, 0, "expired before their time");
    }

    /* Poll INFO keyspace only. */
    double end = loaded + 0.2 + 3.0 * h_slow();
    while (keyspace(C, &keys, &expires, &avg), (keys != NP || expires != 0) && h_now() < end)
        usleep(10000);
    double took = h_now() - loaded;
    char *info = h_info(C, "stats");
    long long expired = h_info_num(info, "expired_keys");
    cr_log_info("active expiry: %d keys gone %.0f ms after the load ended (TTL 200 ms); "
                "expired_keys %lld, expired_stale_perc %.2f, expired_time_cap_reached_count %lld",
                NT, 1000 * took, expired,
                strstr(info, "expired_stale_perc:") != NULL
                    ? strtod(strstr(info, "expired_stale_perc:") + 19, NULL)
                    : -1.0,
                h_info_num(info, "expired_time_cap_reached_count"));
    cr_assert(keys == NP && expires == 0,
              "active expiry left keys=%lld expires=%lld %.1f s after the load", keys, expires,
              took);
    cr_assert(expired >= NT, "expired_keys %lld < %d:\n%s", expired, NT, info);
    cr_assert(h_info_num(info, "expired_time_cap_reached_count") >= 0, "%s", info);
    free(info);
    char *ns = h_info(C, "namespaces");
    cr_assert(strstr(ns, "ns_sess:keys=0,expires=0,") != NULL || strstr(ns, "ns_sess:") == NULL,
              "%s", ns);
    free(ns);
    /* The keys without TTL are all there, untouched. */
    EXPECT_INT(C, NP, "DBSIZE");
    for (long long i = 1000000; i < 1000000 + NP; i++)
        redisAppendCommand(C, "STRLEN %lld", i);
    for (long long i = 1000000; i < 1000000 + NP; i++) {
        redisReply *r = h_next_reply(C, "STRLEN", i);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == VLEN, "key %lld lost", i);
        freeReplyObject(r);
    }
    EXPECT_NIL(C, "GET 0");
    EXPECT_NIL(C, "GET sess:%d", NT / 2 - 1);
}

/* ==== 4. Expire, then shrink: memory comes back with no client activity ============== */

/* The peak: N keys of 128 bytes, all expiring at one instant TTL_MS after the
 * load starts (PXAT, so the load's duration does not spread the expiry;
 * 1M pipelined SETs take ~2 s on a quiet host, ~5 s on a busy one). */
#define PEAK_TTL_MS 6000
/* RSS must come back within this much of the empty server's (the
 * loader is closed first, so the same connections are open as
 * when the baseline was taken). */
#define RSS_SLACK (1 * MIB)
/* ... within this long after the expiry instant (the target: ~5 s). */
#define RSS_BACK_SECONDS 5.0

ITESTX(ttl, expire_then_shrink, .init = h_setup_own)
{
    const long long n = h_sanitized() ? 100000 : 1000000;
    const long long payload = n * RECORD_BYTES;
    const long long rss_empty = h_proc_bytes_must(H.pid, "VmRSS");

    redisContext *L = h_connect();
    double t0 = h_now();
    const long long at = wall_ms() + PEAK_TTL_MS;
    char opts[48];
    snprintf(opts, sizeof opts, "PXAT %lld", at);
    load(L, "", 0, n, opts);
    double load_s = h_now() - t0;
    long long keys, expires, avg;
    keyspace(C, &keys, &expires, &avg);
    /* A very busy host can make the load overrun the instant: the peak is
     * cut short (SETs with a past PXAT store nothing and expire nothing),
     * and the rest still holds. */
    const bool overran = wall_ms() >= at - 50;
    if (!overran)
        cr_assert(keys == n && expires == n, "keys=%lld expires=%lld", keys, expires);
    else
        cr_log_info("the load took %.1f s, past the expiry instant (%lld keys at the peak)", load_s,
                    keys);
    long long rss_peak = h_proc_bytes_must(H.pid, "VmRSS");
    long long hwm = h_proc_bytes_must(H.pid, "VmHWM");
    redisFree(L);
    cr_log_info("expire_then_shrink: %lld keys loaded in %.2f s; payload %.1f MiB, empty RSS "
                "%.2f MiB, peak RSS %.1f MiB, VmHWM %.1f MiB (%.3f x payload above empty)",
                n, load_s, mib(payload), mib(rss_empty), mib(rss_peak), mib(hwm),
                (double)(hwm - rss_empty) / (double)payload);
    if (!h_sanitized())
        cr_assert(hwm <= payload * 5 / 4 + rss_empty,
                  "peak VmHWM %.1f MiB > 1.25 x payload %.1f MiB + empty RSS %.2f MiB", mib(hwm),
                  mib(payload), mib(rss_empty));

    /* From here on nothing is sent to the server until RSS is back: only
     * /proc is read. (A sanitizer build asserts no RSS bound: see
     * h_sanitized; it only waits for the keys to go.) */
    wait_wall_past(at);
    double t_exp = h_now();
    double end = t_exp + RSS_BACK_SECONDS * h_slow();
    if (!h_sanitized()) {
        const long long target = rss_empty + RSS_SLACK;
        long long rss;
        while ((rss = h_proc_bytes_must(H.pid, "VmRSS")) > target && h_now() < end)
            usleep(10000);
        double back = h_now() - t_exp;
        cr_log_info("expire_then_shrink: RSS %.2f MiB (empty %.2f MiB, %+.0f KiB) %.0f ms after "
                    "the expiry instant",
                    mib(rss), mib(rss_empty), (double)(rss - rss_empty) / 1024, 1000 * back);
        cr_assert(rss <= target,
                  "RSS %.2f MiB %.1f s after %lld keys expired, empty server %.2f MiB "
                  "(peak %.1f MiB)",
                  mib(rss), back, n, mib(rss_empty), mib(rss_peak));
    }

    /* Now look: every key went by expiry, none is left. */
    while (keyspace(C, &keys, &expires, &avg) && keys > 0 && h_now() < end)
        usleep(10000);
    cr_assert(keys == 0, "keys=%lld expires=%lld %.1f s after the expiry instant", keys, expires,
              h_now() - t_exp);
    long long expired = info_stat(C, "stats", "expired_keys");
    if (overran)
        cr_assert(expired <= n, "expired_keys %lld > %lld keys", expired, n);
    else
        cr_assert_eq(expired, n);
    EXPECT_INT(C, 0, "DBSIZE");
    EXPECT_NIL(C, "GET %lld", n - 1);
}
