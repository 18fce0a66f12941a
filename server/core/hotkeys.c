/*
 * hotkeys.c - hot key detection and the HOTKEYS command (hotkeys.h).
 *
 * One slot per namespace seen in the current or the last window: its live
 * summary (allocated at its first sample, kept while the namespace stays
 * in use) and its frozen entries (a copy of the live ones when the window
 * closed). Slots are found by name through an open-addressed index rebuilt
 * whenever the slot array changes (a new namespace, a window closing).
 */
#include "hotkeys.h"

#include <stdlib.h>
#include <string.h>

#include "topk.h"

typedef struct cmd_hotkeys cmd_hotkeys;

/* Entries a namespace's summary starts with (it doubles up to K). */
#define HOTKEYS_FIRST_CAP 16u

typedef struct {
    char name[DB_NS_NAME_MAX + 1];
    uint8_t len;
    topk *live;         /* NULL until sampled */
    topk_entry *frozen; /* the last closed window's entries, nfrozen of them */
    uint32_t nfrozen;
    uint64_t frozen_total;
} hk_slot;

struct cmd_hotkeys {
    uint32_t k;         /* hotkey-top-k in force; 0: off */
    unsigned pct;       /* hotkey-sampling-percentage in force */
    int64_t window_ms;  /* hotkey-window-seconds in force, in ms */
    int64_t live_start; /* now_ms the live window began */
    /* The last closed window: its measured length and the percentage its
     * samples were taken at (the configuration may have changed since). */
    int64_t frozen_ms;
    unsigned frozen_pct;
    hk_slot *slots;
    size_t nslots, capslots;
    uint32_t *index; /* 1 + slot number, 0: empty; index_mask + 1 positions */
    uint32_t index_mask;
    uint64_t rng;
    uint64_t dropped; /* samples of namespaces past the bound */
};

bool cmd_hotkeys_init(cmd_server *s)
{
    s->hotkeys = calloc(1, sizeof *s->hotkeys);
    if (s->hotkeys == NULL)
        return false;
    s->hotkeys->rng = 0x9e3779b97f4a7c15ULL;
    return true;
}

static void slot_free(hk_slot *sl)
{
    topk_free(sl->live);
    free(sl->frozen);
}

static void drop_all(cmd_hotkeys *h)
{
    for (size_t i = 0; i < h->nslots; i++)
        slot_free(&h->slots[i]);
    free(h->slots);
    free(h->index);
    h->slots = NULL;
    h->index = NULL;
    h->nslots = h->capslots = 0;
    h->index_mask = 0;
}

void cmd_hotkeys_free(cmd_server *s)
{
    if (s->hotkeys == NULL)
        return;
    drop_all(s->hotkeys);
    free(s->hotkeys);
    s->hotkeys = NULL;
    s->hotkeys_on = false;
}

static uint32_t name_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Index every slot again, in a table at most half full. False when out of
 * memory (the old index stays). */
static bool reindex(cmd_hotkeys *h)
{
    uint32_t size = 16;
    while (size < 2 * h->capslots)
        size *= 2;
    uint32_t *idx = calloc(size, sizeof *idx);
    if (idx == NULL)
        return false;
    for (size_t i = 0; i < h->nslots; i++) {
        uint32_t j = name_hash(h->slots[i].name, h->slots[i].len) & (size - 1);
        while (idx[j] != 0)
            j = (j + 1) & (size - 1);
        idx[j] = (uint32_t)i + 1;
    }
    free(h->index);
    h->index = idx;
    h->index_mask = size - 1;
    return true;
}

static hk_slot *slot_find(const cmd_hotkeys *h, const char *name, size_t len)
{
    if (h->index == NULL)
        return NULL;
    uint32_t j = name_hash(name, len) & h->index_mask;
    while (h->index[j] != 0) {
        hk_slot *sl = &h->slots[h->index[j] - 1];
        if (sl->len == len && memcmp(sl->name, name, len) == 0)
            return sl;
        j = (j + 1) & h->index_mask;
    }
    return NULL;
}

/* The slot of namespace name, made if it is new and the bound allows. */
static hk_slot *slot_get(cmd_server *s, const char *name, size_t len)
{
    cmd_hotkeys *h = s->hotkeys;
    hk_slot *sl = slot_find(h, name, len);
    if (sl != NULL)
        return sl;
    size_t bound = (size_t)s->cfg.max_namespaces.num + 1;
    if (h->nslots >= 2 * bound || (h->nslots >= bound && db_find(s->db, name, len) == NULL))
        return NULL;
    if (h->nslots == h->capslots) {
        size_t cap = h->capslots < 8 ? 8 : 2 * h->capslots;
        hk_slot *grown = realloc(h->slots, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        h->slots = grown;
        h->capslots = cap;
    }
    bool rebuild = h->index == NULL || h->index_mask + 1 < 2 * h->capslots;
    sl = &h->slots[h->nslots++];
    memset(sl, 0, sizeof *sl);
    memcpy(sl->name, name, len);
    sl->len = (uint8_t)len;
    if (rebuild) {
        /* The array grew: a bigger index, at most half full. */
        if (!reindex(h)) {
            h->nslots--;
            return NULL;
        }
        return sl;
    }
    /* Room in the index as it is: one insertion. */
    uint32_t j = name_hash(name, len) & h->index_mask;
    while (h->index[j] != 0)
        j = (j + 1) & h->index_mask;
    h->index[j] = (uint32_t)h->nslots;
    return sl;
}

/* xorshift64*: the sampling draw. */
static uint32_t draw(cmd_hotkeys *h)
{
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return (uint32_t)((h->rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static void sample(cmd_server *s, const db_key *k)
{
    cmd_hotkeys *h = s->hotkeys;
    /* pct / 100 of 2^32, compared with a 32-bit draw. */
    if (h->pct < 100 && draw(h) >= (uint32_t)((4294967296ULL * h->pct) / 100))
        return;
    hk_slot *sl = slot_get(s, k->ns, k->nslen);
    if (sl == NULL) {
        h->dropped++;
        return;
    }
    /* Summaries start small and double up to K while they are not full
     * (exact meanwhile): a namespace seen once costs a few hundred bytes,
     * not K entries. */
    if (sl->live == NULL &&
        (sl->live = topk_new(h->k < HOTKEYS_FIRST_CAP ? h->k : HOTKEYS_FIRST_CAP)) == NULL) {
        h->dropped++;
        return;
    }
    uint32_t cap = topk_cap(sl->live);
    if (topk_size(sl->live) == cap && cap < h->k) {
        topk *g = topk_grow(sl->live, cap * 2 < h->k ? cap * 2 : h->k);
        if (g != NULL)
            sl->live = g;
    }
    topk_add(sl->live, k->id);
}

void cmd_hotkeys_record(cmd_server *s, const cmd_def *d, const cmd_request *r)
{
    if (d->first <= 0 || d->step <= 0 || !(d->flags & (CMD_READONLY | CMD_WRITE)))
        return;
    size_t argc = r->argc;
    size_t last = d->last < 0 ? argc - 1 : (size_t)d->last;
    for (size_t i = (size_t)d->first; i < argc && i <= last; i += (size_t)d->step) {
        db_key k;
        if (r->key == &r->argv[i])
            k = r->parsed;
        else if (!db_parse_key(r->argv[i].ptr, r->argv[i].len, &k))
            continue;
        sample(s, &k);
    }
}

/* Close the live window: each namespace's entries become its frozen ones;
 * a namespace sampled in neither window leaves. */
static void rotate(cmd_server *s)
{
    cmd_hotkeys *h = s->hotkeys;
    size_t kept = 0;
    for (size_t i = 0; i < h->nslots; i++) {
        hk_slot *sl = &h->slots[i];
        free(sl->frozen);
        sl->frozen = NULL;
        sl->nfrozen = 0;
        sl->frozen_total = 0;
        uint32_t n = sl->live != NULL ? topk_size(sl->live) : 0;
        if (n > 0 && (sl->frozen = malloc(n * sizeof *sl->frozen)) != NULL) {
            for (uint32_t j = 0; j < n; j++)
                sl->frozen[j] = *topk_at(sl->live, j);
            sl->nfrozen = n;
            sl->frozen_total = topk_total(sl->live);
        }
        if (sl->nfrozen == 0) {
            slot_free(sl);
            continue;
        }
        topk_clear(sl->live);
        h->slots[kept++] = *sl;
    }
    h->nslots = kept;
    if (!reindex(h)) {
        /* Out of memory: start over empty rather than keep a stale index. */
        drop_all(h);
    }
    h->frozen_ms = s->now_ms - h->live_start;
    h->frozen_pct = h->pct;
    h->live_start = s->now_ms;
}

void cmd_hotkeys_cron(cmd_server *s)
{
    cmd_hotkeys *h = s->hotkeys;
    if (s->now_ms < h->live_start)
        h->live_start = s->now_ms; /* the wall clock stepped back: the window restarts */
    if (h->k > 0 && s->now_ms - h->live_start >= h->window_ms)
        rotate(s);
}

void cmd_hotkeys_forget(cmd_server *s)
{
    cmd_hotkeys *h = s->hotkeys;
    drop_all(h);
    h->live_start = s->now_ms;
    h->frozen_ms = 0;
}

void cmd_hotkeys_apply(cmd_server *s)
{
    cmd_hotkeys *h = s->hotkeys;
    uint32_t k = (uint32_t)s->cfg.hotkey_top_k.num;
    unsigned pct = (unsigned)s->cfg.hotkey_sampling_percentage.num;
    int64_t window_ms = s->cfg.hotkey_window_seconds.num * 1000;
    if (k == h->k && pct == h->pct && window_ms == h->window_ms)
        return;
    if (k == 0) {
        drop_all(h);
        h->frozen_ms = 0;
    } else {
        /* The live window's samples were taken under the old settings:
         * they go, and a new window starts. The frozen one stays. */
        for (size_t i = 0; i < h->nslots; i++) {
            topk_free(h->slots[i].live);
            h->slots[i].live = NULL;
        }
    }
    h->k = k;
    h->pct = pct;
    h->window_ms = window_ms;
    h->live_start = s->now_ms;
    s->hotkeys_on = k > 0;
}

uint64_t cmd_hotkeys_window_samples(const cmd_server *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->hotkeys->nslots; i++)
        n += s->hotkeys->slots[i].frozen_total;
    return n;
}

uint64_t cmd_hotkeys_window_ms(const cmd_server *s)
{
    return s->hotkeys->k > 0 ? (uint64_t)s->hotkeys->frozen_ms : 0;
}

uint64_t cmd_hotkeys_dropped(const cmd_server *s)
{
    return s->hotkeys->dropped;
}

void cmd_hotkeys_reset_stats(cmd_server *s)
{
    s->hotkeys->dropped = 0;
}

uint64_t cmd_hotkeys_bytes(const cmd_server *s)
{
    const cmd_hotkeys *h = s->hotkeys;
    uint64_t n = h->capslots * sizeof *h->slots;
    if (h->index != NULL)
        n += ((uint64_t)h->index_mask + 1) * sizeof *h->index;
    for (size_t i = 0; i < h->nslots; i++) {
        if (h->slots[i].live != NULL)
            n += topk_bytes(topk_cap(h->slots[i].live));
        n += h->slots[i].nfrozen * sizeof(topk_entry);
    }
    return n;
}

/* ---- HOTKEYS ---- */

typedef struct {
    const hk_slot *slot;
    int64_t id;
    uint64_t qps;
} hk_row;

static int row_cmp(const void *a, const void *b)
{
    const hk_row *x = a, *y = b;
    if (x->qps != y->qps)
        return x->qps < y->qps ? 1 : -1;
    /* Equal rates: by namespace, then id, so that a reply is repeatable. */
    int c = strcmp(x->slot->name, y->slot->name);
    if (c != 0)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The rate of a frozen entry (hotkeys.h), rounded to the nearest. */
static uint64_t entry_qps(const topk_entry *e, unsigned pct, int64_t ms)
{
    if (pct == 0 || ms <= 0)
        return 0;
    /* (2 count - error) * 100 * 1000 / (2 pct ms), in 128 bits. */
    unsigned __int128 num = ((unsigned __int128)e->count * 2 - e->error) * 100000u;
    unsigned __int128 den = (unsigned __int128)2 * pct * (uint64_t)ms;
    return (uint64_t)((num + den / 2) / den);
}

static void add_rows(const cmd_hotkeys *h, const hk_slot *sl, hk_row *rows, size_t *n)
{
    for (uint32_t j = 0; j < sl->nfrozen; j++)
        rows[(*n)++] =
            (hk_row){sl, sl->frozen[j].id, entry_qps(&sl->frozen[j], h->frozen_pct, h->frozen_ms)};
}

/* HOTKEYS GET [NAMESPACE ns] */
static void cmd_hotkeys_get(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    cmd_hotkeys *h = s->hotkeys;
    /* Close a window that has ended first: that moves the slots. */
    cmd_hotkeys_cron(s);
    const hk_slot *only = NULL;
    bool filter = false;
    if (req->argc == 4 && cmd_arg_is(&req->argv[2], "namespace")) {
        const resp_view *v = &req->argv[3];
        filter = true;
        if (v->len == strlen(CONFIG_NS_DEFAULT) && memcmp(v->ptr, CONFIG_NS_DEFAULT, v->len) == 0)
            only = slot_find(h, "", 0);
        else
            only = slot_find(h, v->ptr, v->len);
    } else if (req->argc != 2) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    /* Off, it is empty: a poller need not tell "off" from "nothing hot". */
    if (h->k == 0 || (filter && only == NULL)) {
        resp_add_array(&c->out, 0);
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < h->nslots; i++)
        total += h->slots[i].nfrozen;
    hk_row *rows = total > 0 ? malloc(total * sizeof *rows) : NULL;
    if (total > 0 && rows == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    size_t n = 0;
    if (only != NULL)
        add_rows(h, only, rows, &n);
    else
        for (size_t i = 0; i < h->nslots; i++)
            add_rows(h, &h->slots[i], rows, &n);
    if (n > 1)
        qsort(rows, n, sizeof *rows, row_cmp);
    size_t shown = n < h->k ? n : h->k;
    resp_add_array(&c->out, shown);
    for (size_t i = 0; i < shown; i++) {
        char key[DB_KEY_TEXT_MAX];
        size_t len = db_format_key(rows[i].slot->name, rows[i].slot->len, rows[i].id, key);
        resp_add_map(&c->out, 3);
        resp_add_bulkstr(&c->out, "key");
        resp_add_bulk(&c->out, key, len);
        resp_add_bulkstr(&c->out, "db");
        resp_add_int(&c->out, 0);
        resp_add_bulkstr(&c->out, "qps");
        resp_add_int(&c->out, (long long)rows[i].qps);
    }
    free(rows);
}

static void cmd_hotkeys_reset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)req;
    if (s->hotkeys->k == 0) {
        cmd_reply_error(s, c, "ERR Hotkey detection is disabled");
        return;
    }
    cmd_hotkeys_forget(s);
    resp_add_ok(&c->out);
}

static void cmd_hotkeys_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)s;
    (void)req;
    static const char *const lines[] = {
        "HOTKEYS <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [NAMESPACE <namespace>]",
        "    Return the hottest keys of the last completed window (hotkey-window-seconds),",
        "    at most hotkey-top-k of them, by estimated accesses per second: each a map",
        "    of key, db and qps. With NAMESPACE, those of one namespace (@default: the",
        "    default one). Empty while detection is off (hotkey-top-k 0).",
        "RESET",
        "    Forget every sample, of the live window and the completed one.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

static const cmd_def hotkeys_subs[] = {
    {"get", -2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_hotkeys_get, NULL, "server", "9.1.0",
     "Returns the hottest keys of the last completed detection window.", "[NAMESPACE namespace]",
     NULL},
    {"reset", 2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_hotkeys_reset, NULL, "server", "9.1.0",
     "Clears the hot key statistics.", NULL, NULL},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_hotkeys_help, NULL, "server", "9.1.0",
     "Show helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_hotkeys_rows[] = {
    {"hotkeys", -2, CMD_STALE, 0, 0, 0, NULL, hotkeys_subs, "server", "9.1.0",
     "A container for hot key detection commands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
