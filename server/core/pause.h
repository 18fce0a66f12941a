/*
 * pause.h - CLIENT PAUSE and CLIENT UNPAUSE (layer 2; pause.c, which also
 * holds the daemon's predicate and deadline declared in commands.h).
 *
 * A pause is one kind (WRITE or ALL) and one end time. A second CLIENT
 * PAUSE while one is on keeps the more restrictive kind and the later end,
 * as Redis does. While a pause is on, keys neither expire (active expiry
 * rests; a lookup treats a key whose time came as missing but leaves it)
 * nor are evicted: Redis keeps the dataset still during a pause, so that a
 * failover sees it whole.
 */
#ifndef EBB_PAUSE_H
#define EBB_PAUSE_H

#include "cmd.h"

void cmd_client_pause(cmd_server *s, cmd_client *c, const cmd_request *req);
void cmd_client_unpause(cmd_server *s, cmd_client *c, const cmd_request *req);

#endif
