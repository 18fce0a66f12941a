/*
 * dump.c - DUMP and RESTORE (layer 2): a key's value in the RDB
 * serialization Redis uses (rdb.h), so that values move between Redis and
 * ebb with standard tools (redis-cli --rdb, RIOT, DUMP | RESTORE scripts).
 *
 * RESTORE takes what Redis's does (REPLACE, ABSTTL, IDLETIME, FREQ) with
 * Redis's errors; a payload of another type than a string, or whose value
 * is longer than ebb holds, is refused with its own error.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "evict.h"
#include "rdb.h"

static void cmd_dump(cmd_server *s, cmd_client *c, const cmd_request *req)
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
    uint8_t buf[RDB_DUMP_MAX(TABLE_VALUE_MAX)];
    size_t n = rdb_dump_string(val, len, buf);
    resp_add_bulk(&c->out, buf, n);
}

/* RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
 * [FREQ frequency] */
static void cmd_restore(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    bool replace = false, absttl = false;
    long long idle = -1, freq = -1, ttl;
    for (size_t i = 4; i < req->argc; i++) {
        const resp_view *a = &req->argv[i];
        bool more = i + 1 < req->argc;
        if (cmd_arg_is(a, "replace")) {
            replace = true;
        } else if (cmd_arg_is(a, "absttl")) {
            absttl = true;
        } else if (cmd_arg_is(a, "idletime") && more && freq == -1) {
            if (!cmd_arg_ll(s, c, &req->argv[++i], &idle))
                return;
            if (idle < 0) {
                cmd_reply_error(s, c, "ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
        } else if (cmd_arg_is(a, "freq") && more && idle == -1) {
            if (!cmd_arg_ll(s, c, &req->argv[++i], &freq))
                return;
            if (freq < 0 || freq > 255) {
                cmd_reply_error(s, c, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    /* Redis's order: the options, the key's existence, the TTL, the
     * payload. */
    db_key k;
    if (!cmd_key_arg(s, c, req, 1, &k))
        return;
    table *rt = cmd_read_table(s, &k);
    const uint8_t *old;
    size_t oldlen;
    bool exists = rt != NULL && table_peek(rt, k.id, &old, &oldlen) == TABLE_OK;
    if (exists && !replace) {
        cmd_reply_error(s, c, "BUSYKEY Target key name already exists.");
        return;
    }
    if (!cmd_arg_ll(s, c, &req->argv[2], &ttl))
        return;
    if (ttl < 0) {
        cmd_reply_error(s, c, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    const resp_view *payload = &req->argv[3];
    uint8_t *scratch = NULL;
    size_t scratch_cap = 0;
    const uint8_t *val;
    size_t vlen;
    rdb_restore_status st = rdb_restore_string((const uint8_t *)payload->ptr, payload->len,
                                               &scratch, &scratch_cap, &val, &vlen);
    if (st == RDB_RESTORE_BAD) {
        free(scratch);
        cmd_reply_error(s, c, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    if (st == RDB_RESTORE_NOT_STRING) {
        free(scratch);
        cmd_reply_error(s, c, "ERR Bad data format: ebb restores string values only");
        return;
    }
    if (vlen > TABLE_VALUE_MAX) {
        free(scratch);
        cmd_reply_value_too_long(s, c, vlen);
        return;
    }
    int64_t at = 0;
    if (ttl > 0) {
        if (!absttl && !cmd_expire_abs_ms(s, ttl, EXPIRE_MS, &at)) {
            free(scratch);
            cmd_reply_error(s, c, "ERR Invalid TTL value, must be >= 0");
            return;
        }
        if (absttl)
            at = ttl;
        if (at <= s->now_ms) {
            /* Already expired: the key is gone, as in Redis (which deletes
             * an existing one under REPLACE). */
            free(scratch);
            if (exists)
                table_del(rt, k.id);
            resp_add_ok(&c->out);
            return;
        }
    }
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL) {
        free(scratch);
        return;
    }
    bool stored = cmd_store(s, c, t, k.id, val, vlen, at, false);
    free(scratch);
    if (!stored)
        return;
    /* As Redis: IDLETIME counts under an LRU policy, FREQ under an LFU
     * one; the other is ignored. */
    int policy = s->maxmemory_policy;
    bool lru = policy == POLICY_ALLKEYS_LRU || policy == POLICY_VOLATILE_LRU;
    bool lfu = policy == POLICY_ALLKEYS_LFU || policy == POLICY_VOLATILE_LFU;
    if (idle >= 0 && lru) {
        int64_t then = s->now_ms - (idle > s->now_ms / 1000 ? s->now_ms : idle * 1000);
        table_set_stamp(t, k.id, (uint32_t)(then / TABLE_LRU_UNIT_MS));
    } else if (freq >= 0 && lfu) {
        table_set_stamp(t, k.id, table_lfu_stamp(table_lfu_minutes(s->now_ms), (unsigned)freq));
    }
    resp_add_ok(&c->out);
}

const cmd_def cmd_dump_rows[] = {
    {"dump", 2, CMD_READONLY, 1, 1, 1, cmd_dump, NULL, "generic", "2.6.0",
     "Returns a serialized representation of the value stored at a key.", "key", NULL},
    {"restore", -4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_restore, NULL, "generic", "2.6.0",
     "Creates a key from the serialized representation of a value.",
     "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
