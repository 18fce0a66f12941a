/*
 * keyspace.c - the keyspace group (layer 2): DEL, UNLINK, EXISTS, TOUCH,
 * TYPE, OBJECT, and iterating the keyspace: SCAN, KEYS, RANDOMKEY.
 *
 * SCAN's cursor is opaque to clients; inside, its high 32 bits name a
 * namespace by id (ids grow with creation and are never reused, so a cursor
 * stays meaningful while namespaces come and go) and its low 32 bits are the
 * table's own resize-proof cursor (table_scan). Namespaces are visited in id
 * order, each from cursor 0 to its end.
 *
 * A MATCH pattern whose text before the first ':' has no glob characters
 * names one namespace, and only that one is visited; a pattern without any
 * ':' nor glob characters can only match a key of the default namespace.
 * So `MATCH customer:*`
 * costs nothing for the other namespaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "evict.h"
#include "groups.h"
#include "strbuf.h"

/* Buckets SCAN visits per call at most, per COUNT asked: as Redis (10x). */
#define SCAN_BUCKETS_PER_COUNT 10u
/* Random picks RANDOMKEY tries before it looks for a live key in order
 * (each pick of an expired key reclaims it, so this only matters when most
 * keys have just expired). */
#define RANDOMKEY_TRIES 64u
#define RANDOMKEY_SCAN_BUCKETS 4096u

typedef struct {
    const char *pat; /* NULL: no MATCH */
    size_t patlen;
    bool one_ns; /* only namespace ns/nslen */
    const char *ns;
    size_t nslen;
} key_filter;

static bool has_glob(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '*' || p[i] == '?' || p[i] == '[' || p[i] == '\\')
            return true;
    return false;
}

static void filter_init(key_filter *f, const char *pat, size_t len)
{
    memset(f, 0, sizeof *f);
    f->pat = pat;
    f->patlen = len;
    if (pat == NULL)
        return;
    const char *colon = memchr(pat, ':', len);
    if (colon == NULL) {
        /* A literal without ':' can only be a key of the default namespace;
         * any glob character could stand for the ':' of a named one. */
        if (!has_glob(pat, len)) {
            f->one_ns = true;
            f->nslen = 0;
        }
        return;
    }
    size_t nl = (size_t)(colon - pat);
    if (nl > 0 && nl <= DB_NS_NAME_MAX && !has_glob(pat, nl)) {
        f->one_ns = true;
        f->ns = pat;
        f->nslen = nl;
    }
}

static bool ns_wanted(const key_filter *f, const db_ns *n)
{
    return !f->one_ns ||
           (n->namelen == f->nslen && (f->nslen == 0 || memcmp(n->name, f->ns, f->nslen) == 0));
}

/* Keys gathered by one call, formatted later. */
typedef struct {
    const db_ns *ns;
    int64_t *ids;
    size_t n, cap;
    bool oom;
} key_list;

static void collect(int64_t key, void *arg)
{
    key_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *p = realloc(l->ids, cap * sizeof *p);
        if (p == NULL) {
            l->oom = true;
            return;
        }
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = key;
}

/* Append the keys of l that match to out (formatted), counting them. */
static size_t emit_matching(strbuf *out, const key_filter *f, const db_ns *ns, const int64_t *ids,
                            size_t n)
{
    size_t kept = 0;
    char text[DB_KEY_TEXT_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t tl = db_format_key(ns->name, ns->namelen, ids[i], text);
        if (f->pat != NULL && !glob_match(f->pat, f->patlen, text, tl, false))
            continue;
        /* Length-prefixed, so the reply can be written after counting. */
        uint32_t len32 = (uint32_t)tl;
        strbuf_add(out, (const char *)&len32, sizeof len32);
        strbuf_add(out, text, tl);
        kept++;
    }
    return kept;
}

static void reply_keys(cmd_client *c, const strbuf *keys, size_t n)
{
    resp_add_array(&c->out, n);
    const char *p = keys->buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t len32;
        memcpy(&len32, p, sizeof len32);
        p += sizeof len32;
        resp_add_bulk(&c->out, p, len32);
        p += len32;
    }
}

/* Unsigned decimal, as Redis parses SCAN cursors. */
static bool parse_cursor(const resp_view *v, uint64_t *out)
{
    if (v->len == 0 || v->len > 20)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned d = (unsigned char)v->ptr[i] - '0';
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

static void cmd_scan(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    uint64_t cursor;
    if (!parse_cursor(&req->argv[1], &cursor)) {
        cmd_reply_error(s, c, "ERR invalid cursor");
        return;
    }
    const resp_view *match = NULL;
    long long count = 10;
    bool strings = true;
    for (size_t i = 2; i < req->argc; i += 2) {
        if (i + 1 >= req->argc) {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
        if (cmd_arg_is(&req->argv[i], "match")) {
            match = &req->argv[i + 1];
        } else if (cmd_arg_is(&req->argv[i], "count")) {
            if (!cmd_arg_ll(s, c, &req->argv[i + 1], &count))
                return;
            if (count < 1) {
                cmd_reply_error(s, c, ERR_SYNTAX);
                return;
            }
        } else if (cmd_arg_is(&req->argv[i], "type")) {
            /* Every ebb value is a string; other types match nothing. */
            strings = cmd_arg_is(&req->argv[i + 1], "string");
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    key_filter f;
    filter_init(&f, match != NULL ? match->ptr : NULL, match != NULL ? match->len : 0);

    uint32_t ns_id = (uint32_t)(cursor >> 32);
    uint64_t tc = cursor & 0xffffffffu;
    uint64_t budget = (uint64_t)count * SCAN_BUCKETS_PER_COUNT;
    strbuf keys = {0};
    size_t nkeys = 0;
    key_list l = {0};
    uint64_t next = 0;
    for (size_t i = 0; i < db_ns_count(s->db) && strings; i++) {
        const db_ns *ns = db_ns_at(s->db, i);
        if (ns->id < ns_id || !ns_wanted(&f, ns))
            continue;
        if (ns->id > ns_id)
            tc = 0; /* a namespace after the cursor's: from its start */
        l.ns = ns;
        do {
            l.n = 0;
            tc = table_scan(ns->t, tc, collect, &l);
            nkeys += emit_matching(&keys, &f, ns, l.ids, l.n);
            budget--;
        } while (tc != 0 && nkeys < (size_t)count && budget > 0);
        if (tc != 0) {
            next = ((uint64_t)ns->id << 32) | tc;
            break;
        }
        if (nkeys >= (size_t)count || budget == 0) {
            /* This namespace is done; resume with the next one. */
            next = (uint64_t)(ns->id + 1) << 32;
            break;
        }
    }
    free(l.ids);
    if (l.oom || keys.oom) {
        strbuf_deinit(&keys);
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    /* A cursor pointing past the last namespace would cost the client one
     * more empty round trip; end here if no namespace is left. */
    if (next != 0) {
        bool more = false;
        for (size_t i = 0; i < db_ns_count(s->db) && !more; i++) {
            const db_ns *ns = db_ns_at(s->db, i);
            more = ns->id >= (uint32_t)(next >> 32) && ns_wanted(&f, ns);
        }
        if (!more)
            next = 0;
    }
    resp_add_array(&c->out, 2);
    char cur[24];
    int n = snprintf(cur, sizeof cur, "%llu", (unsigned long long)next);
    resp_add_bulk(&c->out, cur, (size_t)n);
    reply_keys(c, &keys, nkeys);
    strbuf_deinit(&keys);
}

static bool collect_all(int64_t key, const uint8_t *val, size_t len, void *arg)
{
    key_list *l = arg;
    collect(key, l);
    return !l->oom;
}

static void cmd_keys(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    key_filter f;
    filter_init(&f, req->argv[1].ptr, req->argv[1].len);
    strbuf keys = {0};
    size_t nkeys = 0;
    key_list l = {0};
    for (size_t i = 0; i < db_ns_count(s->db) && !l.oom; i++) {
        const db_ns *ns = db_ns_at(s->db, i);
        if (!ns_wanted(&f, ns))
            continue;
        l.n = 0;
        table_foreach(ns->t, collect_all, &l);
        nkeys += emit_matching(&keys, &f, ns, l.ids, l.n);
    }
    free(l.ids);
    if (l.oom || keys.oom) {
        strbuf_deinit(&keys);
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    reply_keys(c, &keys, nkeys);
    strbuf_deinit(&keys);
}

struct found_key {
    int64_t id;
    bool found;
};

static void note_found(int64_t key, void *arg)
{
    struct found_key *f = arg;
    if (!f->found) {
        f->id = key;
        f->found = true;
    }
}

static void reply_key(cmd_client *c, const db_ns *ns, int64_t id)
{
    char text[DB_KEY_TEXT_MAX];
    size_t tl = db_format_key(ns->name, ns->namelen, id, text);
    resp_add_bulk(&c->out, text, tl);
}

static void cmd_randomkey(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    for (unsigned k = 0; k < RANDOMKEY_TRIES; k++) {
        table *t = cmd_pick_table(s, false);
        table_sample_t smp;
        if (t == NULL || !table_sample(t, cmd_random(s), false, &smp))
            break;
        /* The pick may have expired without being reclaimed yet. */
        if (table_get(t, smp.key, NULL, NULL) != TABLE_OK)
            continue;
        for (size_t i = 0; i < db_ns_count(s->db); i++) {
            const db_ns *ns = db_ns_at(s->db, i);
            if (ns->t == t) {
                reply_key(c, ns, smp.key);
                return;
            }
        }
    }
    /* Most picks hit keys whose time had just come (each pick reclaimed
     * one): look for a live key bucket by bucket, a bounded number of
     * buckets per namespace so the loop never walks a huge table here. */
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *ns = db_ns_at(s->db, i);
        struct found_key f = {0};
        uint64_t cur = 0;
        unsigned steps = 0;
        do {
            cur = table_scan(ns->t, cur, note_found, &f);
        } while (!f.found && cur != 0 && ++steps < RANDOMKEY_SCAN_BUCKETS);
        if (f.found) {
            reply_key(c, ns, f.id);
            return;
        }
    }
    resp_add_null(&c->out);
}

/* DEL, UNLINK, EXISTS, TOUCH: count keys; delete when asked. */
static void count_keys(cmd_server *s, cmd_client *c, const cmd_request *req, bool del)
{
    size_t n = req->argc - 1;
    db_key stackbuf[CMD_KEYS_ON_STACK];
    db_key *keys = cmd_keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return;
    if (cmd_parse_keys(s, c, req, 1, 1, keys)) {
        long long found = 0;
        for (size_t i = 0; i < n; i++) {
            table *t = cmd_read_table(s, &keys[i]);
            if (t == NULL)
                continue;
            if (del)
                found += table_del(t, keys[i].id) == TABLE_OK;
            else
                found += table_get(t, keys[i].id, NULL, NULL) == TABLE_OK;
        }
        resp_add_int(&c->out, found);
    }
    cmd_keys_free(s, keys, stackbuf);
}

static void cmd_del(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    count_keys(s, c, req, true);
}

static void cmd_exists(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    count_keys(s, c, req, false);
}

static void cmd_touch(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    count_keys(s, c, req, false);
}

static void cmd_type(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_read_table(s, &k);
    bool found = t != NULL && table_get(t, k.id, NULL, NULL) == TABLE_OK;
    resp_add_simple(&c->out, found ? "string" : "none");
}

static void cmd_object_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key",
        "    (LFU policies only).",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key (0 unless an LRU policy is set).",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key> (always 1).",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* The errors of OBJECT FREQ without an LFU policy and OBJECT IDLETIME with
 * one, Redis 7.0's words. */
#define LFU_RUNTIME_NOTE                                                                           \
    "Please note that when switching between policies at runtime LRU and LFU data will take "      \
    "some time to adjust."
static const char ERR_NO_LFU[] =
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. " LFU_RUNTIME_NOTE;
static const char ERR_LFU_IDLE[] =
    "ERR An LFU maxmemory policy is selected, idle time not tracked. " LFU_RUNTIME_NOTE;

/* OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key (argv[1] names which). The key
 * is looked at, not accessed: its stamp stays as it was (Redis looks it up
 * with LOOKUP_NOTOUCH). Which stamps exist is read from the table's options,
 * which follow the policy in force. */
static void cmd_object(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    const resp_view *sub = &req->argv[1];
    db_key k;
    if (!cmd_key_arg(s, c, req, 2, &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *val;
    size_t len;
    if (t == NULL || table_peek(t, k.id, &val, &len) != TABLE_OK) {
        resp_add_null(&c->out);
        return;
    }
    table_options topt = table_get_options(t);
    if (cmd_arg_is(sub, "encoding")) {
        /* Redis's names for what a string would be: int when it is a
         * canonical integer, embstr up to 44 bytes, raw beyond. In ebb every
         * value is a fixed 128-byte record either way. */
        long long v;
        resp_add_bulkstr(&c->out, cmd_parse_ll((const char *)val, len, &v) ? "int"
                                  : len <= 44                              ? "embstr"
                                                                           : "raw");
    } else if (cmd_arg_is(sub, "refcount")) {
        resp_add_int(&c->out, 1);
    } else if (cmd_arg_is(sub, "freq")) {
        uint32_t stamp = 0;
        if (!topt.track_lfu) {
            cmd_reply_error(s, c, ERR_NO_LFU);
            return;
        }
        /* Decayed to now, stored unchanged (Redis's LFUDecrAndReturn). */
        (void)table_get_lru(t, k.id, &stamp);
        resp_add_int(&c->out,
                     table_lfu_decayed(stamp, table_lfu_minutes(s->now_ms), topt.lfu_decay_time));
    } else if (topt.track_lfu) {
        cmd_reply_error(s, c, ERR_LFU_IDLE);
    } else {
        uint32_t stamp = 0;
        long long idle = 0;
        if (table_get_lru(t, k.id, &stamp) == TABLE_OK && stamp != 0) {
            uint32_t now = (uint32_t)(s->now_ms / TABLE_LRU_UNIT_MS);
            idle = (long long)(uint32_t)(now - stamp) * TABLE_LRU_UNIT_MS / 1000;
        }
        resp_add_int(&c->out, idle);
    }
}

static const cmd_def object_subs[] = {
    {"encoding", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the internal encoding of a value (as Redis would name it).", "key", NULL},
    {"freq", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "4.0.0",
     "Returns the logarithmic access frequency counter of a Redis object.", "key", NULL},
    {"idletime", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the time since the last access to a key (LRU policies).", "key", NULL},
    {"refcount", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the reference count of a value.", "key", NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_object_help, NULL, "generic", "6.2.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_keyspace_rows[] = {
    {"del", -2, CMD_WRITE, 1, -1, 1, cmd_del, NULL, "generic", "1.0.0", "Deletes one or more keys.",
     "key...", NULL},
    {"unlink", -2, CMD_WRITE | CMD_FAST, 1, -1, 1, cmd_del, NULL, "generic", "4.0.0",
     "Deletes one or more keys.", "key...", NULL},
    {"exists", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_exists, NULL, "generic", "1.0.0",
     "Determines whether one or more keys exist.", "key...", NULL},
    {"touch", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_touch, NULL, "generic", "3.2.1",
     "Returns the number of existing keys out of those specified.", "key...", NULL},
    {"type", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_type, NULL, "generic", "1.0.0",
     "Determines the type of value stored at a key.", "key", NULL},
    {"scan", -2, CMD_READONLY, 0, 0, 0, cmd_scan, NULL, "generic", "2.8.0",
     "Iterates over the key names in the database.",
     "cursor [MATCH pattern] [COUNT count] [TYPE type]", NULL},
    {"keys", 2, CMD_READONLY, 0, 0, 0, cmd_keys, NULL, "generic", "1.0.0",
     "Returns all key names that match a pattern.", "pattern", NULL},
    {"randomkey", 1, CMD_READONLY, 0, 0, 0, cmd_randomkey, NULL, "generic", "1.0.0",
     "Returns a random key name from the database.", NULL, NULL},
    {"object", -2, CMD_READONLY, 0, 0, 0, NULL, object_subs, "generic", "2.2.3",
     "A container for object introspection commands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
