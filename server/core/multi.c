/*
 * multi.c - the transactions group (layer 2): MULTI, EXEC, DISCARD, WATCH,
 * UNWATCH, with Redis 7's semantics and replies. See multi.h.
 */
#include "multi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtab.h"
#include "evict.h"
#include "quota.h"
#include "groups.h"

/* One queued request: argv and the bytes it points at, in one block. */
typedef struct {
    size_t argc;
    resp_view *argv;
} queued;

/* One watched key of one client. Entries are in the server's hash table (by
 * key) and on their client's list. */
typedef struct watch_entry {
    uint64_t hash;
    int64_t id;
    uint8_t nslen;
    char ns[DB_NS_NAME_MAX];
    bool existed; /* the key existed when WATCH ran */
    cmd_client *c;
    struct watch_entry *next_in_bucket;
    struct watch_entry *next_of_client;
} watch_entry;

/* A client's transaction (cmd_client.tx). */
struct cmd_tx {
    queued *q;
    size_t n, cap;
    size_t bytes; /* what the queue holds, against multi-queue-limit */
    bool failed;  /* an error while queueing: EXEC refuses */
    bool touched; /* a watched key was touched: EXEC replies null */
    watch_entry *watched;
};

/* Who watches what (cmd_server.watches): a chained hash table by key. */
struct cmd_watches {
    watch_entry **bucket;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;    /* entries */
};

#define WATCH_MIN_BUCKETS 64u

bool cmd_multi_init(cmd_server *s)
{
    s->watches = calloc(1, sizeof *s->watches);
    return s->watches != NULL;
}

void cmd_multi_free(cmd_server *s)
{
    if (s->watches != NULL)
        free(s->watches->bucket);
    free(s->watches);
    s->watches = NULL;
}

static uint64_t key_hash(const char *ns, size_t nslen, int64_t id)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)id * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < nslen; i++)
        h = (h ^ (unsigned char)ns[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static bool same_key(const watch_entry *e, const db_key *k)
{
    return e->id == k->id && e->nslen == k->nslen && memcmp(e->ns, k->ns, k->nslen) == 0;
}

static struct cmd_tx *tx_of(cmd_client *c)
{
    if (c->tx == NULL)
        c->tx = calloc(1, sizeof *c->tx);
    return c->tx;
}

/* ---- The queue ------------------------------------------------------------ */

static void queue_clear(struct cmd_tx *tx)
{
    for (size_t i = 0; i < tx->n; i++)
        free(tx->q[i].argv);
    free(tx->q);
    tx->q = NULL;
    tx->n = tx->cap = tx->bytes = 0;
}

/* Copy req into the queue; false when out of memory or past the limit. */
static bool queue_add(cmd_server *s, struct cmd_tx *tx, const cmd_request *req)
{
    size_t bytes = req->argc * sizeof(resp_view);
    for (size_t i = 0; i < req->argc; i++)
        bytes += req->argv[i].len;
    if (tx->bytes + bytes + sizeof(queued) > (uint64_t)s->cfg.multi_queue_limit.num)
        return false;
    if (tx->n == tx->cap) {
        size_t cap = tx->cap > 0 ? 2 * tx->cap : 8;
        queued *q = realloc(tx->q, cap * sizeof *q);
        if (q == NULL)
            return false;
        tx->q = q;
        tx->cap = cap;
    }
    resp_view *argv = malloc(bytes > 0 ? bytes : 1);
    if (argv == NULL)
        return false;
    char *p = (char *)(argv + req->argc);
    for (size_t i = 0; i < req->argc; i++) {
        memcpy(p, req->argv[i].ptr, req->argv[i].len);
        argv[i] = (resp_view){p, req->argv[i].len};
        p += req->argv[i].len;
    }
    tx->q[tx->n++] = (queued){req->argc, argv};
    tx->bytes += bytes + sizeof(queued);
    return true;
}

/* Every key position of d in req parses as a key (the first may have been
 * parsed by cmd_prepare); reply the error for the first that does not. */
static bool keys_valid(cmd_server *s, cmd_client *c, const cmd_def *d, const cmd_request *req)
{
    if (d->first <= 0 || d->step <= 0)
        return true;
    size_t last = d->last < 0 ? req->argc - 1 : (size_t)d->last;
    db_key k;
    /* Only whole groups: MSET k v k2 (no value) is an arity error of the
     * command when EXEC runs it, as in Redis, not a bad key. */
    for (size_t i = (size_t)d->first; i + (size_t)d->step - 1 < req->argc && i <= last;
         i += (size_t)d->step)
        if (!cmd_key_arg(s, c, req, i, &k))
            return false;
    return true;
}

/* The commands that run at once even in MULTI, as in Redis. */
static bool runs_at_once(const cmd_def *d)
{
    static const char *const names[] = {"exec", "discard", "multi", "watch", "quit", "reset"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(d->name, names[i]) == 0)
            return true;
    return false;
}

bool cmd_multi_queue(cmd_server *s, cmd_client *c, const cmd_request *req, const cmd_def *d)
{
    if (runs_at_once(d))
        return false;
    struct cmd_tx *tx = c->tx;
    if (d->flags & CMD_NO_MULTI) {
        tx->failed = true;
        cmd_reply_error(s, c, "ERR Command not allowed inside a transaction");
        return true;
    }
    if (!keys_valid(s, c, d, req)) {
        tx->failed = true;
        return true;
    }
    /* Over maxmemory a write is refused already while queueing, as Redis
     * refuses it. */
    if ((d->flags & CMD_DENYOOM) &&
        ((s->maxmemory > 0 && !cmd_evict_room(s)) || !cmd_quota_room(s, d, req->argv, req->argc))) {
        tx->failed = true;
        cmd_reply_error(s, c, EVICT_ERR_OOM);
        return true;
    }
    if (tx->failed) {
        /* Nothing will run: keep nothing. */
        resp_add_simple(&c->out, "QUEUED");
        return true;
    }
    if (!queue_add(s, tx, req)) {
        queue_clear(tx);
        tx->failed = true;
        cmd_reply_errorf(s, c,
                         "ERR transaction queue passes multi-queue-limit (%lld bytes): EXEC "
                         "will abort",
                         s->cfg.multi_queue_limit.num);
        return true;
    }
    resp_add_simple(&c->out, "QUEUED");
    return true;
}

void cmd_multi_fail(cmd_client *c)
{
    if (c->tx != NULL)
        c->tx->failed = true;
}

/* ---- WATCH ------------------------------------------------------------------ */

static bool watches_grow(struct cmd_watches *w)
{
    size_t n = w->nbuckets > 0 ? 2 * w->nbuckets : WATCH_MIN_BUCKETS;
    watch_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return false;
    for (size_t i = 0; i < w->nbuckets; i++) {
        for (watch_entry *e = w->bucket[i], *next; e != NULL; e = next) {
            next = e->next_in_bucket;
            e->next_in_bucket = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(w->bucket);
    w->bucket = b;
    w->nbuckets = n;
    return true;
}

static bool key_exists(cmd_server *s, const char *ns, size_t nslen, int64_t id)
{
    table *t;
    int64_t at;
    /* table_get_expire: present or not, without stamping an LRU access. */
    return db_table(s->db, ns, nslen, false, &t) == DB_OK && t != NULL &&
           table_get_expire(t, id, &at) == TABLE_OK;
}

/* Watch k for c (once per key). False when out of memory. */
static bool watch_add(cmd_server *s, cmd_client *c, const db_key *k)
{
    struct cmd_tx *tx = tx_of(c);
    if (tx == NULL)
        return false;
    for (watch_entry *e = tx->watched; e != NULL; e = e->next_of_client)
        if (same_key(e, k))
            return true;
    struct cmd_watches *w = s->watches;
    if (w->count >= w->nbuckets && !watches_grow(w))
        return false;
    watch_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return false;
    e->hash = key_hash(k->ns, k->nslen, k->id);
    e->id = k->id;
    e->nslen = (uint8_t)k->nslen;
    memcpy(e->ns, k->ns, k->nslen);
    e->existed = key_exists(s, k->ns, k->nslen, k->id);
    e->c = c;
    size_t b = e->hash & (w->nbuckets - 1);
    e->next_in_bucket = w->bucket[b];
    w->bucket[b] = e;
    e->next_of_client = tx->watched;
    tx->watched = e;
    w->count++;
    s->watched_keys = w->count;
    return true;
}

/* Forget every key c watches. */
static void unwatch_all(cmd_server *s, cmd_client *c)
{
    struct cmd_tx *tx = c->tx;
    if (tx == NULL)
        return;
    struct cmd_watches *w = s->watches;
    while (tx->watched != NULL) {
        watch_entry *e = tx->watched;
        tx->watched = e->next_of_client;
        watch_entry **pp = &w->bucket[e->hash & (w->nbuckets - 1)];
        while (*pp != e)
            pp = &(*pp)->next_in_bucket;
        *pp = e->next_in_bucket;
        free(e);
        w->count--;
    }
    s->watched_keys = w->count;
    tx->touched = false;
}

static void touch_key(cmd_server *s, const db_key *k)
{
    struct cmd_watches *w = s->watches;
    uint64_t h = key_hash(k->ns, k->nslen, k->id);
    for (watch_entry *e = w->bucket[h & (w->nbuckets - 1)]; e != NULL; e = e->next_in_bucket)
        if (e->hash == h && same_key(e, k))
            e->c->tx->touched = true;
}

void cmd_watch_touch(cmd_server *s, const cmd_def *d, const cmd_request *req)
{
    struct cmd_watches *w = s->watches;
    if (w->count == 0)
        return;
    /* A command without keys (FLUSHALL, FLUSHDB) touches nothing here: a
     * watched key it removed is gone at EXEC (watched_changed), and one
     * that did not exist is not touched, as in Redis. */
    if (d->first <= 0 || d->step <= 0)
        return;
    size_t last = d->last < 0 ? req->argc - 1 : (size_t)d->last;
    for (size_t i = (size_t)d->first; i < req->argc && i <= last; i += (size_t)d->step) {
        db_key k;
        if (db_parse_key(req->argv[i].ptr, req->argv[i].len, &k))
            touch_key(s, &k);
    }
}

/* Was a key c watches touched, or has it come or gone (expired, evicted)
 * since the WATCH? */
static bool watched_changed(cmd_server *s, cmd_client *c)
{
    struct cmd_tx *tx = c->tx;
    if (tx == NULL)
        return false;
    if (tx->touched)
        return true;
    for (watch_entry *e = tx->watched; e != NULL; e = e->next_of_client)
        if (key_exists(s, e->ns, e->nslen, e->id) != e->existed)
            return true;
    return false;
}

void cmd_multi_forget(cmd_server *s, cmd_client *c)
{
    if (c->tx == NULL)
        return;
    unwatch_all(s, c);
    queue_clear(c->tx);
    free(c->tx);
    c->tx = NULL;
    c->tx_state = CMD_TX_NONE;
}

bool cmd_multi_writes(const cmd_client *c)
{
    if (c->tx == NULL)
        return false;
    for (size_t i = 0; i < c->tx->n; i++) {
        const queued *q = &c->tx->q[i];
        const cmd_def *d = cmdtab_lookup(q->argv[0].ptr, q->argv[0].len);
        if (d != NULL && d->subs != NULL && q->argc >= 2) {
            const cmd_def *sub = cmdtab_find_sub(d, &q->argv[1]);
            d = sub != NULL ? sub : d;
        }
        if (d != NULL && (d->flags & (CMD_WRITE | CMD_MAY_REPLICATE)))
            return true;
    }
    return false;
}

long long cmd_multi_queued(const cmd_client *c)
{
    if (c->tx_state != CMD_TX_QUEUEING)
        return -1;
    return c->tx != NULL ? (long long)c->tx->n : 0;
}

bool cmd_multi_dirty(const cmd_client *c)
{
    return c->tx != NULL && c->tx->touched;
}

/* ---- Commands --------------------------------------------------------------- */

static void cmd_multi(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (c->tx_state != CMD_TX_NONE) {
        cmd_reply_error(s, c, "ERR MULTI calls can not be nested");
        return;
    }
    struct cmd_tx *tx = tx_of(c);
    if (tx == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    tx->failed = false;
    c->tx_state = CMD_TX_QUEUEING;
    resp_add_ok(&c->out);
}

/* End the transaction: the queue goes, and so do the watches. */
static void tx_end(cmd_server *s, cmd_client *c)
{
    unwatch_all(s, c);
    if (c->tx != NULL) {
        queue_clear(c->tx);
        c->tx->failed = false;
    }
    c->tx_state = CMD_TX_NONE;
}

void cmd_multi_reset(cmd_server *s, cmd_client *c)
{
    tx_end(s, c);
}

void cmd_multi_abort(cmd_server *s, cmd_client *c, const char *why)
{
    tx_end(s, c);
    cmd_reply_errorf(s, c, "EXECABORT Transaction discarded because of: %s", why);
}

static void cmd_discard(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (c->tx_state != CMD_TX_QUEUEING) {
        cmd_reply_error(s, c, "ERR DISCARD without MULTI");
        return;
    }
    tx_end(s, c);
    resp_add_ok(&c->out);
}

static void cmd_exec(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (c->tx_state != CMD_TX_QUEUEING) {
        cmd_reply_error(s, c, "ERR EXEC without MULTI");
        return;
    }
    struct cmd_tx *tx = c->tx;
    /* Redis's order: maxmemory first (checked once for the whole queue; an
     * eviction here may remove a watched key, which the check after it
     * then sees), the queueing errors, then the watched keys. */
    bool denyoom = false;
    for (size_t i = 0; i < tx->n && !denyoom; i++) {
        const cmd_def *d = cmdtab_lookup(tx->q[i].argv[0].ptr, tx->q[i].argv[0].len);
        denyoom = d != NULL && (d->flags & CMD_DENYOOM);
    }
    bool room = !denyoom || s->maxmemory == 0 || cmd_evict_room(s);
    /* Then each write's namespaces, against their quotas. */
    for (size_t i = 0; i < tx->n && room && denyoom && s->ns_quotas > 0; i++) {
        const cmd_def *d = cmdtab_lookup(tx->q[i].argv[0].ptr, tx->q[i].argv[0].len);
        if (d != NULL && (d->flags & CMD_DENYOOM))
            room = cmd_quota_room(s, d, tx->q[i].argv, tx->q[i].argc);
    }
    if (!room) {
        cmd_multi_abort(s, c, EVICT_ERR_OOM);
        return;
    }
    if (tx->failed) {
        tx_end(s, c);
        cmd_reply_error(s, c, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    if (watched_changed(s, c)) {
        tx_end(s, c);
        resp_add_null_array(&c->out);
        return;
    }
    /* Take the queue: the commands run as they would one by one, except
     * that nothing else runs in between. */
    queued *q = tx->q;
    size_t n = tx->n;
    tx->q = NULL;
    tx->n = tx->cap = tx->bytes = 0;
    unwatch_all(s, c);
    c->tx_state = CMD_TX_EXECUTING;
    resp_add_array(&c->out, n);
    int64_t clock_ns = cmd_now_ns();
    for (size_t i = 0; i < n; i++) {
        cmd_request r = {.argv = q[i].argv, .argc = q[i].argc};
        s->run(s, c, &r, &clock_ns);
    }
    c->tx_state = CMD_TX_NONE;
    /* CLIENT LIST shows EXEC as the client's last command, not the last
     * one it ran. */
    c->last_cmd = "exec";
    c->last_sub = NULL;
    for (size_t i = 0; i < n; i++)
        free(q[i].argv);
    free(q);
}

static void cmd_watch(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (c->tx_state == CMD_TX_QUEUEING) {
        cmd_reply_error(s, c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    db_key k;
    for (size_t i = 1; i < req->argc; i++)
        if (!cmd_key_arg(s, c, req, i, &k))
            return;
    for (size_t i = 1; i < req->argc; i++) {
        cmd_key_arg(s, c, req, i, &k);
        if (!watch_add(s, c, &k)) {
            cmd_reply_error(s, c, ERR_OOM);
            return;
        }
    }
    resp_add_ok(&c->out);
}

static void cmd_unwatch(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    unwatch_all(s, c);
    resp_add_ok(&c->out);
}

const cmd_def cmd_multi_rows[] = {
    {"multi", 1, CMD_FAST | CMD_STALE | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING, 0, 0, 0,
     cmd_multi, NULL, "transactions", "1.2.0", "Starts a transaction.", NULL, NULL},
    {"exec", 1, CMD_STALE | CMD_SKIP_SLOWLOG | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_exec, NULL,
     "transactions", "1.2.0", "Executes all commands in a transaction.", NULL, NULL},
    {"discard", 1, CMD_FAST | CMD_STALE | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING, 0, 0, 0,
     cmd_discard, NULL, "transactions", "2.0.0", "Discards a transaction.", NULL, NULL},
    {"watch", -2, CMD_FAST | CMD_STALE | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING, 1, -1, 1,
     cmd_watch, NULL, "transactions", "2.2.0",
     "Monitors changes to keys to determine the execution of a transaction.", "key...", NULL},
    {"unwatch", 1, CMD_FAST | CMD_STALE | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING, 0, 0, 0,
     cmd_unwatch, NULL, "transactions", "2.2.0", "Forgets about watched keys of a transaction.",
     NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
