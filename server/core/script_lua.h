/*
 * script_lua.h - the Lua 5.1 state scripts run in (layer 2, private to
 * scripting.c): the sandbox, the `redis` API, and the conversions between
 * RESP replies and Lua values, with Redis 7.0's rules. It knows nothing of
 * the server: commands run through the host's callbacks.
 *
 * The sandbox
 *   - Libraries: base (without dofile, loadfile, print), table, string,
 *     math, cjson, bit, coroutine. No os, io, debug or package.
 *   - Globals are read-only: reading a missing one and writing any one are
 *     errors ("Script attempted to access nonexistent global variable",
 *     "Attempt to modify a readonly table"), and so is writing to a library
 *     table. After each run the globals are put back as they were, so
 *     nothing a script does outlives it, and the GC is restarted.
 *   - load/loadstring refuse precompiled chunks (they could break out).
 *   - The heap is counted; while a script runs, allocations past the limit
 *     fail and Lua raises "not enough memory".
 */
#ifndef EBB_SCRIPT_LUA_H
#define EBB_SCRIPT_LUA_H

#include <stdbool.h>
#include <stddef.h>

#include "resp.h"

typedef struct script_vm script_vm;

/* What the state asks of its owner while a script runs. */
typedef struct {
    void *ctx;
    /* Run argv[0..argc) as a command of the script, its reply encoded in
     * RESP `proto`. Returns the reply's bytes (*reply, *len; valid until the
     * next call), or NULL with *err set to the error text ("ERR ..." style,
     * static) when the command may not run from the script. */
    bool (*call)(void *ctx, const resp_view *argv, size_t argc, int proto, const char **reply,
                 size_t *len, const char **err);
    /* Every SCRIPT_TICK_INSTRUCTIONS instructions: NULL to go on, or the
     * error text that stops the script (SCRIPT KILL, shutdown). */
    const char *(*tick)(void *ctx);
    /* redis.log: level is 0 (debug) .. 3 (warning). */
    void (*log)(void *ctx, int level, const char *msg);
    /* An error the script replies ("CODE message"), for the error
     * counters; not called for a command's error already counted. */
    void (*count_error)(void *ctx, const char *msg);
} script_host;

/* The most a script's reply may take: past it the run replies an error
 * (a table can nest itself into 2^n elements in n lines). */
#define SCRIPT_REPLY_MAX (256u << 20)

/* How often a running script calls host->tick. */
#define SCRIPT_TICK_INSTRUCTIONS 100000

/* Make a state (NULL if out of memory). host is copied; heap_limit is the
 * Lua heap's cap while scripts run (0: none). */
script_vm *script_vm_create(const script_host *host, size_t heap_limit);
void script_vm_destroy(script_vm *vm);
void script_vm_set_limit(script_vm *vm, size_t heap_limit);
/* The cap on a reply (SCRIPT_REPLY_MAX unless set; for tests). */
void script_vm_set_reply_max(script_vm *vm, size_t bytes);
/* Bytes the Lua heap holds. */
size_t script_vm_heap(const script_vm *vm);

/* Compile body[skip..len) (skip: a shebang line left out, its line feed
 * kept) as the script named sha. False with Redis's message in err
 * ("Error compiling script (new function): ...") on a syntax error or out
 * of memory. */
bool script_vm_compile(script_vm *vm, const char *sha, const char *body, size_t len, size_t skip,
                       char *err, size_t errlen);
/* Forget the compiled script sha. */
void script_vm_drop(script_vm *vm, const char *sha);

/* The outcome of a run. */
typedef enum {
    SCRIPT_OK,            /* the reply is in out */
    SCRIPT_ERROR,         /* the error is in err: count it */
    SCRIPT_ERROR_COUNTED, /* the error is in err, a command's already counted */
} script_result;

/* Run script sha (compiled) with KEYS and ARGV, in a run that starts in
 * RESP2 (redis.setresp may change it). The reply goes to out, in out's
 * protocol version; an error reply's text ("ERR ...", without '-') to err
 * (NUL-terminated, truncated to errlen). tick and call are used meanwhile. */
script_result script_vm_run(script_vm *vm, const char *sha, const resp_view *keys, size_t nkeys,
                            const resp_view *args, size_t nargs, resp_out *out, char *err,
                            size_t errlen);

/* Push a reply (RESP2 or RESP3 bytes, as the dispatcher writes them) as a
 * Lua value with Redis's rules; for tests of the conversion. */
bool script_vm_reply_to_lua_selftest(script_vm *vm, const char *reply, size_t len, resp_out *out);

#endif
