#include "db.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db {
    db_ns *ns; /* ns[0] is the default namespace */
    size_t count;
    size_t cap;
    unsigned max_named;
    size_t last_hit;  /* index of the last namespace found: most traffic hits one */
    size_t step_next; /* round-robin start for db_step */
    table_options topt;
    uint32_t next_id;  /* id of the next named namespace */
    table **graveyard; /* detached by db_flush_async, freed by db_reap */
    size_t ngrave;
    /* Counters of tables that are gone (dropped namespaces, flushes), so
     * that the totals only ever grow, as counters must. */
    uint64_t gone_grows, gone_shrinks_auto, gone_shrinks_manual, gone_expired;
    uint64_t gone_prefault_waits;
    uint64_t gone_promotions;
    db_quota *quotas; /* db_set_quotas's list, for namespaces made later */
    size_t nquotas;
};

/* Keep t's counters before it is destroyed or detached. */
static void retire(db *d, const table *t)
{
    table_stats st;
    table_get_stats(t, &st);
    d->gone_grows += st.grows;
    d->gone_shrinks_auto += st.shrinks_auto;
    d->gone_shrinks_manual += st.shrinks_manual;
    d->gone_expired += st.expired;
    d->gone_prefault_waits += st.prefault_waits;
    d->gone_promotions += st.promotions;
}

/* Namespace characters [A-Za-z0-9_.-], as a table: one load per byte. */
static const bool ns_char[256] = {
    ['-'] = true, ['.'] = true, ['_'] = true, ['0'] = true, ['1'] = true, ['2'] = true,
    ['3'] = true, ['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true,
    ['9'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true,
    ['F'] = true, ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true, ['K'] = true,
    ['L'] = true, ['M'] = true, ['N'] = true, ['O'] = true, ['P'] = true, ['Q'] = true,
    ['R'] = true, ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true,
    ['X'] = true, ['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true,
    ['d'] = true, ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true,
    ['j'] = true, ['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true,
    ['p'] = true, ['q'] = true, ['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true,
    ['v'] = true, ['w'] = true, ['x'] = true, ['y'] = true, ['z'] = true,
};

/* Decimal digits that cannot overflow an int64 whatever they are:
 * 10^18 - 1 < INT64_MAX. Real keys have fewer (redis-benchmark's 12). */
#define FAST_DIGITS_MAX 18u

#define BYTES_30 0x3030303030303030ull
#define BYTES_F0 0xf0f0f0f0f0f0f0f0ull
#define BYTES_06 0x0606060606060606ull
#define BYTES_33 0x3333333333333333ull

static inline uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/*
 * Eight ASCII digits at once (SWAR). w holds them as loaded little-endian:
 * the first digit in the low byte. A byte is a digit 0x30..0x39 exactly when
 * its high nibble is 3 both before and after adding 6 (0x3a..0x3f become
 * 0x40..0x45, 0x2a..0x2f become 0x30..0x35): the high nibbles before, and
 * those after shifted down into the low nibbles, must make 0x33 in every
 * byte. A carry out of a byte (only from 0xfa..0xff) can spoil the check of
 * the next byte, but that byte's own check has failed already.
 * Then the digits are combined pairwise: each step multiplies adjacent
 * fields by (10^k << width) + 1 and keeps the sum, so 8 digits take 3
 * multiplies instead of 8 multiply-adds.
 */
static inline bool digits8(uint64_t w, uint64_t *v)
{
    if (((w & BYTES_F0) | (((w + BYTES_06) & BYTES_F0) >> 4)) != BYTES_33)
        return false;
    w -= BYTES_30;
    w = (w * 10 + (w >> 8)) & 0x00ff00ff00ff00ffull;   /* 4 x 2 digits */
    w = (w * 100 + (w >> 16)) & 0x0000ffff0000ffffull; /* 2 x 4 digits */
    *v = (w * 10000 + (w >> 32)) & 0xffffffffull;      /* 8 digits */
    return true;
}

/* The k (1..8) digits ending at end, read as the 8 bytes before end with
 * the 8 - k bytes that are not digits of ours (they come first, in the low
 * bytes) replaced by '0'. The caller guarantees those 8 bytes are its own. */
static inline bool digits_tail(const char *end, size_t k, uint64_t *v)
{
    uint64_t w = load8(end - 8);
    if (k < 8) {
        uint64_t mask = (1ull << (8 * (8 - k))) - 1; /* the foreign bytes */
        w = (w & ~mask) | (BYTES_30 & mask);
    }
    return digits8(w, v);
}

static const uint64_t pow10[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* The digits num[0..n) (n >= 1) as a magnitude, negated if neg; false if a
 * byte is not a digit or the value leaves int64. `room` is how many bytes
 * before num are the caller's too (at least 0): with 8 bytes ending at the
 * last digit readable, up to 16 digits go 8 at a time. */
static bool parse_id(const char *num, size_t n, size_t room, bool neg, int64_t *out)
{
    if (n <= 16 && n + room >= 8) {
        uint64_t hi = 0, lo;
        if (n > 8 && !digits8(load8(num), &hi))
            return false;
        size_t k = n > 8 ? n - 8 : n;
        if (!digits_tail(num + n, k, &lo))
            return false;
        uint64_t v = hi * pow10[k] + lo;
        *out = neg ? -(int64_t)v : (int64_t)v;
        return true;
    }
    if (n <= FAST_DIGITS_MAX) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned char)num[i] - (unsigned)'0';
            if (d > 9)
                return false;
            v = v * 10 + d;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return true;
    }
    /* Long (leading zeros, or out of range): accumulate as a negative
     * number so INT64_MIN fits, checking each step. */
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)num[i] - '0';
        if (d > 9)
            return false;
        if (v < (INT64_MIN + (int64_t)d) / 10)
            return false;
        v = v * 10 - (int64_t)d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return false;
        v = -v;
    }
    *out = v;
    return true;
}

bool db_parse_key(const char *p, size_t len, db_key *out)
{
    /* The namespace is what precedes the first ':'. One pass over the run
     * of namespace characters at the front finds it: digits and '-' are
     * namespace characters too, so a bare integer is a run that reaches
     * the end. The run is followed at most one byte past the longest
     * namespace; only a longer run (a long number, or an invalid key)
     * needs the colon searched for. */
    size_t lim = len < DB_NS_NAME_MAX + 1 ? len : DB_NS_NAME_MAX + 1;
    size_t i = 0;
    while (i < lim && ns_char[(unsigned char)p[i]])
        i++;
    out->ns = p;
    out->nslen = 0;
    const char *num = p;
    size_t numlen = len;
    if (i < len && p[i] == ':') {
        if (i == 0 || i > DB_NS_NAME_MAX)
            return false;
        out->nslen = i;
        num = p + i + 1;
        numlen = len - i - 1;
    } else if (i < len) {
        /* Stopped early on a byte that is neither ':' nor a namespace
         * character: it is in the namespace or in the number, invalid
         * either way. Past the limit: a colon further on would end a
         * namespace that is too long. */
        if (i < lim || memchr(p + i, ':', len - i) != NULL)
            return false;
    }
    bool neg = false;
    if (numlen > 0 && num[0] == '-') {
        neg = true;
        num++;
        numlen--;
    }
    if (numlen == 0)
        return false;
    return parse_id(num, numlen, (size_t)(num - p), neg, &out->id);
}

size_t db_format_key(const char *ns, size_t nslen, int64_t id, char *dst)
{
    /* By hand rather than snprintf: snapshots and SCAN format every key. */
    size_t n = 0;
    if (nslen > 0) {
        memcpy(dst, ns, nslen);
        dst[nslen] = ':';
        n = nslen + 1;
    }
    uint64_t u = id < 0 ? 0 - (uint64_t)id : (uint64_t)id;
    if (id < 0)
        dst[n++] = '-';
    char digits[20];
    size_t d = 0;
    do {
        digits[d++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (d > 0)
        dst[n++] = digits[--d];
    dst[n] = '\0';
    return n;
}

db *db_create(unsigned max_namespaces, const table_options *topt)
{
    db *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->topt = topt != NULL ? *topt : (table_options){.auto_shrink = true};
    d->max_named = max_namespaces;
    d->cap = 8;
    d->ns = calloc(d->cap, sizeof *d->ns);
    if (d->ns == NULL || (d->ns[0].t = table_create(&d->topt)) == NULL) {
        free(d->ns);
        free(d);
        return NULL;
    }
    d->count = 1;
    d->next_id = 1;
    return d;
}

void db_destroy(db *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->ngrave; i++)
        table_destroy(d->graveyard[i]);
    free(d->graveyard);
    for (size_t i = 0; i < d->count; i++)
        table_destroy(d->ns[i].t);
    free(d->ns);
    free(d->quotas);
    free(d);
}

void db_set_max_namespaces(db *d, unsigned max)
{
    d->max_named = max;
}

void db_set_table_options(db *d, const table_options *topt)
{
    d->topt = *topt;
    for (size_t i = 0; i < d->count; i++)
        table_set_options(d->ns[i].t, topt);
}

/* Namespace names are short: a byte loop beats a call to memcmp. */
static bool ns_eq(const db_ns *n, const char *name, size_t len)
{
    if (n->namelen != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (n->name[i] != name[i])
            return false;
    return true;
}

/* Namespace `name` (len > 0), or NULL if there is none. */
static inline db_ns *find_named(db *d, const char *name, size_t len)
{
    assert(len <= DB_NS_NAME_MAX);
    if (ns_eq(&d->ns[d->last_hit], name, len))
        return &d->ns[d->last_hit];
    for (size_t i = 1; i < d->count; i++) {
        if (ns_eq(&d->ns[i], name, len)) {
            d->last_hit = i;
            return &d->ns[i];
        }
    }
    return NULL;
}

db_ns *db_find(db *d, const char *name, size_t len)
{
    return len == 0 ? &d->ns[0] : find_named(d, name, len);
}

const db_ns *db_find_table(const db *d, const table *t)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->ns[i].t == t)
            return &d->ns[i];
    return NULL;
}

/* The quota the list gives namespace `name`, 0 if none. */
static uint64_t quota_of(const db *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->nquotas; i++)
        if (d->quotas[i].len == len && memcmp(d->quotas[i].name, name, len) == 0)
            return d->quotas[i].bytes;
    return 0;
}

bool db_set_quotas(db *d, const db_quota *q, size_t n)
{
    db_quota *copy = NULL;
    if (n > 0) {
        copy = malloc(n * sizeof *copy);
        if (copy == NULL)
            return false;
        memcpy(copy, q, n * sizeof *copy);
    }
    free(d->quotas);
    d->quotas = copy;
    d->nquotas = n;
    for (size_t i = 0; i < d->count; i++)
        d->ns[i].maxmemory = quota_of(d, d->ns[i].name, d->ns[i].namelen);
    return true;
}

/* Add namespace `name` (db_table's create). Out of line, so that the
 * lookup before it, which every request makes, keeps a short prologue:
 * with the quota's search inlined beside it, db_table took 3 more
 * instructions per call. */
static __attribute__((noinline)) db_status add_named(db *d, const char *name, size_t len,
                                                     table **out)
{
    if (d->count - 1 >= d->max_named)
        return DB_NS_LIMIT;
    if (d->count == d->cap) {
        db_ns *nn = realloc(d->ns, d->cap * 2 * sizeof *nn);
        if (nn == NULL)
            return DB_NOMEM;
        d->ns = nn;
        d->cap *= 2;
    }
    table *t = table_create(&d->topt);
    if (t == NULL)
        return DB_NOMEM;
    db_ns *n = &d->ns[d->count];
    memset(n, 0, sizeof *n);
    n->t = t;
    n->id = d->next_id++;
    n->namelen = (uint8_t)len;
    memcpy(n->name, name, len);
    n->maxmemory = quota_of(d, name, len);
    d->last_hit = d->count++;
    *out = t;
    return DB_OK;
}

db_status db_table(db *d, const char *name, size_t len, bool create, table **out)
{
    *out = NULL;
    if (len == 0) {
        *out = d->ns[0].t;
        return DB_OK;
    }
    db_ns *found = find_named(d, name, len);
    if (found != NULL) {
        *out = found->t;
        return DB_OK;
    }
    return create ? add_named(d, name, len, out) : DB_NO_NAMESPACE;
}

size_t db_ns_count(const db *d)
{
    return d->count;
}

const db_ns *db_ns_at(const db *d, size_t i)
{
    assert(i < d->count);
    return &d->ns[i];
}

uint64_t db_size(const db *d)
{
    uint64_t n = 0;
    for (size_t i = 0; i < d->count; i++)
        n += table_count(d->ns[i].t);
    return n;
}

void db_total_class_stats(const db *d, table_class_stats out[TABLE_CLASSES])
{
    for (unsigned k = 0; k < TABLE_CLASSES; k++) {
        memset(&out[k], 0, sizeof out[k]);
        for (size_t i = 0; i < d->count; i++) {
            table_class_stats st;
            table_get_class_stats(d->ns[i].t, k, &st);
            out[k].record_size = st.record_size;
            out[k].keys += st.keys;
            out[k].record_bytes += st.record_bytes;
            out[k].resident_bytes += st.resident_bytes;
            out[k].mapped_bytes += st.mapped_bytes;
            out[k].huge_bytes += st.huge_bytes;
            out[k].meta_bytes += st.meta_bytes;
        }
    }
}

void db_total_stats(const db *d, table_stats *tot)
{
    memset(tot, 0, sizeof *tot);
    tot->grows = d->gone_grows;
    tot->shrinks_auto = d->gone_shrinks_auto;
    tot->shrinks_manual = d->gone_shrinks_manual;
    tot->expired = d->gone_expired;
    tot->prefault_waits = d->gone_prefault_waits;
    tot->promotions = d->gone_promotions;
    for (size_t i = 0; i < d->count; i++) {
        table_stats st;
        table_get_stats(d->ns[i].t, &st);
        tot->count += st.count;
        tot->buckets += st.buckets;
        tot->overflow_buckets += st.overflow_buckets;
        tot->old_buckets += st.old_buckets;
        tot->migrating |= st.migrating;
        tot->index_bytes += st.index_bytes;
        tot->payload_bytes += st.payload_bytes;
        tot->record_bytes += st.record_bytes;
        tot->record_chunks += st.record_chunks;
        tot->grows += st.grows;
        tot->shrinks_auto += st.shrinks_auto;
        tot->shrinks_manual += st.shrinks_manual;
        tot->expires += st.expires;
        tot->expired += st.expired;
        tot->meta_bytes += st.meta_bytes;
        tot->prefault_waits += st.prefault_waits;
        tot->promotions += st.promotions;
        tot->huge_record_bytes += st.huge_record_bytes;
        tot->huge_index_bytes += st.huge_index_bytes;
        tot->promote_pending |= st.promote_pending;
        /* Mean of means, weighted by keys with a TTL. */
        if (tot->expires > 0)
            tot->avg_expire_at += (int64_t)(((__int128)st.avg_expire_at - tot->avg_expire_at) *
                                            (__int128)st.expires / (__int128)tot->expires);
    }
    /* Detached tables still hold their mappings until reaped. */
    for (size_t i = 0; i < d->ngrave; i++) {
        table_stats st;
        table_get_stats(d->graveyard[i], &st);
        tot->index_bytes += st.index_bytes;
        tot->payload_bytes += st.payload_bytes;
        tot->meta_bytes += st.meta_bytes;
    }
}

bool db_flush_async(db *d)
{
    table *fresh = table_create(&d->topt);
    table **g = realloc(d->graveyard, (d->ngrave + d->count) * sizeof *g);
    if (fresh == NULL || g == NULL) {
        table_destroy(fresh);
        if (g != NULL)
            d->graveyard = g;
        return false;
    }
    d->graveyard = g;
    for (size_t i = 0; i < d->count; i++) {
        retire(d, d->ns[i].t);
        d->graveyard[d->ngrave++] = d->ns[i].t;
    }
    d->ns[0].t = fresh;
    d->count = 1;
    d->last_hit = 0;
    d->step_next = 0;
    return true;
}

bool db_reap(db *d, uint64_t max_bytes)
{
    while (d->ngrave > 0) {
        table *t = d->graveyard[d->ngrave - 1];
        table_stats st;
        table_get_stats(t, &st);
        uint64_t held = st.index_bytes + st.payload_bytes + st.meta_bytes;
        if (table_destroy_step(t, max_bytes))
            return true;
        table_destroy(t);
        d->ngrave--;
        max_bytes = held < max_bytes ? max_bytes - held : 0;
        if (max_bytes == 0)
            return d->ngrave > 0;
    }
    free(d->graveyard);
    d->graveyard = NULL;
    return false;
}

void db_flush(db *d)
{
    table_clear(d->ns[0].t); /* keeps its counters */
    for (size_t i = 1; i < d->count; i++) {
        retire(d, d->ns[i].t);
        table_destroy(d->ns[i].t);
    }
    d->count = 1;
    d->last_hit = 0;
    d->step_next = 0;
}

size_t db_release_empty(db *d)
{
    size_t kept = 1, dropped = 0;
    for (size_t i = 1; i < d->count; i++) {
        if (table_count(d->ns[i].t) == 0 && !table_snap_active(d->ns[i].t)) {
            retire(d, d->ns[i].t);
            table_destroy(d->ns[i].t);
            dropped++;
        } else {
            d->ns[kept++] = d->ns[i];
        }
    }
    d->count = kept;
    d->last_hit = 0;
    d->step_next = 0;
    return dropped;
}

bool db_release_ns(db *d, const char *name, size_t len)
{
    for (size_t i = 1; i < d->count; i++) {
        if (!ns_eq(&d->ns[i], name, len))
            continue;
        if (table_count(d->ns[i].t) != 0 || table_snap_active(d->ns[i].t))
            return false;
        retire(d, d->ns[i].t);
        table_destroy(d->ns[i].t);
        memmove(&d->ns[i], &d->ns[i + 1], (d->count - i - 1) * sizeof d->ns[0]);
        d->count--;
        d->last_hit = 0;
        d->step_next = 0;
        return true;
    }
    return false;
}

bool db_step(db *d, unsigned work)
{
    bool busy = false;
    for (size_t k = 0; k < d->count; k++) {
        size_t i = (d->step_next + k) % d->count;
        table_stats st;
        table_get_stats(d->ns[i].t, &st);
        if (!st.migrating && !st.promote_pending)
            continue;
        unsigned left = (unsigned)(st.old_buckets - st.migrated);
        unsigned w = left < work ? left : work;
        busy |= table_step(d->ns[i].t, w);
        work -= w;
        if (work == 0) {
            d->step_next = i;
            return true;
        }
    }
    return busy;
}
