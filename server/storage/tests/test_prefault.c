/*
 * test_prefault.c - unit tests of server/storage/prefault.c (prefault.h) and of a
 * table that uses one (table.c, PREFAULT): pages come in, contents never
 * change, tickets are ordered, stale requests are harmless, and a table
 * with huge pages and a prefaulter keeps every key right through growth,
 * drain and shrink and gives its memory back.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "prefault.h"
#include "table.h"
#include "table_testlib.h"

TestSuite(prefault, .fini = tt_cleanup);

#define MIB (1024u * 1024u)
/* Record store geometry (store.h): 128-byte values are 137-byte records,
 * whole records in 2 MiB chunks; a store uses huge pages from 32 MiB of
 * records on. */
#define REC_128 137u
#define PER_CHUNK ((2u * MIB) / REC_128)
#define STORE_BIG_BYTES (32u * MIB)

static prefault *must_new(void)
{
    prefault *pf = tt_prefault_new();
    /* Linux 5.14 or later is what ebb is built and tested on. */
    cr_assert_not_null(pf, "prefault_new: this kernel cannot populate (MADV_POPULATE_WRITE)");
    return pf;
}

/* Poll (1 ms apart, up to 30 s) until the ticket is served. */
static void wait_done(const prefault *pf, uint64_t ticket)
{
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 30000 && !prefault_done(pf, ticket); i++)
        nanosleep(&ms, NULL);
    cr_assert(prefault_done(pf, ticket), "ticket %" PRIu64 " not served in 30 s", ticket);
}

static char *map_anon(size_t bytes)
{
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static size_t resident_pages(void *p, size_t bytes)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = bytes / ps, in = 0;
    unsigned char *vec = malloc(n);
    cr_assert_not_null(vec);
    cr_assert_eq(mincore(p, bytes, vec), 0);
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    return in;
}

Test(prefault, null_prefaulter_does_nothing)
{
    char buf[64];
    cr_assert_eq(prefault_ask(NULL, PREFAULT_SOON, buf, sizeof buf), 0);
    cr_assert(prefault_done(NULL, 12345));
    prefault_stats st;
    prefault_get_stats(NULL, &st);
    cr_assert_eq(st.requests + st.bytes + st.done, 0);
    tt_prefault_free(NULL);
}

Test(prefault, pages_come_in_and_keep_their_contents)
{
    prefault *pf = must_new();
    const size_t bytes = 8 * MIB, ps = (size_t)sysconf(_SC_PAGESIZE);
    char *p = map_anon(bytes);
    (void)madvise(p, bytes, MADV_NOHUGEPAGE); /* count 4 KiB pages */
    /* Some pages written before: their bytes must survive. */
    for (size_t off = 0; off < bytes; off += 37 * ps)
        memset(p + off, (int)(off / ps) | 1, 100);
    size_t before = resident_pages(p, bytes);
    cr_assert_lt(before, bytes / ps / 2);

    uint64_t tk = prefault_ask(pf, PREFAULT_SOON, p, bytes);
    cr_assert_neq(tk, 0);
    wait_done(pf, tk);
    cr_assert_eq(resident_pages(p, bytes), bytes / ps, "every page is in");
    for (size_t off = 0; off < bytes; off += ps) {
        char want = off % (37 * ps) == 0 ? (char)((int)(off / ps) | 1) : 0;
        cr_assert_eq(p[off], want, "page %zu changed", off / ps);
        if (want != 0)
            cr_assert_eq(p[off + 99], want);
    }
    prefault_stats st;
    prefault_get_stats(pf, &st);
    cr_assert_eq(st.requests, 1);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.bytes, bytes);
    cr_assert_eq(st.failed, 0);
    tt_prefault_free(pf);
    munmap(p, bytes);
}

Test(prefault, tickets_are_served_in_order_per_lane)
{
    prefault *pf = must_new();
    const size_t bytes = 4 * MIB;
    char *p = map_anon(4 * bytes);
    uint64_t later[2], soon[2];
    later[0] = prefault_ask(pf, PREFAULT_LATER, p, bytes);
    soon[0] = prefault_ask(pf, PREFAULT_SOON, p + bytes, bytes);
    later[1] = prefault_ask(pf, PREFAULT_LATER, p + 2 * bytes, bytes);
    soon[1] = prefault_ask(pf, PREFAULT_SOON, p + 3 * bytes, bytes);
    for (int i = 0; i < 2; i++)
        cr_assert(later[i] != 0 && soon[i] != 0);
    cr_assert(later[0] != later[1] && soon[0] != soon[1] && later[0] != soon[0] &&
                  later[1] != soon[1],
              "tickets are distinct");
    wait_done(pf, soon[1]);
    cr_assert(prefault_done(pf, soon[0]), "an earlier ticket of the lane is done");
    wait_done(pf, later[1]);
    cr_assert(prefault_done(pf, later[0]));
    cr_assert_eq(resident_pages(p, 4 * bytes), 4 * bytes / (size_t)sysconf(_SC_PAGESIZE));
    prefault_stats st;
    prefault_get_stats(pf, &st);
    cr_assert_eq(st.requests, 4);
    cr_assert_eq(st.done, 4);
    tt_prefault_free(pf);
    munmap(p, 4 * bytes);
}

Test(prefault, soon_is_served_before_later, .timeout = 60)
{
    prefault *pf = must_new();
    /* A LATER request keeps the worker busy; a long LATER request and a
     * short SOON one asked meanwhile wait; the SOON one is served first, so
     * when it is done the long one has not finished (it takes over 100 ms:
     * 512 MiB at the 4 GB/s or less the kernel zeroes memory here). */
    const size_t first_bytes = 256 * MIB, long_bytes = 512 * MIB, small = 2 * MIB;
    char *p = map_anon(first_bytes + long_bytes + small);
    uint64_t first = prefault_ask(pf, PREFAULT_LATER, p, first_bytes);
    uint64_t later = prefault_ask(pf, PREFAULT_LATER, p + first_bytes, long_bytes);
    uint64_t soon = prefault_ask(pf, PREFAULT_SOON, p + first_bytes + long_bytes, small);
    cr_assert(first != 0 && later != 0 && soon != 0);
    struct timespec us = {0, 50000};
    while (!prefault_done(pf, soon))
        nanosleep(&us, NULL);
    cr_assert(!prefault_done(pf, later), "the LATER request asked before the SOON one went first");
    wait_done(pf, later);
    cr_assert(prefault_done(pf, first));
    tt_prefault_free(pf);
    munmap(p, first_bytes + long_bytes + small);
}

Test(prefault, unmapped_memory_is_skipped)
{
    prefault *pf = must_new();
    const size_t bytes = 2 * MIB;
    char *p = map_anon(bytes);
    munmap(p, bytes);
    uint64_t tk = prefault_ask(pf, PREFAULT_SOON, p, bytes);
    cr_assert_neq(tk, 0);
    wait_done(pf, tk);
    prefault_stats st;
    prefault_get_stats(pf, &st);
    cr_assert_eq(st.failed, 1, "the kernel refused the stale range");
    cr_assert_eq(st.bytes, 0);
    /* The worker goes on serving. */
    char *q = map_anon(bytes);
    wait_done(pf, prefault_ask(pf, PREFAULT_SOON, q, bytes));
    prefault_get_stats(pf, &st);
    cr_assert_eq(st.bytes, bytes);
    tt_prefault_free(pf);
    munmap(q, bytes);
}

Test(prefault, every_ask_is_served_or_counted_dropped)
{
    prefault *pf = must_new();
    const size_t bytes = 64 * MIB;
    char *p = map_anon(bytes);
    /* More asks than the queue holds, faster than the worker serves them. */
    uint64_t last = 0, served = 0;
    unsigned asks = 4 * PREFAULT_QUEUE;
    for (unsigned i = 0; i < asks; i++) {
        uint64_t tk = prefault_ask(pf, PREFAULT_SOON, p + (size_t)(i % 32) * 2 * MIB, 2 * MIB);
        if (tk != 0) {
            cr_assert_gt(tk, last, "tickets of a lane grow");
            last = tk;
            served++;
        }
    }
    wait_done(pf, last);
    prefault_stats st;
    prefault_get_stats(pf, &st);
    cr_assert_eq(st.requests + st.dropped, asks);
    cr_assert_eq(st.requests, served);
    cr_assert_eq(st.done, served);
    tt_prefault_free(pf);
    munmap(p, bytes);
}

Test(prefault, free_while_busy_returns, .timeout = 30)
{
    prefault *pf = must_new();
    const size_t bytes = 512 * MIB;
    char *p = map_anon(bytes);
    cr_assert_neq(prefault_ask(pf, PREFAULT_SOON, p, bytes), 0);
    /* Joins: the request stops at its next 2 MiB step (a hang fails on the
     * timeout). */
    tt_prefault_free(pf);
    munmap(p, bytes);
}

/* ---- a table with huge pages and a prefaulter ------------------------------ */

static void value_of(uint64_t i, uint8_t *v)
{
    for (size_t k = 0; k < TABLE_VALUE_MAX; k++)
        v[k] = (uint8_t)(i >> ((k % 8) * 8)) ^ (uint8_t)k;
}

static void expect_keys(table *t, uint64_t from, uint64_t to, uint64_t stride)
{
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t i = from; i < to; i += stride) {
        const uint8_t *p = NULL;
        size_t len = 0;
        cr_assert_eq(table_get(t, key_of(i), &p, &len), TABLE_OK, "key %" PRIu64 " missing", i);
        value_of(i, v);
        cr_assert(len == sizeof v && memcmp(p, v, len) == 0, "key %" PRIu64 ": value", i);
    }
}

/* Set (or delete) keys from, from + stride, ... below to, each with its
 * value_of. */
static void put_keys(table *t, uint64_t from, uint64_t to, uint64_t stride)
{
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t i = from; i < to; i += stride) {
        value_of(i, v);
        cr_assert_eq(table_set(t, key_of(i), v, sizeof v, NULL), TABLE_OK, "set %" PRIu64, i);
    }
}

/* Step a migration to its end; table_step may return without progress while
 * a page is coming in, so poll. */
static void finish(table *t)
{
    struct timespec us = {0, 100000};
    for (int i = 0; table_step(t, 4096); i++) {
        cr_assert_lt(i, 1000000, "migration does not end");
        nanosleep(&us, NULL);
    }
    table_check(t);
}

/* Hold the worker: prefault_hold only tries, and fails while the worker is
 * in the middle of a step (up to 2 MiB of populating), so retry, 1 ms
 * apart, for up to 10 s. */
static void must_hold(prefault *pf)
{
    struct timespec ms = {0, 1000000};
    bool held = false;
    for (int i = 0; i < 10000 && !(held = prefault_hold(pf)); i++)
        nanosleep(&ms, NULL);
    cr_assert(held, "the worker never got between steps");
}

Test(prefault, table_grows_drains_and_shrinks_with_a_prefaulter, .timeout = 120)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    uint64_t base = rss_bytes();
    /* 1.35M keys: records prefaulted past 245k keys (32 MiB), a
     * 2^18-bucket (16 MiB) array past 1.28M, prefaulted too. Every write is
     * checked, some mid-way. */
    const uint64_t n = 1350000;
    uint8_t v[TABLE_VALUE_MAX];
    bool saw_migration_mid_array = false;
    for (uint64_t i = 0; i < n; i++) {
        value_of(i, v);
        cr_assert_eq(table_set(t, key_of(i), v, sizeof v, NULL), TABLE_OK);
        table_stats st;
        table_get_stats(t, &st);
        if (st.migrating && st.log2_buckets >= 18 && st.migrated > 0 && !saw_migration_mid_array) {
            /* In the middle of a migration into a huge array: all keys so
             * far are found, whichever generation holds them. */
            saw_migration_mid_array = true;
            expect_keys(t, 0, i + 1, 1);
            table_check(t);
        }
    }
    cr_assert(saw_migration_mid_array, "the load grew into a 16 MiB array");
    finish(t);
    expect_keys(t, 0, n, 1);
    table_stats st;
    table_get_stats(t, &st);
    prefault_stats ps;
    prefault_get_stats(pf, &ps);
    uint64_t full = rss_bytes() - base;
    cr_log_info("1.35M keys, huge pages, prefault: index %" PRIu64 " B, payload %" PRIu64
                " B, RSS added %" PRIu64 " B; prefault requests %" PRIu64 ", bytes %" PRIu64
                ", busy %" PRIu64 " us; waits %" PRIu64,
                st.index_bytes, st.payload_bytes, full, ps.requests, ps.bytes, ps.busy_ns / 1000,
                st.prefault_waits);
    cr_assert_gt(ps.requests, 0, "the table asked");
    cr_assert_geq(ps.bytes, 100u * MIB, "most record memory came in through the prefaulter");
    /* Populated ahead: at most the record window and two array pages, plus
     * the staged page and the slack below. */
    if (rss_bounds_checked())
        cr_assert_leq(full, st.index_bytes + st.payload_bytes + 16u * MIB,
                      "RSS %" PRIu64 " vs mapped %" PRIu64, full,
                      st.index_bytes + st.payload_bytes);

    /* Drain to 1 % (auto shrink), then to nothing: memory goes back. */
    del_keys(t, n / 100, n, 1);
    finish(t);
    expect_keys(t, 0, n / 100, 1);
    del_keys(t, 0, n / 100, 1);
    finish(t);
    table_shrink(t);
    finish(t);
    table_get_stats(t, &st);
    cr_assert_eq(st.count, 0);
    cr_assert_eq(st.payload_bytes, 0);
    uint64_t after = rss_bytes();
    if (rss_bounds_checked())
        cr_assert_leq(after, base + 4u * MIB, "RSS back: base %" PRIu64 " after %" PRIu64, base,
                      after);

    /* Grow again after the drain: the window starts over. */
    put_keys(t, 0, 400000, 1);
    finish(t);
    expect_keys(t, 0, 400000, 1);
    tt_destroy(t);
    tt_prefault_free(pf);
}

Test(prefault, drain_across_a_chunk_boundary_gives_back_the_chunk_ahead)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = false, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    /* 17 chunks of records (a big store: its window maps the next chunk
     * ahead as the records near a chunk's end). */
    const uint64_t boundary = 17u * PER_CHUNK;
    put_keys(t, 0, boundary - 2048u, 1);
    uint64_t with_next = rss_bytes();
    table_stats st;
    table_get_stats(t, &st);
    /* Oscillate across the boundary: the data stays right. */
    for (int round = 0; round < 3; round++) {
        put_keys(t, boundary - 2048u, boundary + 4096u, 1);
        del_keys(t, boundary - 2048u, boundary + 4096u, 1);
        table_release(t, 1000);
        table_check(t);
    }
    expect_keys(t, 0, boundary - 2048u, 7);
    /* Down to 100k keys: the chunks past them and the chunk ahead are
     * gone. */
    del_keys(t, 100000, boundary - 2048u, 1);
    table_release(t, 1000);
    table_check(t);
    expect_keys(t, 0, 100000, 1);
    uint64_t low = rss_bytes();
    cr_log_info("RSS with the chunk ahead %" PRIu64 " KiB, back at 100k keys %" PRIu64 " KiB",
                with_next >> 10, low >> 10);
    if (rss_bounds_checked())
        cr_assert_leq(low + (boundary - 2048u - 100000u) * REC_128 / 2, with_next,
                      "at least half of the drained payload left RSS");
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* ---- records moved into huge pages (PROMOTE) ------------------------------- */

/* AnonHugePages of this process (each Criterion test runs in its own). */
static uint64_t anon_huge_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    cr_assert_not_null(f);
    char line[256];
    uint64_t kb = UINT64_MAX;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "AnonHugePages:", 14) == 0)
            kb = strtoull(line + 14, NULL, 10);
    fclose(f);
    cr_assert_neq(kb, UINT64_MAX, "no AnonHugePages in smaps_rollup");
    return kb * 1024;
}

/* Step the table (1 ms apart, up to 30 s) until its records in huge pages
 * are within [lo, hi] bytes (0 where the kernel has no huge pages) and
 * nothing is left to promote or migrate. */
static void step_until_huge(table *t, uint64_t lo, uint64_t hi)
{
    lo = if_thp(lo);
    hi = if_thp(hi);
    struct timespec ms = {0, 1000000};
    table_stats st;
    for (int i = 0;; i++) {
        table_step(t, 4096);
        table_get_stats(t, &st);
        if (st.huge_record_bytes >= lo && st.huge_record_bytes <= hi && !st.migrating &&
            !st.promote_pending)
            break;
        cr_assert_lt(i, 30000, "records in huge pages: %" PRIu64 " B, want %" PRIu64 "..%" PRIu64,
                     st.huge_record_bytes, lo, hi);
        nanosleep(&ms, NULL);
    }
    table_check(t);
}

/* Chunks moved into huge pages at n keys of 128-byte values: every full
 * one, once the store is big. */
static uint64_t full_ranges(uint64_t n)
{
    return n * REC_128 >= STORE_BIG_BYTES ? n / PER_CHUNK : 0;
}

/* No .timeout: every wait in it is a bounded poll (and with one, LeakSanitizer
 * reported 48 bytes leaked inside Criterion's runner when this test ran
 * beside soon_is_served_before_later). */
Test(prefault, records_move_into_huge_pages_and_back)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    uint64_t huge0 = anon_huge_bytes();
    const uint64_t n = 600000, low = 300000;
    put_keys(t, 0, n, 1);
    /* Every full range moves, and the kernel maps it with huge pages (the
     * bucket array, 8 MiB, is below the size that asks for them). */
    const uint64_t full = full_ranges(n) * 2u * MIB;
    step_until_huge(t, full, full);
    uint64_t huge = anon_huge_bytes() - huge0;
    table_stats st;
    table_get_stats(t, &st);
    cr_log_info("600k keys: %" PRIu64 " ranges promoted, AnonHugePages +%" PRIu64 " MiB",
                st.promotions, huge / MIB);
    cr_assert_geq(huge, if_thp(full), "AnonHugePages +%" PRIu64 " B for %" PRIu64 " B promoted",
                  huge, full);
    expect_keys(t, 0, n, 1);

    /* Writes into moved ranges: overwrite every third key, delete every
     * seventh (a delete moves the last record into the hole). */
    put_keys(t, 0, n, 3);
    del_keys(t, 0, n, 7);
    put_keys(t, 0, n, 7);
    table_check(t);
    expect_keys(t, 0, n, 1);

    /* Drain to 300k: the emptied ranges go back to ordinary pages (else
     * the next write into one would fault a huge page itself). */
    del_keys(t, low, n, 1);
    table_release(t, 1000);
    step_until_huge(t, full_ranges(low) * 2u * MIB, (full_ranges(low) + 1) * 2u * MIB);
    expect_keys(t, 0, low, 1);

    /* Grow again: the ranges fill in ordinary pages and move again. */
    put_keys(t, low, n, 1);
    step_until_huge(t, full, full);
    expect_keys(t, 0, n, 1);

    /* Drain to nothing: the staged page goes with the chunks. */
    del_keys(t, 0, n, 1);
    table_release(t, 100000);
    step_until_huge(t, 0, 0);
    table_get_stats(t, &st);
    cr_assert_eq(st.payload_bytes, 0, "staged page freed with the chunks");
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* A bucket array of 16 MiB or more is moved too, once the migration that
 * filled it is over; a shrink to a smaller array leaves nothing to move. */
Test(prefault, bucket_array_moves_after_its_migration)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    uint64_t huge0 = anon_huge_bytes();
    /* 1.3M keys: past 1277952 the array grows to 2^18 buckets, 16 MiB. */
    const uint64_t n = 1300000;
    put_keys(t, 0, n, 1);
    const uint64_t recs = if_thp(full_ranges(n) * 2u * MIB), index = if_thp(16u * MIB);
    struct timespec ms = {0, 1000000};
    table_stats st;
    for (int i = 0;; i++) {
        table_step(t, 4096);
        table_get_stats(t, &st);
        if (!st.migrating && st.huge_index_bytes == index && st.huge_record_bytes == recs)
            break;
        cr_assert_lt(i, 30000, "index %" PRIu64 " B, records %" PRIu64 " B in huge pages",
                     st.huge_index_bytes, st.huge_record_bytes);
        nanosleep(&ms, NULL);
    }
    table_check(t);
    cr_assert_eq(st.log2_buckets, 18);
    cr_assert_geq(anon_huge_bytes() - huge0, recs + index);
    expect_keys(t, 0, n, 1);
    /* Inserts and deletes into the moved array. */
    del_keys(t, 0, n, 5);
    put_keys(t, 0, n, 5);
    expect_keys(t, 0, n, 1);
    /* Down to 100k and SHRINK: a 2 MiB array, nothing of it to move. */
    del_keys(t, 100000, n, 1);
    table_shrink(t);
    /* The chunks still full of records stay huge. */
    step_until_huge(t, 100000u / PER_CHUNK * 2u * MIB, 100000u / PER_CHUNK * 2u * MIB);
    table_get_stats(t, &st);
    cr_assert_eq(st.huge_index_bytes, 0);
    cr_assert_lt(st.index_bytes, 16u * MIB);
    expect_keys(t, 0, 100000, 1);
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* Writes during a migration into a big array leave their share of the
 * migration for later while its destination page has not come in, but only
 * a quarter of the old array's bucket count times per migration: a stuck or
 * slow worker makes writes fault the pages themselves, not stop migrating.
 * The test holds the worker, so no page comes in. */
Test(prefault, writes_wait_for_destination_pages_a_bounded_number_of_times)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    /* Just below the grow into 2^18 buckets (16 MiB), at 1277952 keys. */
    const uint64_t below = 1270000, n = 1420000;
    put_keys(t, 0, below, 1);
    finish(t);
    table_stats st;
    table_get_stats(t, &st);
    cr_assert_eq(st.prefault_waits, 0, "no migration into a big array yet");
    must_hold(pf);
    uint64_t old_buckets = 0, writes_while_migrating = 0;
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t i = below; i < n; i++) {
        value_of(i, v);
        cr_assert_eq(table_set(t, key_of(i), v, sizeof v, NULL), TABLE_OK);
        table_get_stats(t, &st);
        if (st.migrating && st.log2_buckets == 18 && st.old_buckets != 0) {
            old_buckets = st.old_buckets; /* (0 once only the unmapping waits) */
            writes_while_migrating++;
        }
    }
    prefault_release(pf);
    table_get_stats(t, &st);
    cr_assert_eq(old_buckets, 1u << 17, "the load grew into a 16 MiB array");
    cr_assert_gt(writes_while_migrating, old_buckets / 4);
    table_get_stats(t, &st);
    cr_log_info("held worker: %" PRIu64 " writes during the migration, %" PRIu64 " waited",
                writes_while_migrating, st.prefault_waits);
    cr_assert_eq(st.prefault_waits, old_buckets / 4,
                 "%" PRIu64 " writes left their migration work for later", st.prefault_waits);
    finish(t);
    expect_keys(t, 0, n, 1);
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* With a prefaulter a big table maps expire-time and LRU arrays ahead and
 * keeps the ones it lets go of (a stash): the arrays a chunk gets are
 * zeroed, the accounting adds up (table_check), nothing is mixed up. */
Test(prefault, side_arrays_come_from_a_stash)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .track_lru = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    const uint64_t n = 100000; /* 49 side blocks of 2048 records */
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t i = 0; i < n; i++) {
        value_of(i, v);
        /* Every other key has a TTL (no clock: nothing expires). */
        int64_t at = i % 2 == 0 ? (int64_t)(1000000 + i) : 0;
        cr_assert_eq(table_put(t, key_of(i), v, sizeof v, at, false, NULL), TABLE_OK);
    }
    table_check(t);
    table_stats st;
    table_get_stats(t, &st);
    uint64_t blocks = (n + 2047) / 2048;
    /* One exp and one lru array per block, and the stash: two of each,
     * refilled by the insert after the one that took from it (the worker
     * is idle, so every try got it held). */
    cr_assert_eq(st.meta_bytes, (blocks + 2) * (16384 + 8192),
                 "meta %" PRIu64 ", %" PRIu64 " blocks", st.meta_bytes, blocks);
    /* Clear the TTLs of the first half (their exp arrays go to the stash
     * or away), then give them new ones (arrays come back zeroed). */
    for (uint64_t i = 0; i < n / 2; i += 2)
        cr_assert_eq(table_expire(t, key_of(i), 0), TABLE_OK);
    table_check(t);
    for (uint64_t i = 1; i < n / 2; i += 2)
        cr_assert_eq(table_expire(t, key_of(i), (int64_t)(5000000 + i)), TABLE_OK);
    table_check(t);
    for (uint64_t i = 0; i < n; i++) {
        int64_t at = -1;
        cr_assert_eq(table_get_expire(t, key_of(i), &at), TABLE_OK);
        int64_t want = i < n / 2 ? (i % 2 == 1 ? (int64_t)(5000000 + i) : 0)
                                 : (i % 2 == 0 ? (int64_t)(1000000 + i) : 0);
        cr_assert_eq(at, want, "key %" PRIu64 ": expire %" PRId64 ", want %" PRId64, i, at, want);
    }
    expect_keys(t, 0, n, 1);
    /* Drain: blocks go, and with them their arrays; the stash empties with
     * the table. */
    del_keys(t, 0, n, 1);
    table_release(t, 1000);
    table_check(t);
    table_shrink(t);
    table_get_stats(t, &st);
    cr_assert_eq(st.meta_bytes, 0, "side arrays left: %" PRIu64 " B", st.meta_bytes);
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* Huge chunks a drain emptied (or partly emptied) go back to ordinary pages
 * before any write reaches them, even while the worker cannot be held (the
 * test holds it, as a worker busy with a page would be) and after huge
 * pages are turned off: no 2 MiB page is faulted by a write. */
Test(prefault, emptied_ranges_are_never_faulted_huge)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    cr_assert_not_null(t);
    uint8_t v[TABLE_VALUE_MAX];
    const uint64_t n = 20u * PER_CHUNK + 100; /* 20 full chunks, all moved */
    put_keys(t, 0, n, 1);
    step_until_huge(t, full_ranges(n) * 2u * MIB, full_ranges(n) * 2u * MIB);
    for (int round = 0; round < 2; round++) {
        /* Drain into chunk 17: chunks 0-16 stay full and huge, 17 is
         * partly discarded, 18 (the spare) wholly, 19 unmapped. */
        const uint64_t low = 17u * PER_CHUNK + 100;
        del_keys(t, low, n, 1);
        table_release(t, 1000);
        /* The worker "busy": the turn back is pending; an insert makes it
         * all the same, before it writes. */
        must_hold(pf);
        cr_assert_eq(table_del(t, key_of(low - 1)), TABLE_OK);
        value_of(low - 1, v);
        cr_assert_eq(table_set(t, key_of(low - 1), v, sizeof v, NULL), TABLE_OK);
        cr_assert_eq(table_del(t, key_of(low - 1)), TABLE_OK);
        cr_assert_eq(table_del(t, key_of(low - 2)), TABLE_OK);
        table_check(t);
        put_keys(t, low - 2, low + 10, 1);
        prefault_release(pf);
        table_check(t);
        table_stats st;
        table_get_stats(t, &st);
        cr_assert_eq(st.huge_record_bytes, if_thp(17u * 2u * MIB),
                     "round %d: %" PRIu64 " B huge, want the 17 full chunks", round,
                     st.huge_record_bytes);
        /* Writes until chunk 17 is nearly full (nothing to move) fault
         * ordinary pages only, into chunk 17 and the spare. */
        uint64_t before = anon_huge_bytes();
        put_keys(t, low + 10, 18u * PER_CHUNK - 1, 1);
        cr_assert_eq(anon_huge_bytes(), before, "round %d: a huge page was faulted by a write",
                     round);
        put_keys(t, 18u * PER_CHUNK - 1, n, 1);
        expect_keys(t, 0, n, 1);
        /* Second round: the same with huge pages turned off meanwhile (the
         * chunks moved so far stay huge until a drain empties them). */
        opt.huge_pages = false;
        table_set_options(t, &opt);
    }
    tt_destroy(t);
    tt_prefault_free(pf);
}

/* A prefaulter's pools keep spare overflow buckets: SHRINK of a table that
 * is right-sized must still find nothing to do. */
Test(prefault, shrink_of_a_right_sized_table_does_nothing)
{
    prefault *pf = must_new();
    table_options opt = {.auto_shrink = true, .huge_pages = true, .prefault = pf};
    table *t = tt_create(&opt);
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t n = 0; n < 1290000; n++) {
        value_of(n, v);
        cr_assert_eq(table_set(t, key_of(n), v, sizeof v, NULL), TABLE_OK);
        if (n == 60000 || n == 1290000 - 1) {
            finish(t);
            /* The first SHRINK may rebuild (a pool grown by deletes would);
             * the second must not. */
            if (table_shrink(t))
                finish(t);
            cr_assert(!table_shrink(t), "SHRINK at %" PRIu64 " keys rebuilt again", n + 1);
        }
    }
    tt_destroy(t);
    tt_prefault_free(pf);
}
