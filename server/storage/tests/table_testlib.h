/*
 * table_testlib.h - helpers the table's unit tests share (test_table,
 * test_table_expiry, test_table_scan, test_prefault: one test program).
 *
 * Everything is static: each test file gets its own copy, and its own PRNG
 * state, as if it had written them itself.
 */
#ifndef EBB_TABLE_TESTLIB_H
#define EBB_TABLE_TESTLIB_H

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "prefault.h"
#include "table.h"

/* Deterministic PRNG for random sequences (xorshift64*), one per file. */
static uint64_t rng_state;

static inline void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

static inline uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static inline uint64_t rng_below(uint64_t n)
{
    return rng() % n;
}

/* Model index -> key: an odd multiplier is a bijection on 64 bits, so keys
 * are distinct, spread, and about half of them negative. */
static inline int64_t key_of(uint64_t i)
{
    return (int64_t)(i * 0x9e3779b97f4a7c15ull);
}

static inline table_stats stats(const table *t)
{
    table_stats st;
    table_get_stats(t, &st);
    return st;
}

/* Delete the keys of indexes from, from + stride, ... below to; each must be
 * there. */
static inline void del_keys(table *t, uint64_t from, uint64_t to, uint64_t stride)
{
    for (uint64_t i = from; i < to; i += stride)
        cr_assert_eq(table_del(t, key_of(i)), TABLE_OK, "del %" PRIu64, i);
}

/* ---- Cleanup that survives a failed assertion ------------------------------ */

/* A failed cr_assert ends the test body at once, before its table_destroy;
 * under LeakSanitizer the skipped cleanup would then be reported as leaks,
 * a second failure that hides the first. Tests create tables and
 * prefaulters through these wrappers, and every suite's .fini (tt_cleanup)
 * destroys what is still alive: nothing on a test that passed. */
#define TT_TRACK_MAX 16
static table *tt_tables[TT_TRACK_MAX];
static prefault *tt_prefaulters[TT_TRACK_MAX];

static inline void tt_track(void **slots, void *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < TT_TRACK_MAX; i++)
        if (slots[i] == NULL) {
            slots[i] = p;
            return;
        }
    cr_assert_fail("more than %d live tables or prefaulters in one test", TT_TRACK_MAX);
}

static inline void tt_untrack(void **slots, void *p)
{
    for (int i = 0; p != NULL && i < TT_TRACK_MAX; i++)
        if (slots[i] == p)
            slots[i] = NULL;
}

static inline table *tt_create(const table_options *opt)
{
    table *t = table_create(opt);
    tt_track((void **)tt_tables, t);
    return t;
}

static inline void tt_destroy(table *t)
{
    tt_untrack((void **)tt_tables, t);
    table_destroy(t);
}

static inline prefault *tt_prefault_new(void)
{
    prefault *pf = prefault_new();
    tt_track((void **)tt_prefaulters, pf);
    return pf;
}

static inline void tt_prefault_free(prefault *pf)
{
    tt_untrack((void **)tt_prefaulters, pf);
    prefault_free(pf);
}

/* Tables first: a table may hold a prefaulter. */
static inline void tt_cleanup(void)
{
    for (int i = 0; i < TT_TRACK_MAX; i++)
        if (tt_tables[i] != NULL)
            tt_destroy(tt_tables[i]);
    for (int i = 0; i < TT_TRACK_MAX; i++)
        if (tt_prefaulters[i] != NULL)
            tt_prefault_free(tt_prefaulters[i]);
}

/* ---- Memory as the OS sees it ------------------------------------------------ */

/* Whether the kernel gives transparent huge pages at all (its mode is not
 * "never"). With "never" a table moves nothing into huge pages (table.c,
 * thp_usable): tests expect none then, and the same data and bounds. */
static inline bool thp_available(void)
{
    char buf[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    bool ok = f != NULL && fgets(buf, sizeof buf, f) != NULL && strstr(buf, "[never]") == NULL;
    if (f != NULL)
        fclose(f);
    return ok;
}

/* Bytes a test expects in huge pages: `want` where they exist, else 0. */
static inline uint64_t if_thp(uint64_t want)
{
    return thp_available() ? want : 0;
}

/* The process's resident bytes (/proc/self/statm). */
static inline uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    unsigned long size = 0, resident = 0;
    cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Whether RSS bounds mean anything in this build. Under AddressSanitizer
 * the process's RSS also holds the shadow of every byte touched and the
 * quarantine of freed blocks, so a bound on it measures the sanitizer as
 * much as the table: RSS bounds are asserted in the normal build (the first
 * pass of scripts/test.sh), and the sanitizer pass checks behaviour and
 * memory errors. EBB_SANITIZE is defined by CMake's EBB_SANITIZE option. */
static inline bool rss_bounds_checked(void)
{
#ifdef EBB_SANITIZE
    cr_log_info("RSS bounds not asserted: sanitizer build (its shadow memory counts in RSS)");
    return false;
#else
    return true;
#endif
}

/* How often the random tests walk the whole table with table_check: every
 * `every` operations, and after each one while the table holds at most
 * `small` keys. Under the sanitizers, whose memory checks make each walk
 * ten times dearer, eight times less often: the sanitizer pass is there
 * for memory errors, which the operations themselves reveal. */
static inline uint64_t tt_check_every(uint64_t every)
{
#ifdef EBB_SANITIZE
    return every * 8;
#else
    return every;
#endif
}

static inline uint64_t tt_check_small(uint64_t small)
{
#ifdef EBB_SANITIZE
    return small / 8;
#else
    return small;
#endif
}

#endif
