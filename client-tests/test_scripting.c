/*
 * test_scripting.c - Lua scripting over the wire, for what only ebb can be
 * asked: the time limit and -BUSY (served while the script runs, new
 * connections too), SCRIPT KILL and UNKILLABLE, SHUTDOWN NOSAVE of a busy
 * server, the Lua heap's cap, the script cache's cap, the key model inside
 * redis.call, maxmemory before and inside scripts, WATCH, MONITOR, the
 * command counters, frozen time, and the sandbox across runs.
 *
 * Replies that Redis also gives (conversions, errors, SCRIPT's
 * subcommands, in RESP2 and RESP3) are compared byte for byte with
 * redis-server by client-tests/scripting_vs_redis.py.
 *
 * Every test starts its own server. Waits poll for the condition they wait
 * for; deadlines scale with h_slow().
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

TestSuite(scripting, .fini = h_teardown, .timeout = 120);

#define BUSY_ERR                                                                                   \
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
#define KILLED_PREFIX "ERR Script killed by user with SCRIPT KILL..."

/* A server whose scripts are busy after 50 ms. */
static void start_busy_server(void)
{
    const char *args[] = {"--busy-reply-threshold", "50", NULL};
    h_setup_own_args(args);
}

/* Send a command on c without reading its reply. */
static void send_only(redisContext *c, const char *fmt, const char *script)
{
    cr_assert(redisAppendCommand(c, fmt, script) == REDIS_OK);
    int done = 0;
    while (!done)
        cr_assert(redisBufferWrite(c, &done) == REDIS_OK, "send: %s", c->errstr);
}

/* Poll with PING on a fresh connection until the server answers -BUSY:
 * the script is running and past its threshold. */
static void wait_busy(void)
{
    double deadline = h_now() + 10.0 * h_slow();
    for (;;) {
        redisContext *b = h_connect();
        redisReply *r = CMD(b, "PING");
        bool busy = r->type == REDIS_REPLY_ERROR && strcmp(r->str, BUSY_ERR) == 0;
        freeReplyObject(r);
        redisFree(b);
        if (busy)
            return;
        cr_assert(h_now() < deadline, "the server never answered -BUSY");
    }
}

static redisReply *get_reply(redisContext *c)
{
    redisReply *r = NULL;
    cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL, "no reply: %s", c->errstr);
    return r;
}

ITEST(scripting, busy_then_script_kill)
{
    start_busy_server();
    redisContext *a = h_connect();
    send_only(a, "EVAL %s 0", "while true do end");
    wait_busy();
    /* A client that was connected before gets -BUSY too, for reads and
     * writes, and inside MULTI the transaction is refused at EXEC. */
    EXPECT_ERR(C, BUSY_ERR, "GET 1");
    EXPECT_ERR(C, BUSY_ERR, "SET 1 x");
    EXPECT_ERR(C, BUSY_ERR, "EVAL %s 0", "return 1");
    EXPECT_OK(C, "MULTI");
    EXPECT_ERR(C, BUSY_ERR, "GET 1");
    EXPECT_ERR(C, "EXECABORT Transaction discarded because of: " BUSY_ERR, "EXEC");
    EXPECT_ERR(C, BUSY_ERR, "SHUTDOWN");
    /* SCRIPT KILL stops a script that wrote nothing. */
    EXPECT_OK(C, "SCRIPT KILL");
    redisReply *r = get_reply(a);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, KILLED_PREFIX, strlen(KILLED_PREFIX)) == 0, "%s", r->str);
    cr_assert(strstr(r->str, "on @user_script:1.") != NULL, "%s", r->str);
    freeReplyObject(r);
    /* Everyone is served again, the killed script's client too. */
    EXPECT_STATUS(a, "PONG", "PING");
    EXPECT_STATUS(C, "PONG", "PING");
    EXPECT_ERR(C, "NOTBUSY No scripts in execution right now.", "SCRIPT KILL");
    char *info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "scripts_killed"), 1, "%s", info);
    cr_assert_eq(h_info_num(info, "scripts_busy"), 1, "%s", info);
    free(info);
    redisFree(a);
}

ITEST(scripting, pcall_cannot_swallow_script_kill)
{
    start_busy_server();
    redisContext *a = h_connect();
    send_only(a, "EVAL %s 0",
              "while true do pcall(function() local x = 0 for i = 1, 1000 do x = x + i end end) "
              "end");
    wait_busy();
    EXPECT_OK(C, "SCRIPT KILL");
    redisReply *r = get_reply(a);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strstr(r->str, "Script killed by user with SCRIPT KILL") != NULL, "%s", r->str);
    freeReplyObject(r);
    EXPECT_STATUS(a, "PONG", "PING");
    redisFree(a);
}

ITEST(scripting, unkillable_after_write_and_shutdown_nosave)
{
    start_busy_server();
    redisContext *a = h_connect();
    send_only(a, "EVAL %s 0", "redis.call('set', '1', 'x') while true do end");
    wait_busy();
    EXPECT_ERR(C,
               "UNKILLABLE Sorry the script already executed write commands against the dataset. "
               "You can either wait the script termination or kill the server in a hard way "
               "using the SHUTDOWN NOSAVE command.",
               "SCRIPT KILL");
    EXPECT_ERR(C, BUSY_ERR, "SHUTDOWN");
    /* SHUTDOWN NOSAVE is let through and ends the server. */
    redisAppendCommand(C, "SHUTDOWN NOSAVE");
    redisReply *r = NULL;
    int rc = redisGetReply(C, (void **)&r);
    cr_assert(rc != REDIS_OK || r == NULL || r->type != REDIS_REPLY_ERROR,
              "SHUTDOWN NOSAVE was refused: %s", r != NULL && r->str != NULL ? r->str : "");
    if (r != NULL)
        freeReplyObject(r);
    cr_assert_eq(h_wait_exit(H.pid, 10.0 * h_slow()), 0, "the server did not exit cleanly");
    H.pid = 0;
    redisFree(a);
}

ITEST(scripting, lua_heap_is_capped)
{
    h_setup_own();
    EXPECT_OK(C, "CONFIG SET lua-maxmemory 4mb");
    redisReply *r = CMD(C, "EVAL %s 0",
                        "local t = {} for i = 1, 10000000 do t[i] = string.rep('x', 64) .. i end "
                        "return #t");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "the script was not stopped");
    cr_assert(strstr(r->str, "not enough memory") != NULL, "%s", r->str);
    freeReplyObject(r);
    /* The state is usable afterwards, and gave the memory back. */
    EXPECT_INT(C, 7, "EVAL %s 0", "return 7");
    char *info = h_info(C, "memory");
    long long heap = h_info_num(info, "used_memory_lua");
    cr_assert(heap > 0 && heap < 4 * 1024 * 1024, "used_memory_lua %lld\n%s", heap, info);
    free(info);
    /* string.rep of more than the cap fails the same way. */
    r = CMD(C, "EVAL %s 0", "return #string.rep('x', 8 * 1024 * 1024)");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strstr(r->str, "not enough memory") != NULL, "%s", r->str);
    freeReplyObject(r);
}

ITEST(scripting, script_cache_is_capped)
{
    h_setup_own();
    EXPECT_OK(C, "CONFIG SET lua-cache-max-scripts 3");
    redisReply *loaded = CMD(C, "SCRIPT LOAD %s", "return 'pinned'");
    cr_assert_eq(loaded->type, REDIS_REPLY_STRING);
    char first_sha[41] = "";
    for (int i = 0; i < 5; i++) {
        char script[64];
        snprintf(script, sizeof script, "return %d", i);
        EXPECT_INT(C, i, "EVAL %s 0", script);
        if (i == 0) {
            redisReply *sha = CMD(C, "EVAL %s 0", "return redis.sha1hex('return 0')");
            cr_assert_eq(sha->type, REDIS_REPLY_STRING);
            snprintf(first_sha, sizeof first_sha, "%s", sha->str);
            freeReplyObject(sha);
        }
    }
    char *info = h_info(C, "memory");
    /* 3 EVAL scripts (the last ones) + the pinned one. */
    cr_assert_eq(h_info_num(info, "number_of_cached_scripts"), 4, "%s", info);
    free(info);
    info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "evicted_scripts"), 3, "%s", info);
    free(info);
    EXPECT_ERR(C, "NOSCRIPT No matching script. Please use EVAL.", "EVALSHA %s 0", first_sha);
    EXPECT_BULK(C, "pinned", "EVALSHA %s 0", loaded->str);
    EXPECT_INT(C, 4, "EVAL %s 0", "return 4");
    EXPECT_OK(C, "SCRIPT FLUSH");
    EXPECT_ERR(C, "NOSCRIPT No matching script. Please use EVAL.", "EVALSHA %s 0", loaded->str);
    info = h_info(C, "memory");
    cr_assert_eq(h_info_num(info, "number_of_cached_scripts"), 0, "%s", info);
    free(info);
    freeReplyObject(loaded);
}

ITEST(scripting, keys_follow_the_key_model)
{
    h_setup_own();
    EXPECT_OK(C, "EVAL %s 1 %s", "return redis.call('set', KEYS[1], 'v')", "user:42");
    EXPECT_BULK(C, "v", "GET user:42");
    redisReply *r = CMD(C, "EVAL %s 1 %s", "return redis.call('get', KEYS[1])", "abc");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "ERR invalid key 'abc'", 21) == 0, "%s", r->str);
    cr_assert(strstr(r->str, " script: ") != NULL, "%s", r->str);
    freeReplyObject(r);
    /* pcall catches it; the script goes on. */
    r = CMD(C, "EVAL %s 0",
            "local e = redis.pcall('get', 'abc') return {e['err'] ~= nil, redis.call('get', "
            "'user:42')}");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(r->element[0]->integer, 1);
    cr_assert_str_eq(r->element[1]->str, "v");
    freeReplyObject(r);
    /* A value over 128 bytes is ebb's value error, as from a client. */
    r = CMD(C, "EVAL %s 0", "return redis.call('set', '1', string.rep('x', 129))");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    EXPECT_NIL(C, "GET 1");
}

ITEST(scripting, maxmemory_before_and_inside_scripts)
{
    h_setup_own();
    EXPECT_OK(C, "SET 9 x"); /* something held, over a 1-byte maxmemory */
    EXPECT_OK(C, "CONFIG SET maxmemory 1");
    EXPECT_OK(C, "CONFIG SET maxmemory-policy noeviction");
    /* Reads run; the first write that may add memory is refused. */
    EXPECT_NIL(C, "EVAL %s 0", "return redis.call('get', '1')");
    redisReply *r = CMD(C, "EVAL %s 0", "return redis.call('set', '1', 'x')");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str,
                      "OOM command not allowed when used memory > 'maxmemory'. script: ", 64) == 0,
              "%s", r->str);
    freeReplyObject(r);
    /* Once the script has written, it is not stopped halfway. */
    r = CMD(C, "EVAL %s 0",
            "#!lua flags=allow-oom\nredis.call('set', '3', 'a') return redis.call('set', '4', "
            "'b')");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
    freeReplyObject(r);
    /* A script that declares writes without allow-oom is refused at once;
     * allow-oom and no-writes run. */
    EXPECT_ERR(C, "OOM command not allowed when used memory > 'maxmemory'.", "EVAL %s 0",
               "#!lua\nreturn redis.call('set', '1', 'x')");
    EXPECT_OK(C, "EVAL %s 0", "#!lua flags=allow-oom\nreturn redis.call('set', '1', 'x')");
    EXPECT_BULK(C, "x", "EVAL_RO %s 0", "#!lua flags=no-writes\nreturn redis.call('get', '1')");
    EXPECT_OK(C, "CONFIG SET maxmemory 0");
    EXPECT_OK(C, "EVAL %s 0", "return redis.call('set', '2', 'y')");
}

ITEST(scripting, writes_touch_watched_keys)
{
    h_setup_own();
    redisContext *other = h_connect();
    EXPECT_OK(C, "WATCH 5");
    EXPECT_OK(other, "EVAL %s 1 5", "return redis.call('set', KEYS[1], 'w')");
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "GET 5");
    EXPECT_NIL(C, "EXEC");
    /* A read-only script touches nothing. */
    EXPECT_OK(C, "WATCH 5");
    EXPECT_BULK(other, "w", "EVAL %s 1 5", "return redis.call('get', KEYS[1])");
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "GET 5");
    redisReply *r = CMD(C, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    /* A script inside a transaction runs at EXEC. */
    EXPECT_OK(C, "MULTI");
    EXPECT_STATUS(C, "QUEUED", "EVAL %s 0", "return redis.call('incr', '6')");
    r = CMD(C, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->element[0]->integer, 1);
    freeReplyObject(r);
    redisFree(other);
}

ITEST(scripting, monitor_and_command_counters)
{
    h_setup_own();
    h_raw *m = h_raw_open();
    h_raw_sends(m, "MONITOR\r\n");
    RAW_EXPECT(m, "+OK\r\n");
    EXPECT_OK(C, "EVAL %s 1 7", "return redis.call('set', KEYS[1], 'x')");
    size_t len;
    char *line = RAW_REPLY(m, &len);
    cr_assert(strstr(line, "\"EVAL\" \"return redis.call('set', KEYS[1], 'x')\" \"1\" \"7\"") !=
                  NULL,
              "%s", line);
    free(line);
    line = RAW_REPLY(m, &len);
    cr_assert(strstr(line, "[0 lua] \"set\" \"7\" \"x\"") != NULL, "%s", line);
    free(line);
    h_raw_close(m);
    char *info = h_info(C, "commandstats");
    cr_assert(strstr(info, "cmdstat_eval:calls=1,") != NULL, "%s", info);
    cr_assert(strstr(info, "cmdstat_set:calls=1,") != NULL, "%s", info);
    free(info);
    /* COMMAND INFO shows the flags clients route by. */
    redisReply *r = CMD(C, "COMMAND INFO eval");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    redisReply *flags = r->element[0]->element[2];
    bool noscript = false;
    for (size_t i = 0; i < flags->elements; i++)
        noscript |= strcmp(flags->element[i]->str, "noscript") == 0;
    cr_assert(noscript);
    freeReplyObject(r);
}

ITEST(scripting, time_stands_still_inside_a_script)
{
    h_setup_own();
    /* The key would expire 1 ms in; the script waits until TIME (the
     * real clock) says 5 ms have passed and still sees it, as Redis does. */
    redisReply *r = CMD(C, "EVAL %s 1 8",
                        "redis.call('set', KEYS[1], 'v', 'PX', 1) "
                        "local function us() local t = redis.call('time') "
                        "return tonumber(t[1]) * 1000000 + tonumber(t[2]) end "
                        "local t0 = us() "
                        "while us() - t0 < 5000 do end "
                        "return redis.call('get', KEYS[1])");
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "type %d %s", r->type, r->str ? r->str : "");
    cr_assert_str_eq(r->str, "v");
    freeReplyObject(r);
}

ITEST(scripting, sandbox_holds_across_runs)
{
    h_setup_own();
    /* Globals are read-only, and what a script does with its environment
     * does not reach the next one. */
    redisReply *r = CMD(C, "EVAL %s 0", "x = 1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strstr(r->str, "Attempt to modify a readonly table") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = CMD(C, "EVAL %s 0", "setfenv(0, {evil = 1}) return 1");
    freeReplyObject(r);
    EXPECT_INT(C, 2, "EVAL %s 0", "return loadstring('return 2')()");
    r = CMD(C, "EVAL %s 0", "getfenv(redis.call).hacked = 1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "the real globals were reachable");
    freeReplyObject(r);
    r = CMD(C, "EVAL %s 0", "return getmetatable('').__index.rep");
    cr_assert(r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_ERROR, "type %d", r->type);
    freeReplyObject(r);
    /* No bytecode. */
    EXPECT_NIL(C, "EVAL %s 0", "return loadstring(string.dump(function() return 1 end))");
    /* No os, io, require, and no way to reach them. */
    r = CMD(C, "EVAL %s 0", "return os.exit()");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strstr(r->str, "nonexistent global variable 'os'") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = CMD(C, "EVAL %s 0", "return require('os')");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    /* A script that stops the collector does not stop it for the next. */
    EXPECT_INT(C, 0, "EVAL %s 0", "collectgarbage('stop') return 0");
    EXPECT_INT(C, 1, "EVAL %s 0",
               "for i = 1, 200000 do local s = string.rep('y', 100) .. i end return 1");
    char *info = h_info(C, "memory");
    cr_assert(h_info_num(info, "used_memory_lua") < 8 * 1024 * 1024, "%s", info);
    free(info);
}

ITEST(scripting, new_connection_during_busy_script)
{
    start_busy_server();
    redisContext *a = h_connect();
    send_only(a, "EVAL %s 0", "local i = 0 while true do i = i + 1 end");
    wait_busy();
    /* Connections made while the script runs are accepted and may AUTH,
     * HELLO and kill the script. */
    redisContext *n = h_connect();
    redisReply *r = CMD(n, "HELLO 2");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_ERR(n, BUSY_ERR, "DBSIZE");
    EXPECT_OK(n, "SCRIPT KILL");
    r = get_reply(a);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    EXPECT_INT(n, 0, "DBSIZE");
    redisFree(n);
    redisFree(a);
}
