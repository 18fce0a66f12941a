/* Unit tests for the scripting module's lower parts: SHA-1 (sha1.c) against
 * FIPS 180 vectors and lengths around the block boundary; the Lua state
 * (script_lua.c) with a fake host: replies turned into Lua values and back
 * (RESP2 and RESP3), the run's error texts, the heap cap, the tick that
 * stops a script, and what a run leaves behind; and EVAL through the
 * dispatcher with an in-memory client. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "script_lua.h"
#include "sha1.h"

Test(sha1, vectors)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[SHA1_HEX_LEN + 1];
        sha1_hex(v[i].in, strlen(v[i].in), hex);
        cr_assert_str_eq(hex, v[i].hex, "sha1(\"%s\")", v[i].in);
    }
}

Test(sha1, million_a)
{
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    char hex[SHA1_HEX_LEN + 1];
    sha1_hex(a, n, hex);
    free(a);
    cr_assert_str_eq(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* ---- The Lua state with a fake host --------------------------------------------------- */

static struct {
    const char *reply; /* what every call replies */
    const char *refuse;
    int calls;
    int ticks_left; /* the tick stops the script from when it reaches 0 (-1: never) */
    char last_argv[256];
} host_state;

static bool fake_call(void *ctx, const resp_view *argv, size_t argc, int proto, const char **reply,
                      size_t *len, const char **err)
{
    host_state.calls++;
    size_t off = 0;
    for (size_t i = 0; i < argc && off < sizeof host_state.last_argv - 1; i++) {
        int w = snprintf(host_state.last_argv + off, sizeof host_state.last_argv - off, "%s%.*s",
                         i ? " " : "", (int)argv[i].len, argv[i].ptr);
        off += (size_t)w;
    }
    if (host_state.refuse != NULL) {
        *err = host_state.refuse;
        return false;
    }
    *reply = host_state.reply;
    *len = strlen(host_state.reply);
    return true;
}

static const char *fake_tick(void *ctx)
{
    if (host_state.ticks_left < 0)
        return NULL;
    if (host_state.ticks_left > 0) {
        host_state.ticks_left--;
        return NULL;
    }
    return "Script killed by user with SCRIPT KILL..."; /* until the run ends, as SCRIPT KILL */
}

static void fake_log(void *ctx, int level, const char *msg) {}

static void fake_count_error(void *ctx, const char *msg) {}

static script_vm *vm;

static void vm_setup(void)
{
    memset(&host_state, 0, sizeof host_state);
    host_state.ticks_left = -1;
    script_host h = {
        .call = fake_call, .tick = fake_tick, .log = fake_log, .count_error = fake_count_error};
    vm = script_vm_create(&h, 8u << 20);
    cr_assert_not_null(vm);
}

static void vm_teardown(void)
{
    script_vm_destroy(vm);
}

TestSuite(lua, .init = vm_setup, .fini = vm_teardown);

/* Compile and run body with no keys and no args; the reply bytes (or
 * "ERROR:<text>") in a static buffer. */
static const char *run(const char *body, int proto)
{
    static char buf[4096];
    char sha[SHA1_HEX_LEN + 1], err[1024];
    sha1_hex(body, strlen(body), sha);
    if (!script_vm_compile(vm, sha, body, strlen(body), 0, err, sizeof err)) {
        snprintf(buf, sizeof buf, "COMPILE:%s", err);
        return buf;
    }
    resp_out o;
    resp_out_init(&o);
    o.proto = proto;
    script_result r = script_vm_run(vm, sha, NULL, 0, NULL, 0, &o, err, sizeof err);
    if (r == SCRIPT_OK)
        snprintf(buf, sizeof buf, "%.*s", (int)o.len, o.buf);
    else
        snprintf(buf, sizeof buf, "%s:%s", r == SCRIPT_ERROR ? "ERROR" : "COUNTED", err);
    resp_out_deinit(&o);
    return buf;
}

/* The round trip of a reply through Lua: as Redis, a command's reply seen
 * by a script and returned unchanged gives the same bytes back (in the
 * client's protocol), except where Redis's rules say otherwise. */
static void round_trip(const char *in, int proto, const char *want)
{
    resp_out o;
    resp_out_init(&o);
    o.proto = proto;
    cr_assert(script_vm_reply_to_lua_selftest(vm, in, strlen(in), &o), "unreadable: %s", in);
    cr_assert_eq(o.len, strlen(want), "%s -> %.*s (want %s)", in, (int)o.len, o.buf, want);
    cr_assert(memcmp(o.buf, want, o.len) == 0, "%s -> %.*s (want %s)", in, (int)o.len, o.buf, want);
    resp_out_deinit(&o);
}

Test(lua, replies_round_trip)
{
    round_trip("+OK\r\n", 2, "+OK\r\n");
    round_trip("-ERR boom\r\n", 2, "-ERR boom\r\n");
    round_trip(":42\r\n", 2, ":42\r\n");
    round_trip(":-9007199254740993\r\n", 2, ":-9007199254740992\r\n"); /* a double */
    round_trip("$4\r\na\r\nb\r\n", 2, "$4\r\na\r\nb\r\n");
    round_trip("$0\r\n\r\n", 2, "$0\r\n\r\n");
    round_trip("$-1\r\n", 2, "$-1\r\n");
    round_trip("*-1\r\n", 2, "$-1\r\n");
    round_trip("*3\r\n:1\r\n$1\r\nx\r\n*1\r\n:2\r\n", 2, "*3\r\n:1\r\n$1\r\nx\r\n*1\r\n:2\r\n");
    round_trip("*2\r\n$-1\r\n:1\r\n", 2, "*2\r\n$-1\r\n:1\r\n"); /* false, then 1 */
    round_trip("_\r\n", 3, "_\r\n");
    round_trip("#t\r\n", 3, "#t\r\n");
    round_trip("#f\r\n", 3, "#f\r\n");
    round_trip(",1.5\r\n", 3, ",1.5\r\n");
    round_trip(",1.5\r\n", 2, "$3\r\n1.5\r\n");
    round_trip("%1\r\n$1\r\na\r\n:1\r\n", 3, "%1\r\n$1\r\na\r\n:1\r\n");
    round_trip("%1\r\n$1\r\na\r\n:1\r\n", 2, "*2\r\n$1\r\na\r\n:1\r\n");
    round_trip("~1\r\n$1\r\na\r\n", 3, "~1\r\n$1\r\na\r\n");
    round_trip("=7\r\ntxt:abc\r\n", 3, "=7\r\ntxt:abc\r\n");
    round_trip("(12345678901234567890\r\n", 3, "(12345678901234567890\r\n");
    round_trip("(12345678901234567890\r\n", 2, "$20\r\n12345678901234567890\r\n");
}

Test(lua, values_to_replies)
{
    cr_assert_str_eq(run("return 1.9", 2), ":1\r\n");
    cr_assert_str_eq(run("return -1.9", 2), ":-1\r\n");
    cr_assert_str_eq(run("return 0/0", 2), ":-9223372036854775808\r\n");
    cr_assert_str_eq(run("return 1e300", 2), ":-9223372036854775808\r\n");
    cr_assert_str_eq(run("return true", 2), ":1\r\n");
    cr_assert_str_eq(run("return false", 2), "$-1\r\n");
    cr_assert_str_eq(run("return false", 3), "_\r\n");
    cr_assert_str_eq(run("redis.setresp(3) return false", 2), ":0\r\n");
    cr_assert_str_eq(run("redis.setresp(3) return false", 3), "#f\r\n");
    cr_assert_str_eq(run("return {1, 'a', {ok='s'}, nil, 9}", 2), "*3\r\n:1\r\n$1\r\na\r\n+s\r\n");
    cr_assert_str_eq(run("return {ok='a\\r\\nb'}", 2), "+a  b\r\n");
    cr_assert_str_eq(run("return function() end", 2), "$-1\r\n");
}

Test(lua, errors_name_the_script_and_line)
{
    const char *body = "\n\nerror('boom')";
    char sha[SHA1_HEX_LEN + 1], want[256];
    sha1_hex(body, strlen(body), sha);
    snprintf(want, sizeof want, "ERROR:ERR user_script:3: boom script: %s, on @user_script:3.",
             sha);
    cr_assert_str_eq(run(body, 2), want);
    /* A command's error keeps its code and is not counted twice. */
    host_state.reply = "-WRONGTYPE bad\r\n";
    const char *r = run("return redis.call('get', 'x')", 2);
    cr_assert(strncmp(r, "COUNTED:WRONGTYPE bad script: ", 30) == 0, "%s", r);
    cr_assert_str_eq(host_state.last_argv, "get x");
    /* pcall returns it as a table. */
    cr_assert_str_eq(run("return redis.pcall('get', 'x')", 2), "-WRONGTYPE bad\r\n");
    /* Refused by the host: the host's text, with ERR. */
    host_state.refuse = "This Redis command is not allowed from script";
    r = run("return redis.call('multi')", 2);
    cr_assert(
        strncmp(r, "COUNTED:ERR This Redis command is not allowed from script script: ", 66) == 0,
        "%s", r);
    cr_assert(strncmp(run("return (", 2),
                      "COMPILE:ERR Error compiling script (new function): ", 51) == 0);
}

Test(lua, numbers_as_arguments)
{
    host_state.reply = "+OK\r\n";
    run("return redis.call('set', 1, 3.5)", 2);
    cr_assert_str_eq(host_state.last_argv, "set 1 3.5");
    run("return redis.call('set', 12345678901234567, 0.1)", 2);
    cr_assert_str_eq(host_state.last_argv, "set 12345678901234568 0.10000000000000001");
}

Test(lua, heap_cap_stops_a_script_and_the_state_lives_on)
{
    script_vm_set_limit(vm, 2u << 20);
    const char *r = run("local t = {} for i = 1, 1e7 do t[i] = i .. 'x' end", 2);
    cr_assert(strstr(r, "not enough memory") != NULL, "%s", r);
    cr_assert(script_vm_heap(vm) < (2u << 20), "heap %zu", script_vm_heap(vm));
    cr_assert_str_eq(run("return 5", 2), ":5\r\n");
}

Test(lua, tick_stops_even_through_pcall)
{
    host_state.ticks_left = 3;
    const char *r = run("while true do pcall(function() for i = 1, 100 do end end) end", 2);
    cr_assert(strstr(r, "Script killed by user with SCRIPT KILL...") != NULL, "%s", r);
    host_state.ticks_left = -1;
    cr_assert_str_eq(run("return 6", 2), ":6\r\n");
}

Test(lua, replies_past_the_cap_are_an_error)
{
    script_vm_set_reply_max(vm, 4096);
    /* 2^40 elements in 40 lines: stopped at the cap, and quickly. */
    const char *r = run("local t = {} for i = 1, 40 do t = {t, t} end return t", 2);
    cr_assert_str_eq(r, "ERROR:ERR the script's reply passed 4096 bytes");
    cr_assert_str_eq(run("return {1, 2}", 2), "*2\r\n:1\r\n:2\r\n");
}

Test(lua, error_tables_run_no_code_after_the_script)
{
    /* Its metamethods would run with no hook and no cap: never touched. */
    const char *r = run("error(setmetatable({}, {__index = function() while true do end end}))", 2);
    cr_assert(strncmp(r, "ERROR:ERR unknown error script: ", 32) == 0, "%s", r);
    r = run("error(setmetatable({err = 'MINE x'}, {__newindex = function() while true do end "
            "end}))",
            2);
    cr_assert(strncmp(r, "ERROR:MINE x script: ", 21) == 0, "%s", r);
    cr_assert(strncmp(run("error(nil)", 2), "ERROR:ERR nil script: ", 22) == 0);
}

Test(lua, nothing_outlives_a_run)
{
    cr_assert(strstr(run("x = 1", 2), "Attempt to modify a readonly table") != NULL);
    /* No setfenv, getfenv or newproxy (so no finalizer a script writes). */
    cr_assert(strstr(run("setfenv(0, {})", 2), "nonexistent global variable 'setfenv'") != NULL);
    cr_assert(strstr(run("return getfenv(0)", 2), "nonexistent global variable 'getfenv'") != NULL);
    cr_assert(strstr(run("return newproxy(true)", 2), "nonexistent global variable 'newproxy'") !=
              NULL);
    /* The library functions that write a table raw refuse the read-only
     * ones, and nothing is left in a view after a run either. */
    const char *writers[] = {"table.insert(redis, 'x')", "table.insert(_G, 1)",
                             "table.remove(bit)",        "table.sort(string)",
                             "setmetatable(_G, nil)",    "setmetatable(cjson, {})"};
    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++)
        cr_assert(strstr(run(writers[i], 2), "Attempt to modify a readonly table") != NULL, "%s",
                  writers[i]);
    cr_assert_str_eq(run("return #redis + #bit + #_G", 2), ":0\r\n");
    cr_assert_str_eq(run("local t = {3, 1} table.sort(t) table.insert(t, 5) return t", 2),
                     "*3\r\n:1\r\n:3\r\n:5\r\n");
    cr_assert_str_eq(run("return type(redis)", 2), "$5\r\ntable\r\n");
    cr_assert(strstr(run("return cjson.x", 2), "ERROR") == NULL);
    cr_assert(strstr(run("cjson.x = 1", 2), "Attempt to modify a readonly table") != NULL);
    cr_assert(strstr(run("rawset(string, 'x', 1)", 2), "readonly") != NULL);
    cr_assert_str_eq(run("return loadstring(string.dump(function() end)) == nil", 2), ":1\r\n");
    cr_assert_str_eq(run("return load(function() return nil end) ~= nil", 2), ":1\r\n");
    /* No bytecode as a script's body either. */
    static const char bc[] = "\033Lua\x51\x00";
    char sha[SHA1_HEX_LEN + 1], err[256];
    sha1_hex(bc, sizeof bc - 1, sha);
    cr_assert(!script_vm_compile(vm, sha, bc, sizeof bc - 1, 0, err, sizeof err));
    cr_assert_str_eq(err, "ERR Error compiling script (new function): user_script:1: unexpected "
                          "symbol near 'char(27)'");
}

/* ---- EVAL through the dispatcher -------------------------------------------------------- */

static cmd_server srv;
static cmd_client cl;

static void srv_setup(void)
{
    cr_assert(cmd_server_init(&srv));
    srv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&srv));
    cmd_client_init(&srv, &cl);
}

static void srv_teardown(void)
{
    cmd_client_deinit(&srv, &cl);
    cmd_server_deinit(&srv);
}

static const char *exec(int argc, const char *const *argv)
{
    static char buf[1024];
    resp_view v[16];
    for (int i = 0; i < argc; i++)
        v[i] = (resp_view){.ptr = argv[i], .len = strlen(argv[i])};
    resp_out_reset(&cl.out);
    cmd_execute(&srv, &cl, v, (size_t)argc);
    snprintf(buf, sizeof buf, "%.*s", (int)cl.out.len, cl.out.buf);
    return buf;
}

#define EXEC(...)                                                                                  \
    exec(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),                             \
         (const char *[]){__VA_ARGS__})

Test(eval, through_the_dispatcher, .init = srv_setup, .fini = srv_teardown)
{
    cr_assert_str_eq(EXEC("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "7", "v"),
                     "+OK\r\n");
    cr_assert_str_eq(EXEC("GET", "7"), "$1\r\nv\r\n");
    cr_assert_str_eq(EXEC("SCRIPT", "LOAD", "return 1"),
                     "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n");
    cr_assert_str_eq(EXEC("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"), ":1\r\n");
    cr_assert_str_eq(EXEC("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "no"),
                     "*2\r\n:1\r\n:0\r\n");
    cr_assert_str_eq(EXEC("SCRIPT", "FLUSH"), "+OK\r\n");
    cr_assert_str_eq(EXEC("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
                     "*1\r\n:0\r\n");
    cr_assert_str_eq(EXEC("EVAL", "return 1", "2", "a"),
                     "-ERR Number of keys can't be greater than number of args\r\n");
    /* The scripts' client is no client: CLIENT LIST does not show it. */
    cr_assert_eq(srv.clients.count, 1);
}
