#include "db.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db {
    db_ns *ns;          /* ns[0] is the default namespace */
    size_t count;
    size_t cap;
    unsigned max_named;
    size_t last_hit;    /* index of the last namespace found: most traffic hits one */
    size_t step_next;   /* round-robin start for db_step */
    table_options topt;
    uint32_t next_id;   /* id of the next named namespace */
    table **graveyard;  /* detached by db_flush_async, freed by db_reap */
    size_t ngrave;
};

static bool ns_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

bool db_parse_key(const char *p, size_t len, db_key *out)
{
    const char *colon = memchr(p, ':', len);
    const char *num = p;
    size_t numlen = len;
    out->ns = p;
    out->nslen = 0;
    if (colon != NULL) {
        size_t nl = (size_t)(colon - p);
        if (nl == 0 || nl > DB_NS_NAME_MAX)
            return false;
        for (size_t i = 0; i < nl; i++)
            if (!ns_char_ok((unsigned char)p[i]))
                return false;
        out->nslen = nl;
        num = colon + 1;
        numlen = len - nl - 1;
    }
    bool neg = false;
    if (numlen > 0 && num[0] == '-') {
        neg = true;
        num++;
        numlen--;
    }
    if (numlen == 0)
        return false;
    /* Accumulate as a negative number so INT64_MIN fits. Leading zeros are
     * harmless: they add nothing. */
    int64_t v = 0;
    for (size_t i = 0; i < numlen; i++) {
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
    out->id = v;
    return true;
}

size_t db_format_key(const char *ns, size_t nslen, int64_t id, char *dst)
{
    int n = nslen > 0 ? snprintf(dst, DB_KEY_TEXT_MAX, "%.*s:%lld", (int)nslen, ns,
                                 (long long)id)
                      : snprintf(dst, DB_KEY_TEXT_MAX, "%lld", (long long)id);
    return (size_t)n;
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
    free(d);
}

void db_set_max_namespaces(db *d, unsigned max) { d->max_named = max; }

void db_set_table_options(db *d, const table_options *topt)
{
    d->topt = *topt;
    for (size_t i = 0; i < d->count; i++)
        table_set_options(d->ns[i].t, topt);
}

static bool ns_eq(const db_ns *n, const char *name, size_t len)
{
    return n->namelen == len && memcmp(n->name, name, len) == 0;
}

db_status db_table(db *d, const char *name, size_t len, bool create, table **out)
{
    *out = NULL;
    if (len == 0) {
        *out = d->ns[0].t;
        return DB_OK;
    }
    assert(len <= DB_NS_NAME_MAX);
    if (ns_eq(&d->ns[d->last_hit], name, len)) {
        *out = d->ns[d->last_hit].t;
        return DB_OK;
    }
    for (size_t i = 1; i < d->count; i++) {
        if (ns_eq(&d->ns[i], name, len)) {
            d->last_hit = i;
            *out = d->ns[i].t;
            return DB_OK;
        }
    }
    if (!create)
        return DB_NO_NAMESPACE;
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
    d->last_hit = d->count++;
    *out = t;
    return DB_OK;
}

size_t db_ns_count(const db *d) { return d->count; }

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

void db_total_stats(const db *d, table_stats *tot)
{
    memset(tot, 0, sizeof *tot);
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
        tot->record_chunks += st.record_chunks;
        tot->grows += st.grows;
        tot->shrinks_auto += st.shrinks_auto;
        tot->shrinks_manual += st.shrinks_manual;
        tot->expires += st.expires;
        tot->expired += st.expired;
        tot->meta_bytes += st.meta_bytes;
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
    for (size_t i = 0; i < d->count; i++)
        d->graveyard[d->ngrave++] = d->ns[i].t;
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
    table_clear(d->ns[0].t);
    for (size_t i = 1; i < d->count; i++)
        table_destroy(d->ns[i].t);
    d->count = 1;
    d->last_hit = 0;
    d->step_next = 0;
}

size_t db_release_empty(db *d)
{
    size_t kept = 1, dropped = 0;
    for (size_t i = 1; i < d->count; i++) {
        if (table_count(d->ns[i].t) == 0) {
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
        if (table_count(d->ns[i].t) != 0)
            return false;
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
        if (!st.migrating)
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
