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
#include <inttypes.h>
#include <stdint.h>

#include "table.h"

/* Deterministic PRNG for random sequences (xorshift64*), one per file. */
static uint64_t rng_state;

static inline void rng_seed(uint64_t s) { rng_state = s ? s : 1; }

static inline uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static inline uint64_t rng_below(uint64_t n) { return rng() % n; }

/* Model index -> key: an odd multiplier is a bijection on 64 bits, so keys
 * are distinct, spread, and about half of them negative. */
static inline int64_t key_of(uint64_t i) { return (int64_t)(i * 0x9e3779b97f4a7c15ull); }

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

#endif
