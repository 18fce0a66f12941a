/*
 * pubsub.c - publish/subscribe (layer 2): SUBSCRIBE, UNSUBSCRIBE,
 * PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB. Replies, messages and errors
 * are Redis 7.0's, byte for byte. See pubsub.h for the structure.
 *
 *   server: chans (hash)          client c: subs->chans (hash)
 *     "news" -> ps_chan ----------------- ps_sub { chan, client = c, slot }
 *                 subs[] = { &sub(c), &sub(d), ... }    (slot: its index)
 *   server: pats (hash) + pats_v[] (what PUBLISH walks)
 *     "n*"   -> ps_chan, pat_slot = its index in pats_v
 *
 * Every subscription is one ps_sub, in its client's table and in its
 * channel's array: removing it is O(1) on both sides (swap with the last
 * of the array). A channel or pattern nobody subscribes to any more is
 * freed at once, as Redis does.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "groups.h"
#include "pubsub.h"
#include "strbuf.h"

/* ---- chained hash tables ---------------------------------------------------------- */

typedef struct ps_node {
    struct ps_node *next;
    uint64_t hash;
} ps_node;

/* nb is 0 (nothing allocated) or a power of two; grows to keep n <= nb and
 * shrinks to a quarter once n < nb / 8, so a table that emptied gives its
 * memory back and one that hovers at a size is not resized back and forth.
 * A resize rehashes every node at once: a table of a million channels
 * takes some milliseconds to double. */
typedef struct {
    ps_node **b;
    size_t nb, n;
} ps_map;

#define PS_MAP_MIN 8u

static bool map_resize(ps_map *m, size_t nb)
{
    ps_node **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return false;
    for (size_t i = 0; i < m->nb; i++) {
        ps_node *next;
        for (ps_node *x = m->b[i]; x != NULL; x = next) {
            next = x->next;
            x->next = b[x->hash & (nb - 1)];
            b[x->hash & (nb - 1)] = x;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return true;
}

/* False only when the table has no buckets at all and none could be had
 * (a full table that cannot grow still works, with longer chains). */
static bool map_add(ps_map *m, ps_node *x)
{
    if (m->n >= m->nb && !map_resize(m, m->nb > 0 ? m->nb * 2 : PS_MAP_MIN) && m->nb == 0)
        return false;
    ps_node **head = &m->b[x->hash & (m->nb - 1)];
    x->next = *head;
    *head = x;
    m->n++;
    return true;
}

/* Unlink x, which is in m. Never resizes (callers may be walking m). */
static void map_del(ps_map *m, ps_node *x)
{
    ps_node **pp = &m->b[x->hash & (m->nb - 1)];
    while (*pp != x)
        pp = &(*pp)->next;
    *pp = x->next;
    m->n--;
}

/* After removals: free an empty table, shrink a sparse one. */
static void map_fit(ps_map *m)
{
    if (m->n == 0) {
        free(m->b);
        m->b = NULL;
        m->nb = 0;
    } else if (m->nb > PS_MAP_MIN && m->n < m->nb / 8) {
        map_resize(m, m->nb / 4); /* on failure the table stays as it is */
    }
}

/* ---- state ------------------------------------------------------------------------- */

typedef struct ps_sub ps_sub;

/* A channel or a pattern somebody subscribes to. */
typedef struct {
    ps_node node;  /* in the server's chans or pats; hash of the name */
    ps_sub **subs; /* its subscriptions, one per client */
    size_t n, cap;
    size_t pat_slot; /* a pattern's index in cmd_pubsub.pats_v */
    size_t len;
    char name[];
} ps_chan;

/* One client's subscription to one channel or pattern. */
struct ps_sub {
    ps_node node; /* in the client's table; the channel's hash */
    ps_chan *chan;
    cmd_client *client;
    size_t slot;  /* its index in chan->subs */
    ps_sub *undo; /* SUBSCRIBE: the subscriptions it made, to take back */
};

/* A client's subscriptions (cmd_client.subs). */
struct cmd_subs {
    ps_map chans, pats;
};

/* The server's (cmd_server.pubsub). */
struct cmd_pubsub {
    ps_map chans, pats;
    ps_chan **pats_v; /* every pattern, for PUBLISH to walk */
    size_t npats, pats_cap;
    uint64_t k0, k1;   /* SipHash key */
    uint64_t messages; /* delivered by PUBLISH */
    resp_out frame;    /* the message being published, in RESP2 */
};

bool cmd_pubsub_init(cmd_server *s)
{
    struct cmd_pubsub *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return false;
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy yet (early boot): a key an outsider cannot guess
         * easily, if not a secret one. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ull ^ (uint64_t)(uintptr_t)ps;
    }
    ps->k0 = k[0];
    ps->k1 = k[1];
    resp_out_init(&ps->frame);
    s->pubsub = ps;
    return true;
}

void cmd_pubsub_free(cmd_server *s)
{
    struct cmd_pubsub *ps = s->pubsub;
    if (ps == NULL)
        return;
    /* Clients have let go of their subscriptions: the tables are empty. */
    free(ps->chans.b);
    free(ps->pats.b);
    free(ps->pats_v);
    resp_out_deinit(&ps->frame);
    free(ps);
    s->pubsub = NULL;
}

size_t cmd_pubsub_channels(const cmd_server *s)
{
    return s->pubsub->chans.n;
}

size_t cmd_pubsub_patterns(const cmd_server *s)
{
    return s->pubsub->pats.n;
}

uint64_t cmd_pubsub_messages(const cmd_server *s)
{
    return s->pubsub->messages;
}

/* SipHash-1-3 (Aumasson and Bernstein): channel names come from clients,
 * and a keyed hash keeps them from choosing names that share a chain. */
static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint64_t ps_hash(const struct cmd_pubsub *ps, const char *p, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ ps->k0, v1 = 0x646f72616e646f6dull ^ ps->k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ ps->k0, v3 = 0x7465646279746573ull ^ ps->k1;
    const unsigned char *in = (const unsigned char *)p;
    size_t left = n;
    for (; left >= 8; in += 8, left -= 8) {
        uint64_t m;
        memcpy(&m, in, 8); /* little-endian hosts only: the hash needs no portability */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- subscriptions ----------------------------------------------------------------- */

static ps_map *server_map(cmd_server *s, bool pattern)
{
    return pattern ? &s->pubsub->pats : &s->pubsub->chans;
}

static ps_chan *chan_find(const ps_map *m, uint64_t h, const char *p, size_t n)
{
    if (m->nb == 0)
        return NULL;
    for (ps_node *x = m->b[h & (m->nb - 1)]; x != NULL; x = x->next) {
        ps_chan *ch = (ps_chan *)x;
        if (x->hash == h && ch->len == n && memcmp(ch->name, p, n) == 0)
            return ch;
    }
    return NULL;
}

/* c's subscription to ch, or NULL. */
static ps_sub *sub_find(const cmd_client *c, const ps_chan *ch, bool pattern)
{
    if (c->subs == NULL)
        return NULL;
    const ps_map *m = pattern ? &c->subs->pats : &c->subs->chans;
    if (m->nb == 0)
        return NULL;
    for (ps_node *x = m->b[ch->node.hash & (m->nb - 1)]; x != NULL; x = x->next)
        if (((ps_sub *)x)->chan == ch)
            return (ps_sub *)x;
    return NULL;
}

/* Free a channel or pattern nobody subscribes to any more. */
static void chan_drop(cmd_server *s, ps_chan *ch, bool pattern)
{
    struct cmd_pubsub *ps = s->pubsub;
    map_del(server_map(s, pattern), &ch->node);
    map_fit(server_map(s, pattern));
    if (pattern) {
        ps_chan *last = ps->pats_v[--ps->npats];
        ps->pats_v[ch->pat_slot] = last;
        last->pat_slot = ch->pat_slot;
        if (ps->npats == 0) {
            free(ps->pats_v);
            ps->pats_v = NULL;
            ps->pats_cap = 0;
        }
    }
    free(ch->subs);
    free(ch);
}

/* The channel or pattern named p, created (with no subscribers) if new;
 * NULL when out of memory. */
static ps_chan *chan_get(cmd_server *s, bool pattern, const char *p, size_t n)
{
    struct cmd_pubsub *ps = s->pubsub;
    uint64_t h = ps_hash(ps, p, n);
    ps_chan *ch = chan_find(server_map(s, pattern), h, p, n);
    if (ch != NULL)
        return ch;
    if (pattern && ps->npats == ps->pats_cap) {
        size_t cap = ps->pats_cap > 0 ? ps->pats_cap * 2 : 8;
        ps_chan **v = realloc(ps->pats_v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ps->pats_v = v;
        ps->pats_cap = cap;
    }
    ch = calloc(1, sizeof *ch + n);
    if (ch == NULL)
        return NULL;
    ch->node.hash = h;
    ch->len = n;
    memcpy(ch->name, p, n);
    if (!map_add(server_map(s, pattern), &ch->node)) {
        free(ch);
        return NULL;
    }
    if (pattern) {
        ch->pat_slot = ps->npats;
        ps->pats_v[ps->npats++] = ch;
    }
    return ch;
}

typedef enum { SUB_ADDED, SUB_HAD, SUB_FULL, SUB_OOM } sub_result;

/* Subscribe c to the channel or pattern p (*out: its subscription). */
static sub_result subscribe_one(cmd_server *s, cmd_client *c, bool pattern, const char *p, size_t n,
                                ps_sub **out)
{
    ps_chan *ch = chan_get(s, pattern, p, n);
    if (ch == NULL)
        return SUB_OOM;
    ps_sub *x = sub_find(c, ch, pattern);
    if (x != NULL) {
        *out = x;
        return SUB_HAD;
    }
    sub_result r = SUB_OOM;
    if (c->nsub + c->npsub >= (size_t)s->cfg.pubsub_max_subscriptions.num) {
        r = SUB_FULL;
        goto fail;
    }
    if (c->subs == NULL && (c->subs = calloc(1, sizeof *c->subs)) == NULL)
        goto fail;
    if (ch->n == ch->cap) {
        size_t cap = ch->cap > 0 ? ch->cap * 2 : 4;
        ps_sub **v = realloc(ch->subs, cap * sizeof *v);
        if (v == NULL)
            goto fail;
        ch->subs = v;
        ch->cap = cap;
    }
    x = calloc(1, sizeof *x);
    if (x == NULL)
        goto fail;
    x->node.hash = ch->node.hash;
    x->chan = ch;
    x->client = c;
    if (!map_add(pattern ? &c->subs->pats : &c->subs->chans, &x->node)) {
        free(x);
        goto fail;
    }
    x->slot = ch->n;
    ch->subs[ch->n++] = x;
    if (!cmd_client_subscribed(c))
        s->clients.pubsub++;
    if (pattern)
        c->npsub++;
    else
        c->nsub++;
    *out = x;
    return SUB_ADDED;
fail:
    if (ch->n == 0)
        chan_drop(s, ch, pattern);
    return r;
}

/* ["subscribe"|..., name or null, subscriptions left]: a push in RESP3.
 * CLIENT REPLY OFF does not drop it (push_mark), as in Redis. */
static void reply_confirm(cmd_client *c, const char *kind, const char *p, size_t n)
{
    resp_add_push(&c->out, 3);
    resp_add_bulkstr(&c->out, kind);
    if (p != NULL)
        resp_add_bulk(&c->out, p, n);
    else
        resp_add_null(&c->out);
    resp_add_int(&c->out, (long long)(c->nsub + c->npsub));
    c->push_mark = c->out.len;
}

/* End x; with `kind`, confirm it to its client ("unsubscribe" ...). The
 * client's table is not resized (its caller may be walking it). */
static void unsubscribe_one(cmd_server *s, ps_sub *x, bool pattern, const char *kind)
{
    cmd_client *c = x->client;
    ps_chan *ch = x->chan;
    map_del(pattern ? &c->subs->pats : &c->subs->chans, &x->node);
    if (pattern)
        c->npsub--;
    else
        c->nsub--;
    if (!cmd_client_subscribed(c))
        s->clients.pubsub--;
    if (kind != NULL)
        reply_confirm(c, kind, ch->name, ch->len);
    ps_sub *last = ch->subs[--ch->n];
    ch->subs[x->slot] = last;
    last->slot = x->slot;
    free(x);
    if (ch->n == 0) {
        chan_drop(s, ch, pattern);
    } else if (ch->cap > 16 && ch->n < ch->cap / 4) {
        ps_sub **v = realloc(ch->subs, ch->cap / 2 * sizeof *v);
        if (v != NULL) {
            ch->subs = v;
            ch->cap /= 2;
        }
    }
}

/* After unsubscribing: give back c's tables once they are sparse or
 * empty. */
static void subs_fit(cmd_client *c)
{
    if (c->subs == NULL)
        return;
    map_fit(&c->subs->chans);
    map_fit(&c->subs->pats);
    if (c->subs->chans.n == 0 && c->subs->pats.n == 0) {
        free(c->subs);
        c->subs = NULL;
    }
}

/* Every subscription of one kind, confirmed with `kind` (NULL: silently). */
static void unsubscribe_all(cmd_server *s, cmd_client *c, bool pattern, const char *kind)
{
    if (c->subs == NULL)
        return;
    ps_map *m = pattern ? &c->subs->pats : &c->subs->chans;
    for (size_t i = 0; i < m->nb; i++)
        while (m->b[i] != NULL)
            unsubscribe_one(s, (ps_sub *)m->b[i], pattern, kind);
}

void cmd_pubsub_forget(cmd_server *s, cmd_client *c)
{
    unsubscribe_all(s, c, false, NULL);
    unsubscribe_all(s, c, true, NULL);
    subs_fit(c);
}

/* ---- commands ---------------------------------------------------------------------- */

static void subscribe_cmd(cmd_server *s, cmd_client *c, const cmd_request *req, bool pattern)
{
    const char *kind = pattern ? "psubscribe" : "subscribe";
    size_t mark = c->out.len;
    ps_sub *undo = NULL;
    sub_result r = SUB_ADDED;
    for (size_t i = 1; i < req->argc; i++) {
        ps_sub *x = NULL;
        r = subscribe_one(s, c, pattern, req->argv[i].ptr, req->argv[i].len, &x);
        if (r == SUB_FULL || r == SUB_OOM)
            break;
        if (r == SUB_ADDED) {
            x->undo = undo;
            undo = x;
        }
        reply_confirm(c, kind, req->argv[i].ptr, req->argv[i].len);
    }
    if (r == SUB_FULL || r == SUB_OOM) {
        /* All or nothing: a client that asked for more than it may hold
         * gets none of them, and no confirmations to make sense of. */
        while (undo != NULL) {
            ps_sub *next = undo->undo;
            unsubscribe_one(s, undo, pattern, NULL);
            undo = next;
        }
        subs_fit(c);
        if (!c->out.oom)
            c->out.len = mark;
        c->push_mark = mark;
        if (r == SUB_OOM)
            cmd_reply_error(s, c, ERR_OOM);
        else
            cmd_reply_errorf(s, c,
                             "ERR too many subscriptions: a client may hold %lld channels and "
                             "patterns together (pubsub-max-subscriptions)",
                             s->cfg.pubsub_max_subscriptions.num);
    }
}

static void unsubscribe_cmd(cmd_server *s, cmd_client *c, const cmd_request *req, bool pattern)
{
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    if (req->argc == 1) {
        if ((pattern ? c->npsub : c->nsub) == 0)
            reply_confirm(c, kind, NULL, 0); /* [kind, null, count], as Redis */
        else
            unsubscribe_all(s, c, pattern, kind);
        subs_fit(c);
        return;
    }
    for (size_t i = 1; i < req->argc; i++) {
        const resp_view *v = &req->argv[i];
        ps_chan *ch =
            chan_find(server_map(s, pattern), ps_hash(s->pubsub, v->ptr, v->len), v->ptr, v->len);
        ps_sub *x = ch != NULL ? sub_find(c, ch, pattern) : NULL;
        if (x != NULL)
            unsubscribe_one(s, x, pattern, kind);
        else
            reply_confirm(c, kind, v->ptr, v->len);
    }
    subs_fit(c);
}

static void cmd_subscribe(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    subscribe_cmd(s, c, req, false);
}

static void cmd_psubscribe(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    subscribe_cmd(s, c, req, true);
}

static void cmd_unsubscribe(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    unsubscribe_cmd(s, c, req, false);
}

static void cmd_punsubscribe(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    unsubscribe_cmd(s, c, req, true);
}

/* Write the frame (RESP2; '>' for its first byte in RESP3) to each
 * subscription of ch, and hand it to the daemon. */
static void deliver(cmd_server *s, cmd_client *from, const ps_chan *ch, const resp_out *f)
{
    for (size_t i = 0; i < ch->n; i++) {
        cmd_client *to = ch->subs[i]->client;
        /* A client closing after its last reply, or being closed, gets
         * nothing more (Redis counts it as a receiver all the same). */
        if (to->close_after_reply || to->closing)
            continue;
        if (to->out.proto >= 3) {
            resp_add_raw(&to->out, ">", 1);
            resp_add_raw(&to->out, f->buf + 1, f->len - 1);
        } else {
            resp_add_raw(&to->out, f->buf, f->len);
        }
        if (to == from)
            to->push_mark = to->out.len; /* before PUBLISH's own reply */
        else if (s->daemon.client_flush != NULL)
            s->daemon.client_flush(to);
    }
}

/* A frame bigger than this is not kept for the next PUBLISH. */
#define PS_FRAME_KEEP (64u * 1024u)

static void cmd_publish(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    struct cmd_pubsub *ps = s->pubsub;
    const resp_view *ch = &req->argv[1], *msg = &req->argv[2];
    resp_out *f = &ps->frame;
    long long receivers = 0;
    ps_chan *x = chan_find(&ps->chans, ps_hash(ps, ch->ptr, ch->len), ch->ptr, ch->len);
    if (x != NULL) {
        resp_out_reset(f);
        resp_add_array(f, 3);
        resp_add_bulk(f, "message", 7);
        resp_add_bulk(f, ch->ptr, ch->len);
        resp_add_bulk(f, msg->ptr, msg->len);
        if (f->oom) {
            cmd_reply_error(s, c, ERR_OOM);
            return;
        }
        deliver(s, c, x, f);
        receivers += (long long)x->n;
    }
    /* Each distinct pattern is matched once (glob_match: bounded work, see
     * strbuf.h), then its subscribers get the message. */
    for (size_t i = 0; i < ps->npats; i++) {
        ps_chan *p = ps->pats_v[i];
        if (!glob_match(p->name, p->len, ch->ptr, ch->len, false))
            continue;
        resp_out_reset(f);
        resp_add_array(f, 4);
        resp_add_bulk(f, "pmessage", 8);
        resp_add_bulk(f, p->name, p->len);
        resp_add_bulk(f, ch->ptr, ch->len);
        resp_add_bulk(f, msg->ptr, msg->len);
        if (f->oom)
            break;
        deliver(s, c, p, f);
        receivers += (long long)p->n;
    }
    if (f->cap > PS_FRAME_KEEP) {
        resp_out_deinit(f);
        resp_out_init(f);
    }
    ps->messages += (uint64_t)receivers;
    resp_add_int(&c->out, receivers);
}

/* Redis's error for a PUBSUB subcommand given too many arguments. */
static void reply_subcommand_syntax(cmd_server *s, cmd_client *c, const resp_view *sub)
{
    char q[CMD_QUOTE_BUF];
    cmd_reply_errorf(s, c,
                     "ERR unknown subcommand or wrong number of arguments for '%s'. Try PUBSUB "
                     "HELP.",
                     cmd_quote(q, sub, CMD_QUOTE_MAX, false));
}

static int chan_name_cmp(const void *a, const void *b)
{
    const ps_chan *x = *(ps_chan *const *)a, *y = *(ps_chan *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->name, y->name, n);
    return d != 0 ? d : (x->len > y->len) - (x->len < y->len);
}

static void cmd_pubsub_channels_cmd(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc > 3) {
        reply_subcommand_syntax(s, c, &req->argv[1]);
        return;
    }
    const ps_map *m = &s->pubsub->chans;
    const resp_view *pat = req->argc == 3 ? &req->argv[2] : NULL;
    ps_chan **hits = m->n > 0 ? malloc(m->n * sizeof *hits) : NULL;
    if (m->n > 0 && hits == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->nb; i++)
        for (ps_node *x = m->b[i]; x != NULL; x = x->next) {
            ps_chan *ch = (ps_chan *)x;
            if (pat == NULL || glob_match(pat->ptr, pat->len, ch->name, ch->len, false))
                hits[n++] = ch;
        }
    /* Redis lists them in its hash table's order; sorted here, so that
     * the answer does not depend on the hash key. */
    qsort(hits, n, sizeof *hits, chan_name_cmp);
    resp_add_array(&c->out, n);
    for (size_t i = 0; i < n; i++)
        resp_add_bulk(&c->out, hits[i]->name, hits[i]->len);
    free(hits);
}

static void cmd_pubsub_numsub(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* An array of pairs in RESP3 too, as in Redis 7.0. */
    resp_add_array(&c->out, (req->argc - 2) * 2);
    for (size_t i = 2; i < req->argc; i++) {
        const resp_view *v = &req->argv[i];
        const ps_chan *ch =
            chan_find(&s->pubsub->chans, ps_hash(s->pubsub, v->ptr, v->len), v->ptr, v->len);
        resp_add_bulk(&c->out, v->ptr, v->len);
        resp_add_int(&c->out, ch != NULL ? (long long)ch->n : 0);
    }
}

static void cmd_pubsub_numpat(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_int(&c->out, (long long)s->pubsub->pats.n);
}

/* Sharded pub/sub (SSUBSCRIBE) is not there: no shard channels. */
static void cmd_pubsub_shardchannels(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc > 3) {
        reply_subcommand_syntax(s, c, &req->argv[1]);
        return;
    }
    resp_add_array(&c->out, 0);
}

static void cmd_pubsub_shardnumsub(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_array(&c->out, (req->argc - 2) * 2);
    for (size_t i = 2; i < req->argc; i++) {
        resp_add_bulk(&c->out, req->argv[i].ptr, req->argv[i].len);
        resp_add_int(&c->out, 0);
    }
}

static void cmd_pubsub_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

#define PS_SUB_FLAGS (CMD_PUBSUB | CMD_NO_SCRIPT | CMD_LOADING | CMD_STALE | CMD_SUBSCRIBED_OK)

static const cmd_def pubsub_subs[] = {
    {"channels", -2, CMD_PUBSUB | CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_channels_cmd, NULL,
     "pubsub", "2.8.0", "Returns the active channels.", "[pattern]", NULL},
    {"numsub", -2, CMD_PUBSUB | CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_numsub, NULL, "pubsub",
     "2.8.0", "Returns a count of subscribers to channels.", "[channel...]", NULL},
    {"numpat", 2, CMD_PUBSUB | CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_numpat, NULL, "pubsub",
     "2.8.0", "Returns a count of unique pattern subscriptions.", NULL, NULL},
    {"shardchannels", -2, CMD_PUBSUB | CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_shardchannels,
     NULL, "pubsub", "7.0.0", "Returns the active shard channels (there are none).", "[pattern]",
     NULL},
    {"shardnumsub", -2, CMD_PUBSUB | CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_shardnumsub, NULL,
     "pubsub", "7.0.0", "Returns the count of subscribers of shard channels (0).",
     "[shardchannel...]", NULL},
    {"help", 2, CMD_LOADING | CMD_STALE, 0, 0, 0, cmd_pubsub_help, NULL, "pubsub", "6.2.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* Channel names are not keys: no key positions (first = last = step = 0),
 * so neither cmd_prepare nor COMMAND treats them as keys. */
const cmd_def cmd_pubsub_rows[] = {
    {"subscribe", -2, PS_SUB_FLAGS, 0, 0, 0, cmd_subscribe, NULL, "pubsub", "2.0.0",
     "Listens for messages published to channels.", "channel...", NULL},
    {"unsubscribe", -1, PS_SUB_FLAGS, 0, 0, 0, cmd_unsubscribe, NULL, "pubsub", "2.0.0",
     "Stops listening to messages posted to channels.", "[channel...]", NULL},
    {"psubscribe", -2, PS_SUB_FLAGS, 0, 0, 0, cmd_psubscribe, NULL, "pubsub", "2.0.0",
     "Listens for messages published to channels that match one or more patterns.", "pattern...",
     NULL},
    {"punsubscribe", -1, PS_SUB_FLAGS, 0, 0, 0, cmd_punsubscribe, NULL, "pubsub", "2.0.0",
     "Stops listening to messages published to channels that match one or more patterns.",
     "[pattern...]", NULL},
    /* May propagate (Redis replicates PUBLISH): a CLIENT PAUSE WRITE holds it. */
    {"publish", 3, CMD_PUBSUB | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_MAY_REPLICATE, 0, 0, 0,
     cmd_publish, NULL, "pubsub", "2.0.0", "Posts a message to a channel.", "channel message",
     NULL},
    {"pubsub", -2, 0, 0, 0, 0, NULL, pubsub_subs, "pubsub", "2.8.0",
     "A container for Pub/Sub commands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
