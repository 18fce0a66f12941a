/*
 * table.c - the keyspace table's index: int64 key -> a record of the store.
 * See table.h for the contract; this file explains the index's layout and
 * policy. The records themselves are the record store's (store.h), and the
 * moving of memory into huge pages is huge.h's.
 *
 * LAYOUT
 * ======
 *
 * Bucket (64 bytes, one cache line, 12 slots):
 *
 *   byte  0                12                                        60   64
 *         +----------------+-----------------------------------------+----+
 *         | tophash        | ref[0] ref[1] ... ref[11]               |ovf |
 *         | 12 x u8        | 12 x u32 record refs                    |u32 |
 *         +----------------+-----------------------------------------+----+
 *
 *   tophash[i]  top 8 bits of the key's hash, 1..255; 0 = slot empty
 *   ref[i]      the key's record in the store: size class and number
 *   ovf         1-based index of the next bucket of the chain in this
 *               generation's overflow pool; 0 = end of chain
 *
 *   A slot is 5 bytes: the value's length lives in the record (which a
 *   lookup reads anyway, to compare the key), its class in the ref.
 *
 *   Chains are kept compact: the occupied slots of a chain (home bucket, then
 *   its overflow buckets in order) are always a prefix. So a probe can stop at
 *   the first bucket with an empty slot, an insert appends at the end of the
 *   prefix, and a delete moves the chain's last occupied slot into the hole
 *   (an overflow bucket that becomes empty is unlinked and goes to the pool's
 *   free list). There are never tombstones.
 *
 * Records move only when the store moves one (a remove fills its hole with
 * the class's last record; a value changing class moves to a record of the
 * new class): the index then repoints the one slot that referred to it.
 * Grow, shrink and evacuation copy only the 5-byte slots.
 *
 * HUGE PAGES. A lookup in a big table touches a random bucket and a random
 * record; with 4 KiB pages each is also a TLB miss, whose page walk (two
 * levels of tables under a hypervisor) costs as much as the miss itself: on
 * a 10M-key table that was half the time of a GET. So bucket arrays of
 * HUGE_ARRAY_MIN (16 MiB, 2^18 buckets: from ~1.3M keys) or more are mapped
 * 2 MiB-aligned and end in huge pages, as do the store's chunks once it is
 * big (store.h). How the 2 MiB pages come in without a client waiting for
 * the kernel to fault one: PREFAULT and PROMOTE below (the kernel's
 * khugepaged merges ordinary pages by itself, but far too slowly to count
 * on: client-tests/bench/NOTES.md).
 *
 * PREFAULT. The kernel allocates and zeroes a huge page inside the fault of
 * its first write: 0.5 to 13 ms here (the host backs fresh memory lazily),
 * a stall for every client; and an insert's write to a fresh 4 KiB page
 * took 2 to 14 ms now and then too. Given a prefaulter
 * (table_options.prefault, prefault.h), a thread of the prefaulter takes
 * those faults instead: the store asks for its records' pages ahead of the
 * writes (store.c, AHEAD), and a migration into a bucket array of
 * HUGE_ARRAY_MIN or more asks for the destination's pages ahead of its
 * steps, since migration steps writing the new array take most of a big
 * load's page faults otherwise (NOTES.md). A migration fills the new array
 * in order (old bucket i into new buckets i
 * and i + M on a grow, i mod M/2 on a shrink), so on entering a 2 MiB page
 * of the destination it asks for the next page of each run, in the LATER
 * lane. A write-driven migration step does not evacuate into a page whose
 * request is not served yet: the write goes on (into the old array, as the
 * migration rule says for buckets not yet evacuated) and the step is left
 * for a later write. Such waits are bounded by a quarter of the old array's
 * buckets per migration, so a migration still ends in at most 3/4 x M
 * writes, before the next trigger (POLICY). A background step (table_step)
 * only returns.
 *   Map changes (mmap, munmap, mremap) take the process's memory map
 *   exclusively and would wait for the worker's page in progress, so the
 *   ones that can be put off are made only while it is held between pages
 *   (map_hold): starting a grow, unmapping a finished migration's old array
 *   (t->retired until then), growing a pool early (pool_ahead,
 *   POOL_AHEAD_MIN buckets ahead at least), moving a range (PROMOTE). An old
 *   array's evacuated front is discarded with MADV_DONTNEED, which shares
 *   the map, rather than unmapped.
 *
 * PROMOTE. Where the kernel has huge pages, memory is written in ordinary
 * pages (MADV_NOHUGEPAGE, faulted in microseconds) and moved into huge
 * pages once written (huge.h): a store chunk once wholly written, a bucket
 * array of HUGE_ARRAY_MIN or more once the migration that filled it is over
 * (its ranges in order from the front, arr_promo of them done). An insert
 * looks when the store has completed a chunk (or PROMO_RETRY inserts after
 * a look that found no staged page in), and table_step at every call; one
 * range per call, records first, only while the worker is held. A table
 * moves at most PROMO_MAX_RANGES ranges (each is a mapping of its own); the
 * rest stays in ordinary pages. The staged page is RSS once populated,
 * counted in payload_bytes, and unmapped when the table has neither a big
 * store nor an array range to move.
 *
 * Generation = one bucket array (2^log2 buckets, mmap'd, zero-filled) plus its
 * own overflow pool (an mmap'd array of buckets grown with mremap; indices are
 * stable because they are indices, not pointers). A migration goes from the
 * old generation to the current one; when it completes, the old array and its
 * pool are munmap'd whole.
 *
 * MIGRATION RULE. While migrating, old buckets 0..progress-1 have been
 * evacuated. A key whose old home bucket (hash_old & oldmask) is < progress
 * lives in the current generation, otherwise in the old one. Lookups, inserts
 * and deletes all follow this rule, so an insert into a not-yet-evacuated old
 * bucket goes into the old generation.
 *
 * POLICY
 * ======
 *
 * Load is keys per bucket (12 slots). We grow when count > 9.75 x buckets
 * (81 % of the slots, Go's loadFactor ratio: chains are still short, the
 * index costs 64 / 9.75 = 6.6 bytes per key at that point) and double.
 * After a grow the load is 4.875, the "normal load" (13.1 bytes per key).
 * We shrink automatically when count drops below a quarter of the grow load
 * (2.44 x buckets), to the smallest power of two whose load is at most the
 * normal load. So after any resize the table is at the normal load and must
 * double its keys to grow again or lose half of them to shrink again: a
 * delete-N/add-N cycle with N < count/2 never causes a resize (no
 * oscillation).
 *
 * Each table_set/table_del first evacuates TABLE_MIGRATE_STEP old buckets.
 * A migration from M old buckets thus ends within M/2 mutations. The nearest
 * next trigger after a migration starts is: after a grow (2M buckets, count
 * 9.75M) 4.875M deletes or 9.75M inserts; after an auto shrink (M/2 buckets,
 * count ~2.44M) 1.22M deletes or 2.44M inserts. All are > M/2, so a
 * migration always finishes before the next one can be triggered. A step of 1
 * (M mutations) would not satisfy the shrink case; 2 is the least that does.
 * No migration starts while one is in progress anyway; thresholds are checked
 * again at the next mutation after it ends.
 *
 * Same-size rehash: if the current generation has more overflow buckets than
 * home buckets (cannot happen at load <= 9.75 with a good hash, so it means
 * keys chosen to collide), the next insert starts a migration to an array of
 * the same size with a fresh random seed. Each generation has its own seed;
 * grows and shrinks keep the seed (so old bucket i splits into new buckets i
 * and i + M, which keeps evacuation local), rehashes change it.
 *
 * The minimum array is 64 buckets = 4096 bytes = one page: a smaller array
 * would still occupy a whole page of RSS.
 *
 * MEMORY BUDGET. Per key: the record (9 bytes + the value rounded up to 4)
 * plus the index, 6.6 to 13.1 bytes at the loads above plus overflow
 * buckets (about 1 byte). During a grow the old array's evacuated front is
 * discarded as the new array's pages are touched (OLD_RELEASE_BYTES), so the
 * index's RSS peaks at the new array's size, 13.1 bytes per key just after
 * a grow. Measured figures: client-tests/bench/README.md (value sizes).
 */
#include "table.h"

#include "huge.h"
#include "prefault.h"
#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- layout constants ---------------------------------------------------- */

#define SLOTS 12u /* slots per bucket */
#define SLOT_MASK ((1u << SLOTS) - 1u)
#define MIN_LOG2 6u          /* 64 buckets x 64 B = one 4 KiB page */
#define MAX_LOG2 32u         /* bucket index fits 32 bits */
#define POOL_MAX 0xfffffffeu /* overflow indices are 1-based uint32_t */

/* ---- policy constants (see POLICY above) --------------------------------- */

/* Grow when count > LOAD_GROW_NUM / LOAD_DEN x buckets (9.75: 81 % of 12). */
#define LOAD_GROW_NUM 39u
#define LOAD_DEN 4u
/* Normal load after any resize: half of the grow load, 4.875. */
#define LOAD_NORMAL_NUM 39u
#define LOAD_NORMAL_DEN 8u
/* Auto shrink when count < shrink_percent % of the grow load x buckets; the
 * default 25 % is 2.44 keys per bucket. Above 25 % a shrink to the normal
 * load would not even halve the array, so table_set_options clamps to it. */
#define SHRINK_PERCENT_DEFAULT 25u
#define SHRINK_PERCENT_MAX 25u
/* Old buckets evacuated by each table_set / table_del: 2 is the least that
 * guarantees a migration ends before the next can trigger (see POLICY). */
#define TABLE_MIGRATE_STEP 2u
/* Same-size rehash when overflow buckets in use exceed this many per home
 * bucket (1: more overflow buckets than buckets, Go's sameSizeGrow). */
#define REHASH_OVERFLOW_PER_BUCKET 1u
/* While migrating, the evacuated prefix of the old array is discarded
 * (MADV_DONTNEED) in steps of this many bytes (rounded to pages): 1024
 * buckets, so a migration from 2^17 buckets makes 128 madvise calls; the
 * mapping itself is unmapped whole when the migration ends. */
#define OLD_RELEASE_BYTES 65536u
/* Free overflow buckets a pool keeps with a prefaulter, at least (an eighth
 * of the array below 8192 buckets; pool_low): pool_ahead grows it to twice
 * that when it runs short, which rounds up to 4096 buckets (256 KiB). */
#define POOL_AHEAD_MIN 1024u
/* ... for arrays of this many buckets or more (64 KiB, from ~5000 keys). */
#define POOL_AHEAD_ARRAY 1024u
/* Inserts after which a look that found no staged page in looks again. */
#define PROMO_RETRY 256u
/* Ranges a table moves at most (16 GiB): each moved range is a mapping of
 * its own (a moved page does not merge with its neighbours), and the kernel
 * allows a process 65530 mappings by default (vm.max_map_count). */
#define PROMO_MAX_RANGES 8192u
/* Smallest bucket array given huge pages: 2^18 buckets (from ~1.3M keys).
 * A migration fills the new array at old bucket i's two destinations, i and
 * i + M, as it goes, so with huge pages the two huge pages around its
 * progress are resident ahead of it: up to 4 MiB more than with ordinary
 * pages, under 3.5 % from 16 MiB on. */
#define HUGE_ARRAY_MIN (16u * 1024u * 1024u)
/* table_shrink of an empty table unmaps its array at once up to this size
 * (munmap of 1 MiB of touched pages takes well under a millisecond); larger
 * arrays are released by a migration, a step at a time. */
#define SHRINK_RESET_MAX_BYTES (1024u * 1024u)

/* ---- types ---------------------------------------------------------------- */

typedef struct {
    uint8_t tophash[SLOTS];
    uint32_t rec[SLOTS];
    uint32_t overflow;
} bucket;

static_assert(sizeof(bucket) == 64, "bucket is one cache line");
static_assert(offsetof(bucket, rec) == SLOTS, "refs follow the tophash bytes");
static_assert(SLOTS <= 16, "the probe reads tophash[] as one 16-byte vector");
static_assert(TABLE_VALUE_MAX == STORE_VALUE_MAX, "the store holds every value");

typedef struct {
    bucket *b;         /* 2^log2 home buckets, NULL when this gen is unused */
    size_t b_bytes;    /* size of the mapping of b */
    size_t b_released; /* leading bytes of b given back (old gen): */
    size_t b_unmapped; /* munmap'd, the rest of them discarded (still mapped) */
    uint32_t log2;
    uint64_t mask;      /* 2^log2 - 1 */
    uint64_t seed;      /* hash seed of this generation */
    bucket *pool;       /* overflow pool: index i (1-based) is pool[i - 1] */
    size_t pool_bytes;  /* mapped size of pool */
    uint32_t pool_cap;  /* buckets the mapping holds */
    uint32_t pool_used; /* high-water mark of handed-out indices */
    uint32_t pool_free; /* free list head (1-based, linked by .overflow) */
    uint32_t pool_nfree;
    uint64_t ovf; /* overflow buckets linked into chains */
} gen;

struct table {
    gen cur; /* current (destination) generation */
    gen old; /* generation being migrated from, if migrating */
    bool migrating;
    uint64_t progress; /* old buckets 0..progress-1 evacuated */
    store st;          /* the records */
    /* The snapshot in progress (table_snap_begin): whom the store's
     * records go to, past the expired ones. */
    void (*snap_fn)(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t expire_at);
    void *snap_arg;
    huge_stage stage; /* the staged huge page, shared by index and store */
    /* PREFAULT of a migration's destination: its page (index in the new
     * array, SIZE_MAX before the first step), the tickets of its request
     * and of the next page's, and the steps left for pages still coming in. */
    size_t pf_page;
    uint64_t pf_wait, pf_ahead;
    uint64_t pf_skips;
    uint64_t pf_waits_total;
    /* PROMOTE: on (the prefaulter, huge pages and THP); the first arr_promo
     * 2 MiB ranges of the current array are huge; the store's `filled` at
     * the last look, and the inserts left before looking again anyway. */
    bool promote;
    size_t arr_promo;
    uint64_t promo_seen;
    uint32_t promo_wait;
    /* A finished migration's old generation whose unmapping waits for the
     * prefaulter to be out of the memory map (map_hold), b == NULL if none. */
    gen retired;
    uint64_t index_bytes;
    /* Active expiry's next record: class and number. */
    unsigned scan_cls;
    uint32_t scan_idx;
    uint64_t expired; /* keys removed because their time had come */
    uint64_t evicted; /* keys removed by table_evict */
    table_options opt;
    /* What the store's stamps hold (STAMPS_*, from opt.track_lru/_lfu): one
     * byte tested per access, so that tables without stamps pay one
     * branch, as before LFU existed. */
    uint8_t stamps;
    uint64_t lfu_rng; /* xorshift state for LFU increments */
    uint64_t grows, shrinks_auto, shrinks_manual;
    /* The shrink in progress (if the migration is one) and the last one done:
     * when it started, what was mapped then, how long it took, what it freed. */
    bool shrinking;
    uint64_t shrink_start_ns;
    uint64_t shrink_start_bytes;
    uint64_t last_shrink_us;
    uint64_t last_shrink_freed;
};

/* ---- small helpers -------------------------------------------------------- */

static void unmap(void *p, size_t bytes)
{
    huge_unmap(p, bytes);
}

static inline uint64_t count_of(const table *t)
{
    return store_count(&t->st);
}

/* Map changes that can be put off are made only while the prefaulter's
 * worker is between steps (PREFAULT). True: go ahead, then map_release. */
static bool map_hold(table *t)
{
    return huge_hold(&t->stage);
}

static void map_release(table *t)
{
    huge_release(&t->stage);
}

/* Bucket arrays of HUGE_ARRAY_MIN or more use huge pages (HUGE PAGES). */
static inline bool array_is_huge(size_t bytes)
{
    return bytes >= HUGE_ARRAY_MIN;
}

/* splitmix64's finaliser applied to key + seed: a bijection of the 64-bit key
 * for a fixed seed, with every output bit depending on every input bit. The
 * low bits pick the bucket, the top 8 bits are the tophash. */
static inline uint64_t hash_key(int64_t key, uint64_t seed)
{
    uint64_t z = (uint64_t)key + seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint8_t tophash_of(uint64_t h)
{
    uint8_t top = (uint8_t)(h >> 56);
    return top != 0 ? top : 1; /* 0 means "empty slot" */
}

static uint64_t seed_new(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        return s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return hash_key((int64_t)ts.tv_nsec ^ ((int64_t)ts.tv_sec << 32), (uint64_t)(uintptr_t)&s);
}

/* Slots of b whose tophash is `top` (0: the empty ones), as a bit mask
 * (bit i for slot i). With SSE2 (every x86-64) one 16-byte compare: the 12
 * tophash bytes and 4 bytes of ref[0], masked off. */
static inline unsigned match_top(const bucket *b, uint8_t top)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)b);
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)top))) & SLOT_MASK;
#else
    unsigned m = 0;
    for (unsigned i = 0; i < SLOTS; i++)
        m |= (unsigned)(b->tophash[i] == top) << i;
    return m;
#endif
}

/* Occupied slots of a bucket: they are a prefix, so it is the index of the
 * first empty slot (SLOTS if full). */
static inline unsigned occupied(const bucket *b)
{
    return (unsigned)__builtin_ctz(match_top(b, 0) | (1u << SLOTS));
}

static inline bool bucket_empty(const bucket *b)
{
    return b->tophash[0] == 0;
}

static inline bucket *ovf_at(const gen *g, uint32_t idx)
{
    return &g->pool[idx - 1];
}

static inline bucket *next_in_chain(const gen *g, const bucket *b)
{
    return b->overflow ? ovf_at(g, b->overflow) : NULL;
}

/* The generation that holds (or would hold) key under the migration rule,
 * with the key's hash in that generation. */
static inline gen *home_gen(const table *t, int64_t key, uint64_t *h)
{
    if (t->migrating) {
        uint64_t ho = hash_key(key, t->old.seed);
        if ((ho & t->old.mask) >= t->progress) {
            *h = ho;
            return (gen *)&t->old;
        }
        if (t->old.seed == t->cur.seed) {
            *h = ho;
            return (gen *)&t->cur;
        }
    }
    *h = hash_key(key, t->cur.seed);
    return (gen *)&t->cur;
}

/* Find key in g's chain for hash h. On success *bp and *ip name its slot. */
static inline bool chain_find(const table *t, const gen *g, uint64_t h, int64_t key, bucket **bp,
                              unsigned *ip)
{
    uint8_t top = tophash_of(h);
    bucket *b = &g->b[h & g->mask];
    for (;;) {
        for (unsigned m = match_top(b, top); m != 0; m &= m - 1) {
            unsigned i = (unsigned)__builtin_ctz(m);
            if (store_key(&t->st, b->rec[i]) == key) {
                *bp = b;
                *ip = i;
                return true;
            }
        }
        /* An empty slot ends the chain's occupied prefix. */
        if (b->tophash[SLOTS - 1] == 0 || b->overflow == 0)
            return false;
        b = ovf_at(g, b->overflow);
    }
}

/* ---- generations and overflow pools ---------------------------------------- */

/* Bytes mapped for an array of 2^log2 buckets. */
static size_t array_bytes(uint32_t log2)
{
    return huge_round_base(((size_t)1 << log2) * sizeof(bucket));
}

static bool gen_init(table *t, gen *g, uint32_t log2, uint64_t seed)
{
    size_t nb = (size_t)1 << log2;
    size_t bytes = array_bytes(log2);
    bucket *b = array_is_huge(bytes) ? huge_map_aligned(bytes) : huge_map_zero(bytes);
    if (b == NULL)
        return false;
    /* Big arrays: ordinary pages until moved (PROMOTE), or huge pages
     * faulted by the writes where asked without a prefaulter; refused
     * otherwise (a kernel in THP mode "always" would use them unasked). */
    if (array_is_huge(bytes))
        (void)madvise(b, bytes, t->opt.huge_pages && !t->promote ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(g, 0, sizeof *g);
    g->b = b;
    g->b_bytes = bytes;
    g->log2 = log2;
    g->mask = nb - 1;
    g->seed = seed;
    t->index_bytes += bytes;
    return true;
}

static void gen_free(table *t, gen *g)
{
    if (g->b != NULL)
        unmap((char *)g->b + g->b_unmapped, g->b_bytes - g->b_unmapped);
    unmap(g->pool, g->pool_bytes);
    t->index_bytes -= g->b_bytes - g->b_released + g->pool_bytes;
    memset(g, 0, sizeof *g);
}

/* Make sure n overflow buckets can be allocated from g's pool without
 * failing. Grows the mapping (doubling) with mremap; indices stay valid. */
static bool pool_reserve(table *t, gen *g, uint64_t n)
{
    uint64_t avail = (uint64_t)(g->pool_cap - g->pool_used) + g->pool_nfree;
    if (avail >= n)
        return true;
    uint64_t need = (uint64_t)g->pool_used + (n - g->pool_nfree);
    if (need > POOL_MAX)
        return false;
    uint64_t cap = g->pool_cap ? (uint64_t)g->pool_cap * 2 : huge_base_page() / sizeof(bucket);
    while (cap < need)
        cap *= 2;
    if (cap > POOL_MAX)
        cap = POOL_MAX;
    size_t bytes = huge_round_base((size_t)cap * sizeof(bucket));
    void *p = g->pool == NULL ? huge_map_zero(bytes)
                              : mremap(g->pool, g->pool_bytes, bytes, MREMAP_MAYMOVE);
    if (p == NULL || p == MAP_FAILED)
        return false;
    t->index_bytes += bytes - g->pool_bytes;
    g->pool = p;
    g->pool_bytes = bytes;
    g->pool_cap = (uint32_t)(bytes / sizeof(bucket));
    return true;
}

/* With a prefaulter: the free overflow buckets g's pool keeps at least, a
 * quarter of the pool and at least POOL_AHEAD_MIN (an eighth of the array
 * in small tables). The holds pool_ahead waits for can be a 14 ms populate
 * apart, and a loaded table links an overflow bucket every few dozen
 * inserts, some hundreds in that time. 0 without a prefaulter, and for
 * arrays under POOL_AHEAD_ARRAY buckets: those map their pool when they
 * first need it, so a namespace of a few keys holds no pool page. */
static uint64_t pool_low(const table *t, const gen *g)
{
    if (t->opt.prefault == NULL || g->b == NULL || g->mask + 1 < POOL_AHEAD_ARRAY)
        return 0;
    uint64_t nb = g->mask + 1;
    uint64_t low = nb / 8 < POOL_AHEAD_MIN ? nb / 8 : POOL_AHEAD_MIN;
    return low < g->pool_cap / 4 ? g->pool_cap / 4 : low;
}

static bool pool_short(const table *t, const gen *g)
{
    uint64_t avail = (uint64_t)(g->pool_cap - g->pool_used) + g->pool_nfree;
    uint64_t low = pool_low(t, g);
    return low > 0 && (g->pool_cap == 0 || avail < low);
}

/* With a prefaulter, grow g's pool to twice pool_low free buckets when it
 * has fewer than pool_low left (or none mapped), while its worker is held,
 * so that the mremap does not wait for a populate (PREFAULT). Best effort;
 * pool_ahead_held when the caller holds the worker already. */
static void pool_ahead_held(table *t, gen *g)
{
    if (pool_short(t, g))
        (void)pool_reserve(t, g, 2 * pool_low(t, g) + 1); /* the cap doubles until it fits */
}

static void pool_ahead(table *t, gen *g)
{
    if (!pool_short(t, g) || !map_hold(t))
        return;
    pool_ahead_held(t, g);
    map_release(t);
}

/* Take a zeroed overflow bucket (reserved beforehand); returns its index. */
static uint32_t pool_alloc(gen *g)
{
    uint32_t idx;
    if (g->pool_free != 0) {
        idx = g->pool_free;
        g->pool_free = ovf_at(g, idx)->overflow;
        g->pool_nfree--;
    } else {
        assert(g->pool_used < g->pool_cap);
        idx = ++g->pool_used;
    }
    memset(ovf_at(g, idx), 0, sizeof(bucket));
    g->ovf++;
    return idx;
}

static void pool_release(gen *g, uint32_t idx)
{
    bucket *b = ovf_at(g, idx);
    memset(b, 0, sizeof *b);
    b->overflow = g->pool_free;
    g->pool_free = idx;
    g->pool_nfree++;
    g->ovf--;
}

/* The chain of home bucket hb has no free slot: an append needs an
 * overflow bucket (so a table whose chains never fill maps no pool). */
static bool chain_full(const gen *g, const bucket *hb)
{
    const bucket *b = hb;
    while (b->overflow != 0)
        b = ovf_at(g, b->overflow);
    return b->tophash[SLOTS - 1] != 0;
}

/* Append a slot at the end of the chain whose home bucket is hb. Needs one
 * overflow bucket reserved in g's pool if the chain is full (chain_full). */
static void chain_append(gen *g, bucket *hb, uint8_t top, store_ref rec)
{
    bucket *b = hb;
    unsigned n;
    while ((n = occupied(b)) == SLOTS && b->overflow != 0)
        b = ovf_at(g, b->overflow);
    if (n == SLOTS) {
        uint32_t idx = pool_alloc(g);
        b->overflow = idx;
        b = ovf_at(g, idx);
        n = 0;
    }
    b->tophash[n] = top;
    b->rec[n] = rec;
}

/* Remove slot (tb, ti) from the chain whose home bucket is hb: the chain's
 * last occupied slot moves into the hole, keeping the prefix compact. */
static void chain_remove(gen *g, bucket *hb, bucket *tb, unsigned ti)
{
    bucket *prev = NULL, *last = hb;
    while (last->overflow != 0) {
        prev = last;
        last = ovf_at(g, last->overflow);
    }
    unsigned n = occupied(last);
    assert(n > 0 || last == hb);
    unsigned j = n - 1;
    if (last != tb || j != ti) {
        tb->tophash[ti] = last->tophash[j];
        tb->rec[ti] = last->rec[j];
    }
    last->tophash[j] = 0;
    last->rec[j] = 0;
    if (j == 0 && prev != NULL) {
        pool_release(g, prev->overflow);
        prev->overflow = 0;
    }
}

/* ---- migration ------------------------------------------------------------- */

/* Start migrating to a new array of 2^log2 buckets. held: the caller holds
 * the prefaulter's worker (map_hold). */
static bool migration_start(table *t, uint32_t log2, uint64_t seed, bool held)
{
    gen next;
    assert(!t->migrating);
    if (!gen_init(t, &next, log2, seed))
        return false;
    t->old = t->cur;
    t->cur = next;
    t->arr_promo = 0;
    /* The new array's pool, before the first evacuation needs one (PREFAULT). */
    if (held)
        pool_ahead_held(t, &t->cur);
    else
        pool_ahead(t, &t->cur);
    t->progress = 0;
    t->migrating = true;
    t->pf_page = SIZE_MAX;
    t->pf_wait = t->pf_ahead = 0;
    t->pf_skips = 0;
    return true;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Remember what is mapped before a shrink starts (call before mapping the
 * new array), so its duration and the bytes it freed can be reported. */
static void shrink_begin(table *t, uint64_t mapped_before)
{
    t->shrinking = true;
    t->shrink_start_ns = now_ns();
    t->shrink_start_bytes = mapped_before;
}

static void shrink_end(table *t)
{
    uint64_t now = t->index_bytes + store_resident(&t->st);
    t->last_shrink_us = (now_ns() - t->shrink_start_ns) / 1000u;
    t->last_shrink_freed = t->shrink_start_bytes > now ? t->shrink_start_bytes - now : 0;
    t->shrinking = false;
}

/* Smallest array (log2) holding count keys at no more than the normal load. */
static uint32_t target_log2(uint64_t count)
{
    uint32_t l = MIN_LOG2;
    while (l < MAX_LOG2 && count * LOAD_NORMAL_DEN > ((uint64_t)LOAD_NORMAL_NUM << l))
        l++;
    return l;
}

/* Start an automatic shrink if the policy says so (see POLICY). Called
 * after every removal and when a migration ends: keys removed while one was
 * running (an expiry sweep, a fast drain) must not leave the index larger
 * than the keys need once it is done. */
static void maybe_auto_shrink(table *t)
{
    if (!t->opt.auto_shrink || t->migrating || t->cur.b == NULL)
        return;
    uint64_t nb = t->cur.mask + 1;
    if (t->cur.log2 > MIN_LOG2 &&
        count_of(t) * LOAD_DEN * 100u < (uint64_t)LOAD_GROW_NUM * nb * t->opt.shrink_percent &&
        target_log2(count_of(t)) < t->cur.log2) {
        /* If the new array cannot be mapped, stay as we are. */
        uint64_t before = t->index_bytes + store_resident(&t->st);
        if (migration_start(t, target_log2(count_of(t)), t->cur.seed, false)) {
            t->shrinks_auto++;
            shrink_begin(t, before);
        }
    }
}

/* Unmap a retired generation if the prefaulter is out of the way (or
 * `now`). */
static void retired_free(table *t, bool now)
{
    if (t->retired.b == NULL)
        return;
    bool held = map_hold(t);
    if (!held && !now)
        return;
    gen_free(t, &t->retired);
    if (held)
        map_release(t);
}

static void migration_finish(table *t)
{
    retired_free(t, true); /* at most one waits */
    t->retired = t->old;
    memset(&t->old, 0, sizeof t->old);
    retired_free(t, t->opt.prefault == NULL);
    t->migrating = false;
    t->progress = 0;
    t->promo_wait = 0; /* a huge array's ranges may be due (PROMOTE) */
    if (t->shrinking)
        shrink_end(t);
    maybe_auto_shrink(t);
}

/* Evacuate old bucket `progress` (and its chain) into the current generation.
 * Fails (changing nothing) only if the current pool cannot be grown. */
static bool evacuate_one(table *t)
{
    gen *o = &t->old, *c = &t->cur;
    bucket *hb = &o->b[t->progress];
    uint64_t n = 0;
    for (bucket *b = hb; b != NULL; b = next_in_chain(o, b))
        n += occupied(b);
    /* Worst case every entry lands in a different full bucket. */
    if (!pool_reserve(t, c, n))
        return false;
    for (bucket *b = hb; b != NULL; b = next_in_chain(o, b)) {
        unsigned k = occupied(b);
        for (unsigned i = 0; i < k; i++) {
            uint64_t h = hash_key(store_key(&t->st, b->rec[i]), c->seed);
            chain_append(c, &c->b[h & c->mask], tophash_of(h), b->rec[i]);
        }
    }
    uint32_t idx = hb->overflow;
    while (idx != 0) {
        uint32_t nx = ovf_at(o, idx)->overflow;
        pool_release(o, idx);
        idx = nx;
    }
    memset(hb, 0, sizeof *hb);
    if (++t->progress == (uint64_t)o->mask + 1) {
        migration_finish(t);
        return true;
    }
    /* Give the evacuated prefix of the old array back as we go, in steps of
     * OLD_RELEASE_BYTES. A grow then holds old-remaining + new-touched pages
     * (the new array's pages are touched only as entries land in them), which
     * peaks at the new array's size instead of old + new: for 1M keys this is
     * the difference between ~25 MB and ~17 MB of index during a grow.
     * The pages are discarded (MADV_DONTNEED), not unmapped: munmap needs
     * the process's memory map exclusively and would wait for a prefault
     * thread's fault in progress (a huge page takes milliseconds; PREFAULT),
     * madvise shares it. The whole mapping goes when the migration ends. */
    size_t done = (size_t)t->progress * sizeof(bucket);
    size_t step = huge_round_base(OLD_RELEASE_BYTES);
    if (done - o->b_released >= step) {
        size_t cut = done / step * step;
        if (madvise((char *)o->b + o->b_released, cut - o->b_released, MADV_DONTNEED) != 0)
            abort(); /* only on a bad range: a bug */
        t->index_bytes -= cut - o->b_released;
        o->b_released = cut;
    }
    return true;
}

/* Ask for the destination pages, in the new array, of old bucket o when
 * it is evacuated: run 1 (o's own index there) and run 2 (o + old buckets:
 * the upper half on a grow; the same page otherwise). Returns the ticket. */
static uint64_t ask_dest_page(table *t, size_t page)
{
    size_t pages = (t->cur.b_bytes + HUGE_BYTES - 1) / HUGE_BYTES;
    if (page >= pages)
        return 0;
    char *b = (char *)t->cur.b;
    uint64_t tk = prefault_ask(t->opt.prefault, PREFAULT_LATER, b + page * HUGE_BYTES, HUGE_BYTES);
    size_t old_bytes = (size_t)(t->old.mask + 1) * sizeof(bucket);
    size_t page2 = (page * HUGE_BYTES + old_bytes) % t->cur.b_bytes / HUGE_BYTES;
    if (page2 != page && t->cur.b_bytes > old_bytes) {
        uint64_t tk2 =
            prefault_ask(t->opt.prefault, PREFAULT_LATER, b + page2 * HUGE_BYTES, HUGE_BYTES);
        if (tk2 != 0 || tk == 0)
            tk = tk2; /* tickets are served in order: the later one covers both */
    }
    return tk;
}

/* Before evacuating old bucket `progress`: is its destination page in? On
 * entering a page, ask for the next one, so that it has a page's worth of
 * steps to come in (PREFAULT). */
static bool dest_ready(table *t)
{
    size_t page = (size_t)(t->progress & t->cur.mask) * sizeof(bucket) / HUGE_BYTES;
    if (page != t->pf_page) {
        /* Sequential: the page was asked for as the one ahead. Otherwise (the
         * first step, a shrink's second pass): ask now. */
        t->pf_wait =
            page == t->pf_page + 1 && t->pf_page != SIZE_MAX ? t->pf_ahead : ask_dest_page(t, page);
        t->pf_ahead = ask_dest_page(t, page + 1);
        t->pf_page = page;
    }
    return prefault_done(t->opt.prefault, t->pf_wait);
}

/* Evacuate up to `work` old buckets. A write-driven call (bounded) leaves
 * the work for later while the destination page is still coming in, at
 * most old-buckets / 4 times per migration; a background one (not bounded)
 * just returns, and its callers (the cron, SHRINK) try again until their
 * slice is over: a background step that faulted the pages itself would
 * stall the loop as a write would (client-tests/bench/NOTES.md). Only a
 * migration with the old seed fills the new array in
 * the order dest_ready predicts (a same-size rehash with a new seed
 * scatters the keys). */
static bool migrate_some_paced(table *t, unsigned work, bool bounded)
{
    if (t->retired.b != NULL)
        retired_free(t, false);
    if (t->migrating)
        pool_ahead(t, &t->cur);
    while (t->migrating && work-- > 0) {
        /* Checked per bucket: the step that ends a migration may start
         * another (an automatic shrink). */
        bool paced = t->opt.prefault != NULL && t->opt.huge_pages &&
                     array_is_huge(t->cur.b_bytes) && t->cur.seed == t->old.seed;
        if (paced && !dest_ready(t)) {
            if (!bounded)
                return true;
            if (t->pf_skips < (t->old.mask + 1) / 4) {
                t->pf_skips++;
                t->pf_waits_total++;
                return true;
            }
        }
        if (!evacuate_one(t))
            return false;
    }
    return true;
}

static bool migrate_some(table *t, unsigned work)
{
    return migrate_some_paced(t, work, true);
}

/* ---- expiry, LRU and LFU (the store keeps the times; see store.h) ---------- */

enum { STAMPS_NONE = 0, STAMPS_LRU = 1, STAMPS_LFU = 2 };

static inline int64_t exp_of(const table *t, store_ref r)
{
    return store_exp(&t->st, r);
}

static inline uint32_t lru_clock(const table *t)
{
    return t->opt.clock_ms != NULL ? (uint32_t)(*t->opt.clock_ms / TABLE_LRU_UNIT_MS) : 0;
}

static inline uint32_t lfu_now(const table *t)
{
    return t->opt.clock_ms != NULL ? table_lfu_minutes(*t->opt.clock_ms) : 0;
}

/* A uniform 32-bit number for LFU increments (xorshift64*, the high half):
 * the probabilities only need to be fair, not secret. */
static inline uint32_t lfu_random(table *t)
{
    uint64_t x = t->lfu_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->lfu_rng = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* LFU stamp `stamp` after one access now: decayed, then incremented (Redis's
 * updateLFU). */
static uint32_t lfu_access(table *t, uint32_t stamp)
{
    uint32_t now = lfu_now(t);
    unsigned c = table_lfu_decayed(stamp, now, t->opt.lfu_decay_time);
    return table_lfu_stamp(now, table_lfu_incr(c, t->opt.lfu_log_factor, lfu_random(t)));
}

static void lfu_touch(table *t, store_ref r)
{
    store_set_lru(&t->st, r, lfu_access(t, store_lru(&t->st, r)));
}

/* Note an access to record r, when stamps are kept: one test of one byte
 * without them, LRU's stamp inline. */
static inline void stamp_touch(table *t, store_ref r)
{
    if (t->stamps != STAMPS_NONE) {
        if (t->stamps == STAMPS_LRU)
            store_set_lru(&t->st, r, lru_clock(t));
        else
            lfu_touch(t, r);
    }
}

/* Stamp a record just written for a key that was not there: LRU, now;
 * LFU, TABLE_LFU_INIT now (Redis's createObject). */
static inline void stamp_new(table *t, store_ref r)
{
    if (t->stamps != STAMPS_NONE)
        store_set_lru(&t->st, r,
                      t->stamps == STAMPS_LRU ? lru_clock(t)
                                              : table_lfu_stamp(lfu_now(t), TABLE_LFU_INIT));
}

static inline bool expired_at(const table *t, int64_t at)
{
    return at != 0 && t->opt.clock_ms != NULL && *t->opt.clock_ms >= at;
}

static inline void note_expired(table *t, int64_t key)
{
    t->expired++;
    if (t->opt.expired_counter != NULL)
        (*t->opt.expired_counter)++;
    if (t->opt.on_expired != NULL)
        t->opt.on_expired(t, key, t->opt.on_expired_arg);
}

/* ---- PROMOTE ------------------------------------------------------------------ */

/* Ranges of the current bucket array to move: once its migration is over
 * (the array is then wholly written), every 2 MiB of a huge-sized array. */
static bool array_due(const table *t)
{
    return !t->migrating && t->cur.b != NULL && array_is_huge(t->cur.b_bytes) &&
           t->arr_promo < t->cur.b_bytes / HUGE_BYTES;
}

/* Ranges moved and still huge, against PROMO_MAX_RANGES. */
static bool under_cap(const table *t)
{
    return store_huge_bytes(&t->st) / HUGE_BYTES + t->arr_promo < PROMO_MAX_RANGES;
}

/* The table wants a staged page: its store is big or its array is due,
 * and it may move more ranges. */
static bool stage_wanted(const table *t)
{
    return (store_big(&t->st) || array_due(t)) && under_cap(t);
}

/* Work PROMOTE has to do now: chunks to turn back, a range due and a
 * staged page in, a staged page to map or to free. */
static bool promote_due(const table *t)
{
    unsigned cls;
    unsigned staged = huge_staged(&t->stage);
    bool backlog = under_cap(t) && (store_huge_due(&t->st, &cls) != NULL || array_due(t));
    return store_turn_back_due(&t->st) || (backlog && huge_ready(&t->stage) >= 0) ||
           (stage_wanted(t) ? staged < HUGE_STAGED : staged > 0);
}

/* Stop promoting for good (a move failed: the kernel is out of memory or
 * of mappings). */
static void promote_stop(table *t)
{
    t->promote = false;
    store_options so = {.auto_shrink = t->opt.auto_shrink,
                        .track_lru = t->stamps != STAMPS_NONE,
                        .huge_pages = t->opt.huge_pages};
    store_set_options(&t->st, &so);
    huge_drop(&t->stage);
}

/* Called by an insert when the store completed a chunk or promo_wait ran
 * out, and by table_step. Does what is due if the worker can be held (else
 * looks again soon): chunks turned back, one range moved (records first),
 * the staged page mapped or freed. Returns true if a range was moved. */
static bool promote_some(table *t)
{
    bool moved = false;
    t->promo_seen = t->st.filled;
    if (promote_due(t) && map_hold(t)) {
        store_turn_back(&t->st);
        int ready = huge_ready(&t->stage);
        unsigned cls;
        char *dst;
        if (ready >= 0 && under_cap(t) && (dst = store_huge_due(&t->st, &cls)) != NULL) {
            moved = huge_move(&t->stage, ready, dst);
            if (moved)
                store_huge_moved(&t->st, cls);
        } else if (ready >= 0 && under_cap(t) && array_due(t)) {
            moved = huge_move(&t->stage, ready, (char *)t->cur.b + t->arr_promo * HUGE_BYTES);
            t->arr_promo += moved;
        }
        if (ready >= 0 && !moved && huge_staged(&t->stage) == 0 &&
            (array_due(t) || store_huge_due(&t->st, &cls)))
            promote_stop(t); /* the move failed */
        if (t->promote) {
            if (stage_wanted(t))
                huge_fill(&t->stage);
            else
                huge_drop(&t->stage);
        }
        map_release(t);
    }
    t->promo_wait = t->promote && promote_due(t) ? PROMO_RETRY : UINT32_MAX;
    return moved;
}

/* ---- removal ------------------------------------------------------------------- */

/* Let go of record r, whose slot is gone or repointed: the last record of
 * its class moves into its place (store_remove) and the one slot that
 * referred to that record is repointed. If the moved record's expire time
 * cannot be kept (out of memory only), the moved key is removed as well: a
 * cache may drop a key, but must not serve one past its expire time.
 * Removing it moves another record, hence the loop (it ends: every round
 * removes a key). */
static void drop_record(table *t, store_ref r)
{
    for (;;) {
        unsigned k = store_ref_class(r);
        uint32_t last = store_class_count(&t->st, k) - 1;
        gen *g2 = NULL;
        bucket *b2 = NULL;
        unsigned i2 = 0;
        uint64_t h2 = 0;
        if (store_ref_index(r) != last) {
            store_ref lr = store_ref_make(k, last);
            int64_t lk = store_key(&t->st, lr);
            g2 = home_gen(t, lk, &h2);
            if (!chain_find(t, g2, h2, lk, &b2, &i2))
                abort(); /* a record no slot refers to: the table is corrupt */
            assert(b2->rec[i2] == lr);
            b2->rec[i2] = r;
        }
        bool lost;
        (void)store_remove(&t->st, r, &lost);
        if (t->scan_cls == k && t->scan_idx > store_class_count(&t->st, k))
            t->scan_idx = store_class_count(&t->st, k);
        if (!lost)
            return;
        chain_remove(g2, &g2->b[h2 & g2->mask], b2, i2); /* the moved key, now at r */
    }
}

/* Remove the entry in slot i of bucket b, in the chain of home bucket
 * (h & g->mask): slot, record and expire time. Then the automatic shrink
 * policy. */
static void remove_at(table *t, gen *g, uint64_t h, bucket *b, unsigned i)
{
    store_ref r = b->rec[i];
    chain_remove(g, &g->b[h & g->mask], b, i);
    drop_record(t, r);
    maybe_auto_shrink(t);
}

/* ---- public API ------------------------------------------------------------ */

static store_options store_opts(const table *t)
{
    return (store_options){.auto_shrink = t->opt.auto_shrink,
                           .track_lru = t->stamps != STAMPS_NONE,
                           .huge_pages = t->opt.huge_pages,
                           .promote = t->promote};
}

table *table_create(const table_options *opt)
{
    table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    store_init(&t->st, &t->stage, NULL);
    table_set_options(t, opt);
    t->cur.seed = seed_new();
    t->lfu_rng = seed_new() | 1u; /* xorshift's state must not be 0 */
    return t;
}

/* Back to the empty state: nothing mapped. Keeps options, counters, seed. */
static bool table_reset(table *t)
{
    bool had = t->cur.b != NULL || store_chunks(&t->st) != 0;
    uint64_t seed = t->cur.seed;
    if (t->migrating)
        gen_free(t, &t->old);
    retired_free(t, true);
    gen_free(t, &t->cur);
    t->arr_promo = 0;
    t->cur.seed = seed;
    t->migrating = false;
    t->progress = 0;
    t->scan_cls = 0;
    t->scan_idx = 0;
    store_clear(&t->st);
    huge_drop(&t->stage);
    assert(t->index_bytes == 0);
    return had;
}

/* Unmap the front of g's array, up to max bytes (whole pages). */
static uint64_t gen_release_front(table *t, gen *g, uint64_t max)
{
    if (g->b == NULL || g->b_released >= g->b_bytes)
        return 0;
    size_t step = g->b_bytes - g->b_released;
    if (step > max)
        step = huge_round_base(max) > step ? step : huge_round_base(max);
    unmap((char *)g->b + g->b_released, step);
    if (g->b_unmapped == g->b_released)
        g->b_unmapped += step; /* else gen_free unmaps the discarded part */
    g->b_released += step;
    t->index_bytes -= step;
    return step;
}

bool table_destroy_step(table *t, uint64_t max_bytes)
{
    /* The table is no longer used for lookups, so its arrays may go in any
     * order: records first, then the bucket arrays from their fronts. */
    retired_free(t, true); /* mostly discarded already */
    huge_drop(&t->stage);
    uint64_t done = store_destroy_step(&t->st, max_bytes);
    if (done < max_bytes)
        done += gen_release_front(t, &t->old, max_bytes - done);
    if (done < max_bytes)
        done += gen_release_front(t, &t->cur, max_bytes - done);
    return store_chunks(&t->st) > 0 || (t->old.b != NULL && t->old.b_released < t->old.b_bytes) ||
           (t->cur.b != NULL && t->cur.b_released < t->cur.b_bytes);
}

void table_destroy(table *t)
{
    if (t == NULL)
        return;
    table_reset(t);
    store_deinit(&t->st);
    free(t);
}

void table_set_options(table *t, const table_options *opt)
{
    struct prefault *was = t->opt.prefault;
    t->opt = opt != NULL ? *opt : (table_options){.auto_shrink = true};
    /* A staged page carries the ticket of the prefaulter that was. */
    if (t->opt.prefault != was)
        huge_drop(&t->stage);
    t->stage.pf = t->opt.prefault;
    if (t->opt.shrink_percent == 0)
        t->opt.shrink_percent = SHRINK_PERCENT_DEFAULT;
    if (t->opt.shrink_percent > SHRINK_PERCENT_MAX)
        t->opt.shrink_percent = SHRINK_PERCENT_MAX;
    /* PROMOTE with the prefaulter where huge pages exist; chunks and
     * ranges moved before stay huge. */
    bool was_promoting = t->promote;
    t->promote = t->opt.prefault != NULL && t->opt.huge_pages && huge_thp_usable();
    if (!t->promote)
        huge_drop(&t->stage);
    if (t->promote && !was_promoting)
        t->promo_wait = 0;
    uint8_t was_stamps = t->stamps;
    t->stamps = t->opt.track_lfu ? STAMPS_LFU : t->opt.track_lru ? STAMPS_LRU : STAMPS_NONE;
    store_options so = store_opts(t);
    if (was_stamps != STAMPS_NONE && t->stamps != STAMPS_NONE && was_stamps != t->stamps) {
        /* LRU times read as LFU fields (or back) mean nothing: unmap them,
         * and every key starts unstamped. */
        store_options off = so;
        off.track_lru = false;
        store_set_options(&t->st, &off);
    }
    store_set_options(&t->st, &so);
}

table_options table_get_options(const table *t)
{
    return t->opt;
}

uint64_t table_count(const table *t)
{
    return count_of(t);
}

uint64_t table_expires(const table *t)
{
    return store_expires(&t->st);
}

/* Find key's slot, treating a key whose time has come as absent: it is
 * removed on the spot (lazy expiry) and counted, unless keep_expired holds
 * it for now. */
static bool find_live(table *t, int64_t key, gen **g, uint64_t *h, bucket **b, unsigned *i)
{
    if (count_of(t) == 0)
        return false;
    *g = home_gen(t, key, h);
    if (!chain_find(t, *g, *h, key, b, i))
        return false;
    if (expired_at(t, exp_of(t, (*b)->rec[*i]))) {
        if (t->opt.keep_expired == NULL || !*t->opt.keep_expired) {
            remove_at(t, *g, *h, *b, *i);
            note_expired(t, key);
        }
        return false;
    }
    return true;
}

static inline table_status get_record(table *t, int64_t key, const uint8_t **val, size_t *len,
                                      bool touch)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    store_ref r = b->rec[i];
    if (touch)
        stamp_touch(t, r);
    const uint8_t *p = store_rec(&t->st, r);
    if (val != NULL)
        *val = p + STORE_VAL_AT;
    if (len != NULL)
        *len = p[STORE_LEN_AT];
    return TABLE_OK;
}

table_status table_get(table *t, int64_t key, const uint8_t **val, size_t *len)
{
    return get_record(t, key, val, len, true);
}

table_status table_peek(table *t, int64_t key, const uint8_t **val, size_t *len)
{
    return get_record(t, key, val, len, false);
}

table_status table_get_lru(table *t, int64_t key, uint32_t *stamp)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    *stamp = store_lru(&t->st, b->rec[i]);
    return TABLE_OK;
}

table_status table_set_stamp(table *t, int64_t key, uint32_t stamp)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    store_set_lru(&t->st, b->rec[i], stamp);
    return TABLE_OK;
}

table_status table_get_expire(table *t, int64_t key, int64_t *at)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    *at = exp_of(t, b->rec[i]);
    return TABLE_OK;
}

table_status table_expire(table *t, int64_t key, int64_t at)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    return store_set_exp(&t->st, b->rec[i], at) ? TABLE_OK : TABLE_NOMEM;
}

table_status table_set(table *t, int64_t key, const void *val, size_t len, bool *replaced)
{
    return table_put(t, key, val, len, 0, false, replaced);
}

/* A new record for key (val, len) with expire time `at` and a fresh stamp
 * (stamp_new); NOMEM (nothing changed) if the store cannot take it. */
static table_status record_new(table *t, int64_t key, const void *val, size_t len, int64_t at,
                               store_ref *out)
{
    if (t->promote && (t->st.filled != t->promo_seen || t->promo_wait-- == 0))
        (void)promote_some(t);
    if (!store_add(&t->st, key, val, len, out))
        return TABLE_NOMEM;
    /* The record is the class's last: removing it moves nothing. */
    bool lost;
    if (at != 0 && !store_set_exp(&t->st, *out, at)) {
        (void)store_remove(&t->st, *out, &lost);
        return TABLE_NOMEM;
    }
    stamp_new(t, *out);
    return TABLE_OK;
}

table_status table_put(table *t, int64_t key, const void *val, size_t len, int64_t expire_at,
                       bool keep_ttl, bool *replaced)
{
    assert(len <= TABLE_VALUE_MAX);
    assert(val != NULL || len == 0);
    assert(expire_at >= 0);
    if (replaced != NULL)
        *replaced = false;
    /* Evacuation moves only slots, never records, so a val lent by
     * table_get stays valid through it. A failure here (pool growth) is
     * reported as NOMEM; what was evacuated before it is invisible. */
    if (!migrate_some(t, TABLE_MIGRATE_STEP))
        return TABLE_NOMEM;
    if (t->cur.b == NULL && !gen_init(t, &t->cur, MIN_LOG2, t->cur.seed))
        return TABLE_NOMEM;

    uint64_t h;
    gen *g = home_gen(t, key, &h);
    bucket *b;
    unsigned i;
    if (chain_find(t, g, h, key, &b, &i)) {
        store_ref r = b->rec[i];
        int64_t old = exp_of(t, r);
        bool live = !expired_at(t, old);
        int64_t at = keep_ttl && live ? old : expire_at;
        if (store_class_of(len) == store_ref_class(r)) {
            if (!store_set_exp(&t->st, r, at))
                return TABLE_NOMEM;
            store_write(&t->st, r, val, len);
            if (t->stamps != STAMPS_NONE) {
                if (live)
                    stamp_touch(t, r);
                else
                    stamp_new(t, r); /* a key written anew, as a new key */
            }
        } else {
            /* The value changes class: a record of the new class, then the
             * old one goes (val may point into it: it is copied first). A
             * live key's LFU counter goes with it, after the access. */
            store_ref nr;
            if (record_new(t, key, val, len, at, &nr) != TABLE_OK)
                return TABLE_NOMEM;
            if (live && t->stamps == STAMPS_LFU)
                store_set_lru(&t->st, nr, lfu_access(t, store_lru(&t->st, r)));
            b->rec[i] = nr;
            drop_record(t, r);
        }
        if (!live)
            note_expired(t, key); /* it was gone already; this write makes it anew */
        if (replaced != NULL)
            *replaced = live;
        return TABLE_OK;
    }

    if (!t->migrating) {
        uint64_t nb = t->cur.mask + 1;
        if ((count_of(t) + 1) * LOAD_DEN > LOAD_GROW_NUM * nb && t->cur.log2 < MAX_LOG2) {
            /* Mapping the new array waits for a prefault step in progress
             * (PREFAULT): put the grow off for a few inserts, up to 1/64
             * past the threshold, until the worker is between steps. */
            bool held = map_hold(t);
            if (held || (count_of(t) + 1) * LOAD_DEN * 64 > LOAD_GROW_NUM * nb * 65) {
                bool ok = migration_start(t, t->cur.log2 + 1, t->cur.seed, held);
                if (held)
                    map_release(t);
                if (!ok)
                    return TABLE_NOMEM;
                t->grows++;
                g = home_gen(t, key, &h);
            }
        } else if (t->cur.ovf > REHASH_OVERFLOW_PER_BUCKET * nb) {
            /* Not counted as grow or shrink: a rebuild at the same size. */
            if (migration_start(t, t->cur.log2, seed_new(), false))
                g = home_gen(t, key, &h);
        }
    }
    pool_ahead(t, g);
    store_ref r;
    if (record_new(t, key, val, len, expire_at, &r) != TABLE_OK)
        return TABLE_NOMEM;
    if (chain_full(g, &g->b[h & g->mask]) && !pool_reserve(t, g, 1)) {
        bool lost;
        (void)store_remove(&t->st, r, &lost); /* the class's last: nothing moves */
        return TABLE_NOMEM;
    }
    chain_append(g, &g->b[h & g->mask], tophash_of(h), r);
    return TABLE_OK;
}

/* The smallest array log2 that holds keys below the grow threshold. */
static uint32_t log2_for(uint64_t keys)
{
    uint32_t log2 = MIN_LOG2;
    while (log2 < MAX_LOG2 && keys * LOAD_DEN > (uint64_t)LOAD_GROW_NUM << log2)
        log2++;
    return log2;
}

uint64_t table_reserve_bytes(uint64_t keys)
{
    return array_bytes(log2_for(keys));
}

bool table_reserve(table *t, uint64_t keys)
{
    if (count_of(t) != 0 || t->migrating)
        return false;
    uint32_t log2 = log2_for(keys);
    if (t->cur.b != NULL && t->cur.log2 >= log2)
        return true;
    uint64_t seed = t->cur.seed;
    if (t->cur.b != NULL)
        gen_free(t, &t->cur);
    t->cur.seed = seed;
    t->arr_promo = 0;
    return gen_init(t, &t->cur, log2, seed);
}

table_status table_del(table *t, int64_t key)
{
    if (count_of(t) == 0)
        return TABLE_NOT_FOUND;
    /* Deleting needs no memory; if evacuation cannot grow a pool now, the
     * migration simply waits for a later step. */
    (void)migrate_some(t, TABLE_MIGRATE_STEP);
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    remove_at(t, g, h, b, i);
    return TABLE_OK;
}

uint64_t table_expire_scan(table *t, uint64_t max_checks, uint64_t *expired, bool *wrapped)
{
    uint64_t checked = 0, gone = 0;
    *wrapped = false;
    while (checked < max_checks) {
        if (t->scan_cls >= STORE_CLASSES) {
            t->scan_cls = 0;
            t->scan_idx = 0;
            *wrapped = true;
            break;
        }
        if (t->scan_idx >= store_class_count(&t->st, t->scan_cls)) {
            t->scan_cls++;
            t->scan_idx = 0;
            continue;
        }
        store_ref r = store_ref_make(t->scan_cls, t->scan_idx);
        checked++;
        if (store_block_expires(&t->st, r) == 0) {
            /* Nothing in this block can expire: skip it whole. */
            t->scan_idx = (t->scan_idx | (STORE_BLOCK - 1)) + 1;
            if (t->scan_idx > store_class_count(&t->st, t->scan_cls))
                t->scan_idx = store_class_count(&t->st, t->scan_cls);
            continue;
        }
        if (!expired_at(t, exp_of(t, r))) {
            t->scan_idx++;
            continue;
        }
        /* Remove it; the last record moves into r, so look at r again. */
        int64_t key = store_key(&t->st, r);
        uint64_t h;
        gen *g = home_gen(t, key, &h);
        bucket *b;
        unsigned i;
        if (!chain_find(t, g, h, key, &b, &i))
            abort(); /* a live record no slot refers to: the table is corrupt */
        remove_at(t, g, h, b, i);
        note_expired(t, key);
        gone++;
    }
    *expired = gone;
    return checked;
}

bool table_sample(table *t, uint64_t rnd, bool with_ttl, table_sample_t *out)
{
    store_ref r;
    if (!store_sample(&t->st, rnd, with_ttl, &r))
        return false;
    out->key = store_key(&t->st, r);
    out->expire_at = exp_of(t, r);
    out->lru = store_lru(&t->st, r);
    return true;
}

static inline uint32_t rev32(uint32_t v)
{
    v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
    v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
    v = ((v >> 4) & 0x0f0f0f0fu) | ((v & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(v);
}

/* Visit the live keys of one chain. */
static void scan_chain(const table *t, const gen *g, const bucket *b,
                       void (*fn)(int64_t key, void *arg), void *arg)
{
    for (; b != NULL; b = next_in_chain(g, b)) {
        unsigned n = occupied(b);
        for (unsigned i = 0; i < n; i++)
            if (!expired_at(t, exp_of(t, b->rec[i])))
                fn(store_key(&t->st, b->rec[i]), arg);
    }
}

/*
 * SCAN's cursor, as Redis's dictScan: the cursor is a bucket index counted
 * in reverse binary (its high bits are incremented first). Bucket i of an
 * array of 2^n buckets holds exactly the keys whose hash ends in the n bits
 * of i; an array twice as large splits it into i and i + 2^n, half as large
 * merges i with its partner. Counting in reverse binary visits those related
 * buckets next to each other, so a resize between two calls neither skips
 * nor (much) repeats: every key present for the whole iteration is visited
 * at least once. During a migration both arrays are visited: the bucket of
 * the smaller one, then every bucket of the larger one that it maps to.
 * (A same-size rehash with a new seed, which only keys chosen to collide can
 * trigger, moves keys arbitrarily: an iteration spanning one may miss keys.)
 */
uint64_t table_scan(const table *t, uint64_t cursor, void (*fn)(int64_t key, void *arg), void *arg)
{
    if (t->cur.b == NULL)
        return 0;
    uint32_t v = (uint32_t)cursor;
    const gen *small = &t->cur, *large = NULL;
    if (t->migrating) {
        small = t->old.mask <= t->cur.mask ? &t->old : &t->cur;
        large = small == &t->old ? &t->cur : &t->old;
    }
    uint32_t m0 = (uint32_t)small->mask;
    if (small != &t->old || (v & m0) >= t->progress)
        scan_chain(t, small, &small->b[v & m0], fn, arg);
    if (large != NULL) {
        uint32_t m1 = (uint32_t)large->mask;
        /* Every bucket of the larger array whose low bits are v & m0, in
         * reverse-binary order over the larger mask; the loop ends when the
         * bits only the larger mask has wrap to zero, which also advances
         * the cursor in the smaller one. */
        do {
            if (large != &t->old || (v & m1) >= t->progress)
                scan_chain(t, large, &large->b[v & m1], fn, arg);
            v |= ~m1;
            v = rev32(v);
            v++;
            v = rev32(v);
        } while (v & (m0 ^ m1));
        return v;
    }
    /* Reverse-binary increment over the mask. */
    v |= ~m0;
    v = rev32(v);
    v++;
    v = rev32(v);
    return v;
}

uint64_t table_memory(const table *t)
{
    return t->index_bytes + store_memory(&t->st);
}

table_status table_evict(table *t, int64_t key)
{
    table_status st = table_del(t, key);
    if (st == TABLE_OK)
        t->evicted++;
    return st;
}

void table_clear(table *t)
{
    table_reset(t);
}

bool table_step(table *t, unsigned work)
{
    (void)migrate_some_paced(t, work, false);
    bool more = t->promote && promote_some(t) && promote_due(t) && huge_ready(&t->stage) >= 0;
    return t->migrating || t->retired.b != NULL || more;
}

/*
 * Deviation from the header's "or has overflow buckets": chains here are
 * always compact (no tombstones), so rebuilding a right-sized array does not
 * compact anything, and at the normal load a few buckets overflow by chance
 * whatever the seed. A same-size rebuild is started only when it frees
 * something: the overflow pool maps more than twice what is in use plus a
 * page (space left behind by deletes), or overflow buckets exceed the
 * same-size rehash threshold (then with a fresh seed).
 */
bool table_shrink(table *t)
{
    while (t->migrating)
        if (!evacuate_one(t))
            return false; /* out of memory: leave it to later steps */
    uint64_t before = t->index_bytes + store_resident(&t->st);
    /* Empty: unmap everything at once, unless the array is large, when a
     * migration to the minimum size releases it in OLD_RELEASE_BYTES steps
     * instead of one long munmap. */
    if (count_of(t) == 0 && t->cur.b_bytes <= SHRINK_RESET_MAX_BYTES) {
        if (!table_reset(t))
            return false;
        t->shrinks_manual++;
        shrink_begin(t, before);
        shrink_end(t);
        return true;
    }

    bool started = false;
    uint32_t want = target_log2(count_of(t));
    const gen *c = &t->cur;
    uint64_t nb = c->mask + 1;
    uint64_t per_page = huge_base_page() / sizeof(bucket);
    if (want < c->log2) {
        started = migration_start(t, want, c->seed, false);
    } else if (c->ovf > REHASH_OVERFLOW_PER_BUCKET * nb) {
        started = migration_start(t, c->log2, seed_new(), false);
    } else if (c->pool_cap > 2 * (c->ovf + 2 * pool_low(t, c) + 1) + per_page) {
        /* (Beyond what a prefaulter's pool keeps spare: pool_ahead.) */
        started = migration_start(t, c->log2, c->seed, false);
    }
    if (started) {
        t->shrinks_manual++;
        shrink_begin(t, before);
    }
    (void)store_trim(&t->st, UINT32_MAX);
    return started;
}

bool table_release(table *t, unsigned max_chunks)
{
    return store_trim(&t->st, max_chunks);
}

void table_get_stats(const table *t, table_stats *st)
{
    memset(st, 0, sizeof *st);
    st->count = count_of(t);
    if (t->cur.b != NULL) {
        st->log2_buckets = t->cur.log2;
        st->buckets = t->cur.mask + 1;
    }
    st->overflow_buckets = t->cur.ovf + t->old.ovf;
    if (t->migrating) {
        st->old_buckets = t->old.mask + 1;
        st->migrated = t->progress;
    }
    /* Done when the old array is unmapped too. */
    st->migrating = t->migrating || t->retired.b != NULL;
    st->index_bytes = t->index_bytes;
    st->payload_bytes = store_resident(&t->st) + (uint64_t)huge_staged(&t->stage) * HUGE_BYTES;
    st->record_bytes = t->st.record_bytes;
    st->record_chunks = store_chunks(&t->st);
    st->grows = t->grows;
    st->shrinks_auto = t->shrinks_auto;
    st->shrinks_manual = t->shrinks_manual;
    st->shrinking = t->shrinking;
    st->last_shrink_us = t->last_shrink_us;
    st->last_shrink_freed = t->last_shrink_freed;
    st->expires = store_expires(&t->st);
    st->expired = t->expired;
    st->evicted = t->evicted;
    st->avg_expire_at = store_avg_expire(&t->st);
    st->meta_bytes = t->st.meta_bytes;
    st->prefault_waits = t->pf_waits_total;
    st->promote_pending = t->promote && promote_due(t);
    st->huge_record_bytes = store_huge_bytes(&t->st);
    st->huge_index_bytes = (uint64_t)t->arr_promo * HUGE_BYTES;
    st->promotions = t->stage.moves;
}

void table_get_class_stats(const table *t, unsigned cls, table_class_stats *st)
{
    store_class_stats s;
    store_class_get_stats(&t->st, cls, &s);
    st->record_size = store_record_size(&t->st, cls);
    st->keys = s.keys;
    st->record_bytes = s.record_bytes;
    st->resident_bytes = s.resident_bytes;
    st->mapped_bytes = s.mapped_bytes;
    st->huge_bytes = s.huge_bytes;
    st->meta_bytes = s.meta_bytes;
}

/* Visit the slots of one chain. */
static bool foreach_chain(const table *t, const gen *g, const bucket *b,
                          bool (*fn)(int64_t, const uint8_t *, size_t, void *), void *arg)
{
    for (; b != NULL; b = next_in_chain(g, b)) {
        unsigned n = occupied(b);
        for (unsigned i = 0; i < n; i++) {
            if (expired_at(t, exp_of(t, b->rec[i])))
                continue; /* gone, even if not reclaimed yet */
            const uint8_t *p = store_rec(&t->st, b->rec[i]);
            if (!fn(store_key(&t->st, b->rec[i]), p + STORE_VAL_AT, p[STORE_LEN_AT], arg))
                return false;
        }
    }
    return true;
}

void table_foreach(const table *t,
                   bool (*fn)(int64_t key, const uint8_t *val, size_t len, void *arg), void *arg)
{
    if (count_of(t) == 0)
        return;
    for (uint64_t i = 0; i <= t->cur.mask; i++)
        if (!foreach_chain(t, &t->cur, &t->cur.b[i], fn, arg))
            return;
    if (t->migrating)
        for (uint64_t i = t->progress; i <= t->old.mask; i++)
            if (!foreach_chain(t, &t->old, &t->old.b[i], fn, arg))
                return;
}

void table_foreach_record(const table *t,
                          bool (*fn)(int64_t key, const uint8_t *val, size_t len, int64_t expire_at,
                                     void *arg),
                          void *arg)
{
    /* Each class's records are dense, 0 .. count - 1 (store.h). */
    for (unsigned cls = 0; cls < STORE_CLASSES; cls++) {
        uint32_t n = store_class_count(&t->st, cls);
        for (uint32_t i = 0; i < n; i++) {
            store_ref r = store_ref_make(cls, i);
            int64_t at = exp_of(t, r);
            if (expired_at(t, at))
                continue; /* gone, even if not reclaimed yet */
            const uint8_t *p = store_rec(&t->st, r);
            if (!fn(store_key(&t->st, r), p + STORE_VAL_AT, p[STORE_LEN_AT], at, arg))
                return;
        }
    }
}

/* ---- snapshots (table.h) ---- */

static void snap_record(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t exp)
{
    table *t = arg;
    if (!expired_at(t, exp)) /* gone, even if not reclaimed yet */
        t->snap_fn(t->snap_arg, key, val, len, exp);
}

bool table_snap_begin(table *t,
                      void (*fn)(void *arg, int64_t key, const uint8_t *val, size_t len,
                                 int64_t expire_at),
                      void *arg)
{
    t->snap_fn = fn;
    t->snap_arg = arg;
    return store_snap_begin(&t->st, snap_record, t);
}

bool table_snap_step(table *t, uint32_t max_records)
{
    return store_snap_step(&t->st, max_records);
}

bool table_snap_active(const table *t)
{
    return t->st.snap != NULL;
}

bool table_snap_failed(const table *t)
{
    return store_snap_failed(&t->st);
}

uint64_t table_snap_early(const table *t)
{
    return store_snap_early(&t->st);
}

void table_snap_end(table *t)
{
    store_snap_end(&t->st);
}

/* ---- prefetching ----------------------------------------------------------
 *
 * __builtin_prefetch compiles to a prefetch instruction: it never faults, and
 * a hint that turns out useless (the key is absent, a tophash false match, a
 * table changed since) costs one cache line of bandwidth and nothing else.
 * Stage 2 does read the bucket for real, which is why it must run before
 * anything changes the table.
 */

void table_prefetch_bucket(const table *t, int64_t key, table_hint *h)
{
    h->bucket = NULL;
    if (count_of(t) == 0)
        return;
    uint64_t hash;
    const gen *g = home_gen(t, key, &hash);
    const bucket *b = &g->b[hash & g->mask];
    __builtin_prefetch(b, 0, 3);
    h->t = t;
    h->bucket = b;
    h->gen = g;
    h->top = tophash_of(hash);
}

void table_prefetch_record(const table_hint *h)
{
    const bucket *b = h->bucket;
    if (b == NULL)
        return;
    unsigned m = match_top(b, h->top);
    if (m == 0) {
        /* A full bucket may continue in an overflow bucket. */
        if (b->tophash[SLOTS - 1] != 0 && b->overflow != 0)
            __builtin_prefetch(ovf_at(h->gen, b->overflow), 0, 3);
        return;
    }
    store_prefetch(&h->t->st, b->rec[__builtin_ctz(m)]);
}

/* ---- table_check ----------------------------------------------------------- */

#ifdef NDEBUG
void table_check(const table *t)
{
    (void)t;
}
#else

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: table_check failed: %s (%s)\n", __FILE__, __LINE__, what,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool bit_test_set(uint64_t *bm, uint64_t i)
{
    uint64_t m = 1ull << (i & 63);
    bool was = (bm[i >> 6] & m) != 0;
    bm[i >> 6] |= m;
    return was;
}

/* Check one generation's live home buckets [from, nb); return slots seen.
 * recs[k] marks the records of class k referenced so far. */
static uint64_t check_gen(const table *t, const gen *g, uint64_t from,
                          uint64_t *recs[STORE_CLASSES])
{
    uint64_t nb = g->mask + 1, slots = 0, linked = 0;
    CHECK(g->b_bytes == huge_round_base(nb * sizeof(bucket)), "array bytes");
    CHECK(g->pool_used <= g->pool_cap, "pool high-water within capacity");
    CHECK(g->pool_bytes == huge_round_base((size_t)g->pool_cap * sizeof(bucket)), "pool bytes");
    uint64_t pwords = ((uint64_t)g->pool_used + 64) / 64;
    uint64_t *seen = calloc(pwords, sizeof *seen);
    CHECK(seen != NULL, "out of memory in table_check");

    for (uint64_t i = g->b_released / sizeof(bucket); i < from; i++) {
        const bucket *b = &g->b[i];
        CHECK(match_top(b, 0) == SLOT_MASK && b->overflow == 0, "evacuated old bucket is empty");
    }
    for (uint64_t bi = from; bi < nb; bi++) {
        const bucket *b = &g->b[bi];
        for (;;) {
            unsigned n = occupied(b);
            for (unsigned i = n; i < SLOTS; i++)
                CHECK(b->tophash[i] == 0, "occupied slots are a prefix");
            for (unsigned i = 0; i < n; i++) {
                store_ref r = b->rec[i];
                unsigned k = store_ref_class(r);
                CHECK(k < STORE_CLASSES, "ref class");
                CHECK(store_ref_index(r) < store_class_count(&t->st, k), "record number < count");
                CHECK(!bit_test_set(recs[k], store_ref_index(r)), "record referenced once");
                int64_t key = store_key(&t->st, r);
                uint64_t h;
                const gen *hg = home_gen(t, key, &h);
                CHECK(hg == g, "key in the generation the migration rule says");
                CHECK((h & g->mask) == bi, "key in its home bucket's chain");
                CHECK(tophash_of(h) == b->tophash[i], "tophash matches");
                slots++;
            }
            if (b->overflow == 0)
                break;
            CHECK(n == SLOTS, "only the last bucket of a chain is not full");
            CHECK(b->overflow <= g->pool_used, "overflow index in pool");
            CHECK(!bit_test_set(seen, b->overflow), "overflow chains acyclic");
            linked++;
            b = ovf_at(g, b->overflow);
            CHECK(occupied(b) > 0, "no empty overflow bucket in a chain");
        }
    }
    uint64_t nfree = 0;
    for (uint32_t idx = g->pool_free; idx != 0; idx = ovf_at(g, idx)->overflow) {
        CHECK(idx <= g->pool_used, "free overflow index in pool");
        CHECK(!bit_test_set(seen, idx), "free bucket not linked, listed once");
        CHECK(bucket_empty(ovf_at(g, idx)), "free bucket empty");
        nfree++;
    }
    CHECK(nfree == g->pool_nfree, "free list length");
    CHECK(linked == g->ovf, "overflow bucket count");
    CHECK(linked + nfree == g->pool_used, "every handed-out overflow bucket is linked or free");
    free(seen);
    return slots;
}

void table_check(const table *t)
{
    store_check(&t->st);
    CHECK(huge_staged(&t->stage) == 0 || t->promote, "pages staged only when promoting");
    CHECK(t->arr_promo == 0 || (!t->migrating && array_is_huge(t->cur.b_bytes) &&
                                t->arr_promo <= t->cur.b_bytes / HUGE_BYTES),
          "array ranges are moved only after the migration, within the array");
    CHECK(t->scan_cls <= STORE_CLASSES, "expiry cursor");
    CHECK(t->scan_cls == STORE_CLASSES || t->scan_idx <= store_class_count(&t->st, t->scan_cls),
          "expiry cursor within the records");
    if (t->cur.b == NULL) {
        CHECK(count_of(t) == 0 && !t->migrating, "empty state");
        CHECK(t->index_bytes == 0, "no index mapped when empty");
        return;
    }
    uint64_t idx = t->cur.b_bytes + t->cur.pool_bytes;
    if (t->retired.b != NULL)
        idx += t->retired.b_bytes - t->retired.b_released + t->retired.pool_bytes;
    CHECK(t->cur.log2 >= MIN_LOG2 && t->cur.log2 <= MAX_LOG2, "array size");
    CHECK(t->migrating == (t->old.b != NULL), "old generation iff migrating");
    if (t->migrating) {
        CHECK(t->progress <= t->old.mask, "progress < old buckets");
        idx += t->old.b_bytes - t->old.b_released + t->old.pool_bytes;
        CHECK(t->old.b_released <= t->progress * sizeof(bucket),
              "only evacuated old buckets are unmapped");
    } else {
        CHECK(t->progress == 0, "no progress when idle");
    }
    CHECK(t->cur.b_released == 0, "current array wholly mapped");
    CHECK(t->index_bytes == idx, "index bytes");

    /* One bitmap per class, carved from one allocation. */
    uint64_t *recs[STORE_CLASSES], words = 0;
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        words += ((uint64_t)store_class_count(&t->st, k) + 64) / 64;
    uint64_t *bits = calloc(words, sizeof *bits);
    CHECK(bits != NULL, "out of memory in table_check");
    words = 0;
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        recs[k] = bits + words;
        words += ((uint64_t)store_class_count(&t->st, k) + 64) / 64;
    }
    uint64_t slots = check_gen(t, &t->cur, 0, recs);
    if (t->migrating)
        slots += check_gen(t, &t->old, t->progress, recs);
    CHECK(slots == count_of(t), "count == occupied slots");
    free(bits);
}
#endif
