/*
 * test_table_oom.c - the table when memory cannot be had (issue 14, item 5):
 * growing a class's chunk array, a record chunk, a bucket array (a grow, and a shrink), an
 * overflow pool (its first mapping mid-migration, and its growth) and the
 * side arrays (expire times, LRU stamps) each fail cleanly: the call says
 * TABLE_NOMEM (or, where the contract lets it, goes on without the memory),
 * table_check() holds, every key reads back, and once memory is back the
 * same call succeeds.
 *
 * How memory is taken away: cap_on() caps this process's address space
 * (RLIMIT_AS; each Criterion test is a process of its own) at exactly what
 * it maps now, so every mmap, growing mremap and brk fails, and uses up the
 * heap's free blocks, so that a malloc or realloc cannot be served from them
 * either.
 * Nothing is left to chance in between: each test brings the table to a state
 * where the call under test needs exactly the allocation it is about (which
 * the comments say), and asserts what the table reports.
 *
 * Between cap_on() and cap_off() nothing may allocate, so Criterion's
 * assertions (whose failure reports do) wait until after cap_off(); the
 * calls' results are kept in locals meanwhile.
 *
 * Not built under EBB_SANITIZE (see CMakeLists.txt): AddressSanitizer maps
 * terabytes of shadow memory, and its allocator does not take memory from
 * the heap as glibc's does.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "table.h"
#include "table_testlib.h"

TestSuite(table_oom, .fini = tt_cleanup);

/* Layout facts of table.c and store.c the tests aim at. */
#define RECS_PER_BLOCK 2048u /* records per side-array block of a class */
#define BUCKET_BYTES 64u
/* A class's chunk array starts with room for 4 chunks and doubles
 * (store.c, chunk_push); a chunk holds 2 MiB / 137 records of 128-byte
 * values. */
#define CHUNKS_FIRST_CAP 4u
#define RECS_PER_CHUNK_128 ((2u * 1024u * 1024u) / 137u)

/* ---- Taking memory away ----------------------------------------------------- */

/* Bytes mapped by this process (VmSize), read without allocating. */
static uint64_t vm_size(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, "VmSize:");
    return p != NULL ? strtoull(p + 7, NULL, 10) * 1024u : 0;
}

/* Fault in stack below the caller: the stack counts in the address space,
 * and growing it past a cap would be SIGSEGV, not an error. */
__attribute__((noinline)) static void grow_stack(void)
{
    volatile char pad[256 * 1024];
    for (size_t i = 0; i < sizeof pad; i += 1024)
        pad[i] = 1;
}

static struct rlimit saved_as;
static void *drained; /* heap blocks taken by cap_on, linked through their first word */

/* Take malloc(size) blocks until none is left. */
static void drain_heap(size_t size)
{
    void *p;
    while ((p = malloc(size)) != NULL) {
        *(void **)p = drained;
        drained = p;
    }
}

static void cap_on(void)
{
    grow_stack();
    cr_assert(getrlimit(RLIMIT_AS, &saved_as) == 0);
    uint64_t vm = vm_size();
    cr_assert(vm > 0, "VmSize unreadable");
    struct rlimit cap = {.rlim_cur = vm, .rlim_max = saved_as.rlim_max};
    /* (Asserting only on failure: Criterion reports a passed assertion
     * too, which allocates.) */
    if (setrlimit(RLIMIT_AS, &cap) != 0)
        cr_assert_fail("setrlimit(RLIMIT_AS)");
    /* The heap cannot grow now; take what it has free. A request of 4 KiB
     * first (large enough that glibc merges its fast-bin blocks), then
     * every size class of glibc's per-size caches (tcache, fast bins) from
     * 1 KiB down, each of which a malloc of that size would take first:
     * afterwards no malloc or growing realloc can be served. */
    drain_heap(4096);
    for (size_t size = 1024; size >= 16; size -= 16)
        drain_heap(size);
}

static void cap_off(void)
{
    setrlimit(RLIMIT_AS, &saved_as);
    while (drained != NULL) {
        void *next = *(void **)drained;
        free(drained);
        drained = next;
    }
}

/* ---- Keys ----------------------------------------------------------------------- */

/* Values of this length if not 0 (one size class), else of every length. */
static size_t fixed_len;

/* Key i's value: fixed_len or 1 + i % 128 bytes, from i and gen. */
static size_t value_of(uint64_t i, unsigned gen, uint8_t *v)
{
    size_t len = fixed_len ? fixed_len : 1 + i % TABLE_VALUE_MAX;
    uint64_t x = i * 0x9e3779b97f4a7c15ull + gen;
    for (size_t k = 0; k < len; k++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        v[k] = (uint8_t)(x >> 56);
    }
    return len;
}

static table_status put(table *t, uint64_t i, unsigned gen, int64_t expire_at)
{
    uint8_t v[TABLE_VALUE_MAX];
    size_t len = value_of(i, gen, v);
    return table_put(t, key_of(i), v, len, expire_at, false, NULL);
}

/* Insert keys [from, to) (generation 0, no TTL), memory permitting. */
static void insert(table *t, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        cr_assert_eq(put(t, i, 0, 0), TABLE_OK, "insert %" PRIu64, i);
}

/* table_check, and keys [from, to) hold their generation-gen values. */
static void expect_keys(table *t, uint64_t from, uint64_t to, unsigned gen)
{
    table_check(t);
    uint8_t v[TABLE_VALUE_MAX];
    for (uint64_t i = from; i < to; i++) {
        const uint8_t *p;
        size_t len, want = value_of(i, gen, v);
        cr_assert_eq(table_get(t, key_of(i), &p, &len), TABLE_OK, "key %" PRIu64 " missing", i);
        cr_assert(len == want && memcmp(p, v, len) == 0, "key %" PRIu64 ": value", i);
    }
}

static void finish_migration(table *t)
{
    while (table_step(t, 64))
        ;
    table_check(t);
}

/* A table with every option off but auto_shrink (no prefaulter: its
 * best-effort mappings ahead would hide the ones under test). */
static table *make(bool lru, const int64_t *clock)
{
    fixed_len = 0;
    table_options o = {.auto_shrink = true, .track_lru = lru, .clock_ms = clock};
    table *t = tt_create(&o);
    cr_assert_not_null(t);
    return t;
}

/* ---- Record store ---------------------------------------------------------------- */

Test(table_oom, record_chunks_and_the_chunk_array)
{
    table *t = make(false, NULL);
    fixed_len = TABLE_VALUE_MAX; /* one class: its chunks are the table's */
    /* 4 full chunks: the class's chunk array (room for 4) is full, and the
     * next insert must double it before it can map chunk 4. The index
     * needs nothing: 61228 keys are below the grow threshold of 8192
     * buckets (79872), the last grow's migration is over, and the insert
     * takes its record before its overflow bucket; the side blocks' array
     * has room for 32 blocks (65536 records). */
    uint64_t n = (uint64_t)CHUNKS_FIRST_CAP * RECS_PER_CHUNK_128;
    insert(t, 0, n);
    finish_migration(t);
    table_stats before = stats(t);
    cr_assert_eq(before.record_chunks, CHUNKS_FIRST_CAP);
    cr_assert_eq(before.buckets, 8192);

    cap_on();
    table_status a = put(t, n, 0, 0);
    table_status b = put(t, n + 1, 0, 0);
    table_status del = table_del(t, key_of(0)); /* needs nothing */
    cap_off();
    cr_assert_eq(a, TABLE_NOMEM, "insert needing a bigger chunk array: %d", a);
    cr_assert_eq(b, TABLE_NOMEM);
    cr_assert_eq(del, TABLE_OK);
    table_stats st = stats(t);
    cr_assert_eq(st.record_chunks, CHUNKS_FIRST_CAP);
    cr_assert_eq(st.count, n - 1);
    expect_keys(t, 1, n, 0);
    cr_assert_eq(table_get(t, key_of(n), NULL, NULL), TABLE_NOT_FOUND);
    cr_assert_eq(put(t, 0, 0, 0), TABLE_OK);

    /* Memory back: the same insert works; then a chunk that fits in the
     * chunk array (room for 8) but cannot be mapped. The blocks' array
     * (room for 64 blocks now) needs nothing either. */
    cr_assert_eq(put(t, n, 0, 0), TABLE_OK);
    cr_assert_eq(stats(t).record_chunks, CHUNKS_FIRST_CAP + 1);
    uint64_t m = n + RECS_PER_CHUNK_128;
    insert(t, n + 1, m);
    finish_migration(t);
    cap_on();
    a = put(t, m, 0, 0);
    cap_off();
    cr_assert_eq(a, TABLE_NOMEM, "insert needing a new chunk: %d", a);
    cr_assert_eq(stats(t).record_chunks, CHUNKS_FIRST_CAP + 1);
    expect_keys(t, 0, m, 0);
    insert(t, m, m + 10);
    expect_keys(t, 0, m + 10, 0);
    tt_destroy(t);
}

/* ---- Bucket arrays ---------------------------------------------------------------- */

Test(table_oom, bucket_array_grow_and_shrink)
{
    table *t = make(false, NULL);
    /* 9984 keys = 9.75 x 1024: the next insert starts a grow to 2048
     * buckets, which maps the new array first. Its record fits in its
     * class's chunk. */
    uint64_t n = 9984;
    insert(t, 0, n);
    finish_migration(t);
    table_stats before = stats(t);
    cr_assert_eq(before.buckets, 1024);
    cr_assert_not(before.migrating);

    cap_on();
    table_status a = put(t, n, 0, 0);
    table_status b = put(t, n + 1, 0, 0);
    table_status got = table_get(t, key_of(5), NULL, NULL);
    cap_off();
    cr_assert_eq(a, TABLE_NOMEM, "insert that must grow the array: %d", a);
    cr_assert_eq(b, TABLE_NOMEM);
    cr_assert_eq(got, TABLE_OK);
    table_stats st = stats(t);
    cr_assert_eq(st.grows, before.grows, "no grow started");
    cr_assert_not(st.migrating);
    cr_assert_eq(st.buckets, 1024);
    cr_assert_eq(st.index_bytes, before.index_bytes);
    expect_keys(t, 0, n, 0);

    cr_assert_eq(put(t, n, 0, 0), TABLE_OK);
    st = stats(t);
    cr_assert_eq(st.grows, before.grows + 1);
    cr_assert(st.migrating);
    finish_migration(t);
    expect_keys(t, 0, n + 1, 0);

    /* Shrink: below 2.4375 keys per bucket (4992 keys in 2048 buckets) a
     * delete starts a migration to a smaller array, which cannot be
     * mapped; deletes go on regardless, and table_shrink starts nothing
     * either. Deleted down to the threshold first, uncapped: the record
     * chunks a drain unmaps would otherwise leave room under the cap. */
    uint64_t keep = 4992;
    for (uint64_t i = keep; i <= n; i++)
        cr_assert_eq(table_del(t, key_of(i)), TABLE_OK);
    before = stats(t);
    cr_assert_not(before.migrating);
    cr_assert_eq(before.buckets, 2048);
    uint64_t low = 4500; /* records stay within the same pages */
    cap_on();
    table_status dels = TABLE_OK;
    for (uint64_t i = low; i < keep && dels == TABLE_OK; i++)
        dels = table_del(t, key_of(i));
    bool shrunk = table_shrink(t);
    table_stats capped = stats(t);
    cap_off();
    cr_assert_eq(dels, TABLE_OK, "deletes need no memory");
    cr_assert_not(shrunk, "table_shrink cannot map a smaller array");
    cr_assert_not(capped.migrating, "no shrink started");
    cr_assert_eq(capped.shrinks_auto, before.shrinks_auto);
    cr_assert_eq(capped.buckets, 2048);
    cr_assert_eq(capped.count, low);
    expect_keys(t, 0, low, 0);
    cr_assert_eq(table_del(t, key_of(low - 1)), TABLE_OK);
    cr_assert_eq(stats(t).shrinks_auto, before.shrinks_auto + 1, "memory back: a delete shrinks");
    finish_migration(t);
    cr_assert_lt(stats(t).buckets, 2048);
    expect_keys(t, 0, low - 1, 0);
    tt_destroy(t);
}

/* ---- Overflow pools ----------------------------------------------------------------- */

Test(table_oom, overflow_pool_mid_migration)
{
    table *t = make(false, NULL);
    /* The insert that starts a grow lands in the old array (nothing is
     * evacuated yet), so the new array's overflow pool is not mapped. The
     * next insert evacuates old buckets first: the first that holds keys
     * needs room reserved in that pool, which must be mapped. */
    uint64_t n = 9985;
    insert(t, 0, n);
    table_stats before = stats(t);
    cr_assert(before.migrating && before.grows > 0 && before.migrated == 0,
              "the grow just started (migrated %" PRIu64 ")", before.migrated);

    cap_on();
    table_status a = put(t, n, 0, 0);
    for (int i = 0; i < 100; i++)
        (void)table_step(t, 8); /* cannot get further either */
    table_status got = table_get(t, key_of(7), NULL, NULL);
    table_status del = table_del(t, key_of(7));
    table_stats capped = stats(t);
    cap_off();
    cr_assert_eq(a, TABLE_NOMEM, "insert whose evacuation needs the new pool: %d", a);
    cr_assert_eq(got, TABLE_OK);
    cr_assert_eq(del, TABLE_OK, "deletes need no memory, migration or not");
    cr_assert(capped.migrating);
    cr_assert_lt(capped.migrated, 4, "stuck at the first bucket with keys (%" PRIu64 ")",
                 capped.migrated);
    cr_assert_eq(capped.count, n - 1);
    expect_keys(t, 0, 7, 0);
    expect_keys(t, 8, n, 0);
    cr_assert_eq(put(t, 7, 0, 0), TABLE_OK);
    cr_assert_eq(put(t, n, 0, 0), TABLE_OK);
    finish_migration(t);
    expect_keys(t, 0, n + 1, 0);
    tt_destroy(t);
}

Test(table_oom, overflow_pool_growth)
{
    table *t = make(false, NULL);
    fixed_len = 8; /* one class, 17-byte records: 240 a page */
    /* Insert one key at a time until the current pool is full (not
     * migrating: the index is then the array plus its pool). Pools fill
     * and double as overflow buckets accumulate towards the grow load, so
     * this comes within a few grows. */
    uint64_t i = 0;
    for (;; i++) {
        cr_assert_lt(i, 2000000u, "the pool never filled");
        cr_assert_eq(put(t, i, 0, 0), TABLE_OK);
        table_stats st = stats(t);
        if (st.migrating || st.index_bytes == st.buckets * BUCKET_BYTES)
            continue;
        uint64_t pool_cap = (st.index_bytes - st.buckets * BUCKET_BYTES) / BUCKET_BYTES;
        /* Room for a few hundred more keys before a grow. */
        bool grow_soon = (st.count + 1000) * 4 > 39 * st.buckets;
        if (st.overflow_buckets == pool_cap && !grow_soon)
            break;
    }
    uint64_t n = i + 1;
    /* Only an insert into a full chain needs an overflow bucket (and so a
     * bigger pool); others go in under the cap. An insert may also need a
     * record page the cap refuses: then it is retried uncapped, which
     * must leave the pool as it was, and the search goes on. */
    table_status a = TABLE_OK, replace = TABLE_OK;
    table_stats before = stats(t);
    for (int round = 0;; round++) {
        cr_assert_lt(round, 50, "no insert under the cap needed a bigger pool");
        before = stats(t);
        cap_on();
        while (n < i + 20000 && (a = put(t, n, 0, 0)) == TABLE_OK)
            n++;
        replace = put(t, 3, 1, 0); /* an existing key needs nothing */
        cap_off();
        cr_assert_eq(a, TABLE_NOMEM, "20000 inserts, none needing memory: %d", a);
        cr_assert_eq(replace, TABLE_OK);
        table_stats st = stats(t);
        cr_assert_eq(st.index_bytes, before.index_bytes);
        cr_assert_eq(st.count, n);
        cr_assert_eq(put(t, n, 0, 0), TABLE_OK);
        n++;
        if (stats(t).index_bytes > before.index_bytes)
            break; /* that insert grew the pool */
    }
    expect_keys(t, 0, 3, 0);
    expect_keys(t, 3, 4, 1);
    expect_keys(t, 4, n, 0);
    tt_destroy(t);
}

/* ---- Side arrays ---------------------------------------------------------------------- */

Test(table_oom, expire_and_lru_arrays)
{
    int64_t clock = 1000;
    int64_t later = 1000000;
    table *t = make(true, &clock);
    fixed_len = 8; /* one class: key i is its record i */
    /* Three blocks of keys, no TTLs; every key read once, so each block has
     * its LRU array. Then keys of block 2 get a TTL (its expire array). */
    uint64_t n = 3 * RECS_PER_BLOCK - 5;
    insert(t, 0, n);
    expect_keys(t, 0, n, 0);
    finish_migration(t);
    for (uint64_t i = 2 * RECS_PER_BLOCK; i < n; i += 100)
        cr_assert_eq(table_expire(t, key_of(i), later), TABLE_OK);
    table_stats before = stats(t);

    cap_on();
    /* A TTL for a key of block 0 (record 10) needs block 0's expire array. */
    table_status e0 = table_expire(t, key_of(10), later);
    /* Replacing a key with a TTL too, and its value must stay as it was. */
    table_status r0 = put(t, 11, 1, later);
    /* A TTL in block 2, which has its array, needs nothing. */
    table_status e2 = table_expire(t, key_of(2 * RECS_PER_BLOCK + 1), later);
    /* Deleting key 20 moves the last record (a key with a TTL, in chunk
     * 2) into record 20, in block 0, which has no expire array and cannot
     * get one: that key is deleted too, never kept without its TTL
     * (table_del). */
    uint64_t last = n - 1;
    table_status ttl_last = table_expire(t, key_of(last), later);
    table_status d = table_del(t, key_of(20));
    table_stats capped = stats(t);
    cap_off();
    cr_assert_eq(e0, TABLE_NOMEM, "expire needing an array: %d", e0);
    cr_assert_eq(r0, TABLE_NOMEM, "replace with a TTL needing an array: %d", r0);
    cr_assert_eq(e2, TABLE_OK);
    cr_assert_eq(ttl_last, TABLE_OK);
    cr_assert_eq(d, TABLE_OK);
    cr_assert_eq(capped.meta_bytes, before.meta_bytes, "no side array mapped");
    expect_keys(t, 0, 20, 0);
    expect_keys(t, 21, n - 1, 0);
    cr_assert_eq(table_get(t, key_of(n - 1), NULL, NULL), TABLE_NOT_FOUND,
                 "the moved key outlived the expire time it could not keep");
    cr_assert_eq(capped.count, n - 2);
    int64_t at;
    cr_assert_eq(table_get_expire(t, key_of(10), &at), TABLE_OK);
    cr_assert_eq(at, 0, "the refused TTL is not set");
    cr_assert_eq(table_get_expire(t, key_of(11), &at), TABLE_OK);
    cr_assert_eq(at, 0);

    /* Memory back: each of those works. */
    cr_assert_eq(table_expire(t, key_of(10), later), TABLE_OK);
    cr_assert_eq(put(t, 11, 1, later), TABLE_OK);
    cr_assert_eq(put(t, 20, 0, 0), TABLE_OK);
    table_check(t);
    cr_assert_eq(table_get_expire(t, key_of(10), &at), TABLE_OK);
    cr_assert_eq(at, later);
    expect_keys(t, 11, 12, 1);

    tt_destroy(t);

    /* LRU: tracking turned on at runtime, a block's first access cannot map
     * its stamps. The read works all the same; the key just looks never
     * used. */
    t = make(false, &clock);
    fixed_len = 8;
    insert(t, 0, RECS_PER_BLOCK + 10);
    finish_migration(t);
    table_options o = table_get_options(t);
    o.track_lru = true;
    table_set_options(t, &o);
    before = stats(t);
    clock = 5000;
    cap_on();
    table_status g = table_get(t, key_of(RECS_PER_BLOCK + 5), NULL, NULL);
    uint32_t stamp = 99;
    table_status l = table_get_lru(t, key_of(RECS_PER_BLOCK + 5), &stamp);
    table_stats lcap = stats(t);
    cap_off();
    cr_assert_eq(g, TABLE_OK);
    cr_assert_eq(l, TABLE_OK);
    cr_assert_eq(stamp, 0, "no stamp without memory for it");
    cr_assert_eq(lcap.meta_bytes, before.meta_bytes);
    expect_keys(t, 0, RECS_PER_BLOCK + 10, 0); /* reads: stamps mapped now */
    cr_assert_eq(table_get_lru(t, key_of(RECS_PER_BLOCK + 5), &stamp), TABLE_OK);
    cr_assert_eq(stamp, 5000 / TABLE_LRU_UNIT_MS);
    tt_destroy(t);
}
