/*
 * test_differential.c - ebb against redis-server 7.0, command by command.
 *
 * A seeded generator sends the same random commands over ebb's key model to
 * ebb and to a redis-server this test starts (127.0.0.1, a free port, no
 * config file, `--save "" --appendonly no`), and compares the replies
 * exactly: type, bytes, integers, arrays element by element. Replies that
 * carry a time (TTL, PTTL, EXPIRETIME, PEXPIRETIME) may differ by
 * TIME_TOL_MS, since each server takes its own clock reading. Every
 * KEYSPACE_EVERY commands and at the end the whole key space is compared
 * too: KEYS *, each value, each PTTL.
 *
 * What is generated
 *   Every string, bitmap, expiry and key command both servers implement
 *   (README's tables), and MULTI / EXEC / DISCARD around them (at most
 *   MULTI_MAX_QUEUED queued; no ebb-alone command and no key-space
 *   comparison inside a transaction), with valid and malformed arguments: wrong arity, bad and
 *   overflowing numbers, duplicate and conflicting options, an option
 *   without its argument, unknown options, options in any order and case.
 *   Keys are canonical integers (`7`, `-3`, the int64 limits) and
 *   `namespace:integer`; values are 0-128 bytes, binary, counters and
 *   number-like text. Inside the model ebb must answer exactly as Redis.
 *
 * Outside the model (README, "Notes for Redis users": integer-only keys,
 * leading zeros and `-0`, the 128-byte cap) ebb differs on purpose. Those
 * commands are never sent to Redis: the generator sends a few to ebb alone
 * and checks ebb's documented answer (`007` and `-0` name keys 7 and 0, and
 * are compared with Redis's answer for the canonical key; `abc` and a
 * 129-byte value get ebb's errors). APPEND and SETRANGE stay within 128
 * bytes: the generator asks STRLEN first (a compared command too). SETBIT
 * and BITFIELD writes reach bit 1023 at most, and INCRBYFLOAT's numbers
 * stay small enough for the sum's text to fit; a SETBIT or BITFIELD write
 * past bit 1023 goes to ebb alone, which must refuse it with its value-size
 * error and leave the value as it was.
 *
 * Time: no key is made to expire during the run, so neither server's active
 * expiry can race the comparisons. Relative times are at least
 * MIN_REL_SECONDS ahead, absolute ones far ahead or in the past (the key goes
 * at once), and the rest are invalid on purpose; no positive integer is
 * ever appended after an option that lost its time. One intended
 * difference is of this kind: a SET with EXAT/PXAT in the past leaves an
 * expired key in Redis 7.0 (DBSIZE counts it until it is touched), none in
 * ebb; after each SET the test touches the key in Redis alone.
 *
 * Seed and bounds: EBB_DIFF_SEED (default: from the clock), always printed;
 * stops after EBB_DIFF_SECONDS (default 25) or EBB_DIFF_COMMANDS commands
 * (default 200000; 50000 with EBB_SANITIZED). Replay a failure with
 * `EBB_DIFF_SEED=<seed> build/test/client-tests/it_differential`: the same
 * commands (absolute times moved with the start), so a divergence that
 * depends on the commands comes back; EBB_DIFF_TRACE=1 prints every command
 * and both replies.
 *
 * Divergences: the first MAX_REPORTED (EBB_DIFF_REPORT) are printed on
 * stderr with the seed, the command's index, the command and both replies,
 * the first one after the HISTORY commands that led to it; any one fails
 * the test. There is no allow-list: intended differences are kept out of
 * what is compared, as described above. KEYS replies are compared sorted.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(differential, .timeout = 300);

#define MAX_ARGS 48
#define ARG_BYTES 8192
#define MAX_REPORTED 10 /* EBB_DIFF_REPORT changes it */
#define KEYSPACE_EVERY 1000
/* Two servers read their clocks a little apart. */
#define TIME_TOL_MS 2000
/* Relative expire times are at least this far ahead: nothing expires mid-run. */
#define MIN_REL_SECONDS 1000
#define DEFAULT_SECONDS 25.0
#define DEFAULT_COMMANDS 200000L
#define SANITIZED_COMMANDS 50000L

typedef enum { TOL_NONE, TOL_SECONDS, TOL_MS } tol_kind;

typedef struct {
    int argc;
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
    char buf[ARG_BYTES];
    size_t used;
    tol_kind tol;
    bool unordered; /* an array whose order is unspecified (KEYS): sorted first */
} dcmd;

/* A transaction is ended (EXEC, sometimes DISCARD) after at most this many
 * queued commands. */
#define MULTI_MAX_QUEUED 12

typedef struct {
    uint64_t rng;
    uint64_t seed;
    long long now_s; /* wall clock at the start, for absolute times */
    redisContext *ebb, *redis;
    long index; /* commands sent so far */
    int diverged;
    int max_reported;
    bool trace;    /* EBB_DIFF_TRACE: print every command and reply */
    bool in_multi; /* between a MULTI both accepted and its EXEC or DISCARD */
    int queued;    /* commands queued since */
    /* Keys of SETs queued in the transaction: touched in Redis alone once
     * EXEC ran them (see both()). */
    char set_keys[MULTI_MAX_QUEUED + 1][64];
    int nset_keys;
    /* The tolerance of each queued command's reply, for EXEC's array. */
    tol_kind tols[MULTI_MAX_QUEUED + 4];
} diff;

/* ---- Building commands ------------------------------------------------------------ */

static void arg(dcmd *d, const void *p, size_t n)
{
    cr_assert(d->argc < MAX_ARGS && d->used + n + 1 <= ARG_BYTES, "command too big");
    char *dst = d->buf + d->used;
    memcpy(dst, p, n);
    dst[n] = '\0';
    d->argv[d->argc] = dst;
    d->len[d->argc++] = n;
    d->used += n + 1;
}

static void args(dcmd *d, const char *s)
{
    arg(d, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void argf(dcmd *d, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    arg(d, tmp, (size_t)n);
}

static uint64_t rnd(diff *g, uint64_t n)
{
    return h_splitmix(&g->rng) % n;
}

static bool chance(diff *g, unsigned pct)
{
    return rnd(g, 100) < pct;
}

#define PICK(g, arr) ((arr)[rnd((g), sizeof(arr) / sizeof((arr)[0]))])

/* A word in random letter case: names and options are case-insensitive. */
static void word(diff *g, dcmd *d, const char *w)
{
    char tmp[32];
    size_t n = strlen(w);
    cr_assert(n < sizeof tmp);
    unsigned mode = (unsigned)rnd(g, 4); /* upper, lower, mixed, mixed */
    for (size_t i = 0; i < n; i++) {
        char ch = w[i];
        bool up = mode == 0 || (mode >= 2 && chance(g, 50));
        tmp[i] = (ch >= 'a' && ch <= 'z' && up)    ? (char)(ch - 32)
                 : (ch >= 'A' && ch <= 'Z' && !up) ? (char)(ch + 32)
                                                   : ch;
    }
    arg(d, tmp, n);
}

static const char *const KEYS_POOL[] = {
    "0",
    "1",
    "2",
    "3",
    "7",
    "12",
    "-1",
    "-3",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "a:1",
    "a:2",
    "a:-5",
    "ns:12",
    "b.c_d-e:3",
    "x:0",
};

static const char *key_of(diff *g)
{
    return PICK(g, KEYS_POOL);
}

static void key(diff *g, dcmd *d)
{
    args(d, key_of(g));
}

/* Number-like text that is not a canonical int64: both servers refuse it. */
static const char *const NOT_INTS[] = {
    "",
    "abc",
    "1.5",
    "007",
    "-0",
    "+1",
    " 1",
    "1 ",
    "1e3",
    "0x10",
    "-",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999",
    "1\r\n",
};

static void value(diff *g, dcmd *d)
{
    char v[H_VALUE_LEN];
    switch (rnd(g, 10)) {
    case 0:
    case 1:
    case 2: { /* binary, mostly short */
        size_t n = chance(g, 70) ? (size_t)rnd(g, 17) : (size_t)rnd(g, H_VALUE_LEN + 1);
        for (size_t i = 0; i < n; i++)
            v[i] = (char)rnd(g, 256);
        arg(d, v, n);
        break;
    }
    case 3:
    case 4:
    case 5: /* counters */
        if (chance(g, 80))
            argf(d, "%lld", (long long)rnd(g, 201) - 100);
        else
            argf(d, "%lld",
                 chance(g, 50) ? LLONG_MAX - (long long)rnd(g, 3)
                               : LLONG_MIN + (long long)rnd(g, 3));
        break;
    case 6:
        args(d, PICK(g, NOT_INTS));
        break;
    case 7:
        args(d, PICK(g, ((const char *const[]){"v", "hello", "x y", "-", "OK", "nil"})));
        break;
    case 8: /* exactly the cap */
        memset(v, 'a' + (int)rnd(g, 26), sizeof v);
        arg(d, v, sizeof v);
        break;
    default:
        arg(d, "", 0);
        break;
    }
}

/* An integer argument: mostly small, sometimes at the limits, sometimes not
 * an integer at all. */
static void integer(diff *g, dcmd *d)
{
    unsigned r = (unsigned)rnd(g, 20);
    if (r < 13)
        argf(d, "%lld", (long long)rnd(g, 301) - 150);
    else if (r < 17)
        argf(d, "%lld",
             PICK(g, ((const long long[]){LLONG_MAX, LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1,
                                          INT_MAX, INT_MIN, (long long)INT_MAX + 1, 1LL << 53})));
    else
        args(d, PICK(g, NOT_INTS));
}

typedef enum { U_EX, U_PX, U_EXAT, U_PXAT } unit;

/* A time for an expiry option or command: mostly valid and far ahead; else
 * zero, negative or long past (an error for SET EX, a delete for EXPIRE),
 * overflowing, or not a number. */
static void time_arg(diff *g, dcmd *d, unit u)
{
    unsigned r = (unsigned)rnd(g, 20);
    bool ms = u == U_PX || u == U_PXAT;
    bool abs = u == U_EXAT || u == U_PXAT;
    if (r < 12) { /* valid, far enough ahead not to expire during the run */
        long long secs = MIN_REL_SECONDS + (long long)rnd(g, 10000000);
        if (abs)
            secs += g->now_s;
        if (ms)
            argf(d, "%lld", secs * 1000 + (long long)rnd(g, 1000));
        else
            argf(d, "%lld", secs);
    } else if (r < 15) { /* zero, negative, or an absolute time long past */
        if (abs)
            argf(d, "%lld",
                 PICK(g, ((const long long[]){0, -1, 1, 1000, 1600000000, 1600000000000LL})));
        else /* never a small positive one: the key would expire mid-run */
            argf(d, "%lld", PICK(g, ((const long long[]){0, -1, -100, -1600000000})));
    } else if (r < 18) { /* overflows somewhere: the unit, the base time, int64 */
        argf(d, "%lld",
             PICK(g,
                  ((const long long[]){LLONG_MAX, LLONG_MIN, LLONG_MAX / 1000, LLONG_MAX / 1000 + 1,
                                       LLONG_MIN / 1000, LLONG_MIN / 1000 - 1, LLONG_MAX - 1000})));
    } else {
        args(d, PICK(g, NOT_INTS));
    }
}

static const char *const UNIT_NAMES[] = {"EX", "PX", "EXAT", "PXAT"};

/* SET's and GETEX's option words, each one maybe without its argument. */
static void set_options(diff *g, dcmd *d, bool is_set)
{
    static const char *const SET_OPTS[] = {"NX",   "XX",   "GET", "KEEPTTL", "EX",   "PX",
                                           "EXAT", "PXAT", "EX",  "PX",      "EXAT", "PXAT"};
    static const char *const GETEX_OPTS[] = {"PERSIST", "EX", "PX", "EXAT", "PXAT"};
    unsigned n = (unsigned)rnd(g, is_set ? 4 : 3);
    for (unsigned i = 0; i < n; i++) {
        const char *o =
            chance(g, 4)
                ? PICK(g, ((const char *const[]){"FOO", "NX", "KEEPTTL", "PERSIST", "GET"}))
            : is_set ? PICK(g, SET_OPTS)
                     : PICK(g, GETEX_OPTS);
        word(g, d, o);
        for (unsigned u = 0; u < 4; u++) {
            if (strcmp(o, UNIT_NAMES[u]) != 0)
                continue;
            if (chance(g, 92))
                time_arg(g, d, (unit)u);
            /* else: the option without its argument */
        }
    }
}

static void expire_flags(diff *g, dcmd *d)
{
    unsigned n = chance(g, 50) ? 0 : (unsigned)rnd(g, 3) + 1;
    for (unsigned i = 0; i < n; i++)
        word(g, d, chance(g, 3) ? "FOO" : PICK(g, ((const char *const[]){"NX", "XX", "GT", "LT"})));
}

static long long strlen_of(diff *g, const char *k);

/* Bits a value holds (H_VALUE_LEN bytes): the last bit a write may reach
 * inside the model. */
#define MODEL_BITS (8 * H_VALUE_LEN)

/* A bit offset for a read: mostly inside or just past a value, sometimes
 * far past it, at the largest offset Redis takes, or refused by both. */
static void read_offset(diff *g, dcmd *d)
{
    unsigned r = (unsigned)rnd(g, 20);
    if (r < 14)
        argf(d, "%llu", (unsigned long long)rnd(g, MODEL_BITS + 64));
    else if (r < 16)
        argf(d, "%llu",
             PICK(g, ((const unsigned long long[]){100000, 4294967295ull, 4294967296ull})));
    else
        args(d, PICK(g, ((const char *const[]){"-1", "x", "", "1.5", "+1", "01",
                                               "9223372036854775808"})));
}

/* BITFIELD's type: mostly valid (i1..i64, u1..u63), sometimes not. Sets
 * *width (0 for an invalid type). */
static void bf_type(diff *g, dcmd *d, unsigned *width)
{
    if (chance(g, 6)) {
        args(d, PICK(g, ((const char *const[]){"u64", "i65", "I8", "U8", "i0", "u", "x8", "i08",
                                               "i-1", ""})));
        *width = 0;
        return;
    }
    bool sign = chance(g, 50);
    *width = 1 + (unsigned)rnd(g, sign ? 64 : 63);
    if (chance(g, 30)) /* the common widths */
        *width = PICK(g, ((const unsigned[]){1, 8, 16, 32, sign ? 64u : 63u}));
    argf(d, "%c%u", sign ? 'i' : 'u', *width);
}

/* BITFIELD's offset: for a write, the field ends inside a value (bit
 * MODEL_BITS - 1 at most); for a read, anywhere. As a bit or as "#n". */
static void bf_offset(diff *g, dcmd *d, unsigned width, bool write)
{
    if (chance(g, 4) || width == 0) {
        args(d, PICK(g, ((const char *const[]){"-1", "x", "#", "#x", "#-1", "1.5", ""})));
        return;
    }
    unsigned room = MODEL_BITS - width; /* the last offset a write may use */
    if (chance(g, 30)) {
        unsigned fields = write ? room / width + 1 : (MODEL_BITS + 256) / width;
        argf(d, "#%llu", (unsigned long long)rnd(g, fields));
    } else {
        argf(d, "%llu", (unsigned long long)rnd(g, write ? room + 1 : MODEL_BITS + 256));
    }
}

/* A number for INCRBYFLOAT: decimal, with an exponent, hex, integers at
 * the limits, or not a number at all. Exponents stay small enough for the
 * sum's text (fixed notation) to fit a value. */
static void float_arg(diff *g, dcmd *d)
{
    switch (rnd(g, 8)) {
    case 0:
    case 1:
        argf(d, "%.*f", (int)rnd(g, 6), (double)((long long)rnd(g, 2000001) - 1000000) / 1000);
        break;
    case 2:
        argf(d, "%.*g", 1 + (int)rnd(g, 20), ((double)rnd(g, 1u << 30) - (1u << 29)) / 65536);
        break;
    case 3:
        argf(d, "%s%llue%d", chance(g, 30) ? "-" : "", (unsigned long long)rnd(g, 1000),
             (int)rnd(g, 101) - 50);
        break;
    case 4:
        argf(d, "%lld", (long long)rnd(g, 201) - 100);
        break;
    case 5:
        args(d, PICK(g, ((const char *const[]){"0", "-0", "0.1", "0.2", ".5", "5.", "+3", "1E3",
                                               "0x10", "0X1P-3", "1e-20", "-1e-20", "1e-5000"})));
        break;
    case 6:
        args(d, PICK(g, ((const char *const[]){"inf", "-inf", "Infinity", "nan", "1e5000", "abc",
                                               "", " 1", "1 ", "1.5.5", "1e", "--1", "0x"})));
        break;
    default:
        integer(g, d);
        break;
    }
}

static void gen(diff *g, dcmd *d)
{
    d->argc = 0;
    d->used = 0;
    d->tol = TOL_NONE;
    d->unordered = false;
    unsigned r = g->in_multi && g->queued >= MULTI_MAX_QUEUED ? 46 : (unsigned)rnd(g, 66);
    switch (r) {
    case 62:
    case 63: /* RENAME, RENAMENX: the TTL moves with the value */
        word(g, d, chance(g, 50) ? "RENAME" : "RENAMENX");
        key(g, d);
        if (chance(g, 15))
            args(d, d->argv[1]); /* onto itself */
        else
            key(g, d);
        break;
    case 64: { /* COPY: DB 0 only here (Redis has 16; ebb's other answers match
                * Redis's for a database that does not exist) */
        word(g, d, "COPY");
        key(g, d);
        if (chance(g, 10))
            args(d, d->argv[1]);
        else
            key(g, d);
        unsigned n = (unsigned)rnd(g, 3);
        for (unsigned i = 0; i < n; i++) {
            if (chance(g, 50)) {
                word(g, d, "REPLACE");
            } else if (chance(g, 80)) {
                word(g, d, "DB");
                if (chance(g, 85))
                    args(d, PICK(g, ((const char *const[]){"0", "0", "-1", "16", "abc",
                                                           "99999999999"})));
            } else {
                word(g, d, "FOO");
            }
        }
        break;
    }
    case 65: /* WAIT and ROLE: no replicas in either (a WAIT for one that
              * never comes waits out its timeout in Redis: kept short) */
        if (chance(g, 70)) {
            word(g, d, "WAIT");
            if (chance(g, 20)) {
                args(d, "1"), args(d, "5");
            } else {
                args(d, PICK(g, ((const char *const[]){"0", "-1", "abc"})));
                args(d, PICK(g, ((const char *const[]){"0", "10", "-1", "x", ""})));
            }
        } else {
            word(g, d, "ROLE");
        }
        break;
    case 46:
    case 47: /* transactions: MULTI, then EXEC or DISCARD (sometimes out of place) */
        if (g->in_multi)
            word(g, d, chance(g, 80) ? "EXEC" : chance(g, 80) ? "DISCARD" : "MULTI");
        else
            word(g, d, chance(g, 85) ? "MULTI" : chance(g, 50) ? "EXEC" : "DISCARD");
        break;
    case 0:
    case 1:
    case 2:
        word(g, d, "GET"), key(g, d);
        break;
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
        word(g, d, "SET"), key(g, d), value(g, d);
        set_options(g, d, true);
        break;
    case 8:
        word(g, d, "SETNX"), key(g, d), value(g, d);
        break;
    case 9:
        word(g, d, "SETEX"), key(g, d), time_arg(g, d, U_EX), value(g, d);
        break;
    case 10:
        word(g, d, "PSETEX"), key(g, d), time_arg(g, d, U_PX), value(g, d);
        break;
    case 11:
    case 12:
        word(g, d, "GETEX"), key(g, d);
        set_options(g, d, false);
        break;
    case 13:
        word(g, d, "GETSET"), key(g, d), value(g, d);
        break;
    case 14:
        word(g, d, "GETDEL"), key(g, d);
        break;
    case 15: {
        word(g, d, "MGET");
        unsigned n = 1 + (unsigned)rnd(g, 5);
        for (unsigned i = 0; i < n; i++)
            key(g, d);
        break;
    }
    case 16:
    case 17: {
        word(g, d, r == 16 ? "MSET" : "MSETNX");
        unsigned n = 1 + (unsigned)rnd(g, 4);
        for (unsigned i = 0; i < n; i++)
            key(g, d), value(g, d);
        break;
    }
    case 18:
    case 19: { /* within the 128-byte cap: ask the length first */
        const char *k = key_of(g);
        long long have = strlen_of(g, k);
        if (have < 0)
            return; /* STRLEN diverged: already reported */
        word(g, d, "APPEND"), args(d, k);
        size_t room = (size_t)(H_VALUE_LEN - have);
        size_t n = (size_t)rnd(g, (room < 20 ? room : 20) + 1);
        char v[H_VALUE_LEN];
        for (size_t i = 0; i < n; i++)
            v[i] = (char)rnd(g, 256);
        arg(d, v, n);
        break;
    }
    case 20: {
        word(g, d, "SETRANGE");
        if (chance(g, 10)) { /* bad offsets are checked before the length */
            key(g, d);
            if (chance(g, 50))
                argf(d, "%lld", -(long long)rnd(g, 5) - 1);
            else
                args(d, PICK(g, NOT_INTS));
            value(g, d);
            break;
        }
        if (chance(g, 10)) { /* nothing to write: any offset */
            key(g, d), integer(g, d), arg(d, "", 0);
            break;
        }
        const char *k = key_of(g);
        if (strlen_of(g, k) < 0)
            return;
        args(d, k);
        size_t n = 1 + (size_t)rnd(g, 16);
        size_t off = (size_t)rnd(g, H_VALUE_LEN - n + 1);
        argf(d, "%zu", off);
        char v[16];
        for (size_t i = 0; i < n; i++)
            v[i] = (char)rnd(g, 256);
        arg(d, v, n);
        break;
    }
    case 21:
        word(g, d, "GETRANGE"), key(g, d), integer(g, d), integer(g, d);
        break;
    case 22:
        word(g, d, "STRLEN"), key(g, d);
        break;
    case 23:
    case 24:
        word(g, d, r == 23 ? "INCR" : "DECR"), key(g, d);
        break;
    case 25:
    case 26:
        word(g, d, r == 25 ? "INCRBY" : "DECRBY"), key(g, d), integer(g, d);
        break;
    case 27:
    case 28:
    case 29:
    case 30: {
        static const char *const NAMES[] = {"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"};
        word(g, d, NAMES[r - 27]), key(g, d), time_arg(g, d, (unit)(r - 27));
        expire_flags(g, d);
        break;
    }
    case 31:
    case 32:
    case 33:
    case 34: {
        static const char *const NAMES[] = {"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"};
        word(g, d, NAMES[r - 31]), key(g, d);
        d->tol = (r - 31) % 2 == 0 ? TOL_SECONDS : TOL_MS;
        break;
    }
    case 35:
        word(g, d, "PERSIST"), key(g, d);
        break;
    case 36:
    case 37:
    case 38:
    case 39: {
        static const char *const NAMES[] = {"DEL", "UNLINK", "EXISTS", "TOUCH"};
        word(g, d, NAMES[r - 36]);
        unsigned n = 1 + (unsigned)rnd(g, 4);
        for (unsigned i = 0; i < n; i++)
            key(g, d);
        break;
    }
    case 40:
        word(g, d, "TYPE"), key(g, d);
        break;
    case 41:
        /* In a transaction a SET in the past may come before it, whose
         * expired key Redis still counts (see both()). */
        word(g, d, g->in_multi ? "PING" : "DBSIZE");
        break;
    case 42:
        word(g, d, "PING");
        if (chance(g, 50))
            value(g, d);
        break;
    case 43:
        word(g, d, "ECHO"), value(g, d);
        break;
    case 45: /* rare, so that the key space fills up between them */
        if (chance(g, 90)) {
            word(g, d, "SELECT");
            args(d, PICK(g, ((const char *const[]){"0", "0", "-1", "16", "abc", ""})));
        } else if (chance(g, 10)) {
            word(g, d, chance(g, 50) ? "FLUSHALL" : "FLUSHDB");
            if (chance(g, 60))
                word(g, d, PICK(g, ((const char *const[]){"ASYNC", "SYNC", "FOO"})));
        } else {
            word(g, d, "PING");
        }
        break;
    case 44:
        if (g->in_multi) { /* its order would differ inside EXEC's array */
            word(g, d, "PING");
            break;
        }
        word(g, d, "KEYS");
        d->unordered = true;
        args(d, PICK(g, ((const char *const[]){"*", "a:*", "ns:*", "nosuch:*", "1*", "*1", "-*",
                                               "?"})));
        break;
    case 48: /* inside the model: a write reaches bit MODEL_BITS - 1 at most */
    case 49:
        word(g, d, "SETBIT"), key(g, d);
        if (chance(g, 8))
            read_offset(g, d); /* an offset both refuse, or past the model */
        else
            argf(d, "%llu", (unsigned long long)rnd(g, MODEL_BITS));
        if (chance(g, 8))
            args(d, PICK(g, ((const char *const[]){"2", "-1", "x", "", "01", "true"})));
        else
            argf(d, "%u", (unsigned)rnd(g, 2));
        /* A valid write past the model is ebb_only's: Redis would grow
         * the value past 128 bytes. */
        if (d->argv[2][0] != '-' && strtoull(d->argv[2], NULL, 10) >= MODEL_BITS &&
            d->len[3] == 1 && (d->argv[3][0] == '0' || d->argv[3][0] == '1')) {
            d->argc = 0;
            return;
        }
        break;
    case 50:
        word(g, d, "GETBIT"), key(g, d), read_offset(g, d);
        break;
    case 51: {
        word(g, d, "BITCOUNT"), key(g, d);
        unsigned n = (unsigned)rnd(g, 10);
        if (n >= 3) { /* a range, maybe with its unit */
            integer(g, d), integer(g, d);
            if (n >= 6)
                word(g, d, PICK(g, ((const char *const[]){"BIT", "BYTE", "BIT", "BYTE", "BITS"})));
        } else if (n == 2) {
            integer(g, d); /* a start alone */
        }
        break;
    }
    case 52: {
        word(g, d, "BITPOS"), key(g, d);
        args(d, chance(g, 90) ? (chance(g, 50) ? "1" : "0")
                              : PICK(g, ((const char *const[]){"2", "-1", "x", ""})));
        unsigned n = (unsigned)rnd(g, 4);
        for (unsigned i = 0; i < n && i < 2; i++)
            integer(g, d);
        if (n == 3)
            word(g, d, PICK(g, ((const char *const[]){"BIT", "BYTE", "bit", "BOTH"})));
        break;
    }
    case 53:
    case 54: {
        word(g, d, "BITOP");
        word(g, d,
             PICK(g, ((const char *const[]){"AND", "OR", "XOR", "NOT", "AND", "OR", "XOR", "NOT",
                                            "NAND"})));
        key(g, d);
        unsigned n = 1 + (unsigned)rnd(g, chance(g, 80) ? 1 : 4);
        for (unsigned i = 0; i < n; i++)
            key(g, d);
        break;
    }
    case 55:
    case 56:
    case 57: {
        bool ro = chance(g, 20);
        word(g, d, ro ? "BITFIELD_RO" : "BITFIELD"), key(g, d);
        unsigned n = (unsigned)rnd(g, 5);
        for (unsigned i = 0; i < n; i++) {
            unsigned w = 0, op = (unsigned)rnd(g, ro ? 12 : 5);
            if (op == 0 || op >= 4) {
                word(g, d, "GET"), bf_type(g, d, &w), bf_offset(g, d, w, false);
            } else if (op == 1 || op == 2) {
                word(g, d, op == 1 ? "SET" : "INCRBY"), bf_type(g, d, &w), bf_offset(g, d, w, true);
                integer(g, d);
            } else {
                word(g, d, "OVERFLOW");
                word(g, d,
                     PICK(g, ((const char *const[]){"WRAP", "SAT", "FAIL", "WRAP", "SAT", "FAIL",
                                                    "NONE"})));
            }
            if (chance(g, 3)) /* an operation cut short */
                d->argc--;
        }
        break;
    }
    case 58:
    case 59:
        word(g, d, "INCRBYFLOAT"), key(g, d), float_arg(g, d);
        break;
    case 60:
        word(g, d, "SUBSTR"), key(g, d), integer(g, d), integer(g, d);
        break;
    case 61: {
        word(g, d, "LCS"), key(g, d), key(g, d);
        unsigned n = (unsigned)rnd(g, 5);
        for (unsigned i = 0; i < n; i++) {
            const char *o = PICK(g, ((const char *const[]){"IDX", "LEN", "WITHMATCHLEN",
                                                           "MINMATCHLEN", "IDX", "FOO"}));
            word(g, d, o);
            if (strcmp(o, "MINMATCHLEN") == 0 && chance(g, 90))
                argf(d, "%lld", (long long)rnd(g, 8) - 2);
        }
        break;
    }
    }
    /* Wrong arity: one argument fewer or one more. The extra one is a key,
     * so that a variadic command stays inside the key model, and never a
     * positive integer, which could become the time of an option left
     * without one (`GETEX k PX` + `1`) and expire a key mid-run. */
    if (chance(g, 4)) {
        if (d->argc > 1 && chance(g, 50))
            d->argc--;
        else
            args(d, PICK(g, ((const char *const[]){"a:1", "ns:12", "x:0", "-3", "-1", "0"})));
    }
}

/* ---- Comparing ---------------------------------------------------------------------- */

/* A reply, printed for a report (bounded). */
static void show(char *dst, size_t cap, const redisReply *r)
{
    if (r == NULL) {
        snprintf(dst, cap, "(no reply)");
        return;
    }
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        snprintf(dst, cap, "(integer) %lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(dst, cap, "(nil)");
        break;
    case REDIS_REPLY_ARRAY: {
        size_t o = (size_t)snprintf(dst, cap, "[");
        for (size_t i = 0; i < r->elements && o + 8 < cap; i++) {
            show(dst + o, cap - o, r->element[i]);
            o += strlen(dst + o);
            if (i + 1 < r->elements && o + 3 < cap)
                o += (size_t)snprintf(dst + o, cap - o, ", ");
        }
        if (o + 2 < cap)
            snprintf(dst + o, cap - o, "]");
        break;
    }
    default:
        snprintf(dst, cap, "%s \"%s\"", h_type_name(r->type), h_esc(r->str, r->len));
        break;
    }
}

static bool same(const redisReply *a, const redisReply *b, tol_kind tol)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case REDIS_REPLY_INTEGER:
        if (tol != TOL_NONE && a->integer >= 0 && b->integer >= 0) {
            long long lim = tol == TOL_MS ? TIME_TOL_MS : TIME_TOL_MS / 1000;
            return llabs(a->integer - b->integer) <= lim;
        }
        return a->integer == b->integer;
    case REDIS_REPLY_NIL:
        return true;
    case REDIS_REPLY_ARRAY:
        if (a->elements != b->elements)
            return false;
        for (size_t i = 0; i < a->elements; i++)
            if (!same(a->element[i], b->element[i], tol))
                return false;
        return true;
    default:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    }
}

/* The last HISTORY commands and their replies, printed before the first
 * divergence: what led to it. */
#define HISTORY 48
static struct {
    char line[HISTORY][400];
    long n;
} hist;

static void remember(long index, const char *cmd, const redisReply *e, const redisReply *r)
{
    char se[120], sr[120];
    show(se, sizeof se, e);
    show(sr, sizeof sr, r);
    snprintf(hist.line[hist.n++ % HISTORY], sizeof hist.line[0],
             "%ld: %.140s -> ebb %.110s, redis %.110s", index, cmd, se, sr);
}

static void report(diff *g, const char *what, const redisReply *e, const redisReply *r)
{
    g->diverged++;
    if (g->diverged > g->max_reported)
        return;
    if (g->diverged == 1) {
        long first = hist.n > HISTORY ? hist.n - HISTORY : 0;
        fprintf(stderr, "differential: the commands before the first divergence:\n");
        for (long i = first; i < hist.n; i++)
            fprintf(stderr, "    %s\n", hist.line[i % HISTORY]);
    }
    static char se[4096], sr[4096];
    show(se, sizeof se, e);
    show(sr, sizeof sr, r);
    fprintf(stderr,
            "differential: DIVERGENCE (seed %" PRIu64 ", command %ld): %s\n"
            "    ebb:   %s\n    redis: %s\n",
            g->seed, g->index, what, se, sr);
}

static const char *show_cmd(const dcmd *d)
{
    static char out[4096];
    size_t o = 0;
    for (int i = 0; i < d->argc && o + 16 < sizeof out; i++) {
        const char *e = h_esc(d->argv[i], d->len[i]);
        o += (size_t)snprintf(out + o, sizeof out - o, "%s\"%s\"", i ? " " : "", e);
    }
    return out;
}

static void sort_array(redisReply *r);

static bool is_word(const dcmd *d, const char *w)
{
    return d->argc >= 1 && d->len[0] == strlen(w) && strncasecmp(d->argv[0], w, d->len[0]) == 0;
}

/* Follow the transaction state from d and Redis's reply r (both servers
 * replied the same, or the run has failed already). */
static void multi_state(diff *g, const dcmd *d, const redisReply *r)
{
    bool arity = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "ERR wrong number", 16) == 0;
    if (is_word(d, "MULTI") && r->type == REDIS_REPLY_STATUS) {
        g->in_multi = true;
        g->queued = 0;
        g->nset_keys = 0;
    } else if ((is_word(d, "EXEC") || is_word(d, "DISCARD")) && !arity) {
        if (g->in_multi && is_word(d, "EXEC"))
            for (int i = 0; i < g->nset_keys; i++)
                freeReplyObject(CMD(g->redis, "EXISTS %s", g->set_keys[i]));
        g->in_multi = false;
        g->nset_keys = 0;
    } else if (g->in_multi && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "QUEUED") == 0) {
        if ((size_t)g->queued < sizeof g->tols / sizeof g->tols[0])
            g->tols[g->queued] = d->tol;
        g->queued++;
    }
}

/* EXEC's array, each element with the tolerance of its command. */
static bool same_exec(const diff *g, const redisReply *a, const redisReply *b)
{
    if (a->type != REDIS_REPLY_ARRAY || b->type != REDIS_REPLY_ARRAY ||
        a->elements != b->elements || a->elements > sizeof g->tols / sizeof g->tols[0] ||
        (int)a->elements != g->queued)
        return same(a, b, TOL_NONE);
    for (size_t i = 0; i < a->elements; i++)
        if (!same(a->element[i], b->element[i], g->tols[i]))
            return false;
    return true;
}

/* Send d to both servers; compare. Returns Redis's reply (caller frees). */
static redisReply *both(diff *g, dcmd *d)
{
    g->index++;
    redisReply *e = CMDV(g->ebb, d->argc, d->argv, d->len);
    redisReply *r = CMDV(g->redis, d->argc, d->argv, d->len);
    if (d->unordered) {
        sort_array(e);
        sort_array(r);
    }
    remember(g->index, show_cmd(d), e, r);
    if (g->trace) {
        static char se[4096], sr[4096];
        show(se, sizeof se, e);
        show(sr, sizeof sr, r);
        fprintf(stderr, "%ld: %s\n    ebb:   %s\n    redis: %s\n", g->index, show_cmd(d), se, sr);
    }
    bool exec = g->in_multi && is_word(d, "EXEC") && d->argc == 1;
    if (!(exec ? same_exec(g, e, r) : same(e, r, d->tol)))
        report(g, show_cmd(d), e, r);
    freeReplyObject(e);
    if (d->argc >= 2 && d->len[0] == 3 && strncasecmp(d->argv[0], "set", 3) == 0) {
        /* A SET with EXAT/PXAT in the past: Redis 7.0 stores the key
         * already expired and DBSIZE counts it until it is touched or
         * its active expiry finds it (a matter of timing); ebb drops it
         * at once. Touch it in Redis alone, so both count the same: now,
         * or in a transaction once EXEC has run it. */
        if (!g->in_multi) {
            redisReply *t = CMD(g->redis, "EXISTS %b", d->argv[1], d->len[1]);
            freeReplyObject(t);
        } else if (g->nset_keys <= MULTI_MAX_QUEUED && d->len[1] < 64) {
            memcpy(g->set_keys[g->nset_keys], d->argv[1], d->len[1]);
            g->set_keys[g->nset_keys++][d->len[1]] = '\0';
        }
    }
    multi_state(g, d, r);
    return r;
}

/* STRLEN k on both (a compared command); -1 if they differ. */
static long long strlen_of(diff *g, const char *k)
{
    dcmd d = {0};
    args(&d, "STRLEN"), args(&d, k);
    redisReply *r = both(g, &d);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void sort_array(redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 1)
        qsort(r->element, r->elements, sizeof r->element[0], cmp_str);
}

/* KEYS *, then every key's value and PTTL on both. */
static void compare_keyspace(diff *g, const char *when)
{
    redisReply *e = CMD(g->ebb, "KEYS *");
    redisReply *r = CMD(g->redis, "KEYS *");
    sort_array(e);
    sort_array(r);
    char what[128];
    snprintf(what, sizeof what, "key space %s: KEYS * (sorted)", when);
    if (!same(e, r, TOL_NONE)) {
        report(g, what, e, r);
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const char *k = r->element[i]->str;
            dcmd d = {0};
            args(&d, "GET"), args(&d, k);
            freeReplyObject(both(g, &d));
            d = (dcmd){0};
            args(&d, "PTTL"), args(&d, k);
            d.tol = TOL_MS;
            freeReplyObject(both(g, &d));
        }
    }
    freeReplyObject(e);
    freeReplyObject(r);
}

/* ---- ebb alone: the intended differences ------------------------------------------------ */

/* A non-canonical spelling of a pool key that ebb reads as the same key:
 * leading zeros (after any '-' or namespace) and "-0". NULL if none. */
static const char *noncanonical(diff *g, const char *k, char *buf, size_t cap)
{
    if (strcmp(k, "0") == 0)
        return chance(g, 50) ? "-0" : "000";
    const char *colon = strchr(k, ':');
    size_t pre = colon != NULL ? (size_t)(colon - k) + 1 : 0;
    bool neg = k[pre] == '-';
    if (strlen(k) + 3 >= cap)
        return NULL;
    snprintf(buf, cap, "%.*s00%s", (int)(pre + neg), k, k + pre + neg);
    return buf;
}

/* One command of ebb's own: a key out of Redis's spelling or out of the
 * model. Keys spelled with leading zeros must act as the canonical key
 * does in Redis; invalid keys and long values get ebb's errors. */
static void ebb_only(diff *g)
{
    g->index++;
    const char *k = key_of(g);
    char buf[64];
    switch (rnd(g, 5)) {
    case 3:
    case 4: { /* a SETBIT or BITFIELD write past bit 1023: refused, nothing changes */
        dcmd *d = calloc(1, sizeof *d);
        cr_assert(d != NULL);
        bool setbit = chance(g, 50);
        unsigned width = setbit ? 1 : 1 + (unsigned)rnd(g, 63);
        /* The field ends past bit MODEL_BITS - 1, by a little or a lot. */
        unsigned long long off = MODEL_BITS - width + 1 + rnd(g, 64);
        if (chance(g, 20))
            off = PICK(g, ((const unsigned long long[]){100000, 4294967295ull - 64}));
        if (setbit) {
            args(d, "SETBIT"), args(d, k), argf(d, "%llu", off), args(d, chance(g, 50) ? "1" : "0");
        } else {
            /* A write inside the model first: it must not be done either. */
            args(d, "BITFIELD"), args(d, k), args(d, "SET"), args(d, "u8"), args(d, "0"),
                args(d, "255"), args(d, chance(g, 50) ? "INCRBY" : "SET");
            argf(d, "i%u", width), argf(d, "%llu", off), args(d, "1");
        }
        unsigned long long need = (off + width - 1) / 8 + 1;
        redisReply *before = CMD(g->ebb, "GET %s", k);
        redisReply *e = CMDV(g->ebb, d->argc, d->argv, d->len);
        redisReply *after = CMD(g->ebb, "GET %s", k);
        char want[96];
        snprintf(want, sizeof want, "ERR value is %llu bytes; the maximum is 128", need);
        if (e->type != REDIS_REPLY_ERROR || strcmp(e->str, want) != 0) {
            redisReply fake = {.type = REDIS_REPLY_ERROR, .str = want, .len = strlen(want)};
            report(g, show_cmd(d), e, &fake);
        } else if (!same(before, after, TOL_NONE)) {
            report(g, "a write past bit 1023 changed the value (before, after)", before, after);
        }
        freeReplyObject(before);
        freeReplyObject(e);
        freeReplyObject(after);
        free(d);
        break;
    }
    case 0: { /* GET 007 (ebb) == GET 7 (redis) */
        const char *nk = noncanonical(g, k, buf, sizeof buf);
        if (nk == NULL)
            return;
        redisReply *e = CMD(g->ebb, "GET %s", nk);
        redisReply *r = CMD(g->redis, "GET %s", k);
        if (!same(e, r, TOL_NONE)) {
            char what[128];
            snprintf(what, sizeof what, "GET \"%s\" on ebb, GET \"%s\" on redis", nk, k);
            report(g, what, e, r);
        }
        freeReplyObject(e);
        freeReplyObject(r);
        break;
    }
    case 1: { /* an invalid key */
        const char *bad = PICK(
            g, ((const char *const[]){"abc", "a:b", ":1", "1:", "1.5", "", "9223372036854775808"}));
        redisReply *e = CMD(g->ebb, "GET %s", bad);
        char want[160];
        snprintf(want, sizeof want,
                 "ERR invalid key '%s': expected an integer or namespace:integer", bad);
        if (e->type != REDIS_REPLY_ERROR || strcmp(e->str, want) != 0) {
            redisReply fake = {.type = REDIS_REPLY_ERROR, .str = want, .len = strlen(want)};
            report(g, "GET of an invalid key on ebb (expected its documented error)", e, &fake);
        }
        freeReplyObject(e);
        break;
    }
    default: { /* past the cap: refused, nothing stored */
        char v[H_VALUE_LEN + 1];
        memset(v, 'z', sizeof v);
        redisReply *e = CMD(g->ebb, "SET %s %b", k, v, sizeof v);
        const char *want = "ERR value is 129 bytes; the maximum is 128";
        if (e->type != REDIS_REPLY_ERROR || strcmp(e->str, want) != 0) {
            redisReply fake = {.type = REDIS_REPLY_ERROR, .str = (char *)want, .len = strlen(want)};
            report(g, "SET of a 129-byte value on ebb (expected its documented error)", e, &fake);
        }
        freeReplyObject(e);
        break;
    }
    }
}

/* ---- The redis-server peer ---------------------------------------------------------------- */

static pid_t redis_pid;

static int start_redis(void)
{
    return h_start_redis(&redis_pid);
}

static void stop_redis(void)
{
    if (redis_pid > 0)
        h_stop_pid(redis_pid, H_STOP_SECONDS);
    redis_pid = 0;
}

static double env_num(const char *name, double dflt)
{
    const char *s = getenv(name);
    return s != NULL && s[0] != '\0' ? strtod(s, NULL) : dflt;
}

ITESTX(differential, against_redis, .init = h_setup_own, .fini = h_teardown)
{
    diff g = {0};
    const char *s = getenv("EBB_DIFF_SEED");
    if (s != NULL && s[0] != '\0') {
        g.seed = strtoull(s, NULL, 0);
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        g.seed = (uint64_t)tv.tv_sec * 1000003u ^ (uint64_t)tv.tv_usec ^ (uint64_t)getpid();
    }
    g.rng = g.seed;
    g.max_reported = (int)env_num("EBB_DIFF_REPORT", MAX_REPORTED);
    g.trace = env_num("EBB_DIFF_TRACE", 0) != 0;
    g.now_s = (long long)time(NULL);
    double seconds = env_num("EBB_DIFF_SECONDS", DEFAULT_SECONDS);
    long max_cmds =
        (long)env_num("EBB_DIFF_COMMANDS", h_slow() > 1 ? SANITIZED_COMMANDS : DEFAULT_COMMANDS);
    fprintf(stderr, "differential: seed %" PRIu64 " (replay: EBB_DIFF_SEED=%" PRIu64 ")\n", g.seed,
            g.seed);
    cr_log_info("differential: seed %" PRIu64, g.seed);

    int port = start_redis();
    g.ebb = C;
    g.redis = h_connect_to("127.0.0.1", port);
    EXPECT_OK(g.redis, "FLUSHALL");

    double end = h_now() + seconds;
    long sent = 0;
    dcmd *d = malloc(sizeof *d);
    cr_assert(d != NULL);
    while (g.index < max_cmds && h_now() < end) {
        if (!g.in_multi && chance(&g, 2)) {
            ebb_only(&g);
        } else {
            gen(&g, d);
            if (d->argc > 0)
                freeReplyObject(both(&g, d));
        }
        if (++sent % KEYSPACE_EVERY == 0 && !g.in_multi)
            compare_keyspace(&g, "mid-run");
    }
    if (g.in_multi) {
        dcmd end_tx = {0};
        args(&end_tx, "DISCARD");
        freeReplyObject(both(&g, &end_tx));
    }
    free(d);
    compare_keyspace(&g, "at the end");
    fprintf(stderr, "differential: seed %" PRIu64 ": %ld commands, %d divergences\n", g.seed,
            g.index, g.diverged);

    redisFree(g.redis);
    stop_redis();
    cr_assert(g.diverged == 0,
              "%d replies differ from redis-server's (seed %" PRIu64 "; the first %d are on "
              "stderr; replay with EBB_DIFF_SEED=%" PRIu64 ")",
              g.diverged, g.seed, g.max_reported, g.seed);
}
