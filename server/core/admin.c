/*
 * admin.c - the server group (layer 2): COMMAND, CONFIG, INFO, DBSIZE,
 * FLUSHALL / FLUSHDB, TIME and SHUTDOWN. Replies follow Redis 7's shapes.
 */
#include <assert.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "scripting.h"
#include "cmdtab.h"
#include "docs.h"
#include "evict.h"
#include "expire.h"
#include "groups.h"
#include "hotkeys.h"
#include "persist.h"
#include "tracking.h"

static void add_flags(resp_out *o, unsigned flags)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {CMD_WRITE, "write"},           {CMD_READONLY, "readonly"},
        {CMD_DENYOOM, "denyoom"},       {CMD_ADMIN, "admin"},
        {CMD_STALE, "stale"},           {CMD_FAST, "fast"},
        {CMD_NO_AUTH, "no_auth"},       {CMD_SKIP_SLOWLOG, "skip_slowlog"},
        {CMD_NO_MULTI, "no_multi"},     {CMD_NO_SCRIPT, "noscript"},
        {CMD_ALLOW_BUSY, "allow_busy"}, {CMD_SKIP_MONITOR, "skip_monitor"},
        {CMD_LOADING, "loading"},       {CMD_PUBSUB, "pubsub"},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        n += (flags & names[i].bit) != 0;
    resp_add_set(o, n);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit)
            resp_add_simple(o, names[i].name);
}

static void add_command_info(resp_out *o, const cmd_def *d, const char *parent)
{
    char full[64];
    if (parent != NULL)
        snprintf(full, sizeof full, "%s|%s", parent, d->name);
    else
        snprintf(full, sizeof full, "%s", d->name);
    resp_add_array(o, 10);
    resp_add_bulkstr(o, full);
    resp_add_int(o, d->arity);
    add_flags(o, d->flags);
    resp_add_int(o, d->first);
    resp_add_int(o, d->last);
    resp_add_int(o, d->step);
    resp_add_set(o, 0);   /* ACL categories */
    resp_add_array(o, 0); /* tips */
    resp_add_array(o, 0); /* key specs */
    if (d->subs != NULL) {
        size_t n = cmdtab_count_subs(d->subs);
        resp_add_array(o, n);
        for (size_t i = 0; i < n; i++)
            add_command_info(o, &d->subs[i], d->name);
    } else {
        resp_add_array(o, 0);
    }
}

static void cmd_command(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_array(&c->out, cmdtab_count());
    for (size_t i = 0; i < cmdtab_count(); i++)
        add_command_info(&c->out, cmdtab_at(i), NULL);
}

static void cmd_command_count(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_int(&c->out, (long long)cmdtab_count());
}

static void cmd_command_info(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc == 2) {
        cmd_command(s, c, req);
        return;
    }
    resp_add_array(&c->out, req->argc - 2);
    for (size_t i = 2; i < req->argc; i++) {
        const cmd_def *d = cmdtab_lookup(req->argv[i].ptr, req->argv[i].len);
        if (d == NULL)
            resp_add_null(&c->out); /* Redis 7: a null bulk ($-1 / _) */
        else
            add_command_info(&c->out, d, NULL);
    }
}

static void cmd_command_list(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc != 2) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    resp_add_array(&c->out, cmdtab_count());
    for (size_t i = 0; i < cmdtab_count(); i++)
        resp_add_bulkstr(&c->out, cmdtab_at(i)->name);
}

static void add_docs(resp_out *o, const cmd_def *d, const char *parent)
{
    char full[64];
    snprintf(full, sizeof full, "%s%s%s", parent != NULL ? parent : "", parent != NULL ? "|" : "",
             d->name);
    resp_add_bulkstr(o, full);
    size_t nsubs = d->subs != NULL ? cmdtab_count_subs(d->subs) : 0;
    bool args = d->args != NULL;
    resp_add_map(o, 3 + (nsubs > 0) + args);
    resp_add_bulkstr(o, "summary");
    resp_add_bulkstr(o, d->summary);
    resp_add_bulkstr(o, "since");
    resp_add_bulkstr(o, d->since);
    resp_add_bulkstr(o, "group");
    resp_add_bulkstr(o, d->group);
    if (args) {
        resp_add_bulkstr(o, "arguments");
        cmd_docs_add_args(o, d->args);
    }
    if (nsubs > 0) {
        resp_add_bulkstr(o, "subcommands");
        resp_add_map(o, nsubs);
        for (size_t i = 0; i < nsubs; i++)
            add_docs(o, &d->subs[i], d->name);
    }
}

static void cmd_command_docs(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc == 2) {
        resp_add_map(&c->out, cmdtab_count());
        for (size_t i = 0; i < cmdtab_count(); i++)
            add_docs(&c->out, cmdtab_at(i), NULL);
        return;
    }
    size_t found = 0;
    for (size_t i = 2; i < req->argc; i++)
        found += cmdtab_lookup(req->argv[i].ptr, req->argv[i].len) != NULL;
    resp_add_map(&c->out, found);
    for (size_t i = 2; i < req->argc; i++) {
        const cmd_def *d = cmdtab_lookup(req->argv[i].ptr, req->argv[i].len);
        if (d != NULL)
            add_docs(&c->out, d, NULL);
    }
}

static void cmd_config_get(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* The options, then their old names (config_aliases), as Redis lists
     * both. */
    size_t total = config_option_count + config_alias_count;
    bool match[CONFIG_OPTION_COUNT + 8];
    assert(total <= sizeof match / sizeof match[0]);
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        const char *name = i < config_option_count ? config_options[i].name
                                                   : config_aliases[i - config_option_count].alias;
        match[i] = false;
        for (size_t j = 2; j < req->argc && !match[i]; j++)
            match[i] = glob_match(req->argv[j].ptr, req->argv[j].len, name, strlen(name), true);
        n += match[i];
    }
    resp_add_map(&c->out, n);
    char val[512];
    for (size_t i = 0; i < total; i++) {
        if (!match[i])
            continue;
        const char *name = i < config_option_count ? config_options[i].name
                                                   : config_aliases[i - config_option_count].alias;
        const config_option *o = config_find(name, strlen(name));
        resp_add_bulkstr(&c->out, name);
        /* A namespace-maxmemory list may be longer than val: given whole. */
        const char *text = o->type == CFG_NSMEM && s->cfg.namespace_maxmemory.str != NULL
                               ? s->cfg.namespace_maxmemory.str
                               : config_format(&s->cfg, o, val, sizeof val);
        resp_add_bulkstr(&c->out, text);
    }
}

static void cmd_config_set(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if ((req->argc - 2) % 2 != 0) {
        cmd_reply_wrong_arity(s, c, "config|set");
        return;
    }
    /* All or nothing, as Redis 7: validate every pair on a scratch copy
     * first, then apply to the live config. */
    for (size_t i = 2; i < req->argc; i += 2) {
        if (config_find(req->argv[i].ptr, req->argv[i].len) == NULL) {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c,
                             "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                             cmd_quote(q, &req->argv[i], CMD_QUOTE_SHORT, false));
            return;
        }
        for (size_t j = 2; j < i; j += 2) {
            if (req->argv[j].len == req->argv[i].len &&
                strncasecmp(req->argv[j].ptr, req->argv[i].ptr, req->argv[i].len) == 0) {
                cmd_reply_errorf(s, c,
                                 "ERR CONFIG SET failed (possibly related to argument '%.*s') - "
                                 "duplicate parameter",
                                 (int)req->argv[i].len, req->argv[i].ptr);
                return;
            }
        }
    }
    config trial;
    if (!config_init(&trial)) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    char err[256];
    for (size_t i = 2; i < req->argc; i += 2) {
        if (!config_set(&trial, req->argv[i].ptr, req->argv[i].len, req->argv[i + 1].ptr,
                        req->argv[i + 1].len, true, err, sizeof err)) {
            config_deinit(&trial);
            cmd_reply_errorf(s, c,
                             "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                             (int)req->argv[i].len, req->argv[i].ptr, err);
            return;
        }
    }
    config_deinit(&trial);
    for (size_t i = 2; i < req->argc; i += 2) {
        if (!config_set(&s->cfg, req->argv[i].ptr, req->argv[i].len, req->argv[i + 1].ptr,
                        req->argv[i + 1].len, true, err, sizeof err)) {
            cmd_reply_error(s, c, ERR_OOM); /* validated above: only allocation can fail */
            return;
        }
    }
    cmd_server_apply_config(s);
    resp_add_ok(&c->out);
}

static void cmd_config_resetstat(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    memset(&s->st, 0, sizeof s->st);
    s->peak_used = cmd_used_memory(s);
    s->stall_max_us = 0;
    s->stall_cause[0] = '\0';
    memset(&s->latency, 0, sizeof s->latency);
    memset(s->cmdstats, 0, cmdtab_rows() * sizeof *s->cmdstats);
    memset(s->errorstats, 0, sizeof s->errorstats);
    s->nerrorstats = 0;
    cmd_evict_reset_stats(s);
    cmd_expire_reset_stats(s);
    cmd_hotkeys_reset_stats(s);
    resp_add_ok(&c->out);
}

static void cmd_config_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* CONFIG SET naming requirepass: its arguments are a secret. */
static bool redact_config_set(const resp_view *argv, size_t argc)
{
    for (size_t i = 2; i < argc; i += 2)
        if (cmd_arg_is(&argv[i], "requirepass"))
            return true;
    return false;
}

static void cmd_dbsize(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_int(&c->out, (long long)db_size(s->db));
}

static void cmd_flushall(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* SYNC (the default, as in Redis) unmaps everything before replying: about
     * 100 ms per GB held, during which no client is served. ASYNC detaches
     * the tables at once and the cron gives their memory back in slices. */
    bool async = req->argc == 2 && cmd_arg_is(&req->argv[1], "async");
    if (req->argc > 2 || (req->argc == 2 && !async && !cmd_arg_is(&req->argv[1], "sync"))) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (!async || !db_flush_async(s->db))
        db_flush(s->db);
    cmd_persist_flushed(s);
    cmd_hotkeys_forget(s);
    cmd_tracking_flush(s, c);
    malloc_trim(0);
    resp_add_ok(&c->out);
}

static void cmd_time(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    int64_t now = cmd_now_us();
    resp_add_array(&c->out, 2);
    resp_add_bulk_ll(&c->out, now / 1000000);
    resp_add_bulk_ll(&c->out, now % 1000000);
}

static void cmd_shutdown(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* The snapshot (persist.h) is written first when SAVE is given, or
     * shutdown-save or save points are set, unless NOSAVE; if it fails the
     * server stays up, unless FORCE. NOW (skip waiting for replicas) has
     * nothing to skip. Like Redis, a successful SHUTDOWN sends no reply: the
     * connection just closes as the server stops (finishing what others
     * already sent). */
    bool nosave = false, save = false, force = false;
    for (size_t i = 1; i < req->argc; i++) {
        if (cmd_arg_is(&req->argv[i], "nosave"))
            nosave = true;
        else if (cmd_arg_is(&req->argv[i], "save"))
            save = true;
        else if (cmd_arg_is(&req->argv[i], "force"))
            force = true;
        else if (!cmd_arg_is(&req->argv[i], "now")) {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    if (save && nosave) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    /* During a busy script only SHUTDOWN NOSAVE goes ahead, as in Redis. */
    if (s->busy && !nosave) {
        cmd_reply_error(s, c, SCRIPT_ERR_BUSY);
        return;
    }
    if (!cmd_persist_shutdown(s, save, nosave) && !force) {
        cmd_reply_error(s, c, "ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    s->shutdown_asked = true;
    c->close_after_reply = true;
}

static void cmd_info(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    size_t len;
    char *text = cmd_info_text(s, req->argv + 1, req->argc - 1, &len);
    if (text == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    cmd_reply_text(c, text, len);
    free(text);
}

static const cmd_def command_subs[] = {
    {"count", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_command_count, NULL, "server", "2.8.13",
     "Returns a count of commands.", NULL, NULL},
    {"docs", -2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_command_docs, NULL, "server", "7.0.0",
     "Returns documentary information about one, multiple or all commands.", "[command-name...]",
     NULL},
    {"info", -2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_command_info, NULL, "server", "2.8.13",
     "Returns information about one, multiple or all commands.", "[command-name...]", NULL},
    {"list", -2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_command_list, NULL, "server", "7.0.0",
     "Returns a list of command names.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def config_subs[] = {
    {"get", -3, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_config_get, NULL,
     "server", "2.0.0", "Returns the effective values of configuration parameters.", "parameter...",
     NULL},
    {"set", -4, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_config_set, NULL,
     "server", "2.0.0", "Sets configuration parameters in-flight.", "[parameter value]...",
     redact_config_set},
    {"resetstat", 2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0,
     cmd_config_resetstat, NULL, "server", "2.0.0", "Resets the server's statistics.", NULL, NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_config_help, NULL, "server", "5.0.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* WAIT numreplicas timeout: ebb has no replicas, so no write is ever
 * acknowledged by one: 0 at once, after Redis's argument checks. (Redis
 * waits out the timeout first when numreplicas > 0; the answer is 0
 * either way.) */
static void cmd_wait(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long n, ms;
    if (!cmd_arg_ll(s, c, &req->argv[1], &n))
        return;
    if (!cmd_parse_ll(req->argv[2].ptr, req->argv[2].len, &ms)) {
        cmd_reply_error(s, c, "ERR timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        cmd_reply_error(s, c, "ERR timeout is negative");
        return;
    }
    resp_add_int(&c->out, 0);
}

/* ROLE: a master with replication offset 0 and no replicas (the same
 * array in RESP3, as Redis). */
static void cmd_role(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_array(&c->out, 3);
    resp_add_bulkstr(&c->out, "master");
    resp_add_int(&c->out, 0);
    resp_add_array(&c->out, 0);
}

const cmd_def cmd_admin_rows[] = {
    {"command", -1, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_command, command_subs, "server", "2.8.13",
     "Returns detailed information about all commands.", NULL, NULL},
    {"config", -2, CMD_STALE, 0, 0, 0, NULL, config_subs, "server", "2.0.0",
     "A container for server configuration commands.", NULL, NULL},
    {"dbsize", 1, CMD_READONLY | CMD_FAST, 0, 0, 0, cmd_dbsize, NULL, "server", "1.0.0",
     "Returns the number of keys in the database.", NULL, NULL},
    {"flushall", -1, CMD_WRITE, 0, 0, 0, cmd_flushall, NULL, "server", "1.0.0",
     "Removes all keys and gives their memory back.", "[ASYNC|SYNC]", NULL},
    {"flushdb", -1, CMD_WRITE, 0, 0, 0, cmd_flushall, NULL, "server", "1.0.0",
     "Removes all keys of the (only) database.", "[ASYNC|SYNC]", NULL},
    {"time", 1, CMD_FAST | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_time, NULL, "server", "2.6.0",
     "Returns the server time.", NULL, NULL},
    {"info", -1, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_info, NULL, "server", "1.0.0",
     "Returns information and statistics about the server.", "[section...]", NULL},
    {"shutdown", -1,
     CMD_ADMIN | CMD_STALE | CMD_NO_MULTI | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING, 0, 0, 0,
     cmd_shutdown, NULL, "server", "1.0.0",
     "Stops the server: SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE].", "[NOSAVE|SAVE] [NOW] [FORCE]",
     NULL},
    {"wait", 3, CMD_NO_SCRIPT, 0, 0, 0, cmd_wait, NULL, "generic", "3.0.0",
     "Waits for replicas to acknowledge the writes (ebb has none: 0 at once).",
     "numreplicas timeout", NULL},
    {"role", 1, CMD_FAST | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_role, NULL,
     "server", "2.8.12", "Returns the replication role (always master).", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
