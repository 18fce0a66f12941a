/*
 * quota.c - memory quotas per namespace (see quota.h).
 */
#include "quota.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "evict.h"

static_assert(CONFIG_NS_NAME_MAX == DB_NS_NAME_MAX, "config and db agree on namespace names");

/* Keys a namespace evicts at most before one write, and between clock
 * checks in the cron: as evict.c's EVICT_PER_WRITE and EVICT_STEP, for the
 * same reasons (absorb the write many times over; a few µs each). */
#define QUOTA_PER_WRITE 64u
#define QUOTA_STEP 64u

bool cmd_quota_apply(cmd_server *s)
{
    config_ns_quota *q;
    size_t n;
    char err[160];
    const char *text = s->cfg.namespace_maxmemory.str != NULL ? s->cfg.namespace_maxmemory.str : "";
    /* The text was validated when it was set: only allocation can fail. */
    if (!config_parse_ns_quotas(text, strlen(text), &q, &n, err, sizeof err))
        return false;
    db_quota *dq = n > 0 ? calloc(n, sizeof *dq) : NULL;
    if (n > 0 && dq == NULL) {
        free(q);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(dq[i].name, q[i].name, q[i].len);
        dq[i].len = q[i].len;
        dq[i].bytes = (uint64_t)q[i].bytes;
    }
    free(q);
    bool ok = db_set_quotas(s->db, dq, n);
    free(dq);
    if (ok)
        s->ns_quotas = n;
    return ok;
}

/* Room in the namespace of key text k: false when it is over its quota and
 * nothing of it could be evicted. A namespace that does not exist yet holds
 * nothing, so it has room. */
static bool key_room(cmd_server *s, const resp_view *k)
{
    db_key key;
    if (!db_parse_key(k->ptr, k->len, &key))
        return true; /* the command replies the error itself */
    db_ns *n = db_find(s->db, key.ns, key.nslen);
    if (n == NULL || n->maxmemory == 0)
        return true;
    uint64_t max = n->maxmemory;
    table *t = n->t;
    if (table_memory(t) <= max)
        return true;
    return cmd_evict_table(s, t, max, QUOTA_PER_WRITE) > 0 || table_memory(t) <= max;
}

bool cmd_quota_room(cmd_server *s, const cmd_def *d, const resp_view *argv, size_t argc)
{
    /* As Redis's performEvictions: during a pause nothing is evicted and
     * the write goes on. */
    if (s->ns_quotas == 0 || s->keys_frozen || d->first <= 0 || d->step <= 0)
        return true;
    size_t last = d->last < 0 ? argc - 1 : (size_t)d->last;
    for (size_t i = (size_t)d->first; i < argc && i <= last; i += (size_t)d->step)
        if (!key_room(s, &argv[i]))
            return false;
    return true;
}

bool cmd_quota_before_write(cmd_server *s, cmd_client *c, const cmd_def *d, const resp_view *argv,
                            size_t argc)
{
    if (cmd_quota_room(s, d, argv, argc))
        return true;
    cmd_reply_error(s, c, EVICT_ERR_OOM);
    return false;
}

bool cmd_quota_cycle(cmd_server *s, int64_t budget_us)
{
    if (s->ns_quotas == 0 || s->keys_frozen)
        return false;
    int64_t deadline = cmd_now_us() + budget_us;
    /* Evictions do not add or remove namespaces: the index stays valid. */
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        uint64_t max = n->maxmemory;
        if (max == 0)
            continue;
        while (table_memory(n->t) > max) {
            if (cmd_evict_table(s, n->t, max, QUOTA_STEP) == 0)
                break; /* nothing evictable: its writes get -OOM */
            if (cmd_now_us() >= deadline)
                return true; /* the next slice looks again */
        }
    }
    return false;
}
