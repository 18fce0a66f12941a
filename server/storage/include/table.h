/*
 * table.h - the storage of one keyspace: int64 key -> value of 0..128 bytes
 * (layer 1, libc only).
 *
 * A Go-map-style bucketed hash table whose index is small and whose payloads
 * live elsewhere, in dense records sized to their values:
 *
 *   index   power-of-two array of 64-byte buckets; each bucket has 12 slots
 *           of (tophash byte, 32-bit record ref) and a 32-bit link to an
 *           overflow bucket of the same generation (table.c).
 *   records key (8 bytes) + length (1 byte) + value, in 32 size classes of
 *           13 + 4c bytes (store.h): a record wastes at most 3 bytes. Each
 *           class is dense: a delete moves the class's last record into the
 *           hole and repoints its slot, so a drain empties each class from
 *           its tail, and its pages go back to the OS as it goes.
 *
 * Growth and shrink are incremental migrations from an old bucket array to a
 * new one of another size (bigger, smaller or equal), a few old buckets per
 * mutating call and per table_step(). No call walks the whole table except
 * table_check(), table_destroy() and the caller's own iteration.
 *
 * Memory: bucket arrays, overflow pools and record chunks are mmap'd and
 * munmap'd (or discarded) directly, so memory given back leaves the process
 * (RSS drops).
 *
 * Threading: a table is used by one thread at a time. With a prefaulter
 * (table_options.prefault), that prefaulter's thread populates pages of the
 * table's mappings, which never changes their contents.
 */
#ifndef EBB_TABLE_H
#define EBB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest value, in bytes. */
#define TABLE_VALUE_MAX 128u

typedef struct table table;

typedef enum {
    TABLE_OK = 0,    /* done */
    TABLE_NOT_FOUND, /* no such key */
    TABLE_NOMEM,     /* an mmap failed; the table is unchanged */
} table_status;

/* Tunables. Pass NULL to table_create for the defaults; a zeroed struct
 * means every option off. */
typedef struct {
    /* Automatic shrink: when false, deletes never start a shrink migration and
     * emptied record chunks are kept for reuse until table_shrink(). */
    bool auto_shrink;
    /* Start an automatic shrink when keys fall below this percentage of the
     * grow threshold (9.75 keys per bucket). 0 means the default, 25 (2.44
     * keys per bucket); values above 25 are taken as 25, the most that still
     * halves the array. Lower values shrink later (more hysteresis). */
    unsigned shrink_percent;
    /* The clock expire times are compared with: milliseconds since the Unix
     * epoch, read through this pointer at each check (the server keeps it
     * current; tests move it by hand). NULL: nothing ever expires. */
    const int64_t *clock_ms;
    /* Record each key's last access for approximate LRU eviction: 4 bytes per
     * key, in units of TABLE_LRU_UNIT_MS, mapped per block of 2048 records on
     * first access. Turning it off unmaps the stamps. */
    bool track_lru;
    /* Keep Redis's LFU field (TABLE_LFU_* below) in those same 4 bytes per
     * key instead: one array serves either policy, and an access costs the
     * same load and store plus a little arithmetic. Takes precedence over
     * track_lru. Switching between LRU and LFU stamps unmaps the stamps (as
     * turning them off does): neither kind means anything read as the other,
     * so every key starts unstamped (LFU: counter 0; LRU: never accessed). */
    bool track_lfu;
    /* With track_lfu: Redis's lfu-log-factor (how much harder each counter
     * step gets) and lfu-decay-time (minutes per counter step lost while a
     * key is idle; 0: never decays), used as given. */
    unsigned lfu_log_factor;
    unsigned lfu_decay_time;
    /* If not NULL, incremented with every key reclaimed because its time had
     * come (a server-wide counter that outlives tables). */
    uint64_t *expired_counter;
    /* If not NULL, called with every key reclaimed because its time had
     * come (looked up, written over or swept), after it is gone: the
     * server tells clients that cache it (CLIENT TRACKING). It must not
     * change the table. */
    void (*on_expired)(const struct table *t, int64_t key, void *arg);
    void *on_expired_arg;
    /* If not NULL and true when a key is looked up: a key whose time has
     * come is treated as missing but left in place, not reclaimed (the
     * server's CLIENT PAUSE keeps the keyspace still). */
    const bool *keep_expired;
    /* Ask for 2 MiB pages for big bucket arrays and big stores' record
     * chunks (see HUGE PAGES in table.c): fewer TLB misses in big tables,
     * but the kernel zeroes each 2 MiB at its first touch, inside whatever
     * write or migration step touches it. Applies to mappings made
     * afterwards. */
    bool huge_pages;
    /* With huge_pages: a prefaulter (prefault.h, shared by tables, outliving
     * them) whose thread faults the 2 MiB pages in, off the caller's thread.
     * Where the kernel has huge pages (THP not "never"), record chunks and
     * big arrays are written in ordinary pages and each 2 MiB of them, once
     * written (a full chunk; an array whose migration is over), is copied
     * into a page the thread populated and moved in place with mremap, by an
     * insert or table_step (table_stats.promote_pending says one is due).
     * Either way the thread populates the records' next pages ahead of the
     * writes, and a write-driven migration puts its steps off until the new
     * array's page is in, for at most a quarter of its length in writes.
     * NULL: the table faults its pages in itself. */
    struct prefault *prefault;
} table_options;

/* Resolution of LRU stamps. */
#define TABLE_LRU_UNIT_MS 10

/* LFU stamps are Redis 7.0's 24-bit LFU field: the minute of the last
 * decrement (16 bits, the clock's minutes mod 65536) above an 8-bit
 * logarithmic access counter. A new key starts at TABLE_LFU_INIT, so that
 * it is not evicted before it had a chance to be read again; an access first
 * takes off one step per lfu-decay-time minutes since the stamp's minute
 * (table_lfu_decayed), then adds one with probability
 * 1 / ((counter - TABLE_LFU_INIT) * lfu-log-factor + 1) (table_lfu_incr).
 * With factor 10 the counter reaches 255 after about a million hits. */
#define TABLE_LFU_INIT 5u
#define TABLE_LFU_MINUTE_MS 60000

/* The LFU field's clock: minutes since the epoch, mod 65536. */
static inline uint32_t table_lfu_minutes(int64_t ms)
{
    return (uint32_t)(ms / TABLE_LFU_MINUTE_MS) & 65535u;
}

/* The counter of LFU stamp `stamp` with the decay due by minute `now` (of
 * table_lfu_minutes), without changing anything. The elapsed minutes wrap
 * as Redis's LFUTimeElapsed counts them (65535 - then + now, one short of
 * the modulus) so that counters decay exactly as Redis's do. */
static inline unsigned table_lfu_decayed(uint32_t stamp, uint32_t now, unsigned decay_time)
{
    uint32_t then = (stamp >> 8) & 65535u;
    unsigned counter = stamp & 255u;
    uint32_t elapsed = now >= then ? now - then : 65535u - then + now;
    if (elapsed < decay_time || decay_time == 0)
        return counter; /* the common case, without a division */
    uint32_t periods = elapsed / decay_time;
    return periods >= counter ? 0 : counter - periods;
}

/* counter after one access, given rnd, a uniform random 32-bit number:
 * incremented with probability 1 / (max(counter - TABLE_LFU_INIT, 0) *
 * log_factor + 1), as Redis's LFULogIncr, in integers: rnd / 2^32 < 1 / d
 * is rnd * d < 2^32 (d capped at 2^32, past which only rnd = 0 passes
 * either way). 255 stays. */
static inline unsigned table_lfu_incr(unsigned counter, unsigned log_factor, uint32_t rnd)
{
    if (counter >= 255u)
        return 255u;
    uint64_t base = counter > TABLE_LFU_INIT ? counter - TABLE_LFU_INIT : 0;
    uint64_t d = base * log_factor + 1u;
    if (d > (1ull << 32))
        d = 1ull << 32;
    return (uint64_t)rnd * d < (1ull << 32) ? counter + 1u : counter;
}

/* An LFU stamp of minute `now` and counter `counter`. */
static inline uint32_t table_lfu_stamp(uint32_t now, unsigned counter)
{
    return (now & 65535u) << 8 | (counter & 255u);
}

/* One key picked by table_sample(), for eviction. */
typedef struct {
    int64_t key;
    int64_t expire_at; /* 0: no TTL */
    uint32_t lru;      /* its stamp: last access in TABLE_LRU_UNIT_MS units, or with
                          track_lfu the LFU field; 0 if never stamped */
} table_sample_t;

/* Counters and sizes, for INFO and for tests. All byte figures are bytes
 * mapped by this table (the memory it really holds), not malloc estimates. */
typedef struct {
    uint64_t count;            /* keys */
    uint32_t log2_buckets;     /* current (destination) array is 2^log2 */
    uint64_t buckets;          /* buckets in the current array */
    uint64_t overflow_buckets; /* in use, current + old generation */
    uint64_t old_buckets;      /* buckets of the array being migrated from, 0 if none */
    uint64_t migrated;         /* old buckets already evacuated */
    bool migrating;
    uint64_t index_bytes;       /* bucket arrays + overflow pools, mapped */
    uint64_t payload_bytes;     /* record chunk pages that may be resident
                                   (written or populated ahead), and the
                                   staged huge page */
    uint64_t record_bytes;      /* keys x their record sizes */
    uint64_t record_chunks;     /* 2 MiB chunks mapped (address space) */
    uint64_t grows;             /* migrations to a bigger array, started */
    uint64_t shrinks_auto;      /* shrink migrations started automatically */
    uint64_t shrinks_manual;    /* started by table_shrink() */
    bool shrinking;             /* the migration in progress is a shrink */
    uint64_t last_shrink_us;    /* wall time of the last completed shrink, start to end */
    uint64_t last_shrink_freed; /* mapped bytes it freed (before - after) */
    uint64_t expires;           /* keys with an expire time (expired ones not yet
                                   reclaimed included) */
    uint64_t expired;           /* keys reclaimed because their time had come */
    uint64_t evicted;           /* keys removed by table_evict */
    int64_t avg_expire_at;      /* mean expire time of those keys (ms), 0 if none */
    uint64_t meta_bytes;        /* expire-time and LRU arrays, mapped */
    uint64_t prefault_waits;    /* writes that left a migration step for
                                   later: its destination pages were still
                                   being faulted in */
    bool promote_pending;       /* record chunks or array ranges wait to be
                                   moved into huge pages (or back):
                                   table_step does it */
    uint64_t huge_record_bytes; /* record chunk bytes in huge pages */
    uint64_t huge_index_bytes;  /* bucket array bytes moved into huge pages */
    uint64_t promotions;        /* 2 MiB ranges moved so far */
} table_stats;

/* Size classes of records (store.h): class c holds values of 4c+1..4c+4
 * bytes (class 0: 0..4) in records of 13 + 4c bytes. */
#define TABLE_CLASSES 32u

/* Largest value length of class cls, and the record bytes of a value of
 * len bytes (its class's record size). */
#define TABLE_CLASS_MAX_LEN(cls) ((cls)*4u + 4u)
#define TABLE_CLASS_MIN_LEN(cls) ((cls) == 0 ? 0u : (cls)*4u + 1u)
static inline size_t table_record_size(size_t len)
{
    return len == 0 ? 13u : 9u + (len + 3u) / 4u * 4u;
}

/* The figures of one size class, for INFO, MEMORY STATS and /metrics. */
typedef struct {
    uint32_t record_size; /* bytes per record */
    uint64_t keys;
    uint64_t record_bytes;   /* keys x record_size */
    uint64_t resident_bytes; /* chunk pages that may be resident */
    uint64_t mapped_bytes;   /* chunks mapped (address space, not RSS) */
    uint64_t huge_bytes;     /* chunk bytes in huge pages */
    uint64_t meta_bytes;     /* expire-time and LRU arrays */
} table_class_stats;

/* Create an empty table (no memory mapped until the first set). Returns NULL
 * on allocation failure. opt may be NULL (defaults: auto_shrink on). */
table *table_create(const table_options *opt);

/* Free the table and every mapping it holds. NULL is a no-op. Takes time
 * in proportion to what is mapped (munmap of 1 GB: ~100 ms). */
void table_destroy(table *t);

/* For a table that will only be destroyed (FLUSHALL ASYNC): unmap about
 * max_bytes of it (records first, then the bucket arrays). Returns true while
 * large mappings remain; table_destroy is then quick. Nothing but
 * table_destroy_step, table_get_stats and table_destroy may be called on the
 * table afterwards. */
bool table_destroy_step(table *t, uint64_t max_bytes);

/* Change options at runtime. */
void table_set_options(table *t, const table_options *opt);
/* The options in force (defaults filled in). */
table_options table_get_options(const table *t);

/* Number of keys. */
uint64_t table_count(const table *t);

/* Number of keys with an expire time (some may have expired already and not
 * been reclaimed yet). */
uint64_t table_expires(const table *t);

/* Look up key. On TABLE_OK, *val points at the stored value (*len bytes) inside
 * the table: the pointer is LENT and valid only until the next call on this
 * table other than table_get_stats (any call may reclaim an expired key,
 * which moves a record). val and len may be NULL to test presence only.
 * A key whose expire time has come is NOT_FOUND and is removed on the spot
 * (counted in `expired`), unless keep_expired says to leave it. With
 * track_lru, stamps the key's last access; with track_lfu, decays then
 * increments its counter. */
table_status table_get(table *t, int64_t key, const uint8_t **val, size_t *len);

/* table_get without the access: the stamp stays as it was (OBJECT looks at
 * a key without touching it, as Redis's LOOKUP_NOTOUCH). */
table_status table_peek(table *t, int64_t key, const uint8_t **val, size_t *len);

/* Prefetching, for a caller about to look up many keys at once (the
 * requests of one pipelined read): memory latency, not instructions, is what
 * a lookup in a big table costs, and a lookup needs two dependent loads (its
 * bucket, then its record). Calling table_prefetch_bucket for every key, then
 * table_prefetch_record for every hint, then doing the real lookups, overlaps
 * those loads across keys. Both are hints only: they change nothing, any
 * answer later calls give is the same without them, and a hint must be used
 * before the next call that may change the table (it names the bucket). */
typedef struct {
    const table *t;
    const void *bucket; /* the key's home bucket; NULL: nothing to fetch */
    const void *gen;    /* the generation it belongs to */
    uint8_t top;        /* the key's tophash */
} table_hint;

/* Start loading key's home bucket and fill *h for table_prefetch_record. */
void table_prefetch_bucket(const table *t, int64_t key, table_hint *h);

/* Read the bucket named by h (loaded by now, or being loaded) and start
 * loading the record (key and value) of the first slot whose tophash
 * matches, with its expire time and LRU stamp if mapped; if no slot matches
 * and the bucket has an overflow bucket, start loading that instead. */
void table_prefetch_record(const table_hint *h);

/* The key's expire time (ms since the epoch) in *at, 0 if it has none.
 * NOT_FOUND (and reclaimed) if it is missing or expired. */
table_status table_get_expire(table *t, int64_t key, int64_t *at);

/* The key's stamp (last access in TABLE_LRU_UNIT_MS units, or with
 * track_lfu the LFU field; 0 if never stamped), without touching it.
 * NOT_FOUND (and reclaimed) if missing or expired. */
table_status table_get_lru(table *t, int64_t key, uint32_t *stamp);

/* Set the key's stamp (an LRU time or an LFU field, as table_get_lru
 * gives), for RESTORE's IDLETIME and FREQ. NOT_FOUND if missing or
 * expired; without track_lru or track_lfu there are no stamps and nothing
 * changes (OK). */
table_status table_set_stamp(table *t, int64_t key, uint32_t stamp);

/* Set the key's expire time (0: no TTL). NOT_FOUND if missing or expired;
 * NOMEM if its chunk's expire array cannot be mapped (nothing changed). The
 * caller decides what a time in the past means (Redis deletes the key). */
table_status table_expire(table *t, int64_t key, int64_t at);

/* Insert or replace key with a copy of val[0..len). len <= TABLE_VALUE_MAX
 * (asserted). val may alias a pointer lent by table_get on this table.
 * *replaced (if not NULL) is set to whether a live key existed. Clears any
 * expire time (as Redis's SET does). A live key replaced is an access (its
 * LFU counter is kept, decayed and incremented, as Redis's overwrite keeps
 * it); a new key gets a fresh stamp (LFU: TABLE_LFU_INIT). May advance a migration and may start a
 * grow. TABLE_NOMEM leaves the keys unchanged: memory could not be mapped,
 * or the value's size class holds 2^27 - 1 keys already (store.h). */
table_status table_set(table *t, int64_t key, const void *val, size_t len, bool *replaced);

/* table_set with an expire time: expire_at (ms since the epoch, 0 = none) is
 * set, or, with keep_ttl, a live key keeps the one it has. */
table_status table_put(table *t, int64_t key, const void *val, size_t len, int64_t expire_at,
                       bool keep_ttl, bool *replaced);

/* For an empty table about to receive `keys` keys (a snapshot loading):
 * map the bucket array they will need now, so that the inserts never
 * migrate. False (nothing changed, the table grows as usual) if the table
 * is not empty, or migrating, or the array cannot be mapped.
 * table_reserve_bytes says what that array maps. */
bool table_reserve(table *t, uint64_t keys);
uint64_t table_reserve_bytes(uint64_t keys);

/* Delete key. TABLE_OK if it existed, TABLE_NOT_FOUND otherwise. May advance a
 * migration, unmap an emptied record chunk, and (auto_shrink) start a shrink.
 * Needs no memory: a migration step or shrink that cannot get any is left
 * for later. One exception: the last record moves into the deleted one's
 * place, and if it has an expire time and that place's chunk has no expire
 * array that can be mapped (out of memory only), the moved key is deleted
 * too, never kept without its expire time. */
table_status table_del(table *t, int64_t key);

/* table_del of a key chosen for eviction: the same, and counted in
 * table_stats.evicted (the figures per namespace say which tenant lost keys
 * to memory limits). */
table_status table_evict(table *t, int64_t key);

/* Active expiry: look at up to max_checks records from where the last call
 * stopped (a chunk without TTLs counts as one look), reclaiming those whose
 * time has come; *expired gets how many. *wrapped is set when the sweep
 * reached the last record and starts again from the first. Returns the
 * number of looks. Every expired key is reclaimed within one full sweep. */
uint64_t table_expire_scan(table *t, uint64_t max_checks, uint64_t *expired, bool *wrapped);

/* Pick a key for eviction from rnd (a random 64-bit number): any key, or with
 * with_ttl one that has an expire time. False when there is none. The pick is
 * uniform over records, and close to uniform over keys with a TTL. */
bool table_sample(table *t, uint64_t rnd, bool with_ttl, table_sample_t *out);

/* One step of an iteration that survives resizes (SCAN): visit the live keys
 * of the bucket(s) at cursor and return the next cursor, 0 when done. Start
 * with 0. Every key present for the whole iteration is visited at least
 * once, whatever grows, shrinks or migrations happen between calls; a key
 * may be visited more than once. fn must not change the table. */
uint64_t table_scan(const table *t, uint64_t cursor, void (*fn)(int64_t key, void *arg), void *arg);

/* Bytes this table's keys account for: the index, each record's size (not
 * the chunk pages: so eviction sees every key it removes) and the side
 * arrays. */
uint64_t table_memory(const table *t);

/* Remove every key and unmap everything; the table stays usable. */
void table_clear(table *t);

/* Advance a migration in progress by up to `work` old buckets, and with a
 * prefaulter move at most one 2 MiB range into a huge page (table.c,
 * PROMOTE; table_stats.promote_pending says one is due). Returns true while
 * a migration is still in progress afterwards, or its old array is not
 * unmapped yet (table_stats.migrating says so), or a range was moved and
 * another can be at once. Cheap when idle. With a prefaulter it may return
 * having done nothing, while a page is still being faulted in: callers that
 * loop on it should give the loop's time to other work meanwhile. */
bool table_step(table *t, unsigned work);

/* Start a shrink to the smallest array that holds the current keys at the
 * normal load (rebuilding the index also drops overflow buckets left behind
 * by deletes), and unmap spare record chunks now. If a migration is already
 * in progress it is finished first (synchronously, bounded by the old
 * array's size). The new migration is then advanced by table_step() or later
 * mutations; callers that want it done at once loop on table_step(). An
 * empty table with a small array (<= 1 MiB) is unmapped at once; a larger one
 * migrates to the minimum size like any shrink. Returns true if a migration
 * was started or something was unmapped (false: already right-sized).
 * Callers that must bound their stall finish migrations with table_step()
 * and release spare chunks with table_release() before calling this. */
bool table_shrink(table *t);

/* Unmap up to max_chunks spare record chunks (those beyond what the keys
 * need) and discard the pages past each class's last record, whatever
 * auto_shrink says. Returns true while spare chunks remain. */
bool table_release(table *t, unsigned max_chunks);

/* Fill *st. */
void table_get_stats(const table *t, table_stats *st);

/* Fill *st with the figures of size class cls (< TABLE_CLASSES). */
void table_get_class_stats(const table *t, unsigned cls, table_class_stats *st);

/* Walk every bucket and record and check every invariant (counts, record
 * refs unique and naming live records, each record reachable from exactly
 * one slot whose tophash matches, every record's length of its class, keys
 * in the right bucket, migration bookkeeping, mapped byte totals). Aborts with a message on the
 * first violation. Debug builds only: compiled to a no-op under NDEBUG. */
void table_check(const table *t);

/* Visit every key, in no particular order; the table must not be mutated
 * from inside fn. Returns early if fn returns false. For tests, FLUSH and
 * debugging; SCAN uses table_scan's resumable cursor. */
void table_foreach(const table *t,
                   bool (*fn)(int64_t key, const uint8_t *val, size_t len, void *arg), void *arg);

/* Visit every live key with its value and its expire time (ms since the
 * epoch, 0: none), record by record in the order the store keeps them (size
 * class, then position): a sequential walk over the records, for snapshots.
 * The same rules as table_foreach. */
void table_foreach_record(const table *t,
                          bool (*fn)(int64_t key, const uint8_t *val, size_t len, int64_t expire_at,
                                     void *arg),
                          void *arg);

/* ---- snapshots: the keys as they were at one moment, walked while the
 * table goes on changing (store.h, "snapshots") ----
 *
 * table_snap_begin fixes the moment. Each key live then is handed to fn
 * exactly once, with its value and expire time as they were then (a key
 * that expires meanwhile may be left out): by table_snap_step, a record
 * at a time in the store's order, or, when a write, an expire change, a
 * delete, an eviction or an expiry would lose that state first, from
 * inside that call (fn must not call into the table). Keys written since
 * are never handed over. Clearing or destroying the table ends the
 * snapshot. Costs a bit per record, and nothing per lookup. */
bool table_snap_begin(table *t,
                      void (*fn)(void *arg, int64_t key, const uint8_t *val, size_t len,
                                 int64_t expire_at),
                      void *arg);

/* Walk up to max_records more records. True while some remain. */
bool table_snap_step(table *t, uint32_t max_records);

/* A snapshot is in progress (begun, not ended or cleared). */
bool table_snap_active(const table *t);

/* Out of memory for the snapshot's bits: what it handed over is not the
 * moment's keys; end it and start again. */
bool table_snap_failed(const table *t);

/* Keys handed over by a change before the walk reached them. */
uint64_t table_snap_early(const table *t);

/* End the snapshot, done or not. */
void table_snap_end(table *t);

#endif /* EBB_TABLE_H */
