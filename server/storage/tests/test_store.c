/*
 * test_store.c - unit tests of server/storage/store.c, the record store, against its
 * contract (store.h): every record checked against a reference model under
 * a few hundred thousand random operations; pages and chunks given back as
 * classes drain, down to nothing (and RSS with them); the resident-bytes
 * figure as records come and go; the per-class reciprocal division that
 * locates records in chunks; and record sampling. The store is used alone,
 * with a zeroed huge_stage (no prefaulter). Links only the table library
 * (which holds store.c) and Criterion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "table_testlib.h"

/* ---- geometry, re-derived from store.h's description ---------------------- */

#define CHUNK ((uint64_t)2 * 1024 * 1024)
/* store.c's discard step (GIVING BACK): 1/64 of a class's record bytes,
 * within [32 KiB, 1 MiB]; pages more than two steps past the last record
 * are given back, from one step past it. */
#define DISCARD_MIN ((uint64_t)32 * 1024)
#define DISCARD_MAX ((uint64_t)1024 * 1024)
#define DISCARD_SHARE 64u
/* Side arrays per block of STORE_BLOCK records (store.h). */
#define EXP_ARRAY ((uint64_t)STORE_BLOCK * 8u)
#define LRU_ARRAY ((uint64_t)STORE_BLOCK * 4u)

static uint64_t page(void)
{
    static uint64_t ps;
    if (ps == 0)
        ps = (uint64_t)sysconf(_SC_PAGESIZE);
    return ps;
}

static uint64_t page_up(uint64_t x)
{
    return (x + page() - 1) / page() * page();
}

/* Record bytes of class c: key, length, 4c + 4 value bytes. */
static uint64_t rec_size(unsigned c)
{
    return 13u + 4u * (uint64_t)c;
}

/* The longest value of class c. */
static size_t max_len(unsigned c)
{
    return 4u * c + 4u;
}

/* The most a class of n records may hold past its last record's end with
 * auto_shrink: under two discard steps, plus the page rounding. */
static uint64_t slack_max(unsigned c, uint64_t n)
{
    uint64_t step = (n * rec_size(c) / DISCARD_SHARE + page() - 1) / page() * page();
    step = step < DISCARD_MIN ? DISCARD_MIN : step > DISCARD_MAX ? DISCARD_MAX : step;
    return 2 * step + page();
}

/* Whole records per 2 MiB chunk. */
static uint64_t per_chunk(unsigned c)
{
    return CHUNK / rec_size(c);
}

/* End of record n-1 in class c's chunk space (chunk i at i x CHUNK). */
static uint64_t used_end(unsigned c, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t q = (n - 1) / per_chunk(c);
    return q * CHUNK + (n - q * per_chunk(c)) * rec_size(c);
}

/* Pages written by n records added in order: whole chunks, then the last
 * chunk's pages up to its last record. */
static uint64_t pages_end(unsigned c, uint64_t n)
{
    return page_up(used_end(c, n));
}

static uint64_t chunks_for(unsigned c, uint64_t n)
{
    return n ? (n - 1) / per_chunk(c) + 1 : 0;
}

/* Bytes mapped for n records added in order: a class's first chunk is a
 * page at first and doubles as its records need; once a second chunk
 * exists, every chunk is whole. */
static uint64_t mapped_after_adds(unsigned c, uint64_t n)
{
    if (n == 0)
        return 0;
    if (n > per_chunk(c))
        return chunks_for(c, n) * CHUNK;
    uint64_t cap = page();
    while (cap < used_end(c, n))
        cap *= 2;
    return cap < CHUNK ? cap : CHUNK;
}

/* Chunks of a class from its mapped bytes (the first may be partial). */
static uint64_t chunks_of(uint64_t mapped)
{
    return (mapped + CHUNK - 1) / CHUNK;
}

static uint64_t blocks_for(uint64_t n)
{
    return (n + STORE_BLOCK - 1) / STORE_BLOCK;
}

/* A value length of class c (uniform over the class). */
static size_t len_in_class(unsigned c)
{
    return c == 0 ? (size_t)rng_below(5) : 4u * c + 1u + (size_t)rng_below(4);
}

static void rand_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng() >> 56);
}

static store_class_stats class_stats(const store *s, unsigned c)
{
    store_class_stats st;
    store_class_get_stats(s, c, &st);
    return st;
}

/* Side-array bytes: store_memory less the records' bytes. */
static uint64_t side_bytes(const store *s)
{
    uint64_t rec = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        rec += (uint64_t)store_class_count(s, c) * rec_size(c);
    return store_memory(s) - rec;
}

static double sqrt_d(double x)
{
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 64; i++)
        r = (r + x / r) / 2;
    return r;
}

/* Value bytes for tests that do not look at them. */
static const uint8_t some_bytes[STORE_VALUE_MAX] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* ---- the store under test, and cleanup that survives a failed assert ------ */

/* Each test runs in its own process: one store and stage per test, static so
 * that the suite's .fini can unmap them after a failed assertion (else
 * LeakSanitizer would report the skipped cleanup as a second failure). */
static store the_store;
static huge_stage the_stage;
static bool store_live;
#define OWNED_MAX 64
static void *owned[OWNED_MAX];

static store *open_store(bool auto_shrink, bool track_lru)
{
    cr_assert_not(store_live, "one store at a time");
    memset(&the_stage, 0, sizeof the_stage);
    store_options o = {.auto_shrink = auto_shrink, .track_lru = track_lru};
    store_init(&the_store, &the_stage, &o);
    store_live = true;
    return &the_store;
}

static void close_store(store *s)
{
    store_deinit(s);
    store_live = false;
}

/* malloc'd memory freed by the suite's .fini (or by release). */
static void *own(size_t bytes)
{
    void *p = malloc(bytes);
    cr_assert_not_null(p);
    for (int i = 0; i < OWNED_MAX; i++)
        if (owned[i] == NULL) {
            owned[i] = p;
            return p;
        }
    cr_assert_fail("more than %d owned blocks", OWNED_MAX);
    return NULL;
}

static void *own_realloc(void *old, size_t bytes)
{
    void *p = realloc(old, bytes);
    cr_assert_not_null(p);
    for (int i = 0; i < OWNED_MAX; i++)
        if (owned[i] == old) {
            owned[i] = p;
            return p;
        }
    cr_assert_fail("realloc of a block not owned");
    return NULL;
}

static void release(void *p)
{
    for (int i = 0; p != NULL && i < OWNED_MAX; i++)
        if (owned[i] == p)
            owned[i] = NULL;
    free(p);
}

static void store_cleanup(void)
{
    if (store_live)
        close_store(&the_store);
    for (int i = 0; i < OWNED_MAX; i++) {
        free(owned[i]);
        owned[i] = NULL;
    }
}

TestSuite(store, .fini = store_cleanup);

/* ---- the reference model ------------------------------------------------------ */

typedef struct {
    int64_t key;
    int64_t exp;
    uint32_t lru;
    uint8_t len;
    uint8_t val[STORE_VALUE_MAX];
} mrec;

/* The records of each class, in ref order: record i of class c is v[c][i],
 * updated exactly as store.h says the store moves them. */
typedef struct {
    mrec *v[STORE_CLASSES];
    uint32_t n[STORE_CLASSES], cap[STORE_CLASSES];
    /* Most records since the class's pages were last trimmed exactly (by
     * store_trim): without auto_shrink its resident pages end there. */
    uint32_t hi[STORE_CLASSES];
    /* Most records since LRU tracking last started (bounds the stamps'
     * arrays without auto_shrink). */
    uint32_t lru_hi[STORE_CLASSES];
    uint32_t peak[STORE_CLASSES]; /* most records ever */
    uint64_t total, expires;
    __int128 exp_sum;
    bool auto_shrink, lru_on;
} model;

static model M;

static store_ref model_pick(const model *m)
{
    uint64_t x = rng_below(m->total);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        if (x < m->n[c])
            return store_ref_make(c, (uint32_t)x);
        x -= m->n[c];
    }
    cr_assert_fail("model_pick past the records");
    return 0;
}

static const mrec *model_rec(const model *m, store_ref r)
{
    return &m->v[store_ref_class(r)][store_ref_index(r)];
}

/* Record r of the store is the model's. */
static void expect_rec(const store *s, const model *m, store_ref r)
{
    unsigned c = store_ref_class(r);
    uint32_t i = store_ref_index(r);
    const mrec *w = model_rec(m, r);
    cr_assert_eq(store_key(s, r), w->key,
                 "class %u record %" PRIu32 ": key %" PRId64 ", want %" PRId64, c, i,
                 store_key(s, r), w->key);
    cr_assert_eq(store_len(s, r), w->len, "class %u record %" PRIu32 ": len %zu, want %u", c, i,
                 store_len(s, r), (unsigned)w->len);
    cr_assert(memcmp(store_rec(s, r) + STORE_VAL_AT, w->val, w->len) == 0,
              "class %u record %" PRIu32 ": value bytes differ", c, i);
    cr_assert_eq(store_exp(s, r), w->exp,
                 "class %u record %" PRIu32 ": exp %" PRId64 ", want %" PRId64, c, i,
                 store_exp(s, r), w->exp);
    cr_assert_eq(store_lru(s, r), w->lru,
                 "class %u record %" PRIu32 " (of %" PRIu32 "): lru stamp %" PRIu32
                 ", want %" PRIu32,
                 c, i, m->n[c], store_lru(s, r), w->lru);
}

/* A source for len value bytes: usually fresh random bytes, sometimes (to
 * test that val may point into the store) bytes of a live record, maybe r
 * itself. want gets the bytes the source holds now. */
static const void *value_source(const store *s, const model *m, size_t len, uint8_t *want)
{
    if (len > 0 && m->total > 0 && rng_below(6) == 0) {
        for (int tries = 0; tries < 8; tries++) {
            store_ref src = model_pick(m);
            const mrec *w = model_rec(m, src);
            if (w->len < len)
                continue;
            size_t off = (size_t)rng_below(w->len - len + 1);
            memcpy(want, w->val + off, len);
            return store_rec(s, src) + STORE_VAL_AT + off;
        }
    }
    rand_bytes(want, len);
    return want;
}

static void op_add(store *s, model *m, size_t len, int64_t key)
{
    unsigned c = store_class_of(len);
    uint8_t want[STORE_VALUE_MAX];
    const void *src = value_source(s, m, len, want);
    store_ref r = 0;
    cr_assert(store_add(s, key, src, len, &r), "add of %zu bytes to class %u (%" PRIu32 " records)",
              len, c, m->n[c]);
    cr_assert_eq(store_ref_class(r), c, "the class of the length");
    cr_assert_eq(store_ref_index(r), m->n[c], "an add writes record `count`");
    if (m->n[c] == m->cap[c]) {
        m->cap[c] = m->cap[c] ? m->cap[c] * 2 : 64;
        m->v[c] = own_realloc(m->v[c], (size_t)m->cap[c] * sizeof(mrec));
    }
    mrec *w = &m->v[c][m->n[c]++];
    memset(w, 0, sizeof *w);
    w->key = key;
    w->len = (uint8_t)len;
    memcpy(w->val, want, len);
    m->total++;
    if (m->n[c] > m->hi[c])
        m->hi[c] = m->n[c];
    if (m->n[c] > m->lru_hi[c])
        m->lru_hi[c] = m->n[c];
    if (m->n[c] > m->peak[c])
        m->peak[c] = m->n[c];
    cr_assert_eq(store_class_count(s, c), m->n[c]);
    cr_assert_eq(store_count(s), m->total);
    expect_rec(s, m, r);
}

static void op_remove(store *s, model *m)
{
    store_ref r;
    if (rng_below(8) == 0) { /* the class's last record: nothing moves */
        r = model_pick(m);
        unsigned c = store_ref_class(r);
        r = store_ref_make(c, m->n[c] - 1);
    } else {
        r = model_pick(m);
    }
    unsigned c = store_ref_class(r);
    uint32_t i = store_ref_index(r), last = m->n[c] - 1;
    mrec *v = m->v[c];
    if (v[i].exp != 0) {
        m->expires--;
        m->exp_sum -= v[i].exp;
    }
    bool lost = true;
    bool moved = store_remove(s, r, &lost);
    cr_assert_not(lost, "an expire time lost without running out of memory");
    cr_assert_eq(moved, i != last, "class %u: remove %" PRIu32 " of %" PRIu32 ": moved %d", c, i,
                 last + 1, (int)moved);
    v[i] = v[last];
    m->n[c]--;
    m->total--;
    cr_assert_eq(store_class_count(s, c), m->n[c]);
    cr_assert_eq(store_count(s), m->total);
    if (moved)
        expect_rec(s, m, r);
}

static void op_write(store *s, model *m)
{
    store_ref r = model_pick(m);
    size_t len = len_in_class(store_ref_class(r));
    uint8_t want[STORE_VALUE_MAX];
    const void *src = value_source(s, m, len, want);
    store_write(s, r, src, len);
    mrec *w = &m->v[store_ref_class(r)][store_ref_index(r)];
    w->len = (uint8_t)len;
    memcpy(w->val, want, len);
    expect_rec(s, m, r);
}

static void op_exp(store *s, model *m)
{
    store_ref r = model_pick(m);
    int64_t at = rng_below(4) == 0 ? 0 : (int64_t)(1 + rng_below((uint64_t)1 << 41));
    cr_assert(store_set_exp(s, r, at));
    mrec *w = &m->v[store_ref_class(r)][store_ref_index(r)];
    if (w->exp != 0) {
        m->expires--;
        m->exp_sum -= w->exp;
    }
    if (at != 0) {
        m->expires++;
        m->exp_sum += at;
    }
    w->exp = at;
    cr_assert_eq(store_expires(s), m->expires);
    expect_rec(s, m, r);
}

static void op_lru(store *s, model *m)
{
    store_ref r = model_pick(m);
    uint32_t stamp = 1 + (uint32_t)rng_below(UINT32_MAX);
    store_set_lru(s, r, stamp);
    if (m->lru_on)
        m->v[store_ref_class(r)][store_ref_index(r)].lru = stamp;
    store_prefetch(s, r);
    expect_rec(s, m, r);
}

/* A class of n records maps them; a class in its first chunk only maps a
 * power of two of pages, under 4 x `near` (an end of its records with the
 * slack of giving back) or one page. */
static void expect_mapping(unsigned c, uint64_t mapped, uint64_t n, uint64_t near)
{
    cr_assert_geq(mapped, used_end(c, n), "class %u: %" PRIu64 " records mapped", c, n);
    if (n == 0 || mapped > CHUNK)
        return;
    uint64_t pages = mapped / page();
    cr_assert(mapped % page() == 0 && (pages & (pages - 1)) == 0,
              "class %u: first chunk of %" PRIu64 " bytes, not a power of two of pages", c, mapped);
    cr_assert(mapped == page() || mapped < 4 * near,
              "class %u, %" PRIu64 " records (end %" PRIu64 "): first chunk maps %" PRIu64 " bytes",
              c, n, used_end(c, n), mapped);
}

/* Everything the store says agrees with the model. */
static void full_check(const store *s, const model *m)
{
    store_check(s);
    cr_assert_eq(store_count(s), m->total);
    uint64_t bytes = 0, meta = 0, resident = 0, chunks = 0, expires = 0;
    __int128 sum = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        uint32_t n = m->n[c];
        cr_assert_eq(store_class_count(s, c), n, "class %u count", c);
        cr_assert_eq(store_record_size(s, c), rec_size(c));
        uint64_t exp_blocks = 0, stamped_blocks = 0;
        for (uint64_t b = 0; b < blocks_for(n); b++) {
            uint32_t nexp = 0;
            bool stamped = false;
            uint32_t end = (uint32_t)((b + 1) * STORE_BLOCK < n ? (b + 1) * STORE_BLOCK : n);
            for (uint32_t i = (uint32_t)(b * STORE_BLOCK); i < end; i++) {
                const mrec *w = &m->v[c][i];
                expect_rec(s, m, store_ref_make(c, i));
                if (w->exp != 0) {
                    nexp++;
                    sum += w->exp;
                }
                stamped |= w->lru != 0;
            }
            cr_assert_eq(store_block_expires(s, store_ref_make(c, (uint32_t)(b * STORE_BLOCK))),
                         nexp, "class %u block %" PRIu64 ": TTL count", c, b);
            exp_blocks += nexp > 0;
            stamped_blocks += stamped;
            expires += nexp;
        }
        store_class_stats st = class_stats(s, c);
        cr_assert_eq(st.keys, n);
        cr_assert_eq(st.record_bytes, n * rec_size(c));
        cr_assert_eq(st.huge_bytes, 0, "no huge pages asked for");
        /* Side arrays: one expire array per block with a TTL, stamps
         * arrays only while tracking, at least for stamped blocks. */
        cr_assert_geq(st.meta_bytes, exp_blocks * EXP_ARRAY, "class %u: exp arrays", c);
        uint64_t lru_bytes = st.meta_bytes - exp_blocks * EXP_ARRAY;
        cr_assert_eq(lru_bytes % LRU_ARRAY, 0,
                     "class %u: side bytes %" PRIu64 " with %" PRIu64 " exp blocks", c,
                     st.meta_bytes, exp_blocks);
        if (!m->lru_on)
            cr_assert_eq(lru_bytes, 0, "class %u: no stamps unless tracking", c);
        cr_assert_geq(lru_bytes, stamped_blocks * LRU_ARRAY, "class %u: stamped blocks have arrays",
                      c);
        cr_assert_leq(lru_bytes, blocks_for(m->auto_shrink ? n : m->lru_hi[c]) * LRU_ARRAY,
                      "class %u: stamps arrays past the records (%" PRIu32 ")", c, n);
        /* Pages and chunks. */
        uint64_t nch = chunks_of(st.mapped_bytes);
        expect_mapping(c, st.mapped_bytes, n,
                       m->auto_shrink ? used_end(c, n) + slack_max(c, n) : pages_end(c, m->hi[c]));
        if (m->auto_shrink) {
            if (n == 0) {
                cr_assert_eq(st.resident_bytes, 0, "class %u: empty keeps no pages", c);
                cr_assert_eq(nch, 0, "class %u: empty keeps no chunk", c);
            } else {
                cr_assert_geq(st.resident_bytes, pages_end(c, n), "class %u: the records' pages",
                              c);
                cr_assert_lt(st.resident_bytes, used_end(c, n) + slack_max(c, n),
                             "class %u, %" PRIu32 " records: resident %" PRIu64
                             " past end %" PRIu64,
                             c, n, st.resident_bytes, used_end(c, n));
                cr_assert_geq(nch, chunks_for(c, n));
                cr_assert_leq(nch, chunks_for(c, n) + 1, "class %u: one spare chunk at most", c);
            }
        } else {
            cr_assert_eq(st.resident_bytes, pages_end(c, m->hi[c]),
                         "class %u: pages written (at most %" PRIu32 " records)", c, m->hi[c]);
            cr_assert_eq(nch, chunks_for(c, m->hi[c]), "class %u: chunks kept", c);
            if (m->hi[c] > per_chunk(c))
                cr_assert_eq(st.mapped_bytes, nch * CHUNK, "class %u: whole chunks", c);
        }
        bytes += st.record_bytes;
        meta += st.meta_bytes;
        resident += st.resident_bytes;
        chunks += nch;
    }
    cr_assert_eq(store_memory(s), bytes + meta, "store_memory: records and side arrays");
    cr_assert_eq(store_resident(s), resident);
    cr_assert_eq(store_chunks(s), chunks);
    cr_assert_eq(store_huge_bytes(s), 0);
    cr_assert_eq(store_expires(s), m->expires);
    cr_assert_eq(expires, m->expires);
    cr_assert(sum == m->exp_sum);
    cr_assert_eq(store_avg_expire(s),
                 m->expires ? (int64_t)(m->exp_sum / (__int128)m->expires) : 0);
}

/* store_trim, one chunk per call: then each class holds exactly its
 * records' pages and chunks. */
static void trim_check(store *s, model *m)
{
    uint64_t calls = 0, before = store_chunks(s);
    bool more;
    do {
        uint64_t ch = store_chunks(s);
        more = store_trim(s, 1);
        cr_assert_leq(ch - store_chunks(s), 1, "store_trim(1) unmapped %" PRIu64 " chunks",
                      ch - store_chunks(s));
        calls++;
        cr_assert_leq(calls, before + 1, "store_trim keeps saying more");
    } while (more);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        store_class_stats st = class_stats(s, c);
        cr_assert_eq(st.resident_bytes, pages_end(c, m->n[c]),
                     "class %u trimmed to its records' pages", c);
        cr_assert_eq(chunks_of(st.mapped_bytes), chunks_for(c, m->n[c]),
                     "class %u trimmed to its chunks", c);
        expect_mapping(c, st.mapped_bytes, m->n[c], pages_end(c, m->n[c]));
        m->hi[c] = m->n[c];
    }
    full_check(s, m);
}

static void set_lru_tracking(store *s, model *m, bool on)
{
    store_options o = {.auto_shrink = m->auto_shrink, .track_lru = on};
    store_set_options(s, &o);
    m->lru_on = on;
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        if (!on)
            for (uint32_t i = 0; i < m->n[c]; i++)
                m->v[c][i].lru = 0; /* the stamps are unmapped */
        m->lru_hi[c] = m->n[c];
    }
    full_check(s, m);
}

#define CHECK_EVERY 1024u

static void run_model(bool auto_shrink, bool track_lru, uint64_t seed)
{
    store *s = open_store(auto_shrink, track_lru);
    memset(&M, 0, sizeof M);
    M.auto_shrink = auto_shrink;
    M.lru_on = track_lru;
    rng_seed(seed);
    /* Each phase grows the store to `grow_to` records (half of the lengths
     * in the hot class, the rest uniform over 0..128), trims, then drains
     * it to nothing while still adding. Hot classes cross chunk boundaries
     * (class 31: 15307 records a chunk, class 25: 18558), or grow the first
     * chunk to 1 MiB and shrink it (class 15, 28728 records a chunk). */
    static const struct {
        uint64_t grow_to;
        unsigned hot;
    } phases[] = {{34000, 31}, {40000, 25}, {12000, 0}, {20000, 15}};
    uint64_t ops = 0, id = 0, adds = 0, removes = 0;
    for (unsigned ph = 0; ph < sizeof phases / sizeof phases[0]; ph++) {
        bool growing = true;
        uint64_t ph_start = ops;
        if (track_lru && ph == 1)
            set_lru_tracking(s, &M, false);
        while (growing || M.total > 0) {
            if (growing && M.total >= phases[ph].grow_to) {
                growing = false;
                full_check(s, &M);
                trim_check(s, &M);
            }
            if (track_lru && ph == 1 && !M.lru_on && ops - ph_start == 20000)
                set_lru_tracking(s, &M, true);
            unsigned roll = (unsigned)rng_below(100);
            if (M.total == 0 || roll < (growing ? 55u : 20u)) {
                size_t len = rng_below(2) ? len_in_class(phases[ph].hot)
                                          : (size_t)rng_below(STORE_VALUE_MAX + 1);
                op_add(s, &M, len, key_of(id++));
                adds++;
            } else if (roll < 80) {
                op_remove(s, &M);
                removes++;
            } else if (roll < 88) {
                op_write(s, &M);
            } else if (roll < 95) {
                op_exp(s, &M);
            } else {
                op_lru(s, &M);
            }
            if (++ops % CHECK_EVERY == 0)
                full_check(s, &M);
        }
        full_check(s, &M);
        if (auto_shrink) {
            cr_assert_eq(store_resident(s), 0, "phase %u drained: no pages", ph);
            cr_assert_eq(store_chunks(s), 0, "phase %u drained: no chunks", ph);
            cr_assert_eq(store_memory(s), 0, "phase %u drained: no side arrays", ph);
        } else {
            trim_check(s, &M);
            cr_assert_eq(store_resident(s), 0);
            cr_assert_eq(store_chunks(s), 0);
        }
    }
    cr_log_info(
        "store model (auto_shrink %d, track_lru %d): %" PRIu64 " ops, %" PRIu64 " adds, %" PRIu64
        " removes; most records of class 31 %" PRIu32 ", 25 %" PRIu32 ", 0 %" PRIu32,
        (int)auto_shrink, (int)track_lru, ops, adds, removes, M.peak[31], M.peak[25], M.peak[0]);
    /* The run went where it meant to: past a chunk boundary in the hot
     * classes, over several side blocks in class 0. */
    cr_assert_gt(M.peak[31], per_chunk(31), "class 31 never reached its second chunk");
    cr_assert_gt(M.peak[25], per_chunk(25), "class 25 never reached its second chunk");
    cr_assert_gt(M.peak[0], 2 * STORE_BLOCK, "class 0 stayed in two blocks");
    cr_assert(M.peak[15] > per_chunk(15) / 3 && M.peak[15] < per_chunk(15),
              "class 15 grew to %" PRIu32, M.peak[15]);
    close_store(s);
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        release(M.v[c]);
    memset(&M, 0, sizeof M);
}

Test(store, random_ops_against_a_model)
{
    run_model(true, true, 0x5eed0001);
}

Test(store, random_ops_against_a_model_no_shrink)
{
    run_model(false, true, 0x5eed0002);
}

/* The same without LRU stamps: the rest of the contract on its own. */
Test(store, random_ops_against_a_model_no_lru)
{
    run_model(true, false, 0x5eed0003);
}

Test(store, random_ops_against_a_model_no_shrink_no_lru)
{
    run_model(false, false, 0x5eed0004);
}

/* ---- LRU stamps of new and moved records ------------------------------------------ */

/* store.h: "The new record has no expire time and no LRU stamp", and a
 * remove moves the last record "with its expire time and LRU stamp". */
Test(store, new_record_has_no_lru_stamp)
{
    store *s = open_store(true, true);
    store_ref a, b;
    cr_assert(store_add(s, 1, "x", 1, &a));
    cr_assert(store_add(s, 2, "y", 1, &b));
    store_set_lru(s, b, 77);
    cr_assert_eq(store_lru(s, b), 77);
    bool lost;
    cr_assert_not(store_remove(s, b, &lost), "the last record: nothing moves");
    store_ref c;
    cr_assert(store_add(s, 3, "z", 1, &c));
    cr_assert_eq(c, b, "the new record takes the freed number");
    cr_assert_eq(store_exp(s, c), 0);
    cr_assert_eq(store_lru(s, c), 0, "a new record is not stamped (got %" PRIu32 ")",
                 store_lru(s, c));
    store_check(s);
    close_store(s);
}

Test(store, moved_record_keeps_its_missing_stamp)
{
    store *s = open_store(true, true);
    /* Record 0 stamped (its block gets a stamps array); the last record,
     * in the next block, never stamped (its block has none). */
    store_ref r0 = 0, r = 0;
    for (uint32_t i = 0; i <= STORE_BLOCK; i++)
        cr_assert(store_add(s, (int64_t)i + 1, "value", 5, &r));
    r0 = store_ref_make(1, 0);
    store_set_lru(s, r0, 1234);
    cr_assert_eq(store_lru(s, r), 0);
    bool lost;
    cr_assert(store_remove(s, r0, &lost));
    cr_assert_eq(store_key(s, r0), (int64_t)STORE_BLOCK + 1, "the last record moved into the hole");
    cr_assert_eq(store_lru(s, r0), 0, "the moved record had no stamp (got %" PRIu32 ")",
                 store_lru(s, r0));
    store_check(s);
    close_store(s);
}

/* ---- draining ----------------------------------------------------------------------- */

Test(store, every_class_drains_to_nothing_and_unmaps)
{
    store *s = open_store(true, true);
    rng_seed(0xd1a1);
    /* Classes 0, 8 and 16 over 2.3 chunks; every other class a few pages. */
    uint64_t want[STORE_CLASSES], total = 0, bytes = 0;
    int64_t *keys[STORE_CLASSES];
    uint32_t n[STORE_CLASSES] = {0};
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        want[c] = c % 8 == 0 ? 2 * per_chunk(c) + per_chunk(c) / 3 : 5 * page() / rec_size(c) + 1;
        keys[c] = own(want[c] * sizeof(int64_t));
        for (uint64_t i = 0; i < want[c]; i++) /* touched before RSS is measured */
            keys[c][i] = key_of((uint64_t)c << 40 | i);
        total += want[c];
        bytes += want[c] * rec_size(c);
    }
    uint64_t base = rss_bytes();
    uint8_t val[STORE_VALUE_MAX];
    rand_bytes(val, sizeof val);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        for (uint64_t i = 0; i < want[c]; i++) {
            store_ref r;
            cr_assert(store_add(s, keys[c][i], val, max_len(c), &r));
            if (i % 3 == 0)
                cr_assert(store_set_exp(s, r, (int64_t)(1 + i)));
            if (i % 2 == 0)
                store_set_lru(s, r, (uint32_t)(1 + i));
        }
        n[c] = (uint32_t)want[c];
        cr_assert_geq(store_chunks(s), 1);
    }
    store_check(s);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        store_class_stats st = class_stats(s, c);
        cr_assert_eq(st.resident_bytes, pages_end(c, n[c]), "class %u", c);
        cr_assert_eq(st.mapped_bytes, mapped_after_adds(c, n[c]), "class %u", c);
        cr_assert_eq(chunks_of(st.mapped_bytes), chunks_for(c, n[c]), "class %u", c);
        if (c % 8 == 0)
            cr_assert_geq(chunks_for(c, n[c]), 3);
        else
            cr_assert_geq(pages_end(c, n[c]), 5 * page());
    }
    cr_assert_geq(store_memory(s), bytes);
    uint64_t full = rss_bytes();
    cr_log_info("drain: %" PRIu64 " records, %" PRIu64 " record bytes, resident %" PRIu64
                ", RSS before %" PRIu64 " KiB, full %" PRIu64 " KiB",
                total, bytes, store_resident(s), base / 1024, full / 1024);
    if (rss_bounds_checked()) {
        cr_assert_geq(full - base + (1u << 20), store_resident(s), "RSS grew by the pages written");
        cr_assert_leq(full - base, store_resident(s) + side_bytes(s) + (1u << 20),
                      "RSS grew by no more than store_resident says");
    }

    /* Remove from random positions, checking the moved record's key. */
    uint64_t left = total, done = 0;
    while (left > 0) {
        uint64_t x = rng_below(left);
        unsigned c = 0;
        while (x >= n[c])
            x -= n[c++];
        uint32_t i = (uint32_t)x, last = n[c] - 1;
        bool lost = true;
        bool moved = store_remove(s, store_ref_make(c, i), &lost);
        cr_assert_not(lost);
        cr_assert_eq(moved, i != last);
        keys[c][i] = keys[c][last];
        n[c]--;
        left--;
        if (moved)
            cr_assert_eq(store_key(s, store_ref_make(c, i)), keys[c][i], "class %u record %" PRIu32,
                         c, i);
        cr_assert_eq(store_class_count(s, c), n[c]);
        if (++done % (total / 8) == 0) {
            store_check(s);
            uint64_t rss = rss_bytes();
            cr_log_info("drain: %" PRIu64 " left, resident %" PRIu64 " KiB, chunks %" PRIu64
                        ", RSS %" PRIu64 " KiB over the start",
                        left, store_resident(s) / 1024, store_chunks(s), (rss - base) / 1024);
            for (unsigned k = 0; k < STORE_CLASSES; k++) {
                store_class_stats st = class_stats(s, k);
                cr_assert_leq(st.resident_bytes, n[k] ? used_end(k, n[k]) + slack_max(k, n[k]) : 0,
                              "class %u gives pages back as it drains", k);
                expect_mapping(k, st.mapped_bytes, n[k], used_end(k, n[k]) + slack_max(k, n[k]));
            }
            if (rss_bounds_checked())
                cr_assert_leq(rss > base ? rss - base : 0,
                              store_resident(s) + side_bytes(s) + (1u << 20),
                              "RSS follows store_resident");
        }
    }
    store_check(s);
    cr_assert_eq(store_count(s), 0);
    cr_assert_eq(store_resident(s), 0, "no page left");
    cr_assert_eq(store_chunks(s), 0, "no chunk left");
    cr_assert_eq(store_memory(s), 0, "no record nor side array left");
    cr_assert_eq(store_expires(s), 0);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        store_class_stats st = class_stats(s, c);
        cr_assert_eq(st.mapped_bytes + st.resident_bytes + st.meta_bytes + st.keys, 0, "class %u",
                     c);
    }
    uint64_t after = rss_bytes();
    cr_log_info("drain: RSS after %" PRIu64 " KiB (start %" PRIu64 " KiB)", after / 1024,
                base / 1024);
    if (rss_bounds_checked())
        cr_assert_leq(after, base + (512u << 10),
                      "RSS back near the start: before %" PRIu64 " full %" PRIu64 " after %" PRIu64,
                      base, full, after);
    close_store(s);
}

/* ---- resident bytes ------------------------------------------------------------------ */

Test(store, resident_follows_the_records)
{
    /* Classes over 2.5 chunks, and some within their first chunk (which
     * grows, then shrinks as its records leave). */
    static const struct {
        unsigned cls;
        unsigned tenths; /* of a chunk */
    } runs[] = {{0, 25}, {1, 25}, {7, 25}, {16, 25}, {4, 9}, {11, 3}};
    rng_seed(0x7e51);
    for (unsigned k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        unsigned c = runs[k].cls;
        store *s = open_store(true, false);
        uint8_t val[STORE_VALUE_MAX];
        rand_bytes(val, sizeof val);
        size_t len = max_len(c);
        uint64_t n = 0, top = per_chunk(c) * runs[k].tenths / 10;
        /* Adds: the pages up to the last record's end, whole chunks before
         * it, and exactly the chunks needed. */
        for (; n < top;) {
            store_ref r;
            cr_assert(store_add(s, (int64_t)n, val, len, &r));
            n++;
            if (store_resident(s) != pages_end(c, n) || store_chunks(s) != chunks_for(c, n))
                cr_assert_fail("class %u, %" PRIu64 " records added: resident %" PRIu64
                               " want %" PRIu64 ", chunks %" PRIu64 " want %" PRIu64,
                               c, n, store_resident(s), pages_end(c, n), store_chunks(s),
                               chunks_for(c, n));
            /* The per-class figures walk the side blocks: look at them
             * around every growth of the first chunk and chunk boundary,
             * and every 61st add. */
            if (n > 8192 && n % 61 != 0 && n % per_chunk(c) > 2)
                continue;
            store_class_stats st = class_stats(s, c);
            cr_assert_eq(st.resident_bytes, store_resident(s));
            if (st.mapped_bytes != mapped_after_adds(c, n))
                cr_assert_fail("class %u, %" PRIu64 " records added: %" PRIu64
                               " bytes mapped, want %" PRIu64,
                               c, n, st.mapped_bytes, mapped_after_adds(c, n));
        }
        store_check(s);
        /* Removes from random positions down to a third (a tenth within
         * the first chunk, so that it must shrink): the slack past
         * the last record stays under two discard steps + a page
         * (slack_max), and one spare chunk at most. */
        uint64_t least_slack = UINT64_MAX, most_slack = 0;
        uint64_t low = runs[k].tenths < 10 ? top / 10 : top / 3;
        while (n > low) {
            bool lost;
            (void)store_remove(s, store_ref_make(c, (uint32_t)rng_below(n)), &lost);
            n--;
            uint64_t res = store_resident(s), end = used_end(c, n);
            if (res < pages_end(c, n) || res >= end + slack_max(c, n))
                cr_assert_fail("class %u, %" PRIu64 " records left: resident %" PRIu64
                               ", last record ends at %" PRIu64,
                               c, n, res, end);
            if (store_chunks(s) < chunks_for(c, n) || store_chunks(s) > chunks_for(c, n) + 1)
                cr_assert_fail("class %u, %" PRIu64 " records left: %" PRIu64 " chunks, %" PRIu64
                               " needed",
                               c, n, store_chunks(s), chunks_for(c, n));
            if (n % 61 == 0 || n < 8192)
                expect_mapping(c, class_stats(s, c).mapped_bytes, n, end + slack_max(c, n));
            if (res - end < least_slack)
                least_slack = res - end;
            if (res - end > most_slack)
                most_slack = res - end;
        }
        store_check(s);
        store_class_stats mid = class_stats(s, c);
        cr_log_info("class %u: slack past the last record %" PRIu64 "..%" PRIu64
                    " bytes while draining to %" PRIu64 " records (%" PRIu64 " bytes mapped)",
                    c, least_slack, most_slack, n, mid.mapped_bytes);
        if (runs[k].tenths < 10)
            cr_assert_lt(mid.mapped_bytes, 4 * (used_end(c, n) + slack_max(c, n)),
                         "class %u: the first chunk shrank with its records", c);
        /* Adds again: resident grows only when a record passes it. */
        for (uint64_t j = 0; j < per_chunk(c) / 2; j++) {
            uint64_t before = store_resident(s);
            store_ref r;
            cr_assert(store_add(s, (int64_t)(top + j), val, len, &r));
            n++;
            uint64_t want = before > pages_end(c, n) ? before : pages_end(c, n);
            if (store_resident(s) != want)
                cr_assert_fail("class %u, %" PRIu64 " records after regrowing: resident %" PRIu64
                               " want %" PRIu64,
                               c, n, store_resident(s), want);
        }
        /* Everything out. */
        while (n > 0) {
            bool lost;
            (void)store_remove(s, store_ref_make(c, (uint32_t)rng_below(n)), &lost);
            n--;
        }
        store_check(s);
        cr_assert_eq(store_resident(s), 0, "class %u: empty", c);
        cr_assert_eq(store_chunks(s), 0, "class %u: empty", c);
        close_store(s);
    }
}

Test(store, small_stores_stay_small)
{
    store *s = open_store(true, true);
    uint8_t val[STORE_VALUE_MAX];
    memset(val, 0xab, sizeof val);
    store_ref r;
    cr_assert_eq(store_resident(s) + store_chunks(s) + store_memory(s), 0, "nothing mapped yet");
    cr_assert(store_add(s, 7, val, 5, &r));
    cr_assert_eq(store_ref_class(r), 1);
    cr_assert_eq(store_resident(s), page(), "one record, one page");
    cr_assert_eq(store_memory(s), rec_size(1), "one record's bytes");
    cr_assert_eq(store_chunks(s), 1);
    cr_assert_eq(class_stats(s, 1).mapped_bytes, page(), "one record maps one page");
    /* The page fills before a second is written. */
    uint64_t fit = page() / rec_size(1);
    for (uint64_t i = 1; i < fit; i++)
        cr_assert(store_add(s, (int64_t)(100 + i), val, 8, &r));
    cr_assert_eq(store_resident(s), page(), "%" PRIu64 " records in one page", fit);
    cr_assert(store_add(s, 99, val, 6, &r));
    cr_assert_eq(store_resident(s), 2 * page(), "the next record reaches the second page");
    cr_assert_eq(class_stats(s, 1).mapped_bytes, 2 * page(), "the first chunk doubled");
    cr_assert_eq(store_memory(s), (fit + 1) * rec_size(1));
    bool lost;
    while (store_class_count(s, 1) > 0)
        (void)store_remove(s, store_ref_make(1, 0), &lost);
    cr_assert_eq(store_resident(s) + store_chunks(s) + store_memory(s), 0, "empty again");

    /* One record in each class: a page each, and exactly their bytes. */
    uint64_t bytes = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        cr_assert(store_add(s, (int64_t)c, val, max_len(c), &r));
        cr_assert_eq(store_ref_class(r), c);
        bytes += rec_size(c);
    }
    store_check(s);
    cr_assert_eq(store_resident(s), STORE_CLASSES * page(), "a page per class");
    cr_assert_eq(store_chunks(s), STORE_CLASSES);
    cr_assert_eq(store_memory(s), bytes, "store_memory %" PRIu64 ", records %" PRIu64,
                 store_memory(s), bytes);
    cr_assert_eq(bytes, STORE_CLASSES * 13u + 4u * (STORE_CLASSES - 1) * STORE_CLASSES / 2);
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        store_class_stats st = class_stats(s, c);
        cr_assert_eq(st.resident_bytes, page(), "class %u", c);
        cr_assert_eq(st.record_bytes, rec_size(c), "class %u", c);
        cr_assert_eq(st.mapped_bytes, page(), "class %u: one page mapped", c);
    }
    /* A TTL maps one expire array, an LRU stamp one stamps array; both go
     * when the record does. */
    cr_assert(store_set_exp(s, store_ref_make(3, 0), 1000));
    cr_assert_eq(store_memory(s), bytes + EXP_ARRAY);
    store_set_lru(s, store_ref_make(3, 0), 5);
    cr_assert_eq(store_memory(s), bytes + EXP_ARRAY + LRU_ARRAY);
    cr_assert(store_set_exp(s, store_ref_make(3, 0), 0));
    cr_assert_eq(store_memory(s), bytes + LRU_ARRAY, "clearing the only TTL unmaps its array");
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        (void)store_remove(s, store_ref_make(c, 0), &lost);
    cr_assert_eq(store_resident(s) + store_chunks(s) + store_memory(s), 0, "empty again");
    close_store(s);
}

/* ---- locating records ------------------------------------------------------------------ */

static void expect_quotient(const store *s, unsigned c, uint64_t n)
{
    uint64_t q = (n * s->cls[c].magic) >> s->cls[c].shift, want = n / s->cls[c].per_chunk;
    if (q != want)
        cr_assert_fail("class %u: record %" PRIu64 " in chunk %" PRIu64 ", want %" PRIu64
                       " (magic %" PRIu64 ", shift %u, per_chunk %" PRIu32 ")",
                       c, n, q, want, s->cls[c].magic, s->cls[c].shift, s->cls[c].per_chunk);
}

Test(store, reciprocal_division_is_exact)
{
    store *s = open_store(true, false);
    rng_seed(0xd171);
    uint64_t checked = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        uint64_t pc = s->cls[c].per_chunk;
        cr_assert_eq(pc, per_chunk(c), "class %u: whole records per 2 MiB", c);
        cr_assert_eq(s->cls[c].size, rec_size(c));
        /* The constants are those store.c's comment describes. */
        unsigned l = 0;
        while (((uint64_t)1 << l) < pc)
            l++;
        cr_assert_eq(s->cls[c].shift, 32 + l, "class %u shift", c);
        cr_assert_eq(s->cls[c].magic, ((uint64_t)1 << (32 + l)) / pc + 1, "class %u magic", c);
        for (uint64_t k = 0; k <= STORE_CLASS_MAX / pc + 1; k++)
            for (int d = -1; d <= 1; d++) {
                uint64_t n = k * pc + (uint64_t)(int64_t)d;
                if ((d < 0 && k == 0) || n > STORE_CLASS_MAX)
                    continue;
                expect_quotient(s, c, n);
                checked++;
            }
        expect_quotient(s, c, STORE_CLASS_MAX);
        for (int j = 0; j < 1000000; j++)
            expect_quotient(s, c, rng_below((uint64_t)STORE_CLASS_MAX + 1));
        checked += 1000001;
    }
    cr_log_info("reciprocals: %" PRIu64 " record numbers checked", checked);

    /* Through the public API: in every class, the last record of chunk 0
     * ends inside it and the first of chunk 1 starts a 2 MiB-aligned chunk. */
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        uint64_t pc = per_chunk(c);
        store_ref r;
        for (uint64_t i = 0; i < pc + 2; i++)
            cr_assert(store_add(s, (int64_t)(c * 10000000u + i), some_bytes, max_len(c) - 2, &r));
        const uint8_t *a = store_rec(s, store_ref_make(c, 0));
        const uint8_t *b = store_rec(s, store_ref_make(c, (uint32_t)(pc - 1)));
        const uint8_t *d = store_rec(s, store_ref_make(c, (uint32_t)pc));
        cr_assert_eq((uintptr_t)a % CHUNK, 0, "class %u: record 0 starts a chunk", c);
        cr_assert_eq(b, a + (pc - 1) * rec_size(c), "class %u: records dense in chunk 0", c);
        cr_assert_leq(b + rec_size(c), a + CHUNK, "class %u: no record straddles", c);
        cr_assert_eq((uintptr_t)d % CHUNK, 0, "class %u: record %" PRIu64 " starts chunk 1", c, pc);
        cr_assert_eq(store_rec(s, store_ref_make(c, (uint32_t)pc + 1)), d + rec_size(c));
        for (uint64_t i = pc - 3; i < pc + 2; i++)
            cr_assert_eq(store_key(s, store_ref_make(c, (uint32_t)i)),
                         (int64_t)(c * 10000000u + i));
        cr_assert_eq(store_chunks(s), 2 * (c + 1));
    }
    store_check(s);
    close_store(s);
}

/* ---- sampling ---------------------------------------------------------------------------- */

Test(store, sample_is_uniform_over_records)
{
    store *s = open_store(true, false);
    rng_seed(0x5a3b);
    store_ref r;
    cr_assert_not(store_sample(s, 12345, false, &r), "empty store");
    cr_assert_not(store_sample(s, 12345, true, &r), "empty store");
    /* Several classes, several blocks in some. */
    static const struct {
        unsigned cls;
        uint32_t n;
    } fill[] = {{0, 1}, {2, 3000}, {5, 2048}, {9, 4500}, {16, 70}};
    uint64_t total = 0;
    for (unsigned f = 0; f < sizeof fill / sizeof fill[0]; f++) {
        for (uint32_t i = 0; i < fill[f].n; i++)
            cr_assert(store_add(s, (int64_t)total++, some_bytes,
                                fill[f].cls == 0 ? 0 : 8 * fill[f].cls, &r));
    }
    cr_assert_eq(store_count(s), total);
    cr_assert_not(store_sample(s, 12345, true, &r), "no record has a TTL");

    /* Uniform: every record about `per` times (chi-square over records). */
    const uint64_t per = 200;
    uint32_t *hits = own(total * sizeof *hits);
    memset(hits, 0, total * sizeof *hits);
    for (uint64_t j = 0; j < per * total; j++) {
        cr_assert(store_sample(s, rng(), false, &r));
        int64_t key = store_key(s, r); /* keys are 0..total-1 */
        cr_assert(key >= 0 && (uint64_t)key < total, "sampled a record that is not there");
        hits[key]++;
    }
    double chi = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint64_t k = 0; k < total; k++) {
        double d = (double)hits[k] - (double)per;
        chi += d * d / (double)per;
        lo = hits[k] < lo ? hits[k] : lo;
        hi = hits[k] > hi ? hits[k] : hi;
    }
    double dof = (double)(total - 1), sd = 1.4142135623730951 * sqrt_d(dof);
    cr_log_info("sample: %" PRIu64 " records x %" PRIu64 ": hits %" PRIu32 "..%" PRIu32
                ", chi-square %.0f (dof %.0f)",
                total, per, lo, hi, chi, dof);
    cr_assert_lt(chi, dof + 6 * sd, "chi-square %.0f over %.0f degrees of freedom", chi, dof);
    cr_assert_gt(chi, dof - 6 * sd, "too even to be random: chi-square %.0f", chi);
    cr_assert_geq(lo, per / 2);
    cr_assert_leq(hi, per * 3 / 2);

    /* with_ttl: only records with an expire time, every one of them, each
     * class in proportion to its TTLs. */
    uint64_t ttls = 0, cls_ttls[STORE_CLASSES] = {0};
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        for (uint32_t i = 0; i < store_class_count(s, c); i++)
            if (rng_below(3) == 0) {
                cr_assert(store_set_exp(s, store_ref_make(c, i), 1000 + i));
                ttls++;
                cls_ttls[c]++;
            }
    cr_assert_eq(store_expires(s), ttls);
    memset(hits, 0, total * sizeof *hits);
    uint64_t cls_hits[STORE_CLASSES] = {0}, samples = 300 * ttls;
    for (uint64_t j = 0; j < samples; j++) {
        cr_assert(store_sample(s, rng(), true, &r), "records have TTLs");
        cr_assert_neq(store_exp(s, r), 0,
                      "with_ttl picked class %u record %" PRIu32 ", which has no TTL",
                      store_ref_class(r), store_ref_index(r));
        hits[store_key(s, r)]++;
        cls_hits[store_ref_class(r)]++;
    }
    uint64_t never = 0;
    lo = UINT32_MAX;
    hi = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        for (uint32_t i = 0; i < store_class_count(s, c); i++) {
            store_ref q = store_ref_make(c, i);
            uint32_t h = hits[store_key(s, q)];
            if (store_exp(s, q) == 0)
                continue;
            never += h == 0;
            lo = h < lo ? h : lo;
            hi = h > hi ? h : hi;
        }
    cr_log_info("sample with_ttl: %" PRIu64 " records with a TTL x 300: hits %" PRIu32 "..%" PRIu32,
                ttls, lo, hi);
    cr_assert_eq(never, 0, "%" PRIu64 " records with a TTL never sampled", never);
    chi = 0;
    unsigned used = 0;
    for (unsigned c = 0; c < STORE_CLASSES; c++) {
        if (cls_ttls[c] == 0) {
            cr_assert_eq(cls_hits[c], 0, "class %u has no TTL", c);
            continue;
        }
        double e = (double)samples * (double)cls_ttls[c] / (double)ttls;
        chi += ((double)cls_hits[c] - e) * ((double)cls_hits[c] - e) / e;
        used++;
    }
    cr_assert_lt(chi, 40.0,
                 "classes sampled out of proportion to their TTLs: chi-square %.1f (%u classes)",
                 chi, used);
    close_store(s);
}

/* ---- store_clear ------------------------------------------------------------------------ */

Test(store, clear_unmaps_everything_and_the_store_is_reusable)
{
    store *s = open_store(false, true);
    store_ref r;
    for (uint32_t i = 0; i < 40000; i++) {
        cr_assert(store_add(s, i, "0123456789abcdef0123456789abcdef", i % 33, &r));
        if (i % 5 == 0)
            cr_assert(store_set_exp(s, r, 1 + i));
        store_set_lru(s, r, i + 1);
    }
    store_check(s);
    cr_assert_gt(store_memory(s), 0);
    store_clear(s);
    store_check(s);
    cr_assert_eq(store_count(s), 0);
    cr_assert_eq(store_memory(s) + store_resident(s) + store_chunks(s) + store_expires(s), 0);
    for (unsigned c = 0; c < STORE_CLASSES; c++)
        cr_assert_eq(store_class_count(s, c), 0);
    cr_assert(store_add(s, 5, "abcde", 5, &r));
    cr_assert_eq(r, store_ref_make(1, 0));
    cr_assert_eq(store_key(s, r), 5);
    cr_assert_eq(store_exp(s, r), 0);
    cr_assert_eq(store_lru(s, r), 0);
    cr_assert_eq(store_resident(s), page());
    close_store(s);
}

/* A big store with a prefaulter: its window reaches at most one chunk past
 * the last (plain window, promote off: 4.25 MiB), and a drain from the tail
 * (1 MiB discard steps plus the window) never leaves resident bytes above
 * the chunks still mapped. store_check after every step asserts both. */
Test(store, big_store_with_a_prefaulter_drains_within_its_chunks, .timeout = 120)
{
    for (int promote = 0; promote <= 1; promote++) {
        store *s = open_store(true, false);
        the_stage.pf = tt_prefault_new();
        cr_assert_not_null(the_stage.pf, "no prefaulter on this kernel");
        store_options o = {.auto_shrink = true, .huge_pages = true, .promote = promote != 0};
        store_set_options(s, &o);
        const uint32_t n = 400000; /* 137-byte records: 55 MB, a big store */
        store_ref r;
        for (uint32_t k = 0; k < n; k++) {
            cr_assert(store_add(s, k, some_bytes, STORE_VALUE_MAX, &r), "add %u", k);
            if (k % 50000 == 0)
                store_check(s);
        }
        store_check(s);
        cr_assert(store_big(s));
        bool lost;
        for (uint32_t k = n; k > 0; k--) {
            (void)store_remove(s, store_ref_make(STORE_CLASSES - 1, k - 1), &lost);
            if (k % 5000 == 0)
                store_check(s);
        }
        store_check(s);
        cr_assert_eq(store_resident(s), 0);
        cr_assert_eq(store_chunks(s), 0);
        close_store(s);
        tt_prefault_free(the_stage.pf);
        the_stage.pf = NULL;
    }
}
