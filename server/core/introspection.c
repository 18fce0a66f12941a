/*
 * introspection.c - looking inside a running server (layer 2): SLOWLOG,
 * MONITOR and LATENCY. Replies follow Redis 7's shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmdtab.h"
#include "groups.h"
#include "introspection.h"
#include "multi.h"

/* What one slow log entry keeps of a command, as Redis: at most
 * SLOWLOG_ARGS arguments (the last one says how many more there were), each
 * cut to SLOWLOG_ARG_BYTES with "... (N more bytes)". */
#define SLOWLOG_ARGS 32
#define SLOWLOG_ARG_BYTES 128

typedef struct slowlog_entry slowlog_entry;
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

/* The slow log (cmd_server.slowlog): a ring of slowlog-max-len entries. */
struct cmd_slowlog {
    slowlog_entry *ring;
    size_t len, head, cap;
    uint64_t next_id;
};

bool cmd_slowlog_init(cmd_server *s)
{
    s->slowlog = calloc(1, sizeof *s->slowlog);
    return s->slowlog != NULL;
}

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
        len = SLOWLOG_ARG_BYTES + (size_t)snprintf(buf + SLOWLOG_ARG_BYTES,
                                                   sizeof buf - SLOWLOG_ARG_BYTES,
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
    if (cap == s->slowlog->cap)
        return true;
    slowlog_entry *n = cap > 0 ? calloc(cap, sizeof *n) : NULL;
    if (cap > 0 && n == NULL)
        return false;
    size_t keep = s->slowlog->len < cap ? s->slowlog->len : cap;
    /* Newest first: entry k (0 = newest) sits at head - 1 - k. */
    for (size_t k = 0; k < s->slowlog->len; k++) {
        slowlog_entry *e =
            &s->slowlog->ring[(s->slowlog->head + s->slowlog->cap - 1 - k) % s->slowlog->cap];
        if (k < keep)
            n[keep - 1 - k] = *e;
        else
            entry_clear(e);
    }
    free(s->slowlog->ring);
    s->slowlog->ring = n;
    s->slowlog->cap = cap;
    s->slowlog->len = keep;
    s->slowlog->head = cap > 0 ? keep % cap : 0;
    return true;
}

void cmd_slowlog_add(cmd_server *s, const cmd_client *c, const resp_view *argv, size_t argc,
                     int64_t duration_us, bool redact)
{
    long long min = s->cfg.slowlog_slower_than.num;
    if (min < 0 || duration_us < min)
        return;
    if (!slowlog_resize(s, (size_t)s->cfg.slowlog_max_len.num) || s->slowlog->cap == 0)
        return;
    slowlog_entry *e = &s->slowlog->ring[s->slowlog->head];
    entry_clear(e);
    s->slowlog->head = (s->slowlog->head + 1) % s->slowlog->cap;
    if (s->slowlog->len < s->slowlog->cap)
        s->slowlog->len++;
    e->id = s->slowlog->next_id++;
    e->time_s = s->now_ms / 1000;
    e->duration_us = duration_us;
    size_t n = argc <= SLOWLOG_ARGS ? argc : SLOWLOG_ARGS;
    for (size_t i = 0; i < n; i++) {
        if (redact && i > 0) {
            e->argv[i] = copy_arg("(redacted)", 10, &e->arglen[i]);
        } else if (i == SLOWLOG_ARGS - 1 && argc > SLOWLOG_ARGS) {
            char more[64];
            int m =
                snprintf(more, sizeof more, "... (%zu more arguments)", argc - SLOWLOG_ARGS + 1);
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
    if (s->slowlog == NULL)
        return;
    for (size_t i = 0; i < s->slowlog->cap; i++)
        entry_clear(&s->slowlog->ring[i]);
    free(s->slowlog->ring);
    free(s->slowlog);
    s->slowlog = NULL;
}

static void cmd_slowlog_get(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long want = 10;
    if (req->argc == 3) {
        if (!cmd_parse_ll(req->argv[2].ptr, req->argv[2].len, &want) || want < -1) {
            cmd_reply_error(s, c, "ERR count should be greater than or equal to -1");
            return;
        }
    }
    size_t n =
        want < 0 || (unsigned long long)want > s->slowlog->len ? s->slowlog->len : (size_t)want;
    resp_add_array(&c->out, n);
    for (size_t k = 0; k < n; k++) {
        const slowlog_entry *e =
            &s->slowlog->ring[(s->slowlog->head + s->slowlog->cap - 1 - k) % s->slowlog->cap];
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

static void cmd_slowlog_len(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_int(&c->out, (long long)s->slowlog->len);
}

static void cmd_slowlog_reset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    for (size_t i = 0; i < s->slowlog->cap; i++)
        entry_clear(&s->slowlog->ring[i]);
    s->slowlog->len = s->slowlog->head = 0;
    resp_add_ok(&c->out);
}

static void cmd_slowlog_help(cmd_server *s, cmd_client *c, const cmd_request *req)
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

static void cmd_monitor(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (cmd_in_exec(c)) {
        cmd_reply_error(s, c, "ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if (!c->monitor) {
        c->monitor = true;
        s->clients.monitors++;
    }
    resp_add_ok(&c->out);
}

void cmd_monitor_forget(cmd_server *s, cmd_client *c)
{
    if (c->monitor) {
        c->monitor = false;
        s->clients.monitors--;
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
        strbuf_deinit(&b);
        return;
    }
    for (cmd_client *m = s->clients.head; m != NULL; m = m->next) {
        if (!m->monitor || m == from || m->closing)
            continue;
        resp_add_simplen(&m->out, b.buf, b.len);
        if (s->daemon.client_flush != NULL)
            s->daemon.client_flush(m);
    }
    strbuf_deinit(&b);
}

/* ---- CLIENT KILL --------------------------------------------------------------------- */

/* ---- LATENCY --------------------------------------------------------------------------- */

static void cmd_latency_latest(cmd_server *s, cmd_client *c, const cmd_request *req)
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

static void cmd_latency_reset(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    long long had = s->stall_max_us > 0;
    s->stall_max_us = 0;
    s->stall_cause[0] = '\0';
    resp_add_int(&c->out, had);
}

/* LATENCY HISTOGRAM: Redis 7's shape, a map of command -> {calls,
 * histogram_usec: {bucket: cumulative count}} with power-of-two buckets in
 * microseconds. */
typedef struct {
    cmd_client *c;
    const resp_view *names;
    size_t nnames;
    size_t count; /* first pass: rows to emit */
    bool emit;
} histo_ctx;

static bool histo_wanted(const histo_ctx *h, const char *name, const cmd_stat *st)
{
    if (st->calls == 0)
        return false;
    if (h->nnames == 0)
        return true;
    for (size_t i = 0; i < h->nnames; i++)
        if (strlen(name) == h->names[i].len &&
            strncasecmp(name, h->names[i].ptr, h->names[i].len) == 0)
            return true;
    return false;
}

static void histo_row(const cmd_def *d, const char *name, cmd_stat *st, void *arg)
{
    histo_ctx *h = arg;
    if (!histo_wanted(h, name, st))
        return;
    if (!h->emit) {
        h->count++;
        return;
    }
    resp_out *o = &h->c->out;
    resp_add_bulkstr(o, name);
    resp_add_map(o, 2);
    resp_add_bulkstr(o, "calls");
    resp_add_int(o, (long long)st->calls);
    resp_add_bulkstr(o, "histogram_usec");
    /* Cumulative counts at 1, 2, 4, ... µs up to the bucket of the maximum. */
    uint64_t top_us = st->hist.max_ns / 1000 + 1, steps = 0;
    for (uint64_t b = 1;; b <<= 1) {
        steps++;
        if (b >= top_us)
            break;
    }
    resp_add_map(o, steps);
    for (uint64_t b = 1, k = 0; k < steps; b <<= 1, k++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
            if (st->hist.bucket[i] == 0)
                continue;
            /* A bucket counts toward b when all of it is at most b µs. */
            uint64_t lo = i < LATENCY_SUB
                              ? i
                              : (1ull << (i / LATENCY_SUB)) +
                                    ((1ull << (i / LATENCY_SUB)) / LATENCY_SUB) * (i % LATENCY_SUB);
            if (lo <= b * 1000)
                n += st->hist.bucket[i];
        }
        resp_add_int(o, (long long)b);
        resp_add_int(o, (long long)n);
    }
}

static void cmd_latency_histogram(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    histo_ctx h = {.c = c, .names = req->argv + 2, .nnames = req->argc - 2};
    cmdtab_each(s, histo_row, &h);
    resp_add_map(&c->out, h.count);
    h.emit = true;
    cmdtab_each(s, histo_row, &h);
}

static void cmd_latency_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LATEST",
        "    Return the longest event-loop stall and what caused it.",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the",
        "    specified command names. If no commands are specified then all histograms are",
        "    replied.",
        "RESET",
        "    Reset the stall record.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

static const cmd_def slowlog_subs[] = {
    {"get", -2, CMD_ADMIN | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_slowlog_get, NULL, "server",
     "2.2.12", "Returns the slow log's entries.", "[count]", NULL},
    {"len", 2, CMD_ADMIN | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_slowlog_len, NULL, "server",
     "2.2.12", "Returns the number of entries in the slow log.", NULL, NULL},
    {"reset", 2, CMD_ADMIN | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_slowlog_reset, NULL, "server",
     "2.2.12", "Clears all entries from the slow log.", NULL, NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_slowlog_help, NULL, "server", "6.2.0",
     "Show helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const cmd_def latency_subs[] = {
    {"latest", 2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_latency_latest,
     NULL, "server", "2.8.13", "Returns the longest event-loop stall since start or reset.", NULL,
     NULL},
    {"histogram", -2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0,
     cmd_latency_histogram, NULL, "server", "7.0.0",
     "Returns the cumulative distribution of latencies of commands.", "[command...]", NULL},
    {"reset", -2, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_latency_reset,
     NULL, "server", "2.8.13", "Resets the stall record.", "[event...]", NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_latency_help, NULL, "server", "2.8.13",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_introspection_rows[] = {
    {"slowlog", -2, CMD_STALE, 0, 0, 0, NULL, slowlog_subs, "server", "2.2.12",
     "A container for slow log commands.", NULL, NULL},
    {"latency", -2, CMD_STALE, 0, 0, 0, NULL, latency_subs, "server", "2.8.13",
     "A container for latency diagnostics commands.", NULL, NULL},
    {"monitor", 1, CMD_ADMIN | CMD_STALE | CMD_NO_SCRIPT | CMD_LOADING, 0, 0, 0, cmd_monitor, NULL,
     "server", "1.0.0", "Listens for all requests received by the server in real time.", NULL,
     NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
