/*
 * memlimit.h - where the memory limit comes from (layer 2; memlimit.c).
 *
 * maxmemory is `auto` by default: the limit is the one the process lives
 * under, its cgroup's, less a headroom for memory that is not data. An
 * explicit maxmemory (bytes, 0 for none, or a percentage of the cgroup's
 * limit) overrides it. The result is cmd_server.maxmemory, which eviction,
 * the dispatcher and INFO read; it is computed again at start, on CONFIG
 * SET, and every second (a `docker update --memory` or an in-place resize
 * is followed without a restart; a lower limit drains in slices, as a
 * lowered maxmemory does).
 *
 * The cgroup's limit
 *   v2: the lowest of memory.max and memory.high along the path from the
 *   process's cgroup up to the hierarchy's root (as mounted); v1: the
 *   lowest memory.limit_in_bytes the same way. v2 is used where its memory
 *   controller is enabled for the process's cgroup, v1 otherwise. "max" and
 *   v1's near-2^63 "unlimited" mean no limit.
 *
 * The headroom under a cgroup limit L: max(L/16, 16 MiB), at most L/2. It
 * holds what is not in used_memory or comes faster than eviction can
 * answer: the binary, thread stacks and allocator slack in RSS, kernel
 * socket buffers charged to the cgroup, a table's index allocated whole
 * when it grows.
 *
 * The OOM guard (cgroup limits only): RSS, read from the OS, is held under
 * L - headroom/2 by evicting more keys (oom_guard_evictions), and under
 * L - headroom/4 by closing the client holding the most buffer memory
 * (oom_guard_client_closes), as Redis's maxmemory-clients would. A client's
 * input buffer may not grow past that line either (cmd_buffer_may_grow,
 * commands.h).
 */
#ifndef EBB_MEMLIMIT_H
#define EBB_MEMLIMIT_H

#include "cmd.h"

/* Where cmd_server.maxmemory came from. */
typedef enum {
    MEMLIMIT_NONE,      /* no limit: maxmemory 0, or auto with no cgroup limit */
    MEMLIMIT_CONFIG,    /* an explicit byte count */
    MEMLIMIT_CGROUP_V1, /* auto or a percentage, from a v1 memory cgroup */
    MEMLIMIT_CGROUP_V2, /* the same, from cgroup v2 */
} memlimit_source;

/* INFO's word for a source: none, config, cgroup-v1, cgroup-v2. */
const char *memlimit_source_name(memlimit_source src);

/* The memory limit of the cgroup this process is in, read from
 * root/proc/self/cgroup, root/proc/self/mountinfo and the cgroup
 * filesystem (root is "" normally; tests give a directory laid out the
 * same way). *limit is 0 when there is none; *src is MEMLIMIT_NONE then,
 * else the version that gave it. Never fails: what cannot be read is no
 * limit. */
void memlimit_read_cgroup(const char *root, uint64_t *limit, memlimit_source *src);

/* The headroom left under a cgroup limit (see above). */
uint64_t memlimit_headroom(uint64_t limit);

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_memlimit_init(cmd_server *s);
void cmd_memlimit_free(cmd_server *s);
/* Compute cmd_server.maxmemory and the eviction policy in force from the
 * configuration and the cgroup (read now). */
void cmd_memlimit_refresh(cmd_server *s);
/* Each cron tick: re-read the cgroup once a second, and run the OOM
 * guard. True when the policy in force changed (the caller gives the
 * tables their options again: LRU stamps follow the policy). */
bool cmd_memlimit_cron(cmd_server *s);

/* Figures for INFO and /metrics. */
typedef struct {
    memlimit_source source;
    uint64_t cgroup_limit; /* 0: none */
    uint64_t headroom;     /* 0 unless the limit is a cgroup's */
    uint64_t guard_evictions, guard_client_closes;
} memlimit_figures;
void cmd_memlimit_figures(const cmd_server *s, memlimit_figures *f);

#endif
