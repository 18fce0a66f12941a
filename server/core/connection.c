/*
 * connection.c - the connection group (layer 2): PING, ECHO, QUIT, SELECT,
 * AUTH, HELLO and every CLIENT subcommand. Replies follow Redis 7's shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "groups.h"
#include "introspection.h"
#include "multi.h"
#include "pause.h"
#include "pubsub.h"
#include "tracking.h"

static void cmd_ping(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc > 2) {
        cmd_reply_wrong_arity(s, c, "ping");
        return;
    }
    if (c->out.proto == 2 && cmd_client_subscribed(c)) {
        /* Redis's form on a RESP2 connection in subscribed mode, where a
         * client reads every frame as a message: ["pong", message or ""]. */
        resp_add_array(&c->out, 2);
        resp_add_bulk(&c->out, "pong", 4);
        if (req->argc == 2)
            resp_add_bulk(&c->out, req->argv[1].ptr, req->argv[1].len);
        else
            resp_add_bulk(&c->out, "", 0);
        return;
    }
    if (req->argc == 2)
        resp_add_bulk(&c->out, req->argv[1].ptr, req->argv[1].len);
    else
        resp_add_simple(&c->out, "PONG");
}

static void cmd_echo(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_bulk(&c->out, req->argv[1].ptr, req->argv[1].len);
}

static void cmd_quit(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_ok(&c->out);
    c->close_after_reply = true;
}

static void cmd_select(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long idx;
    if (!cmd_arg_ll(s, c, &req->argv[1], &idx))
        return;
    if (idx != 0) {
        cmd_reply_error(s, c, "ERR DB index is out of range");
        return;
    }
    resp_add_ok(&c->out);
}

/* Compare a password in time that depends only on the lengths, so a client
 * cannot find it byte by byte by timing replies. */
static bool password_ok(const char *want, const resp_view *got)
{
    size_t wl = strlen(want), n = wl > got->len ? wl : got->len;
    unsigned diff = wl != got->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < wl ? (unsigned char)want[i] : 0;
        unsigned char b = i < got->len ? (unsigned char)got->ptr[i] : 0;
        diff |= a ^ b;
    }
    return diff == 0;
}

static const char ERR_WRONGPASS[] = "WRONGPASS invalid username-password pair or user is disabled.";

/* Check AUTH's [user] password; true if the client may go on. Without
 * requirepass the default user takes any password, as in Redis. */
static bool auth_check(cmd_server *s, const resp_view *user, const resp_view *pass)
{
    if (user != NULL && !cmd_arg_is(user, "default"))
        return false;
    const char *want = s->cfg.requirepass.str;
    return want == NULL || want[0] == '\0' || password_ok(want, pass);
}

static void cmd_auth(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    bool nopass = s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    if (req->argc > 3) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (req->argc == 2 && nopass) {
        cmd_reply_error(s, c,
                        "ERR AUTH <password> called without any password configured for the "
                        "default user. Are you sure your configuration is correct?");
        return;
    }
    if (!auth_check(s, req->argc == 3 ? &req->argv[1] : NULL, &req->argv[req->argc - 1])) {
        cmd_reply_error(s, c, ERR_WRONGPASS);
        return;
    }
    c->authed = true;
    resp_add_ok(&c->out);
}

/* CLIENT SETNAME rule, as Redis: printable ASCII without spaces. */
static bool valid_client_name(const resp_view *v)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->ptr[i] < '!' || v->ptr[i] > '~')
            return false;
    return true;
}

static bool set_owned(char **dst, const resp_view *v)
{
    char *n = NULL;
    if (v->len > 0) {
        n = malloc(v->len + 1);
        if (n == NULL)
            return false;
        memcpy(n, v->ptr, v->len);
        n[v->len] = '\0';
    }
    free(*dst);
    *dst = n;
    return true;
}

static void cmd_hello(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    int proto = c->out.proto;
    size_t i = 1;
    if (req->argc >= 2) {
        long long v;
        if (!cmd_parse_ll(req->argv[1].ptr, req->argv[1].len, &v)) {
            cmd_reply_error(s, c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (v < 2 || v > 3) {
            cmd_reply_error(s, c, "NOPROTO unsupported protocol version");
            return;
        }
        proto = (int)v;
        i = 2;
    }
    const resp_view *setname = NULL;
    bool authed = c->authed || s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    for (; i < req->argc; i++) {
        size_t more = req->argc - i - 1;
        if (cmd_arg_is(&req->argv[i], "auth") && more >= 2) {
            if (!auth_check(s, &req->argv[i + 1], &req->argv[i + 2])) {
                cmd_reply_error(s, c, ERR_WRONGPASS);
                return;
            }
            authed = true;
            i += 2;
        } else if (cmd_arg_is(&req->argv[i], "setname") && more >= 1) {
            setname = &req->argv[++i];
            if (!valid_client_name(setname)) {
                cmd_reply_error(s, c,
                                "ERR Client names cannot contain spaces, newlines or special "
                                "characters.");
                return;
            }
        } else {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR Syntax error in HELLO option '%s'",
                             cmd_quote(q, &req->argv[i], CMD_QUOTE_SHORT, false));
            return;
        }
    }
    if (!authed) {
        cmd_reply_error(s, c,
                        "NOAUTH HELLO must be called with the client already authenticated, "
                        "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                        "authenticate the client and select the RESP protocol version at the "
                        "same time");
        return;
    }
    if (setname != NULL && !set_owned(&c->name, setname)) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    c->authed = true;
    c->out.proto = proto;
    resp_out *o = &c->out;
    resp_add_map(o, 7);
    resp_add_bulkstr(o, "server");
    resp_add_bulkstr(o, "redis");
    resp_add_bulkstr(o, "version");
    resp_add_bulkstr(o, EBB_REDIS_VERSION);
    resp_add_bulkstr(o, "proto");
    resp_add_int(o, proto);
    resp_add_bulkstr(o, "id");
    resp_add_int(o, (long long)c->id);
    resp_add_bulkstr(o, "mode");
    resp_add_bulkstr(o, "standalone");
    resp_add_bulkstr(o, "role");
    resp_add_bulkstr(o, "master");
    resp_add_bulkstr(o, "modules");
    resp_add_array(o, 0);
}

static void cmd_client_setname(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (!valid_client_name(&req->argv[2])) {
        cmd_reply_error(s, c,
                        "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    if (!set_owned(&c->name, &req->argv[2])) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    resp_add_ok(&c->out);
}

static void cmd_client_getname(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (c->name == NULL)
        resp_add_null(&c->out);
    else
        resp_add_bulkstr(&c->out, c->name);
}

static void cmd_client_id(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_int(&c->out, (long long)c->id);
}

static void cmd_client_setinfo(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    char **dst;
    if (cmd_arg_is(&req->argv[2], "lib-name"))
        dst = &c->lib_name;
    else if (cmd_arg_is(&req->argv[2], "lib-ver"))
        dst = &c->lib_ver;
    else {
        char q[CMD_QUOTE_BUF];
        cmd_reply_errorf(s, c, "ERR Unrecognized option '%s'",
                         cmd_quote(q, &req->argv[2], CMD_QUOTE_SHORT, false));
        return;
    }
    if (!valid_client_name(&req->argv[3])) {
        cmd_reply_errorf(s, c, "ERR %s cannot contain spaces, newlines or special characters.",
                         dst == &c->lib_name ? "lib-name" : "lib-ver");
        return;
    }
    if (!set_owned(dst, &req->argv[3])) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    resp_add_ok(&c->out);
}

/* CLIENT LIST's flags, in Redis's order: O monitor, P subscribed to a
 * channel or pattern, x in MULTI, b blocked (a SHRINK's reply, or held by
 * a pause), t tracking (R its redirect is gone, B broadcasting), d a
 * watched key was touched, c closing after its reply, e no-evict; N for
 * none. */
static void client_flags(const cmd_client *c, char *dst)
{
    char *p = dst;
    if (c->monitor)
        *p++ = 'O';
    if (cmd_client_subscribed(c))
        *p++ = 'P';
    if (c->tx_state == CMD_TX_QUEUEING)
        *p++ = 'x';
    if (c->blocked || c->held)
        *p++ = 'b';
    size_t n = 0;
    cmd_tracking_flags(c, p, &n);
    p += n;
    if (cmd_multi_dirty(c))
        *p++ = 'd';
    if (c->close_after_reply)
        *p++ = 'c';
    if (c->no_evict)
        *p++ = 'e';
    if (p == dst)
        *p++ = 'N';
    *p = '\0';
}

size_t cmd_client_line(const cmd_server *s, const cmd_client *c, char *dst, size_t cap)
{
    int64_t now = cmd_now_us();
    char flags[16];
    client_flags(c, flags);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%s%s%s", c->last_cmd != NULL ? c->last_cmd : "NULL",
             c->last_sub != NULL ? "|" : "", c->last_sub != NULL ? c->last_sub : "");
    int n = snprintf(dst, cap,
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s "
                     "db=0 sub=%zu psub=%zu ssub=0 multi=%lld qbuf=%zu qbuf-free=0 argv-mem=0 "
                     "multi-mem=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=%s%s cmd=%s "
                     "user=default redir=%lld resp=%d lib-name=%s lib-ver=%s",
                     (unsigned long long)c->id, c->addr, c->laddr, c->fd,
                     c->name != NULL ? c->name : "", (long long)((now - c->ctime_us) / 1000000),
                     (long long)((now - c->last_us) / 1000000), flags, c->nsub, c->npsub,
                     cmd_multi_queued(c), c->qbuf, c->obuf, c->qbuf + c->obuf + c->out.cap,
                     c->paused ? "" : "r", c->obuf > 0 ? "w" : "", cmd, cmd_tracking_redirect(c),
                     c->out.proto, c->lib_name != NULL ? c->lib_name : "",
                     c->lib_ver != NULL ? c->lib_ver : "");
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* CLIENT LIST and CLIENT KILL's TYPE filter. */
typedef enum {
    CLIENT_TYPE_ANY,    /* no filter */
    CLIENT_TYPE_NORMAL, /* no subscriptions */
    CLIENT_TYPE_PUBSUB, /* subscribed to a channel or pattern */
    CLIENT_TYPE_NONE,   /* replica, master: ebb has none */
} client_type;

static bool client_is(const cmd_client *c, client_type t)
{
    switch (t) {
    case CLIENT_TYPE_ANY:
        return true;
    case CLIENT_TYPE_NORMAL:
        return !cmd_client_subscribed(c);
    case CLIENT_TYPE_PUBSUB:
        return cmd_client_subscribed(c);
    case CLIENT_TYPE_NONE:
        break;
    }
    return false;
}

static void cmd_client_list(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* Filters: TYPE normal|pubsub|... and ID id [id ...]. */
    client_type type = CLIENT_TYPE_ANY;
    bool by_id = false;
    size_t ids_from = 0;
    if (req->argc > 2) {
        if (cmd_arg_is(&req->argv[2], "type") && req->argc == 4) {
            if (!cmd_arg_is(&req->argv[3], "normal") && !cmd_arg_is(&req->argv[3], "master") &&
                !cmd_arg_is(&req->argv[3], "replica") && !cmd_arg_is(&req->argv[3], "pubsub")) {
                char q[CMD_QUOTE_BUF];
                cmd_reply_errorf(s, c, "ERR Unknown client type '%s'",
                                 cmd_quote(q, &req->argv[3], CMD_QUOTE_SHORT, false));
                return;
            }
            /* A client with subscriptions is of type pubsub, the others
             * normal, as in Redis; there are no replicas or masters. */
            if (cmd_arg_is(&req->argv[3], "normal"))
                type = CLIENT_TYPE_NORMAL;
            else if (cmd_arg_is(&req->argv[3], "pubsub"))
                type = CLIENT_TYPE_PUBSUB;
            else
                type = CLIENT_TYPE_NONE;
        } else if (cmd_arg_is(&req->argv[2], "id") && req->argc >= 4) {
            by_id = true;
            ids_from = 3;
            for (size_t i = 3; i < req->argc; i++) {
                long long id;
                if (!cmd_parse_ll(req->argv[i].ptr, req->argv[i].len, &id) || id <= 0) {
                    cmd_reply_error(s, c, "ERR Invalid client ID");
                    return;
                }
            }
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    strbuf b = {0};
    char line[1024];
    for (const cmd_client *x = s->clients.head; x != NULL; x = x->next) {
        if (!client_is(x, type))
            continue;
        if (by_id) {
            bool want = false;
            for (size_t i = ids_from; i < req->argc && !want; i++) {
                long long id = 0;
                cmd_parse_ll(req->argv[i].ptr, req->argv[i].len, &id);
                want = (unsigned long long)id == x->id;
            }
            if (!want)
                continue;
        }
        size_t n = cmd_client_line(s, x, line, sizeof line);
        strbuf_add(&b, line, n);
        strbuf_add(&b, "\n", 1);
    }
    size_t len = 0;
    char *text = strbuf_take(&b, &len);
    if (text == NULL && b.oom) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    cmd_reply_text(c, text != NULL ? text : "", len);
    free(text);
}

static void cmd_client_info(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    char line[1024];
    size_t n = cmd_client_line(s, c, line, sizeof line - 1);
    line[n++] = '\n';
    cmd_reply_text(c, line, n);
}

static void cmd_client_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [TYPE normal] [ID <id> [<id> ...]]",
        "    Return information about client connections.",
        "NO-EVICT (ON|OFF)",
        "    Protect the current client connection from eviction (stored and shown as flag e;",
        "    ebb does not evict clients).",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Set client library name or version.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* CLIENT REPLY ON|OFF|SKIP: OFF and SKIP reply nothing themselves; SKIP
 * under OFF changes nothing (cmd_run drops the replies). */
static void cmd_client_reply(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    const resp_view *v = &req->argv[2];
    if (cmd_arg_is(v, "on")) {
        c->reply_flags &= (unsigned char)~(CMD_REPLY_OFF | CMD_REPLY_SKIP);
        resp_add_ok(&c->out);
    } else if (cmd_arg_is(v, "off")) {
        c->reply_flags |= CMD_REPLY_OFF;
    } else if (cmd_arg_is(v, "skip")) {
        if (!(c->reply_flags & CMD_REPLY_OFF))
            c->reply_flags |= CMD_REPLY_SKIP_NEXT;
    } else {
        cmd_reply_error(s, c, ERR_SYNTAX);
    }
}

/* CLIENT NO-EVICT ON|OFF: kept and shown (flag e); ebb evicts no client. */
static void cmd_client_no_evict(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (cmd_arg_is(&req->argv[2], "on"))
        c->no_evict = true;
    else if (cmd_arg_is(&req->argv[2], "off"))
        c->no_evict = false;
    else {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    resp_add_ok(&c->out);
}

/* RESET, as Redis 7.0's: leave MONITOR, unsubscribe from every channel
 * and pattern (no confirmations), discard the transaction and the watches, back to RESP2 and
 * database 0, authenticated only when no password is set, no name, replies on. (CLIENT NO-EVICT
 * stays, as in Redis 7.0, and so do the SETINFO library fields.) */
static void cmd_reset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    cmd_monitor_forget(s, c);
    cmd_pubsub_forget(s, c);
    cmd_multi_reset(s, c);
    cmd_tracking_reset(s, c);
    c->out.proto = 2;
    c->authed = s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    free(c->name);
    c->name = NULL;
    /* A SKIP already in force still drops this reply, as in Redis. */
    c->reply_flags &= (unsigned char)~(CMD_REPLY_OFF | CMD_REPLY_SKIP_NEXT);
    resp_add_simple(&c->out, "RESET");
}

static void cmd_client_noop(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (!cmd_arg_is(&req->argv[2], "on") && !cmd_arg_is(&req->argv[2], "off")) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    resp_add_ok(&c->out);
}

static void cmd_client_kill(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* Old form: CLIENT KILL addr:port -> +OK or an error. New form: filters
     * ID id | ADDR ip:port | LADDR ip:port | SKIPME yes|no -> count. */
    bool old = req->argc == 3;
    long long id = 0;
    const resp_view *addr = NULL, *laddr = NULL;
    bool skipme = true, match_nothing = false;
    client_type type = CLIENT_TYPE_ANY;
    if (old) {
        addr = &req->argv[2];
        skipme = false;
    } else {
        if (req->argc % 2 != 0) {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
        for (size_t i = 2; i + 1 < req->argc; i += 2) {
            const resp_view *v = &req->argv[i + 1];
            if (cmd_arg_is(&req->argv[i], "id")) {
                if (!cmd_parse_ll(v->ptr, v->len, &id) || id <= 0) {
                    cmd_reply_error(s, c, "ERR client-id should be greater than 0");
                    return;
                }
            } else if (cmd_arg_is(&req->argv[i], "addr")) {
                addr = v;
            } else if (cmd_arg_is(&req->argv[i], "laddr")) {
                laddr = v;
            } else if (cmd_arg_is(&req->argv[i], "skipme")) {
                if (cmd_arg_is(v, "yes"))
                    skipme = true;
                else if (cmd_arg_is(v, "no"))
                    skipme = false;
                else {
                    cmd_reply_error(s, c, ERR_SYNTAX);
                    return;
                }
            } else if (cmd_arg_is(&req->argv[i], "type")) {
                if (cmd_arg_is(v, "normal")) {
                    type = CLIENT_TYPE_NORMAL;
                } else if (cmd_arg_is(v, "pubsub")) {
                    type = CLIENT_TYPE_PUBSUB;
                } else if (cmd_arg_is(v, "master") || cmd_arg_is(v, "replica") ||
                           cmd_arg_is(v, "slave")) {
                    type = CLIENT_TYPE_NONE;
                } else {
                    char q[CMD_QUOTE_BUF];
                    cmd_reply_errorf(s, c, "ERR Unknown client type '%s'",
                                     cmd_quote(q, v, CMD_QUOTE_SHORT, false));
                    return;
                }
            } else if (cmd_arg_is(&req->argv[i], "user")) {
                /* Accepted: every ebb client is of user default. */
                if (!cmd_arg_is(v, "default"))
                    match_nothing = true;
            } else {
                cmd_reply_error(s, c, ERR_SYNTAX);
                return;
            }
        }
    }
    long long killed = 0;
    bool kill_self = false;
    cmd_client *next;
    for (cmd_client *x = s->clients.head; x != NULL; x = next) {
        next = x->next;
        if (match_nothing || (id > 0 && x->id != (uint64_t)id) || !client_is(x, type))
            continue;
        if (addr != NULL && (strlen(x->addr) != addr->len || memcmp(x->addr, addr->ptr, addr->len)))
            continue;
        if (laddr != NULL &&
            (strlen(x->laddr) != laddr->len || memcmp(x->laddr, laddr->ptr, laddr->len)))
            continue;
        if (x == c) {
            if (skipme)
                continue;
            kill_self = true; /* after the reply */
        } else if (s->daemon.client_kill != NULL) {
            s->daemon.client_kill(x);
        }
        killed++;
    }
    if (old) {
        if (killed == 0)
            cmd_reply_error(s, c, "ERR No such client");
        else
            resp_add_ok(&c->out);
    } else {
        resp_add_int(&c->out, killed);
    }
    if (kill_self)
        c->close_after_reply = true;
}

/* AUTH's arguments are a password; HELLO's are when it has AUTH. */
static bool redact_always(const resp_view *argv, size_t argc)
{
    return true;
}

static bool redact_hello(const resp_view *argv, size_t argc)
{
    return argc > 2;
}

static const cmd_def client_subs[] = {
    {"setname", 3, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_setname, NULL,
     "connection", "2.6.9", "Sets the connection name.", "connection-name", NULL},
    {"getname", 2, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_getname, NULL,
     "connection", "2.6.9", "Returns the name of the connection.", NULL, NULL},
    {"id", 2, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_id, NULL, "connection",
     "5.0.0", "Returns the unique client ID of the connection.", NULL, NULL},
    {"setinfo", 4, CMD_STALE | CMD_NO_SCRIPT, 0, 0, 0, cmd_client_setinfo, NULL, "connection",
     "7.2.0", "Sets information specific to the client or connection.",
     "LIB-NAME libname|LIB-VER libver", NULL},
    {"list", -2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_list,
     NULL, "connection", "2.4.0", "Lists open connections.", "[TYPE type] [ID client-id...]", NULL},
    {"info", 2, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_info, NULL,
     "connection", "6.2.0", "Returns information about the connection.", NULL, NULL},
    {"kill", -3, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_kill,
     NULL, "connection", "2.4.0", "Terminates open connections.",
     "[ID client-id] [ADDR ip:port] [LADDR ip:port] [SKIPME yes/no]", NULL},
    {"no-evict", 3, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0,
     cmd_client_no_evict, NULL, "connection", "7.0.0",
     "Sets the client eviction mode of the connection (ebb evicts no client).", "ON|OFF", NULL},
    {"reply", 3, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_reply, NULL,
     "connection", "3.2.0", "Instructs the server whether to reply to commands.", "ON|OFF|SKIP",
     NULL},
    {"pause", -3, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_pause,
     NULL, "connection", "3.0.0", "Suspends commands processing.", "timeout [WRITE|ALL]", NULL},
    {"unpause", 2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_unpause,
     NULL, "connection", "6.2.0", "Resumes processing of clients that were paused.", NULL, NULL},
    {"no-touch", 3, CMD_STALE, 0, 0, 0, cmd_client_noop, NULL, "connection", "7.2.0",
     "Accepted for compatibility; reads always count as accesses.", "ON|OFF", NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_client_help, NULL, "connection", "5.0.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {"tracking", -3, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_tracking, NULL,
     "connection", "6.0.0", "Controls server-assisted client-side caching for the connection.",
     "<ON|OFF> [REDIRECT client-id] [PREFIX prefix]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]", NULL},
    {"caching", 3, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_caching, NULL,
     "connection", "6.0.0", "Instructs the server whether to track the keys in the next request.",
     "YES|NO", NULL},
    {"getredir", 2, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_getredir, NULL,
     "connection", "6.0.0",
     "Returns the client ID to which the connection's tracking notifications are redirected.", NULL,
     NULL},
    {"trackinginfo", 2, CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_client_trackinginfo,
     NULL, "connection", "6.2.0",
     "Returns information about server-assisted client-side caching for the connection.", NULL,
     NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_connection_rows[] = {
    {"ping", -1, CMD_FAST | CMD_SUBSCRIBED_OK | CMD_STALE, 0, 0, 0, cmd_ping, NULL, "connection",
     "1.0.0", "Returns the server's liveliness response.", "[message]", NULL},
    {"echo", 2, CMD_FAST | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_echo, NULL, "connection", "1.0.0",
     "Returns the given string.", "message", NULL},
    {"quit", -1,
     CMD_FAST | CMD_SUBSCRIBED_OK | CMD_STALE | CMD_NO_AUTH | CMD_NO_SCRIPT | CMD_ALLOW_BUSY |
         CMD_LOADING,
     0, 0, 0, cmd_quit, NULL, "connection", "1.0.0", "Closes the connection.", NULL, NULL},
    {"select", 2, CMD_FAST | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_select, NULL, "connection",
     "1.0.0", "Changes the selected database (only 0 exists).", "index", NULL},
    {"hello", -1, CMD_FAST | CMD_STALE | CMD_NO_AUTH | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING,
     0, 0, 0, cmd_hello, NULL, "connection", "6.0.0",
     "Handshakes with the server, choosing RESP2 or RESP3.",
     "[protover [AUTH username password] [SETNAME clientname]]", redact_hello},
    {"auth", -2, CMD_FAST | CMD_STALE | CMD_NO_AUTH | CMD_NO_SCRIPT | CMD_ALLOW_BUSY | CMD_LOADING,
     0, 0, 0, cmd_auth, NULL, "connection", "1.0.0", "Authenticates the connection.",
     "[username] password", redact_always},
    {"client", -2, CMD_STALE, 0, 0, 0, NULL, client_subs, "connection", "2.4.0",
     "A container for client connection commands.", NULL, NULL},
    {"reset", 1,
     CMD_FAST | CMD_SUBSCRIBED_OK | CMD_STALE | CMD_NO_AUTH | CMD_NO_SCRIPT | CMD_ALLOW_BUSY |
         CMD_LOADING,
     0, 0, 0, cmd_reset, NULL, "connection", "6.2.0", "Resets the connection.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
