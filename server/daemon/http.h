/*
 * http.h - the optional HTTP port (layer 3, libevent's evhttp): Prometheus
 * metrics and health checks for orchestrators.
 *
 *   GET /metrics   200, metrics.h's text
 *   GET /healthz   200 "ok": the event loop answers (liveness)
 *   GET /readyz    200 "ready" while accepting clients; 503 "shutting down"
 *                  once a shutdown began (readiness)
 *   anything else  404; methods other than GET and HEAD get 501 (evhttp's
 *                  answer to a method it was told not to allow)
 *
 * Off unless metrics-port is set. It listens on metrics-bind, or on the
 * addresses of bind when that is empty. Each request is served whole within
 * one callback; no request body is read. Whatever its clients do, the port
 * holds a bounded number of connections, each for a bounded time and with
 * bounded input (the HTTP_* limits in http.c), so it cannot take the memory
 * or file descriptors of the cache.
 */
#ifndef EBB_HTTP_H
#define EBB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "commands.h"

struct event_base;

/* Start listening when srv's metrics-port is not 0 (else do nothing and
 * return true). On failure writes a reason to err and returns false. */
bool http_setup(struct event_base *base, cmd_server *srv, char *err, size_t errlen);

/* From now on /readyz answers 503 (a shutdown began). */
void http_not_ready(void);

/* Stop listening and free every HTTP connection (after the loop exited). */
void http_teardown(void);

#endif
