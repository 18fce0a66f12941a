/*
 * dispatch.c - running one request (layer 2): find its row, check auth,
 * arity and memory, run the handler with the request, and count it
 * (commandstats, latency, slow log, MONITOR). See commands.h.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmdtab.h"
#include "evict.h"
#include "hotkeys.h"
#include "introspection.h"
#include "multi.h"
#include "quota.h"
#include "scripting.h"
#include "tracking.h"

/* Before AUTH a client may send at most this many arguments per command and
 * bulks of at most this size: Redis's limits, enough for AUTH and HELLO. */
#define CMD_UNAUTH_MAX_ARGS 10u
#define CMD_UNAUTH_MAX_BULK 16384u

static bool arity_ok(const cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

static void reply_unknown_command(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* Redis 7: the name (128 bytes at most) and the first arguments quoted,
     * each followed by a space, until 128 bytes of them have been shown. */
    char args[CMD_QUOTE_MAX + CMD_QUOTE_BUF], q[CMD_QUOTE_BUF];
    size_t n = 0;
    for (size_t i = 1; i < argc && n < CMD_QUOTE_MAX; i++) {
        cmd_quote(q, &argv[i], CMD_QUOTE_MAX - n, false);
        int w = snprintf(args + n, sizeof args - n, "'%s' ", q);
        if (w < 0 || (size_t)w >= sizeof args - n)
            break;
        n += (size_t)w;
    }
    args[n] = '\0';
    cmd_reply_errorf(s, c, "ERR unknown command '%s', with args beginning with: %s",
                     cmd_quote(q, &argv[0], CMD_QUOTE_MAX, false), args);
}

/* A client may run commands once it has authenticated, or while no
 * password is set (clearing requirepass lets waiting clients in, as Redis). */
static bool may_run(const cmd_server *s, const cmd_client *c)
{
    return c->authed || s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
}

void cmd_execute(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    cmd_request r = {.argv = argv, .argc = argc};
    int64_t clock_ns = cmd_now_ns();
    cmd_run(s, c, &r, &clock_ns);
}

/* Inlined: the one call is every request's path. */
static inline __attribute__((always_inline)) void
run_request(cmd_server *s, cmd_client *c, const cmd_request *r, int64_t *clock_ns);

/* CLIENT REPLY OFF or SKIP: drop what the request replied (from mark on),
 * then move SKIP on by one request, as Redis does after every command it
 * processed, refused ones included. Not inside EXEC: its commands' replies
 * are parts of EXEC's. */
static void apply_reply_flags(cmd_client *c, size_t mark)
{
    /* Pushes the command wrote into its own output stay (commands.h). */
    if (c->push_mark > mark && c->push_mark <= c->out.len)
        mark = c->push_mark;
    if ((c->reply_flags & (CMD_REPLY_OFF | CMD_REPLY_SKIP)) && !c->out.oom)
        c->out.len = mark;
    c->reply_flags &= (unsigned char)~CMD_REPLY_SKIP;
    if (c->reply_flags & CMD_REPLY_SKIP_NEXT)
        c->reply_flags = (unsigned char)((c->reply_flags & ~CMD_REPLY_SKIP_NEXT) | CMD_REPLY_SKIP);
}

void cmd_run(cmd_server *s, cmd_client *c, const cmd_request *r, int64_t *clock_ns)
{
    size_t mark = c->out.len;
    if (cmd_in_exec(c)) {
        /* A queued command inside EXEC: its reply is part of EXEC's, which
         * the flags apply to as a whole, from EXEC's own marks. */
        size_t push_mark = c->push_mark;
        run_request(s, c, r, clock_ns);
        c->push_mark = push_mark;
        return;
    }
    c->push_mark = mark;
    run_request(s, c, r, clock_ns);
    if (c->reply_flags != 0)
        apply_reply_flags(c, mark);
    /* Its own invalidations held during EXEC go after EXEC's reply. */
    if (c->trk != NULL && !cmd_in_exec(c))
        cmd_tracking_flush_pending(s, c);
}

static inline __attribute__((always_inline)) void
run_request(cmd_server *s, cmd_client *c, const cmd_request *r, int64_t *clock_ns)
{
    const resp_view *argv = r->argv;
    size_t argc = r->argc;
    assert(argc >= 1);
    STAT_INC(&s->st, total_commands_processed);
    int64_t start_ns = *clock_ns;
    c->last_us = start_ns / 1000;
    /* Inside EXEC time stands still, as in Redis: a key does not expire
     * halfway through a transaction. */
    if (!s->clock_fixed && !cmd_in_exec(c))
        s->now_ms = start_ns / 1000000;
    int row = r->row;
    const cmd_def *d = r->prepared ? r->cmd : cmdtab_find(argv[0].ptr, argv[0].len, &row);
    bool authed = may_run(s, c);
    if (d == NULL && !authed) {
        /* Say nothing about what exists to a client that has not logged in. */
        c->last_cmd = c->last_sub = NULL;
        cmd_reply_error(s, c, "NOAUTH Authentication required.");
        return;
    }
    if (d == NULL) {
        c->last_cmd = c->last_sub = NULL;
        if (cmd_in_multi(c))
            cmd_multi_fail(c);
        reply_unknown_command(s, c, argv, argc);
        return;
    }
    c->last_cmd = d->name;
    c->last_sub = NULL;
    if (!authed && !(d->flags & CMD_NO_AUTH)) {
        s->cmdstats[row].rejected++;
        cmd_reply_error(s, c, "NOAUTH Authentication required.");
        return;
    }
    if (!arity_ok(d, argc)) {
        s->cmdstats[row].rejected++;
        if (strcmp(d->name, "exec") == 0) {
            /* A refused EXEC ends the transaction, as in Redis. */
            cmd_multi_abort(s, c, "wrong number of arguments for 'exec' command");
            return;
        }
        if (cmd_in_multi(c))
            cmd_multi_fail(c);
        cmd_reply_wrong_arity(s, c, d->name);
        return;
    }
    size_t si = (size_t)row;
    const cmd_def *top = d;
    if (d->subs != NULL && (d->fn == NULL || argc >= 2)) {
        /* A container: the subcommand names the row. (COMMAND alone runs the
         * container's own handler.) */
        const cmd_def *sub = cmdtab_find_sub(d, &argv[1]);
        if (sub == NULL) {
            char upper[16];
            size_t i;
            for (i = 0; d->name[i] != '\0' && i < sizeof upper - 1; i++)
                upper[i] = (char)toupper((unsigned char)d->name[i]);
            upper[i] = '\0';
            char q[CMD_QUOTE_BUF];
            if (cmd_in_multi(c))
                cmd_multi_fail(c);
            cmd_reply_errorf(s, c, "ERR unknown subcommand '%s'. Try %s HELP.",
                             cmd_quote(q, &argv[1], CMD_QUOTE_MAX, false), upper);
            return;
        }
        si = cmdtab_stat_index((size_t)row, sub);
        if (!arity_ok(sub, argc)) {
            s->cmdstats[si].rejected++;
            if (cmd_in_multi(c))
                cmd_multi_fail(c);
            char full[64];
            snprintf(full, sizeof full, "%s|%s", d->name, sub->name);
            cmd_reply_wrong_arity(s, c, full);
            return;
        }
        c->last_sub = sub->name;
        d = sub;
    }
    /* A RESP2 connection with subscriptions is a stream of messages: only
     * what Redis 7.0 allows there runs (RESP3 interleaves pushes and
     * replies, so anything runs). Not inside EXEC: the check is made as a
     * command arrives, as in Redis. */
    if (c->out.proto == 2 && cmd_client_subscribed(c) && !(d->flags & CMD_SUBSCRIBED_OK) &&
        !cmd_in_exec(c) && !c->script) {
        s->cmdstats[si].rejected++;
        char full[64];
        snprintf(full, sizeof full, "%s%s%s", top->name, d != top ? "|" : "",
                 d != top ? d->name : "");
        cmd_reply_errorf(s, c,
                         "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                         "QUIT / RESET are allowed in this context",
                         full);
        return;
    }
    /* While a script is busy only a few commands run (scripting.h); the
     * rest are refused as Redis refuses them, inside MULTI too. */
    if (s->busy && !c->script && !(d->flags & CMD_ALLOW_BUSY)) {
        s->cmdstats[si].rejected++;
        if (strcmp(d->name, "exec") == 0) {
            cmd_multi_abort(s, c, SCRIPT_ERR_BUSY);
            return;
        }
        if (cmd_in_multi(c))
            cmd_multi_fail(c);
        cmd_reply_error(s, c, SCRIPT_ERR_BUSY);
        return;
    }
    /* While a snapshot loads, only what Redis allows then runs. */
    if (s->loading && !(d->flags & CMD_LOADING)) {
        s->cmdstats[si].rejected++;
        if (cmd_in_multi(c))
            cmd_multi_fail(c);
        cmd_reply_error(s, c, "LOADING Redis is loading the dataset in memory");
        return;
    }
    /* After MULTI, commands are queued for EXEC (multi.h). */
    if (cmd_in_multi(c) && cmd_multi_queue(s, c, r, d)) {
        /* Counted when EXEC runs it, as Redis counts it. */
        s->st.total_commands_processed--;
        return;
    }
    cmd_stat *st = &s->cmdstats[si];
    /* Inside EXEC the transaction's writes were checked once, before it.
     * The server's limit first, then the quotas of the key's namespaces. */
    if ((d->flags & CMD_DENYOOM) && (s->maxmemory > 0 || s->ns_quotas > 0) && !cmd_in_exec(c) &&
        ((s->maxmemory > 0 && !cmd_evict_before_write(s, c)) ||
         (s->ns_quotas > 0 && !cmd_quota_before_write(s, c, d, argv, argc)))) {
        st->rejected++;
        return;
    }
    uint64_t errors_before = s->st.total_error_replies;
    d->fn(s, c, r);
    if (s->hotkeys_on)
        cmd_hotkeys_record(s, d, r);
    /* A write that replied an error changed nothing. */
    bool wrote = s->st.total_error_replies == errors_before;
    if ((d->flags & CMD_WRITE) && wrote) {
        s->changes++;
        if (s->watched_keys > 0)
            cmd_watch_touch(s, d, r);
    }
    if (s->tracking_clients > 0)
        cmd_tracking_after(s, c, d, r, wrote);
    /* Passwords never reach MONITOR or the slow log. MONITOR sees a command
     * once it has run, as in Redis 7: a transaction's commands, then EXEC. */
    bool redact = d->redact != NULL && d->redact(argv, argc);
    if (s->clients.monitors > 0 && !(d->flags & CMD_SKIP_MONITOR))
        cmd_monitor_feed(s, c, argv, argc, redact);
    /* Service time: from here to the reply being queued, as Redis counts. */
    int64_t end_ns = cmd_now_ns();
    *clock_ns = end_ns;
    int64_t took_ns = end_ns - start_ns;
    if (took_ns < 0)
        took_ns = 0; /* the wall clock stepped back */
    st->calls++;
    if (s->st.total_error_replies != errors_before)
        st->failed++;
    latency_add(&st->hist, (uint64_t)took_ns);
    latency_add(&s->latency, (uint64_t)took_ns);
    int64_t took_us = took_ns / 1000;
    if (took_us > s->stall_max_us)
        cmd_note_stall(s, "command", d->name, took_us);
    if (took_us >= s->cfg.slowlog_slower_than.num && s->cfg.slowlog_slower_than.num >= 0 &&
        !(d->flags & CMD_SKIP_SLOWLOG))
        cmd_slowlog_add(s, c, argv, argc, took_us, redact);
}

void cmd_prepare(cmd_server *s, cmd_request *reqs, size_t n)
{
    table_hint hints[CMD_PREFETCH_KEYS];
    size_t nh = 0;
    /* Stage 1: find each command, parse its keys, start loading each key's
     * bucket. The key positions are those COMMAND reports (first, last,
     * step); keys that do not parse or whose namespace does not exist are
     * skipped (the command will say so when it runs). */
    for (size_t r = 0; r < n; r++) {
        cmd_request *q = &reqs[r];
        const resp_view *argv = q->argv;
        size_t argc = q->argc;
        const cmd_def *d = cmdtab_find(argv[0].ptr, argv[0].len, &q->row);
        q->cmd = d;
        q->key = NULL;
        q->prepared = true;
        if (d == NULL || d->first <= 0 || d->step <= 0 || d->fn == NULL || (size_t)d->first >= argc)
            continue;
        if (db_parse_key(argv[d->first].ptr, argv[d->first].len, &q->parsed))
            q->key = &argv[d->first];
        if (n == 1)
            continue;
        size_t last = d->last < 0 ? argc - 1 : (size_t)d->last;
        for (size_t i = (size_t)d->first; i < argc && i <= last && nh < CMD_PREFETCH_KEYS;
             i += (size_t)d->step) {
            db_key k;
            table *t;
            if (i == (size_t)d->first) {
                if (q->key == NULL)
                    continue;
                k = q->parsed;
            } else if (!db_parse_key(argv[i].ptr, argv[i].len, &k)) {
                continue;
            }
            if (db_table(s->db, k.ns, k.nslen, false, &t) == DB_OK)
                table_prefetch_bucket(t, k.id, &hints[nh++]);
        }
    }
    /* Stage 2: each record, from its bucket (loaded meanwhile). */
    for (size_t i = 0; i < nh; i++)
        table_prefetch_record(&hints[i]);
}

size_t cmd_client_max_args(const cmd_server *s, const cmd_client *c)
{
    return may_run(s, c) ? 0 : CMD_UNAUTH_MAX_ARGS;
}

size_t cmd_client_max_bulk(const cmd_server *s, const cmd_client *c)
{
    return may_run(s, c) ? 0 : CMD_UNAUTH_MAX_BULK;
}

void cmd_protocol_error(cmd_server *s, cmd_client *c, resp_status st, const resp_request *req)
{
    char why[128];
    STAT_INC(&s->st, protocol_errors);
    if (req->over_limit && st == RESP_ERR_MBULK_LEN)
        snprintf(why, sizeof why, "unauthenticated multibulk length");
    else if (req->over_limit && st == RESP_ERR_BULK_LEN)
        snprintf(why, sizeof why, "unauthenticated bulk length");
    else
        resp_strerror(st, req, why, sizeof why);
    cmd_reply_errorf(s, c, "ERR Protocol error: %s", why);
    c->close_after_reply = true;
}
