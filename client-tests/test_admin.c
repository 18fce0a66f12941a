/*
 * test_admin.c - server and connection administration: CONFIG, INFO, CLIENT,
 * COMMAND, HELLO (RESP2 side; RESP3 is test_resp3.c).
 *
 * CONFIG SET and exact counts need a server of our own (h_setup_own).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h" /* the option list only: no server code is linked */
#include "harness.h"

TestSuite(admin, .init = h_setup_own, .fini = h_teardown, .timeout = 120);

#define CFG_SET_ERR(arg, why)                                                                      \
    "ERR CONFIG SET failed (possibly related to argument '" arg "') - " why

/* Find `name` in a flat [name, value, ...] CONFIG GET reply; NULL if absent. */
static const char *cfg_value(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

static void expect_config(const char *file, int line, const char *name, const char *want)
{
    redisReply *r = CMD(C, "CONFIG GET %s", name);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s:%d: CONFIG GET %s: %d/%zu",
              file, line, name, r->type, r->elements);
    cr_assert_str_eq(r->element[0]->str, name, "%s:%d", file, line);
    cr_assert_str_eq(r->element[1]->str, want, "%s:%d: CONFIG GET %s", file, line, name);
    freeReplyObject(r);
}
#define EXPECT_CONFIG(name, want) expect_config(__FILE__, __LINE__, (name), (want))

/* ---- CONFIG GET ----------------------------------------------------------------- */

ITEST(admin, config_get_every_option)
{
    /* Every row of server/core/include/config.h's option list and the old
     * names Redis still lists (config.c's aliases), and nothing else. */
#define OPTION_NAME(field, name, ...) name,
    const char *names[] = {CONFIG_OPTIONS(OPTION_NAME) "lua-time-limit"};
#undef OPTION_NAME
    size_t n = sizeof names / sizeof names[0];
    redisReply *r = CMD(C, "CONFIG GET *");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2 * n, "CONFIG GET * gave %zu elements", r->elements);
    for (size_t i = 0; i < n; i++)
        cr_assert(cfg_value(r, names[i]) != NULL, "CONFIG GET * lacks %s", names[i]);
    char port[16];
    snprintf(port, sizeof port, "%d", H.port);
    cr_assert_str_eq(cfg_value(r, "port"), port);
    cr_assert_str_eq(cfg_value(r, "bind"), "127.0.0.1");
    cr_assert_str_eq(cfg_value(r, "maxclients"), "10000");
    cr_assert_str_eq(cfg_value(r, "loglevel"), "warning");
    cr_assert_str_eq(cfg_value(r, "logfile"), "");
    cr_assert_str_eq(cfg_value(r, "max-namespaces"), "64");
    cr_assert_str_eq(cfg_value(r, "auto-shrink"), "yes");
    cr_assert_str_eq(cfg_value(r, "client-query-buffer-limit"), "268435456");
    freeReplyObject(r);
    /* What redis-benchmark asks first, answered as a persistence-off Redis. */
    EXPECT_CONFIG("save", "");
    EXPECT_CONFIG("appendonly", "no");
}

ITEST(admin, config_get_patterns)
{
    redisReply *r = CMD(C, "CONFIG GET maxc* max-*");
    cr_assert_eq(r->elements, 4);
    cr_assert(cfg_value(r, "maxclients") != NULL && cfg_value(r, "max-namespaces") != NULL);
    freeReplyObject(r);
    r = CMD(C, "CONFIG GET PORT");
    cr_assert_eq(r->elements, 2, "CONFIG GET is case-insensitive");
    cr_assert_str_eq(r->element[0]->str, "port");
    freeReplyObject(r);
    r = CMD(C, "CONFIG GET port bind port");
    cr_assert_eq(r->elements, 4, "several patterns, each option once");
    freeReplyObject(r);
    r = CMD(C, "CONFIG GET nosuchoption");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    freeReplyObject(r);
    r = CMD(C, "CONFIG GET ?ave");
    cr_assert(r->elements == 2 && strcmp(r->element[0]->str, "save") == 0);
    freeReplyObject(r);
    EXPECT_ERR(C, "ERR wrong number of arguments for 'config|get' command", "CONFIG GET");
}

/* ---- CONFIG SET ---------------------------------------------------------------------- */

ITEST(admin, config_set_runtime_options)
{
    EXPECT_OK(C, "CONFIG SET maxclients 123");
    EXPECT_CONFIG("maxclients", "123");
    EXPECT_OK(C, "CONFIG SET loglevel verbose");
    EXPECT_CONFIG("loglevel", "verbose");
    EXPECT_OK(C, "CONFIG SET loglevel warning");
    EXPECT_OK(C, "CONFIG SET max-namespaces 7");
    EXPECT_CONFIG("max-namespaces", "7");
    EXPECT_OK(C, "CONFIG SET auto-shrink no");
    EXPECT_CONFIG("auto-shrink", "no");
    EXPECT_OK(C, "CONFIG SET client-query-buffer-limit 2mb");
    EXPECT_CONFIG("client-query-buffer-limit", "2097152");
    EXPECT_OK(C, "CONFIG SET save %s", "");
    EXPECT_OK(C, "CONFIG SET appendonly no");
    /* Several pairs at once; names are case-insensitive. */
    EXPECT_OK(C, "CONFIG SET MAXCLIENTS 50 max-namespaces 8");
    EXPECT_CONFIG("maxclients", "50");
    EXPECT_CONFIG("max-namespaces", "8");
}

ITEST(admin, config_set_errors)
{
    EXPECT_ERR(C, CFG_SET_ERR("port", "can't set immutable config"), "CONFIG SET port 7000");
    EXPECT_ERR(C, CFG_SET_ERR("bind", "can't set immutable config"), "CONFIG SET bind 0.0.0.0");
    EXPECT_ERR(C, CFG_SET_ERR("logfile", "can't set immutable config"),
               "CONFIG SET logfile /tmp/x");
    EXPECT_ERR(C, CFG_SET_ERR("maxclients", "argument couldn't be parsed into an integer"),
               "CONFIG SET maxclients abc");
    EXPECT_ERR(C, CFG_SET_ERR("maxclients", "argument must be between 1 and 1000000 inclusive"),
               "CONFIG SET maxclients 0");
    EXPECT_ERR(C, CFG_SET_ERR("auto-shrink", "argument must be 'yes' or 'no'"),
               "CONFIG SET auto-shrink maybe");
    redisReply *r = CMD(C, "CONFIG SET loglevel loud");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, CFG_SET_ERR("loglevel", ""), strlen(CFG_SET_ERR("loglevel", ""))) ==
                  0,
              "%s", r->str);
    freeReplyObject(r);
    r = CMD(C, "CONFIG SET appendonly yes");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = CMD(C, "CONFIG SET save %s", "900");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = CMD(C, "CONFIG SET client-query-buffer-limit lots");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    EXPECT_ERR(C, "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
               "CONFIG SET nosuch 1");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'config|set' command",
               "CONFIG SET maxclients");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'config|set' command",
               "CONFIG SET maxclients 5 loglevel");
    /* All or nothing: one bad pair leaves the good one unapplied. */
    r = CMD(C, "CONFIG SET maxclients 99 loglevel loud");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    EXPECT_CONFIG("maxclients", "10000");
    EXPECT_CONFIG("loglevel", "warning");
    EXPECT_CONFIG("appendonly", "no");
    EXPECT_CONFIG("save", "");
}

ITEST(admin, config_subcommand_errors)
{
    EXPECT_ERR(C, "ERR unknown subcommand 'x'. Try CONFIG HELP.", "CONFIG x");
    EXPECT_ERR(C, "ERR unknown subcommand 'REWRITE'. Try CONFIG HELP.", "CONFIG REWRITE");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'config' command", "CONFIG");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'config|resetstat' command",
               "CONFIG RESETSTAT now");
    redisReply *r = CMD(C, "CONFIG HELP");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements > 2);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

/* ---- INFO ------------------------------------------------------------------------------ */

ITEST(admin, info_sections_in_order)
{
    char *info = h_info(C, NULL);
    const char *secs[] = {"# Server\r\n", "# Clients\r\n",  "# Memory\r\n",    "# Stats\r\n",
                          "# CPU\r\n",    "# Keyspace\r\n", "# Namespaces\r\n"};
    cr_assert(strncmp(info, "# Server\r\n", 10) == 0, "INFO starts with # Server");
    const char *at = info;
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        const char *p = strstr(at, secs[i]);
        cr_assert(p != NULL, "INFO lacks %s after position %zu", secs[i], (size_t)(at - info));
        at = p + 1;
    }
    /* Redis's line format: CRLF everywhere, a blank line between sections. */
    for (const char *p = info; *p != '\0'; p++)
        if (*p == '\n')
            cr_assert(p > info && p[-1] == '\r', "bare LF in INFO");
    cr_assert(strstr(info, "\r\n\r\n# Clients\r\n") != NULL);
    cr_assert(h_info_num(info, "connected_clients") == 1, "%s", info);
    cr_assert(h_info_num(info, "tcp_port") == H.port);
    cr_assert(h_info_num(info, "used_memory") >= 0);
    cr_assert(h_info_num(info, "used_memory_rss") > 0);
    cr_assert(h_info_num(info, "process_id") == H.pid);
    cr_assert(strstr(info, "redis_version:") != NULL);
    cr_assert(strstr(info, "\r\ndb0:") == NULL, "empty server has no db0 line");
    free(info);
    /* INFO all / default / everything are the same sections. */
    redisReply *r = CMD(C, "INFO all");
    cr_assert(strstr(r->str, "# Namespaces\r\n") != NULL && strstr(r->str, "# Server") != NULL);
    freeReplyObject(r);
    r = CMD(C, "INFO everything");
    cr_assert(strstr(r->str, "# Keyspace\r\n") != NULL);
    freeReplyObject(r);
}

ITEST(admin, info_one_section)
{
    const char *names[] = {"server", "clients", "memory", "stats", "cpu", "keyspace", "namespaces"};
    const char *heads[] = {"# Server\r\n", "# Clients\r\n",  "# Memory\r\n",    "# Stats\r\n",
                           "# CPU\r\n",    "# Keyspace\r\n", "# Namespaces\r\n"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *info = h_info(C, names[i]);
        cr_assert(strncmp(info, heads[i], strlen(heads[i])) == 0, "INFO %s: %s", names[i], info);
        cr_assert(strstr(info + 1, "# ") == NULL, "INFO %s has other sections:\n%s", names[i],
                  info);
        free(info);
    }
    char *info = h_info(C, "KEYSPACE");
    cr_assert(strncmp(info, "# Keyspace\r\n", 12) == 0, "section names are case-insensitive");
    free(info);
    redisReply *r = CMD(C, "INFO clients stats");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_assert(strstr(r->str, "# Clients") != NULL && strstr(r->str, "# Stats") != NULL);
    cr_assert(strstr(r->str, "# Server") == NULL && strstr(r->str, "# Memory") == NULL);
    freeReplyObject(r);
    /* An unknown section is an empty reply, as in Redis. */
    EXPECT_BULK(C, "", "INFO nosuchsection");
}

/* A "name:seconds.micros" field of INFO cpu, checked for Redis's format. */
static double cpu_field(const char *info, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = strstr(info, key);
    cr_assert(p != NULL, "INFO cpu lacks %s:\n%s", name, info);
    p += strlen(key);
    char *end;
    double v = strtod(p, &end);
    const char *dot = strchr(p, '.');
    cr_assert(end > p && strncmp(end, "\r\n", 2) == 0 && dot != NULL && end - dot == 7 && v >= 0,
              "%s is not seconds with 6 decimals: %.20s", name, p);
    return v;
}

ITEST(admin, info_cpu)
{
    char *info = h_info(C, "cpu");
    cr_assert(strncmp(info, "# CPU\r\n", 7) == 0, "%s", info);
    double sys = cpu_field(info, "used_cpu_sys"), user = cpu_field(info, "used_cpu_user");
    cpu_field(info, "used_cpu_sys_children");
    cpu_field(info, "used_cpu_user_children");
    double msys = cpu_field(info, "used_cpu_sys_main_thread");
    double muser = cpu_field(info, "used_cpu_user_main_thread");
    /* The kernel splits user and system time for the thread and for the
     * process separately; only their sums are in step. */
    cr_assert(msys + muser <= sys + user + 0.01, "the main thread is part of the process");
    cr_assert(strstr(info, "\r\nbusy_poll:off\r\n") != NULL, "an idle server does not poll: %s",
              info);
    cr_assert(h_info_num(info, "busy_poll_usec") >= 0, "%s", info);
    free(info);
}

/* busy-poll-us: the option; polling while requests keep the loop busy, and
 * none once they stop. */
ITEST(admin, busy_poll_on_under_load_off_when_idle)
{
    EXPECT_CONFIG("busy-poll-us", "50");
    EXPECT_ERR(C, CFG_SET_ERR("busy-poll-us", "argument must be between 0 and 1000 inclusive"),
               "CONFIG SET busy-poll-us 1001");
    EXPECT_ERR(C, CFG_SET_ERR("busy-poll-us", "argument must be between 0 and 1000 inclusive"),
               "CONFIG SET busy-poll-us -1");
    EXPECT_OK(C, "CONFIG SET busy-poll-us 1000");
    EXPECT_CONFIG("busy-poll-us", "1000");
    /* A load the server, not this client, is the bottleneck of: batches of
     * 20 MGETs of 100 missing keys, sent as prepared bytes, the replies
     * compared as bytes. Until INFO has said busy_poll:on (the machine may
     * be shared, so give it time). */
    enum { BATCH = 20, KEYS = 100 };
    static char cmd[4096], want[1024];
    size_t clen = (size_t)snprintf(cmd, sizeof cmd, "*%d\r\n$4\r\nMGET\r\n", KEYS + 1);
    size_t wlen = (size_t)snprintf(want, sizeof want, "*%d\r\n", KEYS);
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "%d", 900000 + k);
        clen += (size_t)snprintf(cmd + clen, sizeof cmd - clen, "$%d\r\n%s\r\n", kl, key);
        wlen += (size_t)snprintf(want + wlen, sizeof want - wlen, "$-1\r\n");
    }
    char *batch = malloc(clen * BATCH);
    cr_assert_not_null(batch);
    for (int i = 0; i < BATCH; i++)
        memcpy(batch + i * clen, cmd, clen);
    h_raw *load = h_raw_open();
    bool seen_on = false;
    double give_up = h_now() + 10 * h_slow(), next_info = 0;
    while (!seen_on && h_now() < give_up) {
        h_raw_send(load, batch, clen * BATCH);
        for (int i = 0; i < BATCH; i++)
            RAW_EXPECTN(load, want, wlen);
        if (h_now() >= next_info) {
            char *info = h_info(C, "cpu");
            seen_on = strstr(info, "\r\nbusy_poll:on\r\n") != NULL;
            free(info);
            next_info = h_now() + 0.05;
        }
    }
    h_raw_close(load);
    free(batch);
    cr_assert(seen_on, "the loop never polled under a load it was the bottleneck of");
    /* Once the load is gone, polling must stop within a few cron ticks
     * (10 ms each), and then cost nothing while nothing comes: one INFO
     * every 100 ms does not make the loop half busy. */
    char *info = NULL;
    give_up = h_now() + 5;
    do {
        free(info);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        info = h_info(C, "cpu");
    } while (strstr(info, "\r\nbusy_poll:off\r\n") == NULL && h_now() < give_up);
    cr_assert(strstr(info, "\r\nbusy_poll:off\r\n") != NULL,
              "still polling 5 s after the load:\n%s", info);
    long long polled = h_info_num(info, "busy_poll_usec");
    free(info);
    for (int i = 0; i < 3; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        info = h_info(C, "cpu");
        cr_assert_eq(h_info_num(info, "busy_poll_usec"), polled, "polled while idle:\n%s", info);
        free(info);
    }
    EXPECT_OK(C, "CONFIG SET busy-poll-us 0");
    EXPECT_CONFIG("busy-poll-us", "0");
}

ITEST(admin, info_keyspace_sums_namespaces)
{
    EXPECT_OK(C, "MSET 1 a 2 b 3 c");
    EXPECT_OK(C, "MSET a:1 x a:2 y b:007 z");
    char *info = h_info(C, "keyspace");
    cr_assert_str_eq(info, "# Keyspace\r\ndb0:keys=6,expires=0,avg_ttl=0\r\n");
    free(info);
    info = h_info(C, "namespaces");
    cr_assert(h_info_num(info, "namespaces") == 2, "%s", info);
    cr_assert(strstr(info, "\r\nns_a:keys=2,") != NULL, "%s", info);
    cr_assert(strstr(info, "\r\nns_b:keys=1,") != NULL, "%s", info);
    cr_assert(strstr(info, "\r\nns_@default:keys=3,") != NULL, "%s", info);
    /* The namespace a appears before b (creation order). */
    cr_assert(strstr(info, "ns_a:") < strstr(info, "ns_b:"));
    free(info);
    EXPECT_INT(C, 3, "DEL 1 a:1 b:7");
    info = h_info(C, "keyspace");
    cr_assert_str_eq(info, "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n");
    free(info);
    EXPECT_OK(C, "FLUSHALL");
    info = h_info(C, "keyspace");
    cr_assert_str_eq(info, "# Keyspace\r\n");
    free(info);
}

ITEST(admin, info_counts_hits_and_misses)
{
    EXPECT_OK(C, "CONFIG RESETSTAT");
    char *info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "keyspace_hits"), 0);
    cr_assert_eq(h_info_num(info, "keyspace_misses"), 0);
    free(info);
    EXPECT_OK(C, "SET 1 a");
    EXPECT_BULK(C, "a", "GET 1");
    EXPECT_BULK(C, "a", "GET 01");
    EXPECT_NIL(C, "GET 2");
    EXPECT_NIL(C, "GET nons:2");
    redisReply *r = CMD(C, "MGET 1 2 3");
    freeReplyObject(r);
    info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "keyspace_hits"), 3, "%s", info);
    cr_assert_eq(h_info_num(info, "keyspace_misses"), 4, "%s", info);
    cr_assert(h_info_num(info, "total_commands_processed") >= 7);
    cr_assert(h_info_num(info, "total_connections_received") >= 0);
    free(info);
    /* Errors are counted, RESETSTAT zeroes everything. */
    r = CMD(C, "GET");
    freeReplyObject(r);
    info = h_info(C, "stats");
    cr_assert(h_info_num(info, "total_error_replies") >= 1);
    free(info);
    EXPECT_OK(C, "CONFIG RESETSTAT");
    info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "keyspace_hits"), 0);
    cr_assert_eq(h_info_num(info, "keyspace_misses"), 0);
    cr_assert_eq(h_info_num(info, "total_error_replies"), 0);
    free(info);
}

/* The hottest keys of one transaction's accesses: a transaction runs in
 * one go, so they land in one window, which HOTKEYS GET reports once it has
 * ended (polled: the window is 2 s, and stays reported for 2 s). */
ITEST(admin, hotkeys_over_the_wire)
{
    redisReply *r = CMD(C, "HOTKEYS GET");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0, "off: empty");
    freeReplyObject(r);
    EXPECT_OK(C, "CONFIG SET hotkey-top-k 3 hotkey-window-seconds 2");
    static const struct {
        const char *key;
        int n;
    } load[] = {{"hk:1", 300}, {"hk:2", 200}, {"7", 100}, {"x:9", 50}};
    EXPECT_OK(C, "MULTI");
    for (size_t i = 0; i < sizeof load / sizeof load[0]; i++)
        for (int j = 0; j < load[i].n; j++)
            redisAppendCommand(C, "GET %s", load[i].key);
    for (size_t i = 0; i < sizeof load / sizeof load[0]; i++)
        for (int j = 0; j < load[i].n; j++)
            h_check(__FILE__, __LINE__, h_next_reply(C, "GET", j), REDIS_REPLY_STATUS, "QUEUED",
                    (size_t)-1, 0);
    r = CMD(C, "EXEC");
    cr_assert_eq(r->elements, 650);
    freeReplyObject(r);
    /* Both views in one transaction, so they see the same window. */
    double end = h_now() + 10.0 * h_slow();
    redisReply *all, *ns;
    for (;;) {
        EXPECT_OK(C, "MULTI");
        EXPECT_STATUS(C, "QUEUED", "HOTKEYS GET");
        EXPECT_STATUS(C, "QUEUED", "HOTKEYS GET NAMESPACE hk");
        r = CMD(C, "EXEC");
        cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
        cr_assert_eq(r->elements, 2);
        all = r->element[0];
        ns = r->element[1];
        if (all->elements > 0 || h_now() > end)
            break;
        freeReplyObject(r);
        usleep(20000);
    }
    cr_assert_eq(all->elements, 3, "the top 3 of 4 keys");
    cr_assert_eq(ns->elements, 2, "hk's 2 keys");
    long long qps[3];
    for (size_t i = 0; i < 3; i++) {
        const redisReply *e = all->element[i];
        cr_assert_eq(e->elements, 6);
        cr_assert_str_eq(e->element[0]->str, "key");
        cr_assert_str_eq(e->element[1]->str, load[i].key);
        cr_assert_str_eq(e->element[2]->str, "db");
        cr_assert_eq(e->element[3]->integer, 0);
        cr_assert_str_eq(e->element[4]->str, "qps");
        qps[i] = e->element[5]->integer;
        if (i < 2) {
            cr_assert_str_eq(ns->element[i]->element[1]->str, load[i].key);
            cr_assert_eq(ns->element[i]->element[5]->integer, qps[i]);
        }
    }
    freeReplyObject(r);
    /* Exact counts over one measured window: the rates are 3 : 2 : 1, up
     * to rounding. */
    cr_assert_gt(qps[2], 0);
    cr_assert(llabs(2 * qps[0] - 3 * qps[1]) <= 3 && llabs(qps[1] - 2 * qps[2]) <= 2,
              "rates %lld %lld %lld", qps[0], qps[1], qps[2]);
    EXPECT_OK(C, "CONFIG SET hotkey-top-k 0");
    EXPECT_ERR(C, "ERR Hotkey detection is disabled", "HOTKEYS RESET");
}

ITEST(admin, info_clients_count)
{
    redisContext *c2 = h_connect(), *c3 = h_connect();
    EXPECT_STATUS(c2, "PONG", "PING");
    EXPECT_STATUS(c3, "PONG", "PING");
    char *info = h_info(C, "clients");
    cr_assert_eq(h_info_num(info, "connected_clients"), 3, "%s", info);
    cr_assert_eq(h_info_num(info, "maxclients"), 10000);
    free(info);
    redisFree(c2);
    redisFree(c3);
    /* The server notices the closes; poll until it has. */
    double end = h_now() + 10.0 * h_slow();
    long long n = -1;
    while (h_now() < end) {
        info = h_info(C, "clients");
        n = h_info_num(info, "connected_clients");
        free(info);
        if (n == 1)
            break;
    }
    cr_assert_eq(n, 1);
}

/* ---- CLIENT ------------------------------------------------------------------------- */

ITEST(admin, client_name)
{
    EXPECT_NIL(C, "CLIENT GETNAME");
    EXPECT_OK(C, "CLIENT SETNAME worker-1");
    EXPECT_BULK(C, "worker-1", "CLIENT GETNAME");
    EXPECT_ERR(C, "ERR Client names cannot contain spaces, newlines or special characters.",
               "CLIENT SETNAME %s", "a b");
    EXPECT_ERR(C, "ERR Client names cannot contain spaces, newlines or special characters.",
               "CLIENT SETNAME %s", "a\nb");
    EXPECT_BULK(C, "worker-1", "CLIENT GETNAME");
    EXPECT_OK(C, "CLIENT SETNAME %s", "");
    EXPECT_NIL(C, "CLIENT GETNAME");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'client|setname' command", "CLIENT SETNAME");
    EXPECT_ERR(C, "ERR unknown subcommand 'FOO'. Try CLIENT HELP.", "CLIENT FOO");
    EXPECT_ERR(C, "ERR wrong number of arguments for 'client' command", "CLIENT");
    /* Names are per connection. */
    redisContext *c2 = h_connect();
    EXPECT_OK(C, "CLIENT SETNAME mine");
    EXPECT_NIL(c2, "CLIENT GETNAME");
    redisFree(c2);
}

ITEST(admin, client_id_info_list)
{
    redisReply *r = CMD(C, "CLIENT ID");
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    long long id1 = r->integer;
    freeReplyObject(r);
    cr_assert(id1 > 0);
    redisContext *c2 = h_connect();
    r = CMD(c2, "CLIENT ID");
    long long id2 = r->integer;
    freeReplyObject(r);
    cr_assert(id2 > id1, "ids grow: %lld then %lld", id1, id2);
    EXPECT_INT(C, id1, "CLIENT ID");

    EXPECT_OK(C, "CLIENT SETNAME alpha");
    EXPECT_OK(c2, "CLIENT SETINFO lib-name mylib");
    EXPECT_OK(c2, "CLIENT SETINFO LIB-VER 1.2.3");
    EXPECT_ERR(c2, "ERR Unrecognized option 'bogus'", "CLIENT SETINFO bogus x");
    EXPECT_ERR(c2, "ERR wrong number of arguments for 'client|setinfo' command",
               "CLIENT SETINFO lib-name");

    r = CMD(C, "CLIENT INFO");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof want, "id=%lld ", id1);
    cr_assert(strncmp(r->str, want, strlen(want)) == 0, "%s", r->str);
    cr_assert(strstr(r->str, " name=alpha ") != NULL, "%s", r->str);
    cr_assert(strstr(r->str, " cmd=client|info") != NULL, "%s", r->str);
    cr_assert(strstr(r->str, " resp=2") != NULL, "%s", r->str);
    cr_assert(r->len > 0 && r->str[r->len - 1] == '\n' &&
              strchr(r->str, '\n') == r->str + r->len - 1);
    freeReplyObject(r);

    r = CMD(C, "CLIENT LIST");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    int lines = 0;
    for (size_t i = 0; i < r->len; i++)
        lines += r->str[i] == '\n';
    cr_assert_eq(lines, 2, "%s", r->str);
    cr_assert(strstr(r->str, "name=alpha") != NULL);
    cr_assert(strstr(r->str, "lib-name=mylib lib-ver=1.2.3") != NULL, "%s", r->str);
    cr_assert(strstr(r->str, "addr=127.0.0.1:") != NULL);
    freeReplyObject(r);

    r = CMD(C, "CLIENT LIST ID %lld", id2);
    lines = 0;
    for (size_t i = 0; i < r->len; i++)
        lines += r->str[i] == '\n';
    cr_assert_eq(lines, 1, "%s", r->str);
    snprintf(want, sizeof want, "id=%lld ", id2);
    cr_assert(strncmp(r->str, want, strlen(want)) == 0);
    freeReplyObject(r);
    r = CMD(C, "CLIENT LIST TYPE normal");
    cr_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "name=alpha") != NULL);
    freeReplyObject(r);
    EXPECT_ERR(C, "ERR Invalid client ID", "CLIENT LIST ID abc");
    EXPECT_ERR(C, "ERR syntax error", "CLIENT LIST bogus");
    redisFree(c2);
}

/* ---- COMMAND ---------------------------------------------------------------------------- */

static const char *ALL_COMMANDS[] = {
    "ping",     "echo",     "quit",     "select", "hello",  "client", "command", "config", "dbsize",
    "flushall", "flushdb",  "time",     "info",   "get",    "set",    "setnx",   "getset", "getdel",
    "mget",     "mset",     "msetnx",   "del",    "unlink", "exists", "touch",   "type",   "strlen",
    "append",   "setrange", "getrange", "incr",   "decr",   "incrby", "decrby"};

ITEST(admin, command_and_count)
{
    redisReply *cnt = CMD(C, "COMMAND COUNT");
    cr_assert_eq(cnt->type, REDIS_REPLY_INTEGER);
    redisReply *r = CMD(C, "COMMAND");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq((long long)r->elements, cnt->integer);
    size_t n = sizeof ALL_COMMANDS / sizeof ALL_COMMANDS[0];
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < r->elements && !found; j++) {
            redisReply *e = r->element[j];
            cr_assert(e->type == REDIS_REPLY_ARRAY && e->elements == 10);
            found = strcmp(e->element[0]->str, ALL_COMMANDS[i]) == 0;
        }
        cr_assert(found, "COMMAND lacks %s", ALL_COMMANDS[i]);
    }
    freeReplyObject(r);
    freeReplyObject(cnt);
    r = CMD(C, "COMMAND LIST");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= n);
    freeReplyObject(r);
}

ITEST(admin, command_info_get)
{
    redisReply *r = CMD(C, "COMMAND INFO get");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *g = r->element[0];
    cr_assert(g->type == REDIS_REPLY_ARRAY && g->elements == 10);
    cr_assert_str_eq(g->element[0]->str, "get");
    cr_assert_eq(g->element[1]->integer, 2);
    cr_assert_eq(g->element[2]->type, REDIS_REPLY_ARRAY);
    bool readonly = false;
    for (size_t i = 0; i < g->element[2]->elements; i++)
        readonly |= strcmp(g->element[2]->element[i]->str, "readonly") == 0;
    cr_assert(readonly, "GET is flagged readonly");
    cr_assert_eq(g->element[3]->integer, 1);
    cr_assert_eq(g->element[4]->integer, 1);
    cr_assert_eq(g->element[5]->integer, 1);
    freeReplyObject(r);
    r = CMD(C, "COMMAND INFO set nosuch MSET");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cr_assert_str_eq(r->element[0]->element[0]->str, "set");
    cr_assert_eq(r->element[0]->element[1]->integer, -3);
    cr_assert_eq(r->element[1]->type, REDIS_REPLY_NIL);
    cr_assert_str_eq(r->element[2]->element[0]->str, "mset");
    cr_assert_eq(r->element[2]->element[3]->integer, 1);
    cr_assert_eq(r->element[2]->element[4]->integer, -1);
    cr_assert_eq(r->element[2]->element[5]->integer, 2);
    freeReplyObject(r);
}

ITEST(admin, command_docs)
{
    /* RESP2: a flat [name, [field, value, ...], ...] as redis-cli expects. */
    redisReply *r = CMD(C, "COMMAND DOCS get");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    cr_assert_str_eq(r->element[0]->str, "get");
    redisReply *d = r->element[1];
    cr_assert(d->type == REDIS_REPLY_ARRAY && d->elements >= 2 && d->elements % 2 == 0);
    bool summary = false;
    for (size_t i = 0; i < d->elements; i += 2)
        summary |= strcmp(d->element[i]->str, "summary") == 0;
    cr_assert(summary);
    freeReplyObject(r);
    redisReply *cnt = CMD(C, "COMMAND COUNT");
    r = CMD(C, "COMMAND DOCS");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq((long long)r->elements, 2 * cnt->integer);
    freeReplyObject(r);
    freeReplyObject(cnt);
    r = CMD(C, "COMMAND DOCS nosuch");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    freeReplyObject(r);
    EXPECT_ERR(C, "ERR unknown subcommand 'bogus'. Try COMMAND HELP.", "COMMAND bogus");
}

/* ---- HELLO (RESP2) ----------------------------------------------------------------------- */

ITEST(admin, hello_resp2)
{
    redisReply *id = CMD(C, "CLIENT ID");
    const char *want[] = {"server", "redis", "version",    NULL,   "proto",  NULL,      "id",
                          NULL,     "mode",  "standalone", "role", "master", "modules", NULL};
    const char *forms[] = {"HELLO", "HELLO 2"};
    for (int f = 0; f < 2; f++) {
        redisReply *r = CMD(C, forms[f]);
        cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 14, "%s: %d/%zu", forms[f],
                  r->type, r->elements);
        for (size_t i = 0; i < 14; i++)
            if (want[i] != NULL)
                cr_assert_str_eq(r->element[i]->str, want[i]);
        cr_assert_eq(r->element[5]->integer, 2);
        cr_assert_eq(r->element[7]->integer, id->integer);
        cr_assert(r->element[13]->type == REDIS_REPLY_ARRAY && r->element[13]->elements == 0);
        freeReplyObject(r);
    }
    freeReplyObject(id);
    EXPECT_ERR(C, "NOPROTO unsupported protocol version", "HELLO 4");
    EXPECT_ERR(C, "NOPROTO unsupported protocol version", "HELLO 1");
    EXPECT_ERR(C, "ERR Protocol version is not an integer or out of range", "HELLO two");
    EXPECT_ERR(C, "ERR Syntax error in HELLO option 'bogus'", "HELLO 2 bogus");
    EXPECT_ERR(C, "ERR Syntax error in HELLO option 'SETNAME'", "HELLO 2 SETNAME");
    /* Still RESP2 after the failures. */
    EXPECT_NIL(C, "GET 1");
}

ITEST(admin, hello_setname)
{
    redisReply *r = CMD(C, "HELLO 2 SETNAME conn-a");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_BULK(C, "conn-a", "CLIENT GETNAME");
    r = CMD(C, "HELLO 2 AUTH default whatever SETNAME conn-b");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_BULK(C, "conn-b", "CLIENT GETNAME");
    EXPECT_ERR(C, "ERR Client names cannot contain spaces, newlines or special characters.",
               "HELLO 2 SETNAME %s", "bad name");
    EXPECT_BULK(C, "conn-b", "CLIENT GETNAME");
}
