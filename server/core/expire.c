/*
 * expire.c - TTLs (layer 2): the EXPIRE family, TTL, PTTL, EXPIRETIME and
 * PERSIST, with Redis 7's semantics and replies, and the active expiry
 * cycle. (SET, SETEX and GETEX set TTLs too; they are strings.c's.)
 *
 * Expire times are absolute milliseconds since the Unix epoch, stored by the
 * table only for keys that have one (table.h). A key whose time has come is
 * never returned, counted by EXISTS or listed: the table reclaims it when it
 * is touched (lazy expiry), and the active cycle reclaims the ones nobody
 * touches.
 *
 * Active expiry: each cron tick (MAIN_CRON_HZ) runs one slice of at most
 * EXPIRE_SLICE_US (less when the tick's migration slice used part of its
 * budget), sweeping every namespace's records from where it stopped
 * (a chunk of records without TTLs is skipped in one step); when it finds
 * almost nothing expired it rests for a few ticks. When a slice is
 * cut short by its budget while more than EXPIRE_BUSY_PERC % of what it
 * looked at had expired, the cycle is "busy": up to EXPIRE_BUSY_SLICES more
 * slices run this tick between rounds of I/O. So a drain of millions of keys
 * takes about a third of the CPU until it is done, and no slice blocks
 * clients for more than ~1 ms.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "expire.h"
#include "groups.h"

/* Active expiry's own state (cmd_server.expire). */
struct cmd_expire {
    size_t next_ns;      /* namespace the next slice starts with */
    double stale_perc;   /* expired / looked at, last slice */
    unsigned skip_ticks; /* cron ticks to rest before the next slice */
    uint64_t cycles_cut; /* expired_time_cap_reached_count */
};

bool cmd_expire_init(cmd_server *s)
{
    s->expire = calloc(1, sizeof *s->expire);
    return s->expire != NULL;
}

void cmd_expire_free(cmd_server *s)
{
    free(s->expire);
    s->expire = NULL;
}

double cmd_expire_stale_perc(const cmd_server *s)
{
    return s->expire->stale_perc;
}

uint64_t cmd_expire_cycles_cut(const cmd_server *s)
{
    return s->expire->cycles_cut;
}

void cmd_expire_reset_stats(cmd_server *s)
{
    s->expire->cycles_cut = 0;
}

#define EXPIRE_SLICE_US 1000
/* When under EXPIRE_IDLE_PERC % of what a slice looked at had expired, the
 * next EXPIRE_IDLE_SKIP ticks run no slice: an idle server with 10M keys
 * with TTLs then spends ~1 % of a core sweeping them about once a second. */
#define EXPIRE_IDLE_PERC 1.0
#define EXPIRE_IDLE_SKIP 9u
#define EXPIRE_BUSY_PERC 10.0
#define EXPIRE_BUSY_SLICES 3u
/* Records looked at between clock checks. */
#define EXPIRE_SCAN_STEP 512u

/* EXPIRE-family flags. */
enum { EX_NX = 1, EX_XX = 2, EX_GT = 4, EX_LT = 8 };

static void expire_generic(cmd_server *s, cmd_client *c, const cmd_request *req,
                           cmd_expire_unit unit, const char *name)
{
    unsigned fl = 0;
    for (size_t i = 3; i < req->argc; i++) {
        if (cmd_arg_is(&req->argv[i], "nx"))
            fl |= EX_NX;
        else if (cmd_arg_is(&req->argv[i], "xx"))
            fl |= EX_XX;
        else if (cmd_arg_is(&req->argv[i], "gt"))
            fl |= EX_GT;
        else if (cmd_arg_is(&req->argv[i], "lt"))
            fl |= EX_LT;
        else {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR Unsupported option %s",
                             cmd_quote(q, &req->argv[i], 64, false));
            return;
        }
    }
    if ((fl & EX_NX) && (fl & (EX_XX | EX_GT | EX_LT))) {
        cmd_reply_error(s, c,
                        "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((fl & EX_GT) && (fl & EX_LT)) {
        cmd_reply_error(s, c, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    db_key k;
    long long v;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_arg_ll(s, c, &req->argv[2], &v))
        return;
    int64_t at;
    if (!cmd_expire_abs_ms(s, v, unit, &at)) {
        cmd_reply_errorf(s, c, "ERR invalid expire time in '%s' command", name);
        return;
    }
    table *t = cmd_read_table(s, &k);
    int64_t cur;
    if (t == NULL || table_get_expire(t, k.id, &cur) != TABLE_OK) {
        resp_add_int(&c->out, 0);
        return;
    }
    /* No TTL counts as an infinite one for GT and LT, as in Redis. */
    if (((fl & EX_NX) && cur != 0) || ((fl & EX_XX) && cur == 0) ||
        ((fl & EX_GT) && (cur == 0 || at <= cur)) || ((fl & EX_LT) && cur != 0 && at >= cur)) {
        resp_add_int(&c->out, 0);
        return;
    }
    if (at <= s->now_ms) {
        table_del(t, k.id); /* the key is gone at once, as in Redis */
        resp_add_int(&c->out, 1);
        return;
    }
    if (table_expire(t, k.id, at) != TABLE_OK) {
        STAT_INC(&s->st, unexpected_error_replies);
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    resp_add_int(&c->out, 1);
}

static void cmd_expire(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    expire_generic(s, c, req, EXPIRE_SEC, "expire");
}

static void cmd_pexpire(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    expire_generic(s, c, req, EXPIRE_MS, "pexpire");
}

static void cmd_expireat(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    expire_generic(s, c, req, EXPIRE_AT_SEC, "expireat");
}

static void cmd_pexpireat(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    expire_generic(s, c, req, EXPIRE_AT_MS, "pexpireat");
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 missing, -1 no TTL. */
enum { TTL_LEFT_S, TTL_LEFT_MS, TTL_AT_S, TTL_AT_MS };

static void ttl_generic(cmd_server *s, cmd_client *c, const cmd_request *req, int what)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_read_table(s, &k);
    int64_t at;
    if (t == NULL || table_get_expire(t, k.id, &at) != TABLE_OK) {
        resp_add_int(&c->out, -2);
        return;
    }
    if (at == 0) {
        resp_add_int(&c->out, -1);
        return;
    }
    int64_t left = at - s->now_ms;
    if (left < 0)
        left = 0;
    switch (what) {
    case TTL_LEFT_S:
        resp_add_int(&c->out, (left + 500) / 1000); /* rounded, as Redis */
        break;
    case TTL_LEFT_MS:
        resp_add_int(&c->out, left);
        break;
    case TTL_AT_S:
        resp_add_int(&c->out, at / 1000);
        break;
    default:
        resp_add_int(&c->out, at);
        break;
    }
}

static void cmd_ttl(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    ttl_generic(s, c, req, TTL_LEFT_S);
}

static void cmd_pttl(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    ttl_generic(s, c, req, TTL_LEFT_MS);
}

static void cmd_expiretime(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    ttl_generic(s, c, req, TTL_AT_S);
}

static void cmd_pexpiretime(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    ttl_generic(s, c, req, TTL_AT_MS);
}

static void cmd_persist(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_read_table(s, &k);
    int64_t at;
    if (t == NULL || table_get_expire(t, k.id, &at) != TABLE_OK || at == 0) {
        resp_add_int(&c->out, 0);
        return;
    }
    table_expire(t, k.id, 0); /* clearing never needs memory */
    resp_add_int(&c->out, 1);
}

bool cmd_expire_cycle(cmd_server *s, int64_t budget_us)
{
    /* A pause keeps every key, expired or not, as Redis's does. */
    if (s->keys_frozen)
        return false;
    int64_t deadline = cmd_now_us() + budget_us;
    uint64_t looked = 0, expired = 0;
    size_t n = db_ns_count(s->db);
    bool cut = false;
    /* Each namespace gets its turn, starting where the last slice was cut
     * (so a huge namespace does not starve the others); stop when all have
     * swept once or time is up. Expiry never drops a namespace. */
    size_t first = s->expire->next_ns < n ? s->expire->next_ns : 0;
    for (size_t k = 0; k < n && !cut; k++) {
        size_t i = (first + k) % n;
        s->expire->next_ns = i;
        table *t = db_ns_at(s->db, i)->t;
        bool wrapped = false;
        while (!wrapped) {
            uint64_t gone;
            looked += table_expire_scan(t, EXPIRE_SCAN_STEP, &gone, &wrapped);
            expired += gone;
            if (cmd_now_us() >= deadline) {
                cut = true;
                break;
            }
        }
    }
    s->expire->stale_perc = looked > 0 ? 100.0 * (double)expired / (double)looked : 0.0;
    if (cut && s->expire->stale_perc > EXPIRE_BUSY_PERC) {
        s->expire->cycles_cut++;
        return true;
    }
    return false;
}

unsigned cmd_expire_tick(cmd_server *s, int64_t budget_us)
{
    if (s->expire->skip_ticks > 0) {
        s->expire->skip_ticks--;
        return 0;
    }
    bool busy = cmd_expire_cycle(s, budget_us < EXPIRE_SLICE_US ? budget_us : EXPIRE_SLICE_US);
    if (s->expire->stale_perc < EXPIRE_IDLE_PERC)
        s->expire->skip_ticks = EXPIRE_IDLE_SKIP;
    return busy ? EXPIRE_BUSY_SLICES : 0;
}

const cmd_def cmd_expire_rows[] = {
    {"expire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_expire, NULL, "generic", "1.0.0",
     "Sets the expiration time of a key in seconds.", "key seconds [NX|XX|GT|LT]", NULL},
    {"pexpire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_pexpire, NULL, "generic", "2.6.0",
     "Sets the expiration time of a key in milliseconds.", "key milliseconds [NX|XX|GT|LT]", NULL},
    {"expireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_expireat, NULL, "generic", "1.2.0",
     "Sets the expiration time of a key to a Unix timestamp.",
     "key unix-time-seconds [NX|XX|GT|LT]", NULL},
    {"pexpireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_pexpireat, NULL, "generic", "2.6.0",
     "Sets the expiration time of a key to a Unix milliseconds timestamp.",
     "key unix-time-milliseconds [NX|XX|GT|LT]", NULL},
    {"ttl", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_ttl, NULL, "generic", "1.0.0",
     "Returns the expiration time in seconds of a key.", "key", NULL},
    {"pttl", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_pttl, NULL, "generic", "2.6.0",
     "Returns the expiration time in milliseconds of a key.", "key", NULL},
    {"expiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_expiretime, NULL, "generic", "7.0.0",
     "Returns the expiration time of a key as a Unix timestamp.", "key", NULL},
    {"pexpiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_pexpiretime, NULL, "generic", "7.0.0",
     "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key", NULL},
    {"persist", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_persist, NULL, "generic", "2.2.0",
     "Removes the expiration time of a key.", "key", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
