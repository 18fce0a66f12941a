/*
 * tracking.c - CLIENT TRACKING and the invalidations (tracking.h).
 *
 * The key table: open addressing with linear probing and backward-shift
 * deletion, keyed by (namespace name, id), each entry holding the ids of
 * the clients that read the key (a small array, deduplicated on insert).
 * Clients are found by id through a second open-addressed map of the
 * clients that track (a client that left is simply not found). BCAST
 * prefixes are a short array, each with its clients.
 */
#include "tracking.h"

#include <stdlib.h>
#include <string.h>

/* RESP2 invalidations go out as messages on this channel. */
#define TRACKING_CHANNEL "__redis__:invalidate"

enum {
    TRK_ON = 1 << 0,
    TRK_BCAST = 1 << 1,
    TRK_OPTIN = 1 << 2,
    TRK_OPTOUT = 1 << 3,
    TRK_CACHING = 1 << 4, /* CLIENT CACHING YES (optin) or NO (optout) given */
    TRK_NOLOOP = 1 << 5,
    TRK_BROKEN = 1 << 6, /* the redirect client is gone */
};

/* A client's tracking state (cmd_client.trk). */
struct cmd_trk {
    unsigned flags;
    uint64_t redirect; /* client id, 0: none */
    cmd_client *redir; /* that client while it exists */
    char **prefixes;   /* BCAST prefixes (owned), nprefixes of them */
    size_t *prefix_lens;
    size_t nprefixes;
    char *pending; /* RESP of invalidations held during EXEC */
    size_t pending_len, pending_cap;
    bool pending_null; /* a flush during EXEC */
};

/* A key and the clients that read it: the first in `first` (most keys
 * have one reader, and a malloc per key would leave the heap with millions
 * of small chunks), the others in `more`. */
typedef struct {
    char ns[DB_NS_NAME_MAX];
    uint8_t nslen;
    bool used;
    int64_t id;
    uint64_t first;
    uint64_t *more;
    uint32_t n, cap; /* n: readers in all; cap: room in more */
} trk_key;

static uint64_t key_reader(const trk_key *k, uint32_t j)
{
    return j == 0 ? k->first : k->more[j - 1];
}

typedef struct {
    char *prefix;
    size_t len;
    cmd_client **clients;
    size_t n, cap;
} trk_prefix;

struct cmd_tracking {
    trk_key *keys;
    size_t nkeys, mask;   /* mask + 1 positions, 0 until the first key */
    uint64_t items;       /* client ids over all keys */
    cmd_client **clients; /* id map of tracking clients: mask + 1 positions */
    size_t cmask, nclients;
    trk_prefix *prefixes;
    size_t nprefixes;
    uint64_t rnd;
};

typedef struct cmd_tracking cmd_tracking;

bool cmd_tracking_init(cmd_server *s)
{
    s->tracking = calloc(1, sizeof *s->tracking);
    if (s->tracking == NULL)
        return false;
    s->tracking->rnd = 0x853c49e6748fea9bULL;
    return true;
}

static void key_free(trk_key *k)
{
    free(k->more);
    k->more = NULL;
    k->used = false;
}

static void table_clear_keys(cmd_tracking *t)
{
    for (size_t i = 0; t->keys != NULL && i <= t->mask; i++)
        if (t->keys[i].used)
            key_free(&t->keys[i]);
    free(t->keys);
    t->keys = NULL;
    t->nkeys = t->mask = 0;
    t->items = 0;
}

void cmd_tracking_free(cmd_server *s)
{
    cmd_tracking *t = s->tracking;
    if (t == NULL)
        return;
    table_clear_keys(t);
    for (size_t i = 0; i < t->nprefixes; i++) {
        free(t->prefixes[i].prefix);
        free(t->prefixes[i].clients);
    }
    free(t->prefixes);
    free(t->clients);
    free(t);
    s->tracking = NULL;
}

/* ---- the key table ---- */

static uint64_t key_hash(const char *ns, size_t nslen, int64_t id)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < nslen; i++)
        h = (h ^ (unsigned char)ns[i]) * 1099511628211ULL;
    h ^= (uint64_t)id + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static bool key_is(const trk_key *k, const char *ns, size_t nslen, int64_t id)
{
    return k->used && k->id == id && k->nslen == nslen && memcmp(k->ns, ns, nslen) == 0;
}

/* The position of the key, or of the empty one where it would go. */
static size_t key_probe(const cmd_tracking *t, const char *ns, size_t nslen, int64_t id,
                        bool *found)
{
    size_t i = key_hash(ns, nslen, id) & t->mask;
    while (t->keys[i].used) {
        if (key_is(&t->keys[i], ns, nslen, id)) {
            *found = true;
            return i;
        }
        i = (i + 1) & t->mask;
    }
    *found = false;
    return i;
}

static bool keys_grow(cmd_tracking *t)
{
    size_t size = t->keys == NULL ? 64 : 2 * (t->mask + 1);
    trk_key *nk = calloc(size, sizeof *nk);
    if (nk == NULL)
        return false;
    trk_key *old = t->keys;
    size_t oldsize = old == NULL ? 0 : t->mask + 1;
    t->keys = nk;
    t->mask = size - 1;
    for (size_t i = 0; i < oldsize; i++) {
        if (!old[i].used)
            continue;
        bool found;
        size_t j = key_probe(t, old[i].ns, old[i].nslen, old[i].id, &found);
        t->keys[j] = old[i];
    }
    free(old);
    return true;
}

/* Remove the entry at i (its ids already dealt with), moving later entries
 * of its run back so every key stays reachable. */
static void key_delete(cmd_tracking *t, size_t i)
{
    key_free(&t->keys[i]);
    t->nkeys--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->keys[j].used)
            return;
        size_t k = key_hash(t->keys[j].ns, t->keys[j].nslen, t->keys[j].id) & t->mask;
        bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!between) {
            t->keys[i] = t->keys[j];
            t->keys[j].used = false;
            t->keys[j].more = NULL;
            i = j;
        }
    }
}

/* Remember that client id read the key. */
static void remember(cmd_tracking *t, const db_key *k, uint64_t id)
{
    if ((t->keys == NULL || (t->nkeys + 1) * 2 > t->mask + 1) && !keys_grow(t))
        return;
    bool found;
    size_t i = key_probe(t, k->ns, k->nslen, k->id, &found);
    trk_key *e = &t->keys[i];
    if (!found) {
        memset(e, 0, sizeof *e);
        memcpy(e->ns, k->ns, k->nslen);
        e->nslen = (uint8_t)k->nslen;
        e->id = k->id;
        e->used = true;
        t->nkeys++;
    }
    for (uint32_t j = 0; j < e->n; j++)
        if (key_reader(e, j) == id)
            return;
    if (e->n == 0) {
        e->first = id;
    } else {
        if (e->n - 1 == e->cap) {
            uint32_t cap = e->cap == 0 ? 2 : 2 * e->cap;
            uint64_t *more = realloc(e->more, cap * sizeof *more);
            if (more == NULL)
                return;
            e->more = more;
            e->cap = cap;
        }
        e->more[e->n - 1] = id;
    }
    e->n++;
    t->items++;
}

/* ---- the tracking clients by id ---- */

static size_t id_slot(const cmd_tracking *t, uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & t->cmask;
}

static cmd_client *client_by_id(const cmd_tracking *t, uint64_t id)
{
    if (t->clients == NULL)
        return NULL;
    for (size_t i = id_slot(t, id); t->clients[i] != NULL; i = (i + 1) & t->cmask)
        if (t->clients[i]->id == id)
            return t->clients[i];
    return NULL;
}

static bool clients_rebuild(cmd_tracking *t, size_t want, cmd_client *add, cmd_client *drop)
{
    size_t size = 16;
    while (size < 2 * want)
        size *= 2;
    cmd_client **nc = calloc(size, sizeof *nc);
    if (nc == NULL)
        return false;
    cmd_client **old = t->clients;
    size_t oldsize = old == NULL ? 0 : t->cmask + 1;
    t->clients = nc;
    t->cmask = size - 1;
    t->nclients = 0;
    for (size_t i = 0; i <= oldsize; i++) {
        cmd_client *c = i < oldsize ? old[i] : add;
        if (c == NULL || c == drop)
            continue;
        size_t j = id_slot(t, c->id);
        while (t->clients[j] != NULL)
            j = (j + 1) & t->cmask;
        t->clients[j] = c;
        t->nclients++;
    }
    free(old);
    return true;
}

/* ---- sending ---- */

/* Append a string literal's bytes. */
#define APPEND(c, lit) resp_add_raw(&(c)->out, lit, sizeof lit - 1)

/* One invalidation for target: of the key named name[0..len), or of
 * everything (name NULL). `by` is the client whose command caused it: its
 * output is flushed by the daemon after the command, the others' now. */
static void send_invalidation(cmd_server *s, cmd_client *target, const char *name, size_t len,
                              const cmd_client *by)
{
    struct cmd_trk *tk = target->trk;
    cmd_client *to = target;
    bool redirected = false;
    if (tk->redirect != 0) {
        if (tk->redir == NULL) {
            tk->flags |= TRK_BROKEN;
            if (target->out.proto == 3) {
                APPEND(target, ">2\r\n$21\r\ntracking-redir-broken\r\n");
                resp_add_int(&target->out, (long long)tk->redirect);
                if (target != by && s->daemon.client_flush != NULL)
                    s->daemon.client_flush(target);
            }
            return;
        }
        to = tk->redir;
        redirected = true;
    }
    if (to->out.proto == 3) {
        APPEND(to, ">2\r\n$10\r\ninvalidate\r\n");
    } else if (redirected && cmd_client_subscribed(to)) {
        /* RESP2: as a message of __redis__:invalidate, to a redirect client
         * in pub/sub mode (Redis checks for any subscription, as here). */
        APPEND(to, "*3\r\n$7\r\nmessage\r\n$20\r\n" TRACKING_CHANNEL "\r\n");
    } else {
        return; /* RESP2 without a redirect: nowhere to say it */
    }
    if (name == NULL) {
        if (to->out.proto == 3)
            APPEND(to, "_\r\n");
        else
            APPEND(to, "$-1\r\n");
    } else {
        resp_add_array(&to->out, 1);
        resp_add_bulk(&to->out, name, len);
    }
    if (to != by && s->daemon.client_flush != NULL)
        s->daemon.client_flush(to);
}

/* Hold target's own invalidation until its EXEC has replied. */
static void hold(struct cmd_trk *tk, const char *name, size_t len)
{
    if (name == NULL) {
        tk->pending_null = true;
        return;
    }
    size_t need = tk->pending_len + len + 1;
    if (need > tk->pending_cap) {
        size_t cap = tk->pending_cap < 256 ? 256 : tk->pending_cap;
        while (cap < need)
            cap *= 2;
        char *p = realloc(tk->pending, cap);
        if (p == NULL)
            return;
        tk->pending = p;
        tk->pending_cap = cap;
    }
    memcpy(tk->pending + tk->pending_len, name, len);
    tk->pending[tk->pending_len + len] = '\0';
    tk->pending_len += len + 1;
}

/* Invalidate for target, now or after the current client's EXEC. A
 * flush (name NULL) reaches NOLOOP clients too, as in Redis. */
static void invalidate_for(cmd_server *s, cmd_client *target, cmd_client *by, const char *name,
                           size_t len)
{
    if ((target->trk->flags & TRK_NOLOOP) && target == by && name != NULL)
        return;
    if (target == by && target->tx_state == CMD_TX_EXECUTING)
        hold(target->trk, name, len);
    else
        send_invalidation(s, target, name, len, by);
}

void cmd_tracking_flush_pending(cmd_server *s, cmd_client *c)
{
    struct cmd_trk *tk = c->trk;
    if (tk == NULL || (tk->pending_len == 0 && !tk->pending_null))
        return;
    if (tk->pending_null)
        send_invalidation(s, c, NULL, 0, c);
    for (size_t i = 0; i < tk->pending_len;) {
        size_t n = strlen(tk->pending + i);
        send_invalidation(s, c, tk->pending + i, n, c);
        i += n + 1;
    }
    tk->pending_len = 0;
    tk->pending_null = false;
}

/* Key (ns, id) changed, by client `by` (NULL: expiry, eviction). */
static void invalidate_key(cmd_server *s, cmd_client *by, const char *ns, size_t nslen, int64_t id)
{
    cmd_tracking *t = s->tracking;
    char name[DB_KEY_TEXT_MAX];
    size_t len = 0;
    bool named = false;
    for (size_t p = 0; p < t->nprefixes; p++) {
        trk_prefix *px = &t->prefixes[p];
        if (!named) {
            len = db_format_key(ns, nslen, id, name);
            named = true;
        }
        if (px->len > len || memcmp(px->prefix, name, px->len) != 0)
            continue;
        for (size_t i = 0; i < px->n; i++)
            invalidate_for(s, px->clients[i], by, name, len);
    }
    if (t->keys == NULL)
        return;
    bool found;
    size_t i = key_probe(t, ns, nslen, id, &found);
    if (!found)
        return;
    if (!named)
        len = db_format_key(ns, nslen, id, name);
    trk_key *e = &t->keys[i];
    for (uint32_t j = 0; j < e->n; j++) {
        cmd_client *target = client_by_id(t, key_reader(e, j));
        /* Gone, off, or in BCAST mode now: not for it any more. */
        if (target == NULL || (target->trk->flags & (TRK_ON | TRK_BCAST)) != TRK_ON)
            continue;
        invalidate_for(s, target, by, name, len);
    }
    t->items -= e->n;
    key_delete(t, i);
}

void cmd_tracking_invalidate(cmd_server *s, const char *ns, size_t nslen, int64_t id)
{
    if (s->tracking_clients > 0)
        invalidate_key(s, NULL, ns, nslen, id);
}

void cmd_tracking_on_expired(const struct table *tb, int64_t key, void *arg)
{
    cmd_server *s = arg;
    if (s->tracking_clients == 0 || s->db == NULL)
        return;
    const db_ns *n = db_find_table(s->db, tb);
    if (n != NULL)
        invalidate_key(s, NULL, n->name, n->namelen, key);
}

/* The keys of request r as row d, one by one. */
static void each_key(cmd_server *s, cmd_client *c, const cmd_def *d, const cmd_request *r,
                     bool write)
{
    size_t argc = r->argc;
    size_t first = (size_t)d->first;
    size_t last = d->last < 0 ? argc - 1 : (size_t)d->last;
    /* COPY and BITOP only read their other keys: their destination alone
     * changes, as Redis's key specs say. */
    if (write && (strcmp(d->name, "copy") == 0 || strcmp(d->name, "bitop") == 0))
        first = last = 2;
    for (size_t i = first; i < argc && i <= last; i += (size_t)d->step) {
        db_key k;
        if (r->key == &r->argv[i])
            k = r->parsed;
        else if (!db_parse_key(r->argv[i].ptr, r->argv[i].len, &k))
            continue;
        if (write)
            invalidate_key(s, c, k.ns, k.nslen, k.id);
        else
            remember(s->tracking, &k, c->id);
    }
}

void cmd_tracking_after(cmd_server *s, cmd_client *c, const cmd_def *d, const cmd_request *r,
                        bool wrote)
{
    if (d->first <= 0 || d->step <= 0)
        goto done;
    struct cmd_trk *tk = c->trk;
    if ((d->flags & CMD_READONLY) && tk != NULL && (tk->flags & (TRK_ON | TRK_BCAST)) == TRK_ON) {
        bool optin = tk->flags & TRK_OPTIN, optout = tk->flags & TRK_OPTOUT;
        bool caching = tk->flags & TRK_CACHING;
        if (!((optin && !caching) || (optout && caching)))
            each_key(s, c, d, r, false);
    }
    if ((d->flags & CMD_WRITE) && wrote)
        each_key(s, c, d, r, true);
done:
    /* CLIENT CACHING lasts for the next command other than CLIENT, or the
     * next transaction, as in Redis. */
    if (c->trk != NULL && (c->trk->flags & TRK_CACHING) && c->tx_state == CMD_TX_NONE &&
        (c->last_cmd == NULL || strcmp(c->last_cmd, "client") != 0))
        c->trk->flags &= ~(unsigned)TRK_CACHING;
}

void cmd_tracking_flush(cmd_server *s, cmd_client *c)
{
    cmd_tracking *t = s->tracking;
    if (s->tracking_clients > 0)
        for (cmd_client *x = s->clients.head; x != NULL; x = x->next)
            if (x->trk != NULL && (x->trk->flags & TRK_ON))
                invalidate_for(s, x, c, NULL, 0);
    table_clear_keys(t);
}

void cmd_tracking_cron(cmd_server *s)
{
    cmd_tracking *t = s->tracking;
    uint64_t max = (uint64_t)s->cfg.tracking_table_max_keys.num;
    if (max == 0 || t->nkeys <= max)
        return;
    /* Invalidate keys from random places until under the bound; at most
     * a few thousand per tick, so that a lowered bound drains in slices. */
    for (int effort = 4096; effort > 0 && t->nkeys > max; effort--) {
        t->rnd = t->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t i = (size_t)(t->rnd >> 17) & t->mask;
        while (!t->keys[i].used)
            i = (i + 1) & t->mask;
        trk_key *e = &t->keys[i];
        char ns[DB_NS_NAME_MAX];
        size_t nslen = e->nslen;
        int64_t id = e->id;
        memcpy(ns, e->ns, nslen);
        invalidate_key(s, NULL, ns, nslen, id);
    }
}

/* ---- clients ---- */

static void prefixes_drop(cmd_tracking *t, cmd_client *c)
{
    struct cmd_trk *tk = c->trk;
    for (size_t p = 0; p < t->nprefixes;) {
        trk_prefix *px = &t->prefixes[p];
        for (size_t i = 0; i < px->n; i++)
            if (px->clients[i] == c) {
                px->clients[i] = px->clients[--px->n];
                break;
            }
        if (px->n == 0) {
            free(px->prefix);
            free(px->clients);
            t->prefixes[p] = t->prefixes[--t->nprefixes];
            continue;
        }
        p++;
    }
    for (size_t i = 0; i < tk->nprefixes; i++)
        free(tk->prefixes[i]);
    free(tk->prefixes);
    free(tk->prefix_lens);
    tk->prefixes = NULL;
    tk->prefix_lens = NULL;
    tk->nprefixes = 0;
}

static void tracking_off(cmd_server *s, cmd_client *c)
{
    struct cmd_trk *tk = c->trk;
    if (tk == NULL || !(tk->flags & TRK_ON))
        return;
    prefixes_drop(s->tracking, c);
    clients_rebuild(s->tracking, s->tracking->nclients, NULL, c);
    tk->flags = 0;
    tk->redirect = 0;
    tk->redir = NULL;
    s->tracking_clients--;
}

void cmd_tracking_reset(cmd_server *s, cmd_client *c)
{
    tracking_off(s, c);
}

void cmd_tracking_forget(cmd_server *s, cmd_client *c)
{
    tracking_off(s, c);
    if (c->trk != NULL) {
        free(c->trk->pending);
        free(c->trk);
        c->trk = NULL;
    }
    /* Clients redirecting to c lose their redirect. */
    cmd_tracking *t = s->tracking;
    for (size_t i = 0; t->clients != NULL && i <= t->cmask; i++) {
        cmd_client *x = t->clients[i];
        if (x != NULL && x->trk->redir == c)
            x->trk->redir = NULL;
    }
}

static bool prefix_add(cmd_tracking *t, cmd_client *c, const char *p, size_t len)
{
    trk_prefix *px = NULL;
    for (size_t i = 0; i < t->nprefixes && px == NULL; i++)
        if (t->prefixes[i].len == len && memcmp(t->prefixes[i].prefix, p, len) == 0)
            px = &t->prefixes[i];
    if (px == NULL) {
        trk_prefix *grown = realloc(t->prefixes, (t->nprefixes + 1) * sizeof *grown);
        if (grown == NULL)
            return false;
        t->prefixes = grown;
        px = &t->prefixes[t->nprefixes];
        memset(px, 0, sizeof *px);
        px->prefix = malloc(len + 1);
        if (px->prefix == NULL)
            return false;
        memcpy(px->prefix, p, len);
        px->len = len;
        t->nprefixes++;
    }
    for (size_t i = 0; i < px->n; i++)
        if (px->clients[i] == c)
            return true;
    if (px->n == px->cap) {
        size_t cap = px->cap == 0 ? 4 : 2 * px->cap;
        cmd_client **cl = realloc(px->clients, cap * sizeof *cl);
        if (cl == NULL)
            return false;
        px->clients = cl;
        px->cap = cap;
    }
    px->clients[px->n++] = c;
    struct cmd_trk *tk = c->trk;
    char **names = realloc(tk->prefixes, (tk->nprefixes + 1) * sizeof *names);
    if (names == NULL)
        return false;
    tk->prefixes = names;
    size_t *lens = realloc(tk->prefix_lens, (tk->nprefixes + 1) * sizeof *lens);
    if (lens == NULL)
        return false;
    tk->prefix_lens = lens;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, p, len);
    copy[len] = '\0';
    tk->prefixes[tk->nprefixes] = copy;
    tk->prefix_lens[tk->nprefixes++] = len;
    return true;
}

static bool overlaps(const char *a, size_t alen, const char *b, size_t blen)
{
    return memcmp(a, b, alen < blen ? alen : blen) == 0;
}

static cmd_client *client_anywhere(cmd_server *s, uint64_t id)
{
    for (cmd_client *x = s->clients.head; x != NULL; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

/* CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
 * [OPTOUT] [NOLOOP]: Redis 7.0's parsing, checks and errors. */
void cmd_client_tracking(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long redir = 0;
    unsigned opts = 0;
    const resp_view *px[64];
    size_t npx = 0;
    for (size_t j = 3; j < req->argc; j++) {
        const resp_view *a = &req->argv[j];
        bool more = j + 1 < req->argc;
        if (cmd_arg_is(a, "redirect") && more) {
            j++;
            if (redir != 0) {
                cmd_reply_error(s, c, "ERR A client can only redirect to a single other client");
                return;
            }
            if (!cmd_arg_ll(s, c, &req->argv[j], &redir))
                return;
            if (client_anywhere(s, (uint64_t)redir) == NULL) {
                cmd_reply_error(s, c, "ERR The client ID you want redirect to does not exist");
                return;
            }
        } else if (cmd_arg_is(a, "bcast")) {
            opts |= TRK_BCAST;
        } else if (cmd_arg_is(a, "optin")) {
            opts |= TRK_OPTIN;
        } else if (cmd_arg_is(a, "optout")) {
            opts |= TRK_OPTOUT;
        } else if (cmd_arg_is(a, "noloop")) {
            opts |= TRK_NOLOOP;
        } else if (cmd_arg_is(a, "prefix") && more) {
            j++;
            if (npx == sizeof px / sizeof px[0]) {
                cmd_reply_error(s, c, "ERR too many prefixes in one CLIENT TRACKING");
                return;
            }
            px[npx++] = &req->argv[j];
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    if (cmd_arg_is(&req->argv[2], "off")) {
        tracking_off(s, c);
        resp_add_ok(&c->out);
        return;
    }
    if (!cmd_arg_is(&req->argv[2], "on")) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    struct cmd_trk *tk = c->trk;
    bool on = tk != NULL && (tk->flags & TRK_ON);
    if (!(opts & TRK_BCAST) && npx > 0) {
        cmd_reply_error(s, c, "ERR PREFIX option requires BCAST mode to be enabled");
        return;
    }
    if (on && !!(tk->flags & TRK_BCAST) != !!(opts & TRK_BCAST)) {
        cmd_reply_error(s, c,
                        "ERR You can't switch BCAST mode on/off before disabling tracking for "
                        "this client, and then re-enabling it with a different mode.");
        return;
    }
    if ((opts & TRK_BCAST) && (opts & (TRK_OPTIN | TRK_OPTOUT))) {
        cmd_reply_error(s, c, "ERR OPTIN and OPTOUT are not compatible with BCAST");
        return;
    }
    if ((opts & TRK_OPTIN) && (opts & TRK_OPTOUT)) {
        cmd_reply_error(s, c, "ERR You can't specify both OPTIN mode and OPTOUT mode");
        return;
    }
    if (on && (((opts & TRK_OPTIN) && (tk->flags & TRK_OPTOUT)) ||
               ((opts & TRK_OPTOUT) && (tk->flags & TRK_OPTIN)))) {
        cmd_reply_error(s, c,
                        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for "
                        "this client, and then re-enabling it with a different mode.");
        return;
    }
    char q1[CMD_QUOTE_BUF], q2[CMD_QUOTE_BUF];
    for (size_t i = 0; (opts & TRK_BCAST) && i < npx; i++) {
        for (size_t k = 0; on && k < tk->nprefixes; k++)
            if (overlaps(tk->prefixes[k], tk->prefix_lens[k], px[i]->ptr, px[i]->len)) {
                cmd_reply_errorf(s, c,
                                 "ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                                 "Prefixes for a single client must not overlap.",
                                 cmd_quote(q1, px[i], CMD_QUOTE_MAX, false), tk->prefixes[k]);
                return;
            }
        for (size_t k = i + 1; k < npx; k++)
            if (overlaps(px[i]->ptr, px[i]->len, px[k]->ptr, px[k]->len)) {
                cmd_reply_errorf(s, c,
                                 "ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                                 "Prefixes for a single client must not overlap.",
                                 cmd_quote(q1, px[i], CMD_QUOTE_MAX, false),
                                 cmd_quote(q2, px[k], CMD_QUOTE_MAX, false));
                return;
            }
    }
    if (tk == NULL) {
        tk = c->trk = calloc(1, sizeof *tk);
        if (tk == NULL) {
            cmd_reply_error(s, c, ERR_OOM);
            return;
        }
    }
    if (!on) {
        if (!clients_rebuild(s->tracking, s->tracking->nclients + 1, c, NULL)) {
            cmd_reply_error(s, c, ERR_OOM);
            return;
        }
        s->tracking_clients++;
    }
    tk->flags = TRK_ON | (tk->flags & TRK_CACHING) | opts;
    tk->flags &= ~(unsigned)TRK_BROKEN;
    tk->redirect = (uint64_t)redir;
    tk->redir = redir != 0 ? client_anywhere(s, (uint64_t)redir) : NULL;
    if (opts & TRK_BCAST) {
        bool ok = true;
        if (npx == 0 && tk->nprefixes == 0)
            ok = prefix_add(s->tracking, c, "", 0);
        for (size_t i = 0; i < npx && ok; i++)
            ok = prefix_add(s->tracking, c, px[i]->ptr, px[i]->len);
        if (!ok) {
            cmd_reply_error(s, c, ERR_OOM);
            return;
        }
    }
    resp_add_ok(&c->out);
}

void cmd_client_caching(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    struct cmd_trk *tk = c->trk;
    if (tk == NULL || !(tk->flags & TRK_ON)) {
        cmd_reply_error(s, c,
                        "ERR CLIENT CACHING can be called only when the client is in tracking "
                        "mode with OPTIN or OPTOUT mode enabled");
        return;
    }
    if (cmd_arg_is(&req->argv[2], "yes")) {
        if (!(tk->flags & TRK_OPTIN)) {
            cmd_reply_error(s, c,
                            "ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                            "OPTIN mode.");
            return;
        }
    } else if (cmd_arg_is(&req->argv[2], "no")) {
        if (!(tk->flags & TRK_OPTOUT)) {
            cmd_reply_error(s, c,
                            "ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                            "OPTOUT mode.");
            return;
        }
    } else {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    tk->flags |= TRK_CACHING;
    resp_add_ok(&c->out);
}

void cmd_client_getredir(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)s;
    (void)req;
    struct cmd_trk *tk = c->trk;
    resp_add_int(&c->out, tk != NULL && (tk->flags & TRK_ON) ? (long long)tk->redirect : -1);
}

void cmd_client_trackinginfo(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)s;
    (void)req;
    struct cmd_trk *tk = c->trk;
    unsigned f = tk != NULL ? tk->flags : 0;
    const char *names[8];
    size_t n = 0;
    names[n++] = (f & TRK_ON) ? "on" : "off";
    if (f & TRK_BCAST)
        names[n++] = "bcast";
    if (f & TRK_OPTIN) {
        names[n++] = "optin";
        if (f & TRK_CACHING)
            names[n++] = "caching-yes";
    }
    if (f & TRK_OPTOUT) {
        names[n++] = "optout";
        if (f & TRK_CACHING)
            names[n++] = "caching-no";
    }
    if (f & TRK_NOLOOP)
        names[n++] = "noloop";
    if (f & TRK_BROKEN)
        names[n++] = "broken_redirect";
    resp_add_map(&c->out, 3);
    resp_add_bulkstr(&c->out, "flags");
    resp_add_set(&c->out, n);
    for (size_t i = 0; i < n; i++)
        resp_add_bulkstr(&c->out, names[i]);
    resp_add_bulkstr(&c->out, "redirect");
    resp_add_int(&c->out, (f & TRK_ON) ? (long long)tk->redirect : -1);
    resp_add_bulkstr(&c->out, "prefixes");
    resp_add_array(&c->out, tk != NULL ? tk->nprefixes : 0);
    for (size_t i = 0; tk != NULL && i < tk->nprefixes; i++)
        resp_add_bulk(&c->out, tk->prefixes[i], tk->prefix_lens[i]);
}

void cmd_tracking_flags(const cmd_client *c, char *flags, size_t *n)
{
    const struct cmd_trk *tk = c->trk;
    if (tk == NULL || !(tk->flags & TRK_ON))
        return;
    flags[(*n)++] = 't';
    if (tk->flags & TRK_BROKEN)
        flags[(*n)++] = 'R';
    if (tk->flags & TRK_BCAST)
        flags[(*n)++] = 'B';
}

long long cmd_tracking_redirect(const cmd_client *c)
{
    const struct cmd_trk *tk = c->trk;
    return tk != NULL && (tk->flags & TRK_ON) ? (long long)tk->redirect : -1;
}

uint64_t cmd_tracking_keys(const cmd_server *s)
{
    return s->tracking->nkeys;
}

uint64_t cmd_tracking_items(const cmd_server *s)
{
    return s->tracking->items;
}

uint64_t cmd_tracking_prefixes(const cmd_server *s)
{
    return s->tracking->nprefixes;
}
