/*
 * stats.h - server counters, declared once (layer 2, libc only).
 *
 * STATS_COUNTERS is the single list: it generates the fields of `stats`,
 * and through figures.h the rows INFO's `# Stats` section prints, in order,
 * with Redis's names, and their /metrics counters.
 * Modules that count take a `stats *`; a NULL pointer is legal (unit tests)
 * and means "don't count", which STAT_INC handles.
 *
 * Row: X(field, "info name", "Prometheus name", "Description, the HELP text.")
 */
#ifndef EBB_STATS_H
#define EBB_STATS_H

#include <stdint.h>

#define STATS_COUNTERS(X)                                                                          \
    X(total_connections_received, "total_connections_received", "ebb_connections_received_total",  \
      "Connections accepted since start.")                                                         \
    X(total_commands_processed, "total_commands_processed", "ebb_commands_processed_total",        \
      "Commands executed, errors included.")                                                       \
    X(total_net_input_bytes, "total_net_input_bytes", "ebb_net_input_bytes_total",                 \
      "Bytes read from clients.")                                                                  \
    X(total_net_output_bytes, "total_net_output_bytes", "ebb_net_output_bytes_total",              \
      "Bytes queued to clients.")                                                                  \
    X(rejected_connections, "rejected_connections", "ebb_rejected_connections_total",              \
      "Connections refused because of maxclients.")                                                \
    X(keyspace_hits, "keyspace_hits", "ebb_keyspace_hits_total",                                   \
      "Key lookups that found the key.")                                                           \
    X(keyspace_misses, "keyspace_misses", "ebb_keyspace_misses_total",                             \
      "Key lookups that found nothing.")                                                           \
    X(expired_keys, "expired_keys", "ebb_expired_keys_total",                                      \
      "Keys reclaimed because their TTL ran out.")                                                 \
    X(total_error_replies, "total_error_replies", "ebb_error_replies_total",                       \
      "Error replies sent.")                                                                       \
    X(unexpected_error_replies, "unexpected_error_replies", "ebb_unexpected_error_replies_total",  \
      "Error replies for internal failures (out of memory).")                                      \
    X(protocol_errors, "protocol_errors", "ebb_protocol_errors_total",                             \
      "Connections closed for a protocol error.")                                                  \
    X(client_output_limit_closes, "client_output_limit_closes",                                    \
      "ebb_client_output_limit_closes_total",                                                      \
      "Clients closed for passing client-output-buffer-limit.")                                    \
    X(client_query_limit_closes, "client_query_limit_closes",                                      \
      "ebb_client_query_limit_closes_total",                                                       \
      "Clients closed for passing client-query-buffer-limit.")                                     \
    X(client_idle_closes, "client_idle_closes", "ebb_client_idle_closes_total",                    \
      "Clients closed by timeout.")

typedef struct {
#define STAT_FIELD(field, name, prom, desc) uint64_t field;
    STATS_COUNTERS(STAT_FIELD)
#undef STAT_FIELD
} stats;

#define STAT_ADD(st, field, n)                                                                     \
    do {                                                                                           \
        if ((st) != NULL)                                                                          \
            (st)->field += (n);                                                                    \
    } while (0)
#define STAT_INC(st, field) STAT_ADD(st, field, 1)

#endif
