/*
 * commands.c - the command table and the handlers of ebb's data, connection
 * and server commands. See commands.h for the contract.
 *
 * Error wording follows Redis 7 wherever Redis has the same error; the few
 * errors of ebb's own (invalid key, value too long, namespace cap) are
 * defined once below.
 */
#include "commands.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "cmd_internal.h"
#include "log.h"
#include "prefault.h"
#include "strbuf.h"

/* The Redis version ebb answers as in HELLO and INFO: the command set and
 * reply shapes it follows are Redis 7.0's, and clients pick features by it. */
#define EBB_REDIS_VERSION "7.0.0"

/* ---- The command table ---------------------------------------------------- */

typedef void cmd_handler(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);

/* Flags, shown by COMMAND as Redis's flag names. */
enum {
    CMD_WRITE = 1 << 0,    /* may change the keyspace */
    CMD_READONLY = 1 << 1, /* reads keys only */
    CMD_FAST = 1 << 2,     /* O(1) or O(log N) */
    CMD_ADMIN = 1 << 3,    /* server administration */
    CMD_DENYOOM = 1 << 4,  /* may add memory */
    CMD_STALE = 1 << 5,    /* harmless at any time (PING, INFO...) */
    CMD_NO_AUTH = 1 << 6,  /* allowed before AUTH */
};

/*
 * One row per command (or subcommand of a container).
 *   name       lowercase; matched case-insensitively
 *   arity      > 0: exactly that many argv entries, name included;
 *              < 0: at least -arity
 *   flags      CMD_* above
 *   first, last, step   key positions for COMMAND (0 0 0: no keys;
 *              last -1: to the end)
 *   fn         the handler, or NULL for a container whose `subs` table is
 *              searched with argv[1]
 *   subs       subcommand rows of a container, ended by a row with NULL name
 *   group, since, summary   for COMMAND DOCS
 */
typedef struct cmd_def {
    const char *name;
    int arity;
    unsigned flags;
    int first, last, step;
    cmd_handler *fn;
    const struct cmd_def *subs;
    const char *group;
    const char *since;
    const char *summary;
} cmd_def;

#define H(name) static void name(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
H(cmd_ping);
H(cmd_echo);
H(cmd_quit);
H(cmd_select);
H(cmd_hello);
H(cmd_auth);
H(cmd_client_setname);
H(cmd_client_getname);
H(cmd_client_id);
H(cmd_client_setinfo);
H(cmd_client_list);
H(cmd_client_info);
H(cmd_client_help);
H(cmd_client_noop);
H(cmd_latency_histogram);
H(cmd_latency_help);
H(cmd_command);
H(cmd_command_count);
H(cmd_command_docs);
H(cmd_command_info);
H(cmd_command_list);
H(cmd_config_get);
H(cmd_config_set);
H(cmd_config_resetstat);
H(cmd_config_help);
H(cmd_dbsize);
H(cmd_flushall);
H(cmd_time);
H(cmd_info);
H(cmd_shutdown);
H(cmd_get);
H(cmd_set);
H(cmd_setnx);
H(cmd_getset);
H(cmd_getdel);
H(cmd_mget);
H(cmd_mset);
H(cmd_msetnx);
H(cmd_del);
H(cmd_exists);
H(cmd_touch);
H(cmd_type);
H(cmd_strlen);
H(cmd_append);
H(cmd_setrange);
H(cmd_getrange);
H(cmd_incr);
H(cmd_decr);
H(cmd_incrby);
H(cmd_decrby);
#undef H

static const cmd_def client_subs[] = {
    {"setname", 3, CMD_STALE, 0, 0, 0, cmd_client_setname, NULL, "connection", "2.6.9",
     "Sets the connection name."},
    {"getname", 2, CMD_STALE, 0, 0, 0, cmd_client_getname, NULL, "connection", "2.6.9",
     "Returns the name of the connection."},
    {"id", 2, CMD_STALE, 0, 0, 0, cmd_client_id, NULL, "connection", "5.0.0",
     "Returns the unique client ID of the connection."},
    {"setinfo", 4, CMD_STALE, 0, 0, 0, cmd_client_setinfo, NULL, "connection", "7.2.0",
     "Sets information specific to the client or connection."},
    {"list", -2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_client_list, NULL, "connection",
     "2.4.0", "Lists open connections."},
    {"info", 2, CMD_STALE, 0, 0, 0, cmd_client_info, NULL, "connection", "6.2.0",
     "Returns information about the connection."},
    {"kill", -3, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_client_kill, NULL, "connection", "2.4.0",
     "Terminates open connections."},
    {"no-evict", 3, CMD_STALE, 0, 0, 0, cmd_client_noop, NULL, "connection", "7.0.0",
     "Accepted for compatibility; ebb never evicts clients."},
    {"no-touch", 3, CMD_STALE, 0, 0, 0, cmd_client_noop, NULL, "connection", "7.2.0",
     "Accepted for compatibility; reads always count as accesses."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_client_help, NULL, "connection", "5.0.0",
     "Returns helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def slowlog_subs[] = {
    {"get", -2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_slowlog_get, NULL, "server", "2.2.12",
     "Returns the slow log's entries."},
    {"len", 2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_slowlog_len, NULL, "server", "2.2.12",
     "Returns the number of entries in the slow log."},
    {"reset", 2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_slowlog_reset, NULL, "server", "2.2.12",
     "Clears all entries from the slow log."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_slowlog_help, NULL, "server", "6.2.0",
     "Show helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def object_subs[] = {
    {"encoding", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the internal encoding of a value (as Redis would name it)."},
    {"freq", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "4.0.0",
     "Returns the logarithmic access frequency counter of a Redis object."},
    {"idletime", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the time since the last access to a key (LRU policies)."},
    {"refcount", 3, CMD_READONLY, 2, 2, 1, cmd_object, NULL, "generic", "2.2.3",
     "Returns the reference count of a value."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_object_help, NULL, "generic", "6.2.0",
     "Returns helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def latency_subs[] = {
    {"latest", 2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_latency_latest, NULL, "server", "2.8.13",
     "Returns the longest event-loop stall since start or reset."},
    {"histogram", -2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_latency_histogram, NULL, "server",
     "7.0.0", "Returns the cumulative distribution of latencies of commands."},
    {"reset", -2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_latency_reset, NULL, "server", "2.8.13",
     "Resets the stall record."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_latency_help, NULL, "server", "2.8.13",
     "Returns helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def command_subs[] = {
    {"count", 2, CMD_STALE, 0, 0, 0, cmd_command_count, NULL, "server", "2.8.13",
     "Returns a count of commands."},
    {"docs", -2, CMD_STALE, 0, 0, 0, cmd_command_docs, NULL, "server", "7.0.0",
     "Returns documentary information about one, multiple or all commands."},
    {"info", -2, CMD_STALE, 0, 0, 0, cmd_command_info, NULL, "server", "2.8.13",
     "Returns information about one, multiple or all commands."},
    {"list", -2, CMD_STALE, 0, 0, 0, cmd_command_list, NULL, "server", "7.0.0",
     "Returns a list of command names."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def config_subs[] = {
    {"get", -3, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_config_get, NULL, "server", "2.0.0",
     "Returns the effective values of configuration parameters."},
    {"set", -4, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_config_set, NULL, "server", "2.0.0",
     "Sets configuration parameters in-flight."},
    {"resetstat", 2, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_config_resetstat, NULL, "server",
     "2.0.0", "Resets the server's statistics."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_config_help, NULL, "server", "5.0.0",
     "Returns helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def memory_subs[] = {
    {"usage", -3, CMD_READONLY, 2, 2, 1, cmd_memory_usage, NULL, "server", "4.0.0",
     "Estimates the memory usage of a key."},
    {"stats", 2, CMD_STALE, 0, 0, 0, cmd_memory_stats, NULL, "server", "4.0.0",
     "Returns details about memory usage."},
    {"purge", 2, CMD_STALE, 0, 0, 0, cmd_memory_purge, NULL, "server", "4.0.0",
     "Gives free allocator memory back to the operating system."},
    {"doctor", 2, CMD_STALE, 0, 0, 0, cmd_memory_doctor, NULL, "server", "4.0.0",
     "Outputs a memory problems report."},
    {"help", 2, CMD_STALE, 0, 0, 0, cmd_memory_help, NULL, "server", "4.0.0",
     "Returns helpful text about the different subcommands."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def commands[] = {
    /* connection */
    {"ping", -1, CMD_FAST | CMD_STALE, 0, 0, 0, cmd_ping, NULL, "connection", "1.0.0",
     "Returns the server's liveliness response."},
    {"echo", 2, CMD_FAST | CMD_STALE, 0, 0, 0, cmd_echo, NULL, "connection", "1.0.0",
     "Returns the given string."},
    {"quit", -1, CMD_FAST | CMD_STALE | CMD_NO_AUTH, 0, 0, 0, cmd_quit, NULL, "connection", "1.0.0",
     "Closes the connection."},
    {"select", 2, CMD_FAST | CMD_STALE, 0, 0, 0, cmd_select, NULL, "connection", "1.0.0",
     "Changes the selected database (only 0 exists)."},
    {"hello", -1, CMD_FAST | CMD_STALE | CMD_NO_AUTH, 0, 0, 0, cmd_hello, NULL, "connection", "6.0.0",
     "Handshakes with the server, choosing RESP2 or RESP3."},
    {"auth", -2, CMD_FAST | CMD_STALE | CMD_NO_AUTH, 0, 0, 0, cmd_auth, NULL, "connection", "1.0.0",
     "Authenticates the connection."},
    {"client", -2, CMD_STALE, 0, 0, 0, NULL, client_subs, "connection", "2.4.0",
     "A container for client connection commands."},
    /* server */
    {"command", -1, CMD_STALE, 0, 0, 0, cmd_command, command_subs, "server", "2.8.13",
     "Returns detailed information about all commands."},
    {"config", -2, CMD_STALE, 0, 0, 0, NULL, config_subs, "server", "2.0.0",
     "A container for server configuration commands."},
    {"dbsize", 1, CMD_READONLY | CMD_FAST, 0, 0, 0, cmd_dbsize, NULL, "server", "1.0.0",
     "Returns the number of keys in the database."},
    {"scan", -2, CMD_READONLY, 0, 0, 0, cmd_scan, NULL, "generic", "2.8.0",
     "Iterates over the key names in the database."},
    {"keys", 2, CMD_READONLY, 0, 0, 0, cmd_keys, NULL, "generic", "1.0.0",
     "Returns all key names that match a pattern."},
    {"randomkey", 1, CMD_READONLY, 0, 0, 0, cmd_randomkey, NULL, "generic", "1.0.0",
     "Returns a random key name from the database."},
    {"flushall", -1, CMD_WRITE, 0, 0, 0, cmd_flushall, NULL, "server", "1.0.0",
     "Removes all keys and gives their memory back."},
    {"flushdb", -1, CMD_WRITE, 0, 0, 0, cmd_flushall, NULL, "server", "1.0.0",
     "Removes all keys of the (only) database."},
    {"time", 1, CMD_FAST | CMD_STALE, 0, 0, 0, cmd_time, NULL, "server", "2.6.0",
     "Returns the server time."},
    {"info", -1, CMD_STALE, 0, 0, 0, cmd_info, NULL, "server", "1.0.0",
     "Returns information and statistics about the server."},
    {"shutdown", -1, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_shutdown, NULL, "server", "1.0.0",
     "Stops the server: SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]."},
    {"memory", -2, CMD_STALE, 0, 0, 0, NULL, memory_subs, "server", "4.0.0",
     "A container for memory diagnostics commands."},
    {"slowlog", -2, CMD_STALE, 0, 0, 0, NULL, slowlog_subs, "server", "2.2.12",
     "A container for slow log commands."},
    {"latency", -2, CMD_STALE, 0, 0, 0, NULL, latency_subs, "server", "2.8.13",
     "A container for latency diagnostics commands."},
    {"monitor", 1, CMD_ADMIN | CMD_STALE, 0, 0, 0, cmd_monitor, NULL, "server", "1.0.0",
     "Listens for all requests received by the server in real time."},
    {"object", -2, CMD_READONLY, 0, 0, 0, NULL, object_subs, "generic", "2.2.3",
     "A container for object introspection commands."},
    {"shrink", -1, CMD_ADMIN, 0, 0, 0, cmd_shrink, NULL, "server", "0.1.0",
     "Shrinks tables now and gives freed memory back: SHRINK [namespace] [ASYNC]."},
    /* string */
    {"get", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_get, NULL, "string", "1.0.0",
     "Returns the value of a key."},
    {"set", -3, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_set, NULL, "string", "1.0.0",
     "Sets the value of a key."},
    {"setnx", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_setnx, NULL, "string",
     "1.0.0", "Sets the value of a key only when the key doesn't exist."},
    {"getset", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_getset, NULL, "string",
     "1.0.0", "Returns the previous value of a key after setting it to a new value."},
    {"getdel", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_getdel, NULL, "string", "6.2.0",
     "Returns the value of a key after deleting the key."},
    {"mget", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_mget, NULL, "string", "1.0.0",
     "Atomically returns the values of one or more keys."},
    {"mset", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, cmd_mset, NULL, "string", "1.0.1",
     "Atomically sets the values of one or more keys."},
    {"msetnx", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, cmd_msetnx, NULL, "string", "1.0.1",
     "Sets the values of one or more keys only when all keys don't exist."},
    {"del", -2, CMD_WRITE, 1, -1, 1, cmd_del, NULL, "generic", "1.0.0",
     "Deletes one or more keys."},
    {"unlink", -2, CMD_WRITE | CMD_FAST, 1, -1, 1, cmd_del, NULL, "generic", "4.0.0",
     "Deletes one or more keys."},
    {"exists", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_exists, NULL, "generic", "1.0.0",
     "Determines whether one or more keys exist."},
    {"touch", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, cmd_touch, NULL, "generic", "3.2.1",
     "Returns the number of existing keys out of those specified."},
    {"type", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_type, NULL, "generic", "1.0.0",
     "Determines the type of value stored at a key."},
    {"strlen", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_strlen, NULL, "string", "2.2.0",
     "Returns the length of a string value."},
    {"append", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_append, NULL, "string",
     "2.0.0", "Appends a string to the value of a key."},
    {"setrange", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_setrange, NULL, "string", "2.2.0",
     "Overwrites a part of a string value with another by an offset."},
    {"getrange", 4, CMD_READONLY, 1, 1, 1, cmd_getrange, NULL, "string", "2.4.0",
     "Returns a substring of the string stored at a key."},
    {"setex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_setex, NULL, "string", "2.0.0",
     "Sets the value and expiration time of a key."},
    {"psetex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, cmd_psetex, NULL, "string", "2.6.0",
     "Sets the value and expiration time in milliseconds of a key."},
    {"getex", -2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_getex, NULL, "string", "6.2.0",
     "Returns the value of a key after setting its expiration time."},
    {"expire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_expire, NULL, "generic", "1.0.0",
     "Sets the expiration time of a key in seconds."},
    {"pexpire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_pexpire, NULL, "generic", "2.6.0",
     "Sets the expiration time of a key in milliseconds."},
    {"expireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_expireat, NULL, "generic", "1.2.0",
     "Sets the expiration time of a key to a Unix timestamp."},
    {"pexpireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_pexpireat, NULL, "generic", "2.6.0",
     "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"ttl", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_ttl, NULL, "generic", "1.0.0",
     "Returns the expiration time in seconds of a key."},
    {"pttl", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_pttl, NULL, "generic", "2.6.0",
     "Returns the expiration time in milliseconds of a key."},
    {"expiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_expiretime, NULL, "generic",
     "7.0.0", "Returns the expiration time of a key as a Unix timestamp."},
    {"pexpiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, cmd_pexpiretime, NULL, "generic",
     "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"persist", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, cmd_persist, NULL, "generic", "2.2.0",
     "Removes the expiration time of a key."},
    {"incr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_incr, NULL, "string",
     "1.0.0", "Increments the integer value of a key by one."},
    {"decr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_decr, NULL, "string",
     "1.0.0", "Decrements the integer value of a key by one."},
    {"incrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_incrby, NULL, "string",
     "1.0.0", "Increments the integer value of a key by a number."},
    {"decrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, cmd_decrby, NULL, "string",
     "1.0.0", "Decrements a number from the integer value of a key."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static size_t count_subs(const cmd_def *subs)
{
    size_t n = 0;
    while (subs[n].name != NULL)
        n++;
    return n;
}

/* Rows of every table (top level, then each container's subcommands in
 * order), numbered for the per-command counters. */
static size_t total_rows(void)
{
    size_t n = NCOMMANDS;
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].subs != NULL)
            n += count_subs(commands[i].subs);
    return n;
}

static size_t row_index(const cmd_def *d)
{
    if (d >= commands && d < commands + NCOMMANDS)
        return (size_t)(d - commands);
    size_t base = NCOMMANDS;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cmd_def *subs = commands[i].subs;
        if (subs == NULL)
            continue;
        size_t n = count_subs(commands[i].subs);
        if (d >= subs && d < subs + n)
            return base + (size_t)(d - subs);
        base += n;
    }
    assert(!"a row outside the command tables");
    return 0;
}

/* ASCII lowercase, as strncasecmp folds in the C locale (no other byte
 * changes). */
static inline unsigned char fold(unsigned char ch)
{
    return (unsigned char)((unsigned)(ch - 'A') < 26u ? ch + ('a' - 'A') : ch);
}

/* Case-insensitive match of name[0..len) against a lowercase row name. */
static bool name_eq(const char *cn, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (cn[i] == '\0' || (unsigned char)cn[i] != fold((unsigned char)name[i]))
            return false;
    return cn[len] == '\0';
}

/* Linear lookup, for the short subcommand tables (at most ten rows, and only
 * on container commands). */
static const cmd_def *find_in(const cmd_def *tab, size_t n, const char *name, size_t len)
{
    if (len == 0)
        return NULL;
    unsigned char first = fold((unsigned char)name[0]);
    for (size_t i = 0; i < n && tab[i].name != NULL; i++)
        if ((unsigned char)tab[i].name[0] == first && name_eq(tab[i].name, name, len))
            return &tab[i];
    return NULL;
}

/*
 * Top-level lookup runs for every request (in cmd_prepare or cmd_execute),
 * so it is a hash index over the rows of `commands` instead of a scan (GET
 * sat 25 rows down: ~170 instructions of compares).
 *
 * Every top-level name is lowercase letters only (checked when the index is
 * built), and for such a name OR-ing 0x20 into each input byte is an exact
 * case-insensitive compare: a byte b gives letter L exactly when b is L or
 * its uppercase (L - 0x20). So the input is folded into two 64-bit words
 * (bytes 0-7 and 8-15, zero-padded, then | 0x20 on every byte, padding
 * included) and compared with the row's words built the same way; equal
 * words and equal lengths mean equal names. The words also give the hash
 * (a multiply, top bits), so the lookup is one pass over the name, no call.
 * The index is open-addressed with linear probing; a slot holds row + 1 (0:
 * empty). It is derived from the table the first time it is needed, so
 * adding a row needs nothing else.
 */
#define CMD_INDEX_BITS 7u
#define CMD_INDEX_SLOTS (1u << CMD_INDEX_BITS) /* > 2 x rows: probes stay short */
#define CMD_NAME_MAX 16u                      /* two words */
#define BYTES_20 0x2020202020202020ull

static_assert(NCOMMANDS * 2 < CMD_INDEX_SLOTS, "command index too full");
static_assert(NCOMMANDS < UINT8_MAX, "index slots hold row + 1 in a byte");

static struct {
    uint8_t slot[CMD_INDEX_SLOTS];
    uint64_t w0[NCOMMANDS], w1[NCOMMANDS]; /* each row's folded words */
    uint8_t len[NCOMMANDS];
    bool ready;
} cmd_index;

/* name[0..len) (len <= CMD_NAME_MAX) as two folded little-endian words. */
static inline void name_words(const char *name, size_t len, uint64_t *w0, uint64_t *w1)
{
    uint64_t a = 0, b = 0;
    size_t i = 0;
    for (; i < len && i < 8; i++)
        a |= (uint64_t)(unsigned char)name[i] << (8 * i);
    for (; i < len; i++)
        b |= (uint64_t)(unsigned char)name[i] << (8 * (i - 8));
    *w0 = a | BYTES_20;
    *w1 = b | BYTES_20;
}

static inline uint32_t words_slot(uint64_t w0, uint64_t w1, size_t len)
{
    uint64_t h = (w0 ^ (w1 * 0xff51afd7ed558ccdull) ^ len) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> (64 - CMD_INDEX_BITS));
}

static void cmd_index_build(void)
{
    for (size_t r = 0; r < NCOMMANDS; r++) {
        const char *name = commands[r].name;
        size_t len = strlen(name);
        assert(len > 0 && len <= CMD_NAME_MAX);
        for (size_t i = 0; i < len; i++)
            assert(name[i] >= 'a' && name[i] <= 'z');
        name_words(name, len, &cmd_index.w0[r], &cmd_index.w1[r]);
        cmd_index.len[r] = (uint8_t)len;
        uint32_t i = words_slot(cmd_index.w0[r], cmd_index.w1[r], len);
        while (cmd_index.slot[i] != 0)
            i = (i + 1) & (CMD_INDEX_SLOTS - 1);
        cmd_index.slot[i] = (uint8_t)(r + 1);
    }
    cmd_index.ready = true;
}

static const cmd_def *find_command(const char *name, size_t len)
{
    if (len == 0 || len > CMD_NAME_MAX)
        return NULL;
    if (!cmd_index.ready)
        cmd_index_build();
    uint64_t w0, w1;
    name_words(name, len, &w0, &w1);
    for (uint32_t i = words_slot(w0, w1, len); cmd_index.slot[i] != 0;
         i = (i + 1) & (CMD_INDEX_SLOTS - 1)) {
        size_t r = cmd_index.slot[i] - 1u;
        if (cmd_index.w0[r] == w0 && cmd_index.w1[r] == w1 && cmd_index.len[r] == len)
            return &commands[r];
    }
    return NULL;
}

const char *cmd_lookup_name(const char *name, size_t len)
{
    const cmd_def *d = find_command(name, len);
    return d != NULL ? d->name : NULL;
}

/* ---- Replies shared by handlers -------------------------------------------- */

void cmd_reply_error(cmd_server *s, cmd_client *c, const char *msg)
{
    STAT_INC(&s->st, total_error_replies);
    cmd_count_error(s, msg);
    resp_add_error(&c->out, msg);
}

void cmd_reply_errorf(cmd_server *s, cmd_client *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cmd_reply_error(s, c, msg);
}

const char ERR_SYNTAX[] = "ERR syntax error";
const char ERR_NOT_INT[] = "ERR value is not an integer or out of range";
const char ERR_OOM[] = "ERR out of memory";

/* Shorten user text quoted in an error so the reply stays small. */
#define QUOTE_MAX 64

const char *cmd_quote(char *dst, const resp_view *v, size_t max, bool ellipsis)
{
    assert(max <= CMD_QUOTE_MAX);
    size_t n = v->len < max ? v->len : max, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (v->ptr[i] == '\0') {
            dst[d++] = '\\';
            dst[d++] = '0';
        } else {
            dst[d++] = v->ptr[i];
        }
    }
    if (ellipsis && v->len > max) {
        memcpy(dst + d, "...", 3);
        d += 3;
    }
    dst[d] = '\0';
    assert(d < CMD_QUOTE_BUF);
    return dst;
}

static void reply_bad_key(cmd_server *s, cmd_client *c, const resp_view *k)
{
    char q[CMD_QUOTE_BUF];
    cmd_reply_errorf(s, c, "ERR invalid key '%s': expected an integer or namespace:integer",
                     cmd_quote(q, k, QUOTE_MAX, true));
}

static void reply_value_too_long(cmd_server *s, cmd_client *c, size_t len)
{
    cmd_reply_errorf(s, c, "ERR value is %zu bytes; the maximum is %u", len, TABLE_VALUE_MAX);
}

static void reply_wrong_arity(cmd_server *s, cmd_client *c, const char *fullname)
{
    cmd_reply_errorf(s, c, "ERR wrong number of arguments for '%s' command", fullname);
}

/* ---- Keys ------------------------------------------------------------------ */

/* Parse argv[i] as a key, or reply the invalid-key error and return false. */
bool cmd_parse_key(cmd_server *s, cmd_client *c, const resp_view *v, db_key *k)
{
    if (v == s->memo_view) {
        /* The same view cmd_prepare parsed for this very request: the
         * bytes have not changed, so neither has the answer. */
        *k = s->memo_key;
        return true;
    }
    if (db_parse_key(v->ptr, v->len, k))
        return true;
    reply_bad_key(s, c, v);
    return false;
}

/* Parse keys argv[first], argv[first+step], ... into keys[]; on the first bad
 * one reply the error and return false (nothing has been touched yet). */
static bool parse_keys(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc,
                       size_t first, size_t step, db_key *keys)
{
    for (size_t i = first, j = 0; i < argc; i += step, j++)
        if (!cmd_parse_key(s, c, &argv[i], &keys[j]))
            return false;
    return true;
}

/* The table holding k for reading: NULL if its namespace does not exist. */
table *cmd_read_table(cmd_server *s, const db_key *k)
{
    table *t;
    db_table(s->db, k->ns, k->nslen, false, &t);
    return t;
}

table *cmd_write_table(cmd_server *s, cmd_client *c, const db_key *k)
{
    table *t;
    switch (db_table(s->db, k->ns, k->nslen, true, &t)) {
    case DB_OK:
        return t;
    case DB_NS_LIMIT:
        cmd_reply_errorf(s, c,
                     "ERR too many namespaces: creating '%.*s' would pass max-namespaces (%lld)",
                     (int)k->nslen, k->ns, s->cfg.max_namespaces.num);
        return NULL;
    case DB_NO_NAMESPACE:
    case DB_NOMEM:
        break;
    }
    STAT_INC(&s->st, unexpected_error_replies);
    cmd_reply_error(s, c, ERR_OOM);
    return NULL;
}

static void count_lookup(cmd_server *s, bool hit)
{
    if (hit)
        STAT_INC(&s->st, keyspace_hits);
    else
        STAT_INC(&s->st, keyspace_misses);
}

/* Look up k; counts a hit or a miss. */
static bool lookup(cmd_server *s, const db_key *k, const uint8_t **val, size_t *len)
{
    table *t = cmd_read_table(s, k);
    if (t != NULL && table_get(t, k->id, val, len) == TABLE_OK) {
        STAT_INC(&s->st, keyspace_hits);
        return true;
    }
    STAT_INC(&s->st, keyspace_misses);
    return false;
}

/* Store; replies the error and returns false on failure. */
bool cmd_store(cmd_server *s, cmd_client *c, table *t, int64_t id, const void *val, size_t len,
               int64_t expire_at, bool keep_ttl)
{
    assert(len <= TABLE_VALUE_MAX);
    if (table_put(t, id, val, len, expire_at, keep_ttl, NULL) == TABLE_OK)
        return true;
    STAT_INC(&s->st, unexpected_error_replies);
    cmd_reply_error(s, c, ERR_OOM);
    return false;
}

static bool check_value(cmd_server *s, cmd_client *c, const resp_view *v)
{
    if (v->len <= TABLE_VALUE_MAX)
        return true;
    reply_value_too_long(s, c, v->len);
    return false;
}

/* Redis's string2ll: optional '-', no '+', no leading zeros, no spaces, no
 * overflow. The strictness matters: INCR must refuse "01" as Redis does. */
bool cmd_parse_ll(const char *p, size_t len, long long *out)
{
    if (len == 0 || len > 20)
        return false;
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return false;
    }
    if (p[i] < '1' || p[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return false;
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

bool cmd_arg_ll(cmd_server *s, cmd_client *c, const resp_view *v, long long *out)
{
    if (cmd_parse_ll(v->ptr, v->len, out))
        return true;
    cmd_reply_error(s, c, ERR_NOT_INT);
    return false;
}

bool cmd_arg_is(const resp_view *v, const char *word)
{
    size_t n = strlen(word);
    return v->len == n && strncasecmp(v->ptr, word, n) == 0;
}

/* ---- Connection commands ------------------------------------------------------ */

static void cmd_ping(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (argc > 2) {
        reply_wrong_arity(s, c, "ping");
        return;
    }
    if (argc == 2)
        resp_add_bulk(&c->out, argv[1].ptr, argv[1].len);
    else
        resp_add_simple(&c->out, "PONG");
}

static void cmd_echo(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_bulk(&c->out, argv[1].ptr, argv[1].len);
}

static void cmd_quit(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_ok(&c->out);
    c->close_after_reply = true;
}

static void cmd_select(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    long long idx;
    if (!cmd_arg_ll(s, c, &argv[1], &idx))
        return;
    if (idx != 0) {
        cmd_reply_error(s, c, "ERR DB index is out of range");
        return;
    }
    resp_add_ok(&c->out);
}

/* Compare a password in time that depends only on the lengths, so a client
 * cannot find it byte by byte by timing replies. */
static bool password_ok(const char *want, const resp_view *got)
{
    size_t wl = strlen(want), n = wl > got->len ? wl : got->len;
    unsigned diff = wl != got->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < wl ? (unsigned char)want[i] : 0;
        unsigned char b = i < got->len ? (unsigned char)got->ptr[i] : 0;
        diff |= a ^ b;
    }
    return diff == 0;
}

static const char ERR_WRONGPASS[] =
    "WRONGPASS invalid username-password pair or user is disabled.";

/* Check AUTH's [user] password; true if the client may go on. Without
 * requirepass the default user takes any password, as in Redis. */
static bool auth_check(cmd_server *s, const resp_view *user, const resp_view *pass)
{
    if (user != NULL && !cmd_arg_is(user, "default"))
        return false;
    const char *want = s->cfg.requirepass.str;
    return want == NULL || want[0] == '\0' || password_ok(want, pass);
}

static void cmd_auth(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    bool nopass = s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    if (argc > 3) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (argc == 2 && nopass) {
        cmd_reply_error(s, c,
                        "ERR AUTH <password> called without any password configured for the "
                        "default user. Are you sure your configuration is correct?");
        return;
    }
    if (!auth_check(s, argc == 3 ? &argv[1] : NULL, &argv[argc - 1])) {
        cmd_reply_error(s, c, ERR_WRONGPASS);
        return;
    }
    c->authed = true;
    resp_add_ok(&c->out);
}

/* CLIENT SETNAME rule, as Redis: printable ASCII without spaces. */
static bool valid_client_name(const resp_view *v)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->ptr[i] < '!' || v->ptr[i] > '~')
            return false;
    return true;
}

static bool set_owned(char **dst, const resp_view *v)
{
    char *n = NULL;
    if (v->len > 0) {
        n = malloc(v->len + 1);
        if (n == NULL)
            return false;
        memcpy(n, v->ptr, v->len);
        n[v->len] = '\0';
    }
    free(*dst);
    *dst = n;
    return true;
}

static void cmd_hello(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    int proto = c->out.proto;
    size_t i = 1;
    if (argc >= 2) {
        long long v;
        if (!cmd_parse_ll(argv[1].ptr, argv[1].len, &v)) {
            cmd_reply_error(s, c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (v < 2 || v > 3) {
            cmd_reply_error(s, c, "NOPROTO unsupported protocol version");
            return;
        }
        proto = (int)v;
        i = 2;
    }
    const resp_view *setname = NULL;
    bool authed = c->authed || s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    for (; i < argc; i++) {
        size_t more = argc - i - 1;
        if (cmd_arg_is(&argv[i], "auth") && more >= 2) {
            if (!auth_check(s, &argv[i + 1], &argv[i + 2])) {
                cmd_reply_error(s, c, ERR_WRONGPASS);
                return;
            }
            authed = true;
            i += 2;
        } else if (cmd_arg_is(&argv[i], "setname") && more >= 1) {
            setname = &argv[++i];
            if (!valid_client_name(setname)) {
                cmd_reply_error(s, c,
                            "ERR Client names cannot contain spaces, newlines or special "
                            "characters.");
                return;
            }
        } else {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR Syntax error in HELLO option '%s'",
                             cmd_quote(q, &argv[i], QUOTE_MAX, false));
            return;
        }
    }
    if (!authed) {
        cmd_reply_error(s, c,
                        "NOAUTH HELLO must be called with the client already authenticated, "
                        "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                        "authenticate the client and select the RESP protocol version at the "
                        "same time");
        return;
    }
    if (setname != NULL && !set_owned(&c->name, setname)) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    c->authed = true;
    c->out.proto = proto;
    resp_out *o = &c->out;
    resp_add_map(o, 7);
    resp_add_bulkstr(o, "server");
    resp_add_bulkstr(o, "redis");
    resp_add_bulkstr(o, "version");
    resp_add_bulkstr(o, EBB_REDIS_VERSION);
    resp_add_bulkstr(o, "proto");
    resp_add_int(o, proto);
    resp_add_bulkstr(o, "id");
    resp_add_int(o, (long long)c->id);
    resp_add_bulkstr(o, "mode");
    resp_add_bulkstr(o, "standalone");
    resp_add_bulkstr(o, "role");
    resp_add_bulkstr(o, "master");
    resp_add_bulkstr(o, "modules");
    resp_add_array(o, 0);
}

static void cmd_client_setname(cmd_server *s, cmd_client *c, const resp_view *argv,
                               size_t argc)
{
    if (!valid_client_name(&argv[2])) {
        cmd_reply_error(s, c,
                    "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    if (!set_owned(&c->name, &argv[2])) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    resp_add_ok(&c->out);
}

static void cmd_client_getname(cmd_server *s, cmd_client *c, const resp_view *argv,
                               size_t argc)
{
    if (c->name == NULL)
        resp_add_null(&c->out);
    else
        resp_add_bulkstr(&c->out, c->name);
}

static void cmd_client_id(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_int(&c->out, (long long)c->id);
}

static void cmd_client_setinfo(cmd_server *s, cmd_client *c, const resp_view *argv,
                               size_t argc)
{
    char **dst;
    if (cmd_arg_is(&argv[2], "lib-name"))
        dst = &c->lib_name;
    else if (cmd_arg_is(&argv[2], "lib-ver"))
        dst = &c->lib_ver;
    else {
        char q[CMD_QUOTE_BUF];
        cmd_reply_errorf(s, c, "ERR Unrecognized option '%s'",
                         cmd_quote(q, &argv[2], QUOTE_MAX, false));
        return;
    }
    if (!valid_client_name(&argv[3])) {
        cmd_reply_errorf(s, c,
                     "ERR %s cannot contain spaces, newlines or special characters.",
                     dst == &c->lib_name ? "lib-name" : "lib-ver");
        return;
    }
    if (!set_owned(dst, &argv[3])) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    resp_add_ok(&c->out);
}

size_t cmd_client_line(const cmd_server *s, const cmd_client *c, char *dst, size_t cap)
{
    int64_t now = cmd_now_us();
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%s%s%s", c->last_cmd != NULL ? c->last_cmd : "NULL",
             c->last_sub != NULL ? "|" : "", c->last_sub != NULL ? c->last_sub : "");
    int n = snprintf(dst, cap,
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s "
                     "db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 "
                     "multi-mem=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=%s%s cmd=%s "
                     "user=default redir=-1 resp=%d lib-name=%s lib-ver=%s",
                     (unsigned long long)c->id, c->addr, c->laddr, c->fd,
                     c->name != NULL ? c->name : "", (long long)((now - c->ctime_us) / 1000000),
                     (long long)((now - c->last_us) / 1000000),
                     c->close_after_reply ? "c" : "N", c->qbuf, c->obuf,
                     c->qbuf + c->obuf + c->out.cap, c->paused ? "" : "r", c->obuf > 0 ? "w" : "",
                     cmd, c->out.proto,
                     c->lib_name != NULL ? c->lib_name : "", c->lib_ver != NULL ? c->lib_ver : "");
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void reply_text(cmd_client *c, const char *p, size_t n)
{
    resp_add_verbatim(&c->out, "txt", p, n);
}

static void cmd_client_list(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* Filters: TYPE normal (every ebb client is normal) and ID id [id ...]. */
    bool by_id = false;
    size_t ids_from = 0;
    if (argc > 2) {
        if (cmd_arg_is(&argv[2], "type") && argc == 4) {
            if (!cmd_arg_is(&argv[3], "normal") && !cmd_arg_is(&argv[3], "master") &&
                !cmd_arg_is(&argv[3], "replica") && !cmd_arg_is(&argv[3], "pubsub")) {
                char q[CMD_QUOTE_BUF];
                cmd_reply_errorf(s, c, "ERR Unknown client type '%s'",
                                 cmd_quote(q, &argv[3], QUOTE_MAX, false));
                return;
            }
            if (!cmd_arg_is(&argv[3], "normal")) {
                reply_text(c, "", 0);
                return;
            }
        } else if (cmd_arg_is(&argv[2], "id") && argc >= 4) {
            by_id = true;
            ids_from = 3;
            for (size_t i = 3; i < argc; i++) {
                long long id;
                if (!cmd_parse_ll(argv[i].ptr, argv[i].len, &id) || id <= 0) {
                    cmd_reply_error(s, c, "ERR Invalid client ID");
                    return;
                }
            }
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    strbuf b = {0};
    char line[1024];
    for (const cmd_client *x = s->clients; x != NULL; x = x->next) {
        if (by_id) {
            bool want = false;
            for (size_t i = ids_from; i < argc && !want; i++) {
                long long id = 0;
                cmd_parse_ll(argv[i].ptr, argv[i].len, &id);
                want = (unsigned long long)id == x->id;
            }
            if (!want)
                continue;
        }
        size_t n = cmd_client_line(s, x, line, sizeof line);
        strbuf_add(&b, line, n);
        strbuf_add(&b, "\n", 1);
    }
    size_t len = 0;
    char *text = strbuf_take(&b, &len);
    if (text == NULL && b.oom) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    reply_text(c, text != NULL ? text : "", len);
    free(text);
}

static void cmd_client_info(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    char line[1024];
    size_t n = cmd_client_line(s, c, line, sizeof line - 1);
    line[n++] = '\n';
    reply_text(c, line, n);
}

void cmd_reply_help(cmd_client *c, const char *const *lines)
{
    size_t n = 0;
    while (lines[n] != NULL)
        n++;
    resp_add_array(&c->out, n);
    for (size_t i = 0; i < n; i++)
        resp_add_simple(&c->out, lines[i]);
}

static void cmd_client_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [TYPE normal] [ID <id> [<id> ...]]",
        "    Return information about client connections.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Set client library name or version.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* ---- COMMAND ------------------------------------------------------------------- */

static void add_flags(resp_out *o, unsigned flags)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {CMD_WRITE, "write"}, {CMD_READONLY, "readonly"}, {CMD_DENYOOM, "denyoom"},
        {CMD_ADMIN, "admin"}, {CMD_STALE, "stale"},       {CMD_FAST, "fast"},
        {CMD_NO_AUTH, "no_auth"},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        n += (flags & names[i].bit) != 0;
    resp_add_set(o, n);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit)
            resp_add_simple(o, names[i].name);
}

static void add_command_info(resp_out *o, const cmd_def *d, const char *parent)
{
    char full[64];
    if (parent != NULL)
        snprintf(full, sizeof full, "%s|%s", parent, d->name);
    else
        snprintf(full, sizeof full, "%s", d->name);
    resp_add_array(o, 10);
    resp_add_bulkstr(o, full);
    resp_add_int(o, d->arity);
    add_flags(o, d->flags);
    resp_add_int(o, d->first);
    resp_add_int(o, d->last);
    resp_add_int(o, d->step);
    resp_add_set(o, 0); /* ACL categories */
    resp_add_array(o, 0); /* tips */
    resp_add_array(o, 0); /* key specs */
    if (d->subs != NULL) {
        size_t n = count_subs(d->subs);
        resp_add_array(o, n);
        for (size_t i = 0; i < n; i++)
            add_command_info(o, &d->subs[i], d->name);
    } else {
        resp_add_array(o, 0);
    }
}

static void cmd_command(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_array(&c->out, NCOMMANDS);
    for (size_t i = 0; i < NCOMMANDS; i++)
        add_command_info(&c->out, &commands[i], NULL);
}

static void cmd_command_count(cmd_server *s, cmd_client *c, const resp_view *argv,
                              size_t argc)
{
    resp_add_int(&c->out, (long long)NCOMMANDS);
}

static void cmd_command_info(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (argc == 2) {
        cmd_command(s, c, argv, argc);
        return;
    }
    resp_add_array(&c->out, argc - 2);
    for (size_t i = 2; i < argc; i++) {
        const cmd_def *d = find_command(argv[i].ptr, argv[i].len);
        if (d == NULL)
            resp_add_null(&c->out); /* Redis 7: a null bulk ($-1 / _) */
        else
            add_command_info(&c->out, d, NULL);
    }
}

static void cmd_command_list(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (argc != 2) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    resp_add_array(&c->out, NCOMMANDS);
    for (size_t i = 0; i < NCOMMANDS; i++)
        resp_add_bulkstr(&c->out, commands[i].name);
}

static void add_docs(resp_out *o, const cmd_def *d, const char *parent)
{
    char full[64];
    snprintf(full, sizeof full, "%s%s%s", parent != NULL ? parent : "",
             parent != NULL ? "|" : "", d->name);
    resp_add_bulkstr(o, full);
    size_t nsubs = d->subs != NULL ? count_subs(d->subs) : 0;
    bool args = cmd_docs_has_args(full);
    resp_add_map(o, 3 + (nsubs > 0) + args);
    resp_add_bulkstr(o, "summary");
    resp_add_bulkstr(o, d->summary);
    resp_add_bulkstr(o, "since");
    resp_add_bulkstr(o, d->since);
    resp_add_bulkstr(o, "group");
    resp_add_bulkstr(o, d->group);
    if (args) {
        resp_add_bulkstr(o, "arguments");
        cmd_docs_add_args(o, full);
    }
    if (nsubs > 0) {
        resp_add_bulkstr(o, "subcommands");
        resp_add_map(o, nsubs);
        for (size_t i = 0; i < nsubs; i++)
            add_docs(o, &d->subs[i], d->name);
    }
}

static void cmd_command_docs(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (argc == 2) {
        resp_add_map(&c->out, NCOMMANDS);
        for (size_t i = 0; i < NCOMMANDS; i++)
            add_docs(&c->out, &commands[i], NULL);
        return;
    }
    size_t found = 0;
    for (size_t i = 2; i < argc; i++)
        found += find_command(argv[i].ptr, argv[i].len) != NULL;
    resp_add_map(&c->out, found);
    for (size_t i = 2; i < argc; i++) {
        const cmd_def *d = find_command(argv[i].ptr, argv[i].len);
        if (d != NULL)
            add_docs(&c->out, d, NULL);
    }
}

/* ---- CONFIG -------------------------------------------------------------------- */

static void cmd_config_get(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    bool match[CONFIG_OPTION_COUNT];
    size_t n = 0;
    for (size_t i = 0; i < config_option_count; i++) {
        match[i] = false;
        for (size_t j = 2; j < argc && !match[i]; j++)
            match[i] = glob_match(argv[j].ptr, argv[j].len, config_options[i].name,
                                  strlen(config_options[i].name), true);
        n += match[i];
    }
    resp_add_map(&c->out, n);
    char val[512];
    for (size_t i = 0; i < config_option_count; i++) {
        if (!match[i])
            continue;
        resp_add_bulkstr(&c->out, config_options[i].name);
        resp_add_bulkstr(&c->out, config_format(&s->cfg, &config_options[i], val, sizeof val));
    }
}

static void cmd_config_set(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if ((argc - 2) % 2 != 0) {
        reply_wrong_arity(s, c, "config|set");
        return;
    }
    /* All or nothing, as Redis 7: validate every pair on a scratch copy
     * first, then apply to the live config. */
    for (size_t i = 2; i < argc; i += 2) {
        if (config_find(argv[i].ptr, argv[i].len) == NULL) {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c,
                             "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                             cmd_quote(q, &argv[i], QUOTE_MAX, false));
            return;
        }
        for (size_t j = 2; j < i; j += 2) {
            if (argv[j].len == argv[i].len &&
                strncasecmp(argv[j].ptr, argv[i].ptr, argv[i].len) == 0) {
                cmd_reply_errorf(s, c, "ERR CONFIG SET failed (possibly related to argument '%.*s') - duplicate parameter",
                             (int)argv[i].len, argv[i].ptr);
                return;
            }
        }
    }
    config trial;
    if (!config_init(&trial)) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    char err[256];
    for (size_t i = 2; i < argc; i += 2) {
        if (!config_set(&trial, argv[i].ptr, argv[i].len, argv[i + 1].ptr, argv[i + 1].len,
                        true, err, sizeof err)) {
            config_deinit(&trial);
            cmd_reply_errorf(s, c, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                         (int)argv[i].len, argv[i].ptr, err);
            return;
        }
    }
    config_deinit(&trial);
    for (size_t i = 2; i < argc; i += 2) {
        if (!config_set(&s->cfg, argv[i].ptr, argv[i].len, argv[i + 1].ptr, argv[i + 1].len,
                        true, err, sizeof err)) {
            cmd_reply_error(s, c, ERR_OOM); /* validated above: only allocation can fail */
            return;
        }
    }
    cmd_server_apply_config(s);
    resp_add_ok(&c->out);
}

static void cmd_config_resetstat(cmd_server *s, cmd_client *c, const resp_view *argv,
                                 size_t argc)
{
    memset(&s->st, 0, sizeof s->st);
    s->peak_used = cmd_used_memory(s);
    s->stall_max_us = 0;
    s->stall_cause[0] = '\0';
    memset(&s->latency, 0, sizeof s->latency);
    memset(s->cmdstats, 0, total_rows() * sizeof *s->cmdstats);
    memset(s->errorstats, 0, sizeof s->errorstats);
    s->nerrorstats = 0;
    s->evicted_keys = 0;
    s->expire_cycles_cut = 0;
    resp_add_ok(&c->out);
}

static void cmd_config_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* ---- Server commands ------------------------------------------------------------ */

static void cmd_dbsize(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_int(&c->out, (long long)db_size(s->db));
}

static void cmd_flushall(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* SYNC (the default, as in Redis) unmaps everything before replying: about
     * 100 ms per GB held, during which no client is served. ASYNC detaches
     * the tables at once and the cron gives their memory back in slices. */
    bool async = argc == 2 && cmd_arg_is(&argv[1], "async");
    if (argc > 2 || (argc == 2 && !async && !cmd_arg_is(&argv[1], "sync"))) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (!async || !db_flush_async(s->db))
        db_flush(s->db);
    malloc_trim(0);
    resp_add_ok(&c->out);
}

static void cmd_time(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    int64_t now = cmd_now_us();
    resp_add_array(&c->out, 2);
    resp_add_bulk_ll(&c->out, now / 1000000);
    resp_add_bulk_ll(&c->out, now % 1000000);
}

static void cmd_shutdown(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* ebb keeps nothing on disk, so SAVE/NOSAVE/NOW/FORCE change nothing;
     * like Redis, a successful SHUTDOWN sends no reply: the connection just
     * closes as the server stops (finishing what others already sent). */
    for (size_t i = 1; i < argc; i++) {
        if (!cmd_arg_is(&argv[i], "nosave") && !cmd_arg_is(&argv[i], "save") &&
            !cmd_arg_is(&argv[i], "now") && !cmd_arg_is(&argv[i], "force")) {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    s->shutdown_asked = true;
    c->close_after_reply = true;
}

static void cmd_info(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    size_t len;
    char *text = cmd_info_text(s, argv + 1, argc - 1, &len);
    if (text == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    reply_text(c, text, len);
    free(text);
}

/* ---- String commands -------------------------------------------------------------- */

static void cmd_get(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    const uint8_t *val;
    size_t len;
    if (lookup(s, &k, &val, &len))
        resp_add_bulk(&c->out, val, len);
    else
        resp_add_null(&c->out);
}

/* SET flags. The expiry options (EX PX EXAT PXAT KEEPTTL) are parsed here,
 * with Redis's errors. */
enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_EXPIRY = 8, SET_KEEPTTL = 16 };

static void cmd_set(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    unsigned fl = 0;
    int64_t expire_at = 0;
    cmd_expire_unit unit = EXPIRE_SEC;
    const resp_view *expire_arg = NULL;
    /* Redis's precedence: every option word is checked (a syntax error
     * wins) before the expire time is converted, so the word after EX is
     * taken as its argument whatever it is: `SET k v PX GET 3000` is a
     * syntax error (at 3000), not a bad integer (at GET). */
    for (size_t i = 3; i < argc; i++) {
        const resp_view *a = &argv[i];
        bool has_next = i + 1 < argc;
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
            expire_arg = &argv[++i];
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
    if (!cmd_parse_key(s, c, &argv[1], &k) || !check_value(s, c, &argv[2]))
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
    bool exists = (fl & (SET_NX | SET_XX | SET_GET)) != 0 &&
                  table_get(t, k.id, &p, &oldlen) == TABLE_OK;
    if (exists && (fl & SET_GET))
        memcpy(old, p, oldlen);
    if (fl & SET_GET)
        count_lookup(s, exists);
    bool skip = ((fl & SET_NX) && exists) || ((fl & SET_XX) && !exists);
    if (!skip && expire_at != 0 && expire_at <= s->now_ms) {
        /* Already expired (EXAT/PXAT in the past): as Redis, the write
         * succeeds and leaves no key behind. */
        table_del(t, k.id);
    } else if (!skip && !cmd_store(s, c, t, k.id, argv[2].ptr, argv[2].len, expire_at,
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

static void cmd_setnx(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !check_value(s, c, &argv[2]))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    if (table_get(t, k.id, NULL, NULL) == TABLE_OK) {
        resp_add_int(&c->out, 0);
        return;
    }
    if (cmd_store(s, c, t, k.id, argv[2].ptr, argv[2].len, 0, false))
        resp_add_int(&c->out, 1);
}

static void cmd_getset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !check_value(s, c, &argv[2]))
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
    count_lookup(s, exists);
    if (!cmd_store(s, c, t, k.id, argv[2].ptr, argv[2].len, 0, false))
        return;
    if (exists)
        resp_add_bulk(&c->out, old, oldlen);
    else
        resp_add_null(&c->out);
}

static void cmd_getdel(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    const uint8_t *val;
    size_t len;
    if (!lookup(s, &k, &val, &len)) {
        resp_add_null(&c->out);
        return;
    }
    resp_add_bulk(&c->out, val, len);
    table_del(cmd_read_table(s, &k), k.id);
}

/* Room for the parsed keys of a multi-key command. Small commands use the
 * stack; up to KEYS_KEPT keys the server's keybuf, grown to the largest
 * such command and then reused (at most 96 KiB held); past that, one
 * malloc per command, freed after it, so one huge MGET does not pin its
 * buffer. Handlers do not nest, so one keybuf serves every command. */
#define KEYS_ON_STACK 16
#define KEYS_KEPT 4096

static db_key *keys_alloc(cmd_server *s, cmd_client *c, size_t n, db_key *stackbuf)
{
    if (n <= KEYS_ON_STACK)
        return stackbuf;
    if (n <= s->keybuf_cap)
        return s->keybuf;
    if (n <= KEYS_KEPT) {
        size_t cap = s->keybuf_cap * 2 > n ? s->keybuf_cap * 2 : n;
        cap = cap < KEYS_KEPT ? cap : KEYS_KEPT;
        db_key *k = realloc(s->keybuf, cap * sizeof *k);
        if (k != NULL) {
            s->keybuf = k;
            s->keybuf_cap = cap;
            return k;
        }
    } else {
        db_key *k = malloc(n * sizeof *k);
        if (k != NULL)
            return k;
    }
    cmd_reply_error(s, c, ERR_OOM);
    return NULL;
}

static void keys_free(cmd_server *s, db_key *k, db_key *stackbuf)
{
    if (k != stackbuf && k != s->keybuf)
        free(k);
}

static void cmd_mget(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    size_t n = argc - 1;
    db_key stackbuf[KEYS_ON_STACK];
    db_key *keys = keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return;
    if (parse_keys(s, c, argv, argc, 1, 1, keys)) {
        resp_add_array(&c->out, n);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *val;
            size_t len;
            if (lookup(s, &keys[i], &val, &len))
                resp_add_bulk(&c->out, val, len);
            else
                resp_add_null(&c->out);
        }
    }
    keys_free(s, keys, stackbuf);
}

/* Shared by MSET and MSETNX: validate everything, resolve every table (so a
 * namespace-cap error changes nothing), then optionally refuse if any key
 * exists, then store. Returns 1 if stored, 0 if refused (nx), -1 on error. */
static int mset_generic(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc,
                        bool nx)
{
    if ((argc - 1) % 2 != 0) {
        reply_wrong_arity(s, c, nx ? "msetnx" : "mset");
        return -1;
    }
    size_t n = (argc - 1) / 2;
    db_key stackbuf[KEYS_ON_STACK];
    db_key *keys = keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return -1;
    int rc = -1;
    if (!parse_keys(s, c, argv, argc, 1, 2, keys))
        goto out;
    for (size_t i = 2; i < argc; i += 2)
        if (!check_value(s, c, &argv[i]))
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
        if (!cmd_store(s, c, cmd_read_table(s, &keys[i]), keys[i].id, argv[2 + 2 * i].ptr,
                       argv[2 + 2 * i].len, 0, false))
            goto out;
    rc = 1;
out:
    keys_free(s, keys, stackbuf);
    return rc;
}

static void cmd_mset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (mset_generic(s, c, argv, argc, false) == 1)
        resp_add_ok(&c->out);
}

static void cmd_msetnx(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    int rc = mset_generic(s, c, argv, argc, true);
    if (rc >= 0)
        resp_add_int(&c->out, rc);
}

/* DEL, UNLINK, EXISTS, TOUCH: count keys; delete when asked. */
static void count_keys(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc,
                       bool del)
{
    size_t n = argc - 1;
    db_key stackbuf[KEYS_ON_STACK];
    db_key *keys = keys_alloc(s, c, n, stackbuf);
    if (keys == NULL)
        return;
    if (parse_keys(s, c, argv, argc, 1, 1, keys)) {
        long long found = 0;
        for (size_t i = 0; i < n; i++) {
            table *t = cmd_read_table(s, &keys[i]);
            if (t == NULL)
                continue;
            if (del)
                found += table_del(t, keys[i].id) == TABLE_OK;
            else
                found += table_get(t, keys[i].id, NULL, NULL) == TABLE_OK;
        }
        resp_add_int(&c->out, found);
    }
    keys_free(s, keys, stackbuf);
}

static void cmd_del(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    count_keys(s, c, argv, argc, true);
}

static void cmd_exists(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    count_keys(s, c, argv, argc, false);
}

static void cmd_touch(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    count_keys(s, c, argv, argc, false);
}

static void cmd_type(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    table *t = cmd_read_table(s, &k);
    bool found = t != NULL && table_get(t, k.id, NULL, NULL) == TABLE_OK;
    resp_add_simple(&c->out, found ? "string" : "none");
}

static void cmd_strlen(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    const uint8_t *val;
    size_t len = 0;
    table *t = cmd_read_table(s, &k);
    if (t == NULL || table_get(t, k.id, &val, &len) != TABLE_OK)
        len = 0;
    resp_add_int(&c->out, (long long)len);
}

static void cmd_append(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    if (!cmd_parse_key(s, c, &argv[1], &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *old = NULL;
    size_t oldlen = 0;
    if (t == NULL || table_get(t, k.id, &old, &oldlen) != TABLE_OK)
        oldlen = 0;
    size_t total = oldlen + argv[2].len;
    if (total > TABLE_VALUE_MAX) {
        reply_value_too_long(s, c, total);
        return;
    }
    /* Only a write that will happen may create the namespace. */
    if (t == NULL && (t = cmd_write_table(s, c, &k)) == NULL)
        return;
    uint8_t buf[TABLE_VALUE_MAX];
    if (oldlen > 0)
        memcpy(buf, old, oldlen);
    if (argv[2].len > 0)
        memcpy(buf + oldlen, argv[2].ptr, argv[2].len);
    if (cmd_store(s, c, t, k.id, buf, total, 0, true)) /* keeps its TTL */
        resp_add_int(&c->out, (long long)total);
}

static void cmd_setrange(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    long long off;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !cmd_arg_ll(s, c, &argv[2], &off))
        return;
    if (off < 0) {
        cmd_reply_error(s, c, "ERR offset is out of range");
        return;
    }
    const resp_view *v = &argv[3];
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

static void cmd_getrange(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    db_key k;
    long long start, end;
    if (!cmd_parse_key(s, c, &argv[1], &k) || !cmd_arg_ll(s, c, &argv[2], &start) ||
        !cmd_arg_ll(s, c, &argv[3], &end))
        return;
    const uint8_t *val = NULL;
    size_t len = 0;
    if (!lookup(s, &k, &val, &len))
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

static void incr_generic(cmd_server *s, cmd_client *c, const resp_view *keyarg, long long by)
{
    db_key k;
    if (!cmd_parse_key(s, c, keyarg, &k))
        return;
    table *t = cmd_write_table(s, c, &k);
    if (t == NULL)
        return;
    const uint8_t *val;
    size_t len;
    long long cur = 0;
    if (table_get(t, k.id, &val, &len) == TABLE_OK &&
        !cmd_parse_ll((const char *)val, len, &cur)) {
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

static void cmd_incr(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    incr_generic(s, c, &argv[1], 1);
}

static void cmd_decr(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    incr_generic(s, c, &argv[1], -1);
}

static void cmd_incrby(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    long long by;
    if (cmd_arg_ll(s, c, &argv[2], &by))
        incr_generic(s, c, &argv[1], by);
}

static void cmd_decrby(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    long long by;
    if (!cmd_arg_ll(s, c, &argv[2], &by))
        return;
    if (by == LLONG_MIN) {
        cmd_reply_error(s, c, "ERR decrement would overflow");
        return;
    }
    incr_generic(s, c, &argv[1], -by);
}

static void cmd_client_noop(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (!cmd_arg_is(&argv[2], "on") && !cmd_arg_is(&argv[2], "off")) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    resp_add_ok(&c->out);
}

/* The full name of row d ("get", "config|get") into dst. */
static void full_name(const cmd_def *d, char *dst, size_t cap)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cmd_def *subs = commands[i].subs;
        if (subs != NULL && d >= subs && d < subs + count_subs(commands[i].subs)) {
            snprintf(dst, cap, "%s|%s", commands[i].name, d->name);
            return;
        }
    }
    snprintf(dst, cap, "%s", d->name);
}

/* Visit every row (top level then subcommands) with its counters. */
static void each_row(cmd_server *s, void (*fn)(const cmd_def *, cmd_stat *, void *), void *arg)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fn(&commands[i], &s->cmdstats[row_index(&commands[i])], arg);
        if (commands[i].subs != NULL)
            for (size_t j = 0; commands[i].subs[j].name != NULL; j++)
                fn(&commands[i].subs[j], &s->cmdstats[row_index(&commands[i].subs[j])], arg);
    }
}

static void render_cmdstat(const cmd_def *d, cmd_stat *st, void *arg)
{
    if (st->calls == 0 && st->rejected == 0 && st->failed == 0)
        return;
    char name[64];
    full_name(d, name, sizeof name);
    strbuf_printf(arg, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                       "failed_calls=%llu\r\n",
                  name, (unsigned long long)st->calls,
                  (unsigned long long)(st->hist.sum_ns / 1000),
                  st->calls > 0 ? (double)st->hist.sum_ns / 1000.0 / (double)st->calls : 0.0,
                  (unsigned long long)st->rejected, (unsigned long long)st->failed);
}

void cmd_render_commandstats(cmd_server *s, strbuf *b)
{
    each_row(s, render_cmdstat, b);
}

typedef struct {
    void (*fn)(const char *name, const cmd_stat *st, void *arg);
    void *arg;
} named_visit;

static void visit_named(const cmd_def *d, cmd_stat *st, void *arg)
{
    const named_visit *v = arg;
    if (st->calls == 0 && st->rejected == 0 && st->failed == 0)
        return;
    char name[64];
    full_name(d, name, sizeof name);
    v->fn(name, st, v->arg);
}

void cmd_each_used_stat(cmd_server *s, void (*fn)(const char *name, const cmd_stat *st, void *arg),
                        void *arg)
{
    named_visit v = {fn, arg};
    each_row(s, visit_named, &v);
}

static void render_latency(const cmd_def *d, cmd_stat *st, void *arg)
{
    if (st->calls == 0)
        return;
    char name[64];
    full_name(d, name, sizeof name);
    strbuf_printf(arg, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", name,
                  (double)latency_percentile(&st->hist, 0.50) / 1000.0,
                  (double)latency_percentile(&st->hist, 0.99) / 1000.0,
                  (double)latency_percentile(&st->hist, 0.999) / 1000.0);
}

void cmd_render_latencystats(cmd_server *s, strbuf *b)
{
    each_row(s, render_latency, b);
}

/* LATENCY HISTOGRAM: Redis 7's shape, a map of command -> {calls,
 * histogram_usec: {bucket: cumulative count}} with power-of-two buckets in
 * microseconds. */
typedef struct {
    cmd_client *c;
    const resp_view *names;
    size_t nnames;
    size_t count;   /* first pass: rows to emit */
    bool emit;
} histo_ctx;

static bool histo_wanted(const histo_ctx *h, const cmd_def *d, const cmd_stat *st)
{
    if (st->calls == 0)
        return false;
    if (h->nnames == 0)
        return true;
    char name[64];
    full_name(d, name, sizeof name);
    for (size_t i = 0; i < h->nnames; i++)
        if (strlen(name) == h->names[i].len && strncasecmp(name, h->names[i].ptr, h->names[i].len) == 0)
            return true;
    return false;
}

static void histo_row(const cmd_def *d, cmd_stat *st, void *arg)
{
    histo_ctx *h = arg;
    if (!histo_wanted(h, d, st))
        return;
    if (!h->emit) {
        h->count++;
        return;
    }
    resp_out *o = &h->c->out;
    char name[64];
    full_name(d, name, sizeof name);
    resp_add_bulkstr(o, name);
    resp_add_map(o, 2);
    resp_add_bulkstr(o, "calls");
    resp_add_int(o, (long long)st->calls);
    resp_add_bulkstr(o, "histogram_usec");
    /* Cumulative counts at 1, 2, 4, ... µs up to the bucket of the maximum. */
    uint64_t top_us = st->hist.max_ns / 1000 + 1, steps = 0;
    for (uint64_t b = 1; ; b <<= 1) {
        steps++;
        if (b >= top_us)
            break;
    }
    resp_add_map(o, steps);
    for (uint64_t b = 1, k = 0; k < steps; b <<= 1, k++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
            if (st->hist.bucket[i] == 0)
                continue;
            /* A bucket counts toward b when all of it is at most b µs. */
            uint64_t lo = i < LATENCY_SUB ? i : (1ull << (i / LATENCY_SUB)) +
                                                  ((1ull << (i / LATENCY_SUB)) / LATENCY_SUB) *
                                                      (i % LATENCY_SUB);
            if (lo <= b * 1000)
                n += st->hist.bucket[i];
        }
        resp_add_int(o, (long long)b);
        resp_add_int(o, (long long)n);
    }
}

static void cmd_latency_histogram(cmd_server *s, cmd_client *c, const resp_view *argv,
                                  size_t argc)
{
    histo_ctx h = {.c = c, .names = argv + 2, .nnames = argc - 2};
    each_row(s, histo_row, &h);
    resp_add_map(&c->out, h.count);
    h.emit = true;
    each_row(s, histo_row, &h);
}

static void cmd_latency_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    static const char *const lines[] = {
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LATEST",
        "    Return the longest event-loop stall and what caused it.",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the",
        "    specified command names. If no commands are specified then all histograms are",
        "    replied.",
        "RESET",
        "    Reset the stall record.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* CONFIG SET naming requirepass: its arguments are a secret. */
static bool config_set_names_password(const resp_view *argv, size_t argc)
{
    for (size_t i = 2; i < argc; i += 2)
        if (cmd_arg_is(&argv[i], "requirepass"))
            return true;
    return false;
}

/* ---- Dispatcher ------------------------------------------------------------------- */

/* Wall clock in ns: one vDSO call gives both the TTL clock and the start
 * (or end) of a service time. */
int64_t cmd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Before AUTH a client may send at most this many arguments per command and
 * bulks of at most this size: Redis's limits, enough for AUTH and HELLO. */
#define CMD_UNAUTH_MAX_ARGS 10u
#define CMD_UNAUTH_MAX_BULK 16384u

static bool arity_ok(const cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

static void reply_unknown_command(cmd_server *s, cmd_client *c, const resp_view *argv,
                                  size_t argc)
{
    /* Redis 7: the name (128 bytes at most) and the first arguments quoted,
     * each followed by a space, until 128 bytes of them have been shown. */
    char args[CMD_QUOTE_MAX + CMD_QUOTE_BUF], q[CMD_QUOTE_BUF];
    size_t n = 0;
    for (size_t i = 1; i < argc && n < CMD_QUOTE_MAX; i++) {
        cmd_quote(q, &argv[i], CMD_QUOTE_MAX - n, false);
        int w = snprintf(args + n, sizeof args - n, "'%s' ", q);
        if (w < 0 || (size_t)w >= sizeof args - n)
            break;
        n += (size_t)w;
    }
    args[n] = '\0';
    cmd_reply_errorf(s, c, "ERR unknown command '%s', with args beginning with: %s",
                     cmd_quote(q, &argv[0], CMD_QUOTE_MAX, false), args);
}

/* A client may run commands once it has authenticated, or while no
 * password is set (clearing requirepass lets waiting clients in, as Redis). */
static bool may_run(const cmd_server *s, const cmd_client *c)
{
    return c->authed || s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
}

void cmd_execute(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    cmd_request r = {.argv = argv, .argc = argc};
    int64_t clock_ns = cmd_now_ns();
    cmd_run(s, c, &r, &clock_ns);
}

void cmd_run(cmd_server *s, cmd_client *c, const cmd_request *r, int64_t *clock_ns)
{
    const resp_view *argv = r->argv;
    size_t argc = r->argc;
    assert(argc >= 1);
    STAT_INC(&s->st, total_commands_processed);
    int64_t start_ns = *clock_ns;
    c->last_us = start_ns / 1000;
    if (!s->clock_fixed)
        s->now_ms = start_ns / 1000000;
    const cmd_def *d = r->prepared ? r->cmd : find_command(argv[0].ptr, argv[0].len);
    bool authed = may_run(s, c);
    if (d == NULL && !authed) {
        /* Say nothing about what exists to a client that has not logged in. */
        c->last_cmd = c->last_sub = NULL;
        cmd_reply_error(s, c, "NOAUTH Authentication required.");
        return;
    }
    if (d == NULL) {
        c->last_cmd = c->last_sub = NULL;
        reply_unknown_command(s, c, argv, argc);
        return;
    }
    c->last_cmd = d->name;
    c->last_sub = NULL;
    if (!authed && !(d->flags & CMD_NO_AUTH)) {
        s->cmdstats[row_index(d)].rejected++;
        cmd_reply_error(s, c, "NOAUTH Authentication required.");
        return;
    }
    if (!arity_ok(d, argc)) {
        s->cmdstats[row_index(d)].rejected++;
        reply_wrong_arity(s, c, d->name);
        return;
    }
    if (d->subs != NULL && (d->fn == NULL || argc >= 2)) {
        /* A container: the subcommand names the row. (COMMAND alone runs the
         * container's own handler.) */
        const cmd_def *sub = find_in(d->subs, SIZE_MAX, argv[1].ptr, argv[1].len);
        if (sub == NULL) {
            char upper[16];
            size_t i;
            for (i = 0; d->name[i] != '\0' && i < sizeof upper - 1; i++)
                upper[i] = (char)toupper((unsigned char)d->name[i]);
            upper[i] = '\0';
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR unknown subcommand '%s'. Try %s HELP.",
                             cmd_quote(q, &argv[1], CMD_QUOTE_MAX, false), upper);
            return;
        }
        if (!arity_ok(sub, argc)) {
            s->cmdstats[row_index(sub)].rejected++;
            char full[64];
            snprintf(full, sizeof full, "%s|%s", d->name, sub->name);
            reply_wrong_arity(s, c, full);
            return;
        }
        c->last_sub = sub->name;
        d = sub;
    }
    cmd_stat *st = &s->cmdstats[row_index(d)];
    if ((d->flags & CMD_DENYOOM) && s->cfg.maxmemory.num > 0 && !cmd_evict_before_write(s, c)) {
        st->rejected++;
        return;
    }
    /* Passwords never reach MONITOR or the slow log. */
    bool redact = d->fn == cmd_auth || (d->fn == cmd_hello && argc > 2) ||
                  (d->fn == cmd_config_set && config_set_names_password(argv, argc));
    if (s->monitors > 0)
        cmd_monitor_feed(s, c, argv, argc, redact);
    uint64_t errors_before = s->st.total_error_replies;
    if (r->prepared && r->key != NULL) {
        s->memo_view = r->key;
        s->memo_key = r->parsed;
    }
    d->fn(s, c, argv, argc);
    s->memo_view = NULL;
    /* Service time: from here to the reply being queued, as Redis counts. */
    int64_t end_ns = cmd_now_ns();
    *clock_ns = end_ns;
    int64_t took_ns = end_ns - start_ns;
    if (took_ns < 0)
        took_ns = 0; /* the wall clock stepped back */
    st->calls++;
    if (s->st.total_error_replies != errors_before)
        st->failed++;
    latency_add(&st->hist, (uint64_t)took_ns);
    latency_add(&s->latency, (uint64_t)took_ns);
    int64_t took_us = took_ns / 1000;
    if (took_us > s->stall_max_us)
        cmd_note_stall(s, "command", d->name, took_us);
    if (took_us >= s->cfg.slowlog_slower_than.num && s->cfg.slowlog_slower_than.num >= 0)
        cmd_slowlog_add(s, c, argv, argc, took_us, redact);
}

void cmd_prepare(cmd_server *s, cmd_request *reqs, size_t n)
{
    table_hint hints[CMD_PREFETCH_KEYS];
    size_t nh = 0;
    /* Stage 1: find each command, parse its keys, start loading each key's
     * bucket. The key positions are those COMMAND reports (first, last,
     * step); keys that do not parse or whose namespace does not exist are
     * skipped (the command will say so when it runs). */
    for (size_t r = 0; r < n; r++) {
        cmd_request *q = &reqs[r];
        const resp_view *argv = q->argv;
        size_t argc = q->argc;
        const cmd_def *d = find_command(argv[0].ptr, argv[0].len);
        q->cmd = d;
        q->key = NULL;
        q->prepared = true;
        if (d == NULL || d->first <= 0 || d->step <= 0 || d->fn == NULL ||
            (size_t)d->first >= argc)
            continue;
        if (db_parse_key(argv[d->first].ptr, argv[d->first].len, &q->parsed))
            q->key = &argv[d->first];
        if (n == 1)
            continue;
        size_t last = d->last < 0 ? argc - 1 : (size_t)d->last;
        for (size_t i = (size_t)d->first; i < argc && i <= last && nh < CMD_PREFETCH_KEYS;
             i += (size_t)d->step) {
            db_key k;
            table *t;
            if (i == (size_t)d->first) {
                if (q->key == NULL)
                    continue;
                k = q->parsed;
            } else if (!db_parse_key(argv[i].ptr, argv[i].len, &k)) {
                continue;
            }
            if (db_table(s->db, k.ns, k.nslen, false, &t) == DB_OK)
                table_prefetch_bucket(t, k.id, &hints[nh++]);
        }
    }
    /* Stage 2: each record, from its bucket (loaded meanwhile). */
    for (size_t i = 0; i < nh; i++)
        table_prefetch_record(&hints[i]);
}

size_t cmd_client_max_args(const cmd_server *s, const cmd_client *c)
{
    return may_run(s, c) ? 0 : CMD_UNAUTH_MAX_ARGS;
}

size_t cmd_client_max_bulk(const cmd_server *s, const cmd_client *c)
{
    return may_run(s, c) ? 0 : CMD_UNAUTH_MAX_BULK;
}

void cmd_protocol_error(cmd_server *s, cmd_client *c, resp_status st, const resp_request *req)
{
    char why[128];
    STAT_INC(&s->st, protocol_errors);
    if (req->over_limit && st == RESP_ERR_MBULK_LEN)
        snprintf(why, sizeof why, "unauthenticated multibulk length");
    else if (req->over_limit && st == RESP_ERR_BULK_LEN)
        snprintf(why, sizeof why, "unauthenticated bulk length");
    else
        resp_strerror(st, req, why, sizeof why);
    cmd_reply_errorf(s, c, "ERR Protocol error: %s", why);
    c->close_after_reply = true;
}

/* ---- Server state ----------------------------------------------------------------- */

void cmd_note_stall(cmd_server *s, const char *what, const char *detail, int64_t us)
{
    if (us <= s->stall_max_us)
        return;
    s->stall_max_us = us;
    snprintf(s->stall_cause, sizeof s->stall_cause, "%s%s%s", what, detail != NULL ? ":" : "",
             detail != NULL ? detail : "");
}

int64_t cmd_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

bool cmd_server_init(cmd_server *s)
{
    memset(s, 0, sizeof *s);
    s->cmdstats = calloc(total_rows(), sizeof *s->cmdstats);
    if (s->cmdstats == NULL)
        return false;
    s->next_client_id = 1;
    s->start_us = cmd_now_us();
    s->config_file = "";
    s->executable = "";
    s->event_api = "";
    busypoll_init(&s->poll);
    return config_init(&s->cfg);
}

/* Table options as the configuration says. The prefaulter's thread is
 * started the first time huge pages are asked for and kept from then on (an
 * idle worker only sleeps). Without it (a kernel before 5.14) tables keep
 * ordinary pages: their writes would fault each 2 MiB page themselves. */
static table_options table_opts(cmd_server *s)
{
    if (s->cfg.huge_pages.num != 0 && s->prefault == NULL && !s->prefault_tried) {
        s->prefault_tried = true;
        s->prefault = prefault_new();
        if (s->prefault == NULL)
            log_write(LOG_NOTICE, "Huge pages stay off: this kernel cannot populate memory "
                                  "ahead of the writes (MADV_POPULATE_WRITE)");
    }
    long long policy = s->cfg.maxmemory_policy.num;
    int lru = config_enum_index(config_find("maxmemory-policy", 16), "allkeys-lru", 11);
    int vlru = config_enum_index(config_find("maxmemory-policy", 16), "volatile-lru", 12);
    return (table_options){
        .auto_shrink = s->cfg.auto_shrink.num != 0,
        .shrink_percent = (unsigned)s->cfg.auto_shrink_threshold.num,
        .huge_pages = s->cfg.huge_pages.num != 0 && s->prefault != NULL,
        .prefault = s->prefault,
        .clock_ms = &s->now_ms,
        .track_lru = policy == lru || policy == vlru,
        .expired_counter = &s->st.expired_keys,
    };
}

bool cmd_server_start(cmd_server *s)
{
    s->now_ms = cmd_now_us() / 1000;
    table_options topt = table_opts(s);
    s->db = db_create((unsigned)s->cfg.max_namespaces.num, &topt);
    if (s->db == NULL)
        return false;
    cmd_server_apply_config(s);
    s->peak_used = s->startup_used = cmd_used_memory(s);
    return true;
}

void cmd_server_deinit(cmd_server *s)
{
    cmd_shrink_jobs_free(s);
    cmd_slowlog_free(s);
    free(s->cmdstats);
    free(s->keybuf);
    free(s->evict_sums);
    s->evict_sums = NULL;
    s->evict_sums_cap = 0;
    s->cmdstats = NULL;
    s->keybuf = NULL;
    s->keybuf_cap = 0;
    db_destroy(s->db);
    s->db = NULL;
    prefault_free(s->prefault); /* after the tables it populates for */
    s->prefault = NULL;
    s->prefault_tried = false;
    config_deinit(&s->cfg);
}

void cmd_server_apply_config(cmd_server *s)
{
    log_set_level((log_level)s->cfg.loglevel.num);
    long long obl[3];
    if (config_parse_obl(s->cfg.obuf_limit.str, obl)) {
        s->obl_hard = obl[0];
        s->obl_soft = obl[1];
        s->obl_secs = obl[2];
    }
    if (s->db != NULL) {
        db_set_max_namespaces(s->db, (unsigned)s->cfg.max_namespaces.num);
        table_options topt = table_opts(s);
        db_set_table_options(s->db, &topt);
    }
}

/* Old buckets evacuated between clock checks in the cron's migration slice. */
#define CRON_MIGRATE_BUCKETS 256

/* What one cron tick may do before the loop serves clients again: the
 * migration, expiry and eviction slices below share it (eviction, which
 * runs only over maxmemory, still gets CRON_MIN_SLICE_US when expiry used
 * the rest). They used to have a budget each, and a tick that shrank a
 * table while keys expired ran 500 µs of migration then 1 ms of expiry:
 * 1.5-1.8 ms in which nobody was served (stall.sh, active expiry phase). */
#define CRON_BUDGET_US 1000

/* Migrations not driven by writes (a table that stopped receiving writes
 * mid-growth, a shrink) are advanced by at most this much of the budget, so
 * an idle server finishes them without a visible stall. */
#define CRON_MIGRATE_US 500

/* The expiry and eviction slices get what is left of the budget, but at
 * least this much, so that they always make progress. */
#define CRON_MIN_SLICE_US 250

static bool server_cron(cmd_server *s);
static bool server_urgent(cmd_server *s, int64_t budget_us);

/* Detached tables (FLUSHALL ASYNC) unmapped per slice: munmap runs at about
 * 10 GB/s of touched pages here, so 4 MiB is well under a millisecond. */
#define CRON_REAP_BYTES (4u * 1024u * 1024u)

/* Give free heap back to the OS when more than this much is free in it. */
#define CRON_TRIM_FREE_BYTES (256u * 1024u)

/* Background work that began at start (µs) is over: a candidate for the
 * longest stall, and time busy polling must not count as serving. */
static void background_done(cmd_server *s, const char *cause, int64_t start)
{
    int64_t took = cmd_now_us() - start;
    cmd_note_stall(s, cause, NULL, took);
    busypoll_background(&s->poll, took > 0 ? (uint64_t)took * 1000u : 0);
}

bool cmd_server_cron(cmd_server *s)
{
    int64_t start = cmd_now_us();
    bool more = server_cron(s);
    background_done(s, "cron", start);
    return more;
}

/* What is left of this tick's budget for the next slice (CRON_MIN_SLICE_US
 * at least). */
static int64_t cron_left(int64_t start)
{
    int64_t left = CRON_BUDGET_US - (cmd_now_us() - start);
    return left > CRON_MIN_SLICE_US ? left : CRON_MIN_SLICE_US;
}

static bool server_cron(cmd_server *s)
{
    if (!s->clock_fixed)
        s->now_ms = cmd_now_us() / 1000;
    int64_t start = cmd_now_us();
    while (db_step(s->db, CRON_MIGRATE_BUCKETS) && cmd_now_us() < start + CRON_MIGRATE_US) {
    }
    bool reaping = db_reap(s->db, CRON_REAP_BYTES);
    s->expire_slices = cmd_expire_tick(s, cron_left(start));
    bool evicting = cmd_evict_cycle(s, cron_left(start));
    struct mallinfo2 mi = mallinfo2();
    s->heap_used = mi.uordblks + mi.hblkhd;
    /* Trim when free heap grew by CRON_TRIM_FREE_BYTES since the last trim
     * left it: free space trim cannot return (fragments) must not make it
     * walk the heap 100 times a second. */
    if (mi.fordblks > s->trim_floor + CRON_TRIM_FREE_BYTES) {
        malloc_trim(0);
        s->trim_floor = mallinfo2().fordblks;
    } else if (mi.fordblks < s->trim_floor) {
        s->trim_floor = mi.fordblks;
    }
    uint64_t used = cmd_used_memory(s);
    if (used > s->peak_used)
        s->peak_used = used;
    return s->shrink_jobs != NULL || s->expire_slices > 0 || evicting || reaping;
}

bool cmd_server_urgent(cmd_server *s, int64_t budget_us)
{
    int64_t start = cmd_now_us();
    bool more = server_urgent(s, budget_us);
    background_done(s, "background", start);
    return more;
}

static bool server_urgent(cmd_server *s, int64_t budget_us)
{
    if (!s->clock_fixed)
        s->now_ms = cmd_now_us() / 1000;
    bool more = false;
    if (s->shrink_jobs != NULL)
        more |= cmd_shrink_jobs_run(s, budget_us);
    else if (s->expire_slices > 0) {
        s->expire_slices--;
        if (!cmd_expire_cycle(s, budget_us))
            s->expire_slices = 0;
        more |= s->expire_slices > 0;
    } else {
        more |= cmd_evict_cycle(s, budget_us);
    }
    /* FLUSHALL ASYNC leftovers, at about CRON_REAP_BYTES per slice. */
    more |= db_reap(s->db, CRON_REAP_BYTES);
    return more;
}

uint64_t cmd_used_memory(const cmd_server *s)
{
    table_stats tot;
    db_total_stats(s->db, &tot);
    struct mallinfo2 mi = mallinfo2();
    return tot.index_bytes + tot.payload_bytes + tot.meta_bytes + mi.uordblks + mi.hblkhd;
}

void cmd_client_init(cmd_server *s, cmd_client *c)
{
    memset(c, 0, sizeof *c);
    resp_out_init(&c->out);
    c->id = s->next_client_id++;
    c->fd = -1;
    c->ctime_us = c->last_us = cmd_now_us();
    c->authed = s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    c->next = s->clients;
    if (s->clients != NULL)
        s->clients->prev = c;
    s->clients = c;
    s->connected++;
}

void cmd_client_deinit(cmd_server *s, cmd_client *c)
{
    cmd_monitor_forget(s, c);
    if (c->blocked)
        cmd_shrink_jobs_forget(s, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->connected--;
    resp_out_deinit(&c->out);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    c->name = c->lib_name = c->lib_ver = NULL;
}
