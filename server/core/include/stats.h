/*
 * stats.h - server counters, declared once (layer 2, libc only).
 *
 * STATS_COUNTERS is the single list: it generates the fields of `stats` and
 * the rows INFO's `# Stats` section prints, in order, with Redis's names.
 * Modules that count take a `stats *`; a NULL pointer is legal (unit tests)
 * and means "don't count", which STAT_INC handles.
 *
 * Row: X(field, "info name", "description")
 */
#ifndef EBB_STATS_H
#define EBB_STATS_H

#include <stdint.h>

#define STATS_COUNTERS(X)                                                        \
    X(total_connections_received, "total_connections_received",                  \
      "connections accepted since start")                                        \
    X(total_commands_processed, "total_commands_processed",                      \
      "commands executed, errors included")                                      \
    X(total_net_input_bytes, "total_net_input_bytes", "bytes read from clients")  \
    X(total_net_output_bytes, "total_net_output_bytes", "bytes queued to clients") \
    X(rejected_connections, "rejected_connections",                              \
      "connections refused because of maxclients")                               \
    X(keyspace_hits, "keyspace_hits", "key lookups that found the key")          \
    X(keyspace_misses, "keyspace_misses", "key lookups that found nothing")      \
    X(expired_keys, "expired_keys", "keys reclaimed because their TTL ran out")    \
    X(total_error_replies, "total_error_replies", "error replies sent")          \
    X(unexpected_error_replies, "unexpected_error_replies",                      \
      "error replies for internal failures (out of memory)")                     \
    X(protocol_errors, "protocol_errors",                                        \
      "connections closed for a protocol error")                                 \
    X(client_output_limit_closes, "client_output_limit_closes",                  \
      "clients closed for passing client-output-buffer-limit")                   \
    X(client_query_limit_closes, "client_query_limit_closes",                    \
      "clients closed for passing client-query-buffer-limit")                    \
    X(client_idle_closes, "client_idle_closes", "clients closed by timeout")

typedef struct {
#define STAT_FIELD(field, name, desc) uint64_t field;
    STATS_COUNTERS(STAT_FIELD)
#undef STAT_FIELD
} stats;

#define STAT_ADD(st, field, n)                                                   \
    do {                                                                         \
        if ((st) != NULL)                                                        \
            (st)->field += (n);                                                  \
    } while (0)
#define STAT_INC(st, field) STAT_ADD(st, field, 1)

#endif
