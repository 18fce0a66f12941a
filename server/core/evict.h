/*
 * evict.h - maxmemory: evicting keys to stay under it (layer 2; evict.c).
 */
#ifndef EBB_EVICT_H
#define EBB_EVICT_H

#include "cmd.h"

/* maxmemory-policy's values, by their index (config.h's list). */
typedef enum {
#define POLICY(id, word) id,
    CONFIG_EVICT_POLICIES(POLICY)
#undef POLICY
} evict_policy;

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_evict_init(cmd_server *s);
void cmd_evict_free(cmd_server *s);
/* Keys evicted since start or CONFIG RESETSTAT. */
uint64_t cmd_evict_evicted_keys(const cmd_server *s);
void cmd_evict_reset_stats(cmd_server *s);

/* The error of a write refused over maxmemory, Redis's wording. */
#define EVICT_ERR_OOM "OOM command not allowed when used memory > 'maxmemory'."
/* Before a command that may add memory: evict to get under maxmemory. False
 * (after replying -OOM) when the command must be refused. */
bool cmd_evict_before_write(cmd_server *s, cmd_client *c);
/* The same without the reply: false when the write must be refused. */
bool cmd_evict_room(cmd_server *s);
/* Evict keys by the policy until about `bytes` are freed, at most
 * max_keys of them (none under noeviction); returns how many. For the OOM
 * guard (memlimit.h), which answers RSS rather than used_memory. */
unsigned cmd_evict_bytes(cmd_server *s, uint64_t bytes, unsigned max_keys);
/* Background eviction toward maxmemory for at most budget_us (after CONFIG
 * SET maxmemory lowered it). Returns true while still over the limit. */
bool cmd_evict_cycle(cmd_server *s, int64_t budget_us);
/* Evict keys of table t alone (one namespace over its quota), by the
 * policy in force, until table_memory(t) is at most max or max_keys keys
 * went (none under noeviction); returns how many. */
unsigned cmd_evict_table(cmd_server *s, table *t, uint64_t max, unsigned max_keys);
/* A random 64-bit number (xorshift64*; not for secrets). */
uint64_t cmd_random(cmd_server *s);
/* A namespace's table picked with probability proportional to its keys
 * (with_ttl: its keys with a TTL); NULL if there are none. */
table *cmd_pick_table(cmd_server *s, bool with_ttl);
/* The memory figure maxmemory is compared with. */
uint64_t cmd_evict_used(const cmd_server *s);

#endif
