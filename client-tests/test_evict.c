/*
 * test_evict.c - maxmemory and eviction over the wire: noeviction's -OOM
 * (and that it loses nothing), allkeys-random and allkeys-lru under a write
 * load of ~10x maxmemory, LRU and LFU keeping a hot set better than random,
 * OBJECT FREQ counting accesses under LFU, the volatile-* policies never touching keys without a
 * TTL (and volatile-ttl taking the soonest first), maxmemory lowered at runtime, and the options
 * themselves.
 *
 * Every test starts its own server(s): they change server-wide options.
 * Memory figures are INFO's used_memory (what the server says it holds) and
 * VmRSS from /proc/<pid>/status (what the OS says). Sanitizer builds scale
 * the loads down and skip the RSS bounds (ASan's quarantine keeps freed
 * malloc blocks, so RSS follows the traffic there, see test_memory.c).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

TestSuite(evict, .fini = h_teardown, .timeout = 300);

#define VLEN 128         /* every value: the largest a key may hold */
#define RECORD_BYTES 136 /* 8-byte key + 128-byte value, the payload per key */
#define BATCH 1000       /* commands per pipelined batch */
#define MIB (1024LL * 1024)
#define OOM_ERR "OOM command not allowed when used memory > 'maxmemory'."

static double mib(long long bytes)
{
    return (double)bytes / (double)MIB;
}

/* The value of key (ns, i): 128 bytes, its first 8 the id, so a value read
 * back proves it belongs to its key. */
static void value_of(long long i, unsigned salt, uint8_t out[VLEN])
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ULL + salt;
    memcpy(out, &i, sizeof i);
    for (size_t k = 8; k < VLEN; k++) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ULL;
        out[k] = (uint8_t)(x >> 56);
    }
}

static long long info_stat(redisContext *c, const char *section, const char *name)
{
    char *info = h_info(c, section);
    long long v = h_info_num(info, name);
    cr_assert(v >= 0, "INFO %s lacks %s:\n%s", section, name, info);
    free(info);
    return v;
}

/* db0's keys and expires (0 when the line is absent: an empty keyspace). */
static void keyspace(redisContext *c, long long *keys, long long *expires)
{
    char *info = h_info(c, "keyspace");
    const char *p = strstr(info, "\r\ndb0:");
    long long avg;
    *keys = *expires = 0;
    if (p != NULL)
        cr_assert_eq(sscanf(p + 6, "keys=%lld,expires=%lld,avg_ttl=%lld", keys, expires, &avg), 3,
                     "%s", info);
    free(info);
}

static const char *config_get(redisContext *c, const char *name)
{
    static char buf[128];
    redisReply *r = CMD(c, "CONFIG GET %s", name);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "CONFIG GET %s", name);
    snprintf(buf, sizeof buf, "%s", r->element[1]->str);
    freeReplyObject(r);
    return buf;
}

static bool is_ok(const redisReply *r)
{
    return r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
}

static bool is_oom(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strcmp(r->str, OOM_ERR) == 0;
}

/* Send SET ns:i (value_of(i, salt)) [opts] for i in [from, to) as one
 * pipelined batch; replies are read by the caller. */
static void append_sets(redisContext *c, const char *ns, long long from, long long to,
                        unsigned salt, const char *opts)
{
    uint8_t v[VLEN];
    char fmt[64];
    snprintf(fmt, sizeof fmt, "SET %%s:%%lld %%b%s%s", opts[0] ? " " : "", opts);
    for (long long i = from; i < to; i++) {
        value_of(i, salt, v);
        cr_assert(redisAppendCommand(c, fmt, ns, i, v, (size_t)VLEN) == REDIS_OK);
    }
}

/* SETs of [from, to) in batches; every reply must be +OK. */
static void load_ok(redisContext *c, const char *ns, long long from, long long to, unsigned salt,
                    const char *opts)
{
    for (long long b = from; b < to; b += BATCH) {
        long long e = b + BATCH < to ? b + BATCH : to;
        append_sets(c, ns, b, e, salt, opts);
        for (long long i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "SET", i);
            cr_assert(is_ok(r), "SET %s:%lld %s: type %d %s", ns, i, opts, r->type,
                      r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
    }
}

/* GET ns:i for i in [from, to) with this stride: count the keys present
 * (each must hold its own value, salt `salt`); a missing key is counted in
 * the return only. If all_present, every key must be there. */
static long long count_present(redisContext *c, const char *ns, long long from, long long to,
                               long long stride, unsigned salt, bool all_present)
{
    uint8_t v[VLEN];
    long long present = 0;
    for (long long b = from; b < to; b += BATCH * stride) {
        long long e = b + BATCH * stride < to ? b + BATCH * stride : to;
        for (long long i = b; i < e; i += stride)
            cr_assert(redisAppendCommand(c, "GET %s:%lld", ns, i) == REDIS_OK);
        for (long long i = b; i < e; i += stride) {
            redisReply *r = h_next_reply(c, "GET", i);
            if (r->type == REDIS_REPLY_STRING) {
                value_of(i, salt, v);
                cr_assert(r->len == VLEN && memcmp(r->str, v, VLEN) == 0,
                          "GET %s:%lld: %zu bytes, not the value written", ns, i, r->len);
                present++;
            } else {
                cr_assert(r->type == REDIS_REPLY_NIL, "GET %s:%lld: type %d %s", ns, i, r->type,
                          r->str != NULL ? r->str : "");
                cr_assert(!all_present, "%s:%lld was lost", ns, i);
            }
            freeReplyObject(r);
        }
    }
    return present;
}

/* ==== 1. noeviction ================================================================== */

ITESTX(evict, noeviction_oom_loses_nothing, .init = h_setup_own)
{
    cr_assert_str_eq(config_get(C, "maxmemory-policy"), "noeviction");
    long long used0 = info_stat(C, "memory", "used_memory");
    long long max = used0 + 2 * MIB;
    EXPECT_OK(C, "CONFIG SET maxmemory %lld", max);

    /* Fill until the writes are refused; remember which were acknowledged. */
    redisContext *L = h_connect();
    enum { LIMIT = 200000 }; /* 27 MB: far more than the 2 MB that fit */
    static bool acked[LIMIT];
    long long n_ok = 0, n_oom = 0, first_oom = -1;
    for (long long b = 0; b < LIMIT && n_oom == 0; b += BATCH) {
        append_sets(L, "k", b, b + BATCH, 0, "");
        for (long long i = b; i < b + BATCH; i++) {
            redisReply *r = h_next_reply(L, "SET", i);
            if (is_ok(r)) {
                acked[i] = true;
                n_ok++;
            } else {
                cr_assert(is_oom(r), "SET k:%lld: type %d '%s', expected -%s", i, r->type,
                          r->str != NULL ? r->str : "", OOM_ERR);
                if (first_oom < 0)
                    first_oom = i;
                n_oom++;
            }
            freeReplyObject(r);
        }
    }
    cr_assert(n_oom > 0, "%lld SETs of 128 bytes all accepted under maxmemory %lld", n_ok, max);
    char *info = h_info(C, "memory");
    long long used = h_info_num(info, "used_memory");
    cr_log_info("noeviction: maxmemory %lld (used_memory at start %lld); %lld SETs accepted "
                "(%.2f MiB of payload), first -OOM at #%lld; used_memory now %lld",
                max, used0, n_ok, mib(n_ok * RECORD_BYTES), first_oom, used);
    /* It refused only when full: the accepted keys' payload is most of the
     * 2 MiB headroom, and used_memory is at the limit. */
    cr_assert(n_ok * RECORD_BYTES >= MIB, "only %lld keys accepted in 2 MiB of headroom", n_ok);
    cr_assert(used >= max - 2 * RECORD_BYTES * 64,
              "-OOM with used_memory %lld well under maxmemory %lld", used, max);
    cr_assert(strstr(info, "\r\nmaxmemory_policy:noeviction\r\n") != NULL, "%s", info);
    cr_assert_eq(h_info_num(info, "maxmemory"), max);
    free(info);

    /* Every write command that may add memory is refused too, even for a
     * key that exists. */
    EXPECT_ERR(C, OOM_ERR, "SET k:0 x");
    EXPECT_ERR(C, OOM_ERR, "SETEX k:999999 10 x");
    EXPECT_ERR(C, OOM_ERR, "MSET k:999998 x k:999997 y");
    EXPECT_ERR(C, OOM_ERR, "APPEND k:999996 x");
    EXPECT_ERR(C, OOM_ERR, "INCR k:999995");

    /* Reads, deletes and TTL changes still work, and nothing was lost:
     * every acknowledged key holds its value, nothing refused was stored. */
    long long present = 0;
    uint8_t v[VLEN];
    long long end = first_oom + BATCH;
    for (long long i = 0; i < end; i++)
        redisAppendCommand(L, "GET k:%lld", i);
    for (long long i = 0; i < end; i++) {
        redisReply *r = h_next_reply(L, "GET", i);
        if (i < LIMIT && acked[i]) {
            value_of(i, 0, v);
            cr_assert(r->type == REDIS_REPLY_STRING && r->len == VLEN &&
                          memcmp(r->str, v, VLEN) == 0,
                      "acknowledged k:%lld lost or wrong (type %d)", i, r->type);
            present++;
        } else {
            cr_assert(r->type == REDIS_REPLY_NIL, "refused k:%lld is there", i);
        }
        freeReplyObject(r);
    }
    cr_assert_eq(present, n_ok);
    EXPECT_INT(C, n_ok, "DBSIZE");
    cr_assert_eq(info_stat(C, "stats", "evicted_keys"), 0);
    EXPECT_INT(C, 1, "EXPIRE k:1 1000");
    EXPECT_INT(C, 1, "PERSIST k:1");
    EXPECT_INT(C, 1, "EXISTS k:2");
    redisReply *r = CMD(C, "GETDEL k:2");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);

    /* Deleting makes room again. */
    for (long long i = 3; i < 10003; i++)
        redisAppendCommand(L, "DEL k:%lld", i);
    for (long long i = 3; i < 10003; i++) {
        r = h_next_reply(L, "DEL", i);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == (acked[i] ? 1 : 0), "DEL k:%lld",
                  i);
        freeReplyObject(r);
    }
    EXPECT_OK(C, "SET k:3 back");
    EXPECT_BULK(C, "back", "GET k:3");
    /* And maxmemory 0 lifts the limit. */
    EXPECT_OK(C, "CONFIG SET maxmemory 0");
    EXPECT_OK(C, "SETEX k:999999 10 x");
    redisFree(L);
}

/* ==== 2. allkeys-* under a write load of ~10x maxmemory ============================== */

/* One record chunk: 2048 records of 136 bytes (table.c). */
#define CHUNK_BYTES (2048LL * RECORD_BYTES)

/* How far INFO's used_memory may go over maxmemory. The server keeps its own
 * figure (index + 136 B per live record + the allocator's bytes in use at
 * the last cron tick) under the limit before every write; used_memory
 * differs from it by (a) the payload chunks' slack: the table keeps one
 * spare chunk and the last chunk is partly filled, up to 2 chunks (557 KB)
 * per namespace, and (b) what the allocator holds between two cron ticks,
 * mostly the buffers of a pipelined batch of 1000 SETs (~170 KB in and out),
 * allowed for by 3 %. On the 8 MB limit of the load test that is 10.3 %,
 * on 4 MB (sanitizer builds) 16.6 %; measured: +2 to +3 % at 8 MB,
 * +6 to +9 % at 4 MB. */
static long long over_allowed(long long max)
{
    return max * 3 / 100 + 2 * CHUNK_BYTES;
}

/* keys and expires of db0 and evicted_keys, read when no eviction ran in
 * between (the cron keeps evicting after a write that went over the limit,
 * so two INFO calls may straddle an eviction). */
static void settled(redisContext *c, long long *keys, long long *expires, long long *evicted)
{
    double end = h_now() + 5.0 * h_slow();
    for (;;) {
        long long before = info_stat(c, "stats", "evicted_keys");
        keyspace(c, keys, expires);
        *evicted = info_stat(c, "stats", "evicted_keys");
        if (*evicted == before)
            return;
        cr_assert(h_now() < end, "evictions did not settle");
        usleep(2000);
    }
}

static void load_under_limit(const char *policy)
{
    const long long max = (h_sanitized() ? 4 : 8) * MIB;
    const long long writes = max * 10 / VLEN; /* ~10x maxmemory of values: 655k SETs at 8 MB */
    long long rss_empty = h_proc_bytes_must(H.pid, "VmRSS");
    EXPECT_OK(C, "CONFIG SET maxmemory-policy %s", policy);
    EXPECT_OK(C, "CONFIG SET maxmemory %lld", max);

    redisContext *L = h_connect();
    long long used_max = 0, rss_max = 0, samples = 0;
    double t0 = h_now();
    for (long long b = 0; b < writes; b += BATCH) {
        long long e = b + BATCH < writes ? b + BATCH : writes;
        append_sets(L, "k", b, e, 1, "");
        for (long long i = b; i < e; i++) {
            redisReply *r = h_next_reply(L, "SET", i);
            cr_assert(is_ok(r), "%s: SET k:%lld failed under the limit: type %d %s", policy, i,
                      r->type, r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
        /* Sample between batches. */
        long long used = info_stat(C, "memory", "used_memory");
        long long rss = h_proc_bytes_must(H.pid, "VmRSS");
        used_max = used > used_max ? used : used_max;
        rss_max = rss > rss_max ? rss : rss_max;
        samples++;
    }
    double secs = h_now() - t0;
    long long keys, expires, evicted;
    settled(C, &keys, &expires, &evicted);
    cr_log_info("%s: %lld SETs (%.0f MiB of values) in %.2f s under maxmemory %.0f MiB: "
                "used_memory max %.2f MiB (%+.1f%%) over %lld samples, VmRSS max %.1f MiB (empty "
                "%.1f MiB), %lld keys left, evicted_keys %lld",
                policy, writes, mib(writes * VLEN), secs, mib(max), mib(used_max),
                100.0 * (double)(used_max - max) / (double)max, samples, mib(rss_max),
                mib(rss_empty), keys, evicted);
    cr_assert(used_max <= max + over_allowed(max),
              "%s: used_memory reached %lld, %.1f%% over maxmemory %lld", policy, used_max,
              100.0 * (double)(used_max - max) / (double)max, max);
    if (!h_sanitized())
        cr_assert(rss_max <= 2 * max + rss_empty, "%s: VmRSS reached %.1f MiB (limit %.0f MiB)",
                  policy, mib(rss_max), mib(max));
    /* Every key written is either still there or was evicted: nothing else
     * removes keys here. */
    cr_assert_eq(keys + evicted, writes, "%s: %lld keys + %lld evicted != %lld written", policy,
                 keys, evicted, writes);
    cr_assert(evicted > 0);
    /* What is left fits, and fills a fair part of the limit. */
    cr_assert(keys * RECORD_BYTES <= max, "%s: %lld keys left", policy, keys);
    cr_assert(keys * RECORD_BYTES * 2 >= max, "%s: only %lld keys left in %.0f MiB", policy, keys,
              mib(max));
    /* Survivors hold their own values (a sample of them). */
    long long seen = count_present(L, "k", 0, writes, 7, 1, false);
    cr_assert(seen > 0);
    /* Still takes writes, still within the limit. */
    load_ok(L, "k", writes, writes + 5000, 1, "");
    cr_assert(info_stat(C, "stats", "evicted_keys") > evicted);
    redisFree(L);
}

ITESTX(evict, allkeys_random_under_load, .init = h_setup_own)
{
    load_under_limit("allkeys-random");
}

ITESTX(evict, allkeys_lru_under_load, .init = h_setup_own)
{
    load_under_limit("allkeys-lru");
}

/* ==== 3. LRU keeps a hot set better than random ===================================== */

/* The same skewed workload on a server with the given policy: HOT keys
 * written first, then cold keys in batches of BATCH SETs, each batch
 * followed by a GET of every hot key. Batches are paced so that the load
 * lasts at least HOT_MIN_SECONDS: the LRU clock ticks every 10 ms, and
 * keys touched within one tick look equally old. Returns the hot keys still
 * there at the end. */
#define HOT 1000
#define HOT_MIN_SECONDS 2.5

static long long hot_set_survivors(const char *policy, long long max, long long cold)
{
    h_server srv;
    const char *const args[] = {"--maxmemory-policy", policy, NULL};
    h_start_server(&srv, args);
    redisContext *c = h_connect_to(srv.host, srv.port);
    /* The limit after the hot set is in, so it starts well inside it. */
    load_ok(c, "hot", 0, HOT, 2, "");
    h_check(__FILE__, __LINE__, CMD(c, "CONFIG SET maxmemory %lld", max), REDIS_REPLY_STATUS, "OK",
            (size_t)-1, 0);
    long long batches = (cold + BATCH - 1) / BATCH;
    double t0 = h_now();
    for (long long b = 0; b < batches; b++) {
        double not_before = t0 + HOT_MIN_SECONDS * (double)b / (double)batches;
        while (h_now() < not_before)
            usleep(1000);
        append_sets(c, "cold", b * BATCH, (b + 1) * BATCH, 3, "");
        for (long long i = 0; i < HOT; i++)
            redisAppendCommand(c, "GET hot:%lld", i);
        for (long long i = 0; i < BATCH; i++) {
            redisReply *r = h_next_reply(c, "SET", i);
            cr_assert(is_ok(r), "%s: SET cold:%lld: %s", policy, b * BATCH + i,
                      r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
        for (long long i = 0; i < HOT; i++)
            freeReplyObject(h_next_reply(c, "GET", i));
    }
    double secs = h_now() - t0;
    long long survivors = count_present(c, "hot", 0, HOT, 1, 2, false);
    long long evicted = info_stat(c, "stats", "evicted_keys");
    long long dbsize;
    redisReply *r = CMD(c, "DBSIZE");
    dbsize = r->integer;
    freeReplyObject(r);
    cr_log_info("%s: %d hot keys, %lld cold SETs in %.2f s, maxmemory %.0f MiB: %lld hot keys "
                "survived, %lld keys left, evicted_keys %lld",
                policy, HOT, cold, secs, mib(max), survivors, dbsize, evicted);
    cr_assert(evicted > 0, "%s: nothing evicted", policy);
    redisFree(c);
    h_stop_server(&srv);
    return survivors;
}

ITESTX(evict, lru_keeps_hot_set_better_than_random, .init = h_setup_own)
{
    /* 4 MiB holds ~27k keys; 200k cold SETs go through it 7 times over, in
     * >= 2.5 s: <= 8k cold SETs per LRU tick, under a third of the cache. */
    const long long max = 4 * MIB, cold = h_sanitized() ? 100000 : 200000;
    long long lru = hot_set_survivors("allkeys-lru", max, cold);
    long long rnd = hot_set_survivors("allkeys-random", max, cold);
    cr_log_info("hot set survivors: allkeys-lru %lld, allkeys-random %lld of %d", lru, rnd, HOT);
    cr_assert(lru > rnd, "allkeys-lru kept %lld hot keys, allkeys-random %lld", lru, rnd);
    /* A hot key can go only when all 5 samples are from the current LRU
     * tick (10 ms) and the tie falls on it: rare while the load is paced.
     * On a loaded machine the pacing slips and more cold writes share a tick,
     * so the bound is a quarter (seen: 434 of 1000 at 100 ms ticks under
     * load, ~870 unloaded; random keeps ~none). */
    cr_assert(lru >= HOT / 4, "allkeys-lru kept only %lld of %d hot keys", lru, HOT);
}

#define CFG_ERR(name, why) "ERR CONFIG SET failed (possibly related to argument '" name "') - " why

/* The same load under allkeys-lfu: each hot key is read once per batch, so
 * its counter climbs past the one-hit cold keys' TABLE_LFU_INIT (5) at its
 * first read and keeps climbing; a hot key goes only when all 5 samples are
 * hot. No clock is involved, so the margin does not depend on the pacing. */
ITESTX(evict, lfu_keeps_hot_set_better_than_random, .init = h_setup_own)
{
    const long long max = 4 * MIB, cold = h_sanitized() ? 100000 : 200000;
    long long lfu = hot_set_survivors("allkeys-lfu", max, cold);
    long long rnd = hot_set_survivors("allkeys-random", max, cold);
    cr_log_info("hot set survivors: allkeys-lfu %lld, allkeys-random %lld of %d", lfu, rnd, HOT);
    /* ~27k keys fit, 1000 are hot: 5 hot samples at once has odds of about
     * (1/27)^5 per eviction (seen: all 1000 kept; random keeps ~none). */
    cr_assert_geq(lfu, HOT * 9 / 10, "allkeys-lfu kept only %lld of %d hot keys", lfu, HOT);
    cr_assert_geq(lfu - rnd, HOT / 2, "allkeys-lfu kept %lld hot keys, allkeys-random %lld", lfu,
                  rnd);
}

/* OBJECT FREQ over the wire: the counter a new key starts at, growing with
 * reads, and both LFU options at runtime. */
ITESTX(evict, object_freq_counts_accesses, .init = h_setup_own)
{
    EXPECT_OK(C, "SET 1 v");
    EXPECT_ERR(C,
               "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
               "note that when switching between policies at runtime LRU and LFU data will take "
               "some time to adjust.",
               "OBJECT FREQ 1");
    EXPECT_OK(C, "CONFIG SET maxmemory-policy allkeys-lfu");
    EXPECT_NIL(C, "OBJECT FREQ 2");
    EXPECT_INT(C, 0, "OBJECT FREQ 1"); /* unstamped since the switch */
    EXPECT_INT(C, 1, "DEL 1");
    EXPECT_OK(C, "SET 1 v");
    redisReply *r = CMD(C, "OBJECT FREQ 1");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 5, "a new key starts at 5");
    freeReplyObject(r);
    /* Factor 10: 100 reads take a counter from 5 to about 9 (Redis's table:
     * 10 after 100 hits), never past 5 + 100. */
    for (int i = 0; i < 100; i++)
        freeReplyObject(CMD(C, "GET 1"));
    r = CMD(C, "OBJECT FREQ 1");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer >= 7 && r->integer <= 14,
              "factor 10, 100 reads: %lld", r->integer);
    long long f10 = r->integer;
    freeReplyObject(r);
    /* Factor 0: every read counts. */
    EXPECT_OK(C, "CONFIG SET lfu-log-factor 0");
    cr_assert_str_eq(config_get(C, "lfu-log-factor"), "0");
    for (int i = 0; i < 50; i++)
        freeReplyObject(CMD(C, "GET 1"));
    r = CMD(C, "OBJECT FREQ 1");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == f10 + 50, "%lld after %lld + 50",
              r->integer, f10);
    freeReplyObject(r);
    EXPECT_OK(C, "CONFIG SET lfu-decay-time 0");
    cr_assert_str_eq(config_get(C, "lfu-decay-time"), "0");
    EXPECT_ERR(C, CFG_ERR("lfu-decay-time", "argument must be between 0 and 2147483647 inclusive"),
               "CONFIG SET lfu-decay-time -1");
    EXPECT_ERR(C,
               "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
               "when switching between policies at runtime LRU and LFU data will take some time to "
               "adjust.",
               "OBJECT IDLETIME 1");
}

/* ==== 4. volatile-* ================================================================== */

/* NP keys without TTL, then keys with a (long) TTL to ~5x maxmemory: every
 * write succeeds by evicting TTL keys, and every no-TTL key survives. Then
 * more keys without TTL: TTL keys keep going until none is left, and then
 * writes get -OOM, with no acknowledged key lost. */
static void volatile_never_evicts_persistent(const char *policy)
{
    const long long max = 4 * MIB, np = 5000;
    const long long nt = max * (h_sanitized() ? 3 : 5) / RECORD_BYTES;
    EXPECT_OK(C, "CONFIG SET maxmemory-policy %s", policy);
    EXPECT_OK(C, "CONFIG SET maxmemory %lld", max);
    redisContext *L = h_connect();
    load_ok(L, "p", 0, np, 4, "");
    load_ok(L, "t", 0, nt, 5, "EX 3600");
    long long keys, expires, evicted;
    settled(C, &keys, &expires, &evicted);
    cr_assert(evicted > 0, "%s: nothing evicted after %lld TTL keys", policy, nt);
    cr_assert_eq(keys - expires, np, "%s: %lld keys without TTL, %lld written", policy,
                 keys - expires, np);
    cr_assert_eq(keys + evicted, np + nt, "%s: %lld keys + %lld evicted != %lld written", policy,
                 keys, evicted, np + nt);
    cr_assert_eq(count_present(L, "p", 0, np, 1, 4, true), np);

    /* More keys without TTL until -OOM. */
    long long acked = np, first_oom = -1;
    for (long long b = np; first_oom < 0 && b < np + 200000; b += BATCH) {
        append_sets(L, "p", b, b + BATCH, 4, "");
        for (long long i = b; i < b + BATCH; i++) {
            redisReply *r = h_next_reply(L, "SET", i);
            if (is_ok(r)) {
                cr_assert(first_oom < 0, "%s: SET p:%lld accepted after an -OOM", policy, i);
                acked++;
            } else {
                cr_assert(is_oom(r), "%s: SET p:%lld: type %d '%s'", policy, i, r->type,
                          r->str != NULL ? r->str : "");
                if (first_oom < 0) {
                    first_oom = i;
                    /* Refused only once no TTL key was left to evict. */
                    keyspace(C, &keys, &expires);
                    cr_assert_eq(expires, 0, "%s: -OOM with %lld TTL keys left", policy, expires);
                }
            }
            freeReplyObject(r);
        }
    }
    cr_assert(first_oom >= 0, "%s: no -OOM with only keys without TTL", policy);
    cr_log_info("%s: %lld TTL keys evicted for %lld keys without TTL; first -OOM at p:%lld", policy,
                info_stat(C, "stats", "evicted_keys"), acked, first_oom);
    cr_assert_eq(acked, first_oom);
    cr_assert_eq(count_present(L, "p", 0, acked, 1, 4, true), acked);
    EXPECT_INT(C, acked, "DBSIZE");
    EXPECT_NIL(C, "GET p:%lld", first_oom);
    redisFree(L);
}

ITESTX(evict, volatile_lru_keeps_keys_without_ttl, .init = h_setup_own)
{
    volatile_never_evicts_persistent("volatile-lru");
}

ITESTX(evict, volatile_random_keeps_keys_without_ttl, .init = h_setup_own)
{
    volatile_never_evicts_persistent("volatile-random");
}

ITESTX(evict, volatile_ttl_keeps_keys_without_ttl, .init = h_setup_own)
{
    volatile_never_evicts_persistent("volatile-ttl");
}

/* LATE keys with a TTL of 10 h, then keys with a TTL of 10 min to 5x
 * maxmemory: volatile-ttl takes the soonest-expiring, so the late keys stay;
 * volatile-random (same workload, its own server) loses most of them. */
#define LATE 2000

static long long late_survivors(const char *policy)
{
    h_server srv;
    const char *const args[] = {"--maxmemory-policy", policy, "--maxmemory", "4mb", NULL};
    h_start_server(&srv, args);
    redisContext *c = h_connect_to(srv.host, srv.port);
    load_ok(c, "late", 0, LATE, 6, "EX 36000");
    load_ok(c, "soon", 0, 4 * MIB * (h_sanitized() ? 3 : 5) / RECORD_BYTES, 7, "EX 600");
    long long survivors = count_present(c, "late", 0, LATE, 1, 6, false);
    long long evicted = info_stat(c, "stats", "evicted_keys");
    cr_assert(evicted > 0);
    redisReply *r = CMD(c, "TTL late:0");
    cr_assert(r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
    h_stop_server(&srv);
    cr_log_info("%s: %lld of %d keys with the latest expiry survived, evicted_keys %lld", policy,
                survivors, LATE, evicted);
    return survivors;
}

ITESTX(evict, volatile_ttl_evicts_soonest_first, .init = h_setup_own)
{
    long long by_ttl = late_survivors("volatile-ttl");
    long long by_random = late_survivors("volatile-random");
    cr_assert(by_ttl >= LATE * 95 / 100, "volatile-ttl kept only %lld of %d late keys", by_ttl,
              LATE);
    cr_assert(by_ttl > by_random, "volatile-ttl kept %lld late keys, volatile-random %lld", by_ttl,
              by_random);
}

/* ==== 5. maxmemory lowered at runtime ================================================ */

ITESTX(evict, maxmemory_lowered_at_runtime, .init = h_setup_own)
{
    const long long n = h_sanitized() ? 100000 : 400000;
    EXPECT_OK(C, "CONFIG SET maxmemory-policy allkeys-random");
    redisContext *L = h_connect();
    load_ok(L, "k", 0, n, 8, "");
    long long used0 = info_stat(C, "memory", "used_memory");
    long long max = used0 / 2;
    redisContext *P = h_connect();

    /* CONFIG SET does not evict everything before replying: the drain is
     * the cron's, in slices. The INFO goes in the same write, so the server
     * runs it right after the CONFIG SET, before any cron tick. */
    cr_assert(redisAppendCommand(C, "CONFIG SET maxmemory %lld", max) == REDIS_OK);
    cr_assert(redisAppendCommand(C, "INFO memory") == REDIS_OK);
    redisReply *set = h_next_reply(C, "CONFIG SET", 0);
    h_check(__FILE__, __LINE__, set, REDIS_REPLY_STATUS, "OK", (size_t)-1, 0);
    redisReply *ri = h_next_reply(C, "INFO", 0);
    long long used = h_info_num(ri->str, "used_memory");
    freeReplyObject(ri);
    cr_assert(used > max, "used_memory %lld already <= %lld when CONFIG SET replied", used, max);

    /* Poll used_memory; between polls a PING on P, whose PONG must come back
     * while the drain is still going. PINGs answered while an INFO was
     * pending on C show the server interleaving clients with the drain. */
    double t0 = h_now(), end = t0 + 5.0 * h_slow();
    long pings = 0, pings_while_over = 0;
    for (;;) {
        cr_assert(redisAppendCommand(C, "INFO memory") == REDIS_OK);
        int done = 0;
        while (!done)
            cr_assert(redisBufferWrite(C, &done) == REDIS_OK);
        EXPECT_STATUS(P, "PONG", "PING");
        pings++;
        redisReply *r = h_next_reply(C, "INFO", 0);
        used = h_info_num(r->str, "used_memory");
        freeReplyObject(r);
        if (used <= max + over_allowed(max) || h_now() >= end)
            break;
        pings_while_over++;
    }
    double secs = h_now() - t0;
    long long keys, expires, evicted;
    settled(C, &keys, &expires, &evicted);
    cr_log_info("maxmemory %.1f -> %.1f MiB at runtime: used_memory %.1f MiB after %.0f ms, "
                "%ld PINGs answered while over the limit; %lld keys evicted, %lld left",
                mib(used0), mib(max), mib(used), 1000 * secs, pings_while_over, evicted, keys);
    cr_assert(used <= max + over_allowed(max),
              "used_memory %lld > maxmemory %lld + %lld after %.1f s", used, max, over_allowed(max),
              secs);
    /* A drain that ends within one poll leaves nothing to observe (seen
     * under ASan on a loaded machine); a longer one must not have kept P
     * waiting throughout. */
    cr_assert(pings_while_over >= 1 || secs < 0.25,
              "no PING answered while the server was over the limit (%.0f ms)", 1000 * secs);
    cr_assert(evicted > 0 && keys + evicted == n, "keys %lld + evicted %lld != %lld", keys, evicted,
              n);
    /* The rest are intact, and writes go on within the new limit. */
    cr_assert_eq(count_present(L, "k", 0, n, 13, 8, false) > 0, true);
    load_ok(L, "k", n, n + 20000, 8, "");
    cr_assert(info_stat(C, "memory", "used_memory") <= max + over_allowed(max));
    redisFree(P);
    redisFree(L);
}

/* ==== 6. The options ================================================================= */

static void setup_from_flags(void)
{
    const char *const args[] = {
        "--maxmemory", "64mb", "--maxmemory-policy", "volatile-ttl", "--maxmemory-samples",
        "10",          NULL};
    h_setup_own_args(args);
}

ITESTX(evict, options_from_flags, .init = setup_from_flags)
{
    cr_assert_str_eq(config_get(C, "maxmemory"), "67108864");
    cr_assert_str_eq(config_get(C, "maxmemory-policy"), "volatile-ttl");
    cr_assert_str_eq(config_get(C, "maxmemory-samples"), "10");
    char *info = h_info(C, "memory");
    cr_assert_eq(h_info_num(info, "maxmemory"), 67108864);
    cr_assert(strstr(info, "\r\nmaxmemory_human:64.00M\r\n") != NULL, "%s", info);
    cr_assert(strstr(info, "\r\nmaxmemory_policy:volatile-ttl\r\n") != NULL, "%s", info);
    free(info);
}

ITESTX(evict, options, .init = h_setup_own)
{
    cr_assert_str_eq(config_get(C, "maxmemory"), "0");
    cr_assert_str_eq(config_get(C, "maxmemory-policy"), "noeviction");
    cr_assert_str_eq(config_get(C, "maxmemory-samples"), "5");

    static const struct {
        const char *in;
        long long bytes;
    } mem[] = {
        {"100mb", 104857600}, {"100MB", 104857600},
        {"1gb", 1073741824},  {"1g", 1000000000},
        {"10k", 10000},       {"10kb", 10240},
        {"5m", 5000000},      {"12345", 12345},
        {"12345b", 12345},    {"0", 0},
    };
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++) {
        EXPECT_OK(C, "CONFIG SET maxmemory %s", mem[i].in);
        char want[32];
        snprintf(want, sizeof want, "%lld", mem[i].bytes);
        cr_assert_str_eq(config_get(C, "maxmemory"), want, "CONFIG SET maxmemory %s", mem[i].in);
        cr_assert_eq(info_stat(C, "memory", "maxmemory"), mem[i].bytes);
    }
    EXPECT_OK(C, "CONFIG SET maxmemory 3mb");
    static const char *const bad_mem[] = {"abc", "-1", "10xb", "1.5mb", "mb", ""};
    for (size_t i = 0; i < sizeof bad_mem / sizeof bad_mem[0]; i++)
        EXPECT_ERR(C, CFG_ERR("maxmemory", "argument must be a memory value"),
                   "CONFIG SET maxmemory %s", bad_mem[i]);
    cr_assert_str_eq(config_get(C, "maxmemory"), "3145728", "a refused SET changed it");

    static const char *const policies[] = {"noeviction",      "allkeys-lru",  "allkeys-lfu",
                                           "allkeys-random",  "volatile-lru", "volatile-lfu",
                                           "volatile-random", "volatile-ttl"};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        EXPECT_OK(C, "CONFIG SET maxmemory-policy %s", policies[i]);
        cr_assert_str_eq(config_get(C, "maxmemory-policy"), policies[i]);
        char *info = h_info(C, "memory");
        char line[64];
        snprintf(line, sizeof line, "\r\nmaxmemory_policy:%s\r\n", policies[i]);
        cr_assert(strstr(info, line) != NULL, "%s", info);
        free(info);
    }
    EXPECT_OK(C, "CONFIG SET maxmemory-policy ALLKEYS-LRU");
    cr_assert_str_eq(config_get(C, "maxmemory-policy"), "allkeys-lru");
    static const char *const bad_policy[] = {"lru", "lfu", "allkeys-lfu-", "all"};
    for (size_t i = 0; i < sizeof bad_policy / sizeof bad_policy[0]; i++)
        EXPECT_ERR(C,
                   CFG_ERR("maxmemory-policy",
                           "argument(s) must be one of the following: noeviction|allkeys-lru|"
                           "allkeys-lfu|allkeys-random|volatile-lru|volatile-lfu|"
                           "volatile-random|volatile-ttl"),
                   "CONFIG SET maxmemory-policy %s", bad_policy[i]);
    cr_assert_str_eq(config_get(C, "maxmemory-policy"), "allkeys-lru");

    EXPECT_OK(C, "CONFIG SET maxmemory-samples 1");
    cr_assert_str_eq(config_get(C, "maxmemory-samples"), "1");
    EXPECT_OK(C, "CONFIG SET maxmemory-samples 64");
    cr_assert_str_eq(config_get(C, "maxmemory-samples"), "64");
    EXPECT_ERR(C, CFG_ERR("maxmemory-samples", "argument must be between 1 and 64 inclusive"),
               "CONFIG SET maxmemory-samples 0");
    EXPECT_ERR(C, CFG_ERR("maxmemory-samples", "argument must be between 1 and 64 inclusive"),
               "CONFIG SET maxmemory-samples 65");
    EXPECT_ERR(C, CFG_ERR("maxmemory-samples", "argument couldn't be parsed into an integer"),
               "CONFIG SET maxmemory-samples x");
    cr_assert_str_eq(config_get(C, "maxmemory-samples"), "64");

    /* CONFIG GET with a pattern lists all three. */
    redisReply *r = CMD(C, "CONFIG GET maxmemory*");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 6, "type %d, %zu elements", r->type,
              r->elements);
    freeReplyObject(r);
}

/* ==== quotas per namespace ============================================================ */

/* Field `field` of INFO's ns_<name> line (must be present). */
static long long ns_stat(redisContext *c, const char *name, const char *field)
{
    char *info = h_info(c, "namespaces");
    char head[64], key[64];
    snprintf(head, sizeof head, "\r\nns_%s:", name);
    snprintf(key, sizeof key, "%s=", field);
    const char *line = strstr(info, head);
    cr_assert(line != NULL, "INFO lacks ns_%s:\n%s", name, info);
    line += strlen(head);
    const char *end = strstr(line, "\r\n");
    long long v = -1;
    for (const char *p = line; p != NULL && p < end; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, key, strlen(key)) == 0) {
            v = strtoll(p + strlen(key), NULL, 10);
            break;
        }
    }
    cr_assert(v >= 0, "ns_%s has no %s:\n%s", name, field, info);
    free(info);
    return v;
}

/* Two namespaces with quotas and one without take the same write load of
 * several times the quotas: each quota'd one stays within its quota (INFO's
 * used_memory per namespace, read after every round of writes), the one
 * without keeps every key, and the evictions all come from the quota'd
 * ones. */
ITESTX(evict, namespace_quotas_under_load, .init = h_setup_own)
{
    const long long q1 = 2 * MIB, q2 = 1 * MIB;
    const long long n = (h_sanitized() ? 3 : 6) * q1 / RECORD_BYTES;
    /* Over by at most one write, or by an index that has just doubled
     * (the bucket array of ~15k keys is 128 KiB). */
    const long long slack = 300 * 1024;
    EXPECT_OK(C, "CONFIG SET maxmemory-policy allkeys-lru");
    EXPECT_OK(C, "CONFIG SET namespace-maxmemory %s", "q1 2mb q2 1mb");
    for (long long b = 0; b < n; b += BATCH) {
        long long e = b + BATCH < n ? b + BATCH : n;
        load_ok(C, "q1", b, e, 1, "");
        load_ok(C, "q2", b, e, 2, "");
        load_ok(C, "free", b, e, 3, "");
        long long u1 = ns_stat(C, "q1", "used_memory"), u2 = ns_stat(C, "q2", "used_memory");
        cr_assert(u1 <= q1 + slack, "q1 holds %lld bytes, quota %lld", u1, q1);
        cr_assert(u2 <= q2 + slack, "q2 holds %lld bytes, quota %lld", u2, q2);
    }
    /* The last write may have left a namespace just over its quota, which
     * the cron then evicts: until both are within their quotas (then
     * nothing more is evicted), before keys and evictions are read. */
    double end = h_now() + 10.0 * h_slow();
    while (ns_stat(C, "q1", "used_memory") > q1 || ns_stat(C, "q2", "used_memory") > q2) {
        cr_assert(h_now() < end, "the quotas' evictions did not settle");
        usleep(2000);
    }
    long long k1 = ns_stat(C, "q1", "keys"), k2 = ns_stat(C, "q2", "keys");
    cr_log_info("namespace quotas: %lld writes each; q1 keeps %lld keys in %lld bytes (quota "
                "%lld), q2 %lld in %lld (quota %lld)",
                n, k1, ns_stat(C, "q1", "used_memory"), q1, k2, ns_stat(C, "q2", "used_memory"),
                q2);
    /* Full, not emptied: each keeps most of what its quota holds. */
    cr_assert(k1 * RECORD_BYTES >= q1 / 2 && k2 * RECORD_BYTES >= q2 / 2, "q1 %lld, q2 %lld keys",
              k1, k2);
    cr_assert_eq(ns_stat(C, "q1", "maxmemory"), q1);
    cr_assert_eq(ns_stat(C, "free", "maxmemory"), 0);
    cr_assert_eq(count_present(C, "free", 0, n, 1, 3, true), n);
    cr_assert_eq(ns_stat(C, "free", "evicted_keys"), 0);
    long long e1 = ns_stat(C, "q1", "evicted_keys"), e2 = ns_stat(C, "q2", "evicted_keys");
    cr_assert_eq(e1, n - k1);
    cr_assert_eq(e2, n - k2, "q2: %lld evicted, %lld written, %lld kept", e2, n, k2);
    cr_assert_eq(info_stat(C, "stats", "evicted_keys"), e1 + e2);
    /* The survivors hold their own values. */
    cr_assert_eq(count_present(C, "q2", 0, n, 1, 2, false), k2);

    /* A quota lowered at runtime: the cron drains q1 with no writes. */
    EXPECT_OK(C, "CONFIG SET namespace-maxmemory %s", "q1 512kb q2 1mb");
    long long u1 = 0;
    for (int i = 0; i < 500; i++) {
        u1 = ns_stat(C, "q1", "used_memory");
        if (u1 <= 512 * 1024)
            break;
        usleep(10000);
    }
    cr_assert(u1 <= 512 * 1024, "q1 still holds %lld bytes", u1);
    cr_assert_eq(ns_stat(C, "free", "keys"), n);

    /* noeviction: only the namespace over its quota refuses writes. */
    EXPECT_OK(C, "CONFIG SET maxmemory-policy noeviction");
    EXPECT_OK(C, "CONFIG SET namespace-maxmemory %s", "q1 1kb");
    EXPECT_ERR(C, OOM_ERR, "SET q1:1 x");
    EXPECT_OK(C, "SET q2:1 x");
    EXPECT_OK(C, "SET free:1 x");
    EXPECT_OK(C, "SET 1 x");
}
