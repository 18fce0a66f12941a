/*
 * scripting.h - Lua scripting (layer 2): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO
 * and SCRIPT, with Redis 7.0's semantics (scripting.c: the commands, the
 * script cache and a script's run; script_lua.c: the Lua state, its
 * sandbox and the conversions between replies and Lua values).
 *
 * Terms
 *   - A script runs to its end with nothing else in between: no other
 *     client's command, no expiry or eviction slice, no timer of the
 *     daemon's (the event loop is running the script). Its
 *     redis.call commands run through the dispatcher as a client of their
 *     own (addr "lua"), with time frozen at the script's start, as inside
 *     EXEC.
 *   - Past busy-reply-threshold (alias lua-time-limit) a running script
 *     lets the daemon serve the other clients (cmd_daemon.serve_while_busy):
 *     they get -BUSY for everything but the commands flagged
 *     CMD_ALLOW_BUSY, SCRIPT KILL among them. SCRIPT KILL stops a script
 *     that has not written; SHUTDOWN NOSAVE stops the server whatever the
 *     script did.
 *   - The Lua heap is capped (lua-maxmemory) by a counting allocator: past
 *     it a script gets Lua's "not enough memory" error. Scripts cached by
 *     EVAL are capped in number (lua-cache-max-scripts), the least recently
 *     used one going first; SCRIPT LOAD's stay until SCRIPT FLUSH.
 */
#ifndef EBB_SCRIPTING_H
#define EBB_SCRIPTING_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). The Lua
 * state itself is made on first use. */
bool cmd_scripting_init(cmd_server *s);
void cmd_scripting_free(cmd_server *s);

/* What a client other than the script's gets while cmd_server.busy. */
#define SCRIPT_ERR_BUSY                                                                            \
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."

/* The module's figures (INFO, /metrics). */
typedef struct {
    uint64_t heap_bytes;    /* the Lua heap (used_memory_lua) */
    uint64_t scripts;       /* cached scripts (number_of_cached_scripts) */
    uint64_t script_bytes;  /* their source text (used_memory_scripts_eval) */
    uint64_t evicted;       /* EVAL scripts dropped for the cache's cap */
    uint64_t killed;        /* scripts stopped by SCRIPT KILL */
    uint64_t busy_timeouts; /* scripts that ran past busy-reply-threshold */
} cmd_script_figures;
void cmd_scripting_figures(const cmd_server *s, cmd_script_figures *f);

#endif
