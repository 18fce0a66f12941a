/*
 * test_table_lfu.c - unit tests of LFU stamps (table.h: TABLE_LFU_*,
 * table_lfu_decayed, table_lfu_incr, track_lfu): the counter's arithmetic
 * against Redis 7.0's figures, decay by minutes, what an access and a write
 * do to a key's stamp, and side arrays mapped only while stamps are kept.
 * The clock is a file-static variable moved by hand. Links only the table
 * library and Criterion.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <string.h>

#include "table.h"
#include "table_testlib.h"

TestSuite(tlfu, .fini = tt_cleanup);

#define LRU_ARRAY_BYTES (2048u * 4u) /* one stamp array: 2048 records x 4 bytes */
/* A whole minute (2023-11-14 22:13:00 UTC), so minute arithmetic is exact. */
#define M0 1699999980000LL

static int64_t clock_ms;

static table *make_lfu(unsigned factor, unsigned decay)
{
    clock_ms = M0;
    table_options o = {.auto_shrink = true,
                       .clock_ms = &clock_ms,
                       .track_lfu = true,
                       .lfu_log_factor = factor,
                       .lfu_decay_time = decay};
    table *t = tt_create(&o);
    cr_assert_not_null(t);
    return t;
}

static void put(table *t, int64_t key, const char *v)
{
    cr_assert_eq(table_set(t, key, v, strlen(v), NULL), TABLE_OK);
}

static uint32_t stamp_of(table *t, int64_t key)
{
    uint32_t st;
    cr_assert_eq(table_get_lru(t, key, &st), TABLE_OK);
    return st;
}

static unsigned counter_of(table *t, int64_t key)
{
    return stamp_of(t, key) & 255u;
}

/* Hits needed to take a counter from TABLE_LFU_INIT to `target`, with the
 * test's seeded generator. */
static uint64_t hits_to(unsigned factor, unsigned target)
{
    unsigned c = TABLE_LFU_INIT;
    uint64_t n = 0;
    while (c < target) {
        c = table_lfu_incr(c, factor, (uint32_t)(rng() >> 32));
        n++;
    }
    return n;
}

/* Redis's redis.conf gives the counter after 100, 1K, 100K, 1M and 10M hits
 * for several factors (measured with its rand()): factor 0 saturates at
 * once, factor 1 reaches 255 around 100K hits, factor 10 around 1M, and
 * factor 100 gets to 143 after 1M and 255 after 10M. The expected number of
 * hits to go from c to c+1 is (c - 5) * factor + 1, so the sum is known
 * exactly. One run's total has a standard deviation of about 7 % of it (a
 * sum of geometric waits): the mean of 16 seeded runs, about 1.8 %, must
 * land within 8 %. */
Test(tlfu, log_increment_matches_redis_table)
{
    rng_seed(42);
    cr_assert_eq(hits_to(0, 255), 250, "factor 0: every hit counts");
    for (unsigned factor = 1; factor <= 100; factor *= 10) {
        double expect = 0;
        for (unsigned c = TABLE_LFU_INIT; c < 255; c++)
            expect += (double)(c - TABLE_LFU_INIT) * factor + 1;
        double got = 0;
        for (int run = 0; run < 16; run++)
            got += (double)hits_to(factor, 255) / 16;
        cr_log_info("factor %u: 255 after %.0f hits (expected %.0f)", factor, got, expect);
        cr_assert(got > expect * 0.92 && got < expect * 1.08, "factor %u: %.0f hits, expected %.0f",
                  factor, got, expect);
    }
    /* Redis's table, factor 10: 255 at 1M hits; 10 at 100 hits, 18 at 1K. */
    double f10 = 0;
    for (unsigned c = TABLE_LFU_INIT; c < 255; c++)
        f10 += (double)(c - TABLE_LFU_INIT) * 10 + 1;
    cr_assert(f10 > 300000 && f10 < 1000000, "factor 10 saturates within 1M hits: %.0f", f10);
    rng_seed(7);
    unsigned c = TABLE_LFU_INIT;
    for (int i = 0; i < 1000; i++)
        c = table_lfu_incr(c, 10, (uint32_t)(rng() >> 32));
    cr_assert(c >= 15 && c <= 21, "factor 10, 1K hits: %u (Redis: 18)", c);
    /* factor 100 after 1M hits: Redis's table says 143 (one run; the
     * expectation is about 146, one run's deviation about 5): the mean of 8
     * runs. */
    rng_seed(9);
    double mean = 0;
    for (int run = 0; run < 8; run++) {
        c = TABLE_LFU_INIT;
        for (int i = 0; i < 1000000; i++)
            c = table_lfu_incr(c, 100, (uint32_t)(rng() >> 32));
        mean += c / 8.0;
    }
    cr_assert(mean >= 139 && mean <= 153, "factor 100, 1M hits: %.1f (Redis: 143)", mean);
}

Test(tlfu, increment_edges)
{
    cr_assert_eq(table_lfu_incr(255, 0, 0), 255, "saturates");
    cr_assert_eq(table_lfu_incr(254, 0, UINT32_MAX), 255);
    /* At or below the initial value the probability is 1. */
    for (unsigned c = 0; c <= TABLE_LFU_INIT; c++)
        cr_assert_eq(table_lfu_incr(c, 10, UINT32_MAX), c + 1);
    /* Above it, 1 / ((c - 5) * f + 1): c = 6, f = 1 is one half. */
    cr_assert_eq(table_lfu_incr(6, 1, 0x7fffffffu), 7);
    cr_assert_eq(table_lfu_incr(6, 1, 0x80000000u), 6);
    /* A huge factor: only rnd = 0 still passes. */
    cr_assert_eq(table_lfu_incr(200, 2147483647u, 0), 201);
    cr_assert_eq(table_lfu_incr(200, 2147483647u, 1), 200);
}

Test(tlfu, decay_by_minutes)
{
    uint32_t st = table_lfu_stamp(1000, 20);
    cr_assert_eq(table_lfu_decayed(st, 1000, 1), 20, "no time, no decay");
    cr_assert_eq(table_lfu_decayed(st, 1003, 1), 17, "one step a minute");
    cr_assert_eq(table_lfu_decayed(st, 1007, 2), 17, "one step per 2 minutes: 3 steps");
    cr_assert_eq(table_lfu_decayed(st, 1020, 1), 0);
    cr_assert_eq(table_lfu_decayed(st, 1999, 1), 0, "never below 0");
    cr_assert_eq(table_lfu_decayed(st, 50000, 0), 20, "decay time 0: never decays");
    /* The minutes wrap at 65536; Redis counts 65535 - then + now. */
    st = table_lfu_stamp(65530, 30);
    cr_assert_eq(table_lfu_decayed(st, 2, 1), 30 - (65535 - 65530 + 2));
    cr_assert_eq(table_lfu_minutes(M0 + 59999) - table_lfu_minutes(M0), 0);
    cr_assert_eq(table_lfu_minutes(M0 + 60000) - table_lfu_minutes(M0), 1);
}

Test(tlfu, new_key_starts_at_init_and_accesses_count)
{
    table *t = make_lfu(0, 1); /* factor 0: every access increments */
    uint32_t m0 = table_lfu_minutes(M0);
    put(t, 1, "a");
    cr_assert_eq(stamp_of(t, 1), table_lfu_stamp(m0, TABLE_LFU_INIT));
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(counter_of(t, 1), TABLE_LFU_INIT + 1, "a get increments");
    cr_assert_eq(table_peek(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(counter_of(t, 1), TABLE_LFU_INIT + 1, "a peek does not");
    put(t, 1, "b");
    cr_assert_eq(counter_of(t, 1), TABLE_LFU_INIT + 2, "an overwrite is an access, kept");
    put(t, 1, "a value of another size class, 40 bytes long");
    cr_assert_eq(counter_of(t, 1), TABLE_LFU_INIT + 3, "kept across a class change");
    for (int i = 0; i < 10; i++)
        cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(counter_of(t, 1), TABLE_LFU_INIT + 13);
    /* Idle 5 minutes: the next access decays 5, then adds 1, and stamps the
     * new minute. */
    clock_ms += 5 * 60000;
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(stamp_of(t, 1), table_lfu_stamp(m0 + 5, TABLE_LFU_INIT + 9));
    /* A key written over its expired self starts anew. */
    cr_assert_eq(table_put(t, 1, "x", 1, clock_ms + 1000, false, NULL), TABLE_OK);
    clock_ms += 2000;
    put(t, 1, "y");
    cr_assert_eq(stamp_of(t, 1), table_lfu_stamp(m0 + 5, TABLE_LFU_INIT));
    /* Another key's stamp moves with its record when a delete fills a
     * hole (the class's last record moves). */
    put(t, 2, "c");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(table_get(t, 2, NULL, NULL), TABLE_OK);
    cr_assert_eq(table_del(t, 1), TABLE_OK);
    cr_assert_eq(counter_of(t, 2), TABLE_LFU_INIT + 3);
    table_check(t);
    tt_destroy(t);
}

/* Sampling reports the stamp; the lowest decayed counter is what eviction
 * looks for. With every key sampled, the coldest is found. */
Test(tlfu, sampling_finds_the_lowest_counter)
{
    table *t = make_lfu(0, 1);
    for (int64_t k = 0; k < 50; k++) {
        put(t, k, "v");
        for (int64_t i = 0; i < 10 + (k == 17 ? -10 : k); i++)
            cr_assert_eq(table_get(t, k, NULL, NULL), TABLE_OK);
    }
    rng_seed(3);
    int64_t best = -1;
    unsigned best_c = 256;
    uint32_t now = table_lfu_minutes(clock_ms);
    for (int i = 0; i < 2000; i++) {
        table_sample_t smp;
        cr_assert(table_sample(t, rng(), false, &smp));
        unsigned c = table_lfu_decayed(smp.lru, now, 1);
        if (c < best_c) {
            best_c = c;
            best = smp.key;
        }
    }
    cr_assert_eq(best, 17, "the key never read is the coldest");
    cr_assert_eq(best_c, TABLE_LFU_INIT);
    tt_destroy(t);
}

/* Stamps are mapped only while kept; switching LRU <-> LFU unmaps them and
 * keys start unstamped (0), as table.h says. */
Test(tlfu, stamps_only_while_kept_and_reset_on_switch)
{
    clock_ms = M0;
    table_options o = {.auto_shrink = true, .clock_ms = &clock_ms};
    table *t = tt_create(&o);
    put(t, 1, "a");
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 0, "no stamps without a policy");
    cr_assert_eq(stamp_of(t, 1), 0);

    o.track_lfu = true;
    o.lfu_log_factor = 10;
    o.lfu_decay_time = 1;
    table_set_options(t, &o);
    cr_assert_eq(stats(t).meta_bytes, 0, "mapped on first access, not before");
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, LRU_ARRAY_BYTES);
    cr_assert_eq(stamp_of(t, 1), table_lfu_stamp(table_lfu_minutes(M0), 1),
                 "unstamped is counter 0; one access makes it 1");

    o.track_lru = true; /* both: LFU takes precedence, nothing changes */
    table_set_options(t, &o);
    cr_assert_eq(stamp_of(t, 1), table_lfu_stamp(table_lfu_minutes(M0), 1));

    o.track_lfu = false; /* LFU -> LRU: the stamps are reset */
    table_set_options(t, &o);
    cr_assert_eq(stats(t).meta_bytes, 0);
    cr_assert_eq(stamp_of(t, 1), 0);
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(stamp_of(t, 1), (uint32_t)(M0 / TABLE_LRU_UNIT_MS));

    o.track_lfu = true; /* LRU -> LFU: reset again */
    table_set_options(t, &o);
    cr_assert_eq(stamp_of(t, 1), 0);

    o.track_lfu = o.track_lru = false;
    table_set_options(t, &o);
    cr_assert_eq(table_get(t, 1, NULL, NULL), TABLE_OK);
    cr_assert_eq(stats(t).meta_bytes, 0, "off: unmapped");
    table_check(t);
    tt_destroy(t);
}
