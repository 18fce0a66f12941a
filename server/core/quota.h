/*
 * quota.h - memory quotas per namespace (layer 2; quota.c).
 *
 * namespace-maxmemory gives namespaces (the cache's tenants) a quota each,
 * compared with table_memory() of the namespace's table: its records and
 * its index, the figure cmd_evict_used() sums for the whole server. A
 * namespace over its quota evicts its own keys by the policy in force
 * (evict.h), before a write to it and in the cron after a quota was
 * lowered; under noeviction a write to it is refused with -OOM. Other
 * namespaces are not touched, and maxmemory still holds for the server.
 */
#ifndef EBB_QUOTA_H
#define EBB_QUOTA_H

#include "cmd.h"

/* Push namespace-maxmemory into the keyspace (cmd_server_apply_config).
 * False on allocation failure (the quotas in force stay). */
bool cmd_quota_apply(cmd_server *s);

/* Room for a write (row d, argv[0..argc)) in the namespaces of its keys
 * (the key positions of the row): each one over its quota evicts up to a
 * few keys of its own. False when the write must be refused (nothing could
 * be evicted and it is still over). Only meaningful while s->ns_quotas. */
bool cmd_quota_room(cmd_server *s, const struct cmd_def *d, const resp_view *argv, size_t argc);

/* cmd_quota_room, replying -OOM (EVICT_ERR_OOM) when it says no. */
bool cmd_quota_before_write(cmd_server *s, cmd_client *c, const struct cmd_def *d,
                            const resp_view *argv, size_t argc);

/* Background eviction of namespaces over their quotas (a quota lowered),
 * for at most budget_us. True while one is still over. */
bool cmd_quota_cycle(cmd_server *s, int64_t budget_us);

/* How namespace-maxmemory and INFO name a namespace: its name, or
 * CONFIG_NS_DEFAULT for the default one. */
static inline const char *cmd_ns_name(const db_ns *n)
{
    return n->namelen > 0 ? n->name : CONFIG_NS_DEFAULT;
}

#endif
