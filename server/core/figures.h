/*
 * figures.h - every scalar figure the server reports, listed once (layer 2).
 *
 * FIGURES is the single list: each row renders an INFO field, a /metrics
 * sample, or both, so the two can never disagree on what a figure is.
 * INFO prints the rows of a section in list order (info.c), /metrics every
 * row with a Prometheus name (metrics.c). What a list cannot hold stays with
 * its renderer: INFO's per-namespace and per-class lines, the command and
 * error counters, /metrics' labelled per-namespace, per-class and
 * per-command families and its histogram.
 *
 * Expanded with a macro named X (the stats.h rows call X by name).
 * Row: X(id, section, "info_name", "prom_name", "label", type, kind, scale,
 *        "help", value)
 *   id        an identifier for the row
 *   section   the INFO section (FIG_SEC_*), or FIG_SEC_NONE: /metrics only
 *   info_name the INFO field, NULL: /metrics only
 *   prom_name the Prometheus family, NULL: INFO only. Rows that share a
 *             family sit next to each other and differ by their label.
 *   label     NULL, or the sample's labels, e.g. "mode=\"user\""
 *   type      FIG_GAUGE or FIG_COUNTER (family names end in _total)
 *   kind      how the value is held and printed in INFO (FK_* below)
 *   scale     /metrics value = value x scale (e.g. 1e-6: µs to seconds)
 *   help      the family's HELP text
 *   value     an expression of `s` (cmd_server *) and `m` (const
 *             fig_snapshot *) of the kind's type
 */
#ifndef EBB_FIGURES_H
#define EBB_FIGURES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "cmd.h"
#include "evict.h"
#include "expire.h"
#include "hotkeys.h"
#include "tracking.h"
#include "memory.h"
#include "memlimit.h"
#include "persist.h"
#include "prefault.h"
#include "pubsub.h"
#include "scripting.h"

/* What a render reads once: figures that cost a walk of the namespaces, a
 * read of /proc or a system call. */
typedef struct {
    int64_t now_us;
    uint64_t used;      /* cmd_used_memory */
    uint64_t rss;       /* cmd_rss_bytes */
    size_t blocked;     /* clients waiting for a SHRINK */
    table_stats tot;    /* db_total_stats */
    uint64_t migrating; /* tables migrating */
    prefault_stats pf;
    struct rusage self, children, main_thread;
    cmd_script_figures lua;
    memlimit_figures limit;
} fig_snapshot;

/* The parts of a snapshot a render needs (the rest stays zero): INFO takes
 * only those of the sections it prints. */
enum {
    FIG_NEED_MEMORY = 1 << 0, /* used, rss, pf; raises s->peak_used */
    FIG_NEED_TABLES = 1 << 1, /* tot, migrating: a walk of the namespaces */
    FIG_NEED_CPU = 1 << 2,    /* the rusage figures */
    FIG_NEED_ALL = FIG_NEED_MEMORY | FIG_NEED_TABLES | FIG_NEED_CPU,
};

/* Take the parts `need` of the snapshot (now_us and blocked always). With
 * FIG_NEED_MEMORY it also raises s->peak_used to the used memory seen. */
void fig_snapshot_take(cmd_server *s, fig_snapshot *m, unsigned need);

typedef enum {
    FIG_SEC_NONE,
    FIG_SEC_SERVER,
    FIG_SEC_CLIENTS,
    FIG_SEC_MEMORY,
    FIG_SEC_STATS,
    FIG_SEC_CPU,
    FIG_SEC_TABLE,
} fig_section;

typedef enum { FIG_GAUGE, FIG_COUNTER } fig_type;

/* Kinds: how a row's value is held (the fig_value field) and printed in
 * INFO. In /metrics every kind but FK_STR and FK_HUMAN is a number. */
typedef enum {
    FK_U64,   /* .u, %llu */
    FK_I64,   /* .i, %lld */
    FK_INT,   /* .n, %d */
    FK_F1,    /* .d, %.1f */
    FK_F2,    /* .d, %.2f */
    FK_SEC,   /* .d, seconds, %.6f (CPU times) */
    FK_STR,   /* .str, %s; not in /metrics */
    FK_HUMAN, /* .u, bytes as Redis's human form (1.23M); not in /metrics */
    FK_YESNO, /* .b, yes|no; /metrics 1|0 */
    FK_ONOFF, /* .b, on|off; /metrics 1|0 */
    FK_US_S,  /* .i, µs printed as whole seconds */
    FK_US_D,  /* .i, µs printed as whole days */
    FK_NS_US, /* .u, ns printed as whole µs */
} fig_kind;

typedef union {
    uint64_t u;
    int64_t i;
    int n;
    double d;
    const char *str;
    bool b;
} fig_value;

/* The field of each kind, for the list's expansions (FIG_FIELD(FK_U64) is
 * u). */
#define FIG_FIELD(kind) FIG_FIELD_##kind
#define FIG_FIELD_FK_U64 u
#define FIG_FIELD_FK_I64 i
#define FIG_FIELD_FK_INT n
#define FIG_FIELD_FK_F1 d
#define FIG_FIELD_FK_F2 d
#define FIG_FIELD_FK_SEC d
#define FIG_FIELD_FK_STR str
#define FIG_FIELD_FK_HUMAN u
#define FIG_FIELD_FK_YESNO b
#define FIG_FIELD_FK_ONOFF b
#define FIG_FIELD_FK_US_S i
#define FIG_FIELD_FK_US_D i
#define FIG_FIELD_FK_NS_US u

/* clang-format off */
#define FIGURES(X)                                                                                 \
    X(redis_version, FIG_SEC_SERVER, "redis_version", NULL, NULL, FIG_GAUGE, FK_STR, 1,           \
      "", EBB_REDIS_VERSION)                                                                       \
    X(ebb_version, FIG_SEC_SERVER, "ebb_version", NULL, NULL, FIG_GAUGE, FK_STR, 1, "",           \
      EBB_VERSION)                                                                                 \
    X(redis_mode, FIG_SEC_SERVER, "redis_mode", NULL, NULL, FIG_GAUGE, FK_STR, 1, "",             \
      "standalone")                                                                                \
    X(os, FIG_SEC_SERVER, "os", NULL, NULL, FIG_GAUGE, FK_STR, 1, "", fig_os())                   \
    X(arch_bits, FIG_SEC_SERVER, "arch_bits", NULL, NULL, FIG_GAUGE, FK_INT, 1, "",               \
      (int)(sizeof(void *) * 8))                                                                   \
    X(multiplexing_api, FIG_SEC_SERVER, "multiplexing_api", NULL, NULL, FIG_GAUGE, FK_STR, 1, "", \
      s->proc.event_api)                                                                                \
    X(process_id, FIG_SEC_SERVER, "process_id", NULL, NULL, FIG_GAUGE, FK_I64, 1, "",             \
      (int64_t)getpid())                                                                           \
    X(tcp_port, FIG_SEC_SERVER, "tcp_port", NULL, NULL, FIG_GAUGE, FK_INT, 1, "", s->proc.tcp_port)    \
    X(uptime, FIG_SEC_SERVER, "uptime_in_seconds", "ebb_uptime_seconds", NULL, FIG_GAUGE,         \
      FK_US_S, 1e-6, "Seconds since the server started.", m->now_us - s->proc.start_us)                \
    X(uptime_days, FIG_SEC_SERVER, "uptime_in_days", NULL, NULL, FIG_GAUGE, FK_US_D, 1, "",       \
      m->now_us - s->proc.start_us)                                                                     \
    X(executable, FIG_SEC_SERVER, "executable", NULL, NULL, FIG_GAUGE, FK_STR, 1, "",             \
      s->proc.executable)                                                                               \
    X(config_file, FIG_SEC_SERVER, "config_file", NULL, NULL, FIG_GAUGE, FK_STR, 1, "",           \
      s->proc.config_file)                                                                              \
    X(connected_clients, FIG_SEC_CLIENTS, "connected_clients", "ebb_connected_clients", NULL,     \
      FIG_GAUGE, FK_U64, 1, "Clients connected now.", s->clients.count)                               \
    X(maxclients, FIG_SEC_CLIENTS, "maxclients", "ebb_max_clients", NULL, FIG_GAUGE, FK_I64, 1,   \
      "The maxclients setting.", s->cfg.maxclients.num)                                           \
    X(blocked_clients, FIG_SEC_CLIENTS, "blocked_clients", "ebb_blocked_clients", NULL,           \
      FIG_GAUGE, FK_U64, 1, "Clients waiting for a SHRINK to finish.", m->blocked)                \
    X(tracking_clients, FIG_SEC_CLIENTS, "tracking_clients", "ebb_tracking_clients", NULL,        \
      FIG_GAUGE, FK_U64, 1, "Clients with CLIENT TRACKING on.", (uint64_t)s->tracking_clients)    \
    X(used_memory, FIG_SEC_MEMORY, "used_memory", "ebb_memory_used_bytes", NULL, FIG_GAUGE,       \
      FK_U64, 1,                                                                                   \
      "Memory the server holds: table mappings plus allocator bytes in use (INFO used_memory).",  \
      m->used)                                                                                     \
    X(used_memory_human, FIG_SEC_MEMORY, "used_memory_human", NULL, NULL, FIG_GAUGE, FK_HUMAN, 1, \
      "", m->used)                                                                                 \
    X(used_memory_rss, FIG_SEC_MEMORY, "used_memory_rss", "ebb_memory_rss_bytes", NULL,           \
      FIG_GAUGE, FK_U64, 1, "Resident set size of the process, from /proc.", m->rss)              \
    X(used_memory_rss_human, FIG_SEC_MEMORY, "used_memory_rss_human", NULL, NULL, FIG_GAUGE,      \
      FK_HUMAN, 1, "", m->rss)                                                                     \
    X(used_memory_peak, FIG_SEC_MEMORY, "used_memory_peak", "ebb_memory_peak_used_bytes", NULL,   \
      FIG_GAUGE, FK_U64, 1, "Highest ebb_memory_used_bytes seen.", s->peak_used)                  \
    X(used_memory_peak_human, FIG_SEC_MEMORY, "used_memory_peak_human", NULL, NULL, FIG_GAUGE,    \
      FK_HUMAN, 1, "", s->peak_used)                                                               \
    X(mem_fragmentation_ratio, FIG_SEC_MEMORY, "mem_fragmentation_ratio", NULL, NULL, FIG_GAUGE,  \
      FK_F2, 1, "", m->used > 0 ? (double)m->rss / (double)m->used : 0.0)                          \
    X(maxmemory, FIG_SEC_MEMORY, "maxmemory", "ebb_memory_max_bytes", NULL, FIG_GAUGE, FK_I64, 1, \
      "The memory limit in force (0: none): maxmemory's, or under auto the cgroup's less the headroom.", (int64_t)s->maxmemory)                               \
    X(maxmemory_human, FIG_SEC_MEMORY, "maxmemory_human", NULL, NULL, FIG_GAUGE, FK_HUMAN, 1, "", \
      s->maxmemory)                                                              \
    X(maxmemory_policy, FIG_SEC_MEMORY, "maxmemory_policy", NULL, NULL, FIG_GAUGE, FK_STR, 1, "", \
      CONFIG_OPTION(maxmemory_policy)->words[s->maxmemory_policy])                                                                                   \
    X(maxmemory_source, FIG_SEC_MEMORY, "maxmemory_source", NULL, NULL, FIG_GAUGE, FK_STR, 1, "", \
      memlimit_source_name(m->limit.source))                                                       \
    X(cgroup_memory_limit, FIG_SEC_MEMORY, "cgroup_memory_limit", "ebb_cgroup_memory_limit_bytes", \
      NULL, FIG_GAUGE, FK_U64, 1, "The memory limit of the cgroup the server runs in (0: none).", \
      m->limit.cgroup_limit)                                                                       \
    X(maxmemory_headroom, FIG_SEC_MEMORY, "maxmemory_headroom", "ebb_memory_headroom_bytes",      \
      NULL, FIG_GAUGE, FK_U64, 1,                                                                  \
      "What maxmemory leaves under the cgroup's limit for memory that is not data.",              \
      m->limit.headroom)                                                                           \
    X(oom_guard_evictions, FIG_SEC_MEMORY, "oom_guard_evictions",                                 \
      "ebb_oom_guard_evictions_total", NULL, FIG_COUNTER, FK_U64, 1,                              \
      "Keys evicted because RSS neared the cgroup's limit.", m->limit.guard_evictions)            \
    X(oom_guard_client_closes, FIG_SEC_MEMORY, "oom_guard_client_closes",                         \
      "ebb_oom_guard_client_closes_total", NULL, FIG_COUNTER, FK_U64, 1,                          \
      "Clients closed because RSS neared the cgroup's limit.", m->limit.guard_client_closes)      \
    X(huge_pages, FIG_SEC_MEMORY, "huge_pages", NULL, NULL, FIG_GAUGE, FK_YESNO, 1, "",           \
      s->cfg.huge_pages.num != 0)                                                                  \
    X(prefault, FIG_SEC_MEMORY, "prefault", NULL, NULL, FIG_GAUGE, FK_STR, 1, "",                 \
      s->prefault != NULL ? "on" : s->prefault_tried ? "unavailable" : "off")                     \
    X(prefault_requests, FIG_SEC_MEMORY, "prefault_requests", "ebb_prefault_requests_total",      \
      NULL, FIG_COUNTER, FK_U64, 1, "Ranges asked of the prefault thread.", m->pf.requests)       \
    X(prefault_dropped, FIG_SEC_MEMORY, "prefault_dropped", NULL, NULL, FIG_COUNTER, FK_U64, 1,   \
      "", m->pf.dropped)                                                                           \
    X(prefault_bytes, FIG_SEC_MEMORY, "prefault_bytes", "ebb_prefault_bytes_total", NULL,         \
      FIG_COUNTER, FK_U64, 1, "Bytes the prefault thread faulted in ahead of writes.",            \
      m->pf.bytes)                                                                                 \
    X(prefault_busy, FIG_SEC_MEMORY, "prefault_busy_us", "ebb_prefault_busy_seconds_total", NULL, \
      FIG_COUNTER, FK_NS_US, 1e-9, "Time the prefault thread spent faulting pages in.",           \
      m->pf.busy_ns)                                                                       \
    X(used_memory_lua, FIG_SEC_MEMORY, "used_memory_lua", "ebb_memory_lua_bytes", NULL,           \
      FIG_GAUGE, FK_U64, 1, "Bytes the Lua heap holds (cached scripts and their runs).",          \
      m->lua.heap_bytes)                                                                           \
    X(used_memory_vm_eval, FIG_SEC_MEMORY, "used_memory_vm_eval", NULL, NULL, FIG_GAUGE, FK_U64,  \
      1, "", m->lua.heap_bytes)                                                                    \
    X(used_memory_lua_human, FIG_SEC_MEMORY, "used_memory_lua_human", NULL, NULL, FIG_GAUGE,      \
      FK_HUMAN, 1, "", m->lua.heap_bytes)                                                          \
    X(used_memory_scripts_eval, FIG_SEC_MEMORY, "used_memory_scripts_eval",                      \
      "ebb_memory_scripts_bytes", NULL, FIG_GAUGE, FK_U64, 1,                                      \
      "Bytes of the cached scripts' source text.", m->lua.script_bytes)                            \
    X(number_of_cached_scripts, FIG_SEC_MEMORY, "number_of_cached_scripts", "ebb_cached_scripts", \
      NULL, FIG_GAUGE, FK_U64, 1, "Scripts in the script cache.", m->lua.scripts)                  \
    X(lua_maxmemory, FIG_SEC_MEMORY, "lua_maxmemory", NULL, NULL, FIG_GAUGE, FK_I64, 1, "",       \
      s->cfg.lua_maxmemory.num)                                                                    \
    X(used_memory_snapshot, FIG_SEC_MEMORY, "used_memory_snapshot", "ebb_memory_snapshot_bytes",  \
      NULL, FIG_GAUGE, FK_U64, 1,                                                                  \
      "Bytes a BGSAVE without fork holds on their way to the disk.",                              \
      cmd_persist_buffer_bytes(s))                                                                 \
    X(used_memory_hotkeys, FIG_SEC_MEMORY, "used_memory_hotkeys", "ebb_memory_hotkeys_bytes",     \
      NULL, FIG_GAUGE, FK_U64, 1, "Bytes the hot key summaries hold (HOTKEYS).",                  \
      cmd_hotkeys_bytes(s))                                                                        \
    STATS_COUNTERS(FIG_STAT)                                                                       \
    X(pubsub_channels, FIG_SEC_STATS, "pubsub_channels", "ebb_pubsub_channels", NULL, FIG_GAUGE,  \
      FK_U64, 1, "Channels with at least one subscriber.", cmd_pubsub_channels(s))                \
    X(pubsub_patterns, FIG_SEC_STATS, "pubsub_patterns", "ebb_pubsub_patterns", NULL, FIG_GAUGE,  \
      FK_U64, 1, "Distinct patterns with at least one subscriber.", cmd_pubsub_patterns(s))       \
    X(pubsub_clients, FIG_SEC_NONE, NULL, "ebb_pubsub_clients", NULL, FIG_GAUGE, FK_U64, 1,       \
      "Clients subscribed to at least one channel or pattern.", s->clients.pubsub)                \
    X(pubsub_messages, FIG_SEC_NONE, NULL, "ebb_pubsub_messages_total", NULL, FIG_COUNTER, FK_U64, \
      1, "Messages PUBLISH delivered (one per receiving subscription).", cmd_pubsub_messages(s))  \
    X(longest_stall_us, FIG_SEC_STATS, "longest_stall_us", "ebb_longest_stall_seconds", NULL,     \
      FIG_GAUGE, FK_I64, 1e-6,                                                                     \
      "Longest single command or background slice since start or CONFIG RESETSTAT (INFO "         \
      "longest_stall_cause says what it was).",                                                    \
      s->stall_max_us)                                                                             \
    X(longest_stall_cause, FIG_SEC_STATS, "longest_stall_cause", NULL, NULL, FIG_GAUGE, FK_STR,   \
      1, "", s->stall_cause[0] != '\0' ? s->stall_cause : "none")                                  \
    X(expired_stale_perc, FIG_SEC_STATS, "expired_stale_perc", "ebb_expired_stale_ratio", NULL,   \
      FIG_GAUGE, FK_F2, 0.01,                                                                      \
      "Share of the keys the last active expiry slice looked at that had expired.",               \
      cmd_expire_stale_perc(s))                                                                        \
    X(expired_time_cap_reached_count, FIG_SEC_STATS, "expired_time_cap_reached_count",            \
      "ebb_expire_time_cap_reached_total", NULL, FIG_COUNTER, FK_U64, 1,                          \
      "Active expiry slices cut short by their time budget.", cmd_expire_cycles_cut(s))               \
    X(evicted_keys, FIG_SEC_STATS, "evicted_keys", "ebb_evicted_keys_total", NULL, FIG_COUNTER,   \
      FK_U64, 1, "Keys evicted to stay under maxmemory.", cmd_evict_evicted_keys(s))                        \
    X(evicted_scripts, FIG_SEC_STATS, "evicted_scripts", "ebb_evicted_scripts_total", NULL,       \
      FIG_COUNTER, FK_U64, 1, "Scripts EVAL cached that left for lua-cache-max-scripts.",         \
      m->lua.evicted)                                                                              \
    X(scripts_killed, FIG_SEC_STATS, "scripts_killed", "ebb_scripts_killed_total", NULL,          \
      FIG_COUNTER, FK_U64, 1, "Scripts stopped by SCRIPT KILL.", m->lua.killed)                    \
    X(scripts_busy, FIG_SEC_STATS, "scripts_busy", "ebb_scripts_busy_total", NULL, FIG_COUNTER,   \
      FK_U64, 1, "Scripts that ran past busy-reply-threshold.", m->lua.busy_timeouts)             \
    X(hotkeys_window_samples, FIG_SEC_STATS, "hotkeys_window_samples",                            \
      "ebb_hotkeys_window_samples", NULL, FIG_GAUGE, FK_U64, 1,                                    \
      "Key accesses sampled in the last completed hot key window.",                               \
      cmd_hotkeys_window_samples(s))                                                               \
    X(hotkeys_window_ms, FIG_SEC_STATS, "hotkeys_window_ms", NULL, NULL, FIG_GAUGE, FK_U64, 1,    \
      "", cmd_hotkeys_window_ms(s))                                                                \
    X(tracking_total_keys, FIG_SEC_STATS, "tracking_total_keys", "ebb_tracking_keys", NULL,        \
      FIG_GAUGE, FK_U64, 1, "Keys CLIENT TRACKING remembers clients read.",                       \
      cmd_tracking_keys(s))                                                                        \
    X(tracking_total_items, FIG_SEC_STATS, "tracking_total_items", "ebb_tracking_items", NULL,     \
      FIG_GAUGE, FK_U64, 1, "Client ids over every tracked key.", cmd_tracking_items(s))          \
    X(tracking_total_prefixes, FIG_SEC_STATS, "tracking_total_prefixes",                          \
      "ebb_tracking_prefixes", NULL, FIG_GAUGE, FK_U64, 1, "BCAST prefixes clients track.",       \
      cmd_tracking_prefixes(s))                                                                    \
    X(hotkeys_dropped_samples, FIG_SEC_STATS, "hotkeys_dropped_samples",                          \
      "ebb_hotkeys_dropped_samples_total", NULL, FIG_COUNTER, FK_U64, 1,                          \
      "Hot key samples dropped: their namespace was past the bound on tracked namespaces.",       \
      cmd_hotkeys_dropped(s))                                                                      \
    X(used_cpu_sys, FIG_SEC_CPU, "used_cpu_sys", "ebb_cpu_seconds_total", "mode=\"system\"",      \
      FIG_COUNTER, FK_SEC, 1, "CPU time of the process, by mode (INFO used_cpu_user, used_cpu_sys).", \
      fig_seconds(m->self.ru_stime))                                                               \
    X(used_cpu_user, FIG_SEC_CPU, "used_cpu_user", "ebb_cpu_seconds_total", "mode=\"user\"",      \
      FIG_COUNTER, FK_SEC, 1, "", fig_seconds(m->self.ru_utime))                                   \
    X(used_cpu_sys_children, FIG_SEC_CPU, "used_cpu_sys_children", NULL, NULL, FIG_COUNTER,       \
      FK_SEC, 1, "", fig_seconds(m->children.ru_stime))                                            \
    X(used_cpu_user_children, FIG_SEC_CPU, "used_cpu_user_children", NULL, NULL, FIG_COUNTER,     \
      FK_SEC, 1, "", fig_seconds(m->children.ru_utime))                                            \
    X(used_cpu_sys_main_thread, FIG_SEC_CPU, "used_cpu_sys_main_thread", NULL, NULL, FIG_COUNTER, \
      FK_SEC, 1, "", fig_seconds(m->main_thread.ru_stime))                                         \
    X(used_cpu_user_main_thread, FIG_SEC_CPU, "used_cpu_user_main_thread", NULL, NULL,            \
      FIG_COUNTER, FK_SEC, 1, "", fig_seconds(m->main_thread.ru_utime))                            \
    X(busy_poll, FIG_SEC_CPU, "busy_poll", "ebb_busy_poll", NULL, FIG_GAUGE, FK_ONOFF, 1,         \
      "1 while the event loop polls for requests before sleeping.", s->poll.on)                   \
    X(busy_poll_usec, FIG_SEC_CPU, "busy_poll_usec", "ebb_busy_poll_seconds_total", NULL,         \
      FIG_COUNTER, FK_NS_US, 1e-9,                                                                 \
      "Time the event loop spent polling for requests that had not come yet (wall clock; CPU "    \
      "time unless the machine preempted the server).",                                            \
      s->poll.empty_ns)                                                                    \
    X(table_keys, FIG_SEC_TABLE, "table_keys", "ebb_table_keys", NULL, FIG_GAUGE, FK_U64, 1,      \
      "Keys in every namespace.", m->tot.count)                                                    \
    X(table_buckets, FIG_SEC_TABLE, "table_buckets", "ebb_table_buckets", NULL, FIG_GAUGE,        \
      FK_U64, 1, "Buckets of the tables' current arrays.", m->tot.buckets)                        \
    X(table_overflow_buckets, FIG_SEC_TABLE, "table_overflow_buckets",                            \
      "ebb_table_overflow_buckets", NULL, FIG_GAUGE, FK_U64, 1, "Overflow buckets in use.",       \
      m->tot.overflow_buckets)                                                                     \
    X(table_load_factor, FIG_SEC_TABLE, "table_load_factor", NULL, NULL, FIG_GAUGE, FK_F2, 1, "", \
      m->tot.buckets > 0 ? (double)m->tot.count / (double)m->tot.buckets : 0.0)                    \
    X(table_index_bytes, FIG_SEC_TABLE, "table_index_bytes", "ebb_table_index_bytes", NULL,       \
      FIG_GAUGE, FK_U64, 1, "Bytes mapped for bucket arrays and overflow pools.",                 \
      m->tot.index_bytes)                                                                          \
    X(table_payload_bytes, FIG_SEC_TABLE, "table_payload_bytes", "ebb_table_payload_bytes", NULL, \
      FIG_GAUGE, FK_U64, 1,                                                                        \
      "Record chunk pages that may be resident (keys and values), and staged huge pages.",        \
      m->tot.payload_bytes)                                                                        \
    X(table_record_bytes, FIG_SEC_TABLE, "table_record_bytes", "ebb_table_record_bytes", NULL,    \
      FIG_GAUGE, FK_U64, 1, "Bytes of the records themselves: keys x record size.",               \
      m->tot.record_bytes)                                                                         \
    X(table_meta_bytes, FIG_SEC_NONE, NULL, "ebb_table_meta_bytes", NULL, FIG_GAUGE, FK_U64, 1,   \
      "Bytes mapped for expire-time and LRU arrays.", m->tot.meta_bytes)                          \
    X(table_bytes, FIG_SEC_TABLE, "table_bytes", NULL, NULL, FIG_GAUGE, FK_U64, 1, "",            \
      m->tot.index_bytes + m->tot.payload_bytes)                                                   \
    X(table_bytes_per_key, FIG_SEC_TABLE, "table_bytes_per_key", NULL, NULL, FIG_GAUGE, FK_F1, 1, \
      "",                                                                                          \
      m->tot.count > 0 ? (double)(m->tot.index_bytes + m->tot.payload_bytes) / (double)m->tot.count \
                       : 0.0)                                                                      \
    X(table_migrating, FIG_SEC_TABLE, "table_migrating", "ebb_table_migrating", NULL, FIG_GAUGE,  \
      FK_U64, 1, "Tables with a grow or shrink migration in progress.", m->migrating)             \
    X(table_grows, FIG_SEC_TABLE, "table_grows", "ebb_table_grows_total", NULL, FIG_COUNTER,      \
      FK_U64, 1, "Migrations to a bigger bucket array started.", m->tot.grows)                    \
    X(table_shrinks_auto, FIG_SEC_TABLE, "table_shrinks_auto", "ebb_table_shrinks_total",         \
      "trigger=\"auto\"", FIG_COUNTER, FK_U64, 1,                                                  \
      "Shrink migrations started, by trigger (auto-shrink or SHRINK).", m->tot.shrinks_auto)      \
    X(table_shrinks_manual, FIG_SEC_TABLE, "table_shrinks_manual", "ebb_table_shrinks_total",     \
      "trigger=\"manual\"", FIG_COUNTER, FK_U64, 1, "", m->tot.shrinks_manual)                     \
    X(table_prefault_waits, FIG_SEC_TABLE, "table_prefault_waits",                                \
      "ebb_table_prefault_waits_total", NULL, FIG_COUNTER, FK_U64, 1,                              \
      "Writes that left a migration step for a huge page still being faulted in.",                \
      m->tot.prefault_waits)                                                                       \
    X(table_huge_record_bytes, FIG_SEC_TABLE, "table_huge_record_bytes",                          \
      "ebb_table_huge_record_bytes", NULL, FIG_GAUGE, FK_U64, 1,                                   \
      "Record chunk bytes moved into 2 MiB pages (huge-pages yes).", m->tot.huge_record_bytes)    \
    X(table_huge_index_bytes, FIG_SEC_TABLE, "table_huge_index_bytes",                            \
      "ebb_table_huge_index_bytes", NULL, FIG_GAUGE, FK_U64, 1,                                    \
      "Bucket array bytes moved into 2 MiB pages (huge-pages yes).", m->tot.huge_index_bytes)     \
    X(table_promotions, FIG_SEC_TABLE, "table_promotions", "ebb_table_promotions_total", NULL,    \
      FIG_COUNTER, FK_U64, 1, "2 MiB ranges of records or bucket arrays moved into huge pages.",  \
      m->tot.promotions)                                                                           \
    X(shrink_commands, FIG_SEC_TABLE, "shrink_commands", "ebb_shrink_commands_total", NULL,       \
      FIG_COUNTER, FK_U64, 1, "SHRINK commands completed.", cmd_shrink_commands(s))                   \
    X(shrink_jobs_pending, FIG_SEC_TABLE, "shrink_jobs_pending", NULL, NULL, FIG_GAUGE, FK_INT,   \
      1, "", cmd_shrink_pending(s) ? 1 : 0)                                                       \
    X(last_shrink_command_us, FIG_SEC_TABLE, "last_shrink_command_us", NULL, NULL, FIG_GAUGE,     \
      FK_U64, 1, "", cmd_shrink_last_us(s))                                                            \
    X(last_shrink_command_freed, FIG_SEC_TABLE, "last_shrink_command_freed", NULL, NULL,          \
      FIG_GAUGE, FK_I64, 1, "", cmd_shrink_last_freed(s))                                              \
    X(auto_shrink, FIG_SEC_TABLE, "auto_shrink", NULL, NULL, FIG_GAUGE, FK_YESNO, 1, "",          \
      s->cfg.auto_shrink.num != 0)                                                                 \
    X(namespaces, FIG_SEC_NONE, NULL, "ebb_namespaces", NULL, FIG_GAUGE, FK_U64, 1,               \
      "Named namespaces (the default one not counted).", (uint64_t)(db_ns_count(s->db) - 1))
/* clang-format on */

/* The counters of stats.h, as rows. FIGURES is expanded with a macro named
 * X, which these rows call too. */
#define FIG_STAT(field, name, prom, desc)                                                          \
    X(stat_##field, FIG_SEC_STATS, name, prom, NULL, FIG_COUNTER, FK_U64, 1, desc, s->st.field)

/* INFO: the rows of one section, "name:value\r\n" each. */
void fig_render_info(cmd_server *s, const fig_snapshot *m, fig_section sec, strbuf *b);
/* /metrics: every row with a Prometheus name, as families. */
void fig_render_prometheus(cmd_server *s, const fig_snapshot *m, strbuf *b);

/* The HELP and TYPE lines of a /metrics family (HELP escaped as the text
 * format requires), for the labelled families metrics.c writes itself. */
void fig_prom_family(strbuf *b, const char *name, const char *type, const char *help);

/* Helpers of the row values. */
const char *fig_os(void); /* "Linux 6.1.0 x86_64", uname's, read once */
static inline double fig_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

#endif
