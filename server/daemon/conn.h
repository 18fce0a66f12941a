/*
 * conn.h - client connections and listeners (layer 3: the only module, with
 * main, that uses libevent).
 *
 * One connection: bytes read from the socket go straight into the
 * connection's query buffer; the RESP reader yields the requests of a read
 * as a batch, whose keys are prefetched together (cmd_prepare) before each
 * request runs (cmd_run); replies accumulate in the client's resp_out and,
 * after each batch of input, go to the socket in one send, the bufferevent
 * queueing only what the socket does not take. Backpressure: when a
 * client's pending output passes CONN_OUTPUT_HIGH, its input is no longer
 * read or parsed until the output has drained, so a client that pipelines
 * without reading cannot grow the server's memory without bound.
 *
 * Ownership and lifetimes:
 *   - The module is a singleton: one set of listeners and connections per
 *     process, driven by one event loop (`base`), on that loop's thread.
 *   - `srv` is borrowed: conn_setup keeps the pointer, and srv must outlive
 *     every connection (until conn_teardown). conn_setup installs the
 *     daemon hooks of srv (srv->daemon: client_ready, client_flush,
 *     client_kill); the commands layer calls them, never frees a
 *     connection itself.
 *   - A connection owns its socket (through its bufferevent), its query
 *     buffer, its argv views and its cmd_client. The cmd_client is
 *     registered with srv (cmd_client_init) from accept until the
 *     connection lingers or is freed (cmd_client_deinit); from then on the
 *     commands layer no longer sees it.
 *   - Argument views point into the query buffer and live until the
 *     request has run; replies are copied out of the client's resp_out
 *     into the socket or the bufferevent after each batch.
 *   - Connections are freed only by this module: on the peer's reset or
 *     EOF, an idle timeout, the close tick, or conn_teardown. A connection
 *     the commands layer asks to close (CLIENT KILL, an output limit) is
 *     marked and freed later by the reaper, never during a walk of the
 *     client list.
 */
#ifndef EBB_CONN_H
#define EBB_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "commands.h"

struct event_base;

/* Bind every address of the `bind` option on the configured port and start
 * accepting. On failure writes a reason to err and returns false. */
bool conn_setup(struct event_base *base, cmd_server *srv, char *err, size_t errlen);

/* Once a second: give back the buffers of connections idle for a while. */
void conn_cron(void);

/* Graceful stop: close the listeners, run the complete requests already
 * read, and close each connection once its replies are delivered, as any
 * connection closing after a reply does (conn.c, CONN_CLOSE_STALL_MS): a
 * client that keeps reading gets every reply; during a stop one whose
 * replies stop moving for 0.9 s (CONN_KILL_STALL_MS) is closed without
 * them. `done` is called once no connection remains (at once if there are
 * none). */
void conn_shutdown(void (*done)(void));

/* Free every connection and listener at once (after the loop has exited). */
void conn_teardown(void);

#endif
