/*
 * config.h - ebb's options, declared once (layer 2, libc + protocol only).
 *
 * CONFIG_OPTIONS is the single list of options: it generates the fields of
 * `config`, their defaults, parsing and validation, CONFIG GET / CONFIG SET,
 * the config file, command-line flags and --help. Values are set from text
 * (redis.conf syntax: `name value [value ...]`); multi-word values are joined
 * with single spaces (`bind 127.0.0.1 ::1`).
 *
 * Row: X(field, "name", type, "default", min, max, flags, words, "description")
 *   type   CFG_INT (integer in [min, max]), CFG_MEM (bytes with Redis's
 *          suffixes b k kb m mb g gb, in [min, max]), CFG_BOOL (yes|no),
 *          CFG_STR (free text), CFG_ENUM (one of the words; stored as its
 *          index), CFG_FIXED (accepts only its default: kept
 *          so clients that probe persistence get the answer a persistence-off
 *          Redis gives), CFG_LIMIT (a memory limit: `auto`, a percentage
 *          `1%`..`100%`, or bytes as CFG_MEM in [min, max]; see
 *          CFG_LIMIT_AUTO), CFG_OBL (Redis's client-output-buffer-limit groups
 *          of `class hard soft seconds`, merged into the classes set
 *          before and stored as canonical text: see config_parse_obl), CFG_NSMEM (pairs
 *          of `namespace bytes`, validated as a whole and stored as the
 *          canonical list: see config_parse_ns_quotas), CFG_SAVE (Redis's
 *          snapshot points, `<seconds> <changes>` pairs or "": see
 *          config_parse_save).
 *   flags  CFG_RUNTIME: CONFIG SET may change it; otherwise startup only.
 *   words  the list of a CFG_ENUM's values (CONFIG_LOGLEVELS ...), else
 *          CFG_NO_WORDS
 */
#ifndef EBB_CONFIG_H
#define EBB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The values of the CFG_ENUM options, in order, as X(ENUM_CONSTANT, "word"):
 * the enum a module switches on is generated from its list (log.h,
 * evict.c), and the option accepts the words, so the two cannot drift
 * apart. */
/* clang-format off */
#define CONFIG_LOGLEVELS(X)                                                                        \
    X(LOG_DEBUG, "debug")                                                                          \
    X(LOG_VERBOSE, "verbose")                                                                      \
    X(LOG_NOTICE, "notice")                                                                        \
    X(LOG_WARNING, "warning")
#define CONFIG_EVICT_POLICIES(X)                                                                   \
    X(POLICY_NOEVICTION, "noeviction")                                                             \
    X(POLICY_ALLKEYS_LRU, "allkeys-lru")                                                           \
    X(POLICY_ALLKEYS_LFU, "allkeys-lfu")                                                           \
    X(POLICY_ALLKEYS_RANDOM, "allkeys-random")                                                     \
    X(POLICY_VOLATILE_LRU, "volatile-lru")                                                         \
    X(POLICY_VOLATILE_LFU, "volatile-lfu")                                                         \
    X(POLICY_VOLATILE_RANDOM, "volatile-random")                                                   \
    X(POLICY_VOLATILE_TTL, "volatile-ttl")
/* clang-format on */
/* The words column of the options that are not enums. */
#define CFG_NO_WORDS(X)

#define CONFIG_OPTIONS(X)                                                                          \
    X(port, "port", CFG_INT, "6379", 1, 65535, 0, CFG_NO_WORDS, "TCP port to listen on")           \
    X(bind, "bind", CFG_STR, "127.0.0.1", 0, 0, 0, CFG_NO_WORDS,                                   \
      "addresses to listen on, separated by spaces")                                               \
    X(maxclients, "maxclients", CFG_INT, "10000", 1, 1000000, CFG_RUNTIME, CFG_NO_WORDS,           \
      "most clients connected at once")                                                            \
    X(loglevel, "loglevel", CFG_ENUM, "notice", 0, 0, CFG_RUNTIME, CONFIG_LOGLEVELS,               \
      "least important level logged")                                                              \
    X(logfile, "logfile", CFG_STR, "", 0, 0, 0, CFG_NO_WORDS,                                      \
      "log file path (empty: standard error)")                                                     \
    X(max_namespaces, "max-namespaces", CFG_INT, "64", 1, 65536, CFG_RUNTIME, CFG_NO_WORDS,        \
      "most key namespaces besides the default one")                                               \
    X(auto_shrink, "auto-shrink", CFG_BOOL, "yes", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                \
      "shrink tables and release payload memory as keys are deleted")                              \
    X(auto_shrink_threshold, "auto-shrink-threshold", CFG_INT, "25", 1, 25, CFG_RUNTIME,           \
      CFG_NO_WORDS, "shrink when keys fall below this % of the grow load (9.75 per bucket)")       \
    X(huge_pages, "huge-pages", CFG_BOOL, "yes", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                  \
      "2 MiB pages for big tables: faster lookups past ~1M keys; written in "                      \
      "4 KiB pages, then moved into 2 MiB pages a thread faulted in "                              \
      "(applies to new mappings)")                                                                 \
    X(maxmemory, "maxmemory", CFG_LIMIT, "auto", 0, 9223372036854775807LL, CFG_RUNTIME,            \
      CFG_NO_WORDS,                                                                                \
      "memory limit: auto (the cgroup's limit less a headroom; none without one), a "              \
      "percentage of the cgroup's limit (90%), or bytes (0: none); see maxmemory-policy")          \
    X(maxmemory_policy, "maxmemory-policy", CFG_ENUM, "noeviction", 0, 0, CFG_RUNTIME,             \
      CONFIG_EVICT_POLICIES, "what goes when maxmemory is reached")                                \
    X(multi_queue_limit, "multi-queue-limit", CFG_MEM, "64mb", 1024, 4294967296LL, CFG_RUNTIME,    \
      CFG_NO_WORDS, "most bytes of commands one client may queue between MULTI and EXEC")          \
    X(busy_reply_threshold, "busy-reply-threshold", CFG_INT, "5000", 0, 9223372036854775807LL,     \
      CFG_RUNTIME, CFG_NO_WORDS,                                                                   \
      "ms a script runs before other clients get -BUSY and SCRIPT KILL may stop it "               \
      "(0: never); alias lua-time-limit")                                                          \
    X(lua_maxmemory, "lua-maxmemory", CFG_MEM, "64mb", 1048576, 9223372036854775807LL,             \
      CFG_RUNTIME, CFG_NO_WORDS, "most bytes the Lua heap may hold while scripts run and compile") \
    X(lua_cache_max_scripts, "lua-cache-max-scripts", CFG_INT, "500", 1, 1000000, CFG_RUNTIME,     \
      CFG_NO_WORDS,                                                                                \
      "most scripts EVAL keeps cached; past it the least recently used goes "                      \
      "(SCRIPT LOAD's stay)")                                                                      \
    X(namespace_maxmemory, "namespace-maxmemory", CFG_NSMEM, "", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,  \
      "<namespace> <bytes> pairs: each namespace's memory quota (" CONFIG_NS_DEFAULT               \
      " names the default one; 0: none); over it the namespace evicts its own keys by "            \
      "maxmemory-policy")                                                                          \
    X(maxmemory_samples, "maxmemory-samples", CFG_INT, "5", 1, 64, CFG_RUNTIME, CFG_NO_WORDS,      \
      "keys sampled per eviction by the LRU, LFU and TTL policies")                                \
    X(lfu_log_factor, "lfu-log-factor", CFG_INT, "10", 0, 2147483647, CFG_RUNTIME, CFG_NO_WORDS,   \
      "LFU policies: how much harder each step of a key's access counter gets "                    \
      "(10: 255 after about 1M hits)")                                                             \
    X(lfu_decay_time, "lfu-decay-time", CFG_INT, "1", 0, 2147483647, CFG_RUNTIME, CFG_NO_WORDS,    \
      "LFU policies: minutes a key stays idle per step its access counter loses (0: never)")       \
    X(tracking_table_max_keys, "tracking-table-max-keys", CFG_INT, "1000000", 0, 2147483647,       \
      CFG_RUNTIME, CFG_NO_WORDS,                                                                   \
      "most keys CLIENT TRACKING remembers; past it some are invalidated (0: no bound)")           \
    X(hotkey_top_k, "hotkey-top-k", CFG_INT, "0", 0, 1024, CFG_RUNTIME, CFG_NO_WORDS,              \
      "hot key detection: keys HOTKEYS GET reports, and per namespace tracks (0: off)")            \
    X(hotkey_sampling_percentage, "hotkey-sampling-percentage", CFG_INT, "100", 1, 100,            \
      CFG_RUNTIME, CFG_NO_WORDS, "hot key detection: percent of key accesses sampled")             \
    X(hotkey_window_seconds, "hotkey-window-seconds", CFG_INT, "10", 1, 3600, CFG_RUNTIME,         \
      CFG_NO_WORDS, "hot key detection: length of the window HOTKEYS GET reports on")              \
    X(query_buffer_limit, "client-query-buffer-limit", CFG_MEM, "256mb", 1048576, 4294967296LL,    \
      CFG_RUNTIME, CFG_NO_WORDS, "largest unparsed input one client may have buffered")            \
    X(obuf_limit, "client-output-buffer-limit", CFG_OBL,                                           \
      "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,    \
      "<class> <hard> <soft> <soft-seconds> groups: close a client whose pending "                 \
      "output passes hard, or stays over soft that long (0: no limit); pubsub "                    \
      "applies to clients with subscriptions, normal to the others (replica is kept, unused)")     \
    X(pubsub_max_subscriptions, "pubsub-max-subscriptions", CFG_INT, "100000", 1, 2147483647,      \
      CFG_RUNTIME, CFG_NO_WORDS,                                                                   \
      "most channels and patterns one client may subscribe to, together")                          \
    X(timeout, "timeout", CFG_INT, "0", 0, 2147483647, CFG_RUNTIME, CFG_NO_WORDS,                  \
      "close a client idle this many seconds (0: never)")                                          \
    X(tcp_keepalive, "tcp-keepalive", CFG_INT, "300", 0, 2147483647, CFG_RUNTIME, CFG_NO_WORDS,    \
      "TCP keepalive interval in seconds for new clients (0: off)")                                \
    X(busy_poll_us, "busy-poll-us", CFG_INT, "50", 0, 1000, CFG_RUNTIME, CFG_NO_WORDS,             \
      "microseconds the event loop polls for more requests before it sleeps, "                     \
      "while it is at least half busy (0: never poll)")                                            \
    X(requirepass, "requirepass", CFG_STR, "", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                    \
      "password clients must give with AUTH (empty: none)")                                        \
    X(protected_mode, "protected-mode", CFG_BOOL, "yes", 0, 0, 0, CFG_NO_WORDS,                    \
      "refuse to listen on a non-loopback address without requirepass")                            \
    X(slowlog_slower_than, "slowlog-log-slower-than", CFG_INT, "10000", -1, 9223372036854775807LL, \
      CFG_RUNTIME, CFG_NO_WORDS,                                                                   \
      "log commands slower than this many microseconds (-1: none, 0: all)")                        \
    X(slowlog_max_len, "slowlog-max-len", CFG_INT, "128", 0, 1000000, CFG_RUNTIME, CFG_NO_WORDS,   \
      "entries the slow log keeps")                                                                \
    X(metrics_port, "metrics-port", CFG_INT, "0", 0, 65535, 0, CFG_NO_WORDS,                       \
      "HTTP port for /metrics, /healthz and /readyz (0: off)")                                     \
    X(metrics_bind, "metrics-bind", CFG_STR, "", 0, 0, 0, CFG_NO_WORDS,                            \
      "addresses the HTTP port listens on (empty: those of bind)")                                 \
    X(dir, "dir", CFG_STR, ".", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                                   \
      "directory the snapshot is written to and loaded from at start")                             \
    X(dbfilename, "dbfilename", CFG_STR, "dump.rdb", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,              \
      "the snapshot's file name in dir (Redis's RDB format)")                                      \
    X(save, "save", CFG_SAVE, "", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                                 \
      "<seconds> <changes> pairs: snapshot in the background after that many "                     \
      "seconds with at least that many changes (\"\": only when asked)")                           \
    X(shutdown_save, "shutdown-save", CFG_BOOL, "no", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,             \
      "write the snapshot before exiting on SIGTERM or SHUTDOWN (as if save "                      \
      "points were set)")                                                                          \
    X(bgsave_fork, "bgsave-fork", CFG_BOOL, "no", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                 \
      "BGSAVE forks a child (Redis's way: the fork and copy-on-write stall the "                   \
      "loop) instead of walking the keys between rounds of I/O")                                   \
    X(appendonly, "appendonly", CFG_FIXED, "no", 0, 0, CFG_RUNTIME, CFG_NO_WORDS,                  \
      "append-only file: always off; snapshots only (save, SAVE, BGSAVE)")

typedef enum {
    CFG_INT,
    CFG_MEM,
    CFG_BOOL,
    CFG_STR,
    CFG_ENUM,
    CFG_FIXED,
    CFG_OBL,
    CFG_LIMIT,
    CFG_NSMEM,
    CFG_SAVE,
} config_type;

/* How namespace-maxmemory names the default namespace (the keys without a
 * prefix): '@' is not a namespace character, so no named namespace can be
 * taken for it, and the name reads the same in INFO (ns_@default). */
#define CONFIG_NS_DEFAULT "@default"
/* Longest namespace name (db.h's DB_NS_NAME_MAX; quota.c checks they agree:
 * config sits below the keyspace and does not include it). */
#define CONFIG_NS_NAME_MAX 32

/* One pair of a namespace-maxmemory list; len 0 is the default namespace. */
typedef struct {
    char name[CONFIG_NS_NAME_MAX + 1];
    unsigned char len;
    long long bytes;
} config_ns_quota;

/* Parse a namespace-maxmemory list: `name bytes` pairs separated by spaces,
 * names valid namespace names (1..CONFIG_NS_NAME_MAX of [A-Za-z0-9_.-]) or
 * CONFIG_NS_DEFAULT, bytes as CFG_MEM. A name given twice, an incomplete
 * pair or a bad word refuses the whole list (false, a reason in err). Pairs
 * with 0 bytes (no quota) are left out. On success *out is a malloc'd array
 * of *n pairs in the order given (NULL when *n is 0), the caller frees it. */
bool config_parse_ns_quotas(const char *text, size_t len, config_ns_quota **out, size_t *n,
                            char *err, size_t errlen);

/* A CFG_LIMIT's num: bytes (>= 0), CFG_LIMIT_AUTO, or a percentage p
 * (1..100) as CFG_LIMIT_PERCENT(p). */
#define CFG_LIMIT_AUTO (-1LL)
#define CFG_LIMIT_PERCENT(p) (-100LL - (long long)(p))
/* The percentage a CFG_LIMIT holds, or 0 if it holds none. */
static inline int config_limit_percent(long long num)
{
    return num <= -101 && num >= -200 ? (int)(-num - 100) : 0;
}

#define CFG_RUNTIME 1

/* Value slot per type: integers (INT, MEM, BOOL as 0/1, ENUM as index) in
 * `num`, text (STR, FIXED) in `str` (owned, NUL-terminated). */
typedef struct {
    long long num;
    char *str;
    bool user; /* set by the user (file, environment, flag, CONFIG SET), not the default */
} config_value;

typedef struct {
#define CFG_FIELD(field, name, type, def, min, max, flags, words, desc) config_value field;
    CONFIG_OPTIONS(CFG_FIELD)
#undef CFG_FIELD
} config;

/* Each option's index in config_options, for CONFIG_OPTION(field). */
enum {
#define CFG_INDEX(field, ...) CFG_INDEX_##field,
    CONFIG_OPTIONS(CFG_INDEX)
#undef CFG_INDEX
};

#define CFG_COUNT(...) +1
enum { CONFIG_OPTION_COUNT = 0 CONFIG_OPTIONS(CFG_COUNT) };
#undef CFG_COUNT

/* Descriptions of the rows, in declaration order. */
typedef struct {
    const char *name;
    config_type type;
    const char *def;
    long long min, max;
    int flags;
    const char *const *words; /* CFG_ENUM: its values, NULL-terminated */
    const char *desc;
    size_t offset; /* of the config_value within `config` */
} config_option;

extern const config_option config_options[];
extern const size_t config_option_count;

/* Old names Redis still accepts for an option (lua-time-limit for
 * busy-reply-threshold): config_find takes them, CONFIG GET lists them. */
typedef struct {
    const char *alias, *name;
} config_alias;
extern const config_alias config_aliases[];
extern const size_t config_alias_count;
/* The row of an option by its field, without a lookup by name. */
#define CONFIG_OPTION(field) (&config_options[CFG_INDEX_##field])

/* Fill every option with its default. Returns false on allocation failure. */
bool config_init(config *c);
/* Free owned strings. */
void config_deinit(config *c);

/* Option by name or alias (case-insensitive), or NULL. */
const config_option *config_find(const char *name, size_t len);

/* Set option `name` from text. `runtime` true means CONFIG SET (immutable
 * options are refused). On failure returns false and writes a one-line reason
 * (without the option name) to err. The value is unchanged on failure. */
bool config_set(config *c, const char *name, size_t namelen, const char *value, size_t valuelen,
                bool runtime, char *err, size_t errlen);

/* Render the current value as CONFIG GET shows it into dst (NUL-terminated,
 * truncated). Returns dst. */
const char *config_format(const config *c, const config_option *o, char *dst, size_t dstlen);

/* Parse a redis.conf-style text (lines of `name value ...`, `#` comments,
 * quoting as in inline commands). Stops at the first bad line and writes
 * "line N: <reason>" to err. */
bool config_load_text(config *c, const char *text, size_t len, char *err, size_t errlen);

/* Same for a file. */
bool config_load_file(config *c, const char *path, char *err, size_t errlen);

/* Environment variable prefix: option `maxmemory-policy` is read from
 * EBB_MAXMEMORY_POLICY (upper case, '-' as '_'). */
#define CONFIG_ENV_PREFIX "EBB_"

/* Write the environment variable name of option o into dst ("EBB_PORT").
 * Returns dst. */
const char *config_env_name(const config_option *o, char *dst, size_t dstlen);

/* Set every option whose environment variable is present, reading through
 * `lookup` (getenv in the server; a fake in tests). An empty value counts as
 * given (EBB_REQUIREPASS= clears a password). Stops at the first invalid
 * value and writes "EBB_NAME: <reason>" to err. */
bool config_load_env(config *c, const char *(*lookup)(const char *name), char *err, size_t errlen);

/* Parse a memory amount ("100mb", "1gb", "4096") into bytes. */
bool config_parse_memory(const char *s, size_t len, long long *out);

/* client-output-buffer-limit's classes, in the order Redis prints them
 * (replica, alias slave, is parsed and kept: ebb has no replicas). */
enum { CONFIG_OBL_NORMAL, CONFIG_OBL_REPLICA, CONFIG_OBL_PUBSUB, CONFIG_OBL_CLASSES };
typedef struct {
    long long hard, soft, secs; /* bytes, bytes, seconds; 0: no limit */
} config_obl;
/* Parse a client-output-buffer-limit text, groups of `class hard soft
 * seconds`, over out[]: a class the text names is replaced, the others
 * keep their values (Redis's CONFIG SET semantics). False, out[] unchanged,
 * if the text is invalid or names no class. The option is stored in the
 * canonical form config_format_obl writes. */
bool config_parse_obl(const char *text, config_obl out[CONFIG_OBL_CLASSES]);
/* The canonical text of out[], as Redis's CONFIG GET shows it: "normal 0 0 0
 * slave 268435456 67108864 60 pubsub 33554432 8388608 60". Returns dst. */
const char *config_format_obl(const config_obl out[CONFIG_OBL_CLASSES], char *dst, size_t dstlen);

/* Snapshot points: `save` text as (seconds, changes) pairs, at most
 * CONFIG_SAVE_MAX of them, into secs[] and changes[] (*n of them; "" is 0
 * pairs). False if the text is invalid (odd count, not integers, negative,
 * too many). */
#define CONFIG_SAVE_MAX 16
bool config_parse_save(const char *text, long long secs[], long long changes[], size_t *n);

/* Next space-separated word of a list option (`bind 127.0.0.1 ::1`):
 * copies it NUL-terminated into word and advances *p past it. Returns its
 * length; 0 at the end of the list; -1 (and *p unchanged) if it does not
 * fit in cap bytes. */
int config_next_word(const char **p, char *word, size_t cap);

/* An enum option's values as "a|b|c" into dst (NUL-terminated, truncated).
 * Returns dst. */
const char *config_words(const config_option *o, char *dst, size_t dstlen);

/* Index of an enum option's value by name, or -1. */
int config_enum_index(const config_option *o, const char *word, size_t len);

#endif
