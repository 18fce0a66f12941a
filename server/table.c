/*
 * table.c - the keyspace table: int64 key -> 0..128 byte value.
 * See table.h for the contract; this file explains the layout and policy.
 *
 * LAYOUT
 * ======
 *
 * Bucket (64 bytes, one cache line, 8 slots):
 *
 *   byte  0        8        16                                 48   52        64
 *         +--------+--------+----------------------------------+----+---------+
 *         |tophash | len    | rec[0] rec[1] ... rec[7]         |ovf | pad     |
 *         | 8 x u8 | 8 x u8 | 8 x u32 record numbers           |u32 | 12 B    |
 *         +--------+--------+----------------------------------+----+---------+
 *
 *   tophash[i]  top 8 bits of the key's hash, 1..255; 0 = slot empty
 *   len[i]      value length 0..128
 *   rec[i]      record number (index into the dense record store)
 *   ovf         1-based index of the next bucket of the chain in this
 *               generation's overflow pool; 0 = end of chain
 *
 *   Chains are kept compact: the occupied slots of a chain (home bucket, then
 *   its overflow buckets in order) are always a prefix. So a probe can stop at
 *   the first bucket with an empty slot, an insert appends at the end of the
 *   prefix, and a delete moves the chain's last occupied slot into the hole
 *   (an overflow bucket that becomes empty is unlinked and goes to the pool's
 *   free list). There are never tombstones.
 *
 * Record store (records are 136 bytes, record numbers 0..count-1, no holes):
 *
 *   chunks[] (malloc'd array of pointers, tiny)
 *     [0] ---> +-------------------------------------------------+ mmap'd,
 *              | rec 0    | key i64 | val[128]                   | 2048 recs
 *              | rec 1    | key i64 | val[128]                   | = 278528 B
 *              | ...                                             | = 68 pages
 *              | rec 2047                                        | exactly
 *              +-------------------------------------------------+
 *     [1] ---> | rec 2048 ... rec 4095                           |
 *     ...
 *     [n-1] -> | ... rec count-1 | (free tail) ...               |
 *     [n]  --> | spare, empty (at most one when auto_shrink)     |
 *
 *   Insert writes record `count`. Delete copies record count-1 over the hole
 *   and repoints the one slot that referenced count-1. So records are always
 *   dense and a drain empties chunks from the tail, which are munmap'd.
 *   Records never move otherwise: not on grow, shrink or evacuation, which
 *   copy only the 6-byte slots (tophash, len, rec).
 *
 * HUGE PAGES. A lookup in a big table touches a random bucket and a random
 * record; with 4 KiB pages each is also a TLB miss, whose page walk (two
 * levels of tables under a hypervisor) costs as much as the miss itself: on
 * a 10M-key table that was half the time of a GET. So the big mappings ask
 * for 2 MiB pages (MADV_HUGEPAGE: the machine's THP mode may be "madvise"),
 * mapped 2 MiB-aligned so that every 2 MiB of them can be one page:
 *   - a bucket array of HUGE_ARRAY_MIN (16 MiB, 2^18 buckets: from ~851k
 *     keys) or more;
 *   - record chunks past the first SMALL_CHUNKS (past ~262k keys): they are
 *     carved from slabs of SLAB_CHUNKS chunks, 34 MiB = exactly 17 huge
 *     pages (128 x 278528 B), instead of being mapped one by one.
 * A small table keeps ordinary pages, so it holds no more than its records
 * and buckets need. Memory still follows data, in 2 MiB steps where huge
 * pages are used: unmapping or discarding part of a huge page splits it and,
 * while RSS drops at once, the kernel keeps the whole 2 MiB until the rest
 * of it goes too (or memory gets short). So a slab gives back its tail only
 * in whole huge pages (MADV_DONTNEED; it keeps the addresses for the chunks
 * to come back): at most one partly used huge page stays per slab, counted
 * in RSS, and an emptied slab is munmap'd. An old bucket array is released
 * front first in OLD_RELEASE_BYTES steps as before, which may split the huge
 * page at the front; the evacuation sweep discards the rest of it soon after,
 * so at most 2 MiB is held out of sight, for part of a migration.
 *
 * How the 2 MiB pages come in without a client waiting for the kernel to
 * fault one: PREFAULT and PROMOTE below (the kernel's khugepaged would merge
 * ordinary pages later by itself, but it scans slowly: it had not merged a
 * 128 MiB array 80 s after a 10M-key load here).
 *
 * PREFAULT. The kernel allocates and zeroes a huge page inside the fault of
 * its first write: 0.5 to 13 ms here (the host backs fresh memory lazily),
 * a stall for every client. Given a prefaulter (table_options.prefault,
 * prefault.h), a thread of the prefaulter takes those faults instead.
 * Where huge pages can be had at all (THP not "never"), PROMOTE below makes
 * sure the table never writes into a huge page that is not in yet.
 * The table asks for pages ahead of the writes:
 *   - records: the next PREFAULT_AHEAD_CHUNKS chunks past the one being
 *     written (4.3 MiB: 32k inserts ahead), in the SOON lane; with PROMOTE
 *     PROMO_AHEAD_CHUNKS (1.1 MiB). With PROMOTE these are ordinary pages,
 *     but their first touch is not always cheap
 *     either: on this virtual machine an insert's write to a fresh 4 KiB
 *     page took 2 to 14 ms now and then, without a context switch (timed
 *     by an instrumented build); populated ahead, the thread takes those
 *     faults.
 *   - bucket arrays of HUGE_ARRAY_MIN or more, for the same reason, with
 *     PROMOTE (ordinary pages until moved) or without: a 10M-key load
 *     took 176k page faults on the event loop's thread, 85 % of them in
 *     migration steps writing the new array, when only records were
 *     populated ahead; 39k with the arrays populated ahead too. A
 *     migration fills the new array in order (old bucket i
 *     into new buckets i and i + M on a grow, i mod M/2 on a shrink), so on
 *     entering a 2 MiB page of the destination it asks for the next page of
 *     each run, in the LATER lane. A write-driven migration step does not
 *     evacuate into a page whose request is not served yet: the write goes
 *     on (into the old array, as the migration rule says for buckets not
 *     yet evacuated) and the step is left for a later write. Such waits are
 *     bounded by a quarter of the old array's buckets per migration, so a
 *     migration still ends in at most 3/4 x M writes, before the next
 *     trigger (POLICY). A background step (table_step) only returns.
 * Either way:
 *   - the next slab is mapped when the records come within that window of
 *     it (slab_next). A drain unmaps slab_next;
 *   - map changes: mmap, munmap and mremap take the process's memory map
 *     exclusively and would wait for the worker's page in progress, so the
 *     ones that can be put off are made only while it is held between
 *     pages (map_hold): mapping slab_next, starting a grow, unmapping a
 *     finished migration's old array (t->retired until then), growing a
 *     pool early (pool_ahead, POOL_AHEAD_MIN buckets ahead at least),
 *     doubling chunks[] early (record_reserve), moving a range (PROMOTE). An old array's evacuated front is discarded
 *     with MADV_DONTNEED, which shares the map, rather than unmapped.
 *
 * PROMOTE. Populating ahead leaves the writer waiting whenever the worker
 * falls behind (a huge page took 4 to 6 ms to come in here, and two cores
 * shared with the clients are not always enough): a write past the
 * populated window faults the huge page itself. Instead, memory is written
 * in ordinary pages and moved into huge pages once written:
 *   - slabs and big bucket arrays are mapped with ordinary pages
 *     (MADV_NOHUGEPAGE), which a write faults in microseconds;
 *   - the worker populates up to PROMO_PAGES staging huge pages, each a
 *     2 MiB-aligned mapping of its own (MADV_HUGEPAGE), in its SOON lane;
 *   - once the records fill a 2 MiB range of a slab (ranges counted from
 *     the first slab's start, PROMO_RANGES per slab; range promo_hw is the
 *     next), or once the migration that filled a bucket array of
 *     HUGE_ARRAY_MIN or more is over (its ranges in order from the front,
 *     arr_promo of them done), an insert (or table_step) copies the range
 *     into a staged page and moves that page over it with mremap, which
 *     moves the page table entry and unmaps the ordinary pages: 0.3 to
 *     0.6 ms for 2 MiB here, made only while the worker is held (mremap
 *     takes the memory map), one range per call, records first. Only this
 *     thread writes records and buckets, so nothing changes under the
 *     copy. If no staged page is in yet the range just waits, in ordinary
 *     pages, and is looked at again PROMO_RETRY inserts later (or by
 *     table_step once a page is in);
 *   - slab ranges [0, promo_hw) are huge. A drain discards whole 2 MiB pages
 *     past the last chunk in use; a discarded range that was huge would be
 *     faulted as a huge page by the next write into it, so those ranges are
 *     turned back to ordinary pages (MADV_NOHUGEPAGE, a map change) and
 *     promo_hw comes down to the ranges still in use: at the next insert or
 *     table_step that holds the worker, and at the latest before a chunk is
 *     added (record_reserve; held or not, whether promoting or not any
 *     more), since only a new chunk reaches into them. A bucket array is
 *     never refilled in place: a resize writes a new one;
 *   - a table moves at most PROMO_MAX_RANGES ranges (each is a mapping of
 *     its own); the rest stays in ordinary pages.
 * A staged page is RSS once populated: PROMO_PAGES x 2 MiB per
 * table, counted in payload_bytes, and unmapped when the table has neither
 * slabs nor an array range to move.
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
 * Load is keys per bucket (8 slots). We grow when count > 6.5 x buckets
 * (Go's loadFactor: at 6.5/8 = 81% slot use chains are still short - about a
 * fifth of buckets have one overflow bucket - while the index costs only
 * 64/6.5 ~ 10 bytes per key at that point) and double. After a grow the load
 * is 3.25, the "normal load". We shrink automatically when count drops below
 * 6.5/4 = 1.625 x buckets, to the smallest power of two whose load is at most
 * 3.25 - again normal load. So after any resize the table is at load ~3.25
 * and must double its keys to grow again or lose half of them to shrink
 * again: a delete-N/add-N cycle with N < count/2 never causes a resize
 * (no oscillation). (The brief said "lose 3/4"; with these thresholds it is
 * half of the post-resize count, i.e. 3/4 of the count at the last grow.)
 *
 * Each table_set/table_del first evacuates TABLE_MIGRATE_STEP old buckets.
 * A migration from M old buckets thus ends within M/2 mutations. The nearest
 * next trigger after a migration starts is: after a grow (2M buckets, count
 * 6.5M) 3.25M deletes or 6.5M inserts; after an auto shrink (M/2 buckets,
 * count ~1.625M) 0.8125M deletes or 1.625M inserts. All are > M/2, so a
 * migration always finishes before the next one can be triggered. A step of 1
 * (M mutations) would not satisfy the shrink case; 2 is the least that does.
 * No migration starts while one is in progress anyway; thresholds are checked
 * again at the next mutation after it ends.
 *
 * Same-size rehash: if the current generation has more overflow buckets than
 * home buckets (cannot happen at load <= 6.5 with a good hash, so it means
 * keys chosen to collide), the next insert starts a migration to an array of
 * the same size with a fresh random seed. Each generation has its own seed;
 * grows and shrinks keep the seed (so old bucket i splits into new buckets i
 * and i + M, which keeps evacuation local), rehashes change it.
 *
 * The minimum array is 64 buckets = 4096 bytes = one page: a smaller array
 * would still occupy a whole page of RSS.
 *
 * MEMORY BUDGET (1M keys, 136 MB payload, limit 1.2 x = 163 MB):
 *   records  489 chunks x 278528 B = 136.2 MB (+ one spare chunk 0.28 MB)
 *   index    1M keys > 6.5 x 2^17, so 2^18 buckets x 64 B = 16.8 MB, about
 *            16.8 bytes/key (just after a grow; 9.8..19.7 B/key in general),
 *            plus overflow buckets (a few % of buckets at load 3.8).
 *   growth   the 2^17 -> 2^18 migration starts at 851969 keys with old
 *            8.4 MB + new 16.8 MB mapped (29.5 B/key, 1.22 x the payload at
 *            that instant if counted as mapped). RSS is lower: the new
 *            array's pages are touched only as entries land and the old
 *            array's evacuated prefix is discarded as it goes (see
 *            OLD_RELEASE_BYTES), so index RSS is at most the new array.
 *   measured (test budget_1m_keys) peak mapped 153.5 MB = 1.129 x of 1M
 *            keys' payload; peak RSS added 1.128 x; RSS / payload present,
 *            sampled past 100k keys, at most 1.18 x (1.15 x with ordinary
 *            pages only: a slab's partly used huge page adds up to 2 MiB).
 */
#include "table.h"

#include "prefault.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- layout constants ---------------------------------------------------- */

#define SLOTS 8u                   /* slots per bucket */
#define REC_PER_CHUNK 2048u        /* 2048 x 136 = 278528 B = 68 x 4 KiB pages */
#define REC_CHUNK_SHIFT 11u
#define MIN_LOG2 6u                /* 64 buckets x 64 B = one 4 KiB page */
#define MAX_LOG2 32u               /* bucket index fits 32 bits; rec[] too */
#define MAX_RECORDS 0xfffffffeu    /* record numbers are uint32_t */
#define POOL_MAX 0xfffffffeu       /* overflow indices are 1-based uint32_t */

/* ---- policy constants (see POLICY above) --------------------------------- */

/* Grow when count > LOAD_GROW_NUM / LOAD_DEN x buckets (6.5, Go's loadFactor). */
#define LOAD_GROW_NUM 13u
#define LOAD_DEN 2u
/* Normal load after any resize: half of the grow load, 3.25. */
#define LOAD_NORMAL_NUM 13u
#define LOAD_NORMAL_DEN 4u
/* Auto shrink when count < shrink_percent % of the grow load x buckets; the
 * default 25 % is 1.625 keys per bucket. Above 25 % a shrink to the normal
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
/* Record chunks prefaulted past the one being written (see PREFAULT):
 * 16 x 278528 B = 4.3 MiB, two huge pages' worth. */
#define PREFAULT_AHEAD_CHUNKS 16u
/* ... and with PROMOTE, where they are ordinary pages (a few milliseconds
 * of the worker's time, not one 2 MiB page each): 4 x 278528 B = 1.1 MiB,
 * 8k inserts ahead, less memory ahead of the data. */
#define PROMO_AHEAD_CHUNKS 4u
/* Side arrays of each kind a table keeps mapped ahead with a prefaulter
 * (EXPIRY AND LRU), once it has SIDE_STASH_CHUNKS chunks or more. */
#define SIDE_STASH 2u
#define SIDE_STASH_CHUNKS 16u
/* Free overflow buckets a pool keeps with a prefaulter, at least (an eighth
 * of the array below 8192 buckets; pool_low): pool_ahead grows it to twice
 * that when it runs short, which rounds up to 4096 buckets (256 KiB). */
#define POOL_AHEAD_MIN 1024u
/* Staged huge pages a table keeps asked for (PROMOTE), and the inserts
 * after which a range that could not be promoted is looked at again. */
#define PROMO_PAGES 1u
#define PROMO_RETRY 256u
/* Ranges a table moves at most (16 GiB): each moved range is a mapping of
 * its own (a moved page does not merge with its neighbours), and the kernel
 * allows a process 65530 mappings by default (vm.max_map_count). */
#define PROMO_MAX_RANGES 8192u
/* Spare empty record chunks kept mapped when auto_shrink is on: one, so a
 * set/del pair at a chunk boundary does not map and unmap every time. */
#define SPARE_CHUNKS 1u
/* Huge pages (see HUGE PAGES above): their size; the chunks mapped one by
 * one with ordinary pages before slabs are used (one slab's worth: a table
 * that fills them is big enough for a 34 MiB slab); chunks per slab. */
#define HUGE_BYTES (2u * 1024u * 1024u)
#define SMALL_CHUNKS 128u
#define SLAB_CHUNKS 128u
/* Smallest bucket array given huge pages: 2^18 buckets (from ~851k keys).
 * A migration fills the new array at old bucket i's two destinations, i and
 * i + M, as it goes, so with huge pages the two huge pages around its
 * progress are resident ahead of it: up to 4 MiB more than with ordinary
 * pages. For a 2 or 4 MiB array that is all of it at once, next to the old
 * array; below 16 MiB it would lift RSS past 1.2 x the payload present
 * during a grow (see MEMORY BUDGET); from 16 MiB on it is under 3.5 %. */
#define HUGE_ARRAY_MIN (16u * 1024u * 1024u)
/* table_shrink of an empty table unmaps its array at once up to this size
 * (munmap of 1 MiB of touched pages takes well under a millisecond); larger
 * arrays are released by a migration, a step at a time. */
#define SHRINK_RESET_MAX_BYTES (1024u * 1024u)

/* ---- types ---------------------------------------------------------------- */

typedef struct {
    uint8_t tophash[SLOTS];
    uint8_t len[SLOTS];
    uint32_t rec[SLOTS];
    uint32_t overflow;
    uint8_t pad[12];
} bucket;

static_assert(sizeof(bucket) == 64, "bucket is one cache line");
static_assert(SLOTS == 8, "the SWAR probe reads tophash[] as one uint64_t");

typedef struct {
    int64_t key;
    uint8_t val[TABLE_VALUE_MAX];
} record;

static_assert(sizeof(record) == 136, "record is key + 128-byte value");
static_assert(TABLE_VALUE_MAX <= UINT8_MAX, "len[] is a byte");
static_assert((1u << REC_CHUNK_SHIFT) == REC_PER_CHUNK, "chunk shift");
static_assert(REC_PER_CHUNK % 512 == 0, "136 x 512 is a whole number of pages");

#define CHUNK_BYTES ((size_t)REC_PER_CHUNK * sizeof(record))
#define SLAB_BYTES ((size_t)SLAB_CHUNKS * CHUNK_BYTES)
static_assert(SLAB_BYTES % HUGE_BYTES == 0, "a slab is whole huge pages");
#define PROMO_RANGES (SLAB_BYTES / HUGE_BYTES) /* 2 MiB ranges per slab */
#define SMALL_RECORDS ((uint64_t)SMALL_CHUNKS * REC_PER_CHUNK)
/* Side arrays of a chunk, mapped only when needed (see EXPIRY AND LRU). */
#define EXP_BYTES ((size_t)REC_PER_CHUNK * sizeof(int64_t))
#define LRU_BYTES ((size_t)REC_PER_CHUNK * sizeof(uint32_t))
static_assert(EXP_BYTES % 4096 == 0 && LRU_BYTES % 4096 == 0, "side arrays are whole pages");
static_assert(EXP_BYTES != LRU_BYTES, "stash_of tells the kinds apart by size");

typedef struct {
    record *rec;        /* REC_PER_CHUNK records */
    int64_t *exp;       /* expire time (ms) per record, 0 = none; NULL if nexp == 0 */
    uint32_t *lru;      /* last access per record (LRU clock); NULL until tracked */
    uint32_t nexp;      /* records of this chunk with an expire time */
} chunk;

typedef struct {
    bucket *b;          /* 2^log2 home buckets, NULL when this gen is unused */
    size_t b_bytes;     /* size of the mapping of b */
    size_t b_released;  /* leading bytes of b given back (old gen): */
    size_t b_unmapped;  /* munmap'd, the rest of them discarded (still mapped) */
    uint32_t log2;
    uint64_t mask;      /* 2^log2 - 1 */
    uint64_t seed;      /* hash seed of this generation */
    bucket *pool;       /* overflow pool: index i (1-based) is pool[i - 1] */
    size_t pool_bytes;  /* mapped size of pool */
    uint32_t pool_cap;  /* buckets the mapping holds */
    uint32_t pool_used; /* high-water mark of handed-out indices */
    uint32_t pool_free; /* free list head (1-based, linked by .overflow) */
    uint32_t pool_nfree;
    uint64_t ovf;       /* overflow buckets linked into chains */
} gen;

/* Side arrays of one kind kept mapped and zeroed (EXPIRY AND LRU). */
enum { SIDE_EXP, SIDE_LRU };
typedef struct {
    void *p[SIDE_STASH];
    unsigned n;
} side_stash;

struct table {
    gen cur;            /* current (destination) generation */
    gen old;            /* generation being migrated from, if migrating */
    bool migrating;
    uint64_t progress;  /* old buckets 0..progress-1 evacuated */
    uint64_t count;
    chunk *chunks;      /* chunks[0..nchunks-1] mapped */
    size_t nchunks;
    size_t chunks_cap;
    char **slabs;       /* slabs holding chunks SMALL_CHUNKS.. (HUGE PAGES) */
    size_t slabs_cap;
    /* PREFAULT: chunks below pf_front have been asked for (SIZE_MAX: the
     * table does not prefault); the slab after the last one in use, mapped
     * early because the window reached it; the migration's destination
     * page (index in the new array, SIZE_MAX before the first step), the
     * tickets of its request and of the next page's, and the steps left
     * for pages still coming in. */
    size_t pf_front;
    char *slab_next;
    size_t pf_page;
    uint64_t pf_wait, pf_ahead;
    uint64_t pf_skips;
    uint64_t pf_waits_total;
    /* PROMOTE: slab ranges [0, promo_hw) are huge pages, as are the first
     * arr_promo of the current bucket array; staged pages and
     * their tickets (NULL: none); the record count at which to look again
     * (UINT64_MAX: not promoting); ranges promoted so far. */
    size_t promo_hw;
    size_t arr_promo;   /* 2 MiB ranges of cur.b moved, from its front */
    char *promo_pg[PROMO_PAGES];
    uint64_t promo_tk[PROMO_PAGES];
    uint64_t promo_at;
    uint64_t promotions;
    /* A finished migration's old generation whose unmapping waits for the
     * prefaulter to be out of the memory map (map_hold), b == NULL if none. */
    gen retired;
    uint64_t index_bytes;
    uint64_t payload_bytes;
    uint64_t meta_bytes;    /* exp and lru side arrays mapped (stashed ones too) */
    /* Side arrays mapped ahead, zeroed, for the next chunks that need one:
     * [SIDE_EXP] expire-time arrays, [SIDE_LRU] LRU arrays (see EXPIRY AND
     * LRU). */
    side_stash stash[2];
    uint64_t expires;       /* records with an expire time */
    __int128 exp_sum;       /* sum of their expire times, for avg_ttl */
    uint64_t expired;       /* keys removed because their time had come */
    uint64_t scan_cursor;   /* next record table_expire_scan looks at */
    table_options opt;
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

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
    }
    return ps;
}

static size_t round_page(size_t n)
{
    size_t ps = page_size();
    return (n + ps - 1) / ps * ps;
}

static void *map_zero(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t bytes)
{
    if (p != NULL && bytes > 0 && munmap(p, bytes) != 0)
        abort(); /* only on a bad pointer or length: a bug */
}

/* Ask for huge pages on [p, p + bytes) if the table's options say so, and
 * refuse them otherwise (a kernel whose THP mode is "always" would use them
 * unasked). The advice may be refused (a kernel without THP); the memory
 * then stays in ordinary pages. The layout (aligned arrays, slabs) is the
 * same either way. */
static void advise_huge(const table *t, void *p, size_t bytes)
{
    (void)madvise(p, bytes, t->opt.huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

/* THP can be used at all: the kernel's mode is not "never" (then a staged
 * page would be ordinary pages, and moving it would gain nothing). */
static bool thp_usable(void)
{
    static int usable = -1;
    if (usable < 0) {
        char buf[128] = {0};
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
        usable = f != NULL && fgets(buf, sizeof buf, f) != NULL && strstr(buf, "[never]") == NULL;
        if (f != NULL)
            fclose(f);
    }
    return usable == 1;
}

static inline bool promoting(const table *t)
{
    return t->promo_at != UINT64_MAX;
}

/* Record chunks populated ahead of the one being written (PREFAULT). */
static inline size_t ahead_chunks(const table *t)
{
    return promoting(t) ? PROMO_AHEAD_CHUNKS : PREFAULT_AHEAD_CHUNKS;
}

/* Map changes that can be put off (mapping a slab ahead, starting a grow,
 * unmapping a finished migration's old array, growing a pool before it is
 * full) are made only while the prefaulter's worker is between steps: made
 * during one, mmap/munmap/mremap would wait for it, milliseconds per huge
 * page (PREFAULT). True: go ahead, then map_release. */
static bool map_hold(table *t)
{
    return prefault_hold(t->opt.prefault);
}

static void map_release(table *t)
{
    prefault_release(t->opt.prefault);
}

/* Zero-filled memory (bytes a multiple of HUGE_BYTES) at a HUGE_BYTES
 * boundary, so that it can be backed by huge pages: map HUGE_BYTES more
 * than asked and unmap the unaligned head and tail. */
static void *map_aligned(size_t bytes)
{
    char *p = mmap(NULL, bytes + HUGE_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
    char *al = (char *)a;
    unmap(p, (size_t)(al - p));
    unmap(al + bytes, (size_t)(p + bytes + HUGE_BYTES - (al + bytes)));
    return al;
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
    return hash_key((int64_t)ts.tv_nsec ^ ((int64_t)ts.tv_sec << 32),
                    (uint64_t)(uintptr_t)&s);
}

/*
 * SWAR probe of the 8 tophash bytes. Load them as one little-endian uint64_t
 * w (byte i in bits 8i..8i+7). To find bytes equal to `top`, XOR w with top
 * broadcast to all bytes: matching bytes become 0, so the question is "which
 * bytes of x are zero". For each byte, (x & 0x7f) + 0x7f sets bit 7 iff the
 * low 7 bits are non-zero, and cannot carry into the next byte (at most
 * 0x7f + 0x7f = 0xfe). OR-ing x itself in adds bit 7 of the byte. So bit 7 of
 * ((x & 0x7f..) + 0x7f..) | x is set iff the byte is non-zero; inverting and
 * keeping only bit 7 of each byte gives 0x80 exactly in the zero bytes (no
 * false positives, unlike the shorter (x - 0x01..) & ~x & 0x80.. trick).
 * The slot index of the lowest hit is ctz(mask) / 8; mask &= mask - 1 moves
 * to the next. The same function with top = 0 finds empty slots.
 */
#define BYTES_01 0x0101010101010101ull
#define BYTES_7F 0x7f7f7f7f7f7f7f7full

static inline uint64_t load_tophash(const bucket *b)
{
    uint64_t w;
    memcpy(&w, b->tophash, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline uint64_t zero_bytes(uint64_t x)
{
    uint64_t y = (x & BYTES_7F) + BYTES_7F;
    return ~(y | x | BYTES_7F);
}

static inline uint64_t match_bytes(uint64_t w, uint8_t top)
{
    return zero_bytes(w ^ (top * BYTES_01));
}

/* Occupied slots of a bucket: they are a prefix, so it is the index of the
 * first empty slot (8 if full). */
static inline unsigned occupied(const bucket *b)
{
    uint64_t z = zero_bytes(load_tophash(b));
    return z ? (unsigned)__builtin_ctzll(z) >> 3 : SLOTS;
}

static inline record *rec_at(const table *t, uint32_t r)
{
    return &t->chunks[r >> REC_CHUNK_SHIFT].rec[r & (REC_PER_CHUNK - 1)];
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
static inline bool chain_find(const table *t, const gen *g, uint64_t h,
                              int64_t key, bucket **bp, unsigned *ip)
{
    uint8_t top = tophash_of(h);
    bucket *b = &g->b[h & g->mask];
    for (;;) {
        uint64_t w = load_tophash(b);
        for (uint64_t m = match_bytes(w, top); m != 0; m &= m - 1) {
            unsigned i = (unsigned)__builtin_ctzll(m) >> 3;
            if (rec_at(t, b->rec[i])->key == key) {
                *bp = b;
                *ip = i;
                return true;
            }
        }
        /* An empty slot ends the chain's occupied prefix. */
        if (zero_bytes(w) != 0 || b->overflow == 0)
            return false;
        b = ovf_at(g, b->overflow);
    }
}

/* ---- generations and overflow pools ---------------------------------------- */

static bool gen_init(table *t, gen *g, uint32_t log2, uint64_t seed)
{
    size_t nb = (size_t)1 << log2;
    size_t bytes = round_page(nb * sizeof(bucket));
    bucket *b = array_is_huge(bytes) ? map_aligned(bytes) : map_zero(bytes);
    if (b == NULL)
        return false;
    if (array_is_huge(bytes)) {
        if (promoting(t)) /* ordinary pages until moved (PROMOTE) */
            (void)madvise(b, bytes, MADV_NOHUGEPAGE);
        else
            advise_huge(t, b, bytes);
    }
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
    uint64_t cap = g->pool_cap ? (uint64_t)g->pool_cap * 2
                               : page_size() / sizeof(bucket);
    while (cap < need)
        cap *= 2;
    if (cap > POOL_MAX)
        cap = POOL_MAX;
    size_t bytes = round_page((size_t)cap * sizeof(bucket));
    void *p = g->pool == NULL
                  ? map_zero(bytes)
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
 * inserts, some hundreds in that time. 0 without a prefaulter. */
static uint64_t pool_low(const table *t, const gen *g)
{
    if (t->opt.prefault == NULL || g->b == NULL)
        return 0;
    uint64_t nb = g->mask + 1;
    uint64_t low = nb / 8 < POOL_AHEAD_MIN ? nb / 8 : POOL_AHEAD_MIN;
    return low < g->pool_cap / 4 ? g->pool_cap / 4 : low;
}

static bool pool_short(const table *t, const gen *g)
{
    uint64_t avail = (uint64_t)(g->pool_cap - g->pool_used) + g->pool_nfree;
    return t->opt.prefault != NULL && g->b != NULL && (g->pool_cap == 0 || avail < pool_low(t, g));
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

/* Append a slot at the end of the chain whose home bucket is hb. Needs one
 * overflow bucket reserved in g's pool. */
static void chain_append(gen *g, bucket *hb, uint8_t top, uint8_t len,
                         uint32_t rec)
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
    b->len[n] = len;
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
        tb->len[ti] = last->len[j];
        tb->rec[ti] = last->rec[j];
    }
    last->tophash[j] = 0;
    last->len[j] = 0;
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
    uint64_t now = t->index_bytes + t->payload_bytes;
    t->last_shrink_us = (now_ns() - t->shrink_start_ns) / 1000u;
    t->last_shrink_freed = t->shrink_start_bytes > now ? t->shrink_start_bytes - now : 0;
    t->shrinking = false;
}

/* Smallest array (log2) holding count keys at no more than the normal load. */
static uint32_t target_log2(uint64_t count)
{
    uint32_t l = MIN_LOG2;
    while (l < MAX_LOG2 &&
           count * LOAD_NORMAL_DEN > ((uint64_t)LOAD_NORMAL_NUM << l))
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
        t->count * LOAD_DEN * 100u < (uint64_t)LOAD_GROW_NUM * nb * t->opt.shrink_percent &&
        target_log2(t->count) < t->cur.log2) {
        /* If the new array cannot be mapped, stay as we are. */
        uint64_t before = t->index_bytes + t->payload_bytes;
        if (migration_start(t, target_log2(t->count), t->cur.seed, false)) {
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
            uint64_t h = hash_key(rec_at(t, b->rec[i])->key, c->seed);
            chain_append(c, &c->b[h & c->mask], tophash_of(h), b->len[i],
                         b->rec[i]);
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
    size_t step = round_page(OLD_RELEASE_BYTES);
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
        t->pf_wait = page == t->pf_page + 1 && t->pf_page != SIZE_MAX ? t->pf_ahead
                                                                       : ask_dest_page(t, page);
        t->pf_ahead = ask_dest_page(t, page + 1);
        t->pf_page = page;
    }
    return prefault_done(t->opt.prefault, t->pf_wait);
}

/* Evacuate up to `work` old buckets. A write-driven call (bounded) leaves
 * the work for later while the destination page is still coming in, at
 * most old-buckets / 4 times per migration; a background one (not bounded)
 * just returns, and its callers (the cron, SHRINK) try again until their
 * slice is over. (Letting background steps fault the ordinary pages of a
 * PROMOTE array themselves instead was tried: stall.sh then showed a SET of
 * 14 ms, 5 ms corrected, in two runs out of two of its TTL load, against
 * 1 ms without.) Only a migration with the old seed fills the new array in
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


/* ---- record chunks --------------------------------------------------------- */

static size_t chunks_needed(uint64_t count)
{
    return (size_t)((count + REC_PER_CHUNK - 1) / REC_PER_CHUNK);
}

/* ---- EXPIRY AND LRU --------------------------------------------------------
 *
 * Only keys with a TTL pay for it: a chunk maps its 16 KiB exp[] array (8
 * bytes per record) when the first of its records gets an expire time and
 * unmaps it when the last one loses it. With LRU tracking on, a chunk maps an
 * 8 KiB lru[] array (4 bytes per record) the first time one of its records
 * is read or written. Both arrays are indexed like the records and move with
 * them when a delete fills a hole.
 *
 * With a prefaulter an mmap or munmap may wait for the worker's page in
 * progress (PREFAULT), once per chunk of keys with a TTL: a table of
 * SIDE_STASH_CHUNKS chunks or more keeps up to SIDE_STASH zeroed arrays of
 * each kind mapped ahead (mapped while the worker is held, tried at every
 * insert while the stash is short) and keeps arrays it lets go of, zeroed,
 * up to that many. Stashed arrays count in meta_bytes.
 */

static bool side_stashing(const table *t)
{
    return t->opt.prefault != NULL && t->nchunks >= SIDE_STASH_CHUNKS;
}

/* The stash of side arrays of `bytes` (EXP_BYTES or LRU_BYTES). */
static side_stash *stash_of(table *t, size_t bytes)
{
    return &t->stash[bytes == EXP_BYTES ? SIDE_EXP : SIDE_LRU];
}

/* A side array mapped and counted in meta_bytes; NULL if it cannot be. */
static void *side_map(table *t, size_t bytes)
{
    void *p = map_zero(bytes);
    if (p != NULL)
        t->meta_bytes += bytes;
    return p;
}

/* A zeroed side array of `bytes`, counted in meta_bytes; NULL if it cannot
 * be mapped. */
static void *side_get(table *t, size_t bytes)
{
    side_stash *s = stash_of(t, bytes);
    return s->n > 0 ? s->p[--s->n] : side_map(t, bytes);
}

static void side_put(table *t, void *p, size_t bytes)
{
    side_stash *s = stash_of(t, bytes);
    if (side_stashing(t) && s->n < SIDE_STASH) {
        memset(p, 0, bytes);
        s->p[s->n++] = p;
        return;
    }
    unmap(p, bytes);
    t->meta_bytes -= bytes;
}

/* The stash lacks an array of a kind this table uses. */
static inline bool side_short(const table *t)
{
    return (t->expires > 0 && t->stash[SIDE_EXP].n < SIDE_STASH) ||
           (t->opt.track_lru && t->stash[SIDE_LRU].n < SIDE_STASH);
}

static void stash_fill(table *t, size_t bytes)
{
    side_stash *s = stash_of(t, bytes);
    void *p;
    while (s->n < SIDE_STASH && (p = side_map(t, bytes)) != NULL)
        s->p[s->n++] = p;
}

static void stash_empty(table *t, size_t bytes)
{
    side_stash *s = stash_of(t, bytes);
    while (s->n > 0) {
        unmap(s->p[--s->n], bytes);
        t->meta_bytes -= bytes;
    }
}

/* Map side arrays ahead for the kinds this table uses (the worker held). */
static void side_ahead(table *t)
{
    if (t->expires > 0)
        stash_fill(t, EXP_BYTES);
    if (t->opt.track_lru)
        stash_fill(t, LRU_BYTES);
}

/* Unmap the stashed arrays: all, or the LRU ones only. */
static void side_stash_free(table *t, bool lru_only)
{
    if (!lru_only)
        stash_empty(t, EXP_BYTES);
    stash_empty(t, LRU_BYTES);
}

static void side_free(table *t, chunk *c)
{
    if (c->exp != NULL) {
        side_put(t, c->exp, EXP_BYTES);
        c->exp = NULL;
    }
    if (c->lru != NULL) {
        side_put(t, c->lru, LRU_BYTES);
        c->lru = NULL;
    }
}

static inline int64_t exp_of(const table *t, uint32_t r)
{
    const chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    return c->exp != NULL ? c->exp[r & (REC_PER_CHUNK - 1)] : 0;
}

/* Set record r's expire time (0 clears it). False if an array can't be mapped. */
static bool exp_set(table *t, uint32_t r, int64_t at)
{
    chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    uint32_t i = r & (REC_PER_CHUNK - 1);
    int64_t old = c->exp != NULL ? c->exp[i] : 0;
    if (old == at)
        return true;
    if (c->exp == NULL) {
        c->exp = side_get(t, EXP_BYTES);
        if (c->exp == NULL)
            return false;
    }
    c->exp[i] = at;
    if (old != 0) {
        c->nexp--;
        t->expires--;
        t->exp_sum -= old;
    }
    if (at != 0) {
        c->nexp++;
        t->expires++;
        t->exp_sum += at;
    }
    if (c->nexp == 0) {
        side_put(t, c->exp, EXP_BYTES);
        c->exp = NULL;
    }
    return true;
}

static inline uint32_t lru_clock(const table *t)
{
    return t->opt.clock_ms != NULL ? (uint32_t)(*t->opt.clock_ms / TABLE_LRU_UNIT_MS) : 0;
}

/* Set record r's LRU stamp, mapping its chunk's array if needed. */
static void lru_set(table *t, uint32_t r, uint32_t stamp)
{
    if (!t->opt.track_lru)
        return;
    chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    if (c->lru == NULL) {
        c->lru = side_get(t, LRU_BYTES);
        if (c->lru == NULL)
            return; /* untracked records just look old */
    }
    c->lru[r & (REC_PER_CHUNK - 1)] = stamp;
}

/* Note an access to record r, when LRU tracking is on. */
static inline void lru_touch(table *t, uint32_t r)
{
    if (t->opt.track_lru)
        lru_set(t, r, lru_clock(t));
}

static inline bool expired_at(const table *t, int64_t at)
{
    return at != 0 && t->opt.clock_ms != NULL && *t->opt.clock_ms >= at;
}

static inline void note_expired(table *t)
{
    t->expired++;
    if (t->opt.expired_counter != NULL)
        (*t->opt.expired_counter)++;
}

/* ---- promotion to huge pages (PROMOTE) --------------------------------- */

/* A new slab: ordinary pages when its ranges are promoted later, else as
 * advise_huge. */
static void advise_slab(const table *t, void *p)
{
    if (promoting(t))
        (void)madvise(p, SLAB_BYTES, MADV_NOHUGEPAGE);
    else
        advise_huge(t, p, SLAB_BYTES);
}

/* Slab ranges overlapping a chunk below nchunks (the rest were discarded
 * or never touched), and slab ranges full of records. */
static size_t ranges_in_use(const table *t)
{
    if (t->nchunks <= SMALL_CHUNKS)
        return 0;
    return ((t->nchunks - SMALL_CHUNKS) * CHUNK_BYTES + HUGE_BYTES - 1) / HUGE_BYTES;
}

static size_t ranges_full(const table *t)
{
    if (t->count <= SMALL_RECORDS)
        return 0;
    size_t full = (size_t)((t->count - SMALL_RECORDS) * sizeof(record) / HUGE_BYTES);
    /* Past PROMO_MAX_RANGES moved, the rest stays in ordinary pages. */
    size_t cap = PROMO_MAX_RANGES - (t->arr_promo < PROMO_MAX_RANGES ? t->arr_promo : PROMO_MAX_RANGES);
    return full < cap ? full : cap;
}

static char *range_at(const table *t, size_t r)
{
    return t->slabs[r / PROMO_RANGES] + (r % PROMO_RANGES) * HUGE_BYTES;
}

/* The record count from which slab range r is full. */
static uint64_t range_full_at(size_t r)
{
    return SMALL_RECORDS + ((uint64_t)(r + 1) * HUGE_BYTES + sizeof(record) - 1) / sizeof(record);
}

static void stage_free(table *t, unsigned i)
{
    unmap(t->promo_pg[i], HUGE_BYTES);
    t->promo_pg[i] = NULL;
    t->promo_tk[i] = 0;
    t->payload_bytes -= HUGE_BYTES;
}

/* Map and ask for staged pages up to PROMO_PAGES (the worker held). A page
 * the prefaulter will not take (its lane full) is not kept: copying into
 * it would fault the huge page here. */
static void stage_fill(table *t)
{
    for (unsigned i = 0; i < PROMO_PAGES; i++) {
        if (t->promo_pg[i] != NULL)
            continue;
        char *pg = map_aligned(HUGE_BYTES);
        if (pg == NULL)
            return;
        (void)madvise(pg, HUGE_BYTES, MADV_HUGEPAGE);
        uint64_t tk = prefault_ask(t->opt.prefault, PREFAULT_SOON, pg, HUGE_BYTES);
        if (tk == 0) {
            unmap(pg, HUGE_BYTES);
            return;
        }
        t->promo_pg[i] = pg;
        t->promo_tk[i] = tk;
        t->payload_bytes += HUGE_BYTES;
    }
}

/* Ranges of the current bucket array to move: once its migration is over
 * (the array is then wholly written), every 2 MiB of a huge-sized array. */
static bool array_due(const table *t)
{
    return !t->migrating && t->cur.b != NULL && array_is_huge(t->cur.b_bytes) &&
           t->arr_promo < t->cur.b_bytes / HUGE_BYTES &&
           t->promo_hw + t->arr_promo < PROMO_MAX_RANGES;
}

/* Work PROMOTE has to do now: ranges to turn back to ordinary pages, a
 * full range (or array range) and a staged page in to move there, staged
 * pages to map (the table uses slabs or has an array to move) or to free.
 * *ready: a staged page in. */
static bool promote_due(const table *t, int *ready)
{
    unsigned staged = 0;
    *ready = -1;
    for (unsigned i = 0; i < PROMO_PAGES; i++) {
        if (t->promo_pg[i] == NULL)
            continue;
        staged++;
        if (*ready < 0 && prefault_done(t->opt.prefault, t->promo_tk[i]))
            *ready = (int)i;
    }
    bool want = t->nchunks > SMALL_CHUNKS || array_due(t);
    bool backlog = t->promo_hw < ranges_full(t) || array_due(t);
    return t->promo_hw > ranges_in_use(t) || (backlog && *ready >= 0) ||
           (want ? staged < PROMO_PAGES : staged > 0);
}

/* Copy [dst, dst + HUGE_BYTES) into staged page i and move the page over
 * it. On a failed mremap (the kernel out of memory or of mappings) the
 * range is put back from the copy and promotion stops for this table. */
static bool move_into(table *t, unsigned i, char *dst)
{
    char *pg = t->promo_pg[i];
    memcpy(pg, dst, HUGE_BYTES);
    if (mremap(pg, HUGE_BYTES, HUGE_BYTES, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED) {
        /* Kernels refuse before touching dst (msync then finds it mapped);
         * if dst was unmapped all the same, pg still holds its bytes. */
        if (msync(dst, HUGE_BYTES, MS_ASYNC) != 0) {
            if (mmap(dst, HUGE_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
                abort(); /* the records or buckets of this range would be lost */
            (void)madvise(dst, HUGE_BYTES, MADV_NOHUGEPAGE);
            memcpy(dst, pg, HUGE_BYTES);
        }
        for (unsigned k = 0; k < PROMO_PAGES; k++)
            if (t->promo_pg[k] != NULL)
                stage_free(t, k);
        t->promo_at = UINT64_MAX;
        return false;
    }
    t->promo_pg[i] = NULL;
    t->promo_tk[i] = 0;
    t->payload_bytes -= HUGE_BYTES; /* the page is part of that mapping now */
    t->promotions++;
    return true;
}

/* Turn slab ranges emptied by a drain, [ranges_in_use, promo_hw), back to
 * ordinary pages. Best made while the worker is held (else the madvise may
 * wait for its populate in progress); it must be made before a chunk is
 * added, which can reach into those ranges: record_reserve then makes it
 * held or not. */
static void turn_back(table *t)
{
    size_t used = ranges_in_use(t);
    for (size_t r = used; r < t->promo_hw; r++)
        (void)madvise(range_at(t, r), HUGE_BYTES, MADV_NOHUGEPAGE);
    if (t->promo_hw > used)
        t->promo_hw = used;
}

/* Called by an insert once count reaches promo_at, and by table_step. Does
 * what is due if the worker can be held (else looks again soon): ranges
 * turned back, one range moved (records first), pages staged. Sets the
 * next promo_at. Returns true if a range was moved. */
static bool promote_some(table *t)
{
    int ready;
    bool moved = false;
    if (promote_due(t, &ready) && map_hold(t)) {
        turn_back(t);
        if (ready >= 0 && t->promo_hw < ranges_full(t)) {
            moved = move_into(t, (unsigned)ready, range_at(t, t->promo_hw));
            t->promo_hw += moved;
        } else if (ready >= 0 && array_due(t)) {
            moved = move_into(t, (unsigned)ready, (char *)t->cur.b + t->arr_promo * HUGE_BYTES);
            t->arr_promo += moved;
        }
        if (promoting(t)) {
            if (t->nchunks > SMALL_CHUNKS || array_due(t)) {
                stage_fill(t);
            } else {
                for (unsigned i = 0; i < PROMO_PAGES; i++)
                    if (t->promo_pg[i] != NULL)
                        stage_free(t, i);
            }
        }
        map_release(t);
    }
    if (!promoting(t))
        return moved;
    if (t->promo_hw > ranges_in_use(t))
        t->promo_at = 0; /* turn back at the next insert, before a chunk is added */
    else if (t->promo_hw < ranges_full(t) || array_due(t))
        t->promo_at = t->count + PROMO_RETRY;
    else
        t->promo_at = range_full_at(t->promo_hw);
    return moved;
}

/* Memory for chunk ci (== t->nchunks, the next one): mapped on its own
 * below SMALL_CHUNKS, else carved from its slab, mapped with the slab's
 * first chunk (HUGE PAGES). A chunk's pages may hold old records when it is
 * taken again; nothing reads a record before writing it. */
static record *chunk_map(table *t, size_t ci)
{
    if (ci < SMALL_CHUNKS)
        return map_zero(CHUNK_BYTES);
    size_t si = (ci - SMALL_CHUNKS) / SLAB_CHUNKS, k = (ci - SMALL_CHUNKS) % SLAB_CHUNKS;
    if (k == 0) {
        if (si == t->slabs_cap) {
            size_t cap = t->slabs_cap ? t->slabs_cap * 2 : 8;
            char **p = realloc(t->slabs, cap * sizeof *p);
            if (p == NULL)
                return NULL;
            t->slabs = p;
            t->slabs_cap = cap;
        }
        if (t->slab_next != NULL) {
            t->slabs[si] = t->slab_next; /* mapped (and advised) by records_ahead */
            t->slab_next = NULL;
        } else {
            t->slabs[si] = map_aligned(SLAB_BYTES);
            if (t->slabs[si] == NULL)
                return NULL;
            advise_slab(t, t->slabs[si]);
        }
    }
    return (record *)(t->slabs[si] + k * CHUNK_BYTES);
}

/* Give back the memory of chunk ci, the last one (chunks leave from the
 * tail): unmap it if it was mapped alone or was its slab's first (the slab
 * is then empty), else discard the huge pages of its slab that no chunk
 * below it touches: from up(start), its start rounded up to HUGE_BYTES, to
 * the slab's end (no chunk past ci is in use, and pages prefaulted ahead
 * may be there), whole pages only (HUGE PAGES). A slab mapped ahead goes,
 * and the prefault window starts again at ci (PREFAULT). */
static void chunk_unmap(table *t, size_t ci, record *rec)
{
    if (t->slab_next != NULL) {
        unmap(t->slab_next, SLAB_BYTES);
        t->slab_next = NULL;
    }
    if (t->pf_front > ci && t->pf_front != SIZE_MAX)
        t->pf_front = ci;
    if (ci < SMALL_CHUNKS) {
        unmap(rec, CHUNK_BYTES);
        return;
    }
    size_t si = (ci - SMALL_CHUNKS) / SLAB_CHUNKS, k = (ci - SMALL_CHUNKS) % SLAB_CHUNKS;
    if (promoting(t))
        t->promo_at = 0; /* PROMOTE: ranges to turn back, pages to free */
    /* (Not promoting any more: record_reserve turns ranges back.) */
    if (k == 0) {
        unmap(t->slabs[si], SLAB_BYTES);
        t->slabs[si] = NULL;
        if (t->promo_hw > si * PROMO_RANGES)
            t->promo_hw = si * PROMO_RANGES; /* those ranges are gone */
        return;
    }
    size_t from = (k * CHUNK_BYTES + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
    size_t to = SLAB_BYTES;
    if (to > from && madvise(t->slabs[si] + from, to - from, MADV_DONTNEED) != 0)
        abort(); /* only on a bad range: a bug */
}

/* Slabs in use: those holding chunks SMALL_CHUNKS..nchunks-1. */
static size_t slabs_used(const table *t)
{
    return t->nchunks > SMALL_CHUNKS ? (t->nchunks - SMALL_CHUNKS + SLAB_CHUNKS - 1) / SLAB_CHUNKS
                                     : 0;
}

/* Ask for the slab memory of chunks [ci + 1, ci + 1 + PREFAULT_AHEAD_CHUNKS)
 * not asked for yet, mapping the next slab if the window reaches into it
 * (PREFAULT). Chunks below SMALL_CHUNKS are mapped one by one with
 * ordinary pages and are not asked for. Best effort: if the next slab
 * cannot be mapped, its chunks are faulted in by their writes. */
static void records_ahead(table *t, size_t ci)
{
    size_t to = ci + 1 + ahead_chunks(t);
    size_t from = t->pf_front > ci + 1 ? t->pf_front : ci + 1;
    if (from < SMALL_CHUNKS)
        from = SMALL_CHUNKS;
    while (from < to) {
        size_t si = (from - SMALL_CHUNKS) / SLAB_CHUNKS, k = (from - SMALL_CHUNKS) % SLAB_CHUNKS;
        char *base;
        if (si < slabs_used(t)) {
            base = t->slabs[si];
        } else {
            assert(si == slabs_used(t)); /* the window is shorter than a slab */
            if (t->slab_next == NULL) {
                /* Not while the worker is in a step: try again at the next
                 * insert (the window is long enough to wait a little). */
                if (!map_hold(t))
                    break;
                t->slab_next = map_aligned(SLAB_BYTES);
                if (t->slab_next != NULL)
                    advise_slab(t, t->slab_next);
                map_release(t);
                if (t->slab_next == NULL)
                    break;
            }
            base = t->slab_next;
        }
        size_t n = to - from < SLAB_CHUNKS - k ? to - from : SLAB_CHUNKS - k;
        (void)prefault_ask(t->opt.prefault, PREFAULT_SOON, base + k * CHUNK_BYTES,
                           n * CHUNK_BYTES);
        from += n;
    }
    t->pf_front = from;
}

/* Double chunks[]. */
static bool chunks_grow(table *t)
{
    size_t cap = t->chunks_cap ? t->chunks_cap * 2 : 16;
    chunk *p = realloc(t->chunks, cap * sizeof *p);
    if (p == NULL)
        return false;
    t->chunks = p;
    t->chunks_cap = cap;
    return true;
}

/* Make record number t->count writable. */
static bool record_reserve(table *t)
{
    /* With a prefaulter, chunks[] doubles PREFAULT_AHEAD_CHUNKS before it
     * is full, while the worker is held: past 128 KiB, realloc is an mremap
     * (PREFAULT). */
    if (t->opt.prefault != NULL && t->chunks_cap > 0 &&
        t->nchunks + PREFAULT_AHEAD_CHUNKS >= t->chunks_cap && map_hold(t)) {
        (void)chunks_grow(t);
        map_release(t);
    }
    size_t ci = (size_t)(t->count >> REC_CHUNK_SHIFT);
    /* One compare per insert: pf_front is SIZE_MAX when not prefaulting. */
    if (ci + 1 + ahead_chunks(t) > t->pf_front)
        records_ahead(t, ci);
    if (t->count >= t->promo_at) /* UINT64_MAX when not promoting */
        (void)promote_some(t);
    /* Every insert while the stash is short: a hold is had only between the
     * worker's pages, and it waits for us 2 ms after a failed try. */
    if (side_stashing(t) && side_short(t) && map_hold(t)) {
        side_ahead(t);
        map_release(t);
    }
    if (ci < t->nchunks)
        return true;
    /* A new chunk may reach into slab ranges a drain emptied: they must not
     * be huge by then (PROMOTE), whatever the options say now. */
    if (t->promo_hw > ranges_in_use(t)) {
        bool held = map_hold(t);
        turn_back(t);
        if (held)
            map_release(t);
    }
    if (t->nchunks == t->chunks_cap && !chunks_grow(t))
        return false;
    record *c = chunk_map(t, t->nchunks);
    if (c == NULL)
        return false;
    t->chunks[t->nchunks++] = (chunk){.rec = c};
    t->payload_bytes += CHUNK_BYTES;
    return true;
}

/* Unmap up to `max` tail chunks beyond the first `keep`. Returns true while
 * more than `keep` remain. */
static bool chunks_unmap(table *t, size_t keep, size_t max)
{
    while (max-- > 0 && t->nchunks > keep) {
        chunk *c = &t->chunks[--t->nchunks];
        /* No live record is here (table_reset zeroes the counters itself). */
        c->nexp = 0;
        chunk_unmap(t, t->nchunks, c->rec);
        t->payload_bytes -= CHUNK_BYTES;
        side_free(t, c);
    }
    if (t->nchunks < SIDE_STASH_CHUNKS)
        side_stash_free(t, false);
    if (t->nchunks == 0) {
        free(t->chunks);
        t->chunks = NULL;
        t->chunks_cap = 0;
    }
    if (t->nchunks <= SMALL_CHUNKS && t->slabs != NULL) {
        free(t->slabs);
        t->slabs = NULL;
        t->slabs_cap = 0;
    }
    return t->nchunks > keep;
}

/* Unmap every tail chunk beyond those holding records plus `spare`. */
static void chunks_trim(table *t, size_t spare)
{
    chunks_unmap(t, chunks_needed(t->count) + spare, SIZE_MAX);
}

/* ---- public API ------------------------------------------------------------ */

table *table_create(const table_options *opt)
{
    table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    table_set_options(t, opt);
    t->cur.seed = seed_new();
    return t;
}

/* Back to the empty state: nothing mapped. Keeps options, counters, seed. */
static bool table_reset(table *t)
{
    bool had = t->cur.b != NULL || t->nchunks != 0;
    uint64_t seed = t->cur.seed;
    if (t->migrating)
        gen_free(t, &t->old);
    retired_free(t, true);
    gen_free(t, &t->cur);
    t->arr_promo = 0;
    t->cur.seed = seed;
    t->migrating = false;
    t->progress = 0;
    t->count = 0;
    t->expires = 0;
    t->exp_sum = 0;
    t->scan_cursor = 0;
    chunks_trim(t, 0);
    for (unsigned i = 0; i < PROMO_PAGES; i++)
        if (t->promo_pg[i] != NULL)
            stage_free(t, i);
    side_stash_free(t, false);
    assert(t->promo_hw == 0);
    assert(t->index_bytes == 0 && t->payload_bytes == 0 && t->meta_bytes == 0);
    return had;
}

/* Unmap the front of g's array, up to max bytes (whole pages). */
static uint64_t gen_release_front(table *t, gen *g, uint64_t max)
{
    if (g->b == NULL || g->b_released >= g->b_bytes)
        return 0;
    size_t step = g->b_bytes - g->b_released;
    if (step > max)
        step = round_page(max) > step ? step : round_page(max);
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
    uint64_t done = 0;
    retired_free(t, true); /* mostly discarded already */
    while (done < max_bytes && t->nchunks > 0) {
        chunk *c = &t->chunks[t->nchunks - 1];
        done += CHUNK_BYTES + (c->exp != NULL ? EXP_BYTES : 0) + (c->lru != NULL ? LRU_BYTES : 0);
        chunks_unmap(t, t->nchunks - 1, 1);
    }
    if (done < max_bytes)
        done += gen_release_front(t, &t->old, max_bytes - done);
    if (done < max_bytes)
        done += gen_release_front(t, &t->cur, max_bytes - done);
    return t->nchunks > 0 || (t->old.b != NULL && t->old.b_released < t->old.b_bytes) ||
           (t->cur.b != NULL && t->cur.b_released < t->cur.b_bytes);
}

void table_destroy(table *t)
{
    if (t == NULL)
        return;
    table_reset(t);
    free(t);
}

void table_set_options(table *t, const table_options *opt)
{
    struct prefault *was = t->opt.prefault;
    t->opt = opt != NULL ? *opt : (table_options){.auto_shrink = true};
    /* Staged pages carry the tickets of the prefaulter that was. */
    if (t->opt.prefault != was)
        for (unsigned i = 0; i < PROMO_PAGES; i++)
            if (t->promo_pg[i] != NULL)
                stage_free(t, i);
    if (t->opt.shrink_percent == 0)
        t->opt.shrink_percent = SHRINK_PERCENT_DEFAULT;
    if (t->opt.shrink_percent > SHRINK_PERCENT_MAX)
        t->opt.shrink_percent = SHRINK_PERCENT_MAX;
    /* Prefault from the chunks mapped on (or stop). */
    bool pf = t->opt.prefault != NULL && t->opt.huge_pages;
    if (!pf)
        t->pf_front = SIZE_MAX;
    else if (t->pf_front == SIZE_MAX)
        t->pf_front = t->nchunks;
    /* PROMOTE with the prefaulter where huge pages exist; slabs mapped
     * before keep their advice, ranges promoted before stay huge. */
    if (pf && thp_usable()) {
        if (t->promo_at == UINT64_MAX)
            t->promo_at = 0;
    } else {
        for (unsigned i = 0; i < PROMO_PAGES; i++)
            if (t->promo_pg[i] != NULL)
                stage_free(t, i);
        t->promo_at = UINT64_MAX;
    }
    if (!t->opt.track_lru) {
        for (size_t i = 0; i < t->nchunks; i++) {
            chunk *c = &t->chunks[i];
            if (c->lru != NULL) {
                unmap(c->lru, LRU_BYTES);
                t->meta_bytes -= LRU_BYTES;
                c->lru = NULL;
            }
        }
        side_stash_free(t, true);
    }
    if (t->opt.prefault == NULL)
        side_stash_free(t, false);
}

table_options table_get_options(const table *t)
{
    return t->opt;
}

uint64_t table_count(const table *t)
{
    return t->count;
}

uint64_t table_expires(const table *t)
{
    return t->expires;
}

/* Remove the entry in slot i of bucket b, in the chain of home bucket
 * (h & g->mask): slot, record (the last one moves into its place, with its
 * side data) and expire time. Then the automatic shrink policy.
 *
 * The moved record's expire time needs its new chunk's exp[] array, which
 * may have to be mapped. If it cannot be (out of memory), the moved key is
 * removed as well: a cache may drop a key, but must not serve one past its
 * expire time. Removing it moves another record, hence the loop (it ends:
 * every round removes a key). */
static void remove_at(table *t, gen *g, uint64_t h, bucket *b, unsigned i)
{
    for (;;) {
        uint32_t r = b->rec[i];
        (void)exp_set(t, r, 0); /* clearing never maps anything */
        chain_remove(g, &g->b[h & g->mask], b, i);

        /* Keep records dense: move the last record into the hole. */
        uint32_t last = (uint32_t)(t->count - 1);
        bool lost_ttl = false;
        uint64_t h2 = 0;
        gen *g2 = NULL;
        bucket *b2 = NULL;
        unsigned i2 = 0;
        if (r != last) {
            record *src = rec_at(t, last);
            g2 = home_gen(t, src->key, &h2);
            if (!chain_find(t, g2, h2, src->key, &b2, &i2))
                abort(); /* a record no slot refers to: the table is corrupt */
            assert(b2->rec[i2] == last);
            b2->rec[i2] = r;
            memcpy(rec_at(t, r), src, sizeof *src);
            int64_t e = exp_of(t, last);
            if (e != 0) {
                lost_ttl = !exp_set(t, r, e);
                (void)exp_set(t, last, 0);
            }
            const chunk *lc = &t->chunks[last >> REC_CHUNK_SHIFT];
            if (lc->lru != NULL)
                lru_set(t, r, lc->lru[last & (REC_PER_CHUNK - 1)]);
        }
        t->count--;
        if (t->scan_cursor > t->count)
            t->scan_cursor = t->count;
        if (!lost_ttl)
            break;
        g = g2, h = h2, b = b2, i = i2; /* the moved key, now at record r */
    }

    if (t->opt.auto_shrink) {
        chunks_trim(t, SPARE_CHUNKS);
        maybe_auto_shrink(t);
    }
}

/* Find key's slot, treating a key whose time has come as absent: it is
 * removed on the spot (lazy expiry) and counted. */
static bool find_live(table *t, int64_t key, gen **g, uint64_t *h, bucket **b, unsigned *i)
{
    if (t->count == 0)
        return false;
    *g = home_gen(t, key, h);
    if (!chain_find(t, *g, *h, key, b, i))
        return false;
    if (expired_at(t, exp_of(t, (*b)->rec[*i]))) {
        remove_at(t, *g, *h, *b, *i);
        note_expired(t);
        return false;
    }
    return true;
}

table_status table_get(table *t, int64_t key, const uint8_t **val, size_t *len)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    uint32_t r = b->rec[i];
    lru_touch(t, r);
    if (val != NULL)
        *val = rec_at(t, r)->val;
    if (len != NULL)
        *len = b->len[i];
    return TABLE_OK;
}

table_status table_get_lru(table *t, int64_t key, uint32_t *stamp)
{
    gen *g;
    uint64_t h;
    bucket *b;
    unsigned i;
    if (!find_live(t, key, &g, &h, &b, &i))
        return TABLE_NOT_FOUND;
    uint32_t r = b->rec[i];
    const chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    *stamp = c->lru != NULL ? c->lru[r & (REC_PER_CHUNK - 1)] : 0;
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
    return exp_set(t, b->rec[i], at) ? TABLE_OK : TABLE_NOMEM;
}

table_status table_set(table *t, int64_t key, const void *val, size_t len, bool *replaced)
{
    return table_put(t, key, val, len, 0, false, replaced);
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
        uint32_t r = b->rec[i];
        int64_t old = exp_of(t, r);
        bool live = !expired_at(t, old);
        if (!live)
            note_expired(t); /* it was gone already; this write makes it anew */
        if (!exp_set(t, r, keep_ttl && live ? old : expire_at))
            return TABLE_NOMEM;
        if (len != 0)
            memmove(rec_at(t, r)->val, val, len);
        b->len[i] = (uint8_t)len;
        lru_touch(t, r);
        if (replaced != NULL)
            *replaced = live;
        return TABLE_OK;
    }
    if (t->count >= MAX_RECORDS)
        return TABLE_NOMEM;

    if (!t->migrating) {
        uint64_t nb = t->cur.mask + 1;
        if ((t->count + 1) * LOAD_DEN > LOAD_GROW_NUM * nb &&
            t->cur.log2 < MAX_LOG2) {
            /* Mapping the new array waits for a prefault step in progress
             * (PREFAULT): put the grow off for a few inserts, up to 1/64
             * past the threshold, until the worker is between steps. */
            bool held = map_hold(t);
            if (held || (t->count + 1) * LOAD_DEN * 64 > LOAD_GROW_NUM * nb * 65) {
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
    if (!record_reserve(t) || !pool_reserve(t, g, 1))
        return TABLE_NOMEM;

    uint32_t r = (uint32_t)t->count;
    /* Records past count never keep an expire time, so only a TTL to set
     * can need memory; do it before the record becomes visible. */
    if (expire_at != 0 && !exp_set(t, r, expire_at))
        return TABLE_NOMEM;
    record *rec = rec_at(t, r);
    rec->key = key;
    if (len != 0)
        memmove(rec->val, val, len);
    chain_append(g, &g->b[h & g->mask], tophash_of(h), (uint8_t)len, r);
    t->count++;
    lru_touch(t, r);
    return TABLE_OK;
}

table_status table_del(table *t, int64_t key)
{
    if (t->count == 0)
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
        if (t->scan_cursor >= t->count) {
            t->scan_cursor = 0;
            *wrapped = true;
            break;
        }
        uint32_t r = (uint32_t)t->scan_cursor;
        const chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
        checked++;
        if (c->nexp == 0) {
            /* Nothing in this chunk can expire: skip it whole. */
            t->scan_cursor = ((uint64_t)r | (REC_PER_CHUNK - 1)) + 1;
            continue;
        }
        if (!expired_at(t, c->exp[r & (REC_PER_CHUNK - 1)])) {
            t->scan_cursor++;
            continue;
        }
        /* Remove it; the last record moves into r, so look at r again. */
        int64_t key = rec_at(t, r)->key;
        uint64_t h;
        gen *g = home_gen(t, key, &h);
        bucket *b;
        unsigned i;
        if (!chain_find(t, g, h, key, &b, &i))
            abort(); /* a live record no slot refers to: the table is corrupt */
        remove_at(t, g, h, b, i);
        note_expired(t);
        gone++;
    }
    *expired = gone;
    return checked;
}

bool table_sample(table *t, uint64_t rnd, bool with_ttl, table_sample_t *out)
{
    if (t->count == 0 || (with_ttl && t->expires == 0))
        return false;
    uint32_t r = (uint32_t)(rnd % t->count);
    if (with_ttl) {
        /* Find a chunk with TTLs from a random start, then a record with one
         * from a random offset: cheap when TTLs are common, bounded by a
         * walk over the chunk array when they are rare. */
        size_t n = chunks_needed(t->count), ci = r >> REC_CHUNK_SHIFT;
        for (size_t k = 0; k < n && t->chunks[ci].nexp == 0; k++)
            ci = (ci + 1) % n;
        const chunk *c = &t->chunks[ci];
        if (c->nexp == 0)
            return false;
        uint64_t base = (uint64_t)ci << REC_CHUNK_SHIFT;
        uint64_t live = t->count - base < REC_PER_CHUNK ? t->count - base : REC_PER_CHUNK;
        uint64_t off = (rnd >> 32) % live;
        uint64_t k = 0;
        while (k < live && c->exp[(off + k) % live] == 0)
            k++;
        if (k == live)
            return false;
        r = (uint32_t)(base + (off + k) % live);
    }
    const chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    out->key = rec_at(t, r)->key;
    out->expire_at = exp_of(t, r);
    out->lru = c->lru != NULL ? c->lru[r & (REC_PER_CHUNK - 1)] : 0;
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
                fn(rec_at(t, b->rec[i])->key, arg);
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
uint64_t table_scan(const table *t, uint64_t cursor, void (*fn)(int64_t key, void *arg),
                    void *arg)
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
    return t->index_bytes + t->count * sizeof(record) + t->meta_bytes;
}

void table_clear(table *t)
{
    table_reset(t);
}

bool table_step(table *t, unsigned work)
{
    (void)migrate_some_paced(t, work, false);
    int ready;
    bool more = promoting(t) && promote_some(t) && promote_due(t, &ready) && ready >= 0;
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
    uint64_t before = t->index_bytes + t->payload_bytes;
    /* Empty: unmap everything at once, unless the array is large, when a
     * migration to the minimum size releases it in OLD_RELEASE_BYTES steps
     * instead of one long munmap. */
    if (t->count == 0 && t->cur.b_bytes <= SHRINK_RESET_MAX_BYTES) {
        if (!table_reset(t))
            return false;
        t->shrinks_manual++;
        shrink_begin(t, before);
        shrink_end(t);
        return true;
    }

    bool started = false;
    uint32_t want = target_log2(t->count);
    const gen *c = &t->cur;
    uint64_t nb = c->mask + 1;
    uint64_t per_page = page_size() / sizeof(bucket);
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
    chunks_trim(t, 0);
    return started;
}

bool table_release(table *t, unsigned max_chunks)
{
    return chunks_unmap(t, chunks_needed(t->count), max_chunks);
}

void table_get_stats(const table *t, table_stats *st)
{
    memset(st, 0, sizeof *st);
    st->count = t->count;
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
    st->payload_bytes = t->payload_bytes;
    st->record_chunks = t->nchunks;
    st->grows = t->grows;
    st->shrinks_auto = t->shrinks_auto;
    st->shrinks_manual = t->shrinks_manual;
    st->shrinking = t->shrinking;
    st->last_shrink_us = t->last_shrink_us;
    st->last_shrink_freed = t->last_shrink_freed;
    st->expires = t->expires;
    st->expired = t->expired;
    st->avg_expire_at = t->expires > 0 ? (int64_t)(t->exp_sum / (__int128)t->expires) : 0;
    st->meta_bytes = t->meta_bytes;
    st->prefault_waits = t->pf_waits_total;
    int ready;
    st->promote_pending = promoting(t) && promote_due(t, &ready);
    st->huge_record_bytes = (uint64_t)t->promo_hw * HUGE_BYTES;
    st->huge_index_bytes = (uint64_t)t->arr_promo * HUGE_BYTES;
    st->promotions = t->promotions;
}

/* Visit the slots of one chain. */
static bool foreach_chain(const table *t, const gen *g, const bucket *b,
                          bool (*fn)(int64_t, const uint8_t *, size_t, void *),
                          void *arg)
{
    for (; b != NULL; b = next_in_chain(g, b)) {
        unsigned n = occupied(b);
        for (unsigned i = 0; i < n; i++) {
            if (expired_at(t, exp_of(t, b->rec[i])))
                continue; /* gone, even if not reclaimed yet */
            const record *r = rec_at(t, b->rec[i]);
            if (!fn(r->key, r->val, b->len[i], arg))
                return false;
        }
    }
    return true;
}

void table_foreach(const table *t,
                   bool (*fn)(int64_t key, const uint8_t *val, size_t len,
                              void *arg),
                   void *arg)
{
    if (t->count == 0)
        return;
    for (uint64_t i = 0; i <= t->cur.mask; i++)
        if (!foreach_chain(t, &t->cur, &t->cur.b[i], fn, arg))
            return;
    if (t->migrating)
        for (uint64_t i = t->progress; i <= t->old.mask; i++)
            if (!foreach_chain(t, &t->old, &t->old.b[i], fn, arg))
                return;
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
    if (t->count == 0)
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

/* Start loading the cache lines of p[0..n). */
static inline void prefetch_range(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + n;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a, 0, 3);
}

void table_prefetch_record(const table_hint *h)
{
    const bucket *b = h->bucket;
    if (b == NULL)
        return;
    const table *t = h->t;
    uint64_t w = load_tophash(b);
    uint64_t m = match_bytes(w, h->top);
    if (m == 0) {
        /* A full bucket may continue in an overflow bucket. */
        if (zero_bytes(w) == 0 && b->overflow != 0)
            __builtin_prefetch(ovf_at(h->gen, b->overflow), 0, 3);
        return;
    }
    unsigned i = (unsigned)__builtin_ctzll(m) >> 3;
    uint32_t r = b->rec[i];
    const chunk *c = &t->chunks[r >> REC_CHUNK_SHIFT];
    uint32_t ri = r & (REC_PER_CHUNK - 1);
    /* The key and the value's b->len[i] bytes: 1 to 3 lines. */
    prefetch_range(&c->rec[ri], sizeof(int64_t) + b->len[i]);
    if (c->exp != NULL)
        __builtin_prefetch(&c->exp[ri], 0, 3);
    if (c->lru != NULL)
        __builtin_prefetch(&c->lru[ri], 0, 3);
}

/* ---- table_check ----------------------------------------------------------- */

#ifdef NDEBUG
void table_check(const table *t)
{
    (void)t;
}
#else

#define CHECK(cond, what)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: table_check failed: %s (%s)\n", __FILE__, \
                    __LINE__, what, #cond);                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

static bool bit_test_set(uint64_t *bm, uint64_t i)
{
    uint64_t m = 1ull << (i & 63);
    bool was = (bm[i >> 6] & m) != 0;
    bm[i >> 6] |= m;
    return was;
}

/* Check one generation's live home buckets [from, nb); return slots seen. */
static uint64_t check_gen(const table *t, const gen *g, uint64_t from,
                          uint64_t *recs)
{
    uint64_t nb = g->mask + 1, slots = 0, linked = 0;
    CHECK(g->b_bytes == round_page(nb * sizeof(bucket)), "array bytes");
    CHECK(g->pool_used <= g->pool_cap, "pool high-water within capacity");
    CHECK(g->pool_bytes == round_page((size_t)g->pool_cap * sizeof(bucket)),
          "pool bytes");
    uint64_t pwords = ((uint64_t)g->pool_used + 64) / 64;
    uint64_t *seen = calloc(pwords, sizeof *seen);
    CHECK(seen != NULL, "out of memory in table_check");

    for (uint64_t i = g->b_released / sizeof(bucket); i < from; i++) {
        const bucket *b = &g->b[i];
        CHECK(load_tophash(b) == 0 && b->overflow == 0,
              "evacuated old bucket is empty");
    }
    for (uint64_t bi = from; bi < nb; bi++) {
        const bucket *b = &g->b[bi];
        for (;;) {
            unsigned n = occupied(b);
            for (unsigned i = n; i < SLOTS; i++)
                CHECK(b->tophash[i] == 0, "occupied slots are a prefix");
            for (unsigned i = 0; i < n; i++) {
                uint32_t r = b->rec[i];
                CHECK(r < t->count, "record number < count");
                CHECK(!bit_test_set(recs, r), "record referenced once");
                CHECK(b->len[i] <= TABLE_VALUE_MAX, "len <= 128");
                int64_t key = rec_at(t, r)->key;
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
        CHECK(load_tophash(ovf_at(g, idx)) == 0, "free bucket empty");
        nfree++;
    }
    CHECK(nfree == g->pool_nfree, "free list length");
    CHECK(linked == g->ovf, "overflow bucket count");
    CHECK(linked + nfree == g->pool_used,
          "every handed-out overflow bucket is linked or free");
    free(seen);
    return slots;
}

/* The side arrays agree with the records and the counters. */
static void check_side(const table *t)
{
    uint64_t expires = 0, meta = 0;
    __int128 sum = 0;
    for (size_t ci = 0; ci < t->nchunks; ci++) {
        const chunk *c = &t->chunks[ci];
        CHECK((c->exp == NULL) == (c->nexp == 0), "exp[] mapped iff a record has a TTL");
        meta += (c->exp != NULL ? EXP_BYTES : 0) + (c->lru != NULL ? LRU_BYTES : 0);
        CHECK(c->lru == NULL || t->opt.track_lru, "no LRU stamps when not tracking");
        if (c->exp == NULL)
            continue;
        uint32_t n = 0;
        for (uint32_t i = 0; i < REC_PER_CHUNK; i++) {
            uint64_t r = ((uint64_t)ci << REC_CHUNK_SHIFT) + i;
            if (c->exp[i] == 0)
                continue;
            CHECK(r < t->count, "records past count have no expire time");
            CHECK(c->exp[i] > 0, "expire times are positive");
            n++;
            sum += c->exp[i];
        }
        CHECK(n == c->nexp, "chunk TTL count");
        expires += n;
    }
    CHECK(expires == t->expires, "keys with a TTL");
    CHECK(sum == t->exp_sum, "sum of expire times");
    CHECK(t->stash[SIDE_EXP].n <= SIDE_STASH && t->stash[SIDE_LRU].n <= SIDE_STASH, "stash sizes");
    for (unsigned i = 0; i < t->stash[SIDE_EXP].n; i++)
        for (size_t k = 0; k < REC_PER_CHUNK; k++)
            CHECK(((const int64_t *)t->stash[SIDE_EXP].p[i])[k] == 0,
                  "stashed expire arrays are zero");
    meta += t->stash[SIDE_EXP].n * EXP_BYTES + t->stash[SIDE_LRU].n * LRU_BYTES;
    CHECK(meta == t->meta_bytes, "side array bytes");
    CHECK(t->scan_cursor <= t->count, "expiry cursor within the records");
}

void table_check(const table *t)
{
    check_side(t);
    CHECK(t->nchunks >= chunks_needed(t->count), "records mapped");
    CHECK(t->nchunks <= t->chunks_cap, "chunk array");
    uint64_t staged = 0;
    for (unsigned i = 0; i < PROMO_PAGES; i++) {
        CHECK(t->promo_pg[i] == NULL || promoting(t), "pages staged only when promoting");
        CHECK((t->promo_pg[i] == NULL) == (t->promo_tk[i] == 0), "a staged page has its ticket");
        staged += t->promo_pg[i] != NULL ? HUGE_BYTES : 0;
    }
    CHECK(t->payload_bytes == (uint64_t)t->nchunks * CHUNK_BYTES + staged, "payload bytes");
    CHECK(t->promo_hw <= slabs_used(t) * PROMO_RANGES, "promoted ranges are in mapped slabs");
    CHECK(t->arr_promo == 0 || (!t->migrating && array_is_huge(t->cur.b_bytes) &&
                                t->arr_promo <= t->cur.b_bytes / HUGE_BYTES),
          "array ranges are moved only after the migration, within the array");
    CHECK(!promoting(t) || t->promo_hw <= ranges_in_use(t) || t->promo_at == 0,
          "ranges past the ones in use are turned back at the next insert");
    if (t->cur.b == NULL) {
        CHECK(t->count == 0 && !t->migrating, "empty state");
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
    CHECK(t->slab_next == NULL ||
              SMALL_CHUNKS + slabs_used(t) * SLAB_CHUNKS <= t->nchunks + PREFAULT_AHEAD_CHUNKS,
          "a slab is mapped ahead only once the prefault window reaches it");
    CHECK(t->index_bytes == idx, "index bytes");

    uint64_t *recs = calloc((t->count + 64) / 64, sizeof *recs);
    CHECK(recs != NULL, "out of memory in table_check");
    uint64_t slots = check_gen(t, &t->cur, 0, recs);
    if (t->migrating)
        slots += check_gen(t, &t->old, t->progress, recs);
    CHECK(slots == t->count, "count == occupied slots");
    free(recs);
}
#endif
