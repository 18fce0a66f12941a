/*
 * cmd.h - the bottom of layer 2: what every command group uses (the command
 * row, replies, argument and key parsing, the clocks, the expiry arguments).
 * It calls nothing above it: no group, no dispatcher, no cron. Not for other
 * layers.
 */
#ifndef EBB_CMD_H
#define EBB_CMD_H

#include "commands.h"
#include "strbuf.h"

/* The Redis version ebb answers as in HELLO and INFO: the command set and
 * reply shapes it follows are Redis 7.0's, and clients pick features by it. */
#define EBB_REDIS_VERSION "7.0.0"

/* A command's handler: runs req (argv, argc, and the first key if
 * cmd_prepare parsed it) and writes its reply to c->out. */
typedef void cmd_handler(cmd_server *s, cmd_client *c, const cmd_request *req);

/* Flags, shown by COMMAND as Redis's flag names. */
enum {
    CMD_WRITE = 1 << 0,         /* may change the keyspace */
    CMD_READONLY = 1 << 1,      /* reads keys only */
    CMD_FAST = 1 << 2,          /* O(1) or O(log N) */
    CMD_ADMIN = 1 << 3,         /* server administration */
    CMD_DENYOOM = 1 << 4,       /* may add memory */
    CMD_STALE = 1 << 5,         /* harmless at any time (PING, INFO...) */
    CMD_NO_AUTH = 1 << 6,       /* allowed before AUTH */
    CMD_SKIP_SLOWLOG = 1 << 7,  /* not logged itself (EXEC: its commands are) */
    CMD_NO_MULTI = 1 << 8,      /* refused inside MULTI (SHUTDOWN) */
    CMD_NO_SCRIPT = 1 << 9,     /* refused from a script's redis.call */
    CMD_ALLOW_BUSY = 1 << 10,   /* runs while a script is busy (SCRIPT KILL) */
    CMD_SKIP_MONITOR = 1 << 11, /* the handler feeds MONITOR itself (EVAL) */
    /* may propagate a write without being a write command itself (Redis's
     * EVAL, EVALSHA, FCALL, PUBLISH): a WRITE pause holds it. Hidden from
     * COMMAND, as Redis hides it. */
    CMD_MAY_REPLICATE = 1 << 12,
    CMD_LOADING = 1 << 13, /* runs while a snapshot loads (INFO...); others get -LOADING */
    CMD_PUBSUB = 1 << 14,  /* a pub/sub command (Redis's flag `pubsub`) */
    /* runs on a RESP2 connection with subscriptions (SUBSCRIBE ... PING,
     * QUIT, RESET); the others get Redis's "only (P|S)SUBSCRIBE / ..."
     * error there. Hidden from COMMAND: Redis lists these by name. */
    CMD_SUBSCRIBED_OK = 1 << 15,
};

/*
 * One row per command (or subcommand of a container): every fact about a
 * command is here, in the file of its group.
 *   name       lowercase; matched case-insensitively
 *   arity      > 0: exactly that many argv entries, name included;
 *              < 0: at least -arity
 *   flags      CMD_* above
 *   first, last, step   key positions for COMMAND and cmd_prepare (0 0 0:
 *              no keys; last -1: to the end)
 *   fn         the handler, or NULL for a container whose `subs` table is
 *              searched with argv[1]
 *   subs       subcommand rows of a container, ended by a row with NULL name
 *   group, since, summary   for COMMAND DOCS
 *   args       the arguments for COMMAND DOCS in the syntax of Redis's
 *              docs (docs.h), or NULL for none
 *   redact     NULL, or true for a request whose arguments are a secret:
 *              MONITOR and the slow log then show only its name
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
    const char *args;
    bool (*redact)(const resp_view *argv, size_t argc);
} cmd_def;

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
/* What most errors quote of a client's argument: enough to recognize it. */
#define CMD_QUOTE_SHORT 64

/* Count an error reply by its first word (INFO errorstats). */
void cmd_count_error(cmd_server *s, const char *msg);
/* -ERR wrong number of arguments for '<fullname>' command. */
void cmd_reply_wrong_arity(cmd_server *s, cmd_client *c, const char *fullname);
/* A text reply (a verbatim string in RESP3, a bulk in RESP2). */
void cmd_reply_text(cmd_client *c, const char *p, size_t n);

/* A HELP reply: lines (NULL-terminated) as an array of simple strings. */
void cmd_reply_help(cmd_client *c, const char *const *lines);

/* Argument helpers. cmd_arg_* reply the error themselves on failure. */
bool cmd_arg_is(const resp_view *v, const char *word);        /* case-insensitive */
bool cmd_parse_ll(const char *p, size_t len, long long *out); /* Redis's string2ll */
bool cmd_arg_ll(cmd_server *s, cmd_client *c, const resp_view *v, long long *out);
bool cmd_parse_key(cmd_server *s, cmd_client *c, const resp_view *v, db_key *k);
/* req->argv[i] as a key (cmd_parse_key), reusing what cmd_prepare parsed
 * when it is the request's first key (the same view: the bytes have not
 * changed, so neither has the answer). Inline: every keyed command's path. */
static inline bool cmd_key_arg(cmd_server *s, cmd_client *c, const cmd_request *req, size_t i,
                               db_key *k)
{
    if (req->key == &req->argv[i]) {
        *k = req->parsed;
        return true;
    }
    return cmd_parse_key(s, c, &req->argv[i], k);
}
/* Keys req->argv[first], [first + step], ... into keys[]; on the first bad
 * one reply the error and return false (nothing has been touched yet). */
bool cmd_parse_keys(cmd_server *s, cmd_client *c, const cmd_request *req, size_t first, size_t step,
                    db_key *keys);
/* Room for n parsed keys: stackbuf (KEYS_ON_STACK) when n fits, else the
 * server's reusable buffer or a malloc; NULL after replying -OOM. Give it
 * back with cmd_keys_free. */
#define CMD_KEYS_ON_STACK 16
/* Set up and free the kept buffer behind cmd_keys_alloc. */
bool cmd_keybuf_init(cmd_server *s);
void cmd_keybuf_free(cmd_server *s);
/* Keys the kept buffer holds now (at most KEYS_KEPT). */
size_t cmd_keybuf_cap(const cmd_server *s);
db_key *cmd_keys_alloc(cmd_server *s, cmd_client *c, size_t n, db_key *stackbuf);
void cmd_keys_free(cmd_server *s, db_key *k, db_key *stackbuf);
/* The table holding k, or NULL if its namespace does not exist. */
static inline table *cmd_read_table(cmd_server *s, const db_key *k)
{
    table *t;
    db_table(s->db, k->ns, k->nslen, false, &t);
    return t;
}
/* The table for writing k, creating its namespace; NULL after replying the
 * error (namespace cap, out of memory). */
table *cmd_write_table(cmd_server *s, cmd_client *c, const db_key *k);

/* Look k up, counting a hit or a miss (INFO keyspace_hits/misses). */
static inline void cmd_count_lookup(cmd_server *s, bool hit)
{
    if (hit)
        STAT_INC(&s->st, keyspace_hits);
    else
        STAT_INC(&s->st, keyspace_misses);
}
/* Counted for the server and for the key's namespace (if it exists: a
 * lookup in one that does not counts for the server only). */
static inline bool cmd_lookup(cmd_server *s, const db_key *k, const uint8_t **val, size_t *len)
{
    db_ns *n = db_find(s->db, k->ns, k->nslen);
    bool hit = n != NULL && table_get(n->t, k->id, val, len) == TABLE_OK;
    cmd_count_lookup(s, hit);
    if (n != NULL) {
        n->hits += hit;
        n->misses += !hit;
    }
    return hit;
}
void cmd_reply_value_too_long(cmd_server *s, cmd_client *c, size_t len);
/* A value fits a record (TABLE_VALUE_MAX), or reply the error. */
static inline bool cmd_check_value(cmd_server *s, cmd_client *c, const resp_view *v)
{
    if (v->len <= TABLE_VALUE_MAX)
        return true;
    cmd_reply_value_too_long(s, c, v->len);
    return false;
}

/* Store a value (table_put) or reply the error. */
bool cmd_store(cmd_server *s, cmd_client *c, table *t, int64_t id, const void *val, size_t len,
               int64_t expire_at, bool keep_ttl);

/* Expiry arguments: SET, SETEX, GETEX and the EXPIRE family. */
typedef enum { EXPIRE_SEC, EXPIRE_MS, EXPIRE_AT_SEC, EXPIRE_AT_MS } cmd_expire_unit;
/* Is v one of EX PX EXAT PXAT? */
bool cmd_expire_option(const resp_view *v, cmd_expire_unit *unit);
/* Turn an expiry argument into an absolute time in ms, or reply Redis's
 * error ("value is not an integer", "invalid expire time in '<cmd>'
 * command") and return false. Values must be > 0, as SET, SETEX and GETEX
 * require. */
bool cmd_expire_time(cmd_server *s, cmd_client *c, const resp_view *v, cmd_expire_unit unit,
                     const char *cmdname, int64_t *at);

/* Absolute ms for value v in unit (*at), or false on overflow. Any sign. */
bool cmd_expire_abs_ms(cmd_server *s, long long v, cmd_expire_unit unit, int64_t *at);

/* Resident set size of this process, from /proc/self/statm. */
uint64_t cmd_rss_bytes(void);

#endif
