/*
 * store.h - the record store of one table: every key's record sized to its
 * value (layer 1, libc only).
 *
 * A record is the key (8 bytes), the value's length (1 byte) and the value,
 * in one of STORE_CLASSES size classes by length, 4 bytes apart:
 *
 *   class 0       values of 0 .. 4 bytes          13 bytes
 *   class c       values of 4c+1 .. 4c+4 bytes    13 + 4c bytes   (c = 1..31)
 *
 * so a record wastes at most 3 bytes of padding (1.5 on average over
 * uniform lengths; 4 for an empty value) and none at lengths that are
 * multiples of 4. 32 classes is what a ref's 5 class bits hold. Records
 * are not aligned: the key is read with memcpy.
 *
 * Each class keeps its records dense, numbered 0..count-1 with no holes,
 * in chunks of STORE_CHUNK_BYTES (one huge page; records never straddle
 * chunks). An add writes record `count`; a remove moves the class's last
 * record into the hole. So a drain empties the class from its tail: the
 * pages past the last record are given back to the OS as it goes (in steps
 * of 1/64 of the class, store.c), emptied chunks are unmapped, and a class that
 * empties keeps nothing. A class's first chunk is mapped a page at first
 * and doubles (mremap) as its records need, so a small class maps and holds
 * the pages its records fill, not a chunk. A record is named by a ref:
 * class << STORE_IDX_BITS | number.
 *
 * Side data: an expire time (8 bytes) and an access stamp (4 bytes: the
 * table's LRU time or LFU field, opaque here) per record, in arrays per
 * block of STORE_BLOCK records of a class, mapped only for blocks that have
 * a record with a TTL (resp. when stamps are kept, track_lru); they move
 * with their records.
 *
 * Huge pages: once the store holds STORE_HUGE_MIN_BYTES of records, a chunk
 * wholly written is moved into a huge page (huge.h), the writes' pages are
 * populated ahead by the prefaulter (a window per class, proportional to
 * its share of the records) and the next chunk is mapped ahead; without a
 * prefaulter, new chunks are simply advised huge. The table decides when a
 * due chunk is moved (it shares its staged page with the bucket arrays).
 *
 * Threading: one thread at a time, as the table.
 */
#ifndef EBB_STORE_H
#define EBB_STORE_H

#include "huge.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STORE_VALUE_MAX 128u
#define STORE_CLASSES 32u
/* Record number bits of a ref; the class is above them. 2^27 - 1 records
 * per class (134M: 1.2 GB of the smallest records, 18 GB of the largest). */
#define STORE_IDX_BITS 27u
#define STORE_CLASS_MAX ((1u << STORE_IDX_BITS) - 1u)
#define STORE_CHUNK_BYTES ((uint64_t)HUGE_BYTES)
/* Records per side block (exp: 16 KiB, lru: 8 KiB, whole pages). */
#define STORE_BLOCK_SHIFT 11u
#define STORE_BLOCK (1u << STORE_BLOCK_SHIFT)
/* Record bytes from which the store uses huge pages (see above). */
#define STORE_HUGE_MIN_BYTES (32u * 1024u * 1024u)
/* Offsets in a record. */
#define STORE_LEN_AT 8u
#define STORE_VAL_AT 9u

typedef uint32_t store_ref;

static_assert(STORE_CLASSES <= (1u << (32u - STORE_IDX_BITS)), "the class fits a ref");

typedef struct {
    bool auto_shrink; /* give pages and chunks back as records leave (else
                         only store_trim does) */
    bool track_lru;   /* keep LRU stamps */
    bool huge_pages;  /* big stores use huge pages */
    bool promote;     /* ... written in ordinary pages and moved (needs the
                         stage's prefaulter and THP) */
} store_options;

/* ---- private: the fields below are store.c's; read them only through the
 * inline functions of this header. ---- */
typedef struct {
    int64_t *exp;  /* expire time (ms) per record, 0 = none; NULL if nexp == 0 */
    uint32_t *lru; /* last access per record; NULL until tracked */
    uint32_t nexp; /* records of this block with an expire time */
} store_block;

typedef struct {
    char *p;      /* STORE_CHUNK_BYTES, 2 MiB-aligned */
    uint8_t huge; /* STORE_HUGE_*: its pages */
} store_chunk;

typedef struct {
    uint64_t magic;    /* n / per_chunk == (n * magic) >> shift, n < 2^27 */
    uint64_t cap0;     /* bytes mapped of chunk 0: a power of two number of
                          pages, STORE_CHUNK_BYTES (2 MiB-aligned) once a
                          second chunk exists */
    uint64_t resident; /* bytes of the class's chunk space (chunk i at
                          i x STORE_CHUNK_BYTES) below which pages may be
                          resident; none above */
    uint64_t pf_front; /* chunk space asked of the prefaulter up to here */
    uint64_t expires;  /* records with an expire time */
    store_chunk *chunks;
    char *next; /* the chunk after the last one, mapped ahead */
    store_block *blocks;
    uint32_t size;      /* bytes per record */
    uint32_t per_chunk; /* records per chunk */
    uint32_t count;     /* records */
    uint32_t nchunks;   /* chunks mapped: those holding records, then spares */
    uint32_t chunks_cap;
    uint32_t nblocks;   /* side blocks allocated (zeroed beyond use) */
    uint32_t blocks_hw; /* blocks at or past this have no side array */
    uint8_t shift;
    bool next_huge; /* the chunk mapped ahead is advised huge (store.c,
                       chunk_new) */
    bool turn_back; /* a chunk was huge and partly discarded */
} store_class;

typedef struct {
    void *p[2];
    unsigned n;
} store_stash;

typedef struct store {
    store_class cls[STORE_CLASSES];
    store_options opt;
    huge_stage *stage;
    uint64_t count;          /* records, all classes */
    uint64_t record_bytes;   /* sum of count x size */
    uint64_t resident_bytes; /* sum of resident */
    uint64_t meta_bytes;     /* side arrays mapped, stashed ones too */
    uint64_t expires;
    __int128 exp_sum;
    uint64_t filled;         /* chunks completed by adds, ever (huge moves look then) */
    store_stash stash[2];    /* zeroed side arrays kept for reuse: [0] exp, [1] lru */
    struct store_snap *snap; /* the snapshot in progress, NULL if none */
} store;
/* ---- end of private fields ---- */

/* Class of a value of len bytes (0..STORE_VALUE_MAX). */
static inline unsigned store_class_of(size_t len)
{
    return len == 0 ? 0u : (unsigned)((len - 1u) >> 2);
}

static inline unsigned store_ref_class(store_ref r)
{
    return r >> STORE_IDX_BITS;
}

static inline uint32_t store_ref_index(store_ref r)
{
    return r & STORE_CLASS_MAX;
}

static inline store_ref store_ref_make(unsigned cls, uint32_t idx)
{
    return ((store_ref)cls << STORE_IDX_BITS) | idx;
}

/* Record bytes of class cls. */
static inline uint32_t store_record_size(const store *s, unsigned cls)
{
    return s->cls[cls].size;
}

/* The record named by r (r must name a live record: index < the class's
 * count). The pointer is valid until the next call that adds or removes a
 * record (an add may move a class's first chunk while it grows; moving a
 * chunk into a huge page keeps its address and bytes). */
static inline uint8_t *store_rec(const store *s, store_ref r)
{
    const store_class *c = &s->cls[store_ref_class(r)];
    uint64_t n = store_ref_index(r);
    uint64_t q = (n * c->magic) >> c->shift;
    return (uint8_t *)c->chunks[q].p + (n - q * c->per_chunk) * c->size;
}

static inline int64_t store_key(const store *s, store_ref r)
{
    int64_t k;
    memcpy(&k, store_rec(s, r), sizeof k);
    return k;
}

/* Initialise an empty store (nothing mapped). stage is the owning table's
 * staged pages (huge.h), shared with its index; it must outlive the store.
 * opt may be NULL (everything off). */
void store_init(store *s, huge_stage *stage, const store_options *opt);

/* Unmap and free everything; the store may be initialised again. */
void store_deinit(store *s);

/* Change options. Turning LRU tracking off unmaps the stamps. */
void store_set_options(store *s, const store_options *opt);

/* Records (all classes), and of class cls. */
static inline uint64_t store_count(const store *s)
{
    return s->count;
}

static inline uint32_t store_class_count(const store *s, unsigned cls)
{
    return s->cls[cls].count;
}

/* Append a record (key, val[0..len)) to the class of len; *out names it.
 * val may point into this store. False if memory cannot be mapped or the
 * class is full (STORE_CLASS_MAX); nothing changed then. The new record
 * has no expire time and no LRU stamp. */
bool store_add(store *s, int64_t key, const void *val, size_t len, store_ref *out);

/* Overwrite r's value with val[0..len); len must be of r's class. val may
 * point into this store (into r itself too). */
void store_write(store *s, store_ref r, const void *val, size_t len);

/* Remove record r: its expire time is cleared, and the last record of its
 * class moves into its place with its expire time and LRU stamp (the caller
 * repoints whatever referred to the last one: its ref was the class's count
 * - 1 before the call, it is r now). Returns true if a record moved. If the
 * moved record's expire time cannot be kept (its new block's array cannot
 * be mapped: out of memory only), *lost_ttl is set and the moved record has
 * no expire time: the caller must remove it too. Needs no memory otherwise;
 * with auto_shrink, gives back pages and chunks. */
bool store_remove(store *s, store_ref r, bool *lost_ttl);

/* Value length and value of r. */
static inline size_t store_len(const store *s, store_ref r)
{
    return store_rec(s, r)[STORE_LEN_AT];
}

/* Expire time of r (ms since the epoch), 0 if none. */
static inline int64_t store_exp(const store *s, store_ref r)
{
    const store_class *c = &s->cls[store_ref_class(r)];
    uint32_t i = store_ref_index(r);
    const store_block *b = &c->blocks[i >> STORE_BLOCK_SHIFT];
    return b->exp != NULL ? b->exp[i & (STORE_BLOCK - 1)] : 0;
}

/* Records of r's block that have an expire time (for skipping blocks). */
static inline uint32_t store_block_expires(const store *s, store_ref r)
{
    const store_class *c = &s->cls[store_ref_class(r)];
    return c->blocks[store_ref_index(r) >> STORE_BLOCK_SHIFT].nexp;
}

/* Set r's expire time (0 clears it). False if an array cannot be mapped
 * (nothing changed); clearing never needs one. */
bool store_set_exp(store *s, store_ref r, int64_t at);

/* LRU stamp of r, 0 if never stamped. */
static inline uint32_t store_lru(const store *s, store_ref r)
{
    const store_class *c = &s->cls[store_ref_class(r)];
    uint32_t i = store_ref_index(r);
    const store_block *b = &c->blocks[i >> STORE_BLOCK_SHIFT];
    return b->lru != NULL ? b->lru[i & (STORE_BLOCK - 1)] : 0;
}

/* Stamp r (with track_lru; best effort: a record whose array cannot be
 * mapped keeps looking old). */
void store_set_lru(store *s, store_ref r, uint32_t stamp);

/* Records with an expire time; their mean expire time (0 if none). */
static inline uint64_t store_expires(const store *s)
{
    return s->expires;
}
int64_t store_avg_expire(const store *s);

/* Pick a record from rnd: uniform over records, or with with_ttl close to
 * uniform over those with an expire time. False if there is none. */
bool store_sample(const store *s, uint64_t rnd, bool with_ttl, store_ref *out);

/* Start loading r's record (key, length and value) and side data. */
void store_prefetch(const store *s, store_ref r);

/* Give back every spare chunk and the pages past each class's last record
 * (whatever auto_shrink says); at most max_chunks chunks unmapped per call.
 * Returns true while more remains. */
bool store_trim(store *s, unsigned max_chunks);

/* Unmap everything (the records are gone). */
void store_clear(store *s);

/* For a store about to be deinitialised: unmap about max_bytes, from the
 * tails. Returns the bytes unmapped; 0 when nothing large remains. Nothing
 * but store_destroy_step, the figures below and store_deinit may be called
 * afterwards. */
uint64_t store_destroy_step(store *s, uint64_t max_bytes);

/* ---- snapshots ----
 *
 * A snapshot visits the records as they were when it began, while the
 * store goes on changing: the walk (store_snap_step) goes through each
 * class in order, and a change that would lose a record's state before the
 * walk reached it hands that state to the callback first (copy before
 * write). Each record present at the start is handed over exactly once,
 * with its key, value and expire time as they were at the start; records
 * added since are never handed over.
 *
 * A bit per record says "handed over, or added since the start". It moves
 * with its record (store_remove), and what sits below the walk's cursor
 * has its bit set, so the walk need not look back:
 *   - store_write and store_set_exp hand over a record whose bit is clear
 *     before they change it;
 *   - store_remove hands over the removed record if its bit is clear, and
 *     the moved one (the class's last) if its bit is clear and it lands
 *     below the cursor or has an expire time (which the move may lose);
 *   - store_add sets the new record's bit.
 * The callback runs inside those calls: it must not call into the store.
 * Cost: one bit per record (1.25 MB for 10M records), grown as records are
 * added; a bitmap that cannot grow marks the snapshot failed
 * (store_snap_failed). */

/* The callback: the record's key, value (len bytes, valid for the call
 * only) and expire time (ms since the epoch, 0: none). */
typedef void (*store_snap_fn)(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t exp);

/* Begin a snapshot (none may be in progress). False if out of memory. */
bool store_snap_begin(store *s, store_snap_fn fn, void *arg);

/* Hand over up to max_records records the walk has not reached. Returns
 * true while some remain. */
bool store_snap_step(store *s, uint32_t max_records);

/* A bitmap could not grow: records added since may have been handed over
 * as if they had been present at the start, or records missed. */
bool store_snap_failed(const store *s);

/* Records handed over by a change before the walk reached them. */
uint64_t store_snap_early(const store *s);

/* End the snapshot (done or not) and free its bits. No-op if none. */
void store_snap_end(store *s);

/* ---- huge pages (called by the table, which owns the staged page) ---- */

/* The store is big enough for huge pages (STORE_HUGE_MIN_BYTES). */
static inline bool store_big(const store *s)
{
    return s->record_bytes >= STORE_HUGE_MIN_BYTES;
}

/* The next chunk wholly written and not yet huge (records first), or NULL.
 * *cls names its class, for store_huge_moved. */
char *store_huge_due(const store *s, unsigned *cls);

/* The chunk store_huge_due named was moved into a huge page. */
void store_huge_moved(store *s, unsigned cls);

/* Chunks that were huge and were partly discarded by a drain wait to be
 * turned back to ordinary pages (a map change). store_turn_back does it
 * (best while the worker is held; store_add does it anyway before writing
 * into such a chunk). */
bool store_turn_back_due(const store *s);
void store_turn_back(store *s);

/* ---- figures ---- */

typedef struct {
    uint64_t keys;           /* records */
    uint64_t record_bytes;   /* keys x record size */
    uint64_t resident_bytes; /* chunk pages that may be resident */
    uint64_t mapped_bytes;   /* chunks mapped (address space) */
    uint64_t huge_bytes;     /* chunks in huge pages */
    uint64_t meta_bytes;     /* side arrays */
} store_class_stats;

/* Figures of class cls. */
void store_class_get_stats(const store *s, unsigned cls, store_class_stats *st);

/* Bytes the records account for: count x record size per class, plus the
 * side arrays (what eviction sees a removal free). */
static inline uint64_t store_memory(const store *s)
{
    return s->record_bytes + s->meta_bytes;
}

/* Chunk pages that may be resident (written, or populated ahead), all
 * classes: what the records hold of RSS. */
static inline uint64_t store_resident(const store *s)
{
    return s->resident_bytes;
}

/* Chunks mapped, all classes. */
uint64_t store_chunks(const store *s);

/* Bytes of chunks in huge pages. */
uint64_t store_huge_bytes(const store *s);

/* Check every invariant of the store (counts, sizes, side arrays, byte
 * totals); aborts on the first violation. No-op under NDEBUG. */
void store_check(const store *s);

#endif /* EBB_STORE_H */
