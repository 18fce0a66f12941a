/*
 * test_table_expiry.c - unit tests of the table's expire times, active expiry
 * scan, LRU stamps and sampling (table.h, section "EXPIRY AND LRU" of
 * table.c). The clock is a file-static variable handed to the table through
 * table_options.clock_ms and moved by hand. Links only the table library and
 * Criterion.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "table_testlib.h"

TestSuite(texp, .fini = tt_cleanup);

/* Layout facts of table.c the byte figures below depend on. */
#define RECS_PER_CHUNK 2048u                  /* records per side-array block (store.h) */
#define EXP_ARRAY_BYTES (RECS_PER_CHUNK * 8u) /* 16 KiB: one int64_t per record */
#define LRU_ARRAY_BYTES (RECS_PER_CHUNK * 4u) /* 8 KiB: one uint32_t per record */
#define RECORD_1_BYTES 13u                    /* a record of a 0..4-byte value: 9 + 4 */

/* The injectable clock (ms) and the server-wide expired counter. */
static int64_t clock_ms;
static uint64_t expired_counter;

/* ---- helpers ---------------------------------------------------------------- */

/* A table on the test clock; every option the test does not name is off
 * except auto_shrink, which is `shrink`. */
static table *make(bool shrink, bool lru)
{
    expired_counter = 0;
    table_options o = {
        .auto_shrink = shrink,
        .clock_ms = &clock_ms,
        .track_lru = lru,
        .expired_counter = &expired_counter,
    };
    table *t = tt_create(&o);
    cr_assert_not_null(t);
    return t;
}

static void put(table *t, int64_t key, const char *v, int64_t at)
{
    cr_assert_eq(table_put(t, key, v, strlen(v), at, false, NULL), TABLE_OK);
}

static void expect_str(table *t, int64_t key, const char *v)
{
    const uint8_t *p;
    size_t len;
    cr_assert_eq(table_get(t, key, &p, &len), TABLE_OK, "key %" PRId64 " missing", key);
    cr_assert_eq(len, strlen(v));
    cr_assert(memcmp(p, v, len) == 0, "key %" PRId64 ": value", key);
}

static int64_t expire_of(table *t, int64_t key)
{
    int64_t at = -1;
    cr_assert_eq(table_get_expire(t, key, &at), TABLE_OK, "key %" PRId64 " missing", key);
    return at;
}

static uint64_t memory_formula(const table *t)
{
    table_stats st = stats(t);
    return st.index_bytes + st.record_bytes + st.meta_bytes;
}

/* Scan until the sweep wraps, max_checks at a time; returns keys reclaimed. */
static uint64_t sweep_to_end(table *t, uint64_t max_checks)
{
    uint64_t total = 0;
    bool wrapped = false;
    for (int guard = 0; !wrapped; guard++) {
        uint64_t gone = 0;
        uint64_t looks = table_expire_scan(t, max_checks, &gone, &wrapped);
        cr_assert_leq(looks, max_checks, "looked at %" PRIu64 " > %" PRIu64, looks, max_checks);
        cr_assert_leq(gone, looks);
        total += gone;
        if (guard % 16 == 0 || wrapped) /* tiny slices: check every 16th */
            table_check(t);
        cr_assert_lt(guard, 10000000, "the sweep never wrapped");
    }
    return total;
}

/* A whole sweep from wherever the cursor is: finish the current one, then
 * one from the first record to the last. */
static uint64_t full_sweep(table *t, uint64_t max_checks)
{
    uint64_t n = sweep_to_end(t, max_checks);
    return n + sweep_to_end(t, max_checks);
}

/* ---- expire times through put / set / expire ----------------------------------- */

Test(texp, put_with_expire_gone_at_the_time_and_reclaimed)
{
    clock_ms = 1000;
    table *t = make(true, false);
    put(t, 1, "one", 2000);
    put(t, 2, "two", 0);
    table_check(t);
    cr_assert_eq(stats(t).expires, 1);
    cr_assert_eq(stats(t).avg_expire_at, 2000);

    clock_ms = 1999;
    expect_str(t, 1, "one");
    cr_assert_eq(expire_of(t, 1), 2000);

    clock_ms = 2000; /* the expire time itself: gone */
    cr_assert_eq(table_count(t), 2, "nothing reclaimed before a touch");
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_NOT_FOUND);
    table_check(t);
    cr_assert_eq(table_count(t), 1, "reclaimed on the touch");
    table_stats st = stats(t);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.expires, 0);
    cr_assert_eq(st.avg_expire_at, 0);
    cr_assert_eq(st.meta_bytes, 0);
    cr_assert_eq(expired_counter, 1);
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_NOT_FOUND);
    cr_assert_eq(stats(t).expired, 1, "counted once");
    expect_str(t, 2, "two");

    /* Each kind of touch reclaims: get_expire, expire, del; all after. */
    put(t, 10, "a", 3000);
    put(t, 11, "b", 3000);
    put(t, 12, "c", 3000);
    clock_ms = 5000;
    int64_t at;
    cr_assert_eq(table_get_expire(t, 10, &at), TABLE_NOT_FOUND);
    cr_assert_eq(table_expire(t, 11, 9000), TABLE_NOT_FOUND);
    cr_assert_eq(table_del(t, 12), TABLE_NOT_FOUND);
    table_check(t);
    cr_assert_eq(table_count(t), 1);
    cr_assert_eq(stats(t).expired, 4);
    cr_assert_eq(expired_counter, 4);
    cr_assert_eq(table_memory(t), memory_formula(t));
    tt_destroy(t);
}

Test(texp, no_clock_means_nothing_expires)
{
    table *t = tt_create(&(table_options){.auto_shrink = true});
    cr_assert_eq(table_put(t, 1, "x", 1, 5, false, NULL), TABLE_OK);
    int64_t at;
    cr_assert_eq(table_get_expire(t, 1, &at), TABLE_OK);
    cr_assert_eq(at, 5, "the time is kept");
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    bool wrapped;
    uint64_t gone = 99;
    table_expire_scan(t, 100, &gone, &wrapped);
    cr_assert_eq(gone, 0);
    cr_assert_eq(table_count(t), 1);
    tt_destroy(t);
}

Test(texp, set_clears_ttl)
{
    clock_ms = 100;
    table *t = make(true, false);
    put(t, 7, "old", 500);
    bool rep = false;
    cr_assert_eq(table_set(t, 7, "new", 3, &rep), TABLE_OK);
    cr_assert(rep);
    cr_assert_eq(expire_of(t, 7), 0);
    cr_assert_eq(stats(t).expires, 0);
    cr_assert_eq(stats(t).meta_bytes, 0);
    clock_ms = 10000;
    expect_str(t, 7, "new");
    /* table_put with expire_at 0 and no keep_ttl also clears. */
    put(t, 7, "ttl", 20000);
    put(t, 7, "none", 0);
    cr_assert_eq(expire_of(t, 7), 0);
    table_check(t);
    tt_destroy(t);
}

Test(texp, keep_ttl_for_live_keys_only)
{
    clock_ms = 1000;
    table *t = make(true, false);
    bool rep;

    /* A new key: keep_ttl has nothing to keep, expire_at applies. */
    cr_assert_eq(table_put(t, 1, "a", 1, 0, true, &rep), TABLE_OK);
    cr_assert_not(rep);
    cr_assert_eq(expire_of(t, 1), 0);
    cr_assert_eq(table_put(t, 2, "b", 1, 8000, true, &rep), TABLE_OK);
    cr_assert_eq(expire_of(t, 2), 8000);

    /* A live key keeps its time whatever expire_at says. */
    put(t, 3, "c", 5000);
    cr_assert_eq(table_put(t, 3, "cc", 2, 0, true, &rep), TABLE_OK);
    cr_assert(rep);
    cr_assert_eq(expire_of(t, 3), 5000);
    expect_str(t, 3, "cc");
    cr_assert_eq(table_put(t, 3, "ccc", 3, 9999, true, &rep), TABLE_OK);
    cr_assert_eq(expire_of(t, 3), 5000);
    /* A live key without TTL keeps having none. */
    cr_assert_eq(table_put(t, 1, "aa", 2, 0, true, &rep), TABLE_OK);
    cr_assert_eq(expire_of(t, 1), 0);
    table_check(t);

    /* An expired key is written anew: it is not replaced, its old time goes. */
    clock_ms = 5000;
    uint64_t before = stats(t).expired;
    cr_assert_eq(table_put(t, 3, "new", 3, 0, true, &rep), TABLE_OK);
    cr_assert_not(rep, "the old key was already gone");
    cr_assert_eq(stats(t).expired, before + 1, "the dead key counts as expired");
    cr_assert_eq(expired_counter, before + 1);
    cr_assert_eq(expire_of(t, 3), 0);
    expect_str(t, 3, "new");
    /* And with a time given, the new time is used. */
    clock_ms = 8000;
    cr_assert_eq(table_put(t, 2, "bb", 2, 20000, true, &rep), TABLE_OK);
    cr_assert_not(rep);
    cr_assert_eq(expire_of(t, 2), 20000);
    cr_assert_eq(table_count(t), 3);
    cr_assert_eq(stats(t).expires, 1);
    table_check(t);
    tt_destroy(t);
}

Test(texp, expire_get_expire_and_clear)
{
    clock_ms = 50;
    table *t = make(true, false);
    int64_t at = 123;
    cr_assert_eq(table_expire(t, 1, 1000), TABLE_NOT_FOUND, "empty table");
    cr_assert_eq(table_get_expire(t, 1, &at), TABLE_NOT_FOUND);
    put(t, 1, "x", 0);
    cr_assert_eq(table_expire(t, 2, 1000), TABLE_NOT_FOUND, "missing key");
    cr_assert_eq(expire_of(t, 1), 0);
    cr_assert_eq(table_expire(t, 1, 1000), TABLE_OK);
    cr_assert_eq(expire_of(t, 1), 1000);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES);
    cr_assert_eq(table_expire(t, 1, 3000), TABLE_OK);
    cr_assert_eq(expire_of(t, 1), 3000);
    cr_assert_eq(stats(t).expires, 1, "changing a time does not count twice");
    cr_assert_eq(stats(t).avg_expire_at, 3000);
    table_check(t);
    cr_assert_eq(table_expire(t, 1, 0), TABLE_OK);
    cr_assert_eq(expire_of(t, 1), 0);
    cr_assert_eq(stats(t).expires, 0);
    cr_assert_eq(stats(t).meta_bytes, 0, "the last TTL of a chunk unmaps its array");
    cr_assert_eq(table_expire(t, 1, 0), TABLE_OK, "clearing no TTL is fine");
    table_check(t);

    /* A time in the past is the caller's business: the table takes it and
     * the key goes at its next touch. */
    cr_assert_eq(table_expire(t, 1, 10), TABLE_OK);
    cr_assert_eq(table_count(t), 1);
    cr_assert_eq(stats(t).expires, 1);
    cr_assert_eq(stats(t).expired, 0);
    table_check(t);
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_NOT_FOUND);
    cr_assert_eq(table_count(t), 0);
    cr_assert_eq(stats(t).expired, 1);
    cr_assert_eq(stats(t).meta_bytes, 0);
    table_check(t);
    tt_destroy(t);
}

Test(texp, avg_expire_at_is_the_mean)
{
    clock_ms = 1;
    table *t = make(true, false);
    put(t, 1, "a", 1000);
    put(t, 2, "b", 2000);
    put(t, 3, "c", 6000);
    put(t, 4, "d", 0);
    cr_assert_eq(stats(t).avg_expire_at, 3000);
    cr_assert_eq(table_del(t, 3), TABLE_OK);
    cr_assert_eq(stats(t).avg_expire_at, 1500);
    table_check(t);
    tt_destroy(t);
}

/* ---- side arrays -------------------------------------------------------------------- */

Test(texp, meta_bytes_one_exp_array_per_chunk_with_ttl)
{
    clock_ms = 1;
    table *t = make(true, false);
    /* No deletes: record numbers follow insertion order. */
    for (uint64_t i = 0; i < 3 * RECS_PER_CHUNK; i++)
        cr_assert_eq(table_set(t, key_of(i), &i, sizeof i, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 0, "no TTL, no side array");
    cr_assert_eq(table_memory(t), memory_formula(t));

    cr_assert_eq(table_expire(t, key_of(0), 1000), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES);
    cr_assert_eq(table_expire(t, key_of(RECS_PER_CHUNK - 1), 1000), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES, "same chunk, same array");
    cr_assert_eq(table_expire(t, key_of(RECS_PER_CHUNK), 1000), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 2 * EXP_ARRAY_BYTES);
    cr_assert_eq(table_expire(t, key_of(3 * RECS_PER_CHUNK - 1), 1000), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 3 * EXP_ARRAY_BYTES);
    cr_assert_eq(table_memory(t), memory_formula(t));
    table_check(t);

    /* Clearing drops each array with its chunk's last TTL. */
    cr_assert_eq(table_expire(t, key_of(0), 0), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 3 * EXP_ARRAY_BYTES);
    cr_assert_eq(table_expire(t, key_of(RECS_PER_CHUNK - 1), 0), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 2 * EXP_ARRAY_BYTES);
    cr_assert_eq(table_set(t, key_of(RECS_PER_CHUNK), "xxxxxxxx", 8, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES, "table_set clears it too");
    cr_assert_eq(table_del(t, key_of(3 * RECS_PER_CHUNK - 1)), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 0, "deleting the key drops it");
    cr_assert_eq(stats(t).expires, 0);
    table_check(t);

    /* A TTL on every key: one array per chunk, all gone when keys go. */
    uint64_t n = table_count(t);
    for (uint64_t i = 0; i < 3 * RECS_PER_CHUNK - 1; i++)
        cr_assert_eq(table_expire(t, key_of(i), 5000 + (int64_t)i), TABLE_OK);
    cr_assert_eq(stats(t).expires, n);
    cr_assert_eq(stats(t).meta_bytes, 3 * EXP_ARRAY_BYTES);
    for (uint64_t i = 0; i < 3 * RECS_PER_CHUNK - 1; i++) {
        cr_assert_eq(table_del(t, key_of(i)), TABLE_OK);
        if (i % 512 == 0)
            table_check(t);
    }
    table_check(t);
    cr_assert_eq(stats(t).meta_bytes, 0);
    cr_assert_eq(stats(t).expires, 0);
    cr_assert_eq(table_memory(t), memory_formula(t));
    tt_destroy(t);
}

Test(texp, ttl_moves_with_the_record_a_delete_moves)
{
    clock_ms = 1;
    table *t = make(true, false);
    /* Records 0..2048 (2049 keys): the last one, in chunk 1, has a TTL. */
    for (uint64_t i = 0; i <= RECS_PER_CHUNK; i++)
        cr_assert_eq(table_set(t, key_of(i), &i, sizeof i, NULL), TABLE_OK);
    cr_assert_eq(table_expire(t, key_of(RECS_PER_CHUNK), 777), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES);
    /* Deleting record 5 moves the last record (with its TTL) to chunk 0. */
    cr_assert_eq(table_del(t, key_of(5)), TABLE_OK);
    table_check(t);
    cr_assert_eq(expire_of(t, key_of(RECS_PER_CHUNK)), 777);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES, "chunk 1's array went, chunk 0's came");
    /* A key without TTL moving onto a slot that had one gets none. */
    cr_assert_eq(table_expire(t, key_of(7), 900), TABLE_OK);
    cr_assert_eq(table_del(t, key_of(7)), TABLE_OK);
    table_check(t);
    cr_assert_eq(expire_of(t, key_of(RECS_PER_CHUNK - 1)), 0);
    cr_assert_eq(expire_of(t, key_of(RECS_PER_CHUNK)), 777);
    clock_ms = 777;
    cr_assert_eq(table_get(t, key_of(RECS_PER_CHUNK), NULL, NULL), TABLE_NOT_FOUND);
    for (uint64_t i = 0; i < RECS_PER_CHUNK; i++)
        if (i != 5 && i != 7)
            cr_assert_eq(table_get(t, key_of(i), NULL, NULL), TABLE_OK, "%" PRIu64, i);
    cr_assert_eq(stats(t).meta_bytes, 0);
    table_check(t);
    tt_destroy(t);
}

/* ---- random sequences against a reference model -------------------------------- */

/* The model holds what the table physically holds: a key whose time has come
 * stays in the model (as in the table) until something reclaims it. */
typedef struct {
    uint64_t n;
    uint8_t *present;
    uint8_t *len;
    uint64_t *seed; /* value bytes are derived from it */
    int64_t *exp;   /* 0: no TTL */
    uint64_t count; /* present keys */
    uint64_t expired;
} xmodel;

static void xmodel_init(xmodel *m, uint64_t n)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->present = calloc(n, 1);
    m->len = calloc(n, 1);
    m->seed = calloc(n, sizeof *m->seed);
    m->exp = calloc(n, sizeof *m->exp);
    cr_assert(m->present && m->len && m->seed && m->exp);
}

static void xmodel_free(xmodel *m)
{
    free(m->present);
    free(m->len);
    free(m->seed);
    free(m->exp);
}

static void value_of(uint64_t seed, size_t len, uint8_t *v)
{
    for (size_t i = 0; i < len; i++)
        v[i] = (uint8_t)((seed >> ((i % 8) * 8)) + i * 31);
}

static bool xm_dead(const xmodel *m, uint64_t i)
{
    return m->present[i] && m->exp[i] != 0 && clock_ms >= m->exp[i];
}

static bool xm_live(const xmodel *m, uint64_t i)
{
    return m->present[i] && !xm_dead(m, i);
}

/* What a touch of key i does to the model: a dead key is reclaimed. */
static void xm_touch(xmodel *m, uint64_t i)
{
    if (xm_dead(m, i)) {
        m->present[i] = 0;
        m->exp[i] = 0;
        m->count--;
        m->expired++;
    }
}

/* While filling, no TTL is short enough to die within a few steps. */
static bool filling;

static int64_t random_expire(void)
{
    switch (rng_below(4)) {
    case 0:
        return 0;
    case 1:
        if (filling)
            return 0;
        return clock_ms + 1 + (int64_t)rng_below(50); /* soon */
    case 2:
        return clock_ms + 1 + (int64_t)rng_below(5000);
    default:
        return clock_ms + 100000 + (int64_t)rng_below(100000); /* outlives the test */
    }
}

static bool count_live(int64_t key, const uint8_t *val, size_t len, void *arg)
{
    (void)key;
    (void)val;
    (void)len;
    (*(uint64_t *)arg)++;
    return true;
}

/* table_foreach_record against the model: each live key once, with its
 * value and expire time. */
typedef struct {
    const xmodel *m;
    uint8_t *visited;
    uint64_t n;
} xm_walk;

static bool check_record(int64_t key, const uint8_t *val, size_t len, int64_t expire_at, void *arg)
{
    xm_walk *w = arg;
    /* key_of's multiplier is odd: its inverse mod 2^64 (Newton's iteration,
     * each step doubling the correct low bits) gives the index back. */
    uint64_t mul = 0x9e3779b97f4a7c15ull, inv = mul;
    for (int k = 0; k < 5; k++)
        inv *= 2 - mul * inv;
    uint64_t i = (uint64_t)key * inv;
    cr_assert_eq(key_of(i), key);
    cr_assert(i < w->m->n && xm_live(w->m, i), "walked key %" PRId64 " is not live", key);
    cr_assert_eq(w->visited[i], 0, "key %" PRId64 " walked twice", key);
    w->visited[i] = 1;
    w->n++;
    uint8_t want[TABLE_VALUE_MAX];
    value_of(w->m->seed[i], w->m->len[i], want);
    cr_assert(len == w->m->len[i] && memcmp(val, want, len) == 0, "key %" PRId64 " value", key);
    cr_assert_eq(expire_at, w->m->exp[i], "key %" PRId64 " expire time", key);
    return true;
}

static void xm_check_all(table *t, xmodel *m)
{
    uint64_t live = 0;
    for (uint64_t i = 0; i < m->n; i++)
        live += xm_live(m, i);
    uint64_t seen = 0;
    table_foreach(t, count_live, &seen);
    cr_assert_eq(seen, live, "foreach visits the live keys only");
    xm_walk w = {m, calloc(m->n, 1), 0};
    cr_assert_not_null(w.visited);
    table_foreach_record(t, check_record, &w);
    cr_assert_eq(w.n, live, "foreach_record visits the live keys only");
    free(w.visited);
    uint8_t want[TABLE_VALUE_MAX];
    for (uint64_t i = 0; i < m->n; i++) {
        const uint8_t *p;
        size_t len;
        bool was_live = xm_live(m, i);
        xm_touch(m, i);
        table_status st = table_get(t, key_of(i), &p, &len);
        cr_assert_eq(st, was_live ? TABLE_OK : TABLE_NOT_FOUND, "key %" PRIu64, i);
        if (was_live) {
            value_of(m->seed[i], m->len[i], want);
            cr_assert_eq(len, m->len[i]);
            cr_assert(memcmp(p, want, len) == 0, "value of %" PRIu64, i);
            int64_t at;
            cr_assert_eq(table_get_expire(t, key_of(i), &at), TABLE_OK);
            cr_assert_eq(at, m->exp[i], "expire time of %" PRIu64, i);
        }
    }
    table_check(t);
    cr_assert_eq(table_count(t), m->count);
    cr_assert_eq(stats(t).expired, m->expired);
}

/* Random puts, sets, deletes, expires and scans, with the clock moving, in
 * phases that grow the table, churn it and drain it (auto shrink on). */
static void random_ops(uint64_t seed, uint64_t nkeys, uint64_t steps, uint64_t want_max)
{
    rng_seed(seed);
    clock_ms = 1000000;
    table *t = make(true, false);
    xmodel m;
    xmodel_init(&m, nkeys);
    uint8_t v[TABLE_VALUE_MAX];
    uint64_t grows_seen = 0, max_count = 0;
    for (uint64_t s = 0; s < steps; s++) {
        /* Phase by thirds: mostly writes, mixed, mostly deletes. */
        unsigned phase = (unsigned)(s * 3 / steps);
        unsigned write_pct = phase == 0 ? 90 : phase == 1 ? 45 : 3;
        unsigned del_pct = phase == 0 ? 2 : phase == 1 ? 25 : 70;
        filling = phase == 0;
        /* Filling visits the keys in order (so the table gets big within
         * few steps), then at random. */
        uint64_t i = filling && s < nkeys ? s : rng_below(nkeys);
        int64_t k = key_of(i);
        unsigned op = (unsigned)rng_below(100);
        if (op < write_pct) {
            size_t len = (size_t)rng_below(TABLE_VALUE_MAX + 1);
            uint64_t vs = rng();
            value_of(vs, len, v);
            int64_t at = random_expire();
            bool keep = rng_below(4) == 0;
            bool live = xm_live(&m, i);
            bool rep = !live;
            cr_assert_eq(table_put(t, k, v, len, at, keep, &rep), TABLE_OK);
            cr_assert_eq(rep, live);
            if (m.present[i] && !live)
                m.expired++; /* rewritten in place, counted as expired */
            if (!m.present[i])
                m.count++;
            m.present[i] = 1;
            m.len[i] = (uint8_t)len;
            m.seed[i] = vs;
            if (!(keep && live))
                m.exp[i] = at;
        } else if (op < write_pct + del_pct) {
            bool live = xm_live(&m, i);
            xm_touch(&m, i);
            cr_assert_eq(table_del(t, k), live ? TABLE_OK : TABLE_NOT_FOUND);
            if (live) {
                m.present[i] = 0;
                m.exp[i] = 0;
                m.count--;
            }
        } else if (op < write_pct + del_pct + 10) {
            int64_t at = rng_below(3) == 0 ? 0 : random_expire();
            bool live = xm_live(&m, i);
            xm_touch(&m, i);
            cr_assert_eq(table_expire(t, k, at), live ? TABLE_OK : TABLE_NOT_FOUND);
            if (live)
                m.exp[i] = at;
        } else if (op < write_pct + del_pct + 12) {
            /* A full active expiry sweep in random slices. */
            uint64_t dead = 0;
            for (uint64_t j = 0; j < nkeys; j++)
                dead += xm_dead(&m, j);
            uint64_t gone = full_sweep(t, 1 + rng_below(700));
            cr_assert_eq(gone, dead, "one full sweep reclaims every expired key");
            for (uint64_t j = 0; j < nkeys; j++)
                xm_touch(&m, j);
        } else if (op < write_pct + del_pct + 20) {
            /* A slice of a sweep: reconcile the model at the next full one. */
            uint64_t gone;
            bool wrapped;
            uint64_t before = table_count(t);
            table_expire_scan(t, 1 + rng_below(300), &gone, &wrapped);
            cr_assert_eq(table_count(t), before - gone);
            if (gone > 0) {
                /* Which ones went is the table's choice: finish the
                 * reconciliation by touching every dead key. */
                for (uint64_t j = 0; j < nkeys; j++) {
                    if (xm_dead(&m, j)) {
                        xm_touch(&m, j);
                        cr_assert_eq(table_get(t, key_of(j), NULL, NULL), TABLE_NOT_FOUND);
                    }
                }
                cr_assert_eq(table_count(t), m.count);
                /* The counter: each dead key counted exactly once, by the
                 * scan or by the touch. */
                cr_assert_eq(stats(t).expired, m.expired);
            }
        } else {
            bool live = xm_live(&m, i);
            xm_touch(&m, i);
            int64_t at;
            table_status st = table_get_expire(t, k, &at);
            cr_assert_eq(st, live ? TABLE_OK : TABLE_NOT_FOUND);
            if (live)
                cr_assert_eq(at, m.exp[i], "expire of %" PRIu64, i);
        }
        table_check(t);
        cr_assert_eq(table_count(t), m.count, "step %" PRIu64, s);
        cr_assert_eq(stats(t).expired, m.expired, "step %" PRIu64, s);
        cr_assert_eq(expired_counter, m.expired);
        cr_assert_eq(table_memory(t), memory_formula(t));
        clock_ms += (int64_t)rng_below(filling ? 2 : 4);
        if (s % 997 == 0)
            xm_check_all(t, &m);
        grows_seen = stats(t).grows;
        if (table_count(t) > max_count)
            max_count = table_count(t);
    }
    xm_check_all(t, &m);
    table_stats st = stats(t);
    cr_assert_gt(grows_seen, 0, "the sequence grew the table");
    cr_assert_geq(max_count, want_max, "peak %" PRIu64 " keys", max_count);
    cr_assert_gt(st.shrinks_auto, 0, "the drain shrank it");
    cr_assert_gt(st.expired, 0);
    /* Let everything with a TTL run out: the sweep takes it all. */
    clock_ms += 1000000;
    uint64_t with_ttl = 0;
    for (uint64_t j = 0; j < nkeys; j++)
        with_ttl += m.present[j] && m.exp[j] != 0;
    cr_assert_eq(full_sweep(t, 64), with_ttl);
    cr_assert_eq(stats(t).expires, 0);
    cr_assert_eq(stats(t).meta_bytes, 0);
    table_check(t);
    tt_destroy(t);
    xmodel_free(&m);
}

Test(texp, random_against_model_small)
{
    /* Up to ~750 keys: grows past 416 keys, shrinks in the drain. */
    random_ops(11, 1000, 12000, 500);
}

Test(texp, random_against_model_multi_chunk)
{
    /* Past 2048 keys: records in two chunks, TTLs moving across them. */
    random_ops(12345, 3000, 12000, RECS_PER_CHUNK + 200);
}

/* ---- active expiry scan ----------------------------------------------------------- */

Test(texp, scan_reclaims_every_expired_key_in_one_sweep)
{
    clock_ms = 10;
    table *t = make(true, false);
    const uint64_t n = 5000;
    uint64_t want = 0;
    for (uint64_t i = 0; i < n; i++) {
        int64_t at = i % 3 == 0 ? 100 : i % 3 == 1 ? 0 : 200;
        want += at == 100;
        cr_assert_eq(table_put(t, key_of(i), &i, sizeof i, at, false, NULL), TABLE_OK);
    }
    /* Nothing due yet: a sweep reclaims nothing but looks at every record. */
    uint64_t gone = 1, looks = 0;
    bool wrapped = false;
    looks = table_expire_scan(t, 1000000, &gone, &wrapped);
    cr_assert(wrapped);
    cr_assert_eq(gone, 0);
    cr_assert_eq(looks, n, "chunks with TTLs are looked at record by record");

    clock_ms = 100;
    cr_assert_eq(sweep_to_end(t, 97), want);
    cr_assert_eq(table_count(t), n - want);
    cr_assert_eq(stats(t).expired, want);
    cr_assert_eq(expired_counter, want);
    cr_assert_eq(sweep_to_end(t, 97), 0, "nothing left to reclaim");
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(table_get(t, key_of(i), NULL, NULL), i % 3 == 0 ? TABLE_NOT_FOUND : TABLE_OK);

    clock_ms = 200;
    uint64_t left = 0;
    for (uint64_t i = 0; i < n; i++)
        left += i % 3 == 2;
    cr_assert_eq(sweep_to_end(t, 1), left, "one look at a time works too");
    cr_assert_eq(stats(t).meta_bytes, 0);
    table_check(t);
    tt_destroy(t);
}

Test(texp, scan_respects_max_checks)
{
    clock_ms = 1;
    table *t = make(true, false);
    for (uint64_t i = 0; i < 1000; i++)
        cr_assert_eq(table_put(t, key_of(i), "v", 1, 1000 + (int64_t)i, false, NULL), TABLE_OK);
    uint64_t gone;
    bool wrapped;
    /* Nothing expired: every look advances the cursor by one record. */
    for (int k = 0; k < 9; k++) {
        cr_assert_eq(table_expire_scan(t, 100, &gone, &wrapped), 100);
        cr_assert_not(wrapped);
        cr_assert_eq(gone, 0);
    }
    cr_assert_eq(table_expire_scan(t, 100, &gone, &wrapped), 100);
    cr_assert_not(wrapped, "exactly at the end: the wrap is seen at the next look");
    cr_assert_eq(table_expire_scan(t, 100, &gone, &wrapped), 0);
    cr_assert(wrapped);
    cr_assert_eq(table_expire_scan(t, 0, &gone, &wrapped), 0, "zero looks allowed");
    cr_assert_eq(gone, 0);

    /* Half expired: removals count as looks, and stay within the budget. */
    clock_ms = 1500;
    uint64_t total = 0;
    while (true) {
        uint64_t looks = table_expire_scan(t, 37, &gone, &wrapped);
        cr_assert_leq(looks, 37);
        cr_assert_leq(gone, looks);
        total += gone;
        if (wrapped)
            break;
        cr_assert_eq(looks, 37, "a slice that did not wrap used its whole budget");
    }
    cr_assert_eq(total, 501, "expire times 1000..1500 inclusive");
    table_check(t);
    tt_destroy(t);
}

Test(texp, scan_skips_chunks_without_ttls)
{
    clock_ms = 1;
    table *t = make(true, false);
    const uint64_t n = 3 * RECS_PER_CHUNK - 100; /* the last chunk is partial */
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(table_set(t, key_of(i), "v", 1, NULL), TABLE_OK);
    uint64_t gone;
    bool wrapped;
    cr_assert_eq(table_expire_scan(t, 100000, &gone, &wrapped), 3, "one look per chunk");
    cr_assert(wrapped);

    /* A TTL in the middle chunk only: that chunk is looked at record by record. */
    cr_assert_eq(table_expire(t, key_of(RECS_PER_CHUNK + 10), 50), TABLE_OK);
    cr_assert_eq(table_expire_scan(t, 100000, &gone, &wrapped), 1 + RECS_PER_CHUNK + 1);
    cr_assert(wrapped);
    cr_assert_eq(gone, 0);
    clock_ms = 50;
    /* Chunk 0: one look. Chunk 1: records 2048..2058, the last of them
     * expired and removed (the record moved into its place has no TTL, so
     * the chunk has none left and the rest of it is one look). Chunk 2: one. */
    cr_assert_eq(table_expire_scan(t, 100000, &gone, &wrapped), 1 + 11 + 1 + 1);
    cr_assert_eq(gone, 1);
    cr_assert_eq(stats(t).meta_bytes, 0);
    cr_assert_eq(table_count(t), n - 1);
    table_check(t);
    tt_destroy(t);
}

Test(texp, scan_cursor_survives_deletes_and_inserts_between_slices)
{
    rng_seed(99);
    clock_ms = 1000;
    table *t = make(true, false);
    uint64_t next = 0;
    for (; next < 6000; next++)
        cr_assert_eq(
            table_put(t, key_of(next), "v", 1, 1000 + (int64_t)rng_below(3000), false, NULL),
            TABLE_OK);
    /* Slices, with the table changing under the cursor between them. */
    for (int round = 0; round < 400; round++) {
        uint64_t gone;
        bool wrapped;
        table_expire_scan(t, 1 + rng_below(200), &gone, &wrapped);
        table_check(t);
        for (int k = 0; k < 20; k++) {
            uint64_t i = rng_below(next);
            if (rng_below(2) == 0)
                (void)table_del(t, key_of(i));
            else
                cr_assert_eq(table_put(t, key_of(next++), "w", 1,
                                       rng_below(2) ? 0 : clock_ms + (int64_t)rng_below(3000),
                                       false, NULL),
                             TABLE_OK);
        }
        table_check(t);
        clock_ms += 10;
    }
    /* Quiet now: a full sweep leaves no expired key behind. */
    full_sweep(t, 50);
    uint64_t live = 0;
    table_foreach(t, count_live, &live);
    cr_assert_eq(table_count(t), live, "no expired key survived a full sweep");
    cr_assert_gt(stats(t).expired, 0);
    table_check(t);
    tt_destroy(t);
}

/* A drain done by active expiry alone (no client deletes): the automatic
 * shrink that starts on the way down must not leave the index at its first
 * target once the last key is gone. table_step (the server's cron) is all
 * that runs after the sweep. */
Test(texp, drain_by_expiry_scan_shrinks_the_index_to_the_minimum)
{
    clock_ms = 1000;
    table *t = make(true, false);
    for (uint64_t i = 0; i < 20000; i++)
        cr_assert_eq(table_put(t, key_of(i), "v", 1, 2000, false, NULL), TABLE_OK);
    while (table_step(t, 1024)) {
    }
    table_stats full = stats(t);
    clock_ms = 2000;
    cr_assert_eq(full_sweep(t, 512), 20000);
    for (int i = 0; i < 100000 && table_step(t, 256); i++) {
    }
    table_check(t);
    table_stats st = stats(t);
    tt_destroy(t); /* before any assert, so a failure leaks nothing */
    cr_assert_eq(st.count, 0);
    cr_assert_eq(st.meta_bytes, 0);
    cr_assert_eq(st.payload_bytes, 0, "an emptied size class keeps no page");
    /* 64 buckets (one page) and at most a page of overflow pool. */
    cr_assert_leq(st.index_bytes, 2 * 4096u,
                  "empty table still maps %" PRIu64 " index bytes (%" PRIu64 " buckets; %" PRIu64
                  " at the peak, %" PRIu64 " auto shrinks)",
                  st.index_bytes, st.buckets, full.buckets, st.shrinks_auto);
}

/* ---- foreach ----------------------------------------------------------------------- */

typedef struct {
    uint64_t n;
    bool saw_dead;
} visit;

static bool visit_fn(int64_t key, const uint8_t *val, size_t len, void *arg)
{
    visit *v = arg;
    v->n++;
    if (len == 4 && memcmp(val, "dead", 4) == 0)
        v->saw_dead = true;
    (void)key;
    return true;
}

Test(texp, foreach_skips_expired_keys)
{
    clock_ms = 10;
    table *t = make(true, false);
    for (int64_t i = 0; i < 100; i++)
        put(t, i, i % 2 ? "dead" : "live", i % 2 ? 20 : (i % 4 ? 0 : 30));
    visit v = {0};
    table_foreach(t, visit_fn, &v);
    cr_assert_eq(v.n, 100);
    clock_ms = 20;
    v = (visit){0};
    table_foreach(t, visit_fn, &v);
    cr_assert_eq(v.n, 50);
    cr_assert_not(v.saw_dead);
    cr_assert_eq(table_count(t), 100, "foreach reclaims nothing (the table is const)");
    clock_ms = 30;
    v = (visit){0};
    table_foreach(t, visit_fn, &v);
    cr_assert_eq(v.n, 25);
    tt_destroy(t);
}

/* ---- LRU stamps and sampling ---------------------------------------------------------- */

/* Record r, sampled without TTL filter (rnd % count picks the record). */
static table_sample_t sample_rec(table *t, uint64_t r)
{
    table_sample_t s;
    cr_assert(table_sample(t, r, false, &s));
    return s;
}

Test(texp, lru_stamps_follow_the_clock)
{
    clock_ms = 100000;
    table *t = make(true, true);
    cr_assert_eq(stats(t).meta_bytes, 0);
    put(t, 1, "a", 0); /* record 0 */
    put(t, 2, "b", 0); /* record 1 */
    cr_assert_eq(stats(t).meta_bytes, LRU_ARRAY_BYTES);
    cr_assert_eq(sample_rec(t, 0).key, 1);
    cr_assert_eq(sample_rec(t, 0).lru, 100000 / TABLE_LRU_UNIT_MS);

    clock_ms += 5 * TABLE_LRU_UNIT_MS;
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(sample_rec(t, 0).lru, 100000 / TABLE_LRU_UNIT_MS + 5, "a get stamps");
    cr_assert_eq(sample_rec(t, 1).lru, 100000 / TABLE_LRU_UNIT_MS, "others untouched");

    clock_ms += 3 * TABLE_LRU_UNIT_MS;
    put(t, 2, "bb", 0);
    cr_assert_eq(sample_rec(t, 1).key, 2);
    cr_assert_eq(sample_rec(t, 1).lru, 100000 / TABLE_LRU_UNIT_MS + 8, "a set stamps");
    cr_assert_eq(sample_rec(t, 0).lru, 100000 / TABLE_LRU_UNIT_MS + 5);

    clock_ms += TABLE_LRU_UNIT_MS;
    cr_assert_eq(table_get(t, 2, NULL, NULL), TABLE_OK);
    cr_assert_eq(sample_rec(t, 1).lru, 100000 / TABLE_LRU_UNIT_MS + 9);

    /* A delete moves the last record and its stamp. */
    put(t, 3, "c", 0); /* record 2, stamp +9 */
    clock_ms += 10 * TABLE_LRU_UNIT_MS;
    cr_assert_eq(table_get(t, 3, NULL, NULL), TABLE_OK); /* stamp +19 */
    cr_assert_eq(table_del(t, 1), TABLE_OK);
    table_check(t);
    table_sample_t s = sample_rec(t, 0);
    cr_assert_eq(s.key, 3);
    cr_assert_eq(s.lru, 100000 / TABLE_LRU_UNIT_MS + 19, "the stamp moved with the record");
    cr_assert_eq(s.expire_at, 0);
    cr_assert_eq(table_memory(t), memory_formula(t));
    tt_destroy(t);
}

Test(texp, lru_arrays_only_when_tracking)
{
    clock_ms = 1000000;
    table *t = make(true, false);
    for (uint64_t i = 0; i < RECS_PER_CHUNK + 5; i++)
        cr_assert_eq(table_set(t, key_of(i), "v", 1, NULL), TABLE_OK);
    cr_assert_eq(table_get(t, key_of(0), NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 0, "no stamps when not tracking");
    cr_assert_eq(sample_rec(t, 0).lru, 0);

    table_options o = {.auto_shrink = true,
                       .clock_ms = &clock_ms,
                       .track_lru = true,
                       .expired_counter = &expired_counter};
    table_set_options(t, &o);
    cr_assert_eq(stats(t).meta_bytes, 0, "mapped on first access, not at once");
    cr_assert_eq(table_get(t, key_of(0), NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, LRU_ARRAY_BYTES);
    cr_assert_eq(sample_rec(t, 0).lru, 1000000 / TABLE_LRU_UNIT_MS);
    cr_assert_eq(sample_rec(t, 1).lru, 0, "never accessed since tracking began");
    cr_assert_eq(table_get(t, key_of(RECS_PER_CHUNK), NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 2 * LRU_ARRAY_BYTES);
    cr_assert_eq(table_expire(t, key_of(3), 5000000), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 2 * LRU_ARRAY_BYTES + EXP_ARRAY_BYTES);
    cr_assert_eq(table_memory(t), memory_formula(t));
    table_check(t);

    o.track_lru = false;
    table_set_options(t, &o);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES, "turning it off unmaps the stamps");
    cr_assert_eq(sample_rec(t, 0).lru, 0);
    cr_assert_eq(table_get(t, key_of(0), NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, EXP_ARRAY_BYTES);
    cr_assert_eq(expire_of(t, key_of(3)), 5000000, "expire times survive");
    table_check(t);

    /* Clearing the table unmaps every side array. */
    table_set_options(
        t, &(table_options){.auto_shrink = true, .clock_ms = &clock_ms, .track_lru = true});
    cr_assert_eq(table_get(t, key_of(1), NULL, NULL), TABLE_OK);
    table_clear(t);
    cr_assert_eq(stats(t).meta_bytes, 0);
    cr_assert_eq(table_memory(t), 0);
    table_check(t);
    tt_destroy(t);
}

Test(texp, lru_side_arrays_released_by_drain)
{
    clock_ms = 1000;
    table *t = make(true, true);
    for (uint64_t i = 0; i < 3 * RECS_PER_CHUNK; i++)
        cr_assert_eq(table_put(t, key_of(i), "v", 1, i % 2 ? 50000 : 0, false, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 3 * (LRU_ARRAY_BYTES + EXP_ARRAY_BYTES));
    for (uint64_t i = 0; i < 3 * RECS_PER_CHUNK; i++)
        cr_assert_eq(table_del(t, key_of(i)), TABLE_OK);
    table_check(t);
    table_stats st = stats(t);
    cr_assert_eq(st.expires, 0);
    /* At most the one spare chunk auto shrink keeps may keep its stamps. */
    cr_assert_leq(st.meta_bytes, LRU_ARRAY_BYTES, "meta_bytes %" PRIu64, st.meta_bytes);
    cr_assert_eq(table_memory(t), memory_formula(t));
    table_shrink(t);
    while (table_step(t, 64)) {
    }
    cr_assert_eq(stats(t).meta_bytes, 0);
    table_check(t);
    tt_destroy(t);
}

Test(texp, sample_with_ttl_only_returns_keys_with_one)
{
    clock_ms = 1;
    table *t = make(true, false);
    table_sample_t s;
    cr_assert_not(table_sample(t, 12345, false, &s), "empty table");
    cr_assert_not(table_sample(t, 12345, true, &s));
    const uint64_t n = 5000;
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(table_set(t, key_of(i), "v", 1, NULL), TABLE_OK);
    cr_assert_not(table_sample(t, 12345, true, &s), "no key has a TTL");
    cr_assert(table_sample(t, 12345, false, &s));

    /* A few keys with TTLs, in different chunks, some at chunk edges. */
    const uint64_t with[] = {0, 17, 2047, 2048, 3000, 4096, 4999};
    const size_t nw = sizeof with / sizeof with[0];
    for (size_t j = 0; j < nw; j++)
        cr_assert_eq(table_expire(t, key_of(with[j]), 1000 + (int64_t)j), TABLE_OK);
    bool seen[sizeof with / sizeof with[0]] = {false};
    rng_seed(7);
    for (int d = 0; d < 20000; d++) {
        cr_assert(table_sample(t, rng(), true, &s));
        cr_assert_neq(s.expire_at, 0);
        size_t j = 0;
        while (j < nw && key_of(with[j]) != s.key)
            j++;
        cr_assert_lt(j, nw, "sampled key %" PRId64 " has no TTL", s.key);
        cr_assert_eq(s.expire_at, 1000 + (int64_t)j);
        seen[j] = true;
    }
    for (size_t j = 0; j < nw; j++)
        cr_assert(seen[j], "key %zu with a TTL never sampled", j);

    /* Once all are cleared: false again. */
    for (size_t j = 0; j < nw; j++)
        cr_assert_eq(table_expire(t, key_of(with[j]), 0), TABLE_OK);
    cr_assert_not(table_sample(t, 999, true, &s));
    tt_destroy(t);
}

Test(texp, sample_reaches_every_key)
{
    clock_ms = 1;
    table *t = make(true, false);
    const uint64_t n = 2500; /* two chunks */
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(table_put(t, (int64_t)i, "v", 1, i % 5 == 0 ? 99999 : 0, false, NULL),
                     TABLE_OK);
    uint32_t *hits = calloc(n, sizeof *hits);
    uint32_t *hits_ttl = calloc(n, sizeof *hits_ttl);
    cr_assert(hits != NULL && hits_ttl != NULL);
    rng_seed(3);
    for (int d = 0; d < 100000; d++) {
        table_sample_t s;
        cr_assert(table_sample(t, rng(), false, &s));
        cr_assert(s.key >= 0 && (uint64_t)s.key < n);
        hits[s.key]++;
        cr_assert(table_sample(t, rng(), true, &s));
        cr_assert(s.key >= 0 && (uint64_t)s.key < n && s.key % 5 == 0);
        hits_ttl[s.key]++;
    }
    for (uint64_t i = 0; i < n; i++) {
        /* Uniform over records: 40 expected per key; never starved. */
        cr_assert_gt(hits[i], 5, "key %" PRIu64 " sampled %u times", i, hits[i]);
        cr_assert_lt(hits[i], 120, "key %" PRIu64 " sampled %u times", i, hits[i]);
        if (i % 5 == 0)
            cr_assert_gt(hits_ttl[i], 20, "TTL key %" PRIu64 " sampled %u times", i, hits_ttl[i]);
    }
    free(hits);
    free(hits_ttl);
    tt_destroy(t);
}

Test(texp, memory_is_index_plus_records_plus_side_arrays)
{
    clock_ms = 1;
    table *t = make(false, true);
    cr_assert_eq(table_memory(t), 0);
    for (uint64_t i = 0; i < 3000; i++) {
        cr_assert_eq(table_put(t, key_of(i), "v", 1, i % 7 ? 0 : 5000, false, NULL), TABLE_OK);
        if (i % 250 == 0)
            cr_assert_eq(table_memory(t), memory_formula(t));
    }
    table_stats st = stats(t);
    cr_assert_eq(table_memory(t), st.index_bytes + 3000 * RECORD_1_BYTES + st.meta_bytes);
    cr_assert_eq(st.meta_bytes, 2 * (EXP_ARRAY_BYTES + LRU_ARRAY_BYTES));
    /* Per record, not per chunk: one delete is seen at once. */
    uint64_t before = table_memory(t);
    cr_assert_eq(table_del(t, key_of(1)), TABLE_OK);
    cr_assert_eq(table_memory(t), before - RECORD_1_BYTES);
    cr_assert_eq(stats(t).payload_bytes, st.payload_bytes, "pages stay (auto_shrink off)");
    tt_destroy(t);
}

/* The expiry cursor stays within its class's records: after a look that
 * skips a block past the last record, and after a value changes class
 * (its old class shrinks under the cursor). table_check asserts it. */
Test(texp, cursor_stays_within_the_records)
{
    clock_ms = 1000;
    table *t = make(true, false);
    char v[128];
    memset(v, 'x', sizeof v);
    for (int64_t k = 0; k < 100; k++)
        cr_assert_eq(table_set(t, k, v, 8, NULL), TABLE_OK);
    uint64_t gone;
    bool wrapped;
    cr_assert_eq(table_expire_scan(t, 1, &gone, &wrapped), 1, "one look skips the block");
    table_check(t);
    tt_destroy(t);

    t = make(true, false);
    for (int64_t k = 0; k < 3; k++)
        cr_assert_eq(table_put(t, k, v, 8, 1000000, false, NULL), TABLE_OK);
    cr_assert_eq(table_expire_scan(t, 3, &gone, &wrapped), 3);
    table_check(t);
    cr_assert_eq(table_set(t, 0, v, 100, NULL), TABLE_OK); /* class 1 -> class 13 */
    table_check(t);
    cr_assert_eq(table_set(t, 1, v, 0, NULL), TABLE_OK); /* and -> class 0 */
    table_check(t);
    cr_assert_eq(table_count(t), 3);
    tt_destroy(t);
}
