/*
 * multi.h - transactions (layer 2; multi.c, which also holds MULTI, EXEC,
 * DISCARD, WATCH and UNWATCH).
 *
 * After MULTI a client's commands are checked (name, arity, keys) and
 * queued instead of run; EXEC runs the queue in one go, so no other client,
 * expiry or eviction slice runs between its commands. An error found while
 * queueing makes EXEC refuse the whole transaction (EXECABORT).
 *
 * WATCH: EXEC replies a null array, running nothing, when a watched key was
 * touched since: written by a command (any client's, this one's too),
 * flushed, or gone or come (expired, evicted) since the WATCH. A write
 * command touches each key at its key positions whether or not it changed
 * the value (a SET NX that set nothing too): a transaction may be refused
 * for a write that turned out not to change anything, never run over one
 * that did.
 */
#ifndef EBB_MULTI_H
#define EBB_MULTI_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_multi_init(cmd_server *s);
void cmd_multi_free(cmd_server *s);

/* Is c between MULTI and EXEC or DISCARD? */
static inline bool cmd_in_multi(const cmd_client *c)
{
    return c->tx_state == CMD_TX_QUEUEING;
}

/* Is c running its transaction's commands now (inside EXEC)? */
static inline bool cmd_in_exec(const cmd_client *c)
{
    return c->tx_state == CMD_TX_EXECUTING;
}

/* The dispatcher, for a client in MULTI: queue the request d runs (its
 * top-level row) and reply +QUEUED, or refuse it (an invalid key, the
 * queue's limit) and mark the transaction failed. False when d is one of
 * the commands that run at once even in MULTI (EXEC, DISCARD, MULTI,
 * WATCH, QUIT). */
bool cmd_multi_queue(cmd_server *s, cmd_client *c, const cmd_request *req, const cmd_def *d);
/* An error found while queueing (unknown command, wrong arity): EXEC will
 * refuse the transaction. */
void cmd_multi_fail(cmd_client *c);

/* EXEC refused before it ran (why: the error, without "ERR"): the
 * transaction, if any, is discarded and the reply is Redis's
 * "-EXECABORT Transaction discarded because of: <why>". */
void cmd_multi_abort(cmd_server *s, cmd_client *c, const char *why);

/* A write command d ran with req: its keys are touched for WATCH. Cheap
 * when nobody watches. */
void cmd_watch_touch(cmd_server *s, const cmd_def *d, const cmd_request *req);

/* Does c's queue hold a command that may write (CMD_WRITE or
 * CMD_MAY_REPLICATE)? A WRITE pause holds such an EXEC. */
bool cmd_multi_writes(const cmd_client *c);

/* For CLIENT LIST: commands queued (-1 outside MULTI), and whether a
 * watched key was touched (flag d). */
long long cmd_multi_queued(const cmd_client *c);
bool cmd_multi_dirty(const cmd_client *c);

/* RESET: end the transaction and forget every watched key. */
void cmd_multi_reset(cmd_server *s, cmd_client *c);

/* c is going away: free its queue and its watches. */
void cmd_multi_forget(cmd_server *s, cmd_client *c);

#endif
