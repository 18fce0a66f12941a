/*
 * db.h - keys and namespaces: the whole keyspace of the server (layer 1,
 * libc only, on top of table.h).
 *
 * A key is a signed 64-bit integer in decimal, optionally prefixed by a
 * namespace and a colon: `42`, `-7`, `customer:42`. Leading zeros are
 * accepted and ignored (`007` is 7); the canonical spelling is namespace,
 * colon, then the integer as %lld. A namespace is 1..DB_NS_NAME_MAX bytes of
 * [A-Za-z0-9_.-]. Each namespace is its own table; bare integers live in the
 * default namespace (index 0, empty name), which always exists and does not
 * count toward the cap on namespaces.
 *
 * Ownership: the db owns its tables. A `table *` returned here is valid until
 * db_flush(), db_release_empty() or db_destroy().
 */
#ifndef EBB_DB_H
#define EBB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"

/* Longest namespace name. Keys stay short enough to print and compare cheaply;
 * 32 bytes names any real entity ("customer", "session.v2"). */
#define DB_NS_NAME_MAX 32

/* A parsed key; ns points into the caller's text. */
typedef struct {
    const char *ns;
    size_t nslen; /* 0: the default namespace */
    int64_t id;
} db_key;

typedef struct {
    table *t;
    uint32_t id; /* 0 for the default namespace; named ones get
                    increasing ids in creation order, never reused
                    (SCAN cursors name namespaces by id) */
    uint8_t namelen;
    char name[DB_NS_NAME_MAX + 1]; /* NUL-terminated; "" for the default */
    /* The tenant's own figures, kept here so that they live as long as the
     * namespace: lookups found and not found (the server counts them), and
     * its memory quota in table_memory() bytes, 0 for none (db_set_quotas;
     * the server enforces it). */
    uint64_t hits, misses;
    uint64_t maxmemory;
} db_ns;

/* One namespace's quota (db_set_quotas); len 0 names the default one. */
typedef struct {
    char name[DB_NS_NAME_MAX + 1];
    uint8_t len;
    uint64_t bytes;
} db_quota;

typedef struct db db;

typedef enum {
    DB_OK = 0,
    DB_NO_NAMESPACE, /* lookup without create: the namespace does not exist */
    DB_NS_LIMIT,     /* creating it would pass the cap */
    DB_NOMEM,
} db_status;

/* Parse key text. Returns false for anything that is not a valid key (bad
 * namespace, not an integer, out of int64 range, empty). */
bool db_parse_key(const char *p, size_t len, db_key *out);

/* Write the canonical form of a key into dst (NUL-terminated). Returns the
 * length. dst needs DB_KEY_TEXT_MAX bytes. */
#define DB_KEY_TEXT_MAX (DB_NS_NAME_MAX + 1 + 20 + 1)
size_t db_format_key(const char *ns, size_t nslen, int64_t id, char *dst);

/* Create a keyspace holding the empty default namespace. max_namespaces caps
 * the named ones. topt is copied and given to every table. NULL on failure. */
db *db_create(unsigned max_namespaces, const table_options *topt);
void db_destroy(db *d);

/* Change the cap (existing namespaces beyond it stay) and the table options
 * (applied to every table). */
void db_set_max_namespaces(db *d, unsigned max);
void db_set_table_options(db *d, const table_options *topt);

/* The table for key->ns. With create false, a missing namespace gives
 * DB_NO_NAMESPACE and *out = NULL. With create true a missing one is made
 * (DB_NS_LIMIT past the cap, DB_NOMEM on failure). */
db_status db_table(db *d, const char *ns, size_t nslen, bool create, table **out);

/* The namespace `name` (len 0: the default one), or NULL if it does not
 * exist. The pointer is valid until the next call that adds or removes a
 * namespace. The same search as db_table's, for callers that keep figures
 * per namespace. */
db_ns *db_find(db *d, const char *name, size_t len);

/* The namespace whose table is t, or NULL (a detached one). A walk over
 * the namespaces: for rare events (a key expiring while clients track
 * keys). */
const db_ns *db_find_table(const db *d, const table *t);

/* Set the quotas: each namespace named in q[0..n) gets its bytes as
 * maxmemory, every other one 0, and namespaces created later get theirs
 * from this list. The list is copied. False on allocation failure (then
 * nothing changed). */
bool db_set_quotas(db *d, const db_quota *q, size_t n);

/* Namespaces in order of creation; index 0 is the default one. The pointer is
 * valid until the next call that adds or removes a namespace. */
size_t db_ns_count(const db *d);
const db_ns *db_ns_at(const db *d, size_t i);

/* Total keys over all namespaces. */
uint64_t db_size(const db *d);

/* Sum the table stats of every namespace: counts, sizes and counters add
 * up, the counters (grows, shrinks_*, expired) including those of tables
 * dropped or flushed since db_create, so they never go down; `migrating` is
 * true if any table migrates, and log2_buckets, the migration progress and
 * the last-shrink figures are left 0. */
void db_total_stats(const db *d, table_stats *tot);

/* Sum the figures of each record size class over every namespace (tables
 * detached by FLUSHALL ASYNC not included). */
void db_total_class_stats(const db *d, table_class_stats out[TABLE_CLASSES]);

/* Remove every key of every namespace, drop all named namespaces, unmap
 * everything (FLUSHALL / FLUSHDB). */
void db_flush(db *d);

/* FLUSHALL ASYNC: the same as db_flush for every reader at once, but the
 * tables are only detached; their memory is given back by db_reap in slices
 * (and counted by db_total_stats until then). False on allocation failure
 * (then nothing changed). */
bool db_flush_async(db *d);

/* Give back up to max_bytes of detached tables. True while some remain. */
bool db_reap(db *d, uint64_t max_bytes);

/* Drop named namespaces that hold no keys (SHRINK). Returns how many. A
 * namespace whose table has a snapshot in progress (table_snap_begin) is
 * kept until it ends: the snapshot's state, failures included, lives in
 * the table. */
size_t db_release_empty(db *d);

/* Drop the named namespace `name` if it holds no keys and has no snapshot
 * in progress. Returns true if it was dropped. The default namespace is
 * never dropped. */
bool db_release_ns(db *d, const char *name, size_t len);

/* Advance migrations in all tables by up to `work` old buckets in total.
 * Returns true while any table is still migrating. */
bool db_step(db *d, unsigned work);

#endif
