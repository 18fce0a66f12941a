/*
 * script_lua.c - the Lua state scripts run in: sandbox, `redis` API and
 * the reply <-> Lua conversions (see script_lua.h).
 *
 * Lua raises errors with longjmp, so every call into Lua that may fail
 * (allocate) runs inside lua_pcall, and C code that Lua may jump out of
 * holds no resource of its own: argument and reply buffers belong to the
 * vm and are reused.
 */
#include "script_lua.h"

#include <lauxlib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"

struct script_vm {
    lua_State *L;
    script_host host;
    size_t heap;       /* bytes the allocator handed out */
    size_t limit;      /* cap while a script runs, 0: none */
    bool enforce;      /* a script is running: the cap applies */
    bool running;      /* inside script_vm_run */
    bool in_call;      /* inside redis.call: no nested calls */
    bool overflow;     /* the reply being written passed SCRIPT_REPLY_MAX */
    size_t reply_mark; /* where it started in its resp_out */
    size_t reply_max;  /* SCRIPT_REPLY_MAX, or a test's */
    int proto;         /* the run's RESP version (redis.setresp) */
    int globals_ref;   /* the real globals table (registry ref) */
    int proxy_ref;     /* what scripts see as their globals */
    int views_ref;     /* the read-only views: cleared after each run */
    /* redis.call's argument views and bytes, reused. */
    resp_view *argv;
    size_t argv_cap;
    char *bytes;
    size_t bytes_cap;
};

/* Registry keys. */
static const char VM_KEY[] = "ebb_vm";

static script_vm *vm_of(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, VM_KEY);
    script_vm *vm = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return vm;
}

/* ---- The allocator ------------------------------------------------------------------ */

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    script_vm *vm = ud;
    if (nsize == 0) {
        free(ptr);
        vm->heap -= osize;
        return NULL;
    }
    /* Lua 5.1 passes osize 0 for a new block. A shrink never fails. */
    if (nsize > osize && vm->enforce && vm->limit > 0 && vm->heap - osize + nsize > vm->limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return nsize <= osize ? ptr : NULL;
    vm->heap = vm->heap - osize + nsize;
    return p;
}

static int vm_panic(lua_State *L)
{
    /* Only reached by a failure outside any pcall: a bug. */
    fprintf(stderr, "Lua panic: %s\n", lua_tostring(L, -1));
    abort();
}

/* ---- Errors ------------------------------------------------------------------------- */

/* Push Redis's error table {err = "CODE message"}: text "-CODE message"
 * keeps its code, plain text gets ERR. Trailing CR LF are dropped. */
static void push_error_table(lua_State *L, const char *text, size_t len)
{
    const char *code = "ERR", *msg = text;
    size_t codelen = 3, msglen = len;
    if (len > 0 && text[0] == '-') {
        const char *sp = memchr(text, ' ', len);
        if (sp == NULL) {
            msg = text + 1;
            msglen = len - 1;
        } else {
            code = text + 1;
            codelen = (size_t)(sp - text - 1);
            msg = sp + 1;
            msglen = len - (size_t)(sp + 1 - text);
        }
    }
    while (msglen > 0 && (msg[msglen - 1] == '\r' || msg[msglen - 1] == '\n'))
        msglen--;
    lua_newtable(L);
    lua_pushlstring(L, code, codelen);
    lua_pushliteral(L, " ");
    lua_pushlstring(L, msg, msglen);
    lua_concat(L, 3);
    lua_setfield(L, -2, "err");
}

static int raise_error(lua_State *L, const char *text)
{
    push_error_table(L, text, strlen(text));
    return lua_error(L);
}

/* The run's error handler (Redis's __redis__err__handler): a string error
 * becomes {err = "ERR <text>"}; the table gets the source and line of the
 * Lua code that raised it. */
static int error_handler(lua_State *L)
{
    /* A fresh table, filled with raw accesses only: the script's own
     * error table may carry metamethods, which must not run here. */
    lua_newtable(L);
    if (lua_istable(L, 1)) {
        lua_pushliteral(L, "err");
        lua_rawget(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "ERR unknown error");
        }
        lua_setfield(L, 2, "err");
        lua_pushliteral(L, "ignore_error_stats_update");
        lua_rawget(L, 1);
        lua_setfield(L, 2, "ignore_error_stats_update");
    } else {
        /* As Lua's tostring would print it ("nil", "true", "42"). */
        lua_pushliteral(L, "ERR ");
        int t = lua_type(L, 1);
        if (t == LUA_TSTRING || t == LUA_TNUMBER)
            lua_pushvalue(L, 1);
        else if (t == LUA_TBOOLEAN)
            lua_pushstring(L, lua_toboolean(L, 1) ? "true" : "false");
        else if (t == LUA_TNIL)
            lua_pushliteral(L, "nil");
        else
            lua_pushfstring(L, "%s: %p", lua_typename(L, t), lua_topointer(L, 1));
        lua_concat(L, 2);
        lua_setfield(L, 2, "err");
    }
    lua_Debug ar;
    bool have = lua_getstack(L, 1, &ar) && lua_getinfo(L, "nSl", &ar);
    if (have && strcmp(ar.what, "C") == 0)
        have = lua_getstack(L, 2, &ar) && lua_getinfo(L, "nSl", &ar);
    if (have) {
        lua_pushstring(L, ar.source);
        lua_setfield(L, 2, "source");
        lua_pushinteger(L, ar.currentline);
        lua_setfield(L, 2, "line");
    }
    return 1;
}

/* ---- RESP reply -> Lua ---------------------------------------------------------------- */

/* Reads one reply from [*p, end) the dispatcher wrote (so well formed) and
 * pushes it. */
static bool read_line(const char **p, const char *end, const char **s, size_t *n)
{
    const char *cr = *p;
    while (cr + 1 < end && !(cr[0] == '\r' && cr[1] == '\n'))
        cr++;
    if (cr + 1 >= end)
        return false;
    *s = *p;
    *n = (size_t)(cr - *p);
    *p = cr + 2;
    return true;
}

static long long line_ll(const char *s, size_t n)
{
    char buf[32];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

static bool push_reply(lua_State *L, const char **p, const char *end, int depth)
{
    if (*p >= end || depth > 64)
        return false;
    luaL_checkstack(L, 4, "reply too deep");
    char type = **p;
    (*p)++;
    const char *s;
    size_t n;
    if (!read_line(p, end, &s, &n))
        return false;
    switch (type) {
    case '+':
        lua_newtable(L);
        lua_pushlstring(L, s, n);
        lua_setfield(L, -2, "ok");
        return true;
    case '-':
        lua_pushliteral(L, "-");
        lua_pushlstring(L, s, n);
        lua_concat(L, 2);
        {
            size_t len;
            const char *e = lua_tolstring(L, -1, &len);
            push_error_table(L, e, len);
        }
        lua_remove(L, -2);
        /* The command's error was counted when it was replied. */
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return true;
    case ':':
        lua_pushnumber(L, (lua_Number)line_ll(s, n));
        return true;
    case '$':
    case '=': {
        long long len = line_ll(s, n);
        if (len < 0) {
            lua_pushboolean(L, 0);
            return true;
        }
        if ((size_t)(end - *p) < (size_t)len + 2)
            return false;
        const char *body = *p;
        *p += len + 2;
        if (type == '$') {
            lua_pushlstring(L, body, (size_t)len);
        } else {
            /* {verbatim_string = {format = "txt", string = ...}} */
            lua_newtable(L);
            lua_newtable(L);
            lua_pushlstring(L, body, len >= 3 ? 3 : (size_t)len);
            lua_setfield(L, -2, "format");
            lua_pushlstring(L, len >= 4 ? body + 4 : body, len >= 4 ? (size_t)len - 4 : 0);
            lua_setfield(L, -2, "string");
            lua_setfield(L, -2, "verbatim_string");
        }
        return true;
    }
    case '*':
    case '~':
    case '%': {
        long long count = line_ll(s, n);
        if (count < 0) {
            lua_pushboolean(L, 0);
            return true;
        }
        if (type == '*') {
            lua_newtable(L);
            for (long long i = 1; i <= count; i++) {
                if (!push_reply(L, p, end, depth + 1))
                    return false;
                lua_rawseti(L, -2, (int)i);
            }
            return true;
        }
        /* {set = {member = true, ...}} or {map = {key = value, ...}} */
        lua_newtable(L);
        lua_newtable(L);
        for (long long i = 0; i < count; i++) {
            if (!push_reply(L, p, end, depth + 1))
                return false;
            if (type == '%') {
                if (!push_reply(L, p, end, depth + 1))
                    return false;
            } else {
                lua_pushboolean(L, 1);
            }
            lua_settable(L, -3);
        }
        lua_setfield(L, -2, type == '%' ? "map" : "set");
        return true;
    }
    case '_':
        lua_pushnil(L);
        return true;
    case '#':
        lua_pushboolean(L, n > 0 && s[0] == 't');
        return true;
    case ',': {
        char buf[64];
        size_t m = n < sizeof buf - 1 ? n : sizeof buf - 1;
        memcpy(buf, s, m);
        buf[m] = '\0';
        lua_newtable(L);
        lua_pushnumber(L, strtod(buf, NULL));
        lua_setfield(L, -2, "double");
        return true;
    }
    case '(':
        lua_newtable(L);
        lua_pushlstring(L, s, n);
        lua_setfield(L, -2, "big_number");
        return true;
    default:
        return false;
    }
}

/* ---- Lua -> RESP reply ---------------------------------------------------------------- */

/* Push t[name] of the table at idx, without metamethods. */
static void raw_field(lua_State *L, int idx, const char *name)
{
    lua_pushstring(L, name);
    lua_rawget(L, idx < 0 ? idx - 1 : idx);
}

static void add_text_no_crlf(resp_out *o, char type, const char *s, size_t n)
{
    char t[2] = {type, '\0'};
    resp_add_raw(o, t, 1);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
        resp_add_raw(o, &ch, 1);
    }
    resp_add_raw(o, "\r\n", 2);
}

/* A Lua number as Redis casts it to long long (x86's conversion: out of
 * range and NaN give the smallest integer), without C's undefined cast. */
static long long number_to_ll(lua_Number d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return INT64_MIN;
    return (long long)d;
}

/* Is the table at -1 {field = <type>}? Leaves the field pushed if so. */
static bool table_field(lua_State *L, const char *field, int type)
{
    lua_pushstring(L, field);
    lua_rawget(L, -2);
    if (lua_type(L, -1) == type)
        return true;
    lua_pop(L, 1);
    return false;
}

/* The pairs of the table at -1 (a map's or a set's length). */
static size_t count_pairs(lua_State *L)
{
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        n++;
    }
    return n;
}

static void lua_to_reply(script_vm *vm, lua_State *L, resp_out *o, int depth)
{
    /* Past the cap the rest is skipped (each remaining call returns at
     * once) and the run replies an error instead. */
    if (vm->overflow || o->len - vm->reply_mark > vm->reply_max) {
        vm->overflow = true;
        lua_pop(L, 1);
        return;
    }
    if (depth > 1000 || !lua_checkstack(L, 4)) {
        resp_add_error(o, "ERR reached lua stack limit");
        lua_pop(L, 1);
        return;
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        resp_add_bulk(o, s, n);
        break;
    }
    case LUA_TBOOLEAN:
        if (vm->proto == 2) {
            if (lua_toboolean(L, -1))
                resp_add_int(o, 1);
            else
                resp_add_null(o);
        } else {
            resp_add_bool(o, lua_toboolean(L, -1));
        }
        break;
    case LUA_TNUMBER:
        resp_add_int(o, number_to_ll(lua_tonumber(L, -1)));
        break;
    case LUA_TTABLE: {
        if (table_field(L, "err", LUA_TSTRING)) {
            /* Only the run's own error path replies errors (it adds where
             * the script was); a nested {err=...} is an error element. */
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            add_text_no_crlf(o, '-', s, n);
            lua_pop(L, 1);
            /* Counted as the error replies of INFO errorstats, unless a
             * command's reply already was. */
            raw_field(L, -1, "ignore_error_stats_update");
            if (!lua_toboolean(L, -1))
                vm->host.count_error(vm->host.ctx, s);
            lua_pop(L, 1);
            break;
        }
        if (table_field(L, "ok", LUA_TSTRING)) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            add_text_no_crlf(o, '+', s, n);
            lua_pop(L, 1);
            break;
        }
        if (table_field(L, "double", LUA_TNUMBER)) {
            resp_add_double(o, lua_tonumber(L, -1));
            lua_pop(L, 1);
            break;
        }
        if (table_field(L, "big_number", LUA_TSTRING)) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            if (o->proto == 3)
                add_text_no_crlf(o, '(', s, n);
            else
                resp_add_bulk(o, s, n);
            lua_pop(L, 1);
            break;
        }
        if (table_field(L, "verbatim_string", LUA_TTABLE)) {
            lua_pushliteral(L, "format");
            lua_rawget(L, -2);
            lua_pushliteral(L, "string");
            lua_rawget(L, -3);
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                char fmt[4] = {0};
                strncpy(fmt, lua_tostring(L, -2), 3);
                size_t n;
                const char *str = lua_tolstring(L, -1, &n);
                resp_add_verbatim(o, fmt, str, n);
                lua_pop(L, 3);
                break;
            }
            lua_pop(L, 3);
        }
        if (table_field(L, "map", LUA_TTABLE)) {
            resp_add_map(o, count_pairs(L));
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pushvalue(L, -2);
                lua_to_reply(vm, L, o, depth + 1); /* the key */
                lua_to_reply(vm, L, o, depth + 1); /* the value */
            }
            lua_pop(L, 1);
            break;
        }
        if (table_field(L, "set", LUA_TTABLE)) {
            resp_add_set(o, count_pairs(L));
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_to_reply(vm, L, o, depth + 1);
            }
            lua_pop(L, 1);
            break;
        }
        /* An array, up to the first nil. */
        size_t count = 0;
        for (;;) {
            lua_rawgeti(L, -1, (int)count + 1);
            bool nil = lua_isnil(L, -1);
            lua_pop(L, 1);
            if (nil)
                break;
            count++;
        }
        resp_add_array(o, count);
        for (size_t i = 1; i <= count; i++) {
            lua_rawgeti(L, -1, (int)i);
            lua_to_reply(vm, L, o, depth + 1);
        }
        break;
    }
    default:
        resp_add_null(o);
    }
    lua_pop(L, 1);
}

/* ---- The redis API ------------------------------------------------------------------ */

/* redis.call / redis.pcall: arguments to argv (numbers as %.17g, as
 * Redis), the command run by the host, its reply to a Lua value. */
static int redis_command(lua_State *L, bool raise)
{
    script_vm *vm = vm_of(L);
    if (!vm->running)
        return raise_error(L, "redis.call/pcall can only be called inside a script invocation");
    int argc = lua_gettop(L);
    if (argc == 0) {
        push_error_table(L, "Please specify at least one argument for this redis lib call",
                         strlen("Please specify at least one argument for this redis lib call"));
        return raise ? lua_error(L) : 1;
    }
    if (vm->in_call) {
        push_error_table(L, "redis.call nested in redis.call",
                         strlen("redis.call nested in redis.call"));
        return raise ? lua_error(L) : 1;
    }
    /* Gather the bytes first (their total), then point the views at them. */
    size_t total = 0;
    char num[64];
    for (int i = 1; i <= argc; i++) {
        int t = lua_type(L, i);
        if (t == LUA_TNUMBER) {
            total += (size_t)snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, i));
        } else if (t == LUA_TSTRING) {
            total += lua_objlen(L, i);
        } else {
            const char *m = "Lua redis lib command arguments must be strings or integers";
            push_error_table(L, m, strlen(m));
            return raise ? lua_error(L) : 1;
        }
    }
    if (vm->argv_cap < (size_t)argc) {
        resp_view *a = realloc(vm->argv, (size_t)argc * sizeof *a);
        if (a == NULL)
            return luaL_error(L, "not enough memory");
        vm->argv = a;
        vm->argv_cap = (size_t)argc;
    }
    if (vm->bytes_cap < total + 1) {
        char *b = realloc(vm->bytes, total + 1);
        if (b == NULL)
            return luaL_error(L, "not enough memory");
        vm->bytes = b;
        vm->bytes_cap = total + 1;
    }
    size_t off = 0;
    for (int i = 1; i <= argc; i++) {
        size_t n;
        const char *s;
        if (lua_type(L, i) == LUA_TNUMBER) {
            n = (size_t)snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, i));
            s = num;
        } else {
            s = lua_tolstring(L, i, &n);
        }
        memcpy(vm->bytes + off, s, n);
        vm->argv[i - 1] = (resp_view){.ptr = vm->bytes + off, .len = n};
        off += n;
    }
    lua_settop(L, 0);
    const char *reply = NULL, *err = NULL;
    size_t len = 0;
    vm->in_call = true;
    bool ran = vm->host.call(vm->host.ctx, vm->argv, (size_t)argc, vm->proto, &reply, &len, &err);
    vm->in_call = false;
    if (!ran) {
        push_error_table(L, err, strlen(err));
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return raise ? lua_error(L) : 1;
    }
    const char *p = reply;
    if (!push_reply(L, &p, reply + len, 0))
        return raise_error(L, "unreadable reply from a command");
    if (raise && len > 0 && reply[0] == '-')
        return lua_error(L);
    return 1;
}

static int l_call(lua_State *L)
{
    return redis_command(L, true);
}

static int l_pcall(lua_State *L)
{
    return redis_command(L, false);
}

/* Lua's pcall, as Redis has it: a caught error table with a string `err`
 * is returned as that string. */
static int l_lua_pcall(lua_State *L)
{
    int argc = lua_gettop(L);
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0) != 0) {
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_pushliteral(L, "err");
            lua_rawget(L, -2);
            if (lua_isstring(L, -1))
                lua_replace(L, -2);
            else
                lua_pop(L, 1);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

static int l_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return raise_error(L, "wrong number of arguments");
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    char hex[SHA1_HEX_LEN + 1];
    sha1_hex(s != NULL ? s : "", s != NULL ? n : 0, hex);
    lua_pushstring(L, hex);
    return 1;
}

static const char WRONG_ARGS[] = "wrong number or type of arguments";

static int l_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_table(L, WRONG_ARGS, strlen(WRONG_ARGS));
        return 1;
    }
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    if (n > 0 && s[0] == '-') {
        push_error_table(L, s, n);
    } else {
        lua_pushliteral(L, "-");
        lua_pushvalue(L, 1);
        lua_concat(L, 2);
        s = lua_tolstring(L, -1, &n);
        push_error_table(L, s, n);
    }
    return 1;
}

static int l_status_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_table(L, WRONG_ARGS, strlen(WRONG_ARGS));
        return 1;
    }
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "ok");
    return 1;
}

static int l_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2)
        return raise_error(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1))
        return raise_error(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, 1);
    if (level < 0 || level > 3)
        return raise_error(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= argc; i++) {
        size_t n;
        const char *s = lua_tolstring(L, i, &n);
        if (s == NULL)
            continue;
        if (i > 2)
            luaL_addchar(&b, ' ');
        luaL_addlstring(&b, s, n);
    }
    luaL_pushresult(&b);
    script_vm *vm = vm_of(L);
    vm->host.log(vm->host.ctx, level, lua_tostring(L, -1));
    return 0;
}

static int l_setresp(lua_State *L)
{
    script_vm *vm = vm_of(L);
    if (!vm->running)
        return raise_error(L, "redis.setresp can only be called inside a script invocation");
    if (lua_gettop(L) != 1)
        return raise_error(L, "redis.setresp() requires one argument.");
    int resp = (int)lua_tonumber(L, 1);
    if (resp != 2 && resp != 3)
        return raise_error(L, "RESP version must be 2 or 3.");
    vm->proto = resp;
    return 0;
}

/* redis.set_repl: ebb has no replicas; the flags are checked as Redis
 * checks them and change nothing. */
static int l_set_repl(lua_State *L)
{
    script_vm *vm = vm_of(L);
    if (!vm->running)
        return raise_error(L, "redis.set_repl can only be called inside a script invocation");
    if (lua_gettop(L) != 1)
        return raise_error(L, "redis.set_repl() requires two arguments.");
    int flags = (int)lua_tonumber(L, -1);
    if ((flags & ~3) != 0)
        return raise_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or "
                              "REPL_NONE.");
    return 0;
}

/* redis.replicate_commands: always on since Redis 5; returns true. */
static int l_replicate_commands(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- The sandbox -------------------------------------------------------------------- */

/* Reading a missing global. */
static int l_global_index(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L)->globals_ref);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      name != NULL ? name : "?");
}

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

/* Is the value at idx one of the read-only tables (the globals' view and
 * the library views: their metatable's __newindex is l_readonly)? */
static bool is_readonly(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return false;
    lua_pushliteral(L, "__newindex");
    lua_rawget(L, -2);
    bool ro = lua_tocfunction(L, -1) == l_readonly;
    lua_pop(L, 2);
    return ro;
}

static int refuse_readonly(lua_State *L)
{
    lua_pushliteral(L, "Attempt to modify a readonly table");
    return lua_error(L);
}

/* rawset refuses the read-only tables. */
static int l_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (is_readonly(L, 1))
        return refuse_readonly(L);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* A library function that writes its first argument's table raw
 * (table.insert, table.remove, table.sort, setmetatable), refusing the
 * read-only ones; the original function is upvalue 1. */
static int l_guarded(lua_State *L)
{
    if (is_readonly(L, 1))
        return refuse_readonly(L);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replace t[name] (t at -1) with l_guarded around it. */
static void guard(lua_State *L, const char *name)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, l_guarded, 1);
    lua_setfield(L, -2, name);
}

/* Precompiled chunks can break out of any sandbox: text only. */
static int l_loadstring(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, s);
    if (n > 0 && s[0] == LUA_SIGNATURE[0]) {
        lua_pushnil(L);
        lua_pushliteral(L, "precompiled chunks are not allowed");
        return 2;
    }
    if (luaL_loadbuffer(L, s, n, name) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

/* load(f [, name]): the pieces joined, then loaded as loadstring does. */
static int l_load(lua_State *L)
{
    const char *name = luaL_optstring(L, 2, "=(load)");
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_Buffer b;
    lua_settop(L, 2);
    luaL_buffinit(L, &b);
    for (;;) {
        lua_pushvalue(L, 1);
        lua_call(L, 0, 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
        }
        if (!lua_isstring(L, -1))
            return luaL_error(L, "reader function must return a string");
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_pushcfunction(L, l_loadstring);
    lua_insert(L, -2);
    lua_pushstring(L, name);
    lua_call(L, 2, 2);
    return 2;
}

/* A read-only view of the table at -1, replacing it: reads go to it,
 * writes fail, its metatable cannot be had or changed. */
static void make_readonly_view(lua_State *L)
{
    lua_newtable(L);      /* view */
    lua_newtable(L);      /* its metatable */
    lua_pushvalue(L, -3); /* the table */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "readonly");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
    script_vm *vm = vm_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->views_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    lua_pop(L, 1);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction open)
{
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static void set_fn(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
}

static void set_num(lua_State *L, const char *name, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

/* Builds the state (inside lua_cpcall: an allocation failure is an error,
 * not a panic). */
static int setup(lua_State *L)
{
    script_vm *vm = lua_touserdata(L, 1);
    lua_pushlightuserdata(L, vm);
    lua_setfield(L, LUA_REGISTRYINDEX, VM_KEY);
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    lua_pushcfunction(L, luaopen_cjson);
    lua_call(L, 0, 1);
    lua_setglobal(L, "cjson");
    open_lib(L, "bit", luaopen_bit);
    /* What scripts may not have. */
    static const char *const removed[] = {"dofile",  "loadfile", "print",   "module",
                                          "require", "getfenv",  "setfenv", "newproxy"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_newtable(L);
    vm->views_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getglobal(L, "table");
    guard(L, "insert");
    guard(L, "remove");
    guard(L, "sort");
    lua_pop(L, 1);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    guard(L, "setmetatable");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_rawset);
    lua_setglobal(L, "rawset");
    lua_pushcfunction(L, l_loadstring);
    lua_setglobal(L, "loadstring");
    lua_pushcfunction(L, l_load);
    lua_setglobal(L, "load");
    lua_pushcfunction(L, l_lua_pcall);
    lua_setglobal(L, "pcall");
    /* The redis table. */
    lua_newtable(L);
    set_fn(L, "call", l_call);
    set_fn(L, "pcall", l_pcall);
    set_fn(L, "sha1hex", l_sha1hex);
    set_fn(L, "error_reply", l_error_reply);
    set_fn(L, "status_reply", l_status_reply);
    set_fn(L, "log", l_log);
    set_fn(L, "setresp", l_setresp);
    set_fn(L, "set_repl", l_set_repl);
    set_fn(L, "replicate_commands", l_replicate_commands);
    set_num(L, "LOG_DEBUG", 0);
    set_num(L, "LOG_VERBOSE", 1);
    set_num(L, "LOG_NOTICE", 2);
    set_num(L, "LOG_WARNING", 3);
    set_num(L, "REPL_NONE", 0);
    set_num(L, "REPL_AOF", 1);
    set_num(L, "REPL_SLAVE", 2);
    set_num(L, "REPL_REPLICA", 2);
    set_num(L, "REPL_ALL", 3);
    set_num(L, "REDIS_VERSION_NUM", 0x070000);
    lua_pushliteral(L, "7.0.0");
    lua_setfield(L, -2, "REDIS_VERSION");
    lua_setglobal(L, "redis");
    lua_pushcfunction(L, error_handler);
    lua_setfield(L, LUA_REGISTRYINDEX, "ebb_err_handler");
    /* Library tables become read-only views. */
    static const char *const libs[] = {"string", "table", "math",     "cjson",
                                       "bit",    "redis", "coroutine"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        lua_getglobal(L, libs[i]);
        make_readonly_view(L);
        lua_setglobal(L, libs[i]);
    }
    /* Strings' methods: their metatable is not to be had either. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_getglobal(L, "string");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* The globals: scripts see a view; the real table stays in the
     * registry, where KEYS and ARGV are set for each run. */
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_pushvalue(L, -1);
    vm->globals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L); /* the view */
    lua_newtable(L); /* its metatable */
    lua_pushcfunction(L, l_global_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "readonly");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "_G"); /* _G names the view */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->views_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    vm->proxy_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_replace(L, LUA_GLOBALSINDEX);
    lua_pop(L, 1);
    return 0;
}

script_vm *script_vm_create(const script_host *host, size_t heap_limit)
{
    script_vm *vm = calloc(1, sizeof *vm);
    if (vm == NULL)
        return NULL;
    vm->host = *host;
    vm->limit = heap_limit;
    vm->proto = 2;
    vm->reply_max = SCRIPT_REPLY_MAX;
    vm->L = lua_newstate(vm_alloc, vm);
    if (vm->L == NULL) {
        free(vm);
        return NULL;
    }
    lua_atpanic(vm->L, vm_panic);
    if (lua_cpcall(vm->L, setup, vm) != 0) {
        script_vm_destroy(vm);
        return NULL;
    }
    return vm;
}

void script_vm_destroy(script_vm *vm)
{
    if (vm == NULL)
        return;
    lua_close(vm->L);
    free(vm->argv);
    free(vm->bytes);
    free(vm);
}

void script_vm_set_limit(script_vm *vm, size_t heap_limit)
{
    vm->limit = heap_limit;
}

void script_vm_set_reply_max(script_vm *vm, size_t bytes)
{
    vm->reply_max = bytes;
}

size_t script_vm_heap(const script_vm *vm)
{
    return vm->heap;
}

/* ---- Compiling and running ---------------------------------------------------------- */

typedef struct {
    const char *name; /* "f_<sha>" */
    const char *body;
    size_t len;
    int status;
} compile_args;

static int do_compile(lua_State *L)
{
    compile_args *a = lua_touserdata(L, 1);
    a->status = luaL_loadbuffer(L, a->body, a->len, "@user_script");
    if (a->status != 0)
        return lua_error(L); /* the message, to the caller */
    lua_setfield(L, LUA_REGISTRYINDEX, a->name);
    return 0;
}

bool script_vm_compile(script_vm *vm, const char *sha, const char *body, size_t len, size_t skip,
                       char *err, size_t errlen)
{
    char name[2 + SHA1_HEX_LEN + 1];
    snprintf(name, sizeof name, "f_%s", sha);
    /* Precompiled chunks can break out of any sandbox: text only, refused
     * with the words Redis's patched Lua uses. */
    if (len > skip && body[skip] == LUA_SIGNATURE[0]) {
        snprintf(err, errlen,
                 "ERR Error compiling script (new function): user_script:1: unexpected symbol "
                 "near 'char(27)'");
        return false;
    }
    compile_args a = {.name = name, .body = body + skip, .len = len - skip};
    vm->enforce = true; /* a script's text counts against the cap too */
    int rc = lua_cpcall(vm->L, do_compile, &a);
    vm->enforce = false;
    if (rc == 0)
        return true;
    const char *m = lua_tostring(vm->L, -1);
    snprintf(err, errlen, "ERR Error compiling script (new function): %s",
             m != NULL ? m : "not enough memory");
    lua_pop(vm->L, 1);
    return false;
}

static int do_drop(lua_State *L)
{
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, lua_touserdata(L, 1));
    return 0;
}

void script_vm_drop(script_vm *vm, const char *sha)
{
    char name[2 + SHA1_HEX_LEN + 1];
    snprintf(name, sizeof name, "f_%s", sha);
    if (lua_cpcall(vm->L, do_drop, name) != 0)
        lua_settop(vm->L, 0);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    script_vm *vm = vm_of(L);
    const char *stop = vm->host.tick(vm->host.ctx);
    if (stop != NULL) {
        /* Once more at every line, so that a pcall in the script cannot
         * swallow it for good. */
        lua_sethook(L, hook, LUA_MASKLINE, 0);
        raise_error(L, stop);
    }
}

typedef struct {
    script_vm *vm;
    const char *sha;
    const resp_view *keys, *args;
    size_t nkeys, nargs;
    resp_out *out;
    char *err;
    size_t errlen;
    script_result result;
} run_args;

static void push_array(lua_State *L, const resp_view *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, v[i].ptr, v[i].len);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* The error table at -1 as the run's reply: "<err> script: <sha>, on
 * <source>:<line>." as Redis words it. */
static void error_text(lua_State *L, run_args *a)
{
    /* The handler made this table: raw fields, no metamethods. */
    raw_field(L, -1, "err");
    const char *msg = lua_tostring(L, -1);
    raw_field(L, -2, "source");
    const char *src = lua_tostring(L, -1);
    raw_field(L, -3, "line");
    const char *line = lua_tostring(L, -1);
    if (src != NULL && line != NULL)
        snprintf(a->err, a->errlen, "%s script: %s, on %s:%s.", msg != NULL ? msg : "", a->sha, src,
                 line);
    else
        snprintf(a->err, a->errlen, "%s", msg != NULL ? msg : "");
    raw_field(L, -4, "ignore_error_stats_update");
    a->result = lua_toboolean(L, -1) ? SCRIPT_ERROR_COUNTED : SCRIPT_ERROR;
    lua_pop(L, 4);
}

/* Runs inside lua_cpcall: everything that may allocate is protected. */
static int do_run(lua_State *L)
{
    run_args *a = lua_touserdata(L, 1);
    script_vm *vm = a->vm;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->globals_ref);
    push_array(L, a->keys, a->nkeys);
    lua_setfield(L, -2, "KEYS");
    push_array(L, a->args, a->nargs);
    lua_setfield(L, -2, "ARGV");
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "ebb_err_handler");
    char name[2 + SHA1_HEX_LEN + 1];
    snprintf(name, sizeof name, "f_%s", a->sha);
    lua_getfield(L, LUA_REGISTRYINDEX, name);
    /* A script may have given its function other globals (setfenv) last
     * time: each run starts from the view. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->proxy_ref);
    lua_setfenv(L, -2);
    int base = lua_gettop(L) - 1;
    vm->enforce = true;
    lua_sethook(L, hook, LUA_MASKCOUNT, SCRIPT_TICK_INSTRUCTIONS);
    int rc = lua_pcall(L, 0, 1, base);
    lua_sethook(L, NULL, 0, 0);
    vm->enforce = false;
    if (rc == 0) {
        vm->overflow = false;
        vm->reply_mark = a->out->len;
        lua_to_reply(vm, L, a->out, 0);
        a->result = SCRIPT_OK;
        if (vm->overflow) {
            a->out->len = vm->reply_mark;
            snprintf(a->err, a->errlen, "ERR the script's reply passed %zu bytes", vm->reply_max);
            a->result = SCRIPT_ERROR;
        }
    } else if (lua_istable(L, -1)) {
        error_text(L, a);
    } else {
        /* Not through the handler: out of memory, or an error in it. */
        const char *m = lua_tostring(L, -1);
        snprintf(a->err, a->errlen, "ERR Error running script %s, %.100s", a->sha,
                 m != NULL ? m : "execution failure");
        lua_pop(L, 1);
        a->result = SCRIPT_ERROR;
    }
    lua_settop(L, 0);
    return 0;
}

/* Whatever a run left behind goes: raw entries in the globals' view, a
 * replaced thread environment, a stopped collector. */
static int do_clean_up(lua_State *L)
{
    script_vm *vm = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->proxy_ref);
    lua_replace(L, LUA_GLOBALSINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->views_ref);
    for (int i = 1; i <= (int)lua_objlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, -4);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_gc(L, LUA_GCRESTART, 0);
    lua_gc(L, LUA_GCSTEP, 50);
    return 0;
}

static void clean_up_after(script_vm *vm)
{
    /* Protected: no script code can run here (there is no __gc a script
     * can set), but a collection step must not panic on an error. */
    if (lua_cpcall(vm->L, do_clean_up, vm) != 0)
        lua_settop(vm->L, 0);
}

script_result script_vm_run(script_vm *vm, const char *sha, const resp_view *keys, size_t nkeys,
                            const resp_view *args, size_t nargs, resp_out *out, char *err,
                            size_t errlen)
{
    run_args a = {.vm = vm,
                  .sha = sha,
                  .keys = keys,
                  .nkeys = nkeys,
                  .args = args,
                  .nargs = nargs,
                  .out = out,
                  .err = err,
                  .errlen = errlen,
                  .result = SCRIPT_ERROR};
    vm->running = true;
    vm->proto = 2;
    size_t mark = out->len;
    int rc = lua_cpcall(vm->L, do_run, &a);
    vm->running = false;
    vm->enforce = false;
    if (rc != 0) {
        /* Out of memory while setting up or converting the reply. */
        out->len = mark;
        const char *m = lua_tostring(vm->L, -1);
        snprintf(err, errlen, "ERR Error running script %s, %.100s", sha,
                 m != NULL ? m : "execution failure");
        lua_settop(vm->L, 0);
        a.result = SCRIPT_ERROR;
    }
    clean_up_after(vm);
    return a.result;
}

typedef struct {
    script_vm *vm;
    const char *reply;
    size_t len;
    resp_out *out;
    bool ok;
} selftest_args;

static int do_selftest(lua_State *L)
{
    selftest_args *a = lua_touserdata(L, 1);
    const char *p = a->reply;
    a->ok = push_reply(L, &p, a->reply + a->len, 0) && p == a->reply + a->len;
    a->vm->overflow = false;
    a->vm->reply_mark = a->out->len;
    if (a->ok)
        lua_to_reply(a->vm, L, a->out, 0);
    return 0;
}

bool script_vm_reply_to_lua_selftest(script_vm *vm, const char *reply, size_t len, resp_out *out)
{
    selftest_args a = {.vm = vm, .reply = reply, .len = len, .out = out};
    vm->proto = out->proto;
    bool ok = lua_cpcall(vm->L, do_selftest, &a) == 0 && a.ok;
    lua_settop(vm->L, 0);
    vm->proto = 2;
    return ok;
}
