/*
 * store.c - records sized to their values. See store.h for the contract;
 * this file explains the layout and the rules for giving memory back.
 *
 * LAYOUT
 * ======
 *
 * Record of class c (size 13 + 4c):
 *
 *   byte 0        8     9                          13 + 4c
 *        +--------+-----+--------------------------+
 *        | key    | len | value (len bytes, then   |
 *        | i64    | u8  | padding up to 4c + 4)    |
 *        +--------+-----+--------------------------+
 *
 * Class c's chunk space: chunk i covers [i x 2 MiB, (i + 1) x 2 MiB); record
 * n is record n mod per_chunk of chunk n / per_chunk, with per_chunk =
 * floor(2 MiB / size) (the tail of each chunk, under one record, is never
 * used). The division is a multiply and a shift by a per-class reciprocal
 * (Granlund and Montgomery's round-up method: for d < 2^L and n < 2^27,
 * magic = floor(2^(32+L) / d) + 1 gives floor(n x magic / 2^(32+L)) =
 * floor(n / d), and n x magic < 2^60).
 *
 *   cls[c].chunks[]                 each chunk mapped 2 MiB-aligned,
 *     [0] -> | rec 0 | rec 1 | ... | rec per_chunk-1 | tail |
 *     [1] -> | rec per_chunk ...                             |
 *     ...
 *     [k] -> | ... rec count-1 | resident pages | untouched ...|
 *     [k+1]-> spare (no resident page), at most one
 *
 * RESIDENT BYTES. Only pages written or populated ahead are resident. The
 * class tracks `resident`: the point of its chunk space below which pages
 * may be resident (a record written past it moves it to the end of that
 * record's page; a huge chunk counts whole). payload figures and used_memory
 * come from it, so a class of one record costs one page.
 *
 * GIVING BACK (auto_shrink). After a remove, when `resident` is more than
 * 2 steps past the last record's end, the pages from one step past that end
 * on are discarded (MADV_DONTNEED: RSS drops at once). A step is 1/64 of
 * the class's records, at least DISCARD_MIN_BYTES and at most
 * DISCARD_MAX_BYTES (plus the AHEAD window while prefaulting, so a mix of
 * adds and removes does not discard what it populates): each madvise costs
 * a TLB shootdown on every CPU the process ran on, and 32 KiB steps made a
 * drain of 1M 128-byte keys 2.5 x slower than whole 2 MiB steps. Chunks
 * past the last one in use are unmapped but one
 * spare (so a set/del pair at a chunk boundary does not map and unmap each
 * time), and a class that empties unmaps everything. A chunk that was a
 * huge page and is partly discarded is split by the kernel; it is advised
 * back to ordinary pages (turn back) before anything writes into it again,
 * else the next write past the cut could fault a whole huge page. The slack
 * is at most 1/32 of each class's records, or 2 x DISCARD_MIN_BYTES.
 *
 * AHEAD (with a prefaulter, once the store is big). An insert's first write
 * to a fresh page can take milliseconds on a virtual machine (the host backs
 * memory lazily), so the pages a class writes next are populated by the
 * prefaulter's thread: a window past the last record of AHEAD_BYTES times
 * the class's share of the records (at least AHEAD_MIN_BYTES), so that the
 * windows of all classes add up to AHEAD_BYTES whatever the mix; the chunk
 * after the last is mapped ahead, while the worker is held, once the window
 * reaches it. A drain lets the window go with the pages it discards.
 */
#include "store.h"

#include "prefault.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Discard steps (see GIVING BACK): 1/64 of a class's record bytes, within
 * [32 KiB, 1 MiB]. */
#define DISCARD_MIN_BYTES (32u * 1024u)
#define DISCARD_MAX_BYTES (1024u * 1024u)
#define DISCARD_SHARE 64u
/* Spare empty chunks a class keeps while it has records (auto_shrink). */
#define SPARE_CHUNKS 1u
/* Window populated ahead of all classes' writes together (see AHEAD):
 * 1.1 MiB when chunks are moved into huge pages (ordinary pages, a few
 * milliseconds of the worker's time); 4.3 MiB when they are not (the
 * kernel has no THP: the window covers more inserts). */
#define AHEAD_BYTES (1114112u)
#define AHEAD_BYTES_PLAIN (4456448u)
#define AHEAD_MIN_BYTES (16u * 1024u)
/* Side arrays are stashed (kept mapped and zeroed, up to SIDE_STASH of each
 * kind) with a prefaulter once the store holds this many record bytes: an
 * mmap may wait for the worker's page in progress. */
#define SIDE_STASH 2u
#define SIDE_STASH_MIN_BYTES (4u * 1024u * 1024u)
#define EXP_BYTES ((size_t)STORE_BLOCK * sizeof(int64_t))
#define LRU_BYTES ((size_t)STORE_BLOCK * sizeof(uint32_t))

enum { HUGE_NO = 0, HUGE_YES = 1, HUGE_SPLIT = 2 };
enum { SIDE_EXP = 0, SIDE_LRU = 1 };

static_assert(13u + 4u * (STORE_CLASSES - 1u) == STORE_VAL_AT + STORE_VALUE_MAX,
              "the last class holds the largest value");

/* ---- small helpers -------------------------------------------------------- */

static bool prefaulting(const store *s)
{
    return s->stage != NULL && s->stage->pf != NULL && s->opt.huge_pages && store_big(s);
}

/* Chunk-space offset of record n of c. */
static inline uint64_t lin(const store_class *c, uint64_t n)
{
    uint64_t q = (n * c->magic) >> c->shift;
    return q * STORE_CHUNK_BYTES + (n - q * c->per_chunk) * c->size;
}

/* End of the last record in chunk space (0 if none). */
static inline uint64_t used_end(const store_class *c)
{
    return c->count ? lin(c, c->count - 1) + c->size : 0;
}

static inline uint32_t chunks_for(const store_class *c, uint64_t n)
{
    return n ? (uint32_t)(((n - 1) * c->magic) >> c->shift) + 1 : 0;
}

/* Bytes mapped of chunk i (chunk 0 grows: cap0). */
static inline uint64_t chunk_len(const store_class *c, uint32_t i)
{
    return i == 0 ? c->cap0 : STORE_CHUNK_BYTES;
}

/* End of the mapped chunk space. */
static inline uint64_t mapped_top(const store_class *c)
{
    return c->nchunks == 0
               ? 0
               : (uint64_t)(c->nchunks - 1) * STORE_CHUNK_BYTES + chunk_len(c, c->nchunks - 1);
}

static void set_resident(store *s, store_class *c, uint64_t r)
{
    s->resident_bytes = s->resident_bytes - c->resident + r;
    c->resident = r;
}

/* ---- side arrays ------------------------------------------------------------ */

static bool stashing(const store *s)
{
    return s->stage != NULL && s->stage->pf != NULL && s->record_bytes >= SIDE_STASH_MIN_BYTES;
}

static void *side_map(store *s, size_t bytes)
{
    void *p = huge_map_zero(bytes);
    if (p != NULL)
        s->meta_bytes += bytes;
    return p;
}

static void side_unmap(store *s, void *p, size_t bytes)
{
    huge_unmap(p, bytes);
    s->meta_bytes -= bytes;
}

static void *side_get(store *s, int kind)
{
    store_stash *st = &s->stash[kind];
    return st->n > 0 ? st->p[--st->n] : side_map(s, kind == SIDE_EXP ? EXP_BYTES : LRU_BYTES);
}

static void side_put(store *s, int kind, void *p)
{
    size_t bytes = kind == SIDE_EXP ? EXP_BYTES : LRU_BYTES;
    store_stash *st = &s->stash[kind];
    if (stashing(s) && st->n < SIDE_STASH) {
        memset(p, 0, bytes);
        st->p[st->n++] = p;
        return;
    }
    side_unmap(s, p, bytes);
}

static void stash_empty(store *s, int kind)
{
    store_stash *st = &s->stash[kind];
    while (st->n > 0)
        side_unmap(s, st->p[--st->n], kind == SIDE_EXP ? EXP_BYTES : LRU_BYTES);
}

/* Fill the stashes of the kinds in use (the worker held). */
static void stash_fill(store *s)
{
    for (int kind = SIDE_EXP; kind <= SIDE_LRU; kind++) {
        if (kind == SIDE_EXP ? s->expires == 0 : !s->opt.track_lru)
            continue;
        store_stash *st = &s->stash[kind];
        void *p;
        while (st->n < SIDE_STASH &&
               (p = side_map(s, kind == SIDE_EXP ? EXP_BYTES : LRU_BYTES)) != NULL)
            st->p[st->n++] = p;
    }
}

static bool stash_short(const store *s)
{
    return (s->expires > 0 && s->stash[SIDE_EXP].n < SIDE_STASH) ||
           (s->opt.track_lru && s->stash[SIDE_LRU].n < SIDE_STASH);
}

/* Make blocks[] cover record n of c. */
static bool blocks_cover(store_class *c, uint32_t n)
{
    uint32_t need = (n >> STORE_BLOCK_SHIFT) + 1;
    if (need <= c->nblocks)
        return true;
    uint32_t cap = c->nblocks ? c->nblocks : 4;
    while (cap < need)
        cap *= 2;
    store_block *p = realloc(c->blocks, (size_t)cap * sizeof *p);
    if (p == NULL)
        return false;
    memset(p + c->nblocks, 0, (size_t)(cap - c->nblocks) * sizeof *p);
    c->blocks = p;
    c->nblocks = cap;
    return true;
}

/* Release the side arrays of blocks past the records of c (those below
 * blocks_hw: a remove looks at one block, not at every block allocated). */
static void blocks_trim(store *s, store_class *c)
{
    uint32_t keep = c->count ? ((c->count - 1) >> STORE_BLOCK_SHIFT) + 1 : 0;
    for (uint32_t b = keep; b < c->blocks_hw; b++) {
        store_block *k = &c->blocks[b];
        assert(k->nexp == 0);
        if (k->exp != NULL)
            side_put(s, SIDE_EXP, k->exp);
        if (k->lru != NULL)
            side_put(s, SIDE_LRU, k->lru);
        k->exp = NULL;
        k->lru = NULL;
    }
    if (c->blocks_hw > keep)
        c->blocks_hw = keep;
    if (c->count == 0) {
        free(c->blocks);
        c->blocks = NULL;
        c->nblocks = 0;
    }
}

static void snap_keep(store *s, store_ref r);

/* store_set_exp without the snapshot's hook (store_remove's own moves). */
static bool set_exp(store *s, store_ref r, int64_t at)
{
    store_class *c = &s->cls[store_ref_class(r)];
    uint32_t i = store_ref_index(r);
    store_block *b = &c->blocks[i >> STORE_BLOCK_SHIFT];
    uint32_t k = i & (STORE_BLOCK - 1);
    int64_t old = b->exp != NULL ? b->exp[k] : 0;
    if (old == at)
        return true;
    if (b->exp == NULL) {
        b->exp = side_get(s, SIDE_EXP);
        if (b->exp == NULL)
            return false;
        if (c->blocks_hw <= (i >> STORE_BLOCK_SHIFT))
            c->blocks_hw = (i >> STORE_BLOCK_SHIFT) + 1;
    }
    b->exp[k] = at;
    if (old != 0) {
        b->nexp--;
        c->expires--;
        s->expires--;
        s->exp_sum -= old;
    }
    if (at != 0) {
        b->nexp++;
        c->expires++;
        s->expires++;
        s->exp_sum += at;
    }
    if (b->nexp == 0) {
        side_put(s, SIDE_EXP, b->exp);
        b->exp = NULL;
    }
    return true;
}

bool store_set_exp(store *s, store_ref r, int64_t at)
{
    if (s->snap != NULL && store_exp(s, r) != at)
        snap_keep(s, r);
    return set_exp(s, r, at);
}

void store_set_lru(store *s, store_ref r, uint32_t stamp)
{
    if (!s->opt.track_lru)
        return;
    store_class *c = &s->cls[store_ref_class(r)];
    uint32_t i = store_ref_index(r);
    store_block *b = &c->blocks[i >> STORE_BLOCK_SHIFT];
    if (b->lru == NULL) {
        b->lru = side_get(s, SIDE_LRU);
        if (b->lru == NULL)
            return;
        if (c->blocks_hw <= (i >> STORE_BLOCK_SHIFT))
            c->blocks_hw = (i >> STORE_BLOCK_SHIFT) + 1;
    }
    b->lru[i & (STORE_BLOCK - 1)] = stamp;
}

int64_t store_avg_expire(const store *s)
{
    return s->expires > 0 ? (int64_t)(s->exp_sum / (__int128)s->expires) : 0;
}

/* ---- chunks -------------------------------------------------------------------- */

static void turn_back_class(store_class *c)
{
    for (uint32_t i = 0; i < c->nchunks; i++)
        if (c->chunks[i].huge == HUGE_SPLIT) {
            (void)madvise(c->chunks[i].p, chunk_len(c, i), MADV_NOHUGEPAGE);
            c->chunks[i].huge = HUGE_NO;
        }
    c->turn_back = false;
}

bool store_turn_back_due(const store *s)
{
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        if (s->cls[k].turn_back)
            return true;
    return false;
}

void store_turn_back(store *s)
{
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        if (s->cls[k].turn_back)
            turn_back_class(&s->cls[k]);
}

/* A new chunk, advised: huge at once where huge pages are wanted but not
 * moved (no prefaulter) and the kernel has them (in THP mode "never"
 * MADV_HUGEPAGE does nothing, and the chunk would count as huge for
 * nothing), else ordinary pages (a kernel in THP mode "always" would
 * otherwise fault a whole huge page at a small class's first write). */
static char *chunk_new(const store *s, bool *huge)
{
    char *p = huge_map_aligned(STORE_CHUNK_BYTES);
    if (p == NULL)
        return NULL;
    *huge = s->opt.huge_pages && !s->opt.promote && store_big(s) && huge_thp_usable();
    (void)madvise(p, STORE_CHUNK_BYTES, *huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return p;
}

/* Grow chunk 0 to hold `end` bytes: double its mapping (mremap, which
 * may move it), and at full size move its pages into a 2 MiB-aligned
 * chunk like the others. */
static bool grow0(store_class *c, uint64_t end)
{
    uint64_t cap = c->cap0;
    while (cap < end)
        cap *= 2;
    if (cap > STORE_CHUNK_BYTES)
        cap = STORE_CHUNK_BYTES;
    char *old = c->chunks[0].p, *p;
    if (cap < STORE_CHUNK_BYTES) {
        p = mremap(old, c->cap0, cap, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
            return false;
    } else {
        p = huge_map_aligned(STORE_CHUNK_BYTES);
        if (p == NULL)
            return false;
        if (mremap(old, c->cap0, c->cap0, MREMAP_MAYMOVE | MREMAP_FIXED, p) == MAP_FAILED) {
            huge_unmap(p, STORE_CHUNK_BYTES);
            return false;
        }
        /* Ordinary pages, the moved ones too (THP "always" would fault a
         * whole huge page into the rest): a full chunk 0 is moved into a
         * huge page like any other. */
        (void)madvise(p, STORE_CHUNK_BYTES, MADV_NOHUGEPAGE);
    }
    c->chunks[0] = (store_chunk){.p = p, .huge = HUGE_NO};
    c->cap0 = cap;
    return true;
}

/* Map chunk c->nchunks (the next one): chunk 0 a page at first. */
static bool chunk_push(store *s, store_class *c)
{
    if (c->nchunks == c->chunks_cap) {
        uint32_t cap = c->chunks_cap ? c->chunks_cap * 2 : 4;
        store_chunk *p = realloc(c->chunks, (size_t)cap * sizeof *p);
        if (p == NULL)
            return false;
        c->chunks = p;
        c->chunks_cap = cap;
    }
    bool huge = false;
    char *p = c->next;
    if (c->nchunks == 0) {
        p = huge_map_zero(huge_base_page());
        if (p == NULL)
            return false;
        c->cap0 = huge_base_page();
    } else if (p != NULL) {
        c->next = NULL;
        huge = c->next_huge;
    } else if ((p = chunk_new(s, &huge)) == NULL) {
        return false;
    }
    c->chunks[c->nchunks++] = (store_chunk){.p = p, .huge = huge ? HUGE_YES : HUGE_NO};
    return true;
}

/* Give back what lies past `cut` in c's chunk space: discard resident
 * pages there, unmap chunks past `keep` and the chunk mapped ahead. */
static void give_back(store *s, store_class *c, uint64_t cut, uint32_t keep)
{
    if (c->next != NULL) {
        huge_unmap(c->next, STORE_CHUNK_BYTES);
        c->next = NULL;
    }
    while (c->nchunks > keep) {
        c->nchunks--;
        huge_unmap(c->chunks[c->nchunks].p, chunk_len(c, c->nchunks));
    }
    uint64_t top = mapped_top(c);
    if (cut > top)
        cut = top; /* the rest went with the chunks */
    if (c->pf_front > cut)
        c->pf_front = cut;
    uint64_t res = c->resident;
    if (res > top)
        res = top; /* unmapped above */
    for (uint64_t at = cut; at < res;) {
        uint32_t i = (uint32_t)(at / STORE_CHUNK_BYTES);
        uint64_t end = (uint64_t)(i + 1) * STORE_CHUNK_BYTES;
        if (end > res)
            end = res;
        store_chunk *k = &c->chunks[i];
        if (madvise(k->p + (at - (uint64_t)i * STORE_CHUNK_BYTES), end - at, MADV_DONTNEED) != 0)
            abort(); /* only on a bad range: a bug */
        if (k->huge == HUGE_YES) {
            k->huge = HUGE_SPLIT;
            c->turn_back = true;
        }
        at = end;
    }
    if (c->resident > cut)
        set_resident(s, c, cut);
    /* A first chunk that is the only one gives back address space too,
     * halving (in place) while its records use under a quarter of it. */
    uint64_t cap = c->cap0;
    while (c->nchunks == 1 && cap > huge_base_page() && cut <= cap / 4)
        cap /= 2;
    if (c->nchunks == 1 && cap < c->cap0) {
        if (mremap(c->chunks[0].p, c->cap0, cap, 0) == MAP_FAILED)
            abort(); /* shrinking in place cannot fail but on a bug */
        c->cap0 = cap;
        if (c->chunks[0].huge != HUGE_NO)
            c->chunks[0].huge = HUGE_NO; /* under 2 MiB: no huge page fits */
        if (c->pf_front > cap)
            c->pf_front = cap;
    }
}

static uint64_t window(const store *s, const store_class *c);

/* Give back the slack of c after removes: with exact, everything past the
 * last record's page and every spare chunk; else with hysteresis. */
static void class_trim(store *s, store_class *c, bool exact)
{
    uint64_t end = used_end(c);
    uint32_t need = chunks_for(c, c->count);
    if (c->count == 0) {
        give_back(s, c, 0, 0);
        c->turn_back = false; /* nothing mapped is left to turn back */
        free(c->chunks);
        c->chunks = NULL;
        c->chunks_cap = 0;
        c->pf_front = 0;
        return;
    }
    if (exact) {
        give_back(s, c, huge_round_base(end), need);
        return;
    }
    uint64_t step = huge_round_base((uint64_t)c->count * c->size / DISCARD_SHARE);
    step = step < DISCARD_MIN_BYTES   ? DISCARD_MIN_BYTES
           : step > DISCARD_MAX_BYTES ? DISCARD_MAX_BYTES
                                      : step;
    uint64_t keep = step + (prefaulting(s) ? window(s, c) : 0);
    if (c->resident >= end + keep + step || c->nchunks > need + SPARE_CHUNKS) {
        uint64_t cut = huge_round_base(end) + keep;
        give_back(s, c, cut < c->resident ? cut : c->resident, need + SPARE_CHUNKS);
    }
}

/* Bytes c populates ahead of its writes (see AHEAD). */
static uint64_t window(const store *s, const store_class *c)
{
    uint64_t total = s->opt.promote ? AHEAD_BYTES : AHEAD_BYTES_PLAIN;
    uint64_t w = (uint64_t)((unsigned __int128)total * ((uint64_t)c->count * c->size) /
                            (s->record_bytes ? s->record_bytes : 1));
    return huge_round_base(w < AHEAD_MIN_BYTES ? AHEAD_MIN_BYTES : w);
}

/* Populate c's next pages ahead (see AHEAD). */
static void ahead(store *s, store_class *c, uint64_t end)
{
    uint64_t w = window(s, c);
    if (end + w / 2 <= c->pf_front || c->nchunks == 0)
        return; /* asked far enough, or the first add maps chunk 0 */
    uint64_t from = c->pf_front > end ? c->pf_front : (end & ~(uint64_t)(huge_base_page() - 1));
    uint64_t to = huge_round_base(end + w);
    if (c->nchunks == 1 && to > c->cap0 && c->cap0 < STORE_CHUNK_BYTES)
        to = c->cap0; /* chunk 0 grows when the records get there */
    if (to > (uint64_t)(c->nchunks + 1) * STORE_CHUNK_BYTES)
        to = (uint64_t)(c->nchunks + 1) * STORE_CHUNK_BYTES; /* one chunk ahead at most */
    while (from < to) {
        uint32_t i = (uint32_t)(from / STORE_CHUNK_BYTES);
        char *base;
        if (i < c->nchunks) {
            base = c->chunks[i].p;
        } else {
            assert(i == c->nchunks);
            if (c->next == NULL) {
                /* Mapped only while the worker is between pages: else try
                 * at the next add (the window is long enough to wait). */
                if (!huge_hold(s->stage))
                    break;
                c->next = chunk_new(s, &c->next_huge);
                huge_release(s->stage);
                if (c->next == NULL)
                    break;
            }
            base = c->next;
        }
        uint64_t cend = (uint64_t)(i + 1) * STORE_CHUNK_BYTES;
        uint64_t n = (to < cend ? to : cend) - from;
        (void)prefault_ask(s->stage->pf, PREFAULT_SOON,
                           base + (from - (uint64_t)i * STORE_CHUNK_BYTES), n);
        from += n;
    }
    if (from > c->pf_front)
        c->pf_front = from;
    if (c->pf_front > c->resident) {
        /* Pages asked for in the chunk mapped ahead count once it is in use. */
        uint64_t top = mapped_top(c);
        set_resident(s, c, c->pf_front < top ? c->pf_front : top);
    }
}

/* ---- public ------------------------------------------------------------------ */

void store_init(store *s, huge_stage *stage, const store_options *opt)
{
    memset(s, 0, sizeof *s);
    s->stage = stage;
    s->opt = opt != NULL ? *opt : (store_options){0};
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        store_class *c = &s->cls[k];
        c->size = 13u + 4u * k;
        c->per_chunk = (uint32_t)(STORE_CHUNK_BYTES / c->size);
        unsigned l = 0;
        while ((1u << l) < c->per_chunk)
            l++;
        c->shift = (uint8_t)(32u + l);
        c->magic = (((uint64_t)1 << c->shift) / c->per_chunk) + 1u;
    }
}

void store_clear(store *s)
{
    store_snap_end(s);
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        store_class *c = &s->cls[k];
        for (uint32_t b = 0; b < c->nblocks; b++) {
            store_block *k2 = &c->blocks[b];
            if (k2->exp != NULL)
                side_unmap(s, k2->exp, EXP_BYTES);
            if (k2->lru != NULL)
                side_unmap(s, k2->lru, LRU_BYTES);
            k2->nexp = 0;
            k2->exp = NULL;
            k2->lru = NULL;
        }
        s->count -= c->count;
        s->record_bytes -= (uint64_t)c->count * c->size;
        c->count = 0;
        c->expires = 0;
        class_trim(s, c, true);
        blocks_trim(s, c);
    }
    stash_empty(s, SIDE_EXP);
    stash_empty(s, SIDE_LRU);
    s->expires = 0;
    s->exp_sum = 0;
    assert(s->count == 0 && s->record_bytes == 0 && s->resident_bytes == 0 && s->meta_bytes == 0);
}

void store_deinit(store *s)
{
    store_clear(s);
}

void store_set_options(store *s, const store_options *opt)
{
    s->opt = opt != NULL ? *opt : (store_options){0};
    if (!s->opt.track_lru) {
        for (unsigned k = 0; k < STORE_CLASSES; k++) {
            store_class *c = &s->cls[k];
            for (uint32_t b = 0; b < c->nblocks; b++)
                if (c->blocks[b].lru != NULL) {
                    side_unmap(s, c->blocks[b].lru, LRU_BYTES);
                    c->blocks[b].lru = NULL;
                }
        }
        stash_empty(s, SIDE_LRU);
    }
    if (s->stage == NULL || s->stage->pf == NULL) {
        stash_empty(s, SIDE_EXP);
        stash_empty(s, SIDE_LRU);
    }
}

static bool store_add_at(store *s, store_class *c, unsigned k, int64_t key, const void *val,
                         size_t len, store_ref *out);
static void snap_mark(store *s, unsigned k, uint32_t i);

bool store_add(store *s, int64_t key, const void *val, size_t len, store_ref *out)
{
    assert(len <= STORE_VALUE_MAX);
    unsigned k = store_class_of(len);
    store_class *c = &s->cls[k];
    uint32_t n = c->count;
    if (n >= STORE_CLASS_MAX)
        return false;
    /* A chunk that was huge and got discarded must be ordinary pages before
     * a write can reach its discarded part. */
    if (c->turn_back) {
        bool held = huge_hold(s->stage);
        turn_back_class(c);
        if (held)
            huge_release(s->stage);
    }
    uint64_t at = lin(c, n), end = at + c->size;
    uint32_t ci = (uint32_t)(at / STORE_CHUNK_BYTES);
    if (prefaulting(s))
        ahead(s, c, end);
    if (stashing(s) && stash_short(s) && huge_hold(s->stage)) {
        stash_fill(s);
        huge_release(s->stage);
    }
    /* Blocks first: they need only n, and a failure leaves no chunk mapped
     * for nothing. */
    if (!blocks_cover(c, n))
        return false;
    if (ci >= c->nchunks && !chunk_push(s, c))
        return false;
    if (ci == 0 && end > c->cap0) {
        /* Growing may move chunk 0, and val may be a record of it. */
        uint8_t copy[STORE_VALUE_MAX];
        const char *p0 = c->chunks[0].p;
        if (len != 0 && (const char *)val >= p0 && (const char *)val < p0 + c->cap0) {
            memcpy(copy, val, len);
            val = copy;
        }
        if (!grow0(c, end))
            return false;
        return store_add_at(s, c, k, key, val, len, out);
    }
    return store_add_at(s, c, k, key, val, len, out);
}

/* The rest of store_add, with the chunk of record c->count mapped. */
static bool store_add_at(store *s, store_class *c, unsigned k, int64_t key, const void *val,
                         size_t len, store_ref *out)
{
    uint32_t n = c->count;
    uint64_t at = lin(c, n), end = at + c->size;
    uint32_t ci = (uint32_t)(at / STORE_CHUNK_BYTES);
    uint8_t *p = (uint8_t *)c->chunks[ci].p + (at - (uint64_t)ci * STORE_CHUNK_BYTES);
    /* A live record never overlaps record n, so val (maybe in this store)
     * is intact until copied. */
    if (len != 0)
        memcpy(p + STORE_VAL_AT, val, len);
    p[STORE_LEN_AT] = (uint8_t)len;
    memcpy(p, &key, sizeof key);
    c->count = n + 1;
    s->count++;
    s->record_bytes += c->size;
    uint64_t res = c->chunks[ci].huge == HUGE_YES ? (uint64_t)(ci + 1) * STORE_CHUNK_BYTES
                                                  : huge_round_base(end);
    if (res > c->resident)
        set_resident(s, c, res);
    if ((n + 1) % c->per_chunk == 0)
        s->filled++;
    *out = store_ref_make(k, n);
    if (s->snap != NULL)
        snap_mark(s, k, n);
    return true;
}

void store_write(store *s, store_ref r, const void *val, size_t len)
{
    assert(store_class_of(len) == store_ref_class(r));
    if (s->snap != NULL)
        snap_keep(s, r);
    uint8_t *p = store_rec(s, r);
    if (len != 0)
        memmove(p + STORE_VAL_AT, val, len);
    p[STORE_LEN_AT] = (uint8_t)len;
}

static void snap_remove(store *s, unsigned k, uint32_t i, uint32_t last);

bool store_remove(store *s, store_ref r, bool *lost_ttl)
{
    unsigned k = store_ref_class(r);
    store_class *c = &s->cls[k];
    uint32_t i = store_ref_index(r), last = c->count - 1;
    assert(i < c->count);
    *lost_ttl = false;
    if (s->snap != NULL)
        snap_remove(s, k, i, last);
    (void)set_exp(s, r, 0); /* clearing never maps anything */
    bool moved = i != last;
    if (moved) {
        store_ref lr = store_ref_make(k, last);
        memcpy(store_rec(s, r), store_rec(s, lr), c->size);
        int64_t e = store_exp(s, lr);
        if (e != 0) {
            *lost_ttl = !set_exp(s, r, e);
            (void)set_exp(s, lr, 0);
        }
    }
    /* The stamp moves too (0 if the last record had none), and none stays
     * behind at `last`: a record added there later starts unstamped. */
    store_block *lb = &c->blocks[last >> STORE_BLOCK_SHIFT];
    uint32_t stamp = lb->lru != NULL ? lb->lru[last & (STORE_BLOCK - 1)] : 0;
    if (lb->lru != NULL)
        lb->lru[last & (STORE_BLOCK - 1)] = 0;
    if (moved) {
        store_block *rb = &c->blocks[i >> STORE_BLOCK_SHIFT];
        if (rb->lru != NULL)
            rb->lru[i & (STORE_BLOCK - 1)] = stamp;
        else if (stamp != 0)
            store_set_lru(s, r, stamp);
    }
    c->count = last;
    s->count--;
    s->record_bytes -= c->size;
    if (s->opt.auto_shrink) {
        class_trim(s, c, false);
        blocks_trim(s, c);
    }
    return moved;
}

/* ---- snapshots (store.h) ---- */

struct store_snap {
    store_snap_fn fn;
    void *arg;
    uint64_t *done[STORE_CLASSES];  /* a bit per record: handed over, or added since */
    uint32_t words[STORE_CLASSES];  /* 64-bit words of done[] */
    uint32_t cursor[STORE_CLASSES]; /* the walk: every record below is done */
    unsigned cls;                   /* the class the walk is in */
    uint64_t early;
    bool failed;
};

static bool snap_done(const struct store_snap *sn, unsigned k, uint32_t i)
{
    return (i >> 6) < sn->words[k] && (sn->done[k][i >> 6] >> (i & 63)) & 1u;
}

static void snap_set(store *s, unsigned k, uint32_t i, bool on)
{
    struct store_snap *sn = s->snap;
    uint32_t w = i >> 6;
    if (w >= sn->words[k]) {
        if (!on)
            return;
        uint32_t n = sn->words[k] != 0 ? sn->words[k] : 16;
        while (n <= w)
            n *= 2;
        uint64_t *p = realloc(sn->done[k], (size_t)n * sizeof *p);
        if (p == NULL) {
            sn->failed = true;
            return;
        }
        memset(p + sn->words[k], 0, (size_t)(n - sn->words[k]) * sizeof *p);
        sn->done[k] = p;
        sn->words[k] = n;
    }
    if (on)
        sn->done[k][w] |= (uint64_t)1 << (i & 63);
    else
        sn->done[k][w] &= ~((uint64_t)1 << (i & 63));
}

static void snap_mark(store *s, unsigned k, uint32_t i)
{
    snap_set(s, k, i, true);
}

/* Hand record (k, i) over as it is now. */
static void snap_emit(store *s, unsigned k, uint32_t i)
{
    store_ref r = store_ref_make(k, i);
    const uint8_t *p = store_rec(s, r);
    int64_t key;
    memcpy(&key, p, sizeof key);
    s->snap->fn(s->snap->arg, key, p + STORE_VAL_AT, p[STORE_LEN_AT], store_exp(s, r));
    snap_set(s, k, i, true);
}

/* r is about to change: hand it over first unless it was. */
static void snap_keep(store *s, store_ref r)
{
    unsigned k = store_ref_class(r);
    uint32_t i = store_ref_index(r);
    if (!snap_done(s->snap, k, i)) {
        snap_emit(s, k, i);
        s->snap->early++;
    }
}

/* Record i of class k goes and the class's last takes its place. */
static void snap_remove(store *s, unsigned k, uint32_t i, uint32_t last)
{
    struct store_snap *sn = s->snap;
    if (!snap_done(sn, k, i)) {
        snap_emit(s, k, i);
        sn->early++;
    }
    if (i != last) {
        /* Below the cursor the walk would not find it; a move may drop an
         * expire time (store_remove's lost_ttl). */
        if (!snap_done(sn, k, last) &&
            (i < sn->cursor[k] || store_exp(s, store_ref_make(k, last)) != 0)) {
            snap_emit(s, k, last);
            sn->early++;
        }
        snap_set(s, k, i, snap_done(sn, k, last));
    }
    snap_set(s, k, last, false);
    if (sn->cursor[k] > last)
        sn->cursor[k] = last;
}

bool store_snap_begin(store *s, store_snap_fn fn, void *arg)
{
    assert(s->snap == NULL);
    struct store_snap *sn = calloc(1, sizeof *sn);
    if (sn == NULL)
        return false;
    sn->fn = fn;
    sn->arg = arg;
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        uint32_t n = (s->cls[k].count >> 6) + 1;
        sn->done[k] = calloc(n, sizeof(uint64_t));
        if (sn->done[k] == NULL) {
            s->snap = sn;
            store_snap_end(s);
            return false;
        }
        sn->words[k] = n;
    }
    s->snap = sn;
    return true;
}

bool store_snap_step(store *s, uint32_t max_records)
{
    struct store_snap *sn = s->snap;
    if (sn == NULL)
        return false;
    while (sn->cls < STORE_CLASSES) {
        unsigned k = sn->cls;
        uint32_t n = s->cls[k].count;
        uint32_t i = sn->cursor[k];
        while (i < n) {
            uint32_t w = i >> 6;
            uint64_t bits = w < sn->words[k] ? sn->done[k][w] : 0;
            bits = ~bits >> (i & 63); /* not done, from i on */
            if (bits == 0) {
                i = (w + 1) << 6; /* a word all done */
                continue;
            }
            i += (uint32_t)__builtin_ctzll(bits);
            if (i >= n)
                break;
            if (max_records == 0) {
                sn->cursor[k] = i;
                return true;
            }
            max_records--;
            snap_emit(s, k, i);
            i++;
        }
        sn->cursor[k] = n;
        sn->cls++;
    }
    return false;
}

bool store_snap_failed(const store *s)
{
    return s->snap != NULL && s->snap->failed;
}

uint64_t store_snap_early(const store *s)
{
    return s->snap != NULL ? s->snap->early : 0;
}

void store_snap_end(store *s)
{
    struct store_snap *sn = s->snap;
    if (sn == NULL)
        return;
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        free(sn->done[k]);
    free(sn);
    s->snap = NULL;
}

bool store_sample(const store *s, uint64_t rnd, bool with_ttl, store_ref *out)
{
    if (s->count == 0 || (with_ttl && s->expires == 0))
        return false;
    uint64_t x = rnd % (with_ttl ? s->expires : s->count);
    unsigned k = 0;
    for (; k < STORE_CLASSES; k++) {
        uint64_t n = with_ttl ? s->cls[k].expires : s->cls[k].count;
        if (x < n)
            break;
        x -= n;
    }
    assert(k < STORE_CLASSES);
    const store_class *c = &s->cls[k];
    if (!with_ttl) {
        *out = store_ref_make(k, (uint32_t)x);
        return true;
    }
    /* A block with TTLs from the block of a random record (so blocks are
     * drawn in proportion to their records), then a record with one from a
     * random offset: cheap when TTLs are common, bounded by a walk over the
     * blocks when they are rare. */
    uint32_t nb = ((c->count - 1) >> STORE_BLOCK_SHIFT) + 1;
    uint32_t bi = (uint32_t)(((rnd >> 20) % c->count) >> STORE_BLOCK_SHIFT);
    for (uint32_t j = 0; j < nb && c->blocks[bi].nexp == 0; j++)
        bi = (bi + 1) % nb;
    const store_block *b = &c->blocks[bi];
    if (b->nexp == 0)
        return false;
    uint64_t base = (uint64_t)bi << STORE_BLOCK_SHIFT;
    uint64_t live = c->count - base < STORE_BLOCK ? c->count - base : STORE_BLOCK;
    uint64_t off = (rnd >> 40) % live, j = 0;
    while (j < live && b->exp[(off + j) % live] == 0)
        j++;
    if (j == live)
        return false;
    *out = store_ref_make(k, (uint32_t)(base + (off + j) % live));
    return true;
}

void store_prefetch(const store *s, store_ref r)
{
    const uint8_t *p = store_rec(s, r);
    uint32_t size = s->cls[store_ref_class(r)].size;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + size;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a, 0, 3);
    const store_class *c = &s->cls[store_ref_class(r)];
    uint32_t i = store_ref_index(r);
    const store_block *b = &c->blocks[i >> STORE_BLOCK_SHIFT];
    if (b->exp != NULL)
        __builtin_prefetch(&b->exp[i & (STORE_BLOCK - 1)], 0, 3);
    if (b->lru != NULL)
        __builtin_prefetch(&b->lru[i & (STORE_BLOCK - 1)], 0, 3);
}

bool store_trim(store *s, unsigned max_chunks)
{
    bool more = false;
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        store_class *c = &s->cls[k];
        uint32_t need = chunks_for(c, c->count);
        if (c->nchunks > need && max_chunks > 0) {
            uint32_t keep = c->nchunks - need > max_chunks ? c->nchunks - max_chunks : need;
            max_chunks -= c->nchunks - keep;
            /* Only the chunks unmapped now: the pages of those kept are
             * discarded by the step that reaches the last one needed (a
             * bounded step must not discard a whole drained table). */
            uint64_t cut = keep > need ? (uint64_t)keep * STORE_CHUNK_BYTES
                           : c->count  ? huge_round_base(used_end(c))
                                       : 0;
            give_back(s, c, cut, keep);
            if (c->count == 0 && c->nchunks == 0) {
                free(c->chunks);
                c->chunks = NULL;
                c->chunks_cap = 0;
                c->turn_back = false;
            }
        } else if (c->nchunks == need &&
                   (c->resident > huge_round_base(used_end(c)) || c->next != NULL)) {
            give_back(s, c, huge_round_base(used_end(c)), need);
        }
        blocks_trim(s, c);
        more |= c->nchunks > need;
    }
    if (!stashing(s)) {
        stash_empty(s, SIDE_EXP);
        stash_empty(s, SIDE_LRU);
    }
    return more;
}

uint64_t store_destroy_step(store *s, uint64_t max_bytes)
{
    uint64_t done = 0;
    for (unsigned k = 0; k < STORE_CLASSES && done < max_bytes; k++) {
        store_class *c = &s->cls[k];
        if (c->next != NULL) {
            huge_unmap(c->next, STORE_CHUNK_BYTES);
            c->next = NULL;
            done += STORE_CHUNK_BYTES;
        }
        while (done < max_bytes && c->nchunks > 0) {
            c->nchunks--;
            huge_unmap(c->chunks[c->nchunks].p, chunk_len(c, c->nchunks));
            done += chunk_len(c, c->nchunks);
            uint64_t top = mapped_top(c);
            if (c->resident > top)
                set_resident(s, c, top);
        }
    }
    return done;
}

char *store_huge_due(const store *s, unsigned *cls)
{
    if (!s->opt.promote || !store_big(s))
        return NULL;
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        const store_class *c = &s->cls[k];
        uint32_t full = c->count / c->per_chunk;
        for (uint32_t i = 0; i < full && i < c->nchunks; i++)
            if (c->chunks[i].huge == HUGE_NO) {
                *cls = k;
                return c->chunks[i].p;
            }
    }
    return NULL;
}

void store_huge_moved(store *s, unsigned cls)
{
    store_class *c = &s->cls[cls];
    uint32_t full = c->count / c->per_chunk;
    for (uint32_t i = 0; i < full && i < c->nchunks; i++)
        if (c->chunks[i].huge == HUGE_NO) {
            c->chunks[i].huge = HUGE_YES;
            uint64_t top = (uint64_t)(i + 1) * STORE_CHUNK_BYTES;
            if (c->resident < top)
                set_resident(s, c, top);
            return;
        }
    assert(!"store_huge_moved without a due chunk");
}

void store_class_get_stats(const store *s, unsigned cls, store_class_stats *st)
{
    const store_class *c = &s->cls[cls];
    memset(st, 0, sizeof *st);
    st->keys = c->count;
    st->record_bytes = (uint64_t)c->count * c->size;
    st->resident_bytes = c->resident;
    st->mapped_bytes = mapped_top(c) + (c->next != NULL ? STORE_CHUNK_BYTES : 0);
    for (uint32_t i = 0; i < c->nchunks; i++)
        st->huge_bytes += c->chunks[i].huge == HUGE_YES ? STORE_CHUNK_BYTES : 0;
    for (uint32_t b = 0; b < c->nblocks; b++)
        st->meta_bytes +=
            (c->blocks[b].exp != NULL ? EXP_BYTES : 0) + (c->blocks[b].lru != NULL ? LRU_BYTES : 0);
}

uint64_t store_chunks(const store *s)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        n += s->cls[k].nchunks;
    return n;
}

uint64_t store_huge_bytes(const store *s)
{
    /* The chunks only (not the side blocks store_class_get_stats also
     * walks): the table asks at every move and every cron tick. */
    uint64_t n = 0;
    for (unsigned k = 0; k < STORE_CLASSES; k++)
        for (uint32_t i = 0; i < s->cls[k].nchunks; i++)
            n += s->cls[k].chunks[i].huge == HUGE_YES ? STORE_CHUNK_BYTES : 0;
    return n;
}

/* ---- store_check ---------------------------------------------------------------- */

#ifdef NDEBUG
void store_check(const store *s)
{
    (void)s;
}
#else

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: store_check failed: %s (%s)\n", __FILE__, __LINE__, what,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

void store_check(const store *s)
{
    uint64_t count = 0, bytes = 0, resident = 0, meta = 0, expires = 0;
    __int128 sum = 0;
    for (unsigned k = 0; k < STORE_CLASSES; k++) {
        const store_class *c = &s->cls[k];
        CHECK(c->size == 13u + 4u * k, "class size");
        CHECK(c->nchunks >= chunks_for(c, c->count), "chunks hold the records");
        CHECK(c->nchunks <= chunks_for(c, c->count) + SPARE_CHUNKS || !s->opt.auto_shrink ||
                  c->count == 0,
              "at most one spare chunk with auto_shrink");
        CHECK(c->count > 0 || !s->opt.auto_shrink || (c->nchunks == 0 && c->resident == 0),
              "an empty class keeps nothing");
        CHECK(c->resident >= (c->count ? huge_round_base(used_end(c)) : 0) || c->count == 0,
              "the records' pages count as resident");
        CHECK(c->resident <= mapped_top(c), "resident within the chunks mapped");
        CHECK(c->nchunks == 0 || (c->cap0 >= huge_base_page() && (c->cap0 & (c->cap0 - 1)) == 0 &&
                                  c->cap0 <= STORE_CHUNK_BYTES),
              "chunk 0 is a power of two pages");
        CHECK(c->nchunks < 2 || c->cap0 == STORE_CHUNK_BYTES, "chunk 0 is full-size under others");
        CHECK(c->count == 0 || used_end(c) <= mapped_top(c), "the records are mapped");
        uint64_t ce = 0;
        CHECK((uint64_t)c->per_chunk * c->size <= STORE_CHUNK_BYTES,
              "records do not straddle chunks");
        for (uint32_t i = 0; i < c->count; i++)
            CHECK(store_class_of(store_rec(s, store_ref_make(k, i))[STORE_LEN_AT]) == k,
                  "record length of its class");
        for (uint32_t b = 0; b < c->nblocks; b++) {
            const store_block *bl = &c->blocks[b];
            CHECK((bl->exp == NULL && bl->lru == NULL) || b < c->blocks_hw,
                  "side arrays only below blocks_hw");
            CHECK((bl->exp == NULL) == (bl->nexp == 0), "exp[] mapped iff a record has a TTL");
            CHECK(bl->lru == NULL || s->opt.track_lru, "no stamps when not tracking");
            meta += (bl->exp != NULL ? EXP_BYTES : 0) + (bl->lru != NULL ? LRU_BYTES : 0);
            uint32_t n = 0;
            for (uint32_t j = 0; bl->exp != NULL && j < STORE_BLOCK; j++) {
                if (bl->exp[j] == 0)
                    continue;
                CHECK(bl->exp[j] > 0, "expire times are positive");
                CHECK(((uint64_t)b << STORE_BLOCK_SHIFT) + j < c->count,
                      "records past count have no expire time");
                n++;
                sum += bl->exp[j];
            }
            CHECK(n == bl->nexp, "block TTL count");
            ce += n;
        }
        CHECK(ce == c->expires, "class TTL count");
        CHECK(!c->turn_back || c->nchunks > 0, "turn back only with chunks");
        count += c->count;
        bytes += (uint64_t)c->count * c->size;
        resident += c->resident;
        expires += ce;
    }
    for (int kind = SIDE_EXP; kind <= SIDE_LRU; kind++) {
        CHECK(s->stash[kind].n <= SIDE_STASH, "stash size");
        meta += s->stash[kind].n * (kind == SIDE_EXP ? EXP_BYTES : LRU_BYTES);
    }
    CHECK(count == s->count, "record count");
    CHECK(bytes == s->record_bytes, "record bytes");
    CHECK(resident == s->resident_bytes, "resident bytes");
    CHECK(meta == s->meta_bytes, "side array bytes");
    CHECK(expires == s->expires, "records with a TTL");
    CHECK(sum == s->exp_sum, "sum of expire times");
}
#endif
