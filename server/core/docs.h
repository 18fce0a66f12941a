/*
 * docs.h - a command's argument spec (its row's `args`) rendered as Redis
 * 7's COMMAND DOCS argument maps, which redis-cli turns into its hints
 * ("SET key value [NX|XX] ..."). The spec syntax is described in docs.c.
 */
#ifndef EBB_DOCS_H
#define EBB_DOCS_H

#include <stdbool.h>

#include "resp.h"

/* Append the "arguments" array for spec. */
void cmd_docs_add_args(resp_out *o, const char *spec);
/* Does spec parse? (A bad spec is a bug; the unit tests check every row.) */
bool cmd_docs_spec_valid(const char *spec);

#endif
