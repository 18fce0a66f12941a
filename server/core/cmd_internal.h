/*
 * cmd_internal.h - what the files of the commands layer share among
 * themselves (commands.c, memory.c): reply and argument helpers, and the
 * handlers each file contributes to the command table. Not for other layers.
 */
#ifndef EBB_CMD_INTERNAL_H
#define EBB_CMD_INTERNAL_H

#include "commands.h"
#include "strbuf.h"

extern const char ERR_SYNTAX[];
extern const char ERR_NOT_INT[];
extern const char ERR_OOM[];

/* Reply an error and count it in total_error_replies. */
void cmd_reply_error(cmd_server *s, cmd_client *c, const char *msg);
void cmd_reply_errorf(cmd_server *s, cmd_client *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Client bytes quoted in an error reply: at most `max` (<= CMD_QUOTE_MAX)
 * bytes of v, each NUL written as "\0" (a %s or %.*s would stop at it and
 * the message would name other bytes than the client sent), followed by
 * "..." when v was longer and `ellipsis` is set. CR and LF stay: the reply
 * writer blanks them, as Redis does. dst holds CMD_QUOTE_BUF bytes; returns
 * dst, NUL-terminated. */
#define CMD_QUOTE_MAX 128
#define CMD_QUOTE_BUF (2 * CMD_QUOTE_MAX + 4)
const char *cmd_quote(char *dst, const resp_view *v, size_t max, bool ellipsis);

/* A HELP reply: lines (NULL-terminated) as an array of simple strings. */
void cmd_reply_help(cmd_client *c, const char *const *lines);

/* The canonical (lowercase) name of the top-level command `name` names,
 * matched case-insensitively, or NULL if there is none. */
const char *cmd_lookup_name(const char *name, size_t len);

/* Argument helpers. cmd_arg_* reply the error themselves on failure. */
bool cmd_arg_is(const resp_view *v, const char *word);     /* case-insensitive */
bool cmd_parse_ll(const char *p, size_t len, long long *out); /* Redis's string2ll */
bool cmd_arg_ll(cmd_server *s, cmd_client *c, const resp_view *v, long long *out);
bool cmd_parse_key(cmd_server *s, cmd_client *c, const resp_view *v, db_key *k);
/* The table holding k, or NULL if its namespace does not exist. */
table *cmd_read_table(cmd_server *s, const db_key *k);
/* The table for writing k, creating its namespace; NULL after replying the
 * error (namespace cap, out of memory). */
table *cmd_write_table(cmd_server *s, cmd_client *c, const db_key *k);

/* Store a value (table_put) or reply the error. */
bool cmd_store(cmd_server *s, cmd_client *c, table *t, int64_t id, const void *val, size_t len,
               int64_t expire_at, bool keep_ttl);

/* Expiry arguments (expiry.c). */
typedef enum { EXPIRE_SEC, EXPIRE_MS, EXPIRE_AT_SEC, EXPIRE_AT_MS } cmd_expire_unit;
/* Is v one of EX PX EXAT PXAT? */
bool cmd_expire_option(const resp_view *v, cmd_expire_unit *unit);
/* Turn an expiry argument into an absolute time in ms, or reply Redis's
 * error ("value is not an integer", "invalid expire time in '<cmd>'
 * command") and return false. Values must be > 0, as SET, SETEX and GETEX
 * require. */
bool cmd_expire_time(cmd_server *s, cmd_client *c, const resp_view *v, cmd_expire_unit unit,
                     const char *cmdname, int64_t *at);

/* Resident set size of this process, from /proc/self/statm. */
uint64_t cmd_rss_bytes(void);

/* expiry.c */
void cmd_setex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_psetex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_getex(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_expire(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_pexpire(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_expireat(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_pexpireat(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_ttl(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_pttl(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_expiretime(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_pexpiretime(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_persist(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
/* Active expiry: one slice of at most budget_us over every namespace.
 * Returns true if it was cut short by the budget with many keys expiring
 * (another slice soon is worth it). */
bool cmd_expire_cycle(cmd_server *s, int64_t budget_us);
/* Once per cron tick: run the slice this tick deserves, of at most budget_us
 * (and EXPIRE_SLICE_US); returns how many extra slices to run between
 * rounds of I/O before the next tick. */
unsigned cmd_expire_tick(cmd_server *s, int64_t budget_us);

/* evict.c */
/* Before a command that may add memory: evict to get under maxmemory. False
 * (after replying -OOM) when the command must be refused. */
bool cmd_evict_before_write(cmd_server *s, cmd_client *c);
/* Background eviction toward maxmemory for at most budget_us (after CONFIG
 * SET maxmemory lowered it). Returns true while still over the limit. */
bool cmd_evict_cycle(cmd_server *s, int64_t budget_us);
/* A random 64-bit number (xorshift64*; not for secrets). */
uint64_t cmd_random(cmd_server *s);
/* A namespace's table picked with probability proportional to its keys
 * (with_ttl: its keys with a TTL); NULL if there are none. */
table *cmd_pick_table(cmd_server *s, bool with_ttl);
/* The memory figure maxmemory is compared with. */
uint64_t cmd_evict_used(const cmd_server *s);

/* keys.c */
void cmd_scan(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_keys(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_randomkey(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);

/* Per-command lines of INFO commandstats and latencystats (commands.c). */
void cmd_render_commandstats(cmd_server *s, strbuf *b);
void cmd_render_latencystats(cmd_server *s, strbuf *b);
/* Visit every command with any call, rejection or failure counted, by its
 * full name ("get", "config|get"), in command table order. */
void cmd_each_used_stat(cmd_server *s, void (*fn)(const char *name, const cmd_stat *st, void *arg),
                        void *arg);

/* docs.c: COMMAND DOCS argument specs, by full name ("config|get"). */
bool cmd_docs_has_args(const char *fullname);
/* Append the "arguments" array of Redis 7's COMMAND DOCS. */
void cmd_docs_add_args(resp_out *o, const char *fullname);
/* Every spec parses (for tests); *bad names the first that does not. */
bool cmd_docs_specs_valid(const char **bad);

/* introspect.c */
/* Log a command if it was slow enough (redact: keep only its name). */
void cmd_slowlog_add(cmd_server *s, const cmd_client *c, const resp_view *argv, size_t argc,
                     int64_t duration_us, bool redact);
void cmd_slowlog_free(cmd_server *s);
void cmd_slowlog_get(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_slowlog_len(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_slowlog_reset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_slowlog_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_monitor(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
/* Forget c as a monitor (it is going away). */
void cmd_monitor_forget(cmd_server *s, cmd_client *c);
/* Send one command line to every monitor but `from` (redact: hide the
 * arguments, for AUTH and HELLO). */
void cmd_monitor_feed(cmd_server *s, const cmd_client *from, const resp_view *argv, size_t argc,
                      bool redact);
void cmd_client_kill(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_object(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_object_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_latency_latest(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_latency_reset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
/* Count an error reply by its first word (INFO errorstats). */
void cmd_count_error(cmd_server *s, const char *msg);

/* memory.c */
void cmd_shrink(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_usage(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_stats(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_purge(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_doctor(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
/* Advance SHRINK jobs for at most budget_us; reply to callers whose job is
 * done. Returns true while jobs remain. */
bool cmd_shrink_jobs_run(cmd_server *s, int64_t budget_us);
/* Forget c in any SHRINK job waiting to reply to it (it is going away). */
void cmd_shrink_jobs_forget(cmd_server *s, cmd_client *c);
/* Free every job (server teardown). */
void cmd_shrink_jobs_free(cmd_server *s);

#endif
