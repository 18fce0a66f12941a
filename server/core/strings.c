/*
 * strings.c - the string group (layer 2): GET, SET and its variants, MGET,
 * MSET, APPEND, SETRANGE, GETRANGE (and SUBSTR), STRLEN, INCR / DECR and
 * INCRBYFLOAT, with Redis 7's semantics and replies. A value is at most
 * TABLE_VALUE_MAX bytes. LCS is in lcs.c.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "groups.h"
#include "numfmt.h"

static void cmd_get(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    const uint8_t *val;
    size_t len;
    if (cmd_lookup(s, &k, &val, &len))
        resp_add_bulk(&c->out, val, len);
    else
        resp_add_null(&c->out);
}

/* SET flags. The expiry options (EX PX EXAT PXAT KEEPTTL) are parsed here,
 * with Redis's errors. */
enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_EXPIRY = 8, SET_KEEPTTL = 16 };

static void cmd_set(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    unsigned fl = 0;
    int64_t expire_at = 0;
    cmd_expire_unit unit = EXPIRE_SEC;
    const resp_view *expire_arg = NULL;
    /* Redis's precedence: every option word is checked (a syntax error
     * wins) before the expire time is converted, so the word after EX is
     * taken as its argument whatever it is: `SET k v PX GET 3000` is a
     * syntax error (at 3000), not a bad integer (at GET). */
    for (size_t i = 3; i < req->argc; i++) {
        const resp_view *a = &req->argv[i];
        bool has_next = i + 1 < req->argc;
        cmd_expire_unit u;
        if (cmd_arg_is(a, "nx") && !(fl & SET_XX))
            fl |= SET_NX;
        else if (cmd_arg_is(a, "xx") && !(fl & SET_NX))
            fl |= SET_XX;
        else if (cmd_arg_is(a, "get"))
            fl |= SET_GET;
        else if (cmd_arg_is(a, "keepttl") && !(fl & SET_EXPIRY))
            fl |= SET_KEEPTTL;
        else if (cmd_expire_option(a, &u) && !(fl & SET_KEEPTTL) &&
                 (!(fl & SET_EXPIRY) || u == unit) && has_next) {
            /* As Redis: the same option may repeat (the last one wins);
             * two different ones conflict. */
            expire_arg = &req->argv[++i];
            fl |= SET_EXPIRY;
            unit = u;
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    if (expire_arg != NULL && !cmd_expire_time(s, c, expire_arg, unit, "set", &expire_at))
        return;
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_check_value(s, c, &req->argv[2]))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    /* GET: copy the old value out (the lent pointer dies at the set) and
     * reply it only after the set succeeded. A plain SET needs no lookup
     * first: table_put replaces a live key, and one whose time has come
     * it counts as expired and writes anew, as the lookup would have. */
    uint8_t old[TABLE_VALUE_MAX];
    const uint8_t *p;
    size_t oldlen = 0;
    bool exists =
        (fl & (SET_NX | SET_XX | SET_GET)) != 0 && table_get(t, k.id, &p, &oldlen) == TABLE_OK;
    if (exists && (fl & SET_GET))
        memcpy(old, p, oldlen);
    if (fl & SET_GET)
        cmd_count_lookup(s, exists);
    bool skip = ((fl & SET_NX) && exists) || ((fl & SET_XX) && !exists);
    if (!skip && expire_at != 0 && expire_at <= s->now_ms) {
        /* Already expired (EXAT/PXAT in the past): as Redis, the write
         * succeeds and leaves no key behind. */
        table_del(t, k.id);
    } else if (!skip && !cmd_store(s, c, t, k.id, req->argv[2].ptr, req->argv[2].len, expire_at,
                                   (fl & SET_KEEPTTL) != 0)) {
        return;
    }
    if (fl & SET_GET) {
        if (exists)
            resp_add_bulk(&c->out, old, oldlen);
        else
            resp_add_null(&c->out);
    } else if (skip) {
        resp_add_null(&c->out);
    } else {
        resp_add_ok(&c->out);
    }
}

static void cmd_setnx(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_check_value(s, c, &req->argv[2]))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    if (table_get(t, k.id, NULL, NULL) == TABLE_OK) {
        resp_add_int(&c->out, 0);
        return;
    }
    if (cmd_store(s, c, t, k.id, req->argv[2].ptr, req->argv[2].len, 0, false))
        resp_add_int(&c->out, 1);
}

static void cmd_getset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_check_value(s, c, &req->argv[2]))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    /* Copy the old value out before the set (the lent pointer dies there),
     * and reply only once the set has succeeded. */
    uint8_t old[TABLE_VALUE_MAX];
    const uint8_t *p;
    size_t oldlen = 0;
    bool exists = table_get(t, k.id, &p, &oldlen) == TABLE_OK;
    if (exists)
        memcpy(old, p, oldlen);
    cmd_count_lookup(s, exists);
    if (!cmd_store(s, c, t, k.id, req->argv[2].ptr, req->argv[2].len, 0, false))
        return;
    if (exists)
        resp_add_bulk(&c->out, old, oldlen);
    else
        resp_add_null(&c->out);
}

static void cmd_getdel(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    const uint8_t *val;
    size_t len;
    if (!cmd_lookup(s, &k, &val, &len)) {
        resp_add_null(&c->out);
        return;
    }
    resp_add_bulk(&c->out, val, len);
    table_del(cmd_read_table(s, &k), k.id);
}

static void cmd_mget(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    size_t n = req->argc - 1;
    db_key stackbuf[CMD_KEYS_ON_STACK];
    db_key *keys = cmd_keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return;
    if (cmd_parse_keys(s, c, req, 1, 1, keys)) {
        resp_add_array(&c->out, n);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *val;
            size_t len;
            if (cmd_lookup(s, &keys[i], &val, &len))
                resp_add_bulk(&c->out, val, len);
            else
                resp_add_null(&c->out);
        }
    }
    cmd_keys_free(s, keys, stackbuf);
}

/* Shared by MSET and MSETNX: validate everything, resolve every table (so a
 * namespace-cap error changes nothing), then optionally refuse if any key
 * exists, then store. Returns 1 if stored, 0 if refused (nx), -1 on error. */
static int mset_generic(cmd_server *s, cmd_client *c, const cmd_request *req, bool nx)
{
    if ((req->argc - 1) % 2 != 0) {
        cmd_reply_wrong_arity(s, c, nx ? "msetnx" : "mset");
        return -1;
    }
    size_t n = (req->argc - 1) / 2;
    db_key stackbuf[CMD_KEYS_ON_STACK];
    db_key *keys = cmd_keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return -1;
    int rc = -1;
    if (!cmd_parse_keys(s, c, req, 1, 2, keys))
        goto out;
    for (size_t i = 2; i < req->argc; i += 2)
        if (!cmd_check_value(s, c, &req->argv[i]))
            goto out;
    for (size_t i = 0; i < n; i++)
        if (cmd_write_table(s, c, &keys[i]) == NULL)
            goto out;
    if (nx) {
        for (size_t i = 0; i < n; i++) {
            table *t = cmd_read_table(s, &keys[i]);
            if (table_get(t, keys[i].id, NULL, NULL) == TABLE_OK) {
                rc = 0;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!cmd_store(s, c, cmd_read_table(s, &keys[i]), keys[i].id, req->argv[2 + 2 * i].ptr,
                       req->argv[2 + 2 * i].len, 0, false))
            goto out;
    rc = 1;
out:
    cmd_keys_free(s, keys, stackbuf);
    return rc;
}

static void cmd_mset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (mset_generic(s, c, req, false) == 1)
        resp_add_ok(&c->out);
}

static void cmd_msetnx(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    int rc = mset_generic(s, c, req, true);
    if (rc >= 0)
        resp_add_int(&c->out, rc);
}

static void cmd_strlen(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    const uint8_t *val;
    size_t len = 0;
    table *t = cmd_read_table(s, &k);
    if (t == NULL || table_get(t, k.id, &val, &len) != TABLE_OK)
        len = 0;
    resp_add_int(&c->out, (long long)len);
}

static void cmd_append(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *old = NULL;
    size_t oldlen = 0;
    if (t == NULL || table_get(t, k.id, &old, &oldlen) != TABLE_OK)
        oldlen = 0;
    size_t total = oldlen + req->argv[2].len;
    if (total > TABLE_VALUE_MAX) {
        cmd_reply_value_too_long(s, c, total);
        return;
    }
    /* Only a write that will happen may create the namespace. */
    if (t == NULL && (t = cmd_write_table(s, c, &k)) == NULL)
        return;
    uint8_t buf[TABLE_VALUE_MAX];
    if (oldlen > 0)
        memcpy(buf, old, oldlen);
    if (req->argv[2].len > 0)
        memcpy(buf + oldlen, req->argv[2].ptr, req->argv[2].len);
    if (cmd_store(s, c, t, k.id, buf, total, 0, true)) /* keeps its TTL */
        resp_add_int(&c->out, (long long)total);
}

static void cmd_setrange(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    long long off;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_arg_ll(s, c, &req->argv[2], &off))
        return;
    if (off < 0) {
        cmd_reply_error(s, c, "ERR offset is out of range");
        return;
    }
    const resp_view *v = &req->argv[3];
    table *t = cmd_read_table(s, &k);
    const uint8_t *old = NULL;
    size_t oldlen = 0;
    bool exists = t != NULL && table_get(t, k.id, &old, &oldlen) == TABLE_OK;
    if (v->len == 0) {
        /* Nothing to write: Redis replies the current length, creates nothing. */
        resp_add_int(&c->out, exists ? (long long)oldlen : 0);
        return;
    }
    if ((unsigned long long)off + v->len > TABLE_VALUE_MAX) {
        unsigned long long want = (unsigned long long)off + v->len;
        cmd_reply_errorf(s, c, "ERR value is %llu bytes; the maximum is %u", want, TABLE_VALUE_MAX);
        return;
    }
    if (t == NULL && (t = cmd_write_table(s, c, &k)) == NULL)
        return;
    uint8_t buf[TABLE_VALUE_MAX];
    memset(buf, 0, sizeof buf);
    if (exists)
        memcpy(buf, old, oldlen);
    memcpy(buf + off, v->ptr, v->len);
    size_t total = (size_t)off + v->len > oldlen ? (size_t)off + v->len : oldlen;
    if (cmd_store(s, c, t, k.id, buf, total, 0, true)) /* keeps its TTL */
        resp_add_int(&c->out, (long long)total);
}

static void cmd_getrange(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    long long start, end;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_arg_ll(s, c, &req->argv[2], &start) ||
        !cmd_arg_ll(s, c, &req->argv[3], &end))
        return;
    const uint8_t *val = NULL;
    size_t len = 0;
    if (!cmd_lookup(s, &k, &val, &len))
        len = 0;
    long long n = (long long)len;
    /* Redis 7 GETRANGE index rules. */
    if (start < 0 && end < 0 && start > end) {
        resp_add_bulk(&c->out, "", 0);
        return;
    }
    if (start < 0)
        start = n + start;
    if (end < 0)
        end = n + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= n)
        end = n - 1;
    if (n == 0 || start > end) {
        resp_add_bulk(&c->out, "", 0);
        return;
    }
    resp_add_bulk(&c->out, val + start, (size_t)(end - start + 1));
}

static void incr_generic(cmd_server *s, cmd_client *c, const cmd_request *req, long long by)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    const uint8_t *val;
    size_t len;
    long long cur = 0;
    if (table_get(t, k.id, &val, &len) == TABLE_OK && !cmd_parse_ll((const char *)val, len, &cur)) {
        cmd_reply_error(s, c, ERR_NOT_INT);
        return;
    }
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
        (by > 0 && cur > 0 && by > LLONG_MAX - cur)) {
        cmd_reply_error(s, c, "ERR increment or decrement would overflow");
        return;
    }
    cur += by;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", cur);
    if (cmd_store(s, c, t, k.id, buf, (size_t)n, 0, true)) /* keeps its TTL */
        resp_add_int(&c->out, cur);
}

static void cmd_incr(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    incr_generic(s, c, req, 1);
}

static void cmd_decr(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    incr_generic(s, c, req, -1);
}

static void cmd_incrby(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long by;
    if (cmd_arg_ll(s, c, &req->argv[2], &by))
        incr_generic(s, c, req, by);
}

static void cmd_decrby(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long by;
    if (!cmd_arg_ll(s, c, &req->argv[2], &by))
        return;
    if (by == LLONG_MIN) {
        cmd_reply_error(s, c, "ERR decrement would overflow");
        return;
    }
    incr_generic(s, c, req, -by);
}

static void cmd_incrbyfloat(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *val;
    size_t len;
    long double cur = 0, by;
    bool exists = t != NULL && table_get(t, k.id, &val, &len) == TABLE_OK;
    if ((exists && !numfmt_parse_ld((const char *)val, len, &cur)) ||
        !numfmt_parse_ld(req->argv[2].ptr, req->argv[2].len, &by)) {
        cmd_reply_error(s, c, "ERR value is not a valid float");
        return;
    }
    cur += by;
    if (isnan(cur) || isinf(cur)) {
        cmd_reply_error(s, c, "ERR increment would produce NaN or Infinity");
        return;
    }
    /* The sum in Redis's text: fixed notation, so a big or a tiny number
     * may need more than a value holds; that is the value-size error. */
    char buf[NUMFMT_LD_MAX];
    size_t n = numfmt_format_ld(buf, sizeof buf, cur);
    if (n > TABLE_VALUE_MAX) {
        cmd_reply_value_too_long(s, c, n);
        return;
    }
    if (t == NULL && (t = cmd_write_table(s, c, &k)) == NULL)
        return;
    if (cmd_store(s, c, t, k.id, buf, n, 0, true)) /* keeps its TTL */
        resp_add_bulk(&c->out, buf, n);
}

/* SETEX / PSETEX key ttl value */
static void setex_generic(cmd_server *s, cmd_client *c, const cmd_request *req,
                          cmd_expire_unit unit, const char *name)
{
    db_key k;
    int64_t at;
    if (!cmd_key_arg(s, c, req, 1, &k) || !cmd_expire_time(s, c, &req->argv[2], unit, name, &at))
        return;
    if (req->argv[3].len > TABLE_VALUE_MAX) {
        cmd_reply_errorf(s, c, "ERR value is %zu bytes; the maximum is %u", req->argv[3].len,
                         TABLE_VALUE_MAX);
        return;
    }
    table *t = cmd_write_table(s, c, &k);
    if (t != NULL && cmd_store(s, c, t, k.id, req->argv[3].ptr, req->argv[3].len, at, false))
        resp_add_ok(&c->out);
}

static void cmd_setex(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    setex_generic(s, c, req, EXPIRE_SEC, "setex");
}

static void cmd_psetex(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    setex_generic(s, c, req, EXPIRE_MS, "psetex");
}

static void cmd_getex(cmd_server *s, cmd_client *c, const cmd_request *req)
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
    for (size_t i = 2; i < req->argc; i++) {
        cmd_expire_unit u;
        if (cmd_arg_is(&req->argv[i], "persist") && (!change || persist)) {
            change = persist = true;
        } else if (cmd_expire_option(&req->argv[i], &u) && (!change || (!persist && u == unit)) &&
                   i + 1 < req->argc) {
            expire_arg = &req->argv[++i];
            change = true;
            unit = u;
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
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

const cmd_def cmd_string_rows[] = {
    {"get", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_get, NULL, "string", "1.0.0",
     "Returns the value of a key.", "key", NULL},
    {"set", -3, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_set, NULL, "string", "1.0.0",
     "Sets the value of a key.",
     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|"
     "PXAT unix-time-milliseconds|KEEPTTL]",
     NULL},
    {"setnx", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_setnx, NULL, "string", "1.0.0",
     "Sets the value of a key only when the key doesn't exist.", "key value", NULL},
    {"getset", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_getset, NULL, "string", "1.0.0",
     "Returns the previous value of a key after setting it to a new value.", "key value", NULL},
    {"getdel", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_getdel, NULL, "string", "6.2.0",
     "Returns the value of a key after deleting the key.", "key", NULL},
    {"mget", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_mget, NULL, "string", "1.0.0",
     "Atomically returns the values of one or more keys.", "key...", NULL},
    {"mset", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, cmd_mset, NULL, "string", "1.0.1",
     "Atomically sets the values of one or more keys.", "[key value]...", NULL},
    {"msetnx", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, cmd_msetnx, NULL, "string", "1.0.1",
     "Sets the values of one or more keys only when all keys don't exist.", "[key value]...", NULL},
    {"strlen", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_strlen, NULL, "string", "2.2.0",
     "Returns the length of a string value.", "key", NULL},
    {"append", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_append, NULL, "string", "2.0.0",
     "Appends a string to the value of a key.", "key value", NULL},
    {"setrange", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_setrange, NULL, "string", "2.2.0",
     "Overwrites a part of a string value with another by an offset.", "key offset value", NULL},
    {"getrange", 4, CMD_READONLY, 1, 1, 1, cmd_getrange, NULL, "string", "2.4.0",
     "Returns a substring of the string stored at a key.", "key start end", NULL},
    /* Redis 7.0 keeps SUBSTR as GETRANGE under its old name. */
    {"substr", 4, CMD_READONLY, 1, 1, 1, cmd_getrange, NULL, "string", "1.0.0",
     "Returns a substring from a string value.", "key start end", NULL},
    {"setex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_setex, NULL, "string", "2.0.0",
     "Sets the value and expiration time of a key.", "key seconds value", NULL},
    {"psetex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_psetex, NULL, "string", "2.6.0",
     "Sets the value and expiration time in milliseconds of a key.", "key milliseconds value",
     NULL},
    {"getex", -2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_getex, NULL, "string", "6.2.0",
     "Returns the value of a key after setting its expiration time.",
     "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|"
     "PXAT unix-time-milliseconds|PERSIST]",
     NULL},
    {"incr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_incr, NULL, "string", "1.0.0",
     "Increments the integer value of a key by one.", "key", NULL},
    {"decr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_decr, NULL, "string", "1.0.0",
     "Decrements the integer value of a key by one.", "key", NULL},
    {"incrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_incrby, NULL, "string", "1.0.0",
     "Increments the integer value of a key by a number.", "key increment", NULL},
    {"decrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_decrby, NULL, "string", "1.0.0",
     "Decrements a number from the integer value of a key.", "key decrement", NULL},
    {"incrbyfloat", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_incrbyfloat, NULL, "string",
     "2.6.0", "Increment the floating point value of a key by a number.", "key increment", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
