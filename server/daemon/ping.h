/*
 * ping.h - `ebb-server --ping [host:port]`: a health probe that needs no
 * shell and no redis-cli, for container HEALTHCHECKs and exec probes
 * (layer 3: plain sockets, no libevent).
 *
 * It connects to the target (default: the configured port on the first
 * `bind` address, a wildcard address meaning loopback), authenticates with
 * the configured requirepass when there is one, sends PING and waits for
 * +PONG, all within PING_TIMEOUT_MS. The reply to PING decides: a refused
 * AUTH is reported only when PING is refused too, so a server whose password
 * was removed with CONFIG SET still passes.
 */
#ifndef EBB_PING_H
#define EBB_PING_H

#include "config.h"

#define PING_TIMEOUT_MS 2000

/* Probe the server; target may be NULL (the configured address) or
 * "host:port", "[ipv6]:port", "host" or "port". Returns the process exit
 * status: 0 when the server answered PONG, or -LOADING (alive, loading its
 * snapshot; a line on stderr says so); 1 otherwise, after one line on
 * stderr saying why. */
int ping_run(const config *cfg, const char *target);

#endif
