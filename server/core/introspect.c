/*
 * introspect.c - looking inside a running server: SLOWLOG, MONITOR,
 * CLIENT KILL, OBJECT, LATENCY and the error counters of INFO errorstats
 * (layer 2). Replies follow Redis 7's shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_internal.h"
#include "strbuf.h"

/* What one slow log entry keeps of a command, as Redis: at most
 * SLOWLOG_ARGS arguments (the last one says how many more there were), each
 * cut to SLOWLOG_ARG_BYTES with "... (N more bytes)". */
#define SLOWLOG_ARGS 32
#define SLOWLOG_ARG_BYTES 128

struct slowlog_entry {
    uint64_t id;
    int64_t time_s;
    int64_t duration_us;
    int argc;
    char *argv[SLOWLOG_ARGS];
    size_t arglen[SLOWLOG_ARGS];
    char addr[64];
    char name[64];
};

static void entry_clear(slowlog_entry *e)
{
    for (int i = 0; i < e->argc; i++)
        free(e->argv[i]);
    memset(e, 0, sizeof *e);
}

static char *copy_arg(const char *p, size_t n, size_t *outlen)
{
    char buf[SLOWLOG_ARG_BYTES + 64];
    size_t len = n;
    if (n > SLOWLOG_ARG_BYTES) {
        memcpy(buf, p, SLOWLOG_ARG_BYTES);
        len = SLOWLOG_ARG_BYTES +
              (size_t)snprintf(buf + SLOWLOG_ARG_BYTES, sizeof buf - SLOWLOG_ARG_BYTES,
                               "... (%zu more bytes)", n - SLOWLOG_ARG_BYTES);
        p = buf;
    }
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    *outlen = len;
    return s;
}

/* Make the ring hold cap entries (dropping the oldest beyond it). */
static bool slowlog_resize(cmd_server *s, size_t cap)
{
    if (cap == s->slowlog_cap)
        return true;
    slowlog_entry *n = cap > 0 ? calloc(cap, sizeof *n) : NULL;
    if (cap > 0 && n == NULL)
        return false;
    size_t keep = s->slowlog_len < cap ? s->slowlog_len : cap;
    /* Newest first: entry k (0 = newest) sits at head - 1 - k. */
    for (size_t k = 0; k < s->slowlog_len; k++) {
        slowlog_entry *e = &s->slowlog[(s->slowlog_head + s->slowlog_cap - 1 - k) % s->slowlog_cap];
        if (k < keep)
            n[keep - 1 - k] = *e;
        else
            entry_clear(e);
    }
    free(s->slowlog);
    s->slowlog = n;
    s->slowlog_cap = cap;
    s->slowlog_len = keep;
    s->slowlog_head = cap > 0 ? keep % cap : 0;
    return true;
}

void cmd_slowlog_add(cmd_server *s, const cmd_client *c, const resp_view *argv, size_t argc,
                     int64_t duration_us, bool redact)
{
    long long min = s->cfg.slowlog_slower_than.num;
    if (min < 0 || duration_us < min)
        return;
    if (!slowlog_resize(s, (size_t)s->cfg.slowlog_max_len.num) || s->slowlog_cap == 0)
        return;
    slowlog_entry *e = &s->slowlog[s->slowlog_head];
    entry_clear(e);
    s->slowlog_head = (s->slowlog_head + 1) % s->slowlog_cap;
    if (s->slowlog_len < s->slowlog_cap)
        s->slowlog_len++;
    e->id = s->slowlog_next_id++;
    e->time_s = s->now_ms / 1000;
    e->duration_us = duration_us;
    size_t n = argc <= SLOWLOG_ARGS ? argc : SLOWLOG_ARGS;
    for (size_t i = 0; i < n; i++) {
        if (redact && i > 0) {
            e->argv[i] = copy_arg("(redacted)", 10, &e->arglen[i]);
        } else if (i == SLOWLOG_ARGS - 1 && argc > SLOWLOG_ARGS) {
            char more[64];
            int m = snprintf(more, sizeof more, "... (%zu more arguments)",
                             argc - SLOWLOG_ARGS + 1);
            e->argv[i] = copy_arg(more, (size_t)m, &e->arglen[i]);
        } else {
            e->argv[i] = copy_arg(argv[i].ptr, argv[i].len, &e->arglen[i]);
        }
        if (e->argv[i] == NULL)
            break;
        e->argc++;
    }
    snprintf(e->addr, sizeof e->addr, "%s", c->addr);
    snprintf(e->name, sizeof e->name, "%s", c->name != NULL ? c->name : "");
}

void cmd_slowlog_free(cmd_server *s)
{
    for (size_t i = 0; i < s->slowlog_cap; i++)
        entry_clear(&s->slowlog[i]);
    free(s->slowlog);
    s->slowlog = NULL;
    s->slowlog_cap = s->slowlog_len = s->slowlog_head = 0;
}

void cmd_slowlog_get(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    long long want = 10;
    if (argc == 3) {
        if (!cmd_parse_ll(argv[2].ptr, argv[2].len, &want) || want < -1) {
            cmd_reply_error(s, c, "ERR count should be greater than or equal to -1");
            return;
        }
    }
    size_t n = want < 0 || (unsigned long long)want > s->slowlog_len ? s->slowlog_len
                                                                      : (size_t)want;
    resp_add_array(&c->out, n);
    for (size_t k = 0; k < n; k++) {
        const slowlog_entry *e =
            &s->slowlog[(s->slowlog_head + s->slowlog_cap - 1 - k) % s->slowlog_cap];
        resp_add_array(&c->out, 6);
        resp_add_int(&c->out, (long long)e->id);
        resp_add_int(&c->out, e->time_s);
        resp_add_int(&c->out, e->duration_us);
        resp_add_array(&c->out, (size_t)e->argc);
        for (int i = 0; i < e->argc; i++)
            resp_add_bulk(&c->out, e->argv[i], e->arglen[i]);
        resp_add_bulkstr(&c->out, e->addr);
        resp_add_bulkstr(&c->out, e->name);
    }
}

void cmd_slowlog_len(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    resp_add_int(&c->out, (long long)s->slowlog_len);
}

void cmd_slowlog_reset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    for (size_t i = 0; i < s->slowlog_cap; i++)
        entry_clear(&s->slowlog[i]);
    s->slowlog_len = s->slowlog_head = 0;
    resp_add_ok(&c->out);
}

void cmd_slowlog_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    static const char *const lines[] = {
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* ---- MONITOR ----------------------------------------------------------------------- */

/* Redis's sdscatrepr: quoted, with \n \r \t \a \b and \xHH escapes. */
static void add_repr(strbuf *b, const char *p, size_t n)
{
    strbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (ch) {
        case '\\':
        case '"':
            strbuf_printf(b, "\\%c", ch);
            break;
        case '\n':
            strbuf_add(b, "\\n", 2);
            break;
        case '\r':
            strbuf_add(b, "\\r", 2);
            break;
        case '\t':
            strbuf_add(b, "\\t", 2);
            break;
        case '\a':
            strbuf_add(b, "\\a", 2);
            break;
        case '\b':
            strbuf_add(b, "\\b", 2);
            break;
        default:
            if (ch >= 0x20 && ch < 0x7f)
                strbuf_add(b, (const char *)&ch, 1);
            else
                strbuf_printf(b, "\\x%02x", ch);
        }
    }
    strbuf_add(b, "\"", 1);
}

void cmd_monitor(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    if (!c->monitor) {
        c->monitor = true;
        s->monitors++;
    }
    resp_add_ok(&c->out);
}

void cmd_monitor_forget(cmd_server *s, cmd_client *c)
{
    if (c->monitor) {
        c->monitor = false;
        s->monitors--;
    }
}

void cmd_monitor_feed(cmd_server *s, const cmd_client *from, const resp_view *argv, size_t argc,
                      bool redact)
{
    strbuf b = {0};
    strbuf_printf(&b, "%lld.%06lld [0 %s]", (long long)(from->last_us / 1000000),
                  (long long)(from->last_us % 1000000), from->addr);
    for (size_t i = 0; i < argc; i++) {
        strbuf_add(&b, " ", 1);
        if (redact && i > 0)
            add_repr(&b, "(redacted)", 10);
        else
            add_repr(&b, argv[i].ptr, argv[i].len);
    }
    if (b.oom || b.buf == NULL) {
        strbuf_free(&b);
        return;
    }
    for (cmd_client *m = s->clients; m != NULL; m = m->next) {
        if (!m->monitor || m == from)
            continue;
        resp_add_simplen(&m->out, b.buf, b.len);
        if (s->client_flush != NULL)
            s->client_flush(m);
    }
    strbuf_free(&b);
}

/* ---- CLIENT KILL --------------------------------------------------------------------- */

void cmd_client_kill(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* Old form: CLIENT KILL addr:port -> +OK or an error. New form: filters
     * ID id | ADDR ip:port | LADDR ip:port | SKIPME yes|no -> count. */
    bool old = argc == 3;
    long long id = 0;
    const resp_view *addr = NULL, *laddr = NULL;
    bool skipme = true, match_nothing = false;
    if (old) {
        addr = &argv[2];
        skipme = false;
    } else {
        if (argc % 2 != 0) {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
        for (size_t i = 2; i + 1 < argc; i += 2) {
            const resp_view *v = &argv[i + 1];
            if (cmd_arg_is(&argv[i], "id")) {
                if (!cmd_parse_ll(v->ptr, v->len, &id) || id <= 0) {
                    cmd_reply_error(s, c, "ERR client-id should be greater than 0");
                    return;
                }
            } else if (cmd_arg_is(&argv[i], "addr")) {
                addr = v;
            } else if (cmd_arg_is(&argv[i], "laddr")) {
                laddr = v;
            } else if (cmd_arg_is(&argv[i], "skipme")) {
                if (cmd_arg_is(v, "yes"))
                    skipme = true;
                else if (cmd_arg_is(v, "no"))
                    skipme = false;
                else {
                    cmd_reply_error(s, c, ERR_SYNTAX);
                    return;
                }
            } else if (cmd_arg_is(&argv[i], "type") || cmd_arg_is(&argv[i], "user")) {
                /* Accepted: every ebb client is a normal one of user default. */
                if (cmd_arg_is(&argv[i], "type") && !cmd_arg_is(v, "normal"))
                    match_nothing = true;
                if (cmd_arg_is(&argv[i], "user") && !cmd_arg_is(v, "default"))
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
    for (cmd_client *x = s->clients; x != NULL; x = next) {
        next = x->next;
        if (match_nothing || (id > 0 && x->id != (uint64_t)id))
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
        } else if (s->client_kill != NULL) {
            s->client_kill(x);
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

/* ---- OBJECT ---------------------------------------------------------------------------- */

void cmd_object_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Not available: ebb has no LFU policy.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key (0 unless an LRU policy is set).",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key> (always 1).",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

/* OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key (argv[1] names which). */
void cmd_object(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    const resp_view *sub = &argv[1];
    db_key k;
    if (!cmd_parse_key(s, c, &argv[2], &k))
        return;
    table *t = cmd_read_table(s, &k);
    const uint8_t *val;
    size_t len;
    if (t == NULL || table_get(t, k.id, &val, &len) != TABLE_OK) {
        resp_add_null(&c->out);
        return;
    }
    if (cmd_arg_is(sub, "encoding")) {
        /* Redis's names for what a string would be: int when it is a
         * canonical integer, embstr up to 44 bytes, raw beyond. In ebb every
         * value is a fixed 128-byte record either way. */
        long long v;
        resp_add_bulkstr(&c->out, cmd_parse_ll((const char *)val, len, &v) ? "int"
                                  : len <= 44                             ? "embstr"
                                                                          : "raw");
    } else if (cmd_arg_is(sub, "refcount")) {
        resp_add_int(&c->out, 1);
    } else if (cmd_arg_is(sub, "freq")) {
        cmd_reply_error(s, c,
                        "ERR An LFU maxmemory policy is not selected, access frequency not "
                        "tracked. Please note that when switching between policies at runtime "
                        "LRU and LFU data will take some time to adjust.");
    } else {
        uint32_t stamp = 0;
        long long idle = 0;
        if (table_get_lru(t, k.id, &stamp) == TABLE_OK && stamp != 0) {
            uint32_t now = (uint32_t)(s->now_ms / TABLE_LRU_UNIT_MS);
            idle = (long long)(uint32_t)(now - stamp) * TABLE_LRU_UNIT_MS / 1000;
        }
        resp_add_int(&c->out, idle);
    }
}

/* ---- LATENCY --------------------------------------------------------------------------- */

void cmd_latency_latest(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    /* One event: the longest stall of the event loop (INFO stats). */
    if (s->stall_max_us == 0) {
        resp_add_array(&c->out, 0);
        return;
    }
    resp_add_array(&c->out, 1);
    resp_add_array(&c->out, 4);
    resp_add_bulkstr(&c->out, s->stall_cause);
    resp_add_int(&c->out, s->now_ms / 1000);
    resp_add_int(&c->out, s->stall_max_us / 1000);
    resp_add_int(&c->out, s->stall_max_us / 1000);
}

void cmd_latency_reset(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc)
{
    long long had = s->stall_max_us > 0;
    s->stall_max_us = 0;
    s->stall_cause[0] = '\0';
    resp_add_int(&c->out, had);
}

/* ---- errorstats ------------------------------------------------------------------------- */

void cmd_count_error(cmd_server *s, const char *msg)
{
    size_t n = strcspn(msg, " ");
    if (n >= sizeof s->errorstats[0].name)
        n = sizeof s->errorstats[0].name - 1;
    for (size_t i = 0; i < s->nerrorstats; i++) {
        cmd_errorstat *e = &s->errorstats[i];
        if (strlen(e->name) == n && memcmp(e->name, msg, n) == 0) {
            e->count++;
            return;
        }
    }
    if (s->nerrorstats == CMD_ERRORSTATS_MAX)
        return; /* as Redis: new kinds past the cap are not tracked */
    cmd_errorstat *e = &s->errorstats[s->nerrorstats++];
    memcpy(e->name, msg, n);
    e->name[n] = '\0';
    e->count = 1;
}
