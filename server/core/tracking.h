/*
 * tracking.h - server-assisted client-side caching: CLIENT TRACKING,
 * CACHING, GETREDIR, TRACKINGINFO, with Redis 7's semantics (layer 2;
 * tracking.c).
 *
 * A tracking client (default mode) has the keys its read commands name
 * remembered in a table, key -> client ids; when one of those keys changes
 * (a write command names it, it expires, is evicted, or everything is
 * flushed) each client that read it gets one invalidation, and the key
 * leaves the table until read again. OPTIN remembers only after CLIENT
 * CACHING YES (for the next command, or the next transaction), OPTOUT
 * all but after CLIENT CACHING NO. BCAST remembers nothing: the client gets
 * every change of a key that starts with one of its prefixes (all keys
 * without one). A prefix is compared with the key's canonical name
 * (`customer:` or `customer:12`). NOLOOP: no invalidation for the client's
 * own writes.
 *
 * Invalidations name keys canonically (`customer:7`, never `customer:007`:
 * one key in ebb); a FLUSHALL/FLUSHDB invalidates everything with a null.
 * RESP3: a push `>2 invalidate [key]` on the client's connection; RESP2
 * with REDIRECT id: a `message` on channel __redis__:invalidate to that
 * client, if it is in pub/sub mode (subscribed to anything, as Redis
 * checks). A client's own invalidations during
 * EXEC are held until EXEC's reply is out. The table holds at most
 * tracking-table-max-keys keys (0: no bound); past it the cron invalidates
 * keys until it is under again. SHRINK moves no data and sends none.
 */
#ifndef EBB_TRACKING_H
#define EBB_TRACKING_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_tracking_init(cmd_server *s);
void cmd_tracking_free(cmd_server *s);

/* After request r ran as row d for client c (dispatch.c, while clients
 * track): remember the keys it read, invalidate those it wrote (wrote:
 * it is a write and replied no error). */
void cmd_tracking_after(cmd_server *s, cmd_client *c, const struct cmd_def *d, const cmd_request *r,
                        bool wrote);

/* Send what c's own changes held back during EXEC (cmd_run, once a
 * top-level request is done). */
void cmd_tracking_flush_pending(cmd_server *s, cmd_client *c);

/* A key changed outside a command (eviction): invalidate it. */
void cmd_tracking_invalidate(cmd_server *s, const char *ns, size_t nslen, int64_t id);

/* table_options.on_expired: a key of table t expired. arg is the server. */
void cmd_tracking_on_expired(const struct table *t, int64_t key, void *arg);

/* FLUSHALL/FLUSHDB by c: everything is invalid. */
void cmd_tracking_flush(cmd_server *s, cmd_client *c);

/* The cron: hold the table to tracking-table-max-keys. */
void cmd_tracking_cron(cmd_server *s);

/* c is going away. */
void cmd_tracking_forget(cmd_server *s, cmd_client *c);

/* RESET: tracking off. */
void cmd_tracking_reset(cmd_server *s, cmd_client *c);

/* CLIENT subcommands. */
void cmd_client_tracking(cmd_server *s, cmd_client *c, const cmd_request *req);
void cmd_client_caching(cmd_server *s, cmd_client *c, const cmd_request *req);
void cmd_client_getredir(cmd_server *s, cmd_client *c, const cmd_request *req);
void cmd_client_trackinginfo(cmd_server *s, cmd_client *c, const cmd_request *req);

/* CLIENT LIST flags: t (tracking), R (its redirect is gone), B (BCAST),
 * appended at flags[*n]; and its redir= (-1: off, 0: no redirect). */
void cmd_tracking_flags(const cmd_client *c, char *flags, size_t *n);
long long cmd_tracking_redirect(const cmd_client *c);

/* INFO: keys in the table, client ids over all keys, BCAST prefixes,
 * tracking clients. */
uint64_t cmd_tracking_keys(const cmd_server *s);
uint64_t cmd_tracking_items(const cmd_server *s);
uint64_t cmd_tracking_prefixes(const cmd_server *s);

#endif
