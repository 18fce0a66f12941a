/*
 * test_table_scan.c - unit tests of table_scan(), the resumable cursor SCAN
 * is built on (table.h; the comment above table_scan in table.c).
 *
 * The guarantee under test: a full iteration (cursor 0 ... cursor 0) visits
 * every key present for the whole iteration at least once, whatever grows,
 * shrinks (automatic or table_shrink) and migration steps happen between two
 * calls. Keys inserted or deleted during the iteration may or may not be
 * visited; a key deleted before the iteration started never is, nor is a key
 * whose expire time has come. On a table that does not change, every key is
 * visited exactly once.
 *
 * Keys are scan_key(i) = i x an odd constant, a bijection of 64 bits, so a
 * visited key maps back to its index with the constant's inverse and the
 * tests count visits per index in a plain array. Links only the table
 * library and Criterion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "table_testlib.h"

TestSuite(table_scan, .fini = tt_cleanup);
/* This file maps indexes to keys with scan_key (below), not key_of. */
#define key_of key_of_is_not_this_files_mapping

/* Upper bound on table_scan calls for one iteration: far more than the
 * buckets of any table built here, so a cursor that never comes back to 0
 * fails instead of hanging. */
#define MAX_SCAN_CALLS (1u << 22)

/* ---- keys and their indexes ------------------------------------------------- */

#define KEY_MUL 0xd6e8feb86659fd93ull

/* KEY_MUL^-1 mod 2^64, by Newton's iteration (each step doubles the correct
 * low bits; an odd m is its own inverse mod 8, so 5 steps give 96 bits). */
static uint64_t key_mul_inverse(void)
{
    uint64_t inv = KEY_MUL;
    for (int i = 0; i < 5; i++)
        inv *= 2u - KEY_MUL * inv;
    return inv;
}

/* This file's keys: another odd multiplier, whose inverse maps keys back. */
static int64_t scan_key(uint64_t i)
{
    return (int64_t)(i * KEY_MUL);
}

static uint64_t index_of(int64_t key)
{
    return (uint64_t)key * key_mul_inverse();
}

static void put(table *t, uint64_t i)
{
    table_status st = table_set(t, scan_key(i), &i, sizeof i, NULL);
    cr_assert_eq(st, TABLE_OK, "set #%" PRIu64 ": status %d", i, (int)st);
}

static void put_range(table *t, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        put(t, i);
}

static void del(table *t, uint64_t i)
{
    cr_assert_eq(table_del(t, scan_key(i)), TABLE_OK, "del #%" PRIu64, i);
}

static void del_range(table *t, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        del(t, i);
}

static void finish(table *t)
{
    while (table_step(t, 16))
        ;
    table_check(t);
}

static table *make(bool auto_shrink, const int64_t *clock)
{
    table_options o = {.auto_shrink = auto_shrink, .clock_ms = clock};
    table *t = tt_create(&o);
    cr_assert_not_null(t);
    return t;
}

/* ---- one iteration, step by step -------------------------------------------- */

/* Visits per key index below `universe`; anything else is counted apart. */
typedef struct {
    uint32_t *visits;
    uint64_t universe;
    uint64_t foreign; /* visited keys that are not scan_key(i < universe) */
    uint64_t calls;   /* table_scan calls */
    uint64_t cursor;
    bool done;
} scan_run;

static void on_key(int64_t key, void *arg)
{
    scan_run *r = arg;
    uint64_t i = index_of(key);
    if (i < r->universe)
        r->visits[i]++;
    else
        r->foreign++;
}

static void run_init(scan_run *r, uint64_t universe)
{
    memset(r, 0, sizeof *r);
    r->universe = universe;
    r->visits = calloc(universe ? universe : 1, sizeof *r->visits);
    cr_assert_not_null(r->visits);
}

static void run_free(scan_run *r)
{
    free(r->visits);
}

/* One table_scan call; sets done when the cursor comes back to 0. */
static void run_step(table *t, scan_run *r)
{
    cr_assert_not(r->done, "scan stepped after its end");
    r->cursor = table_scan(t, r->cursor, on_key, r);
    r->calls++;
    cr_assert_lt(r->calls, MAX_SCAN_CALLS, "cursor never returned to 0 (%" PRIu64 " calls)",
                 r->calls);
    cr_assert_leq(r->cursor, UINT32_MAX, "cursor %#" PRIx64 " beyond 32 bits", r->cursor);
    if (r->cursor == 0)
        r->done = true;
}

static void run_all(table *t, scan_run *r)
{
    while (!r->done)
        run_step(t, r);
}

/* ---- static tables ---------------------------------------------------------- */

Test(table_scan, empty_table_ends_at_once)
{
    table *t = make(true, NULL);
    scan_run r;
    run_init(&r, 16);
    run_step(t, &r);
    cr_assert(r.done, "a never-used table returned cursor %" PRIu64, r.cursor);
    cr_assert_eq(r.foreign, 0);

    /* Keys in and out again: with auto_shrink off the arrays stay mapped, so
     * the scan walks them and must find nothing. */
    tt_destroy(t);
    t = make(false, NULL);
    put_range(t, 0, 5000);
    del_range(t, 0, 5000);
    finish(t);
    cr_assert_gt(stats(t).buckets, 64, "the array stayed large");
    scan_run r2;
    run_init(&r2, 5000);
    run_all(t, &r2);
    for (uint64_t i = 0; i < 5000; i++)
        cr_assert_eq(r2.visits[i], 0, "deleted #%" PRIu64 " visited", i);
    cr_assert_eq(r2.foreign, 0);

    /* table_clear: nothing mapped, cursor 0 at once. */
    put_range(t, 0, 100);
    table_clear(t);
    scan_run r3;
    run_init(&r3, 100);
    run_step(t, &r3);
    cr_assert(r3.done, "a cleared table returned cursor %" PRIu64, r3.cursor);
    cr_assert_eq(r3.visits[0] + r3.foreign, 0);

    /* A starting cursor that is not 0 on an empty table: also the end. */
    cr_assert_eq(table_scan(t, 12345, on_key, &r3), 0);

    run_free(&r);
    run_free(&r2);
    run_free(&r3);
    tt_destroy(t);
}

/* Every key exactly once, no foreign key, and about one call per bucket. */
static void expect_exactly_once(table *t, uint64_t n, const char *what)
{
    scan_run r;
    run_init(&r, n);
    run_all(t, &r);
    table_stats st = stats(t);
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(r.visits[i], 1, "%s: #%" PRIu64 " visited %u times (%" PRIu64 " keys)", what,
                     i, r.visits[i], n);
    cr_assert_eq(r.foreign, 0, "%s: %" PRIu64 " unknown keys", what, r.foreign);
    uint64_t small = st.migrating && st.old_buckets < st.buckets ? st.old_buckets : st.buckets;
    cr_assert_eq(r.calls, small, "%s: %" PRIu64 " calls for %" PRIu64 " buckets", what, r.calls,
                 small);
    run_free(&r);
}

Test(table_scan, static_table_every_key_exactly_once)
{
    static const uint64_t sizes[] = {1, 7, 100, 417, 1000, 4096, 20000, 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        table *t = make(true, NULL);
        put_range(t, 0, n);
        finish(t);
        char what[64];
        snprintf(what, sizeof what, "%" PRIu64 " keys", n);
        expect_exactly_once(t, n, what);
        /* Scanning does not change the table: a second run is the same. */
        expect_exactly_once(t, n, what);
        tt_destroy(t);
    }
}

Test(table_scan, static_table_mid_migration_exactly_once)
{
    /* Stop in the middle of a grow: keys live in both arrays. */
    table *t = make(true, NULL);
    uint64_t n = 0;
    while (!stats(t).migrating)
        put(t, n++);
    table_step(t, (unsigned)(stats(t).old_buckets / 3));
    table_stats st = stats(t);
    cr_assert(st.migrating && !st.shrinking && st.migrated > 0);
    table_check(t);
    expect_exactly_once(t, n, "mid-grow");

    /* And in the middle of a shrink (table_shrink to a much smaller array). */
    finish(t);
    put_range(t, n, 40000);
    finish(t);
    del_range(t, 100, 40000);
    finish(t);
    table_options o = {.auto_shrink = false};
    table_set_options(t, &o);
    /* auto_shrink already shrank it; grow it again without auto-shrink and
     * drain, so that table_shrink has several sizes to go down. */
    put_range(t, 100, 40000);
    del_range(t, 100, 40000);
    cr_assert(table_shrink(t));
    table_step(t, (unsigned)(stats(t).old_buckets / 2));
    st = stats(t);
    cr_assert(st.migrating && st.shrinking, "a shrink migration in progress");
    cr_assert_lt(st.buckets * 4, st.old_buckets, "%" PRIu64 " -> %" PRIu64, st.old_buckets,
                 st.buckets);
    table_check(t);
    expect_exactly_once(t, 100, "mid-shrink");
    tt_destroy(t);
}

/* ---- expiry ----------------------------------------------------------------- */

Test(table_scan, expired_keys_are_not_visited)
{
    int64_t now = 1700000000000;
    table *t = make(false, &now);
    const uint64_t n = 6000;
    for (uint64_t i = 0; i < n; i++) {
        /* Thirds: no TTL, TTL that comes at +100, TTL that comes at +10000. */
        int64_t at = i % 3 == 0 ? 0 : i % 3 == 1 ? now + 100 : now + 10000;
        cr_assert_eq(table_put(t, scan_key(i), &i, sizeof i, at, false, NULL), TABLE_OK);
    }
    finish(t);
    scan_run r;
    run_init(&r, n);
    run_all(t, &r);
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(r.visits[i], 1, "before any expiry: #%" PRIu64 " %u times", i, r.visits[i]);
    run_free(&r);

    /* At +100 the second third is due: not visited, though not reclaimed. */
    now += 100;
    uint64_t count = table_count(t);
    run_init(&r, n);
    run_all(t, &r);
    cr_assert_eq(table_count(t), count, "scanning reclaimed nothing (it is const)");
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(r.visits[i], i % 3 == 1 ? 0u : 1u, "at +100: #%" PRIu64 " visited %u times", i,
                     r.visits[i]);
    run_free(&r);

    /* Expiry that comes in the middle of an iteration, with a grow running:
     * after the clock moves, no call may return a due key. */
    put_range(t, n, 3 * n);
    cr_assert(stats(t).migrating || stats(t).grows > 0);
    run_init(&r, 3 * n);
    for (int k = 0; k < 20 && !r.done; k++)
        run_step(t, &r);
    now += 10000;
    uint32_t *before = malloc(n * sizeof *before);
    cr_assert_not_null(before);
    memcpy(before, r.visits, n * sizeof *before);
    run_all(t, &r);
    for (uint64_t i = 0; i < n; i++) {
        if (i % 3 == 0)
            cr_assert_geq(r.visits[i], 1, "#%" PRIu64 " has no TTL", i);
        else
            cr_assert_eq(r.visits[i], before[i], "#%" PRIu64 " visited after its time came", i);
    }
    for (uint64_t i = n; i < 3 * n; i++)
        cr_assert_geq(r.visits[i], 1, "#%" PRIu64 " (no TTL, added before the scan)", i);
    free(before);
    run_free(&r);
    table_check(t);
    tt_destroy(t);
}

/* ---- the guarantee across resizes ------------------------------------------- */

/*
 * Index ranges of one randomized run:
 *   [0, stable)              present for the whole iteration: at least once
 *   [stable, stable+gone)    inserted and deleted before it began: never
 *   [churn_lo, churn_hi)     inserted/deleted during it: anything goes, but
 *                            only if the key was present at some point
 */
typedef struct {
    uint64_t stable, gone, churn_lo, churn_hi;
    bool *present; /* churn keys now in the table, by index - churn_lo */
    bool *ever;    /* churn keys present at some point of the iteration */
    uint64_t npresent;
    /* What the run went through, to check that it covered the cases. */
    uint64_t calls_mid_grow, calls_mid_shrink, manual_shrinks, grows, auto_shrinks;
} world;

static void churn_insert(table *t, world *w, uint64_t k)
{
    for (uint64_t j = 0; j < k; j++) {
        uint64_t c = rng_below(w->churn_hi - w->churn_lo);
        if (!w->present[c]) {
            put(t, w->churn_lo + c);
            w->present[c] = w->ever[c] = true;
            w->npresent++;
        }
    }
}

static void churn_delete(table *t, world *w, uint64_t k)
{
    uint64_t range = w->churn_hi - w->churn_lo;
    uint64_t c = rng_below(range);
    for (uint64_t j = 0; j < range && k > 0; j++, c = (c + 1) % range) {
        if (w->present[c]) {
            del(t, w->churn_lo + c);
            w->present[c] = false;
            w->npresent--;
            k--;
        }
    }
}

/* A random mutation between two scan calls. Large bursts are rare enough
 * that the table goes through several resizes in one iteration. */
static void mutate(table *t, world *w, bool check)
{
    uint64_t range = w->churn_hi - w->churn_lo;
    switch (rng_below(12)) {
    case 0: /* a burst of growth: up to doubling the table */
        churn_insert(t, w, 1 + rng_below(table_count(t) + 64));
        break;
    case 1: /* a burst of deletes: most of the churn keys */
        churn_delete(t, w, w->npresent - rng_below(w->npresent / 4 + 1));
        break;
    case 2:
        table_shrink(t);
        break;
    case 3: /* table_shrink in the middle of whatever migration runs */
        if (stats(t).migrating)
            table_shrink(t);
        break;
    case 4:
        table_step(t, 1 + (unsigned)rng_below(8));
        break;
    case 5: /* finish whatever runs */
        while (table_step(t, 64))
            ;
        break;
    case 6: /* a few of each */
    case 7:
        churn_insert(t, w, rng_below(16));
        churn_delete(t, w, rng_below(16));
        break;
    case 8: /* everything churned out, then shrink to the stable keys */
        churn_delete(t, w, w->npresent);
        if (rng_below(2))
            table_shrink(t);
        break;
    case 9: /* refill to the whole churn range */
        churn_insert(t, w, range);
        break;
    default: /* nothing between these two calls */
        break;
    }
    if (check)
        table_check(t);
}

/* What a series of runs went through, summed. */
typedef struct {
    uint64_t grows, shrinks, mid_migration_calls;
} coverage;

static void run_resizing(uint64_t seed, bool auto_shrink, uint64_t stable, uint64_t gone,
                         uint64_t churn, coverage *cov)
{
    rng_seed(seed * 0x9e3779b97f4a7c15ull + (auto_shrink ? 7 : 0));
    table *t = make(auto_shrink, NULL);
    world w = {.stable = stable,
               .gone = gone,
               .churn_lo = stable + gone,
               .churn_hi = stable + gone + churn};
    w.present = calloc(churn, sizeof *w.present);
    w.ever = calloc(churn, sizeof *w.ever);
    cr_assert(w.present != NULL && w.ever != NULL);

    /* Before the iteration: the stable keys, the doomed ones, some churn. */
    put_range(t, 0, stable + gone);
    del_range(t, stable, stable + gone);
    churn_insert(t, &w, rng_below(churn));
    memset(w.ever, 0, churn * sizeof *w.ever);
    for (uint64_t c = 0; c < churn; c++)
        w.ever[c] = w.present[c];
    table_check(t);

    table_stats st0 = stats(t);
    scan_run r;
    run_init(&r, w.churn_hi);
    while (!r.done) {
        table_stats st = stats(t);
        if (st.migrating && st.shrinking)
            w.calls_mid_shrink++;
        else if (st.migrating && st.buckets > st.old_buckets)
            w.calls_mid_grow++;
        run_step(t, &r);
        /* table_check walks everything: after every mutation of small
         * tables, every few calls of large ones. */
        mutate(t, &w, table_count(t) < 2000 || r.calls % 64 == 0);
    }
    table_stats st1 = stats(t);
    w.grows = st1.grows - st0.grows;
    w.auto_shrinks = st1.shrinks_auto - st0.shrinks_auto;
    w.manual_shrinks = st1.shrinks_manual - st0.shrinks_manual;
    table_check(t);

    uint64_t dups = 0, maxv = 0;
    for (uint64_t i = 0; i < stable; i++) {
        cr_assert_geq(r.visits[i], 1,
                      "seed %" PRIu64 " auto_shrink %d: stable key #%" PRIu64
                      " never visited (%" PRIu64 " calls, %" PRIu64 " grows, %" PRIu64
                      " auto / %" PRIu64 " manual shrinks)",
                      seed, auto_shrink, i, r.calls, w.grows, w.auto_shrinks, w.manual_shrinks);
        dups += r.visits[i] - 1;
        if (r.visits[i] > maxv)
            maxv = r.visits[i];
    }
    for (uint64_t i = stable; i < stable + gone; i++)
        cr_assert_eq(r.visits[i], 0,
                     "seed %" PRIu64 ": #%" PRIu64 " deleted before the scan was visited", seed, i);
    for (uint64_t c = 0; c < churn; c++)
        cr_assert(r.visits[w.churn_lo + c] == 0 || w.ever[c],
                  "seed %" PRIu64 ": churn #%" PRIu64 " visited but never present", seed,
                  w.churn_lo + c);
    cr_assert_eq(r.foreign, 0, "seed %" PRIu64 ": %" PRIu64 " keys never inserted", seed,
                 r.foreign);
    /* Redis's bound: a key is visited again only when a shrink folds
     * visited buckets into an unvisited one. Each resize can repeat a key at
     * most once, so the count is bounded by the resizes plus one. */
    uint64_t resizes = w.grows + w.auto_shrinks + w.manual_shrinks;
    cr_assert_leq(maxv, resizes + 1,
                  "seed %" PRIu64 ": a key visited %" PRIu64 " times in %" PRIu64 " resizes", seed,
                  maxv, resizes);
    cr_log_info("seed %" PRIu64 " auto %d: %" PRIu64 " calls (%" PRIu64 " mid-grow, %" PRIu64
                " mid-shrink), %" PRIu64 " grows, %" PRIu64 " auto + %" PRIu64
                " manual shrinks, %" PRIu64 " duplicate visits of %" PRIu64
                " stable keys (max %" PRIu64 ")\n",
                seed, auto_shrink, r.calls, w.calls_mid_grow, w.calls_mid_shrink, w.grows,
                w.auto_shrinks, w.manual_shrinks, dups, stable, maxv);
    run_free(&r);
    free(w.present);
    free(w.ever);
    tt_destroy(t);

    cov->grows += w.grows;
    cov->shrinks += w.auto_shrinks + w.manual_shrinks;
    cov->mid_migration_calls += w.calls_mid_grow + w.calls_mid_shrink;
}

/* The point of the runs: iterations went through resizes and migrations. */
static void expect_coverage(const coverage *cov)
{
    cr_assert_gt(cov->grows, 0, "no grow during any iteration");
    cr_assert_gt(cov->shrinks, 0, "no shrink during any iteration");
    cr_assert_gt(cov->mid_migration_calls, 0, "no scan call while migrating");
}

Test(table_scan, resizes_auto_shrink_small)
{
    coverage cov = {0};
    for (uint64_t seed = 1; seed <= 40; seed++)
        run_resizing(seed, true, 300, 200, 3000, &cov);
    expect_coverage(&cov);
}

Test(table_scan, resizes_no_auto_shrink_small)
{
    coverage cov = {0};
    for (uint64_t seed = 1; seed <= 40; seed++)
        run_resizing(seed, false, 300, 200, 3000, &cov);
    expect_coverage(&cov);
}

Test(table_scan, resizes_auto_shrink_large)
{
    coverage cov = {0};
    for (uint64_t seed = 100; seed < 103; seed++)
        run_resizing(seed, true, 2000, 500, 12000, &cov);
    expect_coverage(&cov);
}

Test(table_scan, resizes_no_auto_shrink_large)
{
    coverage cov = {0};
    for (uint64_t seed = 100; seed < 103; seed++)
        run_resizing(seed, false, 2000, 500, 12000, &cov);
    expect_coverage(&cov);
}

Test(table_scan, only_stable_keys_many_shrinks)
{
    /* No stable key at all but the doomed ones: the iteration must not
     * resurrect them, even as the table is reset to nothing by a shrink. */
    coverage cov = {0};
    for (uint64_t seed = 200; seed < 220; seed++)
        run_resizing(seed, seed % 2 == 0, 0, 500, 2000, &cov);
    expect_coverage(&cov);
}

/* ---- directed cases --------------------------------------------------------- */

/* Scan the first `calls` steps, run `between`, then finish the iteration;
 * every key of [0, n) must have been visited. */
static void scan_across(table *t, uint64_t n, uint64_t calls, void (*between)(table *),
                        const char *what)
{
    scan_run r;
    run_init(&r, n);
    for (uint64_t k = 0; k < calls && !r.done; k++)
        run_step(t, &r);
    cr_assert_not(r.done, "%s: the iteration ended before the change", what);
    between(t);
    table_check(t);
    while (!r.done) {
        run_step(t, &r);
        /* Advance any migration one step per call, as mutations would. */
        table_step(t, 1);
    }
    /* Filler keys added by `between` are foreign here: they may appear. */
    uint64_t missed = 0, first = 0;
    for (uint64_t i = 0; i < n; i++)
        if (r.visits[i] == 0 && missed++ == 0)
            first = i;
    cr_assert_eq(missed, 0,
                 "%s: %" PRIu64 " of %" PRIu64 " keys never visited (first #%" PRIu64 ", %" PRIu64
                 " calls)",
                 what, missed, n, first, r.calls);
    run_free(&r);
}

static void grow_x8(table *t)
{
    put_range(t, 1u << 20, (1u << 20) + 8 * table_count(t));
    finish(t);
}

static void grow_one_step(table *t)
{
    uint64_t i = 1u << 22;
    uint64_t g = stats(t).grows;
    while (stats(t).grows == g)
        put(t, i++);
    cr_assert(stats(t).migrating);
}

static void shrink_now(table *t)
{
    cr_assert(table_shrink(t), "table_shrink started a migration");
    cr_assert(stats(t).migrating || stats(t).buckets == 64);
}

static void shrink_and_finish(table *t)
{
    table_shrink(t);
    finish(t);
}

Test(table_scan, directed_grow_shrink_between_calls)
{
    const uint64_t n = 2000;

    /* Grow 8x (three doublings) half way through. */
    table *t = make(true, NULL);
    put_range(t, 0, n);
    finish(t);
    scan_across(t, n, stats(t).buckets / 2, grow_x8, "grow x8");
    tt_destroy(t);

    /* Start a grow half way, continue while it migrates. */
    t = make(true, NULL);
    put_range(t, 0, n);
    finish(t);
    scan_across(t, n, stats(t).buckets / 3, grow_one_step, "grow mid-migration");
    tt_destroy(t);

    /* A big table shrunk to the n keys by table_shrink (several halvings at
     * once), half way, migrating while the scan goes on. */
    t = make(false, NULL);
    put_range(t, 0, 50 * n);
    del_range(t, n, 50 * n);
    finish(t);
    uint64_t big = stats(t).buckets;
    scan_across(t, n, big / 2 + 3, shrink_now, "table_shrink mid-migration");
    cr_assert_lt(stats(t).buckets, big / 8);
    tt_destroy(t);

    /* The same, the shrink finished before the next call. */
    t = make(false, NULL);
    put_range(t, 0, 50 * n);
    del_range(t, n, 50 * n);
    finish(t);
    scan_across(t, n, stats(t).buckets / 4 + 1, shrink_and_finish, "table_shrink finished");
    tt_destroy(t);
}

static void drain_auto(table *t)
{
    /* Delete the filler keys (auto_shrink on): shrinks start by themselves. */
    del_range(t, 1u << 24, (1u << 24) + 30000);
    cr_assert_gt(stats(t).shrinks_auto, 0);
}

static void shrink_during_grow(table *t)
{
    grow_one_step(t);
    table_step(t, 3);
    cr_assert(stats(t).migrating && !stats(t).shrinking);
    table_shrink(t); /* finishes the grow, then shrinks */
}

Test(table_scan, directed_auto_shrink_and_shrink_during_grow)
{
    const uint64_t n = 1000;
    table *t = make(true, NULL);
    put_range(t, 0, n);
    put_range(t, 1u << 24, (1u << 24) + 30000);
    finish(t);
    scan_across(t, n, stats(t).buckets * 5 / 8, drain_auto, "auto shrink");
    tt_destroy(t);

    t = make(false, NULL);
    put_range(t, 0, n);
    finish(t);
    scan_across(t, n, stats(t).buckets / 2 + 1, shrink_during_grow, "table_shrink mid-grow");
    tt_destroy(t);
}
