/*
 * test_table_snap.c - snapshots while the table changes (table.h,
 * "snapshots"): every key live at the start handed over exactly once, as it
 * was then, whatever writes, class changes, expire changes, deletes,
 * evictions, expiries, grows and shrinks happen between the walk's steps.
 */
#include <stdlib.h>

#include "table_testlib.h"

#define SN_KEYS 6000u

/* What one key is (or was at the snapshot's start). */
typedef struct {
    bool live;
    uint8_t len;
    uint64_t seed;
    int64_t exp;
} sn_key;

typedef struct {
    sn_key at_start[SN_KEYS];
    uint8_t seen[SN_KEYS];
    uint64_t handed;
    uint64_t early;    /* table_snap_early at the end */
    int64_t clock_end; /* keys expiring before this may be left out */
} sn_check;

/* The model and the check of the test running (one per process). */
static sn_key sn_model[SN_KEYS];
static sn_check sn_chk;

static void sn_value(uint64_t seed, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seed >> ((i % 8) * 8)) ^ (uint8_t)i;
}

/* key_of's inverse: its multiplier is odd (Newton's iteration). */
static uint64_t index_of(int64_t key)
{
    uint64_t mul = 0x9e3779b97f4a7c15ull, inv = mul;
    for (int k = 0; k < 5; k++)
        inv *= 2 - mul * inv;
    return (uint64_t)key * inv;
}

static void sn_take(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t exp)
{
    sn_check *c = arg;
    uint64_t i = index_of(key);
    cr_assert(i < SN_KEYS, "handed key %" PRId64 " was never written", key);
    cr_assert_eq(c->seen[i], 0, "key %" PRIu64 " handed over twice", i);
    c->seen[i] = 1;
    c->handed++;
    const sn_key *k = &c->at_start[i];
    cr_assert(k->live, "key %" PRIu64 " was not there at the start", i);
    uint8_t want[TABLE_VALUE_MAX];
    sn_value(k->seed, k->len, want);
    cr_assert(len == k->len && memcmp(val, want, len) == 0, "key %" PRIu64 ": the start's value",
              i);
    cr_assert_eq(exp, k->exp, "key %" PRIu64 ": the start's expire time", i);
}

static void sn_put(table *t, sn_key *m, uint64_t i, int64_t exp)
{
    uint8_t v[TABLE_VALUE_MAX];
    m[i].len = (uint8_t)rng_below(TABLE_VALUE_MAX + 1);
    m[i].seed = rng();
    m[i].exp = exp;
    m[i].live = true;
    sn_value(m[i].seed, m[i].len, v);
    cr_assert_eq(table_put(t, key_of(i), v, m[i].len, exp, false, NULL), TABLE_OK);
}

/* A test's start: the seed, an empty model and check, and a table (opt:
 * NULL for the defaults) holding `keys` keys without TTLs. */
static table *sn_fresh(uint64_t seed, const table_options *opt, uint64_t keys, sn_key **m,
                       sn_check **c)
{
    rng_seed(seed);
    memset(sn_model, 0, sizeof sn_model);
    memset(&sn_chk, 0, sizeof sn_chk);
    *m = sn_model;
    *c = &sn_chk;
    table *t = table_create(opt);
    cr_assert_not_null(t);
    for (uint64_t i = 0; i < keys; i++)
        sn_put(t, sn_model, i, 0);
    return t;
}

/* Random changes to table and model between steps of a snapshot; the
 * clock (if any) moves by up to `tick` ms per round. */
static void sn_run(table *t, sn_key *m, sn_check *c, int64_t *clock, int64_t tick)
{
    memcpy(c->at_start, m, sizeof c->at_start);
    cr_assert(table_snap_begin(t, sn_take, c));
    cr_assert(table_snap_active(t));
    bool more = true;
    while (more) {
        for (int op = 0; op < 40; op++) {
            uint64_t i = rng_below(SN_KEYS);
            switch (rng_below(8)) {
            case 0:
            case 1: /* a write, often into another size class */
                sn_put(t, m, i,
                       rng_below(4) == 0 && clock != NULL ? *clock + 1 + (int64_t)rng_below(400)
                                                          : 0);
                break;
            case 2: /* an expire time set or cleared */
                if (m[i].live && clock != NULL) {
                    int64_t at = rng_below(2) ? 0 : *clock + 1000000;
                    cr_assert_eq(table_expire(t, key_of(i), at), TABLE_OK);
                    m[i].exp = at;
                }
                break;
            case 3:
                if (m[i].live) {
                    cr_assert_eq(table_del(t, key_of(i)), TABLE_OK);
                    m[i].live = false;
                }
                break;
            case 4:
                if (m[i].live) {
                    cr_assert_eq(table_evict(t, key_of(i)), TABLE_OK);
                    m[i].live = false;
                }
                break;
            case 5: { /* a write that keeps the TTL */
                if (!m[i].live)
                    break;
                uint8_t v[TABLE_VALUE_MAX];
                m[i].len = (uint8_t)rng_below(TABLE_VALUE_MAX + 1);
                m[i].seed = rng();
                sn_value(m[i].seed, m[i].len, v);
                cr_assert_eq(table_put(t, key_of(i), v, m[i].len, 0, true, NULL), TABLE_OK);
                break;
            }
            default: /* reads: lazy expiry */
                (void)table_get(t, key_of(i), NULL, NULL);
                break;
            }
        }
        if (rng_below(50) == 0)
            (void)table_shrink(t);
        (void)table_step(t, 4);
        if (clock != NULL) {
            *clock += (int64_t)rng_below((uint64_t)tick + 1);
            uint64_t expired;
            bool wrapped;
            (void)table_expire_scan(t, 20, &expired, &wrapped);
            for (uint64_t i = 0; i < SN_KEYS; i++)
                if (m[i].live && m[i].exp != 0 && m[i].exp <= *clock)
                    m[i].live = false;
        }
        more = table_snap_step(t, (uint32_t)rng_below(64));
        cr_assert_not(table_snap_failed(t));
    }
    c->early = table_snap_early(t);
    table_snap_end(t);
    cr_assert_not(table_snap_active(t));
    c->clock_end = clock != NULL ? *clock : 0;
    /* Every key of the start that did not expire meanwhile was handed over. */
    for (uint64_t i = 0; i < SN_KEYS; i++) {
        const sn_key *k = &c->at_start[i];
        bool may_miss = k->exp != 0 && k->exp <= c->clock_end;
        if (k->live && !may_miss)
            cr_assert_eq(c->seen[i], 1, "key %" PRIu64 " of the start was not handed over", i);
    }
    table_check(t);
}

Test(table_snap, the_start_state_exactly_once_under_changes)
{
    sn_key *m;
    sn_check *c;
    table *t = sn_fresh(101, NULL, 0, &m, &c);
    for (uint64_t i = 0; i < SN_KEYS; i++)
        if (rng_below(3) != 0)
            sn_put(t, m, i, 0);
    sn_run(t, m, c, NULL, 0);
    uint64_t live = 0;
    for (uint64_t i = 0; i < SN_KEYS; i++)
        live += c->at_start[i].live;
    cr_assert_eq(c->handed, live);
    cr_assert_gt(c->early, 0, "some records were handed over by changes");
    table_destroy(t);
}

Test(table_snap, expire_times_and_expiry_during_the_walk)
{
    static int64_t clock = 1700000000000;
    table_options opt = {.auto_shrink = true, .clock_ms = &clock};
    sn_key *m;
    sn_check *c;
    table *t = sn_fresh(202, &opt, 0, &m, &c);
    for (uint64_t i = 0; i < SN_KEYS; i++)
        if (rng_below(3) != 0)
            sn_put(t, m, i, rng_below(2) ? clock + 1 + (int64_t)rng_below(3000) : 0);
    sn_run(t, m, c, &clock, 20);
    table_destroy(t);
}

Test(table_snap, a_drain_and_a_refill_during_the_walk)
{
    /* Deleting everything and writing it again with new values: the walk
     * must hand over the old values only, once each. */
    sn_key *m;
    sn_check *c;
    table *t = sn_fresh(303, NULL, SN_KEYS, &m, &c);
    memcpy(c->at_start, m, sizeof c->at_start);
    cr_assert(table_snap_begin(t, sn_take, c));
    cr_assert(table_snap_step(t, 100));
    for (uint64_t i = 0; i < SN_KEYS; i++)
        cr_assert_eq(table_del(t, key_of(i)), TABLE_OK);
    for (uint64_t i = 0; i < SN_KEYS; i++)
        sn_put(t, m, i, 0);
    while (table_snap_step(t, 1000)) {
    }
    cr_assert_eq(c->handed, SN_KEYS);
    cr_assert_eq(table_snap_early(t), SN_KEYS - 100);
    table_snap_end(t);
    table_destroy(t);
}

Test(table_snap, clearing_the_table_ends_it)
{
    sn_key *m;
    sn_check *c;
    table *t = sn_fresh(404, NULL, 100, &m, &c);
    memcpy(c->at_start, m, sizeof c->at_start);
    cr_assert(table_snap_begin(t, sn_take, c));
    table_clear(t);
    cr_assert_not(table_snap_active(t));
    cr_assert_not(table_snap_step(t, 1000));
    cr_assert_eq(c->handed, 0);
    table_destroy(t);
}
