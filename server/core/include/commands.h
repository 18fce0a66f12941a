/*
 * commands.h - command semantics: the command table, argument parsing,
 * replies, INFO (layer 2: depends on db/table, protocol, config, stats; never
 * on libevent or sockets).
 *
 * One request: the connection layer hands cmd_prepare() and cmd_run() a
 * client and the argv views of the parsed requests of one read. The
 * dispatcher finds the command (case-insensitive), checks arity once, runs
 * the handler with the request, and counts. Handlers
 * write their replies into client->out (a resp_out) and never touch sockets;
 * they may set client->close_after_reply (QUIT) or server->shutdown_asked.
 * So every handler is unit-testable with an in-memory client.
 */
#ifndef EBB_COMMANDS_H
#define EBB_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busypoll.h"
#include "config.h"
#include "db.h"
#include "latency.h"
#include "resp.h"
#include "stats.h"

typedef struct cmd_client cmd_client;
struct cmd_request;

/* Per-command counters (INFO commandstats, LATENCY HISTOGRAM). */
typedef struct {
    uint64_t calls;    /* handler ran */
    uint64_t rejected; /* refused before running (arity, NOAUTH, -OOM) */
    uint64_t failed;   /* ran and replied an error */
    latency_hist hist; /* service times; hist.sum_ns is their exact total */
} cmd_stat;

/* Errors by their first word (INFO errorstats), at most CMD_ERRORSTATS_MAX
 * kinds, as Redis caps them at 128. */
#define CMD_ERRORSTATS_MAX 128
typedef struct {
    char name[32];
    uint64_t count;
} cmd_errorstat;

/* The registry of connected clients (server.c adds and removes them). */
typedef struct {
    cmd_client *head; /* every connected client */
    uint64_t count;   /* clients in the registry */
    uint64_t next_id;
    size_t monitors; /* of them in MONITOR mode (introspection.c) */
    size_t pubsub;   /* of them with subscriptions (pubsub.c) */
} cmd_clients;

/* What the daemon tells the layer about the process (main.c, conn.c). */
typedef struct {
    int64_t start_us;        /* wall clock at start (µs) */
    const char *config_file; /* absolute path or "" */
    const char *executable;
    const char *event_api; /* the loop's backend, e.g. "epoll" */
    int tcp_port;          /* port actually bound */
} cmd_process;

/* What the layer asks of the daemon: set by conn.c, NULL in unit tests. */
typedef struct {
    /* A blocked client has its reply (a SHRINK finished) and may be
     * flushed and read again. */
    void (*client_ready)(cmd_client *c);
    /* c->out has grown while another client was served (MONITOR feeds,
     * pub/sub messages): send it, now or at the end of the loop's round,
     * and close c if that passes its output limit. Never frees c (the
     * caller may be walking the client list). */
    void (*client_flush)(cmd_client *c);
    /* Close a client at once (CLIENT KILL of another client). */
    void (*client_kill)(cmd_client *c);
    /* A script has run past busy-reply-threshold (scripting.h): read and
     * answer the other clients once, accepting new ones, without running
     * timers; `running` (the script's caller) is neither read nor closed. */
    void (*serve_while_busy)(cmd_client *running);
    /* CLIENT PAUSE or UNPAUSE changed the pause (pause.h): look at its
     * deadline again, and run held input if it ended or loosened. */
    void (*pause_changed)(void);
} cmd_daemon;

/* CLIENT PAUSE's kinds, least restrictive first (pause.h). */
typedef enum { CMD_PAUSE_OFF, CMD_PAUSE_WRITE, CMD_PAUSE_ALL } cmd_pause_type;

/*
 * The server: what every module of the layer shares, and one pointer to
 * each module's own state. Owned by main; set up by cmd_server_init and
 * cmd_server_start, torn down by cmd_server_deinit.
 *
 * The module states are opaque: only their file reads or writes them, and
 * the others go through its header (figures.h reads their counters that
 * way). What stays shared is below: the keyspace, the configuration, the
 * clock, the counters every command updates, the clients and the daemon's
 * hooks.
 */
typedef struct cmd_server {
    db *db;
    /* Faults in the huge pages tables are about to write, off the event
     * loop (prefault.h); started the first time huge-pages is on, NULL
     * before that or where the kernel cannot populate. Outlives db. */
    struct prefault *prefault;
    bool prefault_tried;
    config cfg;
    stats st;
    cmd_clients clients;
    cmd_process proc;
    cmd_daemon daemon;
    bool shutdown_asked; /* a command asked the server to stop */
    bool busy;           /* a script ran past busy-reply-threshold: the
                            other clients get -BUSY (scripting.h) */
    int64_t now_ms;      /* the clock keys expire by; set per command
                            and per cron tick unless clock_fixed */
    bool clock_fixed;    /* tests: now_ms is moved by hand */
    /* The memory limit in force (memlimit.h): from maxmemory, or the
     * cgroup's under `auto`; 0: none. And the eviction policy in force:
     * maxmemory-policy's, or allkeys-lru under a cgroup limit when no
     * policy was set. */
    uint64_t maxmemory;
    int maxmemory_policy;
    /* Memory (server.c's cron keeps them). */
    uint64_t peak_used;     /* high-water mark of used_memory */
    uint64_t startup_used;  /* used_memory once the server was ready */
    uint64_t heap_used;     /* allocator bytes in use, refreshed by the cron */
    int64_t heap_next_us;   /* when the cron may ask the allocator again (server.c) */
    uint64_t trim_floor;    /* free heap bytes the last malloc_trim left */
    unsigned expire_slices; /* urgent expiry slices left this cron tick */
    /* client-output-buffer-limit by class (CONFIG_OBL_*): pubsub for a
     * client with subscriptions, normal for the others (cmd_client_obl). */
    config_obl obl[CONFIG_OBL_CLASSES];
    /* Counters every command updates (dispatch.c, cmd.c). */
    latency_hist latency; /* service time of every command */
    cmd_stat *cmdstats;   /* one per command table row (cmdtab.h) */
    cmd_errorstat errorstats[CMD_ERRORSTATS_MAX];
    size_t nerrorstats;
    /* The longest single piece of work the event loop did since start or
     * CONFIG RESETSTAT: a command, or a background task; nobody was served
     * meanwhile. */
    int64_t stall_max_us;
    char stall_cause[48];
    busypoll poll; /* whether the loop polls before it sleeps */
    /* Each module's own state. */
    struct cmd_expire *expire;     /* expire.c: active expiry's pacing and counters */
    struct cmd_evict *evict;       /* evict.c: sampling and its counters */
    struct cmd_slowlog *slowlog;   /* introspection.c: the slow log */
    struct cmd_shrink *shrink;     /* memory.c: SHRINK jobs and their counters */
    struct cmd_keybuf *keybuf;     /* cmd.c: parsed keys of big multi-key commands */
    struct cmd_watches *watches;   /* multi.c: which clients watch which keys */
    size_t watched_keys;           /* multi.c: their number; writes look only when > 0 */
    size_t ns_quotas;              /* quota.c: namespace-maxmemory pairs in force; writes
                                      look at their namespaces only when > 0 */
    struct cmd_scripts *scripts;   /* scripting.c: the Lua state and the script cache */
    struct cmd_memlimit *memlimit; /* memlimit.c: the limit's source and the OOM guard */
    struct cmd_hotkeys *hotkeys;   /* hotkeys.c: the hot key summaries */
    struct cmd_persist *persist;   /* persist.c: snapshots, the BGSAVE child, loading */
    struct cmd_pubsub *pubsub;     /* pubsub.c: channels and patterns, their subscribers */
    bool loading;                  /* persist.c: a snapshot is loading; commands
                                      without CMD_LOADING get -LOADING */
    uint64_t changes;              /* write commands since the last snapshot (save points) */
    struct cmd_tracking *tracking; /* tracking.c: keys clients cache, BCAST prefixes */
    size_t tracking_clients;       /* tracking.c: clients with CLIENT TRACKING on */
    bool hotkeys_on;               /* hotkeys.c: hotkey-top-k > 0; requests are sampled */
    /* pause.c: CLIENT PAUSE. While not OFF, the daemon asks cmd_pause_holds
     * before running each request, and keys neither expire nor are
     * evicted (keys_frozen, which the tables read). */
    cmd_pause_type pause_type;
    int64_t pause_end_ms; /* wall clock ms; the pause ends once it is passed */
    bool keys_frozen;     /* pause_type != OFF, for the tables (table_options) */
    bool pause_loosened;  /* it ended or loosened since cmd_pause_refresh last said */
    /* The dispatcher (cmd_run), for EXEC: multi.c runs the queued requests
     * through it without depending on dispatch.c. Set by cmd_server_init. */
    void (*run)(struct cmd_server *s, cmd_client *c, const struct cmd_request *r,
                int64_t *clock_ns);
} cmd_server;

/* cmd_client.reply_flags. */
enum { CMD_REPLY_OFF = 1, CMD_REPLY_SKIP = 2, CMD_REPLY_SKIP_NEXT = 4 };

/* A client's transaction (multi.c). */
typedef enum {
    CMD_TX_NONE,      /* commands run as they come */
    CMD_TX_QUEUEING,  /* after MULTI: commands are queued */
    CMD_TX_EXECUTING, /* inside EXEC: the queue runs */
} cmd_tx_state;

/* One client as the commands layer sees it. The connection layer embeds it,
 * fills addr/laddr/fd, registers it and feeds it requests. */
struct cmd_client {
    uint64_t id;
    resp_out out;             /* replies are appended here; out.proto is the version */
    char *name;               /* CLIENT SETNAME, owned, NULL when unset */
    char *lib_name, *lib_ver; /* CLIENT SETINFO, owned */
    char addr[64];            /* "ip:port" of the peer */
    char laddr[64];           /* "ip:port" of our end */
    int fd;
    int64_t ctime_us;       /* connected at */
    int64_t last_us;        /* last command at */
    const char *last_cmd;   /* name of the last command ("client") or NULL */
    const char *last_sub;   /* its subcommand ("list") or NULL */
    size_t qbuf;            /* bytes of unparsed input (conn keeps it current) */
    size_t obuf;            /* bytes of pending output (conn keeps it current) */
    bool paused;            /* input not read: output backpressure (conn keeps it) */
    bool close_after_reply; /* QUIT, protocol error: close once replies are flushed */
    bool blocked;           /* waiting for a reply (SHRINK): read nothing more */
    bool authed;            /* may run commands (AUTH done, or no requirepass) */
    bool monitor;           /* MONITOR: receives every command run */
    bool script;            /* the client scripts run commands as (not registered) */
    bool held;              /* its next request waits for a pause to end (conn keeps it) */
    bool no_evict;          /* CLIENT NO-EVICT ON: stored and shown (flag e) */
    bool closing;           /* the daemon is closing it: it gets no more pub/sub
                               messages or MONITOR feeds (cmd_client_closing) */
    /* CLIENT REPLY: OFF drops every reply; SKIP drops the next command's
     * (SKIP_NEXT is set by CLIENT REPLY SKIP itself and becomes SKIP once
     * that command is done). CMD_REPLY_* bits; cmd_run applies them. */
    unsigned char reply_flags;
    cmd_tx_state tx_state;
    struct cmd_tx *tx;   /* multi.c: queue and watched keys, NULL if none */
    struct cmd_trk *trk; /* tracking.c: CLIENT TRACKING state, NULL if never on */
    /* Pub/sub (pubsub.c keeps them): how many channels and patterns the
     * client subscribes to, and which (NULL when none). A client with any
     * is in Redis's pubsub class: flag P, its own output limit, no idle
     * timeout, and in RESP2 only a few commands (CMD_SUBSCRIBED_OK). */
    size_t nsub, npsub;
    struct cmd_subs *subs;
    /* out.len after the last out-of-band data (pub/sub messages and
     * confirmations) written into out by the running command: CLIENT REPLY
     * OFF|SKIP drop the command's reply after it, never the pushes, as
     * Redis does. cmd_run sets it to out.len before each command. */
    size_t push_mark;
    cmd_client *prev, *next; /* registry links */
};

/* Subscribed to anything (pub/sub)? */
static inline bool cmd_client_subscribed(const cmd_client *c)
{
    return c->nsub + c->npsub > 0;
}

/* The client-output-buffer-limit class that applies to c now. */
static inline const config_obl *cmd_client_obl(const cmd_server *s, const cmd_client *c)
{
    return &s->obl[cmd_client_subscribed(c) ? CONFIG_OBL_PUBSUB : CONFIG_OBL_NORMAL];
}

/* Set up server state: config defaults (cfg must then be loaded by the
 * caller), the keyspace is created by cmd_server_start once config is final.
 * Returns false on allocation failure. */
bool cmd_server_init(cmd_server *s);
/* Create the keyspace from the final configuration. */
bool cmd_server_start(cmd_server *s);
/* Free the keyspace and config. Clients must be gone. */
void cmd_server_deinit(cmd_server *s);
/* Push runtime-changeable options into the modules that use them (after a
 * CONFIG SET or at start). */
void cmd_server_apply_config(cmd_server *s);
/* Periodic work (call at MAIN_CRON_HZ): advance table migrations, run a
 * slice of active expiry and, over maxmemory, of eviction (together about
 * 1 ms at most), refresh the memory peak, give freed heap back to the OS.
 * Returns true while urgent work (a SHRINK someone waits for, busy expiry
 * or eviction, FLUSHALL ASYNC leftovers) is pending. */
bool cmd_server_cron(cmd_server *s);
/* Urgent work: advance SHRINKs for about budget_us and reply to those done.
 * The caller runs it back to back, between rounds of I/O, while it returns
 * true. */
bool cmd_server_urgent(cmd_server *s, int64_t budget_us);

/* Client lifecycle: init sets id, proto 2 and registers the client with the
 * server; deinit unregisters it and frees what it owns. */
void cmd_client_init(cmd_server *s, cmd_client *c);
void cmd_client_deinit(cmd_server *s, cmd_client *c);
/* The daemon is closing c: it runs nothing more, and from now on gets no
 * messages or feeds meant for others (as Redis writes nothing more to a
 * client it is closing), so a subscriber closed for its output limit stops
 * growing at once. Drops its subscriptions and MONITOR. Not from inside
 * s->daemon hooks (the layer may be walking its clients there): those set
 * c->closing, which stops the messages, and call this later. */
void cmd_client_closing(cmd_server *s, cmd_client *c);

/* Run one request. argc >= 1. Replies go to c->out. */
void cmd_execute(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);

/* Current wall clock in ns since the epoch (the clock cmd_run takes). */
int64_t cmd_now_ns(void);

/* One parsed request of a batch (cmd_prepare, cmd_run). The caller sets
 * argv and argc; cmd_prepare fills in the rest. */
typedef struct cmd_request {
    const resp_view *argv;
    size_t argc;
    const struct cmd_def *cmd; /* the command's top-level row (cmdtab.h), NULL if unknown */
    int row;                   /* its number, -1 if unknown */
    const resp_view *key;      /* &argv[i] of the first key, if it parsed ... */
    db_key parsed;             /* ... to this; NULL key: none or invalid */
    bool prepared;
} cmd_request;

/* Before running reqs[0..n) in order, with n the complete requests of one
 * read: look up each command and parse its first key once (cmd_run reuses
 * both), and, when n > 1, start loading the table memory the keys will
 * touch (the key positions of each command's row, at most CMD_PREFETCH_KEYS
 * keys), so that the loads of all of them overlap instead of each request
 * waiting for its own. Changes nothing a client, a counter or a table can
 * observe: names and key bytes are looked at, never acted on. The requests
 * must be run (or dropped) before their argv changes. */
#define CMD_PREFETCH_KEYS 64u
void cmd_prepare(cmd_server *s, cmd_request *reqs, size_t n);

/* Run one request (argc >= 1), prepared by cmd_prepare or not (then only
 * argv and argc are set, the rest zero), as cmd_execute does. *clock_ns is
 * the wall clock (cmd_now_ns) taken just before: the command's start. When
 * the command has run, *clock_ns is set to the clock read then, its end,
 * which a caller running requests back to back passes on as the next one's
 * start: one clock read per request instead of two. (A request refused
 * before running, e.g. an unknown command, leaves *clock_ns as it was.) */
void cmd_run(cmd_server *s, cmd_client *c, const cmd_request *r, int64_t *clock_ns);

/*
 * CLIENT PAUSE (pause.c), as Redis 7.0: while a pause is on, a request of a
 * kind it stops (ALL: every command; WRITE: commands that may write, an
 * EXEC whose queue has one among them) waits, with everything the client
 * sent after it, until the pause ends (CLIENT UNPAUSE, or its time is
 * passed). Requests refused before they would run (unknown command, wrong
 * arity, NOAUTH) are answered at once, as Redis answers them.
 *
 * The daemon asks cmd_pause_holds before running each request while
 * pause_type is not OFF; on true it leaves the request and what follows it
 * unread, runs nothing more for that client, and keeps it on a list. When
 * s->daemon.pause_changed is called, and when the deadline
 * (cmd_pause_deadline_ms) passes, it calls cmd_pause_refresh and, once
 * that says the pause ended or loosened, runs the held clients' input
 * again in the order they were held (each may be held again).
 */
static inline bool cmd_pause_on(const cmd_server *s)
{
    return s->pause_type != CMD_PAUSE_OFF;
}
bool cmd_pause_holds(cmd_server *s, const cmd_client *c, const cmd_request *r);
/* End the pause if its time has passed (by the wall clock). True when the
 * pause ended or loosened since the last call: held input may run. */
bool cmd_pause_refresh(cmd_server *s);
/* When the pause ends (wall clock ms), or 0 when there is none. */
int64_t cmd_pause_deadline_ms(const cmd_server *s);

/* Reply with a protocol error (connection layer's one mapping point):
 * "-ERR Protocol error: <text>" and mark the client to close. */
void cmd_protocol_error(cmd_server *s, cmd_client *c, resp_status st, const resp_request *req);

/* Note that something (cause, e.g. "command:get" or "cron") kept the loop
 * busy for us µs; keeps the longest. */
void cmd_note_stall(cmd_server *s, const char *what, const char *detail, int64_t us);

/* Protocol limits for this client: tight ones before it authenticates, as
 * Redis does (10 arguments, 16 KiB bulks), so that a stranger cannot make
 * the server buffer much. 0 means the protocol defaults. */
size_t cmd_client_max_args(const cmd_server *s, const cmd_client *c);
size_t cmd_client_max_bulk(const cmd_server *s, const cmd_client *c);

/* Snapshots (persist.c; persist.h says what they hold and how they are
 * written and loaded). cmd_persist_load_begin starts loading
 * dir/dbfilename if it exists, once the server has started and before it
 * serves: false (logged) if it exists but cannot be read or is not RDB, and
 * the server should not start. cmd_server.loading stays true until it is
 * loaded (the urgent work does it in slices), and /readyz says 503 meanwhile.
 * cmd_persist_shutdown is what a shutdown does first (SIGTERM; SHUTDOWN
 * runs it itself): kill a BGSAVE child, then write the snapshot when
 * force_save, or shutdown-save or save points are set, unless no_save.
 * False if that failed (logged): the server should stay up, as Redis
 * does. */
bool cmd_persist_load_begin(cmd_server *s);
bool cmd_persist_shutdown(cmd_server *s, bool force_save, bool no_save);

/* May a client's input buffer grow by `bytes` now? False when, under a
 * cgroup's memory limit, that would take RSS near the limit (memlimit.h):
 * the caller closes the client rather than let the kernel kill the
 * server. */
bool cmd_buffer_may_grow(cmd_server *s, size_t bytes);

/* Current wall clock in µs. */
int64_t cmd_now_us(void);

/* Memory the process holds, for INFO and maxmemory: table mappings plus
 * allocator in-use bytes. */
uint64_t cmd_used_memory(const cmd_server *s);

/* Render INFO for the given sections ("" or "default"/"all"/"everything" for
 * all) into a malloc'd NUL-terminated string (*len set). NULL on OOM. */
char *cmd_info_text(cmd_server *s, const resp_view *sections, size_t nsections, size_t *len);

/* Render one CLIENT LIST line (no trailing newline) into dst. */
size_t cmd_client_line(const cmd_server *s, const cmd_client *c, char *dst, size_t cap);

#endif
