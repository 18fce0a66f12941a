/*
 * expiry.c - TTLs: the expiry commands, with Redis 7's semantics and replies,
 * and the active expiry cycle (layer 2).
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
#include <string.h>

#include "cmd_internal.h"

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

bool cmd_expire_option(const resp_view *v, cmd_expire_unit *unit)
{
    if (cmd_arg_is(v, "ex"))
        *unit = EXPIRE_SEC;
    else if (cmd_arg_is(v, "px"))
        *unit = EXPIRE_MS;
    else if (cmd_arg_is(v, "exat"))
        *unit = EXPIRE_AT_SEC;
    else if (cmd_arg_is(v, "pxat"))
        *unit = EXPIRE_AT_MS;
    else
        return false;
    return true;
}

/* Absolute ms for value v in unit, or false on overflow. Any sign allowed. */
static bool to_abs_ms(cmd_server *s, long long v, cmd_expire_unit unit, int64_t *at)
{
    bool secs = unit == EXPIRE_SEC || unit == EXPIRE_AT_SEC;
    if (secs && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000))
        return false;
    long long ms = secs ? v * 1000 : v;
    if (unit == EXPIRE_SEC || unit == EXPIRE_MS) {
        if ((ms > 0 && s->now_ms > LLONG_MAX - ms) || (ms < 0 && s->now_ms < LLONG_MIN - ms))
            return false;
        ms += s->now_ms;
    }
    *at = ms;
    return true;
}

bool cmd_expire_time(cmd_server *s, cmd_client *c, const resp_view *v, cmd_expire_unit unit,
                     const char *cmdname, int64_t *at)
{
    long long n;
    if (!cmd_arg_ll(s, c, v, &n))
        return false;
    if (n <= 0 || !to_abs_ms(s, n, unit, at) || *at <= 0) {
        cmd_reply_errorf(s, c, "ERR invalid expire time in '%s' command", cmdname);
        return false;
    }
    return true;
}

/* SETEX / PSETEX key ttl value */
static void setex_generic(cmd_server *s, cmd_client *c, const resp_view *argv,
                          cmd_expire_unit unit, const char *name)
{
    db_key k;
    int64_t at;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !cmd_expire_time(s, c, &argv[2], unit, name, &at))
        return;
    if (argv[3].len > TABLE_VALUE_MAX) {
        cmd_reply_errorf(s, c, "ERR value is %zu bytes; the maximum is %u", argv[3].len,
                         TABLE_VALUE_MAX);
        return;
    }
    table *t = cmd_write_table(s, c, &k);
    if (t != NULL && cmd_store(s, c, t, k.id, argv[3].ptr, argv[3].len, at, false))
        resp_add_ok(&c->out);
}

void cmd_setex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    setex_generic(s, c, argv, EXPIRE_SEC, "setex");
}

void cmd_psetex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    setex_generic(s, c, argv, EXPIRE_MS, "psetex");
}

void cmd_getex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* GETEX key [EX s | PX ms | EXAT ts | PXAT ts-ms | PERSIST] */
    int64_t at = 0;
    bool change = false, persist = false;
    cmd_expire_unit unit = EXPIRE_SEC;
    const resp_view *expire_arg = NULL;
    /* As Redis: an option may repeat (the last one wins); two different
     * ones conflict. Redis's precedence: syntax errors first, then a
     * missing key (nil), and only then the expire time's errors, so
     * `GETEX missing PX -1` is nil. */
    for (size_t i = 2; i < argc; i++) {
        cmd_expire_unit u;
        if (cmd_arg_is(&argv[i], "persist") && (!change || persist)) {
            change = persist = true;
        } else if (cmd_expire_option(&argv[i], &u) && (!change || (!persist && u == unit)) &&
                   i + 1 < argc) {
            expire_arg = &argv[++i];
            change = true;
            unit = u;
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *val;
    size_t len;
    if (t == NULL || table_get(t, k.id, &val, &len) != TABLE_OK) {
        STAT_INC(&s->st, keyspace_misses);
        resp_add_null(&c->out);
        return;
    }
    STAT_INC(&s->st, keyspace_hits);
    /* cmd_expire_time neither moves nor changes the key: val stays valid. */
    if (expire_arg != NULL && !cmd_expire_time(s, c, expire_arg, unit, "getex", &at))
        return;
    resp_add_bulk(&c->out, val, len); /* copied before anything moves */
    if (!change)
        return;
    if (at != 0 && at <= s->now_ms)
        table_del(t, k.id); /* a time in the past: the key goes, as in Redis */
    else if (table_expire(t, k.id, at) == TABLE_NOMEM)
        STAT_INC(&s->st, unexpected_error_replies); /* value already sent */
}

/* EXPIRE-family flags. */
enum { EX_NX = 1, EX_XX = 2, EX_GT = 4, EX_LT = 8 };

static void expire_generic(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc,
                           cmd_expire_unit unit, const char *name)
{
    unsigned fl = 0;
    for (size_t i = 3; i < argc; i++) {
        if (cmd_arg_is(&argv[i], "nx"))
            fl |= EX_NX;
        else if (cmd_arg_is(&argv[i], "xx"))
            fl |= EX_XX;
        else if (cmd_arg_is(&argv[i], "gt"))
            fl |= EX_GT;
        else if (cmd_arg_is(&argv[i], "lt"))
            fl |= EX_LT;
        else {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR Unsupported option %s",
                             cmd_quote(q, &argv[i], 64, false));
            return;
        }
    }
    if ((fl & EX_NX) && (fl & (EX_XX | EX_GT | EX_LT))) {
        cmd_reply_error(s, c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((fl & EX_GT) && (fl & EX_LT)) {
        cmd_reply_error(s, c, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    db_key k;
    long long v;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !cmd_arg_ll(s, c, &argv[2], &v))
        return;
    int64_t at;
    if (!to_abs_ms(s, v, unit, &at)) {
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

void cmd_expire(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    expire_generic(s, c, argv, argc, EXPIRE_SEC, "expire");
}

void cmd_pexpire(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    expire_generic(s, c, argv, argc, EXPIRE_MS, "pexpire");
}

void cmd_expireat(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    expire_generic(s, c, argv, argc, EXPIRE_AT_SEC, "expireat");
}

void cmd_pexpireat(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    expire_generic(s, c, argv, argc, EXPIRE_AT_MS, "pexpireat");
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 missing, -1 no TTL. */
enum { TTL_LEFT_S, TTL_LEFT_MS, TTL_AT_S, TTL_AT_MS };

static void ttl_generic(cmd_server *s, cmd_client *c, const resp_view *key, int what)
{
    db_key k;
    if (!cmd_parse_key(s, c, key, &k))
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

void cmd_ttl(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    ttl_generic(s, c, &argv[1], TTL_LEFT_S);
}

void cmd_pttl(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    ttl_generic(s, c, &argv[1], TTL_LEFT_MS);
}

void cmd_expiretime(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    ttl_generic(s, c, &argv[1], TTL_AT_S);
}

void cmd_pexpiretime(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    ttl_generic(s, c, &argv[1], TTL_AT_MS);
}

void cmd_persist(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
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
    int64_t deadline = cmd_now_us() + budget_us;
    uint64_t looked = 0, expired = 0;
    size_t n = db_ns_count(s->db);
    bool cut = false;
    /* Each namespace gets its turn, starting where the last slice was cut
     * (so a huge namespace does not starve the others); stop when all have
     * swept once or time is up. Expiry never drops a namespace. */
    size_t first = s->expire_next_ns < n ? s->expire_next_ns : 0;
    for (size_t k = 0; k < n && !cut; k++) {
        size_t i = (first + k) % n;
        s->expire_next_ns = i;
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
    s->expire_stale_perc = looked > 0 ? 100.0 * (double)expired / (double)looked : 0.0;
    if (cut && s->expire_stale_perc > EXPIRE_BUSY_PERC) {
        s->expire_cycles_cut++;
        return true;
    }
    return false;
}

unsigned cmd_expire_tick(cmd_server *s, int64_t budget_us)
{
    if (s->expire_skip_ticks > 0) {
        s->expire_skip_ticks--;
        return 0;
    }
    bool busy = cmd_expire_cycle(s, budget_us < EXPIRE_SLICE_US ? budget_us : EXPIRE_SLICE_US);
    if (s->expire_stale_perc < EXPIRE_IDLE_PERC)
        s->expire_skip_ticks = EXPIRE_IDLE_SKIP;
    return busy ? EXPIRE_BUSY_SLICES : 0;
}
