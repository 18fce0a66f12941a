/*
 * rename.c - RENAME, RENAMENX and COPY (layer 2, the keyspace group's
 * commands that move or copy a value from one key to another), with Redis
 * 7.0's semantics, errors and replies.
 *
 * The two keys may live in different namespaces, i.e. different tables: the
 * value is copied out of the source's record first (a record is sized to
 * its value, and a write may move records), then written to the
 * destination's table with the source's expire time (RENAME moves the TTL,
 * COPY copies it), and for RENAME the source is deleted last. A write that
 * fails (out of memory, the namespace cap) changes nothing.
 *
 * Both keys are key positions of the rows (1 and 2), so the dispatcher
 * touches both for WATCH, checks maxmemory before COPY (denyoom, as in
 * Redis) and shows the command to MONITOR, as for any write.
 */
#include <string.h>

#include "cmd.h"
#include "groups.h"

static bool same_key(const db_key *a, const db_key *b)
{
    return a->id == b->id && a->nslen == b->nslen && memcmp(a->ns, b->ns, a->nslen) == 0;
}

/* A live key's value and expire time, copied out. */
typedef struct {
    uint8_t val[TABLE_VALUE_MAX];
    size_t len;
    int64_t expire_at; /* 0: none */
} key_copy;

static bool read_key(cmd_server *s, const db_key *k, key_copy *out)
{
    table *t = cmd_read_table(s, k);
    const uint8_t *p;
    if (t == NULL || table_get(t, k->id, &p, &out->len) != TABLE_OK)
        return false;
    memcpy(out->val, p, out->len);
    if (table_get_expire(t, k->id, &out->expire_at) != TABLE_OK)
        out->expire_at = 0;
    return true;
}

static bool key_exists(cmd_server *s, const db_key *k)
{
    table *t = cmd_read_table(s, k);
    return t != NULL && table_get(t, k->id, NULL, NULL) == TABLE_OK;
}

/* Write v to dst (creating its namespace), with v's expire time. False
 * after replying the error. */
static bool write_key(cmd_server *s, cmd_client *c, const db_key *dst, const key_copy *v)
{
    table *t = cmd_write_table(s, c, dst);
    return t != NULL && cmd_store(s, c, t, dst->id, v->val, v->len, v->expire_at, false);
}

static void rename_generic(cmd_server *s, cmd_client *c, const cmd_request *req, bool nx)
{
    db_key src, dst;
    if (!cmd_key_arg(s, c, req, 1, &src) || !cmd_key_arg(s, c, req, 2, &dst))
        return;
    key_copy v;
    if (!read_key(s, &src, &v)) {
        cmd_reply_error(s, c, "ERR no such key");
        return;
    }
    /* Onto itself (in ebb's key model: 7 and 007 are one key): nothing to
     * do, once the key is known to exist, as in Redis. */
    if (same_key(&src, &dst)) {
        if (nx)
            resp_add_int(&c->out, 0);
        else
            resp_add_ok(&c->out);
        return;
    }
    if (nx && key_exists(s, &dst)) {
        resp_add_int(&c->out, 0);
        return;
    }
    if (!write_key(s, c, &dst, &v))
        return;
    /* Looked up again: creating dst's namespace may have moved the list
     * of namespaces (the tables themselves stay). */
    table *t = cmd_read_table(s, &src);
    if (t != NULL)
        table_del(t, src.id);
    if (nx)
        resp_add_int(&c->out, 1);
    else
        resp_add_ok(&c->out);
}

static void cmd_rename(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    rename_generic(s, c, req, false);
}

static void cmd_renamenx(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    rename_generic(s, c, req, true);
}

/* COPY source destination [DB destination-db] [REPLACE]. ebb has database 0
 * only: any other DB gets the error Redis gives for a database it does not
 * have (as SELECT does). */
static void cmd_copy(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    bool replace = false;
    /* Options in order, the first bad one answered, as Redis parses them. */
    for (size_t i = 3; i < req->argc; i++) {
        if (cmd_arg_is(&req->argv[i], "replace")) {
            replace = true;
        } else if (cmd_arg_is(&req->argv[i], "db") && i + 1 < req->argc) {
            long long dbid;
            if (!cmd_arg_ll(s, c, &req->argv[i + 1], &dbid))
                return;
            if (dbid < INT32_MIN || dbid > INT32_MAX) {
                /* Redis's words for an integer that does not fit an int. */
                cmd_reply_error(s, c,
                                "ERR value is out of range, value must between -2147483648 and "
                                "2147483647");
                return;
            }
            if (dbid != 0) {
                cmd_reply_error(s, c, "ERR DB index is out of range");
                return;
            }
            i++;
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    db_key src, dst;
    if (!cmd_key_arg(s, c, req, 1, &src) || !cmd_key_arg(s, c, req, 2, &dst))
        return;
    if (same_key(&src, &dst)) {
        cmd_reply_error(s, c, "ERR source and destination objects are the same");
        return;
    }
    key_copy v;
    bool found = read_key(s, &src, &v);
    cmd_count_lookup(s, found); /* a read of the source, as Redis counts it */
    if (!found || (!replace && key_exists(s, &dst))) {
        resp_add_int(&c->out, 0);
        return;
    }
    if (write_key(s, c, &dst, &v))
        resp_add_int(&c->out, 1);
}

const cmd_def cmd_rename_rows[] = {
    {"rename", 3, CMD_WRITE, 1, 2, 1, cmd_rename, NULL, "generic", "1.0.0", "Renames a key.",
     "key newkey", NULL},
    {"renamenx", 3, CMD_WRITE | CMD_FAST, 1, 2, 1, cmd_renamenx, NULL, "generic", "1.0.0",
     "Renames a key only when the target key name doesn't exist.", "key newkey", NULL},
    {"copy", -3, CMD_WRITE | CMD_DENYOOM, 1, 2, 1, cmd_copy, NULL, "generic", "6.2.0",
     "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]",
     NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
